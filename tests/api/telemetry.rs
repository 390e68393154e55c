//! Nothing secret in the logs of the real binary, and metric labels that nobody can
//! grow by inventing methods or paths.

use std::process::Stdio;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestDatabase};
use crate::secrets::{DataDir, Server, passnum};

#[tokio::test]
async fn request_lines_are_logged_with_their_secrets_redacted_and_bodies_never() {
    let data = DataDir::new("logs");
    std::fs::create_dir_all(&data.0).unwrap();
    let log_path = data.0.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let db = TestDatabase::new();
    let mut server = Server::start({
        let mut cmd = passnum(&data.0, None);
        cmd.env("DATABASE_URL", &db.url)
            .env("PASSNUM_LOG_LEVEL", "debug")
            .env("PASSNUM_LOG_FORMAT", "json")
            .stderr(Stdio::from(log));
        cmd
    })
    .await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let send = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let mut req = client.request(method, format!("{base}{path}"));
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let secrets = [
        "SECRETINVITATIONTOKEN1",
        "SECRETCODEPN1XYZ2",
        "SECRETSERIAL3",
        "SECRETPASSWORDQUERY4",
        "SECRETBODYTOKEN5",
        "SECRETBODYPASSWORD6",
        "SECRETLOGINPASSWORD7",
        "SECRETRESETTOKEN8",
    ];
    assert_eq!(
        send(
            Method::GET,
            &format!("/invitation?token={}", secrets[0]),
            None
        )
        .await,
        200
    );
    send(
        Method::GET,
        &format!(
            "/api/v1/redemptions?code={}&serial={}&from=2026-01-01",
            secrets[1], secrets[2]
        ),
        None,
    )
    .await;
    send(
        Method::GET,
        &format!(
            "/api/v1/public/sites?postcode=70000&Password={}",
            secrets[3]
        ),
        None,
    )
    .await;
    send(
        Method::POST,
        "/api/v1/auth/invitations/accept",
        Some(json!({"token": secrets[4], "password": secrets[5]})),
    )
    .await;
    assert_eq!(
        send(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"email": "someone@example.org", "password": secrets[6]})),
        )
        .await,
        401
    );
    // A token as a percent-encoded name is still a token.
    send(
        Method::GET,
        &format!("/mot-de-passe?%74oken={}", secrets[7]),
        None,
    )
    .await;
    server.stop();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    for secret in secrets {
        assert!(!logs.contains(secret), "{secret} is in the log:\n{logs}");
    }
    for redacted in [
        "/invitation?token=[REDACTED]",
        "code=[REDACTED]&serial=[REDACTED]&from=2026-01-01",
        "Password=[REDACTED]",
        "%74oken=[REDACTED]",
    ] {
        assert!(logs.contains(redacted), "{redacted} in the log:\n{logs}");
    }
    assert!(
        logs.contains("/api/v1/auth/login"),
        "the login request is logged:\n{logs}"
    );
}

#[tokio::test]
async fn metric_labels_stay_bounded_whatever_the_method_or_path() {
    let app = TestApp::spawn().await;
    let invented = uuid::Uuid::new_v4().simple().to_string();
    let paths = [
        format!("/{invented}"),
        format!("/api/v1/{invented}"),
        format!("/api/v1/organizations/{invented}/{invented}"),
        format!("/app/{invented}.js"),
    ];
    for method in ["FOOBAR", "BREW", "GET", "POST"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for path in paths.iter().chain([&"/api/v1/organizations".to_string()]) {
            let _ = app
                .raw(
                    app.client
                        .request(method.clone(), format!("{}{path}", app.address)),
                )
                .await;
        }
    }
    let metrics = app
        .raw(app.client.get(format!("{}/metrics", app.address)))
        .await;
    assert_eq!(metrics.status.as_u16(), 200);
    let text = metrics.text;
    for label in ["FOOBAR", "BREW", invented.as_str()] {
        assert!(!text.contains(label), "{label} became a label:\n{text}");
    }
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    assert!(
        text.contains(r#"route="/api/v1/organizations""#),
        "known routes keep their template:\n{text}"
    );
    // Every route label is a template of the application or `unmatched`.
    for line in text
        .lines()
        .filter(|l| l.starts_with("passnum_http_requests_total{"))
    {
        let route = line
            .split("route=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            route == "unmatched" || route.starts_with('/') && !route.contains(&invented),
            "{line}"
        );
    }
}
