//! CSV cells that a spreadsheet never runs, and the one writer of every CSV the
//! service writes (statements, credit notes, statistics exports).
//!
//! Why: funders and sites open statements in Excel or LibreOffice, and a cell that
//! begins with `=`, `+`, `-` or `@` is taken there as a formula (so is one that
//! begins with a tab or a carriage return, which some importers strip first). An
//! organisation named `=HYPERLINK("http://x","y")` would otherwise put a live link,
//! or worse, in a finance officer's spreadsheet. Such a cell is written with a
//! leading `'`, which spreadsheets read as "this is text". A number — an amount, a
//! negative one included — stays a number, so sums still work.
//!
//! Then the cell is quoted when it holds the delimiter, a `"` or a line break
//! (RFC 4180 style, `"` doubled). [`plain`] undoes the guard for a reader of the
//! service's own CSV (the statement PDF).
//!
//! **Dialects** ([`Dialect`]): what French Excel opens as it is by a double click —
//! UTF-8 with a byte-order mark, `;` between cells, a decimal comma (`9,60`), CRLF
//! line ends ([`Dialect::Excel`], the default of every download) — and the plain
//! form for scripts ([`Dialect::Rfc4180`], `?format=rfc4180`): UTF-8 without a
//! byte-order mark, `,` between cells, a decimal point (`9.60`), CRLF line ends as
//! RFC 4180 says. [`Dialect::Legacy`] (`;`, decimal point, LF, no mark) is only for
//! drawing again the statements sealed in it. Every dialect guards formulas and
//! writes times in Paris time with their offset (`2026-11-03T14:05:00+01:00`).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// The delimiter of the French forms (French spreadsheets' default).
pub const DELIMITER: char = ';';

/// The byte-order mark that tells Excel the file is UTF-8.
pub const BOM: &str = "\u{feff}";

/// How a CSV file is punctuated (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// French Excel: BOM, `;`, decimal comma, CRLF.
    Excel,
    /// Scripts: no BOM, `,`, decimal point, CRLF.
    Rfc4180,
    /// Statements sealed before the Excel form: no BOM, `;`, decimal point, LF.
    Legacy,
}

impl Dialect {
    /// The dialect a download asks for with `?format=`: none (or `excel`) is the
    /// Excel form, `rfc4180` the plain one; anything else is refused.
    pub fn requested(format: Option<&str>) -> Option<Dialect> {
        match format.map(str::trim) {
            None | Some("" | "excel") => Some(Dialect::Excel),
            Some("rfc4180") => Some(Dialect::Rfc4180),
            Some(_) => None,
        }
    }

    pub fn delimiter(self) -> char {
        match self {
            Dialect::Excel | Dialect::Legacy => ';',
            Dialect::Rfc4180 => ',',
        }
    }

    pub fn line_end(self) -> &'static str {
        match self {
            Dialect::Excel | Dialect::Rfc4180 => "\r\n",
            Dialect::Legacy => "\n",
        }
    }

    fn decimal_mark(self) -> char {
        match self {
            Dialect::Excel => ',',
            Dialect::Rfc4180 | Dialect::Legacy => '.',
        }
    }

    /// What a file begins with: the BOM for Excel, nothing otherwise.
    pub fn start(self, out: &mut String) {
        if self == Dialect::Excel {
            out.push_str(BOM);
        }
    }

    /// The dialect of a file this service wrote, from its first bytes and header.
    pub fn sniff(text: &str) -> Dialect {
        if text.starts_with(BOM) {
            Dialect::Excel
        } else if text
            .lines()
            .next()
            .is_some_and(|h| !h.contains(';') && h.contains(','))
        {
            Dialect::Rfc4180
        } else {
            Dialect::Legacy
        }
    }

    /// A text cell of this dialect: guarded against formulas (when `guard`), quoted
    /// when it holds the delimiter, a `"` or a line break.
    pub fn cell(self, text: &str, guard: bool) -> Cow<'_, str> {
        cell_with(text, self.delimiter(), guard)
    }

    /// Starts a line of cells in `out`.
    pub fn line(self, out: &mut String) -> Line<'_> {
        Line {
            out,
            dialect: self,
            first: true,
        }
    }

    /// A decimal number as this dialect writes it: `9,60` or `9.60`.
    pub fn decimal(self, value: Decimal) -> String {
        let text = value.to_string();
        match self.decimal_mark() {
            '.' => text,
            mark => text.replace('.', &mark.to_string()),
        }
    }

    /// An amount in cents: `9,60`, `-0,05` (no allocation).
    pub fn write_cents(self, out: &mut String, cents: i64) {
        use std::fmt::Write;
        let sign = if cents < 0 { "-" } else { "" };
        let abs = cents.unsigned_abs();
        let _ = write!(
            out,
            "{sign}{}{}{:02}",
            abs / 100,
            self.decimal_mark(),
            abs % 100
        );
    }

    /// The number a cell of this dialect stands for (`9,60` → 9.60), if it is one.
    pub fn read_decimal(self, cell: &str) -> Option<Decimal> {
        let cell = cell.trim();
        let text: Cow<'_, str> = match self.decimal_mark() {
            '.' => Cow::Borrowed(cell),
            mark => Cow::Owned(cell.replace(mark, ".")),
        };
        if is_number(&text) {
            text.parse().ok()
        } else {
            None
        }
    }
}

/// An instant in Paris time with its offset: `2026-11-03T14:05:00+01:00`.
pub fn write_paris_time(out: &mut String, at: DateTime<Utc>) {
    use chrono::{Datelike, Offset, Timelike};
    use std::fmt::Write;
    let local = at.with_timezone(&chrono_tz::Europe::Paris);
    let offset = local.offset().fix().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        minutes / 60,
        minutes % 60
    );
}

/// One line of a CSV file being written: cells in order, then [`Line::end`].
pub struct Line<'a> {
    out: &'a mut String,
    dialect: Dialect,
    first: bool,
}

impl Line<'_> {
    fn next(&mut self) -> &mut String {
        if !self.first {
            self.out.push(self.dialect.delimiter());
        }
        self.first = false;
        self.out
    }

    /// A text cell, guarded against formulas and quoted when needed.
    pub fn text(mut self, text: &str) -> Self {
        let dialect = self.dialect;
        self.next().push_str(&dialect.cell(text, true));
        self
    }

    /// A cell already made for this dialect (a name worked out once, say).
    pub fn made(mut self, cell: &str) -> Self {
        self.next().push_str(cell);
        self
    }

    /// An amount in cents.
    pub fn cents(mut self, cents: i64) -> Self {
        let dialect = self.dialect;
        dialect.write_cents(self.next(), cents);
        self
    }

    /// A decimal number (an amount, a rate).
    pub fn decimal(mut self, value: Decimal) -> Self {
        let dialect = self.dialect;
        let text = dialect.decimal(value);
        self.next().push_str(&text);
        self
    }

    /// A whole number.
    pub fn count(mut self, value: i64) -> Self {
        use std::fmt::Write;
        let _ = write!(self.next(), "{value}");
        self
    }

    /// An instant in Paris time with its offset.
    pub fn time(mut self, at: DateTime<Utc>) -> Self {
        write_paris_time(self.next(), at);
        self
    }

    /// An instant in UTC (`2026-10-01T09:30:00Z`): only for statements sealed so.
    pub fn utc_time(mut self, at: DateTime<Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        use std::fmt::Write;
        let _ = write!(
            self.next(),
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        self
    }

    /// Ends the line.
    pub fn end(self) {
        self.out.push_str(self.dialect.line_end());
    }
}

/// A whole file: the header, then each row's cells, in `dialect`. `Cell::Text` is
/// guarded and quoted, `Cell::Number` written with the dialect's decimal mark.
pub fn file(dialect: Dialect, header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::new();
    dialect.start(&mut out);
    let mut line = dialect.line(&mut out);
    for title in header {
        line = line.text(title);
    }
    line.end();
    for row in rows {
        let mut line = dialect.line(&mut out);
        for cell in row {
            line = match cell {
                Cell::Text(text) => line.text(text),
                Cell::Number(value) => line.decimal(*value),
                Cell::Count(value) => line.count(*value),
                Cell::Empty => line.made(""),
            };
        }
        line.end();
    }
    out
}

/// One cell of [`file`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(Decimal),
    Count(i64),
    Empty,
}

/// A file this service wrote (any dialect) written again in `to`: text cells
/// re-quoted (their guard kept), numbers given `to`'s decimal mark, the BOM and
/// line ends of `to`. For contents kept as they were issued (credit notes).
pub fn transcode(text: &str, to: Dialect) -> String {
    let from = Dialect::sniff(text);
    let body = text.strip_prefix(BOM).unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(from.delimiter() as u8)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut out = String::with_capacity(text.len() + 8);
    to.start(&mut out);
    for record in reader.records().flatten() {
        let mut line = to.line(&mut out);
        for cell in record.iter() {
            line = match from.read_decimal(cell) {
                Some(value) if !cell.is_empty() => line.decimal(value),
                _ => {
                    let cell = to.cell(cell, false).into_owned();
                    line.made(&cell)
                }
            };
        }
        line.end();
    }
    out
}

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `text` is a plain decimal number (`10.00`, `-0.05`, `12`): written as it
/// is, so that a negative amount stays a number.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// `text` as a `;` CSV cell: a leading `'` when it would start a formula (a number
/// excepted), then quoted when it holds `;`, `"` or a line break. Borrowed when
/// nothing changes, which is the usual case.
pub fn cell(text: &str) -> Cow<'_, str> {
    cell_with(text, DELIMITER, true)
}

/// `text` as a cell between `delimiter`s, guarded against formulas when `guard`.
fn cell_with(text: &str, delimiter: char, guard: bool) -> Cow<'_, str> {
    let guarded = guard && text.starts_with(FORMULA_STARTS) && !is_number(text);
    let quoted = text.contains([delimiter, '"', '\n', '\r']);
    match (guarded, quoted) {
        (false, false) => Cow::Borrowed(text),
        (true, false) => Cow::Owned(format!("'{text}")),
        (guard, true) => {
            let mut out = String::with_capacity(text.len() + 4);
            out.push('"');
            if guard {
                out.push('\'');
            }
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
            Cow::Owned(out)
        }
    }
}

/// How statements sealed before formulas were guarded (CSV format 1) wrote a text
/// cell: quoted when needed, nothing more. Only to draw those statements again
/// exactly as they were sealed (their SHA-256 must still hold); never for new ones.
pub fn legacy_cell(text: &str) -> Cow<'_, str> {
    cell_with(text, DELIMITER, false)
}

/// The text a cell written by [`cell`] stands for, once the CSV reader has undone
/// the quoting: the guard `'` before a formula character is dropped.
pub fn plain(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) && !is_number(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_starts_get_a_leading_quote() {
        let cases = [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("=1+2", "'=1+2"),
            ("+33 1 23 45 67 89", "'+33 1 23 45 67 89"),
            ("-Espace numérique", "'-Espace numérique"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "\"'\rcmd\""),
            ("-", "'-"),
            ("-1+2", "'-1+2"),
            ("-2e5", "'-2e5"),
            ("Médiathèque de Vesoul", "Médiathèque de Vesoul"),
            ("a;b", "\"a;b\""),
            ("dit \"non\"", "\"dit \"\"non\"\"\""),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(cell(text), expected, "cell of {text:?}");
        }
    }

    #[test]
    fn numbers_stay_numbers() {
        for number in ["10.00", "-0.05", "-12", "0", "-1234567.89"] {
            assert_eq!(cell(number), number, "{number} must stay a number");
        }
        for not_number in ["-", "-.5", "-5.", "--5", "-5.0.1", "-1,5"] {
            assert!(!is_number(not_number), "{not_number} is not a number");
        }
    }

    /// A CSV reader's view of a cell: quotes undone.
    fn read_back(cell: &str) -> String {
        let line = format!("{cell}\n");
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .from_reader(line.as_bytes());
        reader
            .records()
            .next()
            .and_then(Result::ok)
            .and_then(|r| r.get(0).map(str::to_string))
            .unwrap_or_default()
    }

    #[test]
    fn the_dialects_punctuate_as_documented() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-03T13:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let summer = chrono::DateTime::parse_from_rfc3339("2026-07-03T13:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let write = |dialect: Dialect| {
            let mut out = String::new();
            dialect.start(&mut out);
            dialect
                .line(&mut out)
                .text("a;b,c")
                .cents(-960)
                .decimal("0.0400".parse().unwrap())
                .time(at)
                .count(3)
                .end();
            dialect.line(&mut out).text("=1").time(summer).end();
            out
        };
        assert_eq!(
            write(Dialect::Excel),
            "\u{feff}\"a;b,c\";-9,60;0,0400;2026-11-03T14:05:00+01:00;3\r\n'=1;2026-07-03T15:05:00+02:00\r\n"
        );
        assert_eq!(
            write(Dialect::Rfc4180),
            "\"a;b,c\",-9.60,0.0400,2026-11-03T14:05:00+01:00,3\r\n'=1,2026-07-03T15:05:00+02:00\r\n"
        );
        assert_eq!(
            write(Dialect::Legacy),
            "\"a;b,c\";-9.60;0.0400;2026-11-03T14:05:00+01:00;3\n'=1;2026-07-03T15:05:00+02:00\n"
        );
        assert_eq!(Dialect::requested(None), Some(Dialect::Excel));
        assert_eq!(Dialect::requested(Some("rfc4180")), Some(Dialect::Rfc4180));
        assert_eq!(Dialect::requested(Some("xlsx")), None);
        assert_eq!(
            Dialect::Excel.read_decimal("-9,60"),
            Some("-9.60".parse().unwrap())
        );
        assert_eq!(Dialect::Excel.read_decimal("'-x"), None);
    }

    #[test]
    fn a_file_goes_from_one_dialect_to_another() {
        let legacy = "numero;lieu;montant\nREL-1;\"'=x;y\";-9.60\n";
        let excel = transcode(legacy, Dialect::Excel);
        assert_eq!(
            excel,
            "\u{feff}numero;lieu;montant\r\nREL-1;\"'=x;y\";-9,60\r\n"
        );
        assert_eq!(Dialect::sniff(&excel), Dialect::Excel);
        let plain = transcode(&excel, Dialect::Rfc4180);
        assert_eq!(plain, "numero,lieu,montant\r\nREL-1,'=x;y,-9.60\r\n");
        assert_eq!(Dialect::sniff(&plain), Dialect::Rfc4180);
        assert_eq!(transcode(&plain, Dialect::Legacy), legacy);
        let made = file(
            Dialect::Excel,
            &["mois", "montant"],
            &[vec![
                Cell::Text("2026-11".into()),
                Cell::Number("12.50".parse().unwrap()),
            ]],
        );
        assert_eq!(made, "\u{feff}mois;montant\r\n2026-11;12,50\r\n");
    }

    proptest! {
        #[test]
        fn no_cell_ever_starts_a_formula(text in "[=+\\-@\t\r a-zA-Z0-9;\"'.\n]{0,12}") {
            let written = cell(&text);
            let read = read_back(&written);
            if !is_number(&text) {
                prop_assert!(!read.starts_with(FORMULA_STARTS), "{text:?} read back as {read:?}");
            }
            // One cell: the delimiter never splits it.
            let line = format!("{written};x\n");
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(b';')
                .has_headers(false)
                .from_reader(line.as_bytes());
            let record = reader.records().next().and_then(Result::ok);
            prop_assert_eq!(record.map(|r| r.len()), Some(2));
        }

        #[test]
        fn plain_gives_back_the_text(text in "[=+\\-@\t a-zA-Z0-9;\"'.]{0,12}") {
            // Carriage returns aside (CSV readers may normalise line ends), what is
            // read back and made plain is the text written, unless the text itself
            // began with a guard quote before a formula character.
            prop_assume!(!(text.starts_with('\'') && text[1..].starts_with(FORMULA_STARTS)));
            let read = read_back(&cell(&text));
            prop_assert_eq!(plain(&read), text.as_str());
        }

        #[test]
        fn amounts_are_left_alone(cents in -10_000_000i64..10_000_000) {
            let sign = if cents < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{:02}", cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
            prop_assert_eq!(cell(&text), text.as_str());
        }
    }
}
