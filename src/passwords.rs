//! Passwords: a logged-in user changes its own, and a user who forgot it asks for a
//! link by e-mail to choose a new one.
//!
//! - A change ends the user's other sessions (the one that made it stays).
//! - A reset link carries a random 256-bit token of which only the SHA-256 is stored
//!   (`password_resets`); it serves once and lives [`RESET_TTL_MINUTES`]. Asking again
//!   makes earlier links stop working. Only an active user gets a mail, but the request
//!   answers the same whatever the address (202), so it tells nobody whether an
//!   account exists. Requests are braked per address and per IP ([`reset_limits`]).
//! - Choosing the new password through the link ends every session of the user.
//!
//! Errors of [`confirm_reset`]: an unknown token (or a deactivated user), a token
//! used already, one past its hour ([`PasswordError::Reset`], the refusals of
//! [`crate::one_time`]). The password rules are those of [`crate::domain::Password`].
//! The HTTP edge words them (`impl From<PasswordError> for ApiError` in
//! `api/auth.rs`).

use std::time::Duration as StdDuration;

use chrono::Duration;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::DbError;
use crate::domain::Email;
use crate::limits::{Brakes, FailureLimiter};
use crate::mail::{self, MailKind, NewMail, templates};
use crate::one_time::{self, LinkKind, LinkRefusal};
use crate::organizations::User;
use crate::schema::users;
use crate::sessions::{self, RevokeReason};

/// Why a password was not changed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The current password given on a change is not the user's (or it changed
    /// meanwhile).
    #[error("the current password is not the right one")]
    WrongPassword,
    /// The reset link cannot serve.
    #[error("reset link refused: {0}")]
    Reset(LinkRefusal),
    #[error("the reset mail could not be written: {0}")]
    Mail(#[from] templates::TemplateError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for PasswordError {
    fn from(err: diesel::result::Error) -> Self {
        PasswordError::Db(err.into())
    }
}

/// How long a reset link stays valid.
pub const RESET_TTL_MINUTES: i64 = 60;
/// Reset requests tolerated per e-mail address, and per IP address, in an hour.
const RESETS_PER_EMAIL: u32 = 5;
const RESETS_PER_IP: u32 = 30;

/// The brakes on reset requests: each request counts, good or not (a mail is sent
/// for each one that reaches an account).
pub fn reset_limits() -> Brakes {
    let hour = StdDuration::from_secs(3600);
    Brakes {
        per_account: FailureLimiter::new(RESETS_PER_EMAIL, hour),
        per_address: FailureLimiter::new(RESETS_PER_IP, hour),
    }
}

/// The caller's current password hash, to check it (outside any transaction).
pub async fn current_hash(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Option<String>, DbError> {
    Ok(users::table
        .find(user_id)
        .filter(users::active.eq(true))
        .select(users::password_hash)
        .first::<Option<String>>(conn)
        .await
        .optional()?
        .flatten())
}

/// Sets the caller's new password (already hashed) and ends its other sessions, in
/// one transaction, provided its password is still `checked_hash` (the one the current
/// password was checked against): a change that raced another is refused. Returns the
/// sessions ended.
pub async fn change(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    session_id: Uuid,
    checked_hash: &str,
    new_hash: String,
) -> Result<Vec<Uuid>, PasswordError> {
    conn.transaction::<_, PasswordError, _>(async move |conn| {
        let changed = diesel::update(
            users::table
                .find(user_id)
                .filter(users::password_hash.eq(checked_hash))
                .filter(users::active.eq(true)),
        )
        .set(users::password_hash.eq(Some(new_hash)))
        .execute(conn)
        .await?;
        if changed == 0 {
            return Err(PasswordError::WrongPassword);
        }
        Ok(sessions::revoke_user_sessions(
            conn,
            user_id,
            Some(session_id),
            RevokeReason::PasswordChanged,
        )
        .await?)
    })
    .await
}

/// Records a reset link for the active user of `email`, if there is one, and its mail,
/// in one transaction; earlier links of that user stop working. Says nothing of
/// whether the account exists.
pub async fn request_reset(
    conn: &mut AsyncPgConnection,
    email: &Email,
    public_url: &str,
) -> Result<(), PasswordError> {
    let public_url = public_url.trim_end_matches('/').to_string();
    conn.transaction::<_, PasswordError, _>(async move |conn| {
        let user: Option<User> = users::table
            .filter(users::email.eq(email.as_str()))
            .filter(users::active.eq(true))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?;
        let Some(user) = user else {
            return Ok(());
        };
        let (token, expires_at) = one_time::issue(
            conn,
            LinkKind::PasswordReset,
            user.id,
            Duration::minutes(RESET_TTL_MINUTES),
        )
        .await?;
        let content = templates::password_reset(&templates::PasswordResetMail {
            email: user.email.clone(),
            link: format!("{public_url}/mot-de-passe?token={}", token.expose()),
            expires: crate::french::date_time(expires_at, crate::french::TimeStyle::Sentence),
        })?;
        mail::enqueue(
            conn,
            NewMail {
                kind: MailKind::PasswordReset,
                related_id: Some(user.id),
                recipient: user.email,
                content,
                attachment: None,
                dedupe_key: None,
            },
        )
        .await?;
        Ok(())
    })
    .await
}

/// Refuses a link that cannot serve, before the new password is hashed.
pub async fn check_reset(conn: &mut AsyncPgConnection, token: &str) -> Result<(), PasswordError> {
    one_time::check(conn, LinkKind::PasswordReset, token)
        .await?
        .map_err(PasswordError::Reset)
}

/// Sets the new password (already hashed) through a reset link: the link is spent
/// and every session of the user ends, in one transaction. Two confirmations at
/// once: the second waits, then finds the link used. Returns the sessions ended.
pub async fn confirm_reset(
    conn: &mut AsyncPgConnection,
    token: &str,
    password_hash: String,
) -> Result<Vec<Uuid>, PasswordError> {
    conn.transaction::<_, PasswordError, _>(async move |conn| {
        let user_id = one_time::spend(conn, LinkKind::PasswordReset, token)
            .await?
            .map_err(PasswordError::Reset)?;
        let changed = diesel::update(users::table.find(user_id).filter(users::active.eq(true)))
            .set(users::password_hash.eq(Some(password_hash)))
            .execute(conn)
            .await?;
        if changed == 0 {
            // A deactivated user's link does not give the account back.
            return Err(PasswordError::Reset(LinkRefusal::Unknown));
        }
        Ok(
            sessions::revoke_user_sessions(conn, user_id, None, RevokeReason::PasswordReset)
                .await?,
        )
    })
    .await
}

/// Links of `user_id` that were not used stop working (the user was deactivated).
pub async fn cancel_resets(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<(), DbError> {
    one_time::cancel(conn, LinkKind::PasswordReset, user_id).await
}
