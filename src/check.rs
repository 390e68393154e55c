//! `passnum check`: are the books whole? Read-only, in one read-only repeatable-read
//! transaction (one snapshot: a settlement or a scan committing meanwhile is either
//! wholly seen or not at all), for a nightly cron or after an incident (a failover, a
//! restored backup). It asks each rule its home and names every violation:
//!
//! - the ledger's invariants ([`ledger::invariant_violations`]): every transaction
//!   balanced, no bucket below zero, trial balance zero, a ticket redeemed exactly
//!   when it has one live redemption (never two), outstanding = tickets in circulation;
//! - the guards that keep it so: the unique index `redemptions_one_live_per_ticket`
//!   present and valid, no trigger disabled;
//! - the cover of every program ([`programs::Funding::covered`]);
//! - every sealed statement's SHA-256 against its content drawn again now
//!   ([`settlement::digest`], the writer that sealed it);
//! - the audit trail's chain (`audit_chain_break()`, `sql/functions/audit.sql`), and
//!   its last entry as the last good check saw it: removing the newest entries
//!   leaves no gap in the chain, so the check keeps its own anchor.
//!
//! [`run`] only reads; [`record`] writes the run afterwards in `job_runs` (job
//! `check`, one row per French day, the day's latest run), so that monitoring can
//! tell the age and outcome of the last check. Layer: use case; the command line
//! prints the report and chooses the exit code.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::DbError;
use crate::schema::{programs as program_rows, statements};
use crate::settlement::{self, Statement};
use crate::{ledger, programs};

/// The name of the check's runs in `job_runs`.
pub const JOB: &str = "check";

/// The unique index that makes "one live redemption per ticket" the database's rule.
const ONE_LIVE_INDEX: &str = "redemptions_one_live_per_ticket";

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A ledger invariant, in [`ledger::invariant_violations`]' words (which
    /// transaction, account, ticket or program).
    Ledger(String),
    /// A guard of the database is missing or switched off.
    Guard(String),
    /// A program's money held does not cover what it owes.
    Cover {
        program: Uuid,
        name: String,
        held: Decimal,
        owed: Decimal,
    },
    /// A statement's content no longer gives the SHA-256 it was sealed with.
    Statement {
        id: Uuid,
        number: String,
        sealed: String,
        drawn: String,
    },
    /// The audit trail's chain breaks at this entry: `content` (edited), `link`
    /// (its predecessor edited or replaced), `gap` (entries before it removed).
    AuditChain { seq: i64, problem: String },
    /// The last audit entry a previous check saw is gone or changed.
    AuditTail {
        seq: i64,
        seen_at: DateTime<Utc>,
        found: Option<String>,
    },
}

impl Violation {
    /// Which part of the check found it.
    pub fn part(&self) -> &'static str {
        match self {
            Violation::Ledger(_) => "ledger",
            Violation::Guard(_) => "guard",
            Violation::Cover { .. } => "cover",
            Violation::Statement { .. } => "statement",
            Violation::AuditChain { .. } | Violation::AuditTail { .. } => "audit",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.part())?;
        match self {
            Violation::Ledger(what) | Violation::Guard(what) => f.write_str(what),
            Violation::Cover {
                program,
                name,
                held,
                owed,
            } => write!(
                f,
                "program {program} ({name}) holds {held:.2} € but owes {owed:.2} € (tickets outstanding + owed to sites)"
            ),
            Violation::Statement {
                id,
                number,
                sealed,
                drawn,
            } => write!(
                f,
                "statement {number} ({id}) was sealed as sha256 {sealed} but its content now gives {drawn}"
            ),
            Violation::AuditChain { seq, problem } => {
                let why = match problem.as_str() {
                    "content" => "its content no longer gives its hash (edited)",
                    "link" => {
                        "it does not follow the previous entry's hash (an entry edited or replaced)"
                    }
                    "gap" => "its number does not follow (entries removed)",
                    other => other,
                };
                write!(f, "entry {seq} breaks the chain: {why}")
            }
            Violation::AuditTail {
                seq,
                seen_at,
                found: None,
            } => write!(
                f,
                "entry {seq}, the last one the check of {seen_at} saw, is gone (the newest entries were removed)"
            ),
            Violation::AuditTail {
                seq,
                seen_at,
                found: Some(_),
            } => write!(
                f,
                "entry {seq} is not the one the check of {seen_at} saw (its hash changed)"
            ),
        }
    }
}

/// The audit trail's last entry: the anchor a check leaves for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    pub seq: i64,
    pub hash: String,
}

/// What a check found, and what it went through.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub violations: Vec<Violation>,
    /// Programs whose cover was checked.
    pub programs: usize,
    /// Statements whose SHA-256 was drawn again.
    pub statements: usize,
    /// Statements not sealed yet (a settlement between its commit and its sealing,
    /// or cut short there: `passnum serve` seals them at start-up). Not a violation.
    pub unsealed: usize,
    /// Entries of the audit trail.
    pub audit_entries: i64,
    /// The anchor to record: the trail's last entry when the trail passed, else the
    /// last good check's (so a broken trail stays reported).
    pub audit_anchor: Option<AuditAnchor>,
    pub elapsed: Duration,
}

impl CheckReport {
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line: what holds, or how many violations.
    pub fn summary(&self) -> String {
        let seen = format!(
            "ledger, {} program(s) covered, {} statement(s), {} audit entr{}",
            self.programs,
            self.statements,
            self.audit_entries,
            if self.audit_entries == 1 { "y" } else { "ies" }
        );
        let unsealed = if self.unsealed > 0 {
            format!(", {} statement(s) not sealed yet", self.unsealed)
        } else {
            String::new()
        };
        let took = format!("{:.2} s", self.elapsed.as_secs_f64());
        if self.holds() {
            format!("check: all holds ({seen}{unsealed}) in {took}")
        } else {
            format!(
                "check: {} violation(s) ({seen} checked{unsealed}) in {took}",
                self.violations.len()
            )
        }
    }

    /// What `job_runs.outcome` keeps of the run.
    pub fn outcome(&self) -> Value {
        let mut by_part = serde_json::Map::new();
        for v in &self.violations {
            let n = by_part.entry(v.part()).or_insert(json!(0));
            *n = json!(n.as_u64().unwrap_or(0) + 1);
        }
        json!({
            "holds": self.holds(),
            "violations": self.violations.len(),
            "by_part": by_part,
            "programs": self.programs,
            "statements": self.statements,
            "unsealed": self.unsealed,
            "audit_entries": self.audit_entries,
            "audit_seq": self.audit_anchor.as_ref().map(|a| a.seq),
            "audit_hash": self.audit_anchor.as_ref().map(|a| a.hash.clone()),
            "elapsed_ms": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Checks everything, in one read-only repeatable-read transaction.
pub async fn run(conn: &mut AsyncPgConnection) -> Result<CheckReport, DbError> {
    let started = Instant::now();
    let mut report = conn
        .build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| {
            let mut violations: Vec<Violation> = ledger::invariant_violations(conn)
                .await?
                .into_iter()
                .map(Violation::Ledger)
                .collect();
            violations.extend(guards(conn).await?);
            let (programs, cover) = cover(conn).await?;
            violations.extend(cover);
            let (statements, unsealed, sealed) = statements_sealed(conn).await?;
            violations.extend(sealed);
            let (audit_entries, audit_anchor, audit) = audit_trail(conn).await?;
            violations.extend(audit);
            Ok::<_, DbError>(CheckReport {
                violations,
                programs,
                statements,
                unsealed,
                audit_entries,
                audit_anchor,
                elapsed: Duration::ZERO,
            })
        })
        .await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Records the run in `job_runs` (job [`JOB`], today's French day; a later run of
/// the same day replaces the row and counts the attempt). `node` names the machine.
pub async fn record(
    conn: &mut AsyncPgConnection,
    report: &CheckReport,
    node: &str,
) -> Result<(), DbError> {
    let day = crate::domain::french_date(Utc::now());
    diesel::sql_query(
        "INSERT INTO job_runs (job, day, node, started_at, finished_at, outcome)
         VALUES ($1, $2, $3, clock_timestamp() - $4 * interval '1 millisecond', clock_timestamp(), $5)
         ON CONFLICT (job, day) DO UPDATE
            SET node = EXCLUDED.node, started_at = EXCLUDED.started_at,
                finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome,
                attempts = job_runs.attempts + 1, last_error = NULL",
    )
    .bind::<Text, _>(JOB)
    .bind::<Date, _>(day)
    .bind::<Text, _>(node)
    .bind::<BigInt, _>(i64::try_from(report.elapsed.as_millis()).unwrap_or(i64::MAX))
    .bind::<Jsonb, _>(report.outcome())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    what: String,
}

/// The database's own guards of the rules above: the unique index of one live
/// redemption per ticket, and every trigger (balance, append-only, sealing, audit
/// chain…) enabled.
async fn guards(conn: &mut AsyncPgConnection) -> Result<Vec<Violation>, DbError> {
    let rows: Vec<Named> = diesel::sql_query(
        "SELECT 'unique index ' || $1 || ' (one live redemption per ticket) is '
                || CASE WHEN i.indexrelid IS NULL THEN 'missing' ELSE 'not valid' END AS what
         FROM (SELECT 1) one
         LEFT JOIN pg_class c ON c.relname = $1 AND c.relkind = 'i'
         LEFT JOIN pg_index i ON i.indexrelid = c.oid
         WHERE i.indexrelid IS NULL OR NOT i.indisvalid OR NOT i.indisunique
         UNION ALL
         SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass || ' is disabled'
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT t.tgisinternal AND t.tgenabled = 'D' AND n.nspname = current_schema()
         ORDER BY 1",
    )
    .bind::<Text, _>(ONE_LIVE_INDEX)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| Violation::Guard(r.what)).collect())
}

/// Every program's cover; returns how many were checked.
async fn cover(conn: &mut AsyncPgConnection) -> Result<(usize, Vec<Violation>), DbError> {
    let rows: Vec<(Uuid, String)> = program_rows::table
        .select((program_rows::id, program_rows::name))
        .order(program_rows::id.asc())
        .load(conn)
        .await?;
    let mut violations = Vec::new();
    for (id, name) in &rows {
        let funding = programs::funding(conn, *id).await?;
        if !funding.covered() {
            violations.push(Violation::Cover {
                program: *id,
                name: name.clone(),
                held: funding.held(),
                owed: funding.owed(),
            });
        }
    }
    Ok((rows.len(), violations))
}

/// Every sealed statement drawn again and hashed; returns how many were drawn and how
/// many wait for their seal.
async fn statements_sealed(
    conn: &mut AsyncPgConnection,
) -> Result<(usize, usize, Vec<Violation>), DbError> {
    let all: Vec<Statement> = statements::table
        .select(Statement::as_select())
        .order(statements::number.asc())
        .load(conn)
        .await?;
    let mut violations = Vec::new();
    let (mut drawn_count, mut unsealed) = (0, 0);
    for statement in &all {
        let Some(sealed) = &statement.sha256 else {
            unsealed += 1;
            continue;
        };
        let drawn = settlement::digest(conn, statement).await?;
        drawn_count += 1;
        if &drawn != sealed {
            violations.push(Violation::Statement {
                id: statement.id,
                number: statement.number.clone(),
                sealed: sealed.clone(),
                drawn,
            });
        }
    }
    Ok((drawn_count, unsealed, violations))
}

#[derive(QueryableByName)]
struct ChainBreak {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    problem: String,
}

#[derive(QueryableByName)]
struct LastEntry {
    #[diesel(sql_type = BigInt)]
    entries: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    hash: Option<String>,
}

#[derive(QueryableByName)]
struct PreviousAnchor {
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    hash: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    found: Option<String>,
}

/// The chain, and the last good check's anchor; returns the number of entries and
/// the anchor to record.
async fn audit_trail(
    conn: &mut AsyncPgConnection,
) -> Result<(i64, Option<AuditAnchor>, Vec<Violation>), DbError> {
    let mut violations: Vec<Violation> =
        diesel::sql_query("SELECT seq, problem FROM audit_chain_break()")
            .load::<ChainBreak>(conn)
            .await?
            .into_iter()
            .map(|b| Violation::AuditChain {
                seq: b.seq,
                problem: b.problem,
            })
            .collect();
    let last: LastEntry = diesel::sql_query(
        "SELECT (SELECT count(*) FROM audit_entries) AS entries, seq, encode(hash, 'hex') AS hash
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1) e ON true",
    )
    .get_result(conn)
    .await?;
    let previous: Option<PreviousAnchor> = diesel::sql_query(
        "SELECT (r.outcome->>'audit_seq')::bigint AS seq, r.outcome->>'audit_hash' AS hash,
                r.finished_at AS at, encode(e.hash, 'hex') AS found
         FROM job_runs r
         LEFT JOIN audit_entries e ON e.seq = (r.outcome->>'audit_seq')::bigint
         WHERE r.job = $1 AND r.finished_at IS NOT NULL
         ORDER BY r.finished_at DESC LIMIT 1",
    )
    .bind::<Text, _>(JOB)
    .get_result(conn)
    .await
    .optional()?;
    let previous_anchor = previous.as_ref().and_then(|p| {
        Some(AuditAnchor {
            seq: p.seq?,
            hash: p.hash.clone()?,
        })
    });
    if let (Some(p), Some(anchor)) = (&previous, &previous_anchor)
        && p.found.as_deref() != Some(anchor.hash.as_str())
    {
        violations.push(Violation::AuditTail {
            seq: anchor.seq,
            seen_at: p.at,
            found: p.found.clone(),
        });
    }
    let anchor = if violations.is_empty() {
        last.seq
            .zip(last.hash)
            .map(|(seq, hash)| AuditAnchor { seq, hash })
    } else {
        previous_anchor
    };
    Ok((last.entries, anchor, violations))
}
