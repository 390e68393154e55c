//! Redemption benchmark: "exactly once, at the speed of the database".
//!
//! 1. Baseline: pgbench's built-in TPC-B-like script on the same PostgreSQL cluster,
//!    16 clients (`pgbench -c 16 -j 2 -T 6 -M prepared -n`, scale 16).
//! 2. The service: the release `passnum serve` binary as a child process over a seeded
//!    database (one program with a 4 % commission, one labelled site, handed-out
//!    checkbooks, 30,000 tickets redeemed beforehand so that the tables have history),
//!    16 concurrent clients each posting `POST /api/v1/redemptions` with a fresh
//!    `Idempotency-Key` and another ticket's signed code: every redemption posts to the
//!    same three ledger accounts (the hot-account case).
//!
//!    1 and 2 take turns, four rounds of each (6 s of pgbench, then 1 + 5 s of
//!    redemptions): this virtual machine's speed drifts by tens of percent from one
//!    minute to the next, and a ratio of two figures taken minutes apart measured the
//!    drift as much as the service. The ratio is the mean HTTP rate over the mean tps.
//! 3. The same transaction without HTTP: what the handler runs (`redemptions::redeem`,
//!    one statement) called through the library with a pool of 16, at concurrency 16.
//!    The gap between 2 and 3 is the HTTP, token and JSON overhead.
//!
//! Prints throughputs, latencies, the ratio redemptions / pgbench against the targets
//! (≥ 0.8, p99 ≤ 25 ms) and the ledger invariants afterwards. To say where the time
//! goes, measured windows also report where the machine's CPU went (from `/proc`),
//! commits, WAL and multixacts per commit, and what the measured database's backends
//! were doing (`pg_stat_activity` polled every 50 ms); and one redemption is traced
//! statement by statement (`log_min_duration_statement = 0` on its connection) to
//! count its round trips.
//!
//! Run: `cargo bench --bench redemption` (uses the private cluster under
//! `.data/bench/postgres`, or `BENCH_DATABASE_URL`'s server). `cargo bench` builds the
//! `passnum` binary with the bench profile (release settings) and gives its path to
//! this program (`CARGO_BIN_EXE_passnum`); `PASSNUM_BENCH_BIN` overrides it.
//! `BENCH_DIAGNOSE=1` adds two library runs in the scratch database: without the
//! integrity triggers and CHECK constraints (what the writes alone cost; the service
//! is measured that way too), then also without the wait for the WAL flush
//! (`synchronous_commit = off`), each compared with a pgbench window right after. `BENCH_KEEP=1` keeps the
//! scratch database afterwards (for experiments with pgbench scripts).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passnum::auth::Caller;
use passnum::checkbooks::{self, IssueOrder};
use passnum::codes::CodeKeys;
use passnum::domain::{Email, LabelPeriod, OrgKind, Password, PostcodePrefix, Role};
use passnum::error::ApiError;
use passnum::idempotency;
use passnum::money::{Money, Rate, Share};
use passnum::organizations::{self, NewUser};
use passnum::pg_cluster::{self, Durability};
use passnum::programs::{self, NewProgram, Validity};
use passnum::redemptions::{self, TicketRef};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use uuid::Uuid;

use common::{ServerChild, free_port, org, server_binary};

const CLIENTS: usize = 16;
const PGBENCH_SCALE: u32 = 16;
/// pgbench and the service take turns, each measured this many times.
const ROUNDS: usize = 4;
/// Seconds of one pgbench window (`-T`).
const PGBENCH_ROUND: u64 = 6;
const HTTP_WARM_UP: Duration = Duration::from_secs(1);
const HTTP_ROUND: Duration = Duration::from_secs(5);
const LIB_WARM_UP: Duration = Duration::from_secs(2);
const LIB_MEASURE: Duration = Duration::from_secs(12);
const TICKETS_PER_CHECKBOOK: u32 = 10;
/// Print runs of 1,000 checkbooks (10,000 tickets) each.
const PRINT_RUNS: u32 = 19;
/// Tickets redeemed before the measured phases, so that the tables have history.
const HISTORY_TICKETS: usize = 30_000;
/// Tickets kept for the library phase; the rest go to the HTTP phase.
const LIB_TICKETS: usize = 60_000;
/// With `BENCH_DIAGNOSE=1`: two more library runs, 40,000 tickets each (enough for
/// their whole window: when the tickets run out, the backends end before the window
/// does and their CPU is not counted).
const DIAG_STEPS: usize = 2;
const DIAG_TICKETS: usize = 40_000;
const DIAG_PRINT_RUNS: u32 = 8;
const DIAG_WARM_UP: Duration = Duration::from_secs(2);
const DIAG_MEASURE: Duration = Duration::from_secs(8);
const AGENT_PASSWORD: &str = "a-long-bench-password";
const TARGET_RATIO: f64 = 0.8;
const TARGET_P99_MS: f64 = 25.0;

fn random_secret(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Host, port and password of a `postgres://user:password@host:port/db` URL.
struct ServerAddress {
    user: String,
    password: String,
    host: String,
    port: String,
}

fn parse_url(url: &str) -> ServerAddress {
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

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

// ----------------------------------------------------------------------------------
// CPU accounting from /proc: where the two cores went during a measured window.
// ----------------------------------------------------------------------------------

/// `(comm, parent pid, utime + stime)` of a process, in clock ticks.
fn proc_stat(pid: &str) -> Option<(String, u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, ppid, utime + stime))
}

#[derive(Debug, Clone, Default)]
struct CpuSample {
    machine_busy: u64,
    machine_total: u64,
    /// Ticks of each process of the cluster (backends come and go between samples).
    postgres: BTreeMap<u32, u64>,
    server: u64,
    me: u64,
    pgbench: u64,
}

fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let get = |i: usize| cpu.get(i).copied().unwrap_or(0);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    (busy, busy + get(3) + get(4))
}

/// The bench cluster's postmaster pid, to count its processes only.
fn postmaster_pid(data_dir: Option<&Path>) -> Option<u32> {
    let pid_file = std::fs::read_to_string(data_dir?.join("postmaster.pid")).ok()?;
    pid_file.lines().next()?.trim().parse().ok()
}

fn sample(postmaster: Option<u32>, server: Option<u32>) -> CpuSample {
    let (machine_busy, machine_total) = machine_ticks();
    let mut s = CpuSample {
        machine_busy,
        machine_total,
        me: proc_stat("self").map(|p| p.2).unwrap_or(0),
        ..CpuSample::default()
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return s;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Some((comm, ppid, ticks)) = proc_stat(pid) else {
            continue;
        };
        let pid: u32 = pid.parse().unwrap_or(0);
        if Some(pid) == server {
            s.server += ticks;
        } else if comm == "pgbench" {
            s.pgbench += ticks;
        } else if comm == "postgres"
            && postmaster.is_some()
            && (Some(pid) == postmaster || Some(ppid) == postmaster)
        {
            s.postgres.insert(pid, ticks);
        }
    }
    s
}

/// Ticks the cluster's processes used between two samples: each process alive at the
/// second counts from the first sample, or from its start (one that ended between
/// them is missed).
fn postgres_ticks(a: &CpuSample, b: &CpuSample) -> u64 {
    b.postgres
        .iter()
        .map(|(pid, t1)| t1.saturating_sub(a.postgres.get(pid).copied().unwrap_or(0)))
        .sum()
}

/// CPU used between two samples, in cores (2.0 = both cores busy all along).
fn cpu_report(a: &CpuSample, b: &CpuSample, elapsed: Duration, clk_tck: f64, postgres_known: bool) {
    let cores = |t0: u64, t1: u64| t1.saturating_sub(t0) as f64 / clk_tck / elapsed.as_secs_f64();
    let total = b.machine_total.saturating_sub(a.machine_total) as f64;
    let busy = b.machine_busy.saturating_sub(a.machine_busy) as f64;
    let machine_cores = total / clk_tck / elapsed.as_secs_f64();
    let machine_busy = if total > 0.0 {
        busy / total * machine_cores
    } else {
        0.0
    };
    let postgres = cores(0, postgres_ticks(a, b));
    let server = cores(a.server, b.server);
    let me = cores(a.me, b.me);
    let pgbench = cores(a.pgbench, b.pgbench);
    let others = machine_busy - postgres - server - me - pgbench;
    let pg = if postgres_known {
        format!("{postgres:.2}")
    } else {
        "n/a".into()
    };
    println!(
        "    CPU (cores of {machine_cores:.1}): machine busy {machine_busy:.2} = postgres {pg}, passnum server {server:.2}, \
         bench process (load generator) {me:.2}, pgbench {pgbench:.2}, other processes {others:.2}"
    );
}

// ----------------------------------------------------------------------------------
// The database side of a measured window: commits, WAL, multixacts, and what the
// backends of the measured database were doing (sampled from pg_stat_activity).
// ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, QueryableByName)]
struct DbCounters {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    commits: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    wal_records: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    wal_fpi: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    wal_bytes: f64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    multixacts: i64,
}

async fn db_counters(conn: &mut AsyncPgConnection, db: &str) -> DbCounters {
    diesel::sql_query(
        "SELECT coalesce((SELECT xact_commit FROM pg_stat_database WHERE datname = $1), 0) AS commits,
                wal_records, wal_fpi, wal_bytes::float8 AS wal_bytes,
                coalesce((SELECT mxid_age(datminmxid) FROM pg_database WHERE datname = $1), 0)::int8 AS multixacts
         FROM pg_stat_wal",
    )
    .bind::<diesel::sql_types::Text, _>(db)
    .get_result(conn)
    .await
    .unwrap()
}

#[derive(QueryableByName)]
struct Activity {
    #[diesel(sql_type = diesel::sql_types::Text)]
    what: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

struct Observation {
    elapsed: Duration,
    cpu: (CpuSample, CpuSample),
    db: (DbCounters, DbCounters),
    /// Backend states summed over the polls, and the number of polls.
    activity: BTreeMap<String, i64>,
    polls: i64,
}

/// Watches the window `[warm_up, warm_up + measure)` from now.
fn observe(
    admin_url: String,
    db: String,
    warm_up: Duration,
    measure: Duration,
    postmaster: Option<u32>,
    server: Option<u32>,
) -> tokio::task::JoinHandle<Observation> {
    tokio::spawn(async move {
        let mut conn = AsyncPgConnection::establish(&admin_url).await.unwrap();
        diesel::sql_query("SET application_name = 'bench-observer'")
            .execute(&mut conn)
            .await
            .unwrap();
        tokio::time::sleep(warm_up).await;
        let until = Instant::now() + measure - Duration::from_millis(500);
        let (t0, c0, d0) = (
            Instant::now(),
            sample(postmaster, server),
            db_counters(&mut conn, &db).await,
        );
        let mut activity: BTreeMap<String, i64> = BTreeMap::new();
        let mut polls = 0;
        while Instant::now() < until {
            let rows: Vec<Activity> = diesel::sql_query(
                "SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'running (CPU)')
                             WHEN state = 'idle in transaction' THEN 'idle in transaction (waits for the client)'
                             ELSE coalesce(state, '?') || ' (between transactions)' END AS what,
                        count(*) AS n
                 FROM pg_stat_activity
                 WHERE datname = $1 AND backend_type = 'client backend'
                   AND application_name NOT LIKE 'bench-%' AND pid <> pg_backend_pid()
                 GROUP BY 1",
            )
            .bind::<diesel::sql_types::Text, _>(&db)
            .load(&mut conn)
            .await
            .unwrap();
            for row in rows {
                *activity.entry(row.what).or_default() += row.n;
            }
            polls += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (t1, c1, d1) = (
            Instant::now(),
            sample(postmaster, server),
            db_counters(&mut conn, &db).await,
        );
        Observation {
            elapsed: t1 - t0,
            cpu: (c0, c1),
            db: (d0, d1),
            activity,
            polls,
        }
    })
}

fn print_observation(o: &Observation, clk_tck: f64, postgres_known: bool) {
    cpu_report(&o.cpu.0, &o.cpu.1, o.elapsed, clk_tck, postgres_known);
    let (a, b) = o.db;
    let commits = (b.commits - a.commits).max(0) as f64;
    let per = |x: f64| if commits > 0.0 { x / commits } else { 0.0 };
    let multixacts = b.multixacts - a.multixacts;
    let postgres_cpu = postgres_ticks(&o.cpu.0, &o.cpu.1) as f64 / clk_tck;
    println!(
        "    database: {:.0} commits/s; per commit: WAL {:.0} bytes, {:.1} records, {:.2} full-page images, {} multixacts{}",
        commits / o.elapsed.as_secs_f64(),
        per(b.wal_bytes - a.wal_bytes),
        per((b.wal_records - a.wal_records) as f64),
        per((b.wal_fpi - a.wal_fpi) as f64),
        if multixacts >= 0 {
            format!("{:.2}", per(multixacts as f64))
        } else {
            "n/a".into()
        },
        if postgres_known {
            format!(", postgres CPU {:.2} ms", per(postgres_cpu) * 1e3)
        } else {
            String::new()
        }
    );
    if o.polls > 0 {
        let mut states: Vec<(&String, &i64)> = o.activity.iter().collect();
        states.sort_by(|x, y| y.1.cmp(x.1));
        let shown: Vec<String> = states
            .iter()
            .map(|(what, n)| format!("{what} {:.1}", **n as f64 / o.polls as f64))
            .collect();
        println!(
            "    backends of the measured database, average over {} polls: {}",
            o.polls,
            shown.join(", ")
        );
    }
}

// ----------------------------------------------------------------------------------
// Load: CLIENTS tasks, one ticket each per request, timed per request.
// ----------------------------------------------------------------------------------

struct LoadResult {
    /// Requests started within the measured window.
    durations: Vec<Duration>,
    window: Duration,
    /// Every answer of the run (warm-up included), by status or refusal code.
    outcomes: BTreeMap<String, usize>,
    /// One body of an unexpected answer, for the report.
    sample_failure: Option<String>,
    ran_out_of_tickets: bool,
}

/// `op` answers `Ok(())` for a successful redemption, `Err((outcome, detail))` else.
async fn run_load<F, Fut>(
    codes: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    warm_up: Duration,
    measure: Duration,
    op: F,
) -> LoadResult
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), (String, String)>> + Send,
{
    let start = Instant::now();
    let (from, until) = (start + warm_up, start + warm_up + measure);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (codes, next, op) = (codes.clone(), next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut durations = Vec::with_capacity(4096);
            let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
            let mut failure = None;
            let mut out_of_tickets = None;
            loop {
                let began = Instant::now();
                if began >= until {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(code) = codes.get(i) else {
                    out_of_tickets = Some(began);
                    break;
                };
                let result = op(code.clone()).await;
                let took = began.elapsed();
                match result {
                    Ok(()) => *outcomes.entry("201 redeemed".into()).or_default() += 1,
                    Err((outcome, detail)) => {
                        *outcomes.entry(outcome).or_default() += 1;
                        failure.get_or_insert(detail);
                    }
                }
                if began >= from {
                    durations.push(took);
                }
            }
            (durations, outcomes, failure, out_of_tickets)
        }));
    }
    let mut result = LoadResult {
        durations: Vec::new(),
        window: measure,
        outcomes: BTreeMap::new(),
        sample_failure: None,
        ran_out_of_tickets: false,
    };
    let mut earliest_exhaustion: Option<Instant> = None;
    for task in tasks {
        let (durations, outcomes, failure, out) = task.await.unwrap();
        result.durations.extend(durations);
        for (k, v) in outcomes {
            *result.outcomes.entry(k).or_default() += v;
        }
        if result.sample_failure.is_none() {
            result.sample_failure = failure;
        }
        if let Some(at) = out {
            earliest_exhaustion = Some(earliest_exhaustion.map_or(at, |e| e.min(at)));
        }
    }
    if let Some(at) = earliest_exhaustion {
        result.ran_out_of_tickets = true;
        result.window = at
            .saturating_duration_since(from)
            .max(Duration::from_millis(1));
    }
    result.durations.sort();
    result
}

impl LoadResult {
    fn empty() -> Self {
        LoadResult {
            durations: Vec::new(),
            window: Duration::ZERO,
            outcomes: BTreeMap::new(),
            sample_failure: None,
            ran_out_of_tickets: false,
        }
    }

    fn rate(&self) -> f64 {
        self.durations.len() as f64 / self.window.as_secs_f64()
    }

    /// Adds another window's figures to these (durations stay sorted).
    fn absorb(&mut self, other: LoadResult) {
        self.durations.extend(other.durations);
        self.durations.sort();
        self.window += other.window;
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        if self.sample_failure.is_none() {
            self.sample_failure = other.sample_failure;
        }
        self.ran_out_of_tickets |= other.ran_out_of_tickets;
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

struct Figures {
    rate: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

fn figures(r: &LoadResult) -> Figures {
    let d = &r.durations;
    let mean = if d.is_empty() {
        0.0
    } else {
        d.iter().map(|x| x.as_secs_f64()).sum::<f64>() / d.len() as f64 * 1e3
    };
    Figures {
        rate: d.len() as f64 / r.window.as_secs_f64(),
        p50: ms(percentile(d, 0.50)),
        p90: ms(percentile(d, 0.90)),
        p99: ms(percentile(d, 0.99)),
        max: ms(d.last().copied().unwrap_or_default()),
        mean,
    }
}

fn print_load(name: &str, r: &LoadResult, f: &Figures) {
    println!(
        "  {name}: {} requests in the {:.1} s window → {:.0} req/s",
        r.durations.len(),
        r.window.as_secs_f64(),
        f.rate
    );
    println!(
        "    latency: mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        f.mean, f.p50, f.p90, f.p99, f.max
    );
    let outcomes: Vec<String> = r
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    println!("    answers (warm-up included): {}", outcomes.join(", "));
    if let Some(detail) = &r.sample_failure {
        println!("    UNEXPECTED ANSWER, e.g.: {detail}");
    }
    if r.ran_out_of_tickets {
        println!(
            "    note: the seeded tickets ran out before the end of the window (figures over the shortened window)"
        );
    }
}

// ----------------------------------------------------------------------------------
// The redemption transaction through the library, as the handler runs it.
// ----------------------------------------------------------------------------------

/// `redeem_once` of the handler without HTTP: the code checked, then the one
/// statement of `redemptions::redeem` (idempotency claim, redemption, stored outcome).
async fn redeem_via_library(
    pool: &passnum::db::DbPool,
    caller: &Caller,
    keys: &CodeKeys,
    code: &str,
) -> Result<(), (String, String)> {
    let claim = keys
        .verify(code)
        .map_err(|e| ("invalid code".to_string(), e.to_string()))?;
    let ticket = TicketRef::Code(claim);
    let (scanned_at, day) = redemptions::scan_day(None, Utc::now(), chrono::Duration::hours(72))
        .map_err(|e| (e.code().to_string(), e.to_string()))?;
    let key = Uuid::new_v4().to_string();
    let request_hash = idempotency::fingerprint("redemptions", &json!(format!("code:{code}")));
    let scan = redemptions::Scan {
        caller,
        ticket: &ticket,
        key: &key,
        request_hash: &request_hash,
        scanned_at,
        day,
    };
    let mut conn = pool
        .get()
        .await
        .map_err(|e| ("pool error".to_string(), e.to_string()))?;
    let as_pair = |e: ApiError| {
        (
            format!("{} {}", e.status().as_u16(), e.code()),
            e.to_string(),
        )
    };
    let r = redemptions::redeem(&mut conn, &scan)
        .await
        .map_err(as_pair)?
        .into_result()
        .map_err(as_pair)?;
    std::hint::black_box(redemptions::to_json(&r, &claim_serial(&ticket), false));
    Ok(())
}

async fn library_load(
    pool: passnum::db::DbPool,
    caller: Arc<Caller>,
    keys: Arc<CodeKeys>,
    codes: Vec<String>,
    warm_up: Duration,
    measure: Duration,
) -> LoadResult {
    let op = move |code: String| {
        let (pool, caller, keys) = (pool.clone(), caller.clone(), keys.clone());
        async move { redeem_via_library(&pool, &caller, &keys, &code).await }
    };
    run_load(
        Arc::new(codes),
        Arc::new(AtomicUsize::new(0)),
        warm_up,
        measure,
        op,
    )
    .await
}

/// One redemption through the service's pool, on an idle machine, with every
/// statement logged by the server (`log_min_duration_statement = 0` on that one
/// connection): the round trips of a redemption and the server's time for each.
async fn trace_one(
    url: &str,
    caller: &Caller,
    keys: &CodeKeys,
    codes: &[String],
    server_log: &Path,
) {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let pool = passnum::db::build_pool(url, 1).unwrap();
    // A first redemption warms the connection's statement cache, as in the runs.
    redeem_via_library(&pool, caller, keys, &codes[0])
        .await
        .unwrap();
    let pid = {
        let mut conn = pool.get().await.unwrap();
        diesel::sql_query("SET log_min_duration_statement = 0")
            .execute(&mut conn)
            .await
            .unwrap();
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut conn)
            .await
            .unwrap()
            .pid
    };
    let offset = std::fs::metadata(server_log).map(|m| m.len()).unwrap_or(0);
    let began = Instant::now();
    redeem_via_library(&pool, caller, keys, &codes[1])
        .await
        .unwrap();
    let wall = began.elapsed();
    // The backend writes its log lines before it answers: the redemption's are in.
    let end = std::fs::metadata(server_log).map(|m| m.len()).unwrap_or(0);
    {
        let mut conn = pool.get().await.unwrap();
        diesel::sql_query("RESET log_min_duration_statement")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let log = std::fs::read(server_log).unwrap_or_default();
    let log = String::from_utf8_lossy(log.get(offset as usize..end as usize).unwrap_or_default());
    let tag = format!("[{pid}]");
    let (mut parses, mut executes, mut simple, mut server_ms) = (0, 0, 0, 0.0);
    let mut lines = Vec::new();
    for line in log.lines().filter(|l| l.contains(&tag)) {
        let Some(rest) = line.split_once("duration: ").map(|(_, r)| r) else {
            continue;
        };
        let Some((duration, what)) = rest.split_once(" ms  ") else {
            continue;
        };
        let duration: f64 = duration.trim().parse().unwrap_or(0.0);
        server_ms += duration;
        let kind = what.split_whitespace().next().unwrap_or("");
        match kind {
            "parse" => parses += 1,
            "execute" => executes += 1,
            "statement:" => simple += 1,
            _ => {}
        }
        let sql = what.split_once(": ").map(|(_, q)| q).unwrap_or(what);
        let sql: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let short: String = sql.chars().take(96).collect();
        lines.push(format!(
            "      {duration:>7.3} ms  {:<10} {short}",
            kind.trim_end_matches(':')
        ));
    }
    println!(
        "  one redemption traced on an idle machine (log_min_duration_statement = 0 on its connection): \
         {} round trips ({} parse of a statement diesel does not keep prepared, {} execute, {} simple query), \
         server time {:.2} ms of {:.2} ms wall",
        parses + executes + simple,
        parses,
        executes,
        simple,
        server_ms,
        ms(wall)
    );
    for line in lines {
        println!("{line}");
    }
}

/// Diagnostics only, in the scratch database: the triggers and CHECK constraints that
/// guard what a redemption writes, so that a run measures the writes alone (the
/// function still writes balanced movements; the invariants are checked afterwards).
async fn drop_integrity_checks(conn: &mut AsyncPgConnection) {
    diesel::sql_query(
        "DO $$
         DECLARE c RECORD;
         BEGIN
             DROP TRIGGER redemptions_references_exist ON redemptions;
             DROP TRIGGER ledger_postings_belong ON ledger_postings;
             DROP TRIGGER idempotency_keys_user_exists ON idempotency_keys;
             DROP TRIGGER ledger_transaction_balanced ON ledger_transactions;
             FOR c IN SELECT conrelid::regclass::text AS tbl, conname FROM pg_constraint
                      WHERE contype = 'c' AND conrelid IN ('redemptions'::regclass,
                            'ledger_postings'::regclass, 'ledger_transactions'::regclass,
                            'idempotency_keys'::regclass, 'tickets'::regclass) LOOP
                 EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
             END LOOP;
         END $$",
    )
    .execute(conn)
    .await
    .unwrap();
}

// ----------------------------------------------------------------------------------
// pgbench.
// ----------------------------------------------------------------------------------

fn pgbench_command(pg_bin: &Path, server: &ServerAddress, db: &str, args: &[&str]) -> Command {
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

async fn checkpoint(admin: &mut AsyncPgConnection) {
    diesel::sql_query("CHECKPOINT")
        .execute(admin)
        .await
        .unwrap();
}

struct PgbenchRun {
    tps: f64,
    latency_ms: f64,
    /// pgbench's line on failed transactions.
    failed: String,
    observation: Observation,
}

/// One pgbench window of `PGBENCH_ROUND` seconds, observed from its first second.
async fn pgbench_window(
    pg_bin: &Path,
    server: &ServerAddress,
    db: &str,
    admin_url: &str,
    postmaster: Option<u32>,
) -> PgbenchRun {
    let clients = CLIENTS.to_string();
    let seconds = PGBENCH_ROUND.to_string();
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
        Duration::from_secs(PGBENCH_ROUND - 1),
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

fn parse_after(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let clk_tck: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0);
    type UrlOf = Box<dyn Fn(&str) -> String>;
    let (admin_url, url_of, data_dir): (String, UrlOf, Option<PathBuf>) =
        match std::env::var("BENCH_DATABASE_URL") {
            Ok(url) => {
                let base = url.rsplit_once('/').unwrap().0.to_string();
                (
                    format!("{base}/postgres"),
                    Box::new(move |db| format!("{base}/{db}")),
                    None,
                )
            }
            Err(_) => {
                let root = manifest.join(".data/bench/postgres");
                let cluster = pg_cluster::ensure_running(&root, Durability::Durable).unwrap();
                let c2 = cluster.clone();
                (
                    cluster.url("postgres"),
                    Box::new(move |db| c2.url(db)),
                    Some(cluster.data_dir()),
                )
            }
        };
    let postmaster = postmaster_pid(data_dir.as_deref());
    let diagnose = std::env::var("BENCH_DIAGNOSE").is_ok_and(|v| !v.is_empty() && v != "0");
    let print_runs = PRINT_RUNS + if diagnose { DIAG_PRINT_RUNS } else { 0 };
    let server_address = parse_url(&admin_url);
    let mut admin = AsyncPgConnection::establish(&admin_url).await.unwrap();
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        setting: String,
    }
    let mut settings = Vec::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "shared_buffers",
        "max_connections",
    ] {
        let s: Setting = diesel::sql_query(format!("SELECT current_setting('{name}') AS setting"))
            .get_result(&mut admin)
            .await
            .unwrap();
        settings.push(format!("{name}={}", s.setting));
    }
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    println!(
        "redemption benchmark: {CLIENTS} concurrent clients, hot accounts (one program, one site)"
    );
    println!(
        "  machine: {} CPU(s), {cpu_model}; PostgreSQL {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        settings.join(", ")
    );

    // ---------------------------------------------------------------- 1. pgbench
    let pg_bin = pg_cluster::bin_dir().unwrap();
    let pgbench_db = format!("pgbench_{}", Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {pgbench_db}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let started = Instant::now();
    let scale = PGBENCH_SCALE.to_string();
    let init = pgbench_command(
        &pg_bin,
        &server_address,
        &pgbench_db,
        &["-i", "-s", &scale, "-q"],
    )
    .output()
    .unwrap();
    assert!(
        init.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    println!(
        "\n1. baseline: pgbench TPC-B-like, scale {PGBENCH_SCALE} (initialised in {:.1} s; measured in turns with the service, below)",
        started.elapsed().as_secs_f64()
    );
    // ---------------------------------------------------------------- 2. seed
    let started = Instant::now();
    let db = format!("bench_redemption_{}", Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = url_of(&db);
    passnum::db::run_migrations(&url).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query("SET application_name = 'bench-control'")
        .execute(&mut conn)
        .await
        .unwrap();
    organizations::bootstrap_operator(
        &mut conn,
        Email::parse("email", "operator@example.org").unwrap(),
        &Password::parse("p", AGENT_PASSWORD).unwrap(),
    )
    .await
    .unwrap();
    let funder =
        organizations::create_organization(&mut conn, &org(OrgKind::Funder, "Département"))
            .await
            .unwrap();
    let (prescriber, prescriber_agent) =
        common::prescriber_with_agent(&mut conn, "prescriber@example.org").await;
    let site = organizations::create_organization(&mut conn, &org(OrgKind::Site, "Médiathèque"))
        .await
        .unwrap();
    let today = passnum::domain::french_date(Utc::now());
    organizations::grant_label(
        &mut conn,
        site.id,
        LabelPeriod::new(
            today - chrono::Days::new(30),
            today + chrono::Days::new(365),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let site_email = "scan@example.org";
    let site_agent = organizations::create_user(
        &mut conn,
        &NewUser {
            organization_id: site.id,
            email: Email::parse("email", site_email).unwrap(),
            password_hash: Some(passnum::auth::hash_password(AGENT_PASSWORD).unwrap()),
            role: Role::Agent,
        },
    )
    .await
    .unwrap();
    let budget = Money::parse("budget", "10000000.00").unwrap();
    let program = programs::create_program(
        &mut conn,
        NewProgram {
            name: "Bench redemption".into(),
            ticket_value: Money::parse("v", "10.00").unwrap(),
            tickets_per_checkbook: TICKETS_PER_CHECKBOOK,
            validity: Validity::DaysFromIssue(365),
            tolerance_days: 0,
            commission_rate: Rate::parse("r", "0.04").unwrap(),
            funder_fee_rate: Rate::parse("r", "0").unwrap(),
            budget,
            funders: vec![(funder.id, Share::parse("s", "1").unwrap())],
            territory: vec![PostcodePrefix::parse("t", "70").unwrap()],
        },
    )
    .await
    .unwrap();
    programs::record_payment(
        &mut conn,
        program.id,
        funder.id,
        budget,
        "VIR-BENCH".into(),
        Utc::now().date_naive(),
    )
    .await
    .unwrap();
    programs::add_allocation(
        &mut conn,
        program.id,
        prescriber.id,
        print_runs * checkbooks::MAX_PRINT_RUN,
    )
    .await
    .unwrap();
    let prescriber_caller = Caller {
        user_id: prescriber_agent.id,
        organization_id: prescriber.id,
        kind: OrgKind::Prescriber,
        role: Role::Agent,
    };
    for _ in 0..print_runs {
        let order = IssueOrder {
            program: program.id,
            count: checkbooks::MAX_PRINT_RUN,
            beneficiary: None,
            print_run: true,
        };
        conn.transaction::<_, ApiError, _>(async |conn| {
            checkbooks::issue(conn, &prescriber_caller, &order).await
        })
        .await
        .unwrap();
    }
    // Hand every printed checkbook out at once (a seed, not the use case).
    diesel::sql_query(
        "UPDATE checkbooks SET status = 'handed_out', beneficiary_reference = 'B-' || number,
                handed_out_at = now(), handed_out_by = $1 WHERE status = 'stock'",
    )
    .bind::<diesel::sql_types::Uuid, _>(prescriber_agent.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let ticket_secret = random_secret(40);
    let ticket_keys_env = format!("b1:{ticket_secret}");
    let keys = CodeKeys::new(vec![("b1".into(), ticket_secret.clone())]).unwrap();
    let serials: Vec<String> = passnum::schema::tickets::table
        .select(passnum::schema::tickets::serial)
        .load(&mut conn)
        .await
        .unwrap();
    let mut codes: Vec<String> = serials
        .iter()
        .map(|s| keys.sign(&passnum::codes::Serial::parse(s).unwrap(), 1000))
        .collect();
    codes.shuffle(&mut rand::thread_rng());
    let trace_codes = codes.split_off(codes.len() - 2);
    let mut diag_codes: Vec<Vec<String>> = Vec::new();
    if diagnose {
        for _ in 0..DIAG_STEPS {
            diag_codes.push(codes.split_off(codes.len() - DIAG_TICKETS));
        }
    }
    let lib_codes: Vec<String> = codes.split_off(codes.len() - LIB_TICKETS);
    let mut http_codes = codes;
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    println!(
        "\n2. seed: program (10.00 € tickets, commission 0.04), one labelled site, {} handed-out tickets ({} for HTTP, {} for the library run) in {:.1} s",
        serials.len(),
        http_codes.len(),
        lib_codes.len(),
        started.elapsed().as_secs_f64()
    );

    // A service in use has history: its tables are not empty when the load comes
    // (query plans made over empty tables are not the ones production runs).
    let history_codes = http_codes.split_off(http_codes.len() - HISTORY_TICKETS);
    let started = Instant::now();
    {
        let pool = passnum::db::build_pool(&url, CLIENTS).unwrap();
        let caller = Caller {
            user_id: site_agent.id,
            organization_id: site.id,
            kind: OrgKind::Site,
            role: Role::Agent,
        };
        use futures_util::StreamExt;
        futures_util::stream::iter(history_codes)
            .for_each_concurrent(CLIENTS, |code| {
                let (pool, caller, keys) = (&pool, &caller, &keys);
                async move {
                    redeem_via_library(pool, caller, keys, &code).await.unwrap();
                }
            })
            .await;
    }
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    println!(
        "  history: {HISTORY_TICKETS} tickets redeemed beforehand (not measured) in {:.1} s, then VACUUM ANALYZE",
        started.elapsed().as_secs_f64()
    );

    // ---------------------------------------------------------------- 3. server
    let binary = server_binary();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = ServerChild(
        Command::new(&binary)
            .arg("serve")
            .current_dir(manifest)
            .env("DATABASE_URL", &url)
            .env("PASSNUM_BIND", format!("127.0.0.1:{port}"))
            .env("PASSNUM_CONFIG_DIR", manifest.join("config"))
            .env("PASSNUM_DATA_DIR", manifest.join(".data/bench/files"))
            .env("PASSNUM_TOKEN_SECRET", random_secret(48))
            .env("PASSNUM_TICKET_KEYS", &ticket_keys_env)
            .env("PASSNUM_TOKEN_TTL_SECONDS", "3600")
            .env("PASSNUM_LOG_LEVEL", "warn")
            .env("PASSNUM_DATABASE_POOL_SIZE", CLIENTS.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display())),
    );
    let server_pid = server.0.id();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS * 2)
        .build()
        .unwrap();
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
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": site_email, "password": AGENT_PASSWORD}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    println!(
        "\n3. pgbench and the service over HTTP, in turns: {ROUNDS} rounds of pgbench ({PGBENCH_ROUND} s: \
         pgbench -c {CLIENTS} -j 2 -T {PGBENCH_ROUND} -M prepared -n, as postgres over TCP 127.0.0.1), \
         then {} serve (pool {CLIENTS}, log level warn) under {CLIENTS} clients posting \
         POST /api/v1/redemptions ({:.0} s warm-up + {:.0} s). Taking turns puts both under the \
         same conditions of this shared machine, whose speed drifts from minute to minute.",
        binary.display(),
        HTTP_WARM_UP.as_secs_f64(),
        HTTP_ROUND.as_secs_f64()
    );
    let endpoint = Arc::new(format!("{base}/api/v1/redemptions"));
    let bearer = Arc::new(format!("Bearer {token}"));
    let http_op = {
        let client = client.clone();
        move |code: String| {
            let (client, endpoint, bearer) = (client.clone(), endpoint.clone(), bearer.clone());
            async move {
                let response = client
                    .post(endpoint.as_str())
                    .header("Authorization", bearer.as_str())
                    .header("Idempotency-Key", Uuid::new_v4().to_string())
                    .json(&json!({ "code": code }))
                    .send()
                    .await
                    .map_err(|e| ("transport error".to_string(), e.to_string()))?;
                let status = response.status();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| ("transport error".to_string(), e.to_string()))?;
                if status.as_u16() == 201 {
                    Ok(())
                } else {
                    let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    Err((
                        format!(
                            "{} {}",
                            status.as_u16(),
                            problem["code"].as_str().unwrap_or("")
                        ),
                        String::from_utf8_lossy(&body).into_owned(),
                    ))
                }
            }
        }
    };
    let http_codes = Arc::new(http_codes);
    let cursor = Arc::new(AtomicUsize::new(0));
    let mut http = LoadResult::empty();
    let (mut tps_sum, mut pg_latency_sum) = (0.0, 0.0);
    let mut last_observations = None;
    for round in 1..=ROUNDS {
        checkpoint(&mut admin).await;
        let pg = pgbench_window(
            &pg_bin,
            &server_address,
            &pgbench_db,
            &admin_url,
            postmaster,
        )
        .await;
        checkpoint(&mut admin).await;
        let watcher = observe(
            admin_url.clone(),
            db.clone(),
            HTTP_WARM_UP,
            HTTP_ROUND,
            postmaster,
            Some(server_pid),
        );
        let r = run_load(
            http_codes.clone(),
            cursor.clone(),
            HTTP_WARM_UP,
            HTTP_ROUND,
            http_op.clone(),
        )
        .await;
        println!(
            "  round {round}: pgbench {:.0} tps ({}), HTTP redemptions {:.0} req/s, ratio {:.2}",
            pg.tps,
            pg.failed,
            r.rate(),
            r.rate() / pg.tps
        );
        tps_sum += pg.tps;
        pg_latency_sum += pg.latency_ms;
        http.absorb(r);
        last_observations = Some((pg.observation, watcher.await.unwrap()));
    }
    let tps = tps_sum / ROUNDS as f64;
    let pg_latency = pg_latency_sum / ROUNDS as f64;
    println!(
        "  pgbench: {tps:.0} tps on average over the rounds, latency average {pg_latency:.2} ms"
    );
    let http_figures = figures(&http);
    print_load("HTTP redemptions", &http, &http_figures);
    let (pg_observation, http_observation) = last_observations.expect("at least one round");
    println!("  where the time went in the last round, pgbench:");
    print_observation(&pg_observation, clk_tck, postmaster.is_some());
    println!("  and the service:");
    print_observation(&http_observation, clk_tck, postmaster.is_some());

    // ---------------------------------------------------------------- 4. library
    println!(
        "\n4. the same transaction without HTTP: idempotency claim + redemptions::redeem + stored answer, \
         one transaction, through passnum::db::build_pool({CLIENTS}), {CLIENTS} tasks, {:.0} s warm-up + {:.0} s",
        LIB_WARM_UP.as_secs_f64(),
        LIB_MEASURE.as_secs_f64()
    );
    let pool = passnum::db::build_pool(&url, CLIENTS).unwrap();
    let site_caller = Arc::new(Caller {
        user_id: site_agent.id,
        organization_id: site.id,
        kind: OrgKind::Site,
        role: Role::Agent,
    });
    let keys = Arc::new(keys);
    diesel::sql_query("CHECKPOINT")
        .execute(&mut admin)
        .await
        .unwrap();
    let watcher = observe(
        admin_url.clone(),
        db.clone(),
        LIB_WARM_UP,
        LIB_MEASURE,
        postmaster,
        None,
    );
    let lib = library_load(
        pool,
        site_caller.clone(),
        keys.clone(),
        lib_codes,
        LIB_WARM_UP,
        LIB_MEASURE,
    )
    .await;
    let lib_figures = figures(&lib);
    print_load("library redemptions", &lib, &lib_figures);
    print_observation(&watcher.await.unwrap(), clk_tck, postmaster.is_some());

    match data_dir.as_deref().and_then(Path::parent) {
        Some(root) => {
            trace_one(
                &url,
                &site_caller,
                &keys,
                &trace_codes,
                &root.join("server.log"),
            )
            .await
        }
        None => {
            println!("  (no statement trace: the server's log is not ours with BENCH_DATABASE_URL)")
        }
    }
    let traced_201 = if data_dir.is_some() { 2 } else { 0 };

    // ---------------------------------------------------------------- 4b. diagnostics
    let mut diagnostic_201 = 0;
    if diagnose {
        println!(
            "\n4b. diagnostics (BENCH_DIAGNOSE=1): the library run again, each step on top of the previous one, \
             {:.0} s warm-up + {:.0} s each",
            DIAG_WARM_UP.as_secs_f64(),
            DIAG_MEASURE.as_secs_f64()
        );
        let steps = [
            "a. without the integrity triggers and CHECK constraints of the tables a redemption writes \
             (scratch database only): what its writes alone cost",
            "b. and synchronous_commit = off for this scratch database (no wait for the WAL flush)",
        ];
        // A checkpoint, then a pgbench window, on a connection of its own.
        let pgbench_after = || {
            let (pg_bin, server_address, pgbench_db, admin_url) =
                (&pg_bin, &server_address, &pgbench_db, &admin_url);
            async move {
                let mut admin = AsyncPgConnection::establish(admin_url).await.unwrap();
                checkpoint(&mut admin).await;
                pgbench_window(pg_bin, server_address, pgbench_db, admin_url, postmaster).await
            }
        };
        for (i, (step, codes)) in steps.iter().zip(diag_codes.drain(..)).enumerate() {
            if i == 0 {
                drop_integrity_checks(&mut conn).await;
            }
            if i == 1 {
                diesel::sql_query(format!("ALTER DATABASE {db} SET synchronous_commit = off"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            println!("  {step}");
            let pool = passnum::db::build_pool(&url, CLIENTS).unwrap();
            diesel::sql_query("CHECKPOINT")
                .execute(&mut admin)
                .await
                .unwrap();
            let watcher = observe(
                admin_url.clone(),
                db.clone(),
                DIAG_WARM_UP,
                DIAG_MEASURE,
                postmaster,
                None,
            );
            let r = library_load(
                pool,
                site_caller.clone(),
                keys.clone(),
                codes,
                DIAG_WARM_UP,
                DIAG_MEASURE,
            )
            .await;
            diagnostic_201 += r.outcomes.get("201 redeemed").copied().unwrap_or(0);
            let f = figures(&r);
            print_load("library redemptions", &r, &f);
            print_observation(&watcher.await.unwrap(), clk_tck, postmaster.is_some());
            // The machine drifts: compare with pgbench right afterwards.
            let pg = pgbench_after().await;
            println!(
                "    pgbench in the {PGBENCH_ROUND} s right after: {:.0} tps; library redemptions / pgbench: {:.2}",
                pg.tps,
                f.rate / pg.tps
            );
            if i == 0 {
                // The service too, without the checks, then pgbench again.
                checkpoint(&mut admin).await;
                let h = run_load(
                    http_codes.clone(),
                    cursor.clone(),
                    HTTP_WARM_UP,
                    HTTP_ROUND,
                    http_op.clone(),
                )
                .await;
                diagnostic_201 += h.outcomes.get("201 redeemed").copied().unwrap_or(0);
                let hf = figures(&h);
                let pg = pgbench_after().await;
                println!(
                    "    the service over HTTP, {:.0} s warm-up + {:.0} s: {:.0} req/s, p99 {:.2} ms; \
                     pgbench right after: {:.0} tps; HTTP redemptions / pgbench: {:.2}",
                    HTTP_WARM_UP.as_secs_f64(),
                    HTTP_ROUND.as_secs_f64(),
                    hf.rate,
                    hf.p99,
                    pg.tps,
                    hf.rate / pg.tps
                );
            }
        }
    }
    server.stop();

    // ---------------------------------------------------------------- 5. verdict
    let ratio = http_figures.rate / tps;
    let ok_ratio = ratio >= TARGET_RATIO;
    let ok_p99 = http_figures.p99 <= TARGET_P99_MS;
    let ok_answers = http.outcomes.keys().all(|k| k == "201 redeemed")
        && lib.outcomes.keys().all(|k| k == "201 redeemed");
    println!("\n5. summary");
    println!(
        "  pgbench TPC-B-like (-c {CLIENTS} -j 2 -M prepared): {tps:.0} tps, latency average {pg_latency:.2} ms"
    );
    println!(
        "  HTTP redemptions: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        http_figures.rate, http_figures.p50, http_figures.p99
    );
    println!(
        "  library redemptions (no HTTP): {:.0} /s, p50 {:.2} ms, p99 {:.2} ms  (HTTP reaches {:.0} % of it)",
        lib_figures.rate,
        lib_figures.p50,
        lib_figures.p99,
        http_figures.rate / lib_figures.rate * 100.0
    );
    println!(
        "  ratio HTTP redemptions / pgbench tps: {ratio:.2} (target ≥ {TARGET_RATIO:.2}) {}",
        if ok_ratio { "MET" } else { "MISSED" }
    );
    println!(
        "  ratio library redemptions / pgbench tps: {:.2}",
        lib_figures.rate / tps
    );
    println!(
        "  HTTP p99 {:.2} ms (target ≤ {TARGET_P99_MS:.0} ms) {}",
        http_figures.p99,
        if ok_p99 { "MET" } else { "MISSED" }
    );
    println!(
        "  every answer 201: {}",
        if ok_answers {
            "yes"
        } else {
            "NO (see the answers above)"
        }
    );

    // ---------------------------------------------------------------- 6. invariants
    let violations = passnum::ledger::invariant_violations(&mut conn)
        .await
        .unwrap();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |sql: &'static str| diesel::sql_query(sql);
    let live: Count = count("SELECT count(*) AS n FROM redemptions WHERE status = 'redeemed'")
        .get_result(&mut conn)
        .await
        .unwrap();
    let redeemed_tickets: Count =
        count("SELECT count(*) AS n FROM tickets WHERE status = 'redeemed'")
            .get_result(&mut conn)
            .await
            .unwrap();
    let ledger_redemptions: Count =
        count("SELECT count(*) AS n FROM ledger_transactions WHERE kind = 'redemption'")
            .get_result(&mut conn)
            .await
            .unwrap();
    let answered_201 = http.outcomes.get("201 redeemed").copied().unwrap_or(0)
        + lib.outcomes.get("201 redeemed").copied().unwrap_or(0)
        + diagnostic_201
        + traced_201
        // every history redemption answered "redeemed" (it unwraps otherwise)
        + HISTORY_TICKETS;
    println!(
        "\n6. ledger invariants: {} violation(s) (must be 0)",
        violations.len()
    );
    for v in violations.iter().take(10) {
        println!("    {v}");
    }
    println!(
        "  201 answers {answered_201}; live redemptions {}; redeemed tickets {}; redemption ledger transactions {} {}",
        live.n,
        redeemed_tickets.n,
        ledger_redemptions.n,
        if live.n as usize == answered_201
            && redeemed_tickets.n == live.n
            && ledger_redemptions.n == live.n
        {
            "(exactly once: all equal)"
        } else {
            "(MISMATCH)"
        }
    );

    drop(conn);
    drop(server);
    diesel::sql_query(format!("DROP DATABASE {pgbench_db} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("\nserver stopped; database {pgbench_db} dropped, {db} kept (BENCH_KEEP=1)");
        return;
    }
    diesel::sql_query(format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    println!("\nserver stopped; databases {pgbench_db} and {db} dropped");
}

fn claim_serial(ticket: &TicketRef) -> String {
    match ticket {
        TicketRef::Code(claim) => claim.serial.as_str().to_string(),
        TicketRef::Serial(serial) => serial.as_str().to_string(),
    }
}
