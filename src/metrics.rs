//! The money, as Prometheus reads it: what `GET /metrics` adds to the node's own
//! counters ([`crate::telemetry`]) so that an alert fires before anyone loses money.
//!
//! **Read from the database at each scrape, not kept in the process.** Every node
//! tells the same truth (the ledger's), a restarted node has nothing to rebuild, and
//! what one node did is seen through any other. The reads are those of the operator's
//! dashboard ([`crate::alerts`]: the cover of each program from
//! [`crate::programs::funding`], the unsettled finished months), plus the outbox's
//! mails not yet sent (by the `outbox_status_id` index) and the runs of
//! `passnum check` in `job_runs`. They run in one read-only transaction with a
//! [`STATEMENT_TIMEOUT`]: a slow or absent database makes `passnum_money_metrics_up`
//! 0, and the node's own metrics are still answered.
//!
//! **Amounts are written as the decimals they are** (`1234.50`), never through a
//! float: the exposition is written here rather than by the `prometheus` crate, whose
//! gauges are `f64`. Label values are escaped as the text format requires.
//!
//! **`passnum check`'s runs.** A run is a row of `job_runs` with `job = 'check'`
//! (one a day at most, the table's key). It *failed* when `last_error` is set or its
//! `outcome` says `"holds": false`; it *passed* when it finished without either. No row:
//! the timestamps are 0, which the alert "check too old" reads as never.

use std::fmt::{Display, Write};

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::alerts::{self, CoverLevel, UnsettledMonth};
use crate::db::DbError;
use crate::domain::french_date;
use crate::programs;
use crate::schema::programs as program_rows;
use crate::statuses::ProgramStatus;
use diesel::prelude::*;

/// The longest a scrape's query may run before the money metrics give up.
pub const STATEMENT_TIMEOUT: &str = "5s";

/// One program's money, from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramMoney {
    pub id: Uuid,
    pub name: String,
    pub open: bool,
    /// Received − paid out − refunded.
    pub held: Decimal,
    /// Tickets in circulation (issued, not used).
    pub outstanding: Decimal,
    /// Owed to sites for tickets used, not yet paid out.
    pub payable: Decimal,
    /// Owed to the operator (commission), not yet paid out.
    pub commission: Decimal,
}

impl ProgramMoney {
    pub fn owed(&self) -> Decimal {
        self.outstanding + self.payable + self.commission
    }

    /// The dashboard's rule ([`alerts::cover_level`], on the cover rule of
    /// [`programs::Funding`]): 0 all well, 1 low, 2 broken.
    pub fn cover_level(&self) -> u8 {
        let funding = programs::Funding {
            // Held is received − paid out − refunded; the sum is all the rule reads.
            paid: std::collections::HashMap::from([(Uuid::nil(), self.held)]),
            outstanding: self.outstanding,
            payable: self.payable,
            commission: self.commission,
            ..programs::Funding::default()
        };
        match alerts::cover_level(&funding, self.open) {
            None => 0,
            Some(CoverLevel::Low) => 1,
            Some(CoverLevel::Broken) => 2,
        }
    }
}

/// The outbox's mails not yet sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct OutboxDepth {
    /// Waiting for their first or next attempt.
    #[diesel(sql_type = BigInt)]
    pub waiting: i64,
    /// Being sent now (or cut short by a crash, until taken again).
    #[diesel(sql_type = BigInt)]
    pub sending: i64,
    /// Given up after `mail_max_attempts` (until resent by the operator).
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Waiting after at least one failed attempt.
    #[diesel(sql_type = BigInt)]
    pub retrying: i64,
    /// When the oldest mail still waiting was written.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub oldest_waiting: Option<DateTime<Utc>>,
}

/// The runs of `passnum check` recorded in `job_runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct CheckRuns {
    /// When the latest run finished (or started, if it never finished).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_run: Option<DateTime<Utc>>,
    /// Whether that latest run failed (an error, or violations found).
    #[diesel(sql_type = Bool)]
    pub last_failed: bool,
    /// When the latest run that passed finished.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success: Option<DateTime<Utc>>,
}

/// Everything the money metrics say, read in one transaction.
#[derive(Debug, Clone)]
pub struct MoneySnapshot {
    pub programs: Vec<ProgramMoney>,
    pub unsettled_months: Vec<UnsettledMonth>,
    pub outbox: OutboxDepth,
    pub check: CheckRuns,
}

const OUTBOX_SQL: &str = "
SELECT count(*) FILTER (WHERE status = 'waiting') AS waiting,
       count(*) FILTER (WHERE status = 'sending') AS sending,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'waiting' AND attempts > 0) AS retrying,
       min(created_at) FILTER (WHERE status = 'waiting') AS oldest_waiting
FROM outbox
WHERE status IN ('waiting', 'sending', 'failed')";

const CHECK_SQL: &str = "
WITH latest AS (
    SELECT coalesce(finished_at, started_at) AS at,
           last_error IS NOT NULL OR coalesce(outcome->>'holds', '') = 'false' AS failed
    FROM job_runs WHERE job = $1
    ORDER BY day DESC LIMIT 1
)
SELECT (SELECT at FROM latest) AS last_run,
       coalesce((SELECT failed FROM latest), false) AS last_failed,
       (SELECT max(finished_at) FROM job_runs
        WHERE job = $1 AND finished_at IS NOT NULL AND last_error IS NULL
          AND coalesce(outcome->>'holds', '') <> 'false') AS last_success";

/// The job name under which `passnum check` records its runs.
pub const CHECK_JOB: &str = "check";

/// Reads the money metrics, read-only, in one snapshot of the database.
pub async fn snapshot(conn: &mut AsyncPgConnection) -> Result<MoneySnapshot, DbError> {
    let today = french_date(Utc::now());
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| {
            diesel::sql_query(format!(
                "SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"
            ))
            .execute(conn)
            .await?;
            let rows: Vec<(Uuid, String, ProgramStatus)> = program_rows::table
                .select((program_rows::id, program_rows::name, program_rows::status))
                .order((program_rows::name.asc(), program_rows::id.asc()))
                .load(conn)
                .await?;
            let mut money = Vec::with_capacity(rows.len());
            for (id, name, status) in rows {
                let funding = programs::funding(conn, id).await?;
                money.push(ProgramMoney {
                    id,
                    name,
                    open: status == ProgramStatus::Open,
                    held: funding.held(),
                    outstanding: funding.outstanding,
                    payable: funding.payable,
                    commission: funding.commission,
                });
            }
            let outbox = diesel::sql_query(OUTBOX_SQL).get_result(conn).await?;
            let check = diesel::sql_query(CHECK_SQL)
                .bind::<Text, _>(CHECK_JOB)
                .get_result(conn)
                .await?;
            Ok(MoneySnapshot {
                programs: money,
                unsettled_months: alerts::unsettled_months(conn, today).await?,
                outbox,
                check,
            })
        })
        .await
}

/// Prometheus text, written by hand (see the module's doc).
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP passnum_{name} {help}");
        let _ = writeln!(self.text, "# TYPE passnum_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        let _ = write!(self.text, "passnum_{name}");
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.text, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn gauge(&mut self, name: &str, help: &str, value: impl Display) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds since the epoch, 0 for never.
fn seconds(at: Option<DateTime<Utc>>) -> i64 {
    at.map_or(0, |at| at.timestamp())
}

/// An amount with its two decimals, whatever scale the sum left it with.
fn euros(amount: Decimal) -> Decimal {
    let mut amount = amount.round_dp(2);
    amount.rescale(2);
    amount
}

/// The end of a month (its last moment, the first of the next month at midnight,
/// Paris time), as seconds since the epoch.
fn month_end(month: NaiveDate) -> i64 {
    month
        .with_day(1)
        .and_then(|first| first.checked_add_months(Months::new(1)))
        .and_then(|next| {
            next.and_time(NaiveTime::MIN)
                .and_local_timezone(chrono_tz::Europe::Paris)
                .earliest()
        })
        .map_or(0, |at| at.timestamp())
}

/// The money metrics as Prometheus text: the snapshot's, or only
/// `passnum_money_metrics_up 0` when the database did not answer.
pub fn exposition(snapshot: Option<&MoneySnapshot>, read_seconds: f64) -> String {
    let mut out = Exposition::default();
    out.gauge(
        "money_metrics_up",
        "1 when the money metrics below were read from the database at this scrape, 0 when it did not answer",
        u8::from(snapshot.is_some()),
    );
    out.gauge(
        "money_metrics_read_seconds",
        "How long reading the money metrics took",
        format!("{read_seconds:.6}"),
    );
    let Some(snapshot) = snapshot else {
        return out.text;
    };
    type Column = (&'static str, &'static str, fn(&ProgramMoney) -> Decimal);
    let columns: [Column; 6] = [
        (
            "program_held_euros",
            "Money held for the program: received from funders, minus paid out and refunded",
            |p| p.held,
        ),
        (
            "program_outstanding_euros",
            "Value of the program's tickets in circulation (issued, not used)",
            |p| p.outstanding,
        ),
        (
            "program_payable_euros",
            "Owed to sites for the program's used tickets, not yet paid out",
            |p| p.payable,
        ),
        (
            "program_commission_euros",
            "Owed to the operator as commission, not yet paid out",
            |p| p.commission,
        ),
        (
            "program_owed_euros",
            "Everything the program owes: outstanding + payable + commission",
            ProgramMoney::owed,
        ),
        (
            "program_cover_margin_euros",
            "Cover margin: held - owed (below zero the cover is broken)",
            |p| p.held - p.owed(),
        ),
    ];
    let labels = |p: &ProgramMoney| -> [(&'static str, String); 3] {
        [
            ("program_id", p.id.to_string()),
            ("program", p.name.clone()),
            ("status", if p.open { "open" } else { "closed" }.to_string()),
        ]
    };
    for (name, help, value) in columns {
        out.family(name, "gauge", help);
        for program in &snapshot.programs {
            let l = labels(program);
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            out.sample(name, &l, euros(value(program)));
        }
    }
    out.family(
        "program_cover_margin_ratio",
        "gauge",
        "Cover margin as a share of what is owed: (held - owed) / owed; absent when nothing is owed",
    );
    for program in &snapshot.programs {
        if let Some(ratio) = alerts::margin(program.held, program.owed()) {
            let l = labels(program);
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            out.sample("program_cover_margin_ratio", &l, ratio);
        }
    }
    out.family(
        "program_cover_level",
        "gauge",
        "The dashboard's cover rule: 0 all well, 1 low (open program, margin under 10 %), 2 broken (held below owed)",
    );
    for program in &snapshot.programs {
        let l = labels(program);
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.sample("program_cover_level", &l, program.cover_level());
    }

    out.gauge(
        "unsettled_finished_months",
        "Finished months (Paris time) with live scans that no settlement covers",
        snapshot.unsettled_months.len(),
    );
    type MonthColumn = (&'static str, &'static str, fn(&UnsettledMonth) -> String);
    let month_columns: [MonthColumn; 3] = [
        (
            "unsettled_month_payable_euros",
            "What sites are owed for the unsettled scans of a finished month",
            |m| euros(m.amount_payable).to_string(),
        ),
        (
            "unsettled_month_redemptions",
            "Live scans of a finished month that no settlement covers",
            |m| m.redemptions.to_string(),
        ),
        (
            "unsettled_month_end_timestamp_seconds",
            "When the unsettled month ended (Paris time), seconds since the epoch",
            |m| month_end(m.month).to_string(),
        ),
    ];
    for (name, help, value) in month_columns {
        out.family(name, "gauge", help);
        for month in &snapshot.unsettled_months {
            let label = month.month.format("%Y-%m").to_string();
            out.sample(name, &[("month", &label)], value(month));
        }
    }

    out.family(
        "outbox_mails",
        "gauge",
        "Mails of the outbox not sent, by status (waiting, sending, failed: given up)",
    );
    for (status, count) in [
        ("waiting", snapshot.outbox.waiting),
        ("sending", snapshot.outbox.sending),
        ("failed", snapshot.outbox.failed),
    ] {
        out.sample("outbox_mails", &[("status", status)], count);
    }
    out.gauge(
        "outbox_retrying_mails",
        "Mails waiting after at least one failed attempt",
        snapshot.outbox.retrying,
    );
    out.gauge(
        "outbox_oldest_waiting_timestamp_seconds",
        "When the oldest mail still waiting was written, seconds since the epoch (0: none waiting)",
        seconds(snapshot.outbox.oldest_waiting),
    );

    out.gauge(
        "check_last_run_timestamp_seconds",
        "When the latest passnum check finished, seconds since the epoch (0: never)",
        seconds(snapshot.check.last_run),
    );
    out.gauge(
        "check_last_success_timestamp_seconds",
        "When the latest passnum check that found nothing wrong finished (0: never)",
        seconds(snapshot.check.last_success),
    );
    out.gauge(
        "check_last_run_failed",
        "1 when the latest passnum check failed or named a violation",
        u8::from(snapshot.check.last_failed),
    );
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("a decimal")
    }

    fn program(name: &str, held: &str, outstanding: &str, payable: &str) -> ProgramMoney {
        ProgramMoney {
            id: Uuid::nil(),
            name: name.into(),
            open: true,
            held: dec(held),
            outstanding: dec(outstanding),
            payable: dec(payable),
            commission: dec("0"),
        }
    }

    #[test]
    fn amounts_are_written_as_decimals_and_labels_escaped() {
        let snapshot = MoneySnapshot {
            programs: vec![
                program("Haute-Saône \"2026\"\\\n", "1000.5", "900", "0.10"),
                program("Fragile", "100", "95", "0"),
                program("Broken", "100", "100.01", "0"),
            ],
            unsettled_months: vec![UnsettledMonth {
                month: NaiveDate::from_ymd_opt(2026, 10, 1).expect("a date"),
                redemptions: 3,
                sites: 1,
                amount_payable: dec("30"),
            }],
            outbox: OutboxDepth::default(),
            check: CheckRuns::default(),
        };
        let text = exposition(Some(&snapshot), 0.01);
        let labels = "program_id=\"00000000-0000-0000-0000-000000000000\",program=\"Haute-Saône \\\"2026\\\"\\\\\\n\",status=\"open\"";
        for line in [
            format!("passnum_program_held_euros{{{labels}}} 1000.50"),
            format!("passnum_program_owed_euros{{{labels}}} 900.10"),
            format!("passnum_program_cover_margin_euros{{{labels}}} 100.40"),
            format!("passnum_program_cover_level{{{labels}}} 0"),
            "passnum_unsettled_month_payable_euros{month=\"2026-10\"} 30.00".into(),
            // 1 November 2026, midnight in Paris (UTC+1).
            "passnum_unsettled_month_end_timestamp_seconds{month=\"2026-10\"} 1793487600".into(),
            "passnum_check_last_run_timestamp_seconds 0".into(),
            "passnum_money_metrics_up 1".into(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        let level = |name: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("passnum_program_cover_level")
                        && l.contains(&format!("program=\"{name}\""))
                })
                .unwrap_or_default()
                .to_string()
        };
        assert!(level("Fragile").ends_with(" 1"), "{text}");
        assert!(level("Broken").ends_with(" 2"), "{text}");
        assert_eq!(
            exposition(None, 5.0)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            [
                "passnum_money_metrics_up 0",
                "passnum_money_metrics_read_seconds 5.000000"
            ]
        );
    }
}
