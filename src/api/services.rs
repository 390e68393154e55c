//! What a ticket pays for: a site's services (`GET`/`PUT /sites/{id}/services`) and
//! the collective sessions that redeem several beneficiaries' tickets for one service
//! (`POST /redemptions/sessions`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, get, post, put, web};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::{ApiJson, from_value};
use crate::api::public::ServiceView;
use crate::api::redemptions::{BatchItem, BatchResult, Named, redeem_items};
use crate::api::stats::PeopleCount;
use crate::auth::Caller;
use crate::domain::ValidationError;
use crate::error::{ApiError, ApiResult, Problem};
use crate::money::Money;
use crate::redemptions;
use crate::services::{self, Format, NewService, ServiceError};
use crate::vocabulary::Theme;

/// One service of a site's list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    /// The id of a service the site already offers, to keep it (its redemptions
    /// keep pointing to it); left out for a new service.
    pub id: Option<Uuid>,
    /// 1 to 120 characters, e.g. `Prendre en main son smartphone`.
    pub title: String,
    /// A theme of the national list (`GET /public/themes`).
    pub theme: Theme,
    pub format: Format,
    /// 1 to 600.
    pub duration_minutes: i64,
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> ApiError {
        match err {
            ServiceError::NotFound => ApiError::not_found(),
            ServiceError::Forbidden => ApiError::forbidden(
                "Seuls l’opérateur et les administrateurs du lieu modifient ses services.",
            ),
            ServiceError::UnknownId { index } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Ce service n’est pas (ou plus) l’un de ceux du lieu : retirez son « id » pour le créer.",
            )
            .with_field(format!("[{index}].id")),
            ServiceError::UnknownService => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_service",
                "Ce service n’est pas (ou plus) proposé par votre lieu : choisissez-en un de sa liste.",
            )
            .with_field("service_id"),
            ServiceError::NotCollective => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "service_not_collective",
                "Une séance collective se fait pour un service au format collectif.",
            )
            .with_field("service_id"),
            ServiceError::SessionMismatch => ApiError::conflict(
                "session_mismatch",
                "Cette séance a déjà été ouverte pour un autre service : commencez une nouvelle séance.",
            )
            .with_field("session_id"),
            ServiceError::Db(db) => db.into(),
        }
    }
}

/// A site's live services, in their order: its own users and the operator.
#[utoipa::path(
    tag = "services",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Vec<ServiceView>),
        (status = 404, description = "`not_found`: another organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sites/{id}/services")]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<ServiceView>>> {
    let site = id.into_inner();
    if !caller.can_see_organization(site) {
        return Err(ApiError::not_found());
    }
    let mut conn = state.conn().await?;
    let found = services::live(&mut conn, site).await?;
    Ok(web::Json(found.iter().map(ServiceView::of).collect()))
}

/// Replaces a site's services (the operator, or the site's admins): an item with its
/// `id` keeps it, an item without one is created, a service left out is retired —
/// never deleted: the redemptions that named it still read it. At most 30. Audited
/// in the same transaction. Answers the list, each with its `id`.
#[utoipa::path(
    tag = "services",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = Vec<ServiceRequest>,
    responses(
        (status = 200, body = Vec<ServiceView>),
        (status = 403, description = "`forbidden`: a site's agent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: another organisation, or not a site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`field` names the item's field: `[2].theme`, `[0].duration_minutes`…)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/sites/{id}/services")]
pub async fn replace(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> ApiResult<web::Json<Vec<ServiceView>>> {
    let site = id.into_inner();
    let wanted = service_list(&req, &body)?
        .into_iter()
        .enumerate()
        .map(|(i, s)| NewService::parse(i, s.id, &s.title, s.theme, s.format, s.duration_minutes))
        .collect::<Result<Vec<_>, ValidationError>>()?;
    services::check_list(&wanted)?;
    let mut conn = state.conn().await?;
    let found = conn
        .transaction::<_, ServiceError, _>(async |conn| {
            services::replace(conn, &caller, site, wanted).await
        })
        .await?;
    Ok(web::Json(found.iter().map(ServiceView::of).collect()))
}

/// The body of `PUT /sites/{id}/services`: a JSON list, which `ApiJson` (objects
/// only) does not read; the same French errors naming the field (`[1].theme`).
fn service_list(req: &HttpRequest, body: &[u8]) -> Result<Vec<ServiceRequest>, ApiError> {
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Le corps de la requête doit être du JSON (en-tête Content-Type: application/json).",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::bad_request(
            "malformed_json",
            "Le corps de la requête n’est pas un JSON valide.",
        )
    })?;
    if !value.is_array() {
        return Err(ValidationError::new(
            "",
            "Le corps de la requête est la liste des services : [ { … }, … ].",
        )
        .into());
    }
    from_value(value)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// Chosen by the client (a UUID), so that a session sent again is the same
    /// session: its items keep their answers, new items join it.
    pub session_id: Uuid,
    /// A live collective service of the caller's site.
    pub service_id: Uuid,
    /// 1 to 100 scans, each with its own idempotency key, answered in order.
    pub items: Vec<BatchItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub session_id: Uuid,
    pub service_id: Uuid,
    /// One per item, in order: `redeemed`, or the code a single redemption would
    /// have answered (`already_redeemed` for a ticket given twice…).
    pub results: Vec<BatchResult>,
}

/// The most scans in one session request.
pub const MAX_SESSION: usize = 100;

/// A collective session (site agents): several beneficiaries' tickets redeemed for
/// one collective service under one `session_id`. Each ticket is a redemption of its
/// own, with its own `idempotency_key` and the same rules as `POST /redemptions`
/// (exactly once, the same key gives back the same answer); a ticket refused does
/// not stop the others, and none is half-written. Sending the session again
/// changes nothing for the items already answered.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    request_body = SessionRequest,
    responses(
        (status = 200, body = SessionResponse),
        (status = 403, description = "`forbidden`: not a site", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`session_mismatch`: that session was opened for another service", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_service`, `service_not_collective`, `validation_failed` (no item, more than 100)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`period_being_settled`, `service_unavailable`: send the session again", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/redemptions/sessions")]
pub async fn redeem_session(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<SessionRequest>,
) -> ApiResult<web::Json<SessionResponse>> {
    redemptions::require_site(&caller)?;
    if body.items.is_empty() || body.items.len() > MAX_SESSION {
        return Err(ValidationError::new(
            "items",
            format!("Une séance compte de 1 à {MAX_SESSION} chèques."),
        )
        .into());
    }
    let mut conn = state.conn().await?;
    services::open_session(&mut conn, &caller, body.session_id, body.service_id).await?;
    let named = Named {
        service: Some(body.service_id),
        session: Some(body.session_id),
    };
    let results = redeem_items(&mut conn, &req, &caller, &state, &body.items, named).await?;
    Ok(web::Json(SessionResponse {
        session_id: body.session_id,
        service_id: body.service_id,
        results,
    }))
}

/// Live redemptions by the service they paid for (`src/stats/services.rs`). They
/// count people (beneficiaries with a ticket used for it): a row under five is
/// `"<5"`, its tickets and amount `null`. A person may count in several rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceStats {
    /// A theme (`smartphone`…) or a format (`collective`…), or `unknown`.
    pub key: String,
    pub people: PeopleCount,
    pub tickets_redeemed: Option<i64>,
    pub amount_redeemed: Option<String>,
}

impl ServiceStats {
    pub fn of((key, f): &(String, crate::stats::services::ServiceFigures)) -> Self {
        ServiceStats {
            key: key.clone(),
            people: f.people.into(),
            tickets_redeemed: f.tickets_redeemed,
            amount_redeemed: f
                .amount_redeemed
                .map(|a| Money::from_decimal_unchecked(a).to_string()),
        }
    }
}
