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
//! Errors of [`confirm_reset`]: an unknown token (or a deactivated user) → 404
//! `reset_invalid`; a token used already → 410 `reset_used`; past its hour → 410
//! `reset_expired`. The password rules are those of [`crate::domain::Password`].

use std::time::Duration as StdDuration;

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::Email;
use crate::error::ApiError;
use crate::invitations::hash_token;
use crate::limits::{Brakes, FailureLimiter};
use crate::mail::{self, MailKind, NewMail, templates};
use crate::organizations::User;
use crate::schema::{password_resets, users};
use crate::sessions::{self, RevokeReason, SecretToken};

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

/// The wrong current password, on a change.
pub fn wrong_password() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_password",
        "Le mot de passe actuel n'est pas le bon.",
    )
    .with_field("current_password")
}

/// The caller's current password hash, to check it (outside any transaction).
pub async fn current_hash(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Option<String>, ApiError> {
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
) -> Result<Vec<Uuid>, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
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
            return Err(wrong_password());
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
) -> Result<(), ApiError> {
    let public_url = public_url.trim_end_matches('/').to_string();
    conn.transaction::<_, ApiError, _>(async move |conn| {
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
        let now = Utc::now();
        diesel::update(
            password_resets::table
                .filter(password_resets::user_id.eq(user.id))
                .filter(password_resets::used_at.is_null()),
        )
        .set(password_resets::used_at.eq(now))
        .execute(conn)
        .await?;
        let token = SecretToken::random();
        let expires_at = now + Duration::minutes(RESET_TTL_MINUTES);
        diesel::insert_into(password_resets::table)
            .values((
                password_resets::id.eq(Uuid::now_v7()),
                password_resets::user_id.eq(user.id),
                password_resets::token_hash.eq(token.hash()),
                password_resets::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        let content = templates::password_reset(&templates::PasswordResetMail {
            email: user.email.clone(),
            link: format!("{public_url}/mot-de-passe?token={}", token.expose()),
            expires: crate::french::date_time(expires_at, crate::french::TimeStyle::Sentence),
        })
        .map_err(ApiError::internal)?;
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

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = password_resets)]
struct Reset {
    id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

fn invalid() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "reset_invalid",
        "Ce lien de changement de mot de passe n'est pas valide. Vérifiez qu'il a été copié en entier, ou demandez-en un nouveau.",
    )
}

fn judge(reset: Option<Reset>, now: DateTime<Utc>) -> Result<Reset, ApiError> {
    let reset = reset.ok_or_else(invalid)?;
    if reset.used_at.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "reset_used",
            "Ce lien de changement de mot de passe a déjà servi (ou un lien plus récent a été demandé). Demandez-en un nouveau si besoin.",
        ));
    }
    if reset.expires_at <= now {
        return Err(ApiError::new(
            StatusCode::GONE,
            "reset_expired",
            "Ce lien de changement de mot de passe a expiré (il vaut une heure). Demandez-en un nouveau.",
        ));
    }
    Ok(reset)
}

async fn find(
    conn: &mut AsyncPgConnection,
    token: &str,
    lock: bool,
) -> Result<Option<Reset>, ApiError> {
    let query = password_resets::table
        .filter(password_resets::token_hash.eq(hash_token(token)))
        .select(Reset::as_select());
    Ok(if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    })
}

/// Refuses a link that cannot serve, before the new password is hashed.
pub async fn check_reset(conn: &mut AsyncPgConnection, token: &str) -> Result<(), ApiError> {
    judge(find(conn, token, false).await?, Utc::now()).map(|_| ())
}

/// Sets the new password (already hashed) through a reset link: the link is spent
/// and every session of the user ends, in one transaction. Two confirmations at
/// once: the second waits, then finds the link used. Returns the sessions ended.
pub async fn confirm_reset(
    conn: &mut AsyncPgConnection,
    token: &str,
    password_hash: String,
) -> Result<Vec<Uuid>, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let reset = judge(find(conn, token, true).await?, Utc::now())?;
        diesel::update(password_resets::table.find(reset.id))
            .set(password_resets::used_at.eq(Utc::now()))
            .execute(conn)
            .await?;
        let changed = diesel::update(
            users::table
                .find(reset.user_id)
                .filter(users::active.eq(true)),
        )
        .set(users::password_hash.eq(Some(password_hash)))
        .execute(conn)
        .await?;
        if changed == 0 {
            return Err(invalid());
        }
        Ok(
            sessions::revoke_user_sessions(conn, reset.user_id, None, RevokeReason::PasswordReset)
                .await?,
        )
    })
    .await
}

/// Links of `user_id` that were not used stop working (the user was deactivated).
pub async fn cancel_resets(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<(), ApiError> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_expired_and_unknown_links_are_refused_with_their_own_code() {
        let now = Utc::now();
        let reset = |expires_in: i64, used: bool| Reset {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            expires_at: now + Duration::seconds(expires_in),
            used_at: used.then_some(now),
        };
        assert_eq!(judge(None, now).unwrap_err().code(), "reset_invalid");
        assert_eq!(
            judge(Some(reset(60, true)), now).unwrap_err().code(),
            "reset_used"
        );
        assert_eq!(
            judge(Some(reset(-1, false)), now).unwrap_err().code(),
            "reset_expired"
        );
        assert!(judge(Some(reset(60, false)), now).is_ok());
    }
}
