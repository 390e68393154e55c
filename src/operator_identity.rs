//! The operator's legal identity: the name, SIREN, VAT number, address and bank
//! account printed on every document the service writes (statements, invoices, the
//! SEPA file, the FEC's name). It comes from configuration (`PASSNUM_OPERATOR_*`,
//! read by [`crate::config`]); production refuses to start without it. Elsewhere,
//! when none is configured, the demonstration identity is used: believable, but
//! marked as such ([`OperatorIdentity::mark`]) on every document.
//!
//! Values that parse, no I/O: an `OperatorIdentity` that exists is whole and valid.

use serde::Deserialize;

use crate::bank::Bic;
use crate::domain::{Iban, ValidationError};

/// Printed on every document made with the demonstration identity.
pub const FICTITIOUS_MARK: &str = "IDENTITÉ FICTIVE — démonstration";

/// The operator's identity, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorIdentity {
    /// Legal name (raison sociale).
    pub name: String,
    /// Nine digits, Luhn checksum.
    pub siren: String,
    /// French intra-community VAT number: `FR`, its two-digit key, the SIREN.
    pub vat_number: String,
    /// Street line of the head office.
    pub address: String,
    pub postcode: String,
    pub city: String,
    /// ISO 3166 alpha-2 (`FR`).
    pub country: String,
    /// The account the payouts leave from.
    pub iban: Iban,
    pub bic: Bic,
    /// The demonstration identity (no configuration): every document says so.
    pub fictitious: bool,
}

/// The identity as configured, every part optional: `PASSNUM_OPERATOR_NAME`,
/// `…_SIREN`, `…_VAT_NUMBER`, `…_ADDRESS`, `…_POSTCODE`, `…_CITY`, `…_COUNTRY`
/// (default `FR`), `…_IBAN`, `…_BIC`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OperatorConfig {
    #[serde(default)]
    pub operator_name: Option<String>,
    #[serde(default)]
    pub operator_siren: Option<String>,
    #[serde(default)]
    pub operator_vat_number: Option<String>,
    #[serde(default)]
    pub operator_address: Option<String>,
    #[serde(default)]
    pub operator_postcode: Option<String>,
    #[serde(default)]
    pub operator_city: Option<String>,
    #[serde(default)]
    pub operator_country: Option<String>,
    #[serde(default)]
    pub operator_iban: Option<String>,
    #[serde(default)]
    pub operator_bic: Option<String>,
}

impl OperatorConfig {
    /// Takes the `PASSNUM_OPERATOR_*` variables that `read` gives, as written (they win
    /// over the files, like every variable).
    pub fn merge_environment(&mut self, read: impl Fn(&str) -> Option<String>) {
        for (name, field) in [
            ("PASSNUM_OPERATOR_NAME", &mut self.operator_name),
            ("PASSNUM_OPERATOR_SIREN", &mut self.operator_siren),
            ("PASSNUM_OPERATOR_VAT_NUMBER", &mut self.operator_vat_number),
            ("PASSNUM_OPERATOR_ADDRESS", &mut self.operator_address),
            ("PASSNUM_OPERATOR_POSTCODE", &mut self.operator_postcode),
            ("PASSNUM_OPERATOR_CITY", &mut self.operator_city),
            ("PASSNUM_OPERATOR_COUNTRY", &mut self.operator_country),
            ("PASSNUM_OPERATOR_IBAN", &mut self.operator_iban),
            ("PASSNUM_OPERATOR_BIC", &mut self.operator_bic),
        ] {
            if let Some(value) = read(name) {
                *field = Some(value);
            }
        }
    }
}

/// Why a configured identity is refused: the settings to fix, named for an operator
/// of the service (in English, like every configuration error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "the operator's legal identity is not configured: production needs {0} (name, SIREN, \
         VAT number, address, IBAN and BIC, printed on every statement, invoice and bank file)"
    )]
    Missing(String),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
}

const REQUIRED: [&str; 8] = [
    "PASSNUM_OPERATOR_NAME",
    "PASSNUM_OPERATOR_SIREN",
    "PASSNUM_OPERATOR_VAT_NUMBER",
    "PASSNUM_OPERATOR_ADDRESS",
    "PASSNUM_OPERATOR_POSTCODE",
    "PASSNUM_OPERATOR_CITY",
    "PASSNUM_OPERATOR_IBAN",
    "PASSNUM_OPERATOR_BIC",
];

impl OperatorConfig {
    fn required(&self) -> [Option<&str>; 8] {
        [
            &self.operator_name,
            &self.operator_siren,
            &self.operator_vat_number,
            &self.operator_address,
            &self.operator_postcode,
            &self.operator_city,
            &self.operator_iban,
            &self.operator_bic,
        ]
        .map(|v| v.as_deref().map(str::trim).filter(|v| !v.is_empty()))
    }

    /// The identity this configuration gives: `Ok(None)` when none of it is set (the
    /// caller then decides: the demonstration identity, or a refusal in production);
    /// a partial or invalid one is refused, naming what to fix.
    pub fn identity(&self) -> Result<Option<OperatorIdentity>, IdentityError> {
        let parts = self.required();
        if parts.iter().all(Option::is_none) {
            return Ok(None);
        }
        let missing: Vec<&str> = REQUIRED
            .iter()
            .zip(parts.iter())
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| *name)
            .collect();
        let [
            Some(name),
            Some(siren),
            Some(vat),
            Some(address),
            Some(postcode),
            Some(city),
            Some(iban),
            Some(bic),
        ] = parts
        else {
            return Err(IdentityError::Missing(missing.join(", ")));
        };
        let country = self
            .operator_country
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("FR");
        OperatorIdentity::new(
            Parts {
                name,
                siren,
                vat_number: vat,
                address,
                postcode,
                city,
                country,
                iban,
                bic,
            },
            false,
        )
        .map(Some)
    }
}

struct Parts<'a> {
    name: &'a str,
    siren: &'a str,
    vat_number: &'a str,
    address: &'a str,
    postcode: &'a str,
    city: &'a str,
    country: &'a str,
    iban: &'a str,
    bic: &'a str,
}

impl OperatorIdentity {
    fn new(parts: Parts<'_>, fictitious: bool) -> Result<OperatorIdentity, IdentityError> {
        let invalid =
            |name: &'static str| move |e: ValidationError| IdentityError::Invalid(name, e.message);
        let siren: String = parts.siren.chars().filter(|c| !c.is_whitespace()).collect();
        if !siren_valid(&siren) {
            return Err(IdentityError::Invalid(
                "PASSNUM_OPERATOR_SIREN",
                format!("{siren:?} is not a SIREN (nine digits, Luhn checksum)"),
            ));
        }
        let vat_number: String = parts
            .vat_number
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        let expected = vat_number_of(&siren);
        if vat_number != expected {
            return Err(IdentityError::Invalid(
                "PASSNUM_OPERATOR_VAT_NUMBER",
                format!("{vat_number:?} is not the VAT number of SIREN {siren} ({expected})"),
            ));
        }
        let country = parts.country.to_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(IdentityError::Invalid(
                "PASSNUM_OPERATOR_COUNTRY",
                format!("{country:?} is not a two-letter country code such as FR"),
            ));
        }
        let iban = Iban::parse("iban", parts.iban).map_err(invalid("PASSNUM_OPERATOR_IBAN"))?;
        let bic = Bic::parse("bic", parts.bic).map_err(invalid("PASSNUM_OPERATOR_BIC"))?;
        bic.check_matches("bic", &iban)
            .map_err(invalid("PASSNUM_OPERATOR_BIC"))?;
        Ok(OperatorIdentity {
            name: parts.name.to_string(),
            siren,
            vat_number,
            address: parts.address.to_string(),
            postcode: parts.postcode.to_string(),
            city: parts.city.to_string(),
            country,
            iban,
            bic,
            fictitious,
        })
    }

    /// The identity used when none is configured (development, tests, the demo):
    /// the demo territory's operator (`passnum demo`), with a SIREN, a VAT number
    /// and an IBAN whose checksums hold — but that exist nowhere, and every document
    /// says so ([`OperatorIdentity::mark`]).
    pub fn demonstration() -> OperatorIdentity {
        let parts = Parts {
            name: "Hub numérique de Haute-Saône",
            siren: "912345675",
            vat_number: "FR65912345675",
            address: "4 place du Grand Puits",
            postcode: "70000",
            city: "Vesoul",
            country: "FR",
            iban: "FR76 3000 3017 2000 0503 1874 272",
            bic: "SOGEFRPP",
        };
        match OperatorIdentity::new(parts, true) {
            Ok(identity) => identity,
            // The values above are checked by a test.
            Err(err) => unreachable!("the demonstration identity is valid: {err}"),
        }
    }

    /// `Some("IDENTITÉ FICTIVE — démonstration")` for the demonstration identity: to
    /// print on every document made with it.
    pub fn mark(&self) -> Option<&'static str> {
        self.fictitious.then_some(FICTITIOUS_MARK)
    }

    /// The name, followed by the mark when fictitious: for places with one line.
    pub fn display_name(&self) -> String {
        match self.mark() {
            Some(mark) => format!("{} ({mark})", self.name),
            None => self.name.clone(),
        }
    }
}

impl Default for OperatorIdentity {
    /// The demonstration identity, marked as such.
    fn default() -> Self {
        OperatorIdentity::demonstration()
    }
}

/// Nine digits whose Luhn checksum holds (La Poste's SIREN 356000000 too).
fn siren_valid(siren: &str) -> bool {
    if siren.len() != 9 || !siren.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = siren
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The French VAT number of a SIREN: `FR`, key = (12 + 3 × (SIREN mod 97)) mod 97.
pub fn vat_number_of(siren: &str) -> String {
    let n: u64 = siren.parse().unwrap_or_default();
    let key = (12 + 3 * (n % 97)) % 97;
    format!("FR{key:02}{siren}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values_are_taken_as_written() {
        let mut config = OperatorConfig::default();
        config.merge_environment(|name| {
            (name == "PASSNUM_OPERATOR_POSTCODE").then(|| "07000".to_string())
        });
        assert_eq!(config.operator_postcode.as_deref(), Some("07000"));
        assert!(config.operator_siren.is_none());
    }

    fn full() -> OperatorConfig {
        OperatorConfig {
            operator_name: Some("Les Assembleurs".into()),
            operator_siren: Some("912 345 675".into()),
            operator_vat_number: Some("fr 65 912345675".into()),
            operator_address: Some("1 rue de la Paix".into()),
            operator_postcode: Some("75002".into()),
            operator_city: Some("Paris".into()),
            operator_country: None,
            operator_iban: Some("FR76 3000 6000 0112 3456 7890 189".into()),
            operator_bic: Some("AGRIFRPP".into()),
        }
    }

    #[test]
    fn the_demonstration_identity_is_valid_and_marked() {
        let demo = OperatorIdentity::demonstration();
        assert!(demo.fictitious);
        assert_eq!(demo.mark(), Some("IDENTITÉ FICTIVE — démonstration"));
        assert!(
            demo.display_name()
                .ends_with("(IDENTITÉ FICTIVE — démonstration)")
        );
        assert_eq!(demo.vat_number, vat_number_of(&demo.siren));
        assert_eq!(OperatorIdentity::default(), demo);
    }

    #[test]
    fn a_configured_identity_is_whole_and_checked() {
        assert_eq!(OperatorConfig::default().identity(), Ok(None));
        let identity = full().identity().unwrap().unwrap();
        assert!(!identity.fictitious);
        assert_eq!(identity.mark(), None);
        assert_eq!(identity.display_name(), "Les Assembleurs");
        assert_eq!(identity.siren, "912345675");
        assert_eq!(identity.vat_number, "FR65912345675");
        assert_eq!(identity.country, "FR");
        assert_eq!(identity.iban.as_str(), "FR7630006000011234567890189");

        type Change = fn(&mut OperatorConfig);
        let cases: [(&str, Change, &str); 7] = [
            ("no BIC", |c| c.operator_bic = None, "PASSNUM_OPERATOR_BIC"),
            (
                "blank name",
                |c| c.operator_name = Some("  ".into()),
                "PASSNUM_OPERATOR_NAME",
            ),
            (
                "SIREN typo",
                |c| c.operator_siren = Some("912345676".into()),
                "PASSNUM_OPERATOR_SIREN",
            ),
            (
                "VAT of another",
                |c| c.operator_vat_number = Some("FR00912345675".into()),
                "PASSNUM_OPERATOR_VAT_NUMBER",
            ),
            (
                "IBAN typo",
                |c| c.operator_iban = Some("FR7630006000011234567890188".into()),
                "PASSNUM_OPERATOR_IBAN",
            ),
            (
                "German BIC",
                |c| c.operator_bic = Some("COBADEFF".into()),
                "PASSNUM_OPERATOR_BIC",
            ),
            (
                "country",
                |c| c.operator_country = Some("France".into()),
                "PASSNUM_OPERATOR_COUNTRY",
            ),
        ];
        for (case, change, names) in cases {
            let mut config = full();
            change(&mut config);
            let err = config.identity().expect_err(case).to_string();
            assert!(err.contains(names), "{case}: {err}");
        }
    }

    #[test]
    fn sirens_and_vat_numbers() {
        assert!(siren_valid("732829320"));
        assert!(siren_valid("356000000"));
        assert!(!siren_valid("732829321"));
        assert!(!siren_valid("73282932"));
        assert_eq!(vat_number_of("732829320"), "FR44732829320");
    }
}
