//! The beneficiary of a checkbook: the least we keep of a person, parsed once.

use std::fmt;

use chrono::NaiveDate;

use crate::domain::{self, Email, Postcode, ValidationError};

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
/// birth year, a postcode and a situation. Never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Beneficiary {
    pub reference: String,
    pub email: Option<Email>,
    pub birth_year: Option<i32>,
    pub postcode: Option<Postcode>,
    pub situation: Option<Situation>,
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
                    "L'année de naissance doit être comprise entre {} et {}.",
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
        })
    }
}
