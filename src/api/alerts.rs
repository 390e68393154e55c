//! `GET /dashboard/alerts` (operator): what the dashboard warns about — finished
//! months with unsettled scans, programs whose cover is low or broken (the rules and
//! the margin: [`crate::alerts`]).

use actix_web::{get, web};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::alerts::{self, CoverLevel, LOW_COVER_MARGIN};
use crate::api::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::money::Money;

/// A finished month whose scans no settlement covers yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnsettledMonthView {
    /// `YYYY-MM`.
    #[schema(example = "2026-10")]
    pub month: String,
    /// Its first and last days: the period to settle.
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Live redemptions not yet settled, the sites waiting, what they are owed.
    pub redemptions: i64,
    pub sites: i64,
    pub amount_payable: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoverAlertLevel {
    /// Money held is below what is owed.
    Broken,
    /// Money held exceeds what is owed by less than `low_cover_margin`.
    Low,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoverAlertView {
    pub program_id: Uuid,
    pub name: String,
    pub level: CoverAlertLevel,
    /// Received − paid out − refunded.
    pub held: String,
    /// Tickets outstanding + owed to sites and the operator.
    pub owed: String,
    /// (held − owed) / owed, e.g. `"0.0500"`; absent when nothing is owed.
    pub margin: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardAlerts {
    /// Oldest first.
    pub unsettled_months: Vec<UnsettledMonthView>,
    pub cover: Vec<CoverAlertView>,
    /// The margin under which a cover is `low`, e.g. `"0.10"`.
    pub low_cover_margin: String,
    /// Site payout statements settled and not yet confirmed paid, oldest first.
    pub unpaid_payouts: Vec<UnpaidPayoutView>,
}

/// A payout statement waiting for its transfer to be confirmed.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnpaidPayoutView {
    pub statement_id: Uuid,
    pub number: String,
    pub settlement_id: Option<Uuid>,
    pub organization_id: Uuid,
    pub name: String,
    pub total: String,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    /// Whole days since it was issued (Paris days).
    pub age_days: i64,
}

fn month_end(start: NaiveDate) -> NaiveDate {
    start
        .checked_add_months(chrono::Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(start)
}

/// The dashboard's alerts (operator): each finished month (Paris time) with live
/// redemptions that no settlement covers, and each program whose money held is
/// below what it owes (`broken`) or above it by less than the margin (`low`, open
/// programs only).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    responses(
        (status = 200, body = DashboardAlerts),
        (status = 403, description = "`forbidden`: operator only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dashboard/alerts")]
pub async fn dashboard_alerts(
    caller: Caller,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<DashboardAlerts>> {
    caller.require_operator()?;
    let mut conn = state.conn().await?;
    let found = alerts::alerts(&mut conn).await?;
    let today = crate::domain::french_date(chrono::Utc::now());
    Ok(web::Json(DashboardAlerts {
        unsettled_months: found
            .unsettled_months
            .into_iter()
            .map(|m| UnsettledMonthView {
                month: m.month.format("%Y-%m").to_string(),
                period_start: m.month,
                period_end: month_end(m.month),
                redemptions: m.redemptions,
                sites: m.sites,
                amount_payable: Money::from_decimal_unchecked(m.amount_payable).to_string(),
            })
            .collect(),
        cover: found
            .cover
            .into_iter()
            .map(|c| CoverAlertView {
                program_id: c.program_id,
                name: c.name,
                level: match c.level {
                    CoverLevel::Broken => CoverAlertLevel::Broken,
                    CoverLevel::Low => CoverAlertLevel::Low,
                },
                held: Money::from_decimal_unchecked(c.held).to_string(),
                owed: Money::from_decimal_unchecked(c.owed).to_string(),
                margin: c.margin.map(|m| m.to_string()),
            })
            .collect(),
        low_cover_margin: LOW_COVER_MARGIN.to_string(),
        unpaid_payouts: found
            .unpaid_payouts
            .into_iter()
            .map(|u| UnpaidPayoutView {
                age_days: (today - crate::domain::french_date(u.issued_at)).num_days(),
                statement_id: u.statement_id,
                number: u.number,
                settlement_id: u.settlement_id,
                organization_id: u.organization_id,
                name: u.name,
                total: Money::from_decimal_unchecked(u.total).to_string(),
                issued_at: u.issued_at,
            })
            .collect(),
    }))
}
