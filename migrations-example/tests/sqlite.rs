//! Every migration's SQL, run for real on SQLite (in memory): up, the data migration on
//! real rows, and down again.

use shiplap::{Backend, DataContext, Direction, Kind, Migration};
use sqlx::{Connection, Executor, Row, SqliteConnection};

const BACKFILL: i64 = 20250210090100;

async fn apply(conn: &mut SqliteConnection, m: &'static Migration, direction: Direction) {
    if m.kind() == Kind::Data {
        let run = match m.function() {
            shiplap::MigrationFn::Data(run) => run,
            shiplap::MigrationFn::Schema(_) => unreachable!(),
        };
        let mut ctx = DataContext::sqlite(conn);
        run(&mut ctx).await.unwrap();
        return;
    }
    let rendered = shiplap::render(m, Backend::Sqlite, direction).unwrap();
    for statement in rendered.statements {
        conn.execute(sqlx::AssertSqlSafe(statement.sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("{} {}: {}: {e}", m.version(), m.name(), statement.sql));
    }
}

/// Tables with their columns (sorted: a dropped and re-added column comes back last),
/// and indexes with their definitions.
async fn schema(conn: &mut SqliteConnection) -> Vec<String> {
    sqlx::query(
        "SELECT m.type || ' ' || m.name || ': ' ||
                CASE m.type WHEN 'table' THEN
                    (SELECT group_concat(name, ', ') FROM
                        (SELECT name FROM pragma_table_info(m.name) ORDER BY name))
                ELSE m.sql END
         FROM sqlite_master m WHERE m.name NOT LIKE 'sqlite_%' ORDER BY m.type, m.name",
    )
    .fetch_all(conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect()
}

#[tokio::test]
async fn up_backfill_and_down_on_sqlite() {
    let registry = migrations_example::migrations().unwrap();
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    conn.execute("PRAGMA foreign_keys = ON").await.unwrap();

    let (before, after): (Vec<_>, Vec<_>) = registry.iter().partition(|m| m.version() < BACKFILL);
    for m in &before {
        apply(&mut conn, m, Direction::Up).await;
    }
    conn.execute(
        "INSERT INTO users (email, name) VALUES ('ada@example.com', 'Ada'), ('alan@example.com', 'Alan');
         UPDATE users SET display_name = 'Countess' WHERE email = 'ada@example.com';",
    )
    .await
    .unwrap();
    let schema_before_backfill = schema(&mut conn).await;

    for m in &after {
        apply(&mut conn, m, Direction::Up).await;
    }
    let names: Vec<(String, String)> =
        sqlx::query_as("SELECT email, display_name FROM users ORDER BY email")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        names,
        [
            ("ada@example.com".into(), "Countess".into()),
            ("alan@example.com".into(), "Alan".into())
        ],
        "the backfill copies name where display_name is empty and keeps the rest"
    );
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('users')")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(!columns.contains(&"name".to_owned()), "{columns:?}");

    // Down to just after the backfill (a data migration, which has no down)...
    for m in after.iter().rev().filter(|m| m.kind() == Kind::Schema) {
        apply(&mut conn, m, Direction::Down).await;
    }
    assert_eq!(schema(&mut conn).await, schema_before_backfill);
    // ...and from there to nothing.
    for m in before.iter().rev() {
        apply(&mut conn, m, Direction::Down).await;
    }
    assert_eq!(schema(&mut conn).await, Vec::<String>::new());
}
