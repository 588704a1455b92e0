//! Every example migration's SQL, run for real on each backend: up (with the data
//! migration on real rows), then down to an empty database. This checks what `sql` and
//! the snapshots show is SQL the databases accept, and that each down undoes its up.

use shiplap::{Backend, DataContext, Direction, Kind, Migration, MigrationFn};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, SqliteConnection};
use tests::{Engine, TestDb};

/// The data migration of the example: schema checks around it stop there going down.
const BACKFILL: i64 = 20250210090100;

enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

impl Db {
    fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
            Db::MySql(_) => Backend::MySql,
        }
    }

    async fn try_execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Db::Sqlite(c) => c.execute(sql).await.map(|_| ()),
            Db::Postgres(c) => c.execute(sql).await.map(|_| ()),
            Db::MySql(c) => c.execute(sql).await.map(|_| ()),
        }
    }

    async fn execute(&mut self, sql: &str) {
        let result = self.try_execute(sql).await;
        result.unwrap_or_else(|e| panic!("{}: {e}", self.backend()));
    }

    async fn strings(&mut self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(c).await,
            Db::Postgres(c) => sqlx::query_scalar(sql).fetch_all(c).await,
            Db::MySql(c) => sqlx::query_scalar(sql).fetch_all(c).await,
        }
        .unwrap()
    }

    async fn apply(&mut self, m: &'static Migration, direction: Direction) {
        if let MigrationFn::Data(run) = m.function() {
            let mut ctx = match self {
                Db::Sqlite(c) => DataContext::sqlite(c),
                Db::Postgres(c) => DataContext::postgres(c),
                Db::MySql(c) => DataContext::mysql(c),
            };
            run(&mut ctx).await.unwrap();
            return;
        }
        let rendered = shiplap::render(m, self.backend(), direction).unwrap();
        for statement in rendered.statements {
            let result = self.try_execute(&statement.sql).await;
            result.unwrap_or_else(|e| {
                panic!(
                    "{} {} {}: {}: {e}",
                    self.backend(),
                    m.version(),
                    m.name(),
                    statement.sql
                )
            });
        }
    }

    /// Tables with their columns (sorted: a dropped and re-added column comes back last)
    /// and indexes with their columns.
    async fn schema(&mut self) -> Vec<String> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT m.type || ' ' || m.name || ': ' ||
                    CASE m.type WHEN 'table' THEN
                        (SELECT group_concat(name, ', ') FROM
                            (SELECT name FROM pragma_table_info(m.name) ORDER BY name))
                    ELSE m.sql END
                 FROM sqlite_master m WHERE m.name NOT LIKE 'sqlite_%' ORDER BY 1"
            }
            Backend::Postgres => {
                "SELECT 'table ' || table_name || ': ' || string_agg(column_name, ', ' ORDER BY column_name)
                 FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name
                 UNION ALL
                 SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
                 ORDER BY 1"
            }
            _ => {
                "SELECT CAST(CONCAT('table ', table_name, ': ',
                        GROUP_CONCAT(column_name ORDER BY column_name SEPARATOR ', ')) AS CHAR)
                 FROM information_schema.columns WHERE table_schema = DATABASE() GROUP BY table_name
                 UNION ALL
                 SELECT CAST(CONCAT('index ', table_name, '.', index_name, ': ',
                        GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ', ')) AS CHAR)
                 FROM information_schema.statistics WHERE table_schema = DATABASE()
                 GROUP BY table_name, index_name
                 ORDER BY 1"
            }
        };
        // The copy that dropping users.name keeps stays after the down: shiplap's own.
        let mut lines = self.strings(sql).await;
        lines.retain(|line| !line.contains("shiplap_backup_"));
        lines
    }
}

async fn round_trip(db: &mut Db) {
    let registry = migrations_example::migrations().unwrap();
    let (before, after): (Vec<_>, Vec<_>) = registry.iter().partition(|m| m.version() < BACKFILL);
    for m in &before {
        db.apply(m, Direction::Up).await;
    }
    db.execute("INSERT INTO users (email, name) VALUES ('ada@example.com', 'Ada'), ('alan@example.com', 'Alan')")
        .await;
    db.execute("UPDATE users SET display_name = 'Countess' WHERE email = 'ada@example.com'")
        .await;
    let schema_before_backfill = db.schema().await;

    for m in &after {
        db.apply(m, Direction::Up).await;
    }
    let names = db
        .strings("SELECT display_name FROM users ORDER BY email")
        .await;
    assert_eq!(
        names,
        ["Countess", "Alan"],
        "the backfill fills display_name where it is empty and keeps the rest"
    );
    let schema = db.schema().await;
    let users = schema
        .iter()
        .find(|line| line.starts_with("table users: "))
        .unwrap();
    assert_eq!(
        users, "table users: created_at, display_name, email, id, marketing_opt_in, preferences",
        "users.name is dropped, the others added"
    );

    // Down to just after the backfill (a data migration, which has no down)...
    for m in after.iter().rev().filter(|m| m.kind() == Kind::Schema) {
        db.apply(m, Direction::Down).await;
    }
    assert_eq!(db.schema().await, schema_before_backfill);
    // ...then to nothing.
    for m in before.iter().rev() {
        db.apply(m, Direction::Down).await;
    }
    assert_eq!(db.schema().await, Vec::<String>::new());
}

#[tokio::test]
async fn sqlite() {
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    conn.execute("PRAGMA foreign_keys = ON").await.unwrap();
    round_trip(&mut Db::Sqlite(conn)).await;
}

#[tokio::test]
async fn postgres() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let conn = PgConnection::connect(&db.url).await.unwrap();
    round_trip(&mut Db::Postgres(conn)).await;
    db.drop().await;
}

#[tokio::test]
async fn mysql() {
    let Some(db) = TestDb::new(Engine::MySql).await else {
        return;
    };
    let conn = MySqlConnection::connect(&db.url).await.unwrap();
    round_trip(&mut Db::MySql(conn)).await;
    db.drop().await;
}
