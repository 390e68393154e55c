//! The statement CSV: its format, the writer that draws a statement's lines from its
//! settlement's redemptions, and the reader the PDF uses. Its bytes are sealed
//! (SHA-256): what this writes must never change for a statement already issued.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rounding::{ProgramTerms, fee_cents, from_cents, turn_of};

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
            CsvFormat::FormulaSafe => crate::csv_cells::cell(crate::codes::serial_hint_of(serial)),
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
}
