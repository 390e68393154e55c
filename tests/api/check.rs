//! `passnum check` (issue 15, point 3): read-only, it names every violation. Each
//! case corrupts the books by SQL as a superuser (triggers off with
//! `session_replication_role = replica`, a guard index dropped), asks the check,
//! then mends the books, so that each case finds its own violations and nothing else.

use std::process::{Command, Stdio};

use chrono::{Days, Utc};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use passnum::check::{self, Violation};
use serde_json::{Value, json};

use crate::helpers::{Actor, TestApp};

/// A territory with books worth checking: a funded program, a checkbook, three scans
/// settled in a month that is over (statements sealed), one scan not settled yet,
/// and the audit trail of it all.
pub(crate) struct Books {
    pub program: String,
    pub funders: Vec<String>,
    pub site: Actor,
    pub statements: Vec<Value>,
    /// The scan of this month (not settled).
    pub unsettled_redemption: String,
}

pub(crate) async fn settled_books(app: &TestApp) -> Books {
    let t = app.funded_territory(1).await;
    let book = app
        .issue(
            &t.prescriber,
            &t.program,
            Some(json!({"reference": "CHK-1"})),
        )
        .await
        .ok(201)
        .clone();
    let tickets = book["tickets"].as_array().unwrap().clone();
    let site = app
        .labelled_site_agent(json!({"siret": "73282932000074"}))
        .await;
    for ticket in &tickets[..3] {
        app.redeem(&site, ticket).await.ok(201);
    }
    let day = passnum::domain::french_date(Utc::now()) - Days::new(40);
    crate::settlements::backdate(app, day).await;
    let statements = crate::settlements::settle_day(app, &app.operator().await, day).await;
    let fresh = app.redeem(&site, &tickets[3]).await.ok(201).clone();
    Books {
        program: t.program,
        funders: t.funders,
        site,
        statements,
        unsettled_redemption: fresh["id"].as_str().unwrap().to_string(),
    }
}

/// `passnum check` against `url`: (exit code, stdout, stderr).
pub(crate) fn check_binary(url: &str) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_passnum"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", url)
        .env_remove("PASSNUM_ENV")
        .env("PASSNUM_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .arg("check")
        .output()
        .expect("passnum runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs SQL as the superuser, with the database's triggers off.
async fn as_superuser(conn: &mut AsyncPgConnection, sql: &str) {
    conn.batch_execute(&format!(
        "SET session_replication_role = replica; {sql}; SET session_replication_role = origin;"
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn text(conn: &mut AsyncPgConnection, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct One {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    diesel::sql_query(sql)
        .get_result::<One>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .v
}

/// The check's violations, as printed, after asserting they all come from `parts`.
async fn violations(app: &TestApp, case: &str, parts: &[&str]) -> Vec<String> {
    let mut conn = app.db.connect().await;
    let report = check::run(&mut conn).await.expect("the check runs");
    let lines: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
    assert!(!report.holds(), "{case}: the check must find it");
    for v in &report.violations {
        assert!(
            parts.contains(&v.part()),
            "{case}: only {parts:?} expected, found {lines:#?}"
        );
    }
    lines
}

async fn holds(app: &TestApp, case: &str) {
    let mut conn = app.db.connect().await;
    let report = check::run(&mut conn).await.expect("the check runs");
    assert!(
        report.holds(),
        "{case}: {:#?}",
        report
            .violations
            .iter()
            .map(Violation::to_string)
            .collect::<Vec<_>>()
    );
}

fn names(lines: &[String], case: &str, wanted: &str) {
    assert!(
        lines.iter().any(|l| l.contains(wanted)),
        "{case}: a line naming {wanted:?} expected in {lines:#?}"
    );
}

#[tokio::test]
async fn check_passes_clean_books_and_names_each_corruption() {
    let app = TestApp::spawn().await;
    let books = settled_books(&app).await;
    let mut conn = app.db.connect().await;

    // Clean books: the real binary says so in one line, exits 0 and records its run.
    let (code, out, err) = check_binary(&app.db.url);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(out.lines().count(), 1, "one line: {out}");
    assert!(out.starts_with("check: all holds"), "{out}");
    let report = check::run(&mut conn).await.unwrap();
    assert!(
        report.programs >= 1 && report.audit_entries > 0,
        "{report:?}"
    );
    assert_eq!(report.statements, books.statements.len(), "{report:?}");
    assert_eq!(
        text(
            &mut conn,
            "SELECT outcome->>'holds' || ' ' || (outcome->>'violations') || ' ' || (finished_at IS NOT NULL) AS v
             FROM job_runs WHERE job = 'check'"
        )
        .await,
        "true 0 true"
    );

    // 1. An unbalanced transaction: a payment's posting raised by one euro.
    let posting = text(
        &mut conn,
        "SELECT p.id::text AS v FROM ledger_postings p
         JOIN ledger_transactions t ON t.id = p.transaction_id
         WHERE t.kind = 'payment' AND p.amount > 0 ORDER BY p.id LIMIT 1",
    )
    .await;
    let transaction = text(
        &mut conn,
        &format!("SELECT transaction_id::text AS v FROM ledger_postings WHERE id = '{posting}'"),
    )
    .await;
    as_superuser(
        &mut conn,
        &format!("UPDATE ledger_postings SET amount = amount + 1 WHERE id = '{posting}'"),
    )
    .await;
    let lines = violations(&app, "unbalanced", &["ledger"]).await;
    names(
        &lines,
        "unbalanced",
        &format!("transaction {transaction} sums to 1.00"),
    );
    names(&lines, "unbalanced", "trial balance is 1.00");
    as_superuser(
        &mut conn,
        &format!("UPDATE ledger_postings SET amount = amount - 1 WHERE id = '{posting}'"),
    )
    .await;
    holds(&app, "unbalanced, mended").await;

    // 2. A broken cover: a balanced refund, to a funder, of more than is available.
    let (program, funder) = (&books.program, &books.funders[0]);
    as_superuser(
        &mut conn,
        &format!(
            "INSERT INTO ledger_accounts (id, code, kind, program_id, organization_id, name)
             VALUES ('00000000-0000-7000-8000-00000000c0c0', 'program:{program}:funder:{funder}:refunded',
                     'funder_refunded', '{program}', '{funder}', 'Restitué');
             INSERT INTO ledger_transactions (id, kind, description, program_id)
             VALUES ('00000000-0000-7000-8000-00000000c0c1', 'closing', 'refund twice', '{program}');
             CREATE TEMP TABLE available AS
                SELECT a.id, sum(p.amount) + 1 AS more_than_held
                FROM ledger_accounts a JOIN ledger_postings p ON p.account_id = a.id
                WHERE a.program_id = '{program}' AND a.kind = 'available' GROUP BY a.id;
             INSERT INTO ledger_postings (transaction_id, account_id, amount)
             SELECT '00000000-0000-7000-8000-00000000c0c1'::uuid, '00000000-0000-7000-8000-00000000c0c0'::uuid, more_than_held
             FROM available
             UNION ALL
             SELECT '00000000-0000-7000-8000-00000000c0c1'::uuid, id, -more_than_held FROM available"
        ),
    )
    .await;
    let lines = violations(&app, "cover", &["cover", "ledger"]).await;
    names(&lines, "cover", &format!("cover: program {program}"));
    names(&lines, "cover", "(available) has balance -1.00");
    as_superuser(
        &mut conn,
        "DELETE FROM ledger_postings WHERE transaction_id = '00000000-0000-7000-8000-00000000c0c1';
         DELETE FROM ledger_transactions WHERE id = '00000000-0000-7000-8000-00000000c0c1';
         DELETE FROM ledger_accounts WHERE id = '00000000-0000-7000-8000-00000000c0c0'",
    )
    .await;
    holds(&app, "cover, mended").await;

    // 3. Two live redemptions of one ticket: the guard index dropped, a scan copied.
    let index = text(
        &mut conn,
        "SELECT pg_get_indexdef('redemptions_one_live_per_ticket'::regclass) AS v",
    )
    .await;
    let serial = text(
        &mut conn,
        &format!(
            "SELECT serial AS v FROM redemptions WHERE id = '{}'",
            books.unsettled_redemption
        ),
    )
    .await;
    as_superuser(
        &mut conn,
        &format!(
            "DROP INDEX redemptions_one_live_per_ticket;
             DO $$ DECLARE cols text; BEGIN
                SELECT string_agg(quote_ident(column_name), ', ') INTO cols
                FROM information_schema.columns
                WHERE table_name = 'redemptions' AND is_generated = 'NEVER' AND column_name <> 'id';
                EXECUTE format('INSERT INTO redemptions (id, %s) SELECT %L, %s FROM redemptions WHERE id = %L',
                               cols, '00000000-0000-7000-8000-0000000000d2', cols, '{}');
             END $$",
            books.unsettled_redemption
        ),
    )
    .await;
    let lines = violations(&app, "two live redemptions", &["ledger", "guard"]).await;
    names(
        &lines,
        "two live redemptions",
        &format!("ticket {serial} is redeemed with 2 live redemption(s)"),
    );
    names(
        &lines,
        "two live redemptions",
        "unique index redemptions_one_live_per_ticket (one live redemption per ticket) is missing",
    );
    as_superuser(
        &mut conn,
        &format!(
            "DELETE FROM redemptions WHERE id = '00000000-0000-7000-8000-0000000000d2'; {index}"
        ),
    )
    .await;
    holds(&app, "two live redemptions, mended").await;

    // 4. A statement whose content no longer gives its hash: a name it was drawn with
    // changed. The real binary names it and exits 1.
    let payout = books
        .statements
        .iter()
        .find(|s| s["kind"] == "site_payout")
        .unwrap();
    let site = books.site.org_id;
    let old_name = text(
        &mut conn,
        &format!("SELECT name AS v FROM settlement_names WHERE named_id = '{site}'"),
    )
    .await;
    as_superuser(
        &mut conn,
        &format!("UPDATE settlement_names SET name = 'Lieu renommé' WHERE named_id = '{site}'"),
    )
    .await;
    let (code, out, err) = check_binary(&app.db.url);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let lines: Vec<String> = out.lines().map(str::to_string).collect();
    names(
        &lines,
        "statement",
        &format!(
            "statement: statement {} ({}) was sealed as sha256 {}",
            payout["number"].as_str().unwrap(),
            payout["id"].as_str().unwrap(),
            payout["sha256"].as_str().unwrap()
        ),
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with(&format!("check: {} violation(s)", lines.len() - 1)),
        "{out}"
    );
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with("statement: ")),
        "{out}"
    );
    as_superuser(
        &mut conn,
        &format!(
            "UPDATE settlement_names SET name = '{}' WHERE named_id = '{site}'",
            old_name.replace('\'', "''")
        ),
    )
    .await;
    holds(&app, "statement, mended").await;

    // 5. The audit trail: an entry edited, an entry deleted, the newest entry deleted
    // (no gap left: the anchor of the last good check finds it).
    as_superuser(
        &mut conn,
        "CREATE TABLE saved_audit AS SELECT * FROM audit_entries",
    )
    .await;
    let restore = "DELETE FROM audit_entries; INSERT INTO audit_entries SELECT * FROM saved_audit";
    as_superuser(
        &mut conn,
        "UPDATE audit_entries SET reason = 'réécrit' WHERE seq = 2",
    )
    .await;
    let lines = violations(&app, "audit edited", &["audit"]).await;
    assert_eq!(
        lines,
        ["audit: entry 2 breaks the chain: its content no longer gives its hash (edited)"]
    );
    as_superuser(&mut conn, restore).await;
    as_superuser(&mut conn, "DELETE FROM audit_entries WHERE seq = 2").await;
    let lines = violations(&app, "audit deleted", &["audit"]).await;
    assert_eq!(
        lines,
        ["audit: entry 3 breaks the chain: its number does not follow (entries removed)"]
    );
    as_superuser(&mut conn, restore).await;
    holds(&app, "audit, mended").await;
    let last_seq = text(&mut conn, "SELECT max(seq)::text AS v FROM audit_entries").await;
    as_superuser(
        &mut conn,
        &format!("DELETE FROM audit_entries WHERE seq = {last_seq}"),
    )
    .await;
    let lines = violations(&app, "newest audit entry deleted", &["audit"]).await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    names(
        &lines,
        "newest audit entry deleted",
        &format!("audit: entry {last_seq}, the last one the check of "),
    );
    as_superuser(&mut conn, restore).await;

    // 6. A guard switched off: the audit trail's append-only trigger.
    conn.batch_execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only")
        .await
        .unwrap();
    let lines = violations(&app, "trigger disabled", &["guard"]).await;
    assert_eq!(
        lines,
        ["guard: trigger audit_entries_append_only on audit_entries is disabled"]
    );
    conn.batch_execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only")
        .await
        .unwrap();

    // Mended, the books pass again; the check changed nothing.
    as_superuser(&mut conn, "DROP TABLE saved_audit").await;
    let (code, out, err) = check_binary(&app.db.url);
    assert_eq!(code, Some(0), "{out}\n{err}");
    app.assert_ledger_invariants().await;
}

/// A check that cannot reach its database says so and exits 2, not 1.
#[test]
fn check_without_a_database_exits_2() {
    let (code, out, err) = check_binary("postgres://nobody:x@127.0.0.1:1/none");
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(err.contains("could not check"), "{err}");
}
