//! The audit trail's storage: entries numbered without gaps and chained by hash in the
//! order they commit, append-only, and a broken chain found by `audit_chain_break()`.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passnum::audit::{self, Actor, Change, Entity};
use serde_json::json;

use crate::helpers::TestApp;

fn change(entity_id: uuid::Uuid, action: &'static str) -> Change {
    Change {
        actor: Actor::Service("test"),
        organization_id: None,
        entity: Entity::Program,
        entity_id,
        action,
        before: Some(json!({"name": "avant"})),
        after: Some(json!({"name": "après"})),
        reason: None,
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Break {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Nullable<Text>)]
    problem: Option<String>,
}

async fn chain_break(conn: &mut AsyncPgConnection) -> Option<Break> {
    diesel::sql_query("SELECT seq, problem FROM audit_chain_break()")
        .get_results::<Break>(conn)
        .await
        .expect("audit_chain_break()")
        .pop()
}

async fn sql(conn: &mut AsyncPgConnection, statement: &str) -> Result<usize, String> {
    diesel::sql_query(statement)
        .execute(conn)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn entries_are_numbered_chained_and_append_only() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect().await;
    let entity = uuid::Uuid::now_v7();

    // A change rolled back leaves no entry and no gap.
    let first = conn
        .transaction::<_, passnum::db::DbError, _>(async |conn| {
            audit::record(conn, change(entity, "program.updated")).await
        })
        .await
        .expect("first entry");
    let undone: Result<(), passnum::db::DbError> = conn
        .transaction(async |conn| {
            audit::record(conn, change(entity, "program.updated")).await?;
            Err(passnum::db::DbError::NotFound)
        })
        .await;
    assert!(undone.is_err());
    let second = audit::record(&mut conn, change(entity, "program.extended"))
        .await
        .expect("second entry");
    assert_eq!(second.seq, first.seq + 1, "no gap after a rollback");
    assert_eq!(second.action, "program.extended");
    assert_eq!(second.after, Some(json!({"name": "après"})));
    assert_eq!(chain_break(&mut conn).await, None, "a sound chain");

    for statement in [
        "UPDATE audit_entries SET reason = 'x'".to_string(),
        "DELETE FROM audit_entries".to_string(),
        "TRUNCATE audit_entries".to_string(),
    ] {
        let refused = sql(&mut conn, &statement).await;
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("append-only")),
            "{statement}: {refused:?}"
        );
    }

    // A superuser who turns the guard off and edits an entry breaks the chain there.
    sql(
        &mut conn,
        "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only",
    )
    .await
    .expect("superuser");
    sql(
        &mut conn,
        &format!(
            "UPDATE audit_entries SET after = '{{\"name\": \"autre\"}}' WHERE seq = {}",
            first.seq
        ),
    )
    .await
    .expect("edit");
    assert_eq!(
        chain_break(&mut conn).await,
        Some(Break {
            seq: first.seq,
            problem: Some("content".into())
        })
    );
    // Put it back: the chain holds again; remove the last one: nothing notices but a
    // missing link in the middle does.
    sql(
        &mut conn,
        &format!(
            "UPDATE audit_entries SET after = '{{\"name\": \"après\"}}' WHERE seq = {}",
            first.seq
        ),
    )
    .await
    .expect("restore");
    assert_eq!(chain_break(&mut conn).await, None);
    let third = audit::record(&mut conn, change(entity, "program.updated"))
        .await
        .expect("third entry");
    sql(
        &mut conn,
        &format!("DELETE FROM audit_entries WHERE seq = {}", second.seq),
    )
    .await
    .expect("delete");
    assert_eq!(
        chain_break(&mut conn).await,
        Some(Break {
            seq: third.seq,
            problem: Some("gap".into())
        })
    );
}

/// Label changes and user changes are in the trail, each with who did it, and the
/// site's admin reads its own site's entries.
#[tokio::test]
async fn labels_and_users_changes_are_in_the_trail() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let site = app.organization("site", serde_json::json!({})).await;
    let site_id = site["id"].as_str().unwrap();
    let today = passnum::domain::french_date(chrono::Utc::now());
    let label =
        serde_json::json!({"valid_from": today, "valid_until": today + chrono::Days::new(365)});
    app.post(
        &format!("/api/v1/sites/{site_id}/label"),
        &operator.token,
        label.clone(),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/sites/{site_id}/label"),
        &operator.token,
        label,
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/sites/{site_id}/label/suspend"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    // Suspending twice changes nothing, and writes nothing.
    app.post(
        &format!("/api/v1/sites/{site_id}/label/suspend"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/sites/{site_id}/label/reinstate"),
        &operator.token,
        json!({}),
    )
    .await
    .ok(200);
    let admin = app.user_in(site_id, "admin").await;
    let agent = app.user_in(site_id, "agent").await;
    app.patch(
        &format!("/api/v1/organizations/{site_id}/users/{}", agent.user_id),
        &admin.token,
        json!({"active": false}),
    )
    .await
    .ok(200);

    let trail = app
        .get(
            &format!("/api/v1/audit?entity_id={site_id}"),
            &operator.token,
        )
        .await
        .ok(200)["items"]
        .clone();
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "label.reinstated",
            "label.suspended",
            "label.renewed",
            "label.granted"
        ],
        "newest first, the repeated suspension not written"
    );
    assert_eq!(trail[1]["before"], json!({"suspended": false}));
    assert_eq!(trail[1]["actor"]["email"], operator.email.as_str());

    let agent_trail = app
        .get(
            &format!("/api/v1/audit?entity_id={}", agent.user_id),
            &admin.token,
        )
        .await
        .ok(200)["items"]
        .clone();
    let actions: Vec<&str> = agent_trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.updated", "user.created"], "{agent_trail}");
    assert_eq!(agent_trail[0]["before"], json!({"active": true}));
    assert_eq!(agent_trail[0]["after"], json!({"active": false}));
    assert_eq!(agent_trail[0]["actor"]["email"], admin.email.as_str());
}
