//! Bank identifiers beside the IBAN ([`crate::domain::Iban`]): the BIC (ISO 9362) and
//! its consistency with an IBAN's country. No I/O.

use std::fmt;

use crate::domain::{Iban, ValidationError};

/// A BIC (ISO 9362): four letters for the bank, two for its country, two letters or
/// digits for its location, and optionally three for the branch — 8 or 11
/// characters, stored upper case without spaces (`AGRIFRPP`, `SOGEFRPPXXX`).
#[derive(Clone, PartialEq, Eq)]
pub struct Bic(String);

impl Bic {
    pub fn parse(field: &str, raw: &str) -> Result<Bic, ValidationError> {
        let value: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        let shape = matches!(value.len(), 8 | 11)
            && value.is_ascii()
            && value[..6].chars().all(|c| c.is_ascii_uppercase())
            && value[6..].chars().all(|c| c.is_ascii_alphanumeric());
        if !shape {
            return Err(ValidationError::new(
                field,
                "Un BIC compte 8 ou 11 caractères : quatre lettres pour la banque, deux pour le pays, puis deux lettres ou chiffres, et parfois trois de plus pour l’agence (exemple : AGRIFRPP ou SOGEFRPPXXX).",
            ));
        }
        Ok(Bic(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two letters of the bank's country (`FR`).
    pub fn country(&self) -> &str {
        &self.0[4..6]
    }

    /// All but the bank's code hidden: `AGRI…`, for those who may not see it whole.
    pub fn masked(&self) -> String {
        format!("{}…", &self.0[..4])
    }

    /// Refuses a BIC whose country is not the IBAN's (nor one of its territories with
    /// their own code: a French IBAN is kept by banks of Guadeloupe, Réunion…).
    pub fn check_matches(&self, field: &str, iban: &Iban) -> Result<(), ValidationError> {
        let iban_country = &iban.as_str()[..2];
        if countries_match(iban_country, self.country()) {
            return Ok(());
        }
        Err(ValidationError::new(
            field,
            format!(
                "Ce BIC est celui d’une banque du pays « {} », mais l’IBAN est un compte du pays « {iban_country} » : vérifiez les deux (le BIC figure sur le RIB, à côté de l’IBAN).",
                self.country()
            ),
        ))
    }
}

impl fmt::Debug for Bic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bic({})", self.0)
    }
}

/// Territories whose banks carry their own ISO country code in the BIC while their
/// accounts have the IBAN country of the state (France, the United Kingdom).
const SAME_ACCOUNTS: &[(&str, &[&str])] = &[
    (
        "FR",
        &[
            "GP", "GF", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF",
        ],
    ),
    ("GB", &["GG", "JE", "IM"]),
];

fn countries_match(iban_country: &str, bic_country: &str) -> bool {
    iban_country == bic_country
        || SAME_ACCOUNTS.iter().any(|(state, territories)| {
            *state == iban_country && territories.contains(&bic_country)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bics_parse_by_their_shape() {
        let bic = Bic::parse("bic", " agri fr pp ").unwrap();
        assert_eq!(bic.as_str(), "AGRIFRPP");
        assert_eq!(bic.country(), "FR");
        assert_eq!(bic.masked(), "AGRI…");
        assert_eq!(
            Bic::parse("bic", "SOGEFRPPXXX").unwrap().as_str(),
            "SOGEFRPPXXX"
        );
        assert!(Bic::parse("bic", "DEUTDEFF500").is_ok());
        for bad in [
            "",
            "AGRIFRP",
            "AGRIFRPPX",
            "AGRIFRPPXX",
            "AGRIFRPPXXXX",
            "AGR1FRPP",
            "AGRIF1PP",
            "AGRIFRP-",
            "ÉGRIFRPP",
        ] {
            let err = Bic::parse("bic", bad).unwrap_err();
            assert_eq!(err.field, "bic", "{bad}");
            assert!(err.message.contains("8 ou 11"), "{bad}");
        }
    }

    #[test]
    fn a_bic_must_be_of_the_iban_s_country() {
        let french = Iban::parse("iban", "FR76 3000 6000 0112 3456 7890 189").unwrap();
        let german = Iban::parse("iban", "DE89370400440532013000").unwrap();
        let british = Iban::parse("iban", "GB82 WEST 1234 5698 7654 32").unwrap();
        for (bic, iban, ok) in [
            ("AGRIFRPP", &french, true),
            ("BNPAGPGP", &french, true),
            ("BNPARERX", &french, true),
            ("COBADEFF", &french, false),
            ("COBADEFF", &german, true),
            ("AGRIFRPP", &german, false),
            ("MIDLJESH", &british, true),
            ("MIDLGB22", &british, true),
            ("MIDLGPGP", &british, false),
        ] {
            let bic = Bic::parse("bic", bic).unwrap();
            let checked = bic.check_matches("bic", iban);
            assert_eq!(checked.is_ok(), ok, "{bic:?} {iban:?}");
            if let Err(err) = checked {
                assert!(err.message.contains("« "), "{}", err.message);
            }
        }
    }
}
