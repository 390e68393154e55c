//! Backups that restore (issue 15, point 4): a `pg_dump` of populated books (a settled
//! month, sealed statements, the audit trail), restored with `pg_restore` into a fresh
//! PostgreSQL cluster, passes `passnum check` and keeps every statement's SHA-256.
//! The procedure is `docs/OPERATIONS.md ("Sauvegardes et restauration")`.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passnum::pg_cluster::{self, Durability};
use uuid::Uuid;

use crate::check::{check_binary, settled_books};
use crate::helpers::TestApp;

/// A throw-away cluster, stopped and deleted when dropped.
struct FreshCluster {
    root: PathBuf,
    cluster: pg_cluster::LocalCluster,
}

impl FreshCluster {
    fn start() -> FreshCluster {
        let root =
            std::env::temp_dir().join(format!("passnum-restore-{}", Uuid::new_v4().simple()));
        let cluster = pg_cluster::ensure_running(&root, Durability::Ephemeral)
            .expect("a fresh cluster starts");
        FreshCluster { root, cluster }
    }
}

impl Drop for FreshCluster {
    fn drop(&mut self) {
        let _ = pg_cluster::stop(&self.root);
        let _ = pg_cluster::remove(&self.root);
    }
}

fn run(program: &str, args: &[&str]) {
    let bin = pg_cluster::bin_dir().expect("PostgreSQL binaries");
    let out = Command::new(bin.join(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn statement_hashes(conn: &mut AsyncPgConnection) -> Vec<(String, Option<String>)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        number: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        sha256: Option<String>,
    }
    diesel::sql_query("SELECT number, sha256 FROM statements ORDER BY number")
        .load::<Row>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.number, r.sha256))
        .collect()
}

async fn count(conn: &mut AsyncPgConnection, table: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result::<N>(conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn a_dump_restored_into_a_fresh_cluster_passes_the_check_with_the_same_statements() {
    let app = TestApp::spawn().await;
    let books = settled_books(&app).await;
    let mut original = app.db.connect().await;
    let hashes = statement_hashes(&mut original).await;
    assert_eq!(hashes.len(), books.statements.len());
    assert!(hashes.iter().all(|(_, h)| h.is_some()), "{hashes:?}");

    // The copy, as docs/OPERATIONS.md ("Sauvegardes et restauration") says: custom format, then pg_restore.
    let dir = std::env::temp_dir().join(format!("passnum-dump-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("passnum.dump");
    let dump_path = dump.to_str().unwrap();
    run(
        "pg_dump",
        &[
            "--format=custom",
            "--file",
            dump_path,
            "--dbname",
            &app.db.url,
        ],
    );
    // The dump's table of contents is readable (what `pg_restore --list` checks).
    run("pg_restore", &["--list", dump_path]);

    let fresh = FreshCluster::start();
    let admin = fresh.cluster.url("postgres");
    let mut conn = AsyncPgConnection::establish(&admin).await.unwrap();
    diesel::sql_query("CREATE DATABASE passnum")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let restored_url = fresh.cluster.url("passnum");
    run(
        "pg_restore",
        &[
            "--exit-on-error",
            "--no-owner",
            "--dbname",
            &restored_url,
            dump_path,
        ],
    );
    remove(&dir);

    // The restored books pass the check, with every statement drawn again...
    let (code, out, err) = check_binary(&restored_url);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("check: all holds"), "{out}");
    assert!(
        out.contains(&format!("{} statement(s)", hashes.len())),
        "{out}"
    );
    // ... and their recorded SHA-256 are the original's.
    let mut restored = AsyncPgConnection::establish(&restored_url).await.unwrap();
    assert_eq!(statement_hashes(&mut restored).await, hashes);
    for table in [
        "ledger_postings",
        "redemptions",
        "tickets",
        "audit_entries",
        "statements",
    ] {
        assert_eq!(
            count(&mut restored, table).await,
            count(&mut original, table).await,
            "{table}"
        );
    }
    // The database's guards came back with it: the ledger is still append-only.
    let refused = diesel::sql_query("DELETE FROM ledger_postings")
        .execute(&mut restored)
        .await;
    assert!(
        refused.is_err(),
        "the restored ledger must stay append-only"
    );
    drop(restored);
    drop(fresh);
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
