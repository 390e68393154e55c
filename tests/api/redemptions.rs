use std::collections::HashSet;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use passnum::ledger::{self, AccountKind, AccountRef};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, Options, Response, TestApp};

/// A site agent whose site holds an active label.
async fn labelled_site_agent(app: &TestApp, postcode: &str) -> Actor {
    app.labelled_site_agent(json!({"postcode": postcode})).await
}

/// A handed-out checkbook's tickets, and a site agent to scan them.
struct Scene {
    site: Actor,
    tickets: Vec<Value>,
    checkbook: Value,
    prescriber: Actor,
    program: String,
}

async fn scene(app: &TestApp, program_extra: Value) -> Scene {
    let (program, funders) = app.program(&["0.60", "0.40"], program_extra).await;
    app.pay(&program, &funders[0], "6000.00").await.ok(201);
    app.pay(&program, &funders[1], "4000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 10)
        .await
        .ok(201);
    let checkbook = app
        .issue(&prescriber, &program, Some(json!({"reference": "B-1"})))
        .await
        .ok(201)
        .clone();
    let site = labelled_site_agent(app, "70000").await;
    Scene {
        site,
        tickets: checkbook["tickets"].as_array().unwrap().clone(),
        checkbook,
        prescriber,
        program,
    }
}

async fn redeem(app: &TestApp, actor: &Actor, key: &str, body: Value) -> Response {
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&actor.token)
            .header("Idempotency-Key", key)
            .json(&body),
    )
    .await
}

fn code(ticket: &Value) -> Value {
    json!({"code": ticket["code"]})
}

fn key() -> String {
    Uuid::new_v4().to_string()
}

#[tokio::test]
async fn a_scanned_ticket_becomes_owed_to_the_site_minus_the_commission() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({"commission_rate": "0.04"})).await;
    let res = redeem(&app, &s.site, &key(), code(&s.tickets[0])).await;
    let r = res.ok(201).clone();
    assert_eq!(r["ticket"]["serial"], s.tickets[0]["serial"]);
    assert_eq!(r["ticket"]["value"], "10.00");
    assert_eq!(r["amount_payable"], "9.60");
    assert_eq!(r["commission"], "0.40");
    assert_eq!(r["site_id"], s.site.org_id.to_string());
    assert_eq!(r["status"], "redeemed");
    assert!(r["redeemed_at"].is_string() && r["scanned_at"].is_string());
    let book = app
        .get(
            &format!("/api/v1/checkbooks/{}", s.checkbook["id"].as_str().unwrap()),
            &s.prescriber.token,
        )
        .await;
    assert_eq!(book.ok(200)["tickets"][0]["status"], "redeemed");
    let operator = app.operator().await;
    let accounts = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await;
    let accounts = accounts.ok(200)["accounts"].as_array().unwrap().clone();
    let balance = |suffix: &str| {
        accounts
            .iter()
            .find(|a| a["code"].as_str().unwrap().ends_with(suffix))
            .map(|a| a["balance"].as_str().unwrap().to_string())
    };
    assert_eq!(
        balance(&format!("site:{}:payable", s.site.org_id)).as_deref(),
        Some("9.60")
    );
    assert_eq!(balance(":commission").as_deref(), Some("0.40"));
    assert_eq!(balance(":outstanding").as_deref(), Some("90.00"));
    // The database function that redeems names the accounts as the ledger module
    // does: looking them up from Rust finds them, creates none, and reads the same names.
    let mut conn = app.db.connect().await;
    let program: Uuid = s.program.parse().unwrap();
    let refs = [
        AccountRef::program(AccountKind::Outstanding, program),
        AccountRef::of(AccountKind::SitePayable, program, s.site.org_id),
        AccountRef::program(AccountKind::Commission, program),
    ];
    let count = passnum::schema::ledger_accounts::table.count();
    let before: i64 = count.get_result(&mut conn).await.unwrap();
    let ids = ledger::accounts(&mut conn, &refs).await.unwrap();
    assert_eq!(count.get_result::<i64>(&mut conn).await.unwrap(), before);
    for r in &refs {
        let name: String = passnum::schema::ledger_accounts::table
            .find(ids[r])
            .select(passnum::schema::ledger_accounts::name)
            .first(&mut conn)
            .await
            .unwrap();
        assert_eq!(name, r.name());
    }
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn the_commission_rounds_half_away_from_zero_and_the_site_gets_the_rest() {
    let app = TestApp::spawn().await;
    for (value, rate, commission, payable) in [
        ("10.00", "0", "0.00", "10.00"),
        ("10.00", "0.0125", "0.13", "9.87"),
        ("7.50", "0.033", "0.25", "7.25"),
        ("0.05", "0.1", "0.01", "0.04"),
    ] {
        let s = scene(
            &app,
            json!({"ticket_value": value, "commission_rate": rate}),
        )
        .await;
        let r = redeem(&app, &s.site, &key(), code(&s.tickets[0]))
            .await
            .ok(201)
            .clone();
        assert_eq!(r["ticket"]["value"], value);
        assert_eq!(r["commission"], commission, "{value} × {rate}");
        assert_eq!(r["amount_payable"], payable, "{value} × {rate}");
    }
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_typed_serial_is_accepted_in_any_case_with_or_without_dashes() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let typed = s.tickets[1]["serial"]
        .as_str()
        .unwrap()
        .replace('-', " ")
        .to_lowercase();
    let res = redeem(&app, &s.site, &key(), json!({"serial": typed})).await;
    assert_eq!(res.ok(201)["method"], "serial");
    // One mistyped character: refused as an invalid code, like any bad code.
    let serial = s.tickets[2]["serial"].as_str().unwrap();
    let mut chars: Vec<char> = serial.chars().collect();
    chars[0] = if chars[0] == '2' { '3' } else { '2' };
    let mistyped: String = chars.into_iter().collect();
    redeem(&app, &s.site, &key(), json!({"serial": mistyped}))
        .await
        .problem(422, "invalid_code");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_ticket_is_redeemed_once_and_the_second_scan_says_when_and_by_whom() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    redeem(&app, &s.site, &key(), code(&s.tickets[0]))
        .await
        .ok(201);
    let again = redeem(&app, &s.site, &key(), code(&s.tickets[0])).await;
    let body = again.problem(409, "already_redeemed");
    assert_eq!(body["by_your_site"], true);
    assert!(body["redeemed_at"].is_string());
    assert!(body["detail"].as_str().unwrap().contains("votre lieu"));
    let other = labelled_site_agent(&app, "70100").await;
    let res = redeem(&app, &other, &key(), code(&s.tickets[0])).await;
    let body = res.problem(409, "already_redeemed");
    assert_eq!(body["by_your_site"], false);
    assert!(
        !res.text.contains(&s.site.org_id.to_string()),
        "another site is never named"
    );
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn the_same_key_gives_back_the_first_answer_successes_and_refusals() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let k = key();
    let first = redeem(&app, &s.site, &k, code(&s.tickets[0])).await;
    let retry = redeem(&app, &s.site, &k, code(&s.tickets[0])).await;
    assert_eq!(first.ok(201)["id"], retry.ok(201)["id"]);
    assert_eq!(first.body, retry.body);
    redeem(&app, &s.site, &k, code(&s.tickets[1]))
        .await
        .problem(422, "idempotency_key_reused");
    // A refusal is remembered too: once the label is back, the same key still says no.
    let operator = app.operator().await;
    app.post(
        &format!("/api/v1/sites/{}/label/suspend", s.site.org_id),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    let k2 = key();
    redeem(&app, &s.site, &k2, code(&s.tickets[2]))
        .await
        .problem(403, "label_inactive");
    app.post(
        &format!("/api/v1/sites/{}/label/reinstate", s.site.org_id),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    redeem(&app, &s.site, &k2, code(&s.tickets[2]))
        .await
        .problem(403, "label_inactive");
    redeem(&app, &s.site, &key(), code(&s.tickets[2]))
        .await
        .ok(201);
    // No key: refused before anything.
    let res = app
        .post("/api/v1/redemptions", &s.site.token, code(&s.tickets[3]))
        .await;
    res.problem(400, "idempotency_key_required");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn refusals_each_have_their_code() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({"territory_postcodes": ["70"]})).await;
    let mut conn = app.db.connect().await;

    // Stock checkbook.
    let stock = app
        .issue(&s.prescriber, &s.program, None)
        .await
        .ok(201)
        .clone();
    redeem(&app, &s.site, &key(), code(&stock["tickets"][0]))
        .await
        .problem(409, "not_handed_out");
    // Cancelled checkbook.
    let lost = app
        .issue(&s.prescriber, &s.program, Some(json!({"reference": "L"})))
        .await
        .ok(201)
        .clone();
    app.post(
        &format!("/api/v1/checkbooks/{}/cancel", lost["id"].as_str().unwrap()),
        &s.prescriber.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    redeem(&app, &s.site, &key(), code(&lost["tickets"][0]))
        .await
        .problem(410, "ticket_cancelled");
    // Past its validity (the test moves the date back).
    let serial = passnum::codes::Serial::parse(s.tickets[0]["serial"].as_str().unwrap()).unwrap();
    diesel::sql_query(format!(
        "UPDATE tickets SET valid_until = current_date - 2 WHERE serial = '{}'",
        serial.as_str()
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    redeem(&app, &s.site, &key(), code(&s.tickets[0]))
        .await
        .problem(410, "ticket_expired");
    // A forged code and an unknown serial: the same answer, which reveals nothing.
    let forged = s.tickets[1]["code"].as_str().unwrap().replace('A', "B");
    let forged = redeem(&app, &s.site, &key(), json!({"code": forged})).await;
    let unknown = redeem(
        &app,
        &s.site,
        &key(),
        json!({"serial": passnum::codes::Serial::random().as_str()}),
    )
    .await;
    forged.problem(422, "invalid_code");
    unknown.problem(422, "invalid_code");
    assert_eq!(forged.body, unknown.body);
    // Outside the program's territory.
    let far = labelled_site_agent(&app, "17000").await;
    redeem(&app, &far, &key(), code(&s.tickets[1]))
        .await
        .problem(403, "outside_territory");
    // A site without a label.
    let unlabelled = app.member_of_new("site", "agent").await;
    redeem(&app, &unlabelled, &key(), code(&s.tickets[1]))
        .await
        .problem(403, "label_inactive");
    // Not a site.
    redeem(&app, &s.prescriber, &key(), code(&s.tickets[1]))
        .await
        .problem(403, "forbidden");
    // Both or neither of code and serial.
    let res = redeem(&app, &s.site, &key(), json!({"code": "x", "serial": "y"})).await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "code");
    // The ticket refused above is still good.
    redeem(&app, &s.site, &key(), code(&s.tickets[1]))
        .await
        .ok(201);
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn guessing_codes_is_braked() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    for _ in 0..20 {
        redeem(
            &app,
            &s.site,
            &key(),
            json!({"serial": passnum::codes::Serial::random().as_str()}),
        )
        .await
        .problem(422, "invalid_code");
    }
    let blocked = redeem(&app, &s.site, &key(), code(&s.tickets[0])).await;
    blocked.problem(429, "too_many_attempts");
    let verify = app
        .post("/api/v1/tickets/verify", &s.site.token, code(&s.tickets[0]))
        .await;
    verify.problem(429, "too_many_attempts");
    // Another agent of another site is not braked by this one's guesses.
    let other = labelled_site_agent(&app, "70000").await;
    redeem(&app, &other, &key(), code(&s.tickets[0]))
        .await
        .ok(201);
}

#[tokio::test]
async fn many_concurrent_scans_of_one_ticket_redeem_it_once_across_two_servers() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    // A second server on the same database.
    // Same settings as the first (its secrets included: one deployment).
    let mut settings = app.settings.clone();
    settings.database_pool_size = 8;
    let pool = passnum::db::build_pool(&app.db.url, 8).unwrap();
    let second = passnum::startup::Application::build(settings, pool).unwrap();
    let second_address = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    let other_site = labelled_site_agent(&app, "70000").await;

    let mut tasks = Vec::new();
    for i in 0..40 {
        let (client, ticket) = (app.client.clone(), s.tickets[0]["code"].clone());
        let address = if i % 2 == 0 {
            app.address.clone()
        } else {
            second_address.clone()
        };
        let token = if i % 3 == 0 {
            other_site.token.clone()
        } else {
            s.site.token.clone()
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{address}/api/v1/redemptions"))
                .bearer_auth(token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({"code": ticket}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        39,
        "{statuses:?}"
    );
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_connection_lost_mid_request_leaves_nothing_half_written() {
    let app = TestApp::spawn_with(Options {
        through_switch: true,
        ..Options::default()
    })
    .await;
    let s = scene(&app, json!({})).await;
    let mut tasks = Vec::new();
    for ticket in s.tickets.iter().cloned() {
        let (client, address, token) = (
            app.client.clone(),
            app.address.clone(),
            s.site.token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(format!("{address}/api/v1/redemptions"))
                .bearer_auth(token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({"code": ticket["code"]}))
                .send()
                .await
                .unwrap();
            (
                ticket["serial"].as_str().unwrap().to_string(),
                res.status().as_u16(),
            )
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    app.switch.as_ref().unwrap().cut();
    let mut answered = Vec::new();
    for t in tasks {
        answered.push(t.await.unwrap());
    }
    app.switch.as_ref().unwrap().restore();
    for (_, status) in &answered {
        assert!([201, 503].contains(status), "{answered:?}");
    }
    // What was answered 201 is redeemed, with its ledger entry; the rest is untouched.
    app.assert_ledger_invariants().await;
    let book = app
        .get(
            &format!("/api/v1/checkbooks/{}", s.checkbook["id"].as_str().unwrap()),
            &s.prescriber.token,
        )
        .await;
    let tickets = book.ok(200)["tickets"].as_array().unwrap().clone();
    for (serial, status) in &answered {
        let ticket = tickets
            .iter()
            .find(|t| t["serial"] == serial.as_str())
            .unwrap();
        if *status == 201 {
            assert_eq!(ticket["status"], "redeemed", "{serial}");
        }
    }
}

#[tokio::test]
async fn a_mistaken_scan_is_reversed_within_the_grace_period_only() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let r = redeem(&app, &s.site, &key(), code(&s.tickets[0]))
        .await
        .ok(201)
        .clone();
    let id = r["id"].as_str().unwrap();
    let other = labelled_site_agent(&app, "70000").await;
    app.post(
        &format!("/api/v1/redemptions/{id}/reverse"),
        &other.token,
        json!({}),
    )
    .await
    .problem(404, "not_found");
    let reversed = app
        .post(
            &format!("/api/v1/redemptions/{id}/reverse"),
            &s.site.token,
            json!({}),
        )
        .await;
    let reversed = reversed.ok(200);
    assert_eq!(reversed["status"], "reversed");
    assert!(reversed["reversed_at"].is_string());
    app.assert_ledger_invariants().await;
    // The reversal is in the audit trail, in the site's name, with who did it.
    let operator = app.operator().await;
    let trail = app
        .get(&format!("/api/v1/audit?entity_id={id}"), &operator.token)
        .await
        .ok(200)["items"]
        .clone();
    assert_eq!(trail.as_array().unwrap().len(), 1, "{trail}");
    assert_eq!(trail[0]["action"], "redemption.reversed");
    assert_eq!(trail[0]["actor"]["email"], s.site.email.as_str(), "{trail}");
    assert_eq!(trail[0]["after"]["status"], "reversed");
    // The ticket is usable again, here or elsewhere.
    redeem(&app, &other, &key(), code(&s.tickets[0]))
        .await
        .ok(201);
    app.assert_ledger_invariants().await;

    // With no grace at all, the window is closed at once.
    let strict = TestApp::spawn_with(Options {
        adjust: Some(Box::new(|settings| settings.reversal_grace_minutes = 0)),
        ..Options::default()
    })
    .await;
    let s2 = scene(&strict, json!({})).await;
    let r = redeem(&strict, &s2.site, &key(), code(&s2.tickets[0]))
        .await
        .ok(201)
        .clone();
    let res = strict
        .post(
            &format!("/api/v1/redemptions/{}/reverse", r["id"].as_str().unwrap()),
            &s2.site.token,
            json!({}),
        )
        .await;
    res.problem(409, "reversal_window_closed");
    strict.assert_ledger_invariants().await;
}

#[tokio::test]
async fn an_offline_batch_answers_each_scan_in_order_and_replays_change_nothing() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let mut conn = app.db.connect().await;
    // Ticket 3 expired yesterday, but the phone scanned it two days ago, offline.
    let serial = passnum::codes::Serial::parse(s.tickets[3]["serial"].as_str().unwrap()).unwrap();
    diesel::sql_query(format!(
        "UPDATE tickets SET valid_until = current_date - 1 WHERE serial = '{}'",
        serial.as_str()
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let items = json!({"items": [
        {"idempotency_key": "scan-1", "code": s.tickets[0]["code"], "scanned_at": now - chrono::Duration::hours(3)},
        {"idempotency_key": "scan-2", "code": s.tickets[0]["code"], "scanned_at": now - chrono::Duration::hours(2)},
        {"idempotency_key": "scan-3", "code": "PN1T1-NOTACODE", "scanned_at": now},
        {"idempotency_key": "scan-4", "serial": s.tickets[3]["serial"], "scanned_at": now - chrono::Duration::hours(48)},
        {"idempotency_key": "scan-5", "code": s.tickets[4]["code"], "scanned_at": now - chrono::Duration::hours(100)},
        {"idempotency_key": "", "code": s.tickets[5]["code"]},
    ]});
    let res = app
        .post("/api/v1/redemptions/batch", &s.site.token, items.clone())
        .await;
    let results = res.ok(200)["results"].as_array().unwrap().clone();
    let outcomes: Vec<&str> = results
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "redeemed",
            "already_redeemed",
            "invalid_code",
            "redeemed",
            "validation_failed",
            "validation_failed"
        ]
    );
    assert_eq!(results[0]["idempotency_key"], "scan-1");
    assert!(results[0]["redemption"]["id"].is_string());
    assert_eq!(results[1]["problem"]["code"], "already_redeemed");
    let scanned = chrono::DateTime::parse_from_rfc3339(
        results[3]["redemption"]["scanned_at"].as_str().unwrap(),
    )
    .unwrap();
    let arrived = chrono::DateTime::parse_from_rfc3339(
        results[3]["redemption"]["redeemed_at"].as_str().unwrap(),
    )
    .unwrap();
    assert!(
        arrived - scanned > chrono::Duration::hours(47),
        "scan time and arrival time are both kept"
    );

    // The phone did not get the answer and sends the batch again: same outcomes, no new money.
    let operator = app.operator().await;
    let before = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await
        .ok(200)
        .clone();
    let replay = app
        .post("/api/v1/redemptions/batch", &s.site.token, items)
        .await;
    let replayed = replay.ok(200)["results"].as_array().unwrap().clone();
    assert_eq!(
        replayed[0]["redemption"]["id"],
        results[0]["redemption"]["id"]
    );
    assert_eq!(
        replayed
            .iter()
            .map(|r| r["outcome"].clone())
            .collect::<Vec<_>>(),
        results
            .iter()
            .map(|r| r["outcome"].clone())
            .collect::<Vec<_>>()
    );
    let after = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await
        .ok(200)
        .clone();
    assert_eq!(before, after);
    app.post(
        "/api/v1/redemptions/batch",
        &s.site.token,
        json!({"items": []}),
    )
    .await
    .problem(422, "validation_failed");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn verify_tells_without_changing_and_sites_list_their_redemptions() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let v = app
        .post("/api/v1/tickets/verify", &s.site.token, code(&s.tickets[0]))
        .await;
    let v = v.ok(200).clone();
    assert_eq!(v["status"], "issued");
    assert_eq!(v["value"], "10.00");
    assert_eq!(v["serial"], s.tickets[0]["serial"]);
    assert_eq!(v["program"]["id"], s.program.as_str());
    let again = app
        .post(
            "/api/v1/tickets/verify",
            &s.site.token,
            json!({"serial": s.tickets[0]["serial"]}),
        )
        .await;
    assert_eq!(
        again.ok(200)["status"],
        "issued",
        "verifying changed nothing"
    );
    app.post(
        "/api/v1/tickets/verify",
        &s.prescriber.token,
        code(&s.tickets[0]),
    )
    .await
    .problem(403, "forbidden");

    for t in &s.tickets[..3] {
        redeem(&app, &s.site, &key(), code(t)).await.ok(201);
    }
    let v = app
        .post("/api/v1/tickets/verify", &s.site.token, code(&s.tickets[0]))
        .await;
    assert_eq!(v.ok(200)["status"], "redeemed");
    let today = passnum::domain::french_date(chrono::Utc::now());
    let list = app
        .get(
            &format!("/api/v1/redemptions?from={today}&to={today}"),
            &s.site.token,
        )
        .await;
    let items = list.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    let serials: HashSet<&str> = items
        .iter()
        .map(|i| i["ticket"]["serial"].as_str().unwrap())
        .collect();
    assert!(serials.contains(s.tickets[0]["serial"].as_str().unwrap()));
    let other = labelled_site_agent(&app, "70000").await;
    let none = app.get("/api/v1/redemptions", &other.token).await;
    assert!(
        none.ok(200)["items"].as_array().unwrap().is_empty(),
        "another site sees none of them"
    );
    let paged = app.get("/api/v1/redemptions?limit=2", &s.site.token).await;
    assert_eq!(paged.ok(200)["items"].as_array().unwrap().len(), 2);
    assert!(paged.body["next_cursor"].is_string());
    app.get("/api/v1/redemptions?from=yesterday", &s.site.token)
        .await
        .problem(422, "validation_failed");

    let metrics = app.request(Method::GET, "/metrics", None, None).await;
    assert!(
        metrics
            .text
            .contains("passnum_redemptions_total{outcome=\"redeemed\"} 3"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn a_scan_reversed_after_its_checkbook_was_cancelled_does_not_revive_the_ticket() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let r = redeem(&app, &s.site, &key(), code(&s.tickets[0]))
        .await
        .ok(201)
        .clone();
    app.post(
        &format!(
            "/api/v1/checkbooks/{}/cancel",
            s.checkbook["id"].as_str().unwrap()
        ),
        &s.prescriber.token,
        json!({"reason": "volé"}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/redemptions/{}/reverse", r["id"].as_str().unwrap()),
        &s.site.token,
        json!({}),
    )
    .await
    .ok(200);
    let book = app
        .get(
            &format!("/api/v1/checkbooks/{}", s.checkbook["id"].as_str().unwrap()),
            &s.prescriber.token,
        )
        .await;
    assert_eq!(book.ok(200)["tickets"][0]["status"], "cancelled");
    redeem(&app, &s.site, &key(), code(&s.tickets[0]))
        .await
        .problem(410, "ticket_cancelled");
    let operator = app.operator().await;
    let program = app
        .get(&format!("/api/v1/programs/{}", s.program), &operator.token)
        .await;
    assert_eq!(
        program.ok(200)["funding"]["outstanding"],
        "0.00",
        "its value went back to the budget"
    );
    app.assert_ledger_invariants().await;
}

/// A redemption row's references are checked by a trigger (no foreign key): a copy
/// of a real redemption is refused as soon as one of them points nowhere, or to a
/// ticket of another program, or to an organisation that is not a site; the same
/// copy with its own references is accepted.
#[tokio::test]
async fn a_redemption_row_refers_only_to_what_exists() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let other = scene(&app, json!({})).await;
    let r = redeem(&app, &s.site, &key(), code(&s.tickets[0]))
        .await
        .ok(201)
        .clone();
    let id = r["id"].as_str().unwrap().to_string();
    let mut conn = app.db.connect().await;
    // The copy is reversed, so the one live redemption per ticket does not stop it first.
    let copy = |column: Option<&str>, value: &str| {
        let columns = [
            "ticket_id",
            "program_id",
            "site_id",
            "redeemed_by",
            "ledger_transaction_id",
        ];
        let chosen: Vec<String> = columns
            .iter()
            .map(|c| {
                if Some(*c) == column {
                    format!("'{value}'::uuid")
                } else {
                    c.to_string()
                }
            })
            .collect();
        format!(
            "INSERT INTO redemptions (id, {}, method, value, commission, amount_payable, status,
                                      scanned_at, redeemed_at, reversed_at, serial, checkbook_number)
             SELECT gen_random_uuid(), {}, method, value, commission, amount_payable, 'reversed',
                    scanned_at, redeemed_at, now(), serial, checkbook_number
             FROM redemptions WHERE id = '{id}'",
            columns.join(", "),
            chosen.join(", ")
        )
    };
    let nowhere = Uuid::new_v4().to_string();
    let foreign_ticket = other.tickets[0]["id"].as_str().unwrap();
    let not_a_site = s.prescriber.org_id.to_string();
    for (case, column, value) in [
        ("missing ticket", "ticket_id", nowhere.as_str()),
        ("ticket of another program", "ticket_id", foreign_ticket),
        ("missing program", "program_id", nowhere.as_str()),
        ("another program", "program_id", other.program.as_str()),
        ("missing site", "site_id", nowhere.as_str()),
        (
            "organisation that is not a site",
            "site_id",
            not_a_site.as_str(),
        ),
        ("missing user", "redeemed_by", nowhere.as_str()),
        (
            "missing ledger transaction",
            "ledger_transaction_id",
            nowhere.as_str(),
        ),
    ] {
        let refused = diesel::sql_query(copy(Some(column), value))
            .execute(&mut conn)
            .await;
        match refused {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                info,
            )) => assert!(
                info.message().contains(
                    "refers to a ticket, program, site, user or ledger transaction that does not exist"
                ),
                "{case}: {}",
                info.message()
            ),
            other => panic!("{case}: {other:?}"),
        }
    }
    // The check does not refuse everything: the copy as it is goes in (rolled back).
    let mut accepted = None;
    let rolled_back = conn
        .transaction::<(), diesel::result::Error, _>(async |conn| {
            accepted = Some(diesel::sql_query(copy(None, "")).execute(conn).await);
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(matches!(
        rolled_back,
        Err(diesel::result::Error::RollbackTransaction)
    ));
    assert_eq!(
        accepted.map(|r| r.map_err(|e| e.to_string())),
        Some(Ok(1)),
        "a copy with valid references"
    );
    let count = passnum::schema::redemptions::table.count();
    assert_eq!(count.get_result::<i64>(&mut conn).await.unwrap(), 1);
    app.assert_ledger_invariants().await;
}

/// How many ledger movements of kind "redemption" the database holds.
async fn redemption_movements(conn: &mut diesel_async::AsyncPgConnection) -> i64 {
    passnum::schema::ledger_transactions::table
        .filter(passnum::schema::ledger_transactions::kind.eq("redemption"))
        .count()
        .get_result(conn)
        .await
        .unwrap()
}

/// Scans `tickets` with one key, all at once, and makes sure they really overlap in
/// the database: the test holds the key (an uncommitted row) until as many requests
/// as the server has connections are waiting on it or on one another, then lets go.
/// The answers, in the order of `tickets`.
async fn race_on_one_key(
    app: &TestApp,
    site: &Actor,
    k: &str,
    tickets: Vec<Value>,
) -> Vec<(u16, Value)> {
    let mut holder = app.db.connect().await;
    diesel::sql_query("BEGIN")
        .execute(&mut holder)
        .await
        .unwrap();
    diesel::sql_query(format!(
        "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, response_status, response_body)
         VALUES ('{}', 'redemptions', '{k}', 'held by the test', 500, '{{}}')",
        site.user_id
    ))
    .execute(&mut holder)
    .await
    .unwrap();

    let start = std::sync::Arc::new(tokio::sync::Barrier::new(tickets.len()));
    let mut tasks = Vec::new();
    for ticket in &tickets {
        let (client, address, token, start, k, ticket) = (
            app.client.clone(),
            app.address.clone(),
            site.token.clone(),
            start.clone(),
            k.to_string(),
            ticket.clone(),
        );
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let res = client
                .post(format!("{address}/api/v1/redemptions"))
                .bearer_auth(token)
                .header("Idempotency-Key", k)
                .json(&json!({"code": ticket["code"]}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }));
    }

    // Every connection of the server busy with a scan that waits: on the held key,
    // or on the ticket another scan claimed. (Well within the pool's wait timeout.)
    let connections =
        passnum::config::Settings::for_tests(app.db.url.clone(), std::env::temp_dir())
            .database_pool_size;
    let expected = connections.min(tickets.len()) as i64;
    let mut watcher = app.db.connect().await;
    let mut waiting = 0;
    for _ in 0..300 {
        waiting = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock')",
        ))
        .get_result::<i64>(&mut watcher)
        .await
        .unwrap();
        if waiting >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(waiting, expected, "scans waiting in the database");
    diesel::sql_query("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();

    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// Ten requests with one key and one ticket at once (a phone retrying on a bad
/// network): the ones that wait for the first are undone and called again, and all
/// get the first's answer; one redemption, one ledger movement.
#[tokio::test]
async fn one_key_sent_many_times_at_once_for_one_ticket_redeems_it_once_and_answers_alike() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let answers = race_on_one_key(&app, &s.site, &key(), vec![s.tickets[0].clone(); 10]).await;
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{answers:?}");
        assert_eq!(body, &answers[0].1, "{answers:?}");
    }
    assert_eq!(answers[0].1["ticket"]["serial"], s.tickets[0]["serial"]);
    let mut conn = app.db.connect().await;
    let redemptions: Vec<Uuid> = passnum::schema::redemptions::table
        .select(passnum::schema::redemptions::id)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        redemptions.iter().map(Uuid::to_string).collect::<Vec<_>>(),
        vec![answers[0].1["id"].as_str().unwrap().to_string()]
    );
    let movements = redemption_movements(&mut conn).await;
    assert_eq!(movements, 1, "one ledger movement");
    app.assert_ledger_invariants().await;
}

/// One key sent at once with ten different tickets: one of them is redeemed, the
/// other requests are told the key was used for another scan, and the tickets they
/// claimed meanwhile are left as they were.
#[tokio::test]
async fn one_key_sent_at_once_with_different_tickets_redeems_exactly_one() {
    let app = TestApp::spawn().await;
    let s = scene(&app, json!({})).await;
    let answers = race_on_one_key(&app, &s.site, &key(), s.tickets.clone()).await;
    assert_eq!(answers.len(), 10);
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (status, body) in &answers {
        if *status != 201 {
            assert_eq!(*status, 422, "{answers:?}");
            assert_eq!(body["code"], "idempotency_key_reused", "{answers:?}");
        }
    }
    let winner = won[0]["ticket"]["serial"].clone();
    for t in &s.tickets {
        let v = app
            .post("/api/v1/tickets/verify", &s.site.token, code(t))
            .await;
        let expected = if t["serial"] == winner {
            "redeemed"
        } else {
            "issued"
        };
        assert_eq!(v.ok(200)["status"], expected, "{}", t["serial"]);
    }
    let mut conn = app.db.connect().await;
    let count = passnum::schema::redemptions::table.count();
    assert_eq!(count.get_result::<i64>(&mut conn).await.unwrap(), 1);
    let movements = redemption_movements(&mut conn).await;
    assert_eq!(movements, 1, "the undone requests left no ledger movement");
    app.assert_ledger_invariants().await;
    // A ticket a losing request had claimed is redeemed with a key of its own.
    let loser = s.tickets.iter().find(|t| t["serial"] != winner).unwrap();
    redeem(&app, &s.site, &key(), code(loser)).await.ok(201);
    app.assert_ledger_invariants().await;
}
