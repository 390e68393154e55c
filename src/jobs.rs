//! The daily jobs of `passnum serve`: `expire`, `remind` and `purge` (the same use
//! cases as the commands `passnum expire`, `passnum remind` and `passnum purge`), once a day at `daily_jobs_at`,
//! Paris time.
//!
//! **Exactly once a day, whatever the number of nodes.** Each run claims its row of
//! `job_runs` (primary key: job and French day) in the job's own transaction, does the
//! work, marks the row finished and commits: the record commits with the effects, or
//! neither does. A second node claiming the same (job, day) waits on that row until
//! the first transaction ends; committed, it finds the run finished and does nothing;
//! rolled back (the job failed, the node died and PostgreSQL ended its session), it
//! runs the job itself. A row left unfinished (a failed attempt records its error
//! after its rollback; a run written by an older node) is taken over by the next
//! claim, which counts the attempt. A node whose machine vanished without closing its
//! connection is cut by `idle_in_transaction_session_timeout`, set for the job's
//! transaction.
//!
//! **When.** Every node checks at start and then every [`POLL`]: once the Paris time
//! of day has reached `daily_jobs_at`, each job not yet known done today is claimed.
//! A node started after the day's time therefore catches up the missing run, and a
//! job that failed is tried again after [`RETRY`]. A day when no node was running is
//! not made up for the next day: both jobs work on "everything due as of today", so
//! the next run covers it.
//!
//! Adding a job is one line of [`DAILY`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Date, Integer, Jsonb, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::db::DbPool;
use crate::error::ApiError;

/// How often a node looks whether a job is due (no database query once the day's
/// jobs are done).
pub const POLL: Duration = Duration::from_secs(30);
/// How long after a failed attempt the node tries the job again.
pub const RETRY: Duration = Duration::from_secs(600);
/// A job's transaction left idle this long (its node gone silent) is ended by
/// PostgreSQL, which frees the day's run for another node.
const IDLE_TIMEOUT: &str = "10min";

/// What a job's work returns: its outcome counts, kept in `job_runs.outcome`.
pub type JobFuture<'c> = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send + 'c>>;

/// What a job is run for: the French day, and the settings the jobs read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobDay {
    pub day: NaiveDate,
    /// `beneficiary_retention_months`, for `purge`.
    pub retention_months: u32,
}

/// A daily job: its name in `job_runs`, and its work, run in the claim's transaction
/// for the French day given.
pub struct Job {
    pub name: &'static str,
    pub run: for<'c> fn(&'c mut AsyncPgConnection, JobDay) -> JobFuture<'c>,
}

/// The daily jobs, in the order they run.
pub const DAILY: &[Job] = &[
    Job {
        name: "expire",
        run: expire,
    },
    Job {
        name: "remind",
        run: remind,
    },
    Job {
        name: "purge",
        run: purge,
    },
];

fn expire(conn: &mut AsyncPgConnection, today: JobDay) -> JobFuture<'_> {
    let today = today.day;
    Box::pin(async move {
        let expired = crate::closing::expire_due(
            conn,
            crate::audit::Actor::Service("passnum serve (expire)"),
            today,
            None,
        )
        .await?;
        Ok(expire_outcome(&expired))
    })
}

/// `expire`'s outcome in `job_runs`: programs touched, tickets expired, value returned.
pub fn expire_outcome(expired: &[(uuid::Uuid, i64, Decimal)]) -> Value {
    let tickets: i64 = expired.iter().map(|(_, n, _)| n).sum();
    let value: Decimal = expired.iter().map(|(_, _, v)| v).sum();
    json!({
        "programs": expired.len(),
        "tickets": tickets,
        "value": value.to_string(),
    })
}

/// `remind`'s outcome in `job_runs`: reminders queued.
pub fn remind_outcome(queued: usize) -> Value {
    json!({ "reminders": queued })
}

/// `purge`'s outcome in `job_runs`: records erased, waiting mails withdrawn.
pub fn purge_outcome(purged: &crate::checkbooks::Purged) -> Value {
    json!({
        "erased": purged.erased,
        "mails_withdrawn": purged.mails_withdrawn,
    })
}

fn remind(conn: &mut AsyncPgConnection, today: JobDay) -> JobFuture<'_> {
    Box::pin(async move {
        let queued = crate::mail::events::queue_expiry_reminders(conn, today.day).await?;
        Ok(remind_outcome(queued.len()))
    })
}

/// Erases the beneficiaries' records kept past their retention delay (RGPD).
fn purge(conn: &mut AsyncPgConnection, today: JobDay) -> JobFuture<'_> {
    Box::pin(async move {
        let purged = crate::checkbooks::purge(
            conn,
            crate::audit::Actor::Service("passnum serve (purge)"),
            today.day,
            today.retention_months,
        )
        .await?;
        Ok(purge_outcome(&purged))
    })
}

/// The French day whose jobs are due at `now`, once the Paris time of day reached
/// `at`; `None` before. Comparing (rather than waiting for the exact minute) also
/// covers a time skipped when clocks go forward.
pub fn due_day(now: DateTime<Utc>, at: NaiveTime) -> Option<NaiveDate> {
    let local = now.with_timezone(&chrono_tz::Europe::Paris);
    (local.time() >= at).then(|| local.date_naive())
}

/// This node, as recorded in `job_runs.node`: host, process and a random tag (two
/// schedulers of one process, as in the tests, differ).
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{host}/{}/{}",
        std::process::id(),
        crate::secrets::random_hex(3)
    )
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// What [`run_once`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Ran {
    /// This node ran the job: its outcome, and which attempt of the day it was.
    Done { outcome: Value, attempt: i32 },
    /// The day's run was already finished (by this node or another).
    AlreadyDone,
}

/// Runs `job` for `day` unless its run is already finished: claim, work and record in
/// one transaction. A failure is recorded on the day's row (after the rollback) and
/// returned; the next claim takes the run over.
pub async fn run_once(
    conn: &mut AsyncPgConnection,
    job: &Job,
    today: JobDay,
    node: &str,
) -> Result<Ran, ApiError> {
    let day = today.day;
    let result = conn
        .transaction::<_, ApiError, _>(async |conn| {
            diesel::sql_query(format!(
                "SET LOCAL idle_in_transaction_session_timeout = '{IDLE_TIMEOUT}'"
            ))
            .execute(conn)
            .await?;
            let claimed: Vec<Claimed> = diesel::sql_query(
                "INSERT INTO job_runs (job, day, node) VALUES ($1, $2, $3)
                 ON CONFLICT (job, day) DO UPDATE
                    SET node = EXCLUDED.node, started_at = now(),
                        attempts = job_runs.attempts + 1
                    WHERE job_runs.finished_at IS NULL
                 RETURNING attempts",
            )
            .bind::<Text, _>(job.name)
            .bind::<Date, _>(day)
            .bind::<Text, _>(node)
            .load(conn)
            .await?;
            let Some(claimed) = claimed.into_iter().next() else {
                return Ok(Ran::AlreadyDone);
            };
            let outcome = (job.run)(conn, today).await?;
            finish_run(conn, job.name, day, &outcome).await?;
            Ok(Ran::Done {
                outcome,
                attempt: claimed.attempts,
            })
        })
        .await;
    if let Err(err) = &result {
        let message = format!("{}: {}", err.code(), err.problem().detail);
        record_failure(conn, job.name, day, node, &message).await;
    }
    result
}

/// Records a failed attempt of `job` on `day` on its row (after the rollback of the
/// work), unless the day's run is finished; a failure to record is only logged.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    job: &str,
    day: NaiveDate,
    node: &str,
    message: &str,
) {
    let recorded = diesel::sql_query(
        "INSERT INTO job_runs (job, day, node, last_error) VALUES ($1, $2, $3, $4)
         ON CONFLICT (job, day) DO UPDATE
            SET node = EXCLUDED.node, started_at = now(),
                attempts = job_runs.attempts + 1, last_error = EXCLUDED.last_error
            WHERE job_runs.finished_at IS NULL",
    )
    .bind::<Text, _>(job)
    .bind::<Date, _>(day)
    .bind::<Text, _>(node)
    .bind::<Text, _>(message)
    .execute(conn)
    .await;
    if let Err(e) = recorded {
        tracing::warn!(job, error = %e, "daily job: its failure could not be recorded");
    }
}

/// The `node` of a run from the command line (`passnum expire` from a cron): the
/// command and the machine, so that the operator tells it from `serve`'s runs.
pub fn command_node(job: &str) -> String {
    format!("passnum {job} (command) {}", node_name())
}

/// A run from the command line, inside the command's own transaction: claims the
/// day's row of `job` whether or not `serve` ran it already (the jobs may run again:
/// they change nothing twice), so that `serve` finds the day done. The same row a
/// daily run writes; [`finish_run`] closes it in the same transaction.
pub async fn claim_command_run(
    conn: &mut AsyncPgConnection,
    job: &str,
    day: NaiveDate,
    node: &str,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO job_runs (job, day, node) VALUES ($1, $2, $3)
         ON CONFLICT (job, day) DO UPDATE
            SET node = EXCLUDED.node, started_at = now(), finished_at = NULL, outcome = NULL,
                attempts = job_runs.attempts + 1",
    )
    .bind::<Text, _>(job)
    .bind::<Date, _>(day)
    .bind::<Text, _>(node)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the day's run of `job` finished with its `outcome`, in the transaction of
/// its work (a daily run's, or a command's: [`claim_command_run`]).
pub async fn finish_run(
    conn: &mut AsyncPgConnection,
    job: &str,
    day: NaiveDate,
    outcome: &Value,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "UPDATE job_runs SET finished_at = clock_timestamp(), outcome = $3, last_error = NULL
         WHERE job = $1 AND day = $2",
    )
    .bind::<Text, _>(job)
    .bind::<Date, _>(day)
    .bind::<Jsonb, _>(outcome)
    .execute(conn)
    .await?;
    Ok(())
}

/// The scheduler of `passnum serve` (spawned when `daily_jobs` is on): runs every job
/// of [`DAILY`] once a day from `at`, Paris time. Runs until aborted.
pub async fn run(pool: DbPool, at: NaiveTime, retention_months: u32) {
    let node = node_name();
    tracing::info!(%node, at = %at.format("%H:%M"), "daily jobs scheduled (Paris time)");
    // The last day each job was seen finished, so that a done day costs no query.
    let mut done: HashMap<&'static str, NaiveDate> = HashMap::new();
    loop {
        let mut failed = false;
        if let Some(day) = due_day(Utc::now(), at) {
            for job in DAILY {
                if done.get(job.name) == Some(&day) {
                    continue;
                }
                let ran = match pool.get().await {
                    Ok(mut conn) => {
                        let today = JobDay {
                            day,
                            retention_months,
                        };
                        run_once(&mut conn, job, today, &node).await
                    }
                    Err(e) => Err(ApiError::from(e)),
                };
                match ran {
                    Ok(Ran::Done { outcome, attempt }) => {
                        tracing::info!(job = job.name, %day, attempt, %outcome, "daily job done");
                        done.insert(job.name, day);
                    }
                    Ok(Ran::AlreadyDone) => {
                        tracing::debug!(job = job.name, %day, "daily job already done today");
                        done.insert(job.name, day);
                    }
                    Err(err) => {
                        failed = true;
                        tracing::warn!(job = job.name, %day, code = err.code(), error = %err.problem().detail, "daily job failed; it will be tried again");
                    }
                }
            }
        }
        tokio::time::sleep(if failed { RETRY } else { POLL }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_time_of_day as parse_time;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn jobs_are_due_from_their_paris_time_of_day() {
        let at = parse_time("03:30").unwrap();
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let cases = [
            // Winter: Paris is UTC+1.
            ("2026-01-10T02:29:59Z", None),
            ("2026-01-10T02:30:00Z", Some(day("2026-01-10"))),
            ("2026-01-10T22:59:59Z", Some(day("2026-01-10"))),
            // 23:30 UTC is already the next French day, before its time.
            ("2026-01-10T23:30:00Z", None),
            // Summer: UTC+2.
            ("2026-07-01T01:29:00Z", None),
            ("2026-07-01T01:30:00Z", Some(day("2026-07-01"))),
        ];
        for (now, expected) in cases {
            assert_eq!(due_day(utc(now), at), expected, "{now}");
        }
        // Clocks go forward at 02:00 on 29 March 2026: a 02:30 job still runs that day.
        let skipped = parse_time("02:30").unwrap();
        assert_eq!(
            due_day(utc("2026-03-29T01:00:00Z"), skipped),
            Some(day("2026-03-29"))
        );
    }

    #[test]
    fn every_job_has_its_own_name() {
        let mut names: Vec<_> = DAILY.iter().map(|j| j.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DAILY.len());
    }
}
