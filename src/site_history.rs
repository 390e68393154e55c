//! A site's history (`GET /sites/{id}/history`): its scans month by month (Paris
//! time), what it will be paid for the months not yet settled and, for the settled
//! ones, the payout statement that paid them.
//!
//! One grouped query over the site's redemptions. A redemption belongs to the
//! settlement whose period holds its `redeemed_at` — the rule settlement itself uses
//! (`settlement::totals`, `redeemed_at >= starts_at AND redeemed_at < ends_at`) — so
//! a settled month's `amount_payable` is what its statement paid, to the cent, when
//! settlements are made by month (`passnum settle --period YYYY-MM`). A settlement
//! over several months gives one row per month, each naming the same statement.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::DbError;

/// One month of a site's scans, for one settlement (or none yet).
#[derive(Debug, Clone, QueryableByName)]
pub struct MonthRow {
    /// `YYYY-MM`, the month of the scans in Paris time.
    #[diesel(sql_type = Text)]
    pub month: String,
    /// Tickets redeemed and kept (reversed scans left out).
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
    /// Scans undone during the grace period.
    #[diesel(sql_type = BigInt)]
    pub reversed: i64,
    /// Face value of the tickets kept.
    #[diesel(sql_type = Numeric)]
    pub face_value: Decimal,
    /// What the site is owed for them (face value minus the program's commission).
    #[diesel(sql_type = Numeric)]
    pub amount_payable: Decimal,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub settlement_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Date>)]
    pub period_start: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Date>)]
    pub period_end: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub statement_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub statement_number: Option<String>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub statement_total: Option<Decimal>,
}

const HISTORY_SQL: &str = "SELECT
        to_char(r.redeemed_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM') AS month,
        count(*) FILTER (WHERE r.status <> 'reversed') AS tickets,
        count(*) FILTER (WHERE r.status = 'reversed') AS reversed,
        coalesce(sum(r.value) FILTER (WHERE r.status <> 'reversed'), 0) AS face_value,
        coalesce(sum(r.amount_payable) FILTER (WHERE r.status <> 'reversed'), 0)
            AS amount_payable,
        s.id AS settlement_id, s.period_start, s.period_end,
        st.id AS statement_id, st.number AS statement_number, st.total AS statement_total
    FROM redemptions r
    LEFT JOIN settlements s ON r.redeemed_at >= s.starts_at AND r.redeemed_at < s.ends_at
    LEFT JOIN statements st ON st.settlement_id = s.id AND st.organization_id = r.site_id
        AND st.kind = 'site_payout'
    WHERE r.site_id = $1
    GROUP BY 1, s.id, st.id
    ORDER BY 1 DESC, s.period_start NULLS FIRST";

/// The site's months, the latest first.
pub async fn site_history(
    conn: &mut AsyncPgConnection,
    site: Uuid,
) -> Result<Vec<MonthRow>, DbError> {
    Ok(diesel::sql_query(HISTORY_SQL)
        .bind::<SqlUuid, _>(site)
        .load(conn)
        .await?)
}
