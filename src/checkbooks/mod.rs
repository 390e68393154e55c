//! Checkbooks and their tickets: issuing (one, or a print run of stock), handing out,
//! cancelling, reading. Each use case is one transaction with its ledger movement.
//!
//! A checkbook is `stock` (printed in advance, no beneficiary: its tickets cannot be
//! redeemed), `handed_out` (to one beneficiary) or `cancelled` (lost, stolen: its
//! unused tickets are cancelled and their value returns to the available budget).
//! A ticket's validity is fixed when it is issued (it is printed on it).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::DbError;
use crate::domain::{OrgKind, ValidationError};
use crate::programs::{self, Program, ProgramError};
use crate::schema::{checkbooks, print_runs, tickets};
use crate::statuses::{CheckbookStatus, TicketStatus};
use crate::vocabulary::{self, Public, Theme};

mod beneficiary;
mod changes;
mod erasure;
mod issue;
mod queries;

pub use beneficiary::{Beneficiary, BeneficiaryPatch, Situation};
pub use changes::{Correction, cancel, correct, hand_out, prepare_send};
pub use erasure::{Erasure, Purged, erase_beneficiary, purge};
pub use issue::{IssueOrder, issue};
pub use queries::{
    ListFilter, PrintRunSummary, Search, issued_ticket, list, mails_of, print_runs,
    visible_print_run,
};

/// The largest print run of one request.
pub const MAX_PRINT_RUN: u32 = 1000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = checkbooks)]
pub struct Checkbook {
    pub id: Uuid,
    pub number: String,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub print_run_id: Option<Uuid>,
    pub issued_by: Uuid,
    pub status: CheckbookStatus,
    pub beneficiary_reference: Option<String>,
    pub beneficiary_email: Option<String>,
    pub beneficiary_birth_year: Option<i32>,
    pub beneficiary_postcode: Option<String>,
    pub beneficiary_situation: Option<String>,
    pub valid_until: NaiveDate,
    pub issued_at: DateTime<Utc>,
    pub handed_out_at: Option<DateTime<Utc>>,
    pub handed_out_by: Option<Uuid>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub beneficiary_publics: Vec<Option<String>>,
    pub beneficiary_needs: Vec<Option<String>>,
    /// When its beneficiary's record was erased (RGPD): after the retention delay, or
    /// on the prescriber's request.
    pub beneficiary_erased_at: Option<DateTime<Utc>>,
}

impl Checkbook {
    /// Its beneficiary's record as stored (`None` while in stock).
    pub fn beneficiary(&self, today: NaiveDate) -> Result<Option<Beneficiary>, ValidationError> {
        let Some(reference) = &self.beneficiary_reference else {
            return Ok(None);
        };
        let situation = self
            .beneficiary_situation
            .as_deref()
            .and_then(Situation::parse);
        Beneficiary::parse(
            reference,
            self.beneficiary_email.as_deref(),
            self.beneficiary_birth_year,
            self.beneficiary_postcode.as_deref(),
            situation,
            today,
        )
        .map(|b| {
            Some(b.with_profile(
                vocabulary::read_all(&self.beneficiary_publics, Public::parse),
                vocabulary::read_all(&self.beneficiary_needs, Theme::parse),
            ))
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = tickets)]
pub struct Ticket {
    pub id: Uuid,
    pub checkbook_id: Uuid,
    pub program_id: Uuid,
    pub position: i16,
    pub serial: String,
    pub value: Decimal,
    pub status: TicketStatus,
    pub valid_until: NaiveDate,
    pub updated_at: DateTime<Utc>,
}

/// A checkbook with its tickets, in order.
#[derive(Debug, Clone)]
pub struct IssuedCheckbook {
    pub checkbook: Checkbook,
    pub tickets: Vec<Ticket>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = print_runs)]
pub struct PrintRun {
    pub id: Uuid,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub checkbooks: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Why issuing, handing out, sending or cancelling a checkbook (or reading one)
/// was refused. The HTTP edge gives each its status, code and French sentence
/// (`impl From<CheckbookError> for ApiError` in `api/checkbooks.rs`).
#[derive(Debug, thiserror::Error)]
pub enum CheckbookError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Only a prescriber's users issue and manage checkbooks.
    #[error("only prescribers issue and manage checkbooks")]
    NotPrescriber,
    /// Absent, or another organisation's: the same answer for both.
    #[error("checkbook, print run or ticket not found")]
    NotFound,
    /// The program is closed: it issues no more tickets.
    #[error("the program is closed")]
    ProgramClosed,
    /// The program's validity is over: it issues no more tickets.
    #[error("the program's validity is over")]
    ProgramExpired,
    /// The prescriber's allocation leaves fewer checkbooks than asked.
    #[error("the allocation leaves {remaining} checkbook(s)")]
    AllocationExhausted { remaining: i64 },
    /// Two random serials met (the unique constraint said so): nothing was written;
    /// issuing again draws new ones.
    #[error("two random ticket serials collided")]
    SerialCollision,
    /// Handing out a checkbook already handed out.
    #[error("the checkbook is handed out already")]
    AlreadyHandedOut,
    /// Sending a checkbook still in stock, or correcting its beneficiary (it has none).
    #[error("the checkbook is still in stock")]
    NotHandedOut,
    /// Sending or correcting a checkbook whose beneficiary's record was erased.
    #[error("the beneficiary's record was erased")]
    BeneficiaryErased,
    /// Handing out a stock checkbook whose validity has ended.
    #[error("the checkbook's validity ended on {valid_until}")]
    Expired { valid_until: NaiveDate },
    /// Handing out or sending a cancelled checkbook.
    #[error("the checkbook is cancelled")]
    Cancelled { action: CheckbookAction },
    /// The program's rules refused (budget, ring-fence, visibility).
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What was asked of a cancelled checkbook (each refusal has its own sentence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckbookAction {
    HandOut,
    Send,
    Cancel,
    Correct,
    Erase,
}

impl From<diesel::result::Error> for CheckbookError {
    fn from(err: diesel::result::Error) -> Self {
        CheckbookError::Db(err.into())
    }
}

/// Only a prescriber's users issue and manage checkbooks.
pub fn require_prescriber(caller: &Caller) -> Result<(), CheckbookError> {
    if caller.kind == OrgKind::Prescriber {
        Ok(())
    } else {
        Err(CheckbookError::NotPrescriber)
    }
}

/// Whether the caller belongs to the prescriber that issued a checkbook: the only
/// one who sees its bearer secrets (its tickets' codes and full serials, its PDF,
/// their QR images). Everyone else, the operator included, sees a ticket's
/// `serial_hint` and status.
pub fn is_issuer(caller: &Caller, prescriber_id: Uuid) -> bool {
    caller.kind == OrgKind::Prescriber && caller.organization_id == prescriber_id
}

/// Checkbooks with their tickets (given by checkbook then position), in the
/// checkbooks' order.
pub fn with_tickets(books: Vec<Checkbook>, tickets: Vec<Ticket>) -> Vec<IssuedCheckbook> {
    let index: std::collections::HashMap<Uuid, usize> =
        books.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
    let mut issued: Vec<IssuedCheckbook> = books
        .into_iter()
        .map(|checkbook| IssuedCheckbook {
            checkbook,
            tickets: Vec::new(),
        })
        .collect();
    for ticket in tickets {
        if let Some(i) = index.get(&ticket.checkbook_id) {
            issued[*i].tickets.push(ticket);
        }
    }
    issued
}

/// The tickets of some checkbooks, by checkbook then position. A redeemed ticket
/// whose redemption a settlement covers reads `settled`.
pub async fn tickets_of(
    conn: &mut AsyncPgConnection,
    books: &[Uuid],
) -> Result<Vec<Ticket>, DbError> {
    Ok(diesel::sql_query(
        "SELECT t.id, t.checkbook_id, t.program_id, t.position, t.serial, t.value,
                CASE WHEN t.status = 'redeemed'::ticket_status AND EXISTS (
                         SELECT 1 FROM redemptions r JOIN settlements s
                           ON r.redeemed_at >= s.starts_at AND r.redeemed_at < s.ends_at
                         WHERE r.ticket_id = t.id AND r.status = 'redeemed'::redemption_status)
                     THEN 'settled'::ticket_status ELSE t.status END AS status,
                t.valid_until, t.updated_at
         FROM tickets t WHERE t.checkbook_id = ANY($1)
         ORDER BY t.checkbook_id, t.position",
    )
    .bind::<Array<SqlUuid>, _>(books)
    .load(conn)
    .await?)
}

/// The checkbook as the caller may see it: its prescriber's users and the operator.
pub async fn visible_checkbook(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<IssuedCheckbook, CheckbookError> {
    let checkbook: Checkbook = checkbooks::table
        .find(id)
        .select(Checkbook::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CheckbookError::NotFound)?;
    if !caller.is_operator() && checkbook.prescriber_id != caller.organization_id {
        return Err(CheckbookError::NotFound);
    }
    let tickets = tickets_of(conn, &[checkbook.id]).await?;
    Ok(IssuedCheckbook { checkbook, tickets })
}

/// The checkbook with its tickets, for its bearer secrets (PDF, codes): its issuing
/// prescriber's users only; anyone else gets 404, the operator included.
pub async fn issued_checkbook(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<IssuedCheckbook, CheckbookError> {
    let book = visible_checkbook(conn, caller, id).await?;
    if !is_issuer(caller, book.checkbook.prescriber_id) {
        return Err(CheckbookError::NotFound);
    }
    Ok(book)
}

/// The prescriber's own checkbook, locked for a change.
async fn own_checkbook_for_update(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Checkbook, CheckbookError> {
    require_prescriber(caller)?;
    let checkbook: Checkbook = checkbooks::table
        .find(id)
        .select(Checkbook::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(CheckbookError::NotFound)?;
    if checkbook.prescriber_id != caller.organization_id {
        return Err(CheckbookError::NotFound);
    }
    Ok(checkbook)
}

/// The program of a checkbook, for documents.
pub async fn program_of(
    conn: &mut AsyncPgConnection,
    checkbook: &Checkbook,
) -> Result<Program, CheckbookError> {
    programs::find_program(conn, checkbook.program_id)
        .await?
        .ok_or(CheckbookError::NotFound)
}
