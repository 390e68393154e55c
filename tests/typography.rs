//! The typographic apostrophe (’) in every French text the service sends: the
//! string literals of `src/` (problem details, validation messages, PDF and CSV
//! texts, mail subjects), the mail templates and the web app's scripts. A French
//! elision written with a straight apostrophe (`l'opérateur`, `n'est`, `jusqu'au`)
//! fails the test, naming the file and the line. Comments, character literals,
//! lifetimes and SQL literals are not French text and are left alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The words French elides before a vowel: `l'`, `d'`, `qu'`, `jusqu'`…
const ELIDED: &[&str] = &[
    "l", "d", "n", "j", "c", "m", "t", "s", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu", "presqu",
    "quelqu", "aujourd",
];

/// The straight apostrophes of `text` that end a French elided word and are followed
/// by a letter: their byte offsets.
fn straight_elisions(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (at, c) in text.char_indices() {
        if c != '\'' {
            continue;
        }
        let after = text[at + 1..].chars().next();
        if !after.is_some_and(char::is_alphabetic) {
            continue;
        }
        let before = &text[..at];
        let word: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_alphabetic())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if ELIDED.contains(&word.to_lowercase().as_str()) {
            found.push(at);
        }
    }
    found
}

/// The string literals of a Rust source, with the line each starts on: comments,
/// character literals and lifetimes skipped, raw strings included.
fn rust_strings(source: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let next_line = |i: usize, line: &mut usize| {
        if chars[i] == '\n' {
            *line += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let peek = |k: usize| chars.get(i + k).copied();
        if c == '/' && peek(1) == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && peek(1) == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                next_line(i, &mut line);
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == '\'' {
            // A character literal ('x', '\n', '\''), else a lifetime's quote.
            if peek(1) == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if peek(2) == Some('\'') {
                i += 3;
            } else {
                i += 1;
            }
            continue;
        }
        let raw_hashes = if c == 'r' && (peek(1) == Some('"') || peek(1) == Some('#')) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            (chars.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
        } else {
            None
        };
        if let Some(hashes) = raw_hashes {
            let start = line;
            i += hashes + 2;
            let mut text = String::new();
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    i += hashes + 1;
                    break;
                }
                next_line(i, &mut line);
                text.push(chars[i]);
                i += 1;
            }
            out.push((start, text));
            continue;
        }
        if c == '"' {
            let start = line;
            i += 1;
            let mut text = String::new();
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    text.push(chars[i]);
                    i += 1;
                }
                next_line(i, &mut line);
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push((start, text));
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            // An identifier whole, so that the `r` of `for"` is not a raw string.
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            continue;
        }
        next_line(i, &mut line);
        i += 1;
    }
    out
}

fn files(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "vendor") {
                continue;
            }
            files(&path, ext, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ext.contains(&e))
        {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_elision_finder_knows_french_from_english_and_code() {
    let cases: &[(&str, usize)] = &[
        ("Ce lieu n'a pas de label", 1),
        ("L'opérateur, jusqu'au 31/12 et d'ici là", 3),
        ("Quelqu'un, aujourd'hui", 2),
        ("Ce lieu n’a pas de label, l’opérateur", 0),
        ("the program's budget, don't, it's", 0),
        ("status = 'issued' AND kind = 'site'", 0),
        ("h('div', 'x')", 0),
    ];
    for (text, count) in cases {
        assert_eq!(straight_elisions(text).len(), *count, "{text}");
    }
    let strings = rust_strings(
        "// l'opérateur in a comment\nfn f<'a>(c: char) -> &'a str { if c == '\"' { \"n'est\" } else { r#\"l'API\"# } }",
    );
    let texts: Vec<&str> = strings.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(texts, ["n'est", "l'API"]);
}

#[test]
fn every_french_text_the_service_sends_uses_the_typographic_apostrophe() {
    let mut offences = Vec::new();
    let mut rust = Vec::new();
    files(&root().join("src"), &["rs"], &mut rust);
    for path in &rust {
        let source = std::fs::read_to_string(path).unwrap();
        for (line, text) in rust_strings(&source) {
            if !straight_elisions(&text).is_empty() {
                offences.push(format!("{}:{line}: {text:?}", path.display()));
            }
        }
    }
    let mut other = Vec::new();
    files(&root().join("templates"), &["html", "txt"], &mut other);
    files(&root().join("web/app"), &["js", "html"], &mut other);
    for path in &other {
        let source = std::fs::read_to_string(path).unwrap();
        for (n, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
                continue;
            }
            if !straight_elisions(line).is_empty() {
                offences.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        rust.len() > 50,
        "the scan read {} Rust files: is src/ where it was?",
        rust.len()
    );
    assert!(
        offences.is_empty(),
        "French text with a straight apostrophe (write ’):\n{}",
        offences.join("\n")
    );
}
