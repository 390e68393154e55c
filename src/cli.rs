//! The `passnum` command line: `serve`, `migrate`, `create-operator`, `demo`,
//! `expire`, `settle`, `remind`, `purge`, `check`, `database-url`, `stop-database`.
//! `expire`, `remind` and `purge` record their run in `job_runs` as `serve`'s daily
//! jobs do.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::settlement::{self, SettleError};
use crate::startup::{Application, prepare_database};
use crate::{db, demo, jobs, organizations, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "passnum",
    version,
    about = "Pass Numérique: chèques de formation au numérique"
)]
struct Cli {
    /// Folder of the configuration files (default.toml, <environment>.toml).
    #[arg(
        long,
        global = true,
        default_value = "config",
        env = "PASSNUM_CONFIG_DIR"
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP server (applies pending migrations first).
    Serve,
    /// Applies pending database migrations, then exits.
    Migrate,
    /// Creates the operator organisation (once) and an operator admin.
    CreateOperator {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
    /// Fills an empty database with a believable demo territory.
    Demo,
    /// Expires the tickets past validity and tolerance and returns their value to
    /// their programs. Safe from cron: running it again changes nothing.
    Expire,
    /// Settles a month: sites paid, funders billed, statements made. Safe from cron:
    /// a month already settled is reported and left as it is.
    Settle {
        /// The month, YYYY-MM (e.g. 2026-10).
        #[arg(long)]
        period: String,
    },
    /// Queues an e-mail reminder for every beneficiary whose unused tickets expire
    /// within 30 days (sent by the mail worker of `passnum serve`). Safe from cron:
    /// never twice for the same checkbook and expiry date.
    Remind,
    /// Erases the beneficiaries' records kept longer than
    /// `beneficiary_retention_months` after their checkbook's end (RGPD); amounts,
    /// tickets and statements stay. Safe from cron: an erased record stays erased.
    Purge,
    /// Checks the books, read-only: every ledger invariant, one live redemption per
    /// ticket, every program's cover, every statement's SHA-256 against its content,
    /// the audit trail's chain. Prints one line per violation and a summary; exits 0
    /// when all holds, 1 when something is wrong, 2 when it could not check. Records
    /// its run (job `check` in `job_runs`) for monitoring. Safe from cron.
    Check,
    /// Prints the URL of the database: DATABASE_URL, or the private cluster's (started
    /// if needed), e.g. for `psql "$(passnum database-url)"` or a test harness.
    DatabaseUrl,
    /// Stops the private PostgreSQL cluster of the data folder (its data stays,
    /// unless --remove).
    StopDatabase {
        /// Also delete the cluster and its data (for throw-away test clusters).
        #[arg(long)]
        remove: bool,
    },
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("passnum: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logs(settings.log_format, &settings.log_level);
    if let Some((path, created)) = &settings.generated_secrets {
        if *created {
            tracing::info!(file = %path.display(), "no signing secret configured: random ones made and kept in this file (mode 0600)");
        } else {
            tracing::debug!(file = %path.display(), "signing secrets read from the data folder");
        }
    }
    match run(cli.command, settings).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("passnum: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            let pool = prepare_database(&settings).await?;
            let environment = settings.environment;
            // Statements of a settlement cut short between its commit and its sealing.
            tokio::spawn(crate::settlement::seal_left_over(pool.clone()));
            let app = Application::build(settings.clone(), pool)?;
            tracing::info!(
                environment = environment.as_str(),
                address = %format!("http://{}", settings.bind),
                docs = %format!("http://{}/docs/", settings.bind),
                "passnum is serving"
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let url = db::resolve_database_url(&settings).await?;
            let applied = db::run_migrations(&url).await?;
            println!("{applied} migration(s) applied");
        }
        Command::CreateOperator { email, password } => {
            let email = Email::parse("email", &email)
                .map_err(|e| anyhow::anyhow!("--email: {}", e.message))?;
            let password = Password::parse("password", &password)
                .map_err(|e| anyhow::anyhow!("--password: {}", e.message))?;
            let pool = prepare_database(&settings).await?;
            let mut conn = pool.get().await?;
            match organizations::bootstrap_operator(&mut conn, email.clone(), &password).await {
                Ok((org, user)) => {
                    println!("{}", org.id);
                    eprintln!(
                        "operator organisation {} ready; admin {} (user {})",
                        org.id, email, user.id
                    );
                }
                Err(err) => anyhow::bail!("{}", ApiError::from(err).problem().detail),
            }
        }
        Command::Demo => {
            let pool = prepare_database(&settings).await?;
            let mut conn = pool.get().await?;
            let report = demo::fill(&mut conn).await?;
            println!("{report}");
        }
        Command::Expire => {
            let pool = prepare_database(&settings).await?;
            let mut conn = pool.get().await?;
            use diesel_async::AsyncConnection;
            let today = crate::domain::french_date(chrono::Utc::now());
            let node = jobs::command_node("expire");
            let expired = conn
                .transaction::<_, crate::db::DbError, _>(async |conn| {
                    jobs::claim_command_run(conn, "expire", today, &node).await?;
                    let expired = crate::closing::expire_due(
                        conn,
                        crate::audit::Actor::Service("passnum expire"),
                        today,
                        None,
                    )
                    .await?;
                    jobs::finish_run(conn, "expire", today, &jobs::expire_outcome(&expired))
                        .await?;
                    Ok(expired)
                })
                .await;
            let expired = recorded(&mut conn, "expire", today, &node, expired).await?;
            if expired.is_empty() {
                println!("no ticket to expire");
            }
            for (program, tickets, value) in expired {
                println!(
                    "program {program}: {tickets} ticket(s) expired, {value} € back to its budget"
                );
            }
        }
        Command::Settle { period } => {
            let (start, end) = month(&period)?;
            let pool = prepare_database(&settings).await?;
            let mut conn = pool.get().await?;
            let sealed = match settlement::settle_and_seal(&mut conn, start, end, None).await {
                Ok(settled) => {
                    println!(
                        "settlement {} of {start} to {end}: {} statement(s)",
                        settled.settlement.id,
                        settled.statements.len()
                    );
                    settled.statements
                }
                Err(SettleError::PeriodAlreadySettled { .. }) => {
                    println!("{start} to {end} is already settled: nothing to do");
                    // Sealed by an earlier run, unless it was cut short: seal the rest.
                    settlement::seal_pending(&mut conn).await.map_err(|err| {
                        anyhow::anyhow!("{}", ApiError::from(err).problem().detail)
                    })?
                }
                Err(err) => anyhow::bail!("{}", ApiError::from(err).problem().detail),
            };
            for st in sealed {
                println!(
                    "  {} {:<12} {} €  sha256 {}",
                    st.number,
                    st.kind,
                    st.total,
                    st.sha256.unwrap_or_default()
                );
            }
        }
        Command::Remind => {
            let pool = prepare_database(&settings).await?;
            let mut conn = pool.get().await?;
            use diesel_async::AsyncConnection;
            let today = crate::domain::french_date(chrono::Utc::now());
            let node = jobs::command_node("remind");
            let queued = conn
                .transaction::<_, crate::mail::events::MailEventError, _>(async |conn| {
                    jobs::claim_command_run(conn, "remind", today, &node).await?;
                    let queued = crate::mail::events::queue_expiry_reminders(conn, today).await?;
                    jobs::finish_run(conn, "remind", today, &jobs::remind_outcome(queued.len()))
                        .await?;
                    Ok(queued)
                })
                .await;
            let queued = recorded(&mut conn, "remind", today, &node, queued).await?;
            if queued.is_empty() {
                println!("no reminder to send");
            }
            for r in &queued {
                println!(
                    "checkbook {}: reminder queued ({} unused ticket(s), valid until {})",
                    r.checkbook_number, r.unused, r.valid_until
                );
            }
        }
        Command::Purge => {
            let pool = prepare_database(&settings).await?;
            let mut conn = pool.get().await?;
            use diesel_async::AsyncConnection;
            let today = crate::domain::french_date(chrono::Utc::now());
            let months = settings.beneficiary_retention_months;
            let node = jobs::command_node("purge");
            let purged = conn
                .transaction::<_, crate::db::DbError, _>(async |conn| {
                    jobs::claim_command_run(conn, "purge", today, &node).await?;
                    let purged = crate::checkbooks::purge(
                        conn,
                        crate::audit::Actor::Service("passnum purge"),
                        today,
                        months,
                    )
                    .await?;
                    jobs::finish_run(conn, "purge", today, &jobs::purge_outcome(&purged)).await?;
                    Ok(purged)
                })
                .await;
            let purged = recorded(&mut conn, "purge", today, &node, purged).await?;
            println!(
                "{} beneficiary record(s) erased ({} month(s) after their checkbook's end), {} waiting mail(s) withdrawn",
                purged.erased, months, purged.mails_withdrawn
            );
        }
        Command::Check => return Ok(check(&settings).await),
        Command::DatabaseUrl => {
            println!("{}", db::resolve_database_url(&settings).await?);
        }
        Command::StopDatabase { remove } => {
            if settings.database_url.is_some() {
                anyhow::bail!("DATABASE_URL is set: there is no private cluster to stop");
            }
            let root = settings.data_dir.join("postgres");
            let was_running = tokio::task::spawn_blocking(move || {
                let was_running = crate::pg_cluster::stop(&root)?;
                if remove {
                    crate::pg_cluster::remove(&root)?;
                }
                anyhow::Ok(was_running)
            })
            .await??;
            if was_running {
                println!("private PostgreSQL stopped; its data stays in the data folder");
            } else {
                println!("the private PostgreSQL was not running");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `passnum check`: the report on stdout, then its record. Connects without
/// migrating (it changes nothing, and may be pointed at a restored copy or a
/// standby, where the record is skipped with a warning).
async fn check(settings: &Settings) -> ExitCode {
    use diesel_async::AsyncConnection;
    let report = async {
        let url = db::resolve_database_url(settings).await?;
        let mut conn = diesel_async::AsyncPgConnection::establish(&url).await?;
        let report = crate::check::run(&mut conn).await?;
        anyhow::Ok((conn, report))
    }
    .await;
    let (mut conn, report) = match report {
        Ok(done) => done,
        Err(err) => {
            eprintln!("passnum check: could not check: {err:#}");
            return ExitCode::from(2);
        }
    };
    for violation in &report.violations {
        println!("{violation}");
    }
    println!("{}", report.summary());
    if let Err(err) = crate::check::record(&mut conn, &report, &crate::jobs::node_name()).await {
        eprintln!("passnum check: the run was not recorded in job_runs: {err}");
    }
    if report.holds() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A daily job's run from the command line, as `serve` records its own: a failure
/// is written on the day's row of `job_runs` (after the rollback), then returned.
async fn recorded<T, E: std::fmt::Display>(
    conn: &mut diesel_async::AsyncPgConnection,
    job: &str,
    day: chrono::NaiveDate,
    node: &str,
    result: Result<T, E>,
) -> anyhow::Result<T> {
    match result {
        Ok(value) => Ok(value),
        Err(err) => {
            let message = err.to_string();
            jobs::record_failure(conn, job, day, node, &message).await;
            anyhow::bail!("{message}")
        }
    }
}

/// The first and last days of a month written YYYY-MM.
fn month(raw: &str) -> anyhow::Result<(chrono::NaiveDate, chrono::NaiveDate)> {
    let start = chrono::NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d")
        .map_err(|_| anyhow::anyhow!("--period must read YYYY-MM (e.g. 2026-10), not {raw:?}"))?;
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .ok_or_else(|| anyhow::anyhow!("--period {raw:?} is out of range"))?;
    Ok((start, end))
}
