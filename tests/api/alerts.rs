//! `GET /dashboard/alerts` (issue 13, point 7): the operator's dashboard says when a
//! finished month is unsettled and when a program's cover is low (margin 10 %).

use chrono::{Datelike, Days, Utc};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn alerts(app: &TestApp) -> Value {
    let operator = app.operator().await;
    app.get("/api/v1/dashboard/alerts", &operator.token)
        .await
        .ok(200)
        .clone()
}

#[tokio::test]
async fn a_finished_month_with_unsettled_scans_is_named_until_it_is_settled() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(1).await;
    let book = app
        .issue(&t.prescriber, &t.program, Some(json!({"reference": "M-1"})))
        .await
        .ok(201)
        .clone();
    let site = app.labelled_site_agent(json!({})).await;
    let mut redemptions = Vec::new();
    for ticket in &book["tickets"].as_array().unwrap()[..3] {
        let r = app.redeem(&site, ticket).await.ok(201).clone();
        redemptions.push(r["id"].as_str().unwrap().to_string());
    }
    // Nothing yet: this month is not over.
    assert_eq!(alerts(&app).await["unsettled_months"], json!([]));

    // Two scans moved to the 15th of last month; the third stays in this month.
    let today = passnum::domain::french_date(Utc::now());
    let this_month = today.with_day(1).unwrap();
    let last_month = (this_month - Days::new(1)).with_day(1).unwrap();
    let day = last_month.with_day(15).unwrap();
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', scanned_at = '{day} 12:00:00 Europe/Paris' WHERE id IN ('{}', '{}')",
        redemptions[0], redemptions[1]
    ))
    .execute(&mut conn)
    .await
    .unwrap();

    let months = alerts(&app).await["unsettled_months"].clone();
    let month = last_month.format("%Y-%m").to_string();
    let end = this_month - Days::new(1);
    assert_eq!(
        months,
        json!([{
            "month": month,
            "period_start": last_month,
            "period_end": end,
            "redemptions": 2,
            "sites": 1,
            "amount_payable": "20.00",
        }])
    );

    // Settling the first half of the month leaves the scans of the 15th unsettled.
    let half = last_month.with_day(10).unwrap();
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": last_month, "period_end": half}),
    )
    .await
    .ok(201);
    assert_eq!(alerts(&app).await["unsettled_months"][0]["redemptions"], 2);
    // The rest of the month settled: nothing to say any more.
    app.post(
        "/api/v1/settlements",
        &operator.token,
        json!({"period_start": half + Days::new(1), "period_end": end}),
    )
    .await
    .ok(201);
    assert_eq!(alerts(&app).await["unsettled_months"], json!([]));
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn a_program_whose_margin_falls_under_ten_percent_is_named() {
    let app = TestApp::spawn().await;
    let prescriber = app.member_of_new("prescriber", "agent").await;
    // Budget 210 € paid: two checkbooks of 100 € leave 5 % of margin (low);
    // budget 220 € paid: 10 % left (not low); 10,000 € with one checkbook: ample.
    let mut programs = Vec::new();
    for (budget, checkbooks) in [("210.00", 2), ("220.00", 2), ("10000.00", 1)] {
        let (program, funders) = app
            .program(
                &["1"],
                json!({"name": format!("Budget {budget}"), "budget": budget}),
            )
            .await;
        app.pay(&program, &funders[0], budget).await.ok(201);
        app.allocate_over_budget(&program, &prescriber.org_id.to_string(), 5)
            .await
            .ok(201);
        for _ in 0..checkbooks {
            app.issue(&prescriber, &program, Some(json!({"reference": "C"})))
                .await
                .ok(201);
        }
        programs.push(program);
    }
    let answer = alerts(&app).await;
    assert_eq!(answer["low_cover_margin"], "0.10");
    assert_eq!(
        answer["cover"],
        json!([{
            "program_id": programs[0],
            "name": "Budget 210.00",
            "level": "low",
            "held": "210.00",
            "owed": "200.00",
            "margin": "0.0500",
        }])
    );

    // Only the operator reads it.
    for actor in [
        prescriber.clone(),
        app.member_of_new("funder", "admin").await,
    ] {
        app.get("/api/v1/dashboard/alerts", &actor.token)
            .await
            .problem(403, "forbidden");
    }
}
