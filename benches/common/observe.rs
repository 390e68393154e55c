//! Where the time of a measured window went: the machine's CPU by process (from
//! `/proc`), and the database side (commits, WAL and multixacts per commit, what the
//! backends of the measured database were doing, polled from `pg_stat_activity`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

// ----------------------------------------------------------------------------------
// CPU accounting from /proc: where the two cores went during a measured window.
// ----------------------------------------------------------------------------------

/// `(comm, parent pid, utime + stime)` of a process, in clock ticks.
pub fn proc_stat(pid: &str) -> Option<(String, u32, u64)> {
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
pub struct CpuSample {
    pub machine_busy: u64,
    pub machine_total: u64,
    /// Ticks of each process of the cluster (backends come and go between samples).
    pub postgres: BTreeMap<u32, u64>,
    pub server: u64,
    pub me: u64,
    pub pgbench: u64,
}

pub fn machine_ticks() -> (u64, u64) {
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
pub fn postmaster_pid(data_dir: Option<&Path>) -> Option<u32> {
    let pid_file = std::fs::read_to_string(data_dir?.join("postmaster.pid")).ok()?;
    pid_file.lines().next()?.trim().parse().ok()
}

pub fn sample(postmaster: Option<u32>, server: Option<u32>) -> CpuSample {
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
pub fn postgres_ticks(a: &CpuSample, b: &CpuSample) -> u64 {
    b.postgres
        .iter()
        .map(|(pid, t1)| t1.saturating_sub(a.postgres.get(pid).copied().unwrap_or(0)))
        .sum()
}

/// CPU used between two samples, in cores (2.0 = both cores busy all along).
pub fn cpu_report(
    a: &CpuSample,
    b: &CpuSample,
    elapsed: Duration,
    clk_tck: f64,
    postgres_known: bool,
) {
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
pub struct DbCounters {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub commits: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub wal_records: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub wal_fpi: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub wal_bytes: f64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub multixacts: i64,
}

pub async fn db_counters(conn: &mut AsyncPgConnection, db: &str) -> DbCounters {
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
pub struct Activity {
    #[diesel(sql_type = diesel::sql_types::Text)]
    what: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub struct Observation {
    pub elapsed: Duration,
    pub cpu: (CpuSample, CpuSample),
    pub db: (DbCounters, DbCounters),
    /// Backend states summed over the polls, and the number of polls.
    pub activity: BTreeMap<String, i64>,
    pub polls: i64,
}

/// Watches the window `[warm_up, warm_up + measure)` from now.
pub fn observe(
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

pub fn print_observation(o: &Observation, clk_tck: f64, postgres_known: bool) {
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
