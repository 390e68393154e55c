//! Checkbooks (prescriber agents): issue, print runs, hand out, cancel, documents.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::pagination::{Page, PageQuery, split_page};
use crate::auth::Caller;
use crate::checkbooks::{
    self, Beneficiary, Checkbook, CheckbookAction, CheckbookError, IssueOrder, IssuedCheckbook,
    Situation, Ticket,
};
use crate::codes::{CodeKeys, Serial};
use crate::documents;
use crate::domain::{self, end_of_french_day, french_date};
use crate::error::{ApiError, ApiResult, Problem};
use crate::idempotency::{self, Claim};
use crate::mail::{self, OutboxMail};
use crate::money::Money;
use crate::organizations;
use crate::statuses::{CheckbookStatus, ShownTicketStatus, TicketStatus};

mod printed;

use printed::sheet;
pub use printed::{
    __path_checkbook_pdf, __path_print_run_pdf, __path_ticket_qr_png, __path_ticket_qr_svg,
    checkbook_pdf, print_run_pdf, ticket_qr_png, ticket_qr_svg,
};

/// Personal data: no `Debug`, so it can never be printed in a log line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeneficiaryRequest {
    /// A pseudonymous reference chosen by the prescriber (a file number, never a name).
    #[schema(example = "CCAS-2026-0042")]
    pub reference: String,
    /// To send the checkbook by e-mail.
    pub email: Option<String>,
    pub birth_year: Option<i32>,
    pub postcode: Option<String>,
    pub situation: Option<Situation>,
}

impl BeneficiaryRequest {
    fn parse(&self) -> Result<Beneficiary, domain::ValidationError> {
        Beneficiary::parse(
            &self.reference,
            self.email.as_deref(),
            self.birth_year,
            self.postcode.as_deref(),
            self.situation,
            french_date(Utc::now()),
        )
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCheckbookRequest {
    pub program_id: Uuid,
    /// Without it, the checkbook is printed stock: its tickets cannot be redeemed
    /// until it is handed out.
    pub beneficiary: Option<BeneficiaryRequest>,
}

/// A ticket as its reader may see it. Its `code` and full `serial` are bearer
/// secrets: only the users of the prescriber that issued the checkbook get them;
/// everyone else (the operator included) gets `serial_hint` and the status, and the
/// two fields are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    /// Typed by hand when the camera fails, e.g. `7K3M-9QX2-ZA4`. Issuing prescriber
    /// only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The signed string carried by the QR code. Issuing prescriber only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The serial's last four symbols, e.g. `2ZA4`: for every reader.
    #[schema(example = "2ZA4")]
    pub serial_hint: String,
    pub value: String,
    /// `stock`, `issued`, `redeemed`, `settled`, `cancelled` or `expired`.
    pub status: ShownTicketStatus,
    /// The last day printed on the ticket.
    pub valid_until: NaiveDate,
    /// When validity ends (midnight in Paris after `valid_until`), in UTC.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BeneficiaryView {
    pub reference: String,
    pub email: Option<String>,
    pub birth_year: Option<i32>,
    pub postcode: Option<String>,
    pub situation: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckbookView {
    pub id: Uuid,
    /// Human-readable number, e.g. `CH-2026-000042`.
    pub number: String,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub print_run_id: Option<Uuid>,
    /// `stock`, `handed_out` or `cancelled`.
    pub status: CheckbookStatus,
    pub beneficiary: Option<BeneficiaryView>,
    pub valid_until: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub handed_out_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub tickets: Vec<TicketView>,
}

fn code_of(keys: &CodeKeys, ticket: &Ticket) -> ApiResult<String> {
    let serial = Serial::parse(&ticket.serial).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "stored serial {} unreadable: {e}",
            ticket.serial
        ))
    })?;
    Ok(keys.sign(&serial, Money::from_decimal_unchecked(ticket.value).cents()))
}

fn display_serial(serial: &str) -> String {
    Serial::parse(serial)
        .map(|s| s.display())
        .unwrap_or_else(|_| serial.to_string())
}

fn serial_hint(serial: &str) -> String {
    match Serial::parse(serial) {
        Ok(serial) => serial.hint(),
        Err(_) => {
            let n = serial.chars().count();
            serial.chars().skip(n.saturating_sub(4)).collect()
        }
    }
}

/// What a reader may know of a checkbook's tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// The issuing prescriber: codes and full serials.
    Shown,
    /// Everyone else: the serial's last four symbols.
    Hidden,
}

impl Secrets {
    pub fn for_reader(caller: &Caller, checkbook: &Checkbook) -> Secrets {
        if checkbooks::is_issuer(caller, checkbook.prescriber_id) {
            Secrets::Shown
        } else {
            Secrets::Hidden
        }
    }
}

pub fn ticket_view(
    keys: &CodeKeys,
    checkbook: &Checkbook,
    ticket: &Ticket,
    secrets: Secrets,
) -> ApiResult<TicketView> {
    let status =
        if ticket.status == TicketStatus::Issued && checkbook.status == CheckbookStatus::Stock {
            ShownTicketStatus::Stock
        } else {
            ShownTicketStatus::from(ticket.status)
        };
    Ok(TicketView {
        id: ticket.id,
        serial: (secrets == Secrets::Shown).then(|| display_serial(&ticket.serial)),
        code: match secrets {
            Secrets::Shown => Some(code_of(keys, ticket)?),
            Secrets::Hidden => None,
        },
        serial_hint: serial_hint(&ticket.serial),
        value: Money::from_decimal_unchecked(ticket.value).to_string(),
        status,
        valid_until: ticket.valid_until,
        expires_at: end_of_french_day(ticket.valid_until),
    })
}

/// A checkbook as `reader` may see it (see [`TicketView`] for its tickets' secrets).
pub fn checkbook_view(
    keys: &CodeKeys,
    reader: &Caller,
    book: &IssuedCheckbook,
) -> ApiResult<CheckbookView> {
    let c = &book.checkbook;
    let secrets = Secrets::for_reader(reader, c);
    Ok(CheckbookView {
        id: c.id,
        number: c.number.clone(),
        program_id: c.program_id,
        prescriber_id: c.prescriber_id,
        print_run_id: c.print_run_id,
        status: c.status,
        beneficiary: c
            .beneficiary_reference
            .as_ref()
            .map(|reference| BeneficiaryView {
                reference: reference.clone(),
                email: c.beneficiary_email.clone(),
                birth_year: c.beneficiary_birth_year,
                postcode: c.beneficiary_postcode.clone(),
                situation: c.beneficiary_situation.clone(),
            }),
        valid_until: c.valid_until,
        expires_at: end_of_french_day(c.valid_until),
        issued_at: c.issued_at,
        handed_out_at: c.handed_out_at,
        cancelled_at: c.cancelled_at,
        cancel_reason: c.cancel_reason.clone(),
        tickets: book
            .tickets
            .iter()
            .map(|t| ticket_view(keys, c, t, secrets))
            .collect::<ApiResult<_>>()?,
    })
}

/// A checkbook's use case refused or failed, as the client sees it.
impl From<CheckbookError> for ApiError {
    fn from(err: CheckbookError) -> Self {
        match err {
            CheckbookError::Invalid(invalid) => ApiError::validation(invalid),
            CheckbookError::NotPrescriber => {
                ApiError::forbidden("Seuls les prescripteurs émettent et gèrent les chéquiers.")
            }
            CheckbookError::NotFound => ApiError::not_found(),
            CheckbookError::ProgramClosed => ApiError::conflict(
                "program_closed",
                "Ce dispositif est clos : il n'émet plus de chèques.",
            ),
            CheckbookError::ProgramExpired => ApiError::conflict(
                "program_expired",
                "La période de validité de ce dispositif est passée : il n'émet plus de chèques.",
            ),
            CheckbookError::AllocationExhausted { remaining } => ApiError::conflict(
                "allocation_exhausted",
                format!(
                    "Votre dotation pour ce dispositif ne permet plus que {remaining} chéquier(s)."
                ),
            )
            .with_extension("remaining_checkbooks", remaining),
            CheckbookError::SerialCollision => ApiError::conflict(
                "serial_collision",
                "Deux numéros de chèque tirés au hasard se sont rencontrés ; réessayez.",
            ),
            CheckbookError::AlreadyHandedOut => ApiError::conflict(
                "already_handed_out",
                "Ce chéquier a déjà été remis à un bénéficiaire.",
            ),
            CheckbookError::NotHandedOut => ApiError::conflict(
                "not_handed_out",
                "Ce chéquier est encore en stock : remettez-le d'abord à un bénéficiaire.",
            ),
            CheckbookError::Cancelled { action } => ApiError::conflict(
                "checkbook_cancelled",
                match action {
                    CheckbookAction::HandOut => "Ce chéquier a été annulé.",
                    CheckbookAction::Send => {
                        "Ce chéquier a été annulé : il ne peut plus être envoyé."
                    }
                    CheckbookAction::Cancel => "Ce chéquier est déjà annulé.",
                },
            ),
            CheckbookError::Program(program) => program.into(),
            CheckbookError::Db(db) => db.into(),
        }
    }
}

/// One attempt at issuing: two random serials met (drawn again), or an answer.
enum IssueAttempt {
    SerialCollision,
    Failed(ApiError),
}

impl From<CheckbookError> for IssueAttempt {
    fn from(err: CheckbookError) -> Self {
        match err {
            CheckbookError::SerialCollision => IssueAttempt::SerialCollision,
            other => IssueAttempt::Failed(other.into()),
        }
    }
}

impl From<ApiError> for IssueAttempt {
    fn from(err: ApiError) -> Self {
        IssueAttempt::Failed(err)
    }
}

impl From<diesel::result::Error> for IssueAttempt {
    fn from(err: diesel::result::Error) -> Self {
        IssueAttempt::Failed(err.into())
    }
}

fn json_response(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// Issues retried safely: with a key, a serial collision is retried inside, and a
/// retried request gets the first answer.
async fn issue_idempotently(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    keys: &CodeKeys,
    claim: Option<Claim>,
    order: IssueOrder,
    answer: fn(
        &CodeKeys,
        &Caller,
        Option<checkbooks::PrintRun>,
        Vec<IssuedCheckbook>,
    ) -> ApiResult<Value>,
) -> ApiResult<(StatusCode, Value)> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = conn
            .transaction::<_, IssueAttempt, _>(async |conn| {
                if let Some(claim) = &claim
                    && let Some(stored) = idempotency::claim(conn, claim).await?
                {
                    return Ok(stored);
                }
                let (run, books) = checkbooks::issue(conn, caller, &order).await?;
                // A checkbook handed out to an address is e-mailed: the mail is
                // recorded with the checkbook, or neither is.
                for book in &books {
                    if let Some(email) = &book.checkbook.beneficiary_email {
                        queue_checkbook_mail(conn, keys, book, email).await?;
                    }
                }
                let body = answer(keys, caller, run, books)?;
                if let Some(claim) = &claim {
                    idempotency::remember(conn, claim, StatusCode::CREATED, &body).await?;
                }
                Ok((StatusCode::CREATED, body))
            })
            .await;
        match result {
            Ok(answer) => return Ok(answer),
            Err(IssueAttempt::SerialCollision) if attempts < 3 => continue,
            Err(IssueAttempt::SerialCollision) => {
                return Err(CheckbookError::SerialCollision.into());
            }
            Err(IssueAttempt::Failed(err)) => return Err(err),
        }
    }
}

fn claim_of(
    req: &HttpRequest,
    caller: &Caller,
    scope: &'static str,
    body: &Value,
) -> ApiResult<Option<Claim>> {
    Ok(idempotency::key_of(req)?.map(|key| Claim {
        user: caller.user_id,
        scope,
        key,
        request_hash: idempotency::fingerprint(scope, body),
    }))
}

/// Issues one checkbook (prescriber). With a beneficiary it is handed out at once.
/// Honours `Idempotency-Key`: the same key and body return the same checkbook.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    request_body = IssueCheckbookRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, body = CheckbookView),
        (status = 403, description = "`forbidden`: only prescribers issue", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`allocation_exhausted`, `budget_exhausted`, `funds_not_received`, `program_closed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/checkbooks")]
pub async fn issue_checkbook(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<Value>,
) -> ApiResult<HttpResponse> {
    checkbooks::require_prescriber(&caller)?;
    let raw = body.0;
    let request: IssueCheckbookRequest = crate::api::extract::from_value(raw.clone())?;
    let beneficiary = request
        .beneficiary
        .as_ref()
        .map(BeneficiaryRequest::parse)
        .transpose()?;
    let claim = claim_of(&req, &caller, "checkbooks", &raw)?;
    let order = IssueOrder {
        program: request.program_id,
        count: 1,
        beneficiary,
        print_run: false,
    };
    let mut conn = state.conn().await?;
    let (status, body) = issue_idempotently(
        &mut conn,
        &caller,
        &state.codes,
        claim,
        order,
        |keys, caller, _, books| {
            let book = books
                .first()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no checkbook issued")))?;
            serde_json::to_value(checkbook_view(keys, caller, book)?).map_err(ApiError::internal)
        },
    )
    .await?;
    Ok(json_response(status, body))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrintRunRequest {
    pub program_id: Uuid,
    /// Stock checkbooks to issue, 1 to 1000.
    #[schema(example = 100)]
    pub checkbooks: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintRunCheckbook {
    pub id: Uuid,
    pub number: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintRunView {
    pub id: Uuid,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub tickets: usize,
    /// The stock checkbooks, in number order; `GET /print-runs/{id}/pdf` prints them.
    pub checkbooks: Vec<PrintRunCheckbook>,
}

fn print_run_view(run: &checkbooks::PrintRun, books: &[IssuedCheckbook]) -> PrintRunView {
    PrintRunView {
        id: run.id,
        program_id: run.program_id,
        prescriber_id: run.prescriber_id,
        created_at: run.created_at,
        tickets: books.iter().map(|b| b.tickets.len()).sum(),
        checkbooks: books
            .iter()
            .map(|b| PrintRunCheckbook {
                id: b.checkbook.id,
                number: b.checkbook.number.clone(),
            })
            .collect(),
    }
}

/// Issues a print run of stock checkbooks in one request (prescriber), e.g. 1,000
/// checkbooks to print in advance. Honours `Idempotency-Key`.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    request_body = PrintRunRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, body = PrintRunView),
        (status = 409, description = "`allocation_exhausted`, `budget_exhausted`, `funds_not_received`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/print-runs")]
pub async fn issue_print_run(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<Value>,
) -> ApiResult<HttpResponse> {
    checkbooks::require_prescriber(&caller)?;
    let raw = body.0;
    let request: PrintRunRequest = crate::api::extract::from_value(raw.clone())?;
    let claim = claim_of(&req, &caller, "print-runs", &raw)?;
    let order = IssueOrder {
        program: request.program_id,
        count: request.checkbooks,
        beneficiary: None,
        print_run: true,
    };
    let mut conn = state.conn().await?;
    let (status, body) = issue_idempotently(
        &mut conn,
        &caller,
        &state.codes,
        claim,
        order,
        |_, _, run, books| {
            let run =
                run.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no print run recorded")))?;
            serde_json::to_value(print_run_view(&run, &books)).map_err(ApiError::internal)
        },
    )
    .await?;
    Ok(json_response(status, body))
}

/// A print run (its prescriber, the operator).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PrintRunView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/print-runs/{id}")]
pub async fn get_print_run(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<PrintRunView>> {
    let mut conn = state.conn().await?;
    let (run, books) = checkbooks::visible_print_run(&mut conn, &caller, id.into_inner()).await?;
    Ok(web::Json(print_run_view(&run, &books)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckbookFilter {
    pub program_id: Option<Uuid>,
}

/// The caller's checkbooks (a prescriber's own, with their tickets' codes and
/// serials; the operator's: all, with each ticket's `serial_hint` and status).
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(CheckbookFilter, PageQuery),
    responses((status = 200, body = Page<CheckbookView>))
)]
#[get("/checkbooks")]
pub async fn list_checkbooks(
    caller: Caller,
    state: web::Data<AppState>,
    filter: web::Query<CheckbookFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<CheckbookView>>> {
    let limit = page.limit()?;
    let mut conn = state.conn().await?;
    let books = checkbooks::list(
        &mut conn,
        &caller,
        filter.program_id,
        page.after_id()?,
        i64::from(limit) + 1,
    )
    .await?;
    let (books, next_cursor) = split_page(books, limit, |b: &Checkbook| b.id);
    let tickets =
        checkbooks::tickets_of(&mut conn, &books.iter().map(|b| b.id).collect::<Vec<_>>()).await?;
    let items = checkbooks::with_tickets(books, tickets)
        .iter()
        .map(|book| checkbook_view(&state.codes, &caller, book))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(web::Json(Page { items, next_cursor }))
}

/// One checkbook with its tickets: its prescriber sees their codes and serials, the
/// operator each ticket's `serial_hint` and status.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CheckbookView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/checkbooks/{id}")]
pub async fn get_checkbook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<CheckbookView>> {
    let mut conn = state.conn().await?;
    let book = checkbooks::visible_checkbook(&mut conn, &caller, id.into_inner()).await?;
    Ok(web::Json(checkbook_view(&state.codes, &caller, &book)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOutRequest {
    pub beneficiary: BeneficiaryRequest,
}

/// Hands a stock checkbook out to a beneficiary: its tickets become usable.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = HandOutRequest,
    responses(
        (status = 200, body = CheckbookView),
        (status = 409, description = "`already_handed_out`, `checkbook_cancelled`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/checkbooks/{id}/hand-out")]
pub async fn hand_out(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<HandOutRequest>,
) -> ApiResult<web::Json<CheckbookView>> {
    let beneficiary = body.beneficiary.parse()?;
    let mut conn = state.conn().await?;
    let book = checkbooks::hand_out(&mut conn, &caller, id.into_inner(), beneficiary).await?;
    Ok(web::Json(checkbook_view(&state.codes, &caller, &book)?))
}

/// Records the mail carrying a checkbook's PDF to `recipient`, in the caller's
/// transaction. The PDF is rendered now: the mail carries the checkbook as issued.
async fn queue_checkbook_mail(
    conn: &mut AsyncPgConnection,
    keys: &CodeKeys,
    book: &IssuedCheckbook,
    recipient: &str,
) -> ApiResult<OutboxMail> {
    let program = checkbooks::program_of(conn, &book.checkbook).await?;
    let sheet = sheet(conn, keys, &program, book).await?;
    let prescriber = organizations::find_organization(conn, book.checkbook.prescriber_id)
        .await?
        .map(|o| o.name);
    let for_pdf = sheet.clone();
    let pdf = web::block(move || documents::render_checkbooks(std::slice::from_ref(&for_pdf)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mail = mail::events::checkbook_mail(book.checkbook.id, &sheet, prescriber, recipient, pdf)?;
    mail::enqueue(conn, mail)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the checkbook mail was not recorded")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCheckbookRequest {
    /// Where to send it; by default the beneficiary's address given at issue or
    /// hand-out (kept as the beneficiary's address when none was known).
    pub email: Option<String>,
}

/// E-mails a handed-out checkbook's PDF, with the nearest labelled sites (prescriber).
/// The mail is queued (202): `GET /outbox` shows when it leaves. Honours
/// `Idempotency-Key`: a retry with the same key sends nothing more.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = SendCheckbookRequest,
    responses(
        (status = 202, body = crate::api::outbox::OutboxMailView),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_handed_out`, `checkbook_cancelled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no address given nor known", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/checkbooks/{id}/send")]
pub async fn send(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<Value>,
) -> ApiResult<HttpResponse> {
    checkbooks::require_prescriber(&caller)?;
    let id = id.into_inner();
    let raw = body.0;
    let request: SendCheckbookRequest = crate::api::extract::from_value(raw.clone())?;
    let email = match request.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(domain::Email::parse("email", raw)?),
    };
    let claim = claim_of(
        &req,
        &caller,
        "checkbook-send",
        &json!({"id": id, "body": raw}),
    )?;
    let keys = &state.codes;
    let mut conn = state.conn().await?;
    let (status, body) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            if let Some(claim) = &claim
                && let Some(stored) = idempotency::claim(conn, claim).await?
            {
                return Ok(stored);
            }
            let (book, recipient) =
                checkbooks::prepare_send(conn, &caller, id, email.clone()).await?;
            let mail = queue_checkbook_mail(conn, keys, &book, &recipient).await?;
            let body = serde_json::to_value(crate::api::outbox::OutboxMailView::from(mail))
                .map_err(ApiError::internal)?;
            if let Some(claim) = &claim {
                idempotency::remember(conn, claim, StatusCode::ACCEPTED, &body).await?;
            }
            Ok((StatusCode::ACCEPTED, body))
        })
        .await?;
    Ok(json_response(status, body))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why: lost, stolen, mistake…
    #[schema(example = "perdu")]
    pub reason: String,
}

/// Cancels a checkbook: its unused tickets are cancelled and their value returns to
/// the program.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = CancelRequest,
    responses(
        (status = 200, body = CheckbookView),
        (status = 409, description = "`checkbook_cancelled`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/checkbooks/{id}/cancel")]
pub async fn cancel(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<CancelRequest>,
) -> ApiResult<web::Json<CheckbookView>> {
    let reason = domain::text("reason", &body.reason, 300)?;
    let mut conn = state.conn().await?;
    let book = checkbooks::cancel(&mut conn, &caller, id.into_inner(), reason).await?;
    Ok(web::Json(checkbook_view(&state.codes, &caller, &book)?))
}
