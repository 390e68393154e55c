//! The statement CSV: its format, the writer that draws a statement's lines from its
//! settlement's redemptions, and the reader the PDF uses. Its bytes are sealed
//! (SHA-256): what this writes must never change for a statement already issued.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::rounding::{ProgramTerms, fee_cents, from_cents, turn_of};
use super::{Statement, find_settlement, sheet_of};
use crate::csv_cells::Dialect;
use crate::db::DbError;
use crate::schema::statements;
use crate::statuses::RedemptionStatus;

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

/// What a statement says, line by line, as CSV (in its format's dialect).
pub struct StatementContent {
    pub csv: String,
    pub lines: i32,
    pub total: Decimal,
    /// Of the total, the funder fees (bills only).
    pub fees: Decimal,
}

/// The header of statements sealed before the Excel form (format 1 and 2).
pub const CSV_HEADER: &str = "numero_releve;date;serie_cheque;numero_chequier;dispositif;lieu;siret_lieu;encaisse_le;valeur_faciale;taux;montant\n";

/// The columns of every statement CSV, in order.
pub const COLUMNS: [&str; 11] = [
    "numero_releve",
    "date",
    "serie_cheque",
    "numero_chequier",
    "dispositif",
    "lieu",
    "siret_lieu",
    "encaisse_le",
    "valeur_faciale",
    "taux",
    "montant",
];

/// The label of a bill's fee line: on a funder's statement, the only amount due.
pub const FEE_LABEL: &str = "Frais de gestion (à payer)";
/// The same label on statements sealed before (format 1 and 2).
const OLD_FEE_LABEL: &str = "Frais de gestion";

/// How a statement's CSV is written. A statement is drawn again, every time it is
/// downloaded, in the format it was sealed in, so its SHA-256 holds; its PDF is
/// worded as it was then too (`StatementDocument::wording`).
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
    /// Since migration `000020`: sealed in the Excel form ([`Dialect::Excel`]: BOM,
    /// `;`, decimal comma, CRLF), times in Paris time with their offset, the
    /// serial's last four characters as printed (`…2-ZAT` of `7K3M-9QX2-ZAT`), and
    /// a bill's fee line labelled as the amount to pay.
    Excel,
}

impl CsvFormat {
    /// The format a statement records (`statements.csv_format`).
    pub fn of(recorded: i16) -> CsvFormat {
        match recorded {
            ..=1 => CsvFormat::Quoted,
            2 => CsvFormat::FormulaSafe,
            _ => CsvFormat::Excel,
        }
    }

    /// The dialect a statement of this format was sealed in (its default download).
    pub fn sealed_dialect(self) -> Dialect {
        match self {
            CsvFormat::Quoted | CsvFormat::FormulaSafe => Dialect::Legacy,
            CsvFormat::Excel => Dialect::Excel,
        }
    }

    /// Whether its PDF uses the words of statements that say what they are.
    pub fn explained(self) -> bool {
        self == CsvFormat::Excel
    }

    fn cell(self, dialect: Dialect, text: &str) -> std::borrow::Cow<'_, str> {
        dialect.cell(text, self != CsvFormat::Quoted)
    }

    /// Writes how a ticket's serial is named in a statement line.
    fn write_serial(self, dialect: Dialect, out: &mut String, serial: &str) {
        match self {
            CsvFormat::Quoted => out.push_str(&dialect.cell(serial, false)),
            CsvFormat::FormulaSafe => {
                out.push_str(&dialect.cell(crate::codes::serial_hint_of(serial), true));
            }
            CsvFormat::Excel => push_printed_hint(out, serial),
        }
    }

    fn fee_label(self) -> &'static str {
        match self {
            CsvFormat::Excel => FEE_LABEL,
            _ => OLD_FEE_LABEL,
        }
    }
}

/// The serial's last four characters as they are printed on the coupon, dashes
/// kept (`…2-ZAT` of `7K3M-9QX2-ZAT`), with no allocation.
fn push_printed_hint(out: &mut String, serial: &str) {
    let hint = crate::codes::serial_hint_of(serial);
    let start = serial.len() - hint.len();
    out.push('…');
    for (i, c) in hint.char_indices() {
        let at = start + i;
        if i > 0 && at.is_multiple_of(4) {
            out.push('-');
        }
        out.push(c);
    }
}

fn rate_of(rate: Decimal) -> Decimal {
    let mut r = rate;
    r.rescale(4);
    r
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
    /// The punctuation of this drawing: the format's sealed dialect, or the plain
    /// form a script asked for.
    pub dialect: Dialect,
}

/// Writes a statement's CSV line by line, keeping count and total. What repeats on
/// every line (the statement's number and date, a program's name and rates, a site's
/// name and SIRET, a ticket's split among funders) is worked out once.
pub struct SheetWriter<'a> {
    sheet: &'a Sheet,
    /// `number;date`
    prefix: String,
    /// Per program: its name as a CSV cell, its commission rate, its funders' shares.
    programs: HashMap<Uuid, (String, Decimal, Vec<Decimal>)>,
    /// Per site: its name as a CSV cell, its SIRET.
    sites: HashMap<Uuid, (String, String)>,
    /// A ticket's parts per funder, by program, value in cents and turn.
    splits: HashMap<(Uuid, i64, usize), Vec<i64>>,
    lines: i32,
    total_cents: i64,
    fee_cents: i64,
    /// A bill's face part per program, for its fee lines.
    face_by_program: HashMap<Uuid, i64>,
}

impl<'a> SheetWriter<'a> {
    pub fn new(sheet: &'a Sheet, out: &mut String) -> SheetWriter<'a> {
        let (format, dialect) = (sheet.format, sheet.dialect);
        dialect.start(out);
        let mut header = dialect.line(out);
        for column in COLUMNS {
            header = header.made(column);
        }
        header.end();
        let programs = sheet
            .programs
            .iter()
            .map(|(id, t)| {
                (
                    *id,
                    (
                        format.cell(dialect, &t.name).into_owned(),
                        rate_of(t.commission_rate),
                        t.shares.iter().map(|(_, s)| rate_of(*s)).collect(),
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
                        format.cell(dialect, name).into_owned(),
                        format
                            .cell(dialect, siret.as_deref().unwrap_or_default())
                            .into_owned(),
                    ),
                )
            })
            .collect();
        let d = dialect.delimiter();
        SheetWriter {
            sheet,
            prefix: format!("{}{d}{}", format.cell(dialect, &sheet.number), sheet.date),
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
        let (Some(terms), Some((program_name, commission_rate, shares))) = (
            self.sheet.programs.get(&r.program_id),
            self.programs.get(&r.program_id),
        ) else {
            return;
        };
        let (rate, cents) = match self.sheet.whose {
            StatementFor::Site(site) if r.site_id == site => (*commission_rate, r.payable_cents),
            StatementFor::Commission if r.commission_cents != 0 => {
                (*commission_rate, r.commission_cents)
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
                (shares[index], cents)
            }
            _ => return,
        };
        let (site_name, siret) = self
            .sites
            .get(&r.site_id)
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .unwrap_or(("", ""));
        let (format, dialect) = (self.sheet.format, self.sheet.dialect);
        let d = dialect.delimiter();
        out.push_str(&self.prefix);
        out.push(d);
        format.write_serial(dialect, out, &r.serial);
        out.push(d);
        let line = dialect
            .line(out)
            .made(&format.cell(dialect, &r.checkbook_number))
            .made(program_name)
            .made(site_name)
            .made(siret);
        let line = if format == CsvFormat::Excel {
            line.time(r.redeemed_at)
        } else {
            line.utc_time(r.redeemed_at)
        };
        line.cents(r.value_cents).decimal(rate).cents(cents).end();
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
            let (format, dialect) = (self.sheet.format, self.sheet.dialect);
            for (terms, face) in programs {
                let fee = fee_cents(face, terms.funder_fee_rate);
                if fee == 0 {
                    continue;
                }
                dialect
                    .line(out)
                    .made(&self.prefix)
                    .made("")
                    .made("")
                    .made(&format.cell(dialect, &terms.name))
                    .made(&format.cell(dialect, format.fee_label()))
                    .made("")
                    .made("")
                    .cents(face)
                    .decimal(rate_of(terms.funder_fee_rate))
                    .cents(fee)
                    .end();
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

/// A credit note's CSV, in the Excel form: one line, the unused value returned.
pub fn credit_note_csv(number: &str, date: NaiveDate, program: &str, amount: Decimal) -> String {
    let dialect = Dialect::Excel;
    let mut out = String::new();
    dialect.start(&mut out);
    let mut header = dialect.line(&mut out);
    for column in COLUMNS {
        header = header.made(column);
    }
    header.end();
    dialect
        .line(&mut out)
        .text(number)
        .made(&date.to_string())
        .made("")
        .made("")
        .text(program)
        .text("Avoir : solde non utilisé du dispositif")
        .made("")
        .made("")
        .decimal(amount)
        .decimal(rate_of(Decimal::ONE))
        .decimal(amount)
        .end();
    out
}

/// The lines of a statement's CSV as issued, for its PDF, whatever its dialect. A
/// line whose serial is empty is a fee or a credit note: its label is in the site
/// column.
pub fn parse_content(csv_text: &str) -> anyhow::Result<Vec<crate::documents::StatementLine>> {
    let dialect = Dialect::sniff(csv_text);
    let body = csv_text
        .strip_prefix(crate::csv_cells::BOM)
        .unwrap_or(csv_text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter() as u8)
        .has_headers(true)
        .from_reader(body.as_bytes());
    let mut lines = Vec::new();
    for record in reader.records() {
        let r = record?;
        // Text as it was before `csv_cells::cell` guarded it against formulas.
        let field = |i: usize| crate::csv_cells::plain(r.get(i).unwrap_or_default()).to_string();
        let number = |i: usize| {
            dialect
                .read_decimal(r.get(i).unwrap_or_default())
                .ok_or_else(|| anyhow::anyhow!("column {i} of a statement line is not a number"))
        };
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
            face_value: number(8)?,
            rate: number(9)?,
            amount: number(10)?,
            label,
        });
    }
    Ok(lines)
}

/// Bytes of a statement's CSV, in chunks of about this size.
const CHUNK: usize = 64 * 1024;

/// Writes a statement's CSV into `out`, chunk by chunk as its lines are read: the
/// content kept by a credit note, or the lines drawn from the settlement's
/// redemptions (in arrival order, one index walk). In the dialect it was sealed in,
/// unless `dialect` asks another (a script's plain form: not the sealed bytes).
/// Stops early, without error, when the receiver is gone.
pub async fn write_csv(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
    dialect: Option<Dialect>,
    out: &tokio::sync::mpsc::Sender<actix_web::web::Bytes>,
) -> Result<(), DbError> {
    use crate::schema::redemptions;
    use futures_util::StreamExt;
    let Some(settlement_id) = statement.settlement_id else {
        let content: Option<String> = statements::table
            .find(statement.id)
            .select(statements::content)
            .first(conn)
            .await?;
        let content = content.unwrap_or_default();
        let content = match dialect {
            Some(to) if to != Dialect::sniff(&content) => crate::csv_cells::transcode(&content, to),
            _ => content,
        };
        let _ = out.send(actix_web::web::Bytes::from(content)).await;
        return Ok(());
    };
    let settlement = find_settlement(conn, settlement_id)
        .await?
        .ok_or(DbError::NotFound)?;
    let mut sheet = sheet_of(conn, statement, &settlement).await?;
    if let Some(dialect) = dialect {
        sheet.dialect = dialect;
    }
    let mut query = redemptions::table
        .filter(redemptions::status.ne(RedemptionStatus::Reversed))
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

/// A statement's whole CSV in memory, as sealed (for its PDF).
pub async fn csv_of(
    conn: &mut AsyncPgConnection,
    statement: &Statement,
) -> Result<String, DbError> {
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
            let r = write_csv(conn, statement, None, &tx).await;
            drop(tx);
            r
        },
        collect
    );
    written?;
    // Every chunk is a whole `String` the writer made: the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// A 10.00 ticket `7K3M-9QX2-ZAT` redeemed at `site` with a 4 % commission.
    fn ticket_of(program: Uuid, site: Uuid, redeemed_at: DateTime<Utc>) -> SettledRedemption {
        SettledRedemption {
            id: Uuid::now_v7(),
            program_id: program,
            site_id: site,
            serial: "7K3M9QX2ZAT".into(),
            checkbook_number: "CH-2026-000001".into(),
            redeemed_at,
            value_cents: 1000,
            payable_cents: 960,
            commission_cents: 40,
        }
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
        let redemption = ticket_of(program, site, Utc::now());
        let sheet = |format| Sheet {
            number: "REL-2026-000001".into(),
            date: Utc::now().date_naive(),
            whose: StatementFor::Site(site),
            programs: HashMap::from([(program, terms.clone())]),
            sites: HashMap::from([(site, ("=HYPERLINK(\"http://x\")".to_string(), None))]),
            format,
            dialect: format.sealed_dialect(),
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

    /// Since format 3: the Excel form, Paris time with its offset, the serial's end
    /// as printed; a script may ask the plain form of the same lines; the PDF reads
    /// both back to the same lines.
    #[test]
    fn new_statements_are_in_the_excel_form_and_read_back() {
        let (program, funder, site) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let terms = ProgramTerms {
            name: "Pass; Haute-Saône".into(),
            commission_rate: d("0.04"),
            funder_fee_rate: d("0.04"),
            shares: vec![(funder, d("1"))],
        };
        let redemption = ticket_of(program, site, "2026-11-03T13:05:00Z".parse().unwrap());
        let sheet = |dialect| Sheet {
            number: "REL-2026-000001".into(),
            date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            whose: StatementFor::Funder(funder),
            programs: HashMap::from([(program, terms.clone())]),
            sites: HashMap::from([(site, ("Médiathèque".to_string(), None))]),
            format: CsvFormat::Excel,
            dialect,
        };
        let excel = statement_content(&sheet(Dialect::Excel), std::slice::from_ref(&redemption));
        assert_eq!(
            excel.csv,
            "\u{feff}numero_releve;date;serie_cheque;numero_chequier;dispositif;lieu;siret_lieu;encaisse_le;valeur_faciale;taux;montant\r\n\
             REL-2026-000001;2026-12-01;…2-ZAT;CH-2026-000001;\"Pass; Haute-Saône\";Médiathèque;;2026-11-03T14:05:00+01:00;10,00;1,0000;10,00\r\n\
             REL-2026-000001;2026-12-01;;;\"Pass; Haute-Saône\";Frais de gestion (à payer);;;10,00;0,0400;0,40\r\n"
        );
        assert_eq!(
            (excel.lines, excel.total, excel.fees),
            (2, d("10.40"), d("0.40"))
        );
        let plain = statement_content(&sheet(Dialect::Rfc4180), &[redemption]);
        assert_eq!(
            plain.csv.lines().nth(1).unwrap(),
            "REL-2026-000001,2026-12-01,…2-ZAT,CH-2026-000001,Pass; Haute-Saône,Médiathèque,,2026-11-03T14:05:00+01:00,10.00,1.0000,10.00"
        );
        let (a, b) = (
            parse_content(&excel.csv).unwrap(),
            parse_content(&plain.csv).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(a[0].serial, "…2-ZAT");
        assert_eq!(a[1].label.as_deref(), Some(FEE_LABEL));
        assert_eq!(a[1].amount, d("0.40"));
        let credit = credit_note_csv(
            "REL-2026-000009",
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            "=P",
            d("12.50"),
        );
        assert!(
            credit
                .ends_with(";'=P;Avoir : solde non utilisé du dispositif;;;12,50;1,0000;12,50\r\n"),
            "{credit}"
        );
        assert_eq!(parse_content(&credit).unwrap()[0].amount, d("12.50"));
    }
}
