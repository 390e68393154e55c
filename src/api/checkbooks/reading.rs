//! Reading checkbooks and print runs: the prescriber's lists (search, "expiring
//! soon"), one checkbook, its print runs to print again.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::views::{CheckbookView, checkbook_views, one_checkbook_view};
use crate::api::AppState;
use crate::api::pagination::{Page, PageQuery, split_page};
use crate::auth::Caller;
use crate::checkbooks::{self, Checkbook, IssuedCheckbook, ListFilter, Search};
use crate::domain::french_date;
use crate::error::{ApiResult, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintRunCheckbook {
    pub id: Uuid,
    pub number: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintRunView {
    pub id: Uuid,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub tickets: usize,
    /// The stock checkbooks, in number order; `GET /print-runs/{id}/pdf` prints them.
    pub checkbooks: Vec<PrintRunCheckbook>,
}

pub(super) fn print_run_view(
    run: &checkbooks::PrintRun,
    books: &[IssuedCheckbook],
) -> PrintRunView {
    PrintRunView {
        id: run.id,
        program_id: run.program_id,
        prescriber_id: run.prescriber_id,
        created_at: run.created_at,
        tickets: books.iter().map(|b| b.tickets.len()).sum(),
        checkbooks: books
            .iter()
            .map(|b| PrintRunCheckbook {
                id: b.checkbook.id,
                number: b.checkbook.number.clone(),
            })
            .collect(),
    }
}

/// A print run (its prescriber, the operator).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PrintRunView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/print-runs/{id}")]
pub async fn get_print_run(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<PrintRunView>> {
    let mut conn = state.conn().await?;
    let (run, books) = checkbooks::visible_print_run(&mut conn, &caller, id.into_inner()).await?;
    Ok(web::Json(print_run_view(&run, &books)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckbookFilter {
    pub program_id: Option<Uuid>,
    /// Finds checkbooks by part of the beneficiary's reference or of the checkbook's
    /// number, or (the issuing prescriber only) by part of a ticket's serial, with or
    /// without dashes, in any case.
    pub q: Option<String>,
    /// `true`: only the handed-out checkbooks with unused tickets whose validity ends
    /// within 30 days (the day the expiry reminder is sent), to call the people who
    /// have no e-mail.
    pub expiring_soon: Option<bool>,
}

/// The caller's checkbooks (a prescriber's own, with their tickets' codes and
/// serials; the operator's: all, with each ticket's `serial_hint` and status).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(CheckbookFilter, PageQuery),
    responses((status = 200, body = Page<CheckbookView>))
)]
#[get("/checkbooks")]
pub async fn list_checkbooks(
    caller: Caller,
    state: web::Data<AppState>,
    filter: web::Query<CheckbookFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<CheckbookView>>> {
    let limit = page.limit()?;
    let mut conn = state.conn().await?;
    let filter = ListFilter {
        program: filter.program_id,
        search: Search::parse(filter.q.as_deref().unwrap_or(""))?,
        expiring_from: (filter.expiring_soon == Some(true)).then(|| french_date(Utc::now())),
    };
    let books = checkbooks::list(
        &mut conn,
        &caller,
        &filter,
        page.after_id()?,
        i64::from(limit) + 1,
    )
    .await?;
    let (books, next_cursor) = split_page(books, limit, |b: &Checkbook| b.id);
    let tickets =
        checkbooks::tickets_of(&mut conn, &books.iter().map(|b| b.id).collect::<Vec<_>>()).await?;
    let books = checkbooks::with_tickets(books, tickets);
    let items = checkbook_views(&mut conn, &state.codes, &caller, &books).await?;
    Ok(web::Json(Page { items, next_cursor }))
}

/// One checkbook with its tickets: its prescriber sees their codes and serials, the
/// operator each ticket's `serial_hint` and status.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CheckbookView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/checkbooks/{id}")]
pub async fn get_checkbook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<CheckbookView>> {
    let mut conn = state.conn().await?;
    let book = checkbooks::visible_checkbook(&mut conn, &caller, id.into_inner()).await?;
    Ok(web::Json(
        one_checkbook_view(&mut conn, &state.codes, &caller, &book).await?,
    ))
}

/// A print run in the prescriber's list: how many of its checkbooks are still in
/// stock, handed out or cancelled.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrintRunSummaryView {
    pub id: Uuid,
    pub program_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// How many checkbooks it printed.
    pub checkbooks: i32,
    /// The first and last checkbook numbers, e.g. `CH-2026-000101`.
    pub first_number: Option<String>,
    pub last_number: Option<String>,
    pub in_stock: i64,
    pub handed_out: i64,
    pub cancelled: i64,
}

/// The caller's print runs, oldest first (a prescriber's own; the operator's: all).
/// Each prints again, identical, at `GET /print-runs/{id}/pdf`.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<PrintRunSummaryView>),
        (status = 403, description = "`forbidden`: prescribers and the operator only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/print-runs")]
pub async fn list_print_runs(
    caller: Caller,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<PrintRunSummaryView>>> {
    let limit = page.limit()?;
    let mut conn = state.conn().await?;
    let runs =
        checkbooks::print_runs(&mut conn, &caller, page.after_id()?, i64::from(limit) + 1).await?;
    let (runs, next_cursor) = split_page(runs, limit, |r| r.run.id);
    let items = runs
        .into_iter()
        .map(|s| PrintRunSummaryView {
            id: s.run.id,
            program_id: s.run.program_id,
            created_at: s.run.created_at,
            checkbooks: s.run.checkbooks,
            first_number: s.first_number,
            last_number: s.last_number,
            in_stock: s.in_stock,
            handed_out: s.handed_out,
            cancelled: s.cancelled,
        })
        .collect();
    Ok(web::Json(Page { items, next_cursor }))
}
