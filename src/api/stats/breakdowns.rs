//! The breakdowns that count people (age band, situation, département, commune,
//! public…), one generic shape for all of them: the JSON's `breakdowns` list, which
//! the web app draws without knowing each one, and their CSV tables.
//!
//! A new breakdown of people is one variant of [`Breakdown`], its words here
//! ([`Breakdown::people`]) and one line in [`people_breakdowns`]: the JSON, the CSV
//! (`stats.csv?breakdown=…`), the open data and the app's pages follow.
//!
//! The breakdowns by theme, by format and by autonomy gained count other people: those
//! whose tickets paid for a service of that theme (or format), those evaluated with
//! that gain. They all used a ticket, so `people_started` is `people`, and the tickets
//! handed out and the usage rate mean nothing there (`null`).

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Breakdown, PeopleCount, money, rate_cell, text};
use crate::csv_cells::Cell;
use crate::services::Format;
use crate::stats::services::ServiceFigures;
use crate::stats::{self, GroupFigures, People, ProgramStats};
use crate::vocabulary::{Public, Theme};

/// One group of people of a breakdown. Secrecy as everywhere in the statistics
/// (`src/stats/disclosure.rs`): a count under five people is `"<5"`, and the figures
/// about those people are then `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownRow {
    /// The group's machine name, as in the breakdown's own list (`under_26`, `rsa`,
    /// `70000`, `other`, `unknown`…).
    #[schema(example = "rsa")]
    pub key: String,
    /// In plain French, as the app shows it.
    #[schema(example = "Allocataire du RSA")]
    pub label: String,
    /// People of the group: checkbooks handed out to them (one per person).
    pub people: PeopleCount,
    /// Of them, people who used at least one ticket (checkbooks started).
    pub people_started: PeopleCount,
    /// `null` when `people` is `"<5"`.
    pub tickets_handed_out: Option<i64>,
    /// `null` when `people_started` is `"<5"`.
    pub tickets_redeemed: Option<i64>,
    /// `null` when `people_started` is `"<5"`.
    pub amount_redeemed: Option<String>,
    /// Tickets used ÷ tickets handed out, four decimals; `null` when
    /// `people_started` is `"<5"`, nothing was handed out, or for a site.
    pub usage_rate: Option<String>,
}

/// A breakdown of the beneficiaries, generically: the same figures as its own list
/// (`by_age_band`, `by_public`…), with French labels, so that a client can show every
/// breakdown, those to come included, without knowing each one.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownView {
    /// Machine name, also the `breakdown` of `GET /programs/{id}/stats.csv`.
    #[schema(example = "public")]
    pub key: String,
    /// Its title in French.
    #[schema(example = "Par public prioritaire")]
    pub title: String,
    /// What to know to read it, in one French sentence (`null` when nothing).
    pub note: Option<String>,
    pub rows: Vec<BreakdownRow>,
}

/// The words of a breakdown of people.
pub struct PeopleWords {
    /// The first column of its CSV.
    pub key_column: &'static str,
    pub title: &'static str,
    pub note: Option<&'static str>,
    /// The French label of a row's key.
    pub label: fn(&str) -> String,
}

impl Breakdown {
    /// The words of a breakdown of people; `None` for the others (funnel, month,
    /// prescriber, site: organisations and money, not people).
    pub fn people(self) -> Option<PeopleWords> {
        let words = |key_column, title, note, label| PeopleWords {
            key_column,
            title,
            note,
            label,
        };
        Some(match self {
            Breakdown::AgeBand => words(
                "tranche_age",
                "Par âge des bénéficiaires",
                Some("L’âge cette année, d’après l’année de naissance."),
                age_band_label,
            ),
            Breakdown::Situation => words(
                "situation",
                "Par situation des bénéficiaires",
                None,
                situation_label,
            ),
            Breakdown::PostcodePrefix => words(
                "departement",
                "Par département (code postal des bénéficiaires)",
                None,
                |k| place_label(k, true),
            ),
            Breakdown::Commune => words(
                "code_postal",
                "Par commune (code postal des bénéficiaires)",
                Some(
                    "Les communes de moins de 5 bénéficiaires ne sont pas nommées : elles sont regroupées.",
                ),
                |k| place_label(k, false),
            ),
            Breakdown::Public => words(
                "public",
                "Par public prioritaire",
                Some(
                    "Une personne peut appartenir à plusieurs publics : elle compte dans chacun, les lignes ne s’additionnent pas.",
                ),
                public_label,
            ),
            Breakdown::Theme => words(
                "theme",
                "Par thème des services suivis",
                Some(
                    "Personnes dont au moins un chèque a payé un service de ce thème ; une personne formée sur deux thèmes compte dans chacun.",
                ),
                theme_label,
            ),
            Breakdown::Format => words(
                "format",
                "Par format des services suivis",
                Some(
                    "Personnes dont au moins un chèque a payé un service de ce format (individuel ou collectif).",
                ),
                format_label,
            ),
            Breakdown::AutonomyGained => words(
                "niveaux_gagnes",
                "Par autonomie gagnée",
                Some(
                    "Personnes dont le lieu a noté l’autonomie avant et après (de 1 à 4), par niveaux gagnés.",
                ),
                gain_label,
            ),
            Breakdown::Funnel | Breakdown::Month | Breakdown::Prescriber | Breakdown::Site => {
                return None;
            }
        })
    }
}

/// The rows of a breakdown of people.
type Rows<'a> = Cow<'a, [(String, GroupFigures)]>;

/// The breakdowns of people of the statistics, in the order the app shows them.
pub fn people_breakdowns(stats: &ProgramStats) -> [(Breakdown, Rows<'_>); 8] {
    [
        (Breakdown::AgeBand, Cow::from(&stats.by_age_band)),
        (Breakdown::Situation, Cow::from(&stats.by_situation)),
        (Breakdown::Public, Cow::from(&stats.by_public)),
        (
            Breakdown::PostcodePrefix,
            Cow::from(&stats.by_postcode_prefix),
        ),
        (Breakdown::Commune, Cow::from(&stats.by_commune)),
        (Breakdown::Theme, service_rows(&stats.services.by_theme)),
        (Breakdown::Format, service_rows(&stats.services.by_format)),
        (Breakdown::AutonomyGained, gain_rows(stats)),
    ]
}

/// Rows of people who all used a ticket: nothing handed out, no rate.
fn used(people: People, tickets: Option<i64>, amount: Option<Decimal>) -> GroupFigures {
    GroupFigures {
        handed_out: people,
        started: people,
        tickets_handed_out: None,
        tickets_redeemed: tickets,
        amount_redeemed: amount,
        usage_rate: None,
    }
}

fn service_rows(rows: &[(String, ServiceFigures)]) -> Rows<'static> {
    Cow::Owned(
        rows.iter()
            .map(|(key, f)| {
                let figures = used(f.people, f.tickets_redeemed, f.amount_redeemed);
                (key.clone(), figures)
            })
            .collect(),
    )
}

/// Levels gained, most first (`3` … `-3`).
fn gain_rows(stats: &ProgramStats) -> Rows<'static> {
    let mut rows: Vec<(String, GroupFigures)> = stats
        .autonomy
        .by_gain
        .iter()
        .map(|(gain, people)| (gain.to_string(), used(*people, None, None)))
        .collect();
    rows.reverse();
    Cow::Owned(rows)
}

/// The JSON's generic `breakdowns`.
pub fn views(stats: &ProgramStats) -> Vec<BreakdownView> {
    people_breakdowns(stats)
        .into_iter()
        .filter_map(|(breakdown, rows)| {
            let words = breakdown.people()?;
            Some(BreakdownView {
                key: breakdown.key().to_owned(),
                title: words.title.to_owned(),
                note: words.note.map(str::to_owned),
                rows: rows
                    .iter()
                    .map(|(key, f)| BreakdownRow {
                        key: key.clone(),
                        label: (words.label)(key),
                        people: f.handed_out.into(),
                        people_started: f.started.into(),
                        tickets_handed_out: f.tickets_handed_out,
                        tickets_redeemed: f.tickets_redeemed,
                        amount_redeemed: f.amount_redeemed.map(money),
                        usage_rate: f.usage_rate.map(|r| r.to_string()),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The columns of a breakdown of people after its key and label.
const GROUP_COLUMNS: [&str; 6] = [
    "chequiers_remis",
    "chequiers_entames",
    "cheques_remis",
    "cheques_utilises",
    "montant_utilise",
    "taux_usage",
];

/// A breakdown of people as a table (`None` for the other breakdowns): key, French
/// label, checkbooks handed out and started (`<5` when hidden), tickets handed out
/// and used, amount used, usage rate (empty when hidden).
pub fn people_table(
    stats: &ProgramStats,
    breakdown: Breakdown,
) -> Option<(Vec<&'static str>, Vec<Vec<Cell>>)> {
    let words = breakdown.people()?;
    let (_, rows) = people_breakdowns(stats)
        .into_iter()
        .find(|(b, _)| *b == breakdown)?;
    let header = [&[words.key_column, "libelle"][..], &GROUP_COLUMNS[..]].concat();
    let lines = rows
        .iter()
        .map(|(k, f)| group_row(k, &(words.label)(k), f))
        .collect();
    Some((header, lines))
}

/// A count of people, or `<5` (see [`PeopleCount`]).
fn people_cell(p: People) -> Cell {
    match p {
        People::Shown(n) => Cell::Count(n),
        People::Hidden => text("<5"),
    }
}

fn group_row(key: &str, label: &str, f: &GroupFigures) -> Vec<Cell> {
    vec![
        text(key),
        text(label),
        people_cell(f.handed_out),
        people_cell(f.started),
        f.tickets_handed_out.map_or(Cell::Empty, Cell::Count),
        f.tickets_redeemed.map_or(Cell::Empty, Cell::Count),
        f.amount_redeemed.map_or(Cell::Empty, Cell::Number),
        rate_cell(f.usage_rate),
    ]
}

/// French words of the age bands, as the app shows them.
fn age_band_label(key: &str) -> String {
    match key {
        "under_26" => "Moins de 26 ans",
        "26_44" => "26 à 44 ans",
        "45_64" => "45 à 64 ans",
        "65_plus" => "65 ans et plus",
        stats::UNKNOWN => "Non renseigné",
        other => other,
    }
    .to_owned()
}

/// French words of the situations, as the prescriber's form names them.
fn situation_label(key: &str) -> String {
    match key {
        "job_seeker" => "Demandeur d’emploi",
        "employed" => "En emploi",
        "retired" => "Retraité",
        "student" => "Étudiant",
        "inactive" => "Sans activité",
        "other" => "Autre",
        stats::UNKNOWN => "Non renseignée",
        other => other,
    }
    .to_owned()
}

/// French words of the publics, the vocabulary's own.
fn public_label(key: &str) -> String {
    match Public::parse(key) {
        Some(public) => public.label().to_owned(),
        None if key == stats::UNKNOWN => "Aucun public renseigné".to_owned(),
        None => key.to_owned(),
    }
}

/// French words of the themes, the national list's own.
fn theme_label(key: &str) -> String {
    match Theme::parse(key) {
        Some(theme) => theme.label().to_owned(),
        None if key == stats::UNKNOWN => "Aucun service indiqué".to_owned(),
        None => key.to_owned(),
    }
}

fn format_label(key: &str) -> String {
    match Format::parse(key) {
        Some(format) => format.label().to_owned(),
        None if key == stats::UNKNOWN => "Aucun service indiqué".to_owned(),
        None => key.to_owned(),
    }
}

/// `2` → « 2 niveaux gagnés », `0` → « Aucun niveau gagné », `-1` → « 1 niveau
/// perdu » (no sign first: a spreadsheet would read a formula).
fn gain_label(key: &str) -> String {
    match key.parse::<i8>() {
        Ok(0) => "Aucun niveau gagné".to_owned(),
        Ok(1) => "1 niveau gagné".to_owned(),
        Ok(-1) => "1 niveau perdu".to_owned(),
        Ok(g) if g > 0 => format!("{g} niveaux gagnés"),
        Ok(g) => format!("{} niveaux perdus", g.unsigned_abs()),
        Err(_) => key.to_owned(),
    }
}

/// The French label of a place of a breakdown by département or commune.
fn place_label(key: &str, prefix: bool) -> String {
    match key {
        stats::UNKNOWN => "Non renseigné".to_owned(),
        stats::disclosure::OTHER if prefix => {
            "Autres départements (moins de 5 personnes chacun)".to_owned()
        }
        stats::disclosure::OTHER => "Autres communes (moins de 5 personnes chacune)".to_owned(),
        k if prefix => format!("Codes postaux {k}…"),
        k => format!("Code postal {k}"),
    }
}
