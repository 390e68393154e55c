//! `POST /auth/login` and `GET /me`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::auth::{Caller, TokenKeys, verify_password};
use crate::domain::{OrgKind, Role};
use crate::error::{ApiError, ApiResult};
use crate::organizations;

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
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Exchanges an e-mail and a password for a short-lived access token.
///
/// Unknown e-mail and wrong password get the same answer. Repeated failures for one
/// e-mail or from one address are refused for a while (429 `too_many_attempts`).
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
    let Some((user, org)) = found.filter(|_| valid) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Adresse e-mail ou mot de passe incorrect.",
        ));
    };
    state.login.clear(&attempt);
    let token = keys
        .issue(user.id, org.id, org.kind(), user.role())
        .map_err(ApiError::internal)?;
    Ok(web::Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: keys.ttl_seconds,
    }))
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
        .ok_or_else(|| ApiError::unauthenticated("Ce compte n'existe plus : reconnectez-vous."))?;
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
