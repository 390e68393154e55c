//! The one place where values are written the French way, for people: amounts,
//! counts, rates, distances, dates, and instants in Paris time. Pure functions (the
//! domain floor): the PDFs, the mails and the API's French `detail`s all call them.
//!
//! Thousands are separated by a plain space, so that the text is easy to search
//! (`1 250,50 €`); decimals by a comma.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// The digits of `digits` grouped by three from the right: `1234567` → `1 234 567`.
fn grouped(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

/// An amount: `10,00 €`, `1 250,50 €`, `-3,00 €` (rounded to the cent, half away
/// from zero).
pub fn euros(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let digits = format!("{:.2}", rounded.abs());
    let (units, cents) = digits.split_once('.').unwrap_or((digits.as_str(), "00"));
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{},{cents} €", grouped(units))
}

/// A count: `10 000`.
pub fn count(count: usize) -> String {
    grouped(&count.to_string())
}

/// A rate as a percentage: `0.04` → `4,00 %`, `0.33335` → `33,335 %` (at least two
/// decimals, never fewer than the rate has).
pub fn rate(rate: Decimal) -> String {
    let Some(percent) = rate.checked_mul(Decimal::ONE_HUNDRED) else {
        return "—".to_owned();
    };
    let mut percent = if percent.is_zero() {
        Decimal::ZERO
    } else {
        percent.normalize()
    };
    if percent.scale() < 2 {
        percent.rescale(2);
    }
    format!("{} %", percent.to_string().replace('.', ","))
}

/// A distance: `2,4 km` under 10 km, `12 km` from there; `None` for a negative or
/// non-finite distance.
pub fn distance_km(km: f64) -> Option<String> {
    if !km.is_finite() || km < 0.0 {
        return None;
    }
    let text = if km < 9.95 {
        format!("{km:.1}").replace('.', ",")
    } else {
        format!("{km:.0}")
    };
    Some(format!("{text} km"))
}

/// A date: `31/12/2027`.
pub fn date(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// How an instant is written, always in Paris time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// `23/11/2026 à 14:05`: in a sentence (mails).
    Sentence,
    /// `23/11/2026 à 14 h 05`: spoken, in the answers read on a site's screen.
    Spoken,
    /// `23/11/2026 14:05`: in a table column whose heading says "heure de Paris".
    Column,
}

/// An instant in Paris time (winter or summer time as it was then).
pub fn date_time(at: DateTime<Utc>, style: TimeStyle) -> String {
    let pattern = match style {
        TimeStyle::Sentence => "%d/%m/%Y à %H:%M",
        TimeStyle::Spoken => "%d/%m/%Y à %H h %M",
        TimeStyle::Column => "%d/%m/%Y %H:%M",
    };
    at.with_timezone(&chrono_tz::Europe::Paris)
        .format(pattern)
        .to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn amounts_are_rounded_to_the_cent_and_grouped_by_thousands() {
        let cases = [
            (Decimal::new(1000, 2), "10,00 €"),
            (Decimal::new(5, 0), "5,00 €"),
            (Decimal::new(99999, 2), "999,99 €"),
            (Decimal::new(125050, 2), "1 250,50 €"),
            (Decimal::new(100000000, 2), "1 000 000,00 €"),
            (Decimal::new(-300, 2), "-3,00 €"),
            (Decimal::new(-123456, 2), "-1 234,56 €"),
            (Decimal::new(1005, 3), "1,01 €"),
            (Decimal::new(-1005, 3), "-1,01 €"),
            (Decimal::new(-1, 3), "0,00 €"),
        ];
        for (value, expected) in cases {
            assert_eq!(euros(value), expected, "euros({value})");
        }
    }

    #[test]
    fn counts_rates_and_distances() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1 000");
        assert_eq!(count(10_000), "10 000");
        assert_eq!(count(1_234_567), "1 234 567");
        assert_eq!(rate(Decimal::new(4, 2)), "4,00 %");
        assert_eq!(rate(Decimal::new(4, 1)), "40,00 %");
        assert_eq!(rate(Decimal::new(3333, 4)), "33,33 %");
        assert_eq!(rate(Decimal::new(33335, 5)), "33,335 %");
        assert_eq!(rate(Decimal::new(400, 4)), "4,00 %");
        assert_eq!(rate(Decimal::ZERO), "0,00 %");
        assert_eq!(rate(Decimal::ONE), "100,00 %");
        assert_eq!(rate(Decimal::MAX), "—");
        assert_eq!(distance_km(2.44).as_deref(), Some("2,4 km"));
        assert_eq!(distance_km(0.0).as_deref(), Some("0,0 km"));
        assert_eq!(distance_km(9.96).as_deref(), Some("10 km"));
        assert_eq!(distance_km(11.3).as_deref(), Some("11 km"));
        assert_eq!(distance_km(f64::NAN), None);
        assert_eq!(distance_km(-1.0), None);
    }

    #[test]
    fn dates_are_day_month_year() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(date(d(2027, 12, 31)), "31/12/2027");
        assert_eq!(date(d(2026, 3, 5)), "05/03/2026");
    }

    #[test]
    fn instants_are_in_paris_time_winter_and_summer() {
        let utc = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        let cases = [
            // Winter time: UTC+1.
            (
                utc(2026, 11, 23, 13, 5),
                TimeStyle::Sentence,
                "23/11/2026 à 14:05",
            ),
            (
                utc(2026, 11, 23, 13, 5),
                TimeStyle::Spoken,
                "23/11/2026 à 14 h 05",
            ),
            (
                utc(2026, 11, 23, 13, 5),
                TimeStyle::Column,
                "23/11/2026 14:05",
            ),
            // Summer time: UTC+2.
            (
                utc(2026, 7, 1, 13, 5),
                TimeStyle::Sentence,
                "01/07/2026 à 15:05",
            ),
            (
                utc(2026, 7, 1, 13, 5),
                TimeStyle::Column,
                "01/07/2026 15:05",
            ),
            // Midnight in Paris is the evening before in UTC: the Paris day counts.
            (
                utc(2026, 12, 31, 23, 0),
                TimeStyle::Sentence,
                "01/01/2027 à 00:00",
            ),
            (
                utc(2026, 6, 30, 22, 0),
                TimeStyle::Spoken,
                "01/07/2026 à 00 h 00",
            ),
            (
                utc(2026, 6, 30, 21, 59),
                TimeStyle::Column,
                "30/06/2026 23:59",
            ),
            // The hour that happens twice when summer time ends (27/10/2024).
            (
                utc(2024, 10, 27, 0, 30),
                TimeStyle::Column,
                "27/10/2024 02:30",
            ),
            (
                utc(2024, 10, 27, 1, 30),
                TimeStyle::Column,
                "27/10/2024 02:30",
            ),
            // The hour that never happens when summer time starts (31/03/2024).
            (
                utc(2024, 3, 31, 0, 59),
                TimeStyle::Column,
                "31/03/2024 01:59",
            ),
            (
                utc(2024, 3, 31, 1, 0),
                TimeStyle::Column,
                "31/03/2024 03:00",
            ),
        ];
        for (at, style, expected) in cases {
            assert_eq!(date_time(at, style), expected, "{at} {style:?}");
        }
    }
}
