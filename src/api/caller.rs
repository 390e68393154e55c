//! The [`Caller`] and [`CallerSession`] extractors every protected handler takes: the
//! access token is checked against the [`TokenKeys`] (no I/O), then its session
//! against the node's view of recent revocations, or the database when that view is
//! stale (see [`crate::sessions`]). They live with the API, which owns the HTTP
//! request and the application state; [`crate::auth`] keeps the tokens and the
//! caller's rights, with no HTTP state.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::api::AppState;
use crate::auth::{Caller, CallerSession, Claims, TokenKeys};
use crate::error::ApiError;
use crate::sessions::{self, SessionError, Verdict};

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let authenticated = authenticate(req);
        Box::pin(async move { authenticated?.await.map(|s| s.caller) })
    }
}

impl FromRequest for CallerSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<CallerSession, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let authenticated = authenticate(req);
        Box::pin(async move { authenticated?.await })
    }
}

/// Checks the token now (no I/O), and returns what remains to check: the session,
/// from the node's view of revocations, or from the database when that view is stale.
fn authenticate(
    req: &HttpRequest,
) -> Result<impl std::future::Future<Output = Result<CallerSession, ApiError>> + 'static, ApiError>
{
    let claims = claims_of(req)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state not configured")))?;
    Ok(async move {
        let verdict = state.revocations.verdict(claims.sid);
        let revoked = match verdict {
            Verdict::Revoked => true,
            Verdict::Live => false,
            Verdict::Unknown => {
                let mut conn = state.conn().await?;
                sessions::is_revoked(&mut conn, claims.sid).await?
            }
        };
        if revoked {
            return Err(SessionError::Revoked { ended: None }.into());
        }
        Ok(CallerSession {
            caller: Caller {
                user_id: claims.sub,
                organization_id: claims.org,
                kind: claims.kind,
                role: claims.role,
            },
            session_id: claims.sid,
        })
    })
}

fn claims_of(req: &HttpRequest) -> Result<Claims, ApiError> {
    let keys = req
        .app_data::<web::Data<TokenKeys>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("token keys not configured")))?;
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthenticated("Connectez-vous : cette action demande un jeton d’accès (en-tête Authorization: Bearer …).")
        })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "L’en-tête Authorization doit avoir la forme « Bearer <jeton> ».",
            )
        })?;
    keys.check(token).ok_or_else(|| {
        ApiError::unauthenticated("Votre session n’est pas valide ou a expiré : reconnectez-vous.")
    })
}
