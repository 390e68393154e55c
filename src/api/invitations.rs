//! `POST /auth/invitations/accept`: an invited user chooses a password.

use actix_web::{post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::{LinkWords, link_refused};
use crate::api::extract::ApiJson;
use crate::api::organizations::UserView;
use crate::auth::hash_password;
use crate::domain::Password;
use crate::error::{ApiError, ApiResult, Problem};
use crate::invitations::{self, InvitationError};

/// An invitation not made or not accepted, as the client sees it.
impl From<InvitationError> for ApiError {
    fn from(err: InvitationError) -> Self {
        match err {
            InvitationError::NotFound => ApiError::not_found(),
            InvitationError::UserActive => ApiError::conflict(
                "user_active",
                "Ce compte a déjà un mot de passe : il n’a pas besoin d’invitation.",
            ),
            InvitationError::Link(refusal) => link_refused(
                refusal,
                &LinkWords {
                    unknown: (
                        "invitation_invalid",
                        "Ce lien d’invitation n’est pas valide. Vérifiez qu’il a été copié en entier, ou demandez une nouvelle invitation.",
                    ),
                    used: (
                        "invitation_used",
                        "Ce lien d’invitation a déjà servi. Connectez-vous avec votre mot de passe, ou demandez une nouvelle invitation.",
                    ),
                    expired: (
                        "invitation_expired",
                        "Ce lien d’invitation a expiré. Demandez une nouvelle invitation à l’administrateur de votre organisation.",
                    ),
                },
            ),
            InvitationError::User(user) => user.into(),
            InvitationError::Mail(_) => ApiError::internal(err),
            InvitationError::Db(db) => db.into(),
        }
    }
}

/// The token of an invitation link, and the password chosen. Never logged.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The `token` parameter of the link received by e-mail.
    pub token: String,
    /// At least 12 characters.
    pub password: String,
}

/// Accepts an invitation: sets the password of the invited user, who may then log in
/// with `POST /auth/login`. The link serves once and expires.
#[utoipa::path(
    tag = "auth",
    request_body = AcceptInvitationRequest,
    responses(
        (status = 200, body = UserView),
        (status = 404, description = "`invitation_invalid`: no such invitation", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_used`, `invitation_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the password is too short", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/invitations/accept")]
pub async fn accept(
    state: web::Data<AppState>,
    body: ApiJson<AcceptInvitationRequest>,
) -> ApiResult<web::Json<UserView>> {
    let AcceptInvitationRequest { token, password } = body.0;
    let password = Password::parse("password", &password)?;
    {
        let mut conn = state.conn().await?;
        invitations::check(&mut conn, &token).await?;
    }
    let hash = web::block(move || hash_password(password.expose()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut conn = state.conn().await?;
    let user = invitations::accept(&mut conn, &token, hash).await?;
    Ok(web::Json(UserView::from(user)))
}
