//! The test harness: one private PostgreSQL cluster for the test runs (under
//! `.data/test/postgres`, or the server of `TEST_DATABASE_URL`), one template database
//! migrated once per set of migrations, and for every test its own database cloned
//! from the template and dropped afterwards. `TestApp` runs the real server on a free
//! port against that database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passnum::config::Settings;
use passnum::pg_cluster::{self, Durability};
use passnum::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

/// A valid operator identity, as production requires one (`PASSNUM_OPERATOR_*`):
/// for tests of a production start that are about something else.
pub const OPERATOR_IDENTITY: [(&str, &str); 8] = [
    ("PASSNUM_OPERATOR_NAME", "Hub numérique de test"),
    ("PASSNUM_OPERATOR_SIREN", "912345675"),
    ("PASSNUM_OPERATOR_VAT_NUMBER", "FR65912345675"),
    ("PASSNUM_OPERATOR_ADDRESS", "4 place du Grand Puits"),
    ("PASSNUM_OPERATOR_POSTCODE", "70000"),
    ("PASSNUM_OPERATOR_CITY", "Vesoul"),
    ("PASSNUM_OPERATOR_IBAN", "FR7630003017200005031874272"),
    ("PASSNUM_OPERATOR_BIC", "SOGEFRPP"),
];

pub const PASSWORD: &str = "a-long-test-password";

struct Template {
    /// URL of the server's maintenance database, as a superuser.
    admin_url: String,
    /// URL of any database of the server: replace `{db}`.
    url_pattern: String,
    name: String,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a future on a runtime of its own, in a thread of its own: for set-up and
/// clean-up done outside (or while dropping) a test's runtime.
fn run_detached<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(fut)
    })
    .join()
    .expect("detached task panicked")
}

fn migrations_digest() -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("migrations folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    walk(&manifest_dir().join("migrations"), &mut files);
    // The live functions are applied with the migrations: a change there is a new
    // template too.
    walk(&manifest_dir().join("sql/functions"), &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).expect("migration file"));
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let (admin_url, url_pattern) = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) => {
                let base = url
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .expect("TEST_DATABASE_URL has a database");
                (format!("{base}/postgres"), format!("{base}/{{db}}"))
            }
            Err(_) => {
                let cluster = pg_cluster::ensure_running(
                    &manifest_dir().join(".data/test/postgres"),
                    Durability::Ephemeral,
                )
                .expect("the test PostgreSQL cluster starts");
                (cluster.url("postgres"), cluster.url("{db}"))
            }
        };
        let name = format!("passnum_tpl_{}", migrations_digest());
        let (admin, pattern, tpl) = (admin_url.clone(), url_pattern.clone(), name.clone());
        run_detached(async move {
            let mut conn = AsyncPgConnection::establish(&admin)
                .await
                .expect("admin connection");
            // Several test processes may start at once: one builds, the others wait.
            diesel::sql_query("SELECT pg_advisory_lock(727274)")
                .execute(&mut conn)
                .await
                .expect("lock");
            if !database_exists(&mut conn, &tpl).await {
                let building = format!("{tpl}_building");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{building}\""))
                    .execute(&mut conn)
                    .await
                    .expect("drop stale template");
                diesel::sql_query(format!("CREATE DATABASE \"{building}\""))
                    .execute(&mut conn)
                    .await
                    .expect("create template");
                passnum::db::run_migrations(&pattern.replace("{db}", &building))
                    .await
                    .expect("migrations apply to the template");
                diesel::sql_query(format!("ALTER DATABASE \"{building}\" RENAME TO \"{tpl}\""))
                    .execute(&mut conn)
                    .await
                    .expect("rename template");
            }
            diesel::sql_query("SELECT pg_advisory_unlock(727274)")
                .execute(&mut conn)
                .await
                .expect("unlock");
        });
        Template {
            admin_url,
            url_pattern,
            name,
        }
    })
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Found>(conn)
        .await
        .expect("pg_database")
        .found
}

/// A database cloned from the template, dropped when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDatabase {
    pub fn new() -> TestDatabase {
        let tpl = template();
        let name = format!("t_{}", Uuid::new_v4().simple());
        let (admin, sql) = (
            tpl.admin_url.clone(),
            format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", tpl.name),
        );
        run_detached(async move {
            let mut conn = AsyncPgConnection::establish(&admin)
                .await
                .expect("admin connection");
            diesel::sql_query(sql)
                .execute(&mut conn)
                .await
                .expect("clone the template");
        });
        TestDatabase {
            url: tpl.url_pattern.replace("{db}", &name),
            name,
            admin_url: tpl.admin_url.clone(),
        }
    }

    pub fn port(&self) -> u16 {
        let after_at = self
            .url
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or_default();
        after_at
            .split('/')
            .next()
            .and_then(|hp| hp.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
            .expect("port in the database URL")
    }

    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("test database connection")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, sql) = (
            self.admin_url.clone(),
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
        run_detached(async move {
            if let Ok(mut conn) = AsyncPgConnection::establish(&admin).await {
                let _ = diesel::sql_query(sql).execute(&mut conn).await;
            }
        });
    }
}

/// A TCP relay between the server and PostgreSQL that a test can cut and restore,
/// to play a database that goes away and comes back.
pub struct DbSwitch {
    pub port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl DbSwitch {
    pub async fn start(target_port: u16) -> DbSwitch {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
        let port = listener.local_addr().expect("relay addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let (sender, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(sender);
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !AtomicBool::load(&up2, Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = gen2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        DbSwitch {
            port,
            up,
            generation,
        }
    }

    /// Refuses new connections and breaks the open ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Someone logged in.
#[derive(Debug, Clone)]
pub struct Actor {
    pub token: String,
    /// The refresh token of the login that gave `token`.
    pub refresh_token: String,
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub email: String,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Shared by the nodes of [`TestApp::another_node`]; dropped with the last one.
    pub db: Arc<TestDatabase>,
    pub switch: Option<DbSwitch>,
    /// The server's settings (its secrets are random, made for this app).
    pub settings: Settings,
    operator: tokio::sync::OnceCell<Actor>,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and code; returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "content type of {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "code of {}", self.text);
        assert_eq!(
            self.body["status"], status,
            "status member of {}",
            self.text
        );
        for member in ["type", "title", "detail"] {
            assert!(
                self.body[member].as_str().is_some_and(|s| !s.is_empty()),
                "{member} in {}",
                self.text
            );
        }
        &self.body
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.text);
        &self.body
    }
}

pub type SettingsChange = Box<dyn FnOnce(&mut Settings)>;

#[derive(Default)]
pub struct Options {
    pub through_switch: bool,
    pub adjust: Option<SettingsChange>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        TestApp::spawn_on(Arc::new(TestDatabase::new()), options).await
    }

    /// A second server node on the same database (another process in production):
    /// what one node does, the other sees through the database only. It knows the
    /// operator of this one, if already made.
    pub async fn another_node(&self, options: Options) -> TestApp {
        // Nodes of one deployment share its secrets: the second node gets the first
        // one's, then whatever the test adjusts.
        let token_secret = self.settings.token_secret.clone();
        let ticket_keys = self.settings.ticket_keys.clone();
        let adjust = options.adjust;
        let options = Options {
            adjust: Some(Box::new(move |settings: &mut Settings| {
                settings.token_secret = token_secret;
                settings.ticket_keys = ticket_keys;
                if let Some(adjust) = adjust {
                    adjust(settings);
                }
            })),
            ..options
        };
        let node = TestApp::spawn_on(self.db.clone(), options).await;
        if let Some(operator) = self.operator.get() {
            let _ = node.operator.set(operator.clone());
        }
        node
    }

    async fn spawn_on(db: Arc<TestDatabase>, options: Options) -> TestApp {
        let switch = if options.through_switch {
            Some(DbSwitch::start(db.port()).await)
        } else {
            None
        };
        let url = match &switch {
            Some(s) => db
                .url
                .replace(&format!(":{}/", db.port()), &format!(":{}/", s.port)),
            None => db.url.clone(),
        };
        let mut settings =
            Settings::for_tests(url.clone(), manifest_dir().join(".data/test/files"));
        if let Some(adjust) = options.adjust {
            adjust(&mut settings);
        }
        let pool = passnum::db::build_pool(&url, settings.database_pool_size).expect("pool");
        let app = Application::build(settings.clone(), pool).expect("application");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: reqwest::Client::builder().build().expect("client"),
            db,
            switch,
            settings,
            operator: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Response {
        Self::read(req.send().await.expect("request sent")).await
    }

    async fn read(res: reqwest::Response) -> Response {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Logs `email` in with the test password: a new session.
    pub async fn actor(&self, email: &str) -> Actor {
        let res = self.login(email, PASSWORD).await;
        let token = res.ok(200)["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        let refresh_token = res.body["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_string();
        let me = self.get("/api/v1/me", &token).await;
        let me = me.ok(200);
        Actor {
            token,
            refresh_token,
            user_id: me["user_id"]
                .as_str()
                .expect("user id")
                .parse()
                .expect("uuid"),
            org_id: me["organization"]["id"]
                .as_str()
                .expect("org id")
                .parse()
                .expect("uuid"),
            email: email.to_string(),
        }
    }

    /// The operator's admin (created once per app, straight through the use case).
    pub async fn operator(&self) -> Actor {
        self.operator
            .get_or_init(|| async {
                let mut conn = self.db.connect().await;
                let email =
                    passnum::domain::Email::parse("email", "operator@example.org").expect("email");
                let password =
                    passnum::domain::Password::parse("password", PASSWORD).expect("password");
                passnum::organizations::bootstrap_operator(&mut conn, email, &password)
                    .await
                    .expect("operator bootstrap");
                self.actor("operator@example.org").await
            })
            .await
            .clone()
    }

    /// A new organisation of `kind` created by the operator; returns its JSON.
    pub async fn organization(&self, kind: &str, extra: Value) -> Value {
        let operator = self.operator().await;
        let n = Uuid::new_v4().simple().to_string();
        let mut body = json!({
            "kind": kind,
            "name": format!("{kind} {}", &n[..6]),
            "email": format!("contact-{n}@example.org"),
            "postcode": "70000",
            "city": "Vesoul",
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/v1/organizations", &operator.token, body)
            .await
            .ok(201)
            .clone()
    }

    /// A user of `org` with `role`, logged in.
    pub async fn user_in(&self, org: &str, role: &str) -> Actor {
        let operator = self.operator().await;
        let email = format!("{role}-{}@example.org", Uuid::new_v4().simple());
        self.post(
            &format!("/api/v1/organizations/{org}/users"),
            &operator.token,
            json!({"email": email, "password": PASSWORD, "role": role}),
        )
        .await
        .ok(201);
        self.actor(&email).await
    }

    /// An agent of a new site (fields from `extra`) whose label runs from 400 days
    /// ago to 400 days ahead, so backdated scans are covered too.
    pub async fn labelled_site_agent(&self, extra: Value) -> Actor {
        let operator = self.operator().await;
        let site = self.organization("site", extra).await;
        let id = site["id"].as_str().expect("site id");
        let today = passnum::domain::french_date(chrono::Utc::now());
        self.post(
            &format!("/api/v1/sites/{id}/label"),
            &operator.token,
            json!({"valid_from": today - chrono::Days::new(400), "valid_until": today + chrono::Days::new(400)}),
        )
        .await
        .ok(200);
        self.user_in(id, "agent").await
    }

    /// An agent of a new organisation of `kind`.
    pub async fn member_of_new(&self, kind: &str, role: &str) -> Actor {
        let org = self.organization(kind, json!({})).await;
        self.user_in(org["id"].as_str().expect("id"), role).await
    }
}

/// A program with its funders, paid or not, and a prescriber with an allocation.
pub struct Territory {
    pub program: String,
    pub funders: Vec<String>,
    pub prescriber: Actor,
}

impl TestApp {
    /// Fails the test when the ledger breaks an invariant: an unbalanced transaction,
    /// a bucket below zero, a trial balance that is not zero.
    pub async fn assert_ledger_invariants(&self) {
        let mut conn = self.db.connect().await;
        let violations = passnum::ledger::invariant_violations(&mut conn)
            .await
            .expect("invariants query");
        assert!(
            violations.is_empty(),
            "ledger invariants broken: {violations:#?}"
        );
    }

    /// Creates a program from `body` (funders added from `shares`), as the operator.
    pub async fn program(&self, shares: &[&str], body: Value) -> (String, Vec<String>) {
        let operator = self.operator().await;
        let mut funders = Vec::new();
        let mut shares_json = Vec::new();
        for share in shares {
            let funder = self.organization("funder", json!({})).await;
            let id = funder["id"].as_str().expect("id").to_string();
            shares_json.push(json!({"organization_id": id, "share": share}));
            funders.push(id);
        }
        let mut request = json!({
            "name": "Pass Numérique test",
            "ticket_value": "10.00",
            "tickets_per_checkbook": 10,
            "validity_days": 365,
            "budget": "10000.00",
            "funders": shares_json,
        });
        if let (Some(req), Some(extra)) = (request.as_object_mut(), body.as_object()) {
            for (k, v) in extra {
                req.insert(k.clone(), v.clone());
            }
        }
        let res = self
            .post("/api/v1/programs", &operator.token, request)
            .await;
        let id = res.ok(201)["id"].as_str().expect("program id").to_string();
        (id, funders)
    }

    pub async fn pay(&self, program: &str, funder: &str, amount: &str) -> Response {
        let operator = self.operator().await;
        self.post(
            &format!("/api/v1/programs/{program}/payments"),
            &operator.token,
            json!({"funder_id": funder, "amount": amount, "reference": format!("VIR-{}", Uuid::new_v4().simple()), "received_on": "2026-11-02"}),
        )
        .await
    }

    pub async fn allocate(&self, program: &str, prescriber_org: &str, checkbooks: u32) -> Response {
        let operator = self.operator().await;
        self.post(
            &format!("/api/v1/programs/{program}/allocations"),
            &operator.token,
            json!({"prescriber_id": prescriber_org, "checkbooks": checkbooks}),
        )
        .await
    }

    /// Allocates past what the budget pays for, confirmed (`confirm_over_budget`): for
    /// tests that reach the budget's own limit at issuance.
    pub async fn allocate_over_budget(
        &self,
        program: &str,
        prescriber_org: &str,
        checkbooks: u32,
    ) -> Response {
        let operator = self.operator().await;
        self.post(
            &format!("/api/v1/programs/{program}/allocations"),
            &operator.token,
            json!({"prescriber_id": prescriber_org, "checkbooks": checkbooks, "confirm_over_budget": true}),
        )
        .await
    }

    /// A funded program (shares 0.6/0.4, budget 10,000 €, fully paid) and a
    /// prescriber agent with an allocation of `checkbooks`.
    pub async fn funded_territory(&self, checkbooks: u32) -> Territory {
        let (program, funders) = self.program(&["0.60", "0.40"], json!({})).await;
        self.pay(&program, &funders[0], "6000.00").await.ok(201);
        self.pay(&program, &funders[1], "4000.00").await.ok(201);
        let prescriber = self.member_of_new("prescriber", "agent").await;
        self.allocate(&program, &prescriber.org_id.to_string(), checkbooks)
            .await
            .ok(201);
        Territory {
            program,
            funders,
            prescriber,
        }
    }

    /// `site` scans `ticket`'s code (a new `Idempotency-Key`).
    pub async fn redeem(&self, site: &Actor, ticket: &Value) -> Response {
        self.raw(
            self.client
                .post(format!("{}/api/v1/redemptions", self.address))
                .bearer_auth(&site.token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({"code": ticket["code"]})),
        )
        .await
    }

    pub async fn issue(
        &self,
        actor: &Actor,
        program: &str,
        beneficiary: Option<Value>,
    ) -> Response {
        let mut body = json!({"program_id": program});
        if let Some(b) = beneficiary {
            body["beneficiary"] = b;
        }
        self.post("/api/v1/checkbooks", &actor.token, body).await
    }
}
