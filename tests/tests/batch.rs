//! A transactional migration goes to the server as one batch (`BEGIN`, its statements, its
//! history row, `COMMIT`), so its history row's `duration_ms` is computed by the database.
//! It must still be the migration's real duration: at least the time its slow statement
//! takes, and no more than the whole run.

use std::time::{Duration, Instant};

use shiplap::prelude::*;
use shiplap::{DatabaseUrl, Migrator, Registry, UrlSource};
use tests::{Engine, TestDb};

const SLEEP_MS: i64 = 300;

/// Creates a table, then waits SLEEP_MS (SQLite has no sleep: a query that counts).
#[migration(version = 1)]
fn slow(s: &mut Schema) {
    s.raw("CREATE TABLE slow (id INT)").down("DROP TABLE slow");
    s.raw(
        Raw::per_backend()
            .postgres("SELECT pg_sleep(0.3)")
            .mysql("DO SLEEP(0.3)")
            .sqlite(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) \
                 SELECT count(*) FROM n",
            ),
    )
    .nothing_to_undo("only waits");
}

#[migration(version = 2)]
fn quick(s: &mut Schema) {
    s.raw("CREATE TABLE quick (id INT)")
        .down("DROP TABLE quick");
}

async fn records_real_durations(db: &TestDb) {
    // SQLite has no sleep: its slow statement counts instead, for an unknown time.
    let slept = db.engine() != Engine::Sqlite;
    let registry = Registry::of_crate("batch").unwrap();
    let migrator = Migrator::new(
        registry,
        DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap(),
    )
    // The "still running" report while the batch runs (asserted in failure_reports.rs).
    .progress_every(Duration::from_millis(100));
    let started = Instant::now();
    let done = migrator.up().await.unwrap();
    let wall = i64::try_from(started.elapsed().as_millis()).unwrap();
    assert_eq!(done.len(), 2);

    let rows = migrator.history().await.unwrap();
    let durations: Vec<i64> = rows.iter().map(|r| r.duration_ms).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for d in &durations {
        assert!(
            (0..=wall).contains(d),
            "{durations:?} (the run took {wall} ms)"
        );
    }
    if slept {
        assert!(durations[0] >= SLEEP_MS - 5, "{durations:?}");
    } else {
        assert!(durations[0] >= 1, "{durations:?}");
    }
    assert_eq!(
        db.tables().await,
        [
            "quick",
            "shiplap_migrations",
            "shiplap_migrations_backfill",
            "slow"
        ]
    );
}

tests::on_every_backend!(records_real_durations);
