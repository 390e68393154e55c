//! The status enums of `passnum::statuses` against the real database: each allows
//! exactly the strings of its column's CHECK constraint (as PostgreSQL holds it, so
//! a later `ALTER TABLE` counts too), and each goes through PostgreSQL and back.

use std::collections::BTreeSet;

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passnum::statuses::{CheckbookStatus, RedemptionStatus, StatementKind, TicketStatus};

use crate::helpers::TestApp;

#[derive(QueryableByName)]
struct Definition {
    #[diesel(sql_type = Text)]
    def: String,
}

/// The strings `column` of `table` may hold: the quoted words of the CHECK
/// constraint that compares the column with a list.
async fn allowed(conn: &mut AsyncPgConnection, table: &str, column: &str) -> BTreeSet<String> {
    let defs: Vec<Definition> = diesel::sql_query(
        "SELECT pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
         WHERE t.relname = $1 AND c.contype = 'c'",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .await
    .unwrap();
    let prefix = format!("CHECK (({column} = ANY (ARRAY[");
    let lists: Vec<&String> = defs
        .iter()
        .map(|d| &d.def)
        .filter(|d| d.starts_with(&prefix))
        .collect();
    assert_eq!(lists.len(), 1, "one list for {table}.{column}: {lists:?}");
    lists[0]
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn strings<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> BTreeSet<String> {
    all.iter().map(|v| as_str(*v).to_string()).collect()
}

#[derive(QueryableByName)]
struct Back<T: 'static>
where
    T: diesel::deserialize::FromSql<Text, diesel::pg::Pg>,
{
    #[diesel(sql_type = Text)]
    s: T,
}

/// Binds each variant as text and reads it back as the enum.
async fn round_trip<T>(conn: &mut AsyncPgConnection, all: &[T])
where
    T: Copy
        + PartialEq
        + std::fmt::Debug
        + Send
        + 'static
        + diesel::serialize::ToSql<Text, diesel::pg::Pg>
        + diesel::deserialize::FromSql<Text, diesel::pg::Pg>,
{
    for v in all {
        let back: Back<T> = diesel::sql_query("SELECT $1::text AS s")
            .bind::<Text, _>(*v)
            .get_result(conn)
            .await
            .unwrap();
        assert_eq!(back.s, *v);
    }
}

#[tokio::test]
async fn the_status_enums_allow_what_the_database_allows_and_go_through_it() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect().await;

    assert_eq!(
        strings(TicketStatus::ALL, TicketStatus::as_str),
        allowed(&mut conn, "tickets", "status").await
    );
    assert_eq!(
        strings(CheckbookStatus::ALL, CheckbookStatus::as_str),
        allowed(&mut conn, "checkbooks", "status").await
    );
    assert_eq!(
        strings(RedemptionStatus::ALL, RedemptionStatus::as_str),
        allowed(&mut conn, "redemptions", "status").await
    );
    assert_eq!(
        strings(StatementKind::ALL, StatementKind::as_str),
        allowed(&mut conn, "statements", "kind").await
    );

    round_trip(&mut conn, TicketStatus::ALL).await;
    round_trip(&mut conn, CheckbookStatus::ALL).await;
    round_trip(&mut conn, RedemptionStatus::ALL).await;
    round_trip(&mut conn, StatementKind::ALL).await;

    // A string the enum does not know is an error, never a default.
    let unknown: Result<Back<TicketStatus>, _> = diesel::sql_query("SELECT 'stock'::text AS s")
        .get_result(&mut conn)
        .await;
    assert!(unknown.is_err(), "a ticket is never stored as `stock`");
}
