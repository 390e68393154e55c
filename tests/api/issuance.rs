//! A program says before the form whether a checkbook may be issued now, and if not
//! why (issue 13, point 9): the ring-fence rule asked for one checkbook, the same
//! answer issuing would give.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_program_says_why_it_cannot_issue_before_anyone_fills_the_form() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    // Budget 1,000 € = 10 checkbooks of 100 €; the State (40 %) has not paid yet.
    let (program, funders) = app
        .program(&["0.60", "0.40"], json!({"budget": "1000.00"}))
        .await;
    app.pay(&program, &funders[0], "600.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate_over_budget(&program, &prescriber.org_id.to_string(), 20)
        .await
        .ok(201);
    // Which funder is awaited, by name, and (but for prescribers) what it must still
    // pay for one more checkbook: 40 % of 100 €.
    let state_name = app
        .get(
            &format!("/api/v1/organizations/{}", funders[1]),
            &operator.token,
        )
        .await
        .ok(200)["name"]
        .clone();
    let waiting = json!({"open": false, "reason": "funds_not_received", "funder_id": funders[1],
        "funder_name": state_name, "missing_amount": "40.00"});
    let department = app.user_in(&funders[0], "agent").await;
    for actor in [&operator, &department, &prescriber] {
        let seen = app
            .get(&format!("/api/v1/programs/{program}"), &actor.token)
            .await
            .ok(200)
            .clone();
        let mut expected = waiting.clone();
        if actor.email == prescriber.email {
            expected.as_object_mut().unwrap().remove("missing_amount");
        }
        assert_eq!(seen["issuance"], expected, "{}", actor.email);
    }
    let refused = app
        .issue(&prescriber, &program, Some(json!({"reference": "I-0"})))
        .await;
    assert_eq!(
        refused.problem(409, "funds_not_received")["funder_id"],
        funders[1].as_str()
    );

    // Paid: open, until the budget is used up.
    app.pay(&program, &funders[1], "400.00").await.ok(201);
    let seen = app
        .get(&format!("/api/v1/programs/{program}"), &operator.token)
        .await
        .ok(200)
        .clone();
    assert_eq!(
        seen["issuance"],
        json!({"open": true, "reason": null, "funder_id": null})
    );
    for i in 0..10 {
        app.issue(
            &prescriber,
            &program,
            Some(json!({"reference": format!("I-{i}")})),
        )
        .await
        .ok(201);
    }
    let seen = app
        .get(&format!("/api/v1/programs/{program}"), &prescriber.token)
        .await
        .ok(200)
        .clone();
    assert_eq!(seen["issuance"]["reason"], "budget_exhausted");
    app.issue(&prescriber, &program, Some(json!({"reference": "I-11"})))
        .await
        .problem(409, "budget_exhausted");
}
