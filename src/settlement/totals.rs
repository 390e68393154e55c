//! A settlement's totals: two grouped passes over the period's live redemptions
//! (by program and site, by program and turn) and the sums drawn from them — what
//! each statement totals and what the ledger moves, without reading a line.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Numeric, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rounding::{ProgramTerms, fee_cents, split_by_shares, to_cents};
use crate::db::DbError;

/// A settlement's redemptions of one program at one site: what the site is owed.
#[derive(Debug, Clone, QueryableByName)]
pub struct SiteGroup {
    #[diesel(sql_type = SqlUuid)]
    pub program_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub site_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
    #[diesel(sql_type = Numeric)]
    pub commission: Decimal,
    #[diesel(sql_type = BigInt)]
    pub commissioned: i64,
    /// A program has one face value: the smallest and largest of the group say so.
    /// (What the site is owed follows: every redemption's value is its commission
    /// plus its payable, which the database checks.)
    #[diesel(sql_type = Numeric)]
    pub min_value: Decimal,
    #[diesel(sql_type = Numeric)]
    pub max_value: Decimal,
}

/// How many of a settlement's tickets of one program have each turn: how their face
/// value splits among the funders.
#[derive(Debug, Clone, QueryableByName)]
pub struct TurnGroup {
    #[diesel(sql_type = SqlUuid)]
    pub program_id: Uuid,
    #[diesel(sql_type = Integer)]
    pub turn: i32,
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
}

/// What each site is owed over a period (a parallel pass, a few hundred groups).
pub const SITE_GROUPS_SQL: &str = "SELECT program_id, site_id, count(*) AS tickets,
        sum(commission) AS commission,
        count(*) FILTER (WHERE commission <> 0) AS commissioned,
        min(value) AS min_value, max(value) AS max_value
    FROM redemptions
    WHERE status <> 'reversed' AND redeemed_at >= $1 AND redeemed_at < $2
    GROUP BY 1, 2";

/// How many tickets of each program have each turn over a period (60 turns).
pub const TURN_GROUPS_SQL: &str = "SELECT program_id, turn::integer AS turn, count(*) AS tickets
    FROM redemptions
    WHERE status <> 'reversed' AND redeemed_at >= $1 AND redeemed_at < $2
    GROUP BY 1, 2";

/// The two grouped passes over a period's live redemptions that its totals need.
pub async fn groups(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<SiteGroup>, Vec<TurnGroup>), DbError> {
    let sites = diesel::sql_query(SITE_GROUPS_SQL)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(conn)
        .await?;
    let turns = diesel::sql_query(TURN_GROUPS_SQL)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(conn)
        .await?;
    Ok((sites, turns))
}

/// A settlement's sums, from its groups: what each statement totals and what the
/// ledger moves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sums {
    /// Per site: lines, cents payable.
    pub sites: BTreeMap<Uuid, (i64, i64)>,
    /// Per program and site: cents payable.
    pub payable: BTreeMap<(Uuid, Uuid), i64>,
    /// Per program: commission cents.
    pub commission: BTreeMap<Uuid, i64>,
    /// Lines of the commission statement.
    pub commission_lines: i64,
    /// Per funder and program: lines, face cents billed.
    pub faces: BTreeMap<(Uuid, Uuid), (i64, i64)>,
}

impl Sums {
    /// The sums of the groups, or `None` if a program's tickets have more than one
    /// face value (a program has one; a settlement refuses rather than bill a split it
    /// did not compute).
    pub fn of(
        sites: &[SiteGroup],
        turns: &[TurnGroup],
        programs: &HashMap<Uuid, ProgramTerms>,
    ) -> Option<Sums> {
        let mut sums = Sums::default();
        let mut face: HashMap<Uuid, Decimal> = HashMap::new();
        for g in sites
            .iter()
            .filter(|g| programs.contains_key(&g.program_id))
        {
            let value = *face.entry(g.program_id).or_insert(g.min_value);
            if g.min_value != value || g.max_value != value {
                return None;
            }
            let payable = to_cents(value) * g.tickets - to_cents(g.commission);
            let site = sums.sites.entry(g.site_id).or_insert((0, 0));
            site.0 += g.tickets;
            site.1 += payable;
            *sums.payable.entry((g.program_id, g.site_id)).or_insert(0) += payable;
            *sums.commission.entry(g.program_id).or_insert(0) += to_cents(g.commission);
            sums.commission_lines += g.commissioned;
        }
        for g in turns {
            let (Some(terms), Some(value)) = (programs.get(&g.program_id), face.get(&g.program_id))
            else {
                continue;
            };
            let shares: Vec<Decimal> = terms.shares.iter().map(|(_, s)| *s).collect();
            let parts = split_by_shares(
                to_cents(*value),
                &shares,
                usize::try_from(g.turn).unwrap_or(0),
            );
            for ((funder, _), part) in terms.shares.iter().zip(parts) {
                let face = sums.faces.entry((*funder, g.program_id)).or_insert((0, 0));
                face.0 += g.tickets;
                face.1 += part * g.tickets;
            }
        }
        Some(sums)
    }

    /// Lines and total of a funder's bill: its face parts and one fee line per
    /// program with a fee.
    pub fn bill(&self, funder: Uuid, programs: &HashMap<Uuid, ProgramTerms>) -> (i64, i64, i64) {
        let (mut lines, mut total, mut fees) = (0, 0, 0);
        for ((f, program), (n, face)) in &self.faces {
            if *f != funder {
                continue;
            }
            lines += n;
            total += face;
            let fee = programs
                .get(program)
                .map(|t| fee_cents(*face, t.funder_fee_rate))
                .unwrap_or(0);
            if fee != 0 {
                lines += 1;
                total += fee;
                fees += fee;
            }
        }
        (lines, total, fees)
    }
}

#[cfg(test)]
mod tests {
    use super::super::rounding::tests::shares_strategy;
    use super::super::rounding::{from_cents, turn_of};
    use super::super::sheet::*;
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::RoundingStrategy;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn bills_add_up_to_the_face_value_and_every_statement_to_its_lines(
            tickets in proptest::collection::vec((0usize..2, 0usize..3, 0u32..500, any::<u128>()), 0..300),
            values in proptest::collection::vec(1i64..100_000, 2),
            shares in proptest::collection::vec(shares_strategy(), 2),
            fee_rates in proptest::collection::vec(0u32..2_000, 2),
        ) {
            let programs: Vec<Uuid> = (0..2).map(|_| Uuid::now_v7()).collect();
            let sites: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
            let terms: HashMap<Uuid, ProgramTerms> = programs.iter().zip(&shares).zip(&fee_rates).enumerate()
                .map(|(i, ((program, shares), fee))| (*program, ProgramTerms {
                    name: format!("Programme {i}"),
                    commission_rate: Decimal::ZERO,
                    funder_fee_rate: Decimal::new(i64::from(*fee), 4),
                    shares: shares.iter().map(|s| (Uuid::now_v7(), *s)).collect(),
                })).collect();
            let redemptions: Vec<SettledRedemption> = tickets.iter().enumerate()
                .map(|(i, (p, site, commission_bp, id))| {
                    // A program has one face value.
                    let value = from_cents(values[*p]);
                    let commission = (value * Decimal::new(i64::from(*commission_bp), 4))
                        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
                    SettledRedemption {
                        id: Uuid::from_u128(*id),
                        program_id: programs[*p],
                        site_id: sites[*site],
                        serial: format!("S{i}"),
                        checkbook_number: "C".into(),
                        redeemed_at: Utc::now(),
                        value_cents: to_cents(value),
                        payable_cents: to_cents(value - commission),
                        commission_cents: to_cents(commission),
                    }
                }).collect();
            // The groups the settlement's two SQL passes return.
            let mut by_site: BTreeMap<(Uuid, Uuid), SiteGroup> = BTreeMap::new();
            let mut by_turn: BTreeMap<(Uuid, usize), TurnGroup> = BTreeMap::new();
            for r in &redemptions {
                let g = by_site.entry((r.program_id, r.site_id)).or_insert(SiteGroup {
                    program_id: r.program_id, site_id: r.site_id, tickets: 0,
                    commission: Decimal::ZERO, commissioned: 0,
                    min_value: from_cents(r.value_cents), max_value: from_cents(r.value_cents),
                });
                g.tickets += 1;
                g.commission += from_cents(r.commission_cents);
                g.commissioned += i64::from(r.commission_cents != 0);
                g.min_value = g.min_value.min(from_cents(r.value_cents));
                g.max_value = g.max_value.max(from_cents(r.value_cents));
                let turn = turn_of(r.id);
                by_turn.entry((r.program_id, turn)).or_insert(TurnGroup {
                    program_id: r.program_id, turn: i32::try_from(turn).unwrap(), tickets: 0,
                }).tickets += 1;
            }
            let site_groups: Vec<SiteGroup> = by_site.into_values().collect();
            let turn_groups: Vec<TurnGroup> = by_turn.into_values().collect();
            let sums = Sums::of(&site_groups, &turn_groups, &terms).unwrap();
            let sheet = |whose| Sheet {
                number: "REL-2026-000001".into(),
                date: Utc::now().date_naive(),
                whose,
                programs: terms.clone(),
                sites: sites.iter().map(|s| (*s, ("Lieu; « 1 »".to_string(), None))).collect(),
                format: CsvFormat::FormulaSafe,
                dialect: CsvFormat::FormulaSafe.sealed_dialect(),
            };
            let line_sum = |content: &StatementContent| -> Decimal {
                content.csv.lines().skip(1)
                    .map(|l| l.rsplit(';').next().unwrap().parse::<Decimal>().unwrap())
                    .sum()
            };
            let mut billed_face = 0i64;
            for t in terms.values() {
                for (funder, _) in &t.shares {
                    let bill = statement_content(&sheet(StatementFor::Funder(*funder)), &redemptions);
                    let (lines, total, fees) = sums.bill(*funder, &terms);
                    prop_assert_eq!(line_sum(&bill), bill.total);
                    prop_assert_eq!(i64::from(bill.lines), lines);
                    prop_assert_eq!(bill.total, from_cents(total));
                    prop_assert_eq!(bill.fees, from_cents(fees));
                    billed_face += total - fees;
                }
            }
            // The funders' bills add up to the face value settled, to the cent.
            let face: i64 = redemptions.iter().map(|r| r.value_cents).sum();
            prop_assert_eq!(billed_face, face);
            for site in &sites {
                let statement = statement_content(&sheet(StatementFor::Site(*site)), &redemptions);
                let (lines, cents) = sums.sites.get(site).copied().unwrap_or((0, 0));
                prop_assert_eq!(line_sum(&statement), statement.total);
                prop_assert_eq!(i64::from(statement.lines), lines);
                prop_assert_eq!(statement.total, from_cents(cents));
            }
            let commission = statement_content(&sheet(StatementFor::Commission), &redemptions);
            prop_assert_eq!(line_sum(&commission), commission.total);
            prop_assert_eq!(i64::from(commission.lines), sums.commission_lines);
            prop_assert_eq!(commission.total, from_cents(sums.commission.values().sum()));
        }
    }
}
