//! Issuing checkbooks: one for a beneficiary, or a print run of stock.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int2, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{Beneficiary, Checkbook, CheckbookError, IssuedCheckbook, MAX_PRINT_RUN, PrintRun};
use super::{require_prescriber, tickets_of, with_tickets};
use crate::auth::Caller;
use crate::codes::Serial;
use crate::db::DbError;
use crate::domain::{ValidationError, french_date};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::programs;
use crate::schema::{checkbooks, print_runs};
use crate::statuses::CheckbookStatus;

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
                checkbooks::beneficiary_publics
                    .eq(b.map(Beneficiary::stored_publics).unwrap_or_default()),
                checkbooks::beneficiary_needs
                    .eq(b.map(Beneficiary::stored_needs).unwrap_or_default()),
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
