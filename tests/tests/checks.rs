//! Checks inside a migration (`Schema::check`): a query that must return no row, run in
//! the migration's transaction. One that holds lets the migration apply; one that does
//! not fails it there, naming the check and the migration: rolled back on PostgreSQL and
//! SQLite, left dirty on MySQL (its DDL commits at once), and the advice works. The dry
//! run and the SQL show the check.

use shiplap::prelude::*;
use shiplap::{Backend, DatabaseUrl, Error, Migrator, ProgressOutput, Registry, Up, UrlSource};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn create_plans(s: &mut Schema) {
    s.raw("CREATE TABLE plans (id INTEGER PRIMARY KEY, name VARCHAR(10), price INTEGER)")
        .down("DROP TABLE plans");
    s.raw("INSERT INTO plans (id, name, price) VALUES (1, 'a', NULL), (2, 'b', 5), (3, 'c', NULL)")
        .nothing_to_undo("the table goes");
}

#[migration(version = 2)]
fn backfill_prices(s: &mut Schema) {
    s.exec(
        Query::update()
            .table("plans")
            .value("price", 0)
            .and_where(Expr::col("price").is_null()),
    )
    .nothing_to_undo("a default price");
    s.check(
        "every plan has a price",
        Query::select()
            .expr(Expr::val(1))
            .from("plans")
            .and_where(Expr::col("price").is_null()),
    );
}

#[migration(version = 3)]
fn expects_five_plans(s: &mut Schema) {
    s.raw("CREATE TABLE plan_notes (id INTEGER PRIMARY KEY)")
        .down("DROP TABLE plan_notes");
    s.check(
        "there are 5 plans",
        "SELECT 1 FROM (SELECT COUNT(*) AS n FROM plans) counted WHERE n <> 5",
    );
}

fn migrator(db: &TestDb) -> Migrator<'static> {
    Migrator::new(
        Registry::of_crate("checks").unwrap(),
        DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap(),
    )
    .progress(ProgressOutput::Silent)
}

async fn a_check_that_holds_and_one_that_does_not(db: &TestDb) {
    let m = migrator(db);
    m.up_to(2).await.unwrap();
    assert_eq!(
        db.strings("SELECT name FROM plans WHERE price = 0 ORDER BY id")
            .await,
        ["a", "c"]
    );

    let script = m.up_dry_run(Up::to(3)).await.unwrap();
    assert!(
        script.contains("-- check: there are 5 plans: the migration fails if this returns a row"),
        "{script}"
    );

    let error = m.up().await.unwrap_err();
    let Error::CheckFailed { what, dirty, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(what, "there are 5 plans");
    let message = error.to_string();
    assert!(
        message.contains("migration 3 expects_five_plans")
            && message.contains(
                "query: SELECT 1 FROM (SELECT COUNT(*) AS n FROM plans) counted WHERE n <> 5"
            ),
        "{message}"
    );
    let state = db
        .strings("SELECT state FROM shiplap_migrations WHERE version = 3")
        .await;
    if db.engine() == Engine::MySql {
        // The CREATE TABLE committed at once: dirty, and the advice is followed.
        assert!(*dirty && state == ["dirty"], "{message}");
        assert!(
            message.contains("`migrate repair --version 3`"),
            "{message}"
        );
        db.execute("DROP TABLE plan_notes").await;
        m.repair(Some(3), None).await.unwrap();
    } else {
        assert!(!*dirty && state.is_empty(), "{message}");
        assert!(message.contains("it was rolled back"), "{message}");
        assert!(!db.tables().await.contains(&"plan_notes".to_owned()));
    }

    // The data fixed, it applies.
    db.execute("INSERT INTO plans (id, name, price) VALUES (4, 'd', 1), (5, 'e', 1)")
        .await;
    m.up().await.unwrap();
    assert!(db.tables().await.contains(&"plan_notes".to_owned()));
    m.down(shiplap::DownTarget::Steps(1)).await.unwrap();
}

on_every_backend!(a_check_that_holds_and_one_that_does_not);

#[test]
fn the_sql_shows_the_check() {
    let registry = Registry::of_crate("checks").unwrap();
    let sql = shiplap::snapshot(registry.get(2).unwrap(), Backend::Postgres).unwrap();
    assert!(
        sql.contains(
            "-- check: every plan has a price: the migration fails if this returns a row\nSELECT 1 FROM \"plans\" WHERE \"price\" IS NULL;"
        ),
        "{sql}"
    );
}
