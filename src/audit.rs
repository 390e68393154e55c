//! The audit trail: who changed what, when, with the values before and after.
//!
//! Every correction, label change, user change, payment, allocation, settlement,
//! closing, cancellation and reversal calls [`record`] inside the transaction of the
//! change, so the entry commits with the change or neither does. The database keeps
//! the entries append-only and chained (`sql/functions/audit.sql`): a trigger numbers
//! each entry and hashes it with the previous entry's hash, under a lock held until
//! the change commits; `audit_chain_break()` finds an edited or missing entry.
//!
//! **No beneficiary's personal data in `before`/`after`.** The trail is kept for
//! ever and cannot be edited, while a beneficiary's e-mail, reference, birth year or
//! postcode must be erasable (data protection): for those fields, record only which
//! ones changed (`{"email": "modifié"}`), never their values.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::DbError;
use crate::schema::audit_entries;

/// Who made a change: a user acting for an organisation, or the service itself (a
/// command of the command line, a daily job), named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User {
        user_id: Uuid,
        organization_id: Uuid,
    },
    Service(&'static str),
}

impl From<&Caller> for Actor {
    fn from(caller: &Caller) -> Actor {
        Actor::User {
            user_id: caller.user_id,
            organization_id: caller.organization_id,
        }
    }
}

/// What kind of thing was changed (the `entity_kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Organization,
    User,
    Label,
    Program,
    Allocation,
    Payment,
    Checkbook,
    Redemption,
    Settlement,
    Statement,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Organization => "organization",
            Entity::User => "user",
            Entity::Label => "label",
            Entity::Program => "program",
            Entity::Allocation => "allocation",
            Entity::Payment => "payment",
            Entity::Checkbook => "checkbook",
            Entity::Redemption => "redemption",
            Entity::Settlement => "settlement",
            Entity::Statement => "statement",
        }
    }
}

/// One change, as [`record`] writes it.
#[derive(Debug, Clone)]
pub struct Change {
    pub actor: Actor,
    /// The organisation whose admins may read the entry (the operator reads all);
    /// `None` for the operator's own settings (e.g. a program).
    pub organization_id: Option<Uuid>,
    pub entity: Entity,
    pub entity_id: Uuid,
    /// What was done, as `<entity>.<verb>`: `organization.updated`, `program.extended`…
    pub action: &'static str,
    /// The changed fields before and after (only those that changed, ideally);
    /// `None` for a creation (before) or a removal (after).
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Why, when the person said (a cancellation's reason, an extension's motive).
    pub reason: Option<String>,
}

/// One entry of the trail as it was written.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_entries)]
pub struct Entry {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub organization_id: Option<Uuid>,
    pub entity_kind: String,
    pub entity_id: Uuid,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
}

/// Writes `change` in the caller's transaction (the trigger numbers and chains it).
pub async fn record(conn: &mut AsyncPgConnection, change: Change) -> Result<Entry, DbError> {
    let (actor_user_id, actor_organization_id, actor_label) = match change.actor {
        Actor::User {
            user_id,
            organization_id,
        } => (Some(user_id), Some(organization_id), None),
        Actor::Service(name) => (None, None, Some(name.to_owned())),
    };
    let entry = diesel::insert_into(audit_entries::table)
        .values((
            audit_entries::id.eq(Uuid::now_v7()),
            audit_entries::actor_user_id.eq(actor_user_id),
            audit_entries::actor_organization_id.eq(actor_organization_id),
            audit_entries::actor_label.eq(actor_label),
            audit_entries::organization_id.eq(change.organization_id),
            audit_entries::entity_kind.eq(change.entity.as_str()),
            audit_entries::entity_id.eq(change.entity_id),
            audit_entries::action.eq(change.action),
            audit_entries::before.eq(change.before),
            audit_entries::after.eq(change.after),
            audit_entries::reason.eq(change.reason),
        ))
        .returning(Entry::as_returning())
        .get_result(conn)
        .await?;
    Ok(entry)
}

/// Which entries to read (`GET /audit`), newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub entity_id: Option<Uuid>,
    /// The user who made the change.
    pub actor_id: Option<Uuid>,
    /// From this instant, included.
    pub from: Option<DateTime<Utc>>,
    /// Until this instant, excluded.
    pub to: Option<DateTime<Utc>>,
    /// Only the entries of this organisation (an organisation's admin reading).
    pub organization_id: Option<Uuid>,
    /// Only entries older than this one (the page's cursor).
    pub before_seq: Option<i64>,
}

/// An entry with the names of who made it, when known.
#[derive(Debug, Clone)]
pub struct Listed {
    pub entry: Entry,
    pub actor_email: Option<String>,
    pub actor_organization_name: Option<String>,
}

/// Up to `limit` entries matching `filter`, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<Listed>, DbError> {
    use crate::schema::{organizations, users};
    let mut query = audit_entries::table
        .left_join(users::table.on(users::id.nullable().eq(audit_entries::actor_user_id)))
        .left_join(
            organizations::table.on(organizations::id
                .nullable()
                .eq(audit_entries::actor_organization_id)),
        )
        .select((
            Entry::as_select(),
            users::email.nullable(),
            organizations::name.nullable(),
        ))
        .order(audit_entries::seq.desc())
        .limit(limit)
        .into_boxed();
    if let Some(id) = filter.entity_id {
        query = query.filter(audit_entries::entity_id.eq(id));
    }
    if let Some(id) = filter.actor_id {
        query = query.filter(audit_entries::actor_user_id.eq(id));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_entries::at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_entries::at.lt(to));
    }
    if let Some(org) = filter.organization_id {
        query = query.filter(audit_entries::organization_id.eq(org));
    }
    if let Some(seq) = filter.before_seq {
        query = query.filter(audit_entries::seq.lt(seq));
    }
    let rows: Vec<(Entry, Option<String>, Option<String>)> = query.load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(entry, actor_email, actor_organization_name)| Listed {
            entry,
            actor_email,
            actor_organization_name,
        })
        .collect())
}
