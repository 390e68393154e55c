//! Programs (*dispositifs*): their rules, their funders' shares, payments received,
//! allocations to prescribers, and the ring-fencing of issuance.
//!
//! Ring-fencing: a ticket may be issued only while, for every funder F of the
//! program, (value issued) × share(F) ≤ paid by F, and value issued ≤ budget, where
//! "value issued" is what left the available budget net of what came back (cancelled
//! and expired tickets). Both sides are read from the ledger. Issuance, payments and
//! allocations of a program take its row's lock, so two issuances cannot both spend
//! the same money.

use chrono::{DateTime, Days, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::DbError;
use crate::domain::{OrgKind, PostcodePrefix, ValidationError};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::money::{Money, Rate, Share};
use crate::organizations;
use crate::schema::{allocations, program_funders, programs};

mod allocation;
mod corrections;
mod funds;
mod payment;

use crate::statuses::ProgramStatus;
pub use allocation::{
    Allocation, AllowanceSummary, ChangedAllocation, OverBudget, add_allocation, allowances,
    change_allocation, checkbooks_paid_by, remaining_allocation,
};
pub use corrections::{Extension, ProgramChanges, extend_validity, update_program};
pub use funds::{Funding, check_ring_fence, funding};
pub use payment::{Payment, record_payment};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = programs)]
pub struct Program {
    pub id: Uuid,
    pub name: String,
    pub ticket_value: Decimal,
    pub tickets_per_checkbook: i32,
    pub validity_days: Option<i32>,
    pub valid_until: Option<NaiveDate>,
    pub tolerance_days: i32,
    pub commission_rate: Decimal,
    pub funder_fee_rate: Decimal,
    pub budget: Decimal,
    pub territory_postcodes: Vec<Option<String>>,
    pub status: ProgramStatus,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Whether the program's open indicators are published (issue 14).
    pub public_indicators: bool,
}

impl Program {
    pub fn ticket_value(&self) -> Money {
        Money::from_decimal_unchecked(self.ticket_value)
    }

    pub fn is_open(&self) -> bool {
        self.status == ProgramStatus::Open
    }

    /// The last day a ticket issued on `issued_on` may be used (printed on it).
    pub fn valid_until_for(&self, issued_on: NaiveDate) -> NaiveDate {
        match (self.valid_until, self.validity_days) {
            (Some(day), _) => day,
            (None, Some(days)) => issued_on
                .checked_add_days(Days::new(u64::try_from(days).unwrap_or(0)))
                .unwrap_or(NaiveDate::MAX),
            (None, None) => issued_on,
        }
    }

    pub fn territory(&self) -> Vec<String> {
        self.territory_postcodes.iter().flatten().cloned().collect()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = program_funders)]
pub struct ProgramFunder {
    pub program_id: Uuid,
    pub funder_id: Uuid,
    pub share: Decimal,
}

/// The largest ticket value: 1,000 € (a training voucher, not a bank note).
pub const MAX_TICKET_CENTS: i64 = 100_000;

/// How long tickets stay valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    DaysFromIssue(u32),
    Until(NaiveDate),
}

/// A program ready to be created: every rule checked.
#[derive(Debug, Clone)]
pub struct NewProgram {
    pub name: String,
    pub ticket_value: Money,
    pub tickets_per_checkbook: u32,
    pub validity: Validity,
    pub tolerance_days: u32,
    pub commission_rate: Rate,
    pub funder_fee_rate: Rate,
    pub budget: Money,
    pub funders: Vec<(Uuid, Share)>,
    pub territory: Vec<PostcodePrefix>,
}

impl NewProgram {
    /// Rules that involve several fields.
    pub fn check(&self) -> Result<(), ValidationError> {
        if !(1..=20).contains(&self.tickets_per_checkbook) {
            return Err(ValidationError::new(
                "tickets_per_checkbook",
                "Un chéquier compte de 1 à 20 chèques (5 ou 10 d’habitude).",
            ));
        }
        if self.ticket_value > Money::from_cents(MAX_TICKET_CENTS) {
            return Err(ValidationError::new(
                "ticket_value",
                "La valeur d’un chèque est limitée à 1 000,00 €.",
            ));
        }
        if let Validity::Until(day) = self.validity {
            let today = crate::domain::french_date(Utc::now());
            if day < today || day > today + Days::new(3650) {
                return Err(ValidationError::new(
                    "valid_until",
                    "La date de fin de validité doit être à venir, et dans moins de dix ans.",
                ));
            }
        }
        if self.funders.is_empty() {
            return Err(ValidationError::new(
                "funders",
                "Un dispositif a au moins un financeur.",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, (id, _)) in self.funders.iter().enumerate() {
            if !seen.insert(id) {
                return Err(ValidationError::new(
                    format!("funders[{i}].organization_id"),
                    "Ce financeur figure deux fois.",
                ));
            }
        }
        let total: Decimal = self.funders.iter().map(|(_, s)| s.decimal()).sum();
        if total != Decimal::ONE {
            // On the share fields (the last one, which a person adjusts), in percent.
            return Err(ValidationError::new(
                format!("funders[{}].share", self.funders.len() - 1),
                format!(
                    "Les parts des financeurs doivent faire 100 % exactement (elles font {}).",
                    crate::french::rate(total)
                ),
            ));
        }
        let shares: Vec<Decimal> = self.funders.iter().map(|(_, s)| s.decimal()).collect();
        match budget_rule(
            self.budget,
            self.ticket_value.times(self.tickets_per_checkbook),
            &shares,
        ) {
            Ok(()) => {}
            Err(BudgetRule::BelowOneCheckbook { checkbook }) => {
                return Err(ValidationError::new(
                    "budget",
                    format!(
                        "Le budget ({}) ne couvre pas même un chéquier ({checkbook}).",
                        self.budget
                    ),
                ));
            }
            Err(BudgetRule::PartBetweenCents { index, part }) => {
                return Err(ValidationError::new(
                    format!("funders[{index}].share"),
                    format!(
                        "La part de ce financeur dans le budget ({part} €) tombe entre deux centimes : ajustez le budget ou la part."
                    ),
                ));
            }
        }
        if let Validity::DaysFromIssue(days) = self.validity
            && !(1..=3650).contains(&days)
        {
            return Err(ValidationError::new(
                "validity_days",
                "La validité va de 1 à 3650 jours.",
            ));
        }
        if self.tolerance_days > 365 {
            return Err(ValidationError::new(
                "tolerance_days",
                "La tolérance va de 0 à 365 jours.",
            ));
        }
        Ok(())
    }
}

/// Why a budget does not suit a program's checkbooks and shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetRule {
    /// The budget does not pay for even one checkbook (worth `checkbook`).
    BelowOneCheckbook { checkbook: Money },
    /// The funder at `index` would pledge `part`, which falls between two cents.
    PartBetweenCents { index: usize, part: Decimal },
}

/// A budget suits a program when it pays for at least one checkbook and every
/// funder's part of it (budget × share) is a whole number of cents: the one rule of
/// creation and of a budget's correction.
pub fn budget_rule(budget: Money, checkbook: Money, shares: &[Decimal]) -> Result<(), BudgetRule> {
    if checkbook > budget {
        return Err(BudgetRule::BelowOneCheckbook { checkbook });
    }
    for (index, share) in shares.iter().enumerate() {
        let part = budget.decimal() * share;
        if part.round_dp(2) != part {
            return Err(BudgetRule::PartBetweenCents { index, part });
        }
    }
    Ok(())
}

/// Why a program's use case refused. The HTTP edge gives each its status, code and
/// French sentence (`impl From<ProgramError> for ApiError` in `api/programs.rs`).
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Absent, or not visible to the caller: the same answer for both.
    #[error("program not found")]
    NotFound,
    /// Closed: no payment, allocation or ticket any more.
    #[error("the program is closed")]
    Closed,
    /// Issuing would go past the program's budget.
    #[error("the program's budget is exhausted")]
    BudgetExhausted,
    /// Issuing would go past what a funder paid of its share.
    #[error("funder {funder} has not paid its share of what would be issued")]
    FundsNotReceived { funder: Uuid },
    #[error("the payment would exceed the funder's pledge ({pledged}, {paid} paid)")]
    PaymentExceedsCommitment { pledged: Decimal, paid: Decimal },
    #[error("a payment of this funder has the reference {reference:?} already")]
    PaymentAlreadyRecorded { reference: String },
    /// A budget below what is committed already (`least`, to the cent).
    #[error("the budget may not go below {least}")]
    BudgetBelowCommitted { least: Decimal },
    /// A prescriber's allocation below the checkbooks it issued.
    #[error("the allocation may not go below {issued} checkbooks issued")]
    AllocationBelowIssued { issued: i64 },
    /// More checkbooks allocated (`asked`) than the budget still pays for
    /// (`affordable`, every prescriber's allocations counted), not confirmed.
    #[error("the budget pays for {affordable} more checkbooks, not {asked}")]
    AllocationOverBudget { affordable: i64, asked: i64 },
    /// No allocation of this prescriber in the program.
    #[error("no allocation of this prescriber in the program")]
    NoAllocation,
    /// An extension to a day not after the current end of validity.
    #[error("the validity ends on {current} already")]
    ValidityNotLater { current: NaiveDate },
    /// Nothing of the program is left to extend.
    #[error("no outstanding ticket to extend")]
    NothingToExtend,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ProgramError {
    fn from(err: diesel::result::Error) -> Self {
        ProgramError::Db(err.into())
    }
}

pub async fn create_program(
    conn: &mut AsyncPgConnection,
    new: NewProgram,
) -> Result<Program, ProgramError> {
    new.check()?;
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        for (i, (funder, _)) in new.funders.iter().enumerate() {
            match organizations::find_organization(conn, *funder).await? {
                Some(org) if org.kind() == OrgKind::Funder => {}
                _ => {
                    return Err(ValidationError::new(
                        format!("funders[{i}].organization_id"),
                        "Cet identifiant ne désigne pas un financeur.",
                    )
                    .into());
                }
            }
        }
        let (validity_days, valid_until) = match new.validity {
            Validity::DaysFromIssue(d) => (Some(i32::try_from(d).unwrap_or(i32::MAX)), None),
            Validity::Until(day) => (None, Some(day)),
        };
        let program: Program = diesel::insert_into(programs::table)
            .values((
                programs::id.eq(Uuid::now_v7()),
                programs::name.eq(&new.name),
                programs::ticket_value.eq(new.ticket_value.decimal()),
                programs::tickets_per_checkbook
                    .eq(i32::try_from(new.tickets_per_checkbook).unwrap_or(20)),
                programs::validity_days.eq(validity_days),
                programs::valid_until.eq(valid_until),
                programs::tolerance_days.eq(i32::try_from(new.tolerance_days).unwrap_or(0)),
                programs::commission_rate.eq(new.commission_rate.decimal()),
                programs::funder_fee_rate.eq(new.funder_fee_rate.decimal()),
                programs::budget.eq(new.budget.decimal()),
                programs::territory_postcodes.eq(new
                    .territory
                    .iter()
                    .map(|p| Some(p.as_str().to_string()))
                    .collect::<Vec<_>>()),
            ))
            .returning(Program::as_returning())
            .get_result(conn)
            .await?;
        let mut postings = Vec::new();
        for (funder, share) in &new.funders {
            diesel::insert_into(program_funders::table)
                .values((
                    program_funders::program_id.eq(program.id),
                    program_funders::funder_id.eq(*funder),
                    program_funders::share.eq(share.decimal()),
                ))
                .execute(conn)
                .await?;
            let pledge = new.budget.decimal() * share.decimal();
            postings.push((
                AccountRef::of(AccountKind::FunderUnpaid, program.id, *funder),
                pledge,
            ));
            postings.push((
                AccountRef::of(AccountKind::FunderCommitment, program.id, *funder),
                -pledge,
            ));
        }
        ledger::post(
            conn,
            TransactionKind::Commitment,
            &format!("Engagements des financeurs : {}", program.name),
            program.id,
            &postings,
        )
        .await?;
        // The program's own accounts exist from the start, at zero.
        ledger::accounts(
            conn,
            &[
                AccountRef::program(AccountKind::Available, program.id),
                AccountRef::program(AccountKind::Outstanding, program.id),
                AccountRef::program(AccountKind::Commission, program.id),
            ],
        )
        .await?;
        Ok(program)
    })
    .await
}

pub async fn find_program(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<Program>, DbError> {
    Ok(programs::table
        .find(id)
        .select(Program::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The program, locked until the end of the transaction (issuance, payments).
pub async fn lock_program(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Program, ProgramError> {
    programs::table
        .find(id)
        .select(Program::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(ProgramError::NotFound)
}

pub async fn funders_of(
    conn: &mut AsyncPgConnection,
    program: Uuid,
) -> Result<Vec<ProgramFunder>, DbError> {
    Ok(program_funders::table
        .filter(program_funders::program_id.eq(program))
        .select(ProgramFunder::as_select())
        .order(program_funders::share.desc())
        .load(conn)
        .await?)
}

/// The program as `caller` may see it: the operator any; a funder those it funds; a
/// prescriber those it has an allocation in. Otherwise absent (404).
pub async fn visible_program(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Program, ProgramError> {
    let program = find_program(conn, id)
        .await?
        .ok_or(ProgramError::NotFound)?;
    let visible = match caller.kind {
        OrgKind::Operator => true,
        OrgKind::Funder => {
            program_funders::table
                .filter(program_funders::program_id.eq(id))
                .filter(program_funders::funder_id.eq(caller.organization_id))
                .count()
                .get_result::<i64>(conn)
                .await?
                > 0
        }
        OrgKind::Prescriber => {
            allocations::table
                .filter(allocations::program_id.eq(id))
                .filter(allocations::prescriber_id.eq(caller.organization_id))
                .count()
                .get_result::<i64>(conn)
                .await?
                > 0
        }
        OrgKind::Site => false,
    };
    if visible {
        Ok(program)
    } else {
        Err(ProgramError::NotFound)
    }
}

/// Programs by id and name: all, or those `funder` funds.
pub async fn program_ids(
    conn: &mut AsyncPgConnection,
    funder: Option<Uuid>,
) -> Result<Vec<(Uuid, String)>, DbError> {
    let mut query = programs::table
        .select((programs::id, programs::name))
        .order(programs::id.asc())
        .into_boxed();
    if let Some(funder) = funder {
        query = query.filter(
            programs::id.eq_any(
                program_funders::table
                    .filter(program_funders::funder_id.eq(funder))
                    .select(program_funders::program_id),
            ),
        );
    }
    Ok(query.load(conn).await?)
}

/// One page of the programs `caller` may see, in creation order (ids are UUIDv7),
/// after `after`: the operator's all, a funder's those it funds, a prescriber's those
/// it has an allocation in; a site sees none.
pub async fn list_visible(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Program>, DbError> {
    let mut query = programs::table
        .select(Program::as_select())
        .order(programs::id.asc())
        .limit(limit)
        .into_boxed();
    match caller.kind {
        OrgKind::Operator => {}
        OrgKind::Funder => {
            query = query.filter(
                programs::id.eq_any(
                    program_funders::table
                        .filter(program_funders::funder_id.eq(caller.organization_id))
                        .select(program_funders::program_id),
                ),
            );
        }
        OrgKind::Prescriber => {
            query = query.filter(
                programs::id.eq_any(
                    allocations::table
                        .filter(allocations::prescriber_id.eq(caller.organization_id))
                        .select(allocations::program_id),
                ),
            );
        }
        OrgKind::Site => return Ok(Vec::new()),
    }
    if let Some(after) = after {
        query = query.filter(programs::id.gt(after));
    }
    Ok(query.load(conn).await?)
}
