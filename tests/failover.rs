//! Failover and graceful stop, proven on real PostgreSQL clusters made here and real
//! `passnum serve` processes (the binary of this build), as production runs them.
//!
//! - `scanning_survives_a_killed_node_a_promoted_standby_and_a_database_restart`: a
//!   primary and a synchronous streaming standby (`pg_basebackup -R`,
//!   `synchronous_standby_names`), two nodes on one multi-host `DATABASE_URL`
//!   (`target_session_attrs=read-write`), scanners that retry with the same
//!   `Idempotency-Key` on the other node. Faults: `kill -9` of a node, an immediate
//!   stop of the primary then the promotion of the standby, a restart of the (new)
//!   primary. Every acknowledged scan is on the new primary, none twice, no 500, the
//!   ledger's invariants and the cover hold; the time scanning was unavailable is
//!   printed (`cargo test --test failover -- --nocapture`).
//! - `sigterm_drains_the_requests_in_flight_and_the_mail_worker_gives_back_its_mails`:
//!   SIGTERM under load, with slow requests (held by a row lock) and a slow SMTP
//!   server: new connections are refused at once, every request sent is answered in
//!   full or refused at connect, and no mail is left claimed.
//! - `a_scan_is_answered_only_once_its_commit_is_durable_on_the_standby`: with a
//!   synchronous standby that does not answer, a scan waits; the primary stopped at
//!   once then, the scan is not answered 201 (a failover would have lost it).
//!
//! As root (CI), the clusters run as the `postgres` user, as `src/pg_cluster.rs` does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::distributions::Alphanumeric;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_passnum");
const PASSWORD: &str = "a-long-test-password";
const OPERATOR: &str = "operator@example.org";

fn random(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn running_as_root() -> bool {
    passnum::pg_cluster::running_as_root()
}

/// A PostgreSQL server binary, run as `postgres` when we are root.
fn pg_command(program: &str) -> Command {
    let bin = passnum::pg_cluster::bin_dir().expect("PostgreSQL server binaries");
    let mut cmd = Command::from(passnum::pg_cluster::server_command(&bin.join(program)));
    cmd.stdin(Stdio::null());
    cmd
}

async fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A folder of its own under the system's temporary folder, removed when dropped
/// after the clusters in it are stopped.
struct Workdir {
    path: PathBuf,
    clusters: Mutex<Vec<PathBuf>>,
}

impl Workdir {
    fn new(name: &str) -> Workdir {
        let path = std::env::temp_dir().join(format!("passnum-{name}-{}", &random(8)));
        std::fs::create_dir_all(&path).expect("work folder");
        if running_as_root() {
            let ok = std::process::Command::new("chown")
                .arg("postgres:")
                .arg(&path)
                .status()
                .expect("chown");
            assert!(ok.success(), "chown {}", path.display());
        }
        Workdir {
            path,
            clusters: Mutex::new(Vec::new()),
        }
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let clusters = self.clusters.lock().map(|c| c.clone()).unwrap_or_default();
        for data in clusters {
            if data.join("postmaster.pid").exists() {
                let _ = pg_command("pg_ctl")
                    .as_std_mut()
                    .args(["stop", "-m", "immediate", "-D"])
                    .arg(&data)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One PostgreSQL server (primary or standby) of the test.
struct Pg {
    name: &'static str,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    password: String,
}

impl Pg {
    fn url(&self, db: &str) -> String {
        format!(
            "postgres://passnum:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// A new primary: `initdb`, started.
    async fn primary(dir: &Workdir, name: &'static str) -> Pg {
        let password = random(24);
        let pwfile = dir.path.join("password");
        std::fs::write(&pwfile, &password).expect("password file");
        if running_as_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:").arg(&pwfile);
                    c
                },
                "chown",
            )
            .await;
        }
        let pg = Pg {
            name,
            data: dir.path.join(name),
            log: dir.path.join(format!("{name}.log")),
            port: free_port(),
            password,
        };
        let mut initdb = pg_command("initdb");
        initdb
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", "passnum", "-E", "UTF8", "--locale=C.UTF-8"])
            .arg("--auth=scram-sha-256")
            .arg(format!("--pwfile={}", pwfile.display()));
        run(initdb, "initdb").await;
        dir.clusters.lock().expect("lock").push(pg.data.clone());
        pg.start().await;
        pg
    }

    /// A streaming standby of `primary`, from `pg_basebackup -R`, started.
    async fn standby_of(primary: &Pg, dir: &Workdir, name: &'static str) -> Pg {
        let pg = Pg {
            name,
            data: dir.path.join(name),
            log: dir.path.join(format!("{name}.log")),
            port: free_port(),
            password: primary.password.clone(),
        };
        let mut backup = pg_command("pg_basebackup");
        backup
            .arg("-D")
            .arg(&pg.data)
            .args(["-R", "-X", "stream", "-c", "fast", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user=passnum password={} application_name={name}",
                primary.port, primary.password
            ));
        run(backup, "pg_basebackup").await;
        dir.clusters.lock().expect("lock").push(pg.data.clone());
        pg.start().await;
        pg
    }

    async fn start(&self) {
        let mut cmd = pg_command("pg_ctl");
        cmd.args(["start", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .arg("-o")
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories= -c fsync=off",
                self.port
            ))
            .stdout(Stdio::null());
        run(cmd, &format!("pg_ctl start of {}", self.name)).await;
    }

    async fn stop(&self, mode: &str) {
        let mut cmd = pg_command("pg_ctl");
        cmd.args(["stop", "-w", "-t", "60", "-m", mode, "-D"])
            .arg(&self.data)
            .stdout(Stdio::null());
        run(cmd, &format!("pg_ctl stop -m {mode} of {}", self.name)).await;
    }

    async fn promote(&self) {
        let mut cmd = pg_command("pg_ctl");
        cmd.args(["promote", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null());
        run(cmd, &format!("pg_ctl promote of {}", self.name)).await;
    }

    async fn client(&self, db: &str) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(db), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connection to {}: {e}", self.name));
        tokio::spawn(conn);
        client
    }
}

/// Runs `passnum <args>` against `database_url`.
async fn passnum(database_url: &str, args: &[&str]) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("DATABASE_URL", database_url)
        .env(
            "PASSNUM_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("PASSNUM_LOG_LEVEL", "warn");
    run(cmd, &format!("passnum {}", args.join(" "))).await;
}

/// A `passnum serve` process.
struct Node {
    name: &'static str,
    port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn new(dir: &Workdir, name: &'static str, env: &[(String, String)]) -> Node {
        let port = free_port();
        let mut all: Vec<(String, String)> = vec![
            ("PASSNUM_BIND".into(), format!("127.0.0.1:{port}")),
            (
                "PASSNUM_DATA_DIR".into(),
                dir.path.join(name).display().to_string(),
            ),
            (
                "PASSNUM_CONFIG_DIR".into(),
                concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
            ),
            ("PASSNUM_DAILY_JOBS".into(), "false".into()),
            ("PASSNUM_LOG_LEVEL".into(), "warn,passnum=info".into()),
        ];
        all.extend_from_slice(env);
        Node {
            name,
            port,
            env: all,
            log: dir.path.join(format!("{name}.log")),
            child: None,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process and waits until it answers `/readyz`.
    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("node log");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("passnum serve starts"));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = client
                .get(format!("{}/readyz", self.base()))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && res.status() == StatusCode::OK
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "node {} exited at start ({status}): {}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "node {} not ready within 60 s: {}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9`.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill -9");
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().and_then(|c| c.id()).expect("running")
    }
}

/// Creates the operator through `url`; returns what a deployment's nodes share: its
/// secrets and `DATABASE_URL`.
async fn deployment(url: &str) -> Vec<(String, String)> {
    passnum(
        url,
        &[
            "create-operator",
            "--email",
            OPERATOR,
            "--password",
            PASSWORD,
        ],
    )
    .await;
    vec![
        ("PASSNUM_TOKEN_SECRET".into(), random(48)),
        ("PASSNUM_TICKET_KEYS".into(), format!("k1:{}", random(48))),
        ("DATABASE_URL".into(), url.to_string()),
    ]
}

/// JSON over HTTP, for the set-up.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{}/api/v1{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("set-up request sent");
        let status = res.status();
        let text = res.text().await.expect("set-up answer");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn login(&self, email: &str) -> String {
        let res = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        res["access_token"].as_str().expect("token").to_string()
    }

    async fn organization(&self, operator: &str, kind: &str) -> String {
        let n = random(6);
        let org = self
            .call(
                Method::POST,
                "/organizations",
                Some(operator),
                json!({"kind": kind, "name": format!("{kind} {n}"), "email": format!("{kind}-{n}@example.org"), "postcode": "70000", "city": "Vesoul"}),
            )
            .await;
        org["id"].as_str().expect("id").to_string()
    }

    async fn user(&self, operator: &str, org: &str) -> String {
        let email = format!("agent-{}@example.org", random(8).to_lowercase());
        self.call(
            Method::POST,
            &format!("/organizations/{org}/users"),
            Some(operator),
            json!({"email": email, "password": PASSWORD, "role": "agent"}),
        )
        .await;
        self.login(&email).await
    }
}

/// What the set-up made: the operator's and a site agent's tokens, and tickets
/// handed out (their ids and signed codes).
struct Territory {
    operator: String,
    site_agent: String,
    tickets: Vec<(String, String)>,
}

/// A funded program, a prescriber who hands out `checkbooks` checkbooks of 10 tickets,
/// a labelled site with an agent.
async fn territory(api: &Api, checkbooks: usize) -> Territory {
    let operator = api.login(OPERATOR).await;
    let funder = api.organization(&operator, "funder").await;
    let prescriber = api.organization(&operator, "prescriber").await;
    let site = api.organization(&operator, "site").await;
    let today = passnum::domain::french_date(chrono::Utc::now());
    api.call(
        Method::POST,
        &format!("/sites/{site}/label"),
        Some(&operator),
        json!({"valid_from": today - chrono::Days::new(1), "valid_until": today + chrono::Days::new(400)}),
    )
    .await;
    let program = api
        .call(
            Method::POST,
            "/programs",
            Some(&operator),
            json!({"name": "Pass Numérique", "ticket_value": "10.00", "tickets_per_checkbook": 10,
                   "validity_days": 365, "budget": "10000.00",
                   "funders": [{"organization_id": funder, "share": "1.00"}]}),
        )
        .await["id"]
        .as_str()
        .expect("program")
        .to_string();
    api.call(
        Method::POST,
        &format!("/programs/{program}/payments"),
        Some(&operator),
        json!({"funder_id": funder, "amount": "10000.00", "reference": "VIR-1", "received_on": today}),
    )
    .await;
    api.call(
        Method::POST,
        &format!("/programs/{program}/allocations"),
        Some(&operator),
        json!({"prescriber_id": prescriber, "checkbooks": checkbooks}),
    )
    .await;
    let prescriber_agent = api.user(&operator, &prescriber).await;
    let site_agent = api.user(&operator, &site).await;
    let mut tickets = Vec::new();
    for n in 0..checkbooks {
        let checkbook = api
            .call(
                Method::POST,
                "/checkbooks",
                Some(&prescriber_agent),
                json!({"program_id": program, "beneficiary": {"reference": format!("B-{n}")}}),
            )
            .await;
        for t in checkbook["tickets"].as_array().expect("tickets") {
            tickets.push((
                t["id"].as_str().expect("id").to_string(),
                t["code"].as_str().expect("code").to_string(),
            ));
        }
    }
    Territory {
        operator,
        site_agent,
        tickets,
    }
}

/// What the scanners saw.
#[derive(Default)]
struct Scans {
    /// Acknowledged scans: (ticket code, redemption id, when).
    acked: Mutex<Vec<(String, String, Instant)>>,
    /// Scans answered 409 `already_redeemed`, by ticket code.
    refused: Mutex<Vec<String>>,
    /// Anything else: a 500, an unexpected status, a scan never answered.
    unexpected: Mutex<Vec<String>>,
    unavailable: AtomicUsize,
    transport_errors: AtomicUsize,
}

impl Scans {
    fn acks(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }
}

/// Scans `code` until the service answers for it: on a transport error, a timeout or
/// a 503, the same request with the same `Idempotency-Key` goes to the other node.
async fn scan(
    client: &reqwest::Client,
    nodes: &[String],
    mut node: usize,
    token: &str,
    code: &str,
    scans: &Scans,
) {
    let key = Uuid::new_v4().to_string();
    let started = Instant::now();
    let mut tries = 0u64;
    loop {
        if started.elapsed() > Duration::from_secs(60) {
            scans
                .unexpected
                .lock()
                .expect("lock")
                .push(format!("scan of {code} not answered within 60 s"));
            return;
        }
        let sent = client
            .post(format!("{}/api/v1/redemptions", nodes[node]))
            .bearer_auth(token)
            .header("Idempotency-Key", &key)
            .json(&json!({"code": code}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let answer = match sent {
            Ok(res) => {
                let status = res.status();
                res.text().await.map(|text| (status, text))
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok((StatusCode::CREATED, text)) => {
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let id = body["id"].as_str().unwrap_or_default().to_string();
                scans
                    .acked
                    .lock()
                    .expect("lock")
                    .push((code.to_string(), id, Instant::now()));
                return;
            }
            Ok((StatusCode::CONFLICT, text)) if text.contains("\"already_redeemed\"") => {
                scans.refused.lock().expect("lock").push(code.to_string());
                return;
            }
            Ok((StatusCode::SERVICE_UNAVAILABLE, text))
                if text.contains("\"database_unavailable\"") =>
            {
                scans.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, text)) => {
                scans
                    .unexpected
                    .lock()
                    .expect("lock")
                    .push(format!("{status} from {}: {text}", nodes[node]));
                return;
            }
            Err(_) => {
                scans.transport_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        tries += 1;
        node = (node + 1) % nodes.len();
        tokio::time::sleep(Duration::from_millis(50 * tries.min(6))).await;
    }
}

/// Waits until `more` scans more than now are acknowledged.
async fn wait_for_acks(scans: &Scans, more: usize, during: &str) {
    let target = scans.acks() + more;
    let deadline = Instant::now() + Duration::from_secs(45);
    while scans.acks() < target {
        assert!(
            Instant::now() < deadline,
            "{during}: only {} scans acknowledged, {target} awaited within 45 s; unexpected answers: {:?}",
            scans.acks(),
            scans.unexpected.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scanning_survives_a_killed_node_a_promoted_standby_and_a_database_restart() {
    let started = Instant::now();
    let dir = Workdir::new("failover");
    let primary = Pg::primary(&dir, "primary").await;
    let standby = Pg::standby_of(&primary, &dir, "standby").await;
    {
        let admin = primary.client("postgres").await;
        for sql in [
            "CREATE DATABASE passnum",
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
            "SELECT pg_reload_conf()",
        ] {
            admin.batch_execute(sql).await.expect(sql);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let row = admin
                .query_opt(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'",
                    &[],
                )
                .await
                .expect("pg_stat_replication");
            if row.is_some_and(|r| r.get::<_, String>(0) == "sync") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the standby did not become synchronous"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let url = format!(
        "postgres://passnum:{}@127.0.0.1:{},127.0.0.1:{}/passnum?target_session_attrs=read-write&connect_timeout=2",
        primary.password, primary.port, standby.port
    );
    let env = deployment(&url).await;
    let mut node_a = Node::new(&dir, "node-a", &env);
    let mut node_b = Node::new(&dir, "node-b", &env);
    node_a.start().await;
    node_b.start().await;
    let api = Api {
        client: reqwest::Client::new(),
        base: node_a.base(),
    };
    let land = territory(&api, 60).await;
    let set_up = started.elapsed();

    // Every fifth ticket is scanned twice, under two keys, by two scanners at once.
    let mut queue = VecDeque::new();
    for (n, (_, code)) in land.tickets.iter().enumerate() {
        queue.push_back(code.clone());
        if n % 5 == 0 {
            queue.push_back(code.clone());
        }
    }
    let queue = Arc::new(Mutex::new(queue));
    let scans = Arc::new(Scans::default());
    let stop = Arc::new(AtomicBool::new(false));
    let nodes = vec![node_a.base(), node_b.base()];
    let mut scanners = Vec::new();
    for i in 0..8 {
        let (queue, scans, stop, nodes) =
            (queue.clone(), scans.clone(), stop.clone(), nodes.clone());
        let token = land.site_agent.clone();
        scanners.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let Some(code) = queue.lock().expect("lock").pop_front() else {
                    break;
                };
                scan(&client, &nodes, i % 2, &token, &code, &scans).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }));
    }

    let mut faults: Vec<(&str, Instant)> = Vec::new();
    wait_for_acks(&scans, 8, "before any fault").await;

    faults.push(("kill -9 of node A", Instant::now()));
    node_a.kill().await;
    wait_for_acks(&scans, 8, "node A killed").await;
    node_a.start().await;
    wait_for_acks(&scans, 8, "node A restarted").await;

    faults.push((
        "immediate stop of the primary, promotion of the standby",
        Instant::now(),
    ));
    primary.stop("immediate").await;
    standby.promote().await;
    wait_for_acks(&scans, 8, "standby promoted").await;

    faults.push(("restart of the new primary", Instant::now()));
    standby.stop("fast").await;
    standby.start().await;
    wait_for_acks(&scans, 8, "new primary restarted").await;

    stop.store(true, Ordering::SeqCst);
    for s in scanners {
        s.await.expect("scanner");
    }

    // What the scanners saw.
    let unexpected = scans.unexpected.lock().expect("lock").clone();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:#?}");
    let acked = scans.acked.lock().expect("lock").clone();
    let mut acked_per_ticket: HashMap<&str, usize> = HashMap::new();
    for (code, _, _) in &acked {
        *acked_per_ticket.entry(code).or_default() += 1;
    }
    let doubled: Vec<_> = acked_per_ticket.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "tickets acknowledged twice: {doubled:?}"
    );
    let refused = scans.refused.lock().expect("lock").clone();
    for code in &refused {
        assert!(
            acked_per_ticket.contains_key(code.as_str()),
            "{code} refused as already used, but no scan of it was acknowledged"
        );
    }

    // What the new primary holds.
    let db = standby.client("passnum").await;
    let in_recovery: bool = db
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .expect("recovery")
        .get(0);
    assert!(!in_recovery, "the standby is the primary now");
    let rows = db
        .query(
            "SELECT id::text, ticket_id::text FROM redemptions WHERE status <> 'reversed'",
            &[],
        )
        .await
        .expect("redemptions");
    let stored: HashSet<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    let acked_ids: HashSet<String> = acked.iter().map(|(_, id, _)| id.clone()).collect();
    let lost: Vec<_> = acked_ids.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged, not on the new primary: {lost:?}"
    );
    let unacknowledged: Vec<_> = stored.difference(&acked_ids).collect();
    assert!(
        unacknowledged.is_empty(),
        "recorded but never acknowledged (every scan was retried to an answer): {unacknowledged:?}"
    );
    let tickets: Vec<String> = rows.iter().map(|r| r.get::<_, String>(1)).collect();
    let distinct: HashSet<&String> = tickets.iter().collect();
    assert_eq!(distinct.len(), tickets.len(), "a ticket redeemed twice");
    let mut conn = <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
        &standby.url("passnum"),
    )
    .await
    .expect("diesel connection");
    let violations = passnum::ledger::invariant_violations(&mut conn)
        .await
        .expect("invariants");
    assert!(violations.is_empty(), "ledger invariants: {violations:#?}");
    let api = Api {
        client: reqwest::Client::new(),
        base: node_b.base(),
    };
    let cover = api
        .call(
            Method::GET,
            "/ledger/cover",
            Some(&land.operator),
            Value::Null,
        )
        .await;
    assert_eq!(cover["covered"], true, "cover: {cover}");
    let trial = api
        .call(
            Method::GET,
            "/ledger/trial-balance",
            Some(&land.operator),
            Value::Null,
        )
        .await;
    assert_eq!(trial["total"], "0.00", "trial balance: {trial}");

    // How long scanning was unavailable: the longest wait for an acknowledged scan
    // from each fault until the next one, beside the usual gap before any fault.
    let times: Vec<Instant> = {
        let mut t: Vec<Instant> = acked.iter().map(|(_, _, t)| *t).collect();
        t.sort();
        t
    };
    let longest_gap = |from: Instant, until: Instant| {
        let mut last = from;
        let mut longest = Duration::ZERO;
        for t in times.iter().filter(|t| **t > from && **t <= until) {
            longest = longest.max(*t - last);
            last = *t;
        }
        longest
    };
    println!(
        "failover: set-up {:.1} s; {} scans acknowledged, {} refused as already used (the second key of a doubled ticket), {} answers 503 database_unavailable and {} transport errors retried on the other node",
        set_up.as_secs_f64(),
        acked.len(),
        refused.len(),
        scans.unavailable.load(Ordering::Relaxed),
        scans.transport_errors.load(Ordering::Relaxed)
    );
    println!(
        "failover: before any fault, longest gap between acknowledged scans {} ms (8 scanners, 150 ms apart)",
        longest_gap(times[0], faults[0].1).as_millis()
    );
    for (i, (fault, at)) in faults.iter().enumerate() {
        let until = faults.get(i + 1).map(|f| f.1).unwrap_or_else(Instant::now);
        println!(
            "failover: {fault}: scanning unavailable for at most {} ms (longest gap between acknowledged scans)",
            longest_gap(*at, until).as_millis()
        );
    }
    println!(
        "failover: whole test {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(node_a);
    drop(node_b);
}

/// An SMTP server that takes `delay` to accept each message (after its data, before
/// its `250`), and remembers the recipients of the messages it accepted.
struct SlowSmtp {
    port: u16,
    accepted: Arc<Mutex<Vec<String>>>,
}

impl SlowSmtp {
    async fn start(delay: Duration) -> SlowSmtp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("smtp port");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let shared = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(smtp_session(stream, delay, shared.clone()));
            }
        });
        SlowSmtp { port, accepted }
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().expect("lock").clone()
    }
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    delay: Duration,
    accepted: Arc<Mutex<Vec<String>>>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut recipients = Vec::new();
    if write.write_all(b"220 slow ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("RCPT TO:") {
            recipients.push(
                line[8..]
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_ascii_lowercase(),
            );
            b"250 ok\r\n"
        } else if upper == "DATA" {
            if write.write_all(b"354 go on\r\n").await.is_err() {
                return;
            }
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "." {
                    break;
                }
            }
            tokio::time::sleep(delay).await;
            accepted.lock().expect("lock").extend(recipients.drain(..));
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// One server, the operator created, and one node on it (`extra`: more settings).
async fn one_server_one_node(dir: &Workdir, extra: &[(&str, &str)]) -> (Pg, Node) {
    let pg = Pg::primary(dir, "db").await;
    pg.client("postgres")
        .await
        .batch_execute("CREATE DATABASE passnum")
        .await
        .expect("database");
    let url = pg.url("passnum");
    let mut env = deployment(&url).await;
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut node = Node::new(dir, "node", &env);
    node.start().await;
    (pg, node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_is_answered_only_once_its_commit_is_durable_on_the_standby() {
    let dir = Workdir::new("durable");
    let (pg, node) = one_server_one_node(&dir, &[]).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: node.base(),
    };
    let land = territory(&api, 1).await;
    let admin = pg.client("postgres").await;
    // A synchronous standby that does not answer: every commit waits for it.
    for sql in [
        "ALTER SYSTEM SET synchronous_standby_names = 'absent'",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).await.expect(sql);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (base, token, code) = (
        node.base(),
        land.site_agent.clone(),
        land.tickets[0].1.clone(),
    );
    let scan = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/redemptions"))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({"code": code}))
            .timeout(Duration::from_secs(30))
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scan's commit never waited for the standby"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !scan.is_finished(),
        "a scan answered before its commit was durable"
    );
    // The primary dies while the commit waits: the scan must not be answered 201,
    // for a promoted standby would not have it.
    drop(admin);
    pg.stop("immediate").await;
    if let Ok(res) = scan.await.expect("scan task") {
        assert_ne!(
            res.status(),
            StatusCode::CREATED,
            "a scan was answered 201 while its commit had not reached the standby"
        );
    }
}

/// What became of one request sent while the server stopped.
#[derive(Debug)]
#[allow(dead_code)] // Read through Debug, in the failure's message.
enum Fate {
    Answered(u16),
    RefusedAtConnect,
    /// The connection closed before any answer: one the kernel had accepted while the
    /// listener was being closed (the server never read it).
    ClosedUnanswered,
    /// An answer cut in its middle, or no answer in time.
    Broken(String),
}

async fn fate(sent: Result<reqwest::Response, reqwest::Error>) -> Fate {
    match sent {
        Ok(res) => {
            let status = res.status().as_u16();
            match res.bytes().await {
                Ok(_) => Fate::Answered(status),
                Err(e) => Fate::Broken(format!("{status}, then the body broke: {e:?}")),
            }
        }
        Err(e) if e.is_connect() => Fate::RefusedAtConnect,
        Err(e) if e.is_request() && !e.is_timeout() => Fate::ClosedUnanswered,
        Err(e) => Fate::Broken(format!("{e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_the_requests_in_flight_and_the_mail_worker_gives_back_its_mails() {
    let dir = Workdir::new("sigterm");
    let smtp = SlowSmtp::start(Duration::from_millis(1500)).await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let (pg, mut node) = one_server_one_node(
        &dir,
        &[
            ("PASSNUM_SMTP_URL", smtp_url.as_str()),
            ("PASSNUM_MAIL_POLL_INTERVAL_MS", "100"),
        ],
    )
    .await;
    let api = Api {
        client: reqwest::Client::new(),
        base: node.base(),
    };
    let land = territory(&api, 1).await;
    let db = pg.client("passnum").await;

    // Load: requests one after another on fresh connections and on kept-alive ones.
    let done = Arc::new(AtomicBool::new(false));
    let fates = Arc::new(Mutex::new(Vec::<Fate>::new()));
    let mut loaders = Vec::new();
    for i in 0..4 {
        let (done, fates, base, token) = (
            done.clone(),
            fates.clone(),
            node.base(),
            land.operator.clone(),
        );
        loaders.push(tokio::spawn(async move {
            let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(40));
            if i % 2 == 0 {
                builder = builder.pool_max_idle_per_host(0);
            }
            let client = builder.build().expect("client");
            while !done.load(Ordering::SeqCst) {
                let sent = client
                    .get(format!("{base}/api/v1/me"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let fate = fate(sent).await;
                fates.lock().expect("lock").push(fate);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    // Mails: invitations, sent slowly; wait until the worker holds several.
    let mut invited = Vec::new();
    for _ in 0..8 {
        let email = format!("invite-{}@example.org", random(8).to_lowercase());
        let org = api.organization(&land.operator, "prescriber").await;
        api.call(
            Method::POST,
            &format!("/organizations/{org}/users"),
            Some(&land.operator),
            json!({"email": email, "role": "agent"}),
        )
        .await;
        invited.push(email);
    }
    let outbox_count = async |status: &str| -> i64 {
        db.query_one(
            "SELECT count(*) FROM outbox WHERE status = $1 AND recipient = ANY($2)",
            &[&status, &invited],
        )
        .await
        .expect("outbox")
        .get(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while outbox_count("sending").await < 4 {
        assert!(
            Instant::now() < deadline,
            "the mail worker never held four mails at once"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Slow requests: scans of tickets whose rows this test holds locked.
    let held: Vec<String> = land.tickets[..3].iter().map(|(id, _)| id.clone()).collect();
    let locker = pg.client("passnum").await;
    locker.batch_execute("BEGIN").await.expect("begin");
    locker
        .execute(
            "SELECT 1 FROM tickets WHERE id = ANY($1::text[]::uuid[]) FOR UPDATE",
            &[&held],
        )
        .await
        .expect("lock the tickets");
    let mut slow = Vec::new();
    for (_, code) in &land.tickets[..3] {
        let (base, token, code) = (node.base(), land.site_agent.clone(), code.clone());
        slow.push(tokio::spawn(async move {
            let sent = reqwest::Client::new()
                .post(format!("{base}/api/v1/redemptions"))
                .bearer_auth(token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({"code": code}))
                .timeout(Duration::from_secs(40))
                .send()
                .await;
            fate(sent).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'passnum'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the slow scans never waited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // SIGTERM: new connections are refused while the slow scans are still in flight.
    let term = Instant::now();
    run(
        {
            let mut kill = Command::new("kill");
            kill.arg("-TERM").arg(node.pid().to_string());
            kill
        },
        "kill -TERM",
    )
    .await;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", node.port))
            .await
            .is_err()
        {
            break;
        }
        assert!(
            term.elapsed() < Duration::from_secs(5),
            "connections still accepted 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused_after = term.elapsed();
    assert!(
        slow.iter().all(|s| !s.is_finished()),
        "the slow scans ended before the locks were released"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    locker.batch_execute("COMMIT").await.expect("release");
    for s in slow {
        match s.await.expect("slow scan") {
            Fate::Answered(201) => {}
            other => panic!("a scan in flight at SIGTERM: {other:?}"),
        }
    }
    let mut child = node.child.take().expect("node");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the node exits within 60 s of SIGTERM")
        .expect("exit status");
    let stopped_after = term.elapsed();
    assert!(
        status.success(),
        "exit {status}: {}",
        std::fs::read_to_string(&node.log).unwrap_or_default()
    );
    done.store(true, Ordering::SeqCst);
    for l in loaders {
        l.await.expect("loader");
    }

    let fates = std::mem::take(&mut *fates.lock().expect("lock"));
    let broken: Vec<&Fate> = fates
        .iter()
        .filter(|f| {
            !matches!(
                f,
                Fate::Answered(200) | Fate::RefusedAtConnect | Fate::ClosedUnanswered
            )
        })
        .collect();
    assert!(broken.is_empty(), "half-answered or failed: {broken:#?}");
    let answered = fates
        .iter()
        .filter(|f| matches!(f, Fate::Answered(_)))
        .count();
    assert!(answered > 0 && answered < fates.len(), "{fates:?}");

    // The mails: none left claimed; each one the SMTP server took is marked sent, the
    // others wait for the next node.
    let log = std::fs::read_to_string(&node.log).unwrap_or_default();
    let log_tail: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("HTTP request"))
        .rev()
        .take(15)
        .collect();
    assert_eq!(
        outbox_count("sending").await,
        0,
        "a mail left claimed; the node's last lines: {log_tail:#?}"
    );
    let sent = outbox_count("sent").await;
    let waiting = outbox_count("waiting").await;
    let took: Vec<String> = smtp
        .accepted()
        .into_iter()
        .filter(|r| invited.contains(r))
        .collect();
    assert_eq!(
        sent as usize,
        took.len(),
        "sent in the outbox, taken by the SMTP server: {took:?}"
    );
    assert!(
        waiting > 0,
        "every mail was sent before the stop: nothing to give back"
    );
    assert_eq!(sent + waiting, invited.len() as i64);
    let never_tried: i64 = db
        .query_one(
            "SELECT count(*) FROM outbox WHERE status = 'waiting' AND attempts = 0 AND recipient = ANY($1)",
            &[&invited],
        )
        .await
        .expect("attempts")
        .get(0);
    assert_eq!(never_tried, waiting, "a mail given back counts no attempt");
    let given_back: i64 = db
        .query_one(
            "SELECT count(*) FROM outbox WHERE status = 'waiting' AND message_id IS NOT NULL AND recipient = ANY($1)",
            &[&invited],
        )
        .await
        .expect("released")
        .get(0);
    assert!(given_back > 0, "no claimed mail was given back");
    let unanswered = fates
        .iter()
        .filter(|f| matches!(f, Fate::ClosedUnanswered))
        .count();
    println!(
        "sigterm: new connections refused {} ms after SIGTERM; stopped after {} ms; {} requests answered, {} refused at connect ({unanswered} of them accepted by the kernel as the listener closed, closed unanswered); mails: {sent} sent, {given_back} claimed then given back, {waiting} waiting",
        refused_after.as_millis(),
        stopped_after.as_millis(),
        answered,
        fates.len() - answered
    );
}
