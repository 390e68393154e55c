//! What the benchmark programs share: where their database lives, the release
//! server run as a child process, the usual organisations, and the measuring kit
//! ([`load`]: concurrent clients and their figures; [`observe`]: where the CPU and
//! the database's time went; [`pgbench`]: the baseline). Each program uses part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod load;
pub mod observe;
pub mod pgbench;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passnum::domain::{Email, OrgKind, Postcode, Role};
use passnum::organizations::{self, NewOrganization, NewUser, Organization, User};
use passnum::pg_cluster::{self, Durability};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Value, json};
use uuid::Uuid;

/// How a database of the bench server is reached.
pub type UrlOf = Box<dyn Fn(&str) -> String>;

/// The PostgreSQL server the benchmarks use.
pub struct BenchServer {
    /// URL of the maintenance database, as a superuser.
    pub admin_url: String,
    /// URL of a database by name.
    pub url_of: UrlOf,
    /// The data folder of the private cluster; `None` with `BENCH_DATABASE_URL`
    /// (its processes and log are not ours to watch).
    pub data_dir: Option<PathBuf>,
}

/// `BENCH_DATABASE_URL`'s server, or the private durable cluster under
/// `.data/bench/postgres` (started if needed).
pub fn bench_server() -> BenchServer {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => {
            let base = url.rsplit_once('/').unwrap().0.to_string();
            BenchServer {
                admin_url: format!("{base}/postgres"),
                url_of: Box::new(move |db| format!("{base}/{db}")),
                data_dir: None,
            }
        }
        Err(_) => {
            let root =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".data/bench/postgres");
            let cluster = pg_cluster::ensure_running(&root, Durability::Durable).unwrap();
            let c2 = cluster.clone();
            BenchServer {
                admin_url: cluster.url("postgres"),
                url_of: Box::new(move |db| c2.url(db)),
                data_dir: Some(cluster.data_dir()),
            }
        }
    }
}

/// The admin URL of [`bench_server`] and the URL of a database by name.
pub fn database_urls() -> (String, UrlOf) {
    let server = bench_server();
    (server.admin_url, server.url_of)
}

/// Creates the database `name` on the server of `admin`.
pub async fn create_database(admin: &mut AsyncPgConnection, name: &str) {
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(admin)
        .await
        .unwrap();
}

/// The release server child, stopped (SIGTERM, then SIGKILL) when dropped, also on
/// a panic of the bench.
pub struct ServerChild(pub Child);

impl ServerChild {
    pub fn stop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `passnum` binary `cargo bench` built, or `PASSNUM_BENCH_BIN`.
pub fn server_binary() -> PathBuf {
    match std::env::var("PASSNUM_BENCH_BIN") {
        Ok(path) => PathBuf::from(path),
        Err(_) => PathBuf::from(env!("CARGO_BIN_EXE_passnum")),
    }
}

/// Starts `passnum serve` (the release binary) on a free loopback port over the
/// database at `url`, with warn-level logs and the benches' own data folder, plus
/// `env`; waits until `/readyz` answers. Returns the child and the base URL.
pub async fn start_server(
    url: &str,
    env: &[(&str, String)],
    client: &reqwest::Client,
) -> (ServerChild, String) {
    let binary = server_binary();
    let port = free_port();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut server = ServerChild(
        Command::new(&binary)
            .arg("serve")
            .current_dir(manifest)
            .env("DATABASE_URL", url)
            .env("PASSNUM_BIND", format!("127.0.0.1:{port}"))
            .env("PASSNUM_CONFIG_DIR", manifest.join("config"))
            .env("PASSNUM_DATA_DIR", manifest.join(".data/bench/files"))
            .env("PASSNUM_LOG_LEVEL", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display())),
    );
    let base = format!("http://127.0.0.1:{port}");
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("the server exited before it was ready: {status}");
        }
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            Instant::now() < ready_by,
            "the server was not ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, base)
}

/// Logs in through the API; returns the access token.
pub async fn login(client: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_string()
}

/// A random alphanumeric secret of `len` characters.
pub fn random_secret(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The CPU's model name, from `/proc/cpuinfo` (empty when unknown).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default()
}

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`, else 100).
pub fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An organisation of the benches' département (Vesoul, 70000), with an e-mail of its own.
pub fn org(kind: OrgKind, name: &str) -> NewOrganization {
    NewOrganization {
        kind,
        name: name.into(),
        email: Email::parse("email", &format!("{}@example.org", Uuid::new_v4().simple())).unwrap(),
        postcode: Postcode::parse("postcode", "70000").unwrap(),
        city: "Vesoul".into(),
        address: None,
        siret: None,
        coordinates: None,
    }
}

/// A prescriber (a CCAS) and one agent of it, without a password.
pub async fn prescriber_with_agent(
    conn: &mut AsyncPgConnection,
    agent_email: &str,
) -> (Organization, User) {
    let prescriber = organizations::create_organization(conn, &org(OrgKind::Prescriber, "CCAS"))
        .await
        .unwrap();
    let agent = organizations::create_user(
        conn,
        passnum::audit::Actor::Service("bench"),
        &NewUser {
            organization_id: prescriber.id,
            email: Email::parse("email", agent_email).unwrap(),
            password_hash: None,
            role: Role::Agent,
        },
    )
    .await
    .unwrap();
    (prescriber, agent)
}
