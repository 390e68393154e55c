//! Allocations past what a program's budget pays for (issue 13, point 9): refused with
//! what the budget still pays for, unless the operator confirms; the same for a raise.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The program's allocations, prescriber by prescriber: (checkbooks, remaining).
async fn allocations(app: &TestApp, program: &str) -> Vec<(i64, i64)> {
    let operator = app.operator().await;
    let list = app.get("/api/v1/programs", &operator.token).await;
    let item = list.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == program)
        .unwrap()
        .clone();
    item["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a: &Value| {
            (
                a["checkbooks"].as_i64().unwrap(),
                a["remaining_checkbooks"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_allocation_past_the_budget_is_refused_unless_confirmed() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    // Budget 2,000 € = 20 checkbooks of 10 × 10 €.
    let (program, funders) = app.program(&["1"], json!({"budget": "2000.00"})).await;
    app.pay(&program, &funders[0], "2000.00").await.ok(201);
    let a = app.organization("prescriber", json!({})).await;
    let b = app.organization("prescriber", json!({})).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    // 2,000 checkbooks on a budget that pays for 20: refused, and nothing written.
    let refused = app.allocate(&program, a, 2000).await;
    let problem = refused.problem(409, "allocation_over_budget");
    assert_eq!(problem["affordable_checkbooks"], 20);
    assert_eq!(problem["field"], "checkbooks");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("ne paie plus que 20 chéquier(s)"),
        "{detail}"
    );
    assert!(detail.contains("en allouer 2 000 de plus"), "{detail}");
    assert!(allocations(&app, &program).await.is_empty());
    let entries = app
        .get(
            &format!("/api/v1/audit?entity_id={program}"),
            &operator.token,
        )
        .await
        .ok(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        entries.iter().all(|e| e["action"] != "allocation.added"),
        "{entries:?}"
    );

    // Within the budget: accepted; another prescriber counts what the first holds.
    app.allocate(&program, a, 15).await.ok(201);
    let refused = app.allocate(&program, b, 6).await;
    assert_eq!(
        refused.problem(409, "allocation_over_budget")["affordable_checkbooks"],
        5
    );
    app.allocate(&program, b, 5).await.ok(201);
    // Confirmed: past the budget on purpose.
    let over = app.allocate_over_budget(&program, b, 3).await;
    assert_eq!(over.ok(201)["checkbooks"], 3);
    assert_eq!(allocations(&app, &program).await.len(), 2);

    // A raise is judged the same way; a reduction always passes.
    let path = format!("/api/v1/programs/{program}/allocations/{a}");
    let refused = app
        .patch(&path, &operator.token, json!({"checkbooks": 16}))
        .await;
    assert_eq!(
        refused.problem(409, "allocation_over_budget")["affordable_checkbooks"],
        0
    );
    let reduced = app
        .patch(&path, &operator.token, json!({"checkbooks": 12}))
        .await;
    assert_eq!(reduced.ok(200)["checkbooks"], 12);
    app.patch(&path, &operator.token, json!({"checkbooks": 13}))
        .await
        .problem(409, "allocation_over_budget");
    let raised = app
        .patch(
            &path,
            &operator.token,
            json!({"checkbooks": 16, "confirm_over_budget": true}),
        )
        .await;
    assert_eq!(raised.ok(200)["checkbooks"], 16);

    // A larger budget pays for more.
    app.patch(
        &format!("/api/v1/programs/{program}"),
        &operator.token,
        json!({"budget": "3000.00"}),
    )
    .await
    .ok(200);
    let refused = app.allocate(&program, b, 8).await;
    assert_eq!(
        refused.problem(409, "allocation_over_budget")["affordable_checkbooks"],
        6
    );
    app.allocate(&program, b, 6).await.ok(201);
    let mut totals: Vec<i64> = allocations(&app, &program)
        .await
        .iter()
        .map(|(c, _)| *c)
        .collect();
    totals.sort_unstable();
    assert_eq!(totals, [14, 16]);
}
