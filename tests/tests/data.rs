//! `DataContext` on all three backends: values bound, never spliced (a value that would
//! break out of a quoted string stays a value); rows fetched into Rust types; a failing
//! data migration rolled back with its history row (PostgreSQL, SQLite); progress events
//! as JSON lines with `--format json`.

use shiplap::prelude::*;
use shiplap::{Error, sea_query::Value};
use tests::{Engine, TestDb, migrate};

const TRICKY: &str = "O'Brien'); DROP TABLE people; --";

#[migration(version = 1)]
fn create_people(s: &mut Schema) {
    s.raw("CREATE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, age INT)")
        .down("DROP TABLE people");
}

fn check(ok: bool, what: &str) -> shiplap::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Data {
            message: what.to_owned(),
        })
    }
}

/// Writes with bound values (sea-query and raw SQL), reads back into tuples.
#[migration(version = 2, nothing_to_undo = "the test drops the database")]
async fn fill_people(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.execute(
        Query::insert()
            .into_table("people")
            .columns(["id", "name", "age"])
            .values_panic([1.into(), TRICKY.into(), 41.into()])
            .values_panic([2.into(), "Ada".into(), Value::Int(None).into()]),
    )
    .await?;
    let added = ctx
        .execute_sql(
            "INSERT INTO people (id, name, age) VALUES (?, ?, ?) -- a comment with a ?",
            [3i64.into(), "Grace '?'".into(), 85i32.into()],
        )
        .await?;
    check(added == 1, "execute_sql inserts one row")?;

    let people: Vec<(i64, String, Option<i32>)> = ctx
        .fetch_all(
            Query::select()
                .columns(["id", "name", "age"])
                .from("people")
                .order_by("id", sea_query::Order::Asc),
        )
        .await?;
    check(
        people
            == [
                (1, TRICKY.to_owned(), Some(41)),
                (2, "Ada".to_owned(), None),
                (3, "Grace '?'".to_owned(), Some(85)),
            ],
        "fetch_all reads every row back as written",
    )?;
    let tricky: Option<(i64,)> = ctx
        .fetch_optional(
            Query::select()
                .column("id")
                .from("people")
                .and_where(Expr::col("name").eq(TRICKY)),
        )
        .await?;
    check(tricky == Some((1,)), "fetch_optional finds the tricky name")?;
    let none: Option<(i64,)> = ctx
        .fetch_optional(
            Query::select()
                .column("id")
                .from("people")
                .and_where(Expr::col("id").eq(99)),
        )
        .await?;
    check(none.is_none(), "fetch_optional finds nothing")?;
    let old: Vec<(String,)> = ctx
        .fetch_all_sql(
            "SELECT name FROM people WHERE age > ? AND name <> ? ORDER BY id",
            [50i32.into(), "?".into()],
        )
        .await?;
    check(
        old == [("Grace '?'".to_owned(),)],
        "fetch_all_sql binds values",
    )?;
    ctx.log("filled");
    check(ctx.rows_affected() == 3, "rows affected counts the inserts")
}

/// Inserts, then fails: in a transaction, the insert is rolled back with everything else.
#[migration(version = 3, nothing_to_undo = "it never applies")]
async fn fails_after_writing(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.execute_sql(
        "INSERT INTO people (id, name) VALUES (?, ?)",
        [4i64.into(), "Linus".into()],
    )
    .await?;
    check(false, "a deliberate failure after writing")
}

/// Inserts, then panics: the panic is the migration's failure, not the test process's.
#[migration(version = 4, nothing_to_undo = "it never applies")]
async fn panics_after_writing(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.execute_sql(
        "INSERT INTO people (id, name) VALUES (?, ?)",
        [5i64.into(), "Grace".into()],
    )
    .await?;
    let ids: Vec<i64> = Vec::new();
    let _ = ids[3]; // a bug
    Ok(())
}

async fn a_panic_is_the_migrations_error(db: &TestDb) {
    let m = db.migrator("data");
    m.up_to(2).await.unwrap();
    // Migration 3 fails on purpose: record it applied, as a person would, to reach 4.
    m.repair(Some(3), Some(shiplap::Mark::Applied))
        .await
        .unwrap();
    let err = m.up().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("data migration 4 panics_after_writing (tests/tests/data.rs:")
            && text.contains("it panicked: index out of bounds"),
        "{text}"
    );
    let grace = db.strings("SELECT name FROM people WHERE id = 5").await;
    assert!(grace.is_empty(), "rolled back: {grace:?}");
}

async fn binds_fetches_and_rolls_back(db: &TestDb) {
    let transactional = db.engine() != Engine::MySql;
    let m = db.migrator("data");
    let done = m.up_to(2).await.unwrap();
    assert_eq!(done[1].rows, Some(3));
    assert_eq!(
        db.tables().await.iter().filter(|t| *t == "people").count(),
        1
    );

    let err = m.up().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("a deliberate failure after writing"),
        "{err}"
    );
    let linus = db.strings("SELECT name FROM people WHERE id = 4").await;
    let states: Vec<&str> = m
        .status()
        .await
        .unwrap()
        .iter()
        .map(|s| s.state.name())
        .collect();
    assert!(linus.is_empty(), "the insert was rolled back: {linus:?}");
    if transactional {
        assert_eq!(states, ["applied", "applied", "pending", "pending"]);
    } else {
        // MySQL: the data change is rolled back too (DML is transactional there), but
        // the history row, written before (DDL would have committed), says dirty.
        assert_eq!(states, ["applied", "applied", "dirty", "pending"]);
    }
}

tests::on_every_backend!(
    binds_fetches_and_rolls_back,
    a_panic_is_the_migrations_error
);

/// With `--format json`, the example's backfill reports on stderr as JSON lines.
#[tokio::test]
async fn json_progress_events() {
    let db = TestDb::new(Engine::Sqlite).await.unwrap();
    let run = migrate(&db.url, &["up", "--to", "20250210090000"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    db.insert_series(
        "users",
        "email, name",
        "'u' || i || '@x.test', 'U' || i",
        2500,
    )
    .await;
    let run = migrate(&db.url, &["up", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["event"] == kind && e["version"] == 20250210090100i64)
            .collect::<Vec<_>>()
    };
    let progress = of("progress");
    let last = progress.last().unwrap_or_else(|| panic!("{}", run.stderr));
    assert_eq!(
        (last["rows"].as_u64(), last["total"].as_u64()),
        (Some(2500), Some(2500))
    );
    assert_eq!(of("finished")[0]["rows"], 2500);
    assert!(
        of("message").iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("2500 rows in 3 batches")),
        "{}",
        run.stderr
    );
    // stdout is still one JSON document.
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["command"], "up");
    db.drop().await;
}

/// jsonb's operators in raw SQL with placeholders: `??` is `?`, `?|` and `?&` stay.
#[tokio::test]
async fn jsonb_operators_on_postgres() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let mut ctx = DataContext::postgres(&mut conn);
    let rows: Vec<(i64,)> = ctx
        .fetch_all_sql(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT CAST('{\"a\": 1}' AS jsonb) AS d) x \
             WHERE d ?? 'a' AND d ?| ARRAY['a', 'z'] AND NOT d ?& ARRAY['a', 'z'] \
             AND E'it\\'s ?' <> ? /* a /* nested ? */ comment ? */",
            ["x".into()],
        )
        .await
        .unwrap();
    assert_eq!(rows, [(1,)]);
    let err = ctx
        .fetch_all_sql::<(i64,)>("SELECT ? + ?", [1i64.into()])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the SQL has 2 `?` placeholder(s) but 1 value(s) were given"),
        "{err}"
    );
    drop(ctx);
    drop(conn);
    db.drop().await;
}
