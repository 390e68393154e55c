//! Database access: the connection pool, the embedded migrations and the live SQL
//! functions files ([`FUNCTIONS`], applied after every migration run), and the one
//! place where database errors are classified ([`DbError`]) before the HTTP edge
//! maps them.

use std::time::Duration;

use anyhow::Context;
use deadpool::Runtime;
use deadpool::managed::{Metrics, RecycleResult};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolableConnection};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::pg_cluster::{self, Durability};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = deadpool::managed::Pool<Manager>;
pub type DbConn = deadpool::managed::Object<Manager>;

/// A connection handed out this recently, and not broken since, is handed out again
/// without a `SELECT 1` first: it has just worked. One idle for longer is checked, so
/// that a restarted database costs no request its answer.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// The pool's manager: diesel-async's, minus the check of connections in steady use
/// (under load it was one round trip and one more server transaction per request).
pub struct Manager {
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
    /// Where its connections go: [`background_pool`] opens another pool there.
    url: String,
}

impl deadpool::managed::Manager for Manager {
    type Type = AsyncPgConnection;
    type Error = diesel_async::pooled_connection::PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, Self::Error> {
        self.inner.create().await
    }

    async fn recycle(
        &self,
        conn: &mut AsyncPgConnection,
        metrics: &Metrics,
    ) -> RecycleResult<Self::Error> {
        if metrics.last_used() < TRUSTED_FOR && !std::thread::panicking() && !conn.is_broken() {
            return Ok(());
        }
        self.inner.recycle(conn, metrics).await
    }
}

/// A database failure, classified once so that callers decide without matching on
/// driver details. Constraint violations keep the constraint's name: the use case or
/// the HTTP edge maps a known constraint to a precise error.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("row not found")]
    NotFound,
    #[error("unique constraint {constraint} violated")]
    Unique { constraint: String },
    #[error("check constraint {constraint} violated")]
    Check { constraint: String },
    #[error("exclusion constraint {constraint} violated")]
    Exclusion { constraint: String },
    #[error("foreign key {constraint} violated")]
    ForeignKey { constraint: String },
    #[error("concurrent update, retry")]
    Serialization,
    #[error("value refused by the database: {0}")]
    InvalidValue(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(#[source] DieselError),
}

/// What PostgreSQL says of a value it cannot store (a date or number out of its
/// range, a character it cannot encode): bad input that slipped past the parsers.
const VALUE_ERRORS: &[&str] = &[
    "out of range",
    "invalid byte sequence",
    "invalid input syntax",
    "value too long",
];

/// What PostgreSQL says as it ends a session or refuses one: a fast or immediate stop,
/// a crash of another backend, a restart or a promotion under way (SQL states 57P01 to
/// 57P03, which diesel does not classify: only the message tells). The work was not
/// committed, or its commit is unknown: a retry (with the same Idempotency-Key) finds
/// out. Without this, a database restart answered 500.
const GONE_MESSAGES: &[&str] = &["terminating connection", "the database system is"];

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(kind, ref info) => {
                let constraint = info.constraint_name().unwrap_or_default().to_string();
                match kind {
                    DatabaseErrorKind::UniqueViolation => DbError::Unique { constraint },
                    DatabaseErrorKind::CheckViolation => DbError::Check { constraint },
                    DatabaseErrorKind::ExclusionViolation => DbError::Exclusion { constraint },
                    DatabaseErrorKind::ForeignKeyViolation => DbError::ForeignKey { constraint },
                    DatabaseErrorKind::SerializationFailure => DbError::Serialization,
                    // No SQL state: the connection broke (or could not send).
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand => {
                        DbError::Unavailable(info.message().to_string())
                    }
                    // A connection to a server that is no longer the primary (a
                    // demoted one): nothing was written, the next connection finds the
                    // primary.
                    DatabaseErrorKind::ReadOnlyTransaction => {
                        DbError::Unavailable(info.message().to_string())
                    }
                    _ if GONE_MESSAGES.iter().any(|m| info.message().contains(m)) => {
                        DbError::Unavailable(info.message().to_string())
                    }
                    _ if VALUE_ERRORS.iter().any(|m| info.message().contains(m)) => {
                        DbError::InvalidValue(info.message().to_string())
                    }
                    _ if info.message().contains("deadlock detected") => DbError::Serialization,
                    _ => DbError::Other(err),
                }
            }
            DieselError::BrokenTransactionManager => {
                DbError::Unavailable("broken transaction manager".into())
            }
            // The commit failed and so did the rollback: the connection is gone. The
            // work may or may not have committed; a retry with the same
            // Idempotency-Key finds out.
            DieselError::RollbackErrorOnCommit { commit_error, .. } => DbError::from(*commit_error),
            other => DbError::Other(other),
        }
    }
}

impl From<PoolError> for DbError {
    fn from(err: PoolError) -> Self {
        DbError::Unavailable(err.to_string())
    }
}

/// The database URL to use: `DATABASE_URL` when set, else the private cluster under
/// the data folder, started (or found running) here.
pub async fn resolve_database_url(settings: &Settings) -> anyhow::Result<String> {
    if let Some(url) = &settings.database_url {
        return Ok(url.expose_secret().to_string());
    }
    let root = settings.data_dir.join("postgres");
    let cluster =
        tokio::task::spawn_blocking(move || pg_cluster::ensure_running(&root, Durability::Durable))
            .await
            .context("the cluster start-up task failed")??;
    create_database_if_missing(&cluster.url("postgres"), "passnum").await?;
    Ok(cluster.url("passnum"))
}

/// Creates `name` on the server of `admin_url` unless it exists.
pub async fn create_database_if_missing(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .context("could not connect to PostgreSQL")?;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let found: Found =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut conn)
            .await?;
    if !found.found {
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// The pool. A connection's driver task lives on the runtime that opened it, so a
/// connection is opened where it is first asked for: an HTTP worker's connections
/// are driven by that worker's own thread. (Opening every connection on the main
/// runtime instead cost each query two wake-ups across threads: about 20 µs of
/// passnum's CPU per scan, docs/BENCHMARKS.md, redemption.) The
/// tasks that outlive the HTTP workers (the mail worker, the daily jobs) take theirs
/// from a [`background_pool`]: an HTTP worker's runtime ends with the server, and a
/// connection it opened would die under a mail worker still giving back its mails.
pub fn build_pool(url: &str, size: usize) -> anyhow::Result<DbPool> {
    let manager = Manager {
        inner: AsyncDieselConnectionManager::<AsyncPgConnection>::new(url),
        url: url.to_string(),
    };
    deadpool::managed::Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .context("could not build the database pool")
}

/// A pool of `size` connections to `pool`'s database, for tasks spawned on the main
/// runtime (see [`build_pool`]): only they ask it, so its connections live there.
pub fn background_pool(pool: &DbPool, size: usize) -> anyhow::Result<DbPool> {
    build_pool(&pool.manager().url, size)
}

/// The live SQL functions and triggers, one idempotent file per area, in the order
/// they are applied (a later file may use an earlier one's functions). Their bodies
/// live there and only there: the migrations that first created them are history.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("ledger", include_str!("../sql/functions/ledger.sql")),
    (
        "references",
        include_str!("../sql/functions/references.sql"),
    ),
    (
        "settlement",
        include_str!("../sql/functions/settlement.sql"),
    ),
    (
        "redemption",
        include_str!("../sql/functions/redemption.sql"),
    ),
    ("audit", include_str!("../sql/functions/audit.sql")),
    ("stats", include_str!("../sql/functions/stats.sql")),
];

/// The advisory lock held while migrating and applying the functions: two servers
/// starting at once migrate one after the other (two `CREATE OR REPLACE FUNCTION`
/// of the same function at the same moment would fail).
const MIGRATION_LOCK: i64 = 0x7061_7373_6e75_6d00;

/// Applies the pending embedded migrations, then the functions files (every time,
/// even when no migration was pending); returns how many migrations ran. Needs the
/// multi-threaded runtime: the harness blocks in place while diesel migrates.
pub async fn run_migrations(url: &str) -> anyhow::Result<usize> {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .context("could not connect to the database to migrate it")?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .context("could not take the migration lock")?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
        .len();
    let mut conn = harness.into_inner();
    // A node started beside others that serve (a restart, a rolling upgrade) would
    // replace triggers on tables their requests are writing, and deadlock with them:
    // the files are applied only when they changed (or a migration ran), and then a
    // deadlock or a lock wait cut by `FUNCTIONS_LOCK_TIMEOUT` is tried again.
    let digest = functions_digest();
    if applied == 0 && applied_functions(&mut conn).await.as_deref() == Some(digest.as_str()) {
        return unlock_migrations(conn, applied).await;
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply_functions(&mut conn).await {
            Ok(()) => break,
            Err(err) if attempt < FUNCTIONS_ATTEMPTS && met_live_traffic(&err) => {
                tracing::warn!(attempt, error = %format!("{err:#}"), "the functions files met requests in flight: trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(err) => return Err(err),
        }
    }
    // Only a mark: without it (a user who may not comment on the schema), the files
    // are applied at every start, as before.
    if let Err(err) = diesel::sql_query(format!(
        "COMMENT ON SCHEMA public IS '{FUNCTIONS_MARK}{digest}'"
    ))
    .execute(&mut conn)
    .await
    {
        tracing::warn!(error = %err, "could not record which functions files are applied");
    }
    unlock_migrations(conn, applied).await
}

async fn unlock_migrations(mut conn: AsyncPgConnection, applied: usize) -> anyhow::Result<usize> {
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .context("could not release the migration lock")?;
    Ok(applied)
}

/// The comment of the `public` schema names the functions files applied last:
/// `passnum functions <sha256 of the files>`.
const FUNCTIONS_MARK: &str = "passnum functions ";

fn functions_digest() -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (area, sql) in FUNCTIONS {
        hasher.update(area.as_bytes());
        hasher.update([0]);
        hasher.update(sql.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// The digest of the functions files applied last, if recorded.
async fn applied_functions(conn: &mut AsyncPgConnection) -> Option<String> {
    #[derive(diesel::QueryableByName)]
    struct Mark {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        mark: Option<String>,
    }
    let mark: Mark =
        diesel::sql_query("SELECT obj_description('public'::regnamespace, 'pg_namespace') AS mark")
            .get_result(conn)
            .await
            .ok()?;
    mark.mark?.strip_prefix(FUNCTIONS_MARK).map(str::to_string)
}

/// How many times the functions files are tried against live traffic, and how long
/// each try may wait for a table's lock (while it waits, the requests that write that
/// table queue behind it).
const FUNCTIONS_ATTEMPTS: u32 = 8;
const FUNCTIONS_LOCK_TIMEOUT: &str = "2s";

fn met_live_traffic(err: &anyhow::Error) -> bool {
    let text = format!("{err:#}");
    text.contains("deadlock detected") || text.contains("lock timeout")
}

/// Applies every functions file, in order, in one transaction: the live functions
/// and triggers are all replaced, or none. Idempotent (a test applies them twice and
/// compares the catalogue).
pub async fn apply_functions(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        conn.batch_execute(&format!(
            "SET LOCAL lock_timeout = '{FUNCTIONS_LOCK_TIMEOUT}'"
        ))
        .await?;
        for (area, sql) in FUNCTIONS {
            conn.batch_execute(sql)
                .await
                .with_context(|| format!("the functions file sql/functions/{area}.sql failed"))?;
        }
        Ok(())
    })
    .await
}
