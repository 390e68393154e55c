//! Statistics benchmark: a national-size program generated with SQL (generate_series,
//! not the API) — 2,000,000 checkbooks, 20,000,000 tickets, 10,000,000 redemptions
//! across 2,000 sites and 200 prescribers, beneficiaries spread over ages, situations,
//! 600 postcodes and priority publics, two services per site (two thirds of the
//! redemptions name one), a follow-up for a quarter of the people — then `GET /programs/{id}/stats` as its use case runs it for the
//! operator and for a funder, and the public indicators, each timed over N runs
//! (p50, p95, max), and the main nodes of the checkbook side's query plan.
//! Target: ≤ 300 ms p95.
//!
//! Run: `cargo bench --bench stats -- [--scale F] [--runs N] [--sites N] [--prescribers N]`
//! (or `STATS_BENCH_SCALE`, `STATS_BENCH_RUNS`, `STATS_BENCH_SITES`, `STATS_BENCH_PRESCRIBERS`): `--scale 0.05` generates 1/20 of the national size (100,000
//! checkbooks); the default is 1 (about 10 GB of disk with indexes). The database is
//! dropped at the end, unless `--keep NAME` (`STATS_BENCH_KEEP`): the data set is then
//! the database NAME, generated when it does not exist and kept; run again with the
//! same name, the bench reuses it (the statistics and the check are measured again,
//! nothing is generated). Drop it with `psql … -c 'DROP DATABASE NAME'`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ms;

use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passnum::auth::Caller;
use passnum::domain::{Email, OrgKind, Password, Role};
use passnum::ledger::{self, AccountKind, AccountRef, TransactionKind};
use passnum::money::{Money, Rate, Share};
use passnum::organizations;
use passnum::programs::{self, NewProgram, Validity};
use rust_decimal::Decimal;
use uuid::Uuid;

const NATIONAL_CHECKBOOKS: f64 = 2_000_000.0;

fn arg(name: &str, env: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn time_runs(name: &str, runs: usize, mut f: impl AsyncFnMut()) {
    f().await; // warm the cache
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    let p95 = percentile(&times, 0.95);
    println!(
        "  {name:<28} p50 {:>8.1} ms   p95 {:>8.1} ms   max {:>8.1} ms   ({} ≤ 300 ms p95)",
        ms(percentile(&times, 0.5)),
        ms(p95),
        ms(times[times.len() - 1]),
        if ms(p95) <= 300.0 { "met" } else { "NOT met" }
    );
}

#[tokio::main]
async fn main() {
    let scale: f64 = arg("--scale", "STATS_BENCH_SCALE")
        .map(|s| s.parse().expect("--scale is a number"))
        .unwrap_or(1.0);
    let runs: usize = arg("--runs", "STATS_BENCH_RUNS")
        .map(|s| s.parse().expect("--runs is a number"))
        .unwrap_or(20);
    let checkbooks = (NATIONAL_CHECKBOOKS * scale).round() as i64;
    // `--sites`/`--prescribers` keep the national number of them at a smaller scale:
    // the rollups read are then as large as the national ones.
    let sites = arg("--sites", "STATS_BENCH_SITES")
        .map(|s| s.parse().expect("--sites is a number"))
        .unwrap_or(((2000.0 * scale).round() as i64).max(10));
    let prescribers = arg("--prescribers", "STATS_BENCH_PRESCRIBERS")
        .map(|s| s.parse().expect("--prescribers is a number"))
        .unwrap_or(((200.0 * scale).round() as i64).max(5));

    let keep = arg("--keep", "STATS_BENCH_KEEP");
    let (admin_url, url_of) = common::database_urls();
    let db = keep
        .clone()
        .unwrap_or_else(|| format!("bench_stats_{}", Uuid::new_v4().simple()));
    let mut admin = AsyncPgConnection::establish(&admin_url).await.unwrap();
    let url = url_of(&db);
    if let Ok(mut kept) = AsyncPgConnection::establish(&url).await {
        println!("reusing the kept database {db} (nothing generated)");
        passnum::db::run_migrations(&url).await.unwrap();
        let found: Kept = diesel::sql_query(
            "SELECT p.id AS program, f.funder_id AS funder, u.id AS operator_user,
                    u.organization_id AS operator_org,
                    (SELECT count(*) FROM checkbooks) AS checkbooks
               FROM programs p JOIN program_funders f ON f.program_id = p.id,
                    users u JOIN organizations o ON o.id = u.organization_id AND o.kind = 'operator'
              LIMIT 1",
        )
        .get_result(&mut kept)
        .await
        .unwrap();
        measure(&mut kept, &found, runs, scale).await;
        return;
    }
    common::create_database(&mut admin, &db).await;
    passnum::db::run_migrations(&url).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    println!(
        "stats benchmark — scale {scale} of the national program: {checkbooks} checkbooks, \
         {} tickets, ~{} redemptions, {sites} sites, {prescribers} prescribers; {runs} runs each",
        checkbooks * 10,
        checkbooks * 5
    );
    println!("machine: {} cores, {}", num_cpus(), common::cpu_model());

    // ------------------------------------------------------------------ seed
    let started = Instant::now();
    let (_, operator) = organizations::bootstrap_operator(
        &mut conn,
        Email::parse("email", "operator@example.org").unwrap(),
        &Password::parse("p", "a-long-bench-password").unwrap(),
    )
    .await
    .unwrap();
    let funder =
        organizations::create_organization(&mut conn, &common::org(OrgKind::Funder, "Département"))
            .await
            .unwrap();
    let (prescriber, agent) = common::prescriber_with_agent(&mut conn, "agent@example.org").await;
    let budget = Money::from_decimal_unchecked(Decimal::from(checkbooks * 100 + 1000));
    let program = programs::create_program(
        &mut conn,
        NewProgram {
            name: "Pass Numérique national (jeu d’essai)".into(),
            ticket_value: Money::parse("v", "10.00").unwrap(),
            tickets_per_checkbook: 10,
            validity: Validity::DaysFromIssue(365),
            tolerance_days: 0,
            commission_rate: Rate::parse("r", "0.04").unwrap(),
            funder_fee_rate: Rate::parse("r", "0.02").unwrap(),
            budget,
            funders: vec![(funder.id, Share::parse("s", "1").unwrap())],
            territory: vec![],
        },
    )
    .await
    .unwrap();
    let seed = |sql: &'static str| diesel::sql_query(sql);
    seed(
        "INSERT INTO organizations (id, kind, name, email, postcode, city, siret)
         SELECT gen_random_uuid(), k, initcap(k) || ' ' || i, k || i || '@example.org',
                lpad((1000 + i % 95 * 1000)::text, 5, '0'), 'Commune ' || i, lpad(i::text, 14, '0')
         FROM (SELECT 'site' AS k, generate_series(1, $1) AS i
               UNION ALL SELECT 'prescriber', generate_series($1 + 1, $1 + $2)) g",
    )
    .bind::<BigInt, _>(sites)
    .bind::<BigInt, _>(prescribers)
    .execute(&mut conn)
    .await
    .unwrap();
    // Two services per site: a collective workshop and an individual appointment, of
    // themes of the national list.
    seed(
        "INSERT INTO site_services (id, site_id, title, theme, format, duration_minutes, position)
         SELECT gen_random_uuid(), o.id, 'Atelier ' || p, th[1 + (abs(hashtext(o.name)) + p * 3) % 8],
                CASE WHEN p = 0 THEN 'collective' ELSE 'individual' END, 90, p
         FROM organizations o CROSS JOIN generate_series(0, 1) p,
              (SELECT ARRAY['premiers_pas','demarches_en_ligne','smartphone','messagerie','securite',
                            'emploi','bureautique','parentalite'] AS th) t
         WHERE o.kind = 'site'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // Checkbooks: 90 % handed out, 2 % cancelled, the rest in stock; beneficiaries
    // born 1930–2007, six situations, 600 postcodes, seven combinations of publics.
    seed(
        "INSERT INTO checkbooks (id, number, program_id, prescriber_id, issued_by, status,
                                 beneficiary_reference, beneficiary_birth_year, beneficiary_postcode, beneficiary_situation,
                                 beneficiary_publics, valid_until, issued_at, handed_out_at, cancelled_at)
         SELECT gen_random_uuid(), 'C-' || lpad(i::text, 8, '0'), $1, p[1 + i % cardinality(p)], $2,
                (CASE WHEN i % 50 = 0 THEN 'cancelled' WHEN i % 10 = 9 THEN 'stock' ELSE 'handed_out' END)::checkbook_status,
                CASE WHEN i % 10 = 9 THEN NULL ELSE 'B-' || i END,
                CASE WHEN i % 10 = 9 THEN NULL ELSE 1930 + (i * 7) % 78 END,
                CASE WHEN i % 10 = 9 THEN NULL ELSE lpad((1000 + (i * 13) % 600 * 160)::text, 5, '0') END,
                CASE WHEN i % 10 = 9 THEN NULL
                     ELSE (ARRAY['job_seeker','employed','retired','student','inactive','other'])[1 + i % 6] END,
                CASE WHEN i % 10 = 9 THEN '{}'::text[]
                     ELSE (ARRAY['{}', '{rsa}', '{rsa,senior}', '{jeunes}', '{demandeur_emploi,sans_diplome}',
                                 '{handicap}', '{senior}'])[1 + i % 7]::text[] END,
                current_date + (200 - i % 400)::int, now() - interval '1 day' * (i % 300),
                CASE WHEN i % 10 = 9 THEN NULL ELSE now() - interval '1 day' * (i % 300) END,
                CASE WHEN i % 50 = 0 THEN now() END
         FROM generate_series(1, $3) i,
              (SELECT array_agg(id) AS p FROM organizations WHERE kind = 'prescriber') ps",
    )
    .bind::<SqlUuid, _>(program.id)
    .bind::<SqlUuid, _>(agent.id)
    .bind::<BigInt, _>(checkbooks)
    .execute(&mut conn)
    .await
    .unwrap();
    let _ = prescriber;
    seed(
        "INSERT INTO tickets (id, checkbook_id, program_id, position, serial, value, status, valid_until)
         SELECT gen_random_uuid(), c.id, c.program_id, p, 'S' || substr(c.number, 3) || lpad(p::text, 2, '0'),
                10.00,
                (CASE WHEN c.status = 'cancelled' AND p > 5 THEN 'cancelled'
                      WHEN c.status = 'handed_out' AND p <= 5 THEN 'redeemed'
                      WHEN c.valid_until < current_date THEN 'expired'
                      ELSE 'issued' END)::ticket_status,
                c.valid_until
         FROM checkbooks c CROSS JOIN generate_series(1, 10) p",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let month = conn
        .transaction::<_, passnum::db::DbError, _>(async |conn| {
            let one = Decimal::new(40, 2);
            ledger::post(
                conn,
                TransactionKind::Redemption,
                "Encaissements (jeu d’essai)",
                program.id,
                &[
                    (
                        AccountRef::program(AccountKind::Outstanding, program.id),
                        -one,
                    ),
                    (
                        AccountRef::program(AccountKind::Commission, program.id),
                        one,
                    ),
                ],
            )
            .await
        })
        .await
        .unwrap();
    seed(
        "INSERT INTO redemptions (id, ticket_id, program_id, site_id, redeemed_by, method, value,
                                  commission, amount_payable, status, scanned_at, redeemed_at,
                                  ledger_transaction_id, serial, checkbook_number, service_id)
         SELECT gen_random_uuid(), t.id, t.program_id, s[k], $1, 'code', t.value, 0.40, 9.60,
                'redeemed', at, at, $2, t.serial, c.number,
                CASE t.position % 3 WHEN 0 THEN NULL WHEN 1 THEN a[k] ELSE b[k] END
         FROM tickets t JOIN checkbooks c ON c.id = t.checkbook_id,
              LATERAL (SELECT c.handed_out_at + interval '1 hour' * t.position AS at) w,
              (SELECT array_agg(o.id ORDER BY o.id) AS s, array_agg(sa.id ORDER BY o.id) AS a,
                      array_agg(sb.id ORDER BY o.id) AS b
                 FROM organizations o
                 JOIN site_services sa ON sa.site_id = o.id AND sa.position = 0
                 JOIN site_services sb ON sb.site_id = o.id AND sb.position = 1
                WHERE o.kind = 'site') sites,
              LATERAL (SELECT 1 + abs(hashtext(t.serial)) % cardinality(s) AS k) kk
         WHERE t.status = 'redeemed'",
    )
    .bind::<SqlUuid, _>(agent.id)
    .bind::<SqlUuid, _>(month)
    .execute(&mut conn)
    .await
    .unwrap();
    // A follow-up for one person in four, by the site of their first ticket.
    seed(
        "INSERT INTO evaluations (id, checkbook_id, site_id, program_id, level_before, level_after,
                                  themes, recorded_by)
         SELECT gen_random_uuid(), t.checkbook_id, r.site_id, r.program_id,
                1 + abs(hashtext(r.serial)) % 3, 2 + abs(hashtext(r.serial)) % 3, '{smartphone}', $1
         FROM redemptions r JOIN tickets t ON t.id = r.ticket_id
         WHERE t.position = 1 AND abs(hashtext(r.serial)) % 4 = 0",
    )
    .bind::<SqlUuid, _>(agent.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let generated = started.elapsed();
    // What serve's readers do first: fold the changes the generation appended into
    // the rollups (here, every checkbook and redemption at once).
    let folding = Instant::now();
    diesel::sql_query("SELECT stats_fold(true)")
        .execute(&mut conn)
        .await
        .unwrap();
    let folded = folding.elapsed();
    seed("VACUUM ANALYZE").execute(&mut conn).await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::Text)]
        size: String,
    }
    let size: Size =
        diesel::sql_query("SELECT pg_size_pretty(pg_database_size(current_database())) AS size")
            .get_result(&mut conn)
            .await
            .unwrap();
    println!(
        "generated in {:.1} s, rollups folded in {:.1} s, then VACUUM ANALYZE: {:.1} s in all; database size {}",
        generated.as_secs_f64(),
        folded.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        size.size
    );

    let found = Kept {
        program: program.id,
        funder: funder.id,
        operator_user: operator.id,
        operator_org: operator.organization_id,
        checkbooks,
    };
    diesel::sql_query("UPDATE programs SET public_indicators = true WHERE id = $1")
        .bind::<SqlUuid, _>(program.id)
        .execute(&mut conn)
        .await
        .unwrap();
    measure(&mut conn, &found, runs, scale).await;
    drop(conn);
    match keep {
        Some(db) => println!("database {db} kept (--keep): the next run with it reuses it"),
        None => {
            diesel::sql_query(format!("DROP DATABASE {db} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

/// What the timings need of the data set, generated now or kept.
#[derive(diesel::QueryableByName)]
struct Kept {
    #[diesel(sql_type = SqlUuid)]
    program: Uuid,
    #[diesel(sql_type = SqlUuid)]
    funder: Uuid,
    #[diesel(sql_type = SqlUuid)]
    operator_user: Uuid,
    #[diesel(sql_type = SqlUuid)]
    operator_org: Uuid,
    #[diesel(sql_type = BigInt)]
    checkbooks: i64,
}

async fn measure(conn: &mut AsyncPgConnection, found: &Kept, runs: usize, scale: f64) {
    let checkbooks = found.checkbooks;
    let program_id = found.program;
    // ------------------------------------------------------------------ timings
    let operator_caller = Caller {
        user_id: found.operator_user,
        organization_id: found.operator_org,
        kind: OrgKind::Operator,
        role: Role::Admin,
    };
    let funder_caller = Caller {
        user_id: Uuid::new_v4(),
        organization_id: found.funder,
        kind: OrgKind::Funder,
        role: Role::Agent,
    };
    println!("GET /programs/{{id}}/stats and the public indicators (use case, one transaction):");
    for (name, caller) in [
        ("stats (operator)", &operator_caller),
        ("stats (funder)", &funder_caller),
    ] {
        time_runs(name, runs, async || {
            let s = passnum::stats::program_stats(conn, caller, program_id)
                .await
                .unwrap();
            assert_eq!(s.totals.checkbooks_issued, checkbooks);
        })
        .await;
    }
    if scale <= 0.05 {
        let now = Utc::now();
        time_runs("raw rows (no rollups)", 3, async || {
            passnum::stats::program_stats_from_raw_rows(conn, program_id, now)
                .await
                .unwrap();
        })
        .await;
    }
    time_runs("public indicators", runs, async || {
        passnum::stats::public_indicators(conn, program_id)
            .await
            .unwrap()
            .unwrap();
    })
    .await;

    // ------------------------------------------------------------------ check
    // `passnum check` (the nightly cron's read-only check of the books) on the same
    // data set. The generated rows bypass the ledger (tickets and redemptions are
    // inserted without their movements), so it finds violations: only its time counts.
    let report = passnum::check::run(conn).await.unwrap();
    println!(
        "passnum check (read-only, same data set): {:.1} s ({} violation kinds found: the \
         generation bypasses the ledger)",
        report.elapsed.as_secs_f64(),
        report.violations.len()
    );

    // ------------------------------------------------------------------ plan
    let year = passnum::domain::french_date(Utc::now()).year();
    diesel::sql_query(format!(
        "PREPARE books(uuid, integer, date) AS {}",
        passnum::stats::program_books_sql(true)
    ))
    .execute(conn)
    .await
    .unwrap();
    let plan: Vec<PlanLine> = diesel::sql_query(format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE books('{}', {year}, current_date - 1)",
        program_id
    ))
    .load(conn)
    .await
    .unwrap();
    println!("query plan of the checkbook side, from the rollups (main nodes):");
    for l in plan.iter().filter(|l| {
        let t = l.line.trim_start();
        t.starts_with("->") && !t.contains("Buffers")
            || t.starts_with("Execution")
            || t.starts_with("Planning Time")
            || !t.starts_with("->") && !t.contains(':')
    }) {
        println!("  {}", l.line);
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
