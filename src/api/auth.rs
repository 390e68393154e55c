//! `POST /auth/login`, `/auth/refresh`, `/auth/logout`, `GET /me`, and passwords:
//! `POST /auth/password`, `/auth/password-reset`, `/auth/password-reset/confirm`.
//! Tokens (refresh, reset) arrive in bodies that are never logged, and no error body
//! repeats them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::auth::{Caller, CallerSession, TokenKeys, hash_password, verify_password};
use crate::domain::{Email, OrgKind, Password, Role};
use crate::error::{ApiError, ApiResult, Problem};
use crate::one_time::LinkRefusal;
use crate::passwords::PasswordError;
use crate::sessions::{self, Grant, SessionError, SessionLimits};
use crate::{organizations, passwords};

/// A refresh token or a session refused, as the client sees it.
impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::UnknownRefreshToken => ApiError::unauthenticated(
                "Ce jeton de renouvellement n’est pas valide : reconnectez-vous.",
            ),
            SessionError::Revoked { .. } => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_revoked",
                "Votre session a été fermée (déconnexion, changement de mot de passe ou compte désactivé) : reconnectez-vous.",
            ),
            SessionError::Expired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "Votre session a expiré : reconnectez-vous.",
            ),
            SessionError::Db(db) => db.into(),
        }
    }
}

/// The code and French sentence of each refusal of one kind of e-mailed link.
pub struct LinkWords {
    pub unknown: (&'static str, &'static str),
    pub used: (&'static str, &'static str),
    pub expired: (&'static str, &'static str),
}

/// A link refused (invitation, password reset): 404 when there is no such link (it
/// tells nothing of an account), 410 when it served or expired.
pub fn link_refused(refusal: LinkRefusal, words: &LinkWords) -> ApiError {
    let (status, (code, detail)) = match refusal {
        LinkRefusal::Unknown => (StatusCode::NOT_FOUND, words.unknown),
        LinkRefusal::Used => (StatusCode::GONE, words.used),
        LinkRefusal::Expired => (StatusCode::GONE, words.expired),
    };
    ApiError::new(status, code, detail)
}

/// A password change or reset refused, as the client sees it.
impl From<PasswordError> for ApiError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::WrongPassword => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_password",
                "Le mot de passe actuel n’est pas le bon.",
            )
            .with_field("current_password"),
            PasswordError::Reset(refusal) => link_refused(
                refusal,
                &LinkWords {
                    unknown: (
                        "reset_invalid",
                        "Ce lien de changement de mot de passe n’est pas valide. Vérifiez qu’il a été copié en entier, ou demandez-en un nouveau.",
                    ),
                    used: (
                        "reset_used",
                        "Ce lien de changement de mot de passe a déjà servi (ou un lien plus récent a été demandé). Demandez-en un nouveau si besoin.",
                    ),
                    expired: (
                        "reset_expired",
                        "Ce lien de changement de mot de passe a expiré (il vaut une heure). Demandez-en un nouveau.",
                    ),
                },
            ),
            PasswordError::Mail(_) => ApiError::internal(err),
            PasswordError::Db(db) => db.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "agent@example.org")]
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires (never past the session's end).
    pub expires_in: u64,
    /// Single use: `POST /auth/refresh` spends it and answers a new one. Keep it
    /// secret; presenting it a second time ends the session.
    pub refresh_token: String,
}

impl TokenResponse {
    fn new(keys: &TokenKeys, grant: Grant) -> ApiResult<TokenResponse> {
        let (access_token, expires_in) = keys
            .issue(
                grant.user.id,
                grant.organization.id,
                grant.organization.kind(),
                grant.user.role(),
                grant.session_id,
                grant.deadline,
            )
            .map_err(ApiError::internal)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token: grant.refresh_token.into_exposed(),
        })
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Adresse e-mail ou mot de passe incorrect.",
    )
}

/// Exchanges an e-mail and a password for a short-lived access token and a refresh
/// token: a session opens.
///
/// Unknown e-mail, wrong password and deactivated account get the same answer.
/// Repeated failures for one e-mail or from one address are refused for a while (429
/// `too_many_attempts`). The session lasts while it is refreshed at least every
/// `session_idle_minutes` (120), and at most `session_max_hours` (12) after the login.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`invalid_credentials`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    keys: web::Data<TokenKeys>,
    body: ApiJson<LoginRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    let LoginRequest { email, password } = body.0;
    // Counted before the password is checked: parallel guesses are braked too.
    let address = state.client_ip(&req);
    let attempt = state
        .login
        .charge(crate::limits::login_account(&email, address), address)?;
    let found = {
        let mut conn = state.conn().await?;
        organizations::find_user_by_email(&mut conn, &email).await?
    };
    let stored = found
        .as_ref()
        .and_then(|(user, _)| user.password_hash.clone());
    let valid = web::block(move || verify_password(stored.as_deref(), &password))
        .await
        .map_err(ApiError::internal)?;
    let Some((user, org)) = found.filter(|(user, _)| valid && user.active) else {
        return Err(invalid_credentials());
    };
    let limits = SessionLimits::from_settings(&state.settings);
    let mut conn = state.conn().await?;
    let Some(grant) = sessions::open(&mut conn, user, org, limits).await? else {
        // The account changed while its password was checked (reset, deactivated…).
        return Err(invalid_credentials());
    };
    state.login.clear(&attempt);
    Ok(web::Json(TokenResponse::new(&keys, grant)?))
}

/// A refresh token, from `POST /auth/login` or the last `POST /auth/refresh`. Never
/// logged.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Spends a refresh token for a new access token and a new refresh token, in the same
/// session (no password needed).
///
/// A refresh token serves once: presenting one that was spent already ends the whole
/// session (every token descended from the same login) and answers 401
/// `session_revoked`. A session ends `session_idle_minutes` after its last refresh
/// and `session_max_hours` after its login (401 `session_expired`).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`session_revoked`: the session was ended (logout, password change, deactivation, or this token was spent already); `session_expired`: idle or too old; `unauthenticated`: unknown token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    keys: web::Data<TokenKeys>,
    body: ApiJson<RefreshRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    let limits = SessionLimits::from_settings(&state.settings);
    let mut conn = state.conn().await?;
    match sessions::refresh(&mut conn, &body.refresh_token, limits).await {
        Ok(grant) => Ok(web::Json(TokenResponse::new(&keys, grant)?)),
        Err(error) => {
            if let SessionError::Revoked {
                ended: Some(session),
            } = error
            {
                state.revocations.note(&[session]);
            }
            Err(error.into())
        }
    }
}

/// Ends the session of a refresh token: its access tokens are refused on every server
/// within 5 seconds. Logging out again, or with an unknown token, answers the same.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The session is ended"),
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    body: ApiJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.conn().await?;
    if let Some(session) = sessions::logout(&mut conn, &body.refresh_token).await? {
        state.revocations.note(&[session]);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The current password and the new one. Never logged.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

/// Changes the caller's password. The caller's other sessions end (their tokens are
/// refused within 5 seconds); this one goes on.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; the other sessions are ended"),
        (status = 401, description = "`unauthenticated`, `session_revoked`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`wrong_password`: the current password is not the right one (field `current_password`); `validation_failed`: the new one is too short", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password")]
pub async fn change_password(
    req: HttpRequest,
    session: CallerSession,
    state: web::Data<AppState>,
    body: ApiJson<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.0;
    let new_password = Password::parse("new_password", &new_password)?;
    let user_id = session.caller.user_id;
    // Guessing the current password with a stolen token is braked like a login.
    let attempt = state
        .login
        .charge(("password change", user_id), state.client_ip(&req))?;
    let stored = {
        let mut conn = state.conn().await?;
        passwords::current_hash(&mut conn, user_id).await?
    };
    let checked = stored.clone();
    let (valid, new_hash) = web::block(move || {
        let valid = verify_password(checked.as_deref(), &current_password);
        let new_hash = valid.then(|| hash_password(new_password.expose()));
        (valid, new_hash)
    })
    .await
    .map_err(ApiError::internal)?;
    let (Some(stored), true, Some(new_hash)) = (stored, valid, new_hash) else {
        return Err(PasswordError::WrongPassword.into());
    };
    let new_hash = new_hash.map_err(ApiError::internal)?;
    state.login.refund(&attempt);
    let mut conn = state.conn().await?;
    let ended =
        passwords::change(&mut conn, user_id, session.session_id, &stored, new_hash).await?;
    state.revocations.note(&ended);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(example = "agent@example.org")]
    pub email: String,
}

/// Asks for a link to choose a new password. Answers 202 whatever the address (it
/// never tells whether an account exists); an active user receives an e-mail with a
/// link to `/mot-de-passe?token=…`, valid one hour and single use (a new request makes
/// earlier links stop working). Braked per address and per IP.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted (a mail is sent if the address is an active account's)"),
        (status = 422, description = "`validation_failed`: not an e-mail address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password-reset")]
pub async fn request_password_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    let email = Email::parse("email", &body.email)?;
    state
        .reset_limits
        .charge(email.as_str(), state.client_ip(&req))?;
    let mut conn = state.conn().await?;
    passwords::request_reset(&mut conn, &email, &state.settings.public_url).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// The token of a reset link, and the new password. Never logged.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPasswordResetRequest {
    /// The `token` parameter of the link received by e-mail.
    pub token: String,
    /// At least 12 characters.
    pub password: String,
}

/// Chooses a new password through a reset link. Every session of the user ends (its
/// tokens are refused within 5 seconds); the user logs in with the new password.
#[utoipa::path(
    tag = "auth",
    request_body = ConfirmPasswordResetRequest,
    responses(
        (status = 204, description = "The password is changed; every session of the user is ended"),
        (status = 404, description = "`reset_invalid`: no such link", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`reset_used`, `reset_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the password is too short", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    body: ApiJson<ConfirmPasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    let ConfirmPasswordResetRequest { token, password } = body.0;
    let password = Password::parse("password", &password)?;
    {
        let mut conn = state.conn().await?;
        passwords::check_reset(&mut conn, &token).await?;
    }
    let hash = web::block(move || hash_password(password.expose()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut conn = state.conn().await?;
    let ended = passwords::confirm_reset(&mut conn, &token, hash).await?;
    state.revocations.note(&ended);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeOrganization {
    pub id: Uuid,
    pub kind: OrgKind,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub organization: MeOrganization,
}

/// The caller: its account and its organisation.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, description = "`unauthenticated`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
pub async fn me(caller: Caller, state: web::Data<AppState>) -> ApiResult<web::Json<Me>> {
    let mut conn = state.conn().await?;
    let (user, org) = organizations::find_user(&mut conn, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("Ce compte n’existe plus : reconnectez-vous."))?;
    Ok(web::Json(Me {
        user_id: user.id,
        email: user.email.clone(),
        role: user.role(),
        organization: MeOrganization {
            id: org.id,
            kind: org.kind(),
            name: org.name,
        },
    }))
}
