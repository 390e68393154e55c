//! The Factur-X XMP properties, added to a PDF written by krilla.
//!
//! krilla writes the XMP metadata of PDF/A (with its extension schemas) but has no
//! way to add properties of other schemas. Factur-X needs its `fx` properties and
//! their PDF/A extension schema there, so the finished PDF gets an *incremental
//! update* (ISO 32000-1 §7.5.6, allowed by PDF/A): the metadata stream, same
//! object number, rewritten with the Factur-X part, one cross-reference section
//! and a trailer pointing back to the original. Nothing else of the file changes.

use super::facturx;

/// `pdf` with its XMP metadata completed for Factur-X.
pub fn with_facturx_xmp(mut pdf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(&pdf).into_owned();
    let trailer_at = text
        .rfind("trailer")
        .ok_or_else(|| anyhow::anyhow!("PDF without a trailer"))?;
    let startxref_at = text
        .rfind("startxref")
        .filter(|at| *at > trailer_at)
        .ok_or_else(|| anyhow::anyhow!("PDF without startxref"))?;
    let trailer = &text[trailer_at..startxref_at];
    let previous: usize = text[startxref_at + "startxref".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("PDF startxref unreadable"))?;
    let size = number_after(trailer, "/Size")?;
    let root = number_after(trailer, "/Root")?;
    let id = bracketed_after(trailer, "/ID")?;
    let info = number_after(trailer, "/Info").ok();

    let catalog = object(&text, root)?;
    let metadata = number_after(catalog, "/Metadata")?;
    let stream = object(&text, metadata)?;
    let start = stream
        .find("<?xpacket begin")
        .ok_or_else(|| anyhow::anyhow!("PDF metadata without an XMP packet"))?;
    let end = stream
        .rfind("<?xpacket end")
        .and_then(|at| stream[at..].find("?>").map(|close| at + close + 2))
        .ok_or_else(|| anyhow::anyhow!("PDF metadata packet unterminated"))?;
    let xmp = completed(&stream[start..end])?;

    let offset = pdf.len() + 1;
    let mut update = format!(
        "\n{metadata} 0 obj\n<< /Type /Metadata /Subtype /XML /Length {} >>\nstream\n",
        xmp.len()
    );
    update.push_str(&xmp);
    update.push_str("\nendstream\nendobj\n");
    let xref = offset + update.len() - 1;
    update.push_str(&format!(
        "xref\n{metadata} 1\n{offset:010} 00000 n \ntrailer\n<< /Size {size} /Root {root} 0 R{} /ID {id} /Prev {previous} >>\nstartxref\n{xref}\n%%EOF\n",
        info.map(|i| format!(" /Info {i} 0 R")).unwrap_or_default()
    ));
    pdf.extend_from_slice(update.as_bytes());
    Ok(pdf)
}

/// The XMP packet with the Factur-X properties and their extension schema.
fn completed(xmp: &str) -> anyhow::Result<String> {
    let (properties, schema) = facturx::xmp_extension();
    let bag = "<pdfaExtension:schemas><rdf:Bag>";
    let at = xmp
        .find(bag)
        .ok_or_else(|| anyhow::anyhow!("XMP without PDF/A extension schemas"))?
        + bag.len();
    let mut out = format!("{}{schema}{}", &xmp[..at], &xmp[at..]);
    let rdf_end = out
        .rfind("</rdf:RDF>")
        .ok_or_else(|| anyhow::anyhow!("XMP without rdf:RDF"))?;
    out.insert_str(rdf_end, properties);
    Ok(out)
}

/// The text of object `number` (from `N 0 obj` to `endobj`), its last definition.
fn object(text: &str, number: u32) -> anyhow::Result<&str> {
    let head = format!("\n{number} 0 obj");
    let start = text
        .rfind(&head)
        .ok_or_else(|| anyhow::anyhow!("PDF object {number} not found"))?;
    let end = text[start..]
        .find("endobj")
        .ok_or_else(|| anyhow::anyhow!("PDF object {number} unterminated"))?;
    Ok(&text[start..start + end])
}

/// The number after `key` (`/Root 12 0 R` → 12).
fn number_after(text: &str, key: &str) -> anyhow::Result<u32> {
    let at = text
        .find(key)
        .ok_or_else(|| anyhow::anyhow!("{key} not found"))?;
    text[at + key.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{key} unreadable"))
}

/// The `[…]` after `key`, brackets included.
fn bracketed_after<'a>(text: &'a str, key: &str) -> anyhow::Result<&'a str> {
    let at = text
        .find(key)
        .ok_or_else(|| anyhow::anyhow!("{key} not found"))?;
    let open = text[at..]
        .find('[')
        .ok_or_else(|| anyhow::anyhow!("{key} unreadable"))?
        + at;
    let close = text[open..]
        .find(']')
        .ok_or_else(|| anyhow::anyhow!("{key} unterminated"))?
        + open;
    Ok(&text[open..=close])
}
