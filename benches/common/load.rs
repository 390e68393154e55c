//! Load: a number of client tasks, one ticket each per request, each request timed;
//! the figures of a window (rate, latency percentiles) and how they are printed.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::ms;

pub struct LoadResult {
    /// Requests started within the measured window.
    pub durations: Vec<Duration>,
    pub window: Duration,
    /// Every answer of the run (warm-up included), by status or refusal code.
    pub outcomes: BTreeMap<String, usize>,
    /// One body of an unexpected answer, for the report.
    pub sample_failure: Option<String>,
    pub ran_out_of_tickets: bool,
}

/// `op` answers `Ok(())` for a successful redemption, `Err((outcome, detail))` else.
pub async fn run_load<F, Fut>(
    clients: usize,
    codes: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    warm_up: Duration,
    measure: Duration,
    op: F,
) -> LoadResult
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), (String, String)>> + Send,
{
    let start = Instant::now();
    let (from, until) = (start + warm_up, start + warm_up + measure);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (codes, next, op) = (codes.clone(), next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut durations = Vec::with_capacity(4096);
            let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
            let mut failure = None;
            let mut out_of_tickets = None;
            loop {
                let began = Instant::now();
                if began >= until {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(code) = codes.get(i) else {
                    out_of_tickets = Some(began);
                    break;
                };
                let result = op(code.clone()).await;
                let took = began.elapsed();
                match result {
                    Ok(()) => *outcomes.entry("201 redeemed".into()).or_default() += 1,
                    Err((outcome, detail)) => {
                        *outcomes.entry(outcome).or_default() += 1;
                        failure.get_or_insert(detail);
                    }
                }
                if began >= from {
                    durations.push(took);
                }
            }
            (durations, outcomes, failure, out_of_tickets)
        }));
    }
    let mut result = LoadResult {
        durations: Vec::new(),
        window: measure,
        outcomes: BTreeMap::new(),
        sample_failure: None,
        ran_out_of_tickets: false,
    };
    let mut earliest_exhaustion: Option<Instant> = None;
    for task in tasks {
        let (durations, outcomes, failure, out) = task.await.unwrap();
        result.durations.extend(durations);
        for (k, v) in outcomes {
            *result.outcomes.entry(k).or_default() += v;
        }
        if result.sample_failure.is_none() {
            result.sample_failure = failure;
        }
        if let Some(at) = out {
            earliest_exhaustion = Some(earliest_exhaustion.map_or(at, |e| e.min(at)));
        }
    }
    if let Some(at) = earliest_exhaustion {
        result.ran_out_of_tickets = true;
        result.window = at
            .saturating_duration_since(from)
            .max(Duration::from_millis(1));
    }
    result.durations.sort();
    result
}

impl LoadResult {
    pub fn empty() -> Self {
        LoadResult {
            durations: Vec::new(),
            window: Duration::ZERO,
            outcomes: BTreeMap::new(),
            sample_failure: None,
            ran_out_of_tickets: false,
        }
    }

    pub fn rate(&self) -> f64 {
        self.durations.len() as f64 / self.window.as_secs_f64()
    }

    /// Adds another window's figures to these (durations stay sorted).
    pub fn absorb(&mut self, other: LoadResult) {
        self.durations.extend(other.durations);
        self.durations.sort();
        self.window += other.window;
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        if self.sample_failure.is_none() {
            self.sample_failure = other.sample_failure;
        }
        self.ran_out_of_tickets |= other.ran_out_of_tickets;
    }
}

pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub struct Figures {
    pub rate: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

pub fn figures(r: &LoadResult) -> Figures {
    let d = &r.durations;
    let mean = if d.is_empty() {
        0.0
    } else {
        d.iter().map(|x| x.as_secs_f64()).sum::<f64>() / d.len() as f64 * 1e3
    };
    Figures {
        rate: d.len() as f64 / r.window.as_secs_f64(),
        p50: ms(percentile(d, 0.50)),
        p90: ms(percentile(d, 0.90)),
        p99: ms(percentile(d, 0.99)),
        max: ms(d.last().copied().unwrap_or_default()),
        mean,
    }
}

pub fn print_load(name: &str, r: &LoadResult, f: &Figures) {
    println!(
        "  {name}: {} requests in the {:.1} s window → {:.0} req/s",
        r.durations.len(),
        r.window.as_secs_f64(),
        f.rate
    );
    println!(
        "    latency: mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        f.mean, f.p50, f.p90, f.p99, f.max
    );
    let outcomes: Vec<String> = r
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    println!("    answers (warm-up included): {}", outcomes.join(", "));
    if let Some(detail) = &r.sample_failure {
        println!("    UNEXPECTED ANSWER, e.g.: {detail}");
    }
    if r.ran_out_of_tickets {
        println!(
            "    note: the seeded tickets ran out before the end of the window (figures over the shortened window)"
        );
    }
}
