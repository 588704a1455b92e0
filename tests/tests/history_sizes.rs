//! The sizes `up` records in each history row: the tables a schema migration's statements
//! name, before and after it ran (PostgreSQL and MySQL, from their catalogs; SQLite
//! records none), and `history` showing them.

use serde_json::Value;
use tests::{Engine, TestDb, migrate, on_every_backend};

const FIRST: &str = "20250101090000";

/// The row of `version` in `history --format json`.
fn row(history: &Value, version: i64) -> &Value {
    history["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == version)
        .unwrap_or_else(|| panic!("no row {version}: {history}"))
}

/// `table`'s entry in a row's sizes.
fn size<'a>(row: &'a Value, table: &str) -> &'a Value {
    row["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == table)
        .unwrap_or_else(|| panic!("no size of {table}: {row}"))
}

async fn up_records_sizes_before_and_after(db: &TestDb) {
    let up = migrate(&db.url, &["up", "--to", FIRST]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    // 3,000 users, counted by the statistics, before the rest of the migrations.
    let fill = match db.engine() {
        Engine::MySql => {
            "INSERT INTO users (email, name) SELECT CONCAT('u', seq, '@example.com'), 'n' \
             FROM seq_1_to_3000"
        }
        Engine::Postgres => {
            "INSERT INTO users (email, name) SELECT 'u' || n || '@example.com', 'n' \
             FROM generate_series(1, 3000) n"
        }
        Engine::Sqlite => {
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 3000) \
             INSERT INTO users (email, name) SELECT 'u' || n || '@example.com', 'n' FROM s"
        }
    };
    db.execute(fill).await;
    db.execute(match db.engine() {
        Engine::MySql => "ANALYZE TABLE users",
        _ => "ANALYZE users",
    })
    .await;
    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);

    let run = migrate(&db.url, &["history", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let history: Value = serde_json::from_str(&run.stdout).unwrap();
    if db.engine() == Engine::Sqlite {
        assert!(
            history["history"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["sizes"] == serde_json::json!([])),
            "SQLite records no sizes: {history}"
        );
        return;
    }

    // Created by the first run: no size before, one after.
    let created = size(row(&history, 20250101090000), "users");
    assert!(created["before"].is_null(), "{created}");
    assert!(created["after"]["bytes"].as_i64().unwrap() > 0, "{created}");

    // Its foreign key's `ON DELETE` names no table.
    let tables: Vec<&Value> = row(&history, 20250101090200)["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["table"])
        .collect();
    assert_eq!(tables, ["orders"], "{history}");

    // The first migration of the second run to touch users: read as the run began.
    let preferences = size(row(&history, 20250115100000), "users");
    let rows = preferences["before"]["rows"].as_i64().unwrap();
    match db.engine() {
        Engine::Postgres => assert_eq!(rows, 3000, "{preferences}"),
        // InnoDB's statistics sample pages: near, not exact.
        _ => assert!((1500..=6000).contains(&rows), "{preferences}"),
    }
    let bytes_before = preferences["before"]["bytes"].as_i64().unwrap();
    assert!(
        bytes_before > 100_000,
        "3,000 rows and an index: {preferences}"
    );
    assert!(
        preferences["after"]["bytes"].as_i64().unwrap() > 0,
        "{preferences}"
    );

    // The next one to touch users: its size before is what the one before left.
    let opt_in = size(row(&history, 20250115100100), "users");
    assert_eq!(opt_in["before"], preferences["after"], "{history}");
    assert!(opt_in["after"].is_object(), "{opt_in}");

    // A migration without a transaction records its sizes when it is marked applied.
    let index = size(row(&history, 20250320090000), "orders");
    assert!(
        index["before"].is_object() && index["after"].is_object(),
        "{index}"
    );

    // A data migration names no statement: nothing recorded.
    assert_eq!(
        row(&history, 20250201080100)["sizes"],
        serde_json::json!([])
    );

    // `history` shows them below each row.
    let run = migrate(&db.url, &["history"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("  users: (new) -> "), "{}", run.stdout);
    let shown = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("20250115100000"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        shown.starts_with(&format!("  users: {rows} rows, ")) && shown.contains(" -> "),
        "{}",
        run.stdout
    );
}

on_every_backend!(up_records_sizes_before_and_after);
