use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn the_operator_creates_each_kind_of_organisation() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    for kind in ["funder", "prescriber", "site"] {
        let res = app
            .post(
                "/api/v1/organizations",
                &operator.token,
                json!({
                    "kind": kind, "name": "  Médiathèque de Lure ", "email": "Contact@Lure.FR",
                    "postcode": "70200", "city": "Lure", "address": "1 place de la Libération",
                    "siret": "732 829 320 00074", "latitude": 47.68, "longitude": 6.49
                }),
            )
            .await;
        let org = res.ok(201);
        assert_eq!(org["kind"], kind);
        assert_eq!(org["name"], "Médiathèque de Lure");
        assert_eq!(org["email"], "contact@lure.fr");
        assert_eq!(org["siret"], "73282932000074");
        assert_eq!(org["latitude"], 47.68);
        let id = org["id"].as_str().unwrap();
        let fetched = app
            .get(&format!("/api/v1/organizations/{id}"), &operator.token)
            .await;
        assert_eq!(fetched.ok(200)["name"], "Médiathèque de Lure");
    }
    let listed = app
        .get("/api/v1/organizations?kind=site", &operator.token)
        .await;
    let items = listed.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "site");
}

#[tokio::test]
async fn invalid_organisations_name_the_field() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let valid = json!({"kind": "site", "name": "Lieu", "email": "a@b.fr", "postcode": "70000", "city": "Vesoul"});
    let cases = [
        ("kind", json!("operator")),
        ("name", json!("   ")),
        ("email", json!("not-an-email")),
        ("postcode", json!("7000")),
        ("city", json!("")),
        ("siret", json!("73282932000075")),
        ("latitude", json!(123.0)),
    ];
    for (field, value) in cases {
        let mut body = valid.clone();
        body[field] = value.clone();
        if field == "latitude" {
            body["longitude"] = json!(6.0);
        }
        let res = app
            .post("/api/v1/organizations", &operator.token, body)
            .await;
        let problem = res.problem(422, "validation_failed");
        assert_eq!(
            problem["field"], field,
            "case {field}={value}: {}",
            res.text
        );
    }
    let half_position = json!({"kind": "site", "name": "Lieu", "email": "a@b.fr", "postcode": "70000", "city": "Vesoul", "latitude": 47.0});
    let res = app
        .post("/api/v1/organizations", &operator.token, half_position)
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "longitude");
    // Nothing half-written: only the operator's own organisation exists.
    let all = app.get("/api/v1/organizations", &operator.token).await;
    assert_eq!(all.ok(200)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_the_operator_creates_organisations() {
    let app = TestApp::spawn().await;
    let admin = app.member_of_new("funder", "admin").await;
    let res = app
        .post(
            "/api/v1/organizations",
            &admin.token,
            json!({"kind": "site", "name": "Lieu", "email": "a@b.fr", "postcode": "70000", "city": "Vesoul"}),
        )
        .await;
    res.problem(403, "forbidden");
}

#[tokio::test]
async fn another_organisations_data_is_not_found() {
    let app = TestApp::spawn().await;
    let prescriber = app.member_of_new("prescriber", "admin").await;
    let site = app.organization("site", json!({})).await;
    let site_id = site["id"].as_str().unwrap();

    // Reading another organisation: 404, the same as an id that does not exist.
    let other = app
        .get(
            &format!("/api/v1/organizations/{site_id}"),
            &prescriber.token,
        )
        .await;
    other.problem(404, "not_found");
    let missing = app
        .get(
            &format!("/api/v1/organizations/{}", uuid::Uuid::new_v4()),
            &prescriber.token,
        )
        .await;
    assert_eq!(other.body, missing.body);
    // Adding a user to it: 404 too, and no user is created.
    let res = app
        .post(
            &format!("/api/v1/organizations/{site_id}/users"),
            &prescriber.token,
            json!({"email": "intruder@example.org", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    res.problem(404, "not_found");
    app.login("intruder@example.org", PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    // The list shows only one's own organisation.
    let listed = app.get("/api/v1/organizations", &prescriber.token).await;
    let items = listed.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], prescriber.org_id.to_string());
    // One's own is readable.
    app.get(
        &format!("/api/v1/organizations/{}", prescriber.org_id),
        &prescriber.token,
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn users_are_added_by_the_operator_or_their_organisations_admin() {
    let app = TestApp::spawn().await;
    let admin = app.member_of_new("prescriber", "admin").await;
    let res = app
        .post(
            &format!("/api/v1/organizations/{}/users", admin.org_id),
            &admin.token,
            json!({"email": "New.Agent@Example.org", "password": PASSWORD, "role": "agent"}),
        )
        .await;
    let user = res.ok(201);
    assert_eq!(user["email"], "new.agent@example.org");
    assert_eq!(user["status"], "active");
    assert!(user.get("password_hash").is_none() && !res.text.contains("argon2"));
    let agent_token = app.login("new.agent@example.org", PASSWORD).await.ok(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // An agent may not add users.
    let res = app
        .post(
            &format!("/api/v1/organizations/{}/users", admin.org_id),
            &agent_token,
            json!({"email": "third@example.org", "password": PASSWORD, "role": "agent"}),
        )
        .await;
    res.problem(403, "forbidden");

    // The same e-mail twice, in any case: 409.
    let res = app
        .post(
            &format!("/api/v1/organizations/{}/users", admin.org_id),
            &admin.token,
            json!({"email": "NEW.agent@example.org", "password": PASSWORD, "role": "agent"}),
        )
        .await;
    assert_eq!(res.problem(409, "email_taken")["field"], "email");

    // A short password is refused before anything is written.
    let res = app
        .post(
            &format!("/api/v1/organizations/{}/users", admin.org_id),
            &admin.token,
            json!({"email": "short@example.org", "password": "short", "role": "agent"}),
        )
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "password");
    // Unknown role.
    let res = app
        .post(
            &format!("/api/v1/organizations/{}/users", admin.org_id),
            &admin.token,
            json!({"email": "role@example.org", "password": PASSWORD, "role": "boss"}),
        )
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "role");
}

#[tokio::test]
async fn organisations_page_with_a_cursor() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    for _ in 0..5 {
        app.organization("funder", json!({})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/organizations?kind=funder&limit=2&cursor={c}"),
            None => "/api/v1/organizations?kind=funder&limit=2".to_string(),
        };
        let page = app.get(&path, &operator.token).await;
        let page = page.ok(200);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), 5);
    app.get("/api/v1/organizations?cursor=nope", &operator.token)
        .await
        .problem(400, "invalid_cursor");
    app.get("/api/v1/organizations?limit=0", &operator.token)
        .await
        .problem(400, "invalid_query");
    app.get("/api/v1/organizations?kind=bank", &operator.token)
        .await
        .problem(400, "invalid_query");
}

#[tokio::test]
async fn site_labels_are_granted_suspended_and_reinstated() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let site = app.organization("site", json!({})).await;
    let id = site["id"].as_str().unwrap();
    let today = passnum::domain::french_date(chrono::Utc::now());
    let until = today + chrono::Days::new(365);

    app.post(
        &format!("/api/v1/sites/{id}/label/suspend"),
        &operator.token,
        json!({}),
    )
    .await
    .problem(409, "no_label");

    let label = app
        .post(
            &format!("/api/v1/sites/{id}/label"),
            &operator.token,
            json!({"valid_from": today, "valid_until": until}),
        )
        .await;
    let label = label.ok(200);
    assert_eq!(label["status"], "active");
    assert_eq!(label["active"], true);
    assert_eq!(label["site_id"], id);

    let suspended = app
        .post(
            &format!("/api/v1/sites/{id}/label/suspend"),
            &operator.token,
            json!({}),
        )
        .await;
    assert_eq!(suspended.ok(200)["status"], "suspended");
    assert!(suspended.body["suspended_at"].is_string());
    // Renewing the dates does not lift a suspension.
    let renewed = app
        .post(
            &format!("/api/v1/sites/{id}/label"),
            &operator.token,
            json!({"valid_from": today, "valid_until": until}),
        )
        .await;
    assert_eq!(renewed.ok(200)["status"], "suspended");
    let reinstated = app
        .post(
            &format!("/api/v1/sites/{id}/label/reinstate"),
            &operator.token,
            json!({}),
        )
        .await;
    assert_eq!(reinstated.ok(200)["status"], "active");
    assert!(reinstated.body["suspended_at"].is_null());

    let org = app
        .get(&format!("/api/v1/organizations/{id}"), &operator.token)
        .await;
    assert_eq!(org.ok(200)["label"]["status"], "active");

    // Dates in the wrong order, a funder instead of a site, a stranger.
    let res = app
        .post(
            &format!("/api/v1/sites/{id}/label"),
            &operator.token,
            json!({"valid_from": until, "valid_until": today}),
        )
        .await;
    assert_eq!(
        res.problem(422, "validation_failed")["field"],
        "valid_until"
    );
    let res = app
        .post(
            &format!("/api/v1/sites/{id}/label"),
            &operator.token,
            json!({"valid_from": "2026-02-30", "valid_until": until}),
        )
        .await;
    assert_eq!(res.problem(422, "validation_failed")["field"], "valid_from");
    let funder = app.organization("funder", json!({})).await;
    app.post(
        &format!("/api/v1/sites/{}/label", funder["id"].as_str().unwrap()),
        &operator.token,
        json!({"valid_from": today, "valid_until": until}),
    )
    .await
    .problem(404, "not_found");
    let site_agent = app.user_in(id, "admin").await;
    app.post(
        &format!("/api/v1/sites/{id}/label/reinstate"),
        &site_agent.token,
        json!({}),
    )
    .await
    .problem(403, "forbidden");
}
