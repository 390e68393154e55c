//! QR images of a ticket code, at error correction level M, with the 4-module
//! quiet zone the standard asks for.

use anyhow::{Context, bail};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Luma};
use qrcode::{Color, EcLevel, QrCode};

/// Modules of light margin around the symbol (ISO/IEC 18004).
pub const QUIET_ZONE_MODULES: usize = 4;
/// Pixels per module in [`qr_png`].
pub const PNG_PIXELS_PER_MODULE: u32 = 10;
/// User units per module in [`qr_svg`] (the SVG scales freely).
const SVG_UNITS_PER_MODULE: u32 = 8;

/// The QR symbol of `code` at level M. A ~35-character ticket code of the QR
/// alphanumeric set is encoded in alphanumeric mode: a version 3 symbol.
pub fn qr_symbol(code: &str) -> anyhow::Result<QrCode> {
    if code.is_empty() {
        bail!("cannot draw the QR code of an empty ticket code");
    }
    QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
        .with_context(|| format!("cannot encode ticket code {code:?} as a QR code"))
}

/// An SVG document (with an XML declaration) of the QR code of `code`, quiet zone included.
pub fn qr_svg(code: &str) -> anyhow::Result<String> {
    let symbol = qr_symbol(code)?;
    Ok(symbol
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(SVG_UNITS_PER_MODULE, SVG_UNITS_PER_MODULE)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// A greyscale PNG of the QR code of `code`: 10 pixels per module, quiet zone included.
pub fn qr_png(code: &str) -> anyhow::Result<Vec<u8>> {
    let symbol = qr_symbol(code)?;
    let image = symbol
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(PNG_PIXELS_PER_MODULE, PNG_PIXELS_PER_MODULE)
        .build();
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::L8,
        )
        .context("cannot encode the QR code as PNG")?;
    Ok(png)
}

/// The dark modules of `symbol` as horizontal runs `(row, first column, length)`,
/// in module units without the quiet zone: what a vector renderer fills.
pub fn dark_runs(symbol: &QrCode) -> Vec<(usize, usize, usize)> {
    let width = symbol.width();
    let colors = symbol.to_colors();
    let mut runs = Vec::new();
    for (row, line) in colors.chunks(width).enumerate() {
        let mut column = 0;
        while column < line.len() {
            if line[column] == Color::Dark {
                let start = column;
                while column < line.len() && line[column] == Color::Dark {
                    column += 1;
                }
                runs.push((row, start, column - start));
            } else {
                column += 1;
            }
        }
    }
    runs
}
