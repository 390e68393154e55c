//! `GET /outbox`: the operator follows the mails — waiting, sent, failed.

use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::pagination::{Page, PageQuery, split_page};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::mail::{self, MailKind, OutboxMail, OutboxStatus, ResendError};

/// A mail of the outbox, without its bodies or attachment.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMailView {
    pub id: Uuid,
    /// Fixed at the first attempt and kept for every resend.
    pub message_id: Option<String>,
    pub kind: MailKind,
    /// What it is about: a checkbook, a user, a statement.
    pub related_id: Option<Uuid>,
    pub recipient: String,
    pub subject: String,
    /// The attached file's name, if any.
    pub attachment: Option<String>,
    pub status: OutboxStatus,
    pub attempts: i32,
    /// When the next attempt is due (`waiting`).
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (the mail library's words).
    pub last_error: Option<String>,
    /// The same, explained in plain French, with what to do.
    pub last_error_explained: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxMail> for OutboxMailView {
    fn from(m: OutboxMail) -> Self {
        OutboxMailView {
            id: m.id,
            message_id: m.message_id,
            kind: MailKind::parse(&m.kind).unwrap_or(MailKind::Checkbook),
            related_id: m.related_id,
            recipient: m.recipient,
            subject: m.subject,
            attachment: m.attachment_name,
            status: OutboxStatus::parse(&m.status).unwrap_or(OutboxStatus::Waiting),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_attempt_at: m.last_attempt_at,
            last_error_explained: m.last_error.as_deref().map(mail::explain_failure),
            last_error: m.last_error,
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxFilter {
    /// Only mails in this state.
    pub status: Option<OutboxStatus>,
}

/// The mails of the outbox, oldest first (operator): `?status=failed` lists those
/// given up, with the last error.
#[utoipa::path(
    tag = "outbox",
    security(("bearer" = [])),
    params(OutboxFilter, PageQuery),
    responses(
        (status = 200, body = Page<OutboxMailView>),
        (status = 403, description = "`forbidden`: operator only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/outbox")]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    filter: web::Query<OutboxFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<OutboxMailView>>> {
    caller.require_operator()?;
    let limit = page.limit()?;
    let after = page.after_id()?;
    let mut conn = state.conn().await?;
    let rows = mail::list(&mut conn, filter.status, after, i64::from(limit) + 1).await?;
    let (rows, next_cursor) = split_page(rows, limit, |m| m.id);
    Ok(web::Json(Page {
        items: rows.into_iter().map(OutboxMailView::from).collect(),
        next_cursor,
    }))
}

impl From<ResendError> for ApiError {
    fn from(err: ResendError) -> Self {
        match err {
            ResendError::NotFound => ApiError::not_found(),
            ResendError::NotFinished => ApiError::conflict(
                "mail_not_finished",
                "Ce message n’est pas encore parti : il est en attente ou en cours d’envoi, il partira de lui-même.",
            ),
            ResendError::SingleUseLink(kind) => ApiError::conflict(
                "single_use_link",
                match kind {
                    MailKind::Invitation => {
                        "Ce message contenait un lien d’invitation à usage unique : invitez de nouveau la personne depuis la page de son organisation."
                    }
                    _ => {
                        "Ce message contenait un lien à usage unique : la personne en demande un nouveau depuis « Mot de passe oublié »."
                    }
                },
            ),
            ResendError::AttachmentGone => ApiError::conflict(
                "attachment_gone",
                "La pièce jointe d’un message envoyé n’est pas gardée : le prescripteur renvoie le chéquier depuis sa page.",
            ),
            ResendError::Db(db) => db.into(),
        }
    }
}

/// "Renvoyer" (operator): a failed mail is tried again now; a sent one is sent again
/// as a new mail. 409 `mail_not_finished` while it waits or is being sent,
/// `single_use_link` for a sent invitation or password reset, `attachment_gone` for a
/// sent checkbook (its PDF is not kept: the prescriber sends it again).
#[utoipa::path(
    tag = "outbox",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The mail")),
    responses(
        (status = 200, description = "The mail that will go (the same, or its copy)", body = OutboxMailView),
        (status = 403, description = "`forbidden`: operator only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mail_not_finished`, `single_use_link`, `attachment_gone`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/outbox/{id}/resend")]
pub async fn resend(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<OutboxMailView>> {
    caller.require_operator()?;
    let mut conn = state.conn().await?;
    let mail = mail::resend(&mut conn, id.into_inner()).await?;
    Ok(web::Json(OutboxMailView::from(mail)))
}
