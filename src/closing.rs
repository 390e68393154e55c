//! The end of tickets and programs: expiry of tickets past validity and tolerance
//! (`passnum expire`, from cron), and the closing of a program, which returns what is
//! left of the money to its funders as credit notes.
//!
//! **What each funder gets back.** A program's money that was not spent is returned
//! to those who paid it: funder F gets what it paid minus its share of the value
//! consumed (tickets issued, net of cancelled and expired ones), the consumed value
//! being split among the funders by the settlement's rounding rule. The parts add up
//! to what was left, to the cent; a funder that paid less than its share gets less.
//! Pledges never paid are released.

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Numeric, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor, Change, Entity};
use crate::db::DbError;
use crate::domain::french_date;
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::programs;
use crate::schema::{programs as programs_table, statements};
use crate::settlement::{Statement, sha256_hex, split_by_shares};

#[derive(Debug, QueryableByName)]
struct Expired {
    #[diesel(sql_type = SqlUuid)]
    program_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    tickets: i64,
    #[diesel(sql_type = Numeric)]
    value: Decimal,
}

/// Expires, in the caller's transaction, the tickets still in circulation whose last
/// day (validity + tolerance) is before `today` — of one program, or of all — and
/// posts their value back to each program's available budget. Returns, per program,
/// how many tickets and how much. Doing it again changes nothing.
pub async fn expire_due(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    today: NaiveDate,
    only: Option<Uuid>,
) -> Result<Vec<(Uuid, i64, Decimal)>, DbError> {
    let expired: Vec<Expired> = diesel::sql_query(
        "WITH gone AS (
             UPDATE tickets t SET status = 'expired', updated_at = now()
             FROM programs p
             WHERE p.id = t.program_id AND t.status = 'issued'
               AND ticket_last_day(t.valid_until, p.tolerance_days) < $1
               AND ($2::uuid IS NULL OR t.program_id = $2)
             RETURNING t.program_id, t.value)
         SELECT program_id, count(*) AS tickets, sum(value) AS value FROM gone GROUP BY program_id",
    )
    .bind::<Date, _>(today)
    .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(only)
    .load(conn)
    .await?;
    for e in &expired {
        ledger::post(
            conn,
            TransactionKind::Expiry,
            &format!("Expiration de {} chèque(s)", e.tickets),
            e.program_id,
            &[
                (
                    AccountRef::program(AccountKind::Available, e.program_id),
                    e.value,
                ),
                (
                    AccountRef::program(AccountKind::Outstanding, e.program_id),
                    -e.value,
                ),
            ],
        )
        .await?;
        audit::record(
            conn,
            Change {
                actor,
                organization_id: None,
                entity: Entity::Program,
                entity_id: e.program_id,
                action: "tickets.expired",
                before: None,
                after: Some(json!({ "tickets": e.tickets, "value": e.value.to_string() })),
                reason: None,
            },
        )
        .await?;
    }
    Ok(expired
        .into_iter()
        .map(|e| (e.program_id, e.tickets, e.value))
        .collect())
}

/// Why a program was not closed. The HTTP edge gives each its status, code and
/// French sentence (`impl From<CloseError> for ApiError` in `api/programs.rs`).
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("the program is closed already")]
    AlreadyClosed,
    /// A ticket may still be redeemed until `last_day` (validity and tolerance).
    #[error("tickets stay usable until {last_day}")]
    TicketsStillValid { last_day: NaiveDate },
    /// Absent, or the program's rules refused.
    #[error(transparent)]
    Program(#[from] programs::ProgramError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CloseError {
    fn from(err: diesel::result::Error) -> Self {
        CloseError::Db(err.into())
    }
}

/// Closes a program: refused while a ticket could still be redeemed; otherwise its
/// outstanding tickets expire, unpaid pledges are released and what is left goes
/// back to each funder with a credit note. Returns the credit notes.
pub async fn close_program(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    program_id: Uuid,
) -> Result<Vec<Statement>, CloseError> {
    let program = programs::lock_program(conn, program_id).await?;
    if !program.is_open() {
        return Err(CloseError::AlreadyClosed);
    }
    let today = french_date(Utc::now());
    let last_day: Option<NaiveDate> = diesel::sql_query(
        "SELECT max(ticket_last_day(t.valid_until, p.tolerance_days)) AS last_day FROM tickets t JOIN programs p ON p.id = t.program_id
         WHERE t.program_id = $1 AND t.status = 'issued'",
    )
    .bind::<SqlUuid, _>(program_id)
    .get_result::<LastDay>(conn)
    .await?
    .last_day;
    if let Some(day) = last_day
        && day >= today
    {
        return Err(CloseError::TicketsStillValid { last_day: day });
    }
    expire_due(conn, actor, today, Some(program_id)).await?;
    let funding = programs::funding(conn, program_id).await?;
    let shares = programs::funders_of(conn, program_id).await?;
    let mut ordered: Vec<(Uuid, Decimal)> = shares.iter().map(|f| (f.funder_id, f.share)).collect();
    ordered.sort_by_key(|(f, _)| *f);
    let consumed_cents = (funding.issued() * Decimal::ONE_HUNDRED).round();
    let consumed_cents = rust_decimal::prelude::ToPrimitive::to_i64(&consumed_cents).unwrap_or(0);
    let split: Vec<Decimal> = ordered.iter().map(|(_, s)| *s).collect();
    let consumed_parts = split_by_shares(consumed_cents, &split, 0);

    let mut postings: Vec<(AccountRef, Decimal)> = Vec::new();
    let mut refunds: Vec<(Uuid, Decimal)> = Vec::new();
    for ((funder, _), consumed) in ordered.iter().zip(consumed_parts) {
        let paid = funding.paid.get(funder).copied().unwrap_or_default();
        let refund = paid - Decimal::new(consumed, 2);
        if refund > Decimal::ZERO {
            postings.push((
                AccountRef::of(AccountKind::FunderRefunded, program_id, *funder),
                refund,
            ));
            postings.push((
                AccountRef::program(AccountKind::Available, program_id),
                -refund,
            ));
            refunds.push((*funder, refund));
        }
        let unpaid = funding.pledged.get(funder).copied().unwrap_or_default() - paid;
        if unpaid > Decimal::ZERO {
            postings.push((
                AccountRef::of(AccountKind::FunderCommitment, program_id, *funder),
                unpaid,
            ));
            postings.push((
                AccountRef::of(AccountKind::FunderUnpaid, program_id, *funder),
                -unpaid,
            ));
        }
    }
    if !postings.is_empty() {
        ledger::post(
            conn,
            TransactionKind::Closing,
            &format!("Clôture du dispositif {}", program.name),
            program_id,
            &postings,
        )
        .await?;
    }
    diesel::update(programs_table::table.find(program_id))
        .set((
            programs_table::status.eq("closed"),
            programs_table::closed_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    let mut notes = Vec::new();
    for (funder, refund) in refunds {
        let number = crate::settlement::next_number(conn, chrono::Datelike::year(&today)).await?;
        let csv = crate::settlement::credit_note_csv(&number, today, &program.name, refund);
        let note: Statement = diesel::insert_into(statements::table)
            .values((
                statements::id.eq(Uuid::now_v7()),
                statements::number.eq(&number),
                statements::kind.eq("credit_note"),
                statements::organization_id.eq(funder),
                statements::program_id.eq(program_id),
                statements::period_start
                    .eq(chrono::DateTime::<Utc>::date_naive(&program.created_at)),
                statements::period_end.eq(today),
                statements::lines.eq(1),
                statements::total.eq(refund),
                statements::sha256.eq(sha256_hex(&csv)),
                statements::content.eq(&csv),
                statements::created_at.eq(Utc::now()),
            ))
            .returning(Statement::as_returning())
            .get_result(conn)
            .await?;
        notes.push(note);
    }
    audit::record(
        conn,
        Change {
            actor,
            organization_id: None,
            entity: Entity::Program,
            entity_id: program_id,
            action: "program.closed",
            before: Some(json!({ "status": "open" })),
            after: Some(json!({
                "status": "closed",
                "credit_notes": notes
                    .iter()
                    .map(|n| json!({ "number": n.number, "organization_id": n.organization_id, "total": n.total.to_string() }))
                    .collect::<Vec<_>>(),
            })),
            reason: None,
        },
    )
    .await?;
    Ok(notes)
}

#[derive(QueryableByName)]
struct LastDay {
    #[diesel(sql_type = diesel::sql_types::Nullable<Date>)]
    last_day: Option<NaiveDate>,
}
