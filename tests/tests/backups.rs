//! Dropped data that a down brings back (`drop_column_keeping_data`,
//! `drop_table_keeping_data`), on every backend: the drop keeps a copy, the down puts
//! the column or table back with its rows, `migrate backups` lists the copies and
//! empties them, after which the downs still work (without the rows).

use shiplap::DownTarget;
use shiplap::prelude::*;
use tests::{TestDb, migrate, on_every_backend};

#[migration(version = 1)]
fn create_tables(s: &mut Schema) {
    s.raw("CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(40), email VARCHAR(40))")
        .down("DROP TABLE users");
    s.raw("INSERT INTO users (id, name, email) VALUES (1, 'ann', 'a@x'), (2, 'bob', 'b@x'), (3, NULL, 'c@x')")
        .nothing_to_undo("the table goes");
    s.raw("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(40) NOT NULL)")
        .down("DROP TABLE notes");
    s.raw("INSERT INTO notes (id, body) VALUES (1, 'first'), (2, 'second')")
        .nothing_to_undo("the table goes");
}

#[migration(version = 2)]
fn drop_users_name(s: &mut Schema) {
    s.drop_column_keeping_data("users", "name", "id", ColumnDef::new("name").string_len(40));
}

#[migration(version = 3)]
fn drop_notes(s: &mut Schema) {
    s.drop_table_keeping_data(
        "notes",
        Table::create()
            .table("notes")
            .col(ColumnDef::new("id").integer().not_null().primary_key())
            .col(ColumnDef::new("body").string_len(40).not_null()),
    );
}

async fn names(db: &TestDb) -> Vec<String> {
    db.strings("SELECT COALESCE(name, '-') FROM users ORDER BY id")
        .await
}

async fn the_down_brings_the_data_back(db: &TestDb) {
    let m = db.migrator("backups");
    m.up().await.unwrap();
    let tables = db.tables().await;
    assert!(!tables.contains(&"notes".to_owned()));
    let backups = m.backups().await.unwrap();
    let listed: Vec<String> = backups
        .iter()
        .map(|b| {
            format!(
                "{} version={:?} applied={} restored_by_down={:?} rows={}",
                b.table, b.version, b.applied, b.restored_by_down, b.rows
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            "shiplap_backup_2_users_name version=Some(2) applied=true restored_by_down=Some(true) rows=3",
            "shiplap_backup_3_notes version=Some(3) applied=true restored_by_down=Some(true) rows=2",
        ]
    );

    // The downs: the table and the column back, with their rows.
    m.down(DownTarget::To(1)).await.unwrap();
    assert_eq!(names(db).await, ["ann", "bob", "-"]);
    assert_eq!(
        db.strings("SELECT body FROM notes ORDER BY id").await,
        ["first", "second"]
    );
    assert!(
        m.backups().await.unwrap().is_empty(),
        "the downs drop the copies"
    );

    // Emptied from the command line, the copies free their space; the downs still run.
    // (The command line is built with migrations-example, which lacks these migrations:
    // it keeps the copies it cannot tell are unread.)
    m.up().await.unwrap();
    let listed = migrate(&db.url, &["backups"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("shiplap_backup_2_users_name")
            && listed
                .stdout
                .contains("applied (by a migration this build lacks)"),
        "{}",
        listed.stdout
    );
    let purged = migrate(&db.url, &["backups", "--purge", "2"]);
    assert_eq!(purged.code, 0, "{}", purged.stderr);
    assert!(
        purged.stdout.contains("emptied 1 backup(s)"),
        "{}",
        purged.stdout
    );
    let rows: Vec<i64> = m.backups().await.unwrap().iter().map(|b| b.rows).collect();
    assert_eq!(rows, [0, 2]);
    m.down(DownTarget::To(1)).await.unwrap();
    assert_eq!(names(db).await, ["-", "-", "-"]);
    assert_eq!(
        db.strings("SELECT body FROM notes ORDER BY id").await.len(),
        2
    );

    let bad = migrate(&db.url, &["backups", "--purge", "soon"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("--purge `soon`: a migration's version, or `all`"),
        "{}",
        bad.stderr
    );
}

on_every_backend!(the_down_brings_the_data_back);
