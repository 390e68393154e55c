//! Authentication: argon2id password hashes, short-lived HS256 access tokens, the
//! [`Caller`] and what it may do. (The brakes on guessing are in [`crate::limits`].)
//!
//! An access token names its session (`sid`); the extractors of `api::caller` refuse
//! it with 401 `session_revoked` once that session is revoked, from the node's
//! in-memory view of recent revocations (see `sessions` for why and how fast). This
//! module sits under the use cases, which take a [`Caller`]: it knows neither the HTTP
//! state nor the sessions.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{OrgKind, Role};
use crate::error::ApiError;

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
                "Cette action est réservée à l’opérateur du dispositif.",
            ))
        }
    }

    /// Only the operator's admins may go on: moving or committing money (creating or
    /// amending a program, recording a payment, allocating, settling, closing). The
    /// operator's agents read what the operator reads but get 403 `forbidden` here.
    pub fn require_operator_admin(&self) -> Result<(), ApiError> {
        self.require_operator()?;
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Engager ou déplacer de l’argent (dispositifs, paiements, dotations, règlements, clôtures) est réservé aux administrateurs de l’opérateur.",
            ))
        }
    }

    /// Whether the caller may see the organisation `id`: its own, or any for the operator.
    pub fn can_see_organization(&self, id: Uuid) -> bool {
        self.is_operator() || self.organization_id == id
    }
}

/// The caller and the session its token belongs to (for the handlers that act on
/// the caller's own session, such as a password change that ends the others).
#[derive(Debug, Clone)]
pub struct CallerSession {
    pub caller: Caller,
    pub session_id: Uuid,
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
}
