use std::time::{Duration, Instant};

use reqwest::Method;

use crate::helpers::{Options, TestApp};

async fn status_of(app: &TestApp, path: &str) -> u16 {
    app.request(Method::GET, path, None, None)
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn readiness_follows_the_database_and_the_server_survives_its_absence() {
    let app = TestApp::spawn_with(Options {
        through_switch: true,
        ..Options::default()
    })
    .await;
    let operator = app.operator().await;
    assert_eq!(status_of(&app, "/healthz").await, 200);
    assert_eq!(status_of(&app, "/readyz").await, 200);

    let switch = app.switch.as_ref().unwrap();
    switch.cut();
    let res = app.request(Method::GET, "/readyz", None, None).await;
    res.problem(503, "database_unreachable");
    assert_eq!(
        status_of(&app, "/healthz").await,
        200,
        "the process stays up"
    );
    // A request that needs the database: 503 problem, not a 500 nor a hang.
    let res = app.get("/api/v1/me", &operator.token).await;
    res.problem(503, "database_unavailable");

    switch.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if status_of(&app, "/readyz").await == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "readyz did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.get("/api/v1/me", &operator.token).await.ok(200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    for _ in 0..3 {
        app.get(
            &format!("/api/v1/organizations/{}", uuid::Uuid::new_v4()),
            &operator.token,
        )
        .await;
    }
    let res = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(res.status.as_u16(), 200);
    assert!(res.content_type().starts_with("text/plain"));
    let text = res.text;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("passnum_http_requests_total")
                && l.contains("route=\"/api/v1/organizations/{id}\"")
                && l.contains("status=\"404\"")
        })
        .unwrap_or_else(|| panic!("no counter for the 404s in:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(
        text.contains("passnum_http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(
        text.contains("passnum_db_pool_connections{state=\"max_size\"} 4"),
        "pool gauges:\n{text}"
    );
    assert!(
        !text.contains(&operator.org_id.to_string()),
        "ids never become labels"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let a = app.request(Method::GET, "/healthz", None, None).await;
    let b = app.request(Method::GET, "/api/v1/me", None, None).await;
    let id = |r: &crate::helpers::Response| {
        r.headers
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (a, b) = (
        id(&a).expect("request id"),
        id(&b).expect("request id on errors"),
    );
    assert_ne!(a, b);
    assert!(uuid::Uuid::parse_str(&a).is_ok());
}

#[tokio::test]
async fn swagger_ui_and_the_document_are_served() {
    let app = TestApp::spawn().await;
    let docs = app.request(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status.as_u16(), 200);
    assert!(
        docs.text.contains("swagger-ui"),
        "{}",
        &docs.text[..docs.text.len().min(300)]
    );
    let bundle = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(bundle.status.as_u16(), 200, "vendored assets");
    let doc = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status.as_u16(), 200);
    assert_eq!(doc.body["info"]["title"], "Pass Numérique");
}
