//! The page kit: what both printed documents (the checkbook and the statement)
//! use to lay out an A4 page with krilla.
//!
//! - Geometry and colours: PDF points (1/72 inch), origin at the top left, y
//!   downwards; [`MM`], the A4 page, the scheme's ink, accent, muted and panel
//!   colours.
//! - A [`Pen`] bound to one page: filled rectangles, rules and frames, and text in
//!   two ways: [`Pen::text`] shapes it with krilla (few strings, any script), and
//!   [`draw`] and the functions built on it ([`show`], [`show_right`],
//!   [`show_fitted`], [`cell`]) place one glyph per character with the font's own
//!   advances, for the thousands of table cells of a long statement (shaping each
//!   string parsed the font's layout tables at every call: 80 % of the time).
//! - Text that must fit: [`truncate`] with an ellipsis, [`wrap`] over lines, [`fit`]
//!   by shrinking the size.
//! - Tables: [`Column`]s laid side by side ([`columns`]) and [`cell`]s in them.
//! - Flowing content: [`paginate`] puts blocks ([`Flow`]) on pages, keeps a block
//!   with the next one when it must, and repeats a table's header at the top of a
//!   page the table continues on.
//!
//! Glyphs and widths come from [`super::fonts`].

use std::borrow::Cow;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::surface::Surface;
use krilla::text::{GlyphId, KrillaGlyph, TextDirection};

use super::fonts::{Face, Fonts, printable};

// ---------------------------------------------------------------------------
// Geometry and colours.

/// One millimetre in PDF points.
pub(crate) const MM: f32 = 72.0 / 25.4;
pub(crate) const PAGE_WIDTH: f32 = 210.0 * MM;
pub(crate) const PAGE_HEIGHT: f32 = 297.0 * MM;

/// An RGB colour.
pub(crate) type Color = (u8, u8, u8);

pub(crate) const INK: Color = (25, 25, 25);
pub(crate) const ACCENT: Color = (0, 72, 150);
pub(crate) const MUTED: Color = (95, 95, 95);
pub(crate) const PANEL: Color = (236, 242, 250);

pub(crate) fn fill((r, g, b): Color) -> Fill {
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

pub(crate) fn stroke(color: Color, width: f32) -> Stroke {
    Stroke {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        width,
        ..Stroke::default()
    }
}

// ---------------------------------------------------------------------------
// The pen.

/// Drawing helpers bound to one page.
pub(crate) struct Pen<'a, 'p> {
    pub(crate) surface: &'a mut Surface<'p>,
    pub(crate) fonts: &'a Fonts,
}

impl Pen<'_, '_> {
    /// `text` shaped by krilla, its baseline starting at `(x, y)`.
    pub(crate) fn text(
        &mut self,
        face: &Face,
        size: f32,
        color: Color,
        x: f32,
        y: f32,
        text: &str,
    ) {
        if text.is_empty() {
            return;
        }
        self.surface.set_fill(Some(fill(color)));
        self.surface.draw_text(
            Point::from_xy(x, y),
            face.font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
    }

    /// A filled rectangle whose top left corner is `(x, y)`.
    pub(crate) fn rect(&mut self, color: Color, x: f32, y: f32, width: f32, height: f32) {
        let mut builder = PathBuilder::new();
        if let Some(rect) = Rect::from_xywh(x, y, width, height) {
            builder.push_rect(rect);
        }
        if let Some(path) = builder.finish() {
            self.surface.set_fill(Some(fill(color)));
            self.surface.draw_path(&path);
        }
    }

    /// A horizontal line from `left` to `right` at `y`.
    pub(crate) fn hline(&mut self, color: Color, width: f32, left: f32, right: f32, y: f32) {
        let mut builder = PathBuilder::new();
        builder.move_to(left, y);
        builder.line_to(right, y);
        if let Some(path) = builder.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(stroke(color, width)));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
    }

    /// The outline of a rectangle whose top left corner is `(x, y)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn frame(&mut self, color: Color, width: f32, x: f32, y: f32, w: f32, h: f32) {
        let mut builder = PathBuilder::new();
        builder.move_to(x, y);
        builder.line_to(x + w, y);
        builder.line_to(x + w, y + h);
        builder.line_to(x, y + h);
        builder.close();
        if let Some(path) = builder.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(stroke(color, width)));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
    }
}

// ---------------------------------------------------------------------------
// Unshaped text: one glyph per character.

/// A face, a size in points and a colour.
#[derive(Clone, Copy)]
pub(crate) struct Style<'f>(pub(crate) &'f Face, pub(crate) f32, pub(crate) Color);

/// Draws printable `text` with its baseline at `y`: one glyph per character, no
/// shaping (no ligature, no mark, left to right), the font's own advances.
pub(crate) fn draw(pen: &mut Pen, Style(face, size, color): Style, x: f32, y: f32, text: &str) {
    if text.is_empty() {
        return;
    }
    let mut buffer = [0; 4];
    let glyphs: Vec<KrillaGlyph> = text
        .char_indices()
        .map(|(at, c)| KrillaGlyph {
            glyph_id: GlyphId::new(u32::from(face.glyph_id(c))),
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
    let font = face.font.clone();
    pen.surface
        .draw_glyphs(start, &glyphs, font, text, size, false);
}

/// Draws `text` (made printable) with its baseline at `y`.
pub(crate) fn show(pen: &mut Pen, style: Style, x: f32, y: f32, text: &str) {
    draw(pen, style, x, y, &printable(style.0, text));
}

/// Draws `text` (made printable) ending at `right`.
pub(crate) fn show_right(pen: &mut Pen, style: Style, right: f32, y: f32, text: &str) {
    let Style(face, size, _) = style;
    let text = printable(face, text);
    draw(pen, style, right - face.width(&text, size), y, &text);
}

/// Draws `text` (made printable), shortened with an ellipsis to `width`.
pub(crate) fn show_fitted(pen: &mut Pen, style: Style, x: f32, y: f32, width: f32, text: &str) {
    let Style(face, size, _) = style;
    draw(pen, style, x, y, &fit_text(face, text, size, width));
}

/// `text` made printable and shortened to `width` at `size`.
pub(crate) fn fit_text(face: &Face, text: &str, size: f32, width: f32) -> String {
    truncate(face, &printable(face, text), size, width)
}

// ---------------------------------------------------------------------------
// Text that must fit.

/// `text` at the largest size between `min_size` and `max_size` that fits in
/// `max_width`, shortened with an ellipsis if even `min_size` is too wide.
pub(crate) fn fit(
    face: &Face,
    text: &str,
    max_size: f32,
    min_size: f32,
    max_width: f32,
) -> (String, f32) {
    let width = face.width(text, max_size);
    if width <= max_width {
        return (text.to_owned(), max_size);
    }
    let size = (max_size * max_width / width).max(min_size);
    (truncate(face, text, size, max_width), size)
}

/// `text`, shortened with an ellipsis to fit in `max_width`.
pub(crate) fn truncate(face: &Face, text: &str, size: f32, max_width: f32) -> String {
    if face.width(text, size) <= max_width {
        return text.to_owned();
    }
    let budget = max_width - face.width("…", size);
    let mut used = 0.0;
    let mut out = String::new();
    for c in text.chars() {
        let w = face.width(c.encode_utf8(&mut [0; 4]), size);
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    let mut out = out.trim_end().to_owned();
    out.push('…');
    out
}

/// Greedy word wrap of `text` into at most `max_lines` lines of `max_width`;
/// the last line is shortened with an ellipsis when text remains.
pub(crate) fn wrap(
    face: &Face,
    text: &str,
    size: f32,
    max_width: f32,
    max_lines: usize,
) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    if max_lines == 0 {
        return lines;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut current = String::new();
    let mut index = 0;
    while index < words.len() {
        let word = words[index];
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if face.width(&candidate, size) <= max_width || current.is_empty() {
            current = candidate;
            index += 1;
            continue;
        }
        if lines.len() + 1 == max_lines {
            break;
        }
        lines.push(std::mem::take(&mut current));
    }
    if index < words.len() {
        // Text left over: end the last line with an ellipsis.
        let rest = words[index..].join(" ");
        current = truncate(face, &format!("{current} {rest}"), size, max_width);
    } else if face.width(&current, size) > max_width {
        current = truncate(face, &current, size, max_width);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

// ---------------------------------------------------------------------------
// Tables.

/// Space between a cell's edge and its text.
pub(crate) const CELL_PADDING: f32 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// One column of a table: its title (one or two lines), left edge and width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub(crate) title: &'static [&'static str],
    pub(crate) x: f32,
    pub(crate) width: f32,
    pub(crate) align: Align,
}

/// Columns laid side by side from `left` over `width`; the column `flexible`
/// takes the width the others leave.
pub(crate) fn columns<const N: usize>(
    specs: [(&'static [&'static str], f32, Align); N],
    flexible: usize,
    left: f32,
    width: f32,
) -> [Column; N] {
    let fixed: f32 = specs
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != flexible)
        .map(|(_, spec)| spec.1)
        .sum();
    let total = width;
    let mut x = left;
    std::array::from_fn(|i| {
        let (title, width, align) = specs[i];
        let width = if i == flexible { total - fixed } else { width };
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

/// Draws `text` in a table cell, padded, aligned, shortened to fit.
pub(crate) fn cell(pen: &mut Pen, style: Style, column: &Column, baseline: f32, text: &str) {
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

// ---------------------------------------------------------------------------
// Flowing content.

/// A block of content that flows down the pages.
pub(crate) trait Flow: Copy {
    /// Its height, in points.
    fn height(self) -> f32;
    /// Whether it must stay on the same page as the block after it.
    fn keeps_with_next(self) -> bool;
    /// What a new page that starts with this block repeats first (a table's
    /// header, the group a row belongs to).
    fn carried_over(self) -> Vec<Self>;
}

/// The blocks of each page, with the `y` of their top: the first page starts at
/// `first_top`, the next ones at `next_top` (below a running header), and no
/// block ends below `bottom` unless it is alone on its page.
pub(crate) fn paginate<B: Flow>(
    blocks: &[B],
    first_top: f32,
    next_top: f32,
    bottom: f32,
) -> Vec<Vec<(B, f32)>> {
    let mut pages: Vec<Vec<(B, f32)>> = vec![Vec::new()];
    let mut y = first_top;
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
        if y + need > bottom && !page_is_empty {
            pages.push(Vec::new());
            y = next_top;
            if let Some(page) = pages.last_mut() {
                for header in block.carried_over() {
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

#[cfg(test)]
mod tests {
    use super::super::fonts::fonts;
    use super::*;

    const SENTENCE: &str = "1 chèque = 1 atelier ou 1 heure de formation au numérique";

    #[test]
    fn wrap_and_truncate_respect_the_width() {
        let face = &fonts().unwrap().regular;
        let lines = wrap(face, SENTENCE, 6.5, 140.0, 2);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines.join(" "), SENTENCE);
        let lines = wrap(face, SENTENCE, 6.5, 60.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'), "{lines:?}");
        for line in &lines {
            assert!(face.width(line, 6.5) <= 60.0, "{line}");
        }
        assert_eq!(wrap(face, "", 7.0, 100.0, 2), Vec::<String>::new());
        let short = truncate(face, "Département de la Haute-Saône", 8.0, 50.0);
        assert!(
            short.ends_with('…') && face.width(&short, 8.0) <= 50.0,
            "{short}"
        );
        let (text, size) = fit(face, "CH-2026-000123", 12.0, 6.0, 60.0);
        assert_eq!(text, "CH-2026-000123");
        assert!(size < 12.0 && face.width(&text, size) <= 60.01);
    }

    #[test]
    fn columns_share_the_width() {
        let [a, b, c] = columns(
            [
                (&["A"], 50.0, Align::Left),
                (&["B"], 0.0, Align::Left),
                (&["C"], 30.0, Align::Right),
            ],
            1,
            10.0,
            200.0,
        );
        assert_eq!((a.x, a.width), (10.0, 50.0));
        assert_eq!((b.x, b.width), (60.0, 120.0));
        assert_eq!((c.x, c.width), (180.0, 30.0));
    }

    /// A title that keeps with the next block, and rows of a table whose header
    /// is repeated on the next page.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Test {
        Title,
        Header,
        Row,
    }

    impl Flow for Test {
        fn height(self) -> f32 {
            match self {
                Test::Title => 20.0,
                Test::Header | Test::Row => 10.0,
            }
        }
        fn keeps_with_next(self) -> bool {
            matches!(self, Test::Title | Test::Header)
        }
        fn carried_over(self) -> Vec<Self> {
            match self {
                Test::Row => vec![Test::Header],
                _ => Vec::new(),
            }
        }
    }

    #[test]
    fn pages_carry_headers_over_and_keep_titles_with_what_follows() {
        let mut blocks = vec![Test::Row; 3];
        blocks.extend([Test::Title, Test::Header, Test::Row, Test::Row]);
        // First page from 0 to 60: three rows (30), then the title, header and a
        // row would need 40: they go to the next page, which starts at 5.
        let pages = paginate(&blocks, 0.0, 5.0, 60.0);
        assert_eq!(pages.len(), 2);
        assert_eq!(
            pages[0],
            [(Test::Row, 0.0), (Test::Row, 10.0), (Test::Row, 20.0)]
        );
        assert_eq!(
            pages[1],
            [
                (Test::Title, 5.0),
                (Test::Header, 25.0),
                (Test::Row, 35.0),
                (Test::Row, 45.0)
            ]
        );
        // A row that starts a page brings its table's header along.
        let pages = paginate(&[Test::Row; 7], 0.0, 0.0, 60.0);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[1][0], (Test::Header, 0.0));
        assert_eq!(pages[1][1], (Test::Row, 10.0));
    }
}
