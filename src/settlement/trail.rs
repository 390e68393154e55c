//! A settlement's entry in the audit trail: who settled which period, and the
//! statements it made.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::{Settlement, Statement};
use crate::audit::{self, Actor, Change, Entity};
use crate::db::DbError;
use crate::schema::users;

/// Writes the entry in the settlement's transaction: `by` the user who asked for it
/// (`POST /settlements`), or the command line.
pub(super) async fn record(
    conn: &mut AsyncPgConnection,
    settlement: &Settlement,
    made: &[Statement],
    by: Option<Uuid>,
) -> Result<(), DbError> {
    let actor = match by {
        Some(user_id) => {
            let organization_id = users::table
                .find(user_id)
                .select(users::organization_id)
                .first::<Uuid>(conn)
                .await?;
            Actor::User {
                user_id,
                organization_id,
            }
        }
        None => Actor::Service("passnum settle"),
    };
    let statements: Vec<_> = made
        .iter()
        .map(|s| {
            json!({
                "number": s.number,
                "kind": s.kind.as_str(),
                "organization_id": s.organization_id,
                "total": s.total.to_string(),
            })
        })
        .collect();
    audit::record(
        conn,
        Change {
            actor,
            organization_id: None,
            entity: Entity::Settlement,
            entity_id: settlement.id,
            action: "settlement.created",
            before: None,
            after: Some(json!({
                "period_start": settlement.period_start,
                "period_end": settlement.period_end,
                "statements": statements,
            })),
            reason: None,
        },
    )
    .await?;
    Ok(())
}
