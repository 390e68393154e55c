//! Monthly settlement: every live redemption that arrived in a period is settled —
//! its site paid (face value minus the program's commission), its funders billed
//! (their shares of face value, plus the program's funder fee), the operator's
//! commission counted — with immutable, gaplessly numbered statements.
//!
//! **Rounding rule.** Each ticket's face value is split among the program's funders,
//! in cents, by largest remainder: every funder gets the floor of value × share, and
//! the cents left over go to the largest fractional parts. Equal fractional parts
//! (a third each, halves of an odd cent) take the extra cent in turn: a ticket's turn
//! is the last byte of its redemption's id (random) modulo 60, and the turn starts at
//! funder turn mod n; over many tickets each funder takes about as many extra cents.
//! A ticket's split depends on nothing but its value and its turn, so a settlement
//! sums it by group in one pass. So each ticket's parts add up to its value exactly, every bill's lines add
//! up to its total, and the bills of a settlement add up to the face value settled,
//! to the cent. The funder fee is one line per program on each bill: the bill's face
//! total for that program × fee rate, rounded half away from zero. The commission is
//! per ticket, computed by the redemption (value × rate, half away from zero).
//!
//! A settlement's statements keep their totals, not their lines: the lines are drawn
//! when asked from the redemptions (which the database keeps unchanged once settled)
//! and the names the settlement recorded, so a later rename never changes a document
//! already issued. Each statement is sealed right after the commit: the SHA-256 of its
//! CSV is stored once. A credit note keeps its own content.
//!
//! A settlement covers French calendar days; it is refused until its last day is
//! over, and when it overlaps a settled period (the database refuses overlaps, so two
//! settlements at once cannot both pass). A redemption arrived in a settled period is
//! settled; it can no longer be reversed.
//!
//! Where things are: [`rounding`] (the rule above, pure), [`sheet`] (the statement
//! CSV, written and read), [`totals`] (the two grouped passes and their sums), and
//! here the use case — [`settle`] in named steps, [`settle_and_seal`] (settle,
//! commit, seal: what the API and the command line call), [`SettleError`] — with the
//! statements' reading and sealing.

pub mod rounding;
pub mod sheet;
pub mod totals;
mod trail;

pub use rounding::{ProgramTerms, fee_cents, split_by_shares, turn_of};
pub use sheet::{
    CSV_HEADER, CsvFormat, FEE_LABEL, SettledRedemption, Sheet, SheetWriter, StatementContent,
    StatementFor, credit_note_csv, csv_of, parse_content, statement_content, write_csv,
};
pub use totals::{SITE_GROUPS_SQL, SiteGroup, Sums, TURN_GROUPS_SQL, TurnGroup, groups};

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::rounding::from_cents;
use crate::db::DbError;
use crate::domain::{ValidationError, end_of_french_day, french_date};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::schema::{settlements, statement_counters, statements};
use crate::statuses::StatementKind;

/// Why a period was not settled. Each says what happened in the domain's words; the
/// HTTP edge gives each its status, code and French sentence once
/// (`impl From<SettleError> for ApiError` in `api/settlements.rs`).
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The period itself does not read (its end before its start, before 2000).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Its last day, French time, is not over yet.
    #[error("the period ending {period_end} is not over")]
    PeriodNotOver { period_end: NaiveDate },
    /// It overlaps a settled period (the database's exclusion constraint said so).
    #[error("{period_start} to {period_end} overlaps a settled period")]
    PeriodAlreadySettled {
        period_start: NaiveDate,
        period_end: NaiveDate,
    },
    /// A program's redemptions of the period carry different face values: the
    /// settlement refuses rather than bill a split it did not compute.
    #[error("a program's redemptions of the period carry different face values")]
    MixedFaceValues,
    #[error(transparent)]
    Db(#[from] DbError),
    /// The "statement ready" mails could not be recorded (the mail module's own
    /// error, kept whole for the edge).
    #[error("statement mails: {0}")]
    Mail(#[from] crate::mail::events::MailEventError),
}

impl From<diesel::result::Error> for SettleError {
    fn from(err: diesel::result::Error) -> Self {
        SettleError::Db(err.into())
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlements)]
pub struct Settlement {
    pub id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statements)]
pub struct Statement {
    pub id: Uuid,
    pub number: String,
    pub kind: StatementKind,
    pub organization_id: Uuid,
    pub settlement_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub lines: i32,
    pub total: Decimal,
    pub sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    /// How its CSV writes text cells (see [`CsvFormat`]).
    pub csv_format: i16,
}

/// Programs' terms, with the names a settlement recorded (or today's, without one).
pub async fn program_terms(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    settlement: Option<Uuid>,
) -> Result<HashMap<Uuid, ProgramTerms>, DbError> {
    use crate::schema::{program_funders, programs, settlement_names};
    let rows: Vec<(Uuid, String, Decimal, Decimal)> = programs::table
        .filter(programs::id.eq_any(ids))
        .select((
            programs::id,
            programs::name,
            programs::commission_rate,
            programs::funder_fee_rate,
        ))
        .load(conn)
        .await?;
    let recorded: HashMap<Uuid, String> = match settlement {
        Some(s) => settlement_names::table
            .filter(settlement_names::settlement_id.eq(s))
            .filter(settlement_names::named_id.eq_any(ids))
            .select((settlement_names::named_id, settlement_names::name))
            .load(conn)
            .await?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let shares: Vec<(Uuid, Uuid, Decimal)> = program_funders::table
        .filter(program_funders::program_id.eq_any(ids))
        .select((
            program_funders::program_id,
            program_funders::funder_id,
            program_funders::share,
        ))
        .order((program_funders::program_id, program_funders::funder_id))
        .load(conn)
        .await?;
    let mut terms: HashMap<Uuid, ProgramTerms> = rows
        .into_iter()
        .map(|(id, name, commission_rate, funder_fee_rate)| {
            let name = recorded.get(&id).cloned().unwrap_or(name);
            (
                id,
                ProgramTerms {
                    name,
                    commission_rate,
                    funder_fee_rate,
                    shares: Vec::new(),
                },
            )
        })
        .collect();
    for (program, funder, share) in shares {
        if let Some(t) = terms.get_mut(&program) {
            t.shares.push((funder, share));
        }
    }
    Ok(terms)
}

/// Reserves `count` statement numbers of `year`, without gaps (the counter row stays
/// locked until the transaction ends; a rollback gives the numbers back).
pub async fn reserve_numbers(
    conn: &mut AsyncPgConnection,
    year: i32,
    count: i32,
) -> Result<Vec<String>, DbError> {
    if count <= 0 {
        return Ok(Vec::new());
    }
    let last: i32 = diesel::insert_into(statement_counters::table)
        .values((
            statement_counters::year.eq(year),
            statement_counters::last.eq(count),
        ))
        .on_conflict(statement_counters::year)
        .do_update()
        .set(statement_counters::last.eq(statement_counters::last + count))
        .returning(statement_counters::last)
        .get_result(conn)
        .await?;
    Ok((last - count + 1..=last)
        .map(|n| format!("REL-{year}-{n:06}"))
        .collect())
}

/// The next statement number of `year`.
pub async fn next_number(conn: &mut AsyncPgConnection, year: i32) -> Result<String, DbError> {
    let mut numbers = reserve_numbers(conn, year, 1).await?;
    numbers.pop().ok_or(DbError::NotFound)
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Settles a period in the caller's transaction: one pass over the period's
/// redemptions for the totals, the names recorded, the statements numbered, the
/// ledger moved. Returns the settlement and its statements, not yet sealed (see
/// `seal`: their lines are drawn from the redemptions once this commits).
/// [`settle_and_seal`] is what the API and the command line call.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    period_start: NaiveDate,
    period_end: NaiveDate,
    by: Option<Uuid>,
) -> Result<(Settlement, Vec<Statement>), SettleError> {
    let now = Utc::now();
    let today = french_date(now);
    check_period(period_start, period_end, today)?;
    let settlement = open_settlement(conn, period_start, period_end, by).await?;
    // Redemptions still in flight finish first; new ones wait for the settlement.
    diesel::sql_query("LOCK TABLE redemptions IN SHARE MODE")
        .execute(conn)
        .await?;
    // A batch of its own: room to group a month in memory.
    diesel::sql_query("SET LOCAL work_mem = '64MB'")
        .execute(conn)
        .await?;
    let totals = totals_of(conn, &settlement).await?;
    record_names(conn, &settlement, &totals).await?;
    let made = make_statements(conn, &settlement, &totals, now, today).await?;
    post_to_ledger(conn, &settlement, &totals).await?;
    trail::record(conn, &settlement, &made, by).await?;
    let ready: Vec<_> = made
        .iter()
        .map(|s| crate::mail::events::ReadyStatement {
            id: s.id,
            organization_id: s.organization_id,
            number: &s.number,
            kind: s.kind,
            period_start: s.period_start,
            period_end: s.period_end,
            lines: s.lines,
            total: s.total,
        })
        .collect();
    crate::mail::events::statements_ready(conn, &ready)
        .await
        .map_err(SettleError::Mail)?;
    Ok((settlement, made))
}

/// A settlement that [`settle_and_seal`] committed, with its statements sealed.
#[derive(Debug, Clone)]
pub struct Settled {
    pub settlement: Settlement,
    /// Its statements by number, each with its SHA-256.
    pub statements: Vec<Statement>,
}

/// Settle, commit, seal: settles a period in a transaction of its own, then, once
/// it committed, seals every statement still unsealed (this settlement's, and any
/// a settlement cut short between its commit and its sealing left). The one path
/// of `POST /settlements` and `passnum settle`.
pub async fn settle_and_seal(
    conn: &mut AsyncPgConnection,
    period_start: NaiveDate,
    period_end: NaiveDate,
    by: Option<Uuid>,
) -> Result<Settled, SettleError> {
    let (settlement, _) = conn
        .transaction::<_, SettleError, _>(async |conn| {
            settle(conn, period_start, period_end, by).await
        })
        .await?;
    // Committed: the statements' lines can now be drawn and their SHA-256 sealed.
    seal_pending(conn).await?;
    let statements = statements_of_settlement(conn, settlement.id).await?;
    Ok(Settled {
        settlement,
        statements,
    })
}

/// A period is settled once its last French day is over, and from 2000 on.
fn check_period(
    period_start: NaiveDate,
    period_end: NaiveDate,
    today: NaiveDate,
) -> Result<(), SettleError> {
    if period_end < period_start {
        return Err(ValidationError::new(
            "period_end",
            "La fin de la période doit suivre son début.",
        )
        .into());
    }
    if NaiveDate::from_ymd_opt(2000, 1, 1).is_some_and(|first| period_start < first) {
        return Err(
            ValidationError::new("period_start", "Une période commence en 2000 ou après.").into(),
        );
    }
    if period_end >= today {
        return Err(SettleError::PeriodNotOver { period_end });
    }
    Ok(())
}

/// Records the settlement; the database refuses one that overlaps a settled period.
async fn open_settlement(
    conn: &mut AsyncPgConnection,
    period_start: NaiveDate,
    period_end: NaiveDate,
    by: Option<Uuid>,
) -> Result<Settlement, SettleError> {
    let inserted = diesel::insert_into(settlements::table)
        .values((
            settlements::id.eq(Uuid::now_v7()),
            settlements::period_start.eq(period_start),
            settlements::period_end.eq(period_end),
            settlements::starts_at.eq(end_of_french_day(
                period_start.pred_opt().unwrap_or(period_start),
            )),
            settlements::ends_at.eq(end_of_french_day(period_end)),
            settlements::created_by.eq(by),
        ))
        .returning(Settlement::as_returning())
        .get_result(conn)
        .await
        .map_err(DbError::from);
    match inserted {
        Err(DbError::Exclusion { .. }) => Err(SettleError::PeriodAlreadySettled {
            period_start,
            period_end,
        }),
        other => Ok(other?),
    }
}

/// What a settlement settles: its programs (in id order) with their terms, and the
/// sums of its two grouped passes.
struct Totals {
    program_ids: Vec<Uuid>,
    programs: HashMap<Uuid, ProgramTerms>,
    sums: Sums,
}

async fn totals_of(
    conn: &mut AsyncPgConnection,
    settlement: &Settlement,
) -> Result<Totals, SettleError> {
    let (site_groups, turn_groups) = groups(conn, settlement.starts_at, settlement.ends_at).await?;
    let mut program_ids: Vec<Uuid> = site_groups.iter().map(|g| g.program_id).collect();
    program_ids.sort();
    program_ids.dedup();
    let programs = program_terms(conn, &program_ids, None).await?;
    let sums =
        Sums::of(&site_groups, &turn_groups, &programs).ok_or(SettleError::MixedFaceValues)?;
    Ok(Totals {
        program_ids,
        programs,
        sums,
    })
}

/// The names (and SIRET) of the sites and programs as they are today: the
/// statements are drawn with these forever, whatever is renamed later.
async fn record_names(
    conn: &mut AsyncPgConnection,
    settlement: &Settlement,
    totals: &Totals,
) -> Result<(), DbError> {
    let site_ids: Vec<Uuid> = totals.sums.sites.keys().copied().collect();
    diesel::sql_query(
        "INSERT INTO settlement_names (settlement_id, named_id, name, siret, iban, bic)
         SELECT $1, id, name, siret, iban, bic FROM organizations WHERE id = ANY($2)
         UNION ALL SELECT $1, id, name, NULL, NULL, NULL FROM programs WHERE id = ANY($3)",
    )
    .bind::<SqlUuid, _>(settlement.id)
    .bind::<Array<SqlUuid>, _>(&site_ids)
    .bind::<Array<SqlUuid>, _>(&totals.program_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// One statement per recipient — each site paid, each funder billed, the operator
/// for its commission — numbered without gaps, in number order.
async fn make_statements(
    conn: &mut AsyncPgConnection,
    settlement: &Settlement,
    totals: &Totals,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<Vec<Statement>, DbError> {
    let sums = &totals.sums;
    let mut recipients: Vec<(StatementKind, Uuid, i64, i64)> = Vec::new();
    for (site, (lines, cents)) in &sums.sites {
        recipients.push((StatementKind::SitePayout, *site, *lines, *cents));
    }
    let mut funders: Vec<Uuid> = sums.faces.keys().map(|(f, _)| *f).collect();
    funders.dedup();
    for funder in funders {
        let (lines, total, _) = sums.bill(funder, &totals.programs);
        recipients.push((StatementKind::FunderBill, funder, lines, total));
    }
    if sums.commission.values().any(|c| *c != 0)
        && let Some(operator) = crate::organizations::operator(conn).await?
    {
        let (lines, total) = (sums.commission_lines, sums.commission.values().sum());
        recipients.push((StatementKind::Commission, operator.id, lines, total));
    }
    let count = i32::try_from(recipients.len()).unwrap_or(i32::MAX);
    let numbers = reserve_numbers(conn, chrono::Datelike::year(&today), count).await?;
    let rows: Vec<_> = recipients
        .iter()
        .zip(&numbers)
        .map(|((kind, organization, lines, cents), number)| {
            (
                statements::id.eq(Uuid::now_v7()),
                statements::number.eq(number.clone()),
                statements::kind.eq(*kind),
                statements::organization_id.eq(*organization),
                statements::settlement_id.eq(settlement.id),
                statements::period_start.eq(settlement.period_start),
                statements::period_end.eq(settlement.period_end),
                statements::lines.eq(i32::try_from(*lines).unwrap_or(i32::MAX)),
                statements::total.eq(from_cents(*cents)),
                statements::created_at.eq(now),
            )
        })
        .collect();
    let mut made: Vec<Statement> = if rows.is_empty() {
        Vec::new()
    } else {
        diesel::insert_into(statements::table)
            .values(rows)
            .returning(Statement::as_returning())
            .get_results(conn)
            .await?
    };
    made.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(made)
}

/// The ledger, one balanced transaction per program: what was payable is owed on the
/// site's statement (paid when the transfer is confirmed), the
/// commission is counted, fees are billed.
async fn post_to_ledger(
    conn: &mut AsyncPgConnection,
    settlement: &Settlement,
    totals: &Totals,
) -> Result<(), DbError> {
    let sums = &totals.sums;
    for program in &totals.program_ids {
        let mut postings: Vec<(AccountRef, Decimal)> = Vec::new();
        for ((_, site), cents) in sums
            .payable
            .range((*program, Uuid::nil())..=(*program, Uuid::max()))
        {
            postings.push((
                AccountRef::of(AccountKind::SitePayable, *program, *site),
                -from_cents(*cents),
            ));
            // On the site's statement, to transfer (`payouts::record_paid`).
            postings.push((
                AccountRef::of(AccountKind::SiteOwed, *program, *site),
                from_cents(*cents),
            ));
        }
        let commission = from_cents(sums.commission.get(program).copied().unwrap_or(0));
        postings.push((
            AccountRef::program(AccountKind::Commission, *program),
            -commission,
        ));
        postings.push((
            AccountRef::program(AccountKind::CommissionPaid, *program),
            commission,
        ));
        if let Some(terms) = totals.programs.get(program) {
            for (funder, _) in &terms.shares {
                let face = sums.faces.get(&(*funder, *program)).map_or(0, |f| f.1);
                let fee = from_cents(fee_cents(face, terms.funder_fee_rate));
                if !fee.is_zero() {
                    postings.push((
                        AccountRef::of(AccountKind::FeeReceivable, *program, *funder),
                        fee,
                    ));
                    postings.push((AccountRef::program(AccountKind::FeeIncome, *program), -fee));
                }
            }
        }
        if postings.iter().any(|(_, a)| !a.is_zero()) {
            ledger::post(
                conn,
                TransactionKind::Settlement,
                &format!(
                    "Règlement du {} au {}",
                    settlement.period_start, settlement.period_end
                ),
                *program,
                &postings,
            )
            .await?;
        }
    }
    Ok(())
}

/// What a settlement statement's lines are written from.
pub async fn sheet_of(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
    settlement: &Settlement,
) -> Result<Sheet, DbError> {
    use crate::schema::settlement_names;
    let named: Vec<(Uuid, String, Option<String>)> = settlement_names::table
        .filter(settlement_names::settlement_id.eq(settlement.id))
        .select((
            settlement_names::named_id,
            settlement_names::name,
            settlement_names::siret,
        ))
        .load(conn)
        .await?;
    let ids: Vec<Uuid> = named.iter().map(|(id, _, _)| *id).collect();
    let programs = program_terms(conn, &ids, Some(settlement.id)).await?;
    let sites = named
        .into_iter()
        .filter(|(id, _, _)| !programs.contains_key(id))
        .map(|(id, name, siret)| (id, (name, siret)))
        .collect();
    let whose = match statement.kind {
        StatementKind::SitePayout => StatementFor::Site(statement.organization_id),
        StatementKind::FunderBill => StatementFor::Funder(statement.organization_id),
        StatementKind::Commission | StatementKind::CreditNote => StatementFor::Commission,
    };
    Ok(Sheet {
        number: statement.number.clone(),
        date: statement
            .created_at
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive(),
        whose,
        programs,
        sites,
        format: CsvFormat::of(statement.csv_format),
        dialect: CsvFormat::of(statement.csv_format).sealed_dialect(),
    })
}

/// Seals a statement: its SHA-256, computed over its lines as drawn now, is set once.
pub async fn seal(conn: &mut AsyncPgConnection, statement: &Statement) -> Result<String, DbError> {
    let digest = digest(conn, statement).await?;
    diesel::update(
        statements::table
            .find(statement.id)
            .filter(statements::sha256.is_null()),
    )
    .set(statements::sha256.eq(&digest))
    .execute(conn)
    .await?;
    Ok(digest)
}

/// The SHA-256 (hex) of a statement's CSV as drawn now, in the form it is sealed in:
/// what [`seal`] records, and what `passnum check` compares with the record.
pub async fn digest(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
) -> Result<String, DbError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    let hash = async move {
        let mut hasher = Sha256::new();
        while let Some(chunk) = rx.recv().await {
            hasher.update(&chunk);
        }
        hex::encode(hasher.finalize())
    };
    let (written, digest) = tokio::join!(
        async {
            let r = write_csv(conn, statement, None, &tx).await;
            drop(tx);
            r
        },
        hash
    );
    written?;
    Ok(digest)
}

/// Seals every statement still without its SHA-256 (after a settlement, and at
/// start-up for one interrupted between its commit and its sealing). Returns them.
pub async fn seal_pending(conn: &mut AsyncPgConnection) -> Result<Vec<Statement>, DbError> {
    let pending: Vec<Statement> = statements::table
        .filter(statements::sha256.is_null())
        .select(Statement::as_select())
        .order(statements::number.asc())
        .load(conn)
        .await?;
    let mut sealed = Vec::with_capacity(pending.len());
    for mut s in pending {
        s.sha256 = Some(seal(conn, &s).await?);
        sealed.push(s);
    }
    Ok(sealed)
}

/// At start-up: seals what a settlement cut short left unsealed, and says so.
pub async fn seal_left_over(pool: crate::db::DbPool) {
    let sealed = match pool.get().await {
        Ok(mut conn) => seal_pending(&mut conn).await,
        Err(err) => Err(DbError::from(err)),
    };
    match sealed {
        Ok(sealed) if sealed.is_empty() => {}
        Ok(sealed) => tracing::info!(statements = sealed.len(), "unsealed statements sealed"),
        Err(err) => tracing::error!(error = %err, "statements could not be sealed"),
    }
}

/// Whether a redemption that arrived at `at` is settled.
pub async fn is_settled(conn: &mut AsyncPgConnection, at: DateTime<Utc>) -> Result<bool, DbError> {
    let n: i64 = settlements::table
        .filter(settlements::starts_at.le(at))
        .filter(settlements::ends_at.gt(at))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

pub async fn find_settlement(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<Settlement>, DbError> {
    Ok(settlements::table
        .find(id)
        .select(Settlement::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn statements_of_settlement(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Vec<Statement>, DbError> {
    Ok(statements::table
        .filter(statements::settlement_id.eq(id))
        .select(Statement::as_select())
        .order(statements::number.asc())
        .load(conn)
        .await?)
}

pub async fn find_statement(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<Statement>, DbError> {
    Ok(statements::table
        .find(id)
        .select(Statement::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn list_statements(
    conn: &mut AsyncPgConnection,
    organization: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Statement>, DbError> {
    let mut query = statements::table
        .select(Statement::as_select())
        .order(statements::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(org) = organization {
        query = query.filter(statements::organization_id.eq(org));
    }
    if let Some(after) = after {
        query = query.filter(statements::id.gt(after));
    }
    Ok(query.load(conn).await?)
}
