//! Printable documents: QR images of ticket codes and checkbook PDFs.
//!
//! Pure rendering: no HTTP, no SQL. Callers build the plain inputs
//! ([`CheckbookSheet`], a ticket code string) and get bytes back.
//!
//! - [`qr_svg`] / [`qr_png`]: the QR code of one ticket code, level M, quiet zone.
//! - [`render_checkbooks`]: one A4 PDF for one checkbook or a whole print run
//!   (layout described in [`checkbook_pdf`]).
//! - [`render_statement`]: the printable statement of a settlement (layout
//!   described in [`statement_pdf`]).
//!
//! Both PDFs are built with the page kit ([`page`]: geometry, colours, the pen,
//! text that fits, tables, pagination), which measures and places glyphs with
//! [`fonts`] (the embedded fonts, their glyph ids and widths).
//! - [`format_euros`], [`format_date`], [`format_distance_km`]: French formatting
//!   shared by documents ("10,00 €", "31/12/2027", "2,4 km").
//!
//! Errors: inputs outside the layout's bounds are a [`DocumentError`] (inside the
//! `anyhow::Error`, so callers can downcast it and answer 422); anything else
//! (a code too long for a QR symbol, a PDF writer failure) is an internal error.
//!
//! The tests drive real tools (`pdftoppm`, `pdftotext`, `zbarimg`): run
//! `scripts/install-test-tools` once on a new machine.

pub mod checkbook_pdf;
mod fonts;
mod page;
pub mod qr;
pub mod statement_pdf;

#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

pub use checkbook_pdf::{
    CheckbookSheet, Coupon, DocumentError, MAX_NEARBY_SITES, MAX_TICKETS_PER_CHECKBOOK, NearbySite,
    render_checkbooks,
};
pub use qr::{qr_png, qr_svg};
pub use statement_pdf::{
    Party, StatementDocument, StatementError, StatementKind, StatementLine, render_statement,
};

/// An amount the French way: `10,00 €`, `1 250,50 €`, `-3,00 €` (rounded to the
/// cent, half away from zero; plain spaces so that the text is easy to search).
pub fn format_euros(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let digits = format!("{:.2}", rounded.abs());
    let (units, cents) = digits.split_once('.').unwrap_or((digits.as_str(), "00"));
    let mut grouped = String::with_capacity(units.len() + units.len() / 3);
    for (i, digit) in units.chars().enumerate() {
        if i > 0 && (units.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped},{cents} €")
}

/// A date the French way: `31/12/2027`.
pub fn format_date(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// A distance the French way: `2,4 km` under 10 km, `12 km` from there;
/// `None` for a negative or non-finite distance.
pub fn format_distance_km(km: f64) -> Option<String> {
    if !km.is_finite() || km < 0.0 {
        return None;
    }
    let text = if km < 9.95 {
        format!("{km:.1}").replace('.', ",")
    } else {
        format!("{km:.0}")
    };
    Some(format!("{text} km"))
}
