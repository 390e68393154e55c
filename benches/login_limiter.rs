//! Memory of the login limiter under a flood of unique e-mails. Drives the real
//! limiter type (`passnum::limits::Brakes`, built as `passnum serve` builds it, with the
//! default limits) directly — not through HTTP, so that the figure is the limiter's own
//! and not the server's buffers — with 200,000 login failures for 200,000 unique
//! e-mails, and prints the resident memory growth of this process (VmRSS of
//! /proc/self/status) with the entries held. Three floods:
//!
//! 1. one address, default limits: the per-address ceiling refuses before any new
//!    (e-mail, address) pair is stored;
//! 2. one address with the ceiling out of the way (as if it were set very high): every
//!    pair is new, so the capacity bound and eviction are what hold memory;
//! 3. 200,000 addresses, one e-mail each (a botnet): both limiters at their capacity.
//!
//! Target: under 20 MB of growth for each.
//!
//! Run: `cargo bench --bench login_limiter` (or, without the release build,
//! `cargo test --bench login_limiter`: the memory figures do not depend on optimisation).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use passnum::limits::{Brakes, DEFAULT_CAPACITY, FailureLimiter, login_account};

const EMAILS: u32 = 200_000;
const TARGET_MB: f64 = 20.0;

/// Resident memory of this process, in kB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The brakes as `passnum serve` builds them from the default settings.
fn default_brakes(per_address: u32) -> Brakes {
    let window = Duration::from_secs(900);
    Brakes {
        per_account: FailureLimiter::new(5, window),
        per_address: FailureLimiter::new(per_address, window),
    }
}

fn flood(name: &str, brakes: &Brakes, address_of: impl Fn(u32) -> IpAddr) {
    let before = rss_kb();
    let started = Instant::now();
    let mut refused = 0u32;
    let mut peak_entries = 0usize;
    for i in 0..EMAILS {
        let email = format!("victim-{i:06}@example.org");
        let address = Some(address_of(i));
        match brakes.charge(login_account(&email, address), address) {
            Ok(_) => {} // a failure: it stays charged
            Err(_) => refused += 1,
        }
        peak_entries = peak_entries.max(brakes.per_account.len());
    }
    let elapsed = started.elapsed();
    let after = rss_kb();
    let growth_mb = after.saturating_sub(before) as f64 / 1024.0;
    println!("{name}");
    println!(
        "  {EMAILS} attempts in {:.2} s ({:.2} µs each); {refused} refused (429)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(EMAILS)
    );
    println!(
        "  entries held: pairs {} (peak {peak_entries}, capacity {}), addresses {}",
        brakes.per_account.len(),
        brakes.per_account.capacity(),
        brakes.per_address.len()
    );
    println!(
        "  VmRSS {before} kB -> {after} kB: growth {growth_mb:.1} MB ({})",
        if growth_mb <= TARGET_MB {
            format!("within the {TARGET_MB} MB target")
        } else {
            format!("OVER the {TARGET_MB} MB target")
        }
    );
}

/// Each flood runs in a fresh process of its own (this program started again with
/// `--flood N`), so that memory freed by one flood cannot hide the next one's growth.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let one_address = |_| IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66));
    match args
        .iter()
        .position(|a| a == "--flood")
        .map(|i| args[i + 1].as_str())
    {
        Some("1") => flood(
            "1. one address, default limits (5 per pair, 30 per address)",
            &default_brakes(30),
            one_address,
        ),
        Some("2") => flood(
            "2. one address, no per-address ceiling (every pair stored until capacity)",
            &default_brakes(u32::MAX),
            one_address,
        ),
        Some("3") => flood(
            "3. one e-mail from each of 200,000 addresses, default limits",
            &default_brakes(30),
            |i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
        ),
        _ => {
            println!(
                "login limiter (the limiter type, not HTTP): {EMAILS} unique e-mails, \
                 capacity {DEFAULT_CAPACITY} entries per limiter"
            );
            let me = std::env::current_exe().unwrap();
            for n in ["1", "2", "3"] {
                let out = std::process::Command::new(&me)
                    .args(["--flood", n])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
}
