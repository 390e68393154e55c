//! Checkbook PDF rendering speed, on one core.
//!
//! Run with `cargo bench --bench documents`. Prints:
//! - checkbook PDFs (10 tickets each) rendered per second on the main thread,
//!   over 3 seconds or 500 PDFs, whichever comes first, with the average size;
//! - the time and size of a print run of 100 checkbooks in one PDF;
//! - QR images (SVG, PNG) per second.
//!
//! Record what it prints in docs/BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use passnum::documents::{CheckbookSheet, Coupon, NearbySite, qr_png, qr_svg, render_checkbooks};
use rust_decimal::Decimal;

const SINGLE_BUDGET: Duration = Duration::from_secs(3);
const SINGLE_MAX_PDFS: usize = 500;
const TARGET_PDFS_PER_SECOND: f64 = 50.0;
const PRINT_RUN: usize = 100;
const PRINT_RUN_REPEATS: usize = 3;

/// Deterministic pseudo-random ticket codes shaped like the signed codes.
struct Codes(u64);

impl Codes {
    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                alphabet[(self.0 >> 33) as usize % alphabet.len()] as char
            })
            .collect()
    }

    fn coupon(&mut self) -> Coupon {
        let serial = self.pick(b"23456789ABCDEFGHJKMNPQRSTUVWXYZ", 11);
        let mac = self.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
        Coupon {
            serial: format!("{}-{}-{}", &serial[..4], &serial[4..8], &serial[8..]),
            code: format!("PN1K1-{serial}AAAE6{mac}"),
            value: Decimal::new(1000, 2),
        }
    }
}

fn site(name: &str, address: Option<&str>, postcode: &str, city: &str, km: f64) -> NearbySite {
    NearbySite {
        name: name.to_owned(),
        address: address.map(str::to_owned),
        postcode: postcode.to_owned(),
        city: city.to_owned(),
        distance_km: Some(km),
    }
}

fn sheet(codes: &mut Codes, index: usize) -> CheckbookSheet {
    CheckbookSheet {
        number: format!("CH-2026-{index:06}"),
        program_name: "Pass Numérique Haute-Saône 2026".to_owned(),
        funders: vec![
            "Département de la Haute-Saône".to_owned(),
            "État".to_owned(),
        ],
        operator_name: "Hub numérique de Bourgogne-Franche-Comté".to_owned(),
        // The notice is printed on every checkbook: the bench draws it too.
        notice: passnum::documents::beneficiary_notice(&passnum::documents::NoticeParties {
            prescriber: Some("CCAS de Vesoul".to_owned()),
            operator: "Hub numérique de Bourgogne-Franche-Comté".to_owned(),
            operator_email: Some("contact@hub.example.org".to_owned()),
            retention_months: 12,
        }),
        expires_on: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
        beneficiary_reference: Some(format!("B-{index:05}")),
        tickets: (0..10).map(|_| codes.coupon()).collect(),
        nearby_sites: vec![
            site(
                "Médiathèque Jean-Jaurès",
                Some("12 rue de la République"),
                "70000",
                "Vesoul",
                2.4,
            ),
            site("France Services de Lure", None, "70200", "Lure", 11.3),
            site(
                "Espace numérique de Villersexel",
                Some("2 place de l'Église"),
                "70110",
                "Villersexel",
                24.0,
            ),
        ],
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "documents benchmark — {} (build profile: {})",
        env!("CARGO_PKG_NAME"),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!("machine: {cores} cores, {}", cpu_model());
    println!("all rendering on the main thread (one core)");
    println!();

    let mut codes = Codes(0x5eed);
    // Warm-up: loads and parses the fonts once, like the first request of a server.
    let warm = Instant::now();
    black_box(render_checkbooks(&[sheet(&mut codes, 0)]).unwrap());
    println!(
        "first PDF (includes loading the fonts): {:.1} ms",
        ms(warm.elapsed())
    );

    // Single checkbooks, one PDF each.
    let sheets: Vec<CheckbookSheet> = (1..=SINGLE_MAX_PDFS)
        .map(|i| sheet(&mut codes, i))
        .collect();
    let mut times = Vec::with_capacity(SINGLE_MAX_PDFS);
    let mut bytes = 0_usize;
    let start = Instant::now();
    for one in &sheets {
        let t = Instant::now();
        let pdf = render_checkbooks(std::slice::from_ref(one)).unwrap();
        times.push(t.elapsed());
        bytes += black_box(pdf).len();
        if start.elapsed() >= SINGLE_BUDGET {
            break;
        }
    }
    let elapsed = start.elapsed();
    let count = times.len();
    let rate = count as f64 / elapsed.as_secs_f64();
    times.sort();
    println!();
    println!("checkbook PDF, 10 tickets, 1 page, one PDF per checkbook:");
    println!(
        "  rendered:     {count} PDFs in {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  throughput:   {rate:.1} PDFs/s on one core (target ≥ {TARGET_PDFS_PER_SECOND:.0}: {})",
        if rate >= TARGET_PDFS_PER_SECOND {
            "met"
        } else {
            "NOT MET"
        }
    );
    println!(
        "  per PDF:      median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 1.0))
    );
    println!(
        "  average size: {:.1} KiB",
        bytes as f64 / count as f64 / 1024.0
    );

    // One print run of 100 checkbooks in one PDF.
    let run: Vec<CheckbookSheet> = (1..=PRINT_RUN)
        .map(|i| sheet(&mut codes, 10_000 + i))
        .collect();
    let mut run_times = Vec::with_capacity(PRINT_RUN_REPEATS);
    let mut run_size = 0;
    for _ in 0..PRINT_RUN_REPEATS {
        let t = Instant::now();
        let pdf = render_checkbooks(&run).unwrap();
        run_times.push(t.elapsed());
        run_size = black_box(pdf).len();
    }
    run_times.sort();
    let best = run_times[0];
    println!();
    println!(
        "print run: {PRINT_RUN} checkbooks × 10 tickets in one PDF ({PRINT_RUN} pages), {PRINT_RUN_REPEATS} runs:"
    );
    println!(
        "  time:         best {:.0} ms, median {:.0} ms ({:.1} checkbooks/s)",
        ms(best),
        ms(run_times[run_times.len() / 2]),
        PRINT_RUN as f64 / best.as_secs_f64()
    );
    println!(
        "  size:         {:.2} MiB ({:.1} KiB per checkbook)",
        run_size as f64 / 1024.0 / 1024.0,
        run_size as f64 / PRINT_RUN as f64 / 1024.0
    );

    // QR images alone, for the ticket pages of the web app.
    println!();
    println!("QR images of one ticket code (1 s each):");
    let code = sheets[0].tickets[0].code.clone();
    for (name, render) in [
        (
            "qr_svg",
            (|c: &str| qr_svg(c).map(String::into_bytes)) as fn(&str) -> anyhow::Result<Vec<u8>>,
        ),
        ("qr_png", qr_png),
    ] {
        let start = Instant::now();
        let mut n = 0_usize;
        let mut size = 0;
        while start.elapsed() < Duration::from_secs(1) {
            size = black_box(render(&code).unwrap()).len();
            n += 1;
        }
        println!(
            "  {name}:       {:.0} per second, {size} bytes",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
}
