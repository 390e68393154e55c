//! Embeds the web app (`web/index.html` and `web/app/**`) into the binary: writes a
//! table of `include_bytes!` into `$OUT_DIR/web_assets.rs`, read by `src/web.rs`.
//! Cargo runs this again whenever a file under `web/` changes.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
    let mut table = String::from("&[\n");
    for file in &files {
        let name = file
            .strip_prefix(&root)?
            .to_str()
            .ok_or("a file name under web/ is not UTF-8")?
            .replace('\\', "/");
        let absolute = file.to_str().ok_or("a path under web/ is not UTF-8")?;
        writeln!(table, "    ({name:?}, include_bytes!({absolute:?})),")?;
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("web_assets.rs");
    std::fs::write(out, table)?;
    Ok(())
}
