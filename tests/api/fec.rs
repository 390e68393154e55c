//! The FEC (issue 17, point 5): the year's ledger as the accountant's file, read
//! back here by a parser of its own (tabs, the legal header, dates, decimal
//! commas), each entry balanced and the totals equal to the trial balance.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::helpers::TestApp;

/// Article A47 A-1 of the LPF, written out again here.
const HEADER: &str = "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise";

/// The README's mapping of the ledger's kinds to the plan comptable général, and
/// which kinds name a funder or a site.
fn pcg(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "available" => ("512100", ""),
        "outstanding" => ("512200", ""),
        "funder_commitment" => ("467100", "FIN"),
        "funder_unpaid" => ("467200", "FIN"),
        "funder_refunded" => ("467300", "FIN"),
        "commission" => ("467400", ""),
        "site_payable" => ("401100", "LIEU"),
        "site_owed" => ("401200", "LIEU"),
        "site_paid" => ("401300", "LIEU"),
        "fee_receivable" => ("411000", "FIN"),
        "commission_paid" => ("706000", ""),
        "fee_income" => ("708000", ""),
        other => panic!("account kind {other} has no PCG account in the mapping"),
    }
}

fn date(cell: &str, year: i32) -> NaiveDate {
    assert!(
        cell.len() == 8 && cell.bytes().all(|b| b.is_ascii_digit()),
        "date {cell}"
    );
    let day = NaiveDate::parse_from_str(cell, "%Y%m%d").expect("AAAAMMJJ");
    assert_eq!(day.year(), year, "date {cell} outside the year");
    day
}

fn amount(cell: &str) -> Decimal {
    let (units, cents) = cell.split_once(',').expect("decimal comma");
    assert!(
        !units.is_empty() && units.bytes().all(|b| b.is_ascii_digit()),
        "amount {cell}"
    );
    assert!(
        cents.len() == 2 && cents.bytes().all(|b| b.is_ascii_digit()),
        "amount {cell}"
    );
    format!("{units}.{cents}").parse().expect("amount")
}

#[tokio::test]
async fn the_fec_lists_the_years_postings_balanced_and_equal_to_the_trial_balance() {
    let app = TestApp::spawn().await;
    let books = crate::check::settled_books(&app).await;
    let operator = app.operator().await;
    let today = passnum::domain::french_date(Utc::now());
    // The site's payout transferred: its own journal and account.
    let payout = books
        .statements
        .iter()
        .find(|s| s["kind"] == "site_payout")
        .unwrap();
    app.post(
        &format!("/api/v1/statements/{}/paid", payout["id"].as_str().unwrap()),
        &operator.token,
        serde_json::json!({"paid_on": today, "bank_reference": "VIR-FEC-1"}),
    )
    .await
    .ok(200);

    // The books begin 40 days back: in January, in the year before. Each year's file
    // stands on its own; together they are the whole ledger.
    let first_year = (today - chrono::Days::new(40)).year();
    let mut rows_of_all_years: Vec<Vec<String>> = Vec::new();
    let mut net: HashMap<(String, String), Decimal> = HashMap::new();
    for year in first_year..=today.year() {
        let res = app
            .get(&format!("/api/v1/ledger/fec?year={year}"), &operator.token)
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert!(res.content_type().starts_with("text/plain"));
        let disposition = res.headers["content-disposition"].to_str().unwrap();
        let siren = &app.settings.operator.siren;
        assert_eq!(siren.len(), 9);
        assert!(
            disposition.contains(&format!("filename=\"{siren}FEC{year}1231.txt\"")),
            "{disposition}"
        );

        let mut lines = res.text.lines();
        assert_eq!(lines.next(), Some(HEADER));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();

        let mut entries: BTreeMap<u32, (Decimal, Decimal)> = BTreeMap::new();
        let (mut debits, mut credits) = (Decimal::ZERO, Decimal::ZERO);
        for row in &rows {
            assert_eq!(row.len(), 18, "{row:?}");
            for (column, name) in [
                (0, "JournalCode"),
                (1, "JournalLib"),
                (4, "CompteNum"),
                (5, "CompteLib"),
                (8, "PieceRef"),
                (10, "EcritureLib"),
            ] {
                assert!(!row[column].trim().is_empty(), "{name} empty in {row:?}");
            }
            let number: u32 = row[2].parse().expect("EcritureNum");
            let written = date(row[3], year);
            assert_eq!(date(row[9], year), written);
            assert_eq!(date(row[15], year), written);
            assert_eq!(row[6].is_empty(), row[7].is_empty(), "{row:?}");
            let (debit, credit) = (amount(row[11]), amount(row[12]));
            assert!(debit.is_zero() != credit.is_zero(), "{row:?}");
            let entry = entries.entry(number).or_default();
            entry.0 += debit;
            entry.1 += credit;
            debits += debit;
            credits += credit;
            *net.entry((row[4].to_owned(), row[6].to_owned()))
                .or_default() += debit - credit;
        }
        let numbers: Vec<u32> = entries.keys().copied().collect();
        assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
        for (number, (debit, credit)) in &entries {
            assert_eq!(debit, credit, "EcritureNum {number} does not balance");
        }
        assert_eq!(debits, credits);
        rows_of_all_years.extend(
            rows.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect()),
        );
    }
    let rows = rows_of_all_years;
    assert!(rows.len() > 10, "{} lines", rows.len());

    // The files' totals are the trial balance.
    let trial = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await;
    let mut expected: HashMap<(String, String), Decimal> = HashMap::new();
    for account in trial.ok(200)["accounts"].as_array().unwrap() {
        let (number, prefix) = pcg(account["kind"].as_str().unwrap());
        assert_eq!(account["pcg_account"], number, "{account}");
        let aux = match account["owner_id"].as_str() {
            Some(owner) if !prefix.is_empty() => {
                format!("{prefix}{}", owner.replace('-', "")[..8].to_uppercase())
            }
            _ => String::new(),
        };
        let balance: Decimal = account["balance"].as_str().unwrap().parse().unwrap();
        *expected.entry((number.to_owned(), aux)).or_default() += balance;
    }
    expected.retain(|_, b| !b.is_zero());
    net.retain(|_, b| !b.is_zero());
    assert_eq!(net, expected);
    let funder_aux = format!(
        "FIN{}",
        books.funders[0].replace('-', "")[..8].to_uppercase()
    );
    assert!(net.keys().any(|(_, aux)| *aux == funder_aux));
    for account in ["401100", "401200", "401300"] {
        assert!(
            rows.iter()
                .any(|r| r[4] == account && r[6].starts_with("LIEU")),
            "no posting on {account}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r[0] == "VIR" && r[4] == "401300" && !amount(&r[11]).is_zero()),
        "the transfer is a debit of 401300 in the VIR journal"
    );

    // Another year: the header alone.
    let empty = app
        .get(
            &format!("/api/v1/ledger/fec?year={}", first_year - 1),
            &operator.token,
        )
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.text.trim_end(), HEADER);

    // No year, or not a year: a French refusal.
    for query in ["", "?year=26", "?year=deux"] {
        let refused = app
            .get(&format!("/api/v1/ledger/fec{query}"), &operator.token)
            .await;
        refused.problem(422, "validation_failed");
    }
}
