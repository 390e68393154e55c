//! An organisation's team: changing a user's role or whether it may log in. A use
//! case of its own because it reaches across three others: the user
//! ([`crate::organizations`]), its sessions ([`crate::sessions`]) and its password
//! reset links ([`crate::passwords`]), which must end in the same transaction.
//! It refuses with [`TeamError`], worded at the HTTP edge (`api/organizations.rs`).

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::audit::{self, Actor, Change, Entity};
use crate::auth::Caller;
use crate::db::DbError;
use crate::domain::Role;
use crate::organizations::{self, ManageRefusal, User};
use crate::passwords;
use crate::schema::{organizations as organizations_table, users};
use crate::sessions::{self, RevokeReason};

/// Why a user was not changed.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// No such organisation, or the user is another organisation's.
    #[error("not found")]
    NotFound,
    /// The caller may not make this change.
    #[error(transparent)]
    Refused(#[from] ManageRefusal),
    /// The organisation would be left without an active admin.
    #[error("the organisation's last active admin")]
    LastAdmin,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for TeamError {
    fn from(err: diesel::result::Error) -> Self {
        TeamError::Db(err.into())
    }
}

/// A change to a user: its role, whether it may log in. Absent fields stay.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// Changes the user `user_id` of `organization_id` (not found for another
/// organisation's),
/// in one transaction: deactivating ends its sessions and its password reset links,
/// demoting an admin ends its sessions (its tokens carry its role); an organisation
/// always keeps one active admin ([`TeamError::LastAdmin`]). Changes of one organisation's
/// users are serialised (its row is locked), so two admins cannot remove each other
/// at once. Returns the user and the sessions ended.
pub async fn update_user(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    organization_id: Uuid,
    user_id: Uuid,
    change: UserChange,
) -> Result<(User, Vec<Uuid>), TeamError> {
    let caller = caller.clone();
    conn.transaction::<_, TeamError, _>(async move |conn| {
        organizations_table::table
            .find(organization_id)
            .select(organizations_table::id)
            .for_no_key_update()
            .first::<Uuid>(conn)
            .await
            .optional()?
            .ok_or(TeamError::NotFound)?;
        let user: User = users::table
            .find(user_id)
            .filter(users::organization_id.eq(organization_id))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or(TeamError::NotFound)?;
        let current = user.role();
        let role = change.role.unwrap_or(current);
        let active = change.active.unwrap_or(user.active);
        organizations::may_manage_user(&caller, current, role)?;
        let loses_an_admin =
            current == Role::Admin && user.active && (role != Role::Admin || !active);
        if loses_an_admin {
            let others: i64 = users::table
                .filter(users::organization_id.eq(organization_id))
                .filter(users::role.eq(Role::Admin.as_str()))
                .filter(users::active.eq(true))
                .filter(users::id.ne(user_id))
                .count()
                .get_result(conn)
                .await?;
            if others == 0 {
                return Err(TeamError::LastAdmin);
            }
        }
        let updated = diesel::update(users::table.find(user_id))
            .set((users::role.eq(role.as_str()), users::active.eq(active)))
            .returning(User::as_returning())
            .get_result(conn)
            .await?;
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        if role != current {
            before.insert("role".into(), current.as_str().into());
            after.insert("role".into(), role.as_str().into());
        }
        if active != user.active {
            before.insert("active".into(), user.active.into());
            after.insert("active".into(), active.into());
        }
        if !after.is_empty() {
            audit::record(
                conn,
                Change {
                    actor: Actor::from(&caller),
                    organization_id: Some(organization_id),
                    entity: Entity::User,
                    entity_id: user_id,
                    action: "user.updated",
                    before: Some(before.into()),
                    after: Some(after.into()),
                    reason: None,
                },
            )
            .await?;
        }
        let mut ended = Vec::new();
        if user.active && !active {
            ended = sessions::revoke_user_sessions(conn, user_id, None, RevokeReason::Deactivated)
                .await?;
            passwords::cancel_resets(conn, user_id).await?;
            crate::invitations::cancel_for_user(conn, user_id).await?;
        } else if current == Role::Admin && role != Role::Admin {
            ended = sessions::revoke_user_sessions(conn, user_id, None, RevokeReason::RoleChanged)
                .await?;
        }
        Ok((updated, ended))
    })
    .await
}
