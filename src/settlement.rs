//! Monthly settlement: every live redemption that arrived in a period is settled —
//! its site paid (face value minus the program's commission), its funders billed
//! (their shares of face value, plus the program's funder fee), the operator's
//! commission counted — with immutable, gaplessly numbered statements.
//!
//! **Rounding rule.** Each ticket's face value is split among the program's funders,
//! in cents, by largest remainder: every funder gets the floor of value × share, and
//! the cents left over go to the largest fractional parts. Equal fractional parts
//! (a third each, halves of an odd cent) take the extra cent in turn: the k-th ticket
//! of a program in the settlement (by arrival, then id) starts the turn at funder
//! k mod n. So each ticket's parts add up to its value exactly, every bill's lines add
//! up to its total, and the bills of a settlement add up to the face value settled,
//! to the cent. The funder fee is one line per program on each bill: the bill's face
//! total for that program × fee rate, rounded half away from zero. The commission is
//! per ticket (see `redemptions::split`).
//!
//! Statements keep their content (the CSV as issued, checked by the database against
//! its SHA-256): a later rename never changes a document already issued.
//!
//! A settlement covers French calendar days; it is refused until its last day is
//! over, and when it overlaps a settled period (the database refuses overlaps, so two
//! settlements at once cannot both pass). A redemption arrived in a settled period is
//! settled; it can no longer be reversed.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::DbError;
use crate::domain::{ValidationError, end_of_french_day, french_date};
use crate::error::ApiError;
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::schema::{settlements, statement_counters, statements};

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

fn to_cents(value: Decimal) -> i64 {
    (value * Decimal::ONE_HUNDRED).round().to_i64().unwrap_or(0)
}

fn from_cents(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlements)]
pub struct Settlement {
    pub id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statements)]
pub struct Statement {
    pub id: Uuid,
    pub number: String,
    pub kind: String,
    pub organization_id: Uuid,
    pub settlement_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub lines: i32,
    pub total: Decimal,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

/// One settled redemption, as statement lines need it.
#[derive(Debug, Clone, QueryableByName)]
pub struct SettledLine {
    #[diesel(sql_type = SqlUuid)]
    pub program_id: Uuid,
    #[diesel(sql_type = Text)]
    pub program_name: String,
    #[diesel(sql_type = Numeric)]
    pub commission_rate: Decimal,
    #[diesel(sql_type = Numeric)]
    pub funder_fee_rate: Decimal,
    #[diesel(sql_type = SqlUuid)]
    pub site_id: Uuid,
    #[diesel(sql_type = Text)]
    pub site_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub site_siret: Option<String>,
    #[diesel(sql_type = Text)]
    pub serial: String,
    #[diesel(sql_type = Text)]
    pub checkbook_number: String,
    #[diesel(sql_type = Timestamptz)]
    pub redeemed_at: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    pub value: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount_payable: Decimal,
    #[diesel(sql_type = Numeric)]
    pub commission: Decimal,
}

/// The live redemptions arrived in [from, to), by program then arrival then id: the
/// order that gives each ticket its turn in the funders' split.
pub async fn settled_lines(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SettledLine>, DbError> {
    Ok(diesel::sql_query(
        "SELECT r.program_id, p.name AS program_name, p.commission_rate, p.funder_fee_rate,
                r.site_id, s.name AS site_name, s.siret AS site_siret, t.serial,
                c.number AS checkbook_number, r.redeemed_at, r.value, r.amount_payable, r.commission
         FROM redemptions r
         JOIN tickets t ON t.id = r.ticket_id
         JOIN checkbooks c ON c.id = t.checkbook_id
         JOIN programs p ON p.id = r.program_id
         JOIN organizations s ON s.id = r.site_id
         WHERE r.status = 'redeemed' AND r.redeemed_at >= $1 AND r.redeemed_at < $2
         ORDER BY r.program_id, r.redeemed_at, r.id",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await?)
}

/// The funders of each program with their shares, in a fixed order (funder id).
pub async fn shares_by_program(
    conn: &mut AsyncPgConnection,
    programs: &[Uuid],
) -> Result<HashMap<Uuid, Vec<(Uuid, Decimal)>>, DbError> {
    use crate::schema::program_funders;
    let rows: Vec<(Uuid, Uuid, Decimal)> = program_funders::table
        .filter(program_funders::program_id.eq_any(programs))
        .select((
            program_funders::program_id,
            program_funders::funder_id,
            program_funders::share,
        ))
        .order((program_funders::program_id, program_funders::funder_id))
        .load(conn)
        .await?;
    let mut out: HashMap<Uuid, Vec<(Uuid, Decimal)>> = HashMap::new();
    for (program, funder, share) in rows {
        out.entry(program).or_default().push((funder, share));
    }
    Ok(out)
}

/// What a statement says, line by line, as CSV (`;`, decimal point, UTF-8, header).
pub struct StatementContent {
    pub csv: String,
    pub lines: i32,
    pub total: Decimal,
    /// Of the total, the funder fees (bills only).
    pub fees: Decimal,
}

pub const CSV_HEADER: &str = "numero_releve;date;serie_cheque;numero_chequier;dispositif;lieu;siret_lieu;encaisse_le;valeur_faciale;taux;montant\n";

fn csv_field(text: &str) -> String {
    if text.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn rate_text(rate: Decimal) -> String {
    let mut r = rate;
    r.rescale(4);
    r.to_string()
}

/// The kinds of statements and whose lines they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementFor {
    Site(Uuid),
    Funder(Uuid),
    Commission,
}

/// Builds a statement's content from the settled lines (in settlement order).
pub fn statement_content(
    number: &str,
    date: NaiveDate,
    whose: StatementFor,
    lines: &[SettledLine],
    shares: &HashMap<Uuid, Vec<(Uuid, Decimal)>>,
) -> StatementContent {
    let mut csv = String::from(CSV_HEADER);
    let mut total_cents = 0i64;
    let mut fee_cents = 0i64;
    let mut count = 0i32;
    let mut turn: HashMap<Uuid, usize> = HashMap::new();
    // For a funder's bill: face part per program, for the fee line.
    let mut face_by_program: BTreeMap<(String, Uuid), (i64, Decimal)> = BTreeMap::new();
    let push = |csv: &mut String, l: &SettledLine, rate: Decimal, cents: i64| {
        csv.push_str(&format!(
            "{};{};{};{};{};{};{};{};{};{};{}\n",
            number,
            date,
            l.serial,
            l.checkbook_number,
            csv_field(&l.program_name),
            csv_field(&l.site_name),
            l.site_siret.as_deref().unwrap_or(""),
            l.redeemed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            l.value,
            rate_text(rate),
            from_cents(cents)
        ));
    };
    for l in lines {
        let k = turn.entry(l.program_id).or_insert(0);
        let this_turn = *k;
        *k += 1;
        match whose {
            StatementFor::Site(site) if l.site_id == site => {
                let cents = to_cents(l.amount_payable);
                push(&mut csv, l, l.commission_rate, cents);
                total_cents += cents;
                count += 1;
            }
            StatementFor::Commission if !l.commission.is_zero() => {
                let cents = to_cents(l.commission);
                push(&mut csv, l, l.commission_rate, cents);
                total_cents += cents;
                count += 1;
            }
            StatementFor::Funder(funder) => {
                let Some(program_shares) = shares.get(&l.program_id) else {
                    continue;
                };
                let Some(index) = program_shares.iter().position(|(f, _)| *f == funder) else {
                    continue;
                };
                let split: Vec<Decimal> = program_shares.iter().map(|(_, s)| *s).collect();
                let parts = split_by_shares(to_cents(l.value), &split, this_turn);
                let cents = parts[index];
                push(&mut csv, l, program_shares[index].1, cents);
                total_cents += cents;
                count += 1;
                let entry = face_by_program
                    .entry((l.program_name.clone(), l.program_id))
                    .or_insert((0, l.funder_fee_rate));
                entry.0 += cents;
            }
            _ => {}
        }
    }
    if let StatementFor::Funder(_) = whose {
        for ((program_name, _), (face_cents, fee_rate)) in &face_by_program {
            if fee_rate.is_zero() {
                continue;
            }
            let fee = (from_cents(*face_cents) * fee_rate)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            if fee.is_zero() {
                continue;
            }
            csv.push_str(&format!(
                "{number};{date};;;{};Frais de gestion;;;{};{};{}\n",
                csv_field(program_name),
                from_cents(*face_cents),
                rate_text(*fee_rate),
                fee
            ));
            total_cents += to_cents(fee);
            fee_cents += to_cents(fee);
            count += 1;
        }
    }
    StatementContent {
        csv,
        lines: count,
        total: from_cents(total_cents),
        fees: from_cents(fee_cents),
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The next statement number of `year`, without gaps (the counter row stays locked
/// until the transaction ends; a rollback gives the number back).
pub async fn next_number(conn: &mut AsyncPgConnection, year: i32) -> Result<String, DbError> {
    let n: i32 = diesel::insert_into(statement_counters::table)
        .values((
            statement_counters::year.eq(year),
            statement_counters::last.eq(1),
        ))
        .on_conflict(statement_counters::year)
        .do_update()
        .set(statement_counters::last.eq(statement_counters::last + 1))
        .returning(statement_counters::last)
        .get_result(conn)
        .await?;
    Ok(format!("REL-{year}-{n:06}"))
}

/// Settles a period in the caller's transaction. Returns the settlement and its
/// statements.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    period_start: NaiveDate,
    period_end: NaiveDate,
    by: Option<Uuid>,
) -> Result<(Settlement, Vec<Statement>), ApiError> {
    if period_end < period_start {
        return Err(ValidationError::new(
            "period_end",
            "La fin de la période doit suivre son début.",
        )
        .into());
    }
    if NaiveDate::from_ymd_opt(2000, 1, 1).is_some_and(|first| period_start < first) {
        return Err(
            ValidationError::new("period_start", "Une période commence en 2000 ou après.").into(),
        );
    }
    let now = Utc::now();
    let today = french_date(now);
    if period_end >= today {
        return Err(ApiError::conflict(
            "period_not_over",
            "Une période ne se règle qu'une fois terminée : son dernier jour doit être passé.",
        )
        .with_field("period_end"));
    }
    let starts_at = end_of_french_day(period_start.pred_opt().unwrap_or(period_start));
    let ends_at = end_of_french_day(period_end);
    let inserted = diesel::insert_into(settlements::table)
        .values((
            settlements::id.eq(Uuid::now_v7()),
            settlements::period_start.eq(period_start),
            settlements::period_end.eq(period_end),
            settlements::starts_at.eq(starts_at),
            settlements::ends_at.eq(ends_at),
            settlements::created_by.eq(by),
        ))
        .returning(Settlement::as_returning())
        .get_result(conn)
        .await
        .map_err(DbError::from);
    let settlement = match inserted {
        Err(DbError::Exclusion { .. }) => {
            return Err(ApiError::conflict(
                "period_already_settled",
                "Cette période recouvre une période déjà réglée : aucun chèque n'est payé deux fois.",
            ));
        }
        other => other?,
    };
    // Redemptions still in flight finish first; new ones wait for the settlement.
    diesel::sql_query("LOCK TABLE redemptions IN SHARE MODE")
        .execute(conn)
        .await?;
    let lines = settled_lines(conn, starts_at, ends_at).await?;
    let mut programs: Vec<Uuid> = lines.iter().map(|l| l.program_id).collect();
    programs.dedup();
    let shares = shares_by_program(conn, &programs).await?;

    // Who gets a statement: each site paid, each funder billed, the operator.
    let mut recipients: Vec<(StatementFor, &'static str, Uuid)> = Vec::new();
    let mut sites: Vec<Uuid> = lines.iter().map(|l| l.site_id).collect();
    sites.sort();
    sites.dedup();
    for site in sites {
        recipients.push((StatementFor::Site(site), "site_payout", site));
    }
    let mut funders: Vec<Uuid> = programs
        .iter()
        .flat_map(|p| shares.get(p).into_iter().flatten().map(|(f, _)| *f))
        .collect();
    funders.sort();
    funders.dedup();
    for funder in funders {
        recipients.push((StatementFor::Funder(funder), "funder_bill", funder));
    }
    if lines.iter().any(|l| !l.commission.is_zero())
        && let Some(operator) = crate::organizations::operator(conn).await?
    {
        recipients.push((StatementFor::Commission, "commission", operator.id));
    }

    let year = chrono::Datelike::year(&today);
    let mut made = Vec::with_capacity(recipients.len());
    // Each statement reads only its own lines: a site's, or every line of the
    // programs a funder funds (all of them, in order, so each ticket keeps its turn).
    let mut by_site: HashMap<Uuid, Vec<SettledLine>> = HashMap::new();
    let mut by_program: HashMap<Uuid, Vec<SettledLine>> = HashMap::new();
    for l in &lines {
        by_site.entry(l.site_id).or_default().push(l.clone());
        by_program.entry(l.program_id).or_default().push(l.clone());
    }
    for (whose, kind, organization) in recipients {
        let number = next_number(conn, year).await?;
        let funder_lines;
        let own: &[SettledLine] = match whose {
            StatementFor::Site(site) => by_site.get(&site).map(Vec::as_slice).unwrap_or_default(),
            StatementFor::Funder(funder) => {
                funder_lines = programs
                    .iter()
                    .filter(|p| {
                        shares
                            .get(p)
                            .is_some_and(|s| s.iter().any(|(f, _)| *f == funder))
                    })
                    .flat_map(|p| by_program.get(p).into_iter().flatten().cloned())
                    .collect::<Vec<_>>();
                &funder_lines
            }
            StatementFor::Commission => &lines,
        };
        let content = statement_content(&number, today, whose, own, &shares);
        let statement: Statement = diesel::insert_into(statements::table)
            .values((
                statements::id.eq(Uuid::now_v7()),
                statements::number.eq(&number),
                statements::kind.eq(kind),
                statements::organization_id.eq(organization),
                statements::settlement_id.eq(settlement.id),
                statements::period_start.eq(period_start),
                statements::period_end.eq(period_end),
                statements::lines.eq(content.lines),
                statements::total.eq(content.total),
                statements::sha256.eq(sha256_hex(&content.csv)),
                statements::content.eq(&content.csv),
                statements::created_at.eq(now),
            ))
            .returning(Statement::as_returning())
            .get_result(conn)
            .await?;
        made.push(statement);
    }

    // The ledger: what was payable is paid; fees are billed.
    for program in &programs {
        let mut postings: Vec<(AccountRef, Decimal)> = Vec::new();
        let mut by_site: BTreeMap<Uuid, Decimal> = BTreeMap::new();
        let mut commission = Decimal::ZERO;
        for l in lines.iter().filter(|l| l.program_id == *program) {
            *by_site.entry(l.site_id).or_default() += l.amount_payable;
            commission += l.commission;
        }
        for (site, amount) in by_site {
            postings.push((
                AccountRef::of(AccountKind::SitePayable, *program, site),
                -amount,
            ));
            postings.push((
                AccountRef::of(AccountKind::SitePaid, *program, site),
                amount,
            ));
        }
        postings.push((
            AccountRef::program(AccountKind::Commission, *program),
            -commission,
        ));
        postings.push((
            AccountRef::program(AccountKind::CommissionPaid, *program),
            commission,
        ));
        let program_lines: &[SettledLine] = by_program
            .get(program)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (funder, _) in shares.get(program).into_iter().flatten() {
            let fee = statement_content(
                "",
                today,
                StatementFor::Funder(*funder),
                program_lines,
                &shares,
            )
            .fees;
            if !fee.is_zero() {
                postings.push((
                    AccountRef::of(AccountKind::FeeReceivable, *program, *funder),
                    fee,
                ));
                postings.push((AccountRef::program(AccountKind::FeeIncome, *program), -fee));
            }
        }
        if postings.iter().any(|(_, a)| !a.is_zero()) {
            ledger::post(
                conn,
                TransactionKind::Settlement,
                &format!("Règlement du {period_start} au {period_end}"),
                *program,
                &postings,
            )
            .await?;
        }
    }
    crate::mail::events::statements_ready(conn, &made).await?;
    Ok((settlement, made))
}

/// Whether a redemption that arrived at `at` is settled.
pub async fn is_settled(conn: &mut AsyncPgConnection, at: DateTime<Utc>) -> Result<bool, DbError> {
    let n: i64 = settlements::table
        .filter(settlements::starts_at.le(at))
        .filter(settlements::ends_at.gt(at))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

pub async fn find_settlement(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<Settlement>, DbError> {
    Ok(settlements::table
        .find(id)
        .select(Settlement::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn statements_of_settlement(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Vec<Statement>, DbError> {
    Ok(statements::table
        .filter(statements::settlement_id.eq(id))
        .select(Statement::as_select())
        .order(statements::number.asc())
        .load(conn)
        .await?)
}

pub async fn find_statement(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<Statement>, DbError> {
    Ok(statements::table
        .find(id)
        .select(Statement::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn list_statements(
    conn: &mut AsyncPgConnection,
    organization: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Statement>, DbError> {
    let mut query = statements::table
        .select(Statement::as_select())
        .order(statements::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(org) = organization {
        query = query.filter(statements::organization_id.eq(org));
    }
    if let Some(after) = after {
        query = query.filter(statements::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

/// A statement's content as it was issued.
pub async fn content_of(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
) -> Result<String, ApiError> {
    Ok(statements::table
        .find(statement.id)
        .select(statements::content)
        .first(conn)
        .await?)
}

/// The lines of a statement's CSV as issued, for its PDF. A line whose serial is
/// empty is a fee or a credit note: its label is in the site column.
pub fn parse_content(csv_text: &str) -> anyhow::Result<Vec<crate::documents::StatementLine>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    let mut lines = Vec::new();
    for record in reader.records() {
        let r = record?;
        let field = |i: usize| r.get(i).unwrap_or_default().to_string();
        let serial = field(2);
        let redeemed_at = chrono::DateTime::parse_from_rfc3339(&field(7))
            .ok()
            .map(|t| t.with_timezone(&Utc));
        let label = serial.is_empty().then(|| field(5));
        lines.push(crate::documents::StatementLine {
            program: field(4),
            site: if serial.is_empty() {
                String::new()
            } else {
                field(5)
            },
            serial,
            checkbook: field(3),
            redeemed_at,
            face_value: field(8).parse()?,
            rate: field(9).parse()?,
            amount: field(10).parse()?,
            label,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
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

    fn shares_strategy() -> impl Strategy<Value = Vec<Decimal>> {
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

        #[test]
        fn bills_add_up_to_the_face_value_settled(values in proptest::collection::vec(1i64..5_000, 0..300), shares in shares_strategy()) {
            let program = Uuid::now_v7();
            let funders: Vec<Uuid> = shares.iter().map(|_| Uuid::now_v7()).collect();
            let share_map: HashMap<Uuid, Vec<(Uuid, Decimal)>> =
                [(program, funders.iter().copied().zip(shares.iter().copied()).collect())].into_iter().collect();
            let lines: Vec<SettledLine> = values.iter().enumerate().map(|(i, v)| SettledLine {
                program_id: program,
                program_name: "P".into(),
                commission_rate: Decimal::ZERO,
                funder_fee_rate: Decimal::ZERO,
                site_id: program,
                site_name: "S".into(),
                site_siret: None,
                serial: format!("S{i}"),
                checkbook_number: "C".into(),
                redeemed_at: Utc::now(),
                value: from_cents(*v),
                amount_payable: from_cents(*v),
                commission: Decimal::ZERO,
            }).collect();
            let face: Decimal = lines.iter().map(|l| l.value).sum();
            let mut billed = Decimal::ZERO;
            for funder in &funders {
                let bill = statement_content("REL", Utc::now().date_naive(), StatementFor::Funder(*funder), &lines, &share_map);
                // A statement's lines add up to its total.
                let line_sum: Decimal = bill.csv.lines().skip(1).map(|l| l.rsplit(';').next().unwrap().parse::<Decimal>().unwrap()).sum();
                prop_assert_eq!(line_sum, bill.total);
                billed += bill.total;
            }
            prop_assert_eq!(billed, face);
        }
    }
}
