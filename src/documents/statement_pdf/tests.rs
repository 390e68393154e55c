//! Rendering statements and reading them back with `pdftotext`.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::TimeZone;

use std::collections::HashMap;

use super::layout::{BOTTOM, Block, Layout};
use super::*;
use crate::documents::fonts::{Fonts, fonts};
use crate::documents::page::Flow;
use crate::french;

const INSTALL_HINT: &str =
    "run `scripts/install-test-tools` (installs poppler-utils and zbar-tools)";
const SHA: &str = "3f2a9c0d5e8b7a6f4c1d2e3b4a5f6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b";
const PROGRAMS: [&str; 2] = ["Pass Numérique Haute-Saône 2026", "Pass Numérique Vesoul"];
const SITES: [&str; 4] = [
    "Médiathèque de Vesoul",
    "Espace numérique de Gray",
    "Tiers-lieu de Lure",
    "France services Luxeuil-les-Bains",
];

/// The text of `pdf` as `pdftotext -layout` reads it.
fn text_of(pdf: &[u8]) -> String {
    let mut child = match Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("`pdftotext` is not installed: {INSTALL_HINT}")
        }
        Err(e) => panic!("cannot run `pdftotext`: {e}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = pdf.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn party(name: &str, siret: Option<&str>) -> Party {
    Party {
        name: name.into(),
        address: Some("2 rue de la Gare".into()),
        postcode: "70000".into(),
        city: "Vesoul".into(),
        siret: siret.map(str::to_owned),
    }
}

/// A serial like the real ones (`7K3M-9QX2-ZA4`), different for each `i`.
fn serial(i: usize) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut n = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8;
    let mut symbols = String::new();
    for _ in 0..11 {
        symbols.push(char::from(ALPHABET[(n % 31) as usize]));
        n /= 31;
    }
    format!("{}-{}-{}", &symbols[0..4], &symbols[4..8], &symbols[8..11])
}

/// A commission statement of `count` ticket lines over the programs and sites,
/// plus a management fee line per program.
fn statement(count: usize) -> StatementDocument {
    let rate = Decimal::new(4, 2);
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap();
    let mut lines: Vec<StatementLine> = (0..count)
        .map(|i| {
            let face_value = Decimal::new(1000 + 100 * (i % 7) as i64, 2);
            StatementLine {
                program: PROGRAMS[i % 2].into(),
                site: SITES[i % 4].into(),
                serial: serial(i),
                checkbook: format!("CH-2026-{:06}", i / 10),
                redeemed_at: Some(start + chrono::Duration::minutes(97 * i as i64)),
                face_value,
                rate,
                amount: face_value * rate,
                label: None,
            }
        })
        .collect();
    if count > 0 {
        for (i, program) in PROGRAMS.iter().enumerate() {
            lines.push(StatementLine {
                program: (*program).into(),
                site: String::new(),
                serial: String::new(),
                checkbook: String::new(),
                redeemed_at: None,
                face_value: Decimal::new(150_000 + i as i64, 2),
                rate: Decimal::new(25, 3),
                amount: Decimal::new(3750 + i as i64 * 3, 2),
                label: Some("Frais de gestion".into()),
            });
        }
    }
    let total = lines.iter().map(|l| l.amount).sum();
    StatementDocument {
        number: "REL-2026-000042".into(),
        kind: StatementKind::Commission,
        wording: Wording::AsSealed,
        issued_on: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
        period_start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        period_end: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        issuer: party("Association Numérique Haute-Saône", Some("12345678900012")),
        recipient: party("Association Numérique Haute-Saône", Some("12345678900012")),
        lines,
        total,
        sha256: SHA.into(),
        payout_account: None,
    }
}

/// The rows of `text` that hold all of `parts`.
fn rows_with<'t>(text: &'t str, parts: &[&str]) -> Vec<&'t str> {
    text.lines()
        .filter(|row| parts.iter().all(|p| row.contains(p)))
        .collect()
}

#[test]
fn a_statement_of_several_pages_reads_back() {
    let mut doc = statement(300);
    // Times on both sides of the change to winter time (25/10/2026).
    doc.lines[0].redeemed_at = Some(Utc.with_ymd_and_hms(2026, 10, 15, 12, 30, 0).unwrap());
    doc.lines[1].redeemed_at = Some(Utc.with_ymd_and_hms(2026, 10, 30, 23, 30, 0).unwrap());
    let pdf = render_statement(&doc).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    let text = text_of(&pdf);

    assert!(text.contains("REL-2026-000042"), "{text}");
    assert!(text.contains("Relevé de commission"));
    assert!(text.contains("du 01/10/2026 au 31/10/2026"));
    assert!(text.contains("Date d’émission : 03/11/2026"));
    assert!(text.contains("SIRET : 123 456 789 00012"));
    assert!(text.contains(&format!("Empreinte SHA-256 : {SHA}")));
    assert!(text.contains("Date, cachet et signature"));
    assert!(text.contains("Nombre de lignes : 302"));
    for (i, line) in doc.lines.iter().enumerate().take(300) {
        assert!(
            text.contains(&line.serial),
            "serial {i} {} missing",
            line.serial
        );
    }
    assert_eq!(
        rows_with(
            &text,
            &["Frais de gestion", "1 500,00 €", "2,50 %", "37,50 €"]
        )
        .len(),
        1
    );
    assert_eq!(
        rows_with(&text, &[&doc.lines[0].serial, "15/10/2026 14:30", "4,00 %"]).len(),
        1
    );
    assert_eq!(
        rows_with(&text, &[&doc.lines[1].serial, "31/10/2026 00:30"]).len(),
        1
    );

    // The total, in French, on the first page and in the closing formula.
    let total = french::euros(doc.total);
    assert!(total.contains(' ') && total.contains(','), "{total}");
    assert!(text.contains(&total));
    assert!(text.contains(&format!("à la somme de {total}.")));

    // Each subtotal, with its number of lines.
    for (label, key) in [("program", 0), ("site", 1)] {
        let mut expected: HashMap<&str, (usize, Decimal)> = HashMap::new();
        for line in &doc.lines {
            let name = match (key, line.site.as_str()) {
                (0, _) => line.program.as_str(),
                (_, "") => "Frais de gestion",
                (_, site) => site,
            };
            let entry = expected.entry(name).or_default();
            entry.0 += 1;
            entry.1 += line.amount;
        }
        for (name, (count, amount)) in expected {
            let found = rows_with(
                &text,
                &[name, &format!(" {count} "), &french::euros(amount)],
            );
            assert_eq!(found.len(), 1, "{label} subtotal of {name}: {found:?}");
        }
    }

    // Pages: numbered, each with the table header repeated.
    let pages = text.matches('\u{c}').count() + usize::from(!text.ends_with('\u{c}'));
    assert!(pages >= 4, "{pages} pages");
    assert!(text.contains("page 1/"));
    for page in 1..=pages {
        assert!(
            text.contains(&format!("page {page}/{pages}")),
            "page {page}/{pages}"
        );
    }
    let page_texts: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert_eq!(page_texts.len(), pages);
    let with_lines: Vec<&&str> = page_texts
        .iter()
        .filter(|p| {
            doc.lines
                .iter()
                .any(|l| !l.serial.is_empty() && p.contains(&l.serial))
        })
        .collect();
    assert!(with_lines.len() >= 3);
    for page in with_lines {
        assert!(
            page.contains("N° de chèque") && page.contains("Encaissé le"),
            "{page}"
        );
        assert!(page.contains(SHA), "{page}");
    }
}

#[test]
fn lines_that_do_not_add_up_are_refused() {
    let mut doc = statement(20);
    doc.total += Decimal::new(1, 2);
    let error = render_statement(&doc).unwrap_err();
    match error.downcast_ref::<StatementError>() {
        Some(StatementError::LinesDoNotAddUp {
            number,
            lines_total,
            total,
        }) => {
            assert_eq!(number, "REL-2026-000042");
            assert_eq!(*total - *lines_total, Decimal::new(1, 2));
        }
        other => panic!("{other:?}"),
    }

    let mut doc = statement(0);
    doc.total = Decimal::new(1000, 2);
    assert!(matches!(
        render_statement(&doc).unwrap_err().downcast_ref(),
        Some(StatementError::LinesDoNotAddUp { .. })
    ));

    // Fractions of a cent would print lines that do not visibly add up.
    let mut doc = statement(3);
    doc.lines[1].amount += Decimal::new(4, 3);
    doc.lines[2].amount -= Decimal::new(4, 3);
    assert_eq!(
        render_statement(&doc).unwrap_err().downcast_ref(),
        Some(&StatementError::NotWholeCents {
            number: "REL-2026-000042".into(),
            line: Some(2),
            amount: doc.lines[1].amount,
        })
    );
}

#[test]
fn bad_periods_and_digests_are_refused() {
    let mut doc = statement(1);
    doc.period_end = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
    assert!(matches!(
        render_statement(&doc).unwrap_err().downcast_ref(),
        Some(StatementError::InvalidPeriod { .. })
    ));
    let mut doc = statement(1);
    doc.sha256 = "not a digest".into();
    assert!(matches!(
        render_statement(&doc).unwrap_err().downcast_ref(),
        Some(StatementError::InvalidDigest { .. })
    ));
}

#[test]
fn an_empty_statement_renders() {
    let mut doc = statement(0);
    doc.kind = StatementKind::SitePayout;
    doc.recipient = party("Médiathèque de Vesoul", None);
    assert!(doc.lines.is_empty() && doc.total.is_zero());
    let pdf = render_statement(&doc).unwrap();
    let text = text_of(&pdf);
    assert!(text.contains("Relevé de paiement"), "{text}");
    assert!(text.contains("REL-2026-000042"));
    assert!(text.contains("Aucune ligne sur la période."));
    assert!(text.contains("Nombre de lignes : 0"));
    assert!(text.contains("0,00 €"));
    assert!(text.contains("page 1/1"));
    assert!(text.contains("Date, cachet et signature"));
    assert!(!text.contains("Sous-totaux"));
}

#[test]
fn every_kind_has_its_title_and_odd_text_still_prints() {
    let mut doc = statement(3);
    doc.lines[0].site = "Café\u{1F600} «\nchez\u{200b} Zoé»\u{e000}".into();
    doc.recipient.name = "Département\tde la Haute-Saône".into();
    for (kind, title, code) in [
        (
            StatementKind::SitePayout,
            "Relevé de paiement",
            "site_payout",
        ),
        (StatementKind::FunderBill, "Facture", "funder_bill"),
        (
            StatementKind::Commission,
            "Relevé de commission",
            "commission",
        ),
        (StatementKind::CreditNote, "Avoir", "credit_note"),
    ] {
        assert_eq!(StatementKind::parse(code), Some(kind));
        doc.kind = kind;
        let text = text_of(&render_statement(&doc).unwrap());
        assert!(text.contains(title), "{title}: {text}");
    }
    let text = text_of(&render_statement(&doc).unwrap());
    assert!(text.contains("Café? « chez Zoé»?"), "{text}");
    assert!(text.contains("Département de la Haute-Saône"));
    assert_eq!(StatementKind::parse("other"), None);
}

/// Since the Excel form, a funder's statement says the tickets used are covered
/// and the fee is the only amount to pay; a site's what it will receive. The words
/// of a statement sealed before stay as they were.
#[test]
fn statements_say_what_they_are() {
    let mut doc = statement(3);
    doc.kind = StatementKind::FunderBill;
    doc.wording = Wording::Explained;
    let split = FunderSplit::of(&doc.lines);
    assert_eq!(split.covered + split.fees, doc.total);
    let text = squeeze(&text_of(&render_statement(&doc).unwrap()));
    assert!(text.contains("Relevé d’utilisation"), "{text}");
    assert!(
        text.contains("Montant à payer : frais de gestion"),
        "{text}"
    );
    assert!(
        text.contains("couverts par vos versements, rien à payer"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} de frais de gestion, seul montant à payer",
            french::euros(split.fees)
        )),
        "{text}"
    );
    assert!(
        !text.contains("Facture") && !text.contains("Total à payer"),
        "{text}"
    );

    // Without a fee: nothing to pay at all.
    doc.lines.retain(|l| !l.serial.is_empty());
    doc.total = doc.lines.iter().map(|l| l.amount).sum();
    let text = squeeze(&text_of(&render_statement(&doc).unwrap()));
    assert!(text.contains("Rien à payer"), "{text}");
    assert!(
        text.contains("couverts par vos versements : rien à payer."),
        "{text}"
    );

    doc.kind = StatementKind::SitePayout;
    let text = squeeze(&text_of(&render_statement(&doc).unwrap()));
    assert!(text.contains("Vous recevrez par virement"), "{text}");
    assert!(text.contains("que le lieu recevra par virement."), "{text}");

    doc.kind = StatementKind::FunderBill;
    doc.wording = Wording::AsSealed;
    let text = squeeze(&text_of(&render_statement(&doc).unwrap()));
    assert!(
        text.contains("Facture") && text.contains("Total à payer"),
        "{text}"
    );
}

/// Whitespace runs as one space (pdftotext breaks lines where the page does).
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_same_statement_gives_the_same_bytes() {
    let doc = statement(50);
    assert_eq!(
        render_statement(&doc).unwrap(),
        render_statement(&doc).unwrap()
    );
}

#[test]
fn tables_repeat_their_header_and_titles_never_end_a_page() {
    let doc = statement(2000);
    let layout = Layout::new(&doc, typefaces()).unwrap();
    let pages = layout.pages();
    assert!(pages.len() > 20);
    let mut seen = 0;
    for (index, page) in pages.iter().enumerate() {
        let (first, _) = page[0];
        if index == 0 {
            assert_eq!(first, Block::Masthead);
        } else if page.iter().any(|(b, _)| b.table().is_some()) {
            assert!(
                matches!(first, Block::TableHeader(_) | Block::Heading(_)),
                "{first:?}"
            );
        }
        for window in page.windows(2) {
            assert!(window[0].1 + window[0].0.height() <= window[1].1 + 0.01);
        }
        let (last, y) = page[page.len() - 1];
        assert!(y + last.height() <= BOTTOM, "page {index} overflows");
        assert!(!last.keeps_with_next(), "page {index} ends with {last:?}");
        seen += page
            .iter()
            .filter(|(b, _)| matches!(b, Block::Line(_)))
            .count();
    }
    assert_eq!(seen, doc.lines.len());
    assert_eq!(
        pages.last().and_then(|p| p.last()).map(|(b, _)| *b),
        Some(Block::Closing)
    );
}

#[test]
fn subtotals_are_sorted_and_add_up() {
    let doc = statement(40);
    let layout = Layout::new(&doc, typefaces()).unwrap();
    let names: Vec<&str> = layout.sites.iter().map(|g| g.name).collect();
    assert_eq!(
        names,
        [
            "Espace numérique de Gray",
            "France services Luxeuil-les-Bains",
            "Médiathèque de Vesoul",
            "Tiers-lieu de Lure",
            "Frais de gestion"
        ]
    );
    for groups in [&layout.programs, &layout.sites] {
        let sum: Decimal = groups.iter().map(|g| g.amount).sum();
        assert_eq!(sum, doc.total);
        assert_eq!(
            groups.iter().map(|g| g.lines).sum::<usize>(),
            doc.lines.len()
        );
    }
}

#[test]
fn sirets_are_grouped() {
    assert_eq!(format_siret("123 456 789 00012"), "123 456 789 00012");
    assert_eq!(format_siret("12345678900012"), "123 456 789 00012");
    assert_eq!(format_siret("inconnu"), "inconnu");
}

fn typefaces() -> &'static Fonts {
    fonts().unwrap()
}

/// `cargo test --release --lib statement_pdf -- --nocapture` prints the time.
#[test]
fn ten_thousand_lines() {
    let doc = statement(10_000);
    let started = Instant::now();
    let pdf = render_statement(&doc).unwrap();
    let elapsed = started.elapsed();
    let pages = Layout::new(&doc, typefaces())
        .map(|l| l.pages().len())
        .unwrap();
    println!(
        "render_statement: {} lines, {pages} pages, {} KiB in {elapsed:.2?}",
        doc.lines.len(),
        pdf.len() / 1024
    );
    assert!(pages > 100);
}
