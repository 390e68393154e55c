//! The web app served by the same binary: the app shell on the app's pages, its files
//! with their content types and cache validators, a strict Content-Security-Policy,
//! and the API's problem+json 404 everywhere else. Also the two lists the app reads:
//! `GET /programs` (scoped, with allowances) and `GET /organizations/{id}/users`.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_app_shell_and_its_files_are_served_with_their_content_types() {
    let app = TestApp::spawn().await;
    let cases = [
        ("/", "text/html; charset=utf-8"),
        ("/connexion", "text/html; charset=utf-8"),
        ("/invitation?token=abc", "text/html; charset=utf-8"),
        // The account pages (issue 12): the reset link's token rides in the query, and
        // the page carries no-referrer like every page of the app.
        ("/mot-de-passe?token=abc", "text/html; charset=utf-8"),
        ("/mot-de-passe-oublie", "text/html; charset=utf-8"),
        ("/changer-mot-de-passe", "text/html; charset=utf-8"),
        ("/equipe", "text/html; charset=utf-8"),
        ("/app/pages/team.js", "text/javascript; charset=utf-8"),
        ("/app/pages/account.js", "text/javascript; charset=utf-8"),
        ("/site", "text/html; charset=utf-8"),
        (
            "/operateur/dispositifs/0190f0b4-8a5e-7cc2-9d1e-000000000000",
            "text/html; charset=utf-8",
        ),
        ("/app/main.js", "text/javascript; charset=utf-8"),
        ("/app/pages/site.js", "text/javascript; charset=utf-8"),
        ("/app/vendor/jsqr.js", "text/javascript; charset=utf-8"),
        ("/app/style.css", "text/css; charset=utf-8"),
        ("/app/icon.svg", "image/svg+xml"),
        ("/app/manifest.webmanifest", "application/manifest+json"),
    ];
    for (path, content_type) in cases {
        let res = app
            .raw(app.client.get(format!("{}{path}", app.address)))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert_eq!(res.content_type(), content_type, "{path}");
        let csp = res.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(res.headers[CACHE_CONTROL], "no-cache", "{path}");
        assert_eq!(res.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(res.headers["referrer-policy"], "no-referrer", "{path}");
        // Revalidation: the same ETag answers 304 without a body.
        let etag = res.headers[ETAG].clone();
        let again = app
            .raw(
                app.client
                    .get(format!("{}{path}", app.address))
                    .header(IF_NONE_MATCH, etag),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.text.is_empty(), "{path}");
    }
    // The service worker may look after every page of the app.
    let sw = app
        .raw(app.client.get(format!("{}/app/sw.js", app.address)))
        .await;
    assert_eq!(sw.content_type(), "text/javascript; charset=utf-8");
    assert_eq!(sw.headers["service-worker-allowed"], "/");
    let shell = app.raw(app.client.get(format!("{}/", app.address))).await;
    assert!(shell.text.contains(r#"<html lang="fr">"#));
    assert!(shell.text.contains(r#"src="/app/main.js""#));
}

#[tokio::test]
async fn other_paths_keep_the_api_problem_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/nothing-here",
        "/api/nothing",
        "/app/nothing.js",
        "/app/",
        "/nothing",
        "/favicon.ico",
        "/sitemap",
    ] {
        let res = app
            .raw(app.client.get(format!("{}{path}", app.address)))
            .await;
        res.problem(404, "not_found");
        assert!(
            res.content_type().starts_with("application/problem+json"),
            "{path}"
        );
    }
    // A page of the app is read, not written.
    let res = app
        .raw(app.client.post(format!("{}/connexion", app.address)))
        .await;
    res.problem(404, "not_found");
    // The operations routes and the API documentation are untouched.
    for path in ["/healthz", "/openapi.json", "/docs/"] {
        let res = app
            .raw(app.client.get(format!("{}{path}", app.address)))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert!(
            !res.text.contains("/app/main.js"),
            "{path}: not the app shell"
        );
    }
}

#[tokio::test]
async fn programs_are_listed_to_whom_may_see_them_with_allowances() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let t = app.funded_territory(5).await;
    let (other, _) = app
        .program(&["1"], json!({"name": "Autre dispositif"}))
        .await;
    app.issue(&t.prescriber, &t.program, Some(json!({"reference": "R-1"})))
        .await
        .ok(201);

    // The operator: every program, every allowance.
    let all = app.get("/api/v1/programs", &operator.token).await;
    let items = all.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let mine = items
        .iter()
        .find(|p| p["id"] == t.program.as_str())
        .unwrap();
    assert_eq!(mine["allocations"][0]["checkbooks"], 5);
    assert_eq!(mine["allocations"][0]["remaining_checkbooks"], 4);
    assert_eq!(mine["funding"]["received"], "10000.00");

    // The prescriber: only its program, its allowance, not the funders' money.
    let res = app.get("/api/v1/programs", &t.prescriber.token).await;
    let items = res.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], t.program.as_str());
    assert_eq!(items[0]["allocations"][0]["remaining_checkbooks"], 4);
    assert_eq!(
        items[0]["allocations"][0]["prescriber_id"],
        t.prescriber.org_id.to_string()
    );
    assert!(items[0].get("funding").is_none(), "{}", res.text);
    assert!(items[0]["funders"][0].get("paid").is_none(), "{}", res.text);

    // A funder: the programs it funds, with their money, no allowance.
    let funder = app.user_in(&t.funders[0], "agent").await;
    let res = app.get("/api/v1/programs", &funder.token).await;
    let items = res.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], t.program.as_str());
    assert_ne!(items[0]["id"], other.as_str());
    assert_eq!(items[0]["allocations"], json!([]));
    assert!(items[0]["funding"].is_object());

    // A site: none. Paging works like every list.
    let site = app.member_of_new("site", "agent").await;
    let res = app.get("/api/v1/programs", &site.token).await;
    assert_eq!(res.ok(200)["items"], json!([]));
    let page = app.get("/api/v1/programs?limit=1", &operator.token).await;
    let cursor = page.ok(200)["next_cursor"].as_str().unwrap().to_string();
    let next = app
        .get(
            &format!("/api/v1/programs?limit=1&cursor={cursor}"),
            &operator.token,
        )
        .await;
    assert_eq!(next.ok(200)["items"].as_array().unwrap().len(), 1);
    assert_eq!(next.body["next_cursor"], serde_json::Value::Null);
    app.get("/api/v1/programs?limit=0", &operator.token)
        .await
        .problem(400, "invalid_query");
}

#[tokio::test]
async fn users_of_an_organisation_are_listed_to_the_operator_and_its_admins() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let org = app.organization("prescriber", json!({})).await;
    let id = org["id"].as_str().unwrap();
    let admin = app.user_in(id, "admin").await;
    let agent = app.user_in(id, "agent").await;
    app.post(
        &format!("/api/v1/organizations/{id}/users"),
        &operator.token,
        json!({"email": "invitee@example.org", "role": "agent"}),
    )
    .await
    .ok(201);

    let res = app
        .get(
            &format!("/api/v1/organizations/{id}/users"),
            &operator.token,
        )
        .await;
    let items = res.ok(200)["items"].as_array().unwrap().clone();
    let emails: Vec<&str> = items.iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(
        emails,
        [
            admin.email.as_str(),
            agent.email.as_str(),
            "invitee@example.org"
        ]
    );
    assert_eq!(items[2]["status"], "invited");
    assert_eq!(items[0]["status"], "active");
    assert!(!res.text.contains("password"), "{}", res.text);

    let res = app
        .get(&format!("/api/v1/organizations/{id}/users"), &admin.token)
        .await;
    assert_eq!(res.ok(200)["items"].as_array().unwrap().len(), 3);
    app.get(&format!("/api/v1/organizations/{id}/users"), &agent.token)
        .await
        .problem(403, "forbidden");
    let stranger = app.member_of_new("site", "admin").await;
    app.get(
        &format!("/api/v1/organizations/{id}/users"),
        &stranger.token,
    )
    .await
    .problem(404, "not_found");
    app.get(
        &format!("/api/v1/organizations/{}/users", uuid::Uuid::now_v7()),
        &operator.token,
    )
    .await
    .problem(404, "not_found");
}
