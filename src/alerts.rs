//! What the operator's dashboard must say before anyone asks: a finished month whose
//! scans are still unpaid, and a program whose money barely covers what it owes.
//!
//! **Unsettled month.** A calendar month (Paris time) that is over, in which live
//! (not reversed) redemptions arrived at a moment no settlement covers. Only the parts
//! of each month that no settlement covers are read (the month minus the union of the
//! settlements' periods, as PostgreSQL multiranges), by the `redemptions_time` index.
//!
//! **Cover.** For each program, from the ledger ([`crate::programs::funding`]):
//! *held* = received − paid out − refunded, *owed* = tickets outstanding + owed to
//! sites and the operator. `held < owed` breaks the cover (the rule's one home:
//! [`crate::programs::Funding::covered`]; never expected, the ring-fence forbids it,
//! so it is the loudest alert). `held < owed × (1 + 10 %)`
//! on an open program that owes something is a **low** cover: less than a tenth of
//! margin is left beyond what is owed, so prescribers will soon be refused
//! (`funds_not_received` or `budget_exhausted`) — time to ask for the next payment
//! or raise the budget. The margin, [`LOW_COVER_MARGIN`], is the one place to change.

use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Numeric};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::DbError;
use crate::domain::french_date;
use crate::programs;
use crate::schema::programs as program_rows;

/// Below this margin of money held beyond what is owed, a program's cover is low.
pub const LOW_COVER_MARGIN: Decimal = Decimal::from_parts(10, 0, 0, false, 2);

/// A finished month with scans no settlement covers.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct UnsettledMonth {
    /// Its first day.
    #[diesel(sql_type = Date)]
    pub month: NaiveDate,
    /// Live redemptions in its uncovered part.
    #[diesel(sql_type = BigInt)]
    pub redemptions: i64,
    /// Sites waiting for their payout.
    #[diesel(sql_type = BigInt)]
    pub sites: i64,
    /// What those sites are owed for them.
    #[diesel(sql_type = Numeric)]
    pub amount_payable: Decimal,
}

/// How a program's cover stands, when it needs saying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverLevel {
    /// Held below owed: tickets or payouts are not covered by money received.
    Broken,
    /// Held above owed by less than [`LOW_COVER_MARGIN`].
    Low,
}

/// A program whose cover needs the operator's eye.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverAlert {
    pub program_id: Uuid,
    pub name: String,
    pub level: CoverLevel,
    pub held: Decimal,
    pub owed: Decimal,
    /// (held − owed) / owed, to the percent's hundredth; `None` when nothing is owed.
    pub margin: Option<Decimal>,
}

/// Everything the dashboard warns about.
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    pub unsettled_months: Vec<UnsettledMonth>,
    pub cover: Vec<CoverAlert>,
    /// Site payout statements settled and not yet confirmed paid, oldest first.
    pub unpaid_payouts: Vec<crate::payouts::UnpaidPayout>,
}

/// The rule of the cover alert: `None` when all is well. Broken is the cover rule's
/// own answer ([`programs::Funding::covered`]); low is the dashboard's margin.
pub fn cover_level(funding: &programs::Funding, open: bool) -> Option<CoverLevel> {
    let (held, owed) = (funding.held(), funding.owed());
    if !funding.covered() {
        Some(CoverLevel::Broken)
    } else if open && owed > Decimal::ZERO && held < owed * (Decimal::ONE + LOW_COVER_MARGIN) {
        Some(CoverLevel::Low)
    } else {
        None
    }
}

/// The margin of money held beyond what is owed, as a rate (`0.05` for 5 %).
pub fn margin(held: Decimal, owed: Decimal) -> Option<Decimal> {
    (owed > Decimal::ZERO).then(|| {
        let mut rate = ((held - owed) / owed).round_dp(4);
        rate.rescale(4);
        rate
    })
}

const UNSETTLED_MONTHS_SQL: &str = "
WITH covered AS (
    SELECT coalesce(range_agg(tstzrange(starts_at, ends_at)), '{}'::tstzmultirange) AS m
    FROM settlements
), first AS (
    SELECT min(redeemed_at) AS at FROM redemptions WHERE status <> 'reversed'
), months AS (
    SELECT g::date AS month
    FROM first, generate_series(
        date_trunc('month', first.at AT TIME ZONE 'Europe/Paris'),
        $1::timestamp - interval '1 month',
        interval '1 month') AS g
    WHERE first.at IS NOT NULL
), gaps AS (
    SELECT months.month, gap
    FROM months, covered,
         unnest(tstzmultirange(tstzrange(
             months.month::timestamp AT TIME ZONE 'Europe/Paris',
             (months.month + interval '1 month')::timestamp AT TIME ZONE 'Europe/Paris'))
             - covered.m) AS gap
)
SELECT gaps.month, count(r.id) AS redemptions, count(DISTINCT r.site_id) AS sites,
       coalesce(sum(r.amount_payable), 0) AS amount_payable
FROM gaps
JOIN redemptions r ON r.redeemed_at >= lower(gaps.gap) AND r.redeemed_at < upper(gaps.gap)
WHERE r.status <> 'reversed'
GROUP BY gaps.month
ORDER BY gaps.month";

/// The finished months (before the current one in Paris) with unsettled scans.
pub async fn unsettled_months(
    conn: &mut AsyncPgConnection,
    today: NaiveDate,
) -> Result<Vec<UnsettledMonth>, DbError> {
    let this_month = today.with_day(1).unwrap_or(today);
    Ok(diesel::sql_query(UNSETTLED_MONTHS_SQL)
        .bind::<Date, _>(this_month)
        .load(conn)
        .await?)
}

/// The programs whose cover is low or broken, by name.
pub async fn cover_alerts(conn: &mut AsyncPgConnection) -> Result<Vec<CoverAlert>, DbError> {
    let rows: Vec<(Uuid, String, crate::statuses::ProgramStatus)> = program_rows::table
        .select((program_rows::id, program_rows::name, program_rows::status))
        .order(program_rows::name.asc())
        .load(conn)
        .await?;
    let mut alerts = Vec::new();
    for (id, name, status) in rows {
        let funding = programs::funding(conn, id).await?;
        let (held, owed) = (funding.held(), funding.owed());
        if let Some(level) = cover_level(&funding, status == crate::statuses::ProgramStatus::Open) {
            alerts.push(CoverAlert {
                program_id: id,
                name,
                level,
                held,
                owed,
                margin: margin(held, owed),
            });
        }
    }
    Ok(alerts)
}

/// The dashboard's alerts, in one read-only transaction.
pub async fn alerts(conn: &mut AsyncPgConnection) -> Result<Alerts, DbError> {
    let today = french_date(Utc::now());
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| {
            Ok(Alerts {
                unsettled_months: unsettled_months(conn, today).await?,
                cover: cover_alerts(conn).await?,
                unpaid_payouts: crate::payouts::unpaid(conn).await?,
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("a decimal")
    }

    #[test]
    fn the_cover_rule_names_each_case() {
        for (held, owed, open, expected) in [
            (dec("100"), dec("0"), true, None),
            (dec("0"), dec("0"), true, None),
            (dec("1000"), dec("500"), true, None),
            (dec("1100"), dec("1000"), true, None),
            (dec("1099.99"), dec("1000"), true, Some(CoverLevel::Low)),
            (dec("1000"), dec("1000"), true, Some(CoverLevel::Low)),
            (dec("1000"), dec("1000"), false, None),
            (dec("999.99"), dec("1000"), true, Some(CoverLevel::Broken)),
            (dec("999.99"), dec("1000"), false, Some(CoverLevel::Broken)),
        ] {
            // Held as money received, owed as tickets in circulation.
            let funding = programs::Funding {
                paid: std::collections::HashMap::from([(Uuid::nil(), held)]),
                outstanding: owed,
                ..Default::default()
            };
            assert_eq!(
                cover_level(&funding, open),
                expected,
                "held {held}, owed {owed}, open {open}"
            );
        }
        assert_eq!(LOW_COVER_MARGIN, dec("0.10"));
        assert_eq!(margin(dec("1050"), dec("1000")), Some(dec("0.05")));
        assert_eq!(margin(dec("5"), dec("0")), None);
    }
}
