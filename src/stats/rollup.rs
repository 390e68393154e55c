//! The whole-program statistics read from the rollups the database keeps
//! (`sql/functions/stats.sql`, tables of migration 000028) instead of every ticket:
//! a national program holds 20 million. Same groups, same columns as the raw queries
//! of `super::raw` (`BOOKS_HEAD`, `REDEMPTIONS_HEAD`), so the answer is built the same
//! way; and the groups the raw rows give by their own queries (by public,
//! `super::publics`; by theme and format, `super::services`; by autonomy,
//! `super::autonomy`) come from the same cells ([`OtherGroups`]), with the same
//! secrecy. `tests/api/stats_rollups.rs` checks both agree after random operations.

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::autonomy::{self, Autonomy};
use super::services::{self, ServiceBreakdowns};
use super::{BookGroup, Counts, GroupFigures, publics};
use crate::db::DbError;

/// The checkbook side from `stats_book_cells` (with the groups by public, autonomy,
/// theme and format: `grouping_set` is the dim, `key` its key), corrected by the
/// checkbooks changed since the last fold and those whose unused tickets reached their
/// last day (computed afresh, minus their folded contribution). `$1` program, `$2` the year of
/// the day (ages), `$3` the last `valid_until` already expired.
pub(super) const BOOKS: &str = r#"
WITH ids AS (
    SELECT COALESCE(array_agg(DISTINCT b.id), '{}') AS ids FROM (
        SELECT COALESCE(ch.checkbook_id, t.checkbook_id) AS id
          FROM stats_changes ch LEFT JOIN tickets t ON t.id = ch.ticket_id
         WHERE ch.program_id = $1
        UNION ALL
        SELECT checkbook_id FROM stats_books WHERE program_id = $1 AND next_expiry <= $3
    ) b WHERE b.id IS NOT NULL
),
books AS MATERIALIZED (
    SELECT 1 AS sign, f AS book
      FROM ids CROSS JOIN LATERAL stats_books_fresh(ids.ids, $3) f
     WHERE f.program_id = $1
    UNION ALL
    SELECT -1, s
      FROM ids CROSS JOIN LATERAL unnest(ids.ids) AS i (id)
      JOIN stats_books s ON s.checkbook_id = i.id
     WHERE s.program_id = $1
),
cells AS (
    SELECT dim, key, checkbooks_issued, checkbooks_in_stock, checkbooks_handed_out, checkbooks_started, checkbooks_cancelled, tickets_issued, tickets_handed_out, tickets_in_stock, tickets_redeemed, tickets_settled, tickets_expired, tickets_cancelled, tickets_outstanding, amount_issued, amount_handed_out, amount_redeemed, amount_settled, commission, amount_expired, amount_cancelled, amount_outstanding
      FROM stats_book_cells WHERE program_id = $1
    UNION ALL
    SELECT k.* FROM books b CROSS JOIN LATERAL stats_book_cells_of(b.book, b.sign) k
),
summed AS (
    SELECT c.dim, c.key,
           sum(c.checkbooks_issued) AS checkbooks_issued,
           sum(c.checkbooks_in_stock) AS checkbooks_in_stock,
           sum(c.checkbooks_handed_out) AS checkbooks_handed_out,
           sum(c.checkbooks_started) AS checkbooks_started,
           sum(c.checkbooks_cancelled) AS checkbooks_cancelled,
           sum(c.tickets_issued) AS tickets_issued,
           sum(c.tickets_handed_out) AS tickets_handed_out,
           sum(c.tickets_in_stock) AS tickets_in_stock,
           sum(c.tickets_redeemed) AS tickets_redeemed,
           sum(c.tickets_settled) AS tickets_settled,
           sum(c.tickets_expired) AS tickets_expired,
           sum(c.tickets_cancelled) AS tickets_cancelled,
           sum(c.tickets_outstanding) AS tickets_outstanding,
           sum(c.amount_issued) AS amount_issued,
           sum(c.amount_handed_out) AS amount_handed_out,
           sum(c.amount_redeemed) AS amount_redeemed,
           sum(c.amount_settled) AS amount_settled,
           sum(c.commission) AS commission,
           sum(c.amount_expired) AS amount_expired,
           sum(c.amount_cancelled) AS amount_cancelled,
           sum(c.amount_outstanding) AS amount_outstanding
      FROM cells c GROUP BY c.dim, c.key
)
SELECT g.grouping_set, g.prescriber_id, g.age_band, g.situation, g.postcode_prefix, g.postcode, g.key,
    COALESCE(sum(s.checkbooks_issued), 0)::bigint AS checkbooks_issued,
    COALESCE(sum(s.checkbooks_in_stock), 0)::bigint AS checkbooks_in_stock,
    COALESCE(sum(s.checkbooks_handed_out), 0)::bigint AS checkbooks_handed_out,
    COALESCE(sum(s.checkbooks_started), 0)::bigint AS checkbooks_started,
    COALESCE(sum(s.checkbooks_cancelled), 0)::bigint AS checkbooks_cancelled,
    COALESCE(sum(s.tickets_issued), 0)::bigint AS tickets_issued,
    COALESCE(sum(s.tickets_handed_out), 0)::bigint AS tickets_handed_out,
    COALESCE(sum(s.tickets_in_stock), 0)::bigint AS tickets_in_stock,
    COALESCE(sum(s.tickets_redeemed), 0)::bigint AS tickets_redeemed,
    COALESCE(sum(s.tickets_settled), 0)::bigint AS tickets_settled,
    COALESCE(sum(s.tickets_expired), 0)::bigint AS tickets_expired,
    COALESCE(sum(s.tickets_cancelled), 0)::bigint AS tickets_cancelled,
    COALESCE(sum(s.tickets_outstanding), 0)::bigint AS tickets_outstanding,
    COALESCE(sum(s.amount_issued), 0) AS amount_issued,
    COALESCE(sum(s.amount_handed_out), 0) AS amount_handed_out,
    COALESCE(sum(s.amount_redeemed), 0) AS amount_redeemed,
    COALESCE(sum(s.amount_settled), 0) AS amount_settled,
    COALESCE(sum(s.commission), 0) AS commission,
    COALESCE(sum(s.amount_expired), 0) AS amount_expired,
    COALESCE(sum(s.amount_cancelled), 0) AS amount_cancelled,
    COALESCE(sum(s.amount_outstanding), 0) AS amount_outstanding
FROM summed s
CROSS JOIN LATERAL (
    SELECT 'total' AS grouping_set, NULL::uuid AS prescriber_id, NULL::text AS age_band,
           NULL::text AS situation, NULL::text AS postcode_prefix, NULL::text AS postcode,
           NULL::text AS key
     WHERE s.dim = 'total'
    UNION ALL SELECT 'prescriber', s.key::uuid, NULL, NULL, NULL, NULL, NULL WHERE s.dim = 'prescriber'
    UNION ALL SELECT 'age_band', NULL,
           CASE WHEN s.key = 'unknown' THEN 'unknown'
                WHEN $2 - s.key::int < 26 THEN 'under_26'
                WHEN $2 - s.key::int < 45 THEN '26_44'
                WHEN $2 - s.key::int < 65 THEN '45_64'
                ELSE '65_plus' END, NULL, NULL, NULL, NULL
     WHERE s.dim = 'birth_year'
    UNION ALL SELECT 'situation', NULL, NULL, s.key, NULL, NULL, NULL WHERE s.dim = 'situation'
    UNION ALL SELECT 'postcode_prefix', NULL, NULL, NULL,
           CASE WHEN s.key = 'unknown' THEN 'unknown' ELSE left(s.key, 2) END, NULL, NULL
     WHERE s.dim = 'postcode'
    UNION ALL SELECT 'postcode', NULL, NULL, NULL, NULL, s.key, NULL WHERE s.dim = 'postcode'
    UNION ALL SELECT s.dim, NULL, NULL, NULL, NULL, NULL, s.key
     WHERE s.dim IN ('public', 'autonomy', 'theme', 'format')
) g
WHERE s.checkbooks_issued <> 0 OR s.dim = 'total'
GROUP BY g.grouping_set, g.prescriber_id, g.age_band, g.situation, g.postcode_prefix, g.postcode, g.key"#;

/// The redemption side from `stats_site_months` plus the changes not yet folded.
/// `$1` program.
pub(super) const REDEMPTIONS: &str = r#"
SELECT
    CASE WHEN GROUPING(q.site_id) = 0 THEN 'site'
         WHEN GROUPING(q.month) = 0 THEN 'month'
         ELSE 'total' END AS grouping_set,
    q.site_id, q.month,
    COALESCE(sum(q.tickets_redeemed), 0)::bigint AS tickets_redeemed,
    COALESCE(sum(q.amount_redeemed), 0) AS amount_redeemed,
    COALESCE(sum(q.commission), 0) AS commission,
    COALESCE(sum(q.tickets_settled), 0)::bigint AS tickets_settled,
    COALESCE(sum(q.amount_settled), 0) AS amount_settled,
    COALESCE(sum(q.reversals), 0)::bigint AS reversals
FROM (
    SELECT site_id, month, tickets_redeemed, amount_redeemed, commission, tickets_settled,
           amount_settled, reversals
      FROM stats_site_months WHERE program_id = $1
    UNION ALL
    SELECT site_id, month, tickets_redeemed, amount_redeemed, commission, tickets_settled,
           amount_settled, reversals
      FROM stats_changes WHERE program_id = $1 AND site_id IS NOT NULL
) q
GROUP BY GROUPING SETS ((), (q.site_id), (q.month))"#;

/// Folds the changes appended since the last fold into the rollups, unless another
/// fold is running (it does the same). Its own statement, outside the reading
/// transaction: readers are exact either way, a fold only keeps their correction small.
pub async fn fold(conn: &mut AsyncPgConnection) -> Result<(), DbError> {
    diesel::sql_query("SELECT stats_fold(false)")
        .execute(conn)
        .await?;
    Ok(())
}

/// The groups of [`BOOKS`] beyond the raw query's: people by public, by autonomy
/// levels (`before:after`), by theme and by format of the services used.
#[derive(Debug, Default)]
pub(super) struct OtherGroups {
    publics: Vec<(String, Counts)>,
    /// (`theme` or `format`, key, people, tickets, amount).
    services: Vec<(String, String, i64, i64, Decimal)>,
    /// (`before:after`, people).
    autonomy: Vec<(String, i64)>,
}

impl OtherGroups {
    /// Takes these groups out of `groups` (the raw query has none).
    pub(super) fn split(groups: Vec<BookGroup>) -> (Vec<BookGroup>, OtherGroups) {
        let mut other = OtherGroups::default();
        let mut rest = Vec::with_capacity(groups.len());
        for g in groups {
            let Some(key) = g.key.clone() else {
                rest.push(g);
                continue;
            };
            let c = g.counts;
            match g.grouping_set.as_str() {
                "public" => other.publics.push((key, c)),
                "autonomy" => other.autonomy.push((key, c.checkbooks_issued)),
                set @ ("theme" | "format") => other.services.push((
                    set.to_owned(),
                    key,
                    c.checkbooks_issued,
                    c.tickets_redeemed,
                    c.amount_redeemed,
                )),
                _ => {}
            }
        }
        (rest, other)
    }

    /// The breakdowns as shown, with the same secrecy as from the raw rows.
    pub(super) fn breakdowns(
        self,
        rates: bool,
    ) -> (Vec<(String, GroupFigures)>, ServiceBreakdowns, Autonomy) {
        (
            publics::from_counts(self.publics, rates),
            services::from_cells(self.services),
            autonomy::from_cells(&self.autonomy),
        )
    }
}
