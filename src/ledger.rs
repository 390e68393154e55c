//! The double-entry ledger.
//!
//! Amounts are signed: a debit is positive, a credit negative, and the postings of a
//! transaction sum to zero — the database refuses anything else at commit, and
//! refuses any UPDATE or DELETE of the ledger. Balances are sums of postings: writers
//! only append, so a busy account (a program's outstanding value, a site's payable)
//! is never one row that every writer locks.
//!
//! Chart of accounts, per program P (F a funder, S a site):
//!
//! | account | kind | balance means |
//! |---|---|---|
//! | `program:P:funder:F:commitment` | funder_commitment | (credit) what F pledged |
//! | `program:P:funder:F:unpaid` | funder_unpaid | pledged by F, not yet received |
//! | `program:P:available` | available | received, not yet in tickets |
//! | `program:P:outstanding` | outstanding | value of tickets in circulation |
//! | `program:P:site:S:payable` | site_payable | redeemed at S, not yet paid |
//! | `program:P:commission` | commission | operator's commission, not yet paid |
//! | `program:P:site:S:owed` | site_owed | on a payout statement, not yet transferred |
//! | `program:P:site:S:paid` | site_paid | transferred to S |
//!
//! Movements: a program's creation pledges (Dr unpaid / Cr commitment); a payment
//! makes money available (Dr available / Cr unpaid); issuing moves N × value from
//! available to outstanding; cancelling and expiring move it back; a redemption
//! moves one value out of outstanding into the site's payable (value − commission)
//! and the operator's commission; its reversal posts the opposite. A settlement
//! moves the payable onto the site's statement (Dr owed / Cr payable); the transfer,
//! once confirmed (`POST /statements/{id}/paid`), moves it out (Dr paid / Cr owed).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::DbError;
use crate::schema::{ledger_accounts, ledger_postings, ledger_transactions};

/// Kinds of accounts (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    FunderCommitment,
    FunderUnpaid,
    Available,
    Outstanding,
    SitePayable,
    Commission,
    SitePaid,
    CommissionPaid,
    FeeReceivable,
    FeeIncome,
    FunderRefunded,
    SiteOwed,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::FunderCommitment => "funder_commitment",
            AccountKind::FunderUnpaid => "funder_unpaid",
            AccountKind::Available => "available",
            AccountKind::Outstanding => "outstanding",
            AccountKind::SitePayable => "site_payable",
            AccountKind::Commission => "commission",
            AccountKind::SitePaid => "site_paid",
            AccountKind::CommissionPaid => "commission_paid",
            AccountKind::FeeReceivable => "fee_receivable",
            AccountKind::FeeIncome => "fee_income",
            AccountKind::FunderRefunded => "funder_refunded",
            AccountKind::SiteOwed => "site_owed",
        }
    }
}

/// Which account: its kind, its program, the organisation it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountRef {
    pub kind: AccountKind,
    pub program: Uuid,
    pub organization: Option<Uuid>,
}

impl AccountRef {
    pub fn program(kind: AccountKind, program: Uuid) -> AccountRef {
        AccountRef {
            kind,
            program,
            organization: None,
        }
    }

    pub fn of(kind: AccountKind, program: Uuid, organization: Uuid) -> AccountRef {
        AccountRef {
            kind,
            program,
            organization: Some(organization),
        }
    }

    pub fn code(&self) -> String {
        match (self.kind, self.organization) {
            (AccountKind::FunderCommitment, Some(f)) => {
                format!("program:{}:funder:{f}:commitment", self.program)
            }
            (AccountKind::FunderUnpaid, Some(f)) => {
                format!("program:{}:funder:{f}:unpaid", self.program)
            }
            (AccountKind::SitePayable, Some(s)) => {
                format!("program:{}:site:{s}:payable", self.program)
            }
            (AccountKind::SitePaid, Some(s)) => format!("program:{}:site:{s}:paid", self.program),
            (AccountKind::SiteOwed, Some(s)) => format!("program:{}:site:{s}:owed", self.program),
            (AccountKind::FeeReceivable, Some(f)) => {
                format!("program:{}:funder:{f}:fee_receivable", self.program)
            }
            (AccountKind::FunderRefunded, Some(f)) => {
                format!("program:{}:funder:{f}:refunded", self.program)
            }
            (kind, _) => format!("program:{}:{}", self.program, kind.as_str()),
        }
    }

    pub fn name(&self) -> String {
        match self.kind {
            AccountKind::FunderCommitment => "Engagement du financeur".into(),
            AccountKind::FunderUnpaid => "Engagement non encore versé".into(),
            AccountKind::Available => "Budget disponible (fonds reçus)".into(),
            AccountKind::Outstanding => "Chèques en circulation".into(),
            AccountKind::SitePayable => "À payer au lieu de formation".into(),
            AccountKind::Commission => "Commission de l’opérateur".into(),
            AccountKind::SitePaid => "Payé au lieu de formation".into(),
            AccountKind::CommissionPaid => "Commission versée à l’opérateur".into(),
            AccountKind::FeeReceivable => "Frais de gestion facturés au financeur".into(),
            AccountKind::FeeIncome => "Frais de gestion de l’opérateur".into(),
            AccountKind::FunderRefunded => "Restitué au financeur (avoir)".into(),
            AccountKind::SiteOwed => "Relevé émis, virement au lieu à faire".into(),
        }
    }
}

/// Kinds of ledger transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    Commitment,
    Payment,
    Issuance,
    Cancellation,
    Expiry,
    Redemption,
    Reversal,
    Settlement,
    Closing,
    Payout,
}

impl TransactionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Commitment => "commitment",
            TransactionKind::Payment => "payment",
            TransactionKind::Issuance => "issuance",
            TransactionKind::Cancellation => "cancellation",
            TransactionKind::Expiry => "expiry",
            TransactionKind::Redemption => "redemption",
            TransactionKind::Reversal => "reversal",
            TransactionKind::Settlement => "settlement",
            TransactionKind::Closing => "closing",
            TransactionKind::Payout => "payout",
        }
    }
}

/// Finds the accounts, creating those that do not exist yet. Returns their ids.
/// One query when they all exist (the hot path), two more when some are new (however
/// many: a settlement opens a paid account per site at once).
pub async fn accounts(
    conn: &mut AsyncPgConnection,
    refs: &[AccountRef],
) -> Result<HashMap<AccountRef, Uuid>, DbError> {
    let codes: Vec<String> = refs.iter().map(AccountRef::code).collect();
    let find = async |conn: &mut AsyncPgConnection| -> Result<HashMap<String, Uuid>, DbError> {
        Ok(ledger_accounts::table
            .filter(ledger_accounts::code.eq_any(&codes))
            .select((ledger_accounts::code, ledger_accounts::id))
            .load::<(String, Uuid)>(conn)
            .await?
            .into_iter()
            .collect())
    };
    let mut found = find(conn).await?;
    let mut seen = std::collections::HashSet::new();
    let missing: Vec<_> = refs
        .iter()
        .zip(&codes)
        .filter(|(_, code)| !found.contains_key(*code) && seen.insert(code.as_str()))
        .map(|(r, code)| {
            (
                ledger_accounts::id.eq(Uuid::now_v7()),
                ledger_accounts::code.eq(code.clone()),
                ledger_accounts::kind.eq(r.kind.as_str()),
                ledger_accounts::program_id.eq(r.program),
                ledger_accounts::organization_id.eq(r.organization),
                ledger_accounts::name.eq(r.name()),
            )
        })
        .collect();
    if !missing.is_empty() {
        diesel::insert_into(ledger_accounts::table)
            .values(missing)
            .on_conflict(ledger_accounts::code)
            .do_nothing()
            .execute(conn)
            .await?;
        found = find(conn).await?;
    }
    let mut ids = HashMap::with_capacity(refs.len());
    for (r, code) in refs.iter().zip(&codes) {
        let id = found.get(code).ok_or(DbError::NotFound)?;
        ids.insert(*r, *id);
    }
    Ok(ids)
}

/// Records a balanced transaction. Postings of zero are left out; the database
/// refuses the commit if the rest does not sum to zero.
pub async fn post(
    conn: &mut AsyncPgConnection,
    kind: TransactionKind,
    description: &str,
    program: Uuid,
    postings: &[(AccountRef, Decimal)],
) -> Result<Uuid, DbError> {
    post_reversing(conn, kind, description, program, postings, None).await
}

/// Records a balanced transaction that undoes `reverses` (or nothing).
pub async fn post_reversing(
    conn: &mut AsyncPgConnection,
    kind: TransactionKind,
    description: &str,
    program: Uuid,
    postings: &[(AccountRef, Decimal)],
    reverses: Option<Uuid>,
) -> Result<Uuid, DbError> {
    let refs: Vec<AccountRef> = postings.iter().map(|(r, _)| *r).collect();
    let ids = accounts(conn, &refs).await?;
    let transaction = Uuid::now_v7();
    diesel::insert_into(ledger_transactions::table)
        .values((
            ledger_transactions::id.eq(transaction),
            ledger_transactions::kind.eq(kind.as_str()),
            ledger_transactions::description.eq(description),
            ledger_transactions::program_id.eq(program),
            ledger_transactions::reverses.eq(reverses),
        ))
        .execute(conn)
        .await?;
    let rows: Vec<_> = postings
        .iter()
        .filter(|(_, amount)| !amount.is_zero())
        .filter_map(|(r, amount)| {
            ids.get(r).map(|account| {
                (
                    ledger_postings::transaction_id.eq(transaction),
                    ledger_postings::account_id.eq(*account),
                    ledger_postings::amount.eq(*amount),
                )
            })
        })
        .collect();
    diesel::insert_into(ledger_postings::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(transaction)
}

#[derive(Debug, QueryableByName)]
struct KindBalance {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    organization_id: Option<Uuid>,
    #[diesel(sql_type = Numeric)]
    balance: Decimal,
}

/// Balances of a program's accounts, by kind and organisation.
pub async fn program_balances(
    conn: &mut AsyncPgConnection,
    program: Uuid,
) -> Result<HashMap<(AccountKind, Option<Uuid>), Decimal>, DbError> {
    let rows: Vec<KindBalance> = diesel::sql_query(
        "SELECT a.kind, a.organization_id, coalesce(sum(p.amount), 0) AS balance
         FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id
         WHERE a.program_id = $1 GROUP BY a.id, a.kind, a.organization_id",
    )
    .bind::<SqlUuid, _>(program)
    .load(conn)
    .await?;
    let kinds = [
        AccountKind::FunderCommitment,
        AccountKind::FunderUnpaid,
        AccountKind::Available,
        AccountKind::Outstanding,
        AccountKind::SitePayable,
        AccountKind::Commission,
        AccountKind::SitePaid,
        AccountKind::CommissionPaid,
        AccountKind::FeeReceivable,
        AccountKind::FeeIncome,
        AccountKind::FunderRefunded,
        AccountKind::SiteOwed,
    ];
    let mut out = HashMap::new();
    for row in rows {
        if let Some(kind) = kinds.iter().find(|k| k.as_str() == row.kind) {
            *out.entry((*kind, row.organization_id))
                .or_insert(Decimal::ZERO) += row.balance;
        }
    }
    Ok(out)
}

/// One account with its balance, as listed by the API.
#[derive(Debug, Clone, QueryableByName)]
pub struct AccountBalance {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    pub program_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    pub organization_id: Option<Uuid>,
    #[diesel(sql_type = Numeric)]
    pub balance: Decimal,
}

/// Every account (or those of one organisation, or of the programs it funds) with
/// its balance, in code order.
pub async fn balances(
    conn: &mut AsyncPgConnection,
    owner: Option<Uuid>,
) -> Result<Vec<AccountBalance>, DbError> {
    let sql = "SELECT a.id, a.code, a.kind, a.name, a.program_id, a.organization_id,
                      coalesce(sum(p.amount), 0) AS balance
               FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id
               WHERE $1::uuid IS NULL OR a.organization_id = $1
               GROUP BY a.id ORDER BY a.code";
    Ok(diesel::sql_query(sql)
        .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(owner)
        .load(conn)
        .await?)
}

/// Ledger invariants, checked by the tests after every step that moves money:
/// every transaction sums to zero and has postings; no bucket is below zero; the
/// trial balance is zero; a ticket is redeemed exactly when it has one live
/// redemption; a program's outstanding balance is the value of its tickets in
/// circulation.
pub async fn invariant_violations(conn: &mut AsyncPgConnection) -> Result<Vec<String>, DbError> {
    #[derive(QueryableByName)]
    struct Violation {
        #[diesel(sql_type = Text)]
        what: String,
    }
    let rows: Vec<Violation> = diesel::sql_query(
        "SELECT 'transaction ' || t.id || ' sums to ' || coalesce(sum(p.amount), 0) AS what
         FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.transaction_id = t.id
         GROUP BY t.id HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.id) < 2
         UNION ALL
         SELECT 'account ' || a.code || ' (' || a.kind || ') has balance ' || sum(p.amount)
         FROM ledger_accounts a JOIN ledger_postings p ON p.account_id = a.id
         GROUP BY a.id
         HAVING (a.kind IN ('available', 'outstanding', 'site_payable', 'site_owed', 'commission', 'funder_unpaid')
                 AND sum(p.amount) < 0)
             OR (a.kind = 'funder_commitment' AND sum(p.amount) > 0)
         UNION ALL
         SELECT 'trial balance is ' || sum(amount) FROM ledger_postings HAVING sum(amount) <> 0
         UNION ALL
         SELECT 'ticket ' || t.serial || ' is ' || t.status || ' with ' || count(r.id) || ' live redemption(s)'
         FROM tickets t LEFT JOIN redemptions r ON r.ticket_id = t.id AND r.status <> 'reversed'::redemption_status
         GROUP BY t.id
         HAVING (t.status IN ('redeemed'::ticket_status, 'settled'::ticket_status)) <> (count(r.id) = 1)
             OR count(r.id) > 1
         UNION ALL
         SELECT 'ticket ' || t.serial || ' is issued in cancelled checkbook ' || c.number
         FROM tickets t JOIN checkbooks c ON c.id = t.checkbook_id
         WHERE c.status = 'cancelled'::checkbook_status AND t.status = 'issued'::ticket_status
         UNION ALL
         SELECT 'program ' || p.id || ': outstanding ' || coalesce(o.balance, 0) || ' <> tickets in circulation ' || coalesce(c.value, 0)
         FROM programs p
         LEFT JOIN (SELECT a.program_id, sum(pp.amount) AS balance FROM ledger_accounts a
                    JOIN ledger_postings pp ON pp.account_id = a.id WHERE a.kind = 'outstanding' GROUP BY a.program_id) o
                ON o.program_id = p.id
         LEFT JOIN (SELECT program_id, sum(value) AS value FROM tickets WHERE status = 'issued'::ticket_status GROUP BY program_id) c
                ON c.program_id = p.id
         WHERE coalesce(o.balance, 0) <> coalesce(c.value, 0)",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|v| v.what).collect())
}
