//! Corrections of a program (operator admins): its name, budget and publication of
//! its indicators, a prescriber's allocation, and the end of validity of its
//! outstanding tickets. Each writes one audit entry in its transaction.

use actix_web::{patch, post, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::programs::{ProgramView, view};
use crate::auth::Caller;
use crate::domain::{self, ValidationError};
use crate::error::{ApiError, ApiResult, Problem};
use crate::money::Money;
use crate::programs::{self, ProgramChanges};

/// What `PATCH /programs/{id}` changes; a field left out stays as it is. The face
/// value, checkbook size, validity rules, rates, funders and shares never change:
/// naming one answers 422 `immutable_field`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProgramRequest {
    pub name: Option<String>,
    /// Never below what is committed (value issued, and what each funder paid over
    /// its share): 409 `budget_below_committed` with `least_budget`.
    #[schema(example = "60000.00")]
    pub budget: Option<String>,
    /// Publishes the program's open indicators.
    pub public_indicators: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub ticket_value: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub tickets_per_checkbook: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub validity_days: Option<serde_json::Value>,
    /// Use `POST /programs/{id}/extend`.
    #[schema(value_type = Option<Object>)]
    pub valid_until: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub tolerance_days: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub commission_rate: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub funder_fee_rate: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub funders: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub territory_postcodes: Option<serde_json::Value>,
}

fn immutable(field: &'static str) -> ApiError {
    let detail = match field {
        "valid_until" => {
            "La fin de validité ne se modifie pas ainsi : utilisez « Prolonger la validité », qui ne peut que la repousser."
        }
        _ => {
            "Ce réglage du dispositif ne change plus après son ouverture (valeur des chèques, taille des chéquiers, validité, commission, frais, financeurs et parts, territoire) : seuls le nom, le budget et la publication des indicateurs se corrigent."
        }
    };
    ApiError::new(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        "immutable_field",
        detail,
    )
    .with_field(field)
}

impl UpdateProgramRequest {
    fn changes(self) -> Result<ProgramChanges, ApiError> {
        let fixed = [
            ("ticket_value", self.ticket_value.is_some()),
            (
                "tickets_per_checkbook",
                self.tickets_per_checkbook.is_some(),
            ),
            ("validity_days", self.validity_days.is_some()),
            ("valid_until", self.valid_until.is_some()),
            ("tolerance_days", self.tolerance_days.is_some()),
            ("commission_rate", self.commission_rate.is_some()),
            ("funder_fee_rate", self.funder_fee_rate.is_some()),
            ("funders", self.funders.is_some()),
            ("territory_postcodes", self.territory_postcodes.is_some()),
        ];
        if let Some((field, _)) = fixed.iter().find(|(_, named)| *named) {
            return Err(immutable(field));
        }
        Ok(ProgramChanges {
            name: self
                .name
                .map(|n| domain::text("name", &n, 200))
                .transpose()?,
            budget: self
                .budget
                .map(|b| Money::parse_positive("budget", &b))
                .transpose()?,
            public_indicators: self.public_indicators,
        })
    }
}

/// Corrects a program's name, budget or publication of its indicators (operator
/// admins). Only the fields that changed are written to the audit trail.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateProgramRequest,
    responses(
        (status = 200, body = ProgramView),
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`budget_below_committed` (with `least_budget`), `program_closed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `immutable_field`, naming the field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/programs/{id}")]
pub async fn update_program(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateProgramRequest>,
) -> ApiResult<web::Json<ProgramView>> {
    caller.require_operator_admin()?;
    let changes = body.0.changes()?;
    let mut conn = state.conn().await?;
    let program =
        programs::update_program(&mut conn, (&caller).into(), id.into_inner(), changes).await?;
    Ok(web::Json(view(&mut conn, program).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAllocationRequest {
    /// The prescriber's allocation in all, never below the checkbooks it issued.
    #[schema(example = 40)]
    pub checkbooks: u32,
    /// Raises it past what the budget pays for (every prescriber's allocations
    /// counted); without it such a raise answers 409 `allocation_over_budget`.
    #[serde(default)]
    pub confirm_over_budget: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationTotalView {
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    /// Checkbooks allocated in all.
    pub checkbooks: i64,
    /// Checkbooks it may still issue.
    pub remaining_checkbooks: i64,
}

/// Sets a prescriber's allocation in a program to a new total, up or down (operator
/// admins); never below the checkbooks it issued.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("prescriber_id" = Uuid, Path)),
    request_body = UpdateAllocationRequest,
    responses(
        (status = 200, body = AllocationTotalView),
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such program, or no allocation of this prescriber in it", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`allocation_below_issued` (with `issued_checkbooks`), `allocation_over_budget` (with `affordable_checkbooks`), `program_closed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/programs/{id}/allocations/{prescriber_id}")]
pub async fn update_allocation(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<UpdateAllocationRequest>,
) -> ApiResult<web::Json<AllocationTotalView>> {
    caller.require_operator_admin()?;
    if body.checkbooks > 100_000 {
        return Err(ValidationError::new(
            "checkbooks",
            "Une dotation va de 0 à 100 000 chéquiers.",
        )
        .into());
    }
    let (program_id, prescriber_id) = path.into_inner();
    let mut conn = state.conn().await?;
    let changed = programs::change_allocation(
        &mut conn,
        (&caller).into(),
        program_id,
        prescriber_id,
        body.checkbooks,
        crate::api::programs::over_budget(body.confirm_over_budget),
    )
    .await?;
    Ok(web::Json(AllocationTotalView {
        program_id,
        prescriber_id,
        checkbooks: changed.checkbooks,
        remaining_checkbooks: changed.remaining_checkbooks,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// The new last day of validity: to come, after the current one, within ten years.
    pub valid_until: NaiveDate,
    /// Why (kept in the audit trail).
    #[schema(example = "Ateliers reportés après la fermeture de la médiathèque")]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExtensionView {
    pub program: ProgramView,
    /// The end of validity before.
    pub previous_valid_until: NaiveDate,
    pub valid_until: NaiveDate,
    /// Outstanding tickets whose validity was pushed back.
    pub tickets: i64,
    /// Their checkbooks.
    pub checkbooks: i64,
}

/// Pushes back the end of validity of a program's outstanding tickets and of their
/// checkbooks (operator admins), never earlier; recorded with who and why.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = ExtendRequest,
    responses(
        (status = 200, body = ExtensionView),
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`validity_not_later` (with `current_valid_until`), `nothing_to_extend`, `program_closed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a day past or beyond ten years, no reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/programs/{id}/extend")]
pub async fn extend(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<ExtendRequest>,
) -> ApiResult<web::Json<ExtensionView>> {
    caller.require_operator_admin()?;
    let req = body.0;
    let reason = domain::text("reason", &req.reason, 500)?;
    let mut conn = state.conn().await?;
    let done = programs::extend_validity(
        &mut conn,
        (&caller).into(),
        id.into_inner(),
        req.valid_until,
        reason,
    )
    .await?;
    Ok(web::Json(ExtensionView {
        program: view(&mut conn, done.program).await?,
        previous_valid_until: done.previous,
        valid_until: done.valid_until,
        tickets: done.tickets,
        checkbooks: done.checkbooks,
    }))
}
