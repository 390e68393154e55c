//! Money out (issue 17): a site's BIC, the SEPA file of a settlement (validated by
//! `xmllint` against the official `pain.001.001.03` XSD), payouts confirmed paid in
//! the ledger, the unpaid ones on the dashboard, the operator's identity on the PDFs.

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::Days;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};
use crate::settlements::{backdate, redeem};

const IBAN_A: &str = "FR76 3000 6000 0112 3456 7890 189";
const IBAN_C: &str = "DE89 3704 0044 0532 0130 00";
const IBAN_C_LATER: &str = "BE68 5390 0754 7034";

struct Scene {
    operator: Actor,
    program: String,
    funder: String,
    site_a: Actor,
    site_b: Actor,
    site_c: Actor,
    settlement: Value,
}

impl Scene {
    fn statement_of(&self, org: Uuid, kind: &str) -> Value {
        self.settlement["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["organization_id"] == org.to_string() && s["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} of {org}"))
            .clone()
    }
}

async fn site_named(app: &TestApp, name: &str) -> Actor {
    app.labelled_site_agent(json!({"name": name})).await
}

async fn set_bank(
    app: &TestApp,
    who: &Actor,
    site: &Actor,
    body: Value,
) -> crate::helpers::Response {
    app.patch(
        &format!("/api/v1/organizations/{}", site.org_id),
        &who.token,
        body,
    )
    .await
}

/// Site A (IBAN and BIC) redeems 3 tickets, B (no IBAN) 1, C (a German IBAN, no
/// BIC) 2; all 40 days back, settled.
async fn settled_scene(app: &TestApp) -> Scene {
    let operator = app.operator().await;
    let (program, funders) = app
        .program(
            &["1"],
            json!({"commission_rate": "0.04", "funder_fee_rate": "0.04"}),
        )
        .await;
    app.pay(&program, &funders[0], "1000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 1)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "X"})))
        .await
        .ok(201)
        .clone();
    let tickets = book["tickets"].as_array().unwrap().clone();
    let site_a = site_named(app, "Médiathèque de Lure").await;
    let site_b = site_named(app, "Espace numérique d’Héricourt").await;
    let site_c = site_named(app, "Café & clic").await;
    set_bank(
        app,
        &operator,
        &site_a,
        json!({"iban": IBAN_A, "bic": "agri fr pp"}),
    )
    .await
    .ok(200);
    set_bank(app, &operator, &site_c, json!({"iban": IBAN_C}))
        .await
        .ok(200);
    for t in &tickets[..3] {
        redeem(app, &site_a, t).await;
    }
    redeem(app, &site_b, &tickets[3]).await;
    for t in &tickets[4..6] {
        redeem(app, &site_c, t).await;
    }
    let settlement = settle_40_days_back(app, &operator).await;
    Scene {
        operator,
        program,
        funder: funders[0].clone(),
        site_a,
        site_b,
        site_c,
        settlement,
    }
}

/// Moves every scan 40 days back and settles that day: the settlement.
async fn settle_40_days_back(app: &TestApp, operator: &Actor) -> Value {
    let day = passnum::domain::french_date(chrono::Utc::now()) - Days::new(40);
    backdate(app, day).await;
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": day, "period_end": day}),
    )
    .await
    .ok(201)
    .clone()
}

async fn sepa(app: &TestApp, token: &str, settlement: &Value) -> crate::helpers::Response {
    app.get(
        &format!(
            "/api/v1/settlements/{}/sepa.xml",
            settlement["id"].as_str().unwrap()
        ),
        token,
    )
    .await
}

/// The official XSD, from the `sepaxml` package (`scripts/fetch-validators`, run by
/// `scripts/test`; run here once when the file is not there yet).
fn pain_001_001_03_xsd() -> PathBuf {
    static XSD: OnceLock<PathBuf> = OnceLock::new();
    XSD.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let xsd = root.join("target/validators/sepaxml/schemas/pain.001.001.03.xsd");
        if !xsd.exists() {
            let status = std::process::Command::new(root.join("scripts/fetch-validators"))
                .status()
                .expect("scripts/fetch-validators");
            assert!(status.success(), "scripts/fetch-validators failed");
        }
        assert!(xsd.exists(), "{} missing", xsd.display());
        xsd
    })
    .clone()
}

/// `xmllint --schema` on the file: `Ok` or its complaints.
fn xmllint(xml: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("passnum-sepa-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("virements.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(pain_001_001_03_xsd())
        .arg(&file)
        .output()
        .expect("xmllint (libxml2-utils: scripts/install-test-tools)");
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn between<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .collect()
}

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_sepa_file_passes_the_official_schema_and_adds_up_to_the_payouts() {
    let app = TestApp::spawn().await;
    let scene = settled_scene(&app).await;
    let payout_a = scene.statement_of(scene.site_a.org_id, "site_payout");
    let payout_b = scene.statement_of(scene.site_b.org_id, "site_payout");
    let payout_c = scene.statement_of(scene.site_c.org_id, "site_payout");
    // B gave no IBAN: listed, not dropped.
    let missing = scene.settlement["missing_iban"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["number"], payout_b["number"]);
    assert_eq!(missing[0]["name"], "Espace numérique d’Héricourt");
    // C's account changes after the settlement: the file pays the one recorded.
    set_bank(
        &app,
        &scene.operator,
        &scene.site_c,
        json!({"iban": IBAN_C_LATER}),
    )
    .await
    .ok(200);

    let res = sepa(&app, &scene.operator.token, &scene.settlement).await;
    let xml = res.text.clone();
    assert_eq!(res.status, 200, "{xml}");
    assert!(res.content_type().starts_with("application/xml"));
    assert_eq!(res.headers["x-missing-iban"], "1");
    xmllint(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));

    // One transfer per payout with an account; the control sum is their sum.
    let expected = dec(&payout_a["total"]) + dec(&payout_c["total"]);
    assert_eq!(between(&xml, "NbOfTxs"), ["2", "2"]);
    for sum in between(&xml, "CtrlSum") {
        assert_eq!(sum.parse::<Decimal>().unwrap(), expected);
    }
    let amounts: Decimal = xml
        .split("<InstdAmt Ccy=\"EUR\">")
        .skip(1)
        .map(|r| r.split('<').next().unwrap().parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(amounts, expected);
    assert_eq!(expected, Decimal::new(4800, 2), "5 tickets × 9.60");
    let remittances = between(&xml, "EndToEndId");
    assert!(remittances.contains(&payout_a["number"].as_str().unwrap()));
    assert!(remittances.contains(&payout_c["number"].as_str().unwrap()));
    assert!(!xml.contains(payout_b["number"].as_str().unwrap()));
    // The operator as debtor (the demonstration identity here), the sites by their
    // names in the SEPA character set, each to the account recorded at settlement.
    assert!(
        xml.contains("<Nm>Hub numerique de Haute-Saone</Nm>"),
        "{xml}"
    );
    assert!(xml.contains("<IBAN>FR7630003017200005031874272</IBAN>"));
    assert!(xml.contains("<BIC>SOGEFRPP</BIC>"));
    assert!(xml.contains("<Nm>Mediatheque de Lure</Nm>"), "{xml}");
    assert!(xml.contains("<Nm>Cafe + clic</Nm>"), "{xml}");
    assert!(xml.contains("<IBAN>FR7630006000011234567890189</IBAN>"));
    assert!(xml.contains("<BIC>AGRIFRPP</BIC>"));
    assert!(xml.contains("<IBAN>DE89370400440532013000</IBAN>"), "{xml}");
    assert!(!xml.contains("BE68"), "{xml}");
    assert!(xml.is_ascii());
    // The PDF of C's statement names that account too, and the identity is marked.
    let pdf = crate::settlements::pdf(&app, &scene.site_c.token, &payout_c).await;
    assert!(pdf.contains("Virement sur le compte DE89 …3000"), "{pdf}");
    assert!(pdf.contains("IDENTITÉ FICTIVE — démonstration"), "{pdf}");
    let pdf = crate::settlements::pdf(&app, &scene.site_a.token, &payout_a).await;
    assert!(
        pdf.contains("Virement sur le compte FR76 …0189 (BIC AGRIFRPP)"),
        "{pdf}"
    );

    // Operator admins only; another settlement id is not found.
    let agent = app
        .user_in(&scene.operator.org_id.to_string(), "agent")
        .await;
    sepa(&app, &agent.token, &scene.settlement)
        .await
        .problem(403, "forbidden");
    sepa(&app, &scene.site_a.token, &scene.settlement)
        .await
        .problem(403, "forbidden");
    sepa(&app, &scene.operator.token, &json!({"id": Uuid::new_v4()}))
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn a_settlement_whose_sites_gave_no_account_has_no_file_to_send() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let territory = app.funded_territory(1).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "Y"})),
        )
        .await
        .ok(201)
        .clone();
    let site = app.labelled_site_agent(json!({})).await;
    redeem(&app, &site, &book["tickets"][0]).await;
    let settlement = settle_40_days_back(&app, &operator).await;
    assert_eq!(settlement["missing_iban"].as_array().unwrap().len(), 1);
    sepa(&app, &operator.token, &settlement)
        .await
        .problem(409, "nothing_to_transfer");
}

#[derive(QueryableByName)]
struct Balance {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    balance: Decimal,
}

async fn site_balances(app: &TestApp, site: Uuid) -> Vec<(String, Decimal)> {
    let mut conn = app.db.connect().await;
    let rows: Vec<Balance> = diesel::sql_query(format!(
        "SELECT a.kind, coalesce(sum(p.amount), 0) AS balance FROM ledger_accounts a
         LEFT JOIN ledger_postings p ON p.account_id = a.id
         WHERE a.organization_id = '{site}' GROUP BY a.kind ORDER BY a.kind"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|b| (b.kind, b.balance)).collect()
}

async fn cover_of(app: &TestApp, operator: &Actor, program: &str) -> Value {
    app.get("/api/v1/ledger/cover", &operator.token)
        .await
        .ok(200)["programs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["program_id"] == program)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_payout_confirmed_moves_owed_to_paid_out_once() {
    let app = TestApp::spawn().await;
    let scene = settled_scene(&app).await;
    let payout_a = scene.statement_of(scene.site_a.org_id, "site_payout");
    let path = format!(
        "/api/v1/statements/{}/paid",
        payout_a["id"].as_str().unwrap()
    );
    let today = passnum::domain::french_date(chrono::Utc::now());

    // Settled: owed to A on its statement, nothing paid yet; listed unpaid.
    let owed = Decimal::new(2880, 2);
    assert_eq!(
        site_balances(&app, scene.site_a.org_id).await,
        [
            ("site_owed".to_string(), owed),
            ("site_payable".to_string(), Decimal::ZERO)
        ]
    );
    let alerts = app
        .get("/api/v1/dashboard/alerts", &scene.operator.token)
        .await
        .ok(200)
        .clone();
    let unpaid = alerts["unpaid_payouts"].as_array().unwrap();
    assert_eq!(unpaid.len(), 3, "{unpaid:?}");
    assert!(unpaid.iter().any(|u| u["number"] == payout_a["number"]
        && u["name"] == "Médiathèque de Lure"
        && u["total"] == "28.80"
        && u["age_days"] == 0));
    let before = cover_of(&app, &scene.operator, &scene.program).await;

    // Refusals first: nothing is written.
    let agent = app
        .user_in(&scene.operator.org_id.to_string(), "agent")
        .await;
    let site_admin = app.user_in(&scene.site_a.org_id.to_string(), "admin").await;
    let good = json!({"paid_on": today, "bank_reference": "VIR-0042"});
    for who in [&agent, &site_admin] {
        app.post(&path, &who.token, good.clone())
            .await
            .problem(403, "forbidden");
    }
    let refused = app
        .post(
            &path,
            &scene.operator.token,
            json!({"paid_on": today + Days::new(1), "bank_reference": "VIR-0042"}),
        )
        .await;
    assert_eq!(
        refused.problem(422, "validation_failed")["field"],
        "paid_on"
    );
    let refused = app
        .post(
            &path,
            &scene.operator.token,
            json!({"paid_on": today, "bank_reference": "  "}),
        )
        .await;
    assert_eq!(
        refused.problem(422, "validation_failed")["field"],
        "bank_reference"
    );
    let bill = scene.statement_of(scene.funder.parse().unwrap(), "funder_bill");
    app.post(
        &format!("/api/v1/statements/{}/paid", bill["id"].as_str().unwrap()),
        &scene.operator.token,
        good.clone(),
    )
    .await
    .problem(409, "not_a_payout");
    app.post(
        &format!("/api/v1/statements/{}/paid", Uuid::new_v4()),
        &scene.operator.token,
        good.clone(),
    )
    .await
    .problem(404, "not_found");
    assert_eq!(site_balances(&app, scene.site_a.org_id).await[0].1, owed);

    // Paid: owed → paid out, balanced; the cover still holds, both sides less.
    let paid = app.post(&path, &scene.operator.token, good.clone()).await;
    let body = paid.ok(200);
    assert_eq!(body["paid_on"], today.to_string());
    assert_eq!(body["bank_reference"], "VIR-0042");
    assert_eq!(
        site_balances(&app, scene.site_a.org_id).await,
        [
            ("site_owed".to_string(), Decimal::ZERO),
            ("site_paid".to_string(), owed),
            ("site_payable".to_string(), Decimal::ZERO)
        ]
    );
    app.assert_ledger_invariants().await;
    let after = cover_of(&app, &scene.operator, &scene.program).await;
    assert_eq!(dec(&before["held"]) - dec(&after["held"]), owed);
    assert_eq!(
        dec(&before["owed_to_sites"]) - dec(&after["owed_to_sites"]),
        owed
    );
    assert_eq!(after["covered"], true);

    // Twice: refused, nothing moves.
    let again = app
        .post(
            &path,
            &scene.operator.token,
            json!({"paid_on": today, "bank_reference": "VIR-0043"}),
        )
        .await;
    let problem = again.problem(409, "already_paid");
    assert!(
        problem["detail"].as_str().unwrap().contains("VIR-0042"),
        "{problem}"
    );
    assert_eq!(site_balances(&app, scene.site_a.org_id).await[1].1, owed);

    // The site reads it on its statements; the dashboard no longer lists it.
    let mine = app
        .get("/api/v1/statements", &scene.site_a.token)
        .await
        .ok(200)
        .clone();
    assert_eq!(mine["items"][0]["paid_on"], today.to_string());
    assert_eq!(mine["items"][0]["bank_reference"], "VIR-0042");
    let unpaid = app
        .get("/api/v1/dashboard/alerts", &scene.operator.token)
        .await
        .ok(200)["unpaid_payouts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(unpaid.len(), 2);
    assert!(unpaid.iter().all(|u| u["number"] != payout_a["number"]));

    // Audited, once.
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect().await;
    let count: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM audit_entries WHERE action = 'statement.paid' AND entity_id = '{}' AND after->>'bank_reference' = 'VIR-0042'",
        payout_a["id"].as_str().unwrap()
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(count.n, 1);
    // The payment is kept as recorded.
    let changed = diesel::sql_query("UPDATE statement_payments SET bank_reference = 'X'")
        .execute(&mut conn)
        .await;
    assert!(changed.is_err());
}

#[tokio::test]
async fn a_bic_is_checked_against_the_iban_masked_and_audited() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let agent = app.labelled_site_agent(json!({})).await;
    let admin = app.user_in(&agent.org_id.to_string(), "admin").await;
    let res = set_bank(&app, &admin, &agent, json!({"bic": "AGRIFRP"})).await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "bic");
    let res = set_bank(
        &app,
        &admin,
        &agent,
        json!({"iban": IBAN_A, "bic": "COBADEFF"}),
    )
    .await;
    let problem = res.problem(422, "validation_failed");
    assert_eq!(problem["field"], "bic");
    assert!(
        problem["detail"].as_str().unwrap().contains("« DE »"),
        "{problem}"
    );
    let body = set_bank(
        &app,
        &admin,
        &agent,
        json!({"iban": IBAN_A, "bic": "AGRIFRPPXXX"}),
    )
    .await
    .ok(200)
    .clone();
    assert_eq!(body["bic"], "AGRIFRPPXXX");
    // A German IBAN under a French BIC is refused, whichever changes.
    let res = set_bank(&app, &admin, &agent, json!({"iban": IBAN_C})).await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "bic");
    // Masked to the site's agents and the operator's agents, whole to admins.
    let path = format!("/api/v1/organizations/{}", agent.org_id);
    assert_eq!(app.get(&path, &agent.token).await.ok(200)["bic"], "AGRI…");
    let op_agent = app.user_in(&operator.org_id.to_string(), "agent").await;
    assert_eq!(
        app.get(&path, &op_agent.token).await.ok(200)["bic"],
        "AGRI…"
    );
    assert_eq!(
        app.get(&path, &operator.token).await.ok(200)["bic"],
        "AGRIFRPPXXX"
    );
    set_bank(&app, &op_agent, &agent, json!({"bic": "AGRIFRPP"}))
        .await
        .problem(403, "forbidden");
    // Audited, whole (a BIC names a bank, not an account).
    #[derive(QueryableByName)]
    struct After {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
        after: Option<Value>,
    }
    let mut conn = app.db.connect().await;
    let rows: Vec<After> = diesel::sql_query(format!(
        "SELECT after FROM audit_entries WHERE entity_id = '{}' AND action = 'organization.updated' ORDER BY seq",
        agent.org_id
    ))
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        rows.last().unwrap().after.as_ref().unwrap()["bic"],
        "AGRIFRPPXXX"
    );
}
