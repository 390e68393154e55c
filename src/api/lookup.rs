//! `GET /lookup?q=` (operator): a checkbook or a ticket found by its number, its
//! serial or the end of its serial, with its history (see [`crate::lookup`]).

use actix_web::{get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::checkbooks::{Secrets, ticket_view};
use crate::api::outbox::OutboxMailView;
use crate::auth::Caller;
use crate::codes::CodeKeys;
use crate::domain::end_of_french_day;
use crate::error::{ApiResult, Problem};
use crate::lookup::{self, AuditLine, CheckbookHistory, Query, RedemptionLine};
use crate::money::Money;
use crate::statuses::{CheckbookStatus, RedemptionStatus, ShownTicketStatus};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupParams {
    /// A checkbook number (`CH-2026-000042`), a ticket's serial (`7K3M-9QX2-ZAT`,
    /// dashes optional) or its last 4 to 10 symbols (`2ZAT`).
    pub q: Option<String>,
}

/// How the query was read.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LookupKind {
    CheckbookNumber,
    Serial,
    SerialEnd,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LookupNamed {
    pub id: Uuid,
    pub name: String,
}

/// A redemption of the ticket: where, when, and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupRedemption {
    pub id: Uuid,
    pub site: LookupNamed,
    /// `redeemed`, `reversed` (undone by the site) or `settled` (paid in a settlement).
    pub status: RedemptionStatus,
    pub scanned_at: DateTime<Utc>,
    pub redeemed_at: DateTime<Utc>,
    pub reversed_at: Option<DateTime<Utc>>,
    pub amount_payable: String,
}

/// A ticket of the checkbook. No code nor full serial: those are the issuing
/// prescriber's.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupTicket {
    pub id: Uuid,
    #[schema(example = "2ZA4")]
    pub serial_hint: String,
    pub value: String,
    pub status: ShownTicketStatus,
    pub valid_until: NaiveDate,
    /// The query named this ticket (a serial or a serial's end).
    pub matched: bool,
    pub redemptions: Vec<LookupRedemption>,
}

/// A change recorded on the checkbook, one of its tickets or redemptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupAuditEntry {
    pub at: DateTime<Utc>,
    /// `<entity>.<verb>`, e.g. `checkbook.cancelled`.
    pub action: String,
    pub entity_kind: String,
    pub entity_id: Uuid,
    /// The user's e-mail, or the service's job that made the change.
    pub actor: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub reason: Option<String>,
}

/// A checkbook found, with its history. No beneficiary data: only whether and when
/// it was handed out.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupCheckbook {
    pub id: Uuid,
    pub number: String,
    pub program: LookupNamed,
    pub prescriber: LookupNamed,
    pub status: CheckbookStatus,
    pub issued_at: DateTime<Utc>,
    pub handed_out_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub valid_until: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub tickets: Vec<LookupTicket>,
    /// Its mails and their state, oldest first.
    pub mails: Vec<OutboxMailView>,
    /// Its audit entries, in order.
    pub audit: Vec<LookupAuditEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LookupAnswer {
    pub kind: LookupKind,
    /// Most recent first; empty when nothing matches.
    pub checkbooks: Vec<LookupCheckbook>,
    /// More checkbooks matched than the 20 shown: type more of the serial.
    pub more: bool,
}

fn redemption_view(r: RedemptionLine) -> LookupRedemption {
    LookupRedemption {
        id: r.id,
        site: LookupNamed {
            id: r.site_id,
            name: r.site_name,
        },
        status: r.status,
        scanned_at: r.scanned_at,
        redeemed_at: r.redeemed_at,
        reversed_at: r.reversed_at,
        amount_payable: Money::from_decimal_unchecked(r.amount_payable).to_string(),
    }
}

/// A full serial written in an entry (a reversal's `ticket`) shown as its hint: the
/// operator never reads a whole serial.
fn hide_serials(value: Option<Value>) -> Option<Value> {
    fn walk(v: Value) -> Value {
        match v {
            Value::String(text) => match crate::codes::Serial::parse(&text) {
                Ok(serial) if text.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 11 => {
                    Value::String(format!("…{}", serial.hint()))
                }
                _ => Value::String(text),
            },
            Value::Array(items) => Value::Array(items.into_iter().map(walk).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, walk(v))).collect())
            }
            other => other,
        }
    }
    value.map(walk)
}

fn audit_view(line: AuditLine) -> LookupAuditEntry {
    let e = line.entry;
    LookupAuditEntry {
        at: e.at,
        action: e.action,
        entity_kind: e.entity_kind,
        entity_id: e.entity_id,
        actor: line.actor_email.or(e.actor_label),
        before: hide_serials(e.before),
        after: hide_serials(e.after),
        reason: e.reason,
    }
}

fn checkbook_view(keys: &CodeKeys, found: CheckbookHistory) -> ApiResult<LookupCheckbook> {
    let c = found.checkbook;
    let mut tickets = Vec::with_capacity(found.tickets.len());
    for t in found.tickets {
        let shown = ticket_view(keys, &c, &t.ticket, Secrets::Hidden)?;
        tickets.push(LookupTicket {
            id: shown.id,
            serial_hint: shown.serial_hint,
            value: shown.value,
            status: shown.status,
            valid_until: shown.valid_until,
            matched: t.matched,
            redemptions: t.redemptions.into_iter().map(redemption_view).collect(),
        });
    }
    Ok(LookupCheckbook {
        id: c.id,
        number: c.number,
        program: LookupNamed {
            id: c.program_id,
            name: found.program_name,
        },
        prescriber: LookupNamed {
            id: c.prescriber_id,
            name: found.prescriber_name,
        },
        status: c.status,
        issued_at: c.issued_at,
        handed_out_at: c.handed_out_at,
        cancelled_at: c.cancelled_at,
        cancel_reason: c.cancel_reason,
        valid_until: c.valid_until,
        expires_at: end_of_french_day(c.valid_until),
        tickets,
        mails: found.mails.into_iter().map(OutboxMailView::from).collect(),
        audit: found.audit.into_iter().map(audit_view).collect(),
    })
}

/// Support's lookup (operator, read-only): `q` is a checkbook number, a serial (with
/// or without dashes) or a serial's last 4 to 10 symbols. Answers the checkbooks
/// found with their tickets, redemptions, mails and audit entries; an empty list when
/// nothing matches; 422 `validation_failed` (field `q`) for anything else, saying
/// what is accepted.
#[utoipa::path(
    tag = "lookup",
    security(("bearer" = [])),
    params(LookupParams),
    responses(
        (status = 200, body = LookupAnswer),
        (status = 403, description = "`forbidden`: operator only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a number, a serial or a serial's end", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/lookup")]
pub async fn search(
    caller: Caller,
    state: web::Data<AppState>,
    params: web::Query<LookupParams>,
) -> ApiResult<web::Json<LookupAnswer>> {
    caller.require_operator()?;
    let query = Query::parse(params.q.as_deref().unwrap_or_default())?;
    let kind = match query {
        Query::CheckbookNumber(_) => LookupKind::CheckbookNumber,
        Query::Serial(_) => LookupKind::Serial,
        Query::SerialEnd(_) => LookupKind::SerialEnd,
    };
    let mut conn = state.conn().await?;
    let found = lookup::lookup(&mut conn, query).await?;
    let checkbooks = found
        .checkbooks
        .into_iter()
        .map(|c| checkbook_view(&state.codes, c))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(web::Json(LookupAnswer {
        kind,
        checkbooks,
        more: found.more,
    }))
}
