//! The validators that the project did not write, as `scripts/install-validators`
//! installs them into `target/validators`: the `factur-x` package (run through
//! `tests/api/facturx_check.py`) and the official SEPA XSDs. The script runs once per
//! test process (quick when they are there); a test that needs them fails, never
//! skips, when they cannot be installed. Also compiled into the library's unit tests
//! (`documents::statement_pdf::tests`), which use part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `target/validators`, installed.
pub fn folder() -> &'static Path {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(root.join("scripts/install-validators"))
            .status()
            .expect("scripts/install-validators could not be started");
        assert!(
            status.success(),
            "scripts/install-validators failed: the factur-x package and the SEPA XSDs \
             are needed by this test (it says why above)"
        );
        root.join("target/validators")
    })
}

/// The official `pain.001.001.03` XSD (from the `sepaxml` package).
pub fn sepa_xsd() -> PathBuf {
    folder().join("sepaxml/schemas/pain.001.001.03.xsd")
}

/// What `tests/api/facturx_check.py` (the `factur-x` package) reads in `pdf`: the
/// embedded XML checked against the EN 16931 XSD, its fields and the PDF's metadata;
/// `Err` with the package's message when it refuses the file.
pub fn facturx_check(pdf: &[u8]) -> Result<serde_json::Value, String> {
    let python = folder().join("bin/python");
    let file = std::env::temp_dir().join(format!("passnum-fx-{}.pdf", uuid::Uuid::new_v4()));
    std::fs::write(&file, pdf).expect("temporary PDF written");
    let out = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/facturx_check.py"
        ))
        .arg(&file)
        .output()
        .expect("the validators' python runs");
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("facturx_check.py prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
