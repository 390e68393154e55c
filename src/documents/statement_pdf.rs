//! The printable statement (*relevé*): an A4 PDF/A-2u that an accountant can sign
//! and archive, drawn with krilla and the embedded DejaVu fonts.
//!
//! Layout, 12 mm margins, everything flowing from top to bottom:
//!
//! - first page: "PASS NUMÉRIQUE", the title by kind ("Relevé de paiement",
//!   "Facture", "Relevé de commission", "Avoir"), on the right the number, the date
//!   of issue and the period ("du 01/10/2026 au 31/10/2026"); the two parties side
//!   by side (name, address, postcode and city, SIRET); the totals block (total in
//!   large type, number of lines);
//! - "Sous-totaux par dispositif" and "Sous-totaux par lieu": one row per program
//!   (site) with its number of lines and amount, sorted by name, and a total row
//!   (lines without a site, such as management fees, are grouped by their label
//!   after the sites);
//! - "Détail des lignes": the lines grouped by program (programs in the order they
//!   first appear, lines in their given order within a program), each group headed
//!   by the program's name; one zebra-striped row per line: serial, checkbook,
//!   site, time of redemption in Paris time, face value, rate as a percentage
//!   ("4,00 %"), amount. A fee line shows its label in place of the serial and
//!   checkbook;
//! - the closing formula ("Arrêté le présent relevé à la somme de …") and a framed
//!   box "Date, cachet et signature".
//!
//! Tables page by themselves: a table header is repeated at the top of every page
//! a table continues on (with the current program, "(suite)", for the lines), and
//! neither a section title nor a program's name ends a page. Pages after
//! the first carry a running header (title, number, recipient, period). Every page
//! has a footer: "Empreinte SHA-256 : …", "page i/n", the number and the issuer.
//!
//! The PDF is checked as PDF/A-2u by krilla (embedded fonts, Unicode text, no
//! `.notdef` glyph): characters the fonts lack are printed as `?`, control
//! characters as spaces. The date of issue is the document's date, so the same
//! statement renders to the same bytes.
//!
//! A statement is printed only when its lines add up exactly to its total, every
//! amount being a whole number of cents (see [`StatementError`]).
//!
//! This module says what a statement is and checks it; [`layout`] places and
//! draws it with the page kit ([`super::page`]).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use krilla::configure::{Configuration, Validator};
use krilla::destination::XyzDestination;
use krilla::geom::Point;
use krilla::metadata::{DateTime as PdfDateTime, Metadata};
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::{Document, SerializeSettings};
use rust_decimal::Decimal;

use super::fonts::fonts;
use super::page::{PAGE_HEIGHT, PAGE_WIDTH, Pen};
use crate::french;
use layout::{Block, Layout};

mod layout;
#[cfg(test)]
mod tests;

/// What a statement is, which gives its title (the type lives in `statuses`).
pub use crate::statuses::StatementKind;

impl StatementKind {
    /// The printed title: "Relevé de paiement", "Facture"…
    pub fn title(self) -> &'static str {
        match self {
            StatementKind::SitePayout => "Relevé de paiement",
            StatementKind::FunderBill => "Facture",
            StatementKind::Commission => "Relevé de commission",
            StatementKind::CreditNote => "Avoir",
        }
    }

    fn total_label(self) -> &'static str {
        match self {
            StatementKind::SitePayout => "Montant à verser",
            StatementKind::FunderBill => "Total à payer",
            StatementKind::Commission => "Commission totale",
            StatementKind::CreditNote => "Montant de l’avoir",
        }
    }

    /// The formula that closes the document, before the amount.
    fn closing(self) -> &'static str {
        match self {
            StatementKind::SitePayout => "Arrêté le présent relevé de paiement à la somme de",
            StatementKind::FunderBill => "Arrêtée la présente facture à la somme de",
            StatementKind::Commission => "Arrêté le présent relevé de commission à la somme de",
            StatementKind::CreditNote => "Arrêté le présent avoir à la somme de",
        }
    }
}

/// Which words a statement is printed with. A statement is printed with the words
/// of the day it was sealed, so a document already issued never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// Statements sealed before the Excel form (CSV formats 1 and 2): a funder's
    /// bill is a "Facture" with its "Total à payer".
    AsSealed,
    /// Since: each statement says what it is. A funder's is a "Relevé
    /// d'utilisation": the tickets used, covered by the money it paid before they
    /// were issued ("couvert : rien à payer"), and the fee, if any, the only amount
    /// to pay. A site's says what it will receive.
    Explained,
}

/// What a funder's statement comes to: the tickets used (covered by what the
/// funder paid) and the fees (the only amount due).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunderSplit {
    pub covered: Decimal,
    pub fees: Decimal,
}

impl FunderSplit {
    /// Lines naming a ticket are covered; the others (fee lines) are due.
    pub fn of(lines: &[StatementLine]) -> FunderSplit {
        let (mut covered, mut fees) = (Decimal::ZERO, Decimal::ZERO);
        for line in lines {
            if line.serial.is_empty() {
                fees += line.amount;
            } else {
                covered += line.amount;
            }
        }
        FunderSplit { covered, fees }
    }
}

impl StatementDocument {
    /// The printed title, by kind and wording.
    pub fn title(&self) -> &'static str {
        match (self.wording, self.kind) {
            (Wording::Explained, StatementKind::FunderBill) => "Relevé d’utilisation",
            (_, kind) => kind.title(),
        }
    }

    /// The label of the totals block.
    pub(crate) fn total_label(&self) -> &'static str {
        match (self.wording, self.kind) {
            (Wording::AsSealed, kind) => kind.total_label(),
            (Wording::Explained, StatementKind::SitePayout) => "Vous recevrez par virement",
            (Wording::Explained, StatementKind::FunderBill) => {
                if FunderSplit::of(&self.lines).fees.is_zero() {
                    "Rien à payer"
                } else {
                    "Montant à payer : frais de gestion"
                }
            }
            (Wording::Explained, StatementKind::Commission) => "Commission totale",
            (Wording::Explained, StatementKind::CreditNote) => "Montant de l’avoir",
        }
    }

    /// The amount of the totals block: for a funder, what it has to pay.
    pub(crate) fn headline_amount(&self) -> Decimal {
        match (self.wording, self.kind) {
            (Wording::Explained, StatementKind::FunderBill) => FunderSplit::of(&self.lines).fees,
            _ => self.total,
        }
    }

    /// The small lines under the totals block's label.
    pub(crate) fn total_notes(&self) -> Vec<String> {
        let count = format!("Nombre de lignes : {}", french::count(self.lines.len()));
        match (self.wording, self.kind) {
            (Wording::Explained, StatementKind::FunderBill) => {
                let split = FunderSplit::of(&self.lines);
                let mut notes = vec![format!(
                    "Chèques utilisés : {} — couverts par vos versements, rien à payer",
                    french::euros(split.covered)
                )];
                if split.fees.is_zero() {
                    notes.push(count);
                } else {
                    notes.push(format!(
                        "Frais de gestion : {} · {count}",
                        french::euros(split.fees)
                    ));
                }
                notes
            }
            (Wording::Explained, StatementKind::SitePayout) => {
                vec![format!("Chèques encaissés, commission déduite · {count}")]
            }
            _ => vec![count],
        }
    }

    /// The sentence that closes the document.
    pub(crate) fn closing_sentence(&self) -> String {
        let total = french::euros(self.total);
        match (self.wording, self.kind) {
            (Wording::AsSealed, kind) => format!("{} {total}.", kind.closing()),
            (Wording::Explained, StatementKind::FunderBill) => {
                let split = FunderSplit::of(&self.lines);
                let used = french::euros(split.covered);
                if split.fees.is_zero() {
                    format!(
                        "Arrêté le présent relevé d’utilisation à {used} de chèques utilisés, couverts par vos versements : rien à payer."
                    )
                } else {
                    format!(
                        "Arrêté le présent relevé d’utilisation à {total} : {used} de chèques utilisés, couverts par vos versements (rien à payer), et {} de frais de gestion, seul montant à payer.",
                        french::euros(split.fees)
                    )
                }
            }
            (Wording::Explained, StatementKind::SitePayout) => format!(
                "Arrêté le présent relevé de paiement à la somme de {total}, que le lieu recevra par virement."
            ),
            (Wording::Explained, kind) => format!("{} {total}.", kind.closing()),
        }
    }
}

/// The issuer or the recipient of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub address: Option<String>,
    pub postcode: String,
    pub city: String,
    pub siret: Option<String>,
}

/// One line of a statement: a redeemed ticket, or a fee (no serial, a label).
#[derive(Debug, Clone, PartialEq)]
pub struct StatementLine {
    /// Program name.
    pub program: String,
    /// Site name; may be empty for a fee line.
    pub site: String,
    /// Ticket serial, e.g. `7K3M-9QX2-ZA4`; empty for a fee line.
    pub serial: String,
    /// Checkbook number; may be empty for a fee line.
    pub checkbook: String,
    /// When the ticket was redeemed (printed in Paris time).
    pub redeemed_at: Option<DateTime<Utc>>,
    /// Face value in euros (for a fee line: the base the rate applies to).
    pub face_value: Decimal,
    /// A fraction: `0.04` is printed `4,00 %`.
    pub rate: Decimal,
    /// The line's amount in euros, a whole number of cents.
    pub amount: Decimal,
    /// e.g. `Frais de gestion`: printed in place of the serial when there is none,
    /// and names the line's group in the per-site subtotals when it has no site.
    pub label: Option<String>,
}

/// Everything printed on a statement.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementDocument {
    /// e.g. `REL-2026-000042`.
    pub number: String,
    pub kind: StatementKind,
    /// The words of the day it was sealed.
    pub wording: Wording,
    pub issued_on: NaiveDate,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The operator.
    pub issuer: Party,
    /// The site, funder or operator.
    pub recipient: Party,
    /// Any number of lines, printed in this order.
    pub lines: Vec<StatementLine>,
    /// Must be the exact sum of the lines' amounts.
    pub total: Decimal,
    /// SHA-256 of the statement's content (64 hexadecimal digits), in every footer.
    pub sha256: String,
    /// A site payout's bank account, masked (`FR76 …0189`): printed beside the
    /// signature as "Virement sur le compte …".
    pub payout_account: Option<String>,
}

/// Why a statement cannot be printed. Inside the `anyhow::Error` returned by
/// [`render_statement`], so that callers can downcast it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("statement {number}: its lines add up to {lines_total}, not to its total {total}")]
    LinesDoNotAddUp {
        number: String,
        lines_total: Decimal,
        total: Decimal,
    },
    #[error("statement {number}: the amounts are too large to be added up")]
    Overflow { number: String },
    #[error(
        "statement {number}: amount {amount} of {} is not a whole number of cents",
        line.map_or_else(|| "the total".to_owned(), |l| format!("line {l}"))
    )]
    NotWholeCents {
        number: String,
        /// 1-based line number; `None` for the total.
        line: Option<usize>,
        amount: Decimal,
    },
    #[error("statement {number}: its period ends on {end}, before it starts on {start}")]
    InvalidPeriod {
        number: String,
        start: NaiveDate,
        end: NaiveDate,
    },
    #[error("statement {number}: its SHA-256 must be 64 hexadecimal digits")]
    InvalidDigest { number: String },
}

/// Renders a statement into an A4 PDF (layout in the module documentation).
///
/// Refuses, with a [`StatementError`], a statement whose lines do not add up to
/// its total, an amount that is not a whole number of cents, a period that ends
/// before it starts, or a digest that is not a SHA-256.
pub fn render_statement(doc: &StatementDocument) -> anyhow::Result<Vec<u8>> {
    check(doc)?;
    let fonts = fonts()?;
    let layout = Layout::new(doc, fonts)?;
    let pages = layout.pages();

    let settings = SerializeSettings {
        configuration: Configuration::new_with_validator(Validator::A2_U),
        ..SerializeSettings::default()
    };
    let mut document = Document::new_with(settings);
    document.set_metadata(metadata(doc)?);

    let mut outline = Outline::new();
    let count = pages.len();
    for (index, placed) in pages.iter().enumerate() {
        for &(block, y) in placed {
            let title = match block {
                Block::Masthead => "Synthèse",
                Block::Heading(section) => section.title(),
                Block::Closing => "Signature",
                _ => continue,
            };
            outline.push_child(OutlineNode::new(
                title.to_owned(),
                XyzDestination::new(index, Point::from_xy(0.0, y)),
            ));
        }
        let mut page = document.start_page_with(PageSettings::new(PAGE_WIDTH, PAGE_HEIGHT));
        let mut surface = page.surface();
        let mut pen = Pen {
            surface: &mut surface,
            fonts,
        };
        if index > 0 {
            layout.running_header(&mut pen);
        }
        for &(block, y) in placed {
            layout.draw(&mut pen, block, y);
        }
        layout.footer(&mut pen, index + 1, count);
        surface.finish();
        page.finish();
    }
    document.set_outline(outline);
    document
        .finish()
        .map_err(|e| anyhow::anyhow!("cannot write the statement PDF {}: {e:?}", doc.number))
}

/// The checks that make a statement printable.
fn check(doc: &StatementDocument) -> Result<(), StatementError> {
    let number = || doc.number.clone();
    if doc.period_end < doc.period_start {
        return Err(StatementError::InvalidPeriod {
            number: number(),
            start: doc.period_start,
            end: doc.period_end,
        });
    }
    if doc.sha256.len() != 64 || !doc.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StatementError::InvalidDigest { number: number() });
    }
    let whole_cents = |amount: Decimal| amount.round_dp(2) == amount;
    if !whole_cents(doc.total) {
        return Err(StatementError::NotWholeCents {
            number: number(),
            line: None,
            amount: doc.total,
        });
    }
    let mut sum = Decimal::ZERO;
    for (index, line) in doc.lines.iter().enumerate() {
        if !whole_cents(line.amount) {
            return Err(StatementError::NotWholeCents {
                number: number(),
                line: Some(index + 1),
                amount: line.amount,
            });
        }
        sum = sum
            .checked_add(line.amount)
            .ok_or_else(|| StatementError::Overflow { number: number() })?;
    }
    if sum != doc.total {
        return Err(StatementError::LinesDoNotAddUp {
            number: number(),
            lines_total: sum,
            total: doc.total,
        });
    }
    Ok(())
}

fn metadata(doc: &StatementDocument) -> anyhow::Result<Metadata> {
    let date = doc.issued_on;
    let year = u16::try_from(date.year()).map_err(|_| {
        anyhow::anyhow!(
            "statement {}: year {} cannot be printed",
            doc.number,
            date.year()
        )
    })?;
    // Month and day always fit in a u8.
    let month = u8::try_from(date.month()).unwrap_or(1);
    let day = u8::try_from(date.day()).unwrap_or(1);
    Ok(Metadata::new()
        .title(format!("{} {}", doc.title(), doc.number))
        .description(format!(
            "{} – {}",
            period_text(doc),
            plain(&doc.recipient.name)
        ))
        .authors(vec![plain(&doc.issuer.name)])
        .keywords(vec![doc.number.clone(), format!("SHA-256 {}", doc.sha256)])
        .language("fr-FR".to_owned())
        .creator("passnum".to_owned())
        .creation_date(PdfDateTime::new(year).month(month).day(day)))
}

/// Control characters of a metadata string replaced by spaces.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

// ---------------------------------------------------------------------------
// French formatting particular to statements.

/// "du 01/10/2026 au 31/10/2026".
fn period_text(doc: &StatementDocument) -> String {
    format!(
        "du {} au {}",
        french::date(doc.period_start),
        french::date(doc.period_end)
    )
}

/// A SIRET of 14 digits grouped `123 456 789 00012`; anything else as given.
fn format_siret(siret: &str) -> String {
    let digits: String = siret.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 14 && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{} {} {} {}",
            &digits[0..3],
            &digits[3..6],
            &digits[6..9],
            &digits[9..14]
        )
    } else {
        siret.trim().to_owned()
    }
}
