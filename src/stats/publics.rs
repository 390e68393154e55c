//! The breakdown by public (*public prioritaire*): how many people of each priority
//! public the program reached, and how much they used their tickets.
//!
//! Publics are recorded by prescribers on a beneficiary (`checkbooks.beneficiary_publics`,
//! the vocabulary of [`crate::vocabulary::Public`]), and a person may belong to several:
//! a person counts once in each of their publics, so the rows do not add up to the
//! people handed a checkbook (a person on RSA without a diploma is in two rows). People
//! with no public recorded (none given, or erased) are the row `unknown`. Every public
//! of the vocabulary is listed, in its order, even when nobody belongs to it.
//!
//! Same scope and definitions as the rest of the statistics (`src/stats.rs`): handed-out
//! checkbooks only, a ticket used when it has a live redemption; the same small-cell
//! secrecy ([`super::disclosure`]). One statement, run inside the statistics' read-only
//! snapshot.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Counts, GroupFigures, Scope, UNKNOWN, disclosure, fixed_order};
use crate::db::DbError;
use crate::vocabulary::Public;

/// One public's people and their tickets.
#[derive(Debug, QueryableByName)]
struct PublicGroup {
    #[diesel(sql_type = Text)]
    public: String,
    #[diesel(sql_type = BigInt)]
    handed_out: i64,
    #[diesel(sql_type = BigInt)]
    started: i64,
    #[diesel(sql_type = BigInt)]
    tickets_handed_out: i64,
    #[diesel(sql_type = BigInt)]
    tickets_redeemed: i64,
    #[diesel(sql_type = Numeric)]
    amount_redeemed: Decimal,
}

/// Handed-out checkbooks of the program (`$1`) with their tickets and live
/// redemptions, one row per checkbook, then one row per (checkbook, public): a
/// checkbook with no public recorded counts as `unknown`; a public listed twice counts
/// once. The scope's condition (`$2`) is appended to the inner `WHERE`.
const HEAD: &str = "
SELECT p.public,
    count(*) AS handed_out,
    count(*) FILTER (WHERE b.redeemed > 0) AS started,
    COALESCE(sum(b.tickets), 0)::bigint AS tickets_handed_out,
    COALESCE(sum(b.redeemed), 0)::bigint AS tickets_redeemed,
    COALESCE(sum(b.amount_redeemed), 0) AS amount_redeemed
FROM (
    SELECT c.id, c.beneficiary_publics AS publics,
        count(*) AS tickets,
        count(r.id) AS redeemed,
        sum(t.value) FILTER (WHERE r.id IS NOT NULL) AS amount_redeemed
    FROM tickets t
    JOIN checkbooks c ON c.id = t.checkbook_id
    LEFT JOIN redemptions r ON r.ticket_id = t.id AND r.status <> 'reversed'::redemption_status
    WHERE t.program_id = $1 AND c.handed_out_at IS NOT NULL";

const TAIL: &str = "
    GROUP BY c.id
) b
CROSS JOIN LATERAL (
    SELECT DISTINCT x FROM unnest(
        CASE WHEN cardinality(b.publics) = 0 THEN ARRAY['unknown']::text[] ELSE b.publics END
    ) AS x WHERE x IS NOT NULL
) p(public)
GROUP BY p.public";

/// The breakdown by public of a program in `scope`, as it may be shown. `rates`:
/// whether usage rates mean something in this scope (not for a site).
pub async fn by_public(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    scope: Scope,
    rates: bool,
) -> Result<Vec<(String, GroupFigures)>, DbError> {
    let query = diesel::sql_query(HEAD)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<SqlUuid, _>(program);
    let query = match scope {
        Scope::Program => query,
        Scope::Prescriber(org) => query
            .sql(" AND c.prescriber_id = $2")
            .bind::<SqlUuid, _>(org),
        Scope::Site(org) => query.sql(" AND r.site_id = $2").bind::<SqlUuid, _>(org),
    };
    let groups: Vec<PublicGroup> = query.sql(TAIL).load(conn).await?;
    Ok(disclosure::disclose(ordered(groups), rates))
}

/// The breakdown from the rollups' groups by public (each with every count of its
/// checkbooks: only those the raw query gives are kept).
pub(super) fn from_counts(
    found: Vec<(String, Counts)>,
    rates: bool,
) -> Vec<(String, GroupFigures)> {
    let groups = found
        .into_iter()
        .map(|(public, c)| PublicGroup {
            public,
            handed_out: c.checkbooks_handed_out,
            started: c.checkbooks_started,
            tickets_handed_out: c.tickets_handed_out,
            tickets_redeemed: c.tickets_redeemed,
            amount_redeemed: c.amount_redeemed,
        })
        .collect();
    disclosure::disclose(ordered(groups), rates)
}

/// Every public of the vocabulary in its order (zero when nobody), then any other key
/// found, then `unknown`.
fn ordered(groups: Vec<PublicGroup>) -> Vec<(String, Counts)> {
    let order: Vec<&str> = Public::ALL
        .iter()
        .map(|p| p.as_str())
        .chain([UNKNOWN])
        .collect();
    let found = groups
        .into_iter()
        .map(|g| {
            let counts = Counts {
                checkbooks_handed_out: g.handed_out,
                checkbooks_started: g.started,
                tickets_handed_out: g.tickets_handed_out,
                tickets_redeemed: g.tickets_redeemed,
                amount_redeemed: g.amount_redeemed,
                ..Counts::default()
            };
            (g.public, counts)
        })
        .collect();
    fixed_order(&order, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(public: &str, handed_out: i64) -> PublicGroup {
        PublicGroup {
            public: public.to_owned(),
            handed_out,
            started: 0,
            tickets_handed_out: handed_out * 10,
            tickets_redeemed: 0,
            amount_redeemed: Decimal::ZERO,
        }
    }

    #[test]
    fn every_public_is_listed_in_the_vocabulary_order_with_unknown_last() {
        let rows = ordered(vec![
            group("unknown", 3),
            group("senior", 7),
            group("rsa", 9),
        ]);
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "rsa",
                "jeunes",
                "demandeur_emploi",
                "senior",
                "handicap",
                "sans_diplome",
                "unknown"
            ]
        );
        assert_eq!(rows[0].1.checkbooks_handed_out, 9);
        assert_eq!(rows[3].1.tickets_handed_out, 70);
        assert_eq!(rows[1].1.checkbooks_handed_out, 0);
        assert_eq!(rows[6].1.checkbooks_handed_out, 3);
    }
}
