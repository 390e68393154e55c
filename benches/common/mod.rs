//! What the benchmark programs share: where their database lives, and the release
//! server run as a child process. Each program uses part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use passnum::domain::{Email, OrgKind, Postcode, Role};
use passnum::organizations::{self, NewOrganization, NewUser, Organization, User};
use passnum::pg_cluster::{self, Durability};
use uuid::Uuid;

/// How a database of the bench server is reached.
pub type UrlOf = Box<dyn Fn(&str) -> String>;

/// The server the benchmarks use: `BENCH_DATABASE_URL`'s, or the private durable
/// cluster under `.data/bench/postgres`. Returns the admin URL and the URL of a
/// database by name.
pub fn database_urls() -> (String, UrlOf) {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => {
            let base = url.rsplit_once('/').unwrap().0.to_string();
            (
                format!("{base}/postgres"),
                Box::new(move |db| format!("{base}/{db}")),
            )
        }
        Err(_) => {
            let root =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".data/bench/postgres");
            let cluster = pg_cluster::ensure_running(&root, Durability::Durable).unwrap();
            let c2 = cluster.clone();
            (cluster.url("postgres"), Box::new(move |db| c2.url(db)))
        }
    }
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
