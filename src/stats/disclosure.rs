//! Statistical secrecy: no figure of the statistics may single out a person.
//!
//! **The rule** (the only place it is written): in a breakdown that counts people, a
//! cell under [`THRESHOLD`] people (zero included, so that "0" and "1" cannot be told
//! apart) is not given: the API says `"<5"`, the CSV `<5`, the app "moins de 5". And
//! because each breakdown adds up to the program's total, a breakdown never has a
//! single hidden cell: when only one would be, the smallest other cell of that column
//! is hidden too (secondary suppression), so that no hidden cell can be worked out as
//! "total minus the others". A hidden cell also hides the figures that describe the
//! same people (their tickets, amounts, usage rate).
//!
//! Breakdowns whose keys are places (département, commune) list only the places
//! where someone lives: a place under the threshold is not named at all, its people
//! are folded into one row [`OTHER`] ([`fold_rare`]), itself hidden when under five.
//!
//! **Which breakdowns count people**: those by beneficiary — age band, situation,
//! département (postcode prefix), commune (full postcode), and the ones to come
//! (publics, themes, autonomy). One handed-out checkbook is one person; its two
//! people columns are *handed out* (the row) and *started* (at least one ticket
//! used). **Which count money or tickets, not people**: the totals and funnel, by
//! month, by prescriber, by site (organisations, not persons): shown as they are.

use rust_decimal::Decimal;

use super::{Counts, usage_rate};

/// The smallest number of people a cell may show.
pub const THRESHOLD: i64 = 5;

/// A count of people: shown, or hidden (fewer than [`THRESHOLD`], or hidden with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum People {
    Shown(i64),
    Hidden,
}

/// What a breakdown row of beneficiaries may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFigures {
    /// Checkbooks handed out: people of the group.
    pub handed_out: People,
    /// Of them, people who used at least one ticket.
    pub started: People,
    /// `None` when the row is hidden.
    pub tickets_handed_out: Option<i64>,
    /// `None` when `started` is hidden.
    pub tickets_redeemed: Option<i64>,
    pub amount_redeemed: Option<Decimal>,
    /// `None` when `started` is hidden, nothing was handed out, or in a site's scope.
    pub usage_rate: Option<Decimal>,
}

/// The row of places too small to be named.
pub const OTHER: &str = "other";

/// Folds the rows under [`THRESHOLD`] people (but `unknown`) into one row [`OTHER`],
/// placed before `unknown` when there is one, last otherwise.
pub fn fold_rare(rows: Vec<(String, Counts)>) -> Vec<(String, Counts)> {
    let mut other: Option<Counts> = None;
    let mut unknown: Option<(String, Counts)> = None;
    let mut out = Vec::with_capacity(rows.len());
    for (key, counts) in rows {
        if key == super::UNKNOWN {
            unknown = Some((key, counts));
        } else if counts.checkbooks_handed_out < THRESHOLD || key == OTHER {
            other.get_or_insert_with(Counts::default).add(&counts);
        } else {
            out.push((key, counts));
        }
    }
    out.extend(other.map(|c| (OTHER.to_owned(), c)));
    out.extend(unknown);
    out
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.checkbooks_issued += o.checkbooks_issued;
        self.checkbooks_in_stock += o.checkbooks_in_stock;
        self.checkbooks_handed_out += o.checkbooks_handed_out;
        self.checkbooks_started += o.checkbooks_started;
        self.checkbooks_cancelled += o.checkbooks_cancelled;
        self.tickets_issued += o.tickets_issued;
        self.tickets_handed_out += o.tickets_handed_out;
        self.tickets_in_stock += o.tickets_in_stock;
        self.tickets_redeemed += o.tickets_redeemed;
        self.tickets_settled += o.tickets_settled;
        self.tickets_expired += o.tickets_expired;
        self.tickets_cancelled += o.tickets_cancelled;
        self.tickets_outstanding += o.tickets_outstanding;
        self.amount_issued += o.amount_issued;
        self.amount_handed_out += o.amount_handed_out;
        self.amount_redeemed += o.amount_redeemed;
        self.amount_settled += o.amount_settled;
        self.commission += o.commission;
        self.amount_expired += o.amount_expired;
        self.amount_cancelled += o.amount_cancelled;
        self.amount_outstanding += o.amount_outstanding;
    }
}

/// Which cells of one column are hidden: those already hidden (`already`, e.g. their
/// row), those under [`THRESHOLD`], and, when that leaves exactly one hidden cell
/// among several, the smallest shown one too (the first of equals).
pub fn hidden(values: &[i64], already: &[bool]) -> Vec<bool> {
    let mut out: Vec<bool> = values
        .iter()
        .enumerate()
        .map(|(i, v)| already.get(i).copied().unwrap_or(false) || *v < THRESHOLD)
        .collect();
    if out.iter().filter(|h| **h).count() == 1 {
        let smallest = values
            .iter()
            .enumerate()
            .filter(|(i, _)| !out[*i])
            .min_by_key(|(_, v)| **v)
            .map(|(i, _)| i);
        if let Some(i) = smallest {
            out[i] = true;
        }
    }
    out
}

/// A beneficiary breakdown as it may be shown. `rates`: whether usage rates mean
/// something in this scope (not for a site).
pub fn disclose(rows: Vec<(String, Counts)>, rates: bool) -> Vec<(String, GroupFigures)> {
    let people: Vec<i64> = rows.iter().map(|(_, c)| c.checkbooks_handed_out).collect();
    let row_hidden = hidden(&people, &[]);
    let started: Vec<i64> = rows.iter().map(|(_, c)| c.checkbooks_started).collect();
    let started_hidden = hidden(&started, &row_hidden);
    rows.into_iter()
        .enumerate()
        .map(|(i, (key, c))| {
            let shown = |hide: bool, n: i64| {
                if hide {
                    People::Hidden
                } else {
                    People::Shown(n)
                }
            };
            let row = !row_hidden[i];
            let use_shown = !started_hidden[i];
            let figures = GroupFigures {
                handed_out: shown(row_hidden[i], c.checkbooks_handed_out),
                started: shown(started_hidden[i], c.checkbooks_started),
                tickets_handed_out: row.then_some(c.tickets_handed_out),
                tickets_redeemed: use_shown.then_some(c.tickets_redeemed),
                amount_redeemed: use_shown.then_some(c.amount_redeemed),
                usage_rate: if use_shown && rates {
                    usage_rate(c.tickets_redeemed, c.tickets_handed_out)
                } else {
                    None
                },
            };
            (key, figures)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden_of(values: &[i64]) -> Vec<bool> {
        hidden(values, &[])
    }

    #[test]
    fn cells_under_five_are_hidden_zero_included() {
        let cases: &[(&[i64], &[bool])] = &[
            (&[], &[]),
            (&[5], &[false]),
            (&[4], &[true]),
            (&[0, 0], &[true, true]),
            (&[10, 20, 30], &[false, false, false]),
            (&[1, 3, 30], &[true, true, false]),
            // Only one under five: the smallest other one is hidden with it.
            (&[1, 30, 6], &[true, false, true]),
            (&[40, 0, 6, 6], &[false, true, true, false]),
            (&[5, 5, 2], &[true, false, true]),
        ];
        for (values, expected) in cases {
            assert_eq!(&hidden_of(values), expected, "case {values:?}");
        }
    }

    #[test]
    fn a_lone_hidden_cell_can_never_be_worked_out_from_the_total() {
        // Whatever the column, the hidden cells are zero or at least two.
        for a in 0..12 {
            for b in 0..12 {
                for c in 0..12 {
                    let values = [a, b, c];
                    let h = hidden_of(&values);
                    assert_ne!(h.iter().filter(|x| **x).count(), 1, "case {values:?}");
                }
            }
        }
    }

    #[test]
    fn cells_hidden_by_their_row_count_as_hidden() {
        assert_eq!(
            hidden(&[1, 9, 9], &[true, false, false]),
            [true, true, false]
        );
        assert_eq!(
            hidden(&[1, 1, 9], &[true, true, false]),
            [true, true, false]
        );
    }

    fn counts(handed_out: i64, started: i64) -> Counts {
        Counts {
            checkbooks_handed_out: handed_out,
            checkbooks_started: started,
            tickets_handed_out: handed_out * 10,
            tickets_redeemed: started * 2,
            amount_redeemed: Decimal::from(started * 20),
            ..Counts::default()
        }
    }

    #[test]
    fn a_hidden_row_hides_every_figure_of_its_people() {
        let rows = vec![
            ("70000".to_owned(), counts(12, 8)),
            ("25000".to_owned(), counts(1, 1)),
            ("90000".to_owned(), counts(7, 6)),
        ];
        let shown = disclose(rows, true);
        let rare = &shown[1].1;
        assert_eq!(rare.handed_out, People::Hidden);
        assert_eq!(rare.started, People::Hidden);
        assert_eq!(rare.tickets_handed_out, None);
        assert_eq!(rare.tickets_redeemed, None);
        assert_eq!(rare.amount_redeemed, None);
        assert_eq!(rare.usage_rate, None);
        // Hidden with it, so that 20 − 12 − 7 cannot be computed.
        assert_eq!(shown[2].1.handed_out, People::Hidden);
        assert_eq!(shown[0].1.handed_out, People::Shown(12));
        assert_eq!(shown[0].1.started, People::Shown(8));
        assert_eq!(shown[0].1.tickets_redeemed, Some(16));
        assert!(shown[0].1.usage_rate.is_some());
    }

    #[test]
    fn few_starters_hide_the_use_but_not_the_row() {
        let rows = vec![
            ("a".to_owned(), counts(12, 3)),
            ("b".to_owned(), counts(9, 2)),
        ];
        let shown = disclose(rows, true);
        assert_eq!(shown[0].1.handed_out, People::Shown(12));
        assert_eq!(shown[0].1.tickets_handed_out, Some(120));
        assert_eq!(shown[0].1.started, People::Hidden);
        assert_eq!(shown[0].1.tickets_redeemed, None);
        assert_eq!(shown[0].1.usage_rate, None);
    }

    #[test]
    fn rare_places_are_folded_into_one_unnamed_row() {
        let rows = vec![
            ("25000".to_owned(), counts(1, 1)),
            ("70000".to_owned(), counts(12, 8)),
            ("70100".to_owned(), counts(3, 0)),
            ("90000".to_owned(), counts(7, 6)),
            ("unknown".to_owned(), counts(2, 0)),
        ];
        let folded = fold_rare(rows);
        let keys: Vec<&str> = folded.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["70000", "90000", "other", "unknown"]);
        assert_eq!(folded[2].1.checkbooks_handed_out, 4);
        assert_eq!(folded[2].1.tickets_handed_out, 40);
        assert_eq!(folded[2].1.checkbooks_started, 1);
        // Nothing to fold: the rows stay as they are.
        let rows = vec![("70000".to_owned(), counts(12, 8))];
        assert_eq!(fold_rare(rows.clone()), rows);
    }

    #[test]
    fn no_rates_in_a_site_scope() {
        let shown = disclose(vec![("a".to_owned(), counts(12, 8))], false);
        assert_eq!(shown[0].1.usage_rate, None);
        assert_eq!(shown[0].1.tickets_redeemed, Some(16));
    }
}
