//! Invitations: a user created without a password gets an e-mail with a link to
//! choose one. The link is a one-time token ([`crate::one_time`]): only its SHA-256
//! is stored; it serves once and expires (`invitation_ttl_hours`). Until then the
//! user has no password and cannot log in.
//!
//! Errors of [`accept`]: an unknown token, a token used already, one past its expiry
//! ([`InvitationError::Link`]); none of them says anything of the account. The HTTP
//! edge words them (`impl From<InvitationError> for ApiError` in
//! `api/invitations.rs`).

use chrono::Duration;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::DbError;
use crate::mail::{self, MailKind, NewMail, templates};
use crate::one_time::{self, LinkKind, LinkRefusal, SecretToken};
use crate::organizations::{self, NewUser, Organization, OrganizationError, User};
use crate::schema::users;

/// Why an invitation was not made or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    /// No such organisation or user (or another organisation's).
    #[error("not found")]
    NotFound,
    /// The user has a password already: no invitation needed.
    #[error("the user has a password already")]
    UserActive,
    /// The invitation link cannot serve.
    #[error("invitation refused: {0}")]
    Link(LinkRefusal),
    /// The user could not be created (its e-mail address is taken…).
    #[error(transparent)]
    User(#[from] OrganizationError),
    #[error("the invitation mail could not be written: {0}")]
    Mail(#[from] templates::TemplateError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for InvitationError {
    fn from(err: diesel::result::Error) -> Self {
        InvitationError::Db(err.into())
    }
}

/// How invitations are made: where the web app is, how long a link lives.
#[derive(Debug, Clone)]
pub struct InvitationSettings {
    pub public_url: String,
    pub ttl: Duration,
}

impl InvitationSettings {
    pub fn from_settings(settings: &crate::config::Settings) -> InvitationSettings {
        InvitationSettings {
            public_url: settings.public_url.trim_end_matches('/').to_string(),
            ttl: Duration::hours(settings.invitation_ttl_hours.max(1)),
        }
    }

    pub fn link(&self, token: &SecretToken) -> String {
        format!("{}/invitation?token={}", self.public_url, token.expose())
    }
}

/// Records an invitation for `user` and its mail, in the caller's transaction.
/// Earlier invitations of the user stop working.
pub async fn invite(
    conn: &mut AsyncPgConnection,
    user: &User,
    organization: &Organization,
    settings: &InvitationSettings,
) -> Result<(), InvitationError> {
    let (token, expires_at) =
        one_time::issue(conn, LinkKind::Invitation, user.id, settings.ttl).await?;
    let content = templates::invitation(&templates::InvitationMail {
        email: user.email.clone(),
        organization: organization.name.clone(),
        role: match user.role() {
            crate::domain::Role::Admin => "administrateur".into(),
            crate::domain::Role::Agent => "agent".into(),
        },
        link: settings.link(&token),
        expires: crate::french::date_time(expires_at, crate::french::TimeStyle::Sentence),
    })?;
    mail::enqueue(
        conn,
        NewMail {
            kind: MailKind::Invitation,
            related_id: Some(user.id),
            recipient: user.email.clone(),
            content,
            attachment: None,
            dedupe_key: None,
        },
    )
    .await?;
    Ok(())
}

/// Creates a user without a password and invites it, in one transaction.
pub async fn create_invited_user(
    conn: &mut AsyncPgConnection,
    actor: crate::audit::Actor,
    new: &NewUser,
    settings: &InvitationSettings,
) -> Result<User, InvitationError> {
    conn.transaction::<_, InvitationError, _>(async move |conn| {
        let organization = organizations::find_organization(conn, new.organization_id)
            .await?
            .ok_or(InvitationError::NotFound)?;
        let user = organizations::create_user(conn, actor, new).await?;
        invite(conn, &user, &organization, settings).await?;
        Ok(user)
    })
    .await
}

/// Invites again a user of `organization_id` who has no password yet (the earlier
/// link stopped working, or never arrived); earlier links stop working. One
/// transaction; not found for a user of another organisation, refused for a user
/// who has a password.
pub async fn reinvite(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    settings: &InvitationSettings,
) -> Result<User, InvitationError> {
    conn.transaction::<_, InvitationError, _>(async move |conn| {
        let user: User = users::table
            .find(user_id)
            .filter(users::organization_id.eq(organization_id))
            .select(User::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or(InvitationError::NotFound)?;
        if user.password_hash.is_some() {
            return Err(InvitationError::UserActive);
        }
        let organization = organizations::find_organization(conn, organization_id)
            .await?
            .ok_or(InvitationError::NotFound)?;
        invite(conn, &user, &organization, settings).await?;
        Ok(user)
    })
    .await
}

/// Refuses a token that cannot be accepted, before the password is hashed.
pub async fn check(conn: &mut AsyncPgConnection, token: &str) -> Result<(), InvitationError> {
    one_time::check(conn, LinkKind::Invitation, token)
        .await?
        .map_err(InvitationError::Link)
}

/// Accepts an invitation: the user's password is set, the token is spent. Two
/// acceptances at once: the second waits, then finds the token used.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    token: &str,
    password_hash: String,
) -> Result<User, InvitationError> {
    conn.transaction::<_, InvitationError, _>(async move |conn| {
        let user_id = one_time::spend(conn, LinkKind::Invitation, token)
            .await?
            .map_err(InvitationError::Link)?;
        // A deactivated user's link does not give the account back.
        let user = diesel::update(users::table.find(user_id).filter(users::active.eq(true)))
            .set(users::password_hash.eq(Some(password_hash)))
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or(InvitationError::Link(LinkRefusal::Unknown))?;
        Ok(user)
    })
    .await
}

/// Spends every unused invitation of a user (deactivated: an old link must not give
/// the account a password, now or after a reactivation).
pub async fn cancel_for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<(), DbError> {
    one_time::cancel(conn, LinkKind::Invitation, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_carries_the_token() {
        let token = SecretToken::random();
        let settings = InvitationSettings {
            public_url: "https://pass.example.org".into(),
            ttl: Duration::hours(72),
        };
        assert_eq!(
            settings.link(&token),
            format!(
                "https://pass.example.org/invitation?token={}",
                token.expose()
            )
        );
    }
}
