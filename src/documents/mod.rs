//! Printable documents: QR images of ticket codes and checkbook PDFs.
//!
//! Pure rendering: no HTTP, no SQL. Callers build the plain inputs
//! ([`CheckbookSheet`], a ticket code string) and get bytes back.
//!
//! - [`qr_svg`] / [`qr_png`]: the QR code of one ticket code, level M, quiet zone.
//! - [`render_checkbooks`]: one A4 PDF for one checkbook or a whole print run
//!   (layout described in [`checkbook_pdf`]).
//! - [`render_statement`]: the printable statement of a settlement (layout
//!   described in [`statement_pdf`]); [`render_invoice`]: a funder's, as a
//!   Factur-X invoice (PDF/A-3b with its `factur-x.xml`, see [`facturx`]).
//!
//! Both PDFs are built with the page kit ([`page`]: geometry, colours, the pen,
//! text that fits, tables, pagination), which measures and places glyphs with
//! [`fonts`] (the embedded fonts, their glyph ids and widths).
//!
//! Amounts, dates and times are written by [`crate::french`], like everywhere else.
//!
//! Errors: inputs outside the layout's bounds are a [`DocumentError`] (inside the
//! `anyhow::Error`, so callers can downcast it and answer 422); anything else
//! (a code too long for a QR symbol, a PDF writer failure) is an internal error.
//!
//! The tests drive real tools (`pdftoppm`, `pdftotext`, `zbarimg`): run
//! `scripts/install-test-tools` once on a new machine.

pub mod checkbook_pdf;
pub mod facturx;
mod fonts;
mod page;
pub mod qr;
pub mod statement_pdf;

#[cfg(test)]
mod tests;

pub use checkbook_pdf::{
    CheckbookSheet, Coupon, DocumentError, MAX_NEARBY_SITES, MAX_TICKETS_PER_CHECKBOOK, NearbySite,
    NoticeParties, beneficiary_notice, render_checkbooks,
};
pub use facturx::InvoiceParties;
pub use qr::{qr_png, qr_svg};
pub use statement_pdf::{
    FunderSplit, Party, StatementDocument, StatementError, StatementKind, StatementLine, Wording,
    render_invoice, render_statement,
};
