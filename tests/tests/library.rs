//! shiplap as a library at an application's start-up: on the application's own sqlx pool
//! or a connection it lends, with options as a builder; the connection handed back as it
//! was; an in-memory SQLite database; and the command line run from inside a runtime.

use std::time::Duration;

use shiplap::prelude::*;
use shiplap::sqlx::{self, Connection as _};
use shiplap::{Migrator, Registry, Up};
use tests::{Engine, TestDb};

#[migration(version = 1)]
fn create_notes(s: &mut Schema) {
    s.raw("CREATE TABLE notes (id BIGINT PRIMARY KEY, body VARCHAR(100))")
        .down("DROP TABLE notes");
}

/// A data migration: its rows are in the report.
#[migration(
    version = 2,
    nothing_to_undo = "the table goes with the migration before"
)]
async fn seed_notes(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.execute_raw("INSERT INTO notes (id, body) VALUES (1, 'a'), (2, 'b')")
        .await?;
    Ok(())
}

#[migration(version = 3)]
fn add_notes_index(s: &mut Schema) {
    s.raw("CREATE INDEX notes_body ON notes (body)").down(
        Raw::per_backend()
            .postgres("DROP INDEX notes_body")
            .sqlite("DROP INDEX notes_body")
            .mysql("DROP INDEX notes_body ON notes"),
    );
}

fn registry() -> Registry {
    Registry::of_crate("library").unwrap()
}

/// On the application's pool: applies, reports, and hands the connection back with the
/// session as it was (PostgreSQL's `lock_timeout`, MySQL's `lock_wait_timeout`).
async fn on_the_applications_pool(db: &TestDb) {
    let m = |pool| {
        Migrator::new(registry(), pool)
            .statement_lock_timeout(Duration::from_secs(3))
            .lock_timeout(Duration::from_secs(10))
    };
    match db.engine() {
        Engine::Postgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&db.url)
                .await
                .unwrap();
            let before: String = sqlx::query_scalar("SHOW lock_timeout")
                .fetch_one(&pool)
                .await
                .unwrap();
            let migrator = m(shiplap::Database::from(&pool));
            assert!(
                migrator
                    .url()
                    .to_string()
                    .contains("(the application's pool)"),
                "{}",
                migrator.url()
            );
            let done = migrator.up_to(2).await.unwrap();
            assert_eq!(done.iter().map(|d| d.version).collect::<Vec<_>>(), [1, 2]);
            assert_eq!(done[1].rows, Some(2), "the data migration's rows: {done:?}");
            // The one pooled connection came back, as it was: no lock held, no setting left.
            let after: String = sqlx::query_scalar("SHOW lock_timeout")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(after, before);
            let locks: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(locks, 0);
            assert_eq!(migrator.up().await.unwrap().len(), 1);
            pool.close().await;
        }
        Engine::MySql => {
            let pool = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .connect(&db.url)
                .await
                .unwrap();
            let before: u64 = sqlx::query_scalar("SELECT @@SESSION.lock_wait_timeout")
                .fetch_one(&pool)
                .await
                .unwrap();
            let migrator = m(shiplap::Database::from(&pool));
            let done = migrator.up_to(2).await.unwrap();
            assert_eq!(done.len(), 2);
            let after: u64 = sqlx::query_scalar("SELECT @@SESSION.lock_wait_timeout")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(
                after, before,
                "lock_wait_timeout is back to the session default"
            );
            let held: Option<i64> = sqlx::query_scalar(
                "SELECT IS_USED_LOCK(CONCAT('shiplap:', DATABASE(), '.shiplap_migrations'))",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(held, None, "the run lock was released");
            assert_eq!(migrator.up().await.unwrap().len(), 1);
            pool.close().await;
        }
        Engine::Sqlite => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(2)
                .connect(&db.url)
                .await
                .unwrap();
            let migrator = m(shiplap::Database::from(&pool));
            assert_eq!(migrator.up().await.unwrap().len(), 3);
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(count, 2);
            pool.close().await;
        }
    }
    let statuses = db.migrator("library").status().await.unwrap();
    assert!(
        statuses.iter().all(|s| s.state.name() == "applied"),
        "{statuses:?}"
    );
}

/// On a connection the application lends: it stays open and usable, and `down` works
/// on it too.
async fn on_a_lent_connection(db: &TestDb) {
    match db.engine() {
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let m = Migrator::on_connection(registry(), &mut conn)
                .statement_lock_timeout(Duration::from_secs(2));
            assert_eq!(m.up().await.unwrap().len(), 3);
            assert_eq!(
                m.down(shiplap::DownTarget::Steps(1)).await.unwrap().len(),
                1
            );
            drop(m);
            let setting: String = sqlx::query_scalar("SHOW lock_timeout")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(setting, "0", "the lent session's lock_timeout is back");
            conn.close().await.unwrap();
        }
        Engine::MySql => {
            let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            let m = Migrator::on_connection(registry(), &mut conn);
            assert_eq!(m.up().await.unwrap().len(), 3);
            drop(m);
            let one: i64 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(one, 1, "the lent connection is still open");
            conn.close().await.unwrap();
        }
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let m = Migrator::on_connection(registry(), &mut conn);
            assert_eq!(m.up().await.unwrap().len(), 3);
            drop(m);
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(count, 2);
            conn.close().await.unwrap();
        }
    }
}

tests::on_every_backend!(on_the_applications_pool, on_a_lent_connection);

/// An in-memory SQLite database, on a lent connection and on a pool that keeps its one
/// connection: nothing on disk, and everything applied.
#[tokio::test]
async fn an_in_memory_sqlite_database() {
    let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
        .await
        .unwrap();
    let m = Migrator::on_connection(registry(), &mut conn);
    let report = m.up_report(Up::to(2).single_transaction()).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.done.len(), 2);
    assert_eq!(m.status().await.unwrap()[2].state.name(), "pending");
    drop(m);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 2);

    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    let m = Migrator::new(registry(), &pool);
    assert_eq!(m.up().await.unwrap().len(), 3);
    assert!(
        m.up().await.unwrap().is_empty(),
        "the same database: nothing left to do"
    );
    assert_eq!(m.history().await.unwrap().len(), 3, "a row each");
}

/// A failed migration on the pool: the report says what was applied before it, the
/// connection that failed is not handed back, and the pool serves the next call.
#[tokio::test]
async fn a_failure_on_the_pool_reports_and_the_pool_goes_on() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE notes (id int)")
        .execute(&pool)
        .await
        .unwrap();
    let report = Migrator::new(registry(), &pool).up_report(Up::all()).await;
    let error = report.error.expect("create_notes fails: the table exists");
    assert!(error.to_string().contains("1 create_notes"), "{error}");
    assert!(report.done.is_empty());
    sqlx::query("DROP TABLE notes")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        Migrator::new(registry(), &pool).up().await.unwrap().len(),
        3
    );
    pool.close().await;
    db.drop().await;
}

/// The command line called from inside the application's runtime: `run` (blocking) takes
/// a thread of its own instead of nesting runtimes, and `run_async` awaits.
#[tokio::test]
async fn the_command_line_inside_a_running_runtime() {
    let dir = std::env::temp_dir().join(format!("shiplap-library-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("app.db").display());
    let code = shiplap::cli::run(
        [
            "myapp migrate",
            "up",
            "-q",
            "--to",
            "1",
            "--database-url",
            &url,
        ],
        Ok(registry()),
    );
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let code = shiplap::cli::run_async(
        ["myapp migrate", "up", "-q", "--database-url", &url],
        Ok(registry()),
    )
    .await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let url = shiplap::DatabaseUrl::parse(&url, shiplap::UrlSource::Flag).unwrap();
    let statuses = Migrator::new(registry(), url).status().await.unwrap();
    assert!(
        statuses.iter().all(|s| s.state.name() == "applied"),
        "{statuses:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `myapp migrate ...` as a subcommand of the application's own clap command line.
#[tokio::test]
async fn the_command_line_as_a_subcommand_of_the_application() {
    use shiplap::cli::clap::{self, Parser, Subcommand};

    #[derive(Parser)]
    struct App {
        #[command(subcommand)]
        command: AppCommand,
    }

    #[derive(Subcommand)]
    #[allow(dead_code, reason = "the application's own command, not run here")]
    enum AppCommand {
        Serve,
        Migrate(Box<shiplap::cli::Cli>),
    }

    let dir = std::env::temp_dir().join(format!("shiplap-subcommand-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("app.db").display());
    let app =
        App::try_parse_from(["myapp", "migrate", "up", "-q", "--database-url", &url]).unwrap();
    let AppCommand::Migrate(cli) = app.command else {
        panic!("parsed as migrate");
    };
    assert_eq!(
        shiplap::cli::run_cli(*cli, Ok(registry())).await,
        std::process::ExitCode::SUCCESS
    );
    let version = App::try_parse_from(["myapp", "migrate", "--version"])
        .err()
        .unwrap();
    assert!(version.to_string().contains("(shiplap "), "{version}");
    std::fs::remove_dir_all(&dir).unwrap();
}
