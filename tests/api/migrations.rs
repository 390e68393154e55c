//! Down migrations, tested: every migration of `migrations/` goes up, then all of
//! them down, then up again, on a database that holds data; the schema after the
//! second "up" must be the schema after the first (`pg_dump --schema-only`).
//!
//! The database is a test database: a clone of the template, on which every
//! migration ran up (the first "up"). Data is then made through the API, as the
//! service makes it: a funded program, checkbooks issued, redemptions (one of them
//! reversed), a settlement of a past month with its statements, sealed, and the
//! mails they queue, an invited user.
//!
//! The down migrations run on those rows, as a real rollback of a release would run
//! on a production database: nobody empties the tables first. So a `down.sql` may
//! drop what its `up.sql` created (a table or a column goes with its rows: that is
//! what undoing the migration means), but it must not fail on rows that its `up.sql`
//! made possible — e.g. put a NOT NULL back on a column that the newer code left
//! empty. Where the older schema cannot hold such rows, the `down.sql` keeps them and
//! says why, rather than delete them or refuse: a rollback must not lose data, and
//! going up again must bring the service back whole. (So 000007's down leaves the
//! statements' `content` and `sha256` nullable when statements drawn from their
//! redemptions exist: the older schema wanted a stored CSV that was never written.)
//! Each migration runs in its own transaction, as `passnum migrate` runs it; after the
//! second "up", the functions files (`sql/functions/`) are applied again, as
//! `passnum migrate` applies them after every run.
//!
//! Because the migrations are embedded from the `migrations/` folder and the test
//! checks that it reverted as many as the folder holds, a migration added later is
//! covered without touching this test.

use std::collections::BTreeSet;
use std::process::Command;

use chrono::Days;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// `pg_dump --schema-only` of the database at `url`, without the lines that differ
/// between two dumps of the same schema (the random key of `\restrict`).
fn schema_dump(url: &str) -> String {
    let bin = passnum::pg_cluster::bin_dir().expect("PostgreSQL binaries");
    let output = Command::new(bin.join("pg_dump"))
        .args(["--schema-only", "--no-owner", "--no-privileges", "--dbname"])
        .arg(url)
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 dump")
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of `a` missing from `b` and those of `b` missing from `a`.
fn difference(a: &str, b: &str) -> String {
    let (a, b): (BTreeSet<&str>, BTreeSet<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for line in a.difference(&b) {
        out.push_str(&format!("- {line}\n"));
    }
    for line in b.difference(&a) {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}

/// The objects left in the `public` schema besides diesel's own table (and what
/// extensions own).
async fn leftovers(conn: &mut AsyncPgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Object {
        #[diesel(sql_type = diesel::sql_types::Text)]
        object: String,
    }
    let rows: Vec<Object> = diesel::sql_query(
        "WITH public AS (SELECT oid FROM pg_namespace WHERE nspname = 'public'),
              extension_owned AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
         SELECT 'relation ' || relname AS object FROM pg_class
          WHERE relnamespace = (SELECT oid FROM public)
            AND relname NOT LIKE '\\_\\_diesel\\_schema\\_migrations%'
            AND oid NOT IN (SELECT objid FROM extension_owned)
         UNION ALL
         SELECT 'function ' || proname FROM pg_proc
          WHERE pronamespace = (SELECT oid FROM public)
            AND oid NOT IN (SELECT objid FROM extension_owned)
         UNION ALL
         SELECT 'type ' || typname FROM pg_type
          WHERE typnamespace = (SELECT oid FROM public) AND typrelid = 0 AND typelem = 0
            AND oid NOT IN (SELECT objid FROM extension_owned)
         ORDER BY 1",
    )
    .load(conn)
    .await
    .expect("catalogue query");
    rows.into_iter().map(|r| r.object).collect()
}

/// A settled month, a reversal, a sealed statement, queued mails, an invitation.
async fn fill(app: &TestApp) {
    let territory = app.funded_territory(5).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "B-1", "email": "beneficiaire@example.org"})),
        )
        .await
        .ok(201)
        .clone();
    let tickets = book["tickets"].as_array().expect("tickets").clone();
    let site = app.labelled_site_agent(json!({})).await;
    let redeem = |ticket: &serde_json::Value, site: &Actor| {
        app.raw(
            app.client
                .post(format!("{}/api/v1/redemptions", app.address))
                .bearer_auth(&site.token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({"code": ticket["code"]})),
        )
    };
    for ticket in &tickets[..3] {
        redeem(ticket, &site).await.ok(201);
    }
    let mistaken = redeem(&tickets[3], &site).await.ok(201).clone();
    app.post(
        &format!(
            "/api/v1/redemptions/{}/reverse",
            mistaken["id"].as_str().expect("id")
        ),
        &site.token,
        json!({}),
    )
    .await
    .ok(200);
    // Scanned 40 days ago: a month that is over, which can be settled.
    let day = passnum::domain::french_date(chrono::Utc::now()) - Days::new(40);
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "UPDATE redemptions SET redeemed_at = '{day} 12:00:00 Europe/Paris', \
         scanned_at = '{day} 12:00:00 Europe/Paris'"
    ))
    .execute(&mut conn)
    .await
    .expect("backdate");
    let operator = app.operator().await;
    let settlement = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": day, "period_end": day}),
        )
        .await
        .ok(201)
        .clone();
    let statements = settlement["statements"].as_array().expect("statements");
    assert!(statements.len() >= 3, "{settlement}");
    // A statement downloaded (drawn from the settled redemptions), and another
    // redemption after the settlement, not settled.
    let statement = statements[0]["id"].as_str().expect("statement id");
    let csv = app
        .get(
            &format!("/api/v1/statements/{statement}/csv"),
            &operator.token,
        )
        .await;
    assert_eq!(csv.status.as_u16(), 200, "{}", csv.text);
    redeem(&tickets[4], &site).await.ok(201);
    // An invited user (no password): an invitation and its mail.
    let org = app.organization("site", json!({})).await;
    app.post(
        &format!(
            "/api/v1/organizations/{}/users",
            org["id"].as_str().expect("id")
        ),
        &operator.token,
        json!({"email": "invitee@example.org", "role": "agent"}),
    )
    .await
    .ok(201);
    app.assert_ledger_invariants().await;

    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        redemptions: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        statements: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        mails: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        invitations: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM redemptions) AS redemptions,
                (SELECT count(*) FROM statements WHERE sha256 IS NOT NULL) AS statements,
                (SELECT count(*) FROM outbox) AS mails,
                (SELECT count(*) FROM invitations) AS invitations",
    )
    .get_result(&mut conn)
    .await
    .expect("counts");
    assert_eq!(counts.redemptions, 5);
    assert!(counts.statements >= 3, "sealed statements");
    assert!(counts.mails >= 2 && counts.invitations == 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_migration_goes_down_and_up_again_on_a_database_with_data() {
    let app = TestApp::spawn().await;
    let first_up = schema_dump(&app.db.url);
    assert!(
        first_up.contains("CREATE TABLE public.redemptions"),
        "{first_up}"
    );
    fill(&app).await;

    let folders = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations folder")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().join("up.sql").exists()))
        .count();
    let conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connection");
    let mut harness = AsyncMigrationHarness::new(conn);
    let reverted = harness
        .revert_all_migrations(passnum::db::MIGRATIONS)
        .unwrap_or_else(|e| panic!("a down migration failed on a database with data: {e}"));
    assert_eq!(
        reverted.len(),
        folders,
        "every migration of migrations/ was reverted"
    );
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connection");
    let left = leftovers(&mut conn).await;
    assert!(
        left.is_empty(),
        "the down migrations left these behind: {left:?}"
    );

    let applied = harness
        .run_pending_migrations(passnum::db::MIGRATIONS)
        .unwrap_or_else(|e| panic!("a migration failed to go up again after going down: {e}"));
    assert_eq!(applied.len(), folders);
    // As `passnum migrate` does after every run: the live functions files.
    let mut conn = harness.into_inner();
    passnum::db::apply_functions(&mut conn)
        .await
        .expect("the functions files apply after up, down, up");
    let second_up = schema_dump(&app.db.url);
    assert!(
        first_up == second_up,
        "the schema after up, down, up differs from the first up:\n{}",
        difference(&first_up, &second_up)
    );
}

/// The functions files are idempotent: applied again on a migrated database (which
/// `passnum migrate` does at every run), they change nothing in the catalogue.
#[tokio::test(flavor = "multi_thread")]
async fn the_functions_files_applied_twice_change_nothing() {
    let app = TestApp::spawn().await;
    let before = schema_dump(&app.db.url);
    assert!(
        before.contains("FUNCTION public.ticket_verdict("),
        "the template has the functions files applied"
    );
    let mut conn = app.db.connect().await;
    passnum::db::apply_functions(&mut conn)
        .await
        .expect("applied again");
    passnum::db::apply_functions(&mut conn)
        .await
        .expect("and again");
    let after = schema_dump(&app.db.url);
    assert!(
        before == after,
        "applying the functions files again changed the schema:\n{}",
        difference(&before, &after)
    );
}

/// A migration moves tables and data; the live body of a function is in
/// `sql/functions/` only. Migrations after 000015 (which moved them there) define no function.
#[test]
fn no_migration_after_the_functions_files_defines_a_function() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    for entry in std::fs::read_dir(dir).expect("migrations folder").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let version = name.split('_').next().unwrap_or_default();
        if version <= "2026-11-29-000015" {
            continue;
        }
        for file in ["up.sql", "down.sql"] {
            let Ok(sql) = std::fs::read_to_string(entry.path().join(file)) else {
                continue;
            };
            let upper = sql.to_uppercase();
            assert!(
                !upper.contains("CREATE FUNCTION") && !upper.contains("CREATE OR REPLACE FUNCTION"),
                "{name}/{file} defines a function: its body belongs in sql/functions/"
            );
        }
    }
}
