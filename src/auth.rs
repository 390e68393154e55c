//! Authentication: argon2id password hashes, short-lived HS256 access tokens, the
//! [`Caller`] extractor every protected handler takes, and the login failure limiter.
//!
//! An access token names its session (`sid`); the [`Caller`] extractor refuses it with
//! 401 `session_revoked` once that session is revoked, from the node's in-memory view
//! of recent revocations (see [`crate::sessions`] for why and how fast).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::AppState;
use crate::domain::{OrgKind, Role};
use crate::error::ApiError;
use crate::sessions::{self, Verdict};

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("could not hash a password: {e}"))
}

/// Checks a password against a stored hash. With no hash (unknown user, or an invited
/// user who has not chosen a password) a dummy hash is checked all the same, so that
/// the answer takes as long whether the account exists or not.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8c0mNqv9CTTZqA1NnHDdn5gVKAJvkLvT0XvVXn1ejLQ";
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY, false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && real
}

/// What an access token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub org: Uuid,
    pub kind: OrgKind,
    pub role: Role,
    /// The session the token belongs to: revoking it refuses the token.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks access tokens (HS256 only: `alg: none` or any other algorithm is
/// refused).
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl_seconds: u64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_seconds: u64) -> TokenKeys {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_seconds,
        }
    }

    /// Signs a token for `user` in session `sid`, valid `ttl_seconds` but never past
    /// `until` (the session's deadline). Returns the token and its lifetime in seconds.
    pub fn issue(
        &self,
        user: Uuid,
        org: Uuid,
        kind: OrgKind,
        role: Role,
        sid: Uuid,
        until: DateTime<Utc>,
    ) -> anyhow::Result<(String, u64)> {
        let now = Utc::now().timestamp();
        let exp = (now + i64::try_from(self.ttl_seconds).unwrap_or(900))
            .min(until.timestamp())
            .max(now);
        let claims = Claims {
            sub: user,
            org,
            kind,
            role,
            sid,
            iat: now,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("could not sign a token: {e}"))?;
        Ok((token, u64::try_from(exp - now).unwrap_or(0)))
    }

    pub fn check(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "sid"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// The authenticated caller: who, in which organisation, with which role. Handlers
/// scope every query to `organization_id` unless the caller is the operator.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub kind: OrgKind,
    pub role: Role,
}

impl Caller {
    pub fn is_operator(&self) -> bool {
        self.kind == OrgKind::Operator
    }

    /// Only the operator's users may go on.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Cette action est réservée à l'opérateur du dispositif.",
            ))
        }
    }

    /// Whether the caller may see the organisation `id`: its own, or any for the operator.
    pub fn can_see_organization(&self, id: Uuid) -> bool {
        self.is_operator() || self.organization_id == id
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let authenticated = authenticate(req);
        Box::pin(async move { authenticated?.await.map(|s| s.caller) })
    }
}

/// The caller and the session its token belongs to (for the handlers that act on
/// the caller's own session, such as a password change that ends the others).
#[derive(Debug, Clone)]
pub struct CallerSession {
    pub caller: Caller,
    pub session_id: Uuid,
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
            return Err(sessions::revoked());
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
            ApiError::unauthenticated("Connectez-vous : cette action demande un jeton d'accès (en-tête Authorization: Bearer …).")
        })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "L'en-tête Authorization doit avoir la forme « Bearer <jeton> ».",
            )
        })?;
    keys.check(token).ok_or_else(|| {
        ApiError::unauthenticated("Votre session n'est pas valide ou a expiré : reconnectez-vous.")
    })
}

/// Counts failures per key (an e-mail, an IP address) within a window; a key that
/// reached the limit is refused until its window ends. In memory: a restart forgives,
/// which is acceptable for a brake on guessing (each instance brakes on its own).
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when `key` is blocked.
    pub fn blocked(&self, key: &str) -> Option<u64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = entries.get(key)?;
        let elapsed = start.elapsed();
        if *count >= self.max_failures && elapsed < self.window {
            Some((self.window - elapsed).as_secs().max(1))
        } else {
            None
        }
    }

    pub fn record_failure(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 100_000 {
            let window = self.window;
            entries.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = entries
            .entry(key.to_string())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// Counts an attempt before it is judged, so that guesses sent in parallel are
    /// counted too: `Some(seconds to wait)` when `key` is blocked (nothing counted).
    /// An attempt that turns out well is given back with [`FailureLimiter::refund`].
    pub fn charge(&self, key: &str) -> Option<u64> {
        if let Some(wait) = self.blocked(key) {
            return Some(wait);
        }
        self.record_failure(key);
        None
    }

    /// Gives back one attempt counted by [`FailureLimiter::charge`].
    pub fn refund(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    pub fn forget(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Two brakes on guessing: one per account (an e-mail, a user), one per address.
pub struct LoginLimits {
    pub per_email: FailureLimiter,
    pub per_ip: FailureLimiter,
}

impl LoginLimits {
    /// Charges an attempt to both keys, or says how long to wait.
    pub fn charge(&self, account: &str, ip: &str) -> Result<(), crate::error::ApiError> {
        if let Some(wait) = self.per_email.charge(account) {
            return Err(crate::error::ApiError::too_many_attempts(wait));
        }
        if let Some(wait) = self.per_ip.charge(ip) {
            self.per_email.refund(account);
            return Err(crate::error::ApiError::too_many_attempts(wait));
        }
        Ok(())
    }

    /// The attempt was not a failure: give it back to both keys.
    pub fn refund(&self, account: &str, ip: &str) {
        self.per_email.refund(account);
        self.per_ip.refund(ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(&hash), "correct horse battery"));
        assert!(!verify_password(Some(&hash), "correct horse batterx"));
        assert!(!verify_password(None, "anything"));
        assert!(!verify_password(Some("not a hash"), "anything"));
    }

    #[test]
    fn tokens_refuse_tampering_other_keys_and_expiry() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 60);
        let (user, org) = (Uuid::new_v4(), Uuid::new_v4());
        let sid = Uuid::new_v4();
        let far = Utc::now() + chrono::Duration::hours(1);
        let (token, lifetime) = keys
            .issue(user, org, OrgKind::Site, Role::Agent, sid, far)
            .unwrap();
        assert_eq!(lifetime, 60);
        let claims = keys.check(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.org, claims.kind, claims.sid),
            (user, org, OrgKind::Site, sid)
        );
        // Never past the session's deadline.
        let soon = Utc::now() + chrono::Duration::seconds(20);
        let (_, capped) = keys
            .issue(user, org, OrgKind::Site, Role::Agent, sid, soon)
            .unwrap();
        assert!((19..=20).contains(&capped), "{capped}");

        let other = TokenKeys::new(b"another-secret-another-secret-00", 60);
        assert!(other.check(&token).is_none(), "wrong key");

        let expired = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 0);
        let now = Utc::now().timestamp();
        let old = Claims {
            sub: user,
            org,
            kind: OrgKind::Site,
            role: Role::Agent,
            sid: Uuid::new_v4(),
            iat: now - 100,
            exp: now - 60,
        };
        let old_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &old, &expired.encoding).unwrap();
        assert!(keys.check(&old_token).is_none(), "expired");
    }

    #[test]
    fn attempts_are_charged_before_they_are_judged() {
        let limits = LoginLimits {
            per_email: FailureLimiter::new(3, Duration::from_secs(60)),
            per_ip: FailureLimiter::new(5, Duration::from_secs(60)),
        };
        // Three attempts in flight at once: the fourth is refused before any answer.
        for _ in 0..3 {
            assert!(limits.charge("a", "ip").is_ok());
        }
        assert_eq!(
            limits.charge("a", "ip").unwrap_err().code(),
            "too_many_attempts"
        );
        // Good attempts are given back.
        limits.refund("a", "ip");
        assert!(limits.charge("a", "ip").is_ok());
        // The address has now been charged five times: its own limit.
        assert!(limits.charge("b", "ip").is_ok());
        assert!(limits.charge("c", "ip").is_ok());
        assert_eq!(
            limits.charge("d", "ip").unwrap_err().code(),
            "too_many_attempts"
        );
    }

    #[test]
    fn limiter_blocks_after_the_limit_and_forgets() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            limiter.record_failure("a");
        }
        assert!(limiter.blocked("a").is_none());
        limiter.record_failure("a");
        assert!(limiter.blocked("a").is_some());
        assert!(limiter.blocked("b").is_none());
        limiter.forget("a");
        assert!(limiter.blocked("a").is_none());
        let short = FailureLimiter::new(1, Duration::from_millis(10));
        short.record_failure("x");
        assert!(short.blocked("x").is_some());
        std::thread::sleep(Duration::from_millis(20));
        assert!(short.blocked("x").is_none());
    }
}
