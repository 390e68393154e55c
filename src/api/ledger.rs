//! The ledger as the operator reads it: accounts with balances, the trial balance.

use actix_web::{get, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::ledger::{self, AccountBalance};
use crate::money::Money;

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    /// Stable key, e.g. `program:<id>:available`.
    pub code: String,
    pub kind: String,
    pub name: String,
    pub program_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    /// Sum of the postings: debits positive, credits negative.
    #[schema(example = "1200.00")]
    pub balance: String,
}

impl From<AccountBalance> for AccountView {
    fn from(a: AccountBalance) -> Self {
        AccountView {
            id: a.id,
            code: a.code,
            kind: a.kind,
            name: a.name,
            program_id: a.program_id,
            owner_id: a.organization_id,
            balance: signed(a.balance),
        }
    }
}

fn signed(value: Decimal) -> String {
    if value.is_sign_negative() && !value.is_zero() {
        format!("-{}", Money::from_decimal_unchecked(-value))
    } else {
        Money::from_decimal_unchecked(value.abs()).to_string()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// Only the accounts of this organisation (a funder's commitments…).
    pub owner_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    pub items: Vec<AccountView>,
}

/// Ledger accounts with their balances (operator).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(AccountFilter),
    responses((status = 200, body = AccountList), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/ledger/accounts")]
pub async fn accounts(
    caller: Caller,
    state: web::Data<AppState>,
    filter: web::Query<AccountFilter>,
) -> ApiResult<web::Json<AccountList>> {
    caller.require_operator()?;
    let mut conn = state.conn().await?;
    let rows = ledger::balances(&mut conn, filter.owner_id).await?;
    Ok(web::Json(AccountList {
        items: rows.into_iter().map(AccountView::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrialBalance {
    pub accounts: Vec<AccountView>,
    /// Sum of every balance: always "0.00" in a double-entry ledger.
    #[schema(example = "0.00")]
    pub total: String,
    pub total_debits: String,
    pub total_credits: String,
}

/// Every account's balance and their total, which is zero (operator).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    responses((status = 200, body = TrialBalance), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/ledger/trial-balance")]
pub async fn trial_balance(
    caller: Caller,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<TrialBalance>> {
    caller.require_operator()?;
    let mut conn = state.conn().await?;
    let rows = ledger::balances(&mut conn, None).await?;
    let total: Decimal = rows.iter().map(|a| a.balance).sum();
    let debits: Decimal = rows
        .iter()
        .map(|a| a.balance)
        .filter(|b| b.is_sign_positive())
        .sum();
    let credits: Decimal = rows
        .iter()
        .map(|a| a.balance)
        .filter(|b| b.is_sign_negative())
        .sum();
    Ok(web::Json(TrialBalance {
        accounts: rows.into_iter().map(AccountView::from).collect(),
        total: signed(total),
        total_debits: signed(debits),
        total_credits: signed(credits),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramCover {
    pub program_id: Uuid,
    pub name: String,
    /// Money received from the funders.
    pub received: String,
    /// Paid out to sites and the operator by settlements.
    pub paid_out: String,
    /// Returned to funders when the program closed.
    pub refunded: String,
    /// received − paid_out − refunded.
    pub held: String,
    /// Value of the tickets in circulation.
    pub outstanding: String,
    /// Redeemed, not yet paid: to sites and the operator's commission.
    pub owed_to_sites: String,
    /// held ≥ outstanding + owed_to_sites: every ticket and every euro owed is covered.
    pub covered: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoverReport {
    pub programs: Vec<ProgramCover>,
    /// Whether every program is covered.
    pub covered: bool,
}

/// The proof of cover, per program, from the ledger: money held ≥ tickets outstanding
/// + amounts owed (operator: all programs; a funder: those it funds).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    responses((status = 200, body = CoverReport), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/ledger/cover")]
pub async fn cover(
    caller: Caller,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<CoverReport>> {
    let funder = match caller.kind {
        crate::domain::OrgKind::Operator => None,
        crate::domain::OrgKind::Funder => Some(caller.organization_id),
        _ => {
            return Err(crate::error::ApiError::forbidden(
                "La couverture des fonds est réservée à l’opérateur et aux financeurs.",
            ));
        }
    };
    let mut conn = state.conn().await?;
    let programs = crate::programs::program_ids(&mut conn, funder).await?;
    let mut report = Vec::with_capacity(programs.len());
    for (id, name) in programs {
        let f = crate::programs::funding(&mut conn, id).await?;
        report.push(ProgramCover {
            program_id: id,
            name,
            received: signed(f.received()),
            paid_out: signed(f.paid_out),
            refunded: signed(f.refunded),
            held: signed(f.held()),
            outstanding: signed(f.outstanding),
            owed_to_sites: signed(f.owed_to_sites()),
            covered: f.covered(),
        });
    }
    let covered = report.iter().all(|p| p.covered);
    Ok(web::Json(CoverReport {
        programs: report,
        covered,
    }))
}
