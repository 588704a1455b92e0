//! The copy a plain `drop_column` or `drop_table` keeps by default of a small table's
//! rows, on every backend: kept up to the limit, empty over it, none with `.no_backup()`;
//! the rows back when a `drop_table`'s down creates the table again (with its keys
//! counted: the next insert takes a new one); the migration's checksum the same as
//! without the copy; `migrate backups` lists the copies, `verify` ignores them.

use shiplap::prelude::*;
use shiplap::{
    DatabaseUrl, Direction, DownTarget, Migrator, ProgressOutput, Registry, UrlSource,
    VerifyOutcome, render,
};
use tests::{TestDb, migrate, on_every_backend};

fn note() -> ColumnDef {
    ColumnDef::new("note").string_len(20).to_owned()
}

/// `gone` as v1 creates it and v3's down creates it again.
fn create_gone() -> sea_query::TableCreateStatement {
    Table::create()
        .table("gone")
        .col(
            ColumnDef::new("id")
                .integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new("body").string_len(20))
        .to_owned()
}

#[migration(version = 1)]
fn create_tables(s: &mut Schema) {
    for table in ["small", "big", "other"] {
        s.create_table(
            Table::create()
                .table(table)
                .col(ColumnDef::new("id").integer().not_null().primary_key())
                .col(note()),
        );
    }
    s.raw("INSERT INTO small (id, note) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .nothing_to_undo("the table goes");
    s.raw("INSERT INTO big (id, note) VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')")
        .nothing_to_undo("the table goes");
    s.raw("INSERT INTO other (id, note) VALUES (1, 'a')")
        .nothing_to_undo("the table goes");
    s.create_table(create_gone());
    s.raw("INSERT INTO gone (body) VALUES ('first'), ('second')")
        .nothing_to_undo("the table goes");
}

#[migration(version = 2, allow(drop_column = "a test of the copies"))]
fn drop_notes(s: &mut Schema) {
    s.drop_column("small", "note")
        .down(Table::alter().table("small").add_column(note()));
    s.drop_column("big", "note")
        .backup_up_to(4)
        .down(Table::alter().table("big").add_column(note()));
}

#[migration(version = 3, allow(drop_table = "a test of the copies"))]
fn drop_gone(s: &mut Schema) {
    s.drop_table(Table::drop().table("gone"))
        .down(create_gone());
}

#[migration(version = 4, allow(drop_table = "a test of the copies"))]
fn drop_other(s: &mut Schema) {
    s.drop_table(Table::drop().table("other"))
        .no_backup()
        .irreversible("a test: no copy, no way back");
}

/// Never applied: v2's first drop without its copy, for the checksum.
#[migration(version = 9, allow(drop_column = "a test of the copies"))]
fn drop_small_note_without_copy(s: &mut Schema) {
    s.drop_column("small", "note")
        .no_backup()
        .down(Table::alter().table("small").add_column(note()));
}

/// Never applied: v2's first drop alone, for the checksum.
#[migration(version = 10, allow(drop_column = "a test of the copies"))]
fn drop_small_note_with_copy(s: &mut Schema) {
    s.drop_column("small", "note")
        .down(Table::alter().table("small").add_column(note()));
}

async fn copies(m: &shiplap::Migrator<'static>) -> Vec<(String, i64)> {
    m.backups()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.table, b.rows))
        .collect()
}

async fn small_tables_keep_their_rows(db: &TestDb) {
    let m = db.migrator("drop_copies");
    let registry = m.registry();
    let backend = DatabaseUrl::parse(&db.url, UrlSource::Flag)
        .unwrap()
        .backend();
    let with = render(registry.get(10).unwrap(), backend, Direction::Up).unwrap();
    let without = render(registry.get(9).unwrap(), backend, Direction::Up).unwrap();
    assert_eq!(with.statements.len(), 2, "{:?}", with.statements);
    assert!(
        with.statements[0].kept
            && with.statements[0]
                .sql
                .contains("shiplap_backup_10_small_note")
    );
    assert_eq!(
        with.checksum(),
        without.checksum(),
        "the copy is not in the checksum"
    );

    // verify (on a scratch database) passes the downs that leave the copies behind.
    let applied = Registry::new([1, 2, 3, 4].map(|v| registry.get(v).unwrap())).unwrap();
    let verified = Migrator::new(
        applied,
        DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap(),
    )
    .progress(ProgressOutput::Silent)
    .verify()
    .await
    .unwrap();
    let outcomes: Vec<bool> = verified
        .iter()
        .map(|v| matches!(v.outcome, VerifyOutcome::Ok))
        .collect();
    assert_eq!(outcomes, [true, true, true, false], "{verified:?}");

    m.up_to(3).await.unwrap();
    let gone = m.backups().await.unwrap().pop().unwrap();
    assert!(
        gone.table == "shiplap_backup_3_gone" && gone.restored_by_down == Some(true),
        "{gone:?}"
    );
    assert_eq!(
        copies(&m).await,
        [
            ("shiplap_backup_2_big_note".to_owned(), 0),
            ("shiplap_backup_2_small_note".to_owned(), 3),
            ("shiplap_backup_3_gone".to_owned(), 2),
        ],
        "big has 5 rows, over its limit of 4; other asked for no copy"
    );
    assert_eq!(
        db.strings("SELECT note FROM shiplap_backup_2_small_note ORDER BY id")
            .await,
        ["a", "b", "c"]
    );

    // v3's down creates gone again: its rows come back, the copy goes, and the next
    // insert takes a key of its own (PostgreSQL's sequence moved past the rows).
    m.down(DownTarget::To(2)).await.unwrap();
    // (Without the sequence moved, PostgreSQL would give it key 1, taken: the insert fails.)
    db.execute("INSERT INTO gone (body) VALUES ('third')").await;
    assert_eq!(
        db.strings("SELECT body FROM gone ORDER BY id").await,
        ["first", "second", "third"]
    );
    assert_eq!(copies(&m).await.len(), 2, "the copy of gone is dropped");

    // v4 keeps no copy; its drop cannot go down.
    m.up_to(4).await.unwrap();
    assert_eq!(copies(&m).await.len(), 3, "no copy of other");
    let refused = m.down(DownTarget::To(3)).await.unwrap_err();
    assert!(refused.to_string().contains("a test: no copy"), "{refused}");

    let listed = migrate(&db.url, &["backups"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let line = |name: &str| {
        listed
            .stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_owned()
    };
    // The command line is built with migrations-example: it cannot tell who reads these.
    assert!(
        line("shiplap_backup_2_small_note").contains("applied (by a migration this build lacks)"),
        "{}",
        listed.stdout
    );
    let read: Vec<(String, Option<bool>)> = m
        .backups()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.table, b.restored_by_down))
        .collect();
    assert_eq!(
        read,
        [
            ("shiplap_backup_2_big_note".to_owned(), Some(false)),
            ("shiplap_backup_2_small_note".to_owned(), Some(false)),
            ("shiplap_backup_3_gone".to_owned(), Some(true)),
        ],
        "a dropped column's copy is restored by hand; a dropped table's by its down"
    );

    // Purged, the copies no down reads are dropped; the one v3's down reads is emptied.
    let emptied = m.empty_backups(None).await.unwrap();
    assert_eq!(emptied.len(), 3);
    assert_eq!(copies(&m).await, [("shiplap_backup_3_gone".to_owned(), 0)]);
}

on_every_backend!(small_tables_keep_their_rows);
