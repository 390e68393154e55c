//! The beneficiary of a checkbook: the least we keep of a person, parsed once.

use std::fmt;

use chrono::NaiveDate;

use crate::domain::{self, Email, Postcode, ValidationError};
use crate::vocabulary::{self, Public, Theme};

/// What a beneficiary's situation is, for the statistics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    JobSeeker,
    Employed,
    Retired,
    Student,
    Inactive,
    Other,
}

impl Situation {
    pub fn as_str(self) -> &'static str {
        match self {
            Situation::JobSeeker => "job_seeker",
            Situation::Employed => "employed",
            Situation::Retired => "retired",
            Situation::Student => "student",
            Situation::Inactive => "inactive",
            Situation::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Situation> {
        [
            Situation::JobSeeker,
            Situation::Employed,
            Situation::Retired,
            Situation::Student,
            Situation::Inactive,
            Situation::Other,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// The least we keep of a beneficiary: a pseudonymous reference chosen by the
/// prescriber (never a name), and optionally an e-mail (to send the checkbook), a
/// birth year, a postcode, a situation, the publics the person belongs to and the
/// themes they need (sorted, without repeats). Never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Beneficiary {
    pub reference: String,
    pub email: Option<Email>,
    pub birth_year: Option<i32>,
    pub postcode: Option<Postcode>,
    pub situation: Option<Situation>,
    pub publics: Vec<Public>,
    pub needs: Vec<Theme>,
}

impl fmt::Debug for Beneficiary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Beneficiary([REDACTED])")
    }
}

impl Beneficiary {
    pub fn parse(
        reference: &str,
        email: Option<&str>,
        birth_year: Option<i32>,
        postcode: Option<&str>,
        situation: Option<Situation>,
        today: NaiveDate,
    ) -> Result<Beneficiary, ValidationError> {
        let reference = domain::text("beneficiary.reference", reference, 64)?;
        let email = match email.map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(Email::parse("beneficiary.email", raw)?),
        };
        let this_year = chrono::Datelike::year(&today);
        if let Some(year) = birth_year
            && !(this_year - 120..=this_year - 6).contains(&year)
        {
            return Err(ValidationError::new(
                "beneficiary.birth_year",
                format!(
                    "L’année de naissance doit être comprise entre {} et {}.",
                    this_year - 120,
                    this_year - 6
                ),
            ));
        }
        let postcode = match postcode.map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(Postcode::parse("beneficiary.postcode", raw)?),
        };
        Ok(Beneficiary {
            reference,
            email,
            birth_year,
            postcode,
            situation,
            publics: Vec::new(),
            needs: Vec::new(),
        })
    }

    /// Its publics as stored (a text array).
    pub fn stored_publics(&self) -> Vec<Option<String>> {
        vocabulary::stored(&self.publics, Public::as_str)
    }

    /// Its needs as stored (a text array).
    pub fn stored_needs(&self) -> Vec<Option<String>> {
        vocabulary::stored(&self.needs, Theme::as_str)
    }

    /// The record with these publics and needs (sorted, repeats dropped).
    pub fn with_profile(mut self, mut publics: Vec<Public>, mut needs: Vec<Theme>) -> Beneficiary {
        publics.sort();
        publics.dedup();
        needs.sort();
        needs.dedup();
        self.publics = publics;
        self.needs = needs;
        self
    }
}

/// A correction of a beneficiary's record, field by field: `None` keeps a field,
/// `Some(None)` clears an optional one, `Some(Some(v))` sets it. Never logged.
#[derive(Default, Clone)]
pub struct BeneficiaryPatch {
    pub reference: Option<String>,
    pub email: Option<Option<String>>,
    pub birth_year: Option<Option<i32>>,
    pub postcode: Option<Option<String>>,
    pub situation: Option<Option<Situation>>,
    /// `Some(vec![])` clears them.
    pub publics: Option<Vec<Public>>,
    pub needs: Option<Vec<Theme>>,
}

impl fmt::Debug for BeneficiaryPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BeneficiaryPatch([REDACTED])")
    }
}

impl Beneficiary {
    /// The record with `patch` applied, checked field by field as at creation.
    pub fn corrected(
        &self,
        patch: &BeneficiaryPatch,
        today: NaiveDate,
    ) -> Result<Beneficiary, ValidationError> {
        fn pick<T: Clone>(change: &Option<Option<T>>, kept: Option<T>) -> Option<T> {
            match change {
                Some(value) => value.clone(),
                None => kept,
            }
        }
        let reference = patch.reference.as_deref().unwrap_or(&self.reference);
        let email = pick(
            &patch.email,
            self.email.as_ref().map(|e| e.as_str().to_string()),
        );
        let postcode = pick(
            &patch.postcode,
            self.postcode.as_ref().map(|p| p.as_str().to_string()),
        );
        Beneficiary::parse(
            reference,
            email.as_deref(),
            pick(&patch.birth_year, self.birth_year),
            postcode.as_deref(),
            pick(&patch.situation, self.situation),
            today,
        )
        .map(|b| {
            b.with_profile(
                patch
                    .publics
                    .clone()
                    .unwrap_or_else(|| self.publics.clone()),
                patch.needs.clone().unwrap_or_else(|| self.needs.clone()),
            )
        })
    }

    /// The record as stored and shown: reference, e-mail, birth year, postcode,
    /// situation, publics, needs. Two records are the same when these are.
    pub fn fields(&self) -> [(&'static str, Option<String>); 7] {
        fn joined<T: Copy>(values: &[T], name: fn(T) -> &'static str) -> Option<String> {
            (!values.is_empty()).then(|| {
                values
                    .iter()
                    .map(|v| name(*v))
                    .collect::<Vec<_>>()
                    .join(",")
            })
        }
        [
            ("reference", Some(self.reference.clone())),
            ("email", self.email.as_ref().map(|e| e.as_str().to_string())),
            ("birth_year", self.birth_year.map(|y| y.to_string())),
            (
                "postcode",
                self.postcode.as_ref().map(|p| p.as_str().to_string()),
            ),
            ("situation", self.situation.map(|s| s.as_str().to_string())),
            ("publics", joined(&self.publics, Public::as_str)),
            ("needs", joined(&self.needs, Theme::as_str)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    fn record() -> Beneficiary {
        Beneficiary::parse(
            "CCAS-1",
            Some("ancienne@example.org"),
            Some(1960),
            Some("39100"),
            Some(Situation::Retired),
            today(),
        )
        .unwrap()
    }

    #[test]
    fn a_correction_changes_only_what_it_names() {
        let patch = BeneficiaryPatch {
            email: Some(Some(" Nouvelle@Example.org ".into())),
            ..BeneficiaryPatch::default()
        };
        let after = record().corrected(&patch, today()).unwrap();
        let fields = after.fields();
        assert_eq!(fields[1].1.as_deref(), Some("nouvelle@example.org"));
        assert_eq!(fields[0].1.as_deref(), Some("CCAS-1"));
        assert_eq!(fields[2].1.as_deref(), Some("1960"));
        assert_eq!(fields[3].1.as_deref(), Some("39100"));
        assert_eq!(fields[4].1.as_deref(), Some("retired"));
    }

    #[test]
    fn publics_and_needs_are_kept_sorted_and_corrected_as_a_whole() {
        let with = record().with_profile(
            vec![Public::Senior, Public::Rsa, Public::Senior],
            vec![Theme::Smartphone],
        );
        assert_eq!(with.fields()[5].1.as_deref(), Some("rsa,senior"));
        let kept = with
            .corrected(&BeneficiaryPatch::default(), today())
            .unwrap();
        assert_eq!(kept.fields(), with.fields());
        let patch = BeneficiaryPatch {
            needs: Some(vec![Theme::Securite, Theme::Emploi]),
            publics: Some(vec![]),
            ..BeneficiaryPatch::default()
        };
        let after = with.corrected(&patch, today()).unwrap();
        assert_eq!(after.fields()[5].1, None);
        assert_eq!(after.fields()[6].1.as_deref(), Some("securite,emploi"));
    }

    #[test]
    fn a_correction_clears_optional_fields_and_is_checked_like_creation() {
        let cleared = BeneficiaryPatch {
            email: Some(None),
            postcode: Some(Some(String::new())),
            ..BeneficiaryPatch::default()
        };
        let after = record().corrected(&cleared, today()).unwrap();
        assert_eq!(after.fields()[1].1, None);
        assert_eq!(after.fields()[3].1, None);
        let cases: Vec<(&str, BeneficiaryPatch, &str)> = vec![
            (
                "bad e-mail",
                BeneficiaryPatch {
                    email: Some(Some("pas-une-adresse".into())),
                    ..BeneficiaryPatch::default()
                },
                "beneficiary.email",
            ),
            (
                "empty reference",
                BeneficiaryPatch {
                    reference: Some("  ".into()),
                    ..BeneficiaryPatch::default()
                },
                "beneficiary.reference",
            ),
            (
                "birth year in the future",
                BeneficiaryPatch {
                    birth_year: Some(Some(2030)),
                    ..BeneficiaryPatch::default()
                },
                "beneficiary.birth_year",
            ),
            (
                "bad postcode",
                BeneficiaryPatch {
                    postcode: Some(Some("ABCDE".into())),
                    ..BeneficiaryPatch::default()
                },
                "beneficiary.postcode",
            ),
        ];
        for (case, patch, field) in cases {
            let err = record()
                .corrected(&patch, today())
                .err()
                .unwrap_or_else(|| panic!("{case}: accepted"));
            assert_eq!(err.field, field, "{case}");
        }
    }
}
