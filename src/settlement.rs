//! Monthly settlement: every live redemption that arrived in a period is settled —
//! its site paid (face value minus the program's commission), its funders billed
//! (their shares of face value, plus the program's funder fee), the operator's
//! commission counted — with immutable, gaplessly numbered statements.
//!
//! **Rounding rule.** Each ticket's face value is split among the program's funders,
//! in cents, by largest remainder: every funder gets the floor of value × share, and
//! the cents left over go to the largest fractional parts. Equal fractional parts
//! (a third each, halves of an odd cent) take the extra cent in turn: a ticket's turn
//! is the last byte of its redemption's id (random) modulo 60, and the turn starts at
//! funder turn mod n; over many tickets each funder takes about as many extra cents.
//! A ticket's split depends on nothing but its value and its turn, so a settlement
//! sums it by group in one pass. So each ticket's parts add up to its value exactly, every bill's lines add
//! up to its total, and the bills of a settlement add up to the face value settled,
//! to the cent. The funder fee is one line per program on each bill: the bill's face
//! total for that program × fee rate, rounded half away from zero. The commission is
//! per ticket, computed by the redemption (value × rate, half away from zero).
//!
//! A settlement's statements keep their totals, not their lines: the lines are drawn
//! when asked from the redemptions (which the database keeps unchanged once settled)
//! and the names the settlement recorded, so a later rename never changes a document
//! already issued. Each statement is sealed right after the commit: the SHA-256 of its
//! CSV is stored once. A credit note keeps its own content.
//!
//! A settlement covers French calendar days; it is refused until its last day is
//! over, and when it overlaps a settled period (the database refuses overlaps, so two
//! settlements at once cannot both pass). A redemption arrived in a settled period is
//! settled; it can no longer be reversed.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Numeric, Timestamptz, Uuid as SqlUuid};
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
    pub sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    /// How its CSV writes text cells (see [`CsvFormat`]).
    pub csv_format: i16,
}

/// One live redemption of a settlement, as its statements' lines need it.
#[derive(Debug, Clone, Queryable)]
pub struct SettledRedemption {
    pub id: Uuid,
    pub program_id: Uuid,
    pub site_id: Uuid,
    pub serial: String,
    pub checkbook_number: String,
    pub redeemed_at: DateTime<Utc>,
    /// Face value, what the site is owed and the commission, in cents (read as
    /// integers: no decimal to decode per line).
    pub value_cents: i64,
    pub payable_cents: i64,
    pub commission_cents: i64,
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

    fn funder_index(&self, funder: Uuid) -> Option<usize> {
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

/// What a statement says, line by line, as CSV (`;`, decimal point, UTF-8, header).
pub struct StatementContent {
    pub csv: String,
    pub lines: i32,
    pub total: Decimal,
    /// Of the total, the funder fees (bills only).
    pub fees: Decimal,
}

pub const CSV_HEADER: &str = "numero_releve;date;serie_cheque;numero_chequier;dispositif;lieu;siret_lieu;encaisse_le;valeur_faciale;taux;montant\n";

/// How a statement's CSV writes its text cells. A statement is drawn again, every
/// time it is downloaded, in the format it was sealed in, so its SHA-256 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    /// Statements sealed before migration `000013`: cells quoted when needed.
    Quoted,
    /// Since: a cell that would start a formula gets a leading `'` as well
    /// ([`crate::csv_cells::cell`]), and a ticket is named by its serial's last four
    /// characters only: a full serial is a bearer secret that only the issuing
    /// prescriber sees (API.md, "Roles inside an organisation"), and statements are
    /// read by the operator and the funders.
    FormulaSafe,
}

impl CsvFormat {
    /// The format a statement records (`statements.csv_format`).
    pub fn of(recorded: i16) -> CsvFormat {
        if recorded >= 2 {
            CsvFormat::FormulaSafe
        } else {
            CsvFormat::Quoted
        }
    }

    fn cell(self, text: &str) -> std::borrow::Cow<'_, str> {
        match self {
            CsvFormat::Quoted => crate::csv_cells::legacy_cell(text),
            CsvFormat::FormulaSafe => crate::csv_cells::cell(text),
        }
    }

    /// How a ticket's serial is named in a statement line.
    fn serial(self, serial: &str) -> std::borrow::Cow<'_, str> {
        match self {
            CsvFormat::Quoted => crate::csv_cells::legacy_cell(serial),
            CsvFormat::FormulaSafe => crate::csv_cells::cell(&crate::codes::serial_hint(serial))
                .into_owned()
                .into(),
        }
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

/// Everything a settlement statement's lines are written from, but the redemptions.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub number: String,
    pub date: NaiveDate,
    pub whose: StatementFor,
    pub programs: HashMap<Uuid, ProgramTerms>,
    /// Sites' names and SIRET, as the settlement recorded them.
    pub sites: HashMap<Uuid, (String, Option<String>)>,
    pub format: CsvFormat,
}

/// Writes a statement's CSV line by line, keeping count and total. What repeats on
/// every line (the statement's number and date, a program's name and rates, a site's
/// name and SIRET, a ticket's split among funders) is worked out once.
pub struct SheetWriter<'a> {
    sheet: &'a Sheet,
    /// `number;date;`
    prefix: String,
    /// Per program: its name as a CSV field, its commission rate, its funders' shares.
    programs: HashMap<Uuid, (String, String, Vec<String>)>,
    /// Per site: its name as a CSV field, its SIRET.
    sites: HashMap<Uuid, (String, String)>,
    /// A ticket's parts per funder, by program, value in cents and turn.
    splits: HashMap<(Uuid, i64, usize), Vec<i64>>,
    lines: i32,
    total_cents: i64,
    fee_cents: i64,
    /// A bill's face part per program, for its fee lines.
    face_by_program: HashMap<Uuid, i64>,
}

/// An amount in cents as the CSV writes it: `9.60`, `-0.05` (as `Decimal` prints it,
/// without building one per line).
fn write_cents(out: &mut String, cents: i64) {
    use std::fmt::Write;
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:02}", abs / 100, abs % 100);
}

/// An instant as the CSV writes it: `2026-10-01T09:30:00Z`.
fn write_instant(out: &mut String, at: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
}

impl<'a> SheetWriter<'a> {
    pub fn new(sheet: &'a Sheet, out: &mut String) -> SheetWriter<'a> {
        out.push_str(CSV_HEADER);
        let programs = sheet
            .programs
            .iter()
            .map(|(id, t)| {
                (
                    *id,
                    (
                        sheet.format.cell(&t.name).into_owned(),
                        rate_text(t.commission_rate),
                        t.shares.iter().map(|(_, s)| rate_text(*s)).collect(),
                    ),
                )
            })
            .collect();
        let sites = sheet
            .sites
            .iter()
            .map(|(id, (name, siret))| {
                (
                    *id,
                    (
                        sheet.format.cell(name).into_owned(),
                        sheet
                            .format
                            .cell(siret.as_deref().unwrap_or_default())
                            .into_owned(),
                    ),
                )
            })
            .collect();
        SheetWriter {
            sheet,
            prefix: format!("{};{};", sheet.format.cell(&sheet.number), sheet.date),
            programs,
            sites,
            splits: HashMap::new(),
            lines: 0,
            total_cents: 0,
            fee_cents: 0,
            face_by_program: HashMap::new(),
        }
    }

    /// Appends the redemption's line, if this statement has one for it.
    pub fn push(&mut self, r: &SettledRedemption, out: &mut String) {
        use std::fmt::Write;
        let (Some(terms), Some((program_name, commission_rate, shares))) = (
            self.sheet.programs.get(&r.program_id),
            self.programs.get(&r.program_id),
        ) else {
            return;
        };
        let (rate, cents) = match self.sheet.whose {
            StatementFor::Site(site) if r.site_id == site => {
                (commission_rate.as_str(), r.payable_cents)
            }
            StatementFor::Commission if r.commission_cents != 0 => {
                (commission_rate.as_str(), r.commission_cents)
            }
            StatementFor::Funder(funder) => {
                let Some(index) = terms.funder_index(funder) else {
                    return;
                };
                let value = r.value_cents;
                let turn = turn_of(r.id) % terms.shares.len().max(1);
                let parts = self
                    .splits
                    .entry((r.program_id, value, turn))
                    .or_insert_with(|| terms.parts(value, r.id));
                let cents = parts[index];
                *self.face_by_program.entry(r.program_id).or_insert(0) += cents;
                (shares[index].as_str(), cents)
            }
            _ => return,
        };
        let (site_name, siret) = self
            .sites
            .get(&r.site_id)
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .unwrap_or(("", ""));
        out.push_str(&self.prefix);
        let format = self.sheet.format;
        let _ = write!(
            out,
            "{};{};{program_name};{site_name};{siret};",
            format.serial(&r.serial),
            format.cell(&r.checkbook_number)
        );
        write_instant(out, r.redeemed_at);
        out.push(';');
        write_cents(out, r.value_cents);
        let _ = write!(out, ";{rate};");
        write_cents(out, cents);
        out.push('\n');
        self.total_cents += cents;
        self.lines += 1;
    }

    /// Appends a bill's fee lines (one per program with a fee, by program name) and
    /// says what the statement came to.
    pub fn finish(mut self, out: &mut String) -> (i32, Decimal, Decimal) {
        if let StatementFor::Funder(_) = self.sheet.whose {
            let mut programs: Vec<(&ProgramTerms, i64)> = self
                .face_by_program
                .iter()
                .filter_map(|(p, face)| self.sheet.programs.get(p).map(|t| (t, *face)))
                .collect();
            programs.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            for (terms, face) in programs {
                let fee = fee_cents(face, terms.funder_fee_rate);
                if fee == 0 {
                    continue;
                }
                let format = self.sheet.format;
                out.push_str(&format!(
                    "{};{};;;{};Frais de gestion;;;{};{};{}\n",
                    format.cell(&self.sheet.number),
                    self.sheet.date,
                    format.cell(&terms.name),
                    from_cents(face),
                    rate_text(terms.funder_fee_rate),
                    from_cents(fee)
                ));
                self.total_cents += fee;
                self.fee_cents += fee;
                self.lines += 1;
            }
        }
        (
            self.lines,
            from_cents(self.total_cents),
            from_cents(self.fee_cents),
        )
    }
}

/// A statement's whole content from its redemptions (in arrival order).
pub fn statement_content(sheet: &Sheet, redemptions: &[SettledRedemption]) -> StatementContent {
    let mut csv = String::new();
    let mut writer = SheetWriter::new(sheet, &mut csv);
    for r in redemptions {
        writer.push(r, &mut csv);
    }
    let (lines, total, fees) = writer.finish(&mut csv);
    StatementContent {
        csv,
        lines,
        total,
        fees,
    }
}

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

/// Programs' terms, with the names a settlement recorded (or today's, without one).
pub async fn program_terms(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    settlement: Option<Uuid>,
) -> Result<HashMap<Uuid, ProgramTerms>, DbError> {
    use crate::schema::{program_funders, programs, settlement_names};
    let rows: Vec<(Uuid, String, Decimal, Decimal)> = programs::table
        .filter(programs::id.eq_any(ids))
        .select((
            programs::id,
            programs::name,
            programs::commission_rate,
            programs::funder_fee_rate,
        ))
        .load(conn)
        .await?;
    let recorded: HashMap<Uuid, String> = match settlement {
        Some(s) => settlement_names::table
            .filter(settlement_names::settlement_id.eq(s))
            .filter(settlement_names::named_id.eq_any(ids))
            .select((settlement_names::named_id, settlement_names::name))
            .load(conn)
            .await?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let shares: Vec<(Uuid, Uuid, Decimal)> = program_funders::table
        .filter(program_funders::program_id.eq_any(ids))
        .select((
            program_funders::program_id,
            program_funders::funder_id,
            program_funders::share,
        ))
        .order((program_funders::program_id, program_funders::funder_id))
        .load(conn)
        .await?;
    let mut terms: HashMap<Uuid, ProgramTerms> = rows
        .into_iter()
        .map(|(id, name, commission_rate, funder_fee_rate)| {
            let name = recorded.get(&id).cloned().unwrap_or(name);
            (
                id,
                ProgramTerms {
                    name,
                    commission_rate,
                    funder_fee_rate,
                    shares: Vec::new(),
                },
            )
        })
        .collect();
    for (program, funder, share) in shares {
        if let Some(t) = terms.get_mut(&program) {
            t.shares.push((funder, share));
        }
    }
    Ok(terms)
}

/// Reserves `count` statement numbers of `year`, without gaps (the counter row stays
/// locked until the transaction ends; a rollback gives the numbers back).
pub async fn reserve_numbers(
    conn: &mut AsyncPgConnection,
    year: i32,
    count: i32,
) -> Result<Vec<String>, DbError> {
    if count <= 0 {
        return Ok(Vec::new());
    }
    let last: i32 = diesel::insert_into(statement_counters::table)
        .values((
            statement_counters::year.eq(year),
            statement_counters::last.eq(count),
        ))
        .on_conflict(statement_counters::year)
        .do_update()
        .set(statement_counters::last.eq(statement_counters::last + count))
        .returning(statement_counters::last)
        .get_result(conn)
        .await?;
    Ok((last - count + 1..=last)
        .map(|n| format!("REL-{year}-{n:06}"))
        .collect())
}

/// The next statement number of `year`.
pub async fn next_number(conn: &mut AsyncPgConnection, year: i32) -> Result<String, DbError> {
    let mut numbers = reserve_numbers(conn, year, 1).await?;
    numbers.pop().ok_or(DbError::NotFound)
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Settles a period in the caller's transaction: one pass over the period's
/// redemptions for the totals, the names recorded, the statements numbered, the
/// ledger moved. Returns the settlement and its statements, not yet sealed (see
/// `seal`: their lines are drawn from the redemptions once this commits).
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
    // A batch of its own: room to group a month in memory.
    diesel::sql_query("SET LOCAL work_mem = '64MB'")
        .execute(conn)
        .await?;
    let (site_groups, turn_groups) = groups(conn, starts_at, ends_at).await?;
    let mut program_ids: Vec<Uuid> = site_groups.iter().map(|g| g.program_id).collect();
    program_ids.sort();
    program_ids.dedup();
    let programs = program_terms(conn, &program_ids, None).await?;
    let sums = Sums::of(&site_groups, &turn_groups, &programs).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "a program's redemptions of the period carry different face values"
        ))
    })?;
    let site_ids: Vec<Uuid> = sums.sites.keys().copied().collect();
    diesel::sql_query(
        "INSERT INTO settlement_names (settlement_id, named_id, name, siret)
         SELECT $1, id, name, siret FROM organizations WHERE id = ANY($2)
         UNION ALL SELECT $1, id, name, NULL FROM programs WHERE id = ANY($3)",
    )
    .bind::<SqlUuid, _>(settlement.id)
    .bind::<Array<SqlUuid>, _>(&site_ids)
    .bind::<Array<SqlUuid>, _>(&program_ids)
    .execute(conn)
    .await?;

    // Who gets a statement: each site paid, each funder billed, the operator.
    let mut recipients: Vec<(&'static str, Uuid, i64, i64)> = Vec::new();
    for (site, (lines, cents)) in &sums.sites {
        recipients.push(("site_payout", *site, *lines, *cents));
    }
    let mut funders: Vec<Uuid> = sums.faces.keys().map(|(f, _)| *f).collect();
    funders.dedup();
    for funder in funders {
        let (lines, total, _) = sums.bill(funder, &programs);
        recipients.push(("funder_bill", funder, lines, total));
    }
    if sums.commission.values().any(|c| *c != 0)
        && let Some(operator) = crate::organizations::operator(conn).await?
    {
        let total = sums.commission.values().sum();
        recipients.push(("commission", operator.id, sums.commission_lines, total));
    }
    let count = i32::try_from(recipients.len()).map_err(ApiError::internal)?;
    let numbers = reserve_numbers(conn, chrono::Datelike::year(&today), count).await?;
    let rows: Vec<_> = recipients
        .iter()
        .zip(&numbers)
        .map(|((kind, organization, lines, cents), number)| {
            (
                statements::id.eq(Uuid::now_v7()),
                statements::number.eq(number.clone()),
                statements::kind.eq(*kind),
                statements::organization_id.eq(*organization),
                statements::settlement_id.eq(settlement.id),
                statements::period_start.eq(period_start),
                statements::period_end.eq(period_end),
                statements::lines.eq(i32::try_from(*lines).unwrap_or(i32::MAX)),
                statements::total.eq(from_cents(*cents)),
                statements::created_at.eq(now),
            )
        })
        .collect();
    let mut made: Vec<Statement> = if rows.is_empty() {
        Vec::new()
    } else {
        diesel::insert_into(statements::table)
            .values(rows)
            .returning(Statement::as_returning())
            .get_results(conn)
            .await?
    };
    made.sort_by(|a, b| a.number.cmp(&b.number));

    // The ledger: what was payable is paid; fees are billed.
    for program in &program_ids {
        let mut postings: Vec<(AccountRef, Decimal)> = Vec::new();
        for ((_, site), cents) in sums
            .payable
            .range((*program, Uuid::nil())..=(*program, Uuid::max()))
        {
            postings.push((
                AccountRef::of(AccountKind::SitePayable, *program, *site),
                -from_cents(*cents),
            ));
            postings.push((
                AccountRef::of(AccountKind::SitePaid, *program, *site),
                from_cents(*cents),
            ));
        }
        let commission = from_cents(sums.commission.get(program).copied().unwrap_or(0));
        postings.push((
            AccountRef::program(AccountKind::Commission, *program),
            -commission,
        ));
        postings.push((
            AccountRef::program(AccountKind::CommissionPaid, *program),
            commission,
        ));
        if let Some(terms) = programs.get(program) {
            for (funder, _) in &terms.shares {
                let face = sums.faces.get(&(*funder, *program)).map_or(0, |f| f.1);
                let fee = from_cents(fee_cents(face, terms.funder_fee_rate));
                if !fee.is_zero() {
                    postings.push((
                        AccountRef::of(AccountKind::FeeReceivable, *program, *funder),
                        fee,
                    ));
                    postings.push((AccountRef::program(AccountKind::FeeIncome, *program), -fee));
                }
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
    let ready: Vec<_> = made
        .iter()
        .map(|s| crate::mail::events::ReadyStatement {
            id: s.id,
            organization_id: s.organization_id,
            number: &s.number,
            kind: &s.kind,
            period_start: s.period_start,
            period_end: s.period_end,
            lines: s.lines,
            total: s.total,
        })
        .collect();
    crate::mail::events::statements_ready(conn, &ready).await?;
    Ok((settlement, made))
}

/// What a settlement statement's lines are written from.
pub async fn sheet_of(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
    settlement: &Settlement,
) -> Result<Sheet, DbError> {
    use crate::schema::settlement_names;
    let named: Vec<(Uuid, String, Option<String>)> = settlement_names::table
        .filter(settlement_names::settlement_id.eq(settlement.id))
        .select((
            settlement_names::named_id,
            settlement_names::name,
            settlement_names::siret,
        ))
        .load(conn)
        .await?;
    let ids: Vec<Uuid> = named.iter().map(|(id, _, _)| *id).collect();
    let programs = program_terms(conn, &ids, Some(settlement.id)).await?;
    let sites = named
        .into_iter()
        .filter(|(id, _, _)| !programs.contains_key(id))
        .map(|(id, name, siret)| (id, (name, siret)))
        .collect();
    let whose = match statement.kind.as_str() {
        "site_payout" => StatementFor::Site(statement.organization_id),
        "funder_bill" => StatementFor::Funder(statement.organization_id),
        _ => StatementFor::Commission,
    };
    Ok(Sheet {
        number: statement.number.clone(),
        date: statement
            .created_at
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive(),
        whose,
        programs,
        sites,
        format: CsvFormat::of(statement.csv_format),
    })
}

/// Bytes of a statement's CSV, in chunks of about this size.
const CHUNK: usize = 64 * 1024;

/// Writes a statement's CSV into `out`, chunk by chunk as its lines are read: the
/// content kept by a credit note, or the lines drawn from the settlement's
/// redemptions (in arrival order, one index walk). Stops early, without error, when
/// the receiver is gone.
pub async fn write_csv(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
    out: &tokio::sync::mpsc::Sender<actix_web::web::Bytes>,
) -> Result<(), ApiError> {
    use crate::schema::redemptions;
    use futures_util::StreamExt;
    let Some(settlement_id) = statement.settlement_id else {
        let content: Option<String> = statements::table
            .find(statement.id)
            .select(statements::content)
            .first(conn)
            .await?;
        let _ = out
            .send(actix_web::web::Bytes::from(content.unwrap_or_default()))
            .await;
        return Ok(());
    };
    let settlement = find_settlement(conn, settlement_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let sheet = sheet_of(conn, statement, &settlement).await?;
    let mut query = redemptions::table
        .filter(redemptions::status.ne("reversed"))
        .filter(redemptions::redeemed_at.ge(settlement.starts_at))
        .filter(redemptions::redeemed_at.lt(settlement.ends_at))
        .select((
            redemptions::id,
            redemptions::program_id,
            redemptions::site_id,
            redemptions::serial,
            redemptions::checkbook_number,
            redemptions::redeemed_at,
            diesel::dsl::sql::<BigInt>("(redemptions.value * 100)::bigint"),
            diesel::dsl::sql::<BigInt>("(redemptions.amount_payable * 100)::bigint"),
            diesel::dsl::sql::<BigInt>("(redemptions.commission * 100)::bigint"),
        ))
        .order((redemptions::redeemed_at.asc(), redemptions::id.asc()))
        .into_boxed();
    query = match sheet.whose {
        StatementFor::Site(site) => query.filter(redemptions::site_id.eq(site)),
        StatementFor::Funder(funder) => {
            let funded: Vec<Uuid> = sheet
                .programs
                .iter()
                .filter(|(_, t)| t.funder_index(funder).is_some())
                .map(|(id, _)| *id)
                .collect();
            query.filter(redemptions::program_id.eq_any(funded))
        }
        StatementFor::Commission => query.filter(redemptions::commission.ne(Decimal::ZERO)),
    };
    let mut rows = query.load_stream::<SettledRedemption>(conn).await?;
    let mut buffer = String::with_capacity(CHUNK + 512);
    let mut writer = SheetWriter::new(&sheet, &mut buffer);
    while let Some(row) = rows.next().await {
        writer.push(&row?, &mut buffer);
        if buffer.len() >= CHUNK {
            let chunk = std::mem::replace(&mut buffer, String::with_capacity(CHUNK + 512));
            if out.send(actix_web::web::Bytes::from(chunk)).await.is_err() {
                return Ok(());
            }
        }
    }
    writer.finish(&mut buffer);
    if !buffer.is_empty() {
        let _ = out.send(actix_web::web::Bytes::from(buffer)).await;
    }
    Ok(())
}

/// A statement's whole CSV in memory (for its PDF, and for sealing small ones).
pub async fn csv_of(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
) -> Result<String, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<actix_web::web::Bytes>(16);
    let collect = async move {
        let mut text = Vec::new();
        while let Some(chunk) = rx.recv().await {
            text.extend_from_slice(&chunk);
        }
        text
    };
    let (written, text) = tokio::join!(
        async move {
            let r = write_csv(conn, statement, &tx).await;
            drop(tx);
            r
        },
        collect
    );
    written?;
    String::from_utf8(text).map_err(ApiError::internal)
}

/// Seals a statement: its SHA-256, computed over its lines as drawn now, is set once.
pub async fn seal(conn: &mut AsyncPgConnection, statement: &Statement) -> Result<String, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<actix_web::web::Bytes>(16);
    let hash = async move {
        let mut hasher = Sha256::new();
        while let Some(chunk) = rx.recv().await {
            hasher.update(&chunk);
        }
        hex::encode(hasher.finalize())
    };
    let (written, digest) = tokio::join!(
        async {
            let r = write_csv(conn, statement, &tx).await;
            drop(tx);
            r
        },
        hash
    );
    written?;
    diesel::update(
        statements::table
            .find(statement.id)
            .filter(statements::sha256.is_null()),
    )
    .set(statements::sha256.eq(&digest))
    .execute(conn)
    .await?;
    Ok(digest)
}

/// Seals every statement still without its SHA-256 (after a settlement, and at
/// start-up for one interrupted between its commit and its sealing). Returns them.
pub async fn seal_pending(conn: &mut AsyncPgConnection) -> Result<Vec<Statement>, ApiError> {
    let pending: Vec<Statement> = statements::table
        .filter(statements::sha256.is_null())
        .select(Statement::as_select())
        .order(statements::number.asc())
        .load(conn)
        .await?;
    let mut sealed = Vec::with_capacity(pending.len());
    for mut s in pending {
        s.sha256 = Some(seal(conn, &s).await?);
        sealed.push(s);
    }
    Ok(sealed)
}

/// At start-up: seals what a settlement cut short left unsealed, and says so.
pub async fn seal_left_over(pool: crate::db::DbPool) {
    let sealed = match pool.get().await {
        Ok(mut conn) => seal_pending(&mut conn).await,
        Err(err) => Err(ApiError::from(err)),
    };
    match sealed {
        Ok(sealed) if sealed.is_empty() => {}
        Ok(sealed) => tracing::info!(statements = sealed.len(), "unsealed statements sealed"),
        Err(err) => tracing::error!(error = %err, "statements could not be sealed"),
    }
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
        // Text as it was before `csv_cells::cell` guarded it against formulas.
        let field = |i: usize| crate::csv_cells::plain(r.get(i).unwrap_or_default()).to_string();
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

    /// A statement sealed before formulas were guarded is drawn as it was sealed; a
    /// new one guards its text cells, and its amounts stay numbers.
    #[test]
    fn statements_are_drawn_in_the_csv_format_they_were_sealed_in() {
        let (program, site, funder) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let terms = ProgramTerms {
            name: "-Programme".into(),
            commission_rate: d("0.04"),
            funder_fee_rate: d("0"),
            shares: vec![(funder, d("1"))],
        };
        let redemption = SettledRedemption {
            id: Uuid::now_v7(),
            program_id: program,
            site_id: site,
            serial: "7K3M9QX2ZAT".into(),
            checkbook_number: "CH-2026-000001".into(),
            redeemed_at: Utc::now(),
            value_cents: 1000,
            payable_cents: 960,
            commission_cents: 40,
        };
        let sheet = |format| Sheet {
            number: "REL-2026-000001".into(),
            date: Utc::now().date_naive(),
            whose: StatementFor::Site(site),
            programs: HashMap::from([(program, terms.clone())]),
            sites: HashMap::from([(site, ("=HYPERLINK(\"http://x\")".to_string(), None))]),
            format,
        };
        let old = statement_content(&sheet(CsvFormat::Quoted), std::slice::from_ref(&redemption));
        let line = old.csv.lines().nth(1).unwrap();
        assert!(
            line.contains(";-Programme;\"=HYPERLINK(\"\"http://x\"\")\";"),
            "{line}"
        );
        let new = statement_content(&sheet(CsvFormat::FormulaSafe), &[redemption]);
        let line = new.csv.lines().nth(1).unwrap();
        assert!(
            line.contains(";'-Programme;\"'=HYPERLINK(\"\"http://x\"\")\";"),
            "{line}"
        );
        assert!(line.ends_with(";10.00;0.0400;9.60"), "{line}");
        assert_eq!((old.total, new.total), (d("9.60"), d("9.60")));
        let parsed = parse_content(&new.csv).unwrap();
        assert_eq!(parsed[0].site, "=HYPERLINK(\"http://x\")");
        assert_eq!(parsed[0].program, "-Programme");
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
