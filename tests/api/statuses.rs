//! The status enums of `passnum::statuses` against the real database: each has
//! exactly the labels of its PostgreSQL enum type, in the same order
//! (`enum_range`), binds and reads that type, and the database refuses a status
//! given as text or misspelt.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passnum::schema::sql_types;
use passnum::statuses::{
    CheckbookStatus, ProgramStatus, RedemptionStatus, StatementKind, TicketStatus,
};

use crate::helpers::TestApp;

#[derive(QueryableByName)]
struct Label {
    #[diesel(sql_type = Text)]
    label: String,
}

/// The labels of the enum type `name`, in their order.
async fn labels(conn: &mut AsyncPgConnection, name: &str) -> Vec<String> {
    let rows: Vec<Label> = diesel::sql_query(format!(
        "SELECT label::text AS label
         FROM unnest(enum_range(NULL::{name})) WITH ORDINALITY AS e (label, n) ORDER BY n"
    ))
    .load(conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.label).collect()
}

/// `$name`'s variants are the labels of `$sql` in order, and each variant, bound as
/// the enum type, comes back as itself.
macro_rules! check_enum {
    ($conn:expr, $name:ident, $sql:literal) => {{
        let ours: Vec<String> = $name::ALL.iter().map(|v| v.as_str().to_string()).collect();
        assert_eq!(
            ours,
            labels($conn, $sql).await,
            "{} and {}",
            stringify!($name),
            $sql
        );

        #[derive(QueryableByName)]
        struct Back {
            #[diesel(sql_type = sql_types::$name)]
            s: $name,
        }
        for v in $name::ALL {
            let back: Back = diesel::sql_query(concat!("SELECT $1::", $sql, " AS s"))
                .bind::<sql_types::$name, _>(*v)
                .get_result($conn)
                .await
                .unwrap();
            assert_eq!(back.s, *v);
        }
    }};
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct AsText {
    #[diesel(sql_type = Text)]
    s: TicketStatus,
}

#[tokio::test]
async fn the_status_enums_are_the_enum_types_of_the_database() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect().await;

    check_enum!(&mut conn, TicketStatus, "ticket_status");
    check_enum!(&mut conn, CheckbookStatus, "checkbook_status");
    check_enum!(&mut conn, RedemptionStatus, "redemption_status");
    check_enum!(&mut conn, StatementKind, "statement_kind");
    check_enum!(&mut conn, ProgramStatus, "program_status");

    // A status bound in a filter compares with the column.
    let issued: Count = diesel::sql_query("SELECT count(*) AS n FROM tickets WHERE status = $1")
        .bind::<sql_types::TicketStatus, _>(TicketStatus::Issued)
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(issued.n, 0);

    // The database refuses a status given as text, and a misspelt label, when the
    // query is planned (before any row is read).
    let as_text = diesel::sql_query("SELECT count(*) AS n FROM tickets WHERE status = $1")
        .bind::<Text, _>("issued")
        .get_result::<Count>(&mut conn)
        .await;
    let error = as_text
        .err()
        .expect("text is not a ticket status")
        .to_string();
    assert!(error.contains("operator does not exist"), "{error}");
    let misspelt = diesel::sql_query("SELECT count(*) AS n FROM tickets WHERE status = 'isued'")
        .get_result::<Count>(&mut conn)
        .await;
    let error = misspelt.err().expect("no such label").to_string();
    assert!(
        error.contains("invalid input value for enum ticket_status"),
        "{error}"
    );

    // Read as text (as `ticket_verdict` returns it), a string the enum does not know
    // is an error, never a default.
    let known: AsText = diesel::sql_query("SELECT 'expired'::text AS s")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(known.s, TicketStatus::Expired);
    let unknown: Result<AsText, _> = diesel::sql_query("SELECT 'stock'::text AS s")
        .get_result(&mut conn)
        .await;
    assert!(unknown.is_err(), "a ticket is never stored as `stock`");
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The settlement's grouped passes keep `'reversed'` a literal cast to the enum type
/// (src/settlement/totals.rs): the planner proves the partial index
/// `redemptions_time` (`WHERE status <> 'reversed'`) usable, which a text literal
/// could not be compared with and a bound status would not guarantee.
#[tokio::test]
async fn the_settlement_passes_still_reach_the_partial_index_on_live_redemptions() {
    use diesel::sql_types::Timestamptz;
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect().await;
    diesel::sql_query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let to = chrono::Utc::now();
    let from = to - chrono::Days::new(31);
    for sql in [
        passnum::settlement::SITE_GROUPS_SQL,
        passnum::settlement::TURN_GROUPS_SQL,
    ] {
        let plan: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN {sql}"))
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .load(&mut conn)
            .await
            .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|l| l.line).collect();
        assert!(
            plan.iter().any(|l| l.contains("redemptions_time")),
            "{sql}\n{}",
            plan.join("\n")
        );
    }
}
