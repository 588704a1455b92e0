//! `lint --database-url`: the live database's table sizes beside each finding, and the
//! migrations it has not applied as the pending ones; on all three backends.

use clap::Parser as _;
use shiplap::Registry;
use shiplap::cli::{Cli, execute};
use shiplap::prelude::*;
use tests::{Engine, TestDb};

#[migration(version = 1)]
fn create_tables(s: &mut Schema) {
    s.raw("CREATE TABLE big (id BIGINT PRIMARY KEY, n INT)")
        .down("DROP TABLE big");
    s.raw("CREATE TABLE small (id BIGINT PRIMARY KEY, n INT)")
        .down("DROP TABLE small");
}

/// Pending: the same change on a big and on a small table.
#[migration(version = 2)]
fn change_both(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .postgres("SET lock_timeout = '5s'; CREATE INDEX big_n ON big (n); CREATE INDEX small_n ON small (n)")
            .mysql("ALTER TABLE big MODIFY n BIGINT; ALTER TABLE small MODIFY n BIGINT")
            .sqlite("ALTER TABLE big RENAME COLUMN n TO m; ALTER TABLE small RENAME COLUMN n TO m"),
    )
    .nothing_to_undo("fixture");
}

async fn sizes_beside_findings(db: &TestDb) {
    let registry = Registry::of_crate("lint_sizes").unwrap();
    db.migrator("lint_sizes").up_to(1).await.unwrap();
    db.insert_series("big", "id, n", "i, i", 20_000).await;
    db.insert_series("small", "id, n", "i, i", 10).await;
    match db.engine() {
        Engine::Postgres => db.execute("ANALYZE big; ANALYZE small").await,
        Engine::MySql => db.execute("ANALYZE TABLE big, small").await,
        Engine::Sqlite => {}
    }
    let cli = Cli::try_parse_from([
        "migrate",
        "lint",
        "--format",
        "json",
        "--database-url",
        &db.url,
    ])
    .unwrap();
    let outcome = execute(&cli, &registry).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&outcome.output).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let on = |table: &str| {
        findings
            .iter()
            .find(|f| f["table"] == table && f["version"] == 2)
            .unwrap_or_else(|| panic!("no finding on {table}: {doc:#}"))
    };
    let (big, small) = (on("big"), on("small"));
    let rows = big["rows"].as_i64().expect("the big table's rows");
    // Estimates: PostgreSQL's and MySQL's statistics, SQLite's largest rowid.
    assert!((15_000..=25_000).contains(&rows), "{big:#}");
    assert!(small["rows"].as_i64().unwrap() < 100, "{small:#}");
    match db.engine() {
        Engine::Postgres | Engine::MySql => {
            let rule = if db.engine() == Engine::Postgres {
                "pg_index_not_concurrent"
            } else {
                "mysql_table_copy"
            };
            assert_eq!(
                (big["rule"].as_str(), big["severity"].as_str()),
                (Some(rule), Some("error"))
            );
            assert!(big["bytes"].as_i64().unwrap() > 0, "{big:#}");
            // The same change on a table of ten rows is over at once: a warning.
            assert_eq!(
                (small["rule"].as_str(), small["severity"].as_str()),
                (Some(rule), Some("warning"))
            );
            assert!(
                small["message"].as_str().unwrap().contains("is small"),
                "{small:#}"
            );
            assert!(outcome.check_failed, "the big table's error fails the lint");
            assert_eq!(doc["errors"], 1, "only the big table's: {doc:#}");
        }
        Engine::Sqlite => {
            // Renaming breaks the running release whatever the size: still an error.
            assert_eq!(big["rule"], "rename_column");
            assert_eq!(small["severity"], "error");
        }
    }
    // Applied migrations are not reported as pending work: only migration 2's findings.
    assert!(findings.iter().all(|f| f["version"] == 2), "{doc:#}");
    assert!(
        doc["database"].is_string(),
        "the document names the database: {doc:#}"
    );
}

tests::on_every_backend!(sizes_beside_findings);
