//! Closing programs, expiring tickets, and the proof of cover under random sequences
//! of operations: after every step the trial balance is zero and, for every program,
//! the money held covers the tickets in circulation and what is owed to sites.

use chrono::Days;
use diesel_async::{AsyncConnection, RunQueryDsl};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, Options, TestApp};

async fn labelled_site(app: &TestApp) -> Actor {
    app.labelled_site_agent(json!({})).await
}

async fn expire_now(app: &TestApp, checkbook: Option<&str>) {
    let mut conn = app.db.connect().await;
    let filter = checkbook
        .map(|c| format!("AND checkbook_id = '{c}'"))
        .unwrap_or_default();
    diesel::sql_query(format!(
        "UPDATE tickets SET valid_until = current_date - 400 WHERE status = 'issued' {filter}"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let today = passnum::domain::french_date(chrono::Utc::now());
    conn.transaction::<_, passnum::db::DbError, _>(async |conn| {
        passnum::closing::expire_due(conn, passnum::audit::Actor::Service("test"), today, None)
            .await
    })
    .await
    .unwrap();
}

async fn assert_covered(app: &TestApp, step: &str) {
    app.assert_ledger_invariants().await;
    let operator = app.operator().await;
    let cover = app.get("/api/v1/ledger/cover", &operator.token).await;
    let cover = cover.ok(200);
    assert_eq!(cover["covered"], true, "after {step}: {cover:#}");
    let trial = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await;
    assert_eq!(trial.ok(200)["total"], "0.00", "after {step}");
}

#[tokio::test]
async fn expiry_returns_the_value_and_running_it_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(3).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "E"})),
        )
        .await
        .ok(201)
        .clone();
    expire_now(&app, Some(book["id"].as_str().unwrap())).await;
    let again = app
        .get(
            &format!("/api/v1/checkbooks/{}", book["id"].as_str().unwrap()),
            &territory.prescriber.token,
        )
        .await;
    assert!(
        again.ok(200)["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "expired")
    );
    let operator = app.operator().await;
    let program = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &operator.token,
        )
        .await;
    assert_eq!(program.ok(200)["funding"]["outstanding"], "0.00");
    assert_eq!(program.body["funding"]["available"], "10000.00");
    expire_now(&app, None).await;
    let program = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &operator.token,
        )
        .await;
    assert_eq!(
        program.ok(200)["funding"]["available"],
        "10000.00",
        "expiring twice returns nothing twice"
    );
    assert_covered(&app, "expiry").await;
}

#[tokio::test]
async fn closing_returns_what_each_funder_paid_and_did_not_spend() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    // The département pledged 60 % and paid it all; the State pledged 40 % and paid half.
    let (program, funders) = app
        .program(&["0.60", "0.40"], json!({"budget": "1000.00"}))
        .await;
    app.pay(&program, &funders[0], "600.00").await.ok(201);
    app.pay(&program, &funders[1], "200.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 10)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "C"})))
        .await
        .ok(201)
        .clone();
    let site = labelled_site(&app).await;
    for t in book["tickets"].as_array().unwrap().iter().take(3) {
        app.raw(
            app.client
                .post(format!("{}/api/v1/redemptions", app.address))
                .bearer_auth(&site.token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({"code": t["code"]})),
        )
        .await
        .ok(201);
    }
    // Tickets still usable: not yet.
    let res = app
        .post(
            &format!("/api/v1/programs/{program}/close"),
            &operator.token,
            json!({}),
        )
        .await;
    assert!(res.problem(409, "tickets_still_valid")["closable_from"].is_string());
    // Once they are past their validity, the program closes: 7 tickets expire.
    let mut conn = app.db.connect().await;
    diesel::sql_query("UPDATE tickets SET valid_until = current_date - 400")
        .execute(&mut conn)
        .await
        .unwrap();
    let closed = app
        .post(
            &format!("/api/v1/programs/{program}/close"),
            &operator.token,
            json!({}),
        )
        .await;
    let closed = closed.ok(200).clone();
    assert_eq!(closed["program"]["status"], "closed");
    // 30 € consumed: the département's part 18 €, the State's 12 €.
    let notes = closed["credit_notes"].as_array().unwrap();
    let note = |funder: &str| {
        notes
            .iter()
            .find(|n| n["organization_id"] == funder)
            .map(|n| n["total"].as_str().unwrap().to_string())
    };
    assert_eq!(note(&funders[0]).as_deref(), Some("582.00"));
    assert_eq!(note(&funders[1]).as_deref(), Some("188.00"));
    for n in notes {
        assert_eq!(n["kind"], "credit_note");
        let res = app
            .raw(
                app.client
                    .get(format!(
                        "{}/api/v1/statements/{}/csv",
                        app.address,
                        n["id"].as_str().unwrap()
                    ))
                    .bearer_auth(&operator.token),
            )
            .await;
        assert_eq!(res.status.as_u16(), 200, "{}", res.text);
        assert_eq!(
            passnum::settlement::sha256_hex(&res.text),
            n["sha256"].as_str().unwrap()
        );
    }
    let funder = app.user_in(&funders[1], "admin").await;
    let mine = app.get("/api/v1/statements", &funder.token).await;
    assert_eq!(mine.ok(200)["items"][0]["kind"], "credit_note");
    // Closed: no more issuance, payments or closing; the 30 € owed to the site stay owed.
    app.issue(&prescriber, &program, None)
        .await
        .problem(409, "program_closed");
    app.post(
        &format!("/api/v1/programs/{program}/close"),
        &operator.token,
        json!({}),
    )
    .await
    .problem(409, "program_closed");
    let cover = app.get("/api/v1/ledger/cover", &operator.token).await;
    let p = cover.ok(200)["programs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["program_id"] == program.as_str())
        .unwrap()
        .clone();
    assert_eq!(p["owed_to_sites"], "30.00");
    assert_eq!(p["held"], "30.00");
    assert_eq!(p["outstanding"], "0.00");
    assert_covered(&app, "closing").await;
}

#[tokio::test]
async fn cover_is_shown_to_the_operator_and_to_funders_for_their_own_programs() {
    let app = TestApp::spawn().await;
    let a = app.funded_territory(1).await;
    let b = app.funded_territory(1).await;
    let funder = app.user_in(&a.funders[0], "admin").await;
    let cover = app.get("/api/v1/ledger/cover", &funder.token).await;
    let programs: Vec<String> = cover.ok(200)["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["program_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(programs, vec![a.program.clone()]);
    assert!(!programs.contains(&b.program));
    app.get("/api/v1/ledger/cover", &a.prescriber.token)
        .await
        .problem(403, "forbidden");
    let operator = app.operator().await;
    let all = app.get("/api/v1/ledger/cover", &operator.token).await;
    assert_eq!(all.ok(200)["programs"].as_array().unwrap().len(), 2);
}

/// Random sequences of every operation; after each step, the ledger balances and
/// every program's money covers its tickets and what it owes.
#[tokio::test]
async fn cover_holds_after_every_step_of_random_operations() {
    let seeds: Vec<u64> = match std::env::var("COVER_SEED") {
        Ok(seed) => vec![seed.parse().unwrap()],
        Err(_) => vec![1, 2],
    };
    for seed in seeds {
        run_random_operations(seed, 45).await;
    }
}

async fn run_random_operations(seed: u64, steps: usize) {
    let app = TestApp::spawn_with(Options {
        adjust: Some(Box::new(|s| s.reversal_grace_minutes = 60 * 24 * 365)),
        ..Options::default()
    })
    .await;
    let mut rng = StdRng::seed_from_u64(seed);
    let operator = app.operator().await;
    let (program, funders) = app.program(&["0.50", "0.30", "0.20"], json!({"budget": "3000.00", "tickets_per_checkbook": 5, "commission_rate": "0.035", "funder_fee_rate": "0.04"})).await;
    for (funder, amount) in funders.iter().zip(["900.00", "540.00", "360.00"]) {
        app.pay(&program, funder, amount).await.ok(201);
    }
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate_over_budget(&program, &prescriber.org_id.to_string(), 100)
        .await
        .ok(201);
    let sites = [labelled_site(&app).await, labelled_site(&app).await];
    let mut books: Vec<Value> = Vec::new();
    let mut redemptions: Vec<String> = Vec::new();
    let base = passnum::domain::french_date(chrono::Utc::now()) - Days::new(300);
    let mut settled_days = 0u64;
    for step in 0..steps {
        let op = rng.gen_range(0..9);
        let name = match op {
            0 | 1 => {
                let beneficiary = rng
                    .gen_bool(0.7)
                    .then(|| json!({"reference": format!("R{step}")}));
                let res = app.issue(&prescriber, &program, beneficiary).await;
                if res.status.as_u16() == 201 {
                    books.push(res.body.clone());
                } else {
                    assert!(
                        [
                            "funds_not_received",
                            "budget_exhausted",
                            "allocation_exhausted"
                        ]
                        .contains(&res.body["code"].as_str().unwrap()),
                        "{}",
                        res.text
                    );
                }
                "issue"
            }
            2 => {
                if let Some(book) = books.iter().find(|b| b["status"] == "stock").cloned() {
                    let res = app
                        .post(
                            &format!(
                                "/api/v1/checkbooks/{}/hand-out",
                                book["id"].as_str().unwrap()
                            ),
                            &prescriber.token,
                            json!({"beneficiary": {"reference": "H"}}),
                        )
                        .await;
                    let updated = res.ok(200).clone();
                    for b in books.iter_mut().filter(|b| b["id"] == updated["id"]) {
                        *b = updated.clone();
                    }
                }
                "hand out"
            }
            3 | 4 => {
                if !books.is_empty() {
                    let book = &books[rng.gen_range(0..books.len())];
                    let tickets = book["tickets"].as_array().unwrap();
                    let ticket = &tickets[rng.gen_range(0..tickets.len())];
                    let site = &sites[rng.gen_range(0..2)];
                    let res = app
                        .raw(
                            app.client
                                .post(format!("{}/api/v1/redemptions", app.address))
                                .bearer_auth(&site.token)
                                .header("Idempotency-Key", Uuid::new_v4().to_string())
                                .json(&json!({"code": ticket["code"]})),
                        )
                        .await;
                    match res.status.as_u16() {
                        201 => redemptions.push(res.body["id"].as_str().unwrap().to_string()),
                        409 | 410 => {}
                        other => panic!("redeem answered {other}: {}", res.text),
                    }
                }
                "redeem"
            }
            5 => {
                if !redemptions.is_empty() {
                    let id = redemptions.remove(rng.gen_range(0..redemptions.len()));
                    for site in &sites {
                        let res = app
                            .post(
                                &format!("/api/v1/redemptions/{id}/reverse"),
                                &site.token,
                                json!({}),
                            )
                            .await;
                        assert!(
                            [200, 404, 409].contains(&res.status.as_u16()),
                            "{}",
                            res.text
                        );
                    }
                }
                "reverse"
            }
            6 => {
                if !books.is_empty() {
                    let book = books[rng.gen_range(0..books.len())].clone();
                    let res = app
                        .post(
                            &format!("/api/v1/checkbooks/{}/cancel", book["id"].as_str().unwrap()),
                            &prescriber.token,
                            json!({"reason": "perdu"}),
                        )
                        .await;
                    assert!([200, 409].contains(&res.status.as_u16()), "{}", res.text);
                }
                "cancel"
            }
            7 => {
                // Everything redeemed since the last settlement moves to the next day, settled.
                settled_days += 1;
                let day = base + Days::new(settled_days);
                let mut conn = app.db.connect().await;
                diesel::sql_query(format!(
                    "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris' WHERE status = 'redeemed'
                     AND NOT EXISTS (SELECT 1 FROM settlements s WHERE redemptions.redeemed_at >= s.starts_at AND redemptions.redeemed_at < s.ends_at)"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                app.post(
                    "/api/v1/settlements",
                    &operator.token,
                    json!({"period_start": day, "period_end": day}),
                )
                .await
                .ok(201);
                "settle"
            }
            _ => {
                if !books.is_empty() {
                    let book = &books[rng.gen_range(0..books.len())];
                    expire_now(&app, Some(book["id"].as_str().unwrap())).await;
                }
                "expire"
            }
        };
        assert_covered(&app, &format!("step {step} ({name}), seed {seed}")).await;
    }
    expire_now(&app, None).await;
    let closed = app
        .post(
            &format!("/api/v1/programs/{program}/close"),
            &operator.token,
            json!({}),
        )
        .await;
    closed.ok(200);
    assert_covered(&app, &format!("closing, seed {seed}")).await;
    // Everything adds up: what the funders paid is what was paid out, refunded, or still owed.
    let cover = app.get("/api/v1/ledger/cover", &operator.token).await;
    let p = cover.ok(200)["programs"][0].clone();
    assert_eq!(p["outstanding"], "0.00");
    assert_eq!(p["held"], p["owed_to_sites"], "{p}");
}
