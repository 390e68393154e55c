//! The *fichier des écritures comptables* (FEC): a year of the ledger as the French
//! tax administration and the accountant read it (article A47 A-1 of the Livre des
//! procédures fiscales).
//!
//! One line per posting, tab-separated, the 18 columns in their legal order and
//! with their legal names ([`COLUMNS`]); dates `AAAAMMJJ`; amounts with a decimal
//! comma and no thousands separator, the debit or the credit filled, the other
//! `0,00`. One ledger transaction is one *écriture* (`EcritureNum`, numbered from 1
//! in the year in the order they were written), so each balances like the
//! transaction it comes from. The year is a calendar year of Paris days.
//!
//! The ledger's accounts are mapped to the plan comptable général by their kind
//! ([`pcg_account`], the table of the README); the funder or the site an account
//! concerns is its auxiliary account (`CompAuxNum` `FIN…`/`LIEU…`, the first eight
//! hexadecimal digits of the organisation's id, `CompAuxLib` its name). The journal
//! is the transaction's kind ([`journal`]).
//!
//! Ticket serials in the descriptions are cut to their last four symbols, as
//! everyone but the issuing prescriber sees a ticket.
//!
//! [`write`] is pure (a domain rule with no I/O); [`entries`] reads the year's
//! postings in one query.

use chrono::NaiveDate;
use diesel::QueryableByName;
use diesel::sql_types::{Date, Int4, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::DbError;
use crate::ledger::{AccountKind, TransactionKind};

/// The 18 columns of article A47 A-1, in order, with their names.
pub const COLUMNS: [&str; 18] = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
];

/// One posting of the year, with what the FEC says of it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Posting {
    #[diesel(sql_type = SqlUuid)]
    pub transaction_id: Uuid,
    #[diesel(sql_type = Text)]
    pub transaction_kind: String,
    #[diesel(sql_type = Text)]
    pub description: String,
    /// The Paris day the transaction was written.
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = Text)]
    pub account_kind: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub organization_kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub organization_name: Option<String>,
    /// Signed: a debit is positive, a credit negative.
    #[diesel(sql_type = Numeric)]
    pub amount: Decimal,
}

/// The year's postings (zero amounts left out), transaction by transaction in the
/// order they were written.
pub async fn entries(conn: &mut AsyncPgConnection, year: i32) -> Result<Vec<Posting>, DbError> {
    let sql = "SELECT t.id AS transaction_id, t.kind AS transaction_kind, t.description,
                      (t.created_at AT TIME ZONE 'Europe/Paris')::date AS day,
                      a.kind AS account_kind, a.organization_id,
                      o.kind AS organization_kind, o.name AS organization_name, p.amount
               FROM ledger_transactions t
               JOIN ledger_postings p ON p.transaction_id = t.id
               JOIN ledger_accounts a ON a.id = p.account_id
               LEFT JOIN organizations o ON o.id = a.organization_id
               WHERE t.created_at >= make_date($1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris'
                 AND t.created_at < make_date($1 + 1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris'
                 AND p.amount <> 0
               ORDER BY t.created_at, t.id, p.id";
    Ok(diesel::sql_query(sql)
        .bind::<Int4, _>(year)
        .load(conn)
        .await?)
}

/// The file's name: `{SIREN}FEC{closing date}.txt`, the closing date being the
/// year's last day.
pub fn file_name(siren: &str, year: i32) -> String {
    format!("{siren}FEC{year:04}1231.txt")
}

/// Every kind of ledger account, to read the kinds stored as text.
const ACCOUNT_KINDS: [AccountKind; 12] = [
    AccountKind::Available,
    AccountKind::Outstanding,
    AccountKind::FunderCommitment,
    AccountKind::FunderUnpaid,
    AccountKind::FunderRefunded,
    AccountKind::Commission,
    AccountKind::SitePayable,
    AccountKind::SiteOwed,
    AccountKind::SitePaid,
    AccountKind::FeeReceivable,
    AccountKind::CommissionPaid,
    AccountKind::FeeIncome,
];

/// Every kind of ledger transaction, to read the kinds stored as text.
const TRANSACTION_KINDS: [TransactionKind; 10] = [
    TransactionKind::Commitment,
    TransactionKind::Payment,
    TransactionKind::Issuance,
    TransactionKind::Cancellation,
    TransactionKind::Expiry,
    TransactionKind::Redemption,
    TransactionKind::Reversal,
    TransactionKind::Settlement,
    TransactionKind::Closing,
    TransactionKind::Payout,
];

/// The plan comptable général account of a ledger account kind: number and label
/// (a kind added to the ledger does not compile until it is given one here).
pub fn pcg_of(kind: AccountKind) -> (&'static str, &'static str) {
    match kind {
        AccountKind::Available => ("512100", "Banque – fonds des financeurs disponibles"),
        AccountKind::Outstanding => ("512200", "Banque – fonds des chèques en circulation"),
        AccountKind::FunderCommitment => ("467100", "Financeurs – fonds engagés"),
        AccountKind::FunderUnpaid => ("467200", "Financeurs – engagements à recevoir"),
        AccountKind::FunderRefunded => ("467300", "Financeurs – fonds restitués"),
        AccountKind::Commission => ("467400", "Commission de l’opérateur à prélever"),
        AccountKind::SitePayable => ("401100", "Lieux de formation – chèques à payer"),
        AccountKind::SiteOwed => ("401200", "Lieux de formation – relevés à virer"),
        AccountKind::SitePaid => ("401300", "Lieux de formation – virements effectués"),
        AccountKind::FeeReceivable => ("411000", "Financeurs – frais de gestion facturés"),
        AccountKind::CommissionPaid => ("706000", "Prestations de services – commission"),
        AccountKind::FeeIncome => ("708000", "Produits annexes – frais de gestion"),
    }
}

/// The account of a kind read from the database; a kind this code does not know
/// (none should be) goes to the suspense account.
pub fn pcg_account(kind: &str) -> (&'static str, &'static str) {
    ACCOUNT_KINDS
        .into_iter()
        .find(|k| k.as_str() == kind)
        .map_or(("471000", "Comptes d’attente"), pcg_of)
}

/// The journal of a ledger transaction kind: code and label.
pub fn journal_of(kind: TransactionKind) -> (&'static str, &'static str) {
    match kind {
        TransactionKind::Commitment => ("ENG", "Engagements des financeurs"),
        TransactionKind::Payment => ("BQ", "Banque – versements des financeurs"),
        TransactionKind::Issuance | TransactionKind::Cancellation | TransactionKind::Expiry => {
            ("CHQ", "Chèques émis, annulés, expirés")
        }
        TransactionKind::Redemption | TransactionKind::Reversal => ("UTI", "Chèques utilisés"),
        TransactionKind::Settlement => ("REG", "Règlements mensuels"),
        TransactionKind::Closing => ("CLO", "Clôtures des dispositifs"),
        TransactionKind::Payout => ("VIR", "Virements aux lieux de formation"),
    }
}

/// The journal of a kind read from the database (an unknown one: OD).
pub fn journal(kind: &str) -> (&'static str, &'static str) {
    TRANSACTION_KINDS
        .into_iter()
        .find(|k| k.as_str() == kind)
        .map_or(("OD", "Opérations diverses"), journal_of)
}

/// The auxiliary account of an organisation: `FIN`/`LIEU`/`PRES`/`OPE` and the
/// first eight hexadecimal digits of its id.
pub fn auxiliary(kind: &str, id: Uuid) -> String {
    let prefix = match kind {
        "funder" => "FIN",
        "site" => "LIEU",
        "prescriber" => "PRES",
        _ => "OPE",
    };
    let hex = id.simple().to_string().to_uppercase();
    format!("{prefix}{}", &hex[..8])
}

/// `AAAAMMJJ`.
fn date(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// `1234,56`: two decimals, a decimal comma, no separator of thousands.
fn amount(value: Decimal) -> String {
    format!("{:.2}", value.round_dp(2)).replace('.', ",")
}

/// A free text made fit for a cell: no tab, no line break.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A description with every ticket serial (`7K3M-9QX2-ZAT`) cut to its last four
/// symbols (`…2ZAT`), as everyone but the issuing prescriber sees a ticket.
fn masked_serials(text: &str) -> String {
    let symbols = |w: &str| {
        w.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    let is_serial = |word: &str| {
        let parts: Vec<&str> = word.split('-').collect();
        let dashed = parts.len() == 3
            && [4, 4, 3] == [parts[0].len(), parts[1].len(), parts[2].len()]
            && parts.iter().all(|p| symbols(p));
        dashed || (word.len() == 11 && symbols(word) && word.bytes().any(|b| b.is_ascii_digit()))
    };
    text.split(' ')
        .map(|word| {
            if is_serial(word) {
                let plain: String = word.chars().filter(|c| *c != '-').collect();
                format!("…{}", crate::codes::serial_hint_of(&plain))
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole file: the header line, then one line per posting (lines end with
/// CR LF). `EcritureNum` counts the transactions from 1.
pub fn write(postings: &[Posting]) -> String {
    let mut out = COLUMNS.join("\t");
    out.push_str("\r\n");
    let mut number = 0u32;
    let mut previous: Option<Uuid> = None;
    for p in postings {
        if previous != Some(p.transaction_id) {
            number += 1;
            previous = Some(p.transaction_id);
        }
        let (journal_code, journal_lib) = journal(&p.transaction_kind);
        let (account, account_lib) = pcg_account(&p.account_kind);
        let (aux_num, aux_lib) = match (p.organization_id, &p.organization_kind) {
            (Some(id), Some(kind)) => (
                auxiliary(kind, id),
                cell(p.organization_name.as_deref().unwrap_or_default()),
            ),
            _ => (String::new(), String::new()),
        };
        let day = date(p.day);
        let label = match masked_serials(&cell(&p.description)) {
            empty if empty.is_empty() => journal_lib.to_owned(),
            text => text,
        };
        let (debit, credit) = if p.amount.is_sign_negative() {
            (Decimal::ZERO, -p.amount)
        } else {
            (p.amount, Decimal::ZERO)
        };
        let fields = [
            journal_code.to_owned(),
            journal_lib.to_owned(),
            number.to_string(),
            day.clone(),
            account.to_owned(),
            account_lib.to_owned(),
            aux_num,
            aux_lib,
            p.transaction_id.simple().to_string().to_uppercase(),
            day.clone(),
            label,
            amount(debit),
            amount(credit),
            String::new(),
            String::new(),
            day,
            String::new(),
            String::new(),
        ];
        out.push_str(&fields.join("\t"));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(tx: u128, kind: &str, amount: &str) -> Posting {
        Posting {
            transaction_id: Uuid::from_u128(tx),
            transaction_kind: "payment".into(),
            description: "Versement\tdu financeur\n".into(),
            day: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap_or_default(),
            account_kind: kind.into(),
            organization_id: (kind == "funder_unpaid").then(|| Uuid::from_u128(0xABCDEF12 << 96)),
            organization_kind: (kind == "funder_unpaid").then(|| "funder".into()),
            organization_name: (kind == "funder_unpaid").then(|| "Département".into()),
            amount: amount.parse().unwrap_or_default(),
        }
    }

    #[test]
    fn one_line_per_posting_numbered_by_transaction() {
        let text = write(&[
            posting(1, "available", "1200.5"),
            posting(1, "funder_unpaid", "-1200.5"),
            posting(2, "available", "3"),
            posting(2, "funder_unpaid", "-3"),
        ]);
        let lines: Vec<Vec<&str>> = text
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(lines[0], COLUMNS);
        assert!(lines.iter().all(|l| l.len() == 18));
        assert_eq!(lines[1][2], "1");
        assert_eq!(lines[3][2], "2");
        assert_eq!(lines[1][3], "20260304");
        assert_eq!(lines[1][4], "512100");
        assert_eq!((lines[1][11], lines[1][12]), ("1200,50", "0,00"));
        assert_eq!((lines[2][11], lines[2][12]), ("0,00", "1200,50"));
        assert_eq!(lines[2][6], "FINABCDEF12");
        assert_eq!(lines[2][7], "Département");
        assert_eq!(lines[1][10], "Versement du financeur");
    }

    #[test]
    fn serials_are_cut_to_their_last_four_symbols() {
        assert_eq!(
            masked_serials("Encaissement du chèque 7K3M-9QX2-ZAT"),
            "Encaissement du chèque …2ZAT"
        );
        assert_eq!(
            masked_serials("Règlement du 2026-10-01"),
            "Règlement du 2026-10-01"
        );
    }

    #[test]
    fn every_ledger_kind_has_its_own_account_and_journal() {
        let mut numbers: Vec<&str> = ACCOUNT_KINDS
            .iter()
            .map(|k| pcg_account(k.as_str()).0)
            .collect();
        assert!(!numbers.contains(&"471000"), "{numbers:?}");
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), ACCOUNT_KINDS.len(), "one account per kind");
        assert_eq!(pcg_account("site_owed").0, "401200");
        assert_eq!(pcg_account("site_paid").0, "401300");
        assert_eq!(pcg_account("unheard_of").0, "471000");
        for kind in TRANSACTION_KINDS {
            assert_ne!(journal(kind.as_str()).0, "OD", "{kind:?}");
        }
        assert_eq!(journal("payout").0, "VIR");
    }

    #[test]
    fn the_file_is_named_after_the_siren_and_the_closing_day() {
        assert_eq!(file_name("732829320", 2026), "732829320FEC20261231.txt");
    }
}
