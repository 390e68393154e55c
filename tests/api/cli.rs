//! The `passnum` binary: bootstrap commands, the demo, configuration refusals, and
//! the private PostgreSQL started when no DATABASE_URL is given.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TestDatabase;

fn passnum() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passnum"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("PASSNUM_ENV")
        .env("PASSNUM_LOG_LEVEL", "warn")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("passnum runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn create_operator_once_then_refuses_the_same_email() {
    let db = TestDatabase::new();
    let create = |email: &str| {
        run(passnum().env("DATABASE_URL", &db.url).args([
            "create-operator",
            "--email",
            email,
            "--password",
            "operator-password-1",
        ]))
    };
    let (ok, out, err) = create("admin@hub.example.org");
    assert!(ok, "first run: {err}");
    assert!(
        uuid::Uuid::parse_str(out.trim()).is_ok(),
        "prints the operator's id: {out:?}"
    );
    let (ok, _, err) = create("ADMIN@hub.example.org");
    assert!(!ok, "the same e-mail twice must fail");
    assert!(err.contains("existe déjà"), "clear message: {err}");
    // A second admin for the same operator is fine.
    let (ok, out2, err) = create("second@hub.example.org");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), out2.trim(), "one operator organisation");

    let (ok, _, err) = run(passnum().env("DATABASE_URL", &db.url).args([
        "create-operator",
        "--email",
        "x",
        "--password",
        "short",
    ]));
    assert!(!ok);
    assert!(err.contains("--email"), "{err}");
}

#[test]
fn migrate_is_idempotent_and_demo_fills_an_empty_database_once() {
    let db = TestDatabase::new();
    let (ok, out, err) = run(passnum().env("DATABASE_URL", &db.url).arg("migrate"));
    assert!(ok, "{err}");
    assert!(
        out.contains("0 migration(s) applied"),
        "the clone is already migrated: {out}"
    );
    let (ok, out, err) = run(passnum().env("DATABASE_URL", &db.url).arg("demo"));
    assert!(ok, "{err}");
    assert!(
        out.contains("operateur@example.org") && out.contains(passnum::demo::DEMO_PASSWORD),
        "{out}"
    );
    for kind in ["funder", "prescriber", "site"] {
        assert!(out.contains(kind), "{out}");
    }
    assert!(out.contains("Program: Pass Numérique Haute-Saône"), "{out}");
    let (ok, out, _) = run(passnum().env("DATABASE_URL", &db.url).arg("demo"));
    assert!(ok);
    assert!(out.contains("already"), "{out}");
}

#[test]
fn production_refuses_default_or_missing_secrets_and_says_which() {
    let random = passnum::secrets::random_hex(32);
    let (ok, _, err) = run(passnum()
        .env("PASSNUM_ENV", "production")
        .envs(crate::helpers::OPERATOR_IDENTITY)
        .env("DATABASE_URL", "postgres://unused")
        .arg("serve"));
    assert!(!ok);
    assert!(err.contains("PASSNUM_TOKEN_SECRET"), "{err}");
    let (ok, _, err) = run(passnum()
        .env("PASSNUM_ENV", "production")
        .envs(crate::helpers::OPERATOR_IDENTITY)
        .env("DATABASE_URL", "postgres://unused")
        .env(
            "PASSNUM_TOKEN_SECRET",
            "development-token-secret-not-for-production-use",
        )
        .arg("serve"));
    assert!(!ok);
    assert!(
        err.contains("PASSNUM_TOKEN_SECRET") && err.contains("development"),
        "{err}"
    );
    let (ok, _, err) = run(passnum()
        .env("PASSNUM_ENV", "production")
        .envs(crate::helpers::OPERATOR_IDENTITY)
        .env("DATABASE_URL", "postgres://unused")
        .env("PASSNUM_TOKEN_SECRET", &random)
        .arg("serve"));
    assert!(!ok);
    assert!(err.contains("PASSNUM_TICKET_KEYS"), "{err}");
    assert!(!err.contains(&random), "a secret is never printed: {err}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_ready(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::blocking_get(&format!("http://127.0.0.1:{port}/readyz")) == Ok(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

mod reqwest {
    /// A tiny blocking GET for a test that runs outside an async runtime.
    pub fn blocking_get(url: &str) -> Result<u16, ()> {
        let url = url.to_string();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|_| ())?
                .block_on(async {
                    ::reqwest::get(&url)
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|_| ())
                })
        })
        .join()
        .map_err(|_| ())?
    }
}

/// Without DATABASE_URL, `serve` starts a private cluster in the data folder, and a
/// second start reuses it with its data.
#[test]
fn serve_without_database_url_runs_its_own_postgresql_and_keeps_the_data() {
    let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        ".data/test-serve-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let port = free_port();
    let serve = || {
        passnum()
            .env("PASSNUM_DATA_DIR", &data_dir)
            .env("PASSNUM_BIND", format!("127.0.0.1:{port}"))
            .env("PASSNUM_LOG_FORMAT", "json")
            .env("PASSNUM_LOG_LEVEL", "info")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts")
    };
    let mut server = serve();
    let ready = wait_ready(port);
    let _ = reqwest::blocking_get(&format!("http://127.0.0.1:{port}/api/v1/me"));
    server.kill().unwrap();
    let output = server.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        ready,
        "the server became ready on its own PostgreSQL: {logs}"
    );
    // Structured logs: JSON lines, requests with their id.
    let request_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l.to_string().contains("/api/v1/me"))
        .unwrap_or_else(|| panic!("a JSON log line for the request: {logs}"));
    assert!(
        request_line.to_string().contains("request_id"),
        "{request_line}"
    );

    let (ok, _, err) = run(passnum().env("PASSNUM_DATA_DIR", &data_dir).args([
        "create-operator",
        "--email",
        "kept@example.org",
        "--password",
        "operator-password-1",
    ]));
    assert!(ok, "{err}");
    // Started again: same cluster, the operator is still there.
    let mut server = serve();
    assert!(wait_ready(port));
    server.kill().unwrap();
    let _ = server.wait();
    let (ok, _, err) = run(passnum().env("PASSNUM_DATA_DIR", &data_dir).args([
        "create-operator",
        "--email",
        "kept@example.org",
        "--password",
        "operator-password-1",
    ]));
    assert!(
        !ok && err.contains("existe déjà"),
        "the data survived the restart: {err}"
    );

    let (ok, out, err) = run(passnum()
        .env("PASSNUM_DATA_DIR", &data_dir)
        .arg("stop-database"));
    assert!(ok && out.contains("stopped"), "{out} {err}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn settle_and_expire_are_safe_to_run_from_cron() {
    let db = TestDatabase::new();
    let run_with = |args: &[&str]| run(passnum().env("DATABASE_URL", &db.url).args(args));
    let (ok, out, err) = run_with(&["settle", "--period", "2026-01"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("2026-01-01 to 2026-01-31") && out.contains("0 statement(s)"),
        "{out}"
    );
    let (ok, out, err) = run_with(&["settle", "--period", "2026-01"]);
    assert!(ok, "a second run is not an error: {err}");
    assert!(out.contains("already settled"), "{out}");
    let (ok, _, err) = run_with(&["settle", "--period", "2026-13"]);
    assert!(!ok && err.contains("YYYY-MM"), "{err}");
    let (ok, out, err) = run_with(&["expire"]);
    assert!(ok, "{err}");
    assert!(out.contains("no ticket to expire"), "{out}");
}
