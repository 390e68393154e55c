//! What the ledger says of a program's money, and the ring-fence rule read from it.

use std::collections::HashMap;

use diesel_async::AsyncPgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{ProgramError, ProgramFunder};
use crate::db::DbError;
use crate::ledger::{self, AccountKind};

/// What the ledger says of a program's money.
#[derive(Debug, Clone, Default)]
pub struct Funding {
    pub pledged: HashMap<Uuid, Decimal>,
    pub paid: HashMap<Uuid, Decimal>,
    pub available: Decimal,
    pub outstanding: Decimal,
    pub payable: Decimal,
    pub commission: Decimal,
    /// Paid out to sites and to the operator (settlements).
    pub paid_out: Decimal,
    /// Returned to funders (credit notes).
    pub refunded: Decimal,
}

impl Funding {
    pub fn received(&self) -> Decimal {
        self.paid.values().sum()
    }

    /// Value that left the available budget, net of what came back.
    pub fn issued(&self) -> Decimal {
        self.received() - self.available - self.refunded
    }

    /// What more may be issued now: the budget left, and for each funder what its
    /// payments cover beyond its share of what was issued (the ring-fence rule).
    pub fn issuable(&self, shares: &[ProgramFunder], budget: Decimal) -> Decimal {
        let issued = self.issued();
        let mut room = budget - issued;
        for f in shares {
            let paid = self.paid.get(&f.funder_id).copied().unwrap_or_default();
            room = room.min(paid / f.share - issued);
        }
        room.max(Decimal::ZERO)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
    }

    /// The least budget the program may have: what it issued (the ring-fence's
    /// "value issued", which may never pass the budget) and, for every funder, what it
    /// paid already over its share (its pledge, budget × share, may not fall below
    /// it), rounded up to the cent.
    pub fn least_budget(&self, shares: &[ProgramFunder]) -> Decimal {
        let mut least = self.issued();
        for f in shares {
            let paid = self.paid.get(&f.funder_id).copied().unwrap_or_default();
            if f.share > Decimal::ZERO {
                least = least.max(paid / f.share);
            }
        }
        least.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero)
    }

    /// What `funder` must still pay before `amount` more may be issued: its share of
    /// the value issued with `amount`, less what it paid, rounded up to the cent
    /// (zero when its payments cover it already).
    pub fn awaited_from(&self, funder: &ProgramFunder, amount: Decimal) -> Decimal {
        let paid = self
            .paid
            .get(&funder.funder_id)
            .copied()
            .unwrap_or_default();
        ((self.issued() + amount) * funder.share - paid)
            .max(Decimal::ZERO)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero)
    }

    /// Money still held for the program: received, less paid out and returned.
    pub fn held(&self) -> Decimal {
        self.received() - self.paid_out - self.refunded
    }

    /// Redeemed and not yet paid: owed to the sites and the operator's commission.
    pub fn owed_to_sites(&self) -> Decimal {
        self.payable + self.commission
    }

    /// What the program owes: tickets in circulation and redeemed tickets not yet paid.
    pub fn owed(&self) -> Decimal {
        self.outstanding + self.owed_to_sites()
    }

    /// **The cover rule**, its one home: the money held covers every ticket in
    /// circulation and every euro owed (held ≥ outstanding + owed to sites). The ring
    /// fence makes it hold; `GET /ledger/cover`, the dashboard's alerts and
    /// `passnum check` ask it here.
    pub fn covered(&self) -> bool {
        self.held() >= self.owed()
    }
}

pub async fn funding(conn: &mut AsyncPgConnection, program: Uuid) -> Result<Funding, DbError> {
    let balances = ledger::program_balances(conn, program).await?;
    let mut funding = Funding::default();
    for ((kind, org), balance) in balances {
        match (kind, org) {
            (AccountKind::FunderCommitment, Some(f)) => {
                *funding.pledged.entry(f).or_default() -= balance;
            }
            (AccountKind::FunderUnpaid, Some(f)) => {
                *funding.paid.entry(f).or_default() -= balance;
            }
            (AccountKind::Available, _) => funding.available += balance,
            (AccountKind::Outstanding, _) => funding.outstanding += balance,
            // Settled but not yet transferred: still owed, still held.
            (AccountKind::SitePayable | AccountKind::SiteOwed, _) => funding.payable += balance,
            (AccountKind::Commission, _) => funding.commission += balance,
            (AccountKind::SitePaid | AccountKind::CommissionPaid, _) => funding.paid_out += balance,
            (AccountKind::FunderRefunded, _) => funding.refunded += balance,
            _ => {}
        }
    }
    // paid = pledged - unpaid balance.
    for (funder, pledged) in &funding.pledged {
        *funding.paid.entry(*funder).or_default() += pledged;
    }
    Ok(funding)
}

/// Whether `amount` more may be issued: the ring-fence rule, or the refusal.
pub fn check_ring_fence(
    funding: &Funding,
    shares: &[ProgramFunder],
    budget: Decimal,
    amount: Decimal,
) -> Result<(), ProgramError> {
    let after = funding.issued() + amount;
    if after > budget {
        return Err(ProgramError::BudgetExhausted);
    }
    for funder in shares {
        let paid = funding
            .paid
            .get(&funder.funder_id)
            .copied()
            .unwrap_or_default();
        if after * funder.share > paid {
            return Err(ProgramError::FundsNotReceived {
                funder: funder.funder_id,
            });
        }
    }
    Ok(())
}
