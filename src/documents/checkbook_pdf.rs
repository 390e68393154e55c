//! The printable checkbook (*chéquier*): an A4 PDF with one detachable coupon per
//! ticket, drawn with krilla.
//!
//! Layout of a page: 10 mm margins, a grid of 2 columns × 6 rows of 95 × 46 mm
//! cells separated by dashed cut lines. The first page of a checkbook gives its
//! top row to a header (number, program, funders, operator, expiry and the
//! nearest labelled sites), so it holds 10 coupons; continuation pages hold 12.
//! A 10-ticket checkbook is one page. Each coupon has a vector QR code (about
//! 31 mm, one path of filled rectangles, quiet zone inside the cell), the value,
//! the serial in large monospace type, the expiry, the program and the rule of
//! the scheme.
//! A print run puts many checkbooks in one PDF, each starting on a new page,
//! with one bookmark per checkbook.
//!
//! Text is drawn with embedded DejaVu fonts (accents, €) and stays extractable.

use anyhow::Context;
use chrono::NaiveDate;
use krilla::Document;
use krilla::color::rgb;
use krilla::destination::XyzDestination;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::{Stroke, StrokeDash};
use rust_decimal::Decimal;

use super::fonts::{Face, Fonts, fonts};
use super::page::{
    ACCENT, Color, INK, MM, MUTED, PAGE_HEIGHT, PAGE_WIDTH, PANEL, Pen, fill, fit, truncate, wrap,
};
use super::qr::{QUIET_ZONE_MODULES, dark_runs, qr_symbol};
use crate::french;

/// Most tickets one checkbook may hold.
pub const MAX_TICKETS_PER_CHECKBOOK: usize = 20;
/// Most nearby sites listed in a checkbook's header.
pub const MAX_NEARBY_SITES: usize = 5;

/// What is printed for one checkbook.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckbookSheet {
    /// Checkbook number, e.g. `CH-2026-000123`.
    pub number: String,
    /// e.g. `Pass Numérique Haute-Saône 2026`.
    pub program_name: String,
    /// e.g. `["Département de la Haute-Saône", "État"]`.
    pub funders: Vec<String>,
    /// Who runs the scheme.
    pub operator_name: String,
    /// Last day the tickets are valid.
    pub expires_on: NaiveDate,
    /// Pseudonymous reference, printed small for the prescriber.
    pub beneficiary_reference: Option<String>,
    /// The information notice on the person's data ([`beneficiary_notice`]), printed
    /// above the header of the checkbook's first page.
    pub notice: String,
    /// 1 to [`MAX_TICKETS_PER_CHECKBOOK`] tickets.
    pub tickets: Vec<Coupon>,
    /// 0 to [`MAX_NEARBY_SITES`] labelled sites, nearest first.
    pub nearby_sites: Vec<NearbySite>,
}

/// Who the notice names, and the retention delay it announces.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeParties {
    /// The prescriber that issues the checkbook: the person's first contact.
    pub prescriber: Option<String>,
    /// The operator of the scheme (the data controller).
    pub operator: String,
    pub operator_email: Option<String>,
    /// `beneficiary_retention_months`.
    pub retention_months: u32,
}

/// The information notice (RGPD, articles 13 and 14) in plain French: what is kept,
/// why, how long, and whom to ask. One text for the checkbook PDF and its mail.
pub fn beneficiary_notice(parties: &NoticeParties) -> String {
    let prescriber = parties
        .prescriber
        .as_deref()
        .unwrap_or("la structure qui vous a remis ce chéquier");
    let operator = match &parties.operator_email {
        Some(email) => format!("{} ({email})", parties.operator),
        None => parties.operator.clone(),
    };
    format!(
        "Vos données personnelles : {prescriber} enregistre une référence de dossier et, \
         si vous les donnez, votre e-mail, votre année de naissance, votre code postal, \
         votre situation, vos publics et vos besoins. Elles servent à vous remettre et à \
         vous envoyer ce chéquier, et à compter les bénéficiaires (sans vous nommer) pour \
         le dispositif géré par {operator}. Elles sont effacées {} mois après la fin de \
         validité du chéquier ; les montants restent. Pour les consulter, les corriger ou \
         les faire effacer, adressez-vous à {prescriber} ou à {operator}.",
        parties.retention_months
    )
}

/// One ticket of a checkbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Coupon {
    /// Serial grouped for display, e.g. `7K3M-9QX2-ZA4`.
    pub serial: String,
    /// Signed ticket code: the QR payload.
    pub code: String,
    /// Face value in euros.
    pub value: Decimal,
}

/// A labelled training site listed in the header of a checkbook.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbySite {
    pub name: String,
    pub address: Option<String>,
    pub postcode: String,
    pub city: String,
    pub distance_km: Option<f64>,
}

/// Why a checkbook cannot be printed (inputs out of the layout's bounds).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("nothing to print: no checkbook given")]
    NoCheckbook,
    #[error(
        "checkbook {number} has {count} tickets; between 1 and {MAX_TICKETS_PER_CHECKBOOK} can be printed"
    )]
    TicketCount { number: String, count: usize },
    #[error(
        "checkbook {number} lists {count} nearby sites; at most {MAX_NEARBY_SITES} can be printed"
    )]
    TooManySites { number: String, count: usize },
}

// ---------------------------------------------------------------------------
// Geometry, in PDF points (see the page kit, [`super::page`]).

const MARGIN: f32 = 10.0 * MM;
const COLUMNS: usize = 2;
const ROWS: usize = 6;
const CELL_WIDTH: f32 = (PAGE_WIDTH - 2.0 * MARGIN) / COLUMNS as f32;
const CELL_HEIGHT: f32 = (PAGE_HEIGHT - 2.0 * MARGIN) / ROWS as f32;
/// Coupons on the first page of a checkbook (the header takes the top row).
const FIRST_PAGE_SLOTS: usize = (ROWS - 1) * COLUMNS;
/// Coupons on each continuation page.
const NEXT_PAGE_SLOTS: usize = ROWS * COLUMNS;
/// Side of the square, at the left of a coupon, that holds the QR symbol and its
/// 4-module quiet zone: a version 2 symbol (the usual ticket code) is 31 mm wide,
/// a version 1 symbol 29.7 mm, a version 3 symbol 32 mm.
const QR_BOX: f32 = 41.0 * MM;
const COUPON_PADDING: f32 = 4.0 * MM;

const CUT_LINE: Color = (130, 130, 130);

const RULE_OF_THE_SCHEME: &str = "1 chèque = 1 atelier ou 1 heure de formation au numérique";
pub(crate) const HOW_TO_USE: &str = "Remettez un chèque au lieu de formation à chaque atelier ou heure de formation : il le scanne.";
const NO_SITE_LISTED: &str = "Demandez à la personne qui vous a remis ce chéquier la liste des lieux de formation labellisés près de chez vous.";
const SCISSORS: char = '\u{2702}';

/// Renders the checkbooks into one A4 PDF, each checkbook starting on a new page.
pub fn render_checkbooks(sheets: &[CheckbookSheet]) -> anyhow::Result<Vec<u8>> {
    if sheets.is_empty() {
        return Err(DocumentError::NoCheckbook.into());
    }
    for sheet in sheets {
        validate(sheet)?;
    }
    let fonts = fonts()?;
    let mut document = Document::new();
    document.set_metadata(metadata(sheets));

    let mut outline = Outline::new();
    let mut page_index = 0;
    for sheet in sheets {
        outline.push_child(OutlineNode::new(
            format!("Chéquier {}", sheet.number),
            XyzDestination::new(page_index, Point::from_xy(0.0, 0.0)),
        ));
        page_index += render_sheet(&mut document, fonts, sheet)
            .with_context(|| format!("rendering checkbook {}", sheet.number))?;
    }
    if sheets.len() > 1 {
        document.set_outline(outline);
    }
    document
        .finish()
        .map_err(|e| anyhow::anyhow!("cannot write the checkbook PDF: {e:?}"))
}

fn validate(sheet: &CheckbookSheet) -> Result<(), DocumentError> {
    let count = sheet.tickets.len();
    if count == 0 || count > MAX_TICKETS_PER_CHECKBOOK {
        return Err(DocumentError::TicketCount {
            number: sheet.number.clone(),
            count,
        });
    }
    if sheet.nearby_sites.len() > MAX_NEARBY_SITES {
        return Err(DocumentError::TooManySites {
            number: sheet.number.clone(),
            count: sheet.nearby_sites.len(),
        });
    }
    Ok(())
}

fn metadata(sheets: &[CheckbookSheet]) -> Metadata {
    let title = match sheets {
        [one] => format!("Chéquier {} – {}", one.number, one.program_name),
        many => format!("Pass Numérique – impression de {} chéquiers", many.len()),
    };
    Metadata::new()
        .title(title)
        .language("fr-FR".to_owned())
        .creator("passnum".to_owned())
}

/// Pages needed for `tickets` coupons.
fn page_count(tickets: usize) -> usize {
    1 + tickets
        .saturating_sub(FIRST_PAGE_SLOTS)
        .div_ceil(NEXT_PAGE_SLOTS)
}

/// Draws one checkbook on new pages; returns how many pages it took.
fn render_sheet(
    document: &mut Document,
    fonts: &Fonts,
    sheet: &CheckbookSheet,
) -> anyhow::Result<usize> {
    let pages = page_count(sheet.tickets.len());
    let mut remaining = sheet.tickets.as_slice();
    for page_number in 1..=pages {
        let first = page_number == 1;
        let slots = if first {
            FIRST_PAGE_SLOTS
        } else {
            NEXT_PAGE_SLOTS
        };
        let (on_page, rest) = remaining.split_at(slots.min(remaining.len()));
        remaining = rest;

        let mut page = document.start_page_with(PageSettings::new(PAGE_WIDTH, PAGE_HEIGHT));
        let mut surface = page.surface();
        let mut pen = Pen {
            surface: &mut surface,
            fonts,
        };
        let first_row = if first {
            draw_notice(&mut pen, sheet);
            draw_header(&mut pen, sheet);
            1
        } else {
            0
        };
        for (slot, coupon) in on_page.iter().enumerate() {
            let row = first_row + slot / COLUMNS;
            let column = slot % COLUMNS;
            let x = MARGIN + column as f32 * CELL_WIDTH;
            let y = MARGIN + row as f32 * CELL_HEIGHT;
            draw_coupon(&mut pen, x, y, coupon, sheet)
                .with_context(|| format!("coupon {}", coupon.serial))?;
        }
        draw_cut_lines(&mut pen, first_row, on_page.len());
        draw_footer(&mut pen, sheet, page_number, pages);
        surface.finish();
        page.finish();
    }
    Ok(pages)
}

/// The information notice, in the top margin of a checkbook's first page: the whole
/// text, in the largest size from 6 points down to 4.5 that fits the margin.
fn draw_notice(pen: &mut Pen, sheet: &CheckbookSheet) {
    let fonts = pen.fonts;
    let width = PAGE_WIDTH - 2.0 * MARGIN;
    let mut size = 6.0;
    let lines = loop {
        let lines = wrap(&fonts.regular, &sheet.notice, size, width, 6);
        if lines.len() as f32 * size * 1.2 <= MARGIN - 4.0 || size <= 4.5 {
            break lines;
        }
        size -= 0.5;
    };
    let mut y = 2.0;
    for line in lines {
        y += size * 1.2;
        pen.text(&fonts.regular, size, MUTED, MARGIN, y, &line);
    }
}

/// The first block of a checkbook, in the top row of its first page.
fn draw_header(pen: &mut Pen, sheet: &CheckbookSheet) {
    let fonts = pen.fonts;
    let (x, y) = (MARGIN, MARGIN);
    let left_width = CELL_WIDTH - 2.0 * COUPON_PADDING;
    let lx = x + COUPON_PADDING;
    let mut cursor = y + 2.0;

    cursor += 11.0;
    pen.text(&fonts.bold, 9.0, ACCENT, lx, cursor, "PASS NUMÉRIQUE");
    cursor += 15.0;
    let (program, size) = fit(&fonts.bold, &sheet.program_name, 13.0, 9.0, left_width);
    pen.text(&fonts.bold, size, INK, lx, cursor, &program);

    cursor += 16.0;
    let label = "Chéquier n° ";
    pen.text(&fonts.regular, 9.0, INK, lx, cursor, label);
    let nx = lx + fonts.regular.width(label, 9.0);
    let (number, size) = fit(
        &fonts.mono_bold,
        &sheet.number,
        12.0,
        8.0,
        lx + left_width - nx,
    );
    pen.text(&fonts.mono_bold, size, INK, nx, cursor, &number);

    cursor += 12.0;
    let line = format!("Valable jusqu’au {}", french::date(sheet.expires_on));
    pen.text(&fonts.bold, 8.5, INK, lx, cursor, &line);
    cursor += 11.0;
    let line = truncate(
        &fonts.regular,
        &ticket_summary(&sheet.tickets),
        8.0,
        left_width,
    );
    pen.text(&fonts.regular, 8.0, INK, lx, cursor, &line);

    cursor += 2.0;
    let funders = format!("Financé par : {}", sheet.funders.join(", "));
    for line in wrap(&fonts.regular, &funders, 7.5, left_width, 2) {
        cursor += 9.5;
        pen.text(&fonts.regular, 7.5, INK, lx, cursor, &line);
    }
    let operator = format!("Géré par : {}", sheet.operator_name);
    for line in wrap(&fonts.regular, &operator, 7.5, left_width, 1) {
        cursor += 9.5;
        pen.text(&fonts.regular, 7.5, INK, lx, cursor, &line);
    }

    // The beneficiary's reference sits at the bottom; the instructions fill what is left.
    let bottom = y + CELL_HEIGHT - 6.0;
    let reference_line = sheet
        .beneficiary_reference
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| truncate(&fonts.regular, &format!("Réf. : {r}"), 6.0, left_width));
    let last_instruction = if reference_line.is_some() {
        bottom - 9.0
    } else {
        bottom
    };
    let (size, lines) = whole_paragraph(
        &fonts.regular,
        HOW_TO_USE,
        left_width,
        last_instruction - cursor - 2.0,
    );
    let leading = size * 1.2;
    for line in lines {
        cursor += leading;
        pen.text(&fonts.regular, size, MUTED, lx, cursor, &line);
    }
    if let Some(line) = reference_line {
        pen.text(&fonts.regular, 6.0, MUTED, lx, bottom, &line);
    }

    draw_nearby_sites(pen, x + CELL_WIDTH, y, &sheet.nearby_sites);
}

/// `text` wrapped to `width` in the largest size from 7 points down to 5 whose lines
/// (leading 1.2) fit in `height`: the whole sentence is printed, never cut off.
fn whole_paragraph(face: &Face, text: &str, width: f32, height: f32) -> (f32, Vec<String>) {
    let mut size = 7.0;
    loop {
        let lines = wrap(face, text, size, width, 8);
        let fits = lines.len() as f32 * size * 1.2 <= height;
        if fits || size <= 5.0 {
            return (size, lines);
        }
        size -= 0.5;
    }
}

/// "Où utiliser vos chèques": the right half of the header.
fn draw_nearby_sites(pen: &mut Pen, x: f32, y: f32, sites: &[NearbySite]) {
    let fonts = pen.fonts;
    let top = y + 2.0;
    let height = CELL_HEIGHT - 6.0;
    pen.rect(PANEL, x, top, CELL_WIDTH, height);
    let px = x + COUPON_PADDING;
    let width = CELL_WIDTH - 2.0 * COUPON_PADDING;
    let mut cursor = top + 14.0;
    pen.text(
        &fonts.bold,
        10.0,
        ACCENT,
        px,
        cursor,
        "Où utiliser vos chèques",
    );
    cursor += 1.0;
    if sites.is_empty() {
        for line in wrap(&fonts.regular, NO_SITE_LISTED, 7.5, width, 3) {
            cursor += 10.0;
            pen.text(&fonts.regular, 7.5, INK, px, cursor, &line);
        }
        return;
    }
    for site in sites {
        cursor += 10.0;
        let distance = site
            .distance_km
            .and_then(french::distance_km)
            .map(|d| format!("à {d}"))
            .unwrap_or_default();
        let distance_width = fonts.regular.width(&distance, 7.5);
        if !distance.is_empty() {
            let dx = px + width - distance_width;
            pen.text(&fonts.regular, 7.5, ACCENT, dx, cursor, &distance);
        }
        let name_width = width - distance_width - if distance.is_empty() { 0.0 } else { 6.0 };
        let name = truncate(&fonts.bold, &site.name, 7.5, name_width);
        pen.text(&fonts.bold, 7.5, INK, px, cursor, &name);

        cursor += 9.0;
        let place = format!("{} {}", site.postcode, site.city);
        let address = match site.address.as_deref().filter(|a| !a.is_empty()) {
            Some(street) => format!("{street}, {place}"),
            None => place,
        };
        let address = truncate(&fonts.regular, &address, 7.0, width);
        pen.text(&fonts.regular, 7.0, MUTED, px, cursor, &address);
        cursor += 2.0;
    }
}

/// One detachable coupon in the cell whose top left corner is `(x, y)`.
fn draw_coupon(
    pen: &mut Pen,
    x: f32,
    y: f32,
    coupon: &Coupon,
    sheet: &CheckbookSheet,
) -> anyhow::Result<()> {
    let fonts = pen.fonts;
    draw_qr(pen, x, y + (CELL_HEIGHT - QR_BOX) / 2.0, &coupon.code)?;

    let tx = x + QR_BOX;
    let width = x + CELL_WIDTH - COUPON_PADDING - tx;
    let mut cursor = y + 7.0;

    for line in wrap(&fonts.bold, &sheet.program_name, 7.5, width, 2) {
        cursor += 9.0;
        pen.text(&fonts.bold, 7.5, ACCENT, tx, cursor, &line);
    }
    cursor += 23.0;
    let value = french::euros(coupon.value);
    let (value, size) = fit(&fonts.bold, &value, 22.0, 12.0, width);
    pen.text(&fonts.bold, size, INK, tx, cursor, &value);

    cursor += 10.0;
    pen.text(&fonts.regular, 6.0, MUTED, tx, cursor, "N° du chèque");
    cursor += 15.0;
    let (serial, size) = fit(&fonts.mono_bold, &coupon.serial, 15.0, 9.0, width);
    pen.text(&fonts.mono_bold, size, INK, tx, cursor, &serial);

    cursor += 12.0;
    let validity = format!("Valable jusqu’au {}", french::date(sheet.expires_on));
    let validity = truncate(&fonts.bold, &validity, 7.5, width);
    pen.text(&fonts.bold, 7.5, INK, tx, cursor, &validity);
    cursor += 1.0;
    for line in wrap(&fonts.regular, RULE_OF_THE_SCHEME, 6.5, width, 2) {
        cursor += 8.0;
        pen.text(&fonts.regular, 6.5, INK, tx, cursor, &line);
    }
    let number = truncate(
        &fonts.regular,
        &format!("Chéquier {}", sheet.number),
        6.0,
        width,
    );
    pen.text(
        &fonts.regular,
        6.0,
        MUTED,
        tx,
        y + CELL_HEIGHT - 6.0,
        &number,
    );
    Ok(())
}

/// The QR symbol of `code` as one vector path of filled rectangles, centred
/// in the `QR_BOX` square whose top left corner is `(x, y)`, with the quiet
/// zone left blank around it.
fn draw_qr(pen: &mut Pen, x: f32, y: f32, code: &str) -> anyhow::Result<()> {
    let symbol = qr_symbol(code)?;
    let modules = symbol.width() + 2 * QUIET_ZONE_MODULES;
    let module = QR_BOX / modules as f32;
    let x = x + QUIET_ZONE_MODULES as f32 * module;
    let y = y + QUIET_ZONE_MODULES as f32 * module;
    let mut builder = PathBuilder::new();
    for (row, column, length) in dark_runs(&symbol) {
        let rect = Rect::from_xywh(
            x + column as f32 * module,
            y + row as f32 * module,
            length as f32 * module,
            module,
        );
        if let Some(rect) = rect {
            builder.push_rect(rect);
        }
    }
    let path = builder.finish().context("the QR code has no dark module")?;
    pen.surface.set_fill(Some(fill((0, 0, 0))));
    pen.surface.draw_path(&path);
    Ok(())
}

/// Dashed cut lines around the `coupons` cells that start at row `first_row`,
/// and a pair of scissors at the left end of each horizontal line.
fn draw_cut_lines(pen: &mut Pen, first_row: usize, coupons: usize) {
    if coupons == 0 {
        return;
    }
    let rows = coupons.div_ceil(COLUMNS);
    // Columns used by row `r` (counted from `first_row`): full rows, then the rest.
    let used = |r: usize| -> usize {
        if r < rows {
            COLUMNS.min(coupons - r * COLUMNS)
        } else {
            0
        }
    };
    let mut builder = PathBuilder::new();
    let mut scissors = Vec::new();
    for boundary in 0..=rows {
        // The line above row `boundary` spans the columns of the wider neighbour.
        let columns = if boundary == 0 {
            used(0)
        } else {
            used(boundary - 1)
        };
        let y = MARGIN + (first_row + boundary) as f32 * CELL_HEIGHT;
        builder.move_to(MARGIN, y);
        builder.line_to(MARGIN + columns as f32 * CELL_WIDTH, y);
        scissors.push(y);
    }
    for line in 0..=COLUMNS {
        // Rows in which the vertical line `line` borders a coupon.
        let spans = (0..rows)
            .filter(|&r| (line > 0 && line - 1 < used(r)) || line < used(r))
            .count();
        if spans == 0 {
            continue;
        }
        let x = MARGIN + line as f32 * CELL_WIDTH;
        let top = MARGIN + first_row as f32 * CELL_HEIGHT;
        builder.move_to(x, top);
        builder.line_to(x, top + spans as f32 * CELL_HEIGHT);
    }
    if let Some(path) = builder.finish() {
        pen.surface.set_fill(None);
        pen.surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(CUT_LINE.0, CUT_LINE.1, CUT_LINE.2).into(),
            width: 0.6,
            dash: Some(StrokeDash {
                array: vec![4.0, 3.0],
                offset: 0.0,
            }),
            ..Stroke::default()
        }));
        pen.surface.draw_path(&path);
        pen.surface.set_stroke(None);
    }
    let fonts = pen.fonts;
    if fonts.regular.has_glyph(SCISSORS) {
        let mark = SCISSORS.to_string();
        for y in scissors {
            pen.text(&fonts.regular, 9.0, CUT_LINE, MARGIN - 12.0, y + 3.2, &mark);
        }
    }
}

fn draw_footer(pen: &mut Pen, sheet: &CheckbookSheet, page_number: usize, pages: usize) {
    let fonts = pen.fonts;
    let y = PAGE_HEIGHT - MARGIN + 13.0;
    let half = PAGE_WIDTH / 2.0 - MARGIN - 10.0;
    let left = truncate(
        &fonts.regular,
        &format!("Pass Numérique · {}", sheet.operator_name),
        6.5,
        half,
    );
    pen.text(&fonts.regular, 6.5, MUTED, MARGIN, y, &left);
    let right = format!("Chéquier {} · page {page_number}/{pages}", sheet.number);
    let right = truncate(&fonts.regular, &right, 6.5, half);
    let rx = PAGE_WIDTH - MARGIN - fonts.regular.width(&right, 6.5);
    pen.text(&fonts.regular, 6.5, MUTED, rx, y, &right);
}

/// "10 chèques de 10,00 € – total 100,00 €", or without the unit value when values differ.
fn ticket_summary(tickets: &[Coupon]) -> String {
    let count = tickets.len();
    let total: Decimal = tickets.iter().map(|t| t.value).sum();
    let noun = if count > 1 { "chèques" } else { "chèque" };
    match tickets.first() {
        Some(first) if tickets.iter().all(|t| t.value == first.value) && count > 1 => format!(
            "{count} {noun} de {} – total {}",
            french::euros(first.value),
            french::euros(total)
        ),
        _ => format!("{count} {noun} – total {}", french::euros(total)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_ten_then_twelve_coupons() {
        assert_eq!(page_count(1), 1);
        assert_eq!(page_count(10), 1);
        assert_eq!(page_count(11), 2);
        assert_eq!(page_count(20), 2);
        assert_eq!(page_count(22), 2);
        assert_eq!(page_count(23), 3);
    }

    #[test]
    fn summary_names_the_unit_value_when_all_tickets_are_equal() {
        let ticket = |value: i64| Coupon {
            serial: "7K3M-9QX2-ZA4".into(),
            code: "PN1K1-7K3M9QX2ZA4".into(),
            value: Decimal::new(value, 2),
        };
        assert_eq!(
            ticket_summary(&[ticket(1000), ticket(1000)]),
            "2 chèques de 10,00 € – total 20,00 €"
        );
        assert_eq!(
            ticket_summary(&[ticket(1000), ticket(500)]),
            "2 chèques – total 15,00 €"
        );
        assert_eq!(ticket_summary(&[ticket(1000)]), "1 chèque – total 10,00 €");
    }

    #[test]
    fn out_of_bounds_inputs_are_refused() {
        let sheet = CheckbookSheet {
            number: "CH-1".into(),
            program_name: "P".into(),
            funders: vec![],
            operator_name: "O".into(),
            expires_on: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
            beneficiary_reference: None,
            notice: String::new(),
            tickets: vec![],
            nearby_sites: vec![],
        };
        let error = render_checkbooks(std::slice::from_ref(&sheet)).unwrap_err();
        assert_eq!(
            error.downcast_ref::<DocumentError>(),
            Some(&DocumentError::TicketCount {
                number: "CH-1".into(),
                count: 0
            })
        );
        let error = render_checkbooks(&[]).unwrap_err();
        assert_eq!(
            error.downcast_ref::<DocumentError>(),
            Some(&DocumentError::NoCheckbook)
        );
    }
}
