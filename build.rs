//! Embeds the web app (`web/index.html` and `web/app/**`) into the binary: writes a
//! table of `include_bytes!` into `$OUT_DIR/web_assets.rs`, read by `src/web.rs`.
//! Text files (HTML, JavaScript, CSS, SVG, JSON…) are also gzipped here, once, at the
//! best level, and embedded beside the original when that is smaller: the server
//! sends them as they are to a client that accepts gzip, at no cost per request.
//! Cargo runs this again whenever a file under `web/` changes.

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Extensions of the files worth compressing (the images are compressed already).
const TEXT: &[&str] = &[
    "html",
    "js",
    "mjs",
    "css",
    "svg",
    "json",
    "webmanifest",
    "txt",
    "LICENSE",
];

/// The gzip form of `bytes`, when it is smaller (no time stamp: the same input
/// gives the same bytes).
fn gzip(bytes: &[u8]) -> Result<Option<Vec<u8>>, Box<dyn Error>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    let compressed = encoder.finish()?;
    Ok((compressed.len() < bytes.len()).then_some(compressed))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("web");
    println!("cargo:rerun-if-changed=web/index.html");
    println!("cargo:rerun-if-changed=web/app");
    let mut files = vec![root.join("index.html")];
    walk(&root.join("app"), &mut files)?;
    files.sort();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let gz_dir = out.join("web_gz");
    std::fs::create_dir_all(&gz_dir)?;
    let mut table = String::from("&[\n");
    for (index, file) in files.iter().enumerate() {
        let name = file
            .strip_prefix(&root)?
            .to_str()
            .ok_or("a file name under web/ is not UTF-8")?
            .replace('\\', "/");
        let absolute = file.to_str().ok_or("a path under web/ is not UTF-8")?;
        let text = name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| TEXT.contains(&ext));
        let compressed = if text {
            gzip(&std::fs::read(file)?)?
        } else {
            None
        };
        let gz = match compressed {
            Some(bytes) => {
                let path = gz_dir.join(format!("{index}.gz"));
                std::fs::write(&path, bytes)?;
                let path = path.to_str().ok_or("OUT_DIR is not UTF-8")?.to_string();
                format!("Some(include_bytes!({path:?}))")
            }
            None => "None".into(),
        };
        writeln!(table, "    ({name:?}, include_bytes!({absolute:?}), {gz}),")?;
    }
    table.push(']');
    std::fs::write(out.join("web_assets.rs"), table)?;
    Ok(())
}
