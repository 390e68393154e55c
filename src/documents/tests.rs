//! End-to-end checks of the printed documents with the real tools a person would
//! trust: `pdftoppm` rasterises the PDF at 200 dpi, `zbarimg` scans the pages like
//! a phone would, `pdftotext` reads the text back. Missing tools fail the tests.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;

const INSTALL_HINT: &str =
    "run `scripts/install-test-tools` (installs poppler-utils and zbar-tools)";

/// Runs `program` with `args`; panics with the install hint when it is missing,
/// and with its stderr when it fails.
fn run(program: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let output = match Command::new(program).args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("`{program}` is not installed: {INSTALL_HINT}")
        }
        Err(e) => panic!("cannot run `{program}`: {e}"),
    };
    assert!(
        output.status.success(),
        "`{program} {args:?}` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "passnum-documents-{label}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Rasterises `pdf` at 200 dpi; returns the page images in page order.
fn rasterise(dir: &Path, pdf: &[u8]) -> Vec<PathBuf> {
    let file = dir.join("checkbooks.pdf");
    std::fs::write(&file, pdf).unwrap();
    let prefix = dir.join("page");
    run(
        "pdftoppm",
        &[
            "-r".as_ref(),
            "200".as_ref(),
            "-png".as_ref(),
            file.as_os_str(),
            prefix.as_os_str(),
        ],
    );
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    // pdftoppm pads page numbers to the same width, so names sort in page order.
    pages.sort();
    pages
}

/// Every QR code `zbarimg` finds in `image`, sorted.
fn scan(image: &Path) -> Vec<String> {
    let out = run(
        "zbarimg",
        &[
            "--raw".as_ref(),
            "-q".as_ref(),
            "-Sdisable".as_ref(),
            "-Sqrcode.enable".as_ref(),
            image.as_os_str(),
        ],
    );
    let mut codes: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes
}

/// The text of `pdf` (or of one page of it) as `pdftotext` extracts it.
fn text_of(dir: &Path, page: Option<usize>) -> String {
    let file = dir.join("checkbooks.pdf");
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    if let Some(page) = page {
        for flag in ["-f", "-l"] {
            args.push(flag.into());
            args.push(page.to_string().into());
        }
    }
    args.push(file.into_os_string());
    args.push("-".into());
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    String::from_utf8(run("pdftotext", &args)).unwrap()
}

/// Deterministic ticket codes in the shape of `codes::CodeKeys::sign`'s output.
fn coupons(seed: u64, count: usize) -> Vec<Coupon> {
    const SERIAL: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut pick = |alphabet: &[u8], n: usize| -> String {
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                alphabet[(state >> 33) as usize % alphabet.len()] as char
            })
            .collect()
    };
    (0..count)
        .map(|_| {
            let serial = pick(SERIAL, 11);
            let mac = pick(BASE32, 16);
            Coupon {
                serial: format!("{}-{}-{}", &serial[..4], &serial[4..8], &serial[8..]),
                code: format!("PN1K1-{serial}AAAE6{mac}"),
                value: Decimal::new(1000, 2),
            }
        })
        .collect()
}

fn site(
    name: &str,
    address: Option<&str>,
    postcode: &str,
    city: &str,
    km: Option<f64>,
) -> NearbySite {
    NearbySite {
        name: name.into(),
        address: address.map(Into::into),
        postcode: postcode.into(),
        city: city.into(),
        distance_km: km,
    }
}

fn sheet(number: &str, seed: u64, tickets: usize) -> CheckbookSheet {
    CheckbookSheet {
        number: number.into(),
        program_name: "Pass Numérique Haute-Saône 2026".into(),
        funders: vec!["Département de la Haute-Saône".into(), "État".into()],
        operator_name: "Hub numérique de Bourgogne-Franche-Comté".into(),
        notice: super::beneficiary_notice(&super::NoticeParties {
            prescriber: Some("CCAS de Vesoul".into()),
            operator: "Hub numérique de Bourgogne-Franche-Comté".into(),
            operator_email: Some("contact@hub.example.org".into()),
            retention_months: 12,
        }),
        expires_on: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
        beneficiary_reference: Some("B-7Q2X-41".into()),
        tickets: coupons(seed, tickets),
        nearby_sites: vec![
            site(
                "Médiathèque Jean-Jaurès",
                Some("12 rue de la République"),
                "70000",
                "Vesoul",
                Some(2.4),
            ),
            site("France Services de Lure", None, "70200", "Lure", Some(11.3)),
            site(
                "Espace numérique du Pays de Villersexel",
                Some("2 place de l’Église"),
                "70110",
                "Villersexel",
                Some(24.0),
            ),
        ],
    }
}

fn expected_codes(sheets: &[CheckbookSheet]) -> Vec<String> {
    let mut codes: Vec<String> = sheets
        .iter()
        .flat_map(|s| s.tickets.iter().map(|t| t.code.clone()))
        .collect();
    codes.sort();
    codes
}

#[test]
fn ten_ticket_checkbook_scans_and_reads_back() {
    let sheets = [sheet("CH-2026-000123", 1, 10)];
    let pdf = render_checkbooks(&sheets).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));

    let dir = TempDir::new("one");
    let pages = rasterise(&dir.0, &pdf);
    assert_eq!(pages.len(), 1, "10 tickets fit on one A4 page");
    assert_eq!(
        scan(&pages[0]),
        expected_codes(&sheets),
        "every QR code scans back exactly"
    );

    let text = text_of(&dir.0, None);
    for coupon in &sheets[0].tickets {
        assert!(
            text.contains(&coupon.serial),
            "serial {} not in the text:\n{text}",
            coupon.serial
        );
    }
    for expected in [
        "10,00 €",
        "Pass Numérique Haute-Saône 2026",
        "CH-2026-000123",
        "Valable jusqu’au 31/12/2027",
        "Où utiliser vos chèques",
        "Médiathèque Jean-Jaurès",
        "à 2,4 km",
        "État",
        "Réf. : B-7Q2X-41",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the text:\n{text}"
        );
    }
    assert_eq!(
        text.matches("10,00 €").count(),
        11,
        "ten coupons and the summary:\n{text}"
    );
}

/// The instruction sentence of the header is printed whole, whatever else the
/// header holds (long funders' and program names, a reference or none).
#[test]
fn the_instruction_sentence_is_never_cut_off() {
    let mut crowded = sheet("CH-2026-000125", 3, 10);
    crowded.funders = vec![
        "Département de la Haute-Saône".into(),
        "État — Préfecture de région Bourgogne-Franche-Comté".into(),
        "Caisse d’allocations familiales de la Haute-Saône".into(),
    ];
    crowded.program_name =
        "Pass Numérique Haute-Saône 2026 — publics prioritaires et seniors".into();
    crowded.operator_name =
        "Hub numérique de Bourgogne-Franche-Comté et du Grand Est réunis".into();
    let mut plain = sheet("CH-2026-000126", 4, 5);
    plain.beneficiary_reference = None;
    let sentence = checkbook_pdf::HOW_TO_USE;
    for one in [sheet("CH-2026-000124", 2, 10), crowded, plain] {
        let dir = TempDir::new("how-to-use");
        std::fs::write(
            dir.0.join("checkbooks.pdf"),
            render_checkbooks(&[one]).unwrap(),
        )
        .unwrap();
        let text = text_of(&dir.0, None);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains(sentence),
            "the whole sentence {sentence:?} is not in the text:\n{text}"
        );
    }
}

#[test]
fn print_run_of_three_checkbooks_starts_each_on_a_new_page() {
    let mut second = sheet("CH-2026-000124", 2, 5);
    second.nearby_sites.clear();
    second.beneficiary_reference = None;
    second.program_name =
        "Pass Numérique des Communautés de communes du Triangle Vert et des Mille Étangs 2026"
            .into();
    let sheets = [
        sheet("CH-2026-000123", 1, 10),
        second,
        sheet("CH-2026-000125", 3, 20),
    ];
    let pdf = render_checkbooks(&sheets).unwrap();

    let dir = TempDir::new("run");
    let pages = rasterise(&dir.0, &pdf);
    // 10 tickets: 1 page; 5 tickets: 1 page; 20 tickets: 10 + 10 on 2 pages.
    let owner_of_page = [0, 1, 2, 2];
    assert_eq!(pages.len(), owner_of_page.len());

    let mut scanned: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (index, page) in pages.iter().enumerate() {
        let owner = &sheets[owner_of_page[index]];
        let codes = scan(page);
        for code in &codes {
            assert!(
                owner.tickets.iter().any(|t| &t.code == code),
                "page {} holds code {code} of another checkbook than {}",
                index + 1,
                owner.number
            );
        }
        scanned
            .entry(owner_of_page[index])
            .or_default()
            .extend(codes);

        let text = text_of(&dir.0, Some(index + 1));
        assert!(
            text.contains(&owner.number),
            "page {} does not name {}",
            index + 1,
            owner.number
        );
    }
    for (index, sheet) in sheets.iter().enumerate() {
        let mut codes = scanned.remove(&index).unwrap_or_default();
        codes.sort();
        assert_eq!(
            codes,
            expected_codes(std::slice::from_ref(sheet)),
            "codes of {}",
            sheet.number
        );
    }

    let text = text_of(&dir.0, None);
    for coupon in sheets.iter().flat_map(|s| &s.tickets) {
        assert!(
            text.contains(&coupon.serial),
            "serial {} not in the text",
            coupon.serial
        );
    }
    assert!(text.contains("10,00 €") && text.contains("Numérique"));
    assert!(
        text.contains("Demandez à la personne"),
        "a checkbook without sites says whom to ask"
    );
}

#[test]
fn codes_of_any_qr_version_scan_back_from_the_pdf() {
    // Lengths chosen to give versions 1 to 4 at level M in alphanumeric mode.
    let mut one = sheet("CH-2026-000126", 4, 4);
    for (coupon, length) in one.tickets.iter_mut().zip([12, 30, 55, 70]) {
        let filler = "PN1K1-ABCDEFGHJKMNPQRSTVWXYZ23456789".repeat(2);
        coupon.code = filler[..length].to_owned();
    }
    let versions: Vec<usize> = one
        .tickets
        .iter()
        .map(|t| (qr::qr_symbol(&t.code).unwrap().width() - 17) / 4)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    let sheets = [one];
    let pdf = render_checkbooks(&sheets).unwrap();
    let dir = TempDir::new("versions");
    let pages = rasterise(&dir.0, &pdf);
    assert_eq!(scan(&pages[0]), expected_codes(&sheets));
}

#[test]
fn qr_png_scans_back() {
    let code = "PN1K1-7K3M9QX2ZA4AAAE6C5R2PZQ4D7TWZMHJ";
    let png = qr_png(code).unwrap();
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
    // The symbol plus 4 modules of quiet zone each side, 10 px per module.
    let modules = qr::qr_symbol(code).unwrap().width() as u32;
    assert!(modules >= 21, "{modules}");
    let side = (modules + 8) * 10;
    assert_eq!((image.width(), image.height()), (side, side));

    let dir = TempDir::new("png");
    let file = dir.0.join("code.png");
    std::fs::write(&file, &png).unwrap();
    assert_eq!(scan(&file), vec![code.to_owned()]);
}

#[test]
fn qr_svg_is_an_svg_document() {
    let code = "PN1K1-7K3M9QX2ZA4AAAE6C5R2PZQ4D7TWZMHJ";
    let svg = qr_svg(code).unwrap();
    assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    // The symbol plus 4 modules of quiet zone each side, 8 units per module.
    let side = (qr::qr_symbol(code).unwrap().width() + 8) * 8;
    assert!(
        svg.contains(&format!(r#"viewBox="0 0 {side} {side}""#)),
        "{svg}"
    );
    assert!(qr_svg("").is_err());
}

#[test]
fn the_information_notice_is_printed_whole_above_the_header() {
    let one = sheet("CH-2026-000127", 5, 10);
    let dir = TempDir::new("notice");
    let pdf = render_checkbooks(std::slice::from_ref(&one)).unwrap();
    std::fs::write(dir.0.join("checkbooks.pdf"), &pdf).unwrap();
    if let Ok(keep) = std::env::var("PASSNUM_KEEP_NOTICE_PDF") {
        std::fs::write(keep, &pdf).unwrap();
    }
    let text = text_of(&dir.0, None);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains(&one.notice),
        "the whole notice {:?} is not in the text:\n{text}",
        one.notice
    );
}
