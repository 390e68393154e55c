//! Money and rates: decimal, never float. `Money` is euros with exactly two
//! decimals; `Rate` a fraction in [0, 1) with at most four decimals; `Share` a
//! fraction in (0, 1] with at most four decimals.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::domain::ValidationError;

/// The largest amount the service handles: one billion euros.
const MAX_EUROS: i64 = 1_000_000_000;

/// An amount in euros, two decimals, zero or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Parses `"10.00"`, `"10.5"` or `"10"` (no more than two decimals, no sign).
    pub fn parse(field: &str, raw: &str) -> Result<Money, ValidationError> {
        let refuse = |why: &str| {
            ValidationError::new(
                field,
                format!("« {raw} » n’est pas un montant valide : {why} (exemple : \"10.00\")."),
            )
        };
        let text = raw.trim();
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(refuse(
                "seuls des chiffres et un point décimal sont acceptés",
            ));
        }
        let value = Decimal::from_str(text).map_err(|_| refuse("nombre illisible"))?;
        if value.scale() > 2 && value.normalize().scale() > 2 {
            return Err(refuse("au plus deux décimales"));
        }
        if value > Decimal::from(MAX_EUROS) {
            return Err(refuse("montant trop élevé"));
        }
        Ok(Money::from_decimal_unchecked(value))
    }

    /// Amounts that must be positive (a ticket value, a budget, a payment).
    pub fn parse_positive(field: &str, raw: &str) -> Result<Money, ValidationError> {
        let money = Money::parse(field, raw)?;
        if money.is_zero() {
            return Err(ValidationError::new(
                field,
                "Le montant doit être supérieur à zéro.",
            ));
        }
        Ok(money)
    }

    /// From a decimal already known to have at most two decimals (database values).
    pub fn from_decimal_unchecked(value: Decimal) -> Money {
        let mut value = value.round_dp(2);
        value.rescale(2);
        Money(value)
    }

    pub fn from_cents(cents: i64) -> Money {
        Money(Decimal::new(cents, 2))
    }

    pub fn cents(&self) -> i64 {
        (self.0 * Decimal::ONE_HUNDRED).to_i64().unwrap_or(i64::MAX)
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub fn times(&self, n: u32) -> Money {
        Money::from_decimal_unchecked(self.0 * Decimal::from(n))
    }

    /// French display: "10,00 €", "1 250,00 €" (see [`crate::french::euros`]).
    pub fn french(&self) -> String {
        crate::french::euros(self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn parse_fraction(field: &str, raw: &str, what: &str) -> Result<Decimal, ValidationError> {
    let refuse = || {
        ValidationError::new(
            field,
            format!(
                "« {raw} » n’est pas {what} valide : un nombre décimal entre 0 et 1, quatre décimales au plus (exemple : \"0.04\")."
            ),
        )
    };
    let text = raw.trim();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(refuse());
    }
    let value = Decimal::from_str(text).map_err(|_| refuse())?.normalize();
    if value.scale() > 4 || value > Decimal::ONE {
        return Err(refuse());
    }
    Ok(value)
}

/// A rate in [0, 1): commission, funder fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate(Decimal);

impl Rate {
    pub fn parse(field: &str, raw: &str) -> Result<Rate, ValidationError> {
        let value = parse_fraction(field, raw, "un taux")?;
        if value >= Decimal::ONE {
            return Err(ValidationError::new(
                field,
                "Un taux doit être inférieur à 1 (100 %).",
            ));
        }
        Ok(Rate(value))
    }

    pub fn from_decimal_unchecked(value: Decimal) -> Rate {
        Rate(value.normalize())
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }
}

/// A funder's share of a program in (0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share(Decimal);

impl Share {
    pub fn parse(field: &str, raw: &str) -> Result<Share, ValidationError> {
        let value = parse_fraction(field, raw, "une part")?;
        if value.is_zero() {
            return Err(ValidationError::new(
                field,
                "Une part doit être supérieure à zéro.",
            ));
        }
        Ok(Share(value))
    }

    pub fn from_decimal_unchecked(value: Decimal) -> Share {
        Share(value.normalize())
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }
}

/// Formats a rate or share with four decimals for the wire ("0.0400").
pub fn fraction_string(value: Decimal) -> String {
    let mut v = value;
    v.rescale(4);
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn money_parses_two_decimals_at_most() {
        let cases = [
            ("10.00", Some("10.00")),
            ("10", Some("10.00")),
            ("10.5", Some("10.50")),
            ("0.01", Some("0.01")),
            ("10.000", Some("10.00")),
            ("10.001", None),
            ("-1", None),
            ("1e3", None),
            ("", None),
            ("10,00", None),
            ("1000000001", None),
            (" 7.20 ", Some("7.20")),
        ];
        for (raw, expected) in cases {
            let got = Money::parse("amount", raw).ok().map(|m| m.to_string());
            assert_eq!(got.as_deref(), expected, "case {raw:?}");
        }
        assert!(Money::parse_positive("amount", "0.00").is_err());
        assert_eq!(Money::parse("a", "12.3").unwrap().french(), "12,30 €");
        assert_eq!(Money::parse("a", "12.34").unwrap().cents(), 1234);
        assert_eq!(Money::from_cents(1000).times(10).to_string(), "100.00");
    }

    #[test]
    fn rates_and_shares() {
        assert_eq!(
            Rate::parse("r", "0.04").unwrap().decimal().to_string(),
            "0.04"
        );
        assert!(Rate::parse("r", "1").is_err());
        assert!(Rate::parse("r", "0.00001").is_err());
        assert!(Rate::parse("r", "-0.1").is_err());
        assert!(Share::parse("s", "1").is_ok());
        assert!(Share::parse("s", "0").is_err());
        assert!(Share::parse("s", "1.0001").is_err());
        assert_eq!(
            fraction_string(Share::parse("s", "0.6").unwrap().decimal()),
            "0.6000"
        );
    }

    proptest! {
        #[test]
        fn money_round_trips_through_its_text(cents in 0i64..100_000_000_000) {
            let m = Money::from_cents(cents);
            let back = Money::parse("m", &m.to_string()).unwrap();
            prop_assert_eq!(back, m);
            prop_assert_eq!(back.cents(), cents);
        }

        #[test]
        fn money_parser_never_panics(s in "\\PC{0,30}") {
            let _ = Money::parse("m", &s);
            let _ = Rate::parse("r", &s);
            let _ = Share::parse("s", &s);
        }
    }
}
