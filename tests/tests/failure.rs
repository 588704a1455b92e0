//! A migration that fails half-way: on PostgreSQL and SQLite it is rolled back whole and
//! the database is exactly as before it; on MariaDB (DDL commits implicitly) it is left
//! dirty, `up` refuses to pass it, and `repair` plus `up` recovers. Migrations before it
//! stay applied; none after it run.

use shiplap::Error;
use shiplap::prelude::*;
use tests::{Engine, TestDb};

#[migration(version = 1)]
fn create_a(s: &mut Schema) {
    s.raw("CREATE TABLE a (id INT)").down("DROP TABLE a");
}

/// Creates b, then writes into a table that does not exist (yet).
#[migration(
    version = 2,
    allow(mysql_mixed_schema_and_data = "it shows what a half-done migration leaves")
)]
fn half_done(s: &mut Schema) {
    s.raw("CREATE TABLE b (id INT)").down("DROP TABLE b");
    s.raw("INSERT INTO needed_later (id) VALUES (1)")
        .nothing_to_undo("test");
}

#[migration(version = 3)]
fn create_c(s: &mut Schema) {
    s.raw("CREATE TABLE c (id INT)").down("DROP TABLE c");
}

async fn fails_half_way(db: &TestDb) {
    let ddl_is_transactional = db.engine() != Engine::MySql;
    let m = db.migrator("failure");
    assert_eq!(m.status().await.unwrap().len(), 3);
    let err = m.up().await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Statement { index: 2, count: 2, dirty, .. } if dirty != ddl_is_transactional),
        "{text}"
    );
    assert!(
        text.starts_with(
            "migration 2 half_done (tests/tests/failure.rs:20) failed (up) at statement 2 of 2: "
        ),
        "{text}"
    );
    assert!(
        text.contains("statement: INSERT INTO needed_later (id) VALUES (1)"),
        "{text}"
    );

    let statuses: Vec<(i64, &str)> = m
        .status()
        .await
        .unwrap()
        .iter()
        .map(|s| (s.version, s.state.name()))
        .collect();
    if ddl_is_transactional {
        // Rolled back whole: b does not exist, 2 is simply pending, 3 never ran.
        assert_eq!(
            db.tables().await,
            ["a", "shiplap_migrations", "shiplap_migrations_backfill"]
        );
        assert_eq!(statuses, [(1, "applied"), (2, "pending"), (3, "pending")]);
        assert!(text.ends_with(
            "it was rolled back: nothing of it remains (the migrations before it stay applied)"
        ));
    } else {
        // MySQL: b was created (DDL commits), and 2 is recorded dirty.
        assert_eq!(
            db.tables().await,
            [
                "a",
                "b",
                "shiplap_migrations",
                "shiplap_migrations_backfill"
            ]
        );
        assert_eq!(statuses, [(1, "applied"), (2, "dirty"), (3, "pending")]);
        let refused = m.up().await.unwrap_err();
        assert!(
            matches!(refused, Error::Dirty { version: 2, .. }),
            "{refused}"
        );
        assert!(
            refused.to_string().contains("`migrate repair --version 2`"),
            "{refused}"
        );
        // A person undoes what ran...
        db.execute("DROP TABLE b").await;
        let repaired = m.repair(Some(2), None).await.unwrap();
        assert_eq!(repaired.len(), 1);
        assert_eq!(
            repaired[0].action,
            "cleared dirty row (and any backfill positions): `up` will run this migration again from the start"
        );
    }

    // ...and fixes the cause; then up recovers.
    db.execute("CREATE TABLE needed_later (id INT)").await;
    let done = m.up().await.unwrap();
    assert_eq!(done.iter().map(|d| d.version).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(
        db.tables().await,
        [
            "a",
            "b",
            "c",
            "needed_later",
            "shiplap_migrations",
            "shiplap_migrations_backfill"
        ]
    );
}

tests::on_every_backend!(fails_half_way);
