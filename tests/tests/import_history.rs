//! `import-history` records all of the other tool's migrations or none: a write that
//! fails part-way (here a trigger refuses the third row, as a killed runner or a cut
//! connection would stop it) leaves no row, so the next `up` still imports instead of
//! running the migrations the tool applied.

use shiplap::import::Tool;
use shiplap::prelude::*;
use shiplap::{DatabaseUrl, Migrator, ProgressOutput, Registry, UrlSource};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn one(s: &mut Schema) {
    s.raw("CREATE TABLE one (id INTEGER PRIMARY KEY)")
        .down("DROP TABLE one");
}

#[migration(version = 2)]
fn two(s: &mut Schema) {
    s.raw("CREATE TABLE two (id INTEGER PRIMARY KEY)")
        .down("DROP TABLE two");
}

#[migration(version = 3)]
fn three(s: &mut Schema) {
    s.raw("CREATE TABLE three (id INTEGER PRIMARY KEY)")
        .down("DROP TABLE three");
}

/// A trigger that refuses the history row of version 3.
fn refuse_third(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Sqlite => &[
            "CREATE TRIGGER refuse_third BEFORE INSERT ON shiplap_migrations \
             WHEN NEW.version = 3 BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ],
        Engine::Postgres => &[
            "CREATE FUNCTION refuse_third() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.version = 3 THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_third BEFORE INSERT ON shiplap_migrations \
             FOR EACH ROW EXECUTE FUNCTION refuse_third()",
        ],
        Engine::MySql => &[
            "CREATE TRIGGER refuse_third BEFORE INSERT ON shiplap_migrations \
             FOR EACH ROW BEGIN IF NEW.version = 3 THEN \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END",
        ],
    }
}

async fn a_failed_import_records_nothing(db: &TestDb) {
    let m = Migrator::new(
        Registry::of_crate("import_history").unwrap(),
        DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap(),
    )
    .progress(ProgressOutput::Silent);
    for table in ["one", "two", "three"] {
        db.execute(&format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY)"))
            .await;
    }
    db.execute(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .await;
    // A row the code lacks: refused before anything is written, the history table made.
    db.execute(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('1'), ('2'), ('3'), ('99')",
    )
    .await;
    assert!(m.import_history(Tool::Diesel).await.is_err());
    db.execute("DELETE FROM __diesel_schema_migrations WHERE version = '99'")
        .await;

    for sql in refuse_third(db.engine()) {
        db.execute(sql).await;
    }
    let error = m.import_history(Tool::Diesel).await.unwrap_err();
    assert!(error.to_string().contains("refused"), "{error}");
    let recorded = "SELECT name FROM shiplap_migrations WHERE version > 0";
    assert!(db.strings(recorded).await.is_empty(), "all or none");

    db.execute(match db.engine() {
        Engine::Postgres => "DROP TRIGGER refuse_third ON shiplap_migrations",
        _ => "DROP TRIGGER refuse_third",
    })
    .await;
    // The first `up` imports all three, and runs none (their tables exist).
    assert!(m.up().await.unwrap().is_empty());
    assert_eq!(db.strings(recorded).await.len(), 3);
}

on_every_backend!(a_failed_import_records_nothing);
