//! The authorization matrix (issue 12): every route × every kind of caller, against
//! the access table `tests/api/authz.csv` — data, not code, written from the
//! contract. A route of the OpenAPI document without a row, or a row naming no route,
//! fails `the_access_table_has_one_row_per_route`; a new route with a row but no
//! request built here fails the walk, which names it.
//!
//! The walk builds one world (an operator, funder A, prescriber A, site A with their
//! program, checkbooks, redemptions and a settled period; funder, prescriber and site
//! B), then sends every route a request that would be valid, as every actor, and
//! collects every answer that is not the table's (route, actor, expected, got, the
//! body's `code`) before failing once with the whole list. Allowed answers are also
//! read for what they must not carry: ticket codes (only the issuing prescriber sees
//! them), full serials (nor the operator, nor funders, nor another prescriber), and,
//! for the B organisations, ids of the A organisations' private objects.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::Days;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, PASSWORD, Response, TestApp};

const TABLE: &str = include_str!("authz.csv");

/// The columns of the table, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Anon,
    OpAdmin,
    OpAgent,
    Funder,
    PrescAdmin,
    PrescAgent,
    SiteAdmin,
    SiteAgent,
    OtherFunder,
    OtherPresc,
    OtherSite,
}

const COLUMNS: [(&str, Who); 11] = [
    ("anon", Who::Anon),
    ("op_admin", Who::OpAdmin),
    ("op_agent", Who::OpAgent),
    ("funder", Who::Funder),
    ("presc_admin", Who::PrescAdmin),
    ("presc_agent", Who::PrescAgent),
    ("site_admin", Who::SiteAdmin),
    ("site_agent", Who::SiteAgent),
    ("other_funder", Who::OtherFunder),
    ("other_presc", Who::OtherPresc),
    ("other_site", Who::OtherSite),
];

/// Which A organisation is "the object" of a route about an organisation, for `who`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Home {
    Funder,
    Prescriber,
    Site,
}

impl Who {
    fn name(self) -> &'static str {
        COLUMNS
            .iter()
            .find(|(_, w)| *w == self)
            .map(|(n, _)| *n)
            .unwrap()
    }

    fn home(self) -> Home {
        match self {
            Who::Funder | Who::OtherFunder => Home::Funder,
            Who::PrescAdmin | Who::PrescAgent | Who::OtherPresc => Home::Prescriber,
            _ => Home::Site,
        }
    }

    /// The issuing prescriber: the only one who may see ticket codes.
    fn issuer(self) -> bool {
        matches!(self, Who::PrescAdmin | Who::PrescAgent)
    }

    /// Sites hold the tickets they scan: they may read their serials back.
    fn holds_tickets(self) -> bool {
        matches!(self, Who::SiteAdmin | Who::SiteAgent | Who::OtherSite)
    }

    fn other_organisation(self) -> bool {
        matches!(self, Who::OtherFunder | Who::OtherPresc | Who::OtherSite)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Unauthenticated,
    Forbidden,
    NotFound,
    ServerError,
}

impl Verdict {
    fn parse(cell: &str) -> Option<Verdict> {
        match cell {
            "ok" => Some(Verdict::Ok),
            "401" => Some(Verdict::Unauthenticated),
            "403" => Some(Verdict::Forbidden),
            "404" => Some(Verdict::NotFound),
            _ => None,
        }
    }

    fn of(status: u16) -> Verdict {
        match status {
            401 => Verdict::Unauthenticated,
            403 => Verdict::Forbidden,
            404 => Verdict::NotFound,
            500..=599 => Verdict::ServerError,
            _ => Verdict::Ok,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Unauthenticated => "401",
            Verdict::Forbidden => "403",
            Verdict::NotFound => "404",
            Verdict::ServerError => "5xx",
        }
    }
}

/// One row of the table.
struct Row {
    method: String,
    path: String,
    expected: Vec<(Who, Verdict)>,
}

impl Row {
    fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The table, or what is wrong with it.
fn table() -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(TABLE.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let names: Vec<&str> = headers.iter().collect();
    let mut wanted = vec!["method", "path"];
    wanted.extend(COLUMNS.iter().map(|(n, _)| *n));
    if names != wanted {
        return Err(format!(
            "authz.csv: the header is {names:?}, expected {wanted:?}"
        ));
    }
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("authz.csv: {e}"))?;
        let method = record[0].to_string();
        let path = record[1].to_string();
        let mut expected = Vec::new();
        for (i, (name, who)) in COLUMNS.iter().enumerate() {
            let cell = &record[i + 2];
            let verdict = Verdict::parse(cell).ok_or_else(|| {
                format!("authz.csv: {method} {path}, {name}: `{cell}` is not ok, 401, 403 or 404")
            })?;
            expected.push((*who, verdict));
        }
        if !seen.insert((method.clone(), path.clone())) {
            return Err(format!("authz.csv: {method} {path} has two rows"));
        }
        rows.push(Row {
            method,
            path,
            expected,
        });
    }
    Ok(rows)
}

/// Every route the service serves: the OpenAPI document's, and the document itself.
fn routes() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(passnum::api::openapi()).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes.insert(("GET".to_string(), "/openapi.json".to_string()));
    routes
}

#[test]
fn the_access_table_has_one_row_per_route() {
    let rows = table().unwrap_or_else(|e| panic!("{e}"));
    let in_table: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let served = routes();
    let without_row: Vec<String> = served
        .difference(&in_table)
        .map(|(m, p)| format!("  {m} {p}"))
        .collect();
    let without_route: Vec<String> = in_table
        .difference(&served)
        .map(|(m, p)| format!("  {m} {p}"))
        .collect();
    let mut problems = String::new();
    if !without_row.is_empty() {
        problems += &format!(
            "routes without a row in tests/api/authz.csv (say who may call them):\n{}\n",
            without_row.join("\n")
        );
    }
    if !without_route.is_empty() {
        problems += &format!(
            "rows of tests/api/authz.csv naming no route of the OpenAPI document:\n{}\n",
            without_route.join("\n")
        );
    }
    assert!(problems.is_empty(), "{problems}");
}

/// The world every route is called about.
struct World {
    actors: HashMap<Who, Actor>,
    funder_a: String,
    presc_a: String,
    site_a: String,
    /// Where invitations, resets and throwaway logins happen.
    scratch_org: String,
    login_email: String,
    program: String,
    checkbook: String,
    qr_ticket: String,
    verify_serial: String,
    print_run: String,
    settlement: String,
    site_statement: String,
    funder_statement: String,
    /// Per A organisation: a user invited (no password yet), an agent to change.
    invited: HashMap<Home, String>,
    spare: HashMap<Home, String>,
    /// Handed-out, unused tickets of the program, for the scans of the walk.
    tickets: VecDeque<Value>,
    /// What only the issuing prescriber may read.
    codes: Vec<String>,
    /// Full serials, as displayed and bare.
    serials: Vec<String>,
    /// Ids of the A organisations' private objects: never in an answer to B.
    private_ids: Vec<(String, &'static str)>,
    counter: u32,
    /// Empty months settled by the walk, one per call.
    months_settled: u32,
}

impl World {
    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    fn home_org(&self, who: Who) -> &str {
        match who.home() {
            Home::Funder => &self.funder_a,
            Home::Prescriber => &self.presc_a,
            Home::Site => &self.site_a,
        }
    }

    fn op_admin(&self) -> &Actor {
        &self.actors[&Who::OpAdmin]
    }

    fn presc_agent(&self) -> &Actor {
        &self.actors[&Who::PrescAgent]
    }

    /// Remembers the secrets of a checkbook the prescriber issued.
    fn note_checkbook(&mut self, book: &Value) {
        for t in book["tickets"].as_array().into_iter().flatten() {
            if let Some(code) = t["code"].as_str() {
                self.codes.push(code.to_string());
            }
            if let Some(serial) = t["serial"].as_str() {
                self.serials.push(serial.to_string());
                self.serials.push(serial.replace('-', ""));
            }
        }
    }
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn today() -> chrono::NaiveDate {
    passnum::domain::french_date(chrono::Utc::now())
}

fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.org", Uuid::new_v4().simple())
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = app
        .client
        .request(method.clone(), format!("{}{}", app.address, path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if method != Method::GET {
        req = req.header("Idempotency-Key", Uuid::new_v4().to_string());
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    app.raw(req).await
}

/// A user of `org` created by the operator's admin: with `password`, or invited.
async fn new_user(
    app: &TestApp,
    w: &World,
    org: &str,
    role: &str,
    password: Option<&str>,
) -> (String, String) {
    let email = unique_email(role);
    let mut body = json!({"email": email, "role": role});
    if let Some(p) = password {
        body["password"] = json!(p);
    }
    let res = app
        .post(
            &format!("/api/v1/organizations/{org}/users"),
            &w.op_admin().token,
            body,
        )
        .await;
    (id_of(res.ok(201)), email)
}

/// The token of the last link mailed to `recipient` (`…?token=…`), if any.
async fn mailed_token(app: &TestApp, recipient: &str) -> Option<String> {
    #[derive(QueryableByName)]
    struct Mail {
        #[diesel(sql_type = diesel::sql_types::Text)]
        body_text: String,
    }
    let mut conn = app.db.connect().await;
    let mails: Vec<Mail> = diesel::sql_query(
        "SELECT body_text FROM outbox WHERE recipient = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind::<diesel::sql_types::Text, _>(recipient)
    .load(&mut conn)
    .await
    .ok()?;
    let text = mails.into_iter().next()?.body_text;
    let start = text.find("token=")? + "token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

async fn issue(app: &TestApp, w: &mut World, beneficiary: bool) -> Value {
    let n = w.next();
    let mut body = json!({"program_id": w.program});
    if beneficiary {
        body["beneficiary"] = json!({"reference": format!("AUTHZ-{n}")});
    }
    let res = app
        .post("/api/v1/checkbooks", &w.presc_agent().token, body)
        .await;
    let book = res.ok(201).clone();
    w.note_checkbook(&book);
    book
}

/// Site A's agent scans `ticket`; returns the redemption.
async fn redeem(app: &TestApp, w: &World, ticket: &Value) -> Value {
    let res = send(
        app,
        Method::POST,
        "/api/v1/redemptions",
        Some(&w.actors[&Who::SiteAgent].token),
        Some(json!({"code": ticket["code"]})),
    )
    .await;
    res.ok(201).clone()
}

async fn labelled_site(app: &TestApp, operator: &Actor) -> String {
    let site = id_of(&app.organization("site", json!({})).await);
    app.post(
        &format!("/api/v1/sites/{site}/label"),
        &operator.token,
        json!({"valid_from": today() - Days::new(400), "valid_until": today() + Days::new(400)}),
    )
    .await
    .ok(200);
    site
}

async fn world(app: &TestApp) -> World {
    let op_admin = app.operator().await;
    let op_agent = app.user_in(&op_admin.org_id.to_string(), "agent").await;
    let funder_a = id_of(&app.organization("funder", json!({})).await);
    let presc_a = id_of(&app.organization("prescriber", json!({})).await);
    let site_a = labelled_site(app, &op_admin).await;
    let other_funder = id_of(&app.organization("funder", json!({})).await);
    let other_presc = id_of(&app.organization("prescriber", json!({})).await);
    let other_site = labelled_site(app, &op_admin).await;
    let scratch_org = id_of(&app.organization("funder", json!({})).await);
    let mut actors = HashMap::new();
    actors.insert(Who::OpAdmin, op_admin.clone());
    actors.insert(Who::OpAgent, op_agent);
    actors.insert(Who::Funder, app.user_in(&funder_a, "admin").await);
    actors.insert(Who::PrescAdmin, app.user_in(&presc_a, "admin").await);
    actors.insert(Who::PrescAgent, app.user_in(&presc_a, "agent").await);
    actors.insert(Who::SiteAdmin, app.user_in(&site_a, "admin").await);
    actors.insert(Who::SiteAgent, app.user_in(&site_a, "agent").await);
    actors.insert(Who::OtherFunder, app.user_in(&other_funder, "admin").await);
    actors.insert(Who::OtherPresc, app.user_in(&other_presc, "admin").await);
    actors.insert(Who::OtherSite, app.user_in(&other_site, "admin").await);

    let program = app
        .post(
            "/api/v1/programs",
            &op_admin.token,
            json!({
                "name": "Pass Numérique autorisations",
                "ticket_value": "10.00",
                "tickets_per_checkbook": 5,
                "validity_days": 365,
                "budget": "10000.00",
                "funders": [{"organization_id": funder_a, "share": "1.00"}],
            }),
        )
        .await;
    let program = id_of(program.ok(201));
    // Not all of it: the walk's payments are then received, not refused.
    app.pay(&program, &funder_a, "9000.00").await.ok(201);
    app.allocate(&program, &presc_a, 200).await.ok(201);

    let mut w = World {
        actors,
        funder_a,
        presc_a,
        site_a,
        scratch_org,
        login_email: String::new(),
        program,
        checkbook: String::new(),
        qr_ticket: String::new(),
        verify_serial: String::new(),
        print_run: String::new(),
        settlement: String::new(),
        site_statement: String::new(),
        funder_statement: String::new(),
        invited: HashMap::new(),
        spare: HashMap::new(),
        tickets: VecDeque::new(),
        codes: Vec::new(),
        serials: Vec::new(),
        private_ids: Vec::new(),
        counter: 0,
        months_settled: 0,
    };
    w.login_email = new_user(app, &w, &w.scratch_org.clone(), "agent", Some(PASSWORD))
        .await
        .1;

    // The checkbook the routes are about: two of its tickets redeemed by site A,
    // moved 40 days back and settled.
    let book = issue(app, &mut w, true).await;
    let tickets = book["tickets"].as_array().unwrap().clone();
    w.checkbook = id_of(&book);
    w.qr_ticket = id_of(&tickets[2]);
    w.verify_serial = tickets[3]["serial"].as_str().unwrap().to_string();
    let mut redemptions = Vec::new();
    for t in &tickets[..2] {
        redemptions.push(id_of(&redeem(app, &w, t).await));
    }
    let day = today() - Days::new(40);
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', \
         scanned_at = '{day} 12:00:00 Europe/Paris'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let settlement = app
        .post(
            "/api/v1/settlements",
            &op_admin.token,
            json!({"period_start": day, "period_end": day}),
        )
        .await;
    let settlement = settlement.ok(201).clone();
    w.settlement = id_of(&settlement);
    for s in settlement["statements"].as_array().unwrap() {
        match (s["kind"].as_str(), s["organization_id"].as_str()) {
            (Some("site_payout"), Some(org)) if org == w.site_a => w.site_statement = id_of(s),
            (Some("funder_bill"), Some(org)) if org == w.funder_a => w.funder_statement = id_of(s),
            _ => {}
        }
    }
    assert!(
        !w.site_statement.is_empty() && !w.funder_statement.is_empty(),
        "the settlement has a payout for site A and a bill for funder A: {settlement}"
    );

    // Else the leak checks would pass for want of anything to look for.
    assert!(
        !w.codes.is_empty() && !w.serials.is_empty(),
        "the issuing prescriber sees its tickets' codes and serials: {book}"
    );
    let run = app
        .post(
            "/api/v1/print-runs",
            &w.presc_agent().token,
            json!({"program_id": w.program, "checkbooks": 1}),
        )
        .await;
    w.print_run = id_of(run.ok(201));

    // Tickets for the scans of the walk (a fresh one per call).
    for _ in 0..8 {
        let book = issue(app, &mut w, true).await;
        w.tickets
            .extend(book["tickets"].as_array().unwrap().iter().cloned());
    }

    for (home, org) in [
        (Home::Funder, w.funder_a.clone()),
        (Home::Prescriber, w.presc_a.clone()),
        (Home::Site, w.site_a.clone()),
    ] {
        let invited = new_user(app, &w, &org, "agent", None).await.0;
        let spare = new_user(app, &w, &org, "agent", Some(PASSWORD)).await.0;
        w.private_ids
            .push((invited.clone(), "a user of an A organisation"));
        w.private_ids
            .push((spare.clone(), "a user of an A organisation"));
        w.invited.insert(home, invited);
        w.spare.insert(home, spare);
    }
    let mut private = vec![
        (w.funder_a.clone(), "funder A's id"),
        (w.presc_a.clone(), "prescriber A's id"),
        (w.checkbook.clone(), "the checkbook's id"),
        (w.print_run.clone(), "the print run's id"),
        (w.settlement.clone(), "the settlement's id"),
        (w.site_statement.clone(), "site A's statement id"),
        (w.funder_statement.clone(), "funder A's statement id"),
    ];
    private.extend(
        redemptions
            .into_iter()
            .map(|r| (r, "a redemption id of site A")),
    );
    for who in [
        Who::Funder,
        Who::PrescAdmin,
        Who::PrescAgent,
        Who::SiteAdmin,
        Who::SiteAgent,
    ] {
        private.push((
            w.actors[&who].user_id.to_string(),
            "a user of an A organisation",
        ));
    }
    w.private_ids.extend(private);
    w
}

/// A request to `route` that would be valid, made for `who`: `None` when this file
/// does not know the route yet.
async fn request_for(
    app: &TestApp,
    w: &mut World,
    method: &str,
    path: &str,
    who: Who,
) -> Option<(Method, String, Option<Value>)> {
    let n = w.next();
    let home = w.home_org(who).to_string();
    let get = |p: String| Some((Method::GET, p, None));
    let post = |p: String, body: Option<Value>| Some((Method::POST, p, body));
    let new_password = format!("a-new-long-password-{n}");
    match (method, path) {
        (
            "GET",
            "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/api/v1/public/programs",
        ) => get(path.to_string()),
        ("GET", "/api/v1/public/sites") => get(format!("{path}?postcode=70000")),
        ("GET", "/api/v1/public/themes") => get(path.to_string()),
        // The world's program is not public: nobody sees its indicators.
        ("GET", "/api/v1/public/programs/{id}/indicators") => {
            get(format!("/api/v1/public/programs/{}/indicators", w.program))
        }
        ("GET", "/api/v1/me" | "/api/v1/organizations" | "/api/v1/programs") => {
            get(path.to_string())
        }
        ("GET", "/api/v1/ledger/trial-balance" | "/api/v1/ledger/cover" | "/api/v1/outbox") => {
            get(path.to_string())
        }
        ("GET", "/api/v1/dashboard/alerts") => get(path.to_string()),
        ("GET", "/api/v1/lookup") => get(format!("{path}?q=2ZAT")),
        ("POST", "/api/v1/outbox/{id}/resend") => {
            #[derive(QueryableByName)]
            struct Mail {
                #[diesel(sql_type = diesel::sql_types::Uuid)]
                id: Uuid,
            }
            let mut conn = app.db.connect().await;
            let mail: Vec<Mail> = diesel::sql_query("SELECT id FROM outbox ORDER BY id LIMIT 1")
                .load(&mut conn)
                .await
                .expect("a mail of the world");
            post(format!("/api/v1/outbox/{}/resend", mail[0].id), None)
        }
        ("GET", "/api/v1/redemptions") => get(path.to_string()),
        ("GET", "/api/v1/ledger/accounts") => get(format!("{path}?owner_id={}", w.funder_a)),
        ("GET", "/api/v1/checkbooks") => get(format!("{path}?program_id={}", w.program)),
        ("GET", "/api/v1/statements") => get(format!("{path}?organization_id={}", w.site_a)),

        ("POST", "/api/v1/auth/login") => post(
            path.to_string(),
            Some(json!({"email": w.login_email, "password": PASSWORD})),
        ),
        ("POST", "/api/v1/auth/invitations/accept") => {
            let (_, email) = new_user(app, w, &w.scratch_org.clone(), "agent", None).await;
            let token = mailed_token(app, &email).await.unwrap_or_default();
            post(
                path.to_string(),
                Some(json!({"token": token, "password": new_password})),
            )
        }
        ("POST", "/api/v1/auth/refresh" | "/api/v1/auth/logout") => {
            let login = app.login(&w.login_email, PASSWORD).await;
            let token = login.ok(200)["refresh_token"]
                .as_str()
                .unwrap_or("no-refresh-token-in-the-login-answer")
                .to_string();
            post(path.to_string(), Some(json!({"refresh_token": token})))
        }
        ("POST", "/api/v1/auth/password-reset") => {
            let (_, email) =
                new_user(app, w, &w.scratch_org.clone(), "agent", Some(PASSWORD)).await;
            post(path.to_string(), Some(json!({"email": email})))
        }
        ("POST", "/api/v1/auth/password-reset/confirm") => {
            let (_, email) =
                new_user(app, w, &w.scratch_org.clone(), "agent", Some(PASSWORD)).await;
            send(
                app,
                Method::POST,
                "/api/v1/auth/password-reset",
                None,
                Some(json!({"email": email})),
            )
            .await;
            let token = mailed_token(app, &email)
                .await
                .unwrap_or_else(|| "no-reset-mail-found".to_string());
            post(
                path.to_string(),
                Some(json!({"token": token, "password": new_password})),
            )
        }
        ("POST", "/api/v1/auth/password") => post(
            path.to_string(),
            Some(json!({"current_password": PASSWORD, "new_password": new_password})),
        ),

        ("POST", "/api/v1/organizations") => post(
            path.to_string(),
            Some(json!({
                "kind": "site",
                "name": format!("Lieu {n}"),
                "email": unique_email("lieu"),
                "postcode": "70000",
                "city": "Vesoul",
            })),
        ),
        ("GET", "/api/v1/organizations/{id}") => get(format!("/api/v1/organizations/{home}")),
        ("GET", "/api/v1/organizations/{id}/users") => {
            get(format!("/api/v1/organizations/{home}/users"))
        }
        ("POST", "/api/v1/organizations/{id}/users") => post(
            format!("/api/v1/organizations/{home}/users"),
            Some(json!({"email": unique_email("agent"), "password": PASSWORD, "role": "agent"})),
        ),
        ("PATCH", "/api/v1/organizations/{id}") => Some((
            Method::PATCH,
            format!("/api/v1/organizations/{home}"),
            Some(json!({"phone": "03 84 75 12 34"})),
        )),
        ("GET", "/api/v1/sites/{id}/history") => get(format!("/api/v1/sites/{}/history", w.site_a)),
        ("GET", "/api/v1/sites/{id}/services") => {
            get(format!("/api/v1/sites/{}/services", w.site_a))
        }
        ("PUT", "/api/v1/sites/{id}/services") => Some((
            Method::PUT,
            format!("/api/v1/sites/{}/services", w.site_a),
            Some(
                json!([{"title": "Atelier", "theme": "smartphone", "format": "individual", "duration_minutes": 60}]),
            ),
        )),
        ("PATCH", "/api/v1/organizations/{id}/users/{user_id}") => Some((
            Method::PATCH,
            format!(
                "/api/v1/organizations/{home}/users/{}",
                w.spare[&who.home()]
            ),
            Some(json!({"active": true})),
        )),
        ("POST", "/api/v1/organizations/{id}/users/{user_id}/invitation") => post(
            format!(
                "/api/v1/organizations/{home}/users/{}/invitation",
                w.invited[&who.home()]
            ),
            None,
        ),
        ("POST", "/api/v1/sites/{id}/label") => post(
            format!("/api/v1/sites/{}/label", w.site_a),
            Some(
                json!({"valid_from": today() - Days::new(400), "valid_until": today() + Days::new(400)}),
            ),
        ),
        ("POST", "/api/v1/sites/{id}/label/suspend") => {
            post(format!("/api/v1/sites/{}/label/suspend", w.site_a), None)
        }
        ("POST", "/api/v1/sites/{id}/label/reinstate") => {
            post(format!("/api/v1/sites/{}/label/reinstate", w.site_a), None)
        }

        ("POST", "/api/v1/programs") => post(path.to_string(), Some(program_body(w, n))),
        ("GET", "/api/v1/programs/{id}") => get(format!("/api/v1/programs/{}", w.program)),
        ("GET", "/api/v1/programs/{id}/stats") => {
            get(format!("/api/v1/programs/{}/stats", w.program))
        }
        ("GET", "/api/v1/programs/{id}/stats.csv") => get(format!(
            "/api/v1/programs/{}/stats.csv?breakdown=month",
            w.program
        )),
        ("POST", "/api/v1/programs/{id}/payments") => post(
            format!("/api/v1/programs/{}/payments", w.program),
            Some(json!({
                "funder_id": w.funder_a,
                "amount": "10.00",
                "reference": format!("VIR-AUTHZ-{n}"),
                "received_on": today(),
            })),
        ),
        ("POST", "/api/v1/programs/{id}/allocations") => post(
            format!("/api/v1/programs/{}/allocations", w.program),
            Some(json!({"prescriber_id": w.presc_a, "checkbooks": 1})),
        ),
        ("PATCH", "/api/v1/programs/{id}") => Some((
            Method::PATCH,
            format!("/api/v1/programs/{}", w.program),
            Some(json!({"name": format!("Pass Numérique A {n}")})),
        )),
        ("PATCH", "/api/v1/programs/{id}/allocations/{prescriber_id}") => Some((
            Method::PATCH,
            format!("/api/v1/programs/{}/allocations/{}", w.program, w.presc_a),
            Some(json!({"checkbooks": 100_000})),
        )),
        ("POST", "/api/v1/programs/{id}/extend") => post(
            format!("/api/v1/programs/{}/extend", w.program),
            Some(
                json!({"valid_until": today() + Days::new(2000 + u64::from(n)), "reason": "authz"}),
            ),
        ),
        ("GET", "/api/v1/audit") => get(path.to_string()),
        ("POST", "/api/v1/programs/{id}/close") => {
            // A program of its own, with nothing issued: closing it is allowed.
            let res = app
                .post("/api/v1/programs", &w.op_admin().token, program_body(w, n))
                .await;
            let program = id_of(res.ok(201));
            post(format!("/api/v1/programs/{program}/close"), None)
        }

        ("POST", "/api/v1/checkbooks") => post(
            path.to_string(),
            Some(
                json!({"program_id": w.program, "beneficiary": {"reference": format!("AUTHZ-W{n}")}}),
            ),
        ),
        ("GET", "/api/v1/checkbooks/{id}") => get(format!("/api/v1/checkbooks/{}", w.checkbook)),
        ("GET", "/api/v1/checkbooks/{id}/pdf") => {
            get(format!("/api/v1/checkbooks/{}/pdf", w.checkbook))
        }
        ("POST", "/api/v1/checkbooks/{id}/send") => post(
            format!("/api/v1/checkbooks/{}/send", w.checkbook),
            Some(json!({"email": "beneficiaire@example.org"})),
        ),
        ("POST", "/api/v1/checkbooks/{id}/hand-out") => {
            let stock = id_of(&issue(app, w, false).await);
            post(
                format!("/api/v1/checkbooks/{stock}/hand-out"),
                Some(json!({"beneficiary": {"reference": format!("AUTHZ-H{n}")}})),
            )
        }
        ("POST", "/api/v1/checkbooks/{id}/cancel") => {
            let book = id_of(&issue(app, w, true).await);
            post(
                format!("/api/v1/checkbooks/{book}/cancel"),
                Some(json!({"reason": "perdu"})),
            )
        }
        ("POST", "/api/v1/checkbooks/{id}/erase-beneficiary") => {
            // A checkbook of its own per call: the shared one keeps its beneficiary.
            let book = id_of(&issue(app, w, true).await);
            post(
                format!("/api/v1/checkbooks/{book}/erase-beneficiary"),
                Some(json!({})),
            )
        }
        ("POST", "/api/v1/checkbooks/{id}/evaluation") => post(
            format!("/api/v1/checkbooks/{}/evaluation", w.checkbook),
            Some(json!({"before": 1, "after": 3, "themes": ["smartphone"]})),
        ),
        ("GET", "/api/v1/checkbooks/{id}/evaluations") => {
            get(format!("/api/v1/checkbooks/{}/evaluations", w.checkbook))
        }
        ("GET", "/api/v1/follow-ups") => get(path.to_string()),
        ("POST", "/api/v1/print-runs") => post(
            path.to_string(),
            Some(json!({"program_id": w.program, "checkbooks": 1})),
        ),
        ("GET", "/api/v1/print-runs") => get(path.to_string()),
        ("PATCH", "/api/v1/checkbooks/{id}") => Some((
            Method::PATCH,
            format!("/api/v1/checkbooks/{}", w.checkbook),
            Some(json!({"beneficiary": {"postcode": "70000"}})),
        )),
        ("GET", "/api/v1/print-runs/{id}") => get(format!("/api/v1/print-runs/{}", w.print_run)),
        ("GET", "/api/v1/print-runs/{id}/pdf") => {
            get(format!("/api/v1/print-runs/{}/pdf", w.print_run))
        }
        ("GET", "/api/v1/tickets/{id}/qr.svg") => {
            get(format!("/api/v1/tickets/{}/qr.svg", w.qr_ticket))
        }
        ("GET", "/api/v1/tickets/{id}/qr.png") => {
            get(format!("/api/v1/tickets/{}/qr.png", w.qr_ticket))
        }

        ("POST", "/api/v1/tickets/verify") => {
            post(path.to_string(), Some(json!({"serial": w.verify_serial})))
        }
        ("POST", "/api/v1/redemptions") => {
            let ticket = w.tickets.pop_front().expect("tickets left for the walk");
            post(path.to_string(), Some(json!({"code": ticket["code"]})))
        }
        ("POST", "/api/v1/redemptions/batch") => {
            let ticket = w.tickets.pop_front().expect("tickets left for the walk");
            post(
                path.to_string(),
                Some(json!({"items": [{
                    "idempotency_key": Uuid::new_v4().to_string(),
                    "code": ticket["code"],
                }]})),
            )
        }
        // A service that is not the caller's: a site gets through to 422.
        ("POST", "/api/v1/redemptions/sessions") => post(
            path.to_string(),
            Some(json!({
                "session_id": Uuid::new_v4(),
                "service_id": Uuid::new_v4(),
                "items": [{"idempotency_key": Uuid::new_v4().to_string(), "serial": w.verify_serial}],
            })),
        ),
        ("POST", "/api/v1/redemptions/{id}/reverse") => {
            let ticket = w.tickets.pop_front().expect("tickets left for the walk");
            let redemption = id_of(&redeem(app, w, &ticket).await);
            post(format!("/api/v1/redemptions/{redemption}/reverse"), None)
        }

        ("POST", "/api/v1/settlements") => {
            // An empty month of its own, long over: settling it is allowed.
            w.months_settled += 1;
            let month = chrono::NaiveDate::from_ymd_opt(2019, 1, 1)
                .unwrap()
                .checked_add_months(chrono::Months::new(w.months_settled))
                .unwrap();
            let end = month.checked_add_months(chrono::Months::new(1)).unwrap() - Days::new(1);
            post(
                path.to_string(),
                Some(json!({"period_start": month, "period_end": end})),
            )
        }
        ("GET", "/api/v1/settlements/{id}") => get(format!("/api/v1/settlements/{}", w.settlement)),
        ("GET", "/api/v1/settlements/{id}/sepa.xml") => {
            get(format!("/api/v1/settlements/{}/sepa.xml", w.settlement))
        }
        ("POST", "/api/v1/statements/{id}/paid") => {
            let statement = if who.home() == Home::Funder {
                &w.funder_statement
            } else {
                &w.site_statement
            };
            let today = passnum::domain::french_date(chrono::Utc::now());
            post(
                path.replace("{id}", statement),
                Some(json!({"paid_on": today, "bank_reference": "VIR-1"})),
            )
        }
        (
            "GET",
            "/api/v1/statements/{id}"
            | "/api/v1/statements/{id}/csv"
            | "/api/v1/statements/{id}/pdf",
        ) => {
            let statement = if who.home() == Home::Funder {
                &w.funder_statement
            } else {
                &w.site_statement
            };
            get(path.replace("{id}", statement))
        }
        _ => None,
    }
}

fn program_body(w: &World, n: u32) -> Value {
    json!({
        "name": format!("Dispositif {n}"),
        "ticket_value": "10.00",
        "tickets_per_checkbook": 5,
        "validity_days": 365,
        "budget": "100.00",
        "funders": [{"organization_id": w.funder_a, "share": "1.00"}],
    })
}

/// What an allowed answer to `who` must not carry; `sent` is the request's body: an
/// answer may give back what the caller sent (a serial it typed).
fn leak(w: &World, who: Who, sent: &str, text: &str) -> Option<String> {
    let shown = |secret: &String| !sent.contains(secret.as_str()) && text.contains(secret.as_str());
    if !who.issuer() && w.codes.iter().any(shown) {
        return Some("a ticket code".to_string());
    }
    if !who.issuer() && !who.holds_tickets() && w.serials.iter().any(shown) {
        return Some("a full ticket serial".to_string());
    }
    if who.other_organisation()
        && let Some((_, what)) = w
            .private_ids
            .iter()
            .find(|(id, _)| text.contains(id.as_str()))
    {
        return Some((*what).to_string());
    }
    None
}

/// The order of the walk: reads first (before the writes change what B may see),
/// then the writes in the table's order, and the caller's own password last.
fn phase(row: &Row) -> u8 {
    match (row.method.as_str(), row.path.as_str()) {
        ("GET", _) => 0,
        ("POST", "/api/v1/auth/password") => 2,
        _ => 1,
    }
}

#[tokio::test]
async fn every_route_answers_every_actor_as_the_access_table_says() {
    let rows = table().unwrap_or_else(|e| panic!("{e}"));
    let served = routes();
    let mut rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| served.contains(&(r.method.clone(), r.path.clone())))
        .collect();
    rows.sort_by_key(phase);
    let app = TestApp::spawn().await;
    let mut w = world(&app).await;

    let mut mismatches = Vec::new();
    let mut unknown = Vec::new();
    let mut calls = 0;
    // AUTHZ_TRACE=1 prints every answer (route, actor, status, code).
    let trace = std::env::var("AUTHZ_TRACE").is_ok_and(|v| v == "1");
    for row in &rows {
        for (who, expected) in &row.expected {
            let Some((method, path, body)) =
                request_for(&app, &mut w, &row.method, &row.path, *who).await
            else {
                unknown.push(row.route());
                break;
            };
            let token = w.actors.get(who).map(|a| a.token.clone());
            let sent = body.as_ref().map(Value::to_string).unwrap_or_default();
            let res = send(&app, method, &path, token.as_deref(), body).await;
            calls += 1;
            let got = Verdict::of(res.status.as_u16());
            let code = res.body["code"].as_str().unwrap_or("-").to_string();
            if trace {
                eprintln!(
                    "{:<58} {:<13} {} {code}",
                    row.route(),
                    who.name(),
                    res.status.as_u16()
                );
            }
            let shown = (got == Verdict::Ok && *expected == Verdict::Ok)
                .then(|| leak(&w, *who, &sent, &res.text))
                .flatten();
            if got != *expected || shown.is_some() {
                let got = match shown {
                    Some(what) => format!("ok, but shows {what}"),
                    None => format!("{} ({})", got.label(), res.status.as_u16()),
                };
                mismatches.push(format!(
                    "  {:<58} {:<13} expected {:<4} got {:<30} code {}",
                    row.route(),
                    who.name(),
                    expected.label(),
                    got,
                    code
                ));
            }
        }
    }
    let mut report = String::new();
    if !unknown.is_empty() {
        report += &format!(
            "routes of the table that tests/api/authz.rs cannot call yet (add a request in `request_for`):\n  {}\n",
            unknown.join("\n  ")
        );
    }
    if !mismatches.is_empty() {
        report += &format!(
            "{} answers out of {calls} differ from tests/api/authz.csv:\n{}\n",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
    assert!(report.is_empty(), "{report}");
}
