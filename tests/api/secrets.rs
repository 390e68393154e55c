//! Signing secrets of the real binary: made on first start when none is configured,
//! kept private in the data folder and reused; nothing published signs anything the
//! service accepts; production refuses to start without its own.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use passnum::codes::{CodeKeys, Serial};
use serde_json::{Value, json};

use crate::helpers::TestDatabase;

const OLD_DEV_TOKEN_SECRET: &str = "development-token-secret-not-for-production-use";
const OLD_DEV_TICKET_KEY: &str = "development-ticket-key-not-for-production-use";

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh data folder, removed when dropped.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new(what: &str) -> DataDir {
        DataDir(manifest().join(format!(
            ".data/test-{what}-{}",
            uuid::Uuid::new_v4().simple()
        )))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with no secret in its environment, `PASSNUM_ENV` as given.
pub fn passnum(data_dir: &Path, environment: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passnum"));
    cmd.current_dir(manifest())
        .env_remove("DATABASE_URL")
        .env_remove("PASSNUM_ENV")
        .env_remove("PASSNUM_TOKEN_SECRET")
        .env_remove("PASSNUM_TICKET_KEYS")
        .env("PASSNUM_DATA_DIR", data_dir)
        .env("PASSNUM_LOG_LEVEL", "warn")
        .env("PASSNUM_MAIL_WORKER", "false")
        .stdin(Stdio::null());
    if let Some(environment) = environment {
        cmd.env("PASSNUM_ENV", environment)
            .envs(crate::helpers::OPERATOR_IDENTITY);
    }
    cmd
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `passnum serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts `cmd serve` on a free port and waits until it is ready.
    pub async fn start(mut cmd: Command) -> Server {
        let port = free_port();
        let child = cmd
            .env("PASSNUM_BIND", format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdout(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited before it was ready: {status}");
            }
            let ready = client
                .get(format!("{}/readyz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return server;
            }
            assert!(Instant::now() < deadline, "the server never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn login(base: &str, email: &str) -> String {
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": passnum::demo::DEMO_PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "login {email}: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// Every string written between quotes in `config/`.
fn strings_in_config() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(manifest().join("config")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        found.extend(text.split('"').skip(1).step_by(2).map(str::to_string));
    }
    assert!(!found.is_empty());
    found
}

fn sign_token(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn secrets_file(data_dir: &Path) -> PathBuf {
    data_dir.join(passnum::secrets::FILE_NAME)
}

/// (a) and (b): with `PASSNUM_ENV` unset, then `development`, on a fresh data folder.
#[tokio::test]
async fn without_configured_secrets_the_service_makes_private_ones_and_refuses_published_ones() {
    for environment in [None, Some("development")] {
        let case = format!("PASSNUM_ENV={environment:?}");
        let data = DataDir::new("secrets");
        let db = TestDatabase::new();
        // `demo` is a command that needs the secrets too: it makes them.
        let out = passnum(&data.0, environment)
            .env("DATABASE_URL", &db.url)
            .arg("demo")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let accounts = String::from_utf8_lossy(&out.stdout).into_owned();
        let site_agent = accounts
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("site"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("a site account in {accounts}"))
            .to_string();
        let file = secrets_file(&data.0);
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{case}: {} made: {e}", file.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{case}: the secrets file is private");
        let content = std::fs::read(&file).unwrap();

        let mut server = Server::start({
            let mut cmd = passnum(&data.0, environment);
            cmd.env("DATABASE_URL", &db.url);
            cmd
        })
        .await;
        let base = server.base.clone();
        let operator = login(&base, "operateur@example.org").await;
        let organizations = format!("{base}/api/v1/organizations");
        let (status, me) = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/me"),
            Some(&operator),
            None,
        )
        .await;
        assert_eq!(status, 200, "{case}: {me}");

        // Tokens for the real operator, signed with everything that was ever public.
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "sub": me["user_id"], "org": me["organization"]["id"], "kind": "operator",
            "role": "admin", "iat": now, "exp": now + 600,
        });
        let mut published: Vec<String> =
            vec![OLD_DEV_TOKEN_SECRET.into(), OLD_DEV_TICKET_KEY.into()];
        published.extend(strings_in_config());
        published.extend(
            passnum::secrets::public_values()
                .iter()
                .map(|s| s.to_string()),
        );
        for secret in &published {
            let (status, body) = call(
                reqwest::Method::GET,
                organizations.clone(),
                Some(&sign_token(secret, &claims)),
                None,
            )
            .await;
            assert_eq!(
                status, 401,
                "{case}: a token signed with {secret:?}: {body}"
            );
            assert_eq!(body["code"], "unauthenticated", "{case}");
        }
        let (status, _) = call(
            reqwest::Method::GET,
            organizations.clone(),
            Some(&operator),
            None,
        )
        .await;
        assert_eq!(status, 200, "{case}: the real token works");

        // A real ticket of the demo, and the same ticket signed with the old key.
        let prescriber = login(&base, "agent.ccas-vesoul@example.org").await;
        let (status, books) = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/checkbooks"),
            Some(&prescriber),
            None,
        )
        .await;
        assert_eq!(status, 200, "{case}: {books}");
        let ticket = books["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["status"] == "handed_out")
            .map(|b| b["tickets"][0].clone())
            .unwrap_or_else(|| panic!("{case}: a handed-out checkbook in {books}"));
        let serial = Serial::parse(ticket["serial"].as_str().unwrap()).unwrap();
        let site = login(&base, &site_agent).await;
        let verify = |code: String| {
            call(
                reqwest::Method::POST,
                format!("{base}/api/v1/tickets/verify"),
                Some(&site),
                Some(json!({ "code": code })),
            )
        };
        let (status, body) = verify(ticket["code"].as_str().unwrap().to_string()).await;
        assert_eq!(status, 200, "{case}: the real code verifies: {body}");
        let generated_id = passnum::secrets::GENERATED_KEY_ID;
        for (id, key) in [
            ("dev1", OLD_DEV_TICKET_KEY),
            (generated_id, OLD_DEV_TICKET_KEY),
        ] {
            let forged = CodeKeys::new(vec![(id.into(), key.into())])
                .unwrap()
                .sign(&serial, 1000);
            let (status, body) = verify(forged.clone()).await;
            assert_eq!(
                status, 422,
                "{case}: {forged} signed with the old key: {body}"
            );
            assert_eq!(body["code"], "invalid_code", "{case}");
        }

        // (b) Restarted: the same file, untouched, and the token from before still works.
        server.stop();
        let server = Server::start({
            let mut cmd = passnum(&data.0, environment);
            cmd.env("DATABASE_URL", &db.url);
            cmd
        })
        .await;
        let (status, body) = call(
            reqwest::Method::GET,
            format!("{}/api/v1/organizations", server.base),
            Some(&operator),
            None,
        )
        .await;
        assert_eq!(status, 200, "{case}: the token survives a restart: {body}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            content,
            "{case}: never rewritten"
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{case}");
    }
}

/// (c) Production never falls back to the data folder's secrets, and a published
/// secret is refused whatever the environment, naming the setting.
#[test]
fn production_needs_its_own_secrets_and_published_ones_are_refused_everywhere() {
    let data = DataDir::new("secrets-prod");
    // A development start made the data folder's secrets…
    let out = passnum(&data.0, None)
        .env("DATABASE_URL", "postgres://unused@127.0.0.1:1/x")
        .arg("migrate")
        .output()
        .unwrap();
    let _ = out; // the database is unreachable: only the secrets matter here
    assert!(secrets_file(&data.0).exists());
    // …which production does not use.
    let out = passnum(&data.0, Some("production"))
        .env("DATABASE_URL", "postgres://unused@127.0.0.1:1/x")
        .arg("serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("PASSNUM_TOKEN_SECRET"), "{err}");

    let random = passnum::secrets::random_hex(32);
    for environment in [None, Some("development"), Some("production")] {
        for (name, value) in [
            ("PASSNUM_TOKEN_SECRET", OLD_DEV_TOKEN_SECRET.to_string()),
            ("PASSNUM_TICKET_KEYS", format!("dev1:{OLD_DEV_TICKET_KEY}")),
        ] {
            let mut cmd = passnum(&data.0, environment);
            cmd.env("DATABASE_URL", "postgres://unused@127.0.0.1:1/x")
                .env("PASSNUM_TOKEN_SECRET", &random)
                .env("PASSNUM_TICKET_KEYS", format!("k1:{random}"))
                .env(name, &value);
            let out = cmd.arg("serve").output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{environment:?} {name}: {err}");
            assert!(
                err.contains(name) && err.contains("published"),
                "{environment:?} {name}: {err}"
            );
            assert!(!err.contains(&random), "a secret is never printed: {err}");
        }
    }
}
