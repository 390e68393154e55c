//! The follow-up (issue 14 point 3): the site that redeemed a checkbook's tickets
//! records the person's autonomy before and after and the themes covered; a second
//! record corrects it (audited); nobody else writes it; erasing the beneficiary keeps
//! it; and the "autonomy gained" breakdown of the statistics (point 4) hides cells
//! under five people.

use serde_json::{Value, json};

use crate::helpers::{Actor, TestApp};

async fn book(app: &TestApp, prescriber: &Actor, program: &str, reference: &str) -> Value {
    app.issue(prescriber, program, Some(json!({"reference": reference})))
        .await
        .ok(201)
        .clone()
}

fn evaluation_path(book: &Value) -> String {
    format!(
        "/api/v1/checkbooks/{}/evaluation",
        book["id"].as_str().unwrap()
    )
}

async fn evaluations_in_db(app: &TestApp) -> i64 {
    let (client, connection) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query_one("SELECT count(*) FROM evaluations", &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
}

#[tokio::test]
async fn the_redeeming_site_records_and_corrects_a_follow_up_and_no_one_else_writes_it() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(5).await;
    let operator = app.operator().await;
    let site = app.labelled_site_agent(json!({})).await;
    let other_site = app.labelled_site_agent(json!({})).await;
    let reversing_site = app.labelled_site_agent(json!({})).await;
    let funder = app.user_in(&t.funders[0], "admin").await;
    let b = book(&app, &t.prescriber, &t.program, "SUIVI-1").await;
    let tickets = b["tickets"].as_array().unwrap().clone();
    let redemption = app.redeem(&site, &tickets[0]).await.ok(201).clone();
    // A site whose only scan was undone has not trained the person.
    let undone = app
        .redeem(&reversing_site, &tickets[1])
        .await
        .ok(201)
        .clone();
    app.post(
        &format!(
            "/api/v1/redemptions/{}/reverse",
            undone["id"].as_str().unwrap()
        ),
        &reversing_site.token,
        json!({}),
    )
    .await
    .ok(200);
    let path = evaluation_path(&b);
    let body = json!({"before": 1, "after": 3, "themes": ["smartphone", "securite"]});

    // Who may not.
    for (who, status, code) in [
        (&other_site, 404, "not_found"),
        (&reversing_site, 404, "not_found"),
        (&t.prescriber, 403, "forbidden"),
        (&operator, 403, "forbidden"),
        (&funder, 403, "forbidden"),
    ] {
        app.post(&path, &who.token, body.clone())
            .await
            .problem(status, code);
    }
    app.post(
        "/api/v1/checkbooks/00000000-0000-7000-8000-000000000000/evaluation",
        &site.token,
        body.clone(),
    )
    .await
    .problem(404, "not_found");

    // Bad input: 422 naming the field, nothing written.
    for (bad, field) in [
        (json!({"before": 0, "after": 3}), "before"),
        (json!({"before": 1, "after": 5}), "after"),
        (json!({"before": -2, "after": 2}), "before"),
        (json!({"before": "deux", "after": 2}), "before"),
        (
            json!({"before": 1, "after": 2, "themes": ["cuisine"]}),
            "themes",
        ),
        (
            json!({"before": 1, "after": 2, "themes": "smartphone"}),
            "themes",
        ),
        (json!({"after": 2}), "before"),
    ] {
        let res = app.post(&path, &site.token, bad.clone()).await;
        let problem = res.problem(422, "validation_failed");
        assert!(
            problem["field"].as_str().unwrap_or("").starts_with(field),
            "{bad}: {problem}"
        );
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(evaluations_in_db(&app).await, 0);

    // Recorded, then the same values again change nothing, then corrected.
    let created = app.post(&path, &site.token, body.clone()).await;
    let created = created.ok(201);
    assert_eq!(created["before"], 1);
    assert_eq!(created["after"], 3);
    assert_eq!(created["themes"], json!(["smartphone", "securite"]));
    assert_eq!(created["site_id"], site.org_id.to_string());
    app.post(&path, &site.token, body.clone()).await.ok(200);
    let colleague = app.user_in(&site.org_id.to_string(), "agent").await;
    let corrected = app
        .post(
            &path,
            &colleague.token,
            json!({"before": 2, "after": 4, "themes": ["messagerie"]}),
        )
        .await;
    let corrected = corrected.ok(200);
    assert_eq!(corrected["id"], created["id"]);
    assert_eq!(corrected["before"], 2);
    assert_eq!(corrected["after"], 4);
    assert_eq!(corrected["themes"], json!(["messagerie"]));
    assert_eq!(evaluations_in_db(&app).await, 1);

    // Audited: the recording and the correction, with the values before and after.
    let trail = app
        .get(
            &format!("/api/v1/audit?entity_id={}", b["id"].as_str().unwrap()),
            &operator.token,
        )
        .await;
    let entries: Vec<Value> = trail.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("checkbook.evaluation_"))
        })
        .cloned()
        .collect();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let correction = &entries[0];
    assert_eq!(correction["action"], "checkbook.evaluation_corrected");
    assert_eq!(correction["before"]["before"], 1);
    assert_eq!(
        correction["before"]["themes"],
        json!(["smartphone", "securite"])
    );
    assert_eq!(correction["after"]["after"], 4);
    assert_eq!(entries[1]["action"], "checkbook.evaluation_recorded");

    // Read: the issuing prescriber and the operator see it, the site its own; no
    // one else.
    let list_path = format!(
        "/api/v1/checkbooks/{}/evaluations",
        b["id"].as_str().unwrap()
    );
    for who in [&t.prescriber, &operator, &site] {
        let res = app.get(&list_path, &who.token).await;
        let items = res.ok(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["after"], 4);
    }
    let stranger = app.member_of_new("prescriber", "admin").await;
    for who in [&other_site, &funder, &stranger] {
        app.get(&list_path, &who.token)
            .await
            .problem(404, "not_found");
    }

    // The site's checkbooks to follow up, and the one of a scan.
    let res = app.get("/api/v1/follow-ups", &site.token).await;
    let items = res.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["checkbook_id"], b["id"]);
    assert_eq!(items[0]["tickets_redeemed_here"], 1);
    assert_eq!(items[0]["tickets_left"], 9);
    assert_eq!(items[0]["evaluation"]["before"], 2);
    // Another site's scan is not found through it.
    let of_scan = format!(
        "/api/v1/follow-ups?redemption_id={}",
        redemption["id"].as_str().unwrap()
    );
    for (who, found) in [(&site, 1), (&other_site, 0)] {
        let res = app.get(&of_scan, &who.token).await;
        assert_eq!(res.ok(200)["items"].as_array().unwrap().len(), found);
    }
    app.get("/api/v1/follow-ups", &t.prescriber.token)
        .await
        .problem(403, "forbidden");
}

#[tokio::test]
async fn the_last_ticket_leaves_nothing_to_use_and_erasure_keeps_the_follow_up() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(5).await;
    let site = app.labelled_site_agent(json!({})).await;
    let b = book(&app, &t.prescriber, &t.program, "SUIVI-2").await;
    let mut last = Value::Null;
    for ticket in b["tickets"].as_array().unwrap() {
        last = app.redeem(&site, ticket).await.ok(201).clone();
    }
    let res = app
        .get(
            &format!(
                "/api/v1/follow-ups?redemption_id={}",
                last["id"].as_str().unwrap()
            ),
            &site.token,
        )
        .await;
    let item = res.ok(200)["items"][0].clone();
    assert_eq!(item["tickets_left"], 0);
    assert_eq!(item["tickets_redeemed_here"], 10);
    assert!(item["evaluation"].is_null());

    app.post(
        &evaluation_path(&b),
        &site.token,
        json!({"before": 1, "after": 4, "themes": ["premiers_pas"]}),
    )
    .await
    .ok(201);
    app.post(
        &format!(
            "/api/v1/checkbooks/{}/erase-beneficiary",
            b["id"].as_str().unwrap()
        ),
        &t.prescriber.token,
        json!({}),
    )
    .await
    .ok(200);
    let res = app
        .get(
            &format!(
                "/api/v1/checkbooks/{}/evaluations",
                b["id"].as_str().unwrap()
            ),
            &t.prescriber.token,
        )
        .await;
    let items = res.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["before"], 1);
    assert_eq!(items[0]["after"], 4);
    // The site may still correct it after the erasure.
    app.post(
        &evaluation_path(&b),
        &site.token,
        json!({"before": 1, "after": 3}),
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn autonomy_gained_counts_people_and_hides_cells_under_five_erasure_included() {
    let app = TestApp::spawn().await;
    let t = app.funded_territory(10).await;
    let operator = app.operator().await;
    let funder = app.user_in(&t.funders[0], "admin").await;
    let site = app.labelled_site_agent(json!({})).await;
    let second_site = app.labelled_site_agent(json!({})).await;
    let mut books = Vec::new();
    for i in 0..7 {
        let b = book(&app, &t.prescriber, &t.program, &format!("AUTO-{i}")).await;
        app.redeem(&site, &b["tickets"][0]).await.ok(201);
        books.push(b);
    }
    // Five people 1 → 3, one person 2 → 2 (the one an attacker would single out).
    for b in &books[..5] {
        app.post(
            &evaluation_path(b),
            &site.token,
            json!({"before": 1, "after": 3, "themes": ["smartphone"]}),
        )
        .await
        .ok(201);
    }
    app.post(
        &evaluation_path(&books[5]),
        &site.token,
        json!({"before": 2, "after": 2}),
    )
    .await
    .ok(201);
    // A second site evaluating the same person does not count them twice: its
    // evaluation, the latest, counts once.
    app.redeem(&second_site, &books[0]["tickets"][1])
        .await
        .ok(201);
    app.post(
        &evaluation_path(&books[0]),
        &second_site.token,
        json!({"before": 1, "after": 3}),
    )
    .await
    .ok(201);

    let stats_path = format!("/api/v1/programs/{}/stats", t.program);
    let stats = app.get(&stats_path, &funder.token).await;
    let a = stats.ok(200)["autonomy_gained"].clone();
    assert_eq!(a["evaluated"], 6, "{a:#}");
    let people = |list: &str| -> Vec<Value> {
        a[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["people"].clone())
            .collect()
    };
    let h = json!("<5");
    assert_eq!(
        people("by_level_before"),
        [json!(5), h.clone(), h.clone(), h.clone()]
    );
    assert_eq!(
        people("by_level_after"),
        [h.clone(), h.clone(), json!(5), h.clone()]
    );
    let gains: Vec<Value> = a["by_gain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["gain"], c["people"]]))
        .collect();
    assert_eq!(
        gains,
        [
            json!([-3, "<5"]),
            json!([-2, "<5"]),
            json!([-1, "<5"]),
            json!([0, "<5"]),
            json!([1, "<5"]),
            json!([2, 5]),
            json!([3, "<5"]),
        ]
    );
    // Nowhere in the answer does the lone 2 → 2 person show as a 1.
    assert!(!a.to_string().contains("\"people\":1"), "{a}");
    // The generic breakdowns (the app's charts, the CSVs) carry it too, most gained
    // first, hidden the same way.
    let all = stats.ok(200)["breakdowns"].clone();
    let gained = all
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["key"] == "autonomy_gained");
    let gained = gained.unwrap_or_else(|| panic!("no autonomy_gained: {all}"));
    let rows: Vec<Value> = gained["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["key"], r["label"], r["people"]]))
        .collect();
    assert_eq!(rows[0], json!(["3", "3 niveaux gagnés", "<5"]));
    assert_eq!(rows[1], json!(["2", "2 niveaux gagnés", 5]));
    assert_eq!(rows[3], json!(["0", "Aucun niveau gagné", "<5"]));
    assert_eq!(rows[4], json!(["-1", "1 niveau perdu", "<5"]));
    assert_eq!(rows.len(), 7);
    let csv = app
        .get(
            &format!("{stats_path}.csv?breakdown=autonomy_gained&format=rfc4180"),
            &funder.token,
        )
        .await;
    let csv = csv.text.clone();
    assert!(csv.contains("\r\n2,2 niveaux gagnés,5,5,,,,\r\n"), "{csv}");
    assert!(
        csv.contains("\r\n0,Aucun niveau gagné,<5,<5,,,,\r\n"),
        "{csv}"
    );

    // The operator sees the same; the site its own evaluations (six people).
    let op = app.get(&stats_path, &operator.token).await;
    assert_eq!(op.ok(200)["autonomy_gained"], a);
    let own = app.get(&stats_path, &site.token).await;
    assert_eq!(own.ok(200)["autonomy_gained"]["evaluated"], 6);
    // The second site evaluated one person: hidden.
    let few = app.get(&stats_path, &second_site.token).await;
    assert_eq!(few.ok(200)["autonomy_gained"]["evaluated"], "<5");

    // Erasing beneficiaries (at once, and by the purge) keeps every count.
    for b in &books[..3] {
        app.post(
            &format!(
                "/api/v1/checkbooks/{}/erase-beneficiary",
                b["id"].as_str().unwrap()
            ),
            &t.prescriber.token,
            json!({}),
        )
        .await
        .ok(200);
    }
    let mut conn = app.db.connect().await;
    let far = passnum::domain::french_date(chrono::Utc::now()) + chrono::Days::new(3000);
    passnum::checkbooks::purge(
        &mut conn,
        passnum::audit::Actor::Service("test purge"),
        far,
        12,
    )
    .await
    .unwrap();
    let after = app.get(&stats_path, &funder.token).await;
    assert_eq!(after.ok(200)["autonomy_gained"], a);
    assert_eq!(evaluations_in_db(&app).await, 7);
}
