//! Money out to the sites (issue 17): the bank batch of a settlement (its payout
//! statements, to the accounts recorded when it was made), the transfers confirmed
//! one by one, and the payouts still to make.
//!
//! - [`batch`]: a settlement's site payout statements with the IBAN and BIC its sites
//!   had when it was made (`settlement_names`); those without an IBAN are set apart
//!   (`missing`), never silently dropped. `crate::sepa` writes the file.
//! - [`record_paid`]: one transaction. The statement is locked; a payout only, once
//!   (`statement_payments`, its key the statement); the ledger moves, per program,
//!   what the statement owes the site from `site_owed` to `site_paid` — the amounts
//!   read again from the settlement's live redemptions, which a settled period keeps
//!   as they were, and checked against the statement's total; an audit entry.
//! - [`unpaid`]: payout statements settled and not yet confirmed paid, oldest first.
//!
//! Errors are [`PayoutError`], turned into problems by `api::payouts`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Numeric, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor, Change, Entity};
use crate::bank::Bic;
use crate::db::DbError;
use crate::domain::Iban;
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::schema::{organizations, settlement_names, settlements, statement_payments, statements};
use crate::sepa::CreditTransfer;
use crate::settlement::{Settlement, Statement};
use crate::statuses::StatementKind;

/// Why money out was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("not found")]
    NotFound,
    /// A funder's bill, the commission, a credit note: not a transfer to a site.
    #[error("statement {0} is not a site payout")]
    NotAPayout(String),
    #[error("statement {number} was already paid on {paid_on}")]
    AlreadyPaid {
        number: String,
        paid_on: NaiveDate,
        bank_reference: String,
    },
    /// A day after today (Paris), or before the statement was issued.
    #[error("the day of payment {0} is not between the statement's day and today")]
    PaidOnOutOfRange(NaiveDate),
    /// A settlement whose payout statements all lack an account.
    #[error("no statement of this settlement can be transferred")]
    NothingToTransfer,
    /// The redemptions no longer add up to the statement: never expected.
    #[error("statement {number}: its redemptions add up to {found}, not {total}")]
    Inconsistent {
        number: String,
        found: Decimal,
        total: Decimal,
    },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for PayoutError {
    fn from(err: diesel::result::Error) -> Self {
        PayoutError::Db(DbError::from(err))
    }
}

/// A payout statement left out of the bank file: its site gave no IBAN.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingIban {
    pub statement_id: Uuid,
    pub number: String,
    pub organization_id: Uuid,
    pub name: String,
    pub total: Decimal,
}

/// A settlement's payouts, as the bank file carries them.
#[derive(Debug, Clone)]
pub struct Batch {
    pub settlement: Settlement,
    pub transfers: Vec<CreditTransfer>,
    pub missing: Vec<MissingIban>,
}

/// The account a payout statement is paid to: the site's IBAN and BIC recorded with
/// its name when the settlement was made (`None`: it had no IBAN then).
pub async fn accounts_of_settlement(
    conn: &mut AsyncPgConnection,
    settlement: Uuid,
) -> Result<HashMap<Uuid, (String, Option<Iban>, Option<Bic>)>, DbError> {
    let rows: Vec<(Uuid, String, Option<String>, Option<String>)> = settlement_names::table
        .filter(settlement_names::settlement_id.eq(settlement))
        .select((
            settlement_names::named_id,
            settlement_names::name,
            settlement_names::iban,
            settlement_names::bic,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, iban, bic)| {
            let iban = iban.and_then(|i| Iban::parse("iban", &i).ok());
            let bic = bic.and_then(|b| Bic::parse("bic", &b).ok());
            (id, (name, iban, bic))
        })
        .collect())
}

/// A settlement's payout statements with their accounts (see the module).
pub async fn batch(conn: &mut AsyncPgConnection, settlement: Uuid) -> Result<Batch, PayoutError> {
    let found = crate::settlement::find_settlement(conn, settlement)
        .await?
        .ok_or(PayoutError::NotFound)?;
    let statements = crate::settlement::statements_of_settlement(conn, settlement).await?;
    let accounts = accounts_of_settlement(conn, settlement).await?;
    let mut transfers = Vec::new();
    let mut missing = Vec::new();
    for s in statements
        .iter()
        .filter(|s| s.kind == StatementKind::SitePayout)
    {
        let (name, iban, bic) = accounts
            .get(&s.organization_id)
            .cloned()
            .unwrap_or_else(|| (String::new(), None, None));
        match iban {
            Some(iban) => transfers.push(CreditTransfer {
                statement_number: s.number.clone(),
                amount: s.total,
                creditor_name: name,
                iban,
                bic,
            }),
            None => missing.push(MissingIban {
                statement_id: s.id,
                number: s.number.clone(),
                organization_id: s.organization_id,
                name,
                total: s.total,
            }),
        }
    }
    Ok(Batch {
        settlement: found,
        transfers,
        missing,
    })
}

/// A payout confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub statement_id: Uuid,
    pub paid_on: NaiveDate,
    pub bank_reference: String,
    pub recorded_at: DateTime<Utc>,
}

/// The payments recorded for these statements (those paid).
pub async fn payments_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Payment>, DbError> {
    let rows: Vec<(Uuid, NaiveDate, String, DateTime<Utc>)> = statement_payments::table
        .filter(statement_payments::statement_id.eq_any(ids))
        .select((
            statement_payments::statement_id,
            statement_payments::paid_on,
            statement_payments::bank_reference,
            statement_payments::recorded_at,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(statement_id, paid_on, bank_reference, recorded_at)| {
            (
                statement_id,
                Payment {
                    statement_id,
                    paid_on,
                    bank_reference,
                    recorded_at,
                },
            )
        })
        .collect())
}

/// A transfer to confirm, parsed: the bank's reference is 1 to 140 characters.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub paid_on: NaiveDate,
    pub bank_reference: String,
}

#[derive(QueryableByName)]
struct ProgramAmount {
    #[diesel(sql_type = SqlUuid)]
    program_id: Uuid,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// Records that the payout statement `id` was transferred (see the module).
pub async fn record_paid(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    id: Uuid,
    payment: NewPayment,
    today: NaiveDate,
) -> Result<Payment, PayoutError> {
    conn.transaction::<_, PayoutError, _>(async move |conn| {
        let statement: Statement = statements::table
            .find(id)
            .select(Statement::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or(PayoutError::NotFound)?;
        if statement.kind != StatementKind::SitePayout {
            return Err(PayoutError::NotAPayout(statement.number));
        }
        if let Some(done) = payments_of(conn, &[id]).await?.remove(&id) {
            return Err(PayoutError::AlreadyPaid {
                number: statement.number,
                paid_on: done.paid_on,
                bank_reference: done.bank_reference,
            });
        }
        let issued = crate::domain::french_date(statement.created_at);
        if payment.paid_on > today || payment.paid_on < issued {
            return Err(PayoutError::PaidOnOutOfRange(payment.paid_on));
        }
        let settlement_id = statement.settlement_id.ok_or(PayoutError::NotFound)?;
        let (starts_at, ends_at): (DateTime<Utc>, DateTime<Utc>) = settlements::table
            .find(settlement_id)
            .select((settlements::starts_at, settlements::ends_at))
            .first(conn)
            .await?;
        let amounts: Vec<ProgramAmount> = diesel::sql_query(
            "SELECT program_id, sum(amount_payable) AS amount FROM redemptions
             WHERE site_id = $1 AND status <> 'reversed'::redemption_status
               AND redeemed_at >= $2 AND redeemed_at < $3
             GROUP BY program_id ORDER BY program_id",
        )
        .bind::<SqlUuid, _>(statement.organization_id)
        .bind::<Timestamptz, _>(starts_at)
        .bind::<Timestamptz, _>(ends_at)
        .load(conn)
        .await?;
        let found: Decimal = amounts.iter().map(|a| a.amount).sum();
        if found != statement.total {
            return Err(PayoutError::Inconsistent {
                number: statement.number,
                found,
                total: statement.total,
            });
        }
        let description = format!(
            "Virement du relevé {} (référence {})",
            statement.number, payment.bank_reference
        );
        let mut first_transaction = None;
        for a in amounts.iter().filter(|a| !a.amount.is_zero()) {
            let site = statement.organization_id;
            let transaction = ledger::post(
                conn,
                TransactionKind::Payout,
                &description,
                a.program_id,
                &[
                    (
                        AccountRef::of(AccountKind::SiteOwed, a.program_id, site),
                        -a.amount,
                    ),
                    (
                        AccountRef::of(AccountKind::SitePaid, a.program_id, site),
                        a.amount,
                    ),
                ],
            )
            .await?;
            first_transaction.get_or_insert(transaction);
        }
        let recorded_by = match &actor {
            Actor::User { user_id, .. } => Some(*user_id),
            _ => None,
        };
        let recorded_at: DateTime<Utc> = diesel::insert_into(statement_payments::table)
            .values((
                statement_payments::statement_id.eq(id),
                statement_payments::paid_on.eq(payment.paid_on),
                statement_payments::bank_reference.eq(&payment.bank_reference),
                statement_payments::ledger_transaction_id.eq(first_transaction),
                statement_payments::recorded_by.eq(recorded_by),
            ))
            .returning(statement_payments::recorded_at)
            .get_result(conn)
            .await?;
        audit::record(
            conn,
            Change {
                actor,
                organization_id: Some(statement.organization_id),
                entity: Entity::Statement,
                entity_id: id,
                action: "statement.paid",
                before: None,
                after: Some(json!({
                    "number": statement.number,
                    "total": statement.total.to_string(),
                    "paid_on": payment.paid_on,
                    "bank_reference": payment.bank_reference,
                })),
                reason: None,
            },
        )
        .await?;
        Ok(Payment {
            statement_id: id,
            paid_on: payment.paid_on,
            bank_reference: payment.bank_reference,
            recorded_at,
        })
    })
    .await
}

/// A payout statement settled and not yet confirmed paid.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct UnpaidPayout {
    pub statement_id: Uuid,
    pub number: String,
    pub settlement_id: Option<Uuid>,
    pub organization_id: Uuid,
    pub name: String,
    pub total: Decimal,
    pub issued_at: DateTime<Utc>,
}

/// Payout statements without a payment, oldest first.
pub async fn unpaid(conn: &mut AsyncPgConnection) -> Result<Vec<UnpaidPayout>, DbError> {
    Ok(statements::table
        .inner_join(organizations::table)
        .left_join(statement_payments::table)
        .filter(statements::kind.eq(StatementKind::SitePayout))
        .filter(statement_payments::statement_id.is_null())
        .select((
            statements::id,
            statements::number,
            statements::settlement_id,
            statements::organization_id,
            organizations::name,
            statements::total,
            statements::created_at,
        ))
        .order((statements::created_at.asc(), statements::number.asc()))
        .load::<UnpaidPayout>(conn)
        .await?)
}
