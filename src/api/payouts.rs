//! Money out (operator admins): a settlement's SEPA credit-transfer file, a payout
//! confirmed paid. The use cases are `crate::payouts`; the XML, `crate::sepa`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::audit::Actor;
use crate::auth::Caller;
use crate::domain::{ValidationError, french_date};
use crate::error::{ApiError, ApiResult, Problem};
use crate::french;
use crate::money::Money;
use crate::payouts::{self, NewPayment, PayoutError};
use crate::sepa::{self, FileHeader};

impl From<PayoutError> for ApiError {
    fn from(err: PayoutError) -> Self {
        match err {
            PayoutError::NotFound => ApiError::not_found(),
            PayoutError::NotAPayout(_) => ApiError::conflict(
                "not_a_payout",
                "Seuls les relevés de paiement d’un lieu se règlent par virement : une facture de financeur, la commission ou un avoir ne se marquent pas « payés » ici.",
            ),
            PayoutError::AlreadyPaid {
                number,
                paid_on,
                bank_reference,
            } => ApiError::conflict(
                "already_paid",
                format!(
                    "Le relevé {number} est déjà marqué payé le {} (référence {bank_reference}) : un virement ne s’enregistre qu’une fois.",
                    french::date(paid_on)
                ),
            ),
            PayoutError::PaidOnOutOfRange(day) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!(
                    "Le virement ne peut pas dater du {} : donnez le jour où il est parti, entre l’émission du relevé et aujourd’hui.",
                    french::date(day)
                ),
            )
            .with_field("paid_on"),
            PayoutError::NothingToTransfer => ApiError::conflict(
                "nothing_to_transfer",
                "Aucun relevé de ce règlement ne peut être viré : aucun lieu payé n’avait donné son IBAN.",
            ),
            PayoutError::Inconsistent { .. } => ApiError::internal(err),
            PayoutError::Db(db) => db.into(),
        }
    }
}

/// A transfer made, as the bank's statement shows it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaidRequest {
    /// The day the transfer left (Paris), between the statement's day and today.
    #[schema(example = "2026-12-05")]
    pub paid_on: NaiveDate,
    /// The bank's reference of the transfer or of its batch, 1 to 140 characters.
    #[schema(example = "VIR-2026-12-05-0042")]
    pub bank_reference: String,
}

impl TryFrom<PaidRequest> for NewPayment {
    type Error = ValidationError;

    fn try_from(req: PaidRequest) -> Result<Self, Self::Error> {
        let reference = req.bank_reference.trim();
        if reference.is_empty() || reference.chars().count() > 140 {
            return Err(ValidationError::new(
                "bank_reference",
                "Donnez la référence du virement que la banque indique (1 à 140 caractères).",
            ));
        }
        Ok(NewPayment {
            paid_on: req.paid_on,
            bank_reference: reference.to_string(),
        })
    }
}

/// A payout confirmed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub statement_id: Uuid,
    pub paid_on: NaiveDate,
    pub bank_reference: String,
}

/// Records that a site payout statement was transferred: the ledger moves what it
/// owes the site from owed to paid out (balanced, append-only), once; audited.
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = PaidRequest,
    responses(
        (status = 200, body = PaymentView),
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_paid`; `not_a_payout`: a funder bill, the commission or a credit note", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `paid_on`, `bank_reference`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/statements/{id}/paid")]
pub async fn mark_paid(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<PaidRequest>,
) -> ApiResult<web::Json<PaymentView>> {
    caller.require_operator_admin()?;
    let payment = NewPayment::try_from(body.0).map_err(ApiError::validation)?;
    let mut conn = state.conn().await?;
    let done = payouts::record_paid(
        &mut conn,
        Actor::from(&caller),
        id.into_inner(),
        payment,
        french_date(Utc::now()),
    )
    .await?;
    Ok(web::Json(PaymentView {
        statement_id: done.statement_id,
        paid_on: done.paid_on,
        bank_reference: done.bank_reference,
    }))
}

/// The settlement's SEPA credit-transfer file (ISO 20022 `pain.001.001.03`): one
/// transfer per site payout statement, to the account its site had when the
/// settlement was made, the statement's number as remittance information, the
/// operator as debtor. Statements whose site had no IBAN are left out, listed in the
/// settlement's `missing_iban` and counted in `X-Missing-Iban`.
#[utoipa::path(
    tag = "settlements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, content_type = "application/xml", body = String, headers(("X-Missing-Iban" = u32, description = "payout statements left out: their site has no IBAN"))),
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`nothing_to_transfer`: no payout statement has an account", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/settlements/{id}/sepa.xml")]
pub async fn sepa_file(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    caller.require_operator_admin()?;
    let mut conn = state.conn().await?;
    let batch = payouts::batch(&mut conn, id.into_inner()).await?;
    drop(conn);
    if batch.transfers.is_empty() {
        return Err(PayoutError::NothingToTransfer.into());
    }
    let now = Utc::now();
    let header = FileHeader {
        message_id: format!("PN{}", batch.settlement.id.simple()),
        created_at: now,
        execution_date: french_date(now),
    };
    let xml = sepa::credit_transfer_file(&state.settings.operator, &header, &batch.transfers);
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header(("X-Missing-Iban", batch.missing.len().to_string()))
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"virements-{}-{}.xml\"",
                batch.settlement.period_start, batch.settlement.period_end
            ),
        ))
        .body(xml))
}

/// A payout statement of a settlement left out of its bank file (no IBAN).
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingIbanView {
    pub statement_id: Uuid,
    pub number: String,
    pub organization_id: Uuid,
    pub name: String,
    pub total: String,
}

impl From<&payouts::MissingIban> for MissingIbanView {
    fn from(m: &payouts::MissingIban) -> Self {
        MissingIbanView {
            statement_id: m.statement_id,
            number: m.number.clone(),
            organization_id: m.organization_id,
            name: m.name.clone(),
            total: Money::from_decimal_unchecked(m.total).to_string(),
        }
    }
}
