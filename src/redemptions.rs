//! Redemption: a site's agent scans (or types) a ticket and its value becomes owed to
//! the site. A ticket is redeemed at most once: the ticket's row is locked for the
//! length of the transaction, and a partial unique index allows one live redemption
//! per ticket whatever happens (two servers, retries, a phone syncing late).
//!
//! Order of checks, all before anything is written: the code's signature (no
//! database), the site's label, the ticket (locked), its checkbook (handed out?), its
//! status, its validity on the day of the scan, the program's territory. A refusal
//! writes nothing but its idempotent answer.
//!
//! The day of a scan is the French calendar day of `scanned_at` (the phone's clock)
//! when given, else of its arrival. A phone's clock is trusted within a window
//! (`offline_scan_window_hours` before arrival, 5 minutes after): a scan made offline
//! before a ticket expired is honoured when it syncs later, within that window.
//!
//! Commission: value × program rate, rounded to the cent, halves away from zero;
//! the site is owed the rest, so value = commission + payable exactly.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::codes::{Serial, TicketClaim};
use crate::db::DbError;
use crate::domain::{OrgKind, french_date};
use crate::error::ApiError;
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::money::Money;
use crate::schema::{checkbooks, programs, redemptions, tickets};

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
    pub status: String,
    pub scanned_at: DateTime<Utc>,
    pub redeemed_at: DateTime<Utc>,
    pub reversed_at: Option<DateTime<Utc>>,
    pub ledger_transaction_id: Uuid,
    pub reversal_transaction_id: Option<Uuid>,
}

/// The refusal every bad code gets: never says whether a ticket exists.
pub fn invalid_code() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_code",
        "Ce code n'est pas celui d'un chèque Pass Numérique valide.",
    )
}

/// Only a site's users redeem.
pub fn require_site(caller: &Caller) -> Result<(), ApiError> {
    if caller.kind == OrgKind::Site {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Seuls les lieux labellisés encaissent des chèques.",
        ))
    }
}

/// The day a scan counts for, or a refusal of an untrustworthy phone clock.
pub fn scan_day(
    scanned_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<(DateTime<Utc>, NaiveDate), ApiError> {
    let at = scanned_at.unwrap_or(now);
    if at > now + Duration::minutes(5) {
        return Err(crate::domain::ValidationError::new(
            "scanned_at",
            "L'heure du scan est dans le futur : vérifiez l'horloge de l'appareil.",
        )
        .into());
    }
    if at < now - window {
        return Err(crate::domain::ValidationError::new(
            "scanned_at",
            format!(
                "Ce scan date de plus de {} heures : il ne peut plus être encaissé.",
                window.num_hours()
            ),
        )
        .into());
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
}

/// What the database decided for a scan, or answered before for its key: the
/// redemption or the refusal's code (and, for a ticket already used, when and
/// whether by the caller's site).
#[derive(Debug, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Redeemed {
        redemption: Box<Redemption>,
    },
    AlreadyRedeemed {
        redeemed_at: DateTime<Utc>,
        by_your_site: bool,
    },
    TicketExpired,
    TicketCancelled,
    NotHandedOut,
    InvalidCode,
    LabelInactive,
    OutsideTerritory,
    UnknownSite,
    IdempotencyKeyReused,
}

impl Outcome {
    /// The redemption, or the refusal as the error the API answers.
    pub fn into_result(self) -> Result<Redemption, ApiError> {
        use actix_web::http::StatusCode;
        match self {
            Outcome::Redeemed { redemption } => Ok(*redemption),
            Outcome::AlreadyRedeemed {
                redeemed_at,
                by_your_site,
            } => {
                let by = if by_your_site {
                    "votre lieu"
                } else {
                    "un autre lieu"
                };
                Err(ApiError::conflict(
                    "already_redeemed",
                    format!(
                        "Ce chèque a déjà été encaissé par {by} le {}.",
                        crate::french::date_time(redeemed_at, crate::french::TimeStyle::Spoken)
                    ),
                )
                .with_extension(
                    "redeemed_at",
                    redeemed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )
                .with_extension("by_your_site", by_your_site))
            }
            Outcome::TicketExpired => Err(expired()),
            Outcome::TicketCancelled => Err(ApiError::new(
                StatusCode::GONE,
                "ticket_cancelled",
                "Ce chèque a été annulé (chéquier perdu ou volé) : il ne peut pas être encaissé.",
            )),
            Outcome::NotHandedOut => Err(ApiError::conflict(
                "not_handed_out",
                "Ce chèque appartient à un chéquier qui n'a pas encore été remis à un bénéficiaire.",
            )),
            Outcome::InvalidCode => Err(invalid_code()),
            Outcome::LabelInactive => Err(label_inactive()),
            Outcome::OutsideTerritory => Err(ApiError::forbidden(
                "Ce chèque est réservé à un autre territoire que celui de votre lieu.",
            )
            .with_code("outside_territory")),
            Outcome::UnknownSite => Err(ApiError::not_found()),
            Outcome::IdempotencyKeyReused => Err(crate::idempotency::key_reused()),
        }
    }
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// The redemption use case, in the database (migration `redeem_function`).
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
    ) -> diesel::sql_types::Jsonb;
}

/// Judges a scan in one statement, which is its own transaction: the key's stored
/// outcome when it was answered before; else the redemption with its ledger
/// movement, or the refusal, stored with the key. Nothing is half-written: the
/// statement commits whole or not at all.
pub async fn redeem(conn: &mut AsyncPgConnection, scan: &Scan<'_>) -> Result<Outcome, ApiError> {
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
    // the database (migration 000013) and undone whole as well: the next call is a
    // new transaction, in the open period.
    let mut attempts = 0;
    let value: serde_json::Value = loop {
        attempts += 1;
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let result = diesel::select(redeem_ticket(
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
        ))
        .get_result(conn)
        .await
        .map_err(DbError::from);
        match result {
            Err(DbError::Serialization) if attempts < 3 => continue,
            Err(DbError::Check { constraint }) if constraint == IN_SETTLED_PERIOD => {
                if attempts < 3 {
                    continue;
                }
                return Err(in_settled_period());
            }
            other => break other?,
        }
    };
    serde_json::from_value(value).map_err(ApiError::internal)
}

/// The database's refusal of a redemption that would land in a settled period.
const IN_SETTLED_PERIOD: &str = "redemptions_outside_settled_periods";

/// A scan that kept landing in a settled period (the database's clock still inside
/// a period the service settled, or a settlement being recorded): nothing was
/// written, not even the key's answer, so the same request with the same
/// Idempotency-Key is judged afresh. A 503, so that phones keep the scan queued and
/// a batch stops there (its items already answered keep their stored answers).
pub fn in_settled_period() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "period_being_settled",
        "Ce scan tombe dans une période qui vient d'être réglée : rien n'a été enregistré. Renvoyez-le dans un instant (même clé d'idempotence) : il sera compté sur la période en cours.",
    )
    .with_retry_after(5)
}

/// A site whose label is suspended, expired or not yet valid neither redeems nor
/// verifies tickets.
pub fn label_inactive() -> ApiError {
    ApiError::forbidden(
        "Le label de votre lieu n'est pas actif (suspendu, échu ou pas encore valable) : vous ne pouvez pas encaisser de chèque.",
    )
    .with_code("label_inactive")
}

/// Refuses a site whose label is not active today (403 `label_inactive`); the
/// operator, who also verifies tickets, has no label to check.
pub async fn require_active_label(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
) -> Result<(), ApiError> {
    if caller.kind != OrgKind::Site {
        return Ok(());
    }
    let today = french_date(Utc::now());
    match crate::organizations::find_label(conn, caller.organization_id).await? {
        Some(label) if label.status_on(today) == crate::domain::LabelStatus::Active => Ok(()),
        _ => Err(label_inactive()),
    }
}

fn expired() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::GONE,
        "ticket_expired",
        "Ce chèque a dépassé sa date de validité : il ne peut plus être encaissé.",
    )
}

/// "23/11/2026 à 14 h 05" in Paris time.
pub fn french_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Paris)
        .format("%d/%m/%Y à %H h %M")
        .to_string()
}

/// Undoes a mistaken scan within the grace period, by the site that scanned.
pub async fn reverse(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    grace: Duration,
) -> Result<Redemption, ApiError> {
    require_site(caller)?;
    let found: Option<Redemption> = redemptions::table
        .find(id)
        .select(Redemption::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some(r) = found.filter(|r| r.site_id == caller.organization_id) else {
        return Err(ApiError::not_found());
    };
    match r.status.as_str() {
        "reversed" => return Ok(r),
        "settled" => {
            return Err(ApiError::conflict(
                "reversal_window_closed",
                "Cet encaissement a déjà été remboursé : il ne peut plus être annulé.",
            ));
        }
        _ => {}
    }
    // Settlements take this lock's opposite: a reversal and a settlement of the same
    // instant never both go through.
    diesel::sql_query("LOCK TABLE settlements IN SHARE MODE")
        .execute(conn)
        .await?;
    if crate::settlement::is_settled(conn, r.redeemed_at).await? {
        return Err(ApiError::conflict(
            "reversal_window_closed",
            "Cet encaissement a déjà été réglé : il ne peut plus être annulé.",
        ));
    }
    let now = Utc::now();
    if now > r.redeemed_at + grace {
        return Err(ApiError::conflict(
            "reversal_window_closed",
            format!(
                "Un encaissement ne peut être annulé que dans les {} minutes qui le suivent.",
                grace.num_minutes()
            ),
        ));
    }
    // The checkbook's lock first, then the ticket's: the order cancellation takes them.
    let (serial, checkbook_id): (String, Uuid) = tickets::table
        .filter(tickets::id.eq(r.ticket_id))
        .select((tickets::serial, tickets::checkbook_id))
        .first(conn)
        .await?;
    let checkbook_status: String = checkbooks::table
        .find(checkbook_id)
        .select(checkbooks::status)
        .for_update()
        .first(conn)
        .await?;
    // A ticket of a checkbook cancelled since the scan does not come back to life:
    // it becomes cancelled and its value returns to the available budget.
    let cancelled = checkbook_status == "cancelled";
    let back_to = if cancelled {
        AccountKind::Available
    } else {
        AccountKind::Outstanding
    };
    let reversal = ledger::post_reversing(
        conn,
        TransactionKind::Reversal,
        &format!("Annulation de l'encaissement du chèque {serial}"),
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
            redemptions::status.eq("reversed"),
            redemptions::reversed_at.eq(now),
            redemptions::reversal_transaction_id.eq(reversal),
        ))
        .returning(Redemption::as_returning())
        .get_result(conn)
        .await?;
    let ticket_status = if cancelled { "cancelled" } else { "issued" };
    diesel::update(tickets::table.find(r.ticket_id))
        .set((
            tickets::status.eq(ticket_status),
            tickets::updated_at.eq(now),
        ))
        .execute(conn)
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
) -> Result<Vec<(Redemption, String)>, ApiError> {
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
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, ApiError> {
    use crate::schema::settlements;
    Ok(settlements::table
        .select((settlements::starts_at, settlements::ends_at))
        .load(conn)
        .await?)
}

/// A ticket's serial, by id.
pub async fn serial_of(conn: &mut AsyncPgConnection, ticket: Uuid) -> Result<String, ApiError> {
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
    pub status: String,
    pub value: Decimal,
    pub valid_until: NaiveDate,
    pub redeemable_until: NaiveDate,
    pub program_id: Uuid,
    pub program_name: String,
}

/// What `POST /tickets/verify` answers: a site's label is checked first, as for a
/// redemption, then the ticket's state is read.
pub async fn verify(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    ticket: &TicketRef,
) -> Result<TicketState, ApiError> {
    require_active_label(conn, caller).await?;
    state_of(conn, ticket).await
}

pub async fn state_of(
    conn: &mut AsyncPgConnection,
    ticket: &TicketRef,
) -> Result<TicketState, ApiError> {
    type Row = (
        String,
        Decimal,
        String,
        NaiveDate,
        String,
        Uuid,
        String,
        i32,
    );
    let found: Option<Row> = tickets::table
        .inner_join(checkbooks::table)
        .inner_join(programs::table)
        .filter(tickets::serial.eq(ticket.serial().as_str()))
        .select((
            tickets::serial,
            tickets::value,
            tickets::status,
            tickets::valid_until,
            checkbooks::status,
            programs::id,
            programs::name,
            programs::tolerance_days,
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((serial, value, status, valid_until, book, program_id, program_name, tolerance)) =
        found
    else {
        return Err(invalid_code());
    };
    if let TicketRef::Code(claim) = ticket
        && Money::from_decimal_unchecked(value).cents() != claim.value_cents
    {
        return Err(invalid_code());
    }
    let redeemable_until = valid_until
        .checked_add_days(chrono::Days::new(u64::try_from(tolerance).unwrap_or(0)))
        .unwrap_or(valid_until);
    let settled_now = if status == "redeemed" {
        let at: Option<DateTime<Utc>> = redemptions::table
            .inner_join(tickets::table.on(tickets::id.eq(redemptions::ticket_id)))
            .filter(tickets::serial.eq(&serial))
            .filter(redemptions::status.ne("reversed"))
            .select(redemptions::redeemed_at)
            .first(conn)
            .await
            .optional()?;
        match at {
            Some(at) => crate::settlement::is_settled(conn, at).await?,
            None => false,
        }
    } else {
        false
    };
    let status = if settled_now {
        "settled".to_string()
    } else if status == "issued" && book == "stock" {
        "stock".to_string()
    } else if status == "issued" && french_date(Utc::now()) > redeemable_until {
        "expired".to_string()
    } else {
        status
    };
    Ok(TicketState {
        serial,
        status,
        value,
        valid_until,
        redeemable_until,
        program_id,
        program_name,
    })
}

/// The JSON of a redemption, as the API and the stored idempotent answers carry it.
/// `settled`: whether a settlement covers it (a live redemption then reads `settled`).
pub fn to_json(r: &Redemption, serial: &str, settled: bool) -> serde_json::Value {
    let status = if settled && r.status == "redeemed" {
        "settled"
    } else {
        r.status.as_str()
    };
    json!({
        "id": r.id,
        "ticket": {
            "serial": Serial::parse(serial).map(|s| s.display()).unwrap_or_else(|_| serial.to_string()),
            "value": Money::from_decimal_unchecked(r.value).to_string(),
        },
        "site_id": r.site_id,
        "amount_payable": Money::from_decimal_unchecked(r.amount_payable).to_string(),
        "commission": Money::from_decimal_unchecked(r.commission).to_string(),
        "method": r.method,
        "status": status,
        "scanned_at": r.scanned_at,
        "redeemed_at": r.redeemed_at,
        "reversed_at": r.reversed_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_clocks_are_trusted_within_the_window() {
        let now = Utc::now();
        let window = Duration::hours(72);
        assert!(scan_day(None, now, window).is_ok());
        assert!(scan_day(Some(now - Duration::hours(71)), now, window).is_ok());
        assert_eq!(
            scan_day(Some(now - Duration::hours(73)), now, window)
                .unwrap_err()
                .code(),
            "validation_failed"
        );
        assert!(scan_day(Some(now + Duration::minutes(4)), now, window).is_ok());
        assert!(scan_day(Some(now + Duration::minutes(6)), now, window).is_err());
    }
}
