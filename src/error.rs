//! The one error type of the HTTP edge.
//!
//! Which error belongs to which layer:
//! - [`crate::domain::ValidationError`]: a value refused while parsing input (no I/O);
//!   becomes 422 `validation_failed` naming the field.
//! - [`crate::db::DbError`]: the database's answer, classified once (`db.rs`); the
//!   ones nobody expects map here (not found → 404, unavailable → 503, anything else
//!   → 500).
//! - A use case's own error enum, in the use case's module, saying in the domain's
//!   words why it refused (no status, no French): [`crate::settlement::SettleError`],
//!   [`crate::checkbooks::CheckbookError`], [`crate::programs::ProgramError`],
//!   [`crate::closing::CloseError`], [`crate::organizations::OrganizationError`],
//!   [`crate::team::TeamError`], [`crate::sessions::SessionError`],
//!   [`crate::passwords::PasswordError`], [`crate::invitations::InvitationError`],
//!   [`crate::redemptions::RedemptionError`]. A use case turns the `DbError`s it
//!   expects (a known constraint) into one of its variants and carries the others as
//!   they are.
//!   Callers branch on the variants (the command line, a retry), never on a string.
//! - [`ApiError`]: what a client sees, always RFC 9457 `application/problem+json` with
//!   a stable snake_case `code` and a French `detail`. Each use-case error becomes one
//!   once, at the edge, in its handlers' module (`impl From<SettleError> for ApiError`
//!   in `api/settlements.rs`…), so status, code, field and sentence live in one place.
//!   Server errors (5xx) are logged once here with their cause chain; their body never
//!   shows the cause. Use cases never return it (`tests/architecture.rs` checks it;
//!   `stats` and `mail::events` still do, for now).

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::db::DbError;
use crate::domain::ValidationError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem, as sent to clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem: `/problems/{code}`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    /// A sentence in French for the person in front of the screen.
    pub detail: String,
    /// Stable machine name of the problem, e.g. `validation_failed`.
    pub code: String,
    /// The input field at fault, when there is one (`beneficiary.email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extra members of some problems (e.g. `retry_after_seconds`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    field: Option<String>,
    extensions: Map<String, Value>,
    retry_after: Option<u64>,
    source: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            extensions: Map::new(),
            retry_after: None,
            source: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The same problem under a more precise code (e.g. a 403 `label_inactive`).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn with_extension(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_string(), value.into());
        self
    }

    /// Tells the client when to try again (`Retry-After` header and
    /// `retry_after_seconds`).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self.with_extension("retry_after_seconds", seconds)
    }

    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn validation(err: ValidationError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            err.message,
        )
        .with_field(err.field)
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// Absent, or belonging to another organisation: the same answer for both.
    pub fn not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Cette ressource n’existe pas, ou vous n’y avez pas accès.",
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn too_many_attempts(retry_after_seconds: u64) -> Self {
        let minutes = retry_after_seconds.div_ceil(60).max(1);
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("Trop de tentatives. Réessayez dans {minutes} minute(s)."),
        )
        .with_extension("retry_after_seconds", retry_after_seconds);
        err.retry_after = Some(retry_after_seconds);
        err
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Une erreur interne est survenue ; elle a été enregistrée. Réessayez dans un instant.",
        )
        .with_source(source)
    }

    pub fn unavailable(source: impl Into<anyhow::Error>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "Le service est momentanément indisponible. Réessayez dans un instant : un scan renvoyé avec la même clé d’idempotence ne compte qu’une fois.",
        )
        .with_retry_after(1)
        .with_source(source)
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("/problems/{}", self.code),
            title: title(self.status).to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            field: self.field.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

/// One title per status, in French, the same for every problem of that status.
fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Requête invalide",
        401 => "Authentification requise",
        403 => "Action non autorisée",
        404 => "Introuvable",
        405 => "Méthode non permise",
        409 => "Conflit",
        410 => "Plus valable",
        413 => "Requête trop volumineuse",
        415 => "Format non pris en charge",
        422 => "Données invalides",
        429 => "Trop de tentatives",
        503 => "Service indisponible",
        _ if status.is_server_error() => "Erreur interne",
        _ => "Erreur",
    }
}

/// A client error's detail may quote what was sent (a beneficiary's e-mail typed
/// wrong): it is left out of `Debug`, which actix's logger prints.
impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail: &dyn fmt::Debug = if self.status.is_client_error() {
            &"[REDACTED]"
        } else {
            &self.detail
        };
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("detail", detail)
            .field("field", &self.field)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|source| source.as_ref())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            match &self.source {
                Some(source) => tracing::error!(
                    code = self.code,
                    error = format!("{source:#}"),
                    "request failed"
                ),
                None => tracing::error!(code = self.code, "request failed"),
            }
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::validation(err)
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => ApiError::not_found(),
            DbError::Unavailable(_) => ApiError::unavailable(err),
            DbError::InvalidValue(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Une valeur envoyée est hors des bornes acceptées (une date trop lointaine, un nombre trop grand).",
            )
            .with_source(err),
            DbError::Serialization => ApiError::new(
                StatusCode::CONFLICT,
                "concurrent_update",
                "Une autre opération modifiait les mêmes données au même moment. Réessayez.",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        DbError::from(err).into()
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        DbError::from(err).into()
    }
}
