//! The statistics over every ticket and redemption in scope: a prescriber's or a
//! site's part, and the whole program when asked for the raw rows (what the rollups
//! of [`super::rollup`] must agree with).

use chrono::NaiveDate;
use diesel::sql_types::{Date, Integer, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{BookGroup, RedemptionGroup, Scope};
use crate::db::DbError;

/// Tickets with their live redemption (settled when one of the settled periods,
/// gathered into one multirange, holds its arrival) grouped per checkbook, then
/// checkbooks grouped. `$1` program, `$2` the year of the day (ages),
/// `$3` the last `valid_until` already expired (day minus tolerance), `$4` the scope's
/// organisation when there is one. The statuses are literals cast to their enum
/// types (a misspelt one fails when the query is planned): the query stays one
/// constant text, as `REDEMPTIONS_HEAD`.
pub(super) const BOOKS_HEAD: &str = "
SELECT
    CASE WHEN GROUPING(b.prescriber_id) = 0 THEN 'prescriber'
         WHEN GROUPING(b.age_band) = 0 THEN 'age_band'
         WHEN GROUPING(b.situation) = 0 THEN 'situation'
         WHEN GROUPING(b.postcode_prefix) = 0 THEN 'postcode_prefix'
         WHEN GROUPING(b.postcode) = 0 THEN 'postcode'
         ELSE 'total' END AS grouping_set,
    b.prescriber_id, b.age_band, b.situation, b.postcode_prefix, b.postcode, NULL::text AS key,
    count(*) AS checkbooks_issued,
    count(*) FILTER (WHERE b.status = 'stock'::checkbook_status) AS checkbooks_in_stock,
    count(*) FILTER (WHERE b.handed_out) AS checkbooks_handed_out,
    count(*) FILTER (WHERE b.redeemed > 0) AS checkbooks_started,
    count(*) FILTER (WHERE b.status = 'cancelled'::checkbook_status) AS checkbooks_cancelled,
    COALESCE(sum(b.tickets), 0)::bigint AS tickets_issued,
    COALESCE(sum(b.tickets) FILTER (WHERE b.handed_out), 0)::bigint AS tickets_handed_out,
    COALESCE(sum(b.in_stock), 0)::bigint AS tickets_in_stock,
    COALESCE(sum(b.redeemed), 0)::bigint AS tickets_redeemed,
    COALESCE(sum(b.settled), 0)::bigint AS tickets_settled,
    COALESCE(sum(b.expired), 0)::bigint AS tickets_expired,
    COALESCE(sum(b.cancelled), 0)::bigint AS tickets_cancelled,
    COALESCE(sum(b.outstanding), 0)::bigint AS tickets_outstanding,
    COALESCE(sum(b.amount), 0) AS amount_issued,
    COALESCE(sum(b.amount) FILTER (WHERE b.handed_out), 0) AS amount_handed_out,
    COALESCE(sum(b.amount_redeemed), 0) AS amount_redeemed,
    COALESCE(sum(b.amount_settled), 0) AS amount_settled,
    COALESCE(sum(b.commission), 0) AS commission,
    COALESCE(sum(b.amount_expired), 0) AS amount_expired,
    COALESCE(sum(b.amount_cancelled), 0) AS amount_cancelled,
    COALESCE(sum(b.amount_outstanding), 0) AS amount_outstanding
FROM (
    SELECT
        c.id, c.prescriber_id, c.status, c.handed_out_at IS NOT NULL AS handed_out,
        CASE WHEN c.handed_out_at IS NULL THEN NULL
             WHEN c.beneficiary_birth_year IS NULL THEN 'unknown'
             WHEN $2 - c.beneficiary_birth_year < 26 THEN 'under_26'
             WHEN $2 - c.beneficiary_birth_year < 45 THEN '26_44'
             WHEN $2 - c.beneficiary_birth_year < 65 THEN '45_64'
             ELSE '65_plus' END AS age_band,
        CASE WHEN c.handed_out_at IS NULL THEN NULL
             ELSE COALESCE(c.beneficiary_situation, 'unknown') END AS situation,
        CASE WHEN c.handed_out_at IS NULL THEN NULL
             ELSE COALESCE(left(c.beneficiary_postcode, 2), 'unknown') END AS postcode_prefix,
        CASE WHEN c.handed_out_at IS NULL THEN NULL
             ELSE COALESCE(c.beneficiary_postcode, 'unknown') END AS postcode,
        count(*) AS tickets,
        sum(t.value) AS amount,
        count(*) FILTER (WHERE x.outstanding AND c.status = 'stock'::checkbook_status) AS in_stock,
        count(*) FILTER (WHERE x.redeemed) AS redeemed,
        count(*) FILTER (WHERE x.settled) AS settled,
        count(*) FILTER (WHERE x.expired) AS expired,
        count(*) FILTER (WHERE x.cancelled) AS cancelled,
        count(*) FILTER (WHERE x.outstanding) AS outstanding,
        sum(t.value) FILTER (WHERE x.redeemed) AS amount_redeemed,
        sum(t.value) FILTER (WHERE x.settled) AS amount_settled,
        sum(r.commission) FILTER (WHERE x.redeemed) AS commission,
        sum(t.value) FILTER (WHERE x.expired) AS amount_expired,
        sum(t.value) FILTER (WHERE x.cancelled) AS amount_cancelled,
        sum(t.value) FILTER (WHERE x.outstanding) AS amount_outstanding
    FROM tickets t
    JOIN checkbooks c ON c.id = t.checkbook_id
    LEFT JOIN redemptions r ON r.ticket_id = t.id AND r.status <> 'reversed'::redemption_status
    CROSS JOIN (SELECT range_agg(tstzrange(starts_at, ends_at)) AS periods FROM settlements) st
    CROSS JOIN LATERAL stats_ticket_state(r.id, r.status, r.redeemed_at, st.periods, t.status,
        t.valid_until, $3) x
    WHERE t.program_id = $1";

pub(super) const BOOKS_TAIL: &str = "
    GROUP BY c.id
) b
GROUP BY GROUPING SETS ((), (b.prescriber_id), (b.age_band), (b.situation), (b.postcode_prefix),
    (b.postcode))";

/// Redemptions grouped by site and by month (French time), reversals counted apart.
/// `$1` program, `$2` the scope's organisation when there is one.
const REDEMPTIONS_HEAD: &str = "
SELECT
    CASE WHEN GROUPING(q.site_id) = 0 THEN 'site'
         WHEN GROUPING(q.month) = 0 THEN 'month'
         ELSE 'total' END AS grouping_set,
    q.site_id, q.month,
    count(*) FILTER (WHERE q.live) AS tickets_redeemed,
    COALESCE(sum(q.value) FILTER (WHERE q.live), 0) AS amount_redeemed,
    COALESCE(sum(q.commission) FILTER (WHERE q.live), 0) AS commission,
    count(*) FILTER (WHERE q.settled) AS tickets_settled,
    COALESCE(sum(q.value) FILTER (WHERE q.settled), 0) AS amount_settled,
    count(*) FILTER (WHERE NOT q.live) AS reversals
FROM (
    SELECT
        r.site_id, r.value, r.commission,
        to_char(r.redeemed_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM') AS month,
        r.status <> 'reversed'::redemption_status AS live,
        r.status = 'settled'::redemption_status
            OR (r.status = 'redeemed'::redemption_status AND COALESCE(st.periods @> r.redeemed_at, false)) AS settled
    FROM redemptions r
    CROSS JOIN (SELECT range_agg(tstzrange(starts_at, ends_at)) AS periods FROM settlements) st";

const REDEMPTIONS_TAIL: &str = "
) q
GROUP BY GROUPING SETS ((), (q.site_id), (q.month))";

/// The two statements of the statistics over every ticket and redemption in scope.
pub(super) async fn raw_groups(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    scope: Scope,
    year: i32,
    last_expired: NaiveDate,
) -> Result<(Vec<BookGroup>, Vec<RedemptionGroup>), DbError> {
    let mut books = diesel::sql_query(BOOKS_HEAD)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<SqlUuid, _>(program)
        .bind::<Integer, _>(year)
        .bind::<Date, _>(last_expired);
    books = match scope {
        Scope::Program => books,
        Scope::Prescriber(org) => books
            .sql(" AND c.prescriber_id = $4")
            .bind::<SqlUuid, _>(org),
        Scope::Site(org) => books.sql(" AND r.site_id = $4").bind::<SqlUuid, _>(org),
    };
    let book_groups: Vec<BookGroup> = books.sql(BOOKS_TAIL).load(conn).await?;

    let mut redeemed = diesel::sql_query(REDEMPTIONS_HEAD).into_boxed::<diesel::pg::Pg>();
    if let Scope::Prescriber(_) = scope {
        redeemed = redeemed.sql(
            " JOIN tickets t ON t.id = r.ticket_id JOIN checkbooks c ON c.id = t.checkbook_id",
        );
    }
    redeemed = redeemed
        .sql(" WHERE r.program_id = $1")
        .bind::<SqlUuid, _>(program);
    redeemed = match scope {
        Scope::Program => redeemed,
        Scope::Prescriber(org) => redeemed
            .sql(" AND c.prescriber_id = $2")
            .bind::<SqlUuid, _>(org),
        Scope::Site(org) => redeemed.sql(" AND r.site_id = $2").bind::<SqlUuid, _>(org),
    };
    let redemption_groups: Vec<RedemptionGroup> = redeemed.sql(REDEMPTIONS_TAIL).load(conn).await?;
    Ok((book_groups, redemption_groups))
}
