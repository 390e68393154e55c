//! Glyph handling: the embedded DejaVu fonts, loaded once per process, what
//! glyph each character maps to, and the advance widths the layout needs to
//! measure, wrap and shrink text.
//!
//! krilla does not expose glyph metrics, so this module reads the few TrueType
//! tables it needs (`head`, `hhea`, `hmtx`, `cmap` format 4) itself. Widths are
//! those of the unshaped glyphs: kerning is ignored, so layouts keep a small margin.
//! The glyph ids let the page kit place glyphs without shaping (see
//! [`super::page::draw`]), and [`printable`] replaces what a face cannot print.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use anyhow::{Context, anyhow};
use krilla::text::Font;

/// One font: the krilla handle (parsed and hashed once) and its width table.
pub(crate) struct Face {
    pub(crate) font: Font,
    metrics: Metrics,
}

impl Face {
    fn load(name: &str, bytes: &'static [u8]) -> anyhow::Result<Face> {
        let data: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(bytes);
        let font = Font::new(data.into(), 0).ok_or_else(|| anyhow!("krilla refused {name}"))?;
        let metrics =
            Metrics::parse(bytes).with_context(|| format!("reading metrics of {name}"))?;
        Ok(Face { font, metrics })
    }

    /// Width of `text` at `size` points, in points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text
            .chars()
            .map(|c| u32::from(self.metrics.advance(c)))
            .sum();
        units as f32 * size / self.metrics.units_per_em
    }

    /// Whether the font has a glyph for `c`.
    pub(crate) fn has_glyph(&self, c: char) -> bool {
        self.metrics.has_glyph(c)
    }

    /// The id of the glyph of `c` in the font (0, `.notdef`, when it has none).
    pub(crate) fn glyph_id(&self, c: char) -> u16 {
        self.metrics.glyphs.get(c as usize).copied().unwrap_or(0)
    }
}

/// The three faces the documents use.
pub(crate) struct Fonts {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
    pub(crate) mono_bold: Face,
}

static FONTS: LazyLock<Result<Fonts, String>> = LazyLock::new(|| {
    let load = || -> anyhow::Result<Fonts> {
        Ok(Fonts {
            regular: Face::load("DejaVu Sans", dejavu::sans::regular())?,
            bold: Face::load("DejaVu Sans Bold", dejavu::sans::bold())?,
            mono_bold: Face::load("DejaVu Sans Mono Bold", dejavu::sans_mono::bold())?,
        })
    };
    load().map_err(|e| format!("{e:#}"))
});

/// The fonts, parsed on first use and shared by every document afterwards.
pub(crate) fn fonts() -> anyhow::Result<&'static Fonts> {
    FONTS
        .as_ref()
        .map_err(|e| anyhow!("cannot load the embedded fonts: {e}"))
}

/// Glyph ids and advance widths of the Basic Multilingual Plane, indexed by code
/// point.
struct Metrics {
    units_per_em: f32,
    /// Glyph id of each BMP code point; 0 when the font has no glyph.
    glyphs: Vec<u16>,
    /// Advance width of each BMP code point; 0 when the font has no glyph.
    advances: Vec<u16>,
    /// Width used for characters the font lacks (its `.notdef` glyph).
    missing: u16,
}

impl Metrics {
    fn advance(&self, c: char) -> u16 {
        match self.advances.get(c as usize) {
            Some(&w) if w != 0 => w,
            _ if c == '\u{200b}' => 0,
            _ => self.missing,
        }
    }

    fn has_glyph(&self, c: char) -> bool {
        self.advances.get(c as usize).is_some_and(|&w| w != 0)
    }

    fn parse(font: &[u8]) -> anyhow::Result<Metrics> {
        let head = table(font, b"head")?;
        let hhea = table(font, b"hhea")?;
        let hmtx = table(font, b"hmtx")?;
        let cmap = table(font, b"cmap")?;

        let units_per_em = f32::from(be_u16(head, 18)?);
        let long_metrics = usize::from(be_u16(hhea, 34)?);
        if long_metrics == 0 {
            return Err(anyhow!("hhea declares no horizontal metrics"));
        }
        let advance_of = |glyph: u16| -> anyhow::Result<u16> {
            let index = usize::from(glyph).min(long_metrics - 1);
            be_u16(hmtx, index * 4)
        };

        let glyphs = glyph_ids(cmap)?;
        let mut advances = vec![0_u16; glyphs.len()];
        for (advance, &glyph) in advances.iter_mut().zip(&glyphs) {
            if glyph != 0 {
                // A zero advance would read as "missing": keep it at 1 unit.
                *advance = advance_of(glyph)?.max(1);
            }
        }
        Ok(Metrics {
            units_per_em,
            glyphs,
            advances,
            missing: advance_of(0)?,
        })
    }
}

/// The glyph id of every BMP code point (0: no glyph), read from the font's
/// `cmap` table (its Unicode subtable in format 4: segments of consecutive code
/// points, each mapped by a delta or through an array of glyph ids).
fn glyph_ids(cmap: &[u8]) -> anyhow::Result<Vec<u16>> {
    let subtable = unicode_bmp_subtable(cmap)?;
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
        // 0xFFFF ends the last segment and is no character.
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
    Ok(ids)
}

/// `text` with what a face cannot print under PDF/A replaced: control
/// characters by spaces, invisible format characters dropped, characters the
/// face lacks (and private-use ones) by `?`.
pub(crate) fn printable<'t>(face: &Face, text: &'t str) -> Cow<'t, str> {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}');
    let private = |c: char| matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{fffe}' | '\u{ffff}');
    let fine = |c: char| !c.is_control() && !invisible(c) && !private(c) && face.glyph_id(c) != 0;
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

/// The bytes of the table `tag` of a TrueType font.
fn table<'a>(font: &'a [u8], tag: &[u8; 4]) -> anyhow::Result<&'a [u8]> {
    let count = usize::from(be_u16(font, 4)?);
    for i in 0..count {
        let record = 12 + 16 * i;
        if font.get(record..record + 4) == Some(tag.as_slice()) {
            let offset = usize::try_from(be_u32(font, record + 8)?)?;
            let length = usize::try_from(be_u32(font, record + 12)?)?;
            return font
                .get(offset..offset + length)
                .ok_or_else(|| anyhow!("table {} out of bounds", String::from_utf8_lossy(tag)));
        }
    }
    Err(anyhow!("no {} table", String::from_utf8_lossy(tag)))
}

/// The `cmap` subtable in format 4 for Unicode BMP (Windows 3/1 or Unicode 0/3).
fn unicode_bmp_subtable(cmap: &[u8]) -> anyhow::Result<&[u8]> {
    let count = usize::from(be_u16(cmap, 2)?);
    for i in 0..count {
        let record = 4 + 8 * i;
        let platform = be_u16(cmap, record)?;
        let encoding = be_u16(cmap, record + 2)?;
        if !matches!((platform, encoding), (3, 1) | (0, 3)) {
            continue;
        }
        let offset = usize::try_from(be_u32(cmap, record + 4)?)?;
        let sub = cmap
            .get(offset..)
            .ok_or_else(|| anyhow!("cmap subtable out of bounds"))?;
        if be_u16(sub, 0)? == 4 {
            let length = usize::from(be_u16(sub, 2)?);
            return sub
                .get(..length)
                .ok_or_else(|| anyhow!("cmap subtable truncated"));
        }
    }
    Err(anyhow!("no Unicode BMP cmap subtable in format 4"))
}

fn be_u16(bytes: &[u8], at: usize) -> anyhow::Result<u16> {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(anyhow!("font data truncated at {at}")),
    }
}

fn be_u32(bytes: &[u8], at: usize) -> anyhow::Result<u32> {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(anyhow!("font data truncated at {at}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_font() {
        let fonts = fonts().unwrap();
        // DejaVu Sans Mono: every glyph is 1233 units of 2048.
        let mono = fonts.mono_bold.width("7K3M-9QX2-ZA4", 10.0);
        assert!(
            (mono - 13.0 * 1233.0 * 10.0 / 2048.0).abs() < 0.01,
            "{mono}"
        );
        let regular = &fonts.regular;
        assert!(regular.width("WWW", 10.0) > regular.width("iii", 10.0));
        assert!(regular.has_glyph('é') && regular.has_glyph('€') && regular.has_glyph('ô'));
        assert!(regular.width("é", 10.0) > 0.0);
    }

    #[test]
    fn glyph_ids_follow_the_cmap() {
        let fonts = fonts().unwrap();
        for face in [&fonts.regular, &fonts.bold, &fonts.mono_bold] {
            let mut count = 0;
            for c in (0..=0xFFFF_u32).filter_map(char::from_u32) {
                assert_eq!(face.glyph_id(c) != 0, face.has_glyph(c), "{c:?}");
                count += usize::from(face.has_glyph(c));
            }
            assert!(count > 1000, "{count}");
            assert_eq!(face.glyph_id('\u{e000}'), 0);
        }
        let regular = &fonts.regular;
        assert_ne!(regular.glyph_id('é'), regular.glyph_id('e'));
        assert!(regular.glyph_id('€') != 0 && regular.glyph_id('A') != 0);
    }

    #[test]
    fn printable_replaces_what_the_face_cannot_print() {
        let fonts = fonts().unwrap();
        let face = &fonts.regular;
        assert!(face.has_glyph(' ') && face.has_glyph('?') && face.has_glyph('…'));
        assert_eq!(printable(face, "Zoé"), "Zoé");
        assert!(matches!(printable(face, "Zoé"), Cow::Borrowed(_)));
        assert_eq!(printable(face, "a\tb\u{200b}c\u{1F600}"), "a bc?");
        assert_eq!(
            printable(&fonts.mono_bold, "7K3M-9QX2-ZA4"),
            "7K3M-9QX2-ZA4"
        );
    }
}
