//! Checked-in files generated from the code: `openapi/openapi.json` and
//! `src/schema.rs`. They fail when stale; `UPDATE_GENERATED=1 cargo test generated`
//! rewrites them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use crate::helpers::{TestApp, TestDatabase};

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn compare_or_update(rel: &str, generated: &str) {
    let file = path(rel);
    if std::env::var("UPDATE_GENERATED").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        current == generated,
        "{rel} is stale: run `UPDATE_GENERATED=1 cargo test generated` and commit the result"
    );
}

#[tokio::test]
async fn openapi_document_is_generated_and_checked_in() {
    let generated = serde_json::to_string_pretty(&passnum::api::openapi()).unwrap() + "\n";
    compare_or_update("openapi/openapi.json", &generated);
    // The served document is the same one.
    let app = TestApp::spawn().await;
    let served = app
        .request(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    let expected: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(served.body, expected);
    for path in [
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/organizations",
        "/api/v1/organizations/{id}",
        "/api/v1/public/sites",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            expected["paths"].get(path).is_some(),
            "{path} is in the document"
        );
    }
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    udt_name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    nullable: bool,
    /// The column's type is an enum type of the schema (a `sql_types` struct).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_enum: bool,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

#[derive(QueryableByName)]
struct Foreign {
    #[diesel(sql_type = diesel::sql_types::Text)]
    child: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    parent: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

fn diesel_type(udt: &str) -> &'static str {
    match udt {
        "uuid" => "Uuid",
        "text" | "varchar" | "bpchar" => "Text",
        "int2" => "Int2",
        "int4" => "Int4",
        "int8" => "Int8",
        "numeric" => "Numeric",
        "bool" => "Bool",
        "date" => "Date",
        "timestamptz" => "Timestamptz",
        "timestamp" => "Timestamp",
        "float8" => "Float8",
        "float4" => "Float4",
        "jsonb" => "Jsonb",
        "bytea" => "Bytea",
        "inet" => "Inet",
        "_text" => "Array<Nullable<Text>>",
        other => panic!("add a diesel type for the PostgreSQL type {other}"),
    }
}

/// `ticket_status` → `TicketStatus`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// `src/schema.rs` as diesel's print-schema would write it, from the migrated database.
#[tokio::test]
async fn schema_is_generated_from_the_migrations() {
    let db = TestDatabase::new();
    let mut conn = db.connect().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT c.table_name::text, c.column_name::text, c.udt_name::text, (c.is_nullable = 'YES') AS nullable,
                EXISTS (SELECT 1 FROM pg_type ty JOIN pg_namespace n ON n.oid = ty.typnamespace
                         WHERE n.nspname = c.udt_schema AND ty.typname = c.udt_name
                           AND ty.typtype = 'e') AS is_enum
         FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name NOT LIKE '\\_\\_%'
         ORDER BY c.table_name, c.ordinal_position",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let keys: Vec<Key> = diesel::sql_query(
        "SELECT kcu.table_name::text, kcu.column_name::text FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
         WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public'
         ORDER BY kcu.table_name, kcu.ordinal_position",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let foreign: Vec<Foreign> = diesel::sql_query(
        "SELECT kcu.table_name::text AS child, ccu.table_name::text AS parent, kcu.column_name::text
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
         JOIN information_schema.constraint_column_usage ccu USING (constraint_schema, constraint_name)
         WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'
         ORDER BY child, parent, kcu.column_name",
    )
    .load(&mut conn)
    .await
    .unwrap();

    let mut tables: BTreeMap<String, Vec<&Column>> = BTreeMap::new();
    for column in &columns {
        tables
            .entry(column.table_name.clone())
            .or_default()
            .push(column);
    }
    let mut out = String::from(
        "// @generated from the migrated database by `UPDATE_GENERATED=1 cargo test generated`; do not edit.\n",
    );
    // As print-schema: one SQL type per enum type of the schema, used by name.
    let enums: std::collections::BTreeSet<&str> = columns
        .iter()
        .filter(|c| c.is_enum)
        .map(|c| c.udt_name.as_str())
        .collect();
    if !enums.is_empty() {
        out.push_str("\npub mod sql_types {\n");
        for (i, name) in enums.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!(
                "    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]\n    #[diesel(postgres_type(name = \"{name}\"))]\n    pub struct {};\n",
                camel(name)
            ));
        }
        out.push_str("}\n");
    }
    // As print-schema: a table without a primary key (an append-only queue read
    // in SQL, like `stats_changes`) has no `table!`.
    tables.retain(|table, _| keys.iter().any(|k| &k.table_name == table));
    for (table, columns) in &tables {
        let pk: Vec<&str> = keys
            .iter()
            .filter(|k| &k.table_name == table)
            .map(|k| k.column_name.as_str())
            .collect();
        out.push_str("\ndiesel::table! {\n");
        let used: std::collections::BTreeSet<String> = columns
            .iter()
            .filter(|c| c.is_enum)
            .map(|c| camel(&c.udt_name))
            .collect();
        if !used.is_empty() {
            out.push_str("    use diesel::sql_types::*;\n");
            for name in &used {
                out.push_str(&format!("    use super::sql_types::{name};\n"));
            }
            out.push('\n');
        }
        out.push_str(&format!("    {table} ({}) {{\n", pk.join(", ")));
        for c in columns {
            let ty = if c.is_enum {
                camel(&c.udt_name)
            } else {
                diesel_type(&c.udt_name).to_string()
            };
            let ty = if c.nullable {
                format!("Nullable<{ty}>")
            } else {
                ty
            };
            out.push_str(&format!("        {} -> {ty},\n", c.column_name));
        }
        out.push_str("    }\n}\n");
    }
    // As diesel's print-schema: joinable! only for a pair of tables linked by exactly
    // one foreign key, and never a table to itself.
    let mut links: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in foreign.iter().filter(|f| f.child != f.parent) {
        links
            .entry((f.child.clone(), f.parent.clone()))
            .or_default()
            .push(f.column_name.clone());
    }
    let pairs: BTreeMap<(String, String), String> = links
        .into_iter()
        .filter(|(_, columns)| columns.len() == 1)
        .map(|(pair, mut columns)| (pair, columns.remove(0)))
        .collect();
    if !pairs.is_empty() {
        out.push('\n');
    }
    for ((child, parent), column) in &pairs {
        out.push_str(&format!(
            "diesel::joinable!({child} -> {parent} ({column}));\n"
        ));
    }
    let names: Vec<&str> = tables.keys().map(String::as_str).collect();
    out.push_str(&format!(
        "\ndiesel::allow_tables_to_appear_in_same_query!({},);\n",
        names.join(", ")
    ));
    compare_or_update("src/schema.rs", &out);
}
