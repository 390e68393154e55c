//! Reading checkbooks: the prescriber's list, print runs, a ticket for its QR code.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    Checkbook, CheckbookError, IssuedCheckbook, PrintRun, Ticket, is_issuer, require_prescriber,
    tickets_of, with_tickets,
};
use crate::auth::Caller;
use crate::db::DbError;
use crate::domain::{OrgKind, ValidationError};
use crate::mail::events::REMINDER_DAYS;
use crate::mail::{self, MailKind, OutboxMail};
use crate::schema::{checkbooks, print_runs, tickets};
use crate::statuses::CheckbookStatus;

/// What the prescriber typed to find a checkbook: part of a beneficiary's reference
/// or of a checkbook's number, or of a ticket's serial (with or without dashes,
/// in any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// `%text%` for `ILIKE`, its own `%`, `_` and `\` escaped.
    pattern: String,
    /// `%SERIAL%` for a serial's canonical form, when the text can be part of one
    /// (4 symbols or more).
    serial_pattern: Option<String>,
}

/// The longest search text.
const MAX_SEARCH: usize = 64;

impl Search {
    /// `None` for an empty search (everything).
    pub fn parse(raw: &str) -> Result<Option<Search>, ValidationError> {
        let text = raw.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > MAX_SEARCH {
            return Err(ValidationError::new(
                "q",
                format!("La recherche compte au plus {MAX_SEARCH} caractères."),
            ));
        }
        let escaped: String = text
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let symbols: String = text
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let serial_pattern = (symbols.len() >= 4
            && symbols.len() <= 11
            && symbols.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("%{symbols}%"));
        Ok(Some(Search {
            pattern: format!("%{escaped}%"),
            serial_pattern,
        }))
    }
}

/// Which checkbooks to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub program: Option<Uuid>,
    pub search: Option<Search>,
    /// Only the handed-out checkbooks with unused tickets whose validity ends
    /// within [`REMINDER_DAYS`] days (from `today`): the people to call.
    pub expiring_from: Option<NaiveDate>,
}

/// One page of the prescriber's checkbooks (the operator sees all), newest last.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    filter: &ListFilter,
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
    if let Some(program) = filter.program {
        query = query.filter(checkbooks::program_id.eq(program));
    }
    if let Some(search) = &filter.search {
        let words = sql::<Bool>("(checkbooks.beneficiary_reference ILIKE ")
            .bind::<Text, _>(search.pattern.clone())
            .sql(" OR checkbooks.number ILIKE ")
            .bind::<Text, _>(search.pattern.clone());
        // Serials are the issuing prescriber's secret: nobody else finds by them.
        query = match (&search.serial_pattern, caller.kind == OrgKind::Prescriber) {
            (Some(serial), true) => query.filter(
                words
                    .sql(
                        " OR EXISTS (SELECT 1 FROM tickets t \
                         WHERE t.checkbook_id = checkbooks.id AND t.serial LIKE ",
                    )
                    .bind::<Text, _>(serial.clone())
                    .sql("))"),
            ),
            _ => query.filter(words.sql(")")),
        };
    }
    if let Some(today) = filter.expiring_from {
        query = query
            .filter(checkbooks::status.eq(CheckbookStatus::HandedOut))
            .filter(checkbooks::valid_until.ge(today))
            .filter(checkbooks::valid_until.le(today + Days::new(REMINDER_DAYS)))
            .filter(sql::<Bool>(
                "EXISTS (SELECT 1 FROM tickets t \
                 WHERE t.checkbook_id = checkbooks.id AND t.status = 'issued')",
            ));
    }
    if let Some(after) = after {
        query = query.filter(checkbooks::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

/// A print run with how its checkbooks stand.
#[derive(Debug, Clone)]
pub struct PrintRunSummary {
    pub run: PrintRun,
    pub first_number: Option<String>,
    pub last_number: Option<String>,
    pub in_stock: i64,
    pub handed_out: i64,
    pub cancelled: i64,
}

#[derive(QueryableByName)]
struct RunCount {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    print_run_id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    checkbooks: i64,
    #[diesel(sql_type = Text)]
    first_number: String,
    #[diesel(sql_type = Text)]
    last_number: String,
}

/// One page of the prescriber's print runs (the operator sees all), newest last.
pub async fn print_runs(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PrintRunSummary>, CheckbookError> {
    if !caller.is_operator() {
        require_prescriber(caller)?;
    }
    let mut query = print_runs::table
        .select(PrintRun::as_select())
        .order(print_runs::id.asc())
        .limit(limit)
        .into_boxed();
    if !caller.is_operator() {
        query = query.filter(print_runs::prescriber_id.eq(caller.organization_id));
    }
    if let Some(after) = after {
        query = query.filter(print_runs::id.gt(after));
    }
    let runs: Vec<PrintRun> = query.load(conn).await?;
    let ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
    let counts: Vec<RunCount> = diesel::sql_query(
        "SELECT print_run_id, status, count(*) AS checkbooks,
                min(number) AS first_number, max(number) AS last_number
         FROM checkbooks WHERE print_run_id = ANY($1)
         GROUP BY print_run_id, status",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
    .load(conn)
    .await?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let mut summary = PrintRunSummary {
                run,
                first_number: None,
                last_number: None,
                in_stock: 0,
                handed_out: 0,
                cancelled: 0,
            };
            for count in counts.iter().filter(|c| c.print_run_id == summary.run.id) {
                match CheckbookStatus::parse(&count.status) {
                    Some(CheckbookStatus::Stock) => summary.in_stock += count.checkbooks,
                    Some(CheckbookStatus::HandedOut) => summary.handed_out += count.checkbooks,
                    Some(CheckbookStatus::Cancelled) | None => {
                        summary.cancelled += count.checkbooks
                    }
                }
                if summary
                    .first_number
                    .as_ref()
                    .is_none_or(|n| &count.first_number < n)
                {
                    summary.first_number = Some(count.first_number.clone());
                }
                if summary
                    .last_number
                    .as_ref()
                    .is_none_or(|n| &count.last_number > n)
                {
                    summary.last_number = Some(count.last_number.clone());
                }
            }
            summary
        })
        .collect())
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

/// The last checkbook mail of each of `books`, by checkbook: where it stands.
pub async fn mails_of(
    conn: &mut AsyncPgConnection,
    books: &[Uuid],
) -> Result<HashMap<Uuid, OutboxMail>, DbError> {
    Ok(mail::latest_about(conn, MailKind::Checkbook, books)
        .await?
        .into_iter()
        .filter_map(|m| Some((m.related_id?, m)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_finds_references_numbers_and_serials_typed_any_way() {
        assert_eq!(Search::parse("   ").unwrap(), None);
        let typed = Search::parse(" 7k3m-9qx2-zat ").unwrap().unwrap();
        assert_eq!(typed.pattern, "%7k3m-9qx2-zat%");
        assert_eq!(typed.serial_pattern.as_deref(), Some("%7K3M9QX2ZAT%"));
        let reference = Search::parse("CCAS 50%_x\\").unwrap().unwrap();
        assert_eq!(reference.pattern, "%CCAS 50\\%\\_x\\\\%");
        assert_eq!(reference.serial_pattern, None, "not serial symbols");
        assert_eq!(Search::parse("ab").unwrap().unwrap().serial_pattern, None);
        assert_eq!(
            Search::parse("CH-2026-000042")
                .unwrap()
                .unwrap()
                .serial_pattern,
            None,
            "too long for a serial"
        );
        let long = "x".repeat(65);
        assert_eq!(Search::parse(&long).unwrap_err().field, "q");
    }
}
