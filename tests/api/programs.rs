use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn invalid_programs_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let a = app.organization("funder", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app.organization("funder", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let prescriber = app.organization("prescriber", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let valid = json!({
        "name": "Pass 70", "ticket_value": "10.00", "tickets_per_checkbook": 10, "validity_days": 365,
        "budget": "1000.00", "funders": [{"organization_id": a, "share": "0.60"}, {"organization_id": b, "share": "0.40"}],
    });
    let change = |k: &str, v: Value| {
        let mut body = valid.clone();
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v;
        }
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "shares below 1",
            change(
                "funders",
                json!([{"organization_id": a, "share": "0.60"}, {"organization_id": b, "share": "0.30"}]),
            ),
            "funders[1].share",
        ),
        (
            "shares above 1",
            change(
                "funders",
                json!([{"organization_id": a, "share": "0.70"}, {"organization_id": b, "share": "0.40"}]),
            ),
            "funders[1].share",
        ),
        ("no funder", change("funders", json!([])), "funders"),
        (
            "twice the same funder",
            change(
                "funders",
                json!([{"organization_id": a, "share": "0.50"}, {"organization_id": a, "share": "0.50"}]),
            ),
            "funders[1].organization_id",
        ),
        (
            "a prescriber as funder",
            change(
                "funders",
                json!([{"organization_id": prescriber, "share": "1"}]),
            ),
            "funders[0].organization_id",
        ),
        (
            "share not a number",
            change("funders", json!([{"organization_id": a, "share": "much"}])),
            "funders[0].share",
        ),
        (
            "zero tickets",
            change("tickets_per_checkbook", json!(0)),
            "tickets_per_checkbook",
        ),
        (
            "21 tickets",
            change("tickets_per_checkbook", json!(21)),
            "tickets_per_checkbook",
        ),
        (
            "ticket value with 3 decimals",
            change("ticket_value", json!("10.001")),
            "ticket_value",
        ),
        (
            "ticket value zero",
            change("ticket_value", json!("0")),
            "ticket_value",
        ),
        (
            "ticket value as a number",
            change("ticket_value", json!(10.0)),
            "ticket_value",
        ),
        ("negative budget", change("budget", json!("-5")), "budget"),
        (
            "budget below one checkbook",
            change("budget", json!("50.00")),
            "budget",
        ),
        (
            "commission 100 %",
            change("commission_rate", json!("1")),
            "commission_rate",
        ),
        (
            "fee with 5 decimals",
            change("funder_fee_rate", json!("0.00001")),
            "funder_fee_rate",
        ),
        (
            "both validities",
            change("valid_until", json!("2027-12-31")),
            "validity_days",
        ),
        (
            "no validity",
            change("validity_days", Value::Null),
            "validity_days",
        ),
        (
            "territory not a prefix",
            change("territory_postcodes", json!(["70", "abc"])),
            "territory_postcodes[1]",
        ),
        (
            "a share in fractions of a cent",
            change("budget", json!("1000.01")),
            "funders[0].share",
        ),
    ];
    for (case, body, field) in cases {
        let res = app.post("/api/v1/programs", &operator.token, body).await;
        assert_eq!(res.status.as_u16(), 422, "{case}: {}", res.text);
        assert_eq!(
            res.problem(422, "validation_failed")["field"],
            field,
            "{case}: {}",
            res.text
        );
        if case == "shares below 1" {
            // In percent, as the form shows shares: not "0.9".
            let detail = res.problem(422, "validation_failed")["detail"].clone();
            assert!(
                detail.as_str().unwrap().contains("elles font 90,00 %"),
                "{detail}"
            );
        }
    }
    let res = app.post("/api/v1/programs", &operator.token, valid).await;
    let program = res.ok(201);
    assert_eq!(program["ticket_value"], "10.00");
    assert_eq!(program["funders"][0]["share"], "0.6000");
    assert_eq!(program["funders"][0]["committed"], "600.00");
    assert_eq!(program["funding"]["received"], "0.00");
    assert_eq!(program["funding"]["issuable"], "0.00");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn issuance_is_ring_fenced_by_each_funders_payments_and_the_budget() {
    let app = TestApp::spawn().await;
    // Budget 1,000 € = 10 checkbooks of 10 × 10 €; the département pays 60 %, the State 40 %.
    let (program, funders) = app
        .program(&["0.60", "0.40"], json!({"budget": "1000.00"}))
        .await;
    let (dep, state) = (&funders[0], &funders[1]);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate_over_budget(&program, &prescriber.org_id.to_string(), 100)
        .await
        .ok(201);

    app.issue(&prescriber, &program, None)
        .await
        .problem(409, "funds_not_received");
    app.pay(&program, dep, "600.00").await.ok(201);
    // The State has paid nothing: still refused, whatever the département paid.
    app.issue(&prescriber, &program, None)
        .await
        .problem(409, "funds_not_received");
    app.pay(&program, state, "200.00").await.ok(201);
    // 200 € from a 40 % funder covers 500 € of tickets: five checkbooks.
    for n in 1..=5 {
        let res = app.issue(&prescriber, &program, None).await;
        assert_eq!(res.status.as_u16(), 201, "checkbook {n}: {}", res.text);
    }
    let refused = app.issue(&prescriber, &program, None).await;
    assert_eq!(
        refused.problem(409, "funds_not_received")["funder_id"],
        state.as_str()
    );
    let operator = app.operator().await;
    let view = app
        .get(&format!("/api/v1/programs/{program}"), &operator.token)
        .await;
    let funding = &view.ok(200)["funding"];
    assert_eq!(funding["received"], "800.00");
    assert_eq!(funding["outstanding"], "500.00");
    assert_eq!(funding["available"], "300.00");
    assert_eq!(funding["issuable"], "0.00");

    app.pay(&program, state, "200.00").await.ok(201);
    for _ in 0..5 {
        app.issue(&prescriber, &program, None).await.ok(201);
    }
    app.issue(&prescriber, &program, None)
        .await
        .problem(409, "budget_exhausted");
    // Paying more than pledged is refused; so is a reference used twice.
    app.pay(&program, dep, "0.01")
        .await
        .problem(409, "payment_exceeds_commitment");
    app.assert_ledger_invariants().await;

    let accounts = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await;
    let body = accounts.ok(200);
    assert_eq!(body["total"], "0.00");
    let balance = |code_end: &str| {
        body["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["code"].as_str().unwrap().ends_with(code_end)
                    && a["code"].as_str().unwrap().contains(&program)
            })
            .map(|a| a["balance"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(balance(":outstanding"), "1000.00");
    assert_eq!(balance(":available"), "0.00");
    assert_eq!(balance(&format!("funder:{dep}:commitment")), "-600.00");
    assert_eq!(balance(&format!("funder:{state}:unpaid")), "0.00");
}

#[tokio::test]
async fn payments_are_recorded_once_and_only_by_the_operator() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (program, funders) = app.program(&["1"], json!({})).await;
    let body = json!({"funder_id": funders[0], "amount": "2500.00", "reference": "VIR-2026-11-001", "received_on": "2026-11-02"});
    let res = app
        .post(
            &format!("/api/v1/programs/{program}/payments"),
            &operator.token,
            body.clone(),
        )
        .await;
    assert_eq!(res.ok(201)["amount"], "2500.00");
    let again = app
        .post(
            &format!("/api/v1/programs/{program}/payments"),
            &operator.token,
            body.clone(),
        )
        .await;
    assert_eq!(
        again.problem(409, "payment_already_recorded")["field"],
        "reference"
    );
    let stranger = app.organization("funder", json!({})).await;
    let mut other = body.clone();
    other["funder_id"] = stranger["id"].clone();
    other["reference"] = json!("VIR-X");
    let res = app
        .post(
            &format!("/api/v1/programs/{program}/payments"),
            &operator.token,
            other,
        )
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "funder_id");
    let funder_admin = app.user_in(&funders[0], "admin").await;
    app.post(
        &format!("/api/v1/programs/{program}/payments"),
        &funder_admin.token,
        body,
    )
    .await
    .problem(403, "forbidden");
    let view = app
        .get(&format!("/api/v1/programs/{program}"), &operator.token)
        .await;
    assert_eq!(view.ok(200)["funding"]["received"], "2500.00");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn allocations_cap_each_prescribers_checkbooks() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(2).await;
    let prescriber = &territory.prescriber;
    let first = app
        .issue(
            prescriber,
            &territory.program,
            Some(json!({"reference": "A-1"})),
        )
        .await;
    let first_id = first.ok(201)["id"].as_str().unwrap().to_string();
    app.issue(prescriber, &territory.program, None)
        .await
        .ok(201);
    let refused = app.issue(prescriber, &territory.program, None).await;
    assert_eq!(
        refused.problem(409, "allocation_exhausted")["remaining_checkbooks"],
        0
    );
    // A cancelled checkbook gives its place back.
    app.post(
        &format!("/api/v1/checkbooks/{first_id}/cancel"),
        &prescriber.token,
        json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    app.issue(prescriber, &territory.program, None)
        .await
        .ok(201);
    // More allocation, more checkbooks.
    let res = app
        .allocate(&territory.program, &prescriber.org_id.to_string(), 1)
        .await;
    assert_eq!(res.ok(201)["remaining_checkbooks"], 1);
    app.issue(prescriber, &territory.program, None)
        .await
        .ok(201);
    // Another prescriber of the same organisation shares the allocation.
    let colleague = app.user_in(&prescriber.org_id.to_string(), "agent").await;
    app.issue(&colleague, &territory.program, None)
        .await
        .problem(409, "allocation_exhausted");
    // Allocating to a funder is refused.
    let res = app
        .allocate(&territory.program, &territory.funders[0], 3)
        .await;
    assert_eq!(
        res.problem(422, "validation_failed")["field"],
        "prescriber_id"
    );
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn programs_are_visible_to_their_funders_and_allocated_prescribers_only() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(1).await;
    let path = format!("/api/v1/programs/{}", territory.program);
    let funder = app.user_in(&territory.funders[1], "admin").await;
    app.get(&path, &funder.token).await.ok(200);
    app.get(&path, &territory.prescriber.token).await.ok(200);
    let other_funder = app.member_of_new("funder", "admin").await;
    let other_prescriber = app.member_of_new("prescriber", "agent").await;
    let site = app.member_of_new("site", "agent").await;
    for (who, actor) in [
        ("other funder", &other_funder),
        ("prescriber without allocation", &other_prescriber),
        ("site", &site),
    ] {
        let res = app.get(&path, &actor.token).await;
        assert_eq!(res.status.as_u16(), 404, "{who}: {}", res.text);
    }
    // Issuing from a program one cannot see: 404 too, nothing issued.
    app.issue(&other_prescriber, &territory.program, None)
        .await
        .problem(404, "not_found");
    // Sites and funders cannot issue at all.
    app.issue(&site, &territory.program, None)
        .await
        .problem(403, "forbidden");
    app.issue(&funder, &territory.program, None)
        .await
        .problem(403, "forbidden");
    for path in ["/api/v1/ledger/accounts", "/api/v1/ledger/trial-balance"] {
        app.get(path, &funder.token).await.problem(403, "forbidden");
    }
}

#[tokio::test]
async fn prescribers_see_the_rules_not_the_funders_money() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(1).await;
    let view = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &territory.prescriber.token,
        )
        .await;
    let view = view.ok(200);
    assert!(view.get("funding").is_none(), "{view}");
    assert!(view["funders"][0].get("paid").is_none());
    assert_eq!(view["ticket_value"], "10.00");
    let funder = app.user_in(&territory.funders[0], "admin").await;
    let theirs = app
        .get(
            &format!("/api/v1/programs/{}", territory.program),
            &funder.token,
        )
        .await;
    assert_eq!(theirs.ok(200)["funding"]["received"], "10000.00");
}

#[tokio::test]
async fn a_cancelled_checkbook_that_was_used_still_counts_against_the_allocation() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(1).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(serde_json::json!({"reference": "U"})),
        )
        .await
        .ok(201)
        .clone();
    let operator = app.operator().await;
    let site = app.organization("site", serde_json::json!({})).await;
    let site_id = site["id"].as_str().unwrap();
    let today = passnum::domain::french_date(chrono::Utc::now());
    app.post(
        &format!("/api/v1/sites/{site_id}/label"),
        &operator.token,
        serde_json::json!({"valid_from": today, "valid_until": today + chrono::Days::new(10)}),
    )
    .await
    .ok(200);
    let agent = app.user_in(site_id, "agent").await;
    app.raw(
        app.client
            .post(format!("{}/api/v1/redemptions", app.address))
            .bearer_auth(&agent.token)
            .header("Idempotency-Key", "k-1")
            .json(&serde_json::json!({"code": book["tickets"][0]["code"]})),
    )
    .await
    .ok(201);
    app.post(
        &format!("/api/v1/checkbooks/{}/cancel", book["id"].as_str().unwrap()),
        &territory.prescriber.token,
        serde_json::json!({"reason": "perdu"}),
    )
    .await
    .ok(200);
    app.issue(&territory.prescriber, &territory.program, None)
        .await
        .problem(409, "allocation_exhausted");
    app.assert_ledger_invariants().await;
}
