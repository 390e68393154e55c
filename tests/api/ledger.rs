//! The database itself guards the ledger: unbalanced transactions, edits and
//! deletions are refused whatever the application does.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::helpers::TestApp;

async fn sql(conn: &mut AsyncPgConnection, statement: &str) -> Result<usize, String> {
    diesel::sql_query(statement)
        .execute(conn)
        .await
        .map_err(|e| e.to_string())
}

/// Runs statements in one database transaction; the commit's result.
async fn in_transaction(conn: &mut AsyncPgConnection, statements: &[String]) -> Result<(), String> {
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        for s in statements {
            diesel::sql_query(s.as_str()).execute(conn).await?;
        }
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_database_refuses_unbalanced_or_edited_entries() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(1).await;
    let mut conn = app.db.connect().await;
    let program = &territory.program;
    let account = |kind: &str| {
        format!("(SELECT id FROM ledger_accounts WHERE code = 'program:{program}:{kind}')")
    };
    let tx = uuid::Uuid::now_v7();
    let insert_tx = format!(
        "INSERT INTO ledger_transactions (id, kind, description, program_id) VALUES ('{tx}', 'payment', 'test', '{program}')"
    );
    let post = |tx: uuid::Uuid, kind: &str, amount: &str| {
        format!(
            "INSERT INTO ledger_postings (transaction_id, account_id, amount) VALUES ('{tx}', {}, {amount})",
            account(kind)
        )
    };

    let unbalanced = in_transaction(
        &mut conn,
        &[
            insert_tx.clone(),
            post(tx, "available", "5.00"),
            post(tx, "outstanding", "-4.99"),
        ],
    )
    .await;
    assert!(unbalanced.unwrap_err().contains("does not balance"));
    let lonely = in_transaction(&mut conn, std::slice::from_ref(&insert_tx)).await;
    assert!(
        lonely.unwrap_err().contains("does not balance"),
        "a transaction without postings"
    );

    in_transaction(
        &mut conn,
        &[
            insert_tx.clone(),
            post(tx, "available", "-5.00"),
            post(tx, "outstanding", "5.00"),
        ],
    )
    .await
    .expect("a balanced transaction commits");
    // Adding to a committed transaction, even balanced, is refused.
    let late = in_transaction(
        &mut conn,
        &[
            post(tx, "available", "1.00"),
            post(tx, "outstanding", "-1.00"),
        ],
    )
    .await;
    assert!(
        late.unwrap_err()
            .contains("outside the database transaction")
    );
    for statement in [
        "UPDATE ledger_postings SET amount = amount * 2".to_string(),
        "DELETE FROM ledger_postings".to_string(),
        "TRUNCATE ledger_postings CASCADE".to_string(),
        format!("UPDATE ledger_transactions SET description = 'x' WHERE id = '{tx}'"),
        format!("DELETE FROM ledger_transactions WHERE id = '{tx}'"),
    ] {
        let refused = sql(&mut conn, &statement).await;
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("append-only")),
            "{statement}: {refused:?}"
        );
    }
    // Put the test's own movement back the only way there is: a reversing entry.
    let back = uuid::Uuid::now_v7();
    in_transaction(
        &mut conn,
        &[
            format!("INSERT INTO ledger_transactions (id, kind, description, program_id, reverses) VALUES ('{back}', 'reversal', 'undo', '{program}', '{tx}')"),
            post(back, "available", "5.00"),
            post(back, "outstanding", "-5.00"),
        ],
    )
    .await
    .unwrap();
    app.assert_ledger_invariants().await;
}

/// What a redemption points to without a foreign key (accounts, programs, users,
/// organisations, tickets) is checked by triggers, and those rows can be neither
/// deleted nor renumbered, so a reference seen once stays good.
#[tokio::test]
async fn references_without_foreign_keys_are_checked_and_their_targets_are_kept() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(1).await;
    let book = app
        .issue(
            &territory.prescriber,
            &territory.program,
            Some(json!({"reference": "K-1"})),
        )
        .await
        .ok(201)
        .clone();
    let ticket = book["tickets"][0]["id"].as_str().unwrap().to_string();
    let mut conn = app.db.connect().await;
    let program = &territory.program;
    let account = |kind: &str| {
        format!("(SELECT id FROM ledger_accounts WHERE code = 'program:{program}:{kind}')")
    };
    let nowhere = uuid::Uuid::new_v4();

    // A balanced movement with one leg on an account that does not exist, in one
    // statement whose other row is good: refused when written.
    let tx = uuid::Uuid::now_v7();
    let stray = in_transaction(
        &mut conn,
        &[
            format!(
                "INSERT INTO ledger_transactions (id, kind, description, program_id) VALUES ('{tx}', 'payment', 'test', '{program}')"
            ),
            format!(
                "INSERT INTO ledger_postings (transaction_id, account_id, amount) VALUES ('{tx}', {}, -5.00), ('{tx}', '{nowhere}', 5.00)",
                account("available")
            ),
        ],
    )
    .await;
    assert!(
        stray.as_ref().is_err_and(|e| e.contains(&format!(
            "posting to ledger account {nowhere} that does not exist"
        ))),
        "posting to a missing account: {stray:?}"
    );

    // A balanced movement of a program that does not exist: refused at commit.
    let tx = uuid::Uuid::now_v7();
    let orphan = in_transaction(
        &mut conn,
        &[
            format!(
                "INSERT INTO ledger_transactions (id, kind, description, program_id) VALUES ('{tx}', 'payment', 'test', '{nowhere}')"
            ),
            format!(
                "INSERT INTO ledger_postings (transaction_id, account_id, amount) VALUES ('{tx}', {}, -5.00), ('{tx}', {}, 5.00)",
                account("available"),
                account("outstanding")
            ),
        ],
    )
    .await;
    assert!(
        orphan.as_ref().is_err_and(|e| e.contains(&format!(
            "ledger transaction {tx} refers to program {nowhere} that does not exist"
        ))),
        "a movement of a missing program: {orphan:?}"
    );

    // An idempotency key of a user who does not exist; a real user's is accepted.
    let stored_key = |user: &str| {
        format!(
            "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, response_status, response_body) VALUES ('{user}', 'test', 'k-1', 'h', 201, '{{}}')"
        )
    };
    let ghost = sql(&mut conn, &stored_key(&nowhere.to_string())).await;
    assert!(
        ghost.as_ref().is_err_and(|e| e.contains(&format!(
            "idempotency key of user {nowhere} that does not exist"
        ))),
        "a key of a missing user: {ghost:?}"
    );
    assert_eq!(
        sql(
            &mut conn,
            &stored_key(&territory.prescriber.user_id.to_string())
        )
        .await,
        Ok(1),
        "a key of a real user"
    );

    // Rows pointed to without a foreign key: never deleted, truncated or renumbered,
    // but otherwise updated as usual (and an "update" of the id to itself is no change).
    let row = |table: &str, id: &str| (table.to_string(), format!("'{id}'"));
    let kept = [
        (
            row("organizations", &territory.prescriber.org_id.to_string()),
            "name = name || ' x'",
        ),
        (
            row("users", &territory.prescriber.user_id.to_string()),
            "email = 'x' || email",
        ),
        (row("programs", program), "name = name || ' x'"),
        (row("tickets", &ticket), "updated_at = now()"),
        (
            (
                "ledger_accounts".to_string(),
                account("available").to_string(),
            ),
            "name = name || ' x'",
        ),
    ];
    for ((table, id), plain) in &kept {
        for statement in [
            format!("DELETE FROM {table} WHERE id = {id}"),
            format!("UPDATE {table} SET id = gen_random_uuid() WHERE id = {id}"),
            format!("TRUNCATE {table} CASCADE"),
        ] {
            let refused = sql(&mut conn, &statement).await;
            assert!(
                refused.as_ref().is_err_and(|e| e.contains(&format!(
                    "rows of {table} are never deleted nor given another id"
                ))),
                "{statement}: {refused:?}"
            );
        }
        let statement = format!("UPDATE {table} SET {plain} WHERE id = {id}");
        assert_eq!(sql(&mut conn, &statement).await, Ok(1), "{statement}");
        let statement = format!("UPDATE {table} SET id = id WHERE id = {id}");
        assert_eq!(sql(&mut conn, &statement).await, Ok(1), "{statement}");
    }
    let renamed = sql(
        &mut conn,
        &format!(
            "SELECT 1 FROM organizations WHERE id = '{}' AND name LIKE '% x'",
            territory.prescriber.org_id
        ),
    )
    .await;
    assert_eq!(renamed, Ok(1), "the plain update was kept");
    app.assert_ledger_invariants().await;
}

#[tokio::test]
async fn accounts_list_their_balances_and_the_trial_balance_is_zero() {
    let app = TestApp::spawn().await;
    let territory = app.funded_territory(2).await;
    app.issue(
        &territory.prescriber,
        &territory.program,
        Some(json!({"reference": "x"})),
    )
    .await
    .ok(201);
    let operator = app.operator().await;
    let res = app
        .get(
            &format!("/api/v1/ledger/accounts?owner_id={}", territory.funders[0]),
            &operator.token,
        )
        .await;
    let items = res.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(
        items.len(),
        2,
        "a funder's commitment and unpaid accounts: {items:?}"
    );
    let commitment = items
        .iter()
        .find(|a| a["kind"] == "funder_commitment")
        .unwrap();
    assert_eq!(commitment["balance"], "-6000.00");
    let unpaid = items.iter().find(|a| a["kind"] == "funder_unpaid").unwrap();
    assert_eq!(unpaid["balance"], "0.00");
    let trial = app
        .get("/api/v1/ledger/trial-balance", &operator.token)
        .await;
    let trial = trial.ok(200);
    assert_eq!(trial["total"], "0.00");
    assert_eq!(trial["total_debits"], "10000.00");
    assert_eq!(trial["total_credits"], "-10000.00");
}
