//! Checkbooks and their tickets: issuing (one, or a print run of stock), handing out,
//! cancelling, reading. Each use case is one transaction with its ledger movement.
//!
//! A checkbook is `stock` (printed in advance, no beneficiary: its tickets cannot be
//! redeemed), `handed_out` (to one beneficiary) or `cancelled` (lost, stolen: its
//! unused tickets are cancelled and their value returns to the available budget).
//! A ticket's validity is fixed when it is issued (it is printed on it).

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int2, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::auth::Caller;
use crate::codes::Serial;
use crate::db::DbError;
use crate::domain::{self, Email, OrgKind, Postcode, ValidationError, french_date};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::programs::{self, Program, ProgramError};
use crate::schema::{checkbooks, print_runs, tickets};
use crate::statuses::{CheckbookStatus, TicketStatus};

/// The largest print run of one request.
pub const MAX_PRINT_RUN: u32 = 1000;

/// What a beneficiary's situation is, for the statistics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    JobSeeker,
    Employed,
    Retired,
    Student,
    Inactive,
    Other,
}

impl Situation {
    pub fn as_str(self) -> &'static str {
        match self {
            Situation::JobSeeker => "job_seeker",
            Situation::Employed => "employed",
            Situation::Retired => "retired",
            Situation::Student => "student",
            Situation::Inactive => "inactive",
            Situation::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Situation> {
        [
            Situation::JobSeeker,
            Situation::Employed,
            Situation::Retired,
            Situation::Student,
            Situation::Inactive,
            Situation::Other,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// The least we keep of a beneficiary: a pseudonymous reference chosen by the
/// prescriber (never a name), and optionally an e-mail (to send the checkbook), a
/// birth year, a postcode and a situation. Never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Beneficiary {
    pub reference: String,
    pub email: Option<Email>,
    pub birth_year: Option<i32>,
    pub postcode: Option<Postcode>,
    pub situation: Option<Situation>,
}

impl fmt::Debug for Beneficiary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Beneficiary([REDACTED])")
    }
}

impl Beneficiary {
    pub fn parse(
        reference: &str,
        email: Option<&str>,
        birth_year: Option<i32>,
        postcode: Option<&str>,
        situation: Option<Situation>,
        today: NaiveDate,
    ) -> Result<Beneficiary, ValidationError> {
        let reference = domain::text("beneficiary.reference", reference, 64)?;
        let email = match email.map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(Email::parse("beneficiary.email", raw)?),
        };
        let this_year = chrono::Datelike::year(&today);
        if let Some(year) = birth_year
            && !(this_year - 120..=this_year - 6).contains(&year)
        {
            return Err(ValidationError::new(
                "beneficiary.birth_year",
                format!(
                    "L'année de naissance doit être comprise entre {} et {}.",
                    this_year - 120,
                    this_year - 6
                ),
            ));
        }
        let postcode = match postcode.map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(Postcode::parse("beneficiary.postcode", raw)?),
        };
        Ok(Beneficiary {
            reference,
            email,
            birth_year,
            postcode,
            situation,
        })
    }
}

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
    /// Sending a checkbook still in stock.
    #[error("the checkbook is still in stock")]
    NotHandedOut,
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

/// What to issue: `count` checkbooks of a program, handed out to `beneficiary` at
/// once (count 1) or as stock of a print run.
pub struct IssueOrder {
    pub program: Uuid,
    pub count: u32,
    pub beneficiary: Option<Beneficiary>,
    pub print_run: bool,
}

/// Issues checkbooks and their tickets in the caller's transaction: allocation,
/// ring-fence, rows, ledger. Returns the print run (if any) and the checkbooks.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    order: &IssueOrder,
) -> Result<(Option<PrintRun>, Vec<IssuedCheckbook>), CheckbookError> {
    require_prescriber(caller)?;
    if order.count == 0 || order.count > MAX_PRINT_RUN {
        return Err(ValidationError::new(
            "checkbooks",
            format!("Un tirage compte de 1 à {MAX_PRINT_RUN} chéquiers."),
        )
        .into());
    }
    // A program the prescriber has no allocation in is invisible to it: 404.
    let program = programs::visible_program(conn, caller, order.program).await?;
    let program = programs::lock_program(conn, program.id).await?;
    if !program.is_open() {
        return Err(CheckbookError::ProgramClosed);
    }
    let today = french_date(Utc::now());
    let valid_until = program.valid_until_for(today);
    if valid_until < today {
        return Err(CheckbookError::ProgramExpired);
    }
    let remaining =
        programs::remaining_allocation(conn, program.id, caller.organization_id).await?;
    if remaining < i64::from(order.count) {
        return Err(CheckbookError::AllocationExhausted {
            remaining: remaining.max(0),
        });
    }
    let per_book = u32::try_from(program.tickets_per_checkbook).unwrap_or(1);
    let value = program.ticket_value();
    let total = value.times(per_book * order.count);
    let funding = programs::funding(conn, program.id).await?;
    let shares = programs::funders_of(conn, program.id).await?;
    programs::check_ring_fence(&funding, &shares, program.budget, total.decimal())?;

    let print_run = if order.print_run {
        Some(
            diesel::insert_into(print_runs::table)
                .values((
                    print_runs::id.eq(Uuid::now_v7()),
                    print_runs::program_id.eq(program.id),
                    print_runs::prescriber_id.eq(caller.organization_id),
                    print_runs::checkbooks.eq(i32::try_from(order.count).unwrap_or(i32::MAX)),
                    print_runs::created_by.eq(caller.user_id),
                ))
                .returning(PrintRun::as_returning())
                .get_result(conn)
                .await?,
        )
    } else {
        None
    };
    let numbers: Vec<i64> = diesel::select(
        diesel::dsl::sql::<diesel::sql_types::Array<diesel::sql_types::Int8>>(
            "ARRAY(SELECT nextval('checkbook_number_seq') FROM generate_series(1, ",
        )
        .bind::<diesel::sql_types::Int4, _>(i32::try_from(order.count).unwrap_or(1))
        .sql("))"),
    )
    .get_result(conn)
    .await?;
    let year = chrono::Datelike::year(&today);
    let now = Utc::now();
    let b = order.beneficiary.as_ref();
    let status = if b.is_some() {
        CheckbookStatus::HandedOut
    } else {
        CheckbookStatus::Stock
    };
    let rows: Vec<_> = numbers
        .iter()
        .map(|n| {
            (
                checkbooks::id.eq(Uuid::now_v7()),
                checkbooks::number.eq(format!("CH-{year}-{n:06}")),
                checkbooks::program_id.eq(program.id),
                checkbooks::prescriber_id.eq(caller.organization_id),
                checkbooks::print_run_id.eq(print_run.as_ref().map(|r| r.id)),
                checkbooks::issued_by.eq(caller.user_id),
                checkbooks::status.eq(status),
                checkbooks::beneficiary_reference.eq(b.map(|b| b.reference.clone())),
                checkbooks::beneficiary_email
                    .eq(b.and_then(|b| b.email.as_ref().map(|e| e.as_str().to_string()))),
                checkbooks::beneficiary_birth_year.eq(b.and_then(|b| b.birth_year)),
                checkbooks::beneficiary_postcode
                    .eq(b.and_then(|b| b.postcode.as_ref().map(|p| p.as_str().to_string()))),
                checkbooks::beneficiary_situation
                    .eq(b.and_then(|b| b.situation.map(|s| s.as_str().to_string()))),
                checkbooks::valid_until.eq(valid_until),
                checkbooks::handed_out_at.eq(b.map(|_| now)),
                checkbooks::handed_out_by.eq(b.map(|_| caller.user_id)),
            )
        })
        .collect();
    let books: Vec<Checkbook> = diesel::insert_into(checkbooks::table)
        .values(rows)
        .returning(Checkbook::as_returning())
        .get_results(conn)
        .await?;

    // Tickets in one statement whatever their number (arrays, not one bind per value).
    let capacity = books.len() * per_book as usize;
    let (mut ids, mut book_ids, mut positions, mut serials) = (
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
    );
    for book in &books {
        for position in 1..=per_book {
            ids.push(Uuid::now_v7());
            book_ids.push(book.id);
            positions.push(i16::try_from(position).unwrap_or(1));
            serials.push(Serial::random().as_str().to_string());
        }
    }
    let inserted = diesel::sql_query(
        "INSERT INTO tickets (id, checkbook_id, program_id, position, serial, value, valid_until)
         SELECT t.id, t.checkbook_id, $5, t.position, t.serial, $6, $7
         FROM unnest($1, $2, $3, $4) AS t(id, checkbook_id, position, serial)",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<SqlUuid>, _>(&book_ids)
    .bind::<Array<Int2>, _>(&positions)
    .bind::<Array<Text>, _>(&serials)
    .bind::<SqlUuid, _>(program.id)
    .bind::<diesel::sql_types::Numeric, _>(value.decimal())
    .bind::<diesel::sql_types::Date, _>(valid_until)
    .execute(conn)
    .await
    .map_err(DbError::from);
    match inserted {
        Err(DbError::Unique { constraint }) if constraint == "tickets_serial_key" => {
            return Err(CheckbookError::SerialCollision);
        }
        other => {
            other?;
        }
    }
    ledger::post(
        conn,
        TransactionKind::Issuance,
        &format!(
            "Émission de {} chéquier(s) ({} chèques)",
            books.len(),
            ids.len()
        ),
        program.id,
        &[
            (
                AccountRef::program(AccountKind::Outstanding, program.id),
                total.decimal(),
            ),
            (
                AccountRef::program(AccountKind::Available, program.id),
                -total.decimal(),
            ),
        ],
    )
    .await?;
    let all_tickets = tickets_of(conn, &books.iter().map(|b| b.id).collect::<Vec<_>>()).await?;
    let issued = with_tickets(books, all_tickets);
    Ok((print_run, issued))
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

/// Hands a stock checkbook out to a beneficiary: its tickets become usable.
pub async fn hand_out(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    beneficiary: Beneficiary,
) -> Result<IssuedCheckbook, CheckbookError> {
    conn.transaction::<_, CheckbookError, _>(async move |conn| {
        let checkbook = own_checkbook_for_update(conn, caller, id).await?;
        match checkbook.status {
            CheckbookStatus::Stock => {}
            CheckbookStatus::HandedOut => return Err(CheckbookError::AlreadyHandedOut),
            CheckbookStatus::Cancelled => {
                return Err(CheckbookError::Cancelled {
                    action: CheckbookAction::HandOut,
                });
            }
        }
        diesel::update(checkbooks::table.find(id))
            .set((
                checkbooks::status.eq(CheckbookStatus::HandedOut),
                checkbooks::beneficiary_reference.eq(&beneficiary.reference),
                checkbooks::beneficiary_email.eq(beneficiary.email.as_ref().map(|e| e.as_str())),
                checkbooks::beneficiary_birth_year.eq(beneficiary.birth_year),
                checkbooks::beneficiary_postcode
                    .eq(beneficiary.postcode.as_ref().map(|p| p.as_str())),
                checkbooks::beneficiary_situation.eq(beneficiary.situation.map(|s| s.as_str())),
                checkbooks::handed_out_at.eq(Utc::now()),
                checkbooks::handed_out_by.eq(caller.user_id),
            ))
            .execute(conn)
            .await?;
        visible_checkbook(conn, caller, id).await
    })
    .await
}

/// The checkbook to e-mail and to whom: the prescriber's own checkbook, handed out
/// and not cancelled, locked; to `email` when given, else to its beneficiary's
/// address. A given address is kept as the beneficiary's when none was known, so
/// that the expiry reminder reaches it too. Runs in the caller's transaction.
pub async fn prepare_send(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    email: Option<Email>,
) -> Result<(IssuedCheckbook, String), CheckbookError> {
    let checkbook = own_checkbook_for_update(conn, caller, id).await?;
    match checkbook.status {
        CheckbookStatus::HandedOut => {}
        CheckbookStatus::Stock => return Err(CheckbookError::NotHandedOut),
        CheckbookStatus::Cancelled => {
            return Err(CheckbookError::Cancelled {
                action: CheckbookAction::Send,
            });
        }
    }
    let recipient = match (email, &checkbook.beneficiary_email) {
        (Some(email), known) => {
            if known.is_none() {
                diesel::update(checkbooks::table.find(id))
                    .set(checkbooks::beneficiary_email.eq(email.as_str()))
                    .execute(conn)
                    .await?;
            }
            email.as_str().to_string()
        }
        (None, Some(known)) => known.clone(),
        (None, None) => {
            return Err(ValidationError::new(
                "email",
                "Ce chéquier n'a pas d'adresse e-mail de bénéficiaire : indiquez-la dans « email ».",
            )
            .into());
        }
    };
    Ok((visible_checkbook(conn, caller, id).await?, recipient))
}

/// Cancels a checkbook (lost, stolen): its unused tickets are cancelled and their
/// value returns to the program's available budget. Used tickets stay as they are.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    reason: String,
) -> Result<IssuedCheckbook, CheckbookError> {
    conn.transaction::<_, CheckbookError, _>(async move |conn| {
        let checkbook = own_checkbook_for_update(conn, caller, id).await?;
        if checkbook.status == CheckbookStatus::Cancelled {
            return Err(CheckbookError::Cancelled {
                action: CheckbookAction::Cancel,
            });
        }
        let values: Vec<Decimal> = diesel::update(
            tickets::table
                .filter(tickets::checkbook_id.eq(id))
                .filter(tickets::status.eq(TicketStatus::Issued)),
        )
        .set((
            tickets::status.eq(TicketStatus::Cancelled),
            tickets::updated_at.eq(Utc::now()),
        ))
        .returning(tickets::value)
        .get_results(conn)
        .await?;
        diesel::update(checkbooks::table.find(id))
            .set((
                checkbooks::status.eq(CheckbookStatus::Cancelled),
                checkbooks::cancelled_at.eq(Utc::now()),
                checkbooks::cancel_reason.eq(&reason),
            ))
            .execute(conn)
            .await?;
        let returned: Decimal = values.iter().sum();
        if !returned.is_zero() {
            ledger::post(
                conn,
                TransactionKind::Cancellation,
                &format!(
                    "Annulation du chéquier {} ({} chèque(s) inutilisé(s))",
                    checkbook.number,
                    values.len()
                ),
                checkbook.program_id,
                &[
                    (
                        AccountRef::program(AccountKind::Available, checkbook.program_id),
                        returned,
                    ),
                    (
                        AccountRef::program(AccountKind::Outstanding, checkbook.program_id),
                        -returned,
                    ),
                ],
            )
            .await?;
        }
        visible_checkbook(conn, caller, id).await
    })
    .await
}

/// One page of the prescriber's checkbooks (the operator sees all), newest last.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    program: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Checkbook>, CheckbookError> {
    if !caller.is_operator() {
        require_prescriber(caller)?;
    }
    let mut query = checkbooks::table
        .select(Checkbook::as_select())
        .order(checkbooks::id.asc())
        .limit(limit)
        .into_boxed();
    if !caller.is_operator() {
        query = query.filter(checkbooks::prescriber_id.eq(caller.organization_id));
    }
    if let Some(program) = program {
        query = query.filter(checkbooks::program_id.eq(program));
    }
    if let Some(after) = after {
        query = query.filter(checkbooks::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

/// A print run with its checkbooks, as its prescriber (or the operator) may see it.
pub async fn visible_print_run(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<(PrintRun, Vec<IssuedCheckbook>), CheckbookError> {
    let run: PrintRun = print_runs::table
        .find(id)
        .select(PrintRun::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CheckbookError::NotFound)?;
    if !caller.is_operator() && run.prescriber_id != caller.organization_id {
        return Err(CheckbookError::NotFound);
    }
    let books: Vec<Checkbook> = checkbooks::table
        .filter(checkbooks::print_run_id.eq(id))
        .select(Checkbook::as_select())
        .order(checkbooks::number.asc())
        .load(conn)
        .await?;
    let all = tickets_of(conn, &books.iter().map(|b| b.id).collect::<Vec<_>>()).await?;
    let issued = with_tickets(books, all);
    Ok((run, issued))
}

/// A ticket, for its QR code: its issuing prescriber's users only (404 for anyone
/// else, the operator included: the code is a bearer secret).
pub async fn issued_ticket(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Ticket, CheckbookError> {
    let found: Option<(Ticket, Uuid)> = tickets::table
        .inner_join(checkbooks::table)
        .filter(tickets::id.eq(id))
        .select((Ticket::as_select(), checkbooks::prescriber_id))
        .first(conn)
        .await
        .optional()?;
    match found {
        Some((ticket, prescriber)) if is_issuer(caller, prescriber) => Ok(ticket),
        _ => Err(CheckbookError::NotFound),
    }
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
