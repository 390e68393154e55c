//! `PATCH /checkbooks/{id}`: the issuing prescriber corrects its beneficiary's record
//! (a mistyped e-mail, reference, postcode…), checked as at creation.

use actix_web::{patch, web};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use uuid::Uuid;

use super::views::{CheckbookView, one_checkbook_view};
use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::auth::Caller;
use crate::checkbooks::{self, BeneficiaryPatch, CheckbookError, Situation};
use crate::error::{ApiError, ApiResult, Problem};
use crate::vocabulary::{Public, Theme};

/// A field that may be absent (kept), `null` (cleared) or given (set).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The fields to correct: an absent field is kept, `null` (or `""`) clears an
/// optional one. Personal data: no `Debug`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeneficiaryCorrection {
    pub reference: Option<String>,
    /// The next mails go there: "send again", the expiry reminder, and the
    /// checkbook's mails still waiting to leave.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "beneficiaire@example.org")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub birth_year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub postcode: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Situation>)]
    pub situation: Option<Option<Situation>>,
    /// The whole list (replaces the one recorded); `[]` or `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Public>>)]
    pub publics: Option<Option<Vec<Public>>>,
    /// The whole list (replaces the one recorded); `[]` or `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Theme>>)]
    pub needs: Option<Option<Vec<Theme>>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectCheckbookRequest {
    pub beneficiary: BeneficiaryCorrection,
}

impl From<BeneficiaryCorrection> for BeneficiaryPatch {
    fn from(c: BeneficiaryCorrection) -> Self {
        BeneficiaryPatch {
            reference: c.reference,
            email: c.email,
            birth_year: c.birth_year,
            postcode: c.postcode,
            situation: c.situation,
            publics: c.publics.map(Option::unwrap_or_default),
            needs: c.needs.map(Option::unwrap_or_default),
        }
    }
}

/// Corrects the beneficiary's record of a handed-out checkbook (its issuing
/// prescriber), checked as at creation; the checkbook's tickets and money do not
/// change. After an e-mail is corrected, `POST /checkbooks/{id}/send` without an
/// address sends to the new one, and so does the expiry reminder.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = CorrectCheckbookRequest,
    responses(
        (status = 200, body = CheckbookView),
        (status = 403, description = "`forbidden`: only prescribers manage checkbooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: absent, or another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_handed_out` (a stock checkbook has no beneficiary), `checkbook_cancelled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, naming the field (`beneficiary.email`…)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/checkbooks/{id}")]
pub async fn correct_checkbook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<CorrectCheckbookRequest>,
) -> ApiResult<web::Json<CheckbookView>> {
    checkbooks::require_prescriber(&caller)?;
    let patch = BeneficiaryPatch::from(body.0.beneficiary);
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let correction = conn
        .transaction::<_, CheckbookError, _>(async |conn| {
            checkbooks::correct(conn, &caller, id, &patch).await
        })
        .await
        .map_err(ApiError::from)?;
    Ok(web::Json(
        one_checkbook_view(&mut conn, &state.codes, &caller, &correction.book).await?,
    ))
}
