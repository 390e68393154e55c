//! Corrections of a program (name, budget, indicators, allocations, validity) and the
//! audit trail they write, read through `GET /audit` with its filters and scopes.

use chrono::{Days, Utc};
use diesel_async::AsyncConnection;
use serde_json::{Value, json};

use crate::helpers::{Actor, TestApp};

/// The French day a checkbook's `expires_at` ends.
fn expires_on(checkbook: &Value) -> chrono::NaiveDate {
    let at = chrono::DateTime::parse_from_rfc3339(checkbook["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    passnum::domain::french_date(at - chrono::Duration::seconds(1))
}

fn today() -> chrono::NaiveDate {
    passnum::domain::french_date(Utc::now())
}

async fn audit_of(app: &TestApp, who: &Actor, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/audit?{query}"), &who.token)
        .await
        .ok(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_program_is_renamed_published_and_its_budget_raised_with_one_entry() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(5).await;
    let res = app
        .patch(
            &format!("/api/v1/programs/{}", t.program),
            &operator.token,
            json!({"name": "Pass 70 — 2027", "budget": "12000.00", "public_indicators": true}),
        )
        .await;
    let program = res.ok(200);
    assert_eq!(program["name"], "Pass 70 — 2027");
    assert_eq!(program["budget"], "12000.00");
    assert_eq!(program["public_indicators"], true);
    // Each funder's pledge moved by its share; what they paid did not.
    assert_eq!(program["funders"][0]["committed"], "7200.00");
    assert_eq!(program["funders"][1]["committed"], "4800.00");
    assert_eq!(program["funders"][0]["paid"], "6000.00");
    app.assert_ledger_invariants().await;

    let entries = audit_of(&app, &operator, &format!("entity_id={}", t.program)).await;
    let updated: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "program.updated")
        .collect();
    assert_eq!(updated.len(), 1, "{entries:#?}");
    let e = updated[0];
    assert_eq!(e["entity"], "program");
    assert_eq!(
        e["before"],
        json!({"name": "Pass Numérique test", "budget": "10000.00", "public_indicators": false})
    );
    assert_eq!(
        e["after"],
        json!({"name": "Pass 70 — 2027", "budget": "12000.00", "public_indicators": true})
    );
    assert_eq!(e["actor"]["email"], "operator@example.org");
    assert_eq!(e["actor"]["user_id"], operator.user_id.to_string());
    assert!(e["actor"]["organization_name"].as_str().is_some());

    // Only what changed: the same name again and a new budget give a budget entry.
    app.patch(
        &format!("/api/v1/programs/{}", t.program),
        &operator.token,
        json!({"name": "Pass 70 — 2027", "budget": "11000.00"}),
    )
    .await
    .ok(200);
    let latest = &audit_of(&app, &operator, &format!("entity_id={}", t.program)).await[0];
    assert_eq!(latest["before"], json!({"budget": "12000.00"}));
    assert_eq!(latest["after"], json!({"budget": "11000.00"}));
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_budget_never_goes_below_what_is_committed_and_a_refusal_writes_nothing() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (program, funders) = app.program(&["0.60", "0.40"], json!({})).await;
    // Paid 1,000 € in all (600 + 400): the pledges may not fall below that.
    app.pay(&program, &funders[0], "600.00").await.ok(201);
    app.pay(&program, &funders[1], "400.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 5)
        .await
        .ok(201);
    app.issue(&prescriber, &program, Some(json!({"reference": "B-1"})))
        .await
        .ok(201);
    let count = async || {
        audit_of(&app, &operator, &format!("entity_id={program}"))
            .await
            .len()
    };
    let before = count().await;
    let path = format!("/api/v1/programs/{program}");

    let res = app
        .patch(&path, &operator.token, json!({"budget": "999.00"}))
        .await;
    let problem = res.problem(409, "budget_below_committed");
    assert_eq!(problem["least_budget"], "1000.00");
    assert_eq!(problem["field"], "budget");
    assert!(problem["detail"].as_str().unwrap().contains("1 000,00 €"));

    // Validated as at creation: a part between two cents, not an amount, too small.
    for (body, code) in [
        (json!({"budget": "1000.01"}), "validation_failed"),
        (json!({"budget": "mille"}), "validation_failed"),
        (json!({"budget": "-5.00"}), "validation_failed"),
        (json!({"name": "   "}), "validation_failed"),
    ] {
        let res = app.patch(&path, &operator.token, body.clone()).await;
        let problem = res.problem(422, code);
        assert!(problem["field"].is_string(), "{body}: {}", res.text);
    }
    // Nothing was written, neither the name nor the budget, nor an entry.
    let current = app.get(&path, &operator.token).await;
    assert_eq!(current.ok(200)["budget"], "10000.00");
    assert_eq!(count().await, before);

    // Down to exactly what is committed: allowed.
    app.patch(&path, &operator.token, json!({"budget": "1000.00"}))
        .await
        .ok(200);
    assert_eq!(count().await, before + 1);
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn terms_of_a_program_never_change_and_each_refusal_names_its_field() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (program, funders) = app.program(&["1"], json!({})).await;
    let path = format!("/api/v1/programs/{program}");
    for (field, value) in [
        ("ticket_value", json!("20.00")),
        ("tickets_per_checkbook", json!(5)),
        ("validity_days", json!(30)),
        ("valid_until", json!("2030-01-01")),
        ("commission_rate", json!("0.10")),
        ("funder_fee_rate", json!("0.04")),
        (
            "funders",
            json!([{"organization_id": funders[0], "share": "1"}]),
        ),
        ("territory_postcodes", json!(["17"])),
    ] {
        let res = app
            .patch(&path, &operator.token, json!({ field: value, "name": "x" }))
            .await;
        let problem = res.problem(422, "immutable_field");
        assert_eq!(problem["field"], field, "{}", res.text);
    }
    app.patch(&path, &operator.token, json!({"colour": "blue"}))
        .await
        .problem(422, "validation_failed");
    // None of them renamed the program.
    assert_eq!(
        app.get(&path, &operator.token).await.ok(200)["name"],
        "Pass Numérique test"
    );
    app.patch(
        &format!("/api/v1/programs/{}", uuid::Uuid::now_v7()),
        &operator.token,
        json!({"name": "Ailleurs"}),
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn an_allocation_is_raised_or_reduced_never_below_what_was_issued() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(5).await;
    let presc = t.prescriber.org_id;
    for i in 0..2 {
        app.issue(
            &t.prescriber,
            &t.program,
            Some(json!({"reference": format!("A-{i}")})),
        )
        .await
        .ok(201);
    }
    let path = format!("/api/v1/programs/{}/allocations/{presc}", t.program);
    let res = app
        .patch(&path, &operator.token, json!({"checkbooks": 1}))
        .await;
    let problem = res.problem(409, "allocation_below_issued");
    assert_eq!(problem["issued_checkbooks"], 2);
    assert_eq!(problem["field"], "checkbooks");

    let res = app
        .patch(&path, &operator.token, json!({"checkbooks": 2}))
        .await;
    assert_eq!(res.ok(200)["remaining_checkbooks"], 0);
    app.issue(&t.prescriber, &t.program, Some(json!({"reference": "A-3"})))
        .await
        .problem(409, "allocation_exhausted");
    let res = app
        .patch(&path, &operator.token, json!({"checkbooks": 8}))
        .await;
    assert_eq!(res.ok(200)["checkbooks"], 8);
    assert_eq!(res.ok(200)["remaining_checkbooks"], 6);
    let list = app.get("/api/v1/programs", &operator.token).await;
    let item = list.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == t.program.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["allocations"][0]["checkbooks"], 8);
    assert_eq!(item["allocations"][0]["remaining_checkbooks"], 6);

    // A prescriber without an allocation in the program, and a program unknown.
    let stranger = app.organization("prescriber", json!({})).await;
    app.patch(
        &format!(
            "/api/v1/programs/{}/allocations/{}",
            t.program,
            stranger["id"].as_str().unwrap()
        ),
        &operator.token,
        json!({"checkbooks": 3}),
    )
    .await
    .problem(404, "not_found");

    // Its entries: the first allocation, then 5 → 2 → 8; the prescriber's admin
    // reads them, another prescriber's admin does not.
    let entries = audit_of(&app, &operator, &format!("entity_id={}", t.program)).await;
    let changes: Vec<(Value, Value)> = entries
        .iter()
        .filter(|e| e["action"] == "allocation.updated")
        .map(|e| {
            (
                e["before"]["checkbooks"].clone(),
                e["after"]["checkbooks"].clone(),
            )
        })
        .collect();
    assert_eq!(changes, vec![(json!(2), json!(8)), (json!(5), json!(2))]);
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "allocation.added" && e["after"]["checkbooks"] == 5)
    );
    let admin = app.user_in(&presc.to_string(), "admin").await;
    let own = audit_of(&app, &admin, "").await;
    assert!(
        own.iter()
            .all(|e| e["organization_id"] == presc.to_string())
    );
    assert_eq!(
        own.iter().filter(|e| e["entity"] == "allocation").count(),
        3
    );
    let other = app.member_of_new("prescriber", "admin").await;
    assert!(
        audit_of(&app, &other, &format!("entity_id={}", t.program))
            .await
            .is_empty()
    );
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn validity_is_pushed_back_for_outstanding_tickets_only_never_earlier() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let end = today() + Days::new(30);
    let (program, funders) = app
        .program(&["1"], json!({"validity_days": null, "valid_until": end}))
        .await;
    app.pay(&program, &funders[0], "10000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 5)
        .await
        .ok(201);
    let kept = app
        .issue(&prescriber, &program, Some(json!({"reference": "K-1"})))
        .await;
    let kept_id = kept.ok(201)["id"].as_str().unwrap().to_string();
    let lost = app
        .issue(&prescriber, &program, Some(json!({"reference": "L-1"})))
        .await;
    let lost_id = lost.ok(201)["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/checkbooks/{lost_id}/cancel"),
        &prescriber.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    let path = format!("/api/v1/programs/{program}/extend");
    let later = today() + Days::new(90);

    for (body, status, code, field) in [
        (
            json!({"valid_until": today() - Days::new(1), "reason": "report"}),
            422,
            "validation_failed",
            "valid_until",
        ),
        (
            json!({"valid_until": today() + Days::new(4000), "reason": "report"}),
            422,
            "validation_failed",
            "valid_until",
        ),
        (
            json!({"valid_until": later, "reason": "  "}),
            422,
            "validation_failed",
            "reason",
        ),
        (
            json!({"valid_until": end, "reason": "report"}),
            409,
            "validity_not_later",
            "valid_until",
        ),
    ] {
        let res = app.post(&path, &operator.token, body).await;
        assert_eq!(res.problem(status, code)["field"], field, "{}", res.text);
    }
    assert!(
        audit_of(&app, &operator, &format!("entity_id={program}"))
            .await
            .iter()
            .all(|e| e["action"] != "program.extended")
    );

    let res = app
        .post(
            &path,
            &operator.token,
            json!({"valid_until": later, "reason": "Médiathèque fermée en travaux"}),
        )
        .await;
    let done = res.ok(200);
    assert_eq!(done["tickets"], 10);
    assert_eq!(done["checkbooks"], 1);
    assert_eq!(done["previous_valid_until"], end.to_string());
    assert_eq!(done["program"]["valid_until"], later.to_string());

    let kept = app
        .get(&format!("/api/v1/checkbooks/{kept_id}"), &prescriber.token)
        .await;
    assert_eq!(expires_on(kept.ok(200)), later);
    let lost = app
        .get(&format!("/api/v1/checkbooks/{lost_id}"), &prescriber.token)
        .await;
    assert_eq!(expires_on(lost.ok(200)), end);

    let entry = &audit_of(&app, &operator, &format!("entity_id={program}")).await[0];
    assert_eq!(entry["action"], "program.extended");
    assert_eq!(entry["reason"], "Médiathèque fermée en travaux");
    assert_eq!(entry["before"], json!({"valid_until": end}));
    assert_eq!(entry["after"]["valid_until"], json!(later));

    // Never earlier than the new end.
    app.post(
        &path,
        &operator.token,
        json!({"valid_until": today() + Days::new(60), "reason": "erreur"}),
    )
    .await
    .problem(409, "validity_not_later");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn money_corrections_are_for_operator_admins_and_the_trail_for_admins() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(5).await;
    let op_agent = app.user_in(&operator.org_id.to_string(), "agent").await;
    let funder_admin = app.user_in(&t.funders[0], "admin").await;
    let presc = t.prescriber.org_id;
    let calls = [
        (
            format!("/api/v1/programs/{}", t.program),
            json!({"budget": "20000.00"}),
        ),
        (
            format!("/api/v1/programs/{}", t.program),
            json!({"name": "Autre nom"}),
        ),
        (
            format!("/api/v1/programs/{}/allocations/{presc}", t.program),
            json!({"checkbooks": 50}),
        ),
    ];
    for who in [&op_agent, &funder_admin, &t.prescriber] {
        for (path, body) in &calls {
            app.patch(path, &who.token, body.clone())
                .await
                .problem(403, "forbidden");
        }
        app.post(
            &format!("/api/v1/programs/{}/extend", t.program),
            &who.token,
            json!({"valid_until": today() + Days::new(500), "reason": "x"}),
        )
        .await
        .problem(403, "forbidden");
    }

    // The operator's agents read the whole trail; an organisation's agents nothing;
    // a funder's admin its own payments only.
    assert!(!audit_of(&app, &op_agent, "").await.is_empty());
    app.get("/api/v1/audit", &t.prescriber.token)
        .await
        .problem(403, "forbidden");
    let own = audit_of(&app, &funder_admin, "").await;
    assert_eq!(own.len(), 1, "{own:#?}");
    assert_eq!(own[0]["action"], "payment.recorded");
    assert_eq!(own[0]["after"]["amount"], "6000.00");
    assert_eq!(own[0]["entity_id"], t.program.as_str());

    for (query, field) in [
        ("entity_id=abc", "entity_id"),
        ("actor_id=12", "actor_id"),
        ("from=2026-13-01", "from"),
        ("to=hier", "to"),
        ("from=2026-12-05&to=2026-12-01", "to"),
        ("limit=0", "limit"),
        ("cursor=zz", "cursor"),
    ] {
        let res = app
            .get(&format!("/api/v1/audit?{query}"), &operator.token)
            .await;
        assert_eq!(
            res.problem(422, "validation_failed")["field"],
            field,
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_trail_filters_by_actor_and_time_and_pages() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(5).await;
    let all = audit_of(&app, &operator, "").await;
    // Two payments and an allocation.
    assert_eq!(all.len(), 3, "{all:#?}");
    let mine = audit_of(&app, &operator, &format!("actor_id={}", operator.user_id)).await;
    assert_eq!(mine.len(), 3);
    let nobody = audit_of(
        &app,
        &operator,
        &format!("actor_id={}", t.prescriber.user_id),
    )
    .await;
    assert!(nobody.is_empty());
    let day = today();
    assert_eq!(
        audit_of(&app, &operator, &format!("from={day}&to={day}"))
            .await
            .len(),
        3
    );
    assert!(
        audit_of(&app, &operator, &format!("to={}", day - Days::new(1)))
            .await
            .is_empty()
    );
    assert!(
        audit_of(&app, &operator, &format!("from={}", day + Days::new(1)))
            .await
            .is_empty()
    );
    let first = app.get("/api/v1/audit?limit=2", &operator.token).await;
    let first = first.ok(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/api/v1/audit?limit=2&cursor={cursor}"),
            &operator.token,
        )
        .await;
    let second = second.ok(200);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    assert_eq!(second["items"][0]["seq"], all[2]["seq"]);
}

#[tokio::test]
async fn closing_settling_and_expiring_write_their_entries() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(5).await;
    app.issue(&t.prescriber, &t.program, Some(json!({"reference": "E-1"})))
        .await
        .ok(201);
    // The daily expiry, one year and a half on: one entry per program, by the service.
    let mut conn = app.db.connect().await;
    let expired = conn
        .transaction::<_, passnum::db::DbError, _>(async |conn| {
            passnum::closing::expire_due(
                conn,
                passnum::audit::Actor::Service("passnum expire"),
                today() + Days::new(600),
                None,
            )
            .await
        })
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    let entries = audit_of(&app, &operator, &format!("entity_id={}", t.program)).await;
    let expiry = entries
        .iter()
        .find(|e| e["action"] == "tickets.expired")
        .unwrap();
    assert_eq!(expiry["actor"]["label"], "passnum expire");
    assert_eq!(expiry["after"]["tickets"], 10);
    assert!(expiry["actor"]["user_id"].is_null());

    // Closing a program with nothing issued.
    let (empty, _) = app.program(&["1"], json!({})).await;
    app.post(
        &format!("/api/v1/programs/{empty}/close"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    let closed = &audit_of(&app, &operator, &format!("entity_id={empty}")).await[0];
    assert_eq!(closed["action"], "program.closed");
    assert_eq!(closed["after"]["status"], "closed");

    // A settlement of last month.
    let first = today().with_day0(0).unwrap();
    let start = (first - Days::new(1)).with_day0(0).unwrap();
    let res = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": start, "period_end": first - Days::new(1)}),
        )
        .await;
    let settlement = res.ok(201)["id"].as_str().unwrap().to_string();
    let entry = &audit_of(&app, &operator, &format!("entity_id={settlement}")).await[0];
    assert_eq!(entry["action"], "settlement.created");
    assert_eq!(entry["actor"]["email"], "operator@example.org");
    assert_eq!(entry["after"]["period_start"], start.to_string());
}

use chrono::Datelike;
