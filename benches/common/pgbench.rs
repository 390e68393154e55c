//! pgbench, the baseline the benchmarks compare the service with: the command (as
//! the `postgres` user when run as root), a checkpoint before a window, and one
//! observed window of pgbench's TPC-B-like script.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::observe::{Observation, observe};

/// Host, port and password of a `postgres://user:password@host:port/db` URL.
pub struct ServerAddress {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: String,
}

pub fn parse_url(url: &str) -> ServerAddress {
    let rest = url.split_once("://").unwrap().1;
    let (credentials, location) = rest.rsplit_once('@').unwrap();
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let host_port = location.split('/').next().unwrap();
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
    ServerAddress {
        user: user.into(),
        password: password.into(),
        host: host.into(),
        port: port.into(),
    }
}

pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

pub fn pgbench_command(pg_bin: &Path, server: &ServerAddress, db: &str, args: &[&str]) -> Command {
    let pgbench = pg_bin.join("pgbench");
    let mut cmd = if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(pgbench);
        cmd
    } else {
        Command::new(pgbench)
    };
    cmd.current_dir("/")
        .env("PGPASSWORD", &server.password)
        .args(["-h", &server.host, "-p", &server.port, "-U", &server.user])
        .args(args)
        .arg(db);
    cmd
}

pub async fn checkpoint(admin: &mut AsyncPgConnection) {
    diesel::sql_query("CHECKPOINT")
        .execute(admin)
        .await
        .unwrap();
}

pub struct PgbenchRun {
    pub tps: f64,
    pub latency_ms: f64,
    /// pgbench's line on failed transactions.
    pub failed: String,
    pub observation: Observation,
}

/// One pgbench window of `seconds` with `clients`, observed from its first second.
pub async fn pgbench_window(
    pg_bin: &Path,
    server: &ServerAddress,
    db: &str,
    admin_url: &str,
    postmaster: Option<u32>,
    (clients, seconds): (usize, u64),
) -> PgbenchRun {
    let round = seconds;
    let clients = clients.to_string();
    let seconds = seconds.to_string();
    let args = [
        "-c", &clients, "-j", "2", "-T", &seconds, "-M", "prepared", "-n",
    ];
    let child = pgbench_command(pg_bin, server, db, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watcher = observe(
        admin_url.to_string(),
        db.to_string(),
        Duration::from_secs(1),
        Duration::from_secs(round - 1),
        postmaster,
        None,
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "pgbench failed: {text}");
    PgbenchRun {
        tps: parse_after(&text, "tps = ").expect("tps in pgbench's output"),
        latency_ms: parse_after(&text, "latency average = ").expect("latency in pgbench's output"),
        failed: text
            .lines()
            .find(|l| l.starts_with("number of failed transactions"))
            .unwrap_or("failures not reported")
            .to_string(),
        observation: watcher.await.unwrap(),
    }
}

pub fn parse_after(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
