//! Serving: the app's files gzipped (once, at build time) for a client that accepts
//! it, with their own strong ETag; large API answers gzipped, small ones untouched;
//! production refuses to start while `public_url` points to this machine, and
//! development warns at start.

use std::io::Read as _;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, IF_NONE_MATCH, VARY};
use serde_json::json;

use crate::helpers::TestApp;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

async fn fetch(
    app: &TestApp,
    path: &str,
    headers: &[(reqwest::header::HeaderName, &str)],
) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    req.send().await.expect("answer")
}

#[tokio::test]
async fn app_files_come_gzipped_to_a_client_that_accepts_it_with_their_own_etag() {
    let app = TestApp::spawn().await;
    for path in ["/app/vendor/jsqr.js", "/app/style.css", "/", "/site"] {
        let plain = fetch(&app, path, &[]).await;
        assert_eq!(plain.status(), StatusCode::OK, "{path}");
        assert!(plain.headers().get(CONTENT_ENCODING).is_none(), "{path}");
        assert_eq!(plain.headers()[VARY], "Accept-Encoding", "{path}");
        let plain_etag = plain.headers()[ETAG].clone();
        let plain = plain.bytes().await.unwrap();

        let zipped = fetch(&app, path, &[(ACCEPT_ENCODING, "gzip, deflate, br")]).await;
        assert_eq!(zipped.status(), StatusCode::OK, "{path}");
        assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip", "{path}");
        assert_eq!(zipped.headers()[VARY], "Accept-Encoding", "{path}");
        assert_eq!(
            zipped.headers()["cache-control"],
            "no-cache",
            "{path}: revalidated as before"
        );
        let zipped_etag = zipped.headers()[ETAG].clone();
        assert_ne!(
            zipped_etag, plain_etag,
            "{path}: one strong ETag per encoding"
        );
        assert!(zipped_etag.to_str().unwrap().starts_with('"'), "strong");
        let zipped = zipped.bytes().await.unwrap();
        assert_eq!(
            gunzip(&zipped),
            plain,
            "{path}: the same bytes once decoded"
        );
        if path == "/app/vendor/jsqr.js" {
            assert!(plain.len() > 200_000, "{}", plain.len());
            assert!(zipped.len() < 80_000, "jsqr.js gzipped: {}", zipped.len());
        }

        // 304 for the representation the client holds, and only for it.
        let again = fetch(
            &app,
            path,
            &[
                (ACCEPT_ENCODING, "gzip"),
                (IF_NONE_MATCH, zipped_etag.to_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()[VARY], "Accept-Encoding", "{path}");
        let other = fetch(
            &app,
            path,
            &[(IF_NONE_MATCH, zipped_etag.to_str().unwrap())],
        )
        .await;
        assert_eq!(
            other.status(),
            StatusCode::OK,
            "{path}: plain is another representation"
        );
        assert_eq!(other.bytes().await.unwrap(), plain);
        let refused = fetch(&app, path, &[(ACCEPT_ENCODING, "gzip;q=0, identity")]).await;
        assert!(refused.headers().get(CONTENT_ENCODING).is_none(), "{path}");
    }
    // Images are sent as they are.
    let icon = fetch(&app, "/app/icon.svg", &[(ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(icon.status(), StatusCode::OK);
}

#[tokio::test]
async fn large_api_answers_are_gzipped_and_small_ones_are_left_alone() {
    let app = TestApp::spawn().await;
    // The OpenAPI document: well above the threshold.
    let plain = fetch(&app, "/openapi.json", &[]).await;
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() as u64 > passnum::web::COMPRESS_FROM_BYTES);
    let zipped = fetch(&app, "/openapi.json", &[(ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(zipped.headers()[VARY], "Accept-Encoding");
    let zipped = zipped.bytes().await.unwrap();
    assert!(
        zipped.len() * 3 < plain.len(),
        "{} of {}",
        zipped.len(),
        plain.len()
    );
    assert_eq!(gunzip(&zipped), plain);

    // Small answers (a login, a refusal, a scan's answer) pass as they are.
    let operator = app.operator().await;
    let me = fetch(
        &app,
        "/api/v1/me",
        &[
            (ACCEPT_ENCODING, "gzip"),
            (
                reqwest::header::AUTHORIZATION,
                &format!("Bearer {}", operator.token),
            ),
        ],
    )
    .await;
    assert_eq!(me.status(), StatusCode::OK);
    assert!(me.headers().get(CONTENT_ENCODING).is_none());
    assert!(me.headers().get(VARY).is_none());
    let refused = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header(ACCEPT_ENCODING, "gzip")
        .json(&json!({"email": "nobody@example.org", "password": "wrong-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get(CONTENT_ENCODING).is_none());
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["code"].is_string(), "{body}");
}

fn serve_in_production(public_url: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passnum"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PASSNUM_PUBLIC_URL")
        .env("PASSNUM_ENV", "production")
        .envs(crate::helpers::OPERATOR_IDENTITY)
        .env("PASSNUM_LOG_LEVEL", "warn")
        // Nothing listens there: a start that gets past the configuration stops at
        // the database.
        .env("DATABASE_URL", "postgres://passnum:x@127.0.0.1:1/passnum")
        .env("PASSNUM_TOKEN_SECRET", passnum::secrets::random_hex(32))
        .env(
            "PASSNUM_TICKET_KEYS",
            format!("k1:{}", passnum::secrets::random_hex(32)),
        )
        .stdin(Stdio::null())
        .arg("serve");
    if let Some(url) = public_url {
        cmd.env("PASSNUM_PUBLIC_URL", url);
    }
    let out = cmd.output().expect("passnum runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn production_refuses_to_start_without_a_public_url() {
    let (ok, err) = serve_in_production(None);
    assert!(!ok);
    assert!(
        err.contains("PASSNUM_PUBLIC_URL") && err.contains("127.0.0.1:8080"),
        "{err}"
    );
    let (ok, err) = serve_in_production(Some("http://localhost:8080"));
    assert!(!ok);
    assert!(err.contains("PASSNUM_PUBLIC_URL"), "{err}");
    // Given one, the configuration passes (and the start stops at the database).
    let (ok, err) = serve_in_production(Some("https://pass.example.org"));
    assert!(!ok, "no database there");
    assert!(!err.contains("PASSNUM_PUBLIC_URL"), "{err}");
}

/// `passnum serve` in development on a free port, until it accepts connections; its
/// logs (stdout and stderr) once stopped.
fn serve_in_development(database_url: &str, public_url: Option<&str>) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passnum"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PASSNUM_PUBLIC_URL")
        .env_remove("PASSNUM_ENV")
        .env("DATABASE_URL", database_url)
        .env("PASSNUM_BIND", format!("127.0.0.1:{port}"))
        .env("PASSNUM_DAILY_JOBS", "false")
        .env("PASSNUM_MAIL_WORKER", "false")
        .env("PASSNUM_LOG_LEVEL", "warn")
        .env("PASSNUM_LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .arg("serve");
    if let Some(url) = public_url {
        cmd.env("PASSNUM_PUBLIC_URL", url);
    }
    let mut server = cmd.spawn().expect("serve starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut listening = false;
    while !listening && std::time::Instant::now() < deadline {
        listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(listening, "the server did not start: {logs}");
    logs
}

#[test]
fn development_warns_at_start_while_public_url_points_to_this_machine() {
    let db = crate::helpers::TestDatabase::new();
    let logs = serve_in_development(&db.url, None);
    assert!(logs.contains("PASSNUM_PUBLIC_URL is not set"), "{logs}");
    let logs = serve_in_development(&db.url, Some("https://pass.example.org"));
    assert!(!logs.contains("PASSNUM_PUBLIC_URL"), "{logs}");
}
