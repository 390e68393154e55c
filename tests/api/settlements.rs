use std::collections::HashMap;

use chrono::Days;
use diesel_async::RunQueryDsl;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, Options, TestApp};

async fn site_agent(app: &TestApp) -> Actor {
    app.labelled_site_agent(json!({"siret": "73282932000074"}))
        .await
}

pub(crate) async fn redeem(app: &TestApp, site: &Actor, ticket: &Value) -> Value {
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&site.token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({"code": ticket["code"]})),
    )
    .await
    .ok(201)
    .clone()
}

/// Moves every redemption to `day` (noon, Paris), as if it had been scanned then.
pub(crate) async fn backdate(app: &TestApp, day: chrono::NaiveDate) {
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!("UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', scanned_at = '{day} 12:00:00 Europe/Paris'"))
        .execute(&mut conn)
        .await
        .unwrap();
}

struct Month {
    funders: Vec<String>,
    site_a: Actor,
    site_b: Actor,
    day: chrono::NaiveDate,
    redemption_ids: Vec<String>,
}

/// 0.60/0.40 funding, 4 % commission, 4 % fee; 3 tickets redeemed at site A, 2 at
/// site B of which one reversed; all moved 40 days back.
async fn a_month_of_scans(app: &TestApp) -> Month {
    let (program, funders) = app
        .program(
            &["0.60", "0.40"],
            json!({"commission_rate": "0.04", "funder_fee_rate": "0.04"}),
        )
        .await;
    app.pay(&program, &funders[0], "6000.00").await.ok(201);
    app.pay(&program, &funders[1], "4000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 5)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "X"})))
        .await
        .ok(201)
        .clone();
    let tickets = book["tickets"].as_array().unwrap().clone();
    let (site_a, site_b) = (site_agent(app).await, site_agent(app).await);
    let mut ids = Vec::new();
    for t in &tickets[..3] {
        ids.push(
            redeem(app, &site_a, t).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    redeem(app, &site_b, &tickets[3]).await;
    let mistaken = redeem(app, &site_b, &tickets[4]).await;
    app.post(
        &format!(
            "/api/v1/redemptions/{}/reverse",
            mistaken["id"].as_str().unwrap()
        ),
        &site_b.token,
        json!({}),
    )
    .await
    .ok(200);
    let day = passnum::domain::french_date(chrono::Utc::now()) - Days::new(40);
    backdate(app, day).await;
    Month {
        funders,
        site_a,
        site_b,
        day,
        redemption_ids: ids,
    }
}

fn by_kind_and_org(statements: &[Value]) -> HashMap<(String, String), Value> {
    statements
        .iter()
        .map(|s| {
            (
                (
                    s["kind"].as_str().unwrap().to_string(),
                    s["organization_id"].as_str().unwrap().to_string(),
                ),
                s.clone(),
            )
        })
        .collect()
}

/// A statement's CSV as its bytes (a BOM included) and headers; `query` such as
/// `?format=rfc4180`.
async fn fetch_csv(
    app: &TestApp,
    token: &str,
    id: &str,
    query: &str,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let res = app
        .client
        .get(format!("{}/api/v1/statements/{id}/csv{query}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let headers = res.headers().clone();
    let status = res.status().as_u16();
    let bytes = res.bytes().await.unwrap().to_vec();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(
        headers[reqwest::header::CONTENT_TYPE],
        "text/csv; charset=utf-8; header=present"
    );
    (headers, bytes)
}

/// A statement's CSV as served, byte for byte (the Excel form's BOM included).
async fn csv(app: &TestApp, actor: &Actor, statement: &Value) -> String {
    let (_, bytes) = fetch_csv(app, &actor.token, statement["id"].as_str().unwrap(), "").await;
    String::from_utf8(bytes).unwrap()
}

/// The Excel form, checked byte by byte: BOM, `;`, CRLF and nothing else, decimal
/// commas. Returns the lines' cells (header first), with decimal points.
fn excel_cells(text: &str) -> Vec<Vec<String>> {
    let body = text.strip_prefix('\u{feff}').expect("a BOM first");
    assert!(body.ends_with("\r\n"), "CRLF at the end: {body:?}");
    assert!(
        !body.replace("\r\n", "").contains(['\n', '\r']),
        "CRLF line ends only: {body:?}"
    );
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(body.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// An amount of the Excel form (`9,60`) as a decimal; a decimal point is refused.
fn comma_amount(cell: &str) -> Decimal {
    assert!(!cell.contains('.'), "a decimal comma: {cell}");
    cell.replace(',', ".").parse().unwrap()
}

#[tokio::test]
async fn a_settlement_pays_sites_bills_funders_and_adds_up_to_the_cent() {
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let operator = app.operator().await;
    let res = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": m.day, "period_end": m.day}),
        )
        .await;
    let settlement = res.ok(201).clone();
    let statements = settlement["statements"].as_array().unwrap().clone();
    assert_eq!(
        statements.len(),
        5,
        "two sites, two funders, the operator: {statements:#?}"
    );
    let s = by_kind_and_org(&statements);
    let total = |kind: &str, org: &str| {
        s[&(kind.to_string(), org.to_string())]["total"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(total("site_payout", &m.site_a.org_id.to_string()), "28.80");
    assert_eq!(
        total("site_payout", &m.site_b.org_id.to_string()),
        "9.60",
        "the reversed scan is not paid"
    );
    assert_eq!(
        total("funder_bill", &m.funders[0]),
        "24.96",
        "60 % of 40.00 plus a 4 % fee"
    );
    assert_eq!(total("funder_bill", &m.funders[1]), "16.64");
    assert_eq!(total("commission", &operator.org_id.to_string()), "1.60");
    let year = chrono::Datelike::year(&passnum::domain::french_date(chrono::Utc::now()));
    let mut numbers: Vec<String> = statements
        .iter()
        .map(|s| s["number"].as_str().unwrap().to_string())
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=5)
            .map(|n| format!("REL-{year}-{n:06}"))
            .collect::<Vec<_>>(),
        "numbered without gaps"
    );

    for statement in &statements {
        let text = csv(&app, &operator, statement).await;
        let cells = excel_cells(&text);
        assert_eq!(
            cells[0].join(";"),
            "numero_releve;date;serie_cheque;numero_chequier;dispositif;lieu;siret_lieu;encaisse_le;valeur_faciale;taux;montant"
        );
        let amounts: Vec<Decimal> = cells[1..].iter().map(|c| comma_amount(&c[10])).collect();
        assert_eq!(amounts.len() as u64, statement["lines"].as_u64().unwrap());
        let sum: Decimal = amounts.iter().sum();
        assert_eq!(
            sum.to_string(),
            statement["total"].as_str().unwrap(),
            "the lines add up to the total of {}",
            statement["number"]
        );
        assert_eq!(
            passnum::settlement::sha256_hex(&text),
            statement["sha256"].as_str().unwrap()
        );
        assert!(text.contains(statement["number"].as_str().unwrap()));
    }
    let payout = csv(
        &app,
        &operator,
        &s[&("site_payout".to_string(), m.site_a.org_id.to_string())],
    )
    .await;
    assert!(
        payout.contains("73282932000074"),
        "the site's SIRET is on its lines"
    );
    assert!(payout.contains(";10,00;0,0400;9,60\r\n"), "{payout}");

    // The ledger moved payable onto the statements (owed until the transfer is
    // confirmed: tests/api/payouts.rs); nothing left payable for the period.
    let trial = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await;
    let accounts = trial.ok(200)["accounts"].as_array().unwrap().clone();
    for a in &accounts {
        if a["kind"] == "site_payable" || a["kind"] == "commission" {
            assert_eq!(a["balance"], "0.00", "{a}");
        }
    }
    let paid: Vec<&Value> = accounts
        .iter()
        .filter(|a| a["kind"] == "site_owed")
        .collect();
    assert_eq!(paid.len(), 2);
    app.assert_ledger_invariants().await;
    // The settlement reads back.
    let again = app
        .get(
            &format!("/api/v1/settlements/{}", settlement["id"].as_str().unwrap()),
            &operator.token,
        )
        .await;
    assert_eq!(again.ok(200)["statements"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_period_is_settled_once_even_by_two_settlements_at_once() {
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let operator = app.operator().await;
    let body = json!({"period_start": m.day - Days::new(3), "period_end": m.day});
    let overlapping = json!({"period_start": m.day, "period_end": m.day + Days::new(2)});
    let (a, b) = tokio::join!(
        app.post("/api/v1/settlements", &operator.token, body.clone()),
        app.post("/api/v1/settlements", &operator.token, overlapping.clone()),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, b.text);
    let loser = if a.status.as_u16() == 409 { &a } else { &b };
    loser.problem(409, "period_already_settled");
    app.post("/api/v1/settlements", &operator.token, body)
        .await
        .problem(409, "period_already_settled");
    // Site A is owed once (on its one statement).
    let trial = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await;
    let paid_a = trial.ok(200)["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            x["code"]
                .as_str()
                .unwrap()
                .ends_with(&format!("site:{}:owed", m.site_a.org_id))
        })
        .unwrap()["balance"]
        .clone();
    assert_eq!(paid_a, "28.80");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn settled_redemptions_read_settled_and_can_no_longer_be_reversed() {
    let app = TestApp::spawn_with(Options {
        adjust: Some(Box::new(|s| s.reversal_grace_minutes = 60 * 24 * 365)),
        ..Options::default()
    })
    .await;
    let m = a_month_of_scans(&app).await;
    let operator = app.operator().await;
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": m.day, "period_end": m.day}),
    )
    .await
    .ok(201);
    let res = app
        .post(
            &format!("/api/v1/redemptions/{}/reverse", m.redemption_ids[0]),
            &m.site_a.token,
            json!({}),
        )
        .await;
    res.problem(409, "reversal_window_closed");
    let list = app.get("/api/v1/redemptions", &m.site_a.token).await;
    assert!(
        list.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "settled")
    );
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn periods_must_be_over_and_in_order() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let today = passnum::domain::french_date(chrono::Utc::now());
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": today - Days::new(5), "period_end": today}),
    )
    .await
    .problem(409, "period_not_over");
    let res = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": today - Days::new(5), "period_end": today - Days::new(9)}),
        )
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "period_end");
    let site = app.member_of_new("site", "admin").await;
    app.post(
        "/api/v1/settlements",
        &site.token,
        json!({"period_start": "2026-01-01", "period_end": "2026-01-31"}),
    )
    .await
    .problem(403, "forbidden");
    // A month with nothing redeemed settles to no statement.
    let empty = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": "2026-01-01", "period_end": "2026-01-31"}),
        )
        .await;
    assert!(empty.ok(201)["statements"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn statements_are_visible_to_their_organisation_only() {
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let operator = app.operator().await;
    let settlement = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": m.day, "period_end": m.day}),
        )
        .await
        .ok(201)
        .clone();
    let statements = settlement["statements"].as_array().unwrap().clone();
    let own = app.get("/api/v1/statements", &m.site_a.token).await;
    let items = own.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["organization_id"], m.site_a.org_id.to_string());
    let funder = app.user_in(&m.funders[0], "admin").await;
    let bills = app.get("/api/v1/statements", &funder.token).await;
    assert_eq!(bills.ok(200)["items"].as_array().unwrap().len(), 1);
    assert_eq!(bills.body["items"][0]["kind"], "funder_bill");
    let b_statement = statements
        .iter()
        .find(|s| s["organization_id"] == m.site_b.org_id.to_string())
        .unwrap();
    let id = b_statement["id"].as_str().unwrap();
    app.get(&format!("/api/v1/statements/{id}"), &m.site_a.token)
        .await
        .problem(404, "not_found");
    app.get(&format!("/api/v1/statements/{id}/csv"), &m.site_a.token)
        .await
        .problem(404, "not_found");
    app.get(&format!("/api/v1/statements/{id}"), &m.site_b.token)
        .await
        .ok(200);
    let peek = app
        .get(
            &format!("/api/v1/statements?organization_id={}", m.site_b.org_id),
            &m.site_a.token,
        )
        .await;
    assert!(peek.ok(200)["items"].as_array().unwrap().is_empty());
    let all = app.get("/api/v1/statements", &operator.token).await;
    assert_eq!(all.ok(200)["items"].as_array().unwrap().len(), 5);
    app.get(
        &format!("/api/v1/settlements/{}", settlement["id"].as_str().unwrap()),
        &funder.token,
    )
    .await
    .problem(403, "forbidden");
}

#[tokio::test]
async fn an_issued_statement_never_changes_and_the_database_keeps_it_so() {
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let operator = app.operator().await;
    let settlement = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": m.day, "period_end": m.day}),
        )
        .await
        .ok(201)
        .clone();
    let statements = settlement["statements"].as_array().unwrap().clone();
    let s = by_kind_and_org(&statements);
    let payout = s[&("site_payout".to_string(), m.site_a.org_id.to_string())].clone();
    let before = csv(&app, &m.site_a, &payout).await;

    // Renaming the site and the program afterwards changes nothing already issued.
    let mut conn = app.db.connect().await;
    diesel::sql_query(
        "UPDATE organizations SET name = 'Nouveau nom', siret = NULL WHERE kind = 'site'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("UPDATE programs SET name = 'Programme renommé'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (headers, bytes) =
        fetch_csv(&app, &m.site_a.token, payout["id"].as_str().unwrap(), "").await;
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text, before, "the same bytes as when issued");
    assert_eq!(
        headers["x-content-sha256"].to_str().unwrap(),
        payout["sha256"].as_str().unwrap()
    );
    assert!(!text.contains("Nouveau nom") && !text.contains("renommé"));

    // The database refuses to edit what a statement was drawn from, or the statement.
    for edit in [
        "UPDATE redemptions SET redeemed_at = redeemed_at + interval '1 second' WHERE status = 'redeemed'",
        "UPDATE redemptions SET status = 'reversed', reversed_at = now() WHERE status = 'redeemed'",
        "UPDATE redemptions SET amount_payable = amount_payable - 0.01, commission = commission + 0.01",
        "DELETE FROM redemptions",
        "UPDATE statements SET sha256 = repeat('0', 64)",
        "UPDATE statements SET total = total + 1",
        "DELETE FROM statements",
        "DELETE FROM settlement_names",
        "UPDATE programs SET commission_rate = 0",
        "DELETE FROM program_funders",
    ] {
        let refused = diesel::sql_query(edit).execute(&mut conn).await;
        assert!(refused.is_err(), "{edit} must be refused");
    }
    // Nor can a redemption be moved into a settled period.
    let unsettled = diesel::sql_query(format!(
        "UPDATE redemptions SET redeemed_at = '{} 12:00:00 Europe/Paris' WHERE status = 'reversed'",
        m.day
    ))
    .execute(&mut conn)
    .await;
    assert!(unsettled.is_err());
    assert_eq!(csv(&app, &m.site_a, &payout).await, before);
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_settlement_cut_short_before_sealing_is_sealed_afterwards() {
    use diesel_async::AsyncConnection;
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let mut conn = app.db.connect().await;
    // The settlement commits; the process stops before sealing its statements.
    let (settlement, made) = conn
        .transaction::<_, passnum::settlement::SettleError, _>(async |conn| {
            passnum::settlement::settle(conn, m.day, m.day, None).await
        })
        .await
        .unwrap();
    assert_eq!(made.len(), 5);
    assert!(made.iter().all(|s| s.sha256.is_none()));
    // Sealing later (as `serve` does at start-up) fixes each one's SHA-256 once.
    let sealed = passnum::settlement::seal_pending(&mut conn).await.unwrap();
    assert_eq!(sealed.len(), 5);
    assert!(
        passnum::settlement::seal_pending(&mut conn)
            .await
            .unwrap()
            .is_empty()
    );
    let operator = app.operator().await;
    let view = app
        .get(
            &format!("/api/v1/settlements/{}", settlement.id),
            &operator.token,
        )
        .await
        .ok(200)
        .clone();
    for statement in view["statements"].as_array().unwrap() {
        let text = csv(&app, &operator, statement).await;
        assert_eq!(
            passnum::settlement::sha256_hex(&text),
            statement["sha256"].as_str().unwrap()
        );
    }
}

/// Settle, commit, seal is one use case, the one `POST /settlements` and `passnum
/// settle` call: its statements come back sealed, and its refusals are variants the
/// command line matches (not strings).
#[tokio::test]
async fn settle_and_seal_is_one_use_case_with_typed_refusals() {
    use passnum::settlement::{SettleError, settle_and_seal};
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let mut conn = app.db.connect().await;
    let settled = settle_and_seal(&mut conn, m.day, m.day, None)
        .await
        .unwrap();
    assert_eq!(settled.settlement.period_start, m.day);
    assert_eq!(settled.statements.len(), 5);
    let operator = app.operator().await;
    for statement in &settled.statements {
        let view = json!({"id": statement.id});
        let text = csv(&app, &operator, &view).await;
        assert_eq!(
            Some(passnum::settlement::sha256_hex(&text)),
            statement.sha256,
            "{}",
            statement.number
        );
    }
    let again = settle_and_seal(&mut conn, m.day, m.day, None).await;
    assert!(
        matches!(again, Err(SettleError::PeriodAlreadySettled { period_start, .. }) if period_start == m.day),
        "{again:?}"
    );
    let today = passnum::domain::french_date(chrono::Utc::now());
    let not_over = settle_and_seal(&mut conn, today, today, None).await;
    assert!(
        matches!(not_over, Err(SettleError::PeriodNotOver { period_end }) if period_end == today),
        "{not_over:?}"
    );
    // Refused settlements left nothing behind: one settlement, still five statements.
    let view = app
        .get(
            &format!("/api/v1/settlements/{}", settled.settlement.id),
            &operator.token,
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(view["statements"].as_array().unwrap().len(), 5);
    app.assert_ledger_invariants().await;
}

/// Settles one day; returns its statements.
pub(crate) async fn settle_day(
    app: &TestApp,
    operator: &Actor,
    day: chrono::NaiveDate,
) -> Vec<Value> {
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": day, "period_end": day}),
    )
    .await
    .ok(201)["statements"]
        .as_array()
        .unwrap()
        .clone()
}

/// The text of a PDF as `pdftotext` reads it, whitespace runs as one space.
fn pdf_text(bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("passnum-statement-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("statement.pdf");
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (scripts/install-test-tools)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) async fn pdf(app: &TestApp, token: &str, statement: &Value) -> String {
    let res = app
        .client
        .get(format!(
            "{}/api/v1/statements/{}/pdf",
            app.address,
            statement["id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    pdf_text(&res.bytes().await.unwrap())
}

/// French Excel opens a statement as it is (BOM, `;`, decimal comma, CRLF), with
/// Paris times and the serial's end as printed; a script asks for the plain form of
/// the same lines; an unknown form is refused in French.
#[tokio::test]
async fn statement_csvs_open_in_french_excel_and_scripts_get_the_plain_form() {
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let operator = app.operator().await;
    let statements = settle_day(&app, &operator, m.day).await;
    let s = by_kind_and_org(&statements);
    let bill = &s[&("funder_bill".to_string(), m.funders[0].clone())];
    let funder = app.user_in(&m.funders[0], "admin").await;
    let id = bill["id"].as_str().unwrap();

    let (headers, bytes) = fetch_csv(&app, &funder.token, id, "").await;
    assert_eq!(
        headers["x-content-sha256"].to_str().unwrap(),
        bill["sha256"].as_str().unwrap()
    );
    assert_eq!(
        passnum::settlement::sha256_hex(std::str::from_utf8(&bytes).unwrap()),
        bill["sha256"].as_str().unwrap(),
        "the sealed bytes are the Excel form"
    );
    let excel = excel_cells(std::str::from_utf8(&bytes).unwrap());
    assert_eq!(
        excel.len(),
        1 + 4 + 1,
        "a header, four tickets, a fee: {excel:?}"
    );
    let noon = chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap();
    for line in &excel[1..5] {
        let at = chrono::DateTime::parse_from_rfc3339(&line[7]).unwrap();
        assert_eq!(
            (at.date_naive(), at.time()),
            (m.day, noon),
            "Paris time: {line:?}"
        );
        assert!(
            matches!(at.offset().local_minus_utc(), 3600 | 7200),
            "{line:?}"
        );
        assert!(line[7].ends_with(":00+01:00") || line[7].ends_with(":00+02:00"));
        assert!(
            line[2].starts_with('…')
                && line[2].chars().nth(2) == Some('-')
                && line[2].chars().count() == 6,
            "the serial's end as printed, dash kept: {line:?}"
        );
        assert_eq!(comma_amount(&line[8]), Decimal::new(1000, 2));
        assert_eq!(line[9], "0,6000");
    }
    let fee = &excel[5];
    assert_eq!(fee[5], "Frais de gestion (à payer)");
    assert_eq!(comma_amount(&fee[10]).to_string(), "0.96");
    let sum: Decimal = excel[1..].iter().map(|l| comma_amount(&l[10])).sum();
    assert_eq!(
        sum.to_string(),
        bill["total"].as_str().unwrap(),
        "to the cent"
    );

    let (headers, bytes) = fetch_csv(&app, &funder.token, id, "?format=rfc4180").await;
    assert!(
        headers.get("x-content-sha256").is_none(),
        "not the sealed bytes"
    );
    let plain = String::from_utf8(bytes).unwrap();
    assert!(!plain.starts_with('\u{feff}'), "no BOM for scripts");
    assert!(plain.ends_with("\r\n") && !plain.replace("\r\n", "").contains('\n'));
    assert!(!plain.contains(';'), "{plain}");
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(plain.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 5);
    for (row, line) in rows.iter().zip(&excel[1..]) {
        assert_eq!(row[10].parse::<Decimal>().unwrap(), comma_amount(&line[10]));
        assert_eq!((&row[2], &row[7]), (&line[2], &line[7]));
    }
    let sum: Decimal = rows.iter().map(|r| r[10].parse::<Decimal>().unwrap()).sum();
    assert_eq!(sum.to_string(), bill["total"].as_str().unwrap());

    let refused = app
        .get(
            &format!("/api/v1/statements/{id}/csv?format=xlsx"),
            &funder.token,
        )
        .await;
    let problem = refused.problem(422, "validation_failed");
    assert_eq!(problem["field"], "format");
    assert!(problem["detail"].as_str().unwrap().contains("rfc4180"));
    // Another organisation's statement stays hidden, whatever the form.
    app.get(
        &format!("/api/v1/statements/{id}/csv?format=rfc4180"),
        &m.site_a.token,
    )
    .await
    .problem(404, "not_found");
}

/// A funder's statement says what it is: the tickets used, covered by the money
/// already paid (nothing to pay), and the fee, the only amount due — never
/// "Facture — Total à payer". A site's says what it will receive.
#[tokio::test]
async fn statements_say_what_they_are() {
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let operator = app.operator().await;
    let statements = settle_day(&app, &operator, m.day).await;
    let s = by_kind_and_org(&statements);
    let funder = app.user_in(&m.funders[0], "admin").await;
    let text = pdf(
        &app,
        &funder.token,
        &s[&("funder_bill".to_string(), m.funders[0].clone())],
    )
    .await;
    for expected in [
        "Relevé d’utilisation",
        "Montant à payer : frais de gestion",
        "Chèques utilisés : 24,00 € — couverts par vos versements, rien à payer",
        "Frais de gestion : 0,96 €",
        "24,00 € de chèques utilisés, couverts par vos versements (rien à payer), et 0,96 € de frais de gestion, seul montant à payer",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(
        !text.contains("Facture") && !text.contains("Total à payer"),
        "{text}"
    );
    let text = pdf(
        &app,
        &m.site_a.token,
        &s[&("site_payout".to_string(), m.site_a.org_id.to_string())],
    )
    .await;
    assert!(text.contains("Vous recevrez par virement"), "{text}");
    assert!(
        text.contains("à la somme de 28,80 €, que le lieu recevra par virement"),
        "{text}"
    );
}

/// A program without a fee: the funder's statement has nothing to pay at all.
#[tokio::test]
async fn a_funder_without_fee_has_nothing_to_pay() {
    let app = TestApp::spawn().await;
    let (program, funders) = app.program(&["1"], json!({})).await;
    app.pay(&program, &funders[0], "1000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 1)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "Y"})))
        .await
        .ok(201)
        .clone();
    let site = site_agent(&app).await;
    redeem(&app, &site, &book["tickets"][0]).await;
    let day = passnum::domain::french_date(chrono::Utc::now()) - Days::new(40);
    backdate(&app, day).await;
    let operator = app.operator().await;
    let statements = settle_day(&app, &operator, day).await;
    let bill = statements
        .iter()
        .find(|s| s["kind"] == "funder_bill")
        .unwrap();
    let text = pdf(&app, &operator.token, bill).await;
    assert!(text.contains("Rien à payer"), "{text}");
    assert!(
        text.contains("10,00 € de chèques utilisés, couverts par vos versements : rien à payer."),
        "{text}"
    );
}

/// Statements sealed before the Excel form keep their bytes (so their SHA-256), and
/// their PDF its words; the plain form is still offered for them.
#[tokio::test]
async fn statements_sealed_before_stay_as_they_were() {
    let app = TestApp::spawn().await;
    let m = a_month_of_scans(&app).await;
    let mut conn = app.db.connect().await;
    // As if settled before migration 000020.
    diesel::sql_query("ALTER TABLE statements ALTER COLUMN csv_format SET DEFAULT 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let operator = app.operator().await;
    let statements = settle_day(&app, &operator, m.day).await;
    let s = by_kind_and_org(&statements);
    let bill = &s[&("funder_bill".to_string(), m.funders[0].clone())];
    let text = csv(&app, &operator, bill).await;
    assert!(
        !text.starts_with('\u{feff}') && !text.contains('\r'),
        "{text:?}"
    );
    assert_eq!(
        passnum::settlement::sha256_hex(&text),
        bill["sha256"].as_str().unwrap()
    );
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        passnum::settlement::CSV_HEADER.trim_end()
    );
    let first = lines.next().unwrap();
    assert!(
        first.contains("T10:00:00Z") || first.contains("T11:00:00Z"),
        "UTC as sealed: {first}"
    );
    assert!(first.contains(";10.00;0.6000;"), "{first}");
    assert!(text.contains(";Frais de gestion;"), "{text}");
    let pdf_words = pdf(&app, &operator.token, bill).await;
    assert!(
        pdf_words.contains("Facture") && pdf_words.contains("Total à payer"),
        "{pdf_words}"
    );
    let (_, plain) = fetch_csv(
        &app,
        &operator.token,
        bill["id"].as_str().unwrap(),
        "?format=rfc4180",
    )
    .await;
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        plain.starts_with("numero_releve,date,") && plain.contains(",10.00,0.6000,"),
        "{plain}"
    );
}
