//! Settlement benchmark: one month of 1,000,000 redeemed tickets across 200 sites, one
//! program co-funded by 3 funders (4 % commission, 2 % funder fee).
//!
//! 1. A bare SQL aggregate over the same rows (what each site is owed for the month).
//! 2. The settlement itself, as `POST /settlements` runs it (`settlement::settle` in one
//!    transaction: totals, names recorded, 204 statements numbered, ledger moved, mails
//!    queued); run three times, the first two rolled back. Target: ≤ 3 × the aggregate.
//! 3. Sealing: every statement's lines drawn once and hashed (SHA-256), after commit.
//! 4. The CSV of the largest statement (a funder's bill: 1,000,001 lines) streamed by
//!    the release server over HTTP, timed to its last byte, its SHA-256 and its sum
//!    checked against the statement. Target: ≤ 2 s. Also the server's peak memory.
//!
//! Run: `cargo bench --bench settlement` (the private cluster under
//! `.data/bench/postgres`, or `BENCH_DATABASE_URL`'s server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{median, ms, org};

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use diesel::sql_types::{Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passnum::domain::{Email, OrgKind, Password};
use passnum::ledger::{self, AccountKind, AccountRef, TransactionKind};
use passnum::money::{Money, Rate, Share};
use passnum::organizations;
use passnum::programs::{self, NewProgram, Validity};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const TICKETS: i64 = 1_000_000;
const SITES: i64 = 200;
const TICKETS_PER_CHECKBOOK: i64 = 10;
const PASSWORD: &str = "a-long-bench-password";
const ROUNDS: usize = 3;

/// Peak resident memory of a process, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let (admin_url, url_of) = common::database_urls();
    let db = format!("bench_settlement_{}", Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&admin_url).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = url_of(&db);
    passnum::db::run_migrations(&url).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    println!(
        "settlement benchmark: {TICKETS} redeemed tickets, {SITES} sites, 3 funders, one month"
    );

    // ------------------------------------------------------------------ seed
    let started = Instant::now();
    let operator_email = "operator@example.org";
    organizations::bootstrap_operator(
        &mut conn,
        Email::parse("email", operator_email).unwrap(),
        &Password::parse("p", PASSWORD).unwrap(),
    )
    .await
    .unwrap();
    let mut funders = Vec::new();
    for name in ["Département", "Région", "Métropole"] {
        funders.push(
            organizations::create_organization(&mut conn, &org(OrgKind::Funder, name))
                .await
                .unwrap()
                .id,
        );
    }
    let (prescriber, agent) = common::prescriber_with_agent(&mut conn, "agent@example.org").await;
    let budget = Money::parse("budget", "20000000.00").unwrap();
    let program = programs::create_program(
        &mut conn,
        NewProgram {
            name: "Pass Numérique Haute-Saône".into(),
            ticket_value: Money::parse("v", "10.00").unwrap(),
            tickets_per_checkbook: 10,
            validity: Validity::DaysFromIssue(365),
            tolerance_days: 0,
            commission_rate: Rate::parse("r", "0.04").unwrap(),
            funder_fee_rate: Rate::parse("r", "0.02").unwrap(),
            budget,
            funders: funders
                .iter()
                .zip(["0.5", "0.3", "0.2"])
                .map(|(f, s)| (*f, Share::parse("s", s).unwrap()))
                .collect(),
            territory: vec![],
        },
    )
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO organizations (id, kind, name, email, postcode, city, siret)
         SELECT gen_random_uuid(), 'site', 'Espace numérique ' || i, 'lieu' || i || '@example.org',
                '70000', 'Vesoul', lpad(i::text, 14, '0')
         FROM generate_series(1, $1) i",
    )
    .bind::<diesel::sql_types::BigInt, _>(SITES)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO checkbooks (id, number, program_id, prescriber_id, issued_by, status,
                                 beneficiary_reference, valid_until, handed_out_at)
         SELECT gen_random_uuid(), 'C-' || lpad(i::text, 7, '0'), $1, $2, $3, 'handed_out',
                'B-' || i, DATE '2027-06-30', now()
         FROM generate_series(1, $4) i",
    )
    .bind::<SqlUuid, _>(program.id)
    .bind::<SqlUuid, _>(prescriber.id)
    .bind::<SqlUuid, _>(agent.id)
    .bind::<diesel::sql_types::BigInt, _>(TICKETS / TICKETS_PER_CHECKBOOK)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO tickets (id, checkbook_id, program_id, position, serial, value, status, valid_until)
         SELECT gen_random_uuid(), c.id, c.program_id, p, 'S' || substr(c.number, 3) || lpad(p::text, 2, '0'),
                10.00, 'redeemed', c.valid_until
         FROM checkbooks c CROSS JOIN generate_series(1, 10) p",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // Every redemption of the month, spread evenly over October 2026, 5,000 per site;
    // their ledger movement as one balanced transaction.
    let site_ids: Vec<Uuid> = {
        use diesel::{ExpressionMethods, QueryDsl};
        use passnum::schema::organizations as o;
        o::table
            .filter(o::kind.eq("site"))
            .select(o::id)
            .order(o::id)
            .load(&mut conn)
            .await
            .unwrap()
    };
    let month_start = chrono_tz::Europe::Paris
        .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let per_site = Decimal::from(TICKETS / SITES) * Decimal::new(960, 2);
    let commission = Decimal::from(TICKETS) * Decimal::new(40, 2);
    let mut postings = vec![
        (
            AccountRef::program(AccountKind::Outstanding, program.id),
            -Decimal::from(TICKETS) * Decimal::new(1000, 2),
        ),
        (
            AccountRef::program(AccountKind::Commission, program.id),
            commission,
        ),
    ];
    for site in &site_ids {
        postings.push((
            AccountRef::of(AccountKind::SitePayable, program.id, *site),
            per_site,
        ));
    }
    let month = conn
        .transaction::<_, passnum::db::DbError, _>(async |conn| {
            ledger::post(
                conn,
                TransactionKind::Redemption,
                "Encaissements d'octobre (jeu d'essai)",
                program.id,
                &postings,
            )
            .await
        })
        .await
        .unwrap();
    diesel::sql_query(
        "INSERT INTO redemptions (id, ticket_id, program_id, site_id, redeemed_by, method, value,
                                  commission, amount_payable, status, scanned_at, redeemed_at,
                                  ledger_transaction_id, serial, checkbook_number)
         SELECT gen_random_uuid(), t.id, t.program_id, s[1 + (t.n % cardinality(s))], $1, 'code',
                t.value, 0.40, 9.60, 'redeemed', at, at, $2, t.serial, t.number
         FROM (SELECT t.*, c.number, row_number() OVER (ORDER BY c.number, t.position) AS n
               FROM tickets t JOIN checkbooks c ON c.id = t.checkbook_id) t,
              LATERAL (SELECT $3 + (t.n * interval '1 second' * (2592000.0 / $4)::float8) AS at) w,
              (SELECT $5::uuid[] AS s) sites",
    )
    .bind::<SqlUuid, _>(agent.id)
    .bind::<SqlUuid, _>(month)
    .bind::<Timestamptz, _>(month_start)
    .bind::<diesel::sql_types::BigInt, _>(TICKETS)
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(&site_ids)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query("CHECKPOINT")
        .execute(&mut conn)
        .await
        .unwrap();
    println!(
        "  seed: {TICKETS} tickets in {} checkbooks, {TICKETS} redemptions over October 2026 at {SITES} sites, in {:.1} s",
        TICKETS / TICKETS_PER_CHECKBOOK,
        started.elapsed().as_secs_f64()
    );

    let period_start = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let period_end = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let from = passnum::domain::end_of_french_day(period_start.pred_opt().unwrap());
    let to = passnum::domain::end_of_french_day(period_end);

    // ------------------------------------------------------------------ 1. aggregate
    #[derive(diesel::QueryableByName)]
    struct Owed {
        #[diesel(sql_type = SqlUuid)]
        #[allow(dead_code)]
        site_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        tickets: i64,
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        #[allow(dead_code)]
        owed: Decimal,
    }
    let mut times = Vec::new();
    let mut counted = 0;
    for _ in 0..=ROUNDS {
        let t = Instant::now();
        let rows: Vec<Owed> = diesel::sql_query(
            "SELECT site_id, count(*) AS tickets, sum(amount_payable) AS owed FROM redemptions
             WHERE status <> 'reversed' AND redeemed_at >= $1 AND redeemed_at < $2
             GROUP BY site_id",
        )
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(&mut conn)
        .await
        .unwrap();
        times.push(t.elapsed());
        counted = rows.iter().map(|r| r.tickets).sum::<i64>();
    }
    times.remove(0); // the first warms the cache
    let aggregate = median(times.clone());
    println!(
        "\n1. bare SQL aggregate (count and sum owed per site over the month, {counted} rows): median {:.1} ms of {ROUNDS} ({})",
        ms(aggregate),
        times
            .iter()
            .map(|t| format!("{:.1}", ms(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Where a settlement's time goes: its two grouped passes, alone.
    diesel::sql_query("SET work_mem = '64MB'")
        .execute(&mut conn)
        .await
        .unwrap();
    let t = Instant::now();
    let groups = passnum::settlement::groups(&mut conn, from, to)
        .await
        .unwrap();
    let grouped = t.elapsed();
    #[derive(diesel::QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[diesel(column_name = "QUERY PLAN")]
        line: String,
    }
    if std::env::var("BENCH_EXPLAIN").is_ok_and(|v| v == "1") {
        for sql in [
            passnum::settlement::SITE_GROUPS_SQL,
            passnum::settlement::TURN_GROUPS_SQL,
        ] {
            let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                .bind::<Timestamptz, _>(from)
                .bind::<Timestamptz, _>(to)
                .load(&mut conn)
                .await
                .unwrap();
            for p in plan {
                println!("   | {}", p.line);
            }
        }
    }

    diesel::sql_query("RESET work_mem")
        .execute(&mut conn)
        .await
        .unwrap();

    // ------------------------------------------------------------------ 2. settle
    let mut times = Vec::new();
    let mut settled = None;
    for round in 0..ROUNDS {
        let keep = round + 1 == ROUNDS;
        let t = Instant::now();
        let result = conn
            .transaction::<_, passnum::error::ApiError, _>(async |conn| {
                let made =
                    passnum::settlement::settle(conn, period_start, period_end, None).await?;
                if keep {
                    Ok(made)
                } else {
                    Err(passnum::error::ApiError::conflict(
                        "rolled_back",
                        "rehearsal",
                    ))
                }
            })
            .await;
        times.push(t.elapsed());
        match result {
            Ok(made) => settled = Some(made),
            Err(e) if e.code() == "rolled_back" => {}
            Err(e) => panic!("settlement failed: {e}"),
        }
    }
    let (settlement, statements) = settled.unwrap();
    let settle_time = median(times.clone());
    let ratio = settle_time.as_secs_f64() / aggregate.as_secs_f64();
    println!(
        "\n2. settlement (one transaction; rounds 1-{} rolled back, the last committed): median {:.1} ms of {ROUNDS} ({}), {} statements",
        ROUNDS - 1,
        ms(settle_time),
        times
            .iter()
            .map(|t| format!("{:.1}", ms(*t)))
            .collect::<Vec<_>>()
            .join(", "),
        statements.len()
    );
    println!(
        "   of which the two grouped passes over the redemptions (work_mem as in the settlement): {:.1} ms ({} + {} groups)",
        ms(grouped),
        groups.0.len(),
        groups.1.len()
    );
    println!(
        "   ratio settlement / aggregate: {ratio:.2} (target ≤ 3) {}",
        if ratio <= 3.0 { "MET" } else { "MISSED" }
    );

    // ------------------------------------------------------------------ 3. seal
    let t = Instant::now();
    let sealed = passnum::settlement::seal_pending(&mut conn).await.unwrap();
    let seal_time = t.elapsed();
    let lines: i64 = sealed.iter().map(|s| i64::from(s.lines)).sum();
    println!(
        "\n3. sealing after commit: {} statements, {lines} lines drawn and hashed in {:.2} s ({:.0} lines/s)",
        sealed.len(),
        seal_time.as_secs_f64(),
        lines as f64 / seal_time.as_secs_f64()
    );
    let largest = sealed.iter().max_by_key(|s| s.lines).unwrap().clone();

    // ------------------------------------------------------------------ 4. CSV over HTTP
    let client = reqwest::Client::new();
    let (server, base) = common::start_server(
        &url,
        &[("PASSNUM_MAIL_WORKER", "false".to_string())],
        &client,
    )
    .await;
    let token = common::login(&client, &base, operator_email, PASSWORD).await;
    let mut times = Vec::new();
    let (mut bytes, mut digest, mut sum, mut rows) = (0usize, String::new(), Decimal::ZERO, 0i64);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut res = client
            .get(format!("{base}/api/v1/statements/{}/csv", largest.id))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        // The client only receives while timed; it checks the body afterwards.
        let mut body = Vec::with_capacity(160 << 20);
        while let Some(chunk) = res.chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
        }
        times.push(t.elapsed());
        bytes = body.len();
        digest = hex::encode(Sha256::digest(&body));
        let text = String::from_utf8(body).unwrap();
        rows = 0;
        sum = Decimal::ZERO;
        for line in text.lines().skip(1) {
            sum += line.rsplit(';').next().unwrap().parse::<Decimal>().unwrap();
            rows += 1;
        }
    }
    let csv_time = median(times.clone());
    let peak = peak_rss_mib(server.0.id());
    drop(server);
    println!(
        "\n4. CSV of the largest statement ({} {}, {} lines, {:.1} MB) over HTTP, to its last byte: median {:.2} s of {ROUNDS} ({}) = {:.0} lines/s",
        largest.number,
        largest.kind,
        largest.lines,
        bytes as f64 / 1e6,
        csv_time.as_secs_f64(),
        times
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        f64::from(largest.lines) / csv_time.as_secs_f64()
    );
    println!(
        "   target ≤ 2 s: {}; server peak memory (VmHWM) {}",
        if csv_time <= Duration::from_secs(2) {
            "MET"
        } else {
            "MISSED"
        },
        peak.map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    );
    let sealed_digest = largest.sha256.clone().unwrap_or_default();
    println!(
        "   checks: SHA-256 of the body = the statement's: {}; {rows} lines = {}; lines add up to {sum} = total {}: {}",
        digest == sealed_digest,
        largest.lines,
        largest.total,
        sum == largest.total
    );
    assert_eq!(digest, sealed_digest);
    assert_eq!(sum, largest.total);
    assert_eq!(rows, i64::from(largest.lines));

    // The settlement's own figures, for the record.
    let face: Decimal = statements
        .iter()
        .filter(|s| s.kind == passnum::statuses::StatementKind::FunderBill)
        .map(|s| s.total)
        .sum();
    println!(
        "\nsettlement {}: {} statements; funders billed {face} € (face value {} € + fees)",
        settlement.id,
        statements.len(),
        Decimal::from(TICKETS) * Decimal::new(1000, 2)
    );
    drop(conn);
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("database {db} kept (BENCH_KEEP=1): {url}");
        return;
    }
    diesel::sql_query(format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    println!("database {db} dropped");
}
