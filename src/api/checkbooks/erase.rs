//! `POST /checkbooks/{id}/erase-beneficiary`: the issuing prescriber erases its
//! beneficiary's record at once (the person asked), keeping every amount.

use actix_web::{post, web};
use uuid::Uuid;

use super::views::{CheckbookView, one_checkbook_view};
use crate::api::AppState;
use crate::auth::Caller;
use crate::checkbooks;
use crate::error::{ApiResult, Problem};

/// Erases the beneficiary's record of a checkbook (its issuing prescriber): reference,
/// e-mail, birth year, postcode, situation, publics and needs become `null` and
/// `beneficiary.erased_at` says when. The tickets, redemptions, ledger and statements
/// do not change; mails still waiting for the person are not sent. Idempotent: again,
/// 200 with the same checkbook.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = CheckbookView),
        (status = 403, description = "`forbidden`: only prescribers manage checkbooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: absent, or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_handed_out` (a stock checkbook has no beneficiary), `checkbook_cancelled` (cancelled in stock)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/checkbooks/{id}/erase-beneficiary")]
pub async fn erase_beneficiary(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<CheckbookView>> {
    checkbooks::require_prescriber(&caller)?;
    let mut conn = state.conn().await?;
    let erasure = checkbooks::erase_beneficiary(&mut conn, &caller, id.into_inner()).await?;
    Ok(web::Json(
        one_checkbook_view(&mut conn, &state.codes, &caller, &erasure.book).await?,
    ))
}
