//! Domain values that parse: a value of these types that exists is valid. Handlers
//! turn request bodies into them first; every refusal names the field and says, in
//! French, what is expected. No HTTP and no SQL here.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A refused input value: which field, and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Kinds of organisations taking part in the scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Operator,
    Funder,
    Prescriber,
    Site,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Operator => "operator",
            OrgKind::Funder => "funder",
            OrgKind::Prescriber => "prescriber",
            OrgKind::Site => "site",
        }
    }

    pub fn parse(raw: &str) -> Option<OrgKind> {
        match raw {
            "operator" => Some(OrgKind::Operator),
            "funder" => Some(OrgKind::Funder),
            "prescriber" => Some(OrgKind::Prescriber),
            "site" => Some(OrgKind::Site),
            _ => None,
        }
    }
}

/// Kinds the operator may create (there is one operator, made at bootstrap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewOrgKind {
    Funder,
    Prescriber,
    Site,
}

impl From<NewOrgKind> for OrgKind {
    fn from(kind: NewOrgKind) -> OrgKind {
        match kind {
            NewOrgKind::Funder => OrgKind::Funder,
            NewOrgKind::Prescriber => OrgKind::Prescriber,
            NewOrgKind::Site => OrgKind::Site,
        }
    }
}

/// A user's role inside its organisation. The operator's admins run the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// An e-mail address, trimmed and lower-cased. Checks the shape only (one `@`, a
/// domain with a dot, no spaces): whether it receives mail is for the mail to tell.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Email, ValidationError> {
        let value = raw.trim().to_lowercase();
        let refuse = || {
            ValidationError::new(
                field,
                format!(
                    "« {} » n’est pas une adresse e-mail valide (exemple : prenom.nom@exemple.fr).",
                    raw.trim()
                ),
            )
        };
        if value.is_empty()
            || value.len() > 254
            || value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(refuse());
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(refuse());
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(refuse());
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A French postcode: five digits (Corsica's are 20xxx, overseas 97xxx and 98xxx).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Postcode(String);

impl Postcode {
    pub fn parse(field: &str, raw: &str) -> Result<Postcode, ValidationError> {
        let value = raw.trim();
        if value.len() == 5 && value.chars().all(|c| c.is_ascii_digit()) {
            Ok(Postcode(value.to_string()))
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "« {value} » n’est pas un code postal : cinq chiffres sont attendus (exemple : 70000)."
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The start of a postcode, one to five digits ("70" for a département), used to
/// filter and to define territories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostcodePrefix(String);

impl PostcodePrefix {
    pub fn parse(field: &str, raw: &str) -> Result<PostcodePrefix, ValidationError> {
        let value = raw.trim();
        if (1..=5).contains(&value.len()) && value.chars().all(|c| c.is_ascii_digit()) {
            Ok(PostcodePrefix(value.to_string()))
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "« {value} » n’est pas un début de code postal : de un à cinq chiffres sont attendus (exemple : 70 ou 70000)."
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, postcode: &str) -> bool {
        postcode.starts_with(&self.0)
    }
}

/// A SIRET (14 digits, Luhn checksum; La Poste's establishments follow their own rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Siret(String);

const LA_POSTE_SIREN: &str = "356000000";

impl Siret {
    pub fn parse(field: &str, raw: &str) -> Result<Siret, ValidationError> {
        let value: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if value.len() != 14 || !value.chars().all(|c| c.is_ascii_digit()) {
            return Err(ValidationError::new(
                field,
                "Un SIRET compte quatorze chiffres (exemple : 732 829 320 00074).",
            ));
        }
        let digits: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
        // La Poste's establishments share one SIREN and are numbered outside Luhn:
        // theirs is valid when the digits add up to a multiple of 5.
        let valid = luhn_valid(&digits)
            || (value.starts_with(LA_POSTE_SIREN) && digits.iter().sum::<u32>().is_multiple_of(5));
        if !valid {
            return Err(ValidationError::new(
                field,
                format!("Le SIRET {value} n’existe pas : un chiffre a sans doute été mal saisi."),
            ));
        }
        Ok(Siret(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A point on Earth in decimal degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

const EARTH_RADIUS_KM: f64 = 6371.0088;

impl Coordinates {
    pub fn new(latitude: f64, longitude: f64) -> Result<Coordinates, ValidationError> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(ValidationError::new(
                "latitude",
                "La latitude doit être comprise entre -90 et 90 degrés.",
            ));
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(ValidationError::new(
                "longitude",
                "La longitude doit être comprise entre -180 et 180 degrés.",
            ));
        }
        Ok(Coordinates {
            latitude,
            longitude,
        })
    }

    /// Both or neither: a site with half a position cannot be placed on a map.
    pub fn from_optional(
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> Result<Option<Coordinates>, ValidationError> {
        match (latitude, longitude) {
            (None, None) => Ok(None),
            (Some(lat), Some(lon)) => Coordinates::new(lat, lon).map(Some),
            (Some(_), None) => Err(ValidationError::new(
                "longitude",
                "La longitude manque : donnez la latitude et la longitude ensemble.",
            )),
            (None, Some(_)) => Err(ValidationError::new(
                "latitude",
                "La latitude manque : donnez la latitude et la longitude ensemble.",
            )),
        }
    }

    /// Parses `"LAT,LON"` as written in a query string.
    pub fn parse_pair(field: &str, raw: &str) -> Result<Coordinates, ValidationError> {
        let refuse = || {
            ValidationError::new(
                field,
                "Une position s’écrit « latitude,longitude » en degrés décimaux (exemple : 47.62,6.15).",
            )
        };
        let (lat, lon) = raw.split_once(',').ok_or_else(refuse)?;
        let lat: f64 = lat.trim().parse().map_err(|_| refuse())?;
        let lon: f64 = lon.trim().parse().map_err(|_| refuse())?;
        Coordinates::new(lat, lon).map_err(|e| ValidationError::new(field, e.message))
    }

    /// Great-circle distance (haversine), in kilometres.
    pub fn distance_km(&self, other: &Coordinates) -> f64 {
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// A non-empty line of text (names, cities), trimmed, at most `max` characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(
            field,
            "Ce champ ne peut pas être vide.",
        ));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("Ce champ est limité à {max} caractères."),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(ValidationError::new(
            field,
            "Ce champ contient des caractères de contrôle.",
        ));
    }
    Ok(value.to_string())
}

/// An optional line of text: absent or blank is `None`.
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => text(field, value, max).map(Some),
    }
}

/// Free text over several lines (opening hours): trimmed, at most `max` characters,
/// line breaks kept (written `\n`), no other control character.
pub fn multiline_text(field: &str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let value = raw.replace("\r\n", "\n");
    let lines: Vec<&str> = value.lines().map(str::trim_end).collect();
    let value = lines.join("\n").trim().to_string();
    if value.is_empty() {
        return Err(ValidationError::new(
            field,
            "Ce champ ne peut pas être vide.",
        ));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("Ce champ est limité à {max} caractères."),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new(
            field,
            "Ce champ contient des caractères de contrôle.",
        ));
    }
    Ok(value)
}

/// A telephone number, stored as its digits: ten digits beginning with 0 (French),
/// or `+` and 8 to 15 digits (international). Spaces, dots, dashes and brackets
/// between the digits are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Phone, ValidationError> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let allowed = |c: char| c.is_ascii_digit() || " .-()\u{a0}".contains(c);
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let valid = rest.chars().all(allowed)
            && if plus {
                (8..=15).contains(&digits.len())
            } else {
                digits.len() == 10 && digits.starts_with('0')
            };
        if !valid {
            return Err(ValidationError::new(
                field,
                format!(
                    "« {trimmed} » n’est pas un numéro de téléphone : dix chiffres sont attendus (exemple : 03 84 75 12 34), ou un numéro international commençant par +."
                ),
            ));
        }
        Ok(Phone(if plus { format!("+{digits}") } else { digits }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A website address: `http://` or `https://` (added when left out), a host with a
/// dot, no spaces, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Website(String);

impl Website {
    pub fn parse(field: &str, raw: &str) -> Result<Website, ValidationError> {
        let trimmed = raw.trim();
        let refuse = || {
            ValidationError::new(
                field,
                format!(
                    "« {trimmed} » n’est pas l’adresse d’un site web (exemple : https://www.mediatheque-vesoul.fr)."
                ),
            )
        };
        let lower = trimmed.to_ascii_lowercase();
        let value = if lower.starts_with("https://") || lower.starts_with("http://") {
            trimmed.to_string()
        } else if lower.contains("://") {
            return Err(refuse());
        } else {
            format!("https://{trimmed}")
        };
        let Some((_, rest)) = value.split_once("://") else {
            return Err(refuse());
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_ok = host.contains('.')
            && !host.starts_with('.')
            && !host.ends_with('.')
            && !host.contains('@')
            && host
                .chars()
                .all(|c| c.is_alphanumeric() || ".-:".contains(c));
        if !host_ok || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse());
        }
        if value.chars().count() > 200 {
            return Err(ValidationError::new(
                field,
                "L’adresse du site web est limitée à 200 caractères.",
            ));
        }
        Ok(Website(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IBAN (ISO 13616): two letters of country, two check digits, the account; its
/// checksum (mod 97) holds and its length is the country's. Spaces are ignored and
/// letters upper-cased: it is stored normalised (`FR7630006000011234567890189`).
#[derive(Clone, PartialEq, Eq)]
pub struct Iban(String);

/// The IBAN lengths of the SEPA countries (and their territories with their own code).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GI", 23),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("VA", 22),
];

impl Iban {
    pub fn parse(field: &str, raw: &str) -> Result<Iban, ValidationError> {
        let value: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase();
        let shape = value.len() >= 4
            && value.chars().all(|c| c.is_ascii_alphanumeric())
            && value[..2].chars().all(|c| c.is_ascii_uppercase())
            && value[2..4].chars().all(|c| c.is_ascii_digit());
        if !shape {
            return Err(ValidationError::new(
                field,
                "Un IBAN commence par deux lettres (le pays) et deux chiffres, suivis du numéro de compte (exemple : FR76 3000 6000 0112 3456 7890 189).",
            ));
        }
        let country = &value[..2];
        let Some(&(_, expected)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
            return Err(ValidationError::new(
                field,
                format!(
                    "Les IBAN du pays « {country} » ne sont pas acceptés : le compte doit être dans la zone SEPA."
                ),
            ));
        };
        if value.len() != expected {
            return Err(ValidationError::new(
                field,
                format!(
                    "Un IBAN {country} compte {expected} caractères, celui-ci en a {} : vérifiez qu’il n’en manque pas.",
                    value.len()
                ),
            ));
        }
        if !iban_checksum_holds(&value) {
            return Err(ValidationError::new(
                field,
                "Cet IBAN n’existe pas (sa clé de contrôle ne correspond pas) : un caractère a sans doute été mal saisi.",
            ));
        }
        Ok(Iban(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four characters, for saying which account without showing it.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }

    /// The IBAN with all but its country, check digits and last four characters
    /// hidden: `FR76 …0189`, for people who may not see it whole and for documents.
    pub fn masked(&self) -> String {
        format!("{} …{}", &self.0[..4], self.last4())
    }

    /// Grouped by four, as printed on a bank's RIB: `FR76 3000 6000 …`.
    pub fn grouped(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Debug for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iban({})", self.masked())
    }
}

/// ISO 7064 mod 97-10 over the IBAN with its first four characters moved to the end
/// and letters counted A = 10 … Z = 35: a valid IBAN leaves 1.
fn iban_checksum_holds(iban: &str) -> bool {
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut remainder: u32 = 0;
    for c in rearranged {
        let Some(n) = c.to_digit(36) else {
            return false;
        };
        remainder = if n >= 10 {
            (remainder * 100 + n) % 97
        } else {
            (remainder * 10 + n) % 97
        };
    }
    remainder == 1
}

/// A password chosen by a person: long enough to resist guessing.
pub struct Password(String);

pub const MIN_PASSWORD_CHARS: usize = 12;

impl Password {
    pub fn parse(field: &str, raw: &str) -> Result<Password, ValidationError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ValidationError::new(
                field,
                format!("Le mot de passe doit compter au moins {MIN_PASSWORD_CHARS} caractères."),
            ));
        }
        if chars > 256 {
            return Err(ValidationError::new(
                field,
                "Le mot de passe est limité à 256 caractères.",
            ));
        }
        Ok(Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// The label period of a site: from one date to another, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelPeriod {
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

impl LabelPeriod {
    pub fn new(
        valid_from: NaiveDate,
        valid_until: NaiveDate,
    ) -> Result<LabelPeriod, ValidationError> {
        let bounds = NaiveDate::from_ymd_opt(2000, 1, 1).zip(NaiveDate::from_ymd_opt(2100, 12, 31));
        if let Some((first, last)) = bounds {
            if valid_from < first || valid_from > last {
                return Err(ValidationError::new(
                    "valid_from",
                    "La date doit être comprise entre 2000 et 2100.",
                ));
            }
            if valid_until > last {
                return Err(ValidationError::new(
                    "valid_until",
                    "La date doit être comprise entre 2000 et 2100.",
                ));
            }
        }
        if valid_until < valid_from {
            return Err(ValidationError::new(
                "valid_until",
                "La fin de validité du label doit suivre son début.",
            ));
        }
        Ok(LabelPeriod {
            valid_from,
            valid_until,
        })
    }
}

/// Where a site's label stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabelStatus {
    Active,
    Suspended,
    NotYetValid,
    Expired,
}

impl LabelStatus {
    pub fn on(period: LabelPeriod, suspended: bool, day: NaiveDate) -> LabelStatus {
        if suspended {
            LabelStatus::Suspended
        } else if day < period.valid_from {
            LabelStatus::NotYetValid
        } else if day > period.valid_until {
            LabelStatus::Expired
        } else {
            LabelStatus::Active
        }
    }
}

/// The civil date in metropolitan France at `now`: label and ticket dates are French
/// calendar days, not UTC ones.
pub fn french_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono_tz::Europe::Paris).date_naive()
}

/// The instant a French calendar day ends (midnight in Paris), in UTC: a ticket
/// valid until that day expires then.
pub fn end_of_french_day(day: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    let next = day.succ_opt().unwrap_or(day);
    let midnight = next.and_hms_opt(0, 0, 0).unwrap_or_default();
    chrono_tz::Europe::Paris
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_french_day_ends_at_midnight_in_paris() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(
            end_of_french_day(day).to_rfc3339(),
            "2026-12-31T23:00:00+00:00"
        );
        let summer = NaiveDate::from_ymd_opt(2026, 7, 14).unwrap();
        assert_eq!(
            end_of_french_day(summer).to_rfc3339(),
            "2026-07-14T22:00:00+00:00"
        );
    }

    #[test]
    fn emails() {
        let cases = [
            (
                "Agent.Dupont@Mairie-Vesoul.FR ",
                Some("agent.dupont@mairie-vesoul.fr"),
            ),
            ("a@b.fr", Some("a@b.fr")),
            ("", None),
            ("no-at-sign.fr", None),
            ("two@@signs.fr", None),
            ("space in@mail.fr", None),
            ("nodot@localhost", None),
            ("trailing@dot.fr.", None),
            ("@missing-local.fr", None),
        ];
        for (raw, expected) in cases {
            let parsed = Email::parse("email", raw).ok();
            assert_eq!(parsed.as_ref().map(Email::as_str), expected, "case {raw:?}");
        }
    }

    #[test]
    fn postcodes_and_prefixes() {
        for (raw, ok) in [
            ("70000", true),
            ("2A004", false),
            ("7000", false),
            ("700000", false),
            ("97411", true),
        ] {
            assert_eq!(
                Postcode::parse("postcode", raw).is_ok(),
                ok,
                "postcode {raw}"
            );
        }
        for (raw, ok) in [
            ("7", true),
            ("70", true),
            ("70000", true),
            ("", false),
            ("700001", false),
            ("7a", false),
        ] {
            assert_eq!(
                PostcodePrefix::parse("postcode", raw).is_ok(),
                ok,
                "prefix {raw}"
            );
        }
        assert!(PostcodePrefix::parse("p", "70").unwrap().matches("70000"));
        assert!(!PostcodePrefix::parse("p", "70").unwrap().matches("17000"));
    }

    #[test]
    fn sirets() {
        // A company (Luhn), La Poste's head office (Luhn) and one of its
        // establishments (sum of digits).
        assert!(Siret::parse("siret", "732 829 320 00074").is_ok());
        assert!(Siret::parse("siret", "35600000000048").is_ok());
        assert!(Siret::parse("siret", "35600000049837").is_ok());
        assert!(Siret::parse("siret", "35600000049838").is_err());
        let typo = Siret::parse("siret", "73282932000075").unwrap_err();
        assert!(typo.message.contains("mal saisi"), "{typo:?}");
        assert!(Siret::parse("siret", "1234").is_err());
    }

    #[test]
    fn coordinates() {
        assert!(Coordinates::new(91.0, 0.0).is_err());
        assert!(Coordinates::new(0.0, f64::NAN).is_err());
        assert_eq!(
            Coordinates::from_optional(Some(47.0), None)
                .unwrap_err()
                .field,
            "longitude"
        );
        let p = Coordinates::parse_pair("near", " 47.62 , 6.15 ").unwrap();
        assert_eq!(
            p,
            Coordinates {
                latitude: 47.62,
                longitude: 6.15
            }
        );
        for bad in ["47.62", "a,b", "47.62;6.15", "100,6"] {
            assert!(Coordinates::parse_pair("near", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distance_between_two_towns() {
        // Vesoul → Besançon: about 44 km as the crow flies.
        let vesoul = Coordinates::new(47.6233, 6.1556).unwrap();
        let besancon = Coordinates::new(47.2378, 6.0241).unwrap();
        let d = vesoul.distance_km(&besancon);
        assert!((d - 44.0).abs() < 1.0, "{d}");
        assert!(vesoul.distance_km(&vesoul).abs() < 1e-9);
    }

    #[test]
    fn label_status_over_time() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let period = LabelPeriod::new(d("2026-01-01"), d("2026-12-31")).unwrap();
        assert_eq!(
            LabelStatus::on(period, false, d("2025-12-31")),
            LabelStatus::NotYetValid
        );
        assert_eq!(
            LabelStatus::on(period, false, d("2026-01-01")),
            LabelStatus::Active
        );
        assert_eq!(
            LabelStatus::on(period, false, d("2026-12-31")),
            LabelStatus::Active
        );
        assert_eq!(
            LabelStatus::on(period, false, d("2027-01-01")),
            LabelStatus::Expired
        );
        assert_eq!(
            LabelStatus::on(period, true, d("2026-06-01")),
            LabelStatus::Suspended
        );
        assert!(LabelPeriod::new(d("2026-02-01"), d("2026-01-31")).is_err());
    }

    #[test]
    fn french_date_follows_paris_time() {
        let late_utc = DateTime::parse_from_rfc3339("2026-06-30T22:30:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            french_date(late_utc),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
    }

    #[test]
    fn ibans() {
        // A valid French IBAN, with spaces and lower case: stored normalised.
        let iban = Iban::parse("iban", "fr76 3000 6000 0112 3456 7890 189").unwrap();
        assert_eq!(iban.as_str(), "FR7630006000011234567890189");
        assert_eq!(iban.masked(), "FR76 …0189");
        assert_eq!(iban.last4(), "0189");
        assert_eq!(iban.grouped(), "FR76 3000 6000 0112 3456 7890 189");
        assert_eq!(format!("{iban:?}"), "Iban(FR76 …0189)");
        assert!(Iban::parse("iban", "DE89370400440532013000").is_ok());
        assert!(Iban::parse("iban", "BE68 5390 0754 7034").is_ok());
        // A wrong checksum: one digit changed.
        let typo = Iban::parse("iban", "FR7630006000011234567890188").unwrap_err();
        assert!(typo.message.contains("clé de contrôle"), "{typo:?}");
        assert_eq!(typo.field, "iban");
        // Wrong length for France.
        let short = Iban::parse("iban", "FR763000600001123456789018").unwrap_err();
        assert!(short.message.contains("27 caractères"), "{short:?}");
        // Letters where digits belong, symbols, a country outside SEPA, nothing.
        for bad in [
            "FRAB30006000011234567890189",
            "7630006000011234567890189FR",
            "FR76-3000/6000",
            "US64SVBKUS6S3300958879",
            "",
            "FR",
        ] {
            assert!(Iban::parse("iban", bad).is_err(), "{bad}");
        }
        // Letters inside the account are allowed (and checked).
        assert!(Iban::parse("iban", "GB82 WEST 1234 5698 7654 32").is_ok());
        assert!(Iban::parse("iban", "GB82 WEST 1234 5698 7654 33").is_err());
    }

    #[test]
    fn phones_websites_and_hours() {
        assert_eq!(
            Phone::parse("phone", "03 84 75.12-34").unwrap().as_str(),
            "0384751234"
        );
        assert_eq!(
            Phone::parse("phone", "+33 3 84 75 12 34").unwrap().as_str(),
            "+33384751234"
        );
        for bad in [
            "12345",
            "3 84 75 12 34",
            "03 84 75 12 34 5",
            "tél 0384751234",
            "+33",
        ] {
            assert!(Phone::parse("phone", bad).is_err(), "{bad}");
        }
        assert_eq!(
            Website::parse("website", "www.vesoul.fr/mediatheque")
                .unwrap()
                .as_str(),
            "https://www.vesoul.fr/mediatheque"
        );
        assert_eq!(
            Website::parse("website", "http://exemple.org")
                .unwrap()
                .as_str(),
            "http://exemple.org"
        );
        for bad in [
            "ftp://exemple.org",
            "pas un site",
            "https://localhost",
            "javascript:alert(1)",
        ] {
            assert!(Website::parse("website", bad).is_err(), "{bad}");
        }
        assert_eq!(
            multiline_text("opening_hours", " Lundi 9h–12h \r\nMardi 14h–18h\n", 500).unwrap(),
            "Lundi 9h–12h\nMardi 14h–18h"
        );
        assert!(multiline_text("opening_hours", "a\tb", 500).is_err());
        assert!(multiline_text("opening_hours", &"x".repeat(501), 500).is_err());
    }

    proptest! {
        #[test]
        fn iban_parser_never_panics(s in "\\PC{0,40}") {
            let _ = Iban::parse("iban", &s);
            let _ = Phone::parse("phone", &s);
            let _ = Website::parse("website", &s);
        }

        #[test]
        fn a_valid_iban_with_one_digit_changed_is_refused(pos in 4usize..27, delta in 1u32..10) {
            let valid = "FR7630006000011234567890189";
            let mut chars: Vec<char> = valid.chars().collect();
            let d = chars[pos].to_digit(10).unwrap();
            chars[pos] = char::from_digit((d + delta) % 10, 10).unwrap();
            let changed: String = chars.into_iter().collect();
            prop_assert!(Iban::parse("iban", &changed).is_err());
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}") {
            let _ = Email::parse("f", &s);
            let _ = Postcode::parse("f", &s);
            let _ = PostcodePrefix::parse("f", &s);
            let _ = Siret::parse("f", &s);
            let _ = Coordinates::parse_pair("f", &s);
        }

        #[test]
        fn a_valid_siret_with_one_digit_changed_is_refused(pos in 0usize..14, delta in 1u32..10) {
            let valid = "73282932000074";
            let mut digits: Vec<u32> = valid.chars().filter_map(|c| c.to_digit(10)).collect();
            digits[pos] = (digits[pos] + delta) % 10;
            let changed: String = digits.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect();
            prop_assert!(Siret::parse("siret", &changed).is_err());
        }
    }
}
