//! Programs (*dispositifs*): their rules, their funders' shares, payments received,
//! allocations to prescribers, and the ring-fencing of issuance.
//!
//! Ring-fencing: a ticket may be issued only while, for every funder F of the
//! program, (value issued) × share(F) ≤ paid by F, and value issued ≤ budget, where
//! "value issued" is what left the available budget net of what came back (cancelled
//! and expired tickets). Both sides are read from the ledger. Issuance, payments and
//! allocations of a program take its row's lock, so two issuances cannot both spend
//! the same money.

use std::collections::HashMap;

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
use crate::schema::{allocations, payments, program_funders, programs};

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
    pub status: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Program {
    pub fn ticket_value(&self) -> Money {
        Money::from_decimal_unchecked(self.ticket_value)
    }

    pub fn is_open(&self) -> bool {
        self.status == "open"
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
                "Un chéquier compte de 1 à 20 chèques (5 ou 10 d'habitude).",
            ));
        }
        if self.ticket_value > Money::from_cents(MAX_TICKET_CENTS) {
            return Err(ValidationError::new(
                "ticket_value",
                "La valeur d'un chèque est limitée à 1 000,00 €.",
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
        let checkbook_value = self.ticket_value.times(self.tickets_per_checkbook);
        if checkbook_value > self.budget {
            return Err(ValidationError::new(
                "budget",
                format!(
                    "Le budget ({}) ne couvre pas même un chéquier ({}).",
                    self.budget, checkbook_value
                ),
            ));
        }
        // Every funder's part of the budget must be a whole number of cents.
        for (i, (_, share)) in self.funders.iter().enumerate() {
            let part = self.budget.decimal() * share.decimal();
            if part.round_dp(2) != part {
                return Err(ValidationError::new(
                    format!("funders[{i}].share"),
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

    /// Money still held for the program: received, less paid out and returned.
    pub fn held(&self) -> Decimal {
        self.received() - self.paid_out - self.refunded
    }

    /// What the program owes: tickets in circulation and redeemed tickets not yet paid.
    pub fn owed(&self) -> Decimal {
        self.outstanding + self.payable + self.commission
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
            (AccountKind::SitePayable, _) => funding.payable += balance,
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
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ProgramError {
    fn from(err: diesel::result::Error) -> Self {
        ProgramError::Db(err.into())
    }
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

/// Checkbooks a prescriber may still issue from a program: its allocations minus its
/// checkbooks, except cancelled ones that were never used (they give their place back).
pub async fn remaining_allocation(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    prescriber: Uuid,
) -> Result<i64, DbError> {
    let allowed: Option<i64> = allocations::table
        .filter(allocations::program_id.eq(program))
        .filter(allocations::prescriber_id.eq(prescriber))
        .select(diesel::dsl::sum(allocations::checkbooks))
        .first(conn)
        .await?;
    // Every checkbook counts, but a cancelled one none of whose tickets was used
    // (a lost carnet replaced).
    #[derive(QueryableByName)]
    struct Used {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        used: i64,
    }
    let used = diesel::sql_query(
        "SELECT count(*) AS used FROM checkbooks c
         WHERE c.program_id = $1 AND c.prescriber_id = $2
           AND (c.status <> 'cancelled'
                OR EXISTS (SELECT 1 FROM tickets t WHERE t.checkbook_id = c.id AND t.status IN ('redeemed', 'settled')))",
    )
    .bind::<diesel::sql_types::Uuid, _>(program)
    .bind::<diesel::sql_types::Uuid, _>(prescriber)
    .get_result::<Used>(conn)
    .await?
    .used;
    Ok(allowed.unwrap_or(0) - used)
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

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: Uuid,
    pub program_id: Uuid,
    pub funder_id: Uuid,
    pub amount: Decimal,
    pub reference: String,
    pub received_on: NaiveDate,
    pub created_at: DateTime<Utc>,
}

/// Records money received from a funder: it becomes available budget.
pub async fn record_payment(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    funder: Uuid,
    amount: Money,
    reference: String,
    received_on: NaiveDate,
) -> Result<Payment, ProgramError> {
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let program = lock_program(conn, program).await?;
        if !program.is_open() {
            return Err(ProgramError::Closed);
        }
        let shares = funders_of(conn, program.id).await?;
        if !shares.iter().any(|f| f.funder_id == funder) {
            return Err(ValidationError::new(
                "funder_id",
                "Cette organisation ne finance pas ce dispositif.",
            )
            .into());
        }
        let current = funding(conn, program.id).await?;
        let pledged = current.pledged.get(&funder).copied().unwrap_or_default();
        let paid = current.paid.get(&funder).copied().unwrap_or_default();
        if paid + amount.decimal() > pledged {
            return Err(ProgramError::PaymentExceedsCommitment { pledged, paid });
        }
        let row = diesel::insert_into(payments::table)
            .values((
                payments::id.eq(Uuid::now_v7()),
                payments::program_id.eq(program.id),
                payments::funder_id.eq(funder),
                payments::amount.eq(amount.decimal()),
                payments::reference.eq(&reference),
                payments::received_on.eq(received_on),
            ))
            .returning(Payment::as_returning())
            .get_result(conn)
            .await
            .map_err(DbError::from);
        let payment = match row {
            Err(DbError::Unique { .. }) => {
                return Err(ProgramError::PaymentAlreadyRecorded { reference });
            }
            other => other?,
        };
        ledger::post(
            conn,
            TransactionKind::Payment,
            &format!("Versement reçu, réf. {reference}"),
            program.id,
            &[
                (
                    AccountRef::program(AccountKind::Available, program.id),
                    amount.decimal(),
                ),
                (
                    AccountRef::of(AccountKind::FunderUnpaid, program.id, funder),
                    -amount.decimal(),
                ),
            ],
        )
        .await?;
        Ok(payment)
    })
    .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = allocations)]
pub struct Allocation {
    pub id: Uuid,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub checkbooks: i32,
    pub created_at: DateTime<Utc>,
}

/// Gives a prescriber `checkbooks` more checkbooks to issue from a program.
pub async fn add_allocation(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    prescriber: Uuid,
    count: u32,
) -> Result<(Allocation, i64), ProgramError> {
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let program = lock_program(conn, program).await?;
        if !program.is_open() {
            return Err(ProgramError::Closed);
        }
        match organizations::find_organization(conn, prescriber).await? {
            Some(org) if org.kind() == OrgKind::Prescriber => {}
            _ => {
                return Err(ValidationError::new(
                    "prescriber_id",
                    "Cet identifiant ne désigne pas un prescripteur.",
                )
                .into());
            }
        }
        let allocation = diesel::insert_into(allocations::table)
            .values((
                allocations::id.eq(Uuid::now_v7()),
                allocations::program_id.eq(program.id),
                allocations::prescriber_id.eq(prescriber),
                allocations::checkbooks.eq(i32::try_from(count).unwrap_or(i32::MAX)),
            ))
            .returning(Allocation::as_returning())
            .get_result(conn)
            .await?;
        let remaining = remaining_allocation(conn, program.id, prescriber).await?;
        Ok((allocation, remaining))
    })
    .await
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

/// A prescriber's allowance in a program: checkbooks allocated in all, and how many it
/// may still issue.
#[derive(Debug, Clone)]
pub struct AllowanceSummary {
    pub prescriber_id: Uuid,
    pub prescriber_name: String,
    pub checkbooks: i64,
    pub remaining_checkbooks: i64,
}

/// The allowances of a program's prescribers (only `prescriber`'s when given), by name.
pub async fn allowances(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    prescriber: Option<Uuid>,
) -> Result<Vec<AllowanceSummary>, DbError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        prescriber_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        checkbooks: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT a.prescriber_id, o.name, sum(a.checkbooks)::bigint AS checkbooks
         FROM allocations a JOIN organizations o ON o.id = a.prescriber_id
         WHERE a.program_id = $1 AND ($2::uuid IS NULL OR a.prescriber_id = $2)
         GROUP BY a.prescriber_id, o.name
         ORDER BY o.name",
    )
    .bind::<diesel::sql_types::Uuid, _>(program)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Uuid>, _>(prescriber)
    .load(conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(AllowanceSummary {
            prescriber_id: row.prescriber_id,
            prescriber_name: row.name,
            checkbooks: row.checkbooks,
            remaining_checkbooks: remaining_allocation(conn, program, row.prescriber_id).await?,
        });
    }
    Ok(out)
}
