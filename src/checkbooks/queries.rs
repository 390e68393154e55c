//! Reading checkbooks: the prescriber's list, print runs, a ticket for its QR code.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    Checkbook, CheckbookError, IssuedCheckbook, PrintRun, Ticket, is_issuer, require_prescriber,
    tickets_of, with_tickets,
};
use crate::auth::Caller;
use crate::schema::{checkbooks, print_runs, tickets};

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
