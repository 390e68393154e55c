//! How a statement is laid out: its geometry, its tables, the blocks that flow
//! down its pages (paginated by the page kit, [`crate::documents::page`]) and how
//! each block is drawn. What is printed is described in the parent module.

use std::borrow::Cow;
use std::collections::HashMap;

use rust_decimal::Decimal;

use super::super::fonts::{Fonts, printable};
use super::super::page::{
    ACCENT, Align, CELL_PADDING, Color, Column, Flow, INK, MM, MUTED, PAGE_HEIGHT, PAGE_WIDTH,
    PANEL, Pen, Style, cell, columns, fit_text, paginate, show, show_fitted, show_right, truncate,
    wrap,
};
use super::{Party, StatementDocument, StatementError, StatementLine, format_siret, period_text};
use crate::french::{self, TimeStyle};

// ---------------------------------------------------------------------------
// Geometry, in PDF points, origin at the top left, y downwards.

const MARGIN: f32 = 12.0 * MM;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const RIGHT: f32 = PAGE_WIDTH - MARGIN;
/// Height kept at the bottom of each page for the footer.
const FOOTER_HEIGHT: f32 = 28.0;
/// Where the content of a page ends.
pub(super) const BOTTOM: f32 = PAGE_HEIGHT - MARGIN - FOOTER_HEIGHT;
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

const STRIPE: Color = (244, 246, 249);
const RULE: Color = (170, 178, 190);

const NO_LINES: &str = "Aucune ligne sur la période.";
const SIGNATURE_LABEL: &str = "Date, cachet et signature";

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
        MARGIN,
        CONTENT_WIDTH,
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
        MARGIN,
        CONTENT_WIDTH,
    )
}

// ---------------------------------------------------------------------------
// Content: the blocks that flow down the pages.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    Programs,
    Sites,
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Programs,
    Sites,
    Lines,
}

impl Section {
    pub(super) fn title(self) -> &'static str {
        match self {
            Section::Programs => "Sous-totaux par dispositif",
            Section::Sites => "Sous-totaux par lieu",
            Section::Lines => "Détail des lignes",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
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
    /// The table a row belongs to: its header is repeated when a page starts with it.
    pub(super) fn table(self) -> Option<Table> {
        match self {
            Block::Group(table, _) | Block::GroupTotal(table) => Some(table),
            Block::Line(_) | Block::Program { .. } => Some(Table::Lines),
            _ => None,
        }
    }
}

impl Flow for Block {
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

    /// Headings, table headers and a program's name never end a page.
    fn keeps_with_next(self) -> bool {
        matches!(
            self,
            Block::Heading(_) | Block::TableHeader(_) | Block::Program { .. }
        )
    }

    /// A table going on: its header, and the program of the lines.
    fn carried_over(self) -> Vec<Block> {
        let mut repeated = Vec::new();
        if let Some(table) = self.table() {
            repeated.push(Block::TableHeader(table));
        }
        if let Block::Line(line) = self {
            repeated.push(Block::Program {
                line,
                continued: true,
            });
        }
        repeated
    }
}

/// Lines of a statement gathered under one name.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Group<'a> {
    pub(super) name: &'a str,
    pub(super) lines: usize,
    pub(super) amount: Decimal,
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
pub(super) struct Layout<'a> {
    doc: &'a StatementDocument,
    fonts: &'a Fonts,
    pub(super) programs: Vec<Group<'a>>,
    pub(super) sites: Vec<Group<'a>>,
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
    pub(super) fn new(
        doc: &'a StatementDocument,
        fonts: &'a Fonts,
    ) -> Result<Layout<'a>, StatementError> {
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
            running_title: format!("{} n° {}", doc.title(), doc.number),
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

    /// The blocks of each page, with the `y` of their top.
    pub(super) fn pages(&self) -> Vec<Vec<(Block, f32)>> {
        paginate(&self.blocks(), MARGIN, MARGIN + RUNNING_HEADER, BOTTOM)
    }

    /// The content, in order.
    pub(super) fn blocks(&self) -> Vec<Block> {
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

    pub(super) fn draw(&self, pen: &mut Pen, block: Block, y: f32) {
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
        let title = fit_text(&fonts.bold, doc.title(), 20.0, title_width);
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
        let issued = format!("Date d’émission : {}", french::date(doc.issued_on));
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
        let notes = doc.total_notes();
        let (label_y, note_step) = if notes.len() > 1 {
            (15.0, 11.5)
        } else {
            (19.0, 15.0)
        };
        show(
            pen,
            Style(&fonts.bold, 10.0, INK),
            lx,
            top + label_y,
            doc.total_label(),
        );
        let notes_width = CONTENT_WIDTH - 150.0;
        for (i, note) in notes.iter().enumerate() {
            show_fitted(
                pen,
                Style(&fonts.regular, 8.0, MUTED),
                lx,
                top + label_y + note_step * (i as f32 + 1.0),
                notes_width,
                note,
            );
        }
        let total = french::euros(doc.headline_amount());
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
            Cow::Owned(french::count(group.lines)),
            Cow::Owned(french::euros(group.amount)),
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
                &french::date_time(at, TimeStyle::Column),
            );
        }
        let face_value = french::euros(line.face_value);
        cell(pen, regular, &columns[FACE_VALUE], baseline, &face_value);
        cell(
            pen,
            regular,
            &columns[RATE],
            baseline,
            &french::rate(line.rate),
        );
        cell(
            pen,
            bold,
            &columns[AMOUNT],
            baseline,
            &french::euros(line.amount),
        );
    }

    fn closing(&self, pen: &mut Pen, y: f32) {
        let fonts = self.fonts;
        let doc = self.doc;
        hrule(pen, RULE, 0.6, y + 8.0);
        let sentence = doc.closing_sentence();
        let mut cursor = y + 12.0;
        for line in wrap(&fonts.regular, &sentence, 9.0, CONTENT_WIDTH, 2) {
            cursor += 12.0;
            show(pen, Style(&fonts.regular, 9.0, INK), MARGIN, cursor, &line);
        }
        let top = y + 46.0;
        let left = RIGHT - SIGNATURE_WIDTH;
        pen.frame(INK, 0.8, left, top, SIGNATURE_WIDTH, SIGNATURE_HEIGHT);
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
        if let Some(account) = &doc.payout_account {
            let line = format!("Virement sur le compte {account}");
            let line = printable(&fonts.bold, &line);
            show_fitted(
                pen,
                Style(&fonts.bold, 8.0, INK),
                MARGIN,
                cursor,
                width,
                &line,
            );
            cursor += 14.0;
        }
        for line in wrap(&fonts.regular, &issuer, 8.0, width, 2) {
            show(pen, Style(&fonts.regular, 8.0, INK), MARGIN, cursor, &line);
            cursor += 10.5;
        }
    }

    pub(super) fn running_header(&self, pen: &mut Pen) {
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

    pub(super) fn footer(&self, pen: &mut Pen, page: usize, pages: usize) {
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
        let issued = format!("Émis le {}", french::date(doc.issued_on));
        show_right(
            pen,
            Style(&fonts.regular, FOOTER_TEXT, MUTED),
            RIGHT,
            second,
            &issued,
        );
    }
}

/// A horizontal line across the page at `y`.
fn hrule(pen: &mut Pen, color: Color, width: f32, y: f32) {
    pen.hline(color, width, MARGIN, RIGHT, y);
}
