//! Invitations: a user created without a password gets an e-mail with a link to
//! choose one. The link carries a random token (256 bits) of which only the SHA-256
//! is stored; it serves once and expires (`invitation_ttl_hours`). Until then the
//! user has no password and cannot log in.
//!
//! Errors of [`accept`]: an unknown token → 404 `invitation_invalid`; a token used
//! already → 410 `invitation_used`; past its expiry → 410 `invitation_expired`.
//! None of them says anything of the account.

use std::fmt;

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::mail::{self, MailKind, NewMail, templates};
use crate::organizations::{self, NewUser, Organization, User};
use crate::schema::{invitations, users};

/// The secret of an invitation link. Never printed.
pub struct InvitationToken(String);

impl InvitationToken {
    pub fn random() -> InvitationToken {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        InvitationToken(hex::encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken([REDACTED])")
    }
}

/// What is stored of a token: its SHA-256, in hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
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

    pub fn link(&self, token: &InvitationToken) -> String {
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
) -> Result<(), ApiError> {
    let token = InvitationToken::random();
    let expires_at = Utc::now() + settings.ttl;
    diesel::update(
        invitations::table
            .filter(invitations::user_id.eq(user.id))
            .filter(invitations::used_at.is_null()),
    )
    .set(invitations::used_at.eq(Utc::now()))
    .execute(conn)
    .await?;
    diesel::insert_into(invitations::table)
        .values((
            invitations::id.eq(Uuid::now_v7()),
            invitations::user_id.eq(user.id),
            invitations::token_hash.eq(token.hash()),
            invitations::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    let content = templates::invitation(&templates::InvitationMail {
        email: user.email.clone(),
        organization: organization.name.clone(),
        role: match user.role() {
            crate::domain::Role::Admin => "administrateur".into(),
            crate::domain::Role::Agent => "agent".into(),
        },
        link: settings.link(&token),
        expires: crate::french::date_time(expires_at, crate::french::TimeStyle::Sentence),
    })
    .map_err(ApiError::internal)?;
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
    new: &NewUser,
    settings: &InvitationSettings,
) -> Result<User, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let organization = organizations::find_organization(conn, new.organization_id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let user = organizations::create_user(conn, new).await?;
        invite(conn, &user, &organization, settings).await?;
        Ok(user)
    })
    .await
}

/// Invites again a user of `organization_id` who has no password yet (the earlier
/// link stopped working, or never arrived); earlier links stop working. One
/// transaction; 404 for a user of another organisation, 409 `user_active` for a user
/// who has a password.
pub async fn reinvite(
    conn: &mut AsyncPgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    settings: &InvitationSettings,
) -> Result<User, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let user: User = users::table
            .find(user_id)
            .filter(users::organization_id.eq(organization_id))
            .select(User::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(ApiError::not_found)?;
        if user.password_hash.is_some() {
            return Err(ApiError::conflict(
                "user_active",
                "Ce compte a déjà un mot de passe : il n'a pas besoin d'invitation.",
            ));
        }
        let organization = organizations::find_organization(conn, organization_id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        invite(conn, &user, &organization, settings).await?;
        Ok(user)
    })
    .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invitations)]
struct Invitation {
    id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

fn invalid() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invitation_invalid",
        "Ce lien d'invitation n'est pas valide. Vérifiez qu'il a été copié en entier, ou demandez une nouvelle invitation.",
    )
}

fn judge(invitation: Option<Invitation>, now: DateTime<Utc>) -> Result<Invitation, ApiError> {
    let invitation = invitation.ok_or_else(invalid)?;
    if invitation.used_at.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "invitation_used",
            "Ce lien d'invitation a déjà servi. Connectez-vous avec votre mot de passe, ou demandez une nouvelle invitation.",
        ));
    }
    if invitation.expires_at <= now {
        return Err(ApiError::new(
            StatusCode::GONE,
            "invitation_expired",
            "Ce lien d'invitation a expiré. Demandez une nouvelle invitation à l'administrateur de votre organisation.",
        ));
    }
    Ok(invitation)
}

async fn find(
    conn: &mut AsyncPgConnection,
    token: &str,
    lock: bool,
) -> Result<Option<Invitation>, ApiError> {
    let query = invitations::table
        .filter(invitations::token_hash.eq(hash_token(token)))
        .select(Invitation::as_select());
    let found = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    Ok(found)
}

/// Refuses a token that cannot be accepted, before the password is hashed.
pub async fn check(conn: &mut AsyncPgConnection, token: &str) -> Result<(), ApiError> {
    judge(find(conn, token, false).await?, Utc::now()).map(|_| ())
}

/// Accepts an invitation: the user's password is set, the token is spent. Two
/// acceptances at once: the second waits, then finds the token used.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    token: &str,
    password_hash: String,
) -> Result<User, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let invitation = judge(find(conn, token, true).await?, Utc::now())?;
        diesel::update(invitations::table.find(invitation.id))
            .set(invitations::used_at.eq(Utc::now()))
            .execute(conn)
            .await?;
        // A deactivated user's link does not give the account back.
        let user = diesel::update(
            users::table
                .find(invitation.user_id)
                .filter(users::active.eq(true)),
        )
        .set(users::password_hash.eq(Some(password_hash)))
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(invalid)?;
        Ok(user)
    })
    .await
}

/// Spends every unused invitation of a user (deactivated: an old link must not give
/// the account a password, now or after a reactivation).
pub async fn cancel_for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<(), ApiError> {
    diesel::update(
        invitations::table
            .filter(invitations::user_id.eq(user_id))
            .filter(invitations::used_at.is_null()),
    )
    .set(invitations::used_at.eq(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hashed_and_never_printed() {
        let (a, b) = (InvitationToken::random(), InvitationToken::random());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_ne!(a.hash(), a.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
        let settings = InvitationSettings {
            public_url: "https://pass.example.org".into(),
            ttl: Duration::hours(72),
        };
        assert_eq!(
            settings.link(&a),
            format!("https://pass.example.org/invitation?token={}", a.expose())
        );
    }

    #[test]
    fn used_expired_and_unknown_tokens_are_refused_with_their_own_code() {
        let now = Utc::now();
        let invitation = |expires_in: i64, used: bool| Invitation {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            expires_at: now + Duration::seconds(expires_in),
            used_at: used.then_some(now),
        };
        assert_eq!(judge(None, now).unwrap_err().code(), "invitation_invalid");
        assert_eq!(
            judge(Some(invitation(60, true)), now).unwrap_err().code(),
            "invitation_used"
        );
        assert_eq!(
            judge(Some(invitation(-1, false)), now).unwrap_err().code(),
            "invitation_expired"
        );
        assert!(judge(Some(invitation(60, false)), now).is_ok());
    }
}
