//! What the tickets paid for: live redemptions of a program by the theme and by the
//! format of the service they named (`unknown`: the scan named none).
//!
//! These breakdowns count **people**: a row's people are the handed-out checkbooks
//! (one per person) with at least one ticket redeemed for a service of that theme
//! (or format). So they follow statistical secrecy ([`super::disclosure`]): a row
//! under five people is `"<5"`, and its tickets and amount are not given. A person
//! trained on two themes counts in both rows: the rows do not add up to a total.
//!
//! One aggregate statement (`GROUP BY GROUPING SETS`), in the statistics' read-only
//! transaction, so it sees the same snapshot as the other breakdowns.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::disclosure::{People, hidden};
use super::{Scope, UNKNOWN};
use crate::db::DbError;
use crate::services::Format;
use crate::vocabulary::Theme;

/// What a row of a service breakdown may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFigures {
    /// People with a ticket redeemed for it.
    pub people: People,
    /// `None` when `people` is hidden.
    pub tickets_redeemed: Option<i64>,
    pub amount_redeemed: Option<Decimal>,
}

/// The breakdowns by theme (the national list, in order, then `unknown`) and by
/// format (`individual`, `collective`, `unknown`); every key always listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceBreakdowns {
    pub by_theme: Vec<(String, ServiceFigures)>,
    pub by_format: Vec<(String, ServiceFigures)>,
}

#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    grouping_set: String,
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = BigInt)]
    tickets: i64,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// The live redemptions in scope (`$1` the program, `$2` the scope's organisation),
/// grouped by theme and by format.
const QUERY: &str = "\
SELECT CASE WHEN grouping(sv.theme) = 0 THEN 'theme' ELSE 'format' END AS grouping_set,
       CASE WHEN grouping(sv.theme) = 0 THEN sv.theme ELSE sv.format END AS key,
       count(DISTINCT t.checkbook_id) AS people, count(*) AS tickets,
       coalesce(sum(r.value), 0) AS amount
  FROM redemptions r
  JOIN tickets t ON t.id = r.ticket_id
  LEFT JOIN site_services sv ON sv.id = r.service_id";

const TAIL: &str = " GROUP BY GROUPING SETS ((sv.theme), (sv.format))";

pub async fn breakdowns(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    scope: Scope,
) -> Result<ServiceBreakdowns, DbError> {
    let mut query = diesel::sql_query(QUERY).into_boxed::<diesel::pg::Pg>();
    if let Scope::Prescriber(_) = scope {
        query = query.sql(" JOIN checkbooks c ON c.id = t.checkbook_id");
    }
    query = query
        .sql(" WHERE r.program_id = $1 AND r.status <> 'reversed'::redemption_status")
        .bind::<SqlUuid, _>(program);
    query = match scope {
        Scope::Program => query,
        Scope::Prescriber(org) => query
            .sql(" AND c.prescriber_id = $2")
            .bind::<SqlUuid, _>(org),
        Scope::Site(org) => query.sql(" AND r.site_id = $2").bind::<SqlUuid, _>(org),
    };
    let rows: Vec<Row> = query.sql(TAIL).load(conn).await?;
    Ok(shown(&rows))
}

/// The breakdowns from the rollups' cells: (`theme` or `format`, key, people,
/// tickets, amount), the key `unknown` for no service named.
pub(super) fn from_cells(cells: Vec<(String, String, i64, i64, Decimal)>) -> ServiceBreakdowns {
    let rows: Vec<Row> = cells
        .into_iter()
        .map(|(grouping_set, key, people, tickets, amount)| Row {
            grouping_set,
            key: Some(key).filter(|k| k != UNKNOWN),
            people,
            tickets,
            amount,
        })
        .collect();
    shown(&rows)
}

fn shown(rows: &[Row]) -> ServiceBreakdowns {
    let themes: Vec<&str> = Theme::ALL.iter().map(|t| t.as_str()).collect();
    let formats: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
    ServiceBreakdowns {
        by_theme: disclose(in_order(&themes, "theme", rows)),
        by_format: disclose(in_order(&formats, "format", rows)),
    }
}

/// Every key of `order`, then `unknown` (no service named), with the rows of
/// `grouping_set` (zero when absent). A key no longer known joins `unknown`.
fn in_order(order: &[&str], grouping_set: &str, rows: &[Row]) -> Vec<(String, i64, i64, Decimal)> {
    let mut out: Vec<(String, i64, i64, Decimal)> = order
        .iter()
        .chain(std::iter::once(&UNKNOWN))
        .map(|k| ((*k).to_string(), 0, 0, Decimal::ZERO))
        .collect();
    for row in rows.iter().filter(|r| r.grouping_set == grouping_set) {
        let key = row
            .key
            .as_deref()
            .filter(|k| order.contains(k))
            .unwrap_or(UNKNOWN);
        if let Some(cell) = out.iter_mut().find(|(k, ..)| k == key) {
            cell.1 += row.people;
            cell.2 += row.tickets;
            cell.3 += row.amount;
        }
    }
    out
}

/// Hides the rows under five people (and, by the rule of [`hidden`], one more when a
/// single one would be), with their tickets and amounts.
fn disclose(rows: Vec<(String, i64, i64, Decimal)>) -> Vec<(String, ServiceFigures)> {
    let people: Vec<i64> = rows.iter().map(|(_, p, ..)| *p).collect();
    let hide = hidden(&people, &[]);
    rows.into_iter()
        .zip(hide)
        .map(|((key, people, tickets, amount), hide)| {
            let figures = if hide {
                ServiceFigures {
                    people: People::Hidden,
                    tickets_redeemed: None,
                    amount_redeemed: None,
                }
            } else {
                ServiceFigures {
                    people: People::Shown(people),
                    tickets_redeemed: Some(tickets),
                    amount_redeemed: Some(amount),
                }
            };
            (key, figures)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(set: &str, key: Option<&str>, people: i64) -> Row {
        Row {
            grouping_set: set.into(),
            key: key.map(str::to_string),
            people,
            tickets: people * 2,
            amount: Decimal::from(people * 20),
        }
    }

    #[test]
    fn every_key_is_listed_and_small_rows_are_hidden() {
        let rows = vec![
            row("theme", Some("smartphone"), 7),
            row("theme", Some("securite"), 2),
            row("theme", None, 30),
            row("format", Some("collective"), 9),
            row("format", None, 30),
        ];
        let themes: Vec<&str> = Theme::ALL.iter().map(|t| t.as_str()).collect();
        let by_theme = disclose(in_order(&themes, "theme", &rows));
        assert_eq!(by_theme.len(), Theme::ALL.len() + 1);
        assert_eq!(by_theme.last().unwrap().0, UNKNOWN);
        let of = |key: &str| by_theme.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert_eq!(of("smartphone").people, People::Shown(7));
        assert_eq!(of("smartphone").tickets_redeemed, Some(14));
        assert_eq!(of("securite").people, People::Hidden);
        assert_eq!(of("securite").amount_redeemed, None);
        assert_eq!(of("emploi").people, People::Hidden);
        assert_eq!(of(UNKNOWN).people, People::Shown(30));

        let formats: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
        let by_format = disclose(in_order(&formats, "format", &rows));
        let keys: Vec<&str> = by_format.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["individual", "collective", UNKNOWN]);
        // `individual` (0) alone under five: the smallest shown row is hidden too.
        assert_eq!(by_format[0].1.people, People::Hidden);
        assert_eq!(by_format[1].1.people, People::Hidden);
        assert_eq!(by_format[2].1.people, People::Shown(30));
    }
}
