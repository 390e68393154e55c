//! A funder's line in a program (operator admins): the public funder's engagement
//! number, printed on its Factur-X invoices as the order reference (BT-13) beside its
//! Chorus Pro service code (BT-10, `chorus_service_code` on the funder).

use actix_web::{patch, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::auth::Caller;
use crate::domain;
use crate::error::{ApiResult, Problem};
use crate::money::fraction_string;
use crate::programs::{self, FunderLine};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProgramFunderRequest {
    /// The engagement number (*numéro d'engagement*) the funder gave for this
    /// program, at most 50 characters; `null` or `""` clears it. Required.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true, nullable = true, example = "EJ-2026-0042")]
    pub engagement_number: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramFunderView {
    pub program_id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "0.6000")]
    pub share: String,
    #[schema(example = "EJ-2026-0042")]
    pub engagement_number: Option<String>,
}

impl From<FunderLine> for ProgramFunderView {
    fn from(line: FunderLine) -> Self {
        ProgramFunderView {
            program_id: line.program_id,
            organization_id: line.funder_id,
            share: fraction_string(line.share),
            engagement_number: line.engagement_number,
        }
    }
}

/// Sets or clears a funder's engagement number in a program (operator admins), at
/// any time, closed programs included; written to the audit trail
/// (`program.engagement_number_set`, readable by the funder's admins). The program's
/// creation does not take it: it usually comes once the convention is signed.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("funder_id" = Uuid, Path)),
    request_body = UpdateProgramFunderRequest,
    responses(
        (status = 200, body = ProgramFunderView),
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such program, or this funder does not fund it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` on `engagement_number` (too long, control characters)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/programs/{id}/funders/{funder_id}")]
pub async fn update_program_funder(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<UpdateProgramFunderRequest>,
) -> ApiResult<web::Json<ProgramFunderView>> {
    caller.require_operator_admin()?;
    let engagement_number = match body.0.engagement_number {
        Some(raw) if !raw.trim().is_empty() => Some(domain::text("engagement_number", &raw, 50)?),
        _ => None,
    };
    let (program, funder) = path.into_inner();
    let mut conn = state.conn().await?;
    let line = programs::set_engagement_number(
        &mut conn,
        (&caller).into(),
        program,
        funder,
        engagement_number,
    )
    .await?;
    Ok(web::Json(line.into()))
}
