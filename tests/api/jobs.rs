//! The daily jobs of `passnum serve` (`src/jobs.rs`): two servers on one database,
//! started together after the day's time, run `expire` and `remind` once between
//! them; a run left unfinished by a dead node is taken over, a finished one is not
//! run again; a node that dies inside its run leaves it to the node waiting for it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Actor, Options, TestApp};

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

async fn count(app: &TestApp, query: &str) -> i64 {
    sql(app).await.query_one(query, &[]).await.unwrap().get(0)
}

/// A node running the daily jobs from midnight, Paris time: they are due at once.
fn jobs_from_midnight() -> Options {
    Options {
        adjust: Some(Box::new(|s| {
            s.daily_jobs = true;
            s.daily_jobs_at = "00:00".into();
        })),
        ..Options::default()
    }
}

struct Run {
    node: String,
    attempts: i32,
    finished: bool,
    outcome: Value,
}

async fn runs(app: &TestApp) -> Vec<(String, Run)> {
    sql(app)
        .await
        .query(
            "SELECT job, node, attempts, finished_at IS NOT NULL, coalesce(outcome::text, 'null')
             FROM job_runs ORDER BY job",
            &[],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.get(0),
                Run {
                    node: r.get(1),
                    attempts: r.get(2),
                    finished: r.get(3),
                    outcome: serde_json::from_str(r.get(4)).unwrap(),
                },
            )
        })
        .collect()
}

/// Waits until `jobs` runs are finished; then a moment more, so that a node that
/// would run one again has had its chance.
async fn wait_finished(app: &TestApp, jobs: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(
        app,
        "SELECT count(*) FROM job_runs WHERE finished_at IS NOT NULL",
    )
    .await
        < jobs
    {
        assert!(
            Instant::now() < deadline,
            "daily jobs not finished: {:?}",
            runs(app)
                .await
                .iter()
                .map(|(j, r)| (j, &r.node, r.finished))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// A checkbook whose tickets are past validity and tolerance (due to expire), and one
/// handed out with an e-mail whose tickets end within 30 days (due for a reminder).
async fn due_work(app: &TestApp) -> (Value, Value, Actor) {
    let (program, funders) = app.program(&["1.00"], json!({"validity_days": 20})).await;
    app.pay(&program, &funders[0], "10000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 5)
        .await
        .ok(201);
    let old = app
        .issue(&prescriber, &program, Some(json!({"reference": "OLD"})))
        .await
        .ok(201)
        .clone();
    let soon = app
        .issue(
            &prescriber,
            &program,
            Some(json!({"reference": "SOON", "email": "soon@example.org"})),
        )
        .await
        .ok(201)
        .clone();
    sql(app)
        .await
        .execute(
            &format!(
                "UPDATE tickets SET valid_until = current_date - 400 WHERE checkbook_id = '{}'",
                old["id"].as_str().unwrap()
            ),
            &[],
        )
        .await
        .unwrap();
    (old, soon, prescriber)
}

async fn expired_tickets(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) FROM tickets WHERE status = 'expired'").await
}

async fn expiries_in_the_ledger(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT count(*) FROM ledger_transactions WHERE kind = 'expiry'",
    )
    .await
}

async fn reminders_queued(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT count(*) FROM outbox WHERE kind = 'expiry_reminder'",
    )
    .await
}

#[tokio::test]
async fn two_servers_run_each_daily_job_once_a_day() {
    let app = TestApp::spawn().await;
    let (_old, _soon, _) = due_work(&app).await;
    assert_eq!(expired_tickets(&app).await, 0);
    assert_eq!(reminders_queued(&app).await, 0, "not before the job");

    // Two nodes start together after the day's time: both try to catch up.
    let (a, b) = tokio::join!(
        app.another_node(jobs_from_midnight()),
        app.another_node(jobs_from_midnight())
    );
    wait_finished(&app, 3).await;
    // A third node started later the same day finds both runs finished.
    let c = app.another_node(jobs_from_midnight()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let runs = runs(&app).await;
    assert_eq!(runs.len(), 3, "one run per job and day");
    let (expire, purge, remind) = (&runs[0], &runs[1], &runs[2]);
    assert_eq!(expire.0, "expire");
    assert_eq!(purge.0, "purge");
    assert_eq!(remind.0, "remind");
    assert_eq!(purge.1.outcome, json!({"erased": 0, "mails_withdrawn": 0}));
    for (job, run) in &runs {
        assert!(run.finished, "{job}");
        assert_eq!(run.attempts, 1, "{job}: claimed once");
        assert!(!run.node.is_empty(), "{job}");
    }
    assert_eq!(
        expire.1.outcome,
        json!({"programs": 1, "tickets": 10, "value": "100.00"})
    );
    assert_eq!(remind.1.outcome, json!({"reminders": 1}));
    // The effects, once.
    assert_eq!(expired_tickets(&app).await, 10);
    assert_eq!(expiries_in_the_ledger(&app).await, 1);
    assert_eq!(reminders_queued(&app).await, 1);
    app.assert_ledger_invariants().await;
    drop((a, b, c));
}

#[tokio::test]
async fn a_run_left_unfinished_by_a_dead_node_is_taken_over_and_a_finished_one_is_not_run_again() {
    let app = TestApp::spawn().await;
    due_work(&app).await;
    // Today (Paris): `expire` was claimed by a node that died before finishing (a
    // failed attempt leaves that too); `remind` already ran to completion.
    sql(&app)
        .await
        .batch_execute(
            "INSERT INTO job_runs (job, day, node, started_at, last_error)
             VALUES ('expire', (now() AT TIME ZONE 'Europe/Paris')::date, 'dead-node',
                     now() - interval '1 hour', 'internal_error: la connexion a été perdue');
             INSERT INTO job_runs (job, day, node, started_at, finished_at, outcome)
             VALUES ('remind', (now() AT TIME ZONE 'Europe/Paris')::date, 'earlier-node',
                     now() - interval '1 hour', now() - interval '59 minutes', '{\"reminders\": 0}')",
        )
        .await
        .unwrap();

    let node = app.another_node(jobs_from_midnight()).await;
    wait_finished(&app, 3).await;

    let runs = runs(&app).await;
    let expire = &runs[0].1;
    assert!(expire.finished);
    assert_eq!(expire.attempts, 2, "the dead node's attempt, then this one");
    assert_ne!(expire.node, "dead-node", "taken over");
    assert_eq!(expire.outcome["tickets"], 10);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM job_runs WHERE job = 'expire' AND last_error IS NULL"
        )
        .await,
        1,
        "the error of the dead attempt is cleared by the successful one"
    );
    assert_eq!(expired_tickets(&app).await, 10);
    assert_eq!(expiries_in_the_ledger(&app).await, 1);

    let remind = &runs[2].1;
    assert_eq!(runs[2].0, "remind");
    assert_eq!(
        (remind.node.as_str(), remind.attempts),
        ("earlier-node", 1),
        "a finished run is left alone"
    );
    assert_eq!(
        reminders_queued(&app).await,
        0,
        "not run twice the same day"
    );
    drop(node);
}

#[tokio::test]
async fn a_node_that_dies_while_holding_the_run_leaves_it_to_another() {
    let app = TestApp::spawn().await;
    due_work(&app).await;
    // A node claimed today's `expire` and is still in its transaction…
    let (dying, connection) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    dying
        .batch_execute(
            "BEGIN;
             INSERT INTO job_runs (job, day, node)
             VALUES ('expire', (now() AT TIME ZONE 'Europe/Paris')::date, 'dying-node')",
        )
        .await
        .unwrap();
    // …while another node starts: it waits for that run (`remind` comes after it).
    let node = app.another_node(jobs_from_midnight()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        expired_tickets(&app).await,
        0,
        "waiting, not running it too"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM job_runs WHERE job = 'expire'").await,
        0,
        "the claim is not committed"
    );
    // The first node dies: PostgreSQL ends its session and undoes its claim.
    drop(dying);
    connection.abort();
    wait_finished(&app, 3).await;
    let runs = runs(&app).await;
    assert_eq!(runs[0].0, "expire");
    assert_eq!(runs[0].1.attempts, 1, "the dead claim left no trace");
    assert_ne!(runs[0].1.node, "dying-node");
    assert_eq!(expired_tickets(&app).await, 10);
    assert_eq!(expiries_in_the_ledger(&app).await, 1);
    drop(node);
}

/// `passnum <job>` run from the command line (a cron user's), against the test's
/// database: its stdout, or the test fails with its stderr.
async fn command(app: &TestApp, job: &'static str) -> String {
    let url = app.db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_passnum"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", url)
            .env_remove("PASSNUM_ENV")
            .env("PASSNUM_LOG_LEVEL", "warn")
            .stdin(std::process::Stdio::null())
            .arg(job)
            .output()
            .expect("passnum runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "passnum {job}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_commands_run_from_cron_record_their_runs_as_serve_does() {
    let app = TestApp::spawn().await;
    due_work(&app).await;
    for job in ["expire", "remind", "purge"] {
        command(&app, job).await;
    }
    let seen = runs(&app).await;
    let jobs: Vec<&str> = seen.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(
        jobs,
        ["expire", "purge", "remind"],
        "one row per job and day"
    );
    for (job, run) in &seen {
        assert!(run.finished, "{job}");
        assert_eq!(run.attempts, 1, "{job}");
        assert!(
            run.node.starts_with(&format!("passnum {job} (command) ")),
            "{job}: {}",
            run.node
        );
    }
    // The same outcomes as the daily jobs of `serve` record.
    assert_eq!(
        seen[0].1.outcome,
        json!({"programs": 1, "tickets": 10, "value": "100.00"})
    );
    assert_eq!(
        seen[1].1.outcome,
        json!({"erased": 0, "mails_withdrawn": 0})
    );
    assert_eq!(seen[2].1.outcome, json!({"reminders": 1}));

    // Again from cron the same day: nothing more to do, a second attempt recorded.
    let out = command(&app, "expire").await;
    assert!(out.contains("no ticket to expire"), "{out}");
    let again = runs(&app).await;
    assert_eq!(again[0].1.attempts, 2);
    assert_eq!(
        again[0].1.outcome,
        json!({"programs": 0, "tickets": 0, "value": "0"})
    );

    // A server started after the day's time finds the day's runs done.
    let node = app.another_node(jobs_from_midnight()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = runs(&app).await;
    for ((job, before), (_, now)) in again.iter().zip(&after) {
        assert_eq!(
            now.attempts, before.attempts,
            "{job}: not run again by serve"
        );
        assert_eq!(now.node, before.node, "{job}");
    }
    assert_eq!(expired_tickets(&app).await, 10);
    assert_eq!(expiries_in_the_ledger(&app).await, 1);
    assert_eq!(reminders_queued(&app).await, 1);
    app.assert_ledger_invariants().await;
    drop(node);
}
