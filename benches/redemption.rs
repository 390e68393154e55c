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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
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
use passnum::organizations::{self, NewUser, Organization, User};
use passnum::pg_cluster;
use passnum::programs::{self, NewProgram, Validity};
use passnum::redemptions::{self, TicketRef};
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use uuid::Uuid;

use common::load::{Figures, LoadResult, figures, print_load, run_load};
use common::observe::{observe, postmaster_pid, print_observation};
use common::pgbench::{
    PgbenchRun, ServerAddress, checkpoint, parse_url, pgbench_command, pgbench_window,
};
use common::{ServerChild, ms, org, random_secret};

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
        .map_err(|e| (e.field, e.message))?;
    let key = Uuid::new_v4().to_string();
    let request_hash = idempotency::fingerprint("redemptions", &json!(format!("code:{code}")));
    let scan = redemptions::Scan {
        caller,
        ticket: &ticket,
        key: &key,
        request_hash: &request_hash,
        scanned_at,
        day,
        service: None,
        session: None,
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
    let r = match redemptions::redeem(&mut conn, &scan)
        .await
        .map_err(|e| as_pair(e.into()))?
    {
        redemptions::Outcome::Redeemed(r) => r,
        redemptions::Outcome::Refused { refusal, prior } => {
            return Err(as_pair(passnum::api::redemptions::refusal_error(
                refusal, prior,
            )));
        }
        other => return Err(("refused".to_string(), format!("{other:?}"))),
    };
    std::hint::black_box(passnum::api::redemptions::RedemptionView::of(
        &r,
        &claim_serial(&ticket),
        false,
    ));
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
        CLIENTS,
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
// The steps of the benchmark, in the order `main` runs them.
// ----------------------------------------------------------------------------------

/// The cluster, the pgbench database and what observes them: what every step needs.
struct Bench {
    admin_url: String,
    admin: AsyncPgConnection,
    url_of: common::UrlOf,
    /// The private cluster's data folder (`None` with `BENCH_DATABASE_URL`).
    data_dir: Option<PathBuf>,
    postmaster: Option<u32>,
    clk_tck: f64,
    diagnose: bool,
    pg_bin: PathBuf,
    server_address: ServerAddress,
    pgbench_db: String,
}

impl Bench {
    /// A checkpoint, then one pgbench window, on a connection of its own.
    async fn pgbench_after_checkpoint(&self) -> PgbenchRun {
        let mut admin = AsyncPgConnection::establish(&self.admin_url).await.unwrap();
        checkpoint(&mut admin).await;
        self.pgbench_window().await
    }

    async fn pgbench_window(&self) -> PgbenchRun {
        pgbench_window(
            &self.pg_bin,
            &self.server_address,
            &self.pgbench_db,
            &self.admin_url,
            self.postmaster,
            (CLIENTS, PGBENCH_ROUND),
        )
        .await
    }

    fn print_observation(&self, o: &common::observe::Observation) {
        print_observation(o, self.clk_tck, self.postmaster.is_some());
    }
}

/// Connects to the cluster and prints the machine and PostgreSQL's settings.
async fn connect() -> (common::BenchServer, AsyncPgConnection) {
    let server = common::bench_server();
    let mut admin = AsyncPgConnection::establish(&server.admin_url)
        .await
        .unwrap();
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
    println!(
        "redemption benchmark: {CLIENTS} concurrent clients, hot accounts (one program, one site)"
    );
    println!(
        "  machine: {} CPU(s), {}; PostgreSQL {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        common::cpu_model(),
        settings.join(", ")
    );
    (server, admin)
}

/// Step 1: The pgbench database, initialised at scale `PGBENCH_SCALE`.
async fn pgbench_baseline(server: common::BenchServer, mut admin: AsyncPgConnection) -> Bench {
    let pg_bin = pg_cluster::bin_dir().unwrap();
    let server_address = parse_url(&server.admin_url);
    let pgbench_db = format!("pgbench_{}", Uuid::new_v4().simple());
    common::create_database(&mut admin, &pgbench_db).await;
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
    Bench {
        postmaster: postmaster_pid(server.data_dir.as_deref()),
        admin_url: server.admin_url,
        admin,
        url_of: server.url_of,
        data_dir: server.data_dir,
        clk_tck: common::clock_ticks_per_second(),
        diagnose: std::env::var("BENCH_DIAGNOSE").is_ok_and(|v| !v.is_empty() && v != "0"),
        pg_bin,
        server_address,
        pgbench_db,
    }
}

/// The seeded database: the site's agent and the signed codes of its tickets,
/// shared out between the phases.
struct Seed {
    db: String,
    url: String,
    conn: AsyncPgConnection,
    site: Organization,
    site_agent: User,
    site_email: &'static str,
    keys: CodeKeys,
    ticket_keys_env: String,
    trace_codes: Vec<String>,
    diag_codes: Vec<Vec<String>>,
    lib_codes: Vec<String>,
    http_codes: Vec<String>,
}

impl Seed {
    fn site_caller(&self) -> Caller {
        Caller {
            user_id: self.site_agent.id,
            organization_id: self.site.id,
            kind: OrgKind::Site,
            role: Role::Agent,
        }
    }
}

/// Step 2: One program, one labelled site and its agent, print runs handed out; the
/// tickets' codes signed and shuffled.
async fn seed(bench: &mut Bench) -> Seed {
    let print_runs = PRINT_RUNS + if bench.diagnose { DIAG_PRINT_RUNS } else { 0 };
    let started = Instant::now();
    let db = format!("bench_redemption_{}", Uuid::new_v4().simple());
    common::create_database(&mut bench.admin, &db).await;
    let url = (bench.url_of)(&db);
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
        passnum::audit::Actor::Service("bench"),
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
        passnum::audit::Actor::Service("bench"),
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
        passnum::audit::Actor::Service("bench"),
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
        passnum::audit::Actor::Service("bench"),
        program.id,
        prescriber.id,
        print_runs * checkbooks::MAX_PRINT_RUN,
        programs::OverBudget::Refuse,
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
        conn.transaction::<_, checkbooks::CheckbookError, _>(async |conn| {
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
    if bench.diagnose {
        for _ in 0..DIAG_STEPS {
            diag_codes.push(codes.split_off(codes.len() - DIAG_TICKETS));
        }
    }
    let lib_codes: Vec<String> = codes.split_off(codes.len() - LIB_TICKETS);
    let http_codes = codes;
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
    Seed {
        db,
        url,
        conn,
        site,
        site_agent,
        site_email,
        keys,
        ticket_keys_env,
        trace_codes,
        diag_codes,
        lib_codes,
        http_codes,
    }
}

/// A service in use has history: its tables are not empty when the load comes
/// (query plans made over empty tables are not the ones production runs). Redeems
/// `HISTORY_TICKETS` of the HTTP phase's tickets, unmeasured.
async fn redeem_history(seed: &mut Seed) {
    let history_codes = seed
        .http_codes
        .split_off(seed.http_codes.len() - HISTORY_TICKETS);
    let started = Instant::now();
    {
        let pool = passnum::db::build_pool(&seed.url, CLIENTS).unwrap();
        let caller = seed.site_caller();
        use futures_util::StreamExt;
        futures_util::stream::iter(history_codes)
            .for_each_concurrent(CLIENTS, |code| {
                let (pool, caller, keys) = (&pool, &caller, &seed.keys);
                async move {
                    redeem_via_library(pool, caller, keys, &code).await.unwrap();
                }
            })
            .await;
    }
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut seed.conn)
        .await
        .unwrap();
    println!(
        "  history: {HISTORY_TICKETS} tickets redeemed beforehand (not measured) in {:.1} s, then VACUUM ANALYZE",
        started.elapsed().as_secs_f64()
    );
}

/// The service over HTTP: the release server, and a client posting redemptions as
/// the site's agent.
struct Service {
    server: ServerChild,
    binary: PathBuf,
    redeemer: HttpRedeemer,
}

/// Starts the release server over the seeded database and logs the site's agent in.
async fn start_service(seed: &Seed) -> Service {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS * 2)
        .build()
        .unwrap();
    let (server, base) = common::start_server(
        &seed.url,
        &[
            ("PASSNUM_TOKEN_SECRET", random_secret(48)),
            ("PASSNUM_TICKET_KEYS", seed.ticket_keys_env.clone()),
            ("PASSNUM_TOKEN_TTL_SECONDS", "3600".into()),
            ("PASSNUM_DATABASE_POOL_SIZE", CLIENTS.to_string()),
        ],
        &client,
    )
    .await;
    let token = common::login(&client, &base, seed.site_email, AGENT_PASSWORD).await;
    Service {
        server,
        binary: common::server_binary(),
        redeemer: HttpRedeemer {
            client,
            endpoint: Arc::new(format!("{base}/api/v1/redemptions")),
            bearer: Arc::new(format!("Bearer {token}")),
        },
    }
}

/// Posts one redemption with a fresh `Idempotency-Key`.
#[derive(Clone)]
struct HttpRedeemer {
    client: reqwest::Client,
    endpoint: Arc<String>,
    bearer: Arc<String>,
}

impl HttpRedeemer {
    /// `Ok(())` for a 201, else the status and problem code, and the body.
    async fn redeem(self, code: String) -> Result<(), (String, String)> {
        let response = self
            .client
            .post(self.endpoint.as_str())
            .header("Authorization", self.bearer.as_str())
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

/// The HTTP phase's tickets, shared by its rounds and the diagnostics.
struct HttpTickets {
    codes: Arc<Vec<String>>,
    cursor: Arc<AtomicUsize>,
}

impl HttpTickets {
    /// One HTTP window: `HTTP_WARM_UP` then `HTTP_ROUND` measured.
    async fn window(&self, redeemer: &HttpRedeemer) -> LoadResult {
        let redeemer = redeemer.clone();
        run_load(
            CLIENTS,
            self.codes.clone(),
            self.cursor.clone(),
            HTTP_WARM_UP,
            HTTP_ROUND,
            move |code| redeemer.clone().redeem(code),
        )
        .await
    }
}

/// What the rounds of pgbench and HTTP measured.
struct Rounds {
    http: LoadResult,
    http_figures: Figures,
    /// pgbench's mean tps and latency over the rounds.
    tps: f64,
    pg_latency: f64,
}

/// Step 3: pgbench and the service over HTTP, taking turns `ROUNDS` times.
async fn http_in_turns(
    bench: &mut Bench,
    seed: &Seed,
    service: &Service,
    tickets: &HttpTickets,
) -> Rounds {
    println!(
        "\n3. pgbench and the service over HTTP, in turns: {ROUNDS} rounds of pgbench ({PGBENCH_ROUND} s: \
         pgbench -c {CLIENTS} -j 2 -T {PGBENCH_ROUND} -M prepared -n, as postgres over TCP 127.0.0.1), \
         then {} serve (pool {CLIENTS}, log level warn) under {CLIENTS} clients posting \
         POST /api/v1/redemptions ({:.0} s warm-up + {:.0} s). Taking turns puts both under the \
         same conditions of this shared machine, whose speed drifts from minute to minute.",
        service.binary.display(),
        HTTP_WARM_UP.as_secs_f64(),
        HTTP_ROUND.as_secs_f64()
    );
    let server_pid = service.server.0.id();
    let mut http = LoadResult::empty();
    let (mut tps_sum, mut pg_latency_sum) = (0.0, 0.0);
    let mut last_observations = None;
    for round in 1..=ROUNDS {
        checkpoint(&mut bench.admin).await;
        let pg = bench.pgbench_window().await;
        checkpoint(&mut bench.admin).await;
        let watcher = observe(
            bench.admin_url.clone(),
            seed.db.clone(),
            HTTP_WARM_UP,
            HTTP_ROUND,
            bench.postmaster,
            Some(server_pid),
        );
        let r = tickets.window(&service.redeemer).await;
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
    bench.print_observation(&pg_observation);
    println!("  and the service:");
    bench.print_observation(&http_observation);
    Rounds {
        http,
        http_figures,
        tps,
        pg_latency,
    }
}

/// Step 4: The same transaction without HTTP, then one redemption traced.
async fn library_run(
    bench: &mut Bench,
    seed: &mut Seed,
    caller: &Arc<Caller>,
    keys: &Arc<CodeKeys>,
) -> (LoadResult, Figures) {
    println!(
        "\n4. the same transaction without HTTP: idempotency claim + redemptions::redeem + stored answer, \
         one transaction, through passnum::db::build_pool({CLIENTS}), {CLIENTS} tasks, {:.0} s warm-up + {:.0} s",
        LIB_WARM_UP.as_secs_f64(),
        LIB_MEASURE.as_secs_f64()
    );
    let pool = passnum::db::build_pool(&seed.url, CLIENTS).unwrap();
    checkpoint(&mut bench.admin).await;
    let watcher = observe(
        bench.admin_url.clone(),
        seed.db.clone(),
        LIB_WARM_UP,
        LIB_MEASURE,
        bench.postmaster,
        None,
    );
    let lib = library_load(
        pool,
        caller.clone(),
        keys.clone(),
        std::mem::take(&mut seed.lib_codes),
        LIB_WARM_UP,
        LIB_MEASURE,
    )
    .await;
    let lib_figures = figures(&lib);
    print_load("library redemptions", &lib, &lib_figures);
    bench.print_observation(&watcher.await.unwrap());

    match bench.data_dir.as_deref().and_then(Path::parent) {
        Some(root) => {
            trace_one(
                &seed.url,
                caller,
                keys,
                &seed.trace_codes,
                &root.join("server.log"),
            )
            .await
        }
        None => {
            println!("  (no statement trace: the server's log is not ours with BENCH_DATABASE_URL)")
        }
    }
    (lib, lib_figures)
}

/// Step 4b: With `BENCH_DIAGNOSE=1`: the library run again without the integrity checks,
/// then also without the wait for the WAL flush, each compared with pgbench right
/// after. Returns how many redemptions they answered 201.
async fn diagnostics(
    bench: &mut Bench,
    seed: &mut Seed,
    caller: &Arc<Caller>,
    keys: &Arc<CodeKeys>,
    service: &Service,
    tickets: &HttpTickets,
) -> usize {
    let mut diagnostic_201 = 0;
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
    let diag_codes = std::mem::take(&mut seed.diag_codes);
    for (i, (step, codes)) in steps.iter().zip(diag_codes).enumerate() {
        if i == 0 {
            drop_integrity_checks(&mut seed.conn).await;
        }
        if i == 1 {
            diesel::sql_query(format!(
                "ALTER DATABASE {} SET synchronous_commit = off",
                seed.db
            ))
            .execute(&mut bench.admin)
            .await
            .unwrap();
        }
        println!("  {step}");
        let pool = passnum::db::build_pool(&seed.url, CLIENTS).unwrap();
        checkpoint(&mut bench.admin).await;
        let watcher = observe(
            bench.admin_url.clone(),
            seed.db.clone(),
            DIAG_WARM_UP,
            DIAG_MEASURE,
            bench.postmaster,
            None,
        );
        let r = library_load(
            pool,
            caller.clone(),
            keys.clone(),
            codes,
            DIAG_WARM_UP,
            DIAG_MEASURE,
        )
        .await;
        diagnostic_201 += r.outcomes.get("201 redeemed").copied().unwrap_or(0);
        let f = figures(&r);
        print_load("library redemptions", &r, &f);
        bench.print_observation(&watcher.await.unwrap());
        // The machine drifts: compare with pgbench right afterwards.
        let pg = bench.pgbench_after_checkpoint().await;
        println!(
            "    pgbench in the {PGBENCH_ROUND} s right after: {:.0} tps; library redemptions / pgbench: {:.2}",
            pg.tps,
            f.rate / pg.tps
        );
        if i == 0 {
            // The service too, without the checks, then pgbench again.
            checkpoint(&mut bench.admin).await;
            let h = tickets.window(&service.redeemer).await;
            diagnostic_201 += h.outcomes.get("201 redeemed").copied().unwrap_or(0);
            let hf = figures(&h);
            let pg = bench.pgbench_after_checkpoint().await;
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
    diagnostic_201
}

/// Step 5: The figures against the targets.
fn summary(rounds: &Rounds, lib: &LoadResult, lib_figures: &Figures) {
    let (http, http_figures, tps, pg_latency) = (
        &rounds.http,
        &rounds.http_figures,
        rounds.tps,
        rounds.pg_latency,
    );
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
}

/// Step 6: The ledger's invariants, and exactly once: every 201 answered is one live
/// redemption, one redeemed ticket and one ledger movement.
async fn invariants(conn: &mut AsyncPgConnection, answered_201: usize) {
    let violations = passnum::ledger::invariant_violations(conn).await.unwrap();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |sql: &'static str| diesel::sql_query(sql);
    let live: Count = count("SELECT count(*) AS n FROM redemptions WHERE status = 'redeemed'")
        .get_result(conn)
        .await
        .unwrap();
    let redeemed_tickets: Count =
        count("SELECT count(*) AS n FROM tickets WHERE status = 'redeemed'")
            .get_result(conn)
            .await
            .unwrap();
    let ledger_redemptions: Count =
        count("SELECT count(*) AS n FROM ledger_transactions WHERE kind = 'redemption'")
            .get_result(conn)
            .await
            .unwrap();
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
}

/// Drops the databases, or keeps the measured one with `BENCH_KEEP=1`.
async fn clean_up(bench: &mut Bench, db: &str) {
    let pgbench_db = &bench.pgbench_db;
    diesel::sql_query(format!("DROP DATABASE {pgbench_db} WITH (FORCE)"))
        .execute(&mut bench.admin)
        .await
        .unwrap();
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("\nserver stopped; database {pgbench_db} dropped, {db} kept (BENCH_KEEP=1)");
        return;
    }
    diesel::sql_query(format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&mut bench.admin)
        .await
        .unwrap();
    println!("\nserver stopped; databases {pgbench_db} and {db} dropped");
}

#[tokio::main]
async fn main() {
    let (server, admin) = connect().await;
    let mut bench = pgbench_baseline(server, admin).await;
    let mut seed = seed(&mut bench).await;
    redeem_history(&mut seed).await;

    let mut service = start_service(&seed).await;
    let tickets = HttpTickets {
        codes: Arc::new(std::mem::take(&mut seed.http_codes)),
        cursor: Arc::new(AtomicUsize::new(0)),
    };
    let rounds = http_in_turns(&mut bench, &seed, &service, &tickets).await;

    let caller = Arc::new(seed.site_caller());
    let keys = Arc::new(seed.keys.clone());
    let (lib, lib_figures) = library_run(&mut bench, &mut seed, &caller, &keys).await;
    let traced_201 = if bench.data_dir.is_some() { 2 } else { 0 };
    let diagnostic_201 = if bench.diagnose {
        diagnostics(&mut bench, &mut seed, &caller, &keys, &service, &tickets).await
    } else {
        0
    };
    service.server.stop();

    summary(&rounds, &lib, &lib_figures);
    let answered_201 = rounds.http.outcomes.get("201 redeemed").copied().unwrap_or(0)
        + lib.outcomes.get("201 redeemed").copied().unwrap_or(0)
        + diagnostic_201
        + traced_201
        // every history redemption answered "redeemed" (it unwraps otherwise)
        + HISTORY_TICKETS;
    invariants(&mut seed.conn, answered_201).await;

    let Seed { db, conn, .. } = seed;
    drop(conn);
    drop(service);
    clean_up(&mut bench, &db).await;
}

fn claim_serial(ticket: &TicketRef) -> String {
    match ticket {
        TicketRef::Code(claim) => claim.serial.as_str().to_string(),
        TicketRef::Serial(serial) => serial.as_str().to_string(),
    }
}
