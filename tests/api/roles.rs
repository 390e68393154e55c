//! Roles inside an organisation (issue 12): money is for the operator's admins,
//! ticket codes are the issuing prescriber's, `verify` follows the label, CSV cells
//! never run as formulas, and a redemption never lands in a settled period.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use diesel::QueryableByName;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{Actor, Response, TestApp};

fn today() -> chrono::NaiveDate {
    passnum::domain::french_date(Utc::now())
}

async fn redeem_with_key(app: &TestApp, site: &Actor, key: &str, ticket: &Value) -> Response {
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&site.token)
            .header("Idempotency-Key", key)
            .json(&json!({"code": ticket["code"]})),
    )
    .await
}

async fn verify(app: &TestApp, site: &Actor, ticket: &Value) -> Response {
    app.post(
        "/api/v1/tickets/verify",
        &site.token,
        json!({"code": ticket["code"]}),
    )
    .await
}

/// A funded program, a prescriber, one checkbook handed out; its tickets.
async fn handed_out_tickets(app: &TestApp) -> (String, Actor, Value) {
    let t = app.funded_territory(5).await;
    let book = app
        .issue(&t.prescriber, &t.program, Some(json!({"reference": "R-1"})))
        .await
        .ok(201)
        .clone();
    (t.program, t.prescriber, book)
}

#[tokio::test]
async fn operator_agents_read_and_manage_but_never_move_money() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let agent = app.user_in(&operator.org_id.to_string(), "agent").await;
    let t = app.funded_territory(5).await;
    let program = &t.program;
    let funder = &t.funders[0];
    let prescriber = t.prescriber.org_id.to_string();
    let yesterday = today() - Days::new(1);
    let money: [(&str, String, Value); 5] = [
        (
            "create a program",
            "/api/v1/programs".into(),
            json!({"name": "P", "ticket_value": "10.00", "tickets_per_checkbook": 10,
                   "validity_days": 365, "budget": "1000.00",
                   "funders": [{"organization_id": funder, "share": "1"}]}),
        ),
        (
            "record a payment",
            format!("/api/v1/programs/{program}/payments"),
            json!({"funder_id": funder, "amount": "1.00", "reference": "VIR-AGENT", "received_on": yesterday}),
        ),
        (
            "allocate",
            format!("/api/v1/programs/{program}/allocations"),
            json!({"prescriber_id": prescriber, "checkbooks": 1}),
        ),
        (
            "settle",
            "/api/v1/settlements".into(),
            json!({"period_start": yesterday, "period_end": yesterday}),
        ),
        (
            "close a program",
            format!("/api/v1/programs/{program}/close"),
            json!({}),
        ),
    ];
    let before = app
        .get(program_path(program).as_str(), &operator.token)
        .await;
    for (case, path, body) in &money {
        let res = app.post(path, &agent.token, body.clone()).await;
        assert_eq!(res.status.as_u16(), 403, "{case}: {}", res.text);
        res.problem(403, "forbidden");
        assert!(
            res.body["detail"]
                .as_str()
                .unwrap()
                .contains("administrateurs"),
            "{case}: the detail says who may: {}",
            res.text
        );
    }
    // Nothing was written: the program and the settlements are as they were.
    let after = app
        .get(program_path(program).as_str(), &operator.token)
        .await;
    assert_eq!(before.ok(200), after.ok(200));
    let programs = app.get("/api/v1/programs", &operator.token).await;
    assert_eq!(programs.ok(200)["items"].as_array().unwrap().len(), 1);
    let statements = app.get("/api/v1/statements", &operator.token).await;
    assert!(statements.ok(200)["items"].as_array().unwrap().is_empty());

    // The agent still reads what the operator reads…
    for path in [
        program_path(program),
        "/api/v1/programs".into(),
        "/api/v1/organizations".into(),
        "/api/v1/ledger/trial-balance".into(),
        "/api/v1/ledger/cover".into(),
    ] {
        let res = app.get(&path, &agent.token).await;
        assert_eq!(res.status.as_u16(), 200, "{path}: {}", res.text);
    }
    // …and manages organisations and labels.
    let n = Uuid::new_v4().simple().to_string();
    let site = app
        .post(
            "/api/v1/organizations",
            &agent.token,
            json!({"kind": "site", "name": format!("Lieu {}", &n[..6]), "email": format!("l-{n}@example.org"),
                   "postcode": "70000", "city": "Vesoul"}),
        )
        .await;
    let site_id = site.ok(201)["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/sites/{site_id}/label"),
        &agent.token,
        json!({"valid_from": yesterday, "valid_until": today() + Days::new(30)}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/sites/{site_id}/label/suspend"),
        &agent.token,
        json!({}),
    )
    .await
    .ok(200);

    // The operator's admin does what its agent may not.
    app.post(
        &format!("/api/v1/programs/{program}/allocations"),
        &operator.token,
        json!({"prescriber_id": prescriber, "checkbooks": 1}),
    )
    .await
    .ok(201);
}

fn program_path(program: &str) -> String {
    format!("/api/v1/programs/{program}")
}

fn assert_hidden(case: &str, ticket: &Value) {
    let t = ticket.as_object().unwrap();
    assert!(!t.contains_key("code"), "{case}: code shown: {ticket}");
    assert!(!t.contains_key("serial"), "{case}: serial shown: {ticket}");
    assert_eq!(
        t["serial_hint"].as_str().unwrap().len(),
        4,
        "{case}: {ticket}"
    );
    assert!(t["status"].is_string(), "{case}: {ticket}");
}

#[tokio::test]
async fn codes_and_serials_are_the_issuing_prescribers_only() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (program, prescriber, book) = handed_out_tickets(&app).await;
    let book_id = book["id"].as_str().unwrap();
    let tickets = book["tickets"].as_array().unwrap();
    // The issuer sees everything, and the hint is the serial's last four symbols.
    for t in tickets {
        let serial = t["serial"].as_str().unwrap().replace('-', "");
        assert!(t["code"].as_str().unwrap().starts_with("PN1"), "{t}");
        assert_eq!(
            t["serial_hint"].as_str().unwrap(),
            &serial[serial.len() - 4..]
        );
    }
    let own = app
        .get(&format!("/api/v1/checkbooks/{book_id}"), &prescriber.token)
        .await;
    assert_eq!(own.ok(200)["tickets"][0]["code"], tickets[0]["code"]);

    // The operator (admin and agent) and anyone else: hints and statuses only.
    let operator_agent = app.user_in(&operator.org_id.to_string(), "agent").await;
    for (who, actor) in [("operator", &operator), ("operator agent", &operator_agent)] {
        let one = app
            .get(&format!("/api/v1/checkbooks/{book_id}"), &actor.token)
            .await;
        for t in one.ok(200)["tickets"].as_array().unwrap() {
            assert_hidden(&format!("{who}: GET /checkbooks/{{id}}"), t);
        }
        let list = app
            .get(
                &format!("/api/v1/checkbooks?program_id={program}"),
                &actor.token,
            )
            .await;
        let items = list.ok(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        for t in items[0]["tickets"].as_array().unwrap() {
            assert_hidden(&format!("{who}: GET /checkbooks"), t);
        }
        assert!(!list.text.contains(tickets[0]["code"].as_str().unwrap()));
    }

    // A print run: its PDF is the prescriber's only.
    let run = app
        .post(
            "/api/v1/print-runs",
            &prescriber.token,
            json!({"program_id": program, "checkbooks": 1}),
        )
        .await;
    let run_id = run.ok(201)["id"].as_str().unwrap().to_string();
    let stock_id = run.body["checkbooks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stock = app
        .get(&format!("/api/v1/checkbooks/{stock_id}"), &operator.token)
        .await;
    assert_hidden("operator: stock checkbook", &stock.ok(200)["tickets"][0]);
    assert_eq!(stock.body["tickets"][0]["status"], "stock");

    // Documents carrying codes: 200 for the issuer, 404 for everyone else.
    let other_prescriber = app.member_of_new("prescriber", "agent").await;
    let site = app.labelled_site_agent(json!({})).await;
    let funder = app.member_of_new("funder", "admin").await;
    let ticket_id = tickets[0]["id"].as_str().unwrap();
    let documents = [
        format!("/api/v1/checkbooks/{book_id}/pdf"),
        format!("/api/v1/print-runs/{run_id}/pdf"),
        format!("/api/v1/tickets/{ticket_id}/qr.svg"),
        format!("/api/v1/tickets/{ticket_id}/qr.png"),
    ];
    for path in &documents {
        let res = app.get(path, &prescriber.token).await;
        assert_eq!(res.status.as_u16(), 200, "issuer: {path}");
        for (who, actor) in [
            ("operator", &operator),
            ("operator agent", &operator_agent),
            ("another prescriber", &other_prescriber),
            ("site", &site),
            ("funder", &funder),
        ] {
            let res = app.get(path, &actor.token).await;
            assert_eq!(res.status.as_u16(), 404, "{who}: {path}: {}", res.text);
            res.problem(404, "not_found");
        }
    }
    // Another prescriber does not even see the checkbook.
    app.get(
        &format!("/api/v1/checkbooks/{book_id}"),
        &other_prescriber.token,
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn verify_follows_the_label_as_redemption_does() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (_, _, book) = handed_out_tickets(&app).await;
    let ticket = &book["tickets"][0];
    let site = app.labelled_site_agent(json!({})).await;
    assert_eq!(
        verify(&app, &site, ticket).await.ok(200)["status"],
        "issued"
    );

    // Suspended.
    let me = app.get("/api/v1/me", &site.token).await;
    let site_id = me.ok(200)["organization"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/sites/{site_id}/label/suspend"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    let refused = verify(&app, &site, ticket).await;
    refused.problem(403, "label_inactive");
    redeem_with_key(&app, &site, &Uuid::new_v4().to_string(), ticket)
        .await
        .problem(403, "label_inactive");
    app.post(
        &format!("/api/v1/sites/{site_id}/label/reinstate"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    verify(&app, &site, ticket).await.ok(200);

    // Expired: a label that ended yesterday.
    let expired_site = app.organization("site", json!({})).await;
    let expired_id = expired_site["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/sites/{expired_id}/label"),
        &operator.token,
        json!({"valid_from": today() - Days::new(30), "valid_until": today() - Days::new(1)}),
    )
    .await
    .ok(200);
    let expired_agent = app.user_in(expired_id, "agent").await;
    verify(&app, &expired_agent, ticket)
        .await
        .problem(403, "label_inactive");
    // And a site that never had a label.
    let unlabelled = app.member_of_new("site", "agent").await;
    verify(&app, &unlabelled, ticket)
        .await
        .problem(403, "label_inactive");
    // The ticket is untouched.
    assert_eq!(
        verify(&app, &site, ticket).await.ok(200)["status"],
        "issued"
    );
}

#[tokio::test]
async fn statement_csvs_never_carry_formulas() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let hostile = "=HYPERLINK(\"http://x\",\"y\")";
    let (program, funders) = app
        .program(
            &["1"],
            json!({"name": "+Programme; « test »", "commission_rate": "0.04"}),
        )
        .await;
    app.pay(&program, &funders[0], "10000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 1)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "R"})))
        .await
        .ok(201)
        .clone();
    let site = app.labelled_site_agent(json!({"name": hostile})).await;
    for t in book["tickets"].as_array().unwrap().iter().take(2) {
        redeem_with_key(&app, &site, &Uuid::new_v4().to_string(), t)
            .await
            .ok(201);
    }
    let day = today() - Days::new(40);
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', scanned_at = '{day} 12:00:00 Europe/Paris'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let settlement = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": day, "period_end": day}),
        )
        .await;
    let statements = settlement.ok(201)["statements"].as_array().unwrap().clone();
    let funder = app.user_in(&funders[0], "admin").await;
    for (kind, reader) in [("site_payout", &site), ("funder_bill", &funder)] {
        let statement = statements
            .iter()
            .find(|s| s["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {statements:?}"));
        let res = app
            .get(
                &format!(
                    "/api/v1/statements/{}/csv",
                    statement["id"].as_str().unwrap()
                ),
                &reader.token,
            )
            .await;
        assert_eq!(res.status.as_u16(), 200, "{kind}: {}", res.text);
        let csv = &res.text;
        assert!(
            csv.contains("'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")"),
            "{kind}: the site's name is guarded: {csv}"
        );
        assert!(
            csv.contains("\"'+Programme; « test »\""),
            "{kind}: the program's name is guarded and quoted: {csv}"
        );
        // Read as a spreadsheet would: no cell starts a formula, amounts are numbers.
        let mut cells = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(csv.as_bytes());
        let mut lines = 0;
        for record in cells.records() {
            let record = record.unwrap();
            for cell in record.iter() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{kind}: cell {cell:?} starts a formula"
                );
            }
            assert_eq!(&record[5], &format!("'{hostile}"), "{kind}");
            record[10]
                .replace(',', ".")
                .parse::<rust_decimal::Decimal>()
                .unwrap();
            lines += 1;
        }
        assert_eq!(lines, 2, "{kind}: {csv}");
        // Sealed with the SHA-256 of exactly what is served.
        let sealed = res.headers["x-content-sha256"].to_str().unwrap();
        assert_eq!(
            sealed,
            hex::encode(Sha256::digest(csv.as_bytes())),
            "{kind}"
        );
        assert_eq!(statement["sha256"].as_str().unwrap_or(sealed), sealed);
        // The PDF shows the name as it is.
        let pdf = app
            .get(
                &format!(
                    "/api/v1/statements/{}/pdf",
                    statement["id"].as_str().unwrap()
                ),
                &reader.token,
            )
            .await;
        assert_eq!(pdf.status.as_u16(), 200, "{kind}: {}", pdf.text);
    }
    app.assert_ledger_invariants().await;
}

#[derive(QueryableByName)]
struct Instant {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(conn: &mut diesel_async::AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn the_database_refuses_a_redemption_in_a_settled_period() {
    let app = TestApp::spawn().await;
    let (_, _, book) = handed_out_tickets(&app).await;
    let site = app.labelled_site_agent(json!({})).await;
    let r = redeem_with_key(
        &app,
        &site,
        &Uuid::new_v4().to_string(),
        &book["tickets"][0],
    )
    .await
    .ok(201)
    .clone();
    // Settled: the last three days up to an hour ago, as the settlement would record it.
    let mut conn = app.db.connect().await;
    conn.batch_execute(
        "INSERT INTO settlements (id, period_start, period_end, starts_at, ends_at)
         VALUES (gen_random_uuid(), current_date - 3, current_date - 1,
                 now() - interval '3 days', now() - interval '1 hour')",
    )
    .await
    .unwrap();
    // A copy of the redemption (reversed, so one live redemption per ticket does not
    // stop it first), written by the app's own database role, into the settled period.
    let copy = |at: &str| {
        format!(
            "INSERT INTO redemptions (id, ticket_id, program_id, site_id, redeemed_by, ledger_transaction_id,
                                      method, value, commission, amount_payable, status,
                                      scanned_at, redeemed_at, reversed_at, serial, checkbook_number)
             SELECT gen_random_uuid(), ticket_id, program_id, site_id, redeemed_by, ledger_transaction_id,
                    method, value, commission, amount_payable, 'reversed',
                    scanned_at, {at}, now(), serial, checkbook_number
             FROM redemptions WHERE id = '{}'",
            r["id"].as_str().unwrap()
        )
    };
    let refused = diesel::sql_query(copy("now() - interval '2 days'"))
        .execute(&mut conn)
        .await
        .unwrap_err();
    match &refused {
        diesel::result::Error::DatabaseError(kind, info) => {
            assert!(
                matches!(kind, diesel::result::DatabaseErrorKind::CheckViolation),
                "{refused:?}"
            );
            assert_eq!(
                info.constraint_name(),
                Some("redemptions_outside_settled_periods")
            );
        }
        other => panic!("expected the trigger's refusal, got {other:?}"),
    }
    // The period's edges: its first instant is in it, its end is not.
    diesel::sql_query(copy("(SELECT starts_at FROM settlements)"))
        .execute(&mut conn)
        .await
        .unwrap_err();
    diesel::sql_query(copy("(SELECT ends_at FROM settlements)"))
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query(copy("now()"))
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM redemptions").await,
        3
    );
}

#[tokio::test]
async fn a_redemption_that_meets_a_settlement_is_retried_into_the_open_period() {
    let app = TestApp::spawn().await;
    let (_, _, book) = handed_out_tickets(&app).await;
    let site = app.labelled_site_agent(json!({})).await;
    let ticket = &book["tickets"][0];

    // A settlement being recorded, as `settle` does it: its row, then the lock that
    // waits for redemptions in flight and holds back new ones. Its period runs until
    // two seconds from now, so a scan starting now begins inside it.
    let mut settling = app.db.connect().await;
    settling
        .batch_execute(
            "BEGIN;
             INSERT INTO settlements (id, period_start, period_end, starts_at, ends_at)
             VALUES (gen_random_uuid(), current_date - 3, current_date,
                     now() - interval '3 days', now() + interval '2 seconds');
             LOCK TABLE redemptions IN SHARE MODE;",
        )
        .await
        .unwrap();
    let ends_at = diesel::sql_query("SELECT ends_at AS at FROM settlements")
        .get_result::<Instant>(&mut settling)
        .await
        .unwrap()
        .at;
    let key = Uuid::new_v4().to_string();
    let scan = {
        let (app_address, client, token, code, key) = (
            app.address.clone(),
            app.client.clone(),
            site.token.clone(),
            ticket["code"].clone(),
            key.clone(),
        );
        tokio::spawn(async move {
            let res = client
                .post(format!("{app_address}/api/v1/redemptions"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        })
    };
    // The scan began (inside the period) and waits for the settlement's lock.
    let mut watcher = app.db.connect().await;
    let mut waited = 0;
    while count(
        &mut watcher,
        "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'redemptions'::regclass",
    )
    .await
        == 0
    {
        waited += 1;
        assert!(waited < 200, "the scan never reached the redemptions table");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(Utc::now() < ends_at, "the scan began after the period");
    // The settlement commits once its period is over.
    while Utc::now() <= ends_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settling.batch_execute("COMMIT").await.unwrap();

    // The scan was refused inside the settled period, called again, and landed after.
    let (status, body) = scan.await.unwrap();
    assert_eq!(status, 201, "{body}");
    let redeemed_at: DateTime<Utc> = body["redeemed_at"].as_str().unwrap().parse().unwrap();
    assert!(
        redeemed_at >= ends_at,
        "redeemed at {redeemed_at}, inside the period settled until {ends_at}"
    );
    assert_eq!(
        count(
            &mut watcher,
            "SELECT count(*) AS n FROM redemptions r JOIN settlements s
               ON tstzrange(s.starts_at, s.ends_at) @> r.redeemed_at",
        )
        .await,
        0
    );
    // The same key gives the same answer.
    let again = redeem_with_key(&app, &site, &key, ticket).await;
    assert_eq!(again.ok(201)["id"], body["id"]);
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_scan_that_keeps_meeting_a_settled_period_gets_an_answer_a_retry_resolves() {
    let app = TestApp::spawn().await;
    let (_, _, book) = handed_out_tickets(&app).await;
    let site = app.labelled_site_agent(json!({})).await;
    let tickets = book["tickets"].as_array().unwrap();
    // The database's clock inside a settled period for three more seconds (a
    // settlement recorded by a server whose clock runs ahead).
    let mut conn = app.db.connect().await;
    let ends_at = diesel::sql_query(
        "INSERT INTO settlements (id, period_start, period_end, starts_at, ends_at)
         VALUES (gen_random_uuid(), current_date - 3, current_date,
                 now() - interval '3 days', now() + interval '3 seconds')
         RETURNING ends_at AS at",
    )
    .get_result::<Instant>(&mut conn)
    .await
    .unwrap()
    .at;
    let key = Uuid::new_v4().to_string();
    let refused = redeem_with_key(&app, &site, &key, &tickets[0]).await;
    assert!(Utc::now() < ends_at, "too slow to test inside the period");
    refused.problem(503, "period_being_settled");
    assert!(refused.headers.contains_key("retry-after"));
    // A batch stops at such an item, with the same answer.
    let batch_key = Uuid::new_v4().to_string();
    let batch = json!({"items": [{"idempotency_key": batch_key, "code": tickets[1]["code"]}]});
    let res = app
        .post("/api/v1/redemptions/batch", &site.token, batch.clone())
        .await;
    assert!(Utc::now() < ends_at, "too slow to test inside the period");
    res.problem(503, "period_being_settled");
    // Nothing was written: no redemption, no stored answer, the tickets still issued.
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM redemptions").await,
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM idempotency_keys WHERE scope = 'redemptions'"
        )
        .await,
        0
    );
    assert_eq!(
        verify(&app, &site, &tickets[0]).await.ok(200)["status"],
        "issued"
    );

    // Once the period is behind, the same requests resolve in the open period.
    while Utc::now() <= ends_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retried = redeem_with_key(&app, &site, &key, &tickets[0]).await;
    let redeemed_at: DateTime<Utc> = retried.ok(201)["redeemed_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(redeemed_at >= ends_at);
    let res = app
        .post("/api/v1/redemptions/batch", &site.token, batch)
        .await;
    assert_eq!(
        res.ok(200)["results"][0]["outcome"],
        "redeemed",
        "{}",
        res.text
    );
    // And once more: the stored answer.
    let again = redeem_with_key(&app, &site, &key, &tickets[0]).await;
    assert_eq!(again.ok(201)["id"], retried.body["id"]);
    app.assert_ledger_invariants().await;
}
