//! Verification and redemption of tickets (site agents), one at a time or as the
//! batch a phone sends when its connection returns.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::pagination::{Page, PageQuery, split_page};
use crate::auth::Caller;
use crate::codes::Serial;
use crate::domain::{ValidationError, end_of_french_day};
use crate::error::{ApiError, ApiResult, Problem};
use crate::idempotency;
use crate::money::Money;
use crate::redemptions::{
    self, Outcome, Prior, Redemption, RedemptionError, Refusal, ReversalClosed, Scan, TicketRef,
    Verified,
};
use crate::statuses::{RedemptionStatus, ShownTicketStatus};

/// A ticket as a request designates it: scanned code or typed serial, one of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketDesignation {
    /// The string read from the QR code.
    pub code: Option<String>,
    /// The serial typed by hand, e.g. `7K3M-9QX2-ZAT` (case, spaces and dashes ignored).
    pub serial: Option<String>,
    /// The moment of a scan made earlier (offline), judged as a redemption judges
    /// it; now when absent.
    pub scanned_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub code: Option<String>,
    pub serial: Option<String>,
    /// When the phone scanned it, if not now (offline scans).
    pub scanned_at: Option<DateTime<Utc>>,
    /// What the ticket paid for: one of the site's live services
    /// (`GET /sites/{id}/services`); else 422 `unknown_service`.
    pub service_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    pub idempotency_key: String,
    pub code: Option<String>,
    pub serial: Option<String>,
    pub scanned_at: Option<DateTime<Utc>>,
    /// What the ticket paid for, as in a single redemption (in a collective session:
    /// the session's service, or left out).
    pub service_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// At most 200 scans, answered in the same order.
    pub items: Vec<BatchItem>,
}

pub const MAX_BATCH: usize = 200;

/// A ticket as a redemption shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedeemedTicket {
    /// The full serial, e.g. `7K3M-9QX2-ZAT`: the site holds the ticket.
    pub serial: String,
    /// Face value, e.g. `"10.00"`.
    pub value: String,
}

/// A redemption, as the API answers it (and as its stored idempotent answer is
/// rendered again).
#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: Uuid,
    pub ticket: RedeemedTicket,
    pub site_id: Uuid,
    /// What the site is owed: value − commission.
    pub amount_payable: String,
    pub commission: String,
    /// `code` (scanned) or `serial` (typed).
    pub method: String,
    /// `redeemed`, `reversed` or `settled`.
    pub status: RedemptionStatus,
    pub scanned_at: DateTime<Utc>,
    pub redeemed_at: DateTime<Utc>,
    pub reversed_at: Option<DateTime<Utc>>,
    /// The service the ticket paid for, when the scan named one.
    pub service_id: Option<Uuid>,
    /// The collective session the scan belonged to.
    pub session_id: Option<Uuid>,
}

impl RedemptionView {
    /// `settled`: whether a settlement covers it (a live redemption then reads `settled`).
    pub fn of(r: &Redemption, serial: &str, settled: bool) -> Self {
        let status = if settled && r.status == RedemptionStatus::Redeemed {
            RedemptionStatus::Settled
        } else {
            r.status
        };
        RedemptionView {
            id: r.id,
            ticket: RedeemedTicket {
                serial: Serial::parse(serial)
                    .map(|s| s.display())
                    .unwrap_or_else(|_| serial.to_string()),
                value: Money::from_decimal_unchecked(r.value).to_string(),
            },
            site_id: r.site_id,
            amount_payable: Money::from_decimal_unchecked(r.amount_payable).to_string(),
            commission: Money::from_decimal_unchecked(r.commission).to_string(),
            method: r.method.clone(),
            status,
            scanned_at: r.scanned_at,
            redeemed_at: r.redeemed_at,
            reversed_at: r.reversed_at,
            service_id: r.service_id,
            session_id: r.session_id,
        }
    }
}

/// A redemption, its reversal or a verification stopped, as the client sees it.
impl From<RedemptionError> for ApiError {
    fn from(err: RedemptionError) -> Self {
        match err {
            RedemptionError::NotASite => {
                ApiError::forbidden("Seuls les lieux labellisés encaissent des chèques.")
            }
            // Nothing was written, not even the key's answer, so the same request with
            // the same Idempotency-Key is judged afresh. A 503, so that phones keep the
            // scan queued and a batch stops there (its items already answered keep
            // their stored answers).
            RedemptionError::InSettledPeriod => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "period_being_settled",
                "Ce scan tombe dans une période qui vient d’être réglée : rien n’a été enregistré. Renvoyez-le dans un instant (même clé d’idempotence) : il sera compté sur la période en cours.",
            )
            .with_retry_after(5),
            RedemptionError::NotFound => ApiError::not_found(),
            RedemptionError::ReversalClosed(why) => ApiError::conflict(
                "reversal_window_closed",
                match why {
                    ReversalClosed::PaidOut => "Cet encaissement a déjà été remboursé : il ne peut plus être annulé.".to_string(),
                    ReversalClosed::Settled => "Cet encaissement a déjà été réglé : il ne peut plus être annulé.".to_string(),
                    ReversalClosed::GraceOver { grace_minutes } => format!(
                        "Un encaissement ne peut être annulé que dans les {grace_minutes} minutes qui le suivent."
                    ),
                },
            ),
            RedemptionError::UnreadableVerdict(_) => ApiError::internal(err),
            RedemptionError::Db(db) => db.into(),
        }
    }
}

/// Why a scan was not redeemed (or verified), before it becomes a problem: the
/// ticket's refusal, or another error. Only an invalid code stays charged to the
/// scan brakes.
#[derive(Debug)]
enum ScanFailure {
    Refused(Refusal, Option<Prior>),
    Failed(ApiError),
}

impl ScanFailure {
    /// The refusal every bad code gets: never says whether a ticket exists.
    const INVALID_CODE: ScanFailure = ScanFailure::Refused(Refusal::InvalidCode, None);

    fn keeps_charge(&self) -> bool {
        matches!(self, ScanFailure::Refused(Refusal::InvalidCode, _))
    }

    /// The outcome's name, as the metrics count it.
    fn code(&self) -> &'static str {
        match self {
            ScanFailure::Refused(refusal, _) => refusal.code(),
            ScanFailure::Failed(err) => err.code(),
        }
    }

    fn into_problem(self) -> ApiError {
        match self {
            ScanFailure::Refused(refusal, prior) => refusal_error(refusal, prior),
            ScanFailure::Failed(err) => err,
        }
    }
}

impl From<ApiError> for ScanFailure {
    fn from(err: ApiError) -> Self {
        ScanFailure::Failed(err)
    }
}

impl From<ValidationError> for ScanFailure {
    fn from(err: ValidationError) -> Self {
        ScanFailure::Failed(err.into())
    }
}

impl From<RedemptionError> for ScanFailure {
    fn from(err: RedemptionError) -> Self {
        ScanFailure::Failed(err.into())
    }
}

/// The HTTP status of a refusal.
pub fn refusal_status(refusal: Refusal) -> StatusCode {
    match refusal {
        Refusal::AlreadyRedeemed | Refusal::NotHandedOut => StatusCode::CONFLICT,
        Refusal::TicketExpired | Refusal::TicketCancelled => StatusCode::GONE,
        Refusal::InvalidCode => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::LabelInactive | Refusal::OutsideTerritory => StatusCode::FORBIDDEN,
    }
}

/// A refusal as the problem the API answers (`prior`: when and where a ticket
/// already used was redeemed).
pub fn refusal_error(refusal: Refusal, prior: Option<Prior>) -> ApiError {
    let detail = match refusal {
        Refusal::AlreadyRedeemed => {
            let by = if prior.is_some_and(|p| p.by_your_site) {
                "votre lieu"
            } else {
                "un autre lieu"
            };
            match prior {
                Some(p) => format!(
                    "Ce chèque a déjà été encaissé par {by} le {}.",
                    crate::french::date_time(p.redeemed_at, crate::french::TimeStyle::Spoken)
                ),
                None => "Ce chèque a déjà été encaissé.".to_string(),
            }
        }
        Refusal::NotHandedOut => "Ce chèque appartient à un chéquier qui n’a pas encore été remis à un bénéficiaire.".into(),
        Refusal::TicketExpired => "Ce chèque a dépassé sa date de validité : il ne peut plus être encaissé.".into(),
        Refusal::TicketCancelled => "Ce chèque a été annulé (chéquier perdu ou volé) : il ne peut pas être encaissé.".into(),
        Refusal::InvalidCode => "Ce code n’est pas celui d’un chèque Pass Numérique valide.".into(),
        Refusal::LabelInactive => "Le label de votre lieu n’est pas actif (suspendu, échu ou pas encore valable) : vous ne pouvez pas encaisser de chèque.".into(),
        Refusal::OutsideTerritory => "Ce chèque est réservé à un autre territoire que celui de votre lieu.".into(),
    };
    let mut err = ApiError::new(refusal_status(refusal), refusal.code(), detail);
    if let Some(p) = prior {
        err = err
            .with_extension(
                "redeemed_at",
                p.redeemed_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )
            .with_extension("by_your_site", p.by_your_site);
    }
    err
}

/// What the request designates, checked without the database: a code's signature,
/// a serial's check character. Also what idempotency compares.
fn designate(
    state: &AppState,
    code: Option<&str>,
    serial: Option<&str>,
) -> Result<(TicketRef, String), ScanFailure> {
    match (code.map(str::trim), serial.map(str::trim)) {
        (Some(code), None) => {
            let claim = state
                .codes
                .verify(code)
                .map_err(|_| ScanFailure::INVALID_CODE)?;
            Ok((TicketRef::Code(claim), format!("code:{code}")))
        }
        (None, Some(serial)) => {
            let serial = Serial::parse(serial).map_err(|_| ScanFailure::INVALID_CODE)?;
            let canonical = format!("serial:{}", serial.as_str());
            Ok((TicketRef::Serial(serial), canonical))
        }
        _ => Err(ValidationError::new(
            "code",
            "Donnez soit « code » (scanné), soit « serial » (saisi), l’un des deux.",
        )
        .into()),
    }
}

/// Charges a scan to the brakes (per user, per client address) before it is judged,
/// so parallel guesses count too.
fn check_brakes(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
) -> Result<crate::limits::Charged, ApiError> {
    state
        .scan_limits
        .charge(caller.user_id, state.client_ip(req))
}

/// Counts the outcome (`None`: redeemed); only invalid codes stay charged to the
/// brakes.
fn note_outcome(
    state: &AppState,
    charged: Option<&crate::limits::Charged>,
    failure: Option<&ScanFailure>,
) {
    if let Some(charged) = charged
        && !failure.is_some_and(ScanFailure::keeps_charge)
    {
        state.scan_limits.refund(charged);
    }
    state
        .metrics
        .redemption(failure.map_or("redeemed", ScanFailure::code));
}

/// What a scan names besides its ticket: the service it paid for and the collective
/// session it belongs to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Named {
    pub service: Option<Uuid>,
    pub session: Option<Uuid>,
}

impl Named {
    /// What idempotency compares: the ticket, and the service and session when named
    /// (a scan that names neither keeps the fingerprint it always had).
    fn fingerprint(self, ticket: String) -> String {
        let mut fingerprint = ticket;
        if let Some(service) = self.service {
            fingerprint.push_str(&format!("|service:{service}"));
        }
        if let Some(session) = self.session {
            fingerprint.push_str(&format!("|session:{session}"));
        }
        fingerprint
    }
}

/// A scan that named a service the site does not offer (now).
fn unknown_service(field: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_service",
        "Ce service n’est pas (ou plus) proposé par votre lieu : choisissez-en un de sa liste.",
    )
    .with_field(field)
}

/// One redemption with its key: the stored answer if the key was already answered;
/// else the redemption or its refusal, stored with the key (one statement, see
/// `redemptions::redeem`).
#[allow(clippy::too_many_arguments)]
async fn redeem_once(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    caller: &Caller,
    key: String,
    code: Option<&str>,
    serial: Option<&str>,
    scanned_at: Option<DateTime<Utc>>,
    named: Named,
) -> Result<RedemptionView, ScanFailure> {
    let (ticket, fingerprint) = designate(state, code, serial)?;
    let fingerprint = named.fingerprint(fingerprint);
    let now = Utc::now();
    let window = Duration::hours(state.settings.offline_scan_window_hours);
    let (scanned_at, day) = redemptions::scan_day(scanned_at, now, window)?;
    let request_hash = idempotency::fingerprint("redemptions", &json!(fingerprint));
    let scan = Scan {
        caller,
        ticket: &ticket,
        key: &key,
        request_hash: &request_hash,
        scanned_at,
        day,
        service: named.service,
        session: named.session,
    };
    match redemptions::redeem(conn, &scan).await? {
        Outcome::Redeemed(r) => Ok(RedemptionView::of(&r, ticket_serial(&ticket), false)),
        Outcome::Refused { refusal, prior } => Err(ScanFailure::Refused(refusal, prior)),
        Outcome::UnknownSite => Err(ApiError::not_found().into()),
        Outcome::IdempotencyKeyReused => Err(idempotency::key_reused().into()),
        Outcome::UnknownService => Err(unknown_service("service_id".into()).into()),
    }
}

fn ticket_serial(ticket: &TicketRef) -> &str {
    match ticket {
        TicketRef::Code(claim) => claim.serial.as_str(),
        TicketRef::Serial(serial) => serial.as_str(),
    }
}

/// Redeems a ticket for the caller's site (site agents). `Idempotency-Key` is
/// required: the same key and ticket give back the first answer, success or refusal.
/// The answer carries the ticket's full `serial`: the site holds the ticket, and a
/// used ticket is no longer a bearer secret.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    request_body = RedeemRequest,
    params(("Idempotency-Key" = String, Header, description = "Required: one per scan")),
    responses(
        (status = 201, description = "Redeemed", body = RedemptionView),
        (status = 403, description = "`label_inactive`, `outside_territory`, `forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_redeemed` (with `redeemed_at` and `by_your_site`), `not_handed_out`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`ticket_expired`, `ticket_cancelled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_code`, `idempotency_key_reused`, `validation_failed`, `unknown_service` (`service_id` is not one of the site’s live services; nothing recorded)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`period_being_settled`: the scan fell in a period settled meanwhile; nothing was recorded, send it again with the same key (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/redemptions")]
pub async fn redeem(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<RedeemRequest>,
) -> ApiResult<HttpResponse> {
    redemptions::require_site(&caller)?;
    let key = idempotency::key_of(&req)?.ok_or_else(|| {
        ApiError::bad_request(
            "idempotency_key_required",
            "Chaque encaissement demande un en-tête Idempotency-Key (un UUID par scan).",
        )
    })?;
    let brakes = check_brakes(&state, &req, &caller)?;
    let mut conn = state.conn().await?;
    let result = redeem_once(
        &mut conn,
        &state,
        &caller,
        key,
        body.code.as_deref(),
        body.serial.as_deref(),
        body.scanned_at,
        Named {
            service: body.service_id,
            session: None,
        },
    )
    .await;
    match result {
        Ok(redemption) => {
            note_outcome(&state, Some(&brakes), None);
            Ok(HttpResponse::Created().json(redemption))
        }
        Err(failure) => {
            note_outcome(&state, Some(&brakes), Some(&failure));
            Err(failure.into_problem())
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub idempotency_key: String,
    /// `redeemed`, or the code a single redemption would have answered (a
    /// [`Refusal`], or another error's code such as `validation_failed`).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption: Option<RedemptionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

/// Redeems the scans a phone queued while offline, each with its own key and scan
/// time; one outcome per item, in order. Replaying a batch changes nothing. An item
/// that cannot be judged now (a 5xx, e.g. `period_being_settled`) stops the batch
/// with that answer: the items before it keep their stored answers, so the phone
/// sends the whole batch again.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, body = BatchResponse),
        (status = 422, description = "`validation_failed` (no item, more than 200)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`period_being_settled`, `database_unavailable`: send the batch again", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/redemptions/batch")]
pub async fn redeem_batch(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<BatchRequest>,
) -> ApiResult<web::Json<BatchResponse>> {
    redemptions::require_site(&caller)?;
    let items = &body.items;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ValidationError::new(
            "items",
            format!("Un lot compte de 1 à {MAX_BATCH} scans."),
        )
        .into());
    }
    let mut conn = state.conn().await?;
    let results = redeem_items(&mut conn, &req, &caller, &state, items, Named::default()).await?;
    Ok(web::Json(BatchResponse { results }))
}

/// Redeems scans one after the other, each with its own key, in its own statement
/// (one scan refused never loses the others, and none is half-written); one result
/// per item, in order. `named` is what every item names (a collective session and
/// its service); an item may repeat the service, not name another. An item that
/// cannot be judged now (a 5xx) stops the whole with that answer.
pub async fn redeem_items(
    conn: &mut AsyncPgConnection,
    req: &HttpRequest,
    caller: &Caller,
    state: &AppState,
    items: &[BatchItem],
    named: Named,
) -> ApiResult<Vec<BatchResult>> {
    let mut results = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = item.idempotency_key.trim().to_string();
        let charged = check_brakes(state, req, caller);
        let brakes = charged.as_ref().ok().copied();
        let item_named = Named {
            service: named.service.or(item.service_id),
            ..named
        };
        let outcome = if let Err(blocked) = charged {
            Err(blocked.into())
        } else if !idempotency::valid_key(&key) {
            Err(ValidationError::new(
                format!("items[{i}].idempotency_key"),
                "Chaque scan a sa clé d’idempotence : 1 à 200 caractères visibles, sans espace (un UUID par exemple).",
            )
            .into())
        } else if item.service_id.is_some() && item.service_id != item_named.service {
            Err(unknown_service(format!("items[{i}].service_id")).into())
        } else {
            redeem_once(
                conn,
                state,
                caller,
                key.clone(),
                item.code.as_deref(),
                item.serial.as_deref(),
                item.scanned_at,
                item_named,
            )
            .await
        };
        let result = match outcome {
            Ok(redemption) => {
                note_outcome(state, brakes.as_ref(), None);
                BatchResult {
                    idempotency_key: key,
                    outcome: "redeemed".to_string(),
                    redemption: Some(redemption),
                    problem: None,
                }
            }
            Err(ScanFailure::Failed(err)) if err.status().is_server_error() => return Err(err),
            Err(failure) => {
                note_outcome(state, brakes.as_ref(), Some(&failure));
                let err = failure.into_problem();
                BatchResult {
                    idempotency_key: key,
                    outcome: err.code().to_string(),
                    redemption: None,
                    problem: Some(err.problem()),
                }
            }
        };
        results.push(result);
    }
    Ok(results)
}

/// Undoes a mistaken scan, by the site that made it, within the grace period.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = RedemptionView),
        (status = 404, description = "`not_found` (also another site's redemption)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`reversal_window_closed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/redemptions/{id}/reverse")]
pub async fn reverse(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let grace = Duration::minutes(state.settings.reversal_grace_minutes);
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let (r, serial) = conn
        .transaction::<_, RedemptionError, _>(async |conn| {
            let r = redemptions::reverse(conn, &caller, id, grace).await?;
            let serial = redemptions::serial_of(conn, r.ticket_id).await?;
            Ok((r, serial))
        })
        .await?;
    Ok(HttpResponse::Ok().json(RedemptionView::of(&r, &serial, false)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// From this instant (RFC 3339) or day (YYYY-MM-DD, French time), included.
    pub from: Option<String>,
    /// Until this instant or day, excluded for an instant, included for a day.
    pub to: Option<String>,
}

fn instant(
    field: &str,
    raw: Option<&str>,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(day) if end_of_day => Ok(Some(end_of_french_day(day))),
        Ok(day) => Ok(Some(end_of_french_day(day.pred_opt().unwrap_or(day)))),
        Err(_) => Err(ValidationError::new(
            field,
            "Une date AAAA-MM-JJ ou un instant RFC 3339 est attendu.",
        )
        .into()),
    }
}

/// The caller's site's redemptions, oldest first, each with its ticket's full
/// `serial` (the site scanned it; a used ticket is no longer a bearer secret). Only
/// a site reads this list.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    params(Period, PageQuery),
    responses((status = 200, body = Page<RedemptionView>))
)]
#[get("/redemptions")]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    period: web::Query<Period>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RedemptionView>>> {
    redemptions::require_site(&caller)?;
    let limit = page.limit()?;
    let from = instant("from", period.from.as_deref(), false)?;
    let to = instant("to", period.to.as_deref(), true)?;
    let mut conn = state.conn().await?;
    let rows = redemptions::list(
        &mut conn,
        caller.organization_id,
        from,
        to,
        page.after_id()?,
        i64::from(limit) + 1,
    )
    .await?;
    let ranges = redemptions::settled_ranges(&mut conn).await?;
    let (rows, next_cursor) = split_page(rows, limit, |(r, _)| r.id);
    let items: Vec<RedemptionView> = rows
        .iter()
        .map(|(r, serial)| {
            let settled = ranges
                .iter()
                .any(|(from, to)| *from <= r.redeemed_at && r.redeemed_at < *to);
            RedemptionView::of(r, serial, settled)
        })
        .collect();
    Ok(web::Json(Page { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub serial: String,
    /// `stock`, `issued`, `redeemed`, `settled`, `cancelled` or `expired`.
    pub status: ShownTicketStatus,
    pub value: String,
    pub valid_until: NaiveDate,
    pub expires_at: DateTime<Utc>,
    /// The last day it is accepted (validity and tolerance).
    pub redeemable_until: NaiveDate,
    pub program: ProgramRef,
    /// What a redemption by the caller's site would answer today: `null` when it
    /// would be accepted, else the refusal's code (the same verdict, by construction).
    pub refusal: Option<Refusal>,
}

/// Tells a ticket's status and value without changing anything (site agents whose
/// label is active: verifying is a site's act, like redeeming, PRODUCT.md "Who may do
/// what"; everyone else gets 403 `forbidden`). It answers the full `serial`: the caller has just
/// scanned or typed the ticket, so it tells nothing the caller does not hold.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    request_body = TicketDesignation,
    responses(
        (status = 200, body = VerifyResponse),
        (status = 403, description = "`label_inactive`: the site's label is suspended, expired or not yet valid; `forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_code`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tickets/verify")]
pub async fn verify(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<TicketDesignation>,
) -> ApiResult<web::Json<VerifyResponse>> {
    redemptions::require_site(&caller)?;
    let brakes = check_brakes(&state, &req, &caller)?;
    let outcome = async {
        let (ticket, _) = designate(&state, body.code.as_deref(), body.serial.as_deref())?;
        let window = Duration::hours(state.settings.offline_scan_window_hours);
        let (_, day) = redemptions::scan_day(body.scanned_at, Utc::now(), window)?;
        let mut conn = state.conn().await?;
        match redemptions::verify(&mut conn, &caller, &ticket, day).await? {
            Verified::Ticket(t) => Ok(t),
            Verified::Refused(refusal) => Err(ScanFailure::Refused(refusal, None)),
            Verified::UnknownSite => Err(ApiError::not_found().into()),
        }
    }
    .await;
    let t = match outcome {
        Ok(t) => {
            state.scan_limits.refund(&brakes);
            t
        }
        Err(failure) => {
            if !failure.keeps_charge() {
                state.scan_limits.refund(&brakes);
            }
            return Err(failure.into_problem());
        }
    };
    Ok(web::Json(VerifyResponse {
        serial: Serial::parse(&t.serial)
            .map(|s| s.display())
            .unwrap_or(t.serial),
        status: t.status,
        value: Money::from_decimal_unchecked(t.value).to_string(),
        valid_until: t.valid_until,
        expires_at: end_of_french_day(t.valid_until),
        redeemable_until: t.redeemable_until,
        program: ProgramRef {
            id: t.program_id,
            name: t.program_name,
        },
        refusal: t.refusal,
    }))
}
