//! The rounding rule, pure: a ticket's face value split among its program's funders
//! (largest remainder, equal remainders in turn), and the fee rounding. No SQL, no I/O.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

/// Splits `cents` among `shares` (summing to 1) by largest remainder; equal
/// remainders take the extra cent in turn, starting with index `turn % n`.
pub fn split_by_shares(cents: i64, shares: &[Decimal], turn: usize) -> Vec<i64> {
    let n = shares.len();
    if n == 0 {
        return Vec::new();
    }
    let total = Decimal::from(cents);
    let exact: Vec<Decimal> = shares.iter().map(|s| total * s).collect();
    let mut parts: Vec<i64> = exact
        .iter()
        .map(|e| e.floor().to_i64().unwrap_or(0))
        .collect();
    let left = cents - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..n).collect();
    let start = turn % n;
    order.sort_by(|&a, &b| {
        let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        fb.cmp(&fa)
            .then_with(|| ((a + n - start) % n).cmp(&((b + n - start) % n)))
    });
    for i in order
        .into_iter()
        .cycle()
        .take(usize::try_from(left.max(0)).unwrap_or(0))
    {
        parts[i] += 1;
    }
    parts
}

pub(crate) fn to_cents(value: Decimal) -> i64 {
    (value * Decimal::ONE_HUNDRED).round().to_i64().unwrap_or(0)
}

pub(crate) fn from_cents(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

/// A ticket's turn in its funders' split: the last byte of its redemption's id
/// (random) modulo 60, which the database stores as `redemptions.turn`.
pub fn turn_of(redemption: Uuid) -> usize {
    usize::from(redemption.as_bytes()[15]) % 60
}

/// What a statement needs of a program: its name (as recorded by the settlement),
/// rates, and funders with their shares in a fixed order (funder id).
#[derive(Debug, Clone)]
pub struct ProgramTerms {
    pub name: String,
    pub commission_rate: Decimal,
    pub funder_fee_rate: Decimal,
    pub shares: Vec<(Uuid, Decimal)>,
}

impl ProgramTerms {
    /// The cents of a ticket's face value billed to each funder, in `shares` order.
    pub fn parts(&self, value_cents: i64, redemption: Uuid) -> Vec<i64> {
        let shares: Vec<Decimal> = self.shares.iter().map(|(_, s)| *s).collect();
        split_by_shares(value_cents, &shares, turn_of(redemption))
    }

    pub(crate) fn funder_index(&self, funder: Uuid) -> Option<usize> {
        self.shares.iter().position(|(f, _)| *f == funder)
    }
}

/// The fee billed to a funder on its part of a program's face value.
pub fn fee_cents(face_cents: i64, fee_rate: Decimal) -> i64 {
    to_cents(
        (from_cents(face_cents) * fee_rate)
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero),
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn co_funding_splits_exactly() {
        assert_eq!(
            split_by_shares(1000, &[d("0.6"), d("0.4")], 0),
            vec![600, 400]
        );
        assert_eq!(
            split_by_shares(1000, &[d("0.3333"), d("0.3333"), d("0.3334")], 0),
            vec![333, 333, 334]
        );
        // Halves of an odd cent: the extra cent goes in turn.
        let half = [d("0.5"), d("0.5")];
        assert_eq!(split_by_shares(1001, &half, 0), vec![501, 500]);
        assert_eq!(split_by_shares(1001, &half, 1), vec![500, 501]);
        assert_eq!(split_by_shares(1001, &half, 2), vec![501, 500]);
    }

    pub(crate) fn shares_strategy() -> impl Strategy<Value = Vec<Decimal>> {
        proptest::collection::vec(1u32..10_000, 1..6)
            .prop_map(|weights| {
                // Shares of 4 decimals summing to exactly 1.
                let total: u32 = weights.iter().sum();
                let mut shares: Vec<i64> = weights
                    .iter()
                    .map(|w| i64::from(*w) * 10_000 / i64::from(total))
                    .collect();
                let missing = 10_000 - shares.iter().sum::<i64>();
                shares[0] += missing;
                shares
                    .into_iter()
                    .map(|s| Decimal::new(s, 4))
                    .filter(|s| !s.is_zero())
                    .collect()
            })
            .prop_filter("shares sum to one", |s: &Vec<Decimal>| {
                !s.is_empty() && s.iter().sum::<Decimal>() == Decimal::ONE
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_tickets_parts_add_up_to_its_value(cents in 1i64..1_000_000, shares in shares_strategy(), turn in 0usize..100) {
            let parts = split_by_shares(cents, &shares, turn);
            prop_assert_eq!(parts.iter().sum::<i64>(), cents);
            for (part, share) in parts.iter().zip(&shares) {
                let exact = Decimal::from(cents) * share;
                prop_assert!((Decimal::from(*part) - exact).abs() < Decimal::ONE, "{} vs {}", part, exact);
            }
        }
    }
}
