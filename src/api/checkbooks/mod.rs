//! Checkbooks (prescriber agents): issue, print runs, hand out, correct, cancel,
//! documents.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::auth::Caller;
use crate::checkbooks::{
    self, Beneficiary, CheckbookAction, CheckbookError, IssueOrder, IssuedCheckbook, Situation,
};
use crate::codes::CodeKeys;
use crate::documents;
use crate::domain::{self, french_date};
use crate::error::{ApiError, ApiResult, Problem};
use crate::french;
use crate::idempotency::{self, Claim};
use crate::mail::{self, OutboxMail};
use crate::organizations;
use crate::vocabulary::{Public, Theme};

mod correct;
mod erase;
mod printed;
mod reading;
mod views;

use printed::sheet;
use reading::{PrintRunView, print_run_view};
use views::{CheckbookView, checkbook_view, one_checkbook_view};
pub use views::{Secrets, ticket_view};

pub use correct::{__path_correct_checkbook, correct_checkbook};
pub use erase::{__path_erase_beneficiary, erase_beneficiary};
pub use printed::{
    __path_checkbook_pdf, __path_print_run_pdf, __path_ticket_qr_png, __path_ticket_qr_svg,
    checkbook_pdf, print_run_pdf, ticket_qr_png, ticket_qr_svg,
};
pub use reading::{
    __path_get_checkbook, __path_get_print_run, __path_list_checkbooks, __path_list_print_runs,
    get_checkbook, get_print_run, list_checkbooks, list_print_runs,
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
    /// The priority publics the person belongs to, e.g. `["rsa", "senior"]`.
    #[serde(default)]
    pub publics: Vec<Public>,
    /// The themes the person needs help with (the national list).
    #[serde(default)]
    pub needs: Vec<Theme>,
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
        .map(|b| b.with_profile(self.publics.clone(), self.needs.clone()))
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
                "Ce dispositif est clos : il n’émet plus de chèques.",
            ),
            CheckbookError::ProgramExpired => ApiError::conflict(
                "program_expired",
                "La période de validité de ce dispositif est passée : il n’émet plus de chèques.",
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
                "Ce chéquier est encore en stock : remettez-le d’abord à un bénéficiaire.",
            ),
            CheckbookError::BeneficiaryErased => ApiError::conflict(
                "beneficiary_erased",
                "Les données du bénéficiaire de ce chéquier ont été effacées : il ne peut plus être envoyé ni modifié.",
            ),
            CheckbookError::Expired { valid_until } => ApiError::conflict(
                "checkbook_expired",
                format!(
                    "Ce chéquier était valable jusqu’au {} : il ne peut plus être remis. \
                     Annulez-le pour rendre sa valeur au dispositif, et remettez un autre chéquier.",
                    french::date(valid_until)
                ),
            )
            .with_extension("valid_until", valid_until.to_string()),
            CheckbookError::Cancelled { action } => ApiError::conflict(
                "checkbook_cancelled",
                match action {
                    CheckbookAction::HandOut => "Ce chéquier a été annulé.",
                    CheckbookAction::Send => {
                        "Ce chéquier a été annulé : il ne peut plus être envoyé."
                    }
                    CheckbookAction::Cancel => "Ce chéquier est déjà annulé.",
                    CheckbookAction::Correct => {
                        "Ce chéquier a été annulé : son bénéficiaire ne peut plus être modifié."
                    }
                    CheckbookAction::Erase => {
                        "Ce chéquier a été annulé avant d’être remis : il n’a pas de bénéficiaire à effacer."
                    }
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

/// The body of an issue's answer: from the print run (if any), the checkbooks and
/// the mails queued for them (by checkbook).
type IssueAnswer = fn(
    &CodeKeys,
    &Caller,
    Option<checkbooks::PrintRun>,
    Vec<IssuedCheckbook>,
    &HashMap<Uuid, OutboxMail>,
) -> ApiResult<Value>;

/// Issues retried safely: with a key, a serial collision is retried inside, and a
/// retried request gets the first answer.
async fn issue_idempotently(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    keys: &CodeKeys,
    retention_months: u32,
    claim: Option<Claim>,
    order: IssueOrder,
    answer: IssueAnswer,
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
                let mut mails = HashMap::new();
                for book in &books {
                    if let Some(email) = &book.checkbook.beneficiary_email {
                        let mail =
                            queue_checkbook_mail(conn, keys, retention_months, book, email).await?;
                        mails.insert(book.checkbook.id, mail);
                    }
                }
                let body = answer(keys, caller, run, books, &mails)?;
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
        state.settings.beneficiary_retention_months,
        claim,
        order,
        |keys, caller, _, books, mails| {
            let book = books
                .first()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no checkbook issued")))?;
            serde_json::to_value(checkbook_view(keys, caller, book, mails)?)
                .map_err(ApiError::internal)
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
        state.settings.beneficiary_retention_months,
        claim,
        order,
        |_, _, run, books, _| {
            let run =
                run.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no print run recorded")))?;
            serde_json::to_value(print_run_view(&run, &books)).map_err(ApiError::internal)
        },
    )
    .await?;
    Ok(json_response(status, body))
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
        (status = 409, description = "`already_handed_out`, `checkbook_cancelled`, `checkbook_expired` (its validity ended: `valid_until` says when)", body = Problem, content_type = "application/problem+json"),
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
    Ok(web::Json(
        one_checkbook_view(&mut conn, &state.codes, &caller, &book).await?,
    ))
}

/// Records the mail carrying a checkbook's PDF to `recipient`, in the caller's
/// transaction. The PDF is rendered now: the mail carries the checkbook as issued.
async fn queue_checkbook_mail(
    conn: &mut AsyncPgConnection,
    keys: &CodeKeys,
    retention_months: u32,
    book: &IssuedCheckbook,
    recipient: &str,
) -> ApiResult<OutboxMail> {
    let program = checkbooks::program_of(conn, &book.checkbook).await?;
    let sheet = sheet(conn, keys, retention_months, &program, book).await?;
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
    let months = state.settings.beneficiary_retention_months;
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
            let mail = queue_checkbook_mail(conn, keys, months, &book, &recipient).await?;
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
    Ok(web::Json(
        one_checkbook_view(&mut conn, &state.codes, &caller, &book).await?,
    ))
}
