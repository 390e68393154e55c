//! Redemption: a site's agent scans (or types) a ticket and its value becomes owed to
//! the site. A ticket is redeemed at most once: the ticket's row is locked for the
//! length of the transaction, and a partial unique index allows one live redemption
//! per ticket whatever happens (two servers, retries, a phone syncing late).
//!
//! Before the database: the code's signature or the serial's check character (the
//! API edge). Then one home decides whether a ticket is redeemable: the SQL function
//! `ticket_verdict` (sql/functions/redemption.sql) — the site's label, the ticket,
//! its checkbook (handed out? cancelled?), its status, its last usable day, the
//! program's territory. `redeem_ticket` asks it before claiming the ticket, and
//! [`verify`] asks it too, so the two cannot disagree; its answer is parsed into
//! [`Refusal`]. A refusal writes nothing but its idempotent answer.
//!
//! The day of a scan is the French calendar day of `scanned_at` (the phone's clock)
//! when given, else of its arrival. A phone's clock is trusted within a window
//! (`offline_scan_window_hours` before arrival, 5 minutes after): a scan made offline
//! before a ticket expired is honoured when it syncs later, within that window.
//!
//! Commission (in `redeem_ticket`): value × program rate, rounded to the cent,
//! halves away from zero; the site is owed the rest, so value = commission + payable
//! exactly.
//!
//! A verdict on a ticket is an answer ([`Outcome`], [`Verified`]), not an error;
//! what stops a use case is a [`RedemptionError`]. The HTTP edge words both
//! (`api/redemptions.rs`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Actor, Change, Entity};
use crate::auth::Caller;
use crate::codes::{Serial, TicketClaim};
use crate::db::DbError;
use crate::domain::{OrgKind, ValidationError, french_date};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::money::Money;
use crate::schema::{checkbooks, redemptions, tickets};
use crate::statuses::{CheckbookStatus, RedemptionStatus, ShownTicketStatus, TicketStatus};

/// How a ticket was designated: its scanned code (already verified) or its typed
/// serial (check character already verified).
#[derive(Debug, Clone)]
pub enum TicketRef {
    Code(TicketClaim),
    Serial(Serial),
}

impl TicketRef {
    fn serial(&self) -> &Serial {
        match self {
            TicketRef::Code(claim) => &claim.serial,
            TicketRef::Serial(serial) => serial,
        }
    }

    fn method(&self) -> &'static str {
        match self {
            TicketRef::Code(_) => "code",
            TicketRef::Serial(_) => "serial",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Deserialize)]
#[diesel(table_name = redemptions)]
pub struct Redemption {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub program_id: Uuid,
    pub site_id: Uuid,
    pub redeemed_by: Uuid,
    pub method: String,
    pub value: Decimal,
    pub commission: Decimal,
    pub amount_payable: Decimal,
    pub status: RedemptionStatus,
    pub scanned_at: DateTime<Utc>,
    pub redeemed_at: DateTime<Utc>,
    pub reversed_at: Option<DateTime<Utc>>,
    pub ledger_transaction_id: Uuid,
    pub reversal_transaction_id: Option<Uuid>,
    /// The service the ticket paid for, when the scan named one (migration 000026;
    /// answers stored before it have none).
    #[serde(default)]
    pub service_id: Option<Uuid>,
    /// The collective session the scan belonged to.
    #[serde(default)]
    pub session_id: Option<Uuid>,
}

/// Why a redemption, its reversal or a verification did not go through (a
/// refusal of the ticket itself is an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum RedemptionError {
    /// The caller's organisation is not a site: only sites redeem and verify.
    #[error("only sites redeem tickets")]
    NotASite,
    /// The scan kept landing in a period settled meanwhile; nothing was written,
    /// not even the key's answer (see [`redeem`]).
    #[error("the scan falls in a period being settled")]
    InSettledPeriod,
    /// No such redemption, or another site's.
    #[error("redemption not found")]
    NotFound,
    /// The redemption can no longer be reversed.
    #[error("the redemption can no longer be reversed: {0:?}")]
    ReversalClosed(ReversalClosed),
    /// The database's verdict could not be read: a bug of ours.
    #[error("unreadable verdict: {0}")]
    UnreadableVerdict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RedemptionError {
    fn from(err: diesel::result::Error) -> Self {
        RedemptionError::Db(err.into())
    }
}

/// Why a reversal comes too late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalClosed {
    /// The site has been paid for it.
    PaidOut,
    /// A settlement covers it.
    Settled,
    /// The grace period (`grace_minutes` after the redemption) is over.
    GraceOver { grace_minutes: i64 },
}

/// Only a site's users redeem.
pub fn require_site(caller: &Caller) -> Result<(), RedemptionError> {
    if caller.kind == OrgKind::Site {
        Ok(())
    } else {
        Err(RedemptionError::NotASite)
    }
}

/// The day a scan counts for, or a refusal of an untrustworthy phone clock.
pub fn scan_day(
    scanned_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<(DateTime<Utc>, NaiveDate), ValidationError> {
    let at = scanned_at.unwrap_or(now);
    if at > now + Duration::minutes(5) {
        return Err(ValidationError::new(
            "scanned_at",
            "L’heure du scan est dans le futur : vérifiez l’horloge de l’appareil.",
        ));
    }
    if at < now - window {
        return Err(ValidationError::new(
            "scanned_at",
            format!(
                "Ce scan date de plus de {} heures : il ne peut plus être encaissé.",
                window.num_hours()
            ),
        ));
    }
    Ok((at, french_date(at)))
}

/// One scan to judge: who scans, which ticket, when, under which idempotency key.
#[derive(Debug)]
pub struct Scan<'a> {
    pub caller: &'a Caller,
    pub ticket: &'a TicketRef,
    pub key: &'a str,
    /// The fingerprint of what the request designated (see `idempotency::fingerprint`).
    pub request_hash: &'a str,
    pub scanned_at: DateTime<Utc>,
    /// The French day the scan counts for (see `scan_day`).
    pub day: NaiveDate,
    /// The service the ticket paid for: one of the site's live services (else
    /// [`Outcome::UnknownService`]).
    pub service: Option<Uuid>,
    /// The collective session, opened beforehand for `service` (`services::open_session`).
    pub session: Option<Uuid>,
}

/// Why a ticket cannot be redeemed: the codes of the SQL verdict (`ticket_verdict`),
/// which the API answers as they are (`code` of the problem, `outcome` of a batch
/// item, `refusal` of `verify`) and which the web app words in French
/// (`web/app/refusals.js`, checked against this enum by a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Used already (by this site or another).
    AlreadyRedeemed,
    /// Its checkbook is printed stock, not handed out to a beneficiary yet.
    NotHandedOut,
    /// Past its last usable day (validity and tolerance), or expired.
    TicketExpired,
    /// Cancelled (its checkbook lost or stolen).
    TicketCancelled,
    /// Not a ticket: unknown serial, or a code whose value is not the ticket's.
    InvalidCode,
    /// The site's label is suspended, expired or not yet valid.
    LabelInactive,
    /// The ticket's program does not cover the site's postcode.
    OutsideTerritory,
}

impl Refusal {
    pub const ALL: [Refusal; 7] = [
        Refusal::AlreadyRedeemed,
        Refusal::NotHandedOut,
        Refusal::TicketExpired,
        Refusal::TicketCancelled,
        Refusal::InvalidCode,
        Refusal::LabelInactive,
        Refusal::OutsideTerritory,
    ];

    /// The stable code, as the API writes it.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::AlreadyRedeemed => "already_redeemed",
            Refusal::NotHandedOut => "not_handed_out",
            Refusal::TicketExpired => "ticket_expired",
            Refusal::TicketCancelled => "ticket_cancelled",
            Refusal::InvalidCode => "invalid_code",
            Refusal::LabelInactive => "label_inactive",
            Refusal::OutsideTerritory => "outside_territory",
        }
    }
}

/// The verdict's text: a refusal, or a site that is not one (the caller's
/// organisation is a site: only a deleted one would get this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum VerdictCode {
    Refused(Refusal),
    Other(OtherCode),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OtherCode {
    Redeemed,
    UnknownSite,
    IdempotencyKeyReused,
    UnknownService,
}

/// When and where a ticket already used was redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prior {
    pub redeemed_at: DateTime<Utc>,
    pub by_your_site: bool,
}

/// What the database decided for a scan, or answered before for its key.
#[derive(Debug)]
pub enum Outcome {
    Redeemed(Box<Redemption>),
    /// A refusal; `prior` is set for `already_redeemed`.
    Refused {
        refusal: Refusal,
        prior: Option<Prior>,
    },
    UnknownSite,
    IdempotencyKeyReused,
    /// The scan named a service that is not one of the site's live services; nothing
    /// was written, not even the key's answer.
    UnknownService,
}

/// The JSON `redeem_ticket` returns (and stores with the key).
#[derive(Debug, Deserialize)]
struct StoredOutcome {
    outcome: VerdictCode,
    redemption: Option<Box<Redemption>>,
    redeemed_at: Option<DateTime<Utc>>,
    by_your_site: Option<bool>,
}

impl TryFrom<StoredOutcome> for Outcome {
    type Error = RedemptionError;

    fn try_from(stored: StoredOutcome) -> Result<Self, RedemptionError> {
        Ok(match stored.outcome {
            VerdictCode::Other(OtherCode::Redeemed) => match stored.redemption {
                Some(r) => Outcome::Redeemed(r),
                None => {
                    return Err(RedemptionError::UnreadableVerdict(
                        "a redeemed outcome without its redemption".into(),
                    ));
                }
            },
            VerdictCode::Other(OtherCode::UnknownSite) => Outcome::UnknownSite,
            VerdictCode::Other(OtherCode::IdempotencyKeyReused) => Outcome::IdempotencyKeyReused,
            VerdictCode::Other(OtherCode::UnknownService) => Outcome::UnknownService,
            VerdictCode::Refused(refusal) => Outcome::Refused {
                refusal,
                prior: stored.redeemed_at.map(|redeemed_at| Prior {
                    redeemed_at,
                    by_your_site: stored.by_your_site.unwrap_or(false),
                }),
            },
        })
    }
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// The redemption use case, in the database (sql/functions/redemption.sql).
    #[allow(clippy::too_many_arguments)]
    fn redeem_ticket(
        user: diesel::sql_types::Uuid,
        site: diesel::sql_types::Uuid,
        key: diesel::sql_types::Text,
        request_hash: diesel::sql_types::Text,
        serial: diesel::sql_types::Text,
        claimed_value: diesel::sql_types::Nullable<diesel::sql_types::Numeric>,
        method: diesel::sql_types::Text,
        scanned_at: diesel::sql_types::Timestamptz,
        scan_day: diesel::sql_types::Date,
        today: diesel::sql_types::Date,
        description: diesel::sql_types::Text,
        account_names: diesel::sql_types::Array<diesel::sql_types::Text>,
        ids: diesel::sql_types::Array<diesel::sql_types::Uuid>,
        service: diesel::sql_types::Nullable<diesel::sql_types::Uuid>,
        session: diesel::sql_types::Nullable<diesel::sql_types::Uuid>,
    ) -> diesel::sql_types::Jsonb;
}

/// Judges a scan in one statement, in a transaction of its own: the key's stored
/// outcome when it was answered before; else the redemption with its ledger
/// movement, or the refusal, stored with the key. Nothing is half-written: the
/// statement commits whole or not at all.
///
/// The answer waits until the statement's commit has returned, durable on the
/// synchronous standby too. A lone statement's row is sent *before* its implicit
/// commit, and `get_result` returns as soon as the row arrives: a primary stopped
/// while the commit waited for its standby flushes the row as it dies, the scan would
/// be answered 201, and a promoted standby would not have it (`tests/failover.rs`
/// caught it). So the answer is read to its end, the server's "ready for query", sent
/// after the commit: a server that died in between never sends it and the scan ends
/// in an error, and an error raised by the commit itself (a deferred check) is
/// returned. This costs no message and no round trip, the end comes with the row (an
/// empty query after the statement cost a round trip, `BEGIN`/`COMMIT` two, and a
/// `CALL` of a procedure that commits more server time: docs/BENCHMARKS.md,
/// redemption).
pub async fn redeem(
    conn: &mut AsyncPgConnection,
    scan: &Scan<'_>,
) -> Result<Outcome, RedemptionError> {
    require_site(scan.caller)?;
    let site = scan.caller.organization_id;
    let claimed_value = match scan.ticket {
        TicketRef::Code(claim) => Some(Money::from_cents(claim.value_cents).decimal()),
        TicketRef::Serial(_) => None,
    };
    // The three accounts a redemption moves; their codes are the ledger's (the
    // function builds them the same way, a test holds the two together).
    let names: Vec<String> = [
        AccountKind::Outstanding,
        AccountKind::SitePayable,
        AccountKind::Commission,
    ]
    .into_iter()
    .map(|kind| AccountRef::of(kind, Uuid::nil(), site).name())
    .collect();
    let serial = scan.ticket.serial().as_str();
    // A request whose key another request holds at the same moment is undone whole
    // by the function (serialization failure) once that other request commits; the
    // second call then finds the other request's stored answer. A redemption whose
    // transaction began in a period that a settlement closed meanwhile is refused by
    // the database (`redemptions_outside_settled_periods` in
    // sql/functions/redemption.sql) and undone whole as well: the next call is a new
    // transaction, in the open period.
    let mut attempts = 0;
    let value: serde_json::Value = loop {
        attempts += 1;
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let statement = diesel::select(redeem_ticket(
            scan.caller.user_id,
            site,
            scan.key,
            scan.request_hash,
            serial,
            claimed_value,
            scan.ticket.method(),
            scan.scanned_at,
            scan.day,
            french_date(Utc::now()),
            format!("Encaissement du chèque {serial}"),
            &names,
            ids,
            scan.service,
            scan.session,
        ));
        // Every row, to the end of the answer: the commit has returned (see above).
        let result: Result<serde_json::Value, DbError> = statement
            .get_results(conn)
            .await
            .map_err(DbError::from)
            .and_then(|rows: Vec<_>| rows.into_iter().next().ok_or(DbError::NotFound));
        match result {
            Err(DbError::Serialization) if attempts < 3 => continue,
            Err(DbError::Check { constraint }) if constraint == IN_SETTLED_PERIOD => {
                if attempts < 3 {
                    continue;
                }
                return Err(RedemptionError::InSettledPeriod);
            }
            other => break other?,
        }
    };
    let stored: StoredOutcome = serde_json::from_value(value)
        .map_err(|e| RedemptionError::UnreadableVerdict(e.to_string()))?;
    Outcome::try_from(stored)
}

/// The database's refusal of a redemption that would land in a settled period.
const IN_SETTLED_PERIOD: &str = "redemptions_outside_settled_periods";

/// Undoes a mistaken scan within the grace period, by the site that scanned.
pub async fn reverse(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    grace: Duration,
) -> Result<Redemption, RedemptionError> {
    require_site(caller)?;
    let found: Option<Redemption> = redemptions::table
        .find(id)
        .select(Redemption::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some(r) = found.filter(|r| r.site_id == caller.organization_id) else {
        return Err(RedemptionError::NotFound);
    };
    match r.status {
        RedemptionStatus::Reversed => return Ok(r),
        RedemptionStatus::Settled => {
            return Err(RedemptionError::ReversalClosed(ReversalClosed::PaidOut));
        }
        RedemptionStatus::Redeemed => {}
    }
    // Settlements take this lock's opposite: a reversal and a settlement of the same
    // instant never both go through.
    diesel::sql_query("LOCK TABLE settlements IN SHARE MODE")
        .execute(conn)
        .await?;
    if crate::settlement::is_settled(conn, r.redeemed_at).await? {
        return Err(RedemptionError::ReversalClosed(ReversalClosed::Settled));
    }
    let now = Utc::now();
    if now > r.redeemed_at + grace {
        return Err(RedemptionError::ReversalClosed(ReversalClosed::GraceOver {
            grace_minutes: grace.num_minutes(),
        }));
    }
    // The checkbook's lock first, then the ticket's: the order cancellation takes them.
    let (serial, checkbook_id): (String, Uuid) = tickets::table
        .filter(tickets::id.eq(r.ticket_id))
        .select((tickets::serial, tickets::checkbook_id))
        .first(conn)
        .await?;
    let checkbook_status: CheckbookStatus = checkbooks::table
        .find(checkbook_id)
        .select(checkbooks::status)
        .for_update()
        .first(conn)
        .await?;
    // A ticket of a checkbook cancelled since the scan does not come back to life:
    // it becomes cancelled and its value returns to the available budget.
    let cancelled = checkbook_status == CheckbookStatus::Cancelled;
    let back_to = if cancelled {
        AccountKind::Available
    } else {
        AccountKind::Outstanding
    };
    let reversal = ledger::post_reversing(
        conn,
        TransactionKind::Reversal,
        &format!("Annulation de l’encaissement du chèque {serial}"),
        r.program_id,
        &[
            (AccountRef::program(back_to, r.program_id), r.value),
            (
                AccountRef::of(AccountKind::SitePayable, r.program_id, r.site_id),
                -r.amount_payable,
            ),
            (
                AccountRef::program(AccountKind::Commission, r.program_id),
                -r.commission,
            ),
        ],
        Some(r.ledger_transaction_id),
    )
    .await?;
    let reversed: Redemption = diesel::update(redemptions::table.find(id))
        .set((
            redemptions::status.eq(RedemptionStatus::Reversed),
            redemptions::reversed_at.eq(now),
            redemptions::reversal_transaction_id.eq(reversal),
        ))
        .returning(Redemption::as_returning())
        .get_result(conn)
        .await?;
    let ticket_status = if cancelled {
        TicketStatus::Cancelled
    } else {
        TicketStatus::Issued
    };
    diesel::update(tickets::table.find(r.ticket_id))
        .set((
            tickets::status.eq(ticket_status),
            tickets::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    audit::record(
        conn,
        Change {
            actor: Actor::from(caller),
            organization_id: Some(r.site_id),
            entity: Entity::Redemption,
            entity_id: r.id,
            action: "redemption.reversed",
            before: Some(json!({"status": RedemptionStatus::Redeemed, "ticket": crate::codes::serial_hint(&serial)})),
            after: Some(
                json!({"status": RedemptionStatus::Reversed, "ticket_status": ticket_status}),
            ),
            reason: None,
        },
    )
    .await?;
    Ok(reversed)
}

/// The site's redemptions between two instants, oldest first, after `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    site: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<(Redemption, String)>, DbError> {
    // A redemption carries its ticket's serial (migration 000006): no join.
    let mut query = redemptions::table
        .filter(redemptions::site_id.eq(site))
        .select((Redemption::as_select(), redemptions::serial))
        .order(redemptions::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(from) = from {
        query = query.filter(redemptions::redeemed_at.ge(from));
    }
    if let Some(to) = to {
        query = query.filter(redemptions::redeemed_at.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(redemptions::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

/// The periods already settled, as instants [from, to).
pub async fn settled_ranges(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, DbError> {
    use crate::schema::settlements;
    Ok(settlements::table
        .select((settlements::starts_at, settlements::ends_at))
        .load(conn)
        .await?)
}

/// A ticket's serial, by id.
pub async fn serial_of(conn: &mut AsyncPgConnection, ticket: Uuid) -> Result<String, DbError> {
    Ok(tickets::table
        .find(ticket)
        .select(tickets::serial)
        .first(conn)
        .await?)
}

/// What `verify` tells of a ticket, without changing anything.
#[derive(Debug)]
pub struct TicketState {
    pub serial: String,
    /// `stock`, `issued`, `redeemed`, `settled`, `cancelled` or `expired`.
    pub status: ShownTicketStatus,
    pub value: Decimal,
    pub valid_until: NaiveDate,
    pub redeemable_until: NaiveDate,
    pub program_id: Uuid,
    pub program_name: String,
    /// What a redemption by the caller's site would answer now (`None`: accepted).
    pub refusal: Option<Refusal>,
}

/// What `verify` found: the ticket, or a refusal that tells nothing of a ticket
/// (the site's label, a code that is not a ticket's), answered as an error.
#[derive(Debug)]
pub enum Verified {
    Ticket(Box<TicketState>),
    Refused(Refusal),
    UnknownSite,
}

/// A row of `ticket_verdict`.
#[derive(Debug, QueryableByName)]
struct VerdictRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    refusal: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    ticket_status: Option<TicketStatus>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    value: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    valid_until: Option<NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    redeemable_until: Option<NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    program_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    program_name: Option<String>,
}

/// What `POST /tickets/verify` answers: the verdict a redemption by the caller's
/// site would get now for a scan counting for `day` (`ticket_verdict`, the one home
/// of the rules), and the ticket's state. Reads only.
pub async fn verify(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    ticket: &TicketRef,
    day: NaiveDate,
) -> Result<Verified, RedemptionError> {
    require_site(caller)?;
    let today = french_date(Utc::now());
    let claimed_value = match ticket {
        TicketRef::Code(claim) => Some(Money::from_cents(claim.value_cents).decimal()),
        TicketRef::Serial(_) => None,
    };
    let row: VerdictRow = diesel::sql_query(
        "SELECT refusal, ticket_status, value, valid_until, redeemable_until, program_id, \
                program_name FROM ticket_verdict($1, $2, $3, $4, $5)",
    )
    .bind::<diesel::sql_types::Text, _>(ticket.serial().as_str())
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Numeric>, _>(claimed_value)
    .bind::<diesel::sql_types::Uuid, _>(caller.organization_id)
    .bind::<diesel::sql_types::Date, _>(day)
    .bind::<diesel::sql_types::Date, _>(today)
    .get_result(conn)
    .await?;
    let refusal = match row.refusal.as_deref() {
        None => None,
        Some(code) => match serde_json::from_value::<VerdictCode>(serde_json::Value::from(code))
            .map_err(|e| RedemptionError::UnreadableVerdict(e.to_string()))?
        {
            VerdictCode::Refused(Refusal::LabelInactive) => {
                return Ok(Verified::Refused(Refusal::LabelInactive));
            }
            VerdictCode::Refused(Refusal::InvalidCode) => {
                return Ok(Verified::Refused(Refusal::InvalidCode));
            }
            VerdictCode::Refused(refusal) => Some(refusal),
            VerdictCode::Other(_) => return Ok(Verified::UnknownSite),
        },
    };
    let (
        Some(status),
        Some(value),
        Some(valid_until),
        Some(redeemable_until),
        Some(program_id),
        Some(program_name),
    ) = (
        row.ticket_status,
        row.value,
        row.valid_until,
        row.redeemable_until,
        row.program_id,
        row.program_name,
    )
    else {
        return Err(RedemptionError::UnreadableVerdict(
            "a verdict on a ticket without the ticket".into(),
        ));
    };
    // The status shown: the ticket's, except what the verdict tells beyond it (a
    // ticket of a stock checkbook, an issued ticket past its last day) and a
    // redemption that a settlement covers.
    let status = match (refusal, status) {
        (Some(Refusal::NotHandedOut), _) => ShownTicketStatus::Stock,
        (Some(Refusal::TicketExpired), TicketStatus::Issued) => ShownTicketStatus::Expired,
        (_, TicketStatus::Redeemed)
            if redeemed_in_settled_period(conn, ticket.serial()).await? =>
        {
            ShownTicketStatus::Settled
        }
        _ => ShownTicketStatus::from(status),
    };
    Ok(Verified::Ticket(Box::new(TicketState {
        serial: ticket.serial().as_str().to_string(),
        status,
        value,
        valid_until,
        redeemable_until,
        program_id,
        program_name,
        refusal,
    })))
}

/// Whether the live redemption of this ticket falls in a settled period.
async fn redeemed_in_settled_period(
    conn: &mut AsyncPgConnection,
    serial: &Serial,
) -> Result<bool, DbError> {
    let at: Option<DateTime<Utc>> = redemptions::table
        .inner_join(tickets::table.on(tickets::id.eq(redemptions::ticket_id)))
        .filter(tickets::serial.eq(serial.as_str()))
        .filter(redemptions::status.ne(RedemptionStatus::Reversed))
        .select(redemptions::redeemed_at)
        .first(conn)
        .await
        .optional()?;
    Ok(match at {
        Some(at) => crate::settlement::is_settled(conn, at).await?,
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the SQL verdict can give parses into `Refusal` (or is the one
    /// other verdict, `unknown_site`), and every `Refusal` is one the verdict gives.
    #[test]
    fn the_sql_verdict_speaks_the_refusal_enum() {
        let sql = include_str!("../sql/functions/redemption.sql");
        let verdict = sql
            .split("CREATE OR REPLACE FUNCTION ticket_verdict(")
            .nth(1)
            .and_then(|rest| rest.split("$$;").next())
            .expect("ticket_verdict in sql/functions/redemption.sql");
        let mut given = std::collections::BTreeSet::new();
        for piece in verdict.split("THEN '").skip(1) {
            let code = piece.split('\'').next().expect("a quoted code");
            let parsed: VerdictCode = serde_json::from_value(serde_json::Value::from(code))
                .unwrap_or_else(|e| panic!("the verdict's {code} is not a Refusal: {e}"));
            match parsed {
                VerdictCode::Refused(refusal) => {
                    given.insert(refusal.code());
                }
                VerdictCode::Other(OtherCode::UnknownSite) => {}
                VerdictCode::Other(other) => panic!("the verdict gives {other:?}"),
            }
        }
        let all: std::collections::BTreeSet<&str> = Refusal::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(given, all);
    }

    #[test]
    fn phone_clocks_are_trusted_within_the_window() {
        let now = Utc::now();
        let window = Duration::hours(72);
        assert!(scan_day(None, now, window).is_ok());
        assert!(scan_day(Some(now - Duration::hours(71)), now, window).is_ok());
        assert_eq!(
            scan_day(Some(now - Duration::hours(73)), now, window)
                .unwrap_err()
                .field,
            "scanned_at"
        );
        assert!(scan_day(Some(now + Duration::minutes(4)), now, window).is_ok());
        assert!(scan_day(Some(now + Duration::minutes(6)), now, window).is_err());
    }
}
