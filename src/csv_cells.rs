//! CSV cells that a spreadsheet never runs: the one place where every CSV the
//! service writes (statements, credit notes, any export) turns a text into a cell.
//!
//! Why: funders and sites open statements in Excel or LibreOffice, and a cell that
//! begins with `=`, `+`, `-` or `@` is taken there as a formula (so is one that
//! begins with a tab or a carriage return, which some importers strip first). An
//! organisation named `=HYPERLINK("http://x","y")` would otherwise put a live link,
//! or worse, in a finance officer's spreadsheet. Such a cell is written with a
//! leading `'`, which spreadsheets read as "this is text". A number — an amount, a
//! negative one included — stays a number, so sums still work.
//!
//! Then the cell is quoted when it holds the delimiter `;`, a `"` or a line break
//! (RFC 4180 style, `"` doubled). [`plain`] undoes the guard for a reader of the
//! service's own CSV (the statement PDF).

use std::borrow::Cow;

/// The delimiter of every CSV the service writes (French spreadsheets' default).
pub const DELIMITER: char = ';';

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

/// `text` as a CSV cell: a leading `'` when it would start a formula (a number
/// excepted), then quoted when it holds `;`, `"` or a line break. Borrowed when
/// nothing changes, which is the usual case.
pub fn cell(text: &str) -> Cow<'_, str> {
    let guarded = text.starts_with(FORMULA_STARTS) && !is_number(text);
    let quoted = text.contains([DELIMITER, '"', '\n', '\r']);
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
    if text.contains([DELIMITER, '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
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
