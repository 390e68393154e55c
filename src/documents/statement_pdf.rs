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

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use krilla::color::rgb;
use krilla::configure::{Configuration, Validator};
use krilla::destination::XyzDestination;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{DateTime as PdfDateTime, Metadata};
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::Stroke;
use krilla::text::{GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};
use rust_decimal::Decimal;

use super::checkbook_pdf::{
    ACCENT, INK, MM, MUTED, PAGE_HEIGHT, PAGE_WIDTH, PANEL, Pen, fill, truncate, wrap,
};
use super::fonts::{Face, be_u16, fonts, table, unicode_bmp_subtable};
use super::{format_date, format_euros};

/// What a statement is, which gives its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// What a training site is paid: "Relevé de paiement".
    SitePayout,
    /// What a funder is billed: "Facture".
    FunderBill,
    /// The operator's commission: "Relevé de commission".
    Commission,
    /// A credit note: "Avoir".
    CreditNote,
}

impl StatementKind {
    /// The kind stored with a statement (`site_payout`, `funder_bill`,
    /// `commission`, `credit_note`).
    pub fn from_code(code: &str) -> Option<StatementKind> {
        match code {
            "site_payout" => Some(StatementKind::SitePayout),
            "funder_bill" => Some(StatementKind::FunderBill),
            "commission" => Some(StatementKind::Commission),
            "credit_note" => Some(StatementKind::CreditNote),
            _ => None,
        }
    }

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
            StatementKind::CreditNote => "Montant de l'avoir",
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
    let layout = Layout::new(doc, Typefaces::new(fonts)?)?;
    let pages = paginate(&layout.blocks());

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
        .title(format!("{} {}", doc.kind.title(), doc.number))
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
// Geometry, in PDF points, origin at the top left, y downwards.

const MARGIN: f32 = 12.0 * MM;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const RIGHT: f32 = PAGE_WIDTH - MARGIN;
/// Height kept at the bottom of each page for the footer.
const FOOTER_HEIGHT: f32 = 28.0;
/// Where the content of a page ends.
const BOTTOM: f32 = PAGE_HEIGHT - MARGIN - FOOTER_HEIGHT;
/// Height of the running header of the pages after the first.
const RUNNING_HEADER: f32 = 26.0;

const MASTHEAD_HEIGHT: f32 = 212.0;
const HEADING_HEIGHT: f32 = 26.0;
const TABLE_HEADER_HEIGHT: f32 = 20.0;
const ROW_HEIGHT: f32 = 11.0;
const PROGRAM_ROW_HEIGHT: f32 = 14.0;
const TOTAL_ROW_HEIGHT: f32 = 15.0;
const NO_LINES_HEIGHT: f32 = 20.0;
const CLOSING_HEIGHT: f32 = 140.0;
const SIGNATURE_WIDTH: f32 = 85.0 * MM;
const SIGNATURE_HEIGHT: f32 = 32.0 * MM;

const ROW_TEXT: f32 = 7.0;
const HEADER_TEXT: f32 = 6.5;
const FOOTER_TEXT: f32 = 6.5;
const CELL_PADDING: f32 = 3.0;

const STRIPE: (u8, u8, u8) = (244, 246, 249);
const RULE: (u8, u8, u8) = (170, 178, 190);

const NO_LINES: &str = "Aucune ligne sur la période.";
const SIGNATURE_LABEL: &str = "Date, cachet et signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// One column of a table: its title (one or two lines), left edge and width.
#[derive(Debug, Clone, Copy)]
struct Column {
    title: &'static [&'static str],
    x: f32,
    width: f32,
    align: Align,
}

/// Columns laid side by side from the left margin; the column `flexible` takes
/// the width the others leave.
fn columns<const N: usize>(
    specs: [(&'static [&'static str], f32, Align); N],
    flexible: usize,
) -> [Column; N] {
    let fixed: f32 = specs
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != flexible)
        .map(|(_, spec)| spec.1)
        .sum();
    let mut x = MARGIN;
    std::array::from_fn(|i| {
        let (title, width, align) = specs[i];
        let width = if i == flexible {
            CONTENT_WIDTH - fixed
        } else {
            width
        };
        let column = Column {
            title,
            x,
            width,
            align,
        };
        x += width;
        column
    })
}

/// The columns of the lines table (the program heads each run of lines).
const SERIAL: usize = 0;
const CHECKBOOK: usize = 1;
const SITE: usize = 2;
const REDEEMED_AT: usize = 3;
const FACE_VALUE: usize = 4;
const RATE: usize = 5;
const AMOUNT: usize = 6;

/// Widths hold `7K3M-9QX2-ZA4`, `CH-2026-000123`, `31/12/2026 23:59`,
/// `1 500,00 €`, `100,00 %` and `12 345,67 €` at 7 points without shortening.
fn line_columns() -> [Column; 7] {
    columns(
        [
            (&["N° de chèque"], 62.0, Align::Left),
            (&["Chéquier"], 67.0, Align::Left),
            (&["Lieu"], 0.0, Align::Left),
            (&["Encaissé le", "(heure de Paris)"], 70.0, Align::Left),
            (&["Valeur", "faciale"], 48.0, Align::Right),
            (&["Taux"], 42.0, Align::Right),
            (&["Montant"], 58.0, Align::Right),
        ],
        SITE,
    )
}

fn subtotal_columns(first: &'static [&'static str]) -> [Column; 3] {
    columns(
        [
            (first, 0.0, Align::Left),
            (&["Lignes"], 70.0, Align::Right),
            (&["Montant"], 90.0, Align::Right),
        ],
        0,
    )
}

// ---------------------------------------------------------------------------
// Content: the blocks that flow down the pages.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Programs,
    Sites,
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Programs,
    Sites,
    Lines,
}

impl Section {
    fn title(self) -> &'static str {
        match self {
            Section::Programs => "Sous-totaux par dispositif",
            Section::Sites => "Sous-totaux par lieu",
            Section::Lines => "Détail des lignes",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Title, number, dates, parties and totals: the top of the first page.
    Masthead,
    Heading(Section),
    TableHeader(Table),
    /// One subtotal row (index into the table's groups).
    Group(Table, usize),
    /// The total row of a subtotal table.
    GroupTotal(Table),
    /// The program of the lines that follow, from the line at `line` on.
    Program {
        line: usize,
        continued: bool,
    },
    /// One statement line (its position in the table, see [`Layout::order`]).
    Line(usize),
    NoLines,
    /// The closing formula and the signature box.
    Closing,
}

impl Block {
    fn height(self) -> f32 {
        match self {
            Block::Masthead => MASTHEAD_HEIGHT,
            Block::Heading(_) => HEADING_HEIGHT,
            Block::TableHeader(_) => TABLE_HEADER_HEIGHT,
            Block::Group(..) | Block::Line(_) => ROW_HEIGHT,
            Block::Program { .. } => PROGRAM_ROW_HEIGHT,
            Block::GroupTotal(_) => TOTAL_ROW_HEIGHT,
            Block::NoLines => NO_LINES_HEIGHT,
            Block::Closing => CLOSING_HEIGHT,
        }
    }

    /// The table a row belongs to: its header is repeated when a page starts with it.
    fn table(self) -> Option<Table> {
        match self {
            Block::Group(table, _) | Block::GroupTotal(table) => Some(table),
            Block::Line(_) | Block::Program { .. } => Some(Table::Lines),
            _ => None,
        }
    }

    /// Whether the block must stay on the same page as the one after it.
    fn keeps_with_next(self) -> bool {
        matches!(
            self,
            Block::Heading(_) | Block::TableHeader(_) | Block::Program { .. }
        )
    }
}

/// The blocks of each page, with the `y` of their top.
fn paginate(blocks: &[Block]) -> Vec<Vec<(Block, f32)>> {
    let mut pages: Vec<Vec<(Block, f32)>> = vec![Vec::new()];
    let mut y = MARGIN;
    for (index, &block) in blocks.iter().enumerate() {
        // The block and those that must stay with it.
        let mut need = 0.0;
        for &next in &blocks[index..] {
            need += next.height();
            if !next.keeps_with_next() {
                break;
            }
        }
        let page_is_empty = pages.last().is_none_or(Vec::is_empty);
        if y + need > BOTTOM && !page_is_empty {
            pages.push(Vec::new());
            y = MARGIN + RUNNING_HEADER;
            // A table going on: its header, and the program of the lines.
            let mut repeated = Vec::new();
            if let Some(table) = block.table() {
                repeated.push(Block::TableHeader(table));
            }
            if let Block::Line(line) = block {
                repeated.push(Block::Program {
                    line,
                    continued: true,
                });
            }
            if let Some(page) = pages.last_mut() {
                for header in repeated {
                    page.push((header, y));
                    y += header.height();
                }
            }
        }
        if let Some(page) = pages.last_mut() {
            page.push((block, y));
        }
        y += block.height();
    }
    pages
}

/// Lines of a statement gathered under one name.
#[derive(Debug, Clone, PartialEq)]
struct Group<'a> {
    name: &'a str,
    lines: usize,
    amount: Decimal,
}

/// The lines grouped by `key` (`(after the others, name)`), sorted by that key
/// with a collation that ignores case and accents.
fn group_lines<'a>(
    doc: &'a StatementDocument,
    key: impl Fn(&'a StatementLine) -> (bool, &'a str),
) -> Result<Vec<Group<'a>>, StatementError> {
    let mut index: HashMap<(bool, &'a str), usize> = HashMap::new();
    let mut groups: Vec<(bool, Group<'a>)> = Vec::new();
    for line in &doc.lines {
        let (last, name) = key(line);
        let at = *index.entry((last, name)).or_insert_with(|| {
            groups.push((
                last,
                Group {
                    name,
                    lines: 0,
                    amount: Decimal::ZERO,
                },
            ));
            groups.len() - 1
        });
        if let Some((_, group)) = groups.get_mut(at) {
            group.lines += 1;
            group.amount =
                group
                    .amount
                    .checked_add(line.amount)
                    .ok_or_else(|| StatementError::Overflow {
                        number: doc.number.clone(),
                    })?;
        }
    }
    groups.sort_by_cached_key(|(last, group)| (*last, collation_key(group.name), group.name));
    Ok(groups.into_iter().map(|(_, group)| group).collect())
}

/// The program of a line, as printed.
fn program_name(line: &StatementLine) -> &str {
    match line.program.trim() {
        "" => "Sans dispositif",
        program => program,
    }
}

/// `name` in lower case without accents, for sorting French names.
fn collation_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => key.push('a'),
            'ç' => key.push('c'),
            'é' | 'è' | 'ê' | 'ë' => key.push('e'),
            'î' | 'ï' | 'í' | 'ì' => key.push('i'),
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => key.push('o'),
            'ù' | 'û' | 'ü' | 'ú' => key.push('u'),
            'ÿ' => key.push('y'),
            'œ' => key.push_str("oe"),
            'æ' => key.push_str("ae"),
            other => key.push(other),
        }
    }
    key
}

/// A statement ready to draw: its groups and tables.
struct Layout<'a> {
    doc: &'a StatementDocument,
    fonts: Typefaces<'a>,
    programs: Vec<Group<'a>>,
    sites: Vec<Group<'a>>,
    /// Indices of the lines in table order: grouped by program (in the order the
    /// programs first appear), in their given order within a program.
    order: Vec<usize>,
    line_columns: [Column; 7],
    program_columns: [Column; 3],
    site_columns: [Column; 3],
    /// The running header's text, computed once.
    running_title: String,
    running_detail: String,
}

impl<'a> Layout<'a> {
    fn new(doc: &'a StatementDocument, fonts: Typefaces<'a>) -> Result<Layout<'a>, StatementError> {
        let programs = group_lines(doc, |line| {
            (line.program.trim().is_empty(), program_name(line))
        })?;
        let sites = group_lines(doc, |line| {
            let label = line.label.as_deref().map(str::trim).unwrap_or_default();
            match (line.site.trim(), label) {
                ("", "") => (true, "Sans lieu"),
                ("", label) => (true, label),
                (site, _) => (false, site),
            }
        })?;
        let mut rank: HashMap<&str, usize> = HashMap::new();
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(doc.lines.len());
        for (index, line) in doc.lines.iter().enumerate() {
            let next = rank.len();
            order.push((*rank.entry(program_name(line)).or_insert(next), index));
        }
        order.sort_unstable();
        Ok(Layout {
            doc,
            fonts,
            programs,
            sites,
            order: order.into_iter().map(|(_, index)| index).collect(),
            line_columns: line_columns(),
            program_columns: subtotal_columns(&["Dispositif"]),
            site_columns: subtotal_columns(&["Lieu"]),
            running_title: format!("{} n° {}", doc.kind.title(), doc.number),
            running_detail: format!("{} · {}", doc.recipient.name, period_text(doc)),
        })
    }

    /// The line at `position` in the table.
    fn line_at(&self, position: usize) -> Option<&'a StatementLine> {
        let doc = self.doc;
        self.order
            .get(position)
            .and_then(|&index| doc.lines.get(index))
    }

    /// The content, in order.
    fn blocks(&self) -> Vec<Block> {
        let mut blocks = Vec::with_capacity(self.doc.lines.len() + self.programs.len() + 32);
        blocks.push(Block::Masthead);
        if !self.doc.lines.is_empty() {
            for (section, table, count) in [
                (Section::Programs, Table::Programs, self.programs.len()),
                (Section::Sites, Table::Sites, self.sites.len()),
            ] {
                blocks.push(Block::Heading(section));
                blocks.push(Block::TableHeader(table));
                blocks.extend((0..count).map(|i| Block::Group(table, i)));
                blocks.push(Block::GroupTotal(table));
            }
        }
        blocks.push(Block::Heading(Section::Lines));
        if self.doc.lines.is_empty() {
            blocks.push(Block::NoLines);
        } else {
            blocks.push(Block::TableHeader(Table::Lines));
            let mut program = None;
            for position in 0..self.order.len() {
                let name = self.line_at(position).map(program_name);
                if program != name {
                    program = name;
                    blocks.push(Block::Program {
                        line: position,
                        continued: false,
                    });
                }
                blocks.push(Block::Line(position));
            }
        }
        blocks.push(Block::Closing);
        blocks
    }

    fn draw(&self, pen: &mut Pen, block: Block, y: f32) {
        match block {
            Block::Masthead => self.masthead(pen, y),
            Block::Heading(section) => {
                let fonts = self.fonts;
                show(
                    pen,
                    Style(&fonts.bold, 10.5, ACCENT),
                    MARGIN,
                    y + 18.0,
                    section.title(),
                );
            }
            Block::TableHeader(table) => self.table_header(pen, self.columns_of(table), y),
            Block::Group(table, index) => {
                let group = match table {
                    Table::Programs => self.programs.get(index),
                    Table::Sites => self.sites.get(index),
                    Table::Lines => None,
                };
                if let Some(group) = group {
                    let columns = self.columns_of(table);
                    if index % 2 == 1 {
                        pen.rect(STRIPE, MARGIN, y, CONTENT_WIDTH, ROW_HEIGHT);
                    }
                    self.group_row(pen, columns, y, group, false);
                }
            }
            Block::GroupTotal(table) => {
                let columns = self.columns_of(table);
                hrule(pen, INK, 0.6, y + 1.0);
                let total = Group {
                    name: "Total",
                    lines: self.doc.lines.len(),
                    amount: self.doc.total,
                };
                self.group_row(pen, columns, y + 2.5, &total, true);
            }
            Block::Line(position) => {
                if let Some(line) = self.line_at(position) {
                    if position % 2 == 1 {
                        pen.rect(STRIPE, MARGIN, y, CONTENT_WIDTH, ROW_HEIGHT);
                    }
                    self.line_row(pen, y, line);
                }
            }
            Block::Program { line, continued } => {
                if let Some(line) = self.line_at(line) {
                    self.program_row(pen, y, line, continued);
                }
            }
            Block::NoLines => {
                let fonts = self.fonts;
                show(
                    pen,
                    Style(&fonts.regular, 8.5, MUTED),
                    MARGIN,
                    y + 12.0,
                    NO_LINES,
                );
            }
            Block::Closing => self.closing(pen, y),
        }
    }

    fn columns_of(&self, table: Table) -> &[Column] {
        match table {
            Table::Programs => &self.program_columns,
            Table::Sites => &self.site_columns,
            Table::Lines => &self.line_columns,
        }
    }

    fn masthead(&self, pen: &mut Pen, y: f32) {
        let fonts = self.fonts;
        let doc = self.doc;
        show(
            pen,
            Style(&fonts.bold, 8.5, ACCENT),
            MARGIN,
            y + 9.0,
            "PASS NUMÉRIQUE",
        );
        let title_width = CONTENT_WIDTH * 0.5;
        let title = fit_text(&fonts.bold, doc.kind.title(), 20.0, title_width);
        show(pen, Style(&fonts.bold, 20.0, INK), MARGIN, y + 33.0, &title);

        // Number, date and period, right-aligned.
        let number = fit_text(&fonts.mono_bold, &doc.number, 11.5, CONTENT_WIDTH * 0.4);
        let number_x = RIGHT - fonts.mono_bold.width(&number, 11.5);
        show(
            pen,
            Style(&fonts.mono_bold, 11.5, INK),
            number_x,
            y + 11.0,
            &number,
        );
        let label = "N° ";
        let label_x = number_x - fonts.regular.width(label, 9.0);
        show(
            pen,
            Style(&fonts.regular, 9.0, INK),
            label_x,
            y + 11.0,
            label,
        );
        let issued = format!("Date d'émission : {}", format_date(doc.issued_on));
        show_right(
            pen,
            Style(&fonts.regular, 8.5, INK),
            RIGHT,
            y + 25.0,
            &issued,
        );
        let period = format!("Période : {}", period_text(doc));
        show_right(pen, Style(&fonts.bold, 8.5, INK), RIGHT, y + 38.0, &period);
        hrule(pen, ACCENT, 1.2, y + 48.0);

        // The parties.
        let gap = 12.0;
        let width = (CONTENT_WIDTH - gap) / 2.0;
        self.party(pen, MARGIN, y + 58.0, width, "ÉMETTEUR", &doc.issuer);
        self.party(
            pen,
            MARGIN + width + gap,
            y + 58.0,
            width,
            "DESTINATAIRE",
            &doc.recipient,
        );

        // The totals.
        let top = y + 154.0;
        let height = 48.0;
        pen.rect(PANEL, MARGIN, top, CONTENT_WIDTH, height);
        pen.rect(ACCENT, MARGIN, top, 3.0, height);
        let lx = MARGIN + 12.0;
        show(
            pen,
            Style(&fonts.bold, 10.0, INK),
            lx,
            top + 19.0,
            doc.kind.total_label(),
        );
        let count = format!("Nombre de lignes : {}", format_count(doc.lines.len()));
        show(
            pen,
            Style(&fonts.regular, 8.0, MUTED),
            lx,
            top + 34.0,
            &count,
        );
        let total = format_euros(doc.total);
        show_right(
            pen,
            Style(&fonts.bold, 18.0, INK),
            RIGHT - 12.0,
            top + 31.0,
            &total,
        );
    }

    /// One party in a panel whose top left corner is `(x, y)`.
    fn party(&self, pen: &mut Pen, x: f32, y: f32, width: f32, label: &str, party: &Party) {
        let fonts = self.fonts;
        pen.rect(PANEL, x, y, width, 86.0);
        let x = x + 8.0;
        let width = width - 16.0;
        let mut cursor = y + 13.0;
        show(pen, Style(&fonts.bold, 6.5, MUTED), x, cursor, label);
        cursor += 1.0;
        let name = printable(&fonts.bold, &party.name);
        for line in wrap(&fonts.bold, &name, 9.5, width, 2) {
            cursor += 12.0;
            show(pen, Style(&fonts.bold, 9.5, INK), x, cursor, &line);
        }
        cursor += 1.0;
        if let Some(address) = party.address.as_deref().filter(|a| !a.trim().is_empty()) {
            let address = printable(&fonts.regular, address);
            for line in wrap(&fonts.regular, &address, 8.0, width, 2) {
                cursor += 10.5;
                show(pen, Style(&fonts.regular, 8.0, INK), x, cursor, &line);
            }
        }
        cursor += 10.5;
        let place = format!("{} {}", party.postcode.trim(), party.city.trim());
        show_fitted(
            pen,
            Style(&fonts.regular, 8.0, INK),
            x,
            cursor,
            width,
            &place,
        );
        if let Some(siret) = party.siret.as_deref().filter(|s| !s.trim().is_empty()) {
            cursor += 10.5;
            let siret = format!("SIRET : {}", format_siret(siret));
            show_fitted(
                pen,
                Style(&fonts.regular, 8.0, INK),
                x,
                cursor,
                width,
                &siret,
            );
        }
    }

    fn table_header(&self, pen: &mut Pen, columns: &[Column], y: f32) {
        let fonts = self.fonts;
        pen.rect(PANEL, MARGIN, y, CONTENT_WIDTH, TABLE_HEADER_HEIGHT - 2.0);
        hrule(pen, RULE, 0.6, y + TABLE_HEADER_HEIGHT - 2.0);
        for column in columns {
            let baselines: &[f32] = if column.title.len() > 1 {
                &[7.5, 15.0]
            } else {
                &[11.5]
            };
            for (title, dy) in column.title.iter().zip(baselines) {
                cell(
                    pen,
                    Style(&fonts.bold, HEADER_TEXT, INK),
                    column,
                    y + dy,
                    title,
                );
            }
        }
    }

    fn group_row(&self, pen: &mut Pen, columns: &[Column], y: f32, group: &Group, total: bool) {
        let fonts = self.fonts;
        let face = if total { &fonts.bold } else { &fonts.regular };
        let size = if total { 7.5 } else { ROW_TEXT };
        let baseline = y + 8.0;
        let texts = [
            Cow::Borrowed(group.name),
            Cow::Owned(format_count(group.lines)),
            Cow::Owned(format_euros(group.amount)),
        ];
        for (column, text) in columns.iter().zip(&texts) {
            cell(pen, Style(face, size, INK), column, baseline, text);
        }
    }

    /// The program of the lines below it, across the table.
    fn program_row(&self, pen: &mut Pen, y: f32, line: &StatementLine, continued: bool) {
        let fonts = self.fonts;
        let name = program_name(line);
        let text = if continued {
            Cow::Owned(format!("{name} (suite)"))
        } else {
            Cow::Borrowed(name)
        };
        let style = Style(&fonts.bold, 7.5, ACCENT);
        let width = CONTENT_WIDTH - 2.0 * CELL_PADDING;
        show_fitted(pen, style, MARGIN + CELL_PADDING, y + 10.0, width, &text);
        hrule(pen, RULE, 0.4, y + PROGRAM_ROW_HEIGHT - 0.5);
    }

    fn line_row(&self, pen: &mut Pen, y: f32, line: &StatementLine) {
        let fonts = self.fonts;
        let regular = Style(&fonts.regular, ROW_TEXT, INK);
        let bold = Style(&fonts.bold, ROW_TEXT, INK);
        let columns = &self.line_columns;
        let baseline = y + 8.0;
        let label = line.label.as_deref().unwrap_or_default();
        if line.serial.is_empty() && !label.is_empty() {
            // A fee line: its label over the serial and checkbook columns.
            let span = Column {
                width: columns[SERIAL].width + columns[CHECKBOOK].width,
                ..columns[SERIAL]
            };
            cell(pen, bold, &span, baseline, label);
        } else {
            let mono = Style(&fonts.mono_bold, ROW_TEXT, INK);
            cell(pen, mono, &columns[SERIAL], baseline, &line.serial);
            cell(pen, regular, &columns[CHECKBOOK], baseline, &line.checkbook);
        }
        cell(pen, regular, &columns[SITE], baseline, &line.site);
        if let Some(at) = line.redeemed_at {
            cell(
                pen,
                regular,
                &columns[REDEEMED_AT],
                baseline,
                &paris_time(at),
            );
        }
        let face_value = format_euros(line.face_value);
        cell(pen, regular, &columns[FACE_VALUE], baseline, &face_value);
        cell(
            pen,
            regular,
            &columns[RATE],
            baseline,
            &format_rate(line.rate),
        );
        cell(
            pen,
            bold,
            &columns[AMOUNT],
            baseline,
            &format_euros(line.amount),
        );
    }

    fn closing(&self, pen: &mut Pen, y: f32) {
        let fonts = self.fonts;
        let doc = self.doc;
        hrule(pen, RULE, 0.6, y + 8.0);
        let sentence = format!("{} {}.", doc.kind.closing(), format_euros(doc.total));
        let mut cursor = y + 12.0;
        for line in wrap(&fonts.regular, &sentence, 9.0, CONTENT_WIDTH, 2) {
            cursor += 12.0;
            show(pen, Style(&fonts.regular, 9.0, INK), MARGIN, cursor, &line);
        }
        let top = y + 46.0;
        let left = RIGHT - SIGNATURE_WIDTH;
        frame(pen, INK, 0.8, left, top, SIGNATURE_WIDTH, SIGNATURE_HEIGHT);
        show(
            pen,
            Style(&fonts.bold, 7.5, MUTED),
            left + 7.0,
            top + 12.0,
            SIGNATURE_LABEL,
        );
        let issuer = format!("Pour {}", doc.issuer.name);
        let width = left - MARGIN - 12.0;
        let issuer = printable(&fonts.regular, &issuer);
        let mut cursor = top + 12.0;
        for line in wrap(&fonts.regular, &issuer, 8.0, width, 2) {
            show(pen, Style(&fonts.regular, 8.0, INK), MARGIN, cursor, &line);
            cursor += 10.5;
        }
    }

    fn running_header(&self, pen: &mut Pen) {
        let fonts = self.fonts;
        let y = MARGIN + 9.0;
        let half = CONTENT_WIDTH / 2.0 - 6.0;
        show_fitted(
            pen,
            Style(&fonts.bold, 8.0, INK),
            MARGIN,
            y,
            half,
            &self.running_title,
        );
        let detail = printable(&fonts.regular, &self.running_detail);
        let detail = truncate(&fonts.regular, &detail, 7.5, half);
        show_right(pen, Style(&fonts.regular, 7.5, MUTED), RIGHT, y, &detail);
        hrule(pen, RULE, 0.6, y + 6.0);
    }

    fn footer(&self, pen: &mut Pen, page: usize, pages: usize) {
        let fonts = self.fonts;
        let doc = self.doc;
        let top = BOTTOM + 8.0;
        hrule(pen, RULE, 0.6, top);
        let first = top + 10.0;
        let second = first + 9.0;
        let digest = format!("Empreinte SHA-256 : {}", doc.sha256);
        show(
            pen,
            Style(&fonts.regular, FOOTER_TEXT, MUTED),
            MARGIN,
            first,
            &digest,
        );
        let number = format!("page {page}/{pages}");
        show_right(pen, Style(&fonts.bold, 7.5, INK), RIGHT, first, &number);
        let left = format!(
            "{} · Pass Numérique · {}",
            self.running_title, doc.issuer.name
        );
        show_fitted(
            pen,
            Style(&fonts.regular, FOOTER_TEXT, MUTED),
            MARGIN,
            second,
            CONTENT_WIDTH * 0.75,
            &left,
        );
        let issued = format!("Émis le {}", format_date(doc.issued_on));
        show_right(
            pen,
            Style(&fonts.regular, FOOTER_TEXT, MUTED),
            RIGHT,
            second,
            &issued,
        );
    }
}

// ---------------------------------------------------------------------------
// Text.
//
// krilla's `draw_text` shapes every string with rustybuzz, which parses the font's
// layout tables at each call: 80 % of the time of a long statement. Table cells
// need no shaping (no ligature, no mark, left to right), so glyphs are placed one
// per character with the font's own advances, and `draw_glyphs` is called directly.

/// Glyph ids of the BMP code points of a face (0: no glyph), from its `cmap`.
struct GlyphIds(Vec<u16>);

impl GlyphIds {
    fn read(font: &[u8]) -> anyhow::Result<GlyphIds> {
        let subtable = unicode_bmp_subtable(table(font, b"cmap")?)?;
        let seg_count = usize::from(be_u16(subtable, 6)? / 2);
        let ends = 14;
        let starts = ends + 2 * seg_count + 2;
        let deltas = starts + 2 * seg_count;
        let range_offsets = deltas + 2 * seg_count;
        let mut ids = vec![0_u16; 0x1_0000];
        for segment in 0..seg_count {
            let end = be_u16(subtable, ends + 2 * segment)?;
            let start = be_u16(subtable, starts + 2 * segment)?;
            let delta = be_u16(subtable, deltas + 2 * segment)?;
            let range_offset_at = range_offsets + 2 * segment;
            let range_offset = usize::from(be_u16(subtable, range_offset_at)?);
            for code in start..=end.min(0xFFFE) {
                ids[usize::from(code)] = if range_offset == 0 {
                    code.wrapping_add(delta)
                } else {
                    let at = range_offset_at + range_offset + 2 * usize::from(code - start);
                    match be_u16(subtable, at)? {
                        0 => 0,
                        glyph => glyph.wrapping_add(delta),
                    }
                };
            }
        }
        Ok(GlyphIds(ids))
    }

    fn of(&self, c: char) -> u16 {
        self.0.get(c as usize).copied().unwrap_or(0)
    }
}

/// The glyph ids of the faces of [`super::fonts::Fonts`], read once.
static GLYPH_IDS: LazyLock<Result<[GlyphIds; 3], String>> = LazyLock::new(|| {
    let read = || -> anyhow::Result<[GlyphIds; 3]> {
        Ok([
            GlyphIds::read(dejavu::sans::regular())?,
            GlyphIds::read(dejavu::sans::bold())?,
            GlyphIds::read(dejavu::sans_mono::bold())?,
        ])
    };
    read().map_err(|e| format!("{e:#}"))
});

/// A face with its glyph ids; dereferences to the [`Face`] for measuring.
#[derive(Clone, Copy)]
struct Typeface<'a> {
    face: &'a Face,
    ids: &'a GlyphIds,
}

impl Deref for Typeface<'_> {
    type Target = Face;

    fn deref(&self) -> &Face {
        self.face
    }
}

/// The three faces the statement uses.
#[derive(Clone, Copy)]
struct Typefaces<'a> {
    regular: Typeface<'a>,
    bold: Typeface<'a>,
    mono_bold: Typeface<'a>,
}

impl Typefaces<'static> {
    fn new(fonts: &'static super::fonts::Fonts) -> anyhow::Result<Typefaces<'static>> {
        let [regular, bold, mono_bold] = GLYPH_IDS
            .as_ref()
            .map_err(|e| anyhow::anyhow!("cannot read the glyphs of the embedded fonts: {e}"))?;
        Ok(Typefaces {
            regular: Typeface {
                face: &fonts.regular,
                ids: regular,
            },
            bold: Typeface {
                face: &fonts.bold,
                ids: bold,
            },
            mono_bold: Typeface {
                face: &fonts.mono_bold,
                ids: mono_bold,
            },
        })
    }
}

/// `text` with what the fonts cannot print under PDF/A replaced: control
/// characters by spaces, invisible format characters dropped, characters the
/// face lacks (and private-use ones) by `?`.
fn printable<'t>(face: &Typeface, text: &'t str) -> Cow<'t, str> {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}');
    let private = |c: char| matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{fffe}' | '\u{ffff}');
    let fine = |c: char| !c.is_control() && !invisible(c) && !private(c) && face.ids.of(c) != 0;
    if text.chars().all(fine) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .filter(|&c| !invisible(c))
            .map(|c| {
                if fine(c) {
                    c
                } else if c.is_control() || c.is_whitespace() {
                    ' '
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

/// A typeface, a size in points and a colour.
#[derive(Clone, Copy)]
struct Style<'f>(&'f Typeface<'f>, f32, (u8, u8, u8));

/// Draws printable `text` with its baseline at `y`: one glyph per character.
fn draw(pen: &mut Pen, Style(face, size, color): Style, x: f32, y: f32, text: &str) {
    if text.is_empty() {
        return;
    }
    let mut buffer = [0; 4];
    let glyphs: Vec<KrillaGlyph> = text
        .char_indices()
        .map(|(at, c)| KrillaGlyph {
            glyph_id: GlyphId::new(u32::from(face.ids.of(c))),
            text_range: at..at + c.len_utf8(),
            x_advance: face.width(c.encode_utf8(&mut buffer), 1.0),
            x_offset: 0.0,
            y_offset: 0.0,
            y_advance: 0.0,
            location: None,
        })
        .collect();
    pen.surface.set_fill(Some(fill(color)));
    let start = Point::from_xy(x, y);
    let font = face.face.font.clone();
    pen.surface
        .draw_glyphs(start, &glyphs, font, text, size, false);
}

/// Draws `text` (made printable) with its baseline at `y`.
fn show(pen: &mut Pen, style: Style, x: f32, y: f32, text: &str) {
    draw(pen, style, x, y, &printable(style.0, text));
}

/// Draws `text` (made printable) ending at `right`.
fn show_right(pen: &mut Pen, style: Style, right: f32, y: f32, text: &str) {
    let Style(face, size, _) = style;
    let text = printable(face, text);
    draw(pen, style, right - face.width(&text, size), y, &text);
}

/// Draws `text` (made printable), shortened with an ellipsis to `width`.
fn show_fitted(pen: &mut Pen, style: Style, x: f32, y: f32, width: f32, text: &str) {
    let Style(face, size, _) = style;
    draw(pen, style, x, y, &fit_text(face, text, size, width));
}

/// Draws `text` in a table cell, padded, aligned, shortened to fit.
fn cell(pen: &mut Pen, style: Style, column: &Column, baseline: f32, text: &str) {
    if text.is_empty() {
        return;
    }
    let Style(face, size, _) = style;
    let text = printable(face, text);
    let room = column.width - 2.0 * CELL_PADDING;
    let width = face.width(&text, size);
    let (text, width) = if width <= room {
        (text, width)
    } else {
        let short = truncate(face, &text, size, room);
        let width = face.width(&short, size);
        (Cow::Owned(short), width)
    };
    let x = match column.align {
        Align::Left => column.x + CELL_PADDING,
        Align::Right => column.x + column.width - CELL_PADDING - width,
    };
    draw(pen, style, x, baseline, &text);
}

/// `text` made printable and shortened to `width` at `size`.
fn fit_text(face: &Typeface, text: &str, size: f32, width: f32) -> String {
    truncate(face, &printable(face, text), size, width)
}

fn stroke(color: (u8, u8, u8), width: f32) -> Stroke {
    Stroke {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        width,
        ..Stroke::default()
    }
}

/// A horizontal line across the page at `y`.
fn hrule(pen: &mut Pen, color: (u8, u8, u8), width: f32, y: f32) {
    let mut builder = PathBuilder::new();
    builder.move_to(MARGIN, y);
    builder.line_to(RIGHT, y);
    if let Some(path) = builder.finish() {
        pen.surface.set_fill(None);
        pen.surface.set_stroke(Some(stroke(color, width)));
        pen.surface.draw_path(&path);
        pen.surface.set_stroke(None);
    }
}

/// The outline of a rectangle.
fn frame(pen: &mut Pen, color: (u8, u8, u8), width: f32, x: f32, y: f32, w: f32, h: f32) {
    let mut builder = PathBuilder::new();
    builder.move_to(x, y);
    builder.line_to(x + w, y);
    builder.line_to(x + w, y + h);
    builder.line_to(x, y + h);
    builder.close();
    if let Some(path) = builder.finish() {
        pen.surface.set_fill(None);
        pen.surface.set_stroke(Some(stroke(color, width)));
        pen.surface.draw_path(&path);
        pen.surface.set_stroke(None);
    }
}

// ---------------------------------------------------------------------------
// French formatting particular to statements.

/// "du 01/10/2026 au 31/10/2026".
fn period_text(doc: &StatementDocument) -> String {
    format!(
        "du {} au {}",
        format_date(doc.period_start),
        format_date(doc.period_end)
    )
}

/// A rate as a percentage: `0.04` → `4,00 %`, `0.33335` → `33,335 %` (at least
/// two decimals, never fewer than the rate has).
fn format_rate(rate: Decimal) -> String {
    let Some(percent) = rate.checked_mul(Decimal::ONE_HUNDRED) else {
        return "—".to_owned();
    };
    let mut percent = if percent.is_zero() {
        Decimal::ZERO
    } else {
        percent.normalize()
    };
    if percent.scale() < 2 {
        percent.rescale(2);
    }
    format!("{} %", percent.to_string().replace('.', ","))
}

/// A count with thousands separated by spaces: `10 000`.
fn format_count(count: usize) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(digit);
    }
    out
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

/// "23/11/2026 14:05" in Paris time.
fn paris_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Paris)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Write};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use chrono::TimeZone;

    use super::*;

    const INSTALL_HINT: &str =
        "run `scripts/install-test-tools` (installs poppler-utils and zbar-tools)";
    const SHA: &str = "3f2a9c0d5e8b7a6f4c1d2e3b4a5f6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b";
    const PROGRAMS: [&str; 2] = ["Pass Numérique Haute-Saône 2026", "Pass Numérique Vesoul"];
    const SITES: [&str; 4] = [
        "Médiathèque de Vesoul",
        "Espace numérique de Gray",
        "Tiers-lieu de Lure",
        "France services Luxeuil-les-Bains",
    ];

    /// The text of `pdf` as `pdftotext -layout` reads it.
    fn text_of(pdf: &[u8]) -> String {
        let mut child = match Command::new("pdftotext")
            .args(["-layout", "-enc", "UTF-8", "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                panic!("`pdftotext` is not installed: {INSTALL_HINT}")
            }
            Err(e) => panic!("cannot run `pdftotext`: {e}"),
        };
        let mut stdin = child.stdin.take().unwrap();
        let input = pdf.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            output.status.success(),
            "pdftotext failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn party(name: &str, siret: Option<&str>) -> Party {
        Party {
            name: name.into(),
            address: Some("2 rue de la Gare".into()),
            postcode: "70000".into(),
            city: "Vesoul".into(),
            siret: siret.map(str::to_owned),
        }
    }

    /// A serial like the real ones (`7K3M-9QX2-ZA4`), different for each `i`.
    fn serial(i: usize) -> String {
        const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
        let mut n = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8;
        let mut symbols = String::new();
        for _ in 0..11 {
            symbols.push(char::from(ALPHABET[(n % 31) as usize]));
            n /= 31;
        }
        format!("{}-{}-{}", &symbols[0..4], &symbols[4..8], &symbols[8..11])
    }

    /// A commission statement of `count` ticket lines over the programs and sites,
    /// plus a management fee line per program.
    fn statement(count: usize) -> StatementDocument {
        let rate = Decimal::new(4, 2);
        let start = Utc.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap();
        let mut lines: Vec<StatementLine> = (0..count)
            .map(|i| {
                let face_value = Decimal::new(1000 + 100 * (i % 7) as i64, 2);
                StatementLine {
                    program: PROGRAMS[i % 2].into(),
                    site: SITES[i % 4].into(),
                    serial: serial(i),
                    checkbook: format!("CH-2026-{:06}", i / 10),
                    redeemed_at: Some(start + chrono::Duration::minutes(97 * i as i64)),
                    face_value,
                    rate,
                    amount: face_value * rate,
                    label: None,
                }
            })
            .collect();
        if count > 0 {
            for (i, program) in PROGRAMS.iter().enumerate() {
                lines.push(StatementLine {
                    program: (*program).into(),
                    site: String::new(),
                    serial: String::new(),
                    checkbook: String::new(),
                    redeemed_at: None,
                    face_value: Decimal::new(150_000 + i as i64, 2),
                    rate: Decimal::new(25, 3),
                    amount: Decimal::new(3750 + i as i64 * 3, 2),
                    label: Some("Frais de gestion".into()),
                });
            }
        }
        let total = lines.iter().map(|l| l.amount).sum();
        StatementDocument {
            number: "REL-2026-000042".into(),
            kind: StatementKind::Commission,
            issued_on: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            period_start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            period_end: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            issuer: party("Association Numérique Haute-Saône", Some("12345678900012")),
            recipient: party("Association Numérique Haute-Saône", Some("12345678900012")),
            lines,
            total,
            sha256: SHA.into(),
        }
    }

    /// The rows of `text` that hold all of `parts`.
    fn rows_with<'t>(text: &'t str, parts: &[&str]) -> Vec<&'t str> {
        text.lines()
            .filter(|row| parts.iter().all(|p| row.contains(p)))
            .collect()
    }

    #[test]
    fn a_statement_of_several_pages_reads_back() {
        let mut doc = statement(300);
        // Times on both sides of the change to winter time (25/10/2026).
        doc.lines[0].redeemed_at = Some(Utc.with_ymd_and_hms(2026, 10, 15, 12, 30, 0).unwrap());
        doc.lines[1].redeemed_at = Some(Utc.with_ymd_and_hms(2026, 10, 30, 23, 30, 0).unwrap());
        let pdf = render_statement(&doc).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.7"));
        let text = text_of(&pdf);

        assert!(text.contains("REL-2026-000042"), "{text}");
        assert!(text.contains("Relevé de commission"));
        assert!(text.contains("du 01/10/2026 au 31/10/2026"));
        assert!(text.contains("Date d'émission : 03/11/2026"));
        assert!(text.contains("SIRET : 123 456 789 00012"));
        assert!(text.contains(&format!("Empreinte SHA-256 : {SHA}")));
        assert!(text.contains("Date, cachet et signature"));
        assert!(text.contains("Nombre de lignes : 302"));
        for (i, line) in doc.lines.iter().enumerate().take(300) {
            assert!(
                text.contains(&line.serial),
                "serial {i} {} missing",
                line.serial
            );
        }
        assert_eq!(
            rows_with(
                &text,
                &["Frais de gestion", "1 500,00 €", "2,50 %", "37,50 €"]
            )
            .len(),
            1
        );
        assert_eq!(
            rows_with(&text, &[&doc.lines[0].serial, "15/10/2026 14:30", "4,00 %"]).len(),
            1
        );
        assert_eq!(
            rows_with(&text, &[&doc.lines[1].serial, "31/10/2026 00:30"]).len(),
            1
        );

        // The total, in French, on the first page and in the closing formula.
        let total = format_euros(doc.total);
        assert!(total.contains(' ') && total.contains(','), "{total}");
        assert!(text.contains(&total));
        assert!(text.contains(&format!("à la somme de {total}.")));

        // Each subtotal, with its number of lines.
        for (label, key) in [("program", 0), ("site", 1)] {
            let mut expected: HashMap<&str, (usize, Decimal)> = HashMap::new();
            for line in &doc.lines {
                let name = match (key, line.site.as_str()) {
                    (0, _) => line.program.as_str(),
                    (_, "") => "Frais de gestion",
                    (_, site) => site,
                };
                let entry = expected.entry(name).or_default();
                entry.0 += 1;
                entry.1 += line.amount;
            }
            for (name, (count, amount)) in expected {
                let found = rows_with(&text, &[name, &format!(" {count} "), &format_euros(amount)]);
                assert_eq!(found.len(), 1, "{label} subtotal of {name}: {found:?}");
            }
        }

        // Pages: numbered, each with the table header repeated.
        let pages = text.matches('\u{c}').count() + usize::from(!text.ends_with('\u{c}'));
        assert!(pages >= 4, "{pages} pages");
        assert!(text.contains("page 1/"));
        for page in 1..=pages {
            assert!(
                text.contains(&format!("page {page}/{pages}")),
                "page {page}/{pages}"
            );
        }
        let page_texts: Vec<&str> = text
            .split('\u{c}')
            .filter(|p| !p.trim().is_empty())
            .collect();
        assert_eq!(page_texts.len(), pages);
        let with_lines: Vec<&&str> = page_texts
            .iter()
            .filter(|p| {
                doc.lines
                    .iter()
                    .any(|l| !l.serial.is_empty() && p.contains(&l.serial))
            })
            .collect();
        assert!(with_lines.len() >= 3);
        for page in with_lines {
            assert!(
                page.contains("N° de chèque") && page.contains("Encaissé le"),
                "{page}"
            );
            assert!(page.contains(SHA), "{page}");
        }
    }

    #[test]
    fn lines_that_do_not_add_up_are_refused() {
        let mut doc = statement(20);
        doc.total += Decimal::new(1, 2);
        let error = render_statement(&doc).unwrap_err();
        match error.downcast_ref::<StatementError>() {
            Some(StatementError::LinesDoNotAddUp {
                number,
                lines_total,
                total,
            }) => {
                assert_eq!(number, "REL-2026-000042");
                assert_eq!(*total - *lines_total, Decimal::new(1, 2));
            }
            other => panic!("{other:?}"),
        }

        let mut doc = statement(0);
        doc.total = Decimal::new(1000, 2);
        assert!(matches!(
            render_statement(&doc).unwrap_err().downcast_ref(),
            Some(StatementError::LinesDoNotAddUp { .. })
        ));

        // Fractions of a cent would print lines that do not visibly add up.
        let mut doc = statement(3);
        doc.lines[1].amount += Decimal::new(4, 3);
        doc.lines[2].amount -= Decimal::new(4, 3);
        assert_eq!(
            render_statement(&doc).unwrap_err().downcast_ref(),
            Some(&StatementError::NotWholeCents {
                number: "REL-2026-000042".into(),
                line: Some(2),
                amount: doc.lines[1].amount,
            })
        );
    }

    #[test]
    fn bad_periods_and_digests_are_refused() {
        let mut doc = statement(1);
        doc.period_end = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        assert!(matches!(
            render_statement(&doc).unwrap_err().downcast_ref(),
            Some(StatementError::InvalidPeriod { .. })
        ));
        let mut doc = statement(1);
        doc.sha256 = "not a digest".into();
        assert!(matches!(
            render_statement(&doc).unwrap_err().downcast_ref(),
            Some(StatementError::InvalidDigest { .. })
        ));
    }

    #[test]
    fn an_empty_statement_renders() {
        let mut doc = statement(0);
        doc.kind = StatementKind::SitePayout;
        doc.recipient = party("Médiathèque de Vesoul", None);
        assert!(doc.lines.is_empty() && doc.total.is_zero());
        let pdf = render_statement(&doc).unwrap();
        let text = text_of(&pdf);
        assert!(text.contains("Relevé de paiement"), "{text}");
        assert!(text.contains("REL-2026-000042"));
        assert!(text.contains("Aucune ligne sur la période."));
        assert!(text.contains("Nombre de lignes : 0"));
        assert!(text.contains("0,00 €"));
        assert!(text.contains("page 1/1"));
        assert!(text.contains("Date, cachet et signature"));
        assert!(!text.contains("Sous-totaux"));
    }

    #[test]
    fn every_kind_has_its_title_and_odd_text_still_prints() {
        let mut doc = statement(3);
        doc.lines[0].site = "Café\u{1F600} «\nchez\u{200b} Zoé»\u{e000}".into();
        doc.recipient.name = "Département\tde la Haute-Saône".into();
        for (kind, title, code) in [
            (
                StatementKind::SitePayout,
                "Relevé de paiement",
                "site_payout",
            ),
            (StatementKind::FunderBill, "Facture", "funder_bill"),
            (
                StatementKind::Commission,
                "Relevé de commission",
                "commission",
            ),
            (StatementKind::CreditNote, "Avoir", "credit_note"),
        ] {
            assert_eq!(StatementKind::from_code(code), Some(kind));
            doc.kind = kind;
            let text = text_of(&render_statement(&doc).unwrap());
            assert!(text.contains(title), "{title}: {text}");
        }
        let text = text_of(&render_statement(&doc).unwrap());
        assert!(text.contains("Café? « chez Zoé»?"), "{text}");
        assert!(text.contains("Département de la Haute-Saône"));
        assert_eq!(StatementKind::from_code("other"), None);
    }

    #[test]
    fn the_same_statement_gives_the_same_bytes() {
        let doc = statement(50);
        assert_eq!(
            render_statement(&doc).unwrap(),
            render_statement(&doc).unwrap()
        );
    }

    #[test]
    fn tables_repeat_their_header_and_titles_never_end_a_page() {
        let doc = statement(2000);
        let layout = Layout::new(&doc, typefaces()).unwrap();
        let pages = paginate(&layout.blocks());
        assert!(pages.len() > 20);
        let mut seen = 0;
        for (index, page) in pages.iter().enumerate() {
            let (first, _) = page[0];
            if index == 0 {
                assert_eq!(first, Block::Masthead);
            } else if page.iter().any(|(b, _)| b.table().is_some()) {
                assert!(
                    matches!(first, Block::TableHeader(_) | Block::Heading(_)),
                    "{first:?}"
                );
            }
            for window in page.windows(2) {
                assert!(window[0].1 + window[0].0.height() <= window[1].1 + 0.01);
            }
            let (last, y) = page[page.len() - 1];
            assert!(y + last.height() <= BOTTOM, "page {index} overflows");
            assert!(!last.keeps_with_next(), "page {index} ends with {last:?}");
            seen += page
                .iter()
                .filter(|(b, _)| matches!(b, Block::Line(_)))
                .count();
        }
        assert_eq!(seen, doc.lines.len());
        assert_eq!(
            pages.last().and_then(|p| p.last()).map(|(b, _)| *b),
            Some(Block::Closing)
        );
    }

    #[test]
    fn subtotals_are_sorted_and_add_up() {
        let doc = statement(40);
        let layout = Layout::new(&doc, typefaces()).unwrap();
        let names: Vec<&str> = layout.sites.iter().map(|g| g.name).collect();
        assert_eq!(
            names,
            [
                "Espace numérique de Gray",
                "France services Luxeuil-les-Bains",
                "Médiathèque de Vesoul",
                "Tiers-lieu de Lure",
                "Frais de gestion"
            ]
        );
        for groups in [&layout.programs, &layout.sites] {
            let sum: Decimal = groups.iter().map(|g| g.amount).sum();
            assert_eq!(sum, doc.total);
            assert_eq!(
                groups.iter().map(|g| g.lines).sum::<usize>(),
                doc.lines.len()
            );
        }
    }

    #[test]
    fn french_formats() {
        assert_eq!(format_rate(Decimal::new(4, 2)), "4,00 %");
        assert_eq!(format_rate(Decimal::new(4, 1)), "40,00 %");
        assert_eq!(format_rate(Decimal::new(3333, 4)), "33,33 %");
        assert_eq!(format_rate(Decimal::new(33335, 5)), "33,335 %");
        assert_eq!(format_rate(Decimal::new(400, 4)), "4,00 %");
        assert_eq!(format_rate(Decimal::ZERO), "0,00 %");
        assert_eq!(format_rate(Decimal::ONE), "100,00 %");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(10_000), "10 000");
        assert_eq!(format_count(1_234_567), "1 234 567");
        assert_eq!(format_siret("123 456 789 00012"), "123 456 789 00012");
        assert_eq!(format_siret("12345678900012"), "123 456 789 00012");
        assert_eq!(format_siret("inconnu"), "inconnu");
        let winter = Utc.with_ymd_and_hms(2026, 11, 23, 13, 5, 0).unwrap();
        assert_eq!(paris_time(winter), "23/11/2026 14:05");
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 13, 5, 0).unwrap();
        assert_eq!(paris_time(summer), "01/07/2026 15:05");
        let faces = typefaces();
        let face = &faces.regular;
        assert!(face.has_glyph(' ') && face.has_glyph('?') && face.has_glyph('…'));
        assert_eq!(printable(face, "Zoé"), "Zoé");
        assert!(matches!(printable(face, "Zoé"), Cow::Borrowed(_)));
        assert_eq!(printable(face, "a\tb\u{200b}c\u{1F600}"), "a bc?");
        assert_eq!(
            printable(&faces.mono_bold, "7K3M-9QX2-ZA4"),
            "7K3M-9QX2-ZA4"
        );
    }

    fn typefaces() -> Typefaces<'static> {
        Typefaces::new(fonts().unwrap()).unwrap()
    }

    #[test]
    fn glyph_ids_agree_with_the_font_metrics() {
        let faces = typefaces();
        for face in [faces.regular, faces.bold, faces.mono_bold] {
            let mut count = 0;
            for c in (0..=0xFFFF_u32).filter_map(char::from_u32) {
                assert_eq!(face.ids.of(c) != 0, face.has_glyph(c), "{c:?}");
                count += usize::from(face.has_glyph(c));
            }
            assert!(count > 1000, "{count}");
        }
        assert_ne!(faces.regular.ids.of('é'), faces.regular.ids.of('e'));
    }

    /// `cargo test --release --lib statement_pdf -- --nocapture` prints the time.
    #[test]
    fn ten_thousand_lines() {
        let doc = statement(10_000);
        let started = Instant::now();
        let pdf = render_statement(&doc).unwrap();
        let elapsed = started.elapsed();
        let pages = Layout::new(&doc, typefaces())
            .map(|l| paginate(&l.blocks()).len())
            .unwrap();
        println!(
            "render_statement: {} lines, {pages} pages, {} KiB in {elapsed:.2?}",
            doc.lines.len(),
            pdf.len() / 1024
        );
        assert!(pages > 100);
    }
}
