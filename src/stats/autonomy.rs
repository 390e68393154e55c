//! The "autonomy gained" breakdown (issue 14 point 4): people evaluated by their
//! autonomy level before and after the training, and by levels gained, from the
//! sites' follow-ups (`crate::evaluations`).
//!
//! One person is one checkbook: when several sites evaluated the same checkbook, its
//! latest evaluation counts. The scopes are those of the statistics: the whole
//! program, a prescriber's own checkbooks, a site's own evaluations. These cells
//! count people, so each list goes through [`disclosure::hidden`]: under five people
//! is hidden, and never one hidden cell alone in a list.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, SmallInt, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Scope;
use super::disclosure::{self, People};
use crate::db::DbError;
use crate::evaluations::Level;

/// The breakdown as it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autonomy {
    pub evaluated: People,
    /// Levels 1 to 4, all listed.
    pub by_level_before: Vec<(Level, People)>,
    pub by_level_after: Vec<(Level, People)>,
    /// −3 to +3, all listed.
    pub by_gain: Vec<(i8, People)>,
}

#[derive(Debug, Clone, QueryableByName)]
struct Pair {
    #[diesel(sql_type = SmallInt)]
    level_before: i16,
    #[diesel(sql_type = SmallInt)]
    level_after: i16,
    #[diesel(sql_type = BigInt)]
    people: i64,
}

const HEAD: &str = "SELECT level_before, level_after, count(*) AS people FROM (
        SELECT DISTINCT ON (e.checkbook_id) e.level_before, e.level_after
        FROM evaluations e JOIN checkbooks c ON c.id = e.checkbook_id
        WHERE e.program_id = $1";
const TAIL: &str = " ORDER BY e.checkbook_id, e.updated_at DESC, e.id DESC
    ) x GROUP BY 1, 2";

/// The program's breakdown in `scope`, in the caller's transaction.
pub async fn breakdown(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    scope: Scope,
) -> Result<Autonomy, DbError> {
    let query = diesel::sql_query(HEAD)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<SqlUuid, _>(program);
    let query = match scope {
        Scope::Program => query,
        Scope::Prescriber(org) => query
            .sql(" AND c.prescriber_id = $2")
            .bind::<SqlUuid, _>(org),
        Scope::Site(org) => query.sql(" AND e.site_id = $2").bind::<SqlUuid, _>(org),
    };
    let pairs: Vec<Pair> = query.sql(TAIL).load(conn).await?;
    Ok(disclose(
        &pairs
            .iter()
            .map(|p| (p.level_before, p.level_after, p.people))
            .collect::<Vec<_>>(),
    ))
}

/// The breakdown from the rollups' cells: (`before:after`, people).
pub(super) fn from_cells(cells: &[(String, i64)]) -> Autonomy {
    let pairs: Vec<(i16, i16, i64)> = cells
        .iter()
        .filter_map(|(key, people)| {
            let (before, after) = key.split_once(':')?;
            Some((before.parse().ok()?, after.parse().ok()?, *people))
        })
        .collect();
    disclose(&pairs)
}

/// Counts of people per (before, after) into the shown breakdown.
fn disclose(pairs: &[(i16, i16, i64)]) -> Autonomy {
    let levels: Vec<i16> = Level::ALL.iter().map(|l| i16::from(l.get())).collect();
    let sum = |keep: &dyn Fn(i16, i16) -> bool| -> i64 {
        pairs
            .iter()
            .filter(|(b, a, _)| keep(*b, *a))
            .map(|(_, _, n)| n)
            .sum()
    };
    let before: Vec<i64> = levels.iter().map(|l| sum(&|b, _| b == *l)).collect();
    let after: Vec<i64> = levels.iter().map(|l| sum(&|_, a| a == *l)).collect();
    let gains: Vec<i8> = (-3..=3).collect();
    let gained: Vec<i64> = gains
        .iter()
        .map(|g| sum(&|b, a| a - b == i16::from(*g)))
        .collect();
    let total = sum(&|_, _| true);
    Autonomy {
        evaluated: shown(&[total])[0],
        by_level_before: Level::ALL.into_iter().zip(shown(&before)).collect(),
        by_level_after: Level::ALL.into_iter().zip(shown(&after)).collect(),
        by_gain: gains.into_iter().zip(shown(&gained)).collect(),
    }
}

fn shown(values: &[i64]) -> Vec<People> {
    disclosure::hidden(values, &[])
        .into_iter()
        .zip(values)
        .map(|(hide, n)| {
            if hide {
                People::Hidden
            } else {
                People::Shown(*n)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(list: &[(Level, People)]) -> Vec<People> {
        list.iter().map(|(_, p)| *p).collect()
    }

    #[test]
    fn every_level_and_gain_is_listed_and_small_cells_are_hidden() {
        // 6 people 1→3, 5 people 2→4, 1 person 4→4.
        let a = disclose(&[(1, 3, 6), (2, 4, 5), (4, 4, 1)]);
        assert_eq!(a.evaluated, People::Shown(12));
        use People::{Hidden as H, Shown as S};
        // Before: 6, 5, 0, 1 — the 0 and 1 hidden (two hidden: no secondary).
        assert_eq!(counts(&a.by_level_before), [S(6), S(5), H, H]);
        // After: 0, 0, 6, 6.
        assert_eq!(counts(&a.by_level_after), [H, H, S(6), S(6)]);
        let gains: Vec<(i8, People)> = a.by_gain.clone();
        assert_eq!(
            gains,
            [
                (-3, H),
                (-2, H),
                (-1, H),
                (0, H),
                (1, H),
                (2, S(11)),
                (3, H)
            ]
        );
    }

    #[test]
    fn a_lone_small_cell_hides_the_smallest_other_one() {
        // Gains: +1 → 7, +2 → 20, 0 → 0 … the zeros are hidden together already;
        // with every level present, one small cell drags the smallest with it.
        let a = disclose(&[(1, 1, 9), (2, 2, 9), (3, 3, 9), (4, 4, 2)]);
        use People::{Hidden as H, Shown as S};
        assert_eq!(counts(&a.by_level_before), [H, S(9), S(9), H]);
        assert_eq!(a.evaluated, S(29));
    }

    #[test]
    fn under_five_people_in_all_shows_nothing() {
        let a = disclose(&[(1, 4, 3)]);
        assert_eq!(a.evaluated, People::Hidden);
        assert!(a.by_gain.iter().all(|(_, p)| *p == People::Hidden));
        assert!(a.by_level_after.iter().all(|(_, p)| *p == People::Hidden));
        let none = disclose(&[]);
        assert_eq!(none.evaluated, People::Hidden);
        assert_eq!(none.by_gain.len(), 7);
        assert_eq!(none.by_level_before.len(), 4);
    }
}
