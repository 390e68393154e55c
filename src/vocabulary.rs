//! The scheme's shared vocabularies: the publics a beneficiary may belong to and the
//! themes of the fixed national list (a beneficiary's needs, a site's services, what
//! a follow-up covered). One home for their machine names (stored and on the wire)
//! and their plain French labels; every other module uses these enums.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A priority public the State's calls count (half of the beneficiaries were to come
/// from them).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Public {
    /// Allocataire du RSA.
    Rsa,
    /// Jeune de moins de 26 ans.
    Jeunes,
    /// Demandeur d’emploi.
    DemandeurEmploi,
    /// Senior (plus de 60 ans).
    Senior,
    /// Personne en situation de handicap.
    Handicap,
    /// Sans diplôme.
    SansDiplome,
}

impl Public {
    pub const ALL: [Public; 6] = [
        Public::Rsa,
        Public::Jeunes,
        Public::DemandeurEmploi,
        Public::Senior,
        Public::Handicap,
        Public::SansDiplome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Public::Rsa => "rsa",
            Public::Jeunes => "jeunes",
            Public::DemandeurEmploi => "demandeur_emploi",
            Public::Senior => "senior",
            Public::Handicap => "handicap",
            Public::SansDiplome => "sans_diplome",
        }
    }

    /// In plain French, for forms and tables.
    pub fn label(self) -> &'static str {
        match self {
            Public::Rsa => "Allocataire du RSA",
            Public::Jeunes => "Jeune (moins de 26 ans)",
            Public::DemandeurEmploi => "Demandeur d’emploi",
            Public::Senior => "Senior",
            Public::Handicap => "En situation de handicap",
            Public::SansDiplome => "Sans diplôme",
        }
    }

    pub fn parse(raw: &str) -> Option<Public> {
        Public::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

/// A theme of the fixed national list of digital-inclusion services.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    PremiersPas,
    DemarchesEnLigne,
    Smartphone,
    Messagerie,
    Securite,
    Emploi,
    Bureautique,
    Parentalite,
}

impl Theme {
    pub const ALL: [Theme; 8] = [
        Theme::PremiersPas,
        Theme::DemarchesEnLigne,
        Theme::Smartphone,
        Theme::Messagerie,
        Theme::Securite,
        Theme::Emploi,
        Theme::Bureautique,
        Theme::Parentalite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::PremiersPas => "premiers_pas",
            Theme::DemarchesEnLigne => "demarches_en_ligne",
            Theme::Smartphone => "smartphone",
            Theme::Messagerie => "messagerie",
            Theme::Securite => "securite",
            Theme::Emploi => "emploi",
            Theme::Bureautique => "bureautique",
            Theme::Parentalite => "parentalite",
        }
    }

    /// In plain French, for forms and tables.
    pub fn label(self) -> &'static str {
        match self {
            Theme::PremiersPas => "Premiers pas avec l’ordinateur",
            Theme::DemarchesEnLigne => "Démarches administratives en ligne",
            Theme::Smartphone => "Utiliser son smartphone",
            Theme::Messagerie => "E-mails et messagerie",
            Theme::Securite => "Sécurité et arnaques en ligne",
            Theme::Emploi => "Chercher un emploi en ligne",
            Theme::Bureautique => "Bureautique (texte, tableur)",
            Theme::Parentalite => "Accompagner ses enfants (ENT, écrans)",
        }
    }

    pub fn parse(raw: &str) -> Option<Theme> {
        Theme::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// Values as stored (a text array).
pub fn stored<T: Copy>(values: &[T], name: fn(T) -> &'static str) -> Vec<Option<String>> {
    values.iter().map(|v| Some(name(*v).to_string())).collect()
}

/// Stored values back into a vocabulary (sorted, without repeats); a value no longer
/// known is left out rather than failing a read.
pub fn read_all<T: Ord>(stored: &[Option<String>], parse: fn(&str) -> Option<T>) -> Vec<T> {
    let mut values: Vec<T> = stored.iter().flatten().filter_map(|s| parse(s)).collect();
    values.sort();
    values.dedup();
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_serialise_as_stored() {
        for p in Public::ALL {
            assert_eq!(Public::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert!(!p.label().is_empty());
        }
        for t in Theme::ALL {
            assert_eq!(Theme::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert!(!t.label().contains('\''), "typographic apostrophe: {t:?}");
        }
        assert_eq!(Public::parse("inconnu"), None);
        let stored = vec![
            Some("senior".into()),
            Some("rsa".into()),
            None,
            Some("senior".into()),
            Some("x".into()),
        ];
        assert_eq!(
            read_all(&stored, Public::parse),
            vec![Public::Rsa, Public::Senior]
        );
    }
}
