//! Bulk issuance benchmark: a print run of 1,000 checkbooks × 10 tickets (10,000
//! tickets, with its allocation and ring-fence checks and its ledger movement, in one
//! transaction) compared, in the same run and on the same database, with a plain
//! `COPY` of 10,000 rows into the tickets table. Prints both times and the ratio.
//!
//! Run: `cargo bench --bench issuance` (uses the private cluster under
//! `.data/bench/postgres`, or `BENCH_DATABASE_URL`'s server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{median, org};

use std::time::Instant;

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::SinkExt;
use passnum::auth::Caller;
use passnum::checkbooks::{self, IssueOrder};
use passnum::codes::Serial;
use passnum::domain::{Email, OrgKind, Password, PostcodePrefix, Role};
use passnum::money::{Money, Rate, Share};
use passnum::organizations;
use passnum::programs::{self, NewProgram, Validity};
use uuid::Uuid;

const CHECKBOOKS: u32 = 1000;
const TICKETS_PER_CHECKBOOK: u32 = 10;
const ROUNDS: usize = 5;

#[tokio::main]
async fn main() {
    let (admin_url, url_of) = common::database_urls();
    let db = format!("bench_{}", Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&admin_url).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = url_of(&db);
    passnum::db::run_migrations(&url).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();

    // A program large enough for every round, fully paid; a prescriber allocated.
    let email = Email::parse("email", "operator@example.org").unwrap();
    organizations::bootstrap_operator(
        &mut conn,
        email,
        &Password::parse("p", "a-long-bench-password").unwrap(),
    )
    .await
    .unwrap();
    let funder =
        organizations::create_organization(&mut conn, &org(OrgKind::Funder, "Département"))
            .await
            .unwrap();
    let (prescriber, agent) = common::prescriber_with_agent(&mut conn, "agent@example.org").await;
    let budget = Money::parse("budget", "10000000.00").unwrap();
    let program = programs::create_program(
        &mut conn,
        NewProgram {
            name: "Bench".into(),
            ticket_value: Money::parse("v", "10.00").unwrap(),
            tickets_per_checkbook: TICKETS_PER_CHECKBOOK,
            validity: Validity::DaysFromIssue(365),
            tolerance_days: 0,
            commission_rate: Rate::parse("r", "0").unwrap(),
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
        "VIR".into(),
        Utc::now().date_naive(),
    )
    .await
    .unwrap();
    programs::add_allocation(
        &mut conn,
        passnum::audit::Actor::Service("bench"),
        program.id,
        prescriber.id,
        CHECKBOOKS * (ROUNDS as u32 + 1),
        programs::OverBudget::Refuse,
    )
    .await
    .unwrap();
    let caller = Caller {
        user_id: agent.id,
        organization_id: prescriber.id,
        kind: OrgKind::Prescriber,
        role: Role::Agent,
    };

    // The COPY side writes into the same table, next to checkbooks of its own.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);

    let tickets = (CHECKBOOKS * TICKETS_PER_CHECKBOOK) as usize;
    let mut issue_times = Vec::new();
    let mut copy_times = Vec::new();
    for round in 0..=ROUNDS {
        // Issuance: the whole use case, one transaction.
        let order = IssueOrder {
            program: program.id,
            count: CHECKBOOKS,
            beneficiary: None,
            print_run: true,
        };
        let started = Instant::now();
        let (_, books) = conn
            .transaction::<_, passnum::checkbooks::CheckbookError, _>(async |conn| {
                checkbooks::issue(conn, &caller, &order).await
            })
            .await
            .unwrap();
        let issued = started.elapsed();
        assert_eq!(
            books.iter().map(|b| b.tickets.len()).sum::<usize>(),
            tickets
        );

        // COPY of as many ticket rows (positions 11-20 of the same checkbooks).
        let mut data = String::with_capacity(tickets * 120);
        let today = Utc::now().date_naive();
        for book in &books {
            for position in 11..=20 {
                data.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t10.00\tissued\t{}\t{}\n",
                    Uuid::now_v7(),
                    book.checkbook.id,
                    program.id,
                    position,
                    Serial::random().as_str(),
                    today,
                    Utc::now().to_rfc3339()
                ));
            }
        }
        let started = Instant::now();
        let sink = client
            .copy_in::<_, bytes::Bytes>(
                "COPY tickets (id, checkbook_id, program_id, position, serial, value, status, valid_until, updated_at) FROM STDIN",
            )
            .await
            .unwrap();
        futures_util::pin_mut!(sink);
        sink.send(bytes::Bytes::from(data)).await.unwrap();
        let copied = sink.finish().await.unwrap();
        let copy_time = started.elapsed();
        assert_eq!(copied as usize, tickets);
        if round == 0 {
            println!("warm-up round: issuance {issued:?}, COPY {copy_time:?}");
            continue;
        }
        issue_times.push(issued);
        copy_times.push(copy_time);
    }
    let (issue, copy) = (median(issue_times.clone()), median(copy_times.clone()));
    println!(
        "bulk issuance of {tickets} tickets ({CHECKBOOKS} checkbooks) vs COPY of {tickets} ticket rows, {ROUNDS} rounds"
    );
    println!(
        "  issuance (print run use case, one transaction): median {:.1} ms  (all: {:?})",
        issue.as_secs_f64() * 1e3,
        issue_times
    );
    println!(
        "  COPY into tickets:                             median {:.1} ms  (all: {:?})",
        copy.as_secs_f64() * 1e3,
        copy_times
    );
    println!(
        "  ratio issuance / COPY: {:.2} (target ≤ 2.00)",
        issue.as_secs_f64() / copy.as_secs_f64()
    );

    drop(conn);
    drop(client);
    diesel::sql_query(format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
