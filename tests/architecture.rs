//! The floors of `src/` (see `docs/ARCHITECTURE.md`), checked over the source text:
//! every `crate::<module>` a file names (in a `use` line or a path in the code, not in
//! comments) is an edge from the file's top-level module to `<module>`. The test
//! fails naming
//! - a module that has no floor (a new module must be given one, here),
//! - a module that imports one of a higher floor,
//! - an import circle, even within one floor,
//! - a file of `src/` over 800 lines, its tests excepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, top-down. A module may import modules of its own floor (without a
/// circle) and of the floors below it, never of a floor above.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "entry points",
        &["main", "cli", "startup", "api", "web", "jobs", "demo"],
    ),
    (
        "use cases",
        &[
            "organizations",
            "organization_update",
            "site_history",
            "directory",
            "team",
            "sessions",
            "passwords",
            "invitations",
            "programs",
            "checkbooks",
            "redemptions",
            "services",
            "settlement",
            "closing",
            "stats",
            "mail",
            "lookup",
            "alerts",
            "check",
            "metrics",
            "payouts",
            "evaluations",
        ],
    ),
    (
        "infrastructure",
        &[
            "config",
            "secrets",
            "pg_cluster",
            "db",
            "schema",
            "statuses",
            "error",
            "auth",
            "limits",
            "client_addr",
            "idempotency",
            "one_time",
            "ledger",
            "audit",
            "documents",
            "telemetry",
        ],
    ),
    (
        "domain",
        &[
            "domain",
            "bank",
            "operator_identity",
            "sepa",
            "vocabulary",
            "money",
            "codes",
            "csv_cells",
            "french",
        ],
    ),
];

/// Longest file of `src/`, its tests excepted (a `tests.rs` file, or what follows
/// `#[cfg(test)]` before `mod tests`).
const MAX_LINES: usize = 800;

/// Files still over [`MAX_LINES`], each being split on its own branch. An entry that
/// is no longer over fails the test: remove it.
const OVER_FOR_NOW: &[&str] = &[];

/// Use cases say why they refuse in the domain's words (their own error enums); the
/// HTTP edge (`api/*`) turns those into problems. These files of the use-case floor
/// still name the edge's error or actix, each waiting for its own slice. An entry
/// that no longer does fails the test: remove it.
const SPEAKING_HTTP_FOR_NOW: &[&str] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/api/auth.rs` → `api`, `src/config.rs` → `config`.
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its comments (line comments and doc comments; a block
/// comment is not used in `src/`).
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| match l.find(" // ") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `code` names after `crate::`, including every item of a
/// group: `crate::{organizations, passwords::{self, X}}` names both.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$') {
            continue; // `$crate::`, `other_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        item_start = false;
                        let name = identifier_at(&group[j..]);
                        if !name.is_empty() && name != "self" {
                            found.insert(name.to_string());
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = identifier_at(rest);
            if !name.is_empty() {
                found.insert(name.to_string());
            }
        }
    }
    found
}

/// Lines of a file that are not tests.
fn lines_outside_tests(file: &Path, text: &str) -> usize {
    let is_test_file = file.file_name().is_some_and(|n| n == "tests.rs")
        || file.components().any(|c| c.as_os_str() == "tests");
    if is_test_file {
        return 0;
    }
    let lines: Vec<&str> = text.lines().collect();
    for (i, pair) in lines.windows(2).enumerate() {
        if pair[0].trim() == "#[cfg(test)]" && pair[1].starts_with("mod tests") {
            return i;
        }
    }
    lines.len()
}

struct Graph {
    /// module → modules it names, with the first file that does.
    edges: BTreeMap<String, BTreeMap<String, String>>,
    lines: Vec<(String, usize)>,
}

fn graph() -> Graph {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut lines = Vec::new();
    for file in files {
        if file == src().join("lib.rs") {
            continue; // the crate's root declares the modules; it imports none
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = format!(
            "src/{}",
            file.strip_prefix(src()).unwrap().to_string_lossy()
        );
        let module = top_module(&file);
        let targets = edges.entry(module.clone()).or_default();
        for target in crate_references(&code_of(&text)) {
            if target != module {
                targets.entry(target).or_insert_with(|| shown.clone());
            }
        }
        lines.push((shown, lines_outside_tests(&file, &text)));
    }
    Graph { edges, lines }
}

fn floor_of(module: &str) -> Option<usize> {
    FLOORS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The circles of the graph: its strongly connected components of more than one
/// module (Tarjan), each as a path `a → b → … → a`.
fn circles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in s.edges.get(v).into_iter().flat_map(|t| t.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        components: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|component| {
            // One circle through the component, for the message: walk its edges.
            let members: BTreeSet<&str> = component.iter().copied().collect();
            let start = *members.iter().next().unwrap();
            let mut path = vec![start];
            let mut at = start;
            loop {
                let next = edges[at]
                    .keys()
                    .map(String::as_str)
                    .find(|w| members.contains(w) && (!path.contains(w) || *w == start))
                    .or_else(|| {
                        edges[at]
                            .keys()
                            .map(String::as_str)
                            .find(|w| members.contains(w))
                    })
                    .unwrap();
                let seen = path.contains(&next);
                path.push(next);
                if seen {
                    break;
                }
                at = next;
            }
            let by: Vec<String> = path
                .windows(2)
                .map(|p| format!("{} → {} ({})", p[0], p[1], edges[p[0]][p[1]]))
                .collect();
            format!(
                "circle among {{{}}}: {}",
                component.join(", "),
                by.join(", ")
            )
        })
        .collect()
}

#[test]
fn modules_import_down_the_floors_without_circles() {
    let graph = graph();
    let mut problems = Vec::new();
    for module in graph.edges.keys() {
        if floor_of(module).is_none() {
            problems.push(format!(
                "module `{module}` has no floor: add it to FLOORS in tests/architecture.rs (and to docs/ARCHITECTURE.md)"
            ));
        }
    }
    for (module, targets) in &graph.edges {
        let Some(floor) = floor_of(module) else {
            continue;
        };
        for (target, file) in targets {
            match floor_of(target) {
                Some(to) if to < floor => problems.push(format!(
                    "{file}: `{module}` ({}) imports `{target}`, of a higher floor ({})",
                    FLOORS[floor].0, FLOORS[to].0
                )),
                Some(_) => {}
                None if graph.edges.contains_key(target) => {}
                None => problems.push(format!("{file}: `crate::{target}` is not a module")),
            }
        }
    }
    problems.extend(circles(&graph.edges));
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn every_floor_module_exists() {
    let graph = graph();
    let missing: Vec<&str> = FLOORS
        .iter()
        .flat_map(|(_, modules)| modules.iter().copied())
        .filter(|m| !graph.edges.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "FLOORS names modules that src/ does not have: {missing:?}"
    );
}

#[test]
fn no_file_of_src_is_over_800_lines_tests_excepted() {
    let graph = graph();
    let mut problems = Vec::new();
    for (file, lines) in &graph.lines {
        let excepted = OVER_FOR_NOW.contains(&file.as_str());
        if *lines > MAX_LINES && !excepted {
            problems.push(format!(
                "{file}: {lines} lines outside its tests (at most {MAX_LINES}): split it along its seams"
            ));
        }
        if *lines <= MAX_LINES && excepted {
            problems.push(format!(
                "{file}: {lines} lines now: remove it from OVER_FOR_NOW in tests/architecture.rs"
            ));
        }
    }
    for file in OVER_FOR_NOW {
        if !graph.lines.iter().any(|(f, _)| f == file) {
            problems.push(format!(
                "{file} is gone: remove it from OVER_FOR_NOW in tests/architecture.rs"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Whether `code` names `word` as a whole identifier (`ApiError`, not `MyApiErrors`).
fn names(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().last();
        let after = code[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn use_cases_know_nothing_of_http() {
    let use_cases = FLOORS
        .iter()
        .find(|(name, _)| *name == "use cases")
        .unwrap()
        .1;
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for file in files {
        if !use_cases.contains(&top_module(&file).as_str()) {
            continue;
        }
        let shown = format!(
            "src/{}",
            file.strip_prefix(src()).unwrap().to_string_lossy()
        );
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let http: Vec<&str> = ["actix_web", "ApiError", "StatusCode"]
            .into_iter()
            .filter(|word| names(&code, word))
            .collect();
        let excepted = SPEAKING_HTTP_FOR_NOW.contains(&shown.as_str());
        if !http.is_empty() && !excepted {
            problems.push(format!(
                "{shown}: a use case names {http:?}: return its own error enum and map it to ApiError in its api module"
            ));
        }
        if http.is_empty() && excepted {
            problems.push(format!(
                "{shown} no longer speaks HTTP: remove it from SPEAKING_HTTP_FOR_NOW in tests/architecture.rs"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_http_names_are_found_as_whole_words() {
    assert!(names("use crate::error::ApiError;", "ApiError"));
    assert!(names("Result<(), ApiError>", "ApiError"));
    assert!(!names("Result<(), NotApiError>", "ApiError"));
    assert!(names("actix_web::web::Bytes", "actix_web"));
    assert!(!names("my_actix_web_thing", "actix_web"));
}

#[test]
fn the_reader_finds_every_kind_of_reference() {
    let code = code_of(
        "use crate::error::ApiError;\n\
         // crate::commented\n\
         /// [`crate::documented`]\n\
         use crate::{\n    organizations,\n    passwords::{self, Reset},\n    self as root,\n};\n\
         let x = crate::ledger::post(conn); // crate::trailing\n\
         macro_rules! m { () => { $crate::inside } }\n\
         other_crate::thing();",
    );
    let found: Vec<String> = crate_references(&code).into_iter().collect();
    assert_eq!(found, ["error", "ledger", "organizations", "passwords"]);
}
