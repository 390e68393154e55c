//! Programs, payments received, allocations.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::pagination::{Page, PageQuery, split_page};
use crate::auth::Caller;
use crate::closing::CloseError;
use crate::domain::{self, PostcodePrefix, ValidationError};
use crate::error::{ApiError, ApiResult, Problem};
use crate::money::{Money, Rate, Share, fraction_string};
use crate::programs::{self, Funding, NewProgram, Program, ProgramError, ProgramFunder, Validity};
use crate::statuses::ProgramStatus;

/// A program not closed, as the client sees it.
impl From<CloseError> for ApiError {
    fn from(err: CloseError) -> Self {
        match err {
            CloseError::AlreadyClosed => {
                ApiError::conflict("program_closed", "Ce dispositif est déjà clos.")
            }
            CloseError::TicketsStillValid { last_day } => ApiError::conflict(
                "tickets_still_valid",
                format!(
                    "Des chèques de ce dispositif restent utilisables jusqu’au {} : il ne peut être clos qu’après.",
                    last_day.format("%d/%m/%Y")
                ),
            )
            .with_extension(
                "closable_from",
                (last_day + chrono::Days::new(1)).to_string(),
            ),
            CloseError::Program(program) => program.into(),
            CloseError::Db(db) => db.into(),
        }
    }
}

/// A program's use case refused or failed, as the client sees it.
impl From<ProgramError> for ApiError {
    fn from(err: ProgramError) -> Self {
        match err {
            ProgramError::Invalid(invalid) => ApiError::validation(invalid),
            ProgramError::NotFound => ApiError::not_found(),
            ProgramError::Closed => ApiError::conflict("program_closed", "Ce dispositif est clos."),
            ProgramError::BudgetExhausted => ApiError::conflict(
                "budget_exhausted",
                "Le budget du dispositif est épuisé : aucun nouveau chèque ne peut être émis.",
            ),
            ProgramError::FundsNotReceived { funder } => ApiError::conflict(
                "funds_not_received",
                "Les fonds de ce dispositif n’ont pas encore été reçus de tous ses financeurs : l’émission reprendra dès leur versement.",
            )
            .with_extension("funder_id", funder.to_string()),
            ProgramError::PaymentExceedsCommitment { pledged, paid } => ApiError::conflict(
                "payment_exceeds_commitment",
                format!(
                    "Ce versement dépasserait l’engagement du financeur ({pledged} €, dont {paid} € déjà reçus)."
                ),
            )
            .with_field("amount"),
            ProgramError::PaymentAlreadyRecorded { reference } => ApiError::conflict(
                "payment_already_recorded",
                format!("Un versement de ce financeur porte déjà la référence « {reference} »."),
            )
            .with_field("reference"),
            ProgramError::BudgetBelowCommitted { least } => ApiError::conflict(
                "budget_below_committed",
                format!(
                    "Le budget ne peut pas descendre sous ce qui est déjà engagé : {} au moins (chèques émis et versements déjà reçus des financeurs).",
                    crate::french::euros(least)
                ),
            )
            .with_field("budget")
            .with_extension("least_budget", money(least)),
            ProgramError::AllocationBelowIssued { issued } => ApiError::conflict(
                "allocation_below_issued",
                format!(
                    "Ce prescripteur a déjà émis {issued} chéquier(s) : sa dotation ne peut pas descendre en dessous."
                ),
            )
            .with_field("checkbooks")
            .with_extension("issued_checkbooks", issued),
            ProgramError::AllocationOverBudget { affordable, asked } => ApiError::conflict(
                "allocation_over_budget",
                format!(
                    "Le budget du dispositif ne paie plus que {} chéquier(s), toutes dotations comptées : en allouer {} de plus le dépasserait. Allouez-en moins, ou confirmez le dépassement.",
                    crate::french::count(usize::try_from(affordable).unwrap_or(0)),
                    crate::french::count(usize::try_from(asked).unwrap_or(0)),
                ),
            )
            .with_field("checkbooks")
            .with_extension("affordable_checkbooks", affordable),
            ProgramError::NoAllocation => ApiError::not_found(),
            ProgramError::ValidityNotLater { current } => ApiError::conflict(
                "validity_not_later",
                format!(
                    "La validité court déjà jusqu’au {} : une prolongation choisit une date plus tardive.",
                    crate::french::date(current)
                ),
            )
            .with_field("valid_until")
            .with_extension("current_valid_until", current.to_string()),
            ProgramError::NothingToExtend => ApiError::conflict(
                "nothing_to_extend",
                "Ce dispositif n’a aucun chèque en circulation à prolonger.",
            ),
            ProgramError::Db(db) => db.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunderShareRequest {
    pub organization_id: Uuid,
    /// A decimal string, e.g. "0.60"; the shares of a program sum to 1.
    #[schema(example = "0.60")]
    pub share: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProgramRequest {
    #[schema(example = "Pass Numérique Haute-Saône 2026")]
    pub name: String,
    #[schema(example = "10.00")]
    pub ticket_value: String,
    #[schema(example = 10)]
    pub tickets_per_checkbook: u32,
    /// Days a ticket stays valid from its issue; or give `valid_until`.
    #[schema(example = 365)]
    pub validity_days: Option<u32>,
    /// A fixed last day of validity for every ticket; or give `validity_days`.
    pub valid_until: Option<NaiveDate>,
    /// Days after validity during which a ticket is still accepted (default 0).
    pub tolerance_days: Option<u32>,
    /// Deducted from what sites are paid, e.g. "0.04".
    #[schema(example = "0.00")]
    pub commission_rate: Option<String>,
    /// Billed to funders on top of face value, e.g. "0.04".
    pub funder_fee_rate: Option<String>,
    #[schema(example = "50000.00")]
    pub budget: String,
    pub funders: Vec<FunderShareRequest>,
    /// Postcode prefixes where tickets may be redeemed; empty: anywhere.
    pub territory_postcodes: Option<Vec<String>>,
}

impl TryFrom<CreateProgramRequest> for NewProgram {
    type Error = ValidationError;

    fn try_from(req: CreateProgramRequest) -> Result<Self, Self::Error> {
        let validity = match (req.validity_days, req.valid_until) {
            (Some(days), None) => Validity::DaysFromIssue(days),
            (None, Some(day)) => Validity::Until(day),
            _ => {
                return Err(ValidationError::new(
                    "validity_days",
                    "Donnez soit « validity_days » (durée depuis l’émission), soit « valid_until » (date fixe), l’un des deux seulement.",
                ));
            }
        };
        let funders = req
            .funders
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Ok((
                    f.organization_id,
                    Share::parse(&format!("funders[{i}].share"), &f.share)?,
                ))
            })
            .collect::<Result<Vec<_>, ValidationError>>()?;
        let territory = req
            .territory_postcodes
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, p)| PostcodePrefix::parse(&format!("territory_postcodes[{i}]"), p))
            .collect::<Result<Vec<_>, _>>()?;
        let new = NewProgram {
            name: domain::text("name", &req.name, 200)?,
            ticket_value: Money::parse_positive("ticket_value", &req.ticket_value)?,
            tickets_per_checkbook: req.tickets_per_checkbook,
            validity,
            tolerance_days: req.tolerance_days.unwrap_or(0),
            commission_rate: Rate::parse(
                "commission_rate",
                req.commission_rate.as_deref().unwrap_or("0"),
            )?,
            funder_fee_rate: Rate::parse(
                "funder_fee_rate",
                req.funder_fee_rate.as_deref().unwrap_or("0"),
            )?,
            budget: Money::parse_positive("budget", &req.budget)?,
            funders,
            territory,
        };
        new.check()?;
        Ok(new)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunderShareView {
    pub organization_id: Uuid,
    #[schema(example = "0.6000")]
    pub share: String,
    /// Pledged: share × budget (not shown to prescribers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<String>,
    /// Received so far (not shown to prescribers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FundingView {
    /// Money received from the funders.
    pub received: String,
    /// Received and not yet put into tickets.
    pub available: String,
    /// Value of tickets in circulation.
    pub outstanding: String,
    /// Value put into tickets, net of cancelled and expired ones.
    pub issued: String,
    /// What more may be issued now (ring-fencing and budget).
    pub issuable: String,
}

/// Why no checkbook may be issued now.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssuanceBlock {
    /// A funder has not paid its share of one more checkbook (see `funder_id`).
    FundsNotReceived,
    /// One more checkbook would go past the budget.
    BudgetExhausted,
    ProgramClosed,
}

/// Whether one more checkbook may be issued now, and if not, why: the ring-fence rule
/// (`programs::check_ring_fence`) asked for one checkbook's value. Shown to everyone
/// who sees the program, prescribers included, before they fill the form.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuanceView {
    pub open: bool,
    pub reason: Option<IssuanceBlock>,
    /// The funder whose payment is awaited (`funds_not_received`).
    pub funder_id: Option<Uuid>,
    /// Its name (`funds_not_received`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funder_name: Option<String>,
    /// The least it must still pay for one more checkbook to be issued
    /// (`funds_not_received`; not shown to prescribers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "400.00")]
    pub missing_amount: Option<String>,
}

impl IssuanceView {
    fn of(program: &Program, funders: &[ProgramFunder], funding: &Funding) -> IssuanceView {
        let blocked = |reason, funder_id| IssuanceView {
            open: false,
            reason: Some(reason),
            funder_id,
            funder_name: None,
            missing_amount: None,
        };
        if !program.is_open() {
            return blocked(IssuanceBlock::ProgramClosed, None);
        }
        let checkbook =
            program.ticket_value * rust_decimal::Decimal::from(program.tickets_per_checkbook);
        match programs::check_ring_fence(funding, funders, program.budget, checkbook) {
            Err(ProgramError::FundsNotReceived { funder }) => IssuanceView {
                missing_amount: funders
                    .iter()
                    .find(|f| f.funder_id == funder)
                    .map(|f| money(funding.awaited_from(f, checkbook))),
                ..blocked(IssuanceBlock::FundsNotReceived, Some(funder))
            },
            Err(ProgramError::BudgetExhausted) => blocked(IssuanceBlock::BudgetExhausted, None),
            _ => IssuanceView {
                open: true,
                reason: None,
                funder_id: None,
                funder_name: None,
                missing_amount: None,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramView {
    pub id: Uuid,
    pub name: String,
    pub ticket_value: String,
    pub tickets_per_checkbook: i32,
    pub validity_days: Option<i32>,
    pub valid_until: Option<NaiveDate>,
    pub tolerance_days: i32,
    pub commission_rate: String,
    pub funder_fee_rate: String,
    pub budget: String,
    pub funders: Vec<FunderShareView>,
    pub territory_postcodes: Vec<String>,
    pub status: ProgramStatus,
    pub created_at: DateTime<Utc>,
    /// Whether the program's open indicators are published.
    pub public_indicators: bool,
    /// The program's money (operator and funders; not shown to prescribers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding: Option<FundingView>,
    /// Whether a checkbook may be issued now, or why not.
    pub issuance: IssuanceView,
}

pub(crate) fn money(value: rust_decimal::Decimal) -> String {
    Money::from_decimal_unchecked(value).to_string()
}

impl ProgramView {
    pub fn new(program: Program, funders: &[ProgramFunder], funding: &Funding) -> ProgramView {
        let issuable = if program.is_open() {
            funding.issuable(funders, program.budget)
        } else {
            rust_decimal::Decimal::ZERO
        };
        ProgramView {
            issuance: IssuanceView::of(&program, funders, funding),
            funders: funders
                .iter()
                .map(|f| FunderShareView {
                    organization_id: f.funder_id,
                    share: fraction_string(f.share),
                    committed: Some(money(
                        funding
                            .pledged
                            .get(&f.funder_id)
                            .copied()
                            .unwrap_or_default(),
                    )),
                    paid: Some(money(
                        funding.paid.get(&f.funder_id).copied().unwrap_or_default(),
                    )),
                })
                .collect(),
            funding: Some(FundingView {
                received: money(funding.received()),
                available: money(funding.available),
                outstanding: money(funding.outstanding),
                issued: money(funding.issued()),
                issuable: money(issuable),
            }),
            territory_postcodes: program.territory(),
            id: program.id,
            name: program.name,
            ticket_value: money(program.ticket_value),
            tickets_per_checkbook: program.tickets_per_checkbook,
            validity_days: program.validity_days,
            valid_until: program.valid_until,
            tolerance_days: program.tolerance_days,
            commission_rate: fraction_string(program.commission_rate),
            funder_fee_rate: fraction_string(program.funder_fee_rate),
            budget: money(program.budget),
            status: program.status,
            created_at: program.created_at,
            public_indicators: program.public_indicators,
        }
    }
}

impl ProgramView {
    /// What a prescriber may see: the rules, not the funders' money.
    fn for_prescriber(mut self) -> ProgramView {
        self.funding = None;
        self.issuance.missing_amount = None;
        for f in &mut self.funders {
            f.committed = None;
            f.paid = None;
        }
        self
    }
}

pub(crate) async fn view(
    conn: &mut diesel_async::AsyncPgConnection,
    program: Program,
) -> ApiResult<ProgramView> {
    let funders = programs::funders_of(conn, program.id).await?;
    let funding = programs::funding(conn, program.id).await?;
    let mut view = ProgramView::new(program, &funders, &funding);
    if let Some(funder) = view.issuance.funder_id {
        view.issuance.funder_name = crate::organizations::find_organization(conn, funder)
            .await?
            .map(|org| org.name);
    }
    Ok(view)
}

/// Opens a program funded by one or more funders (operator admins; an operator agent
/// gets 403 `forbidden`).
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    request_body = CreateProgramRequest,
    responses(
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = ProgramView),
        (status = 422, description = "`validation_failed`, naming the field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/programs")]
pub async fn create_program(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<CreateProgramRequest>,
) -> ApiResult<HttpResponse> {
    caller.require_operator_admin()?;
    let new = NewProgram::try_from(body.0)?;
    let mut conn = state.conn().await?;
    let program = programs::create_program(&mut conn, new).await?;
    Ok(HttpResponse::Created().json(view(&mut conn, program).await?))
}

/// A program: the operator sees all, a funder those it funds, a prescriber those it
/// has an allocation in.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ProgramView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/programs/{id}")]
pub async fn get_program(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ProgramView>> {
    let mut conn = state.conn().await?;
    let program = programs::visible_program(&mut conn, &caller, id.into_inner()).await?;
    let view = view(&mut conn, program).await?;
    Ok(web::Json(
        if caller.kind == crate::domain::OrgKind::Prescriber {
            view.for_prescriber()
        } else {
            view
        },
    ))
}

/// A prescriber's allowance in a program.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllowanceView {
    pub prescriber_id: Uuid,
    pub prescriber_name: String,
    /// Checkbooks allocated, all allocations added up.
    pub checkbooks: i64,
    /// Checkbooks it may still issue.
    pub remaining_checkbooks: i64,
}

/// A program in a list, with the allowances its reader may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramListItem {
    #[serde(flatten)]
    pub program: ProgramView,
    /// The operator: every prescriber's; a prescriber: its own; a funder: none.
    pub allocations: Vec<AllowanceView>,
}

/// The programs the caller may see, oldest first: the operator's all, a funder's
/// those it funds (with their money), a prescriber's those it has an allocation in
/// (with what it may still issue, without the funders' money). A site sees none.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<ProgramListItem>))
)]
#[get("/programs")]
pub async fn list_programs(
    caller: Caller,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ProgramListItem>>> {
    let limit = page.limit()?;
    let mut conn = state.conn().await?;
    let rows =
        programs::list_visible(&mut conn, &caller, page.after_id()?, i64::from(limit) + 1).await?;
    let (rows, next_cursor) = split_page(rows, limit, |p| p.id);
    let mut items = Vec::with_capacity(rows.len());
    for program in rows {
        let id = program.id;
        let view = view(&mut conn, program).await?;
        let (view, allowances) = match caller.kind {
            crate::domain::OrgKind::Operator => {
                (view, programs::allowances(&mut conn, id, None).await?)
            }
            crate::domain::OrgKind::Prescriber => (
                view.for_prescriber(),
                programs::allowances(&mut conn, id, Some(caller.organization_id)).await?,
            ),
            _ => (view, Vec::new()),
        };
        items.push(ProgramListItem {
            program: view,
            allocations: allowances
                .into_iter()
                .map(|a| AllowanceView {
                    prescriber_id: a.prescriber_id,
                    prescriber_name: a.prescriber_name,
                    checkbooks: a.checkbooks,
                    remaining_checkbooks: a.remaining_checkbooks,
                })
                .collect(),
        });
    }
    Ok(web::Json(Page { items, next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub funder_id: Uuid,
    #[schema(example = "30000.00")]
    pub amount: String,
    /// The funder's or the bank's reference; unique per funder and program.
    pub reference: String,
    pub received_on: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub program_id: Uuid,
    pub funder_id: Uuid,
    pub amount: String,
    pub reference: String,
    pub received_on: NaiveDate,
    pub created_at: DateTime<Utc>,
}

/// Records money received from a funder: it becomes available for issuance
/// (operator admins; an operator agent gets 403 `forbidden`).
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = PaymentRequest,
    responses(
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = PaymentView),
        (status = 409, description = "`payment_exceeds_commitment`, `payment_already_recorded`, `program_closed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/programs/{id}/payments")]
pub async fn record_payment(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<PaymentRequest>,
) -> ApiResult<HttpResponse> {
    caller.require_operator_admin()?;
    let req = body.0;
    let amount = Money::parse_positive("amount", &req.amount)?;
    let reference = domain::text("reference", &req.reference, 100)?;
    let mut conn = state.conn().await?;
    let payment = programs::record_payment(
        &mut conn,
        (&caller).into(),
        id.into_inner(),
        req.funder_id,
        amount,
        reference,
        req.received_on,
    )
    .await?;
    Ok(HttpResponse::Created().json(PaymentView {
        id: payment.id,
        program_id: payment.program_id,
        funder_id: payment.funder_id,
        amount: money(payment.amount),
        reference: payment.reference,
        received_on: payment.received_on,
        created_at: payment.created_at,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    pub prescriber_id: Uuid,
    /// Checkbooks added to the prescriber's allocation.
    #[schema(example = 50)]
    pub checkbooks: u32,
    /// Allocates past what the budget pays for (every prescriber's allocations
    /// counted); without it such an allocation answers 409 `allocation_over_budget`.
    #[serde(default)]
    pub confirm_over_budget: bool,
}

/// The request's confirmation, as the use case takes it.
pub(crate) fn over_budget(confirmed: bool) -> programs::OverBudget {
    if confirmed {
        programs::OverBudget::Confirmed
    } else {
        programs::OverBudget::Refuse
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationView {
    pub id: Uuid,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub checkbooks: i32,
    /// Checkbooks the prescriber may still issue, all allocations counted.
    pub remaining_checkbooks: i64,
    pub created_at: DateTime<Utc>,
}

/// Adds checkbooks to a prescriber's allocation in a program (operator admins; an
/// operator agent gets 403 `forbidden`).
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = AllocationRequest,
    responses(
        (status = 201, body = AllocationView),
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`allocation_over_budget` (with `affordable_checkbooks`: what the budget still pays for), `program_closed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/programs/{id}/allocations")]
pub async fn add_allocation(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<AllocationRequest>,
) -> ApiResult<HttpResponse> {
    caller.require_operator_admin()?;
    if !(1..=100_000).contains(&body.checkbooks) {
        return Err(ValidationError::new(
            "checkbooks",
            "Une dotation va de 1 à 100 000 chéquiers.",
        )
        .into());
    }
    let mut conn = state.conn().await?;
    let (allocation, remaining) = programs::add_allocation(
        &mut conn,
        (&caller).into(),
        id.into_inner(),
        body.prescriber_id,
        body.checkbooks,
        over_budget(body.confirm_over_budget),
    )
    .await?;
    Ok(HttpResponse::Created().json(AllocationView {
        id: allocation.id,
        program_id: allocation.program_id,
        prescriber_id: allocation.prescriber_id,
        checkbooks: allocation.checkbooks,
        remaining_checkbooks: remaining,
        created_at: allocation.created_at,
    }))
}

/// Closes a program (operator admins; an operator agent gets 403 `forbidden`), once
/// none of its tickets can be used any more: its outstanding tickets expire and what
/// is left goes back to each funder as a credit note.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 403, description = "`forbidden`: operator admins only", body = Problem, content_type = "application/problem+json"),
        (status = 200, body = ClosedProgram),
        (status = 409, description = "`program_closed`, `tickets_still_valid` (with `closable_from`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/programs/{id}/close")]
pub async fn close_program(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ClosedProgram>> {
    caller.require_operator_admin()?;
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let notes = conn
        .transaction::<_, CloseError, _>(async |conn| {
            crate::closing::close_program(conn, (&caller).into(), id).await
        })
        .await?;
    let program = programs::find_program(&mut conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(web::Json(ClosedProgram {
        program: view(&mut conn, program).await?,
        credit_notes: notes
            .iter()
            .map(crate::api::settlements::StatementView::from)
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClosedProgram {
    pub program: ProgramView,
    /// One per funder that gets money back.
    pub credit_notes: Vec<crate::api::settlements::StatementView>,
}
