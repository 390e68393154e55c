//! One-time tokens: a random secret (256 bits, in hex) handed out once, of which
//! only the SHA-256 is stored, so that a copy of the database opens nothing.
//!
//! The links e-mailed to a user — an invitation to choose a password, a password
//! reset — use the whole mechanism ([`LinkKind`]): a link serves once and expires;
//! issuing a user a new link spends its earlier ones; a deactivated user's links are
//! spent ([`cancel`]). Their tables (`invitations`, `password_resets`) have the same
//! columns. The sessions' refresh tokens use the secret and its hash; their lifetime
//! is their session's (see [`crate::sessions`]).
//!
//! Why a link is refused ([`LinkRefusal`]) is told in the words of its use case: the
//! HTTP edge answers `invitation_used`, `reset_expired`…

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::DbError;

/// A random secret handed out once (links, refresh tokens). Never printed.
pub struct SecretToken(String);

impl SecretToken {
    pub fn random() -> SecretToken {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SecretToken(hex::encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_exposed(self) -> String {
        self.0
    }

    /// What is stored of it.
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken([REDACTED])")
    }
}

/// What is stored of a token: its SHA-256, in hex (of the token as presented,
/// surrounding spaces left out).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// The kinds of single-use, expiring links, each with its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Invitation,
    PasswordReset,
}

impl LinkKind {
    fn table(self) -> &'static str {
        match self {
            LinkKind::Invitation => "invitations",
            LinkKind::PasswordReset => "password_resets",
        }
    }
}

/// Why a link cannot serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    /// No such link (or its account cannot use it): says nothing of an account.
    #[error("no such link")]
    Unknown,
    #[error("the link was used already, or replaced by a newer one")]
    Used,
    #[error("the link has expired")]
    Expired,
}

/// A stored link, as its token finds it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Link {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub expires_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub used_at: Option<DateTime<Utc>>,
}

/// Whether a link found (or not) by its token serves at `now`.
pub fn judge(found: Option<Link>, now: DateTime<Utc>) -> Result<Link, LinkRefusal> {
    let link = found.ok_or(LinkRefusal::Unknown)?;
    if link.used_at.is_some() {
        return Err(LinkRefusal::Used);
    }
    if link.expires_at <= now {
        return Err(LinkRefusal::Expired);
    }
    Ok(link)
}

/// Issues `user_id` a new link of `kind`, valid for `ttl`, in the caller's
/// transaction; the user's earlier links stop working. Returns the token (to send)
/// and its expiry.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    kind: LinkKind,
    user_id: Uuid,
    ttl: Duration,
) -> Result<(SecretToken, DateTime<Utc>), DbError> {
    let token = SecretToken::random();
    let expires_at = Utc::now() + ttl;
    cancel(conn, kind, user_id).await?;
    diesel::sql_query(format!(
        "INSERT INTO {} (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
        kind.table()
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(user_id)
    .bind::<Text, _>(token.hash())
    .bind::<Timestamptz, _>(expires_at)
    .execute(conn)
    .await?;
    Ok((token, expires_at))
}

async fn find(
    conn: &mut AsyncPgConnection,
    kind: LinkKind,
    token: &str,
    lock: bool,
) -> Result<Option<Link>, DbError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let found: Vec<Link> = diesel::sql_query(format!(
        "SELECT id, user_id, expires_at, used_at FROM {} WHERE token_hash = $1{lock}",
        kind.table()
    ))
    .bind::<Text, _>(hash_token(token))
    .load(conn)
    .await?;
    Ok(found.into_iter().next())
}

/// Refuses a link that cannot serve (before a password is hashed for it, say).
pub async fn check(
    conn: &mut AsyncPgConnection,
    kind: LinkKind,
    token: &str,
) -> Result<Result<(), LinkRefusal>, DbError> {
    let found = find(conn, kind, token, false).await?;
    Ok(judge(found, Utc::now()).map(|_| ()))
}

/// Spends a link in the caller's transaction and returns its user, or why it
/// cannot serve. The link's row is locked: of two uses at once, the second waits,
/// then finds it used.
pub async fn spend(
    conn: &mut AsyncPgConnection,
    kind: LinkKind,
    token: &str,
) -> Result<Result<Uuid, LinkRefusal>, DbError> {
    let link = match judge(find(conn, kind, token, true).await?, Utc::now()) {
        Ok(link) => link,
        Err(refusal) => return Ok(Err(refusal)),
    };
    diesel::sql_query(format!(
        "UPDATE {} SET used_at = $1 WHERE id = $2",
        kind.table()
    ))
    .bind::<Timestamptz, _>(Utc::now())
    .bind::<SqlUuid, _>(link.id)
    .execute(conn)
    .await?;
    Ok(Ok(link.user_id))
}

/// Spends every unused link of `kind` of a user.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    kind: LinkKind,
    user_id: Uuid,
) -> Result<(), DbError> {
    diesel::sql_query(format!(
        "UPDATE {} SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        kind.table()
    ))
    .bind::<Timestamptz, _>(Utc::now())
    .bind::<SqlUuid, _>(user_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hashed_and_never_printed() {
        let (a, b) = (SecretToken::random(), SecretToken::random());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_eq!(a.hash(), hash_token(&format!(" {} ", a.expose())));
        assert_ne!(a.hash(), a.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn used_expired_and_unknown_links_are_refused_each_for_its_reason() {
        let now = Utc::now();
        let link = |expires_in: i64, used: bool| Link {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            expires_at: now + Duration::seconds(expires_in),
            used_at: used.then_some(now),
        };
        assert_eq!(judge(None, now).unwrap_err(), LinkRefusal::Unknown);
        assert_eq!(
            judge(Some(link(60, true)), now).unwrap_err(),
            LinkRefusal::Used
        );
        assert_eq!(
            judge(Some(link(-1, true)), now).unwrap_err(),
            LinkRefusal::Used
        );
        assert_eq!(
            judge(Some(link(-1, false)), now).unwrap_err(),
            LinkRefusal::Expired
        );
        assert_eq!(
            judge(Some(link(0, false)), now).unwrap_err(),
            LinkRefusal::Expired
        );
        assert!(judge(Some(link(60, false)), now).is_ok());
    }
}
