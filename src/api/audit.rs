//! The audit trail, read: who changed what and when, before and after.

use actix_web::{get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::pagination::{MAX_LIMIT, Page};
use crate::audit::{self, Filter, Listed};
use crate::auth::Caller;
use crate::domain::{OrgKind, Role, ValidationError, end_of_french_day};
use crate::error::{ApiError, ApiResult, Problem};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The changed thing: an organisation, a user, a program (with its payments and
    /// allocations), a checkbook, a settlement…
    pub entity_id: Option<String>,
    /// The user who made the change.
    pub actor_id: Option<String>,
    /// The organisation the entries concern (an organisation's admin: its own only).
    pub organization_id: Option<String>,
    /// From this day (`YYYY-MM-DD`, French time) or instant (RFC 3339), included.
    pub from: Option<String>,
    /// To this day (`YYYY-MM-DD`, French time, included) or instant (RFC 3339, excluded).
    pub to: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One entry of the trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: Uuid,
    /// Its place in the trail (1, 2, 3… in the order the changes committed).
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: AuditActorView,
    /// The organisation whose admins may read the entry; `null` for the operator's
    /// own settings.
    pub organization_id: Option<Uuid>,
    /// `organization`, `user`, `label`, `program`, `allocation`, `payment`,
    /// `checkbook`, `redemption`, `settlement`. A payment's and an allocation's
    /// `entity_id` is their program's.
    pub entity: String,
    pub entity_id: Uuid,
    /// `<entity>.<verb>`: `program.updated`, `program.extended`, `allocation.updated`…
    pub action: String,
    /// The changed fields before the change (`null` for a creation).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The changed fields after it.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
}

/// Who made a change: a user (with its e-mail and organisation's name) or the
/// service itself (`label`: `passnum expire`, `passnum settle`…).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActorView {
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    pub organization_id: Option<Uuid>,
    pub organization_name: Option<String>,
    pub label: Option<String>,
}

impl From<Listed> for AuditEntryView {
    fn from(listed: Listed) -> Self {
        let e = listed.entry;
        AuditEntryView {
            id: e.id,
            seq: e.seq,
            at: e.at,
            actor: AuditActorView {
                user_id: e.actor_user_id,
                email: listed.actor_email,
                organization_id: e.actor_organization_id,
                organization_name: listed.actor_organization_name,
                label: e.actor_label,
            },
            organization_id: e.organization_id,
            entity: e.entity_kind,
            entity_id: e.entity_id,
            action: e.action,
            before: e.before,
            after: e.after,
            reason: e.reason,
        }
    }
}

fn uuid_filter(field: &str, raw: Option<&str>) -> Result<Option<Uuid>, ValidationError> {
    raw.map(|r| {
        Uuid::parse_str(r.trim()).map_err(|_| {
            ValidationError::new(
                field,
                "Cet identifiant n’est pas valide (un UUID est attendu).",
            )
        })
    })
    .transpose()
}

/// A bound of the period: a French day (its start, or for `to` its end) or an instant.
fn time_filter(
    field: &str,
    raw: Option<&str>,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(None);
    };
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end_of_day {
            Some(day)
        } else {
            day.pred_opt()
        };
        return Ok(day.map(end_of_french_day));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            ValidationError::new(
                field,
                "Date illisible : écrivez-la AAAA-MM-JJ (par exemple 2026-12-03) ou en RFC 3339.",
            )
        })
}

impl AuditQuery {
    fn filter(&self) -> Result<(Filter, u32), ValidationError> {
        let limit = match self.limit {
            None => crate::api::pagination::DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                return Err(ValidationError::new(
                    "limit",
                    format!("« limit » va de 1 à {MAX_LIMIT}."),
                ));
            }
        };
        let before_seq = self
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    ValidationError::new(
                        "cursor",
                        "Le curseur de pagination n’est pas valide : reprenez la liste depuis le début.",
                    )
                })
            })
            .transpose()?;
        let from = time_filter("from", self.from.as_deref(), false)?;
        let to = time_filter("to", self.to.as_deref(), true)?;
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            return Err(ValidationError::new(
                "to",
                "La fin de la période doit suivre son début.",
            ));
        }
        Ok((
            Filter {
                entity_id: uuid_filter("entity_id", self.entity_id.as_deref())?,
                actor_id: uuid_filter("actor_id", self.actor_id.as_deref())?,
                from,
                to,
                organization_id: uuid_filter("organization_id", self.organization_id.as_deref())?,
                before_seq,
            },
            limit,
        ))
    }
}

/// The audit trail, newest first: the operator's users read every entry; an
/// organisation's admin reads its organisation's; anyone else gets 403.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = Page<AuditEntryView>),
        (status = 403, description = "`forbidden`: neither the operator nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a filter that does not read, naming it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit")]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> ApiResult<web::Json<Page<AuditEntryView>>> {
    let scope = match (caller.kind, caller.role) {
        (OrgKind::Operator, _) => None,
        (_, Role::Admin) => Some(caller.organization_id),
        _ => {
            return Err(ApiError::forbidden(
                "Le journal des modifications est réservé à l’opérateur et aux administrateurs de chaque organisation.",
            ));
        }
    };
    let (mut filter, limit) = query.filter()?;
    if let Some(own) = scope {
        if filter.organization_id.is_some_and(|asked| asked != own) {
            // Another organisation's entries: none for this reader.
            return Ok(web::Json(Page {
                items: Vec::new(),
                next_cursor: None,
            }));
        }
        filter.organization_id = Some(own);
    }
    let mut conn = state.conn().await?;
    let mut rows = audit::list(&mut conn, &filter, i64::from(limit) + 1).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.entry.seq.to_string())
    } else {
        None
    };
    Ok(web::Json(Page {
        items: rows.into_iter().map(AuditEntryView::from).collect(),
        next_cursor,
    }))
}
