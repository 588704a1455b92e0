//! Helpers for shiplap's end-to-end tests: the xtask binary, fresh databases on each
//! backend, and the example's migrations counted from their source.
//!
//! Postgres and MariaDB come from `TEST_POSTGRES_URL` and `TEST_MYSQL_URL`. Given a URL,
//! a test that cannot connect fails; without one it says it is skipped and passes.

pub mod recipe;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, MySqlConnection, PgConnection, SqliteConnection};

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The versions written in `#[migration(version = N ...)]` attributes in
/// `migrations-example/src`: the migrations counted without inventory.
pub fn example_versions_in_source() -> BTreeSet<i64> {
    let src = workspace_root().join("migrations-example/src");
    let mut versions = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("migrations-example/src") {
        let text = std::fs::read_to_string(entry.expect("a file").path()).expect("utf-8");
        for attribute in text.split("#[migration(").skip(1) {
            // `version = N`, wherever rustfmt put the line breaks.
            let compact: String = attribute.chars().filter(|c| !c.is_whitespace()).collect();
            // A seed or a repeatable migration has no version.
            let Some(value) = compact.split("version=").nth(1) else {
                continue;
            };
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            versions.insert(digits.parse::<i64>().expect("an integer version"));
        }
    }
    versions
}

/// A command running the xtask binary (built once per test process, as `cargo xtask`
/// would build it).
pub fn xtask() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "--package",
                "xtask",
                "--message-format=json",
            ])
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building xtask failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| msg["target"]["name"] == "xtask")
            .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the xtask executable")
    });
    let mut command = Command::new(binary);
    command
        .current_dir(workspace_root())
        .env_remove("DATABASE_URL");
    command
}

/// The advisory lock key of the default history table, as SQL: what a runner derives from
/// it (the first 8 bytes of a SHA-256), for a test to hold the run lock itself.
pub const RUN_LOCK_KEY: &str =
    "('x' || left(encode(sha256('shiplap:shiplap_migrations'), 'hex'), 16))::bit(64)::bigint";

/// A database name no other test uses.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "shiplap_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Says that a test is skipped because `variable` is not set. Straight to stderr:
/// libtest captures `println!`/`eprintln!` of passing tests.
///
/// With `SHIPLAP_REQUIRE_DATABASES` set (CI sets it), a skip is a failure instead: a
/// mistyped variable must not turn the server tests green without running them.
pub fn skip(variable: &str) {
    if std::env::var_os("SHIPLAP_REQUIRE_DATABASES").is_some_and(|v| !v.is_empty()) {
        panic!("{variable} is not set, and SHIPLAP_REQUIRE_DATABASES says every test must run");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {variable} is not set");
}

/// The server URL in `variable`, or `None` (and a `skipped` line) when it is unset or
/// empty.
pub fn server_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip(variable);
            None
        }
    }
}

/// A fresh, empty database for one test, on one backend.
#[derive(Debug)]
pub struct TestDb {
    /// Its URL, for `--database-url`.
    pub url: String,
    engine: Engine,
    /// The database's name (the file's path on SQLite).
    name: String,
    /// The server's URL, where the database is created and dropped.
    server: String,
    /// Whether [`TestDb::drop`] ran; if not (the test panicked), `Drop` drops it.
    dropped: bool,
}

/// Which backend a [`TestDb`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// An SQLite file in the temporary folder.
    Sqlite,
    /// A database on `TEST_POSTGRES_URL`'s server.
    Postgres,
    /// A database on `TEST_MYSQL_URL`'s server.
    MySql,
}

impl TestDb {
    /// A fresh database, or `None` (the test is skipped) when the backend's server URL is
    /// not set. Panics when the server cannot be reached.
    pub async fn new(engine: Engine) -> Option<TestDb> {
        let server = match engine {
            Engine::Sqlite => {
                let name = unique_name();
                let path = std::env::temp_dir().join(format!("{name}.db"));
                // An empty file is an empty database: the test's own SQL can run first.
                std::fs::File::create(&path).expect("a file in the temporary folder");
                return Some(TestDb {
                    url: format!("sqlite://{}", path.display()),
                    engine,
                    name: path.display().to_string(),
                    server: String::new(),
                    dropped: false,
                });
            }
            Engine::Postgres => server_url("TEST_POSTGRES_URL")?,
            Engine::MySql => server_url("TEST_MYSQL_URL")?,
        };
        Some(TestDb::on_server(engine, &server).await)
    }

    /// A fresh database on the PostgreSQL or MySQL server of `server` (a URL). Panics
    /// when the server cannot be reached.
    pub async fn on_server(engine: Engine, server: &str) -> TestDb {
        let name = unique_name();
        let create = match engine {
            Engine::Postgres => format!("CREATE DATABASE \"{name}\""),
            Engine::MySql => format!("CREATE DATABASE `{name}`"),
            Engine::Sqlite => panic!("an SQLite database has no server"),
        };
        run(engine, server, &create).await;
        TestDb {
            url: with_database(server, &name),
            engine,
            name,
            server: server.to_owned(),
            dropped: false,
        }
    }

    /// This database's URL on another server of the same cluster (`server`, a URL).
    pub fn url_on(&self, server: &str) -> String {
        with_database(server, &self.name)
    }

    /// Runs SQL on this database (a test's own setup and checks).
    pub async fn execute(&self, sql: &str) {
        run(self.engine, &self.url, sql).await;
    }

    /// Runs SQL that may fail (a constraint's violation, say): the database's answer.
    pub async fn try_execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        try_run(self.engine, &self.url, sql).await
    }

    /// The first column of every row, as text, trimmed (`CAST(.. AS CHAR(n))` pads on
    /// Postgres).
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let rows: Vec<String> = match self.engine {
            Engine::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_all(&mut c).await
            }
            Engine::Postgres => {
                let mut c = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_all(&mut c).await
            }
            Engine::MySql => {
                let mut c = MySqlConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_all(&mut c).await
            }
        }
        .expect("test query runs");
        rows.into_iter().map(|r| r.trim().to_owned()).collect()
    }

    /// A migrator for the migrations of the test file (crate) `crate_name` on this
    /// database, with data migrations' progress silenced.
    pub fn migrator(&self, crate_name: &str) -> shiplap::Migrator<'static> {
        shiplap::Migrator::new(
            shiplap::Registry::of_crate(crate_name).expect("no duplicate versions"),
            shiplap::DatabaseUrl::parse(&self.url, shiplap::UrlSource::Flag).expect("a test URL"),
        )
        .progress(shiplap::ProgressOutput::Silent)
    }

    /// The backend it is on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Inserts `count` rows into `table`: `values` is the select list for row `i`
    /// (1 to `count`), e.g. `"i, 'user ' || i"` for `columns` `"id, name"`.
    pub async fn insert_series(&self, table: &str, columns: &str, values: &str, count: i64) {
        let sql = match self.engine {
            Engine::Postgres => format!(
                "INSERT INTO {table} ({columns}) SELECT {values} FROM generate_series(1, {count}) AS s(i)"
            ),
            Engine::Sqlite | Engine::MySql => format!(
                "INSERT INTO {table} ({columns}) WITH RECURSIVE s(i) AS \
                 (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) SELECT {values} FROM s"
            ),
        };
        // MariaDB stops recursive queries after max_recursive_iterations (1000 here).
        let sql = match self.engine {
            Engine::MySql => format!("SET SESSION max_recursive_iterations = {count}; {sql}"),
            _ => sql,
        };
        self.execute(&sql).await;
    }

    /// The tables of the database, sorted.
    pub async fn tables(&self) -> Vec<String> {
        let sql = match self.engine {
            Engine::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Engine::Postgres => {
                "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            }
            Engine::MySql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"
            }
        };
        self.strings(sql).await
    }

    /// Drops the database (the SQLite file and its lock file).
    pub async fn drop(mut self) {
        self.dropped = true;
        drop_database(self.engine, &self.name, &self.server).await;
    }
}

/// A database whose test panicked before dropping it is dropped all the same (from a thread
/// of its own: `Drop` cannot await, and may run inside the test's runtime).
impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (engine, name, server) = (self.engine, self.name.clone(), self.server.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(drop_database(engine, &name, &server));
        })
        .join();
    }
}

async fn drop_database(engine: Engine, name: &str, server: &str) {
    match engine {
        Engine::Sqlite => {
            let _ = std::fs::remove_file(name);
            let _ = std::fs::remove_file(format!("{name}-shiplap-lock"));
        }
        Engine::Postgres => {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            run(engine, server, &sql).await;
        }
        Engine::MySql => {
            let sql = format!("DROP DATABASE IF EXISTS `{name}`");
            run(engine, server, &sql).await;
        }
    }
}

/// Runs SQL (one statement or several) on the database at `url`; panics on failure,
/// naming the URL when it cannot connect.
async fn run(engine: Engine, url: &str, sql: &str) {
    try_run(engine, url, sql).await.expect("test SQL runs");
}

async fn try_run(engine: Engine, url: &str, sql: &str) -> Result<(), sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match engine {
        Engine::Sqlite => {
            let mut c = connected(SqliteConnection::connect(url).await, url);
            sqlx::raw_sql(sql).execute(&mut c).await.map(|_| ())
        }
        Engine::Postgres => {
            let mut c = connected(PgConnection::connect(url).await, url);
            sqlx::raw_sql(sql).execute(&mut c).await.map(|_| ())
        }
        Engine::MySql => {
            let mut c = connected(MySqlConnection::connect(url).await, url);
            sqlx::raw_sql(sql).execute(&mut c).await.map(|_| ())
        }
    }
}

/// The connection, or a panic that names the server (password redacted).
fn connected<C>(result: Result<C, sqlx::Error>, url: &str) -> C {
    result.unwrap_or_else(|e| panic!("cannot connect to {}: {e}", shiplap::redact(url)))
}

/// `server` (a URL ending in `/database`) with another database.
fn with_database(server: &str, database: &str) -> String {
    let (scheme, rest) = server.split_once("://").expect("a URL with ://");
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{database}")
}

/// The output of one `cargo xtask migrate ...` run.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr, after the line that names the database.
    pub stderr: String,
    /// The line naming the database a command that reaches one starts with on stderr
    /// (`shiplap: database URL (where it came from)`), if it printed one.
    pub database: Option<String>,
}

/// Runs `cargo xtask migrate <args> --database-url <url>`.
pub fn migrate(url: &str, args: &[&str]) -> Run {
    run_migrate(xtask(), url, args)
}

/// Runs `<binary> migrate <args> --database-url <url>`, for a test's own migration binary
/// (`env!("CARGO_BIN_EXE_...")`).
pub fn migrate_with(binary: &str, url: &str, args: &[&str]) -> Run {
    let mut command = Command::new(binary);
    command.env_remove("DATABASE_URL");
    run_migrate(command, url, args)
}

fn run_migrate(mut command: Command, url: &str, args: &[&str]) -> Run {
    let output = command
        .arg("migrate")
        .args(args)
        .args(["--database-url", url])
        .output()
        .expect("the migration binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let (database, stderr) = match stderr.split_once('\n') {
        Some((first, rest)) if first.starts_with("shiplap: database ") => {
            (Some(first.to_owned()), rest.to_owned())
        }
        _ => (None, stderr),
    };
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
        database,
    }
}

/// Runs each `async fn scenario(db: &TestDb)` of the calling file as three tests, one per
/// backend (`sqlite::scenario`, `postgres::scenario`, `mysql::scenario`), each on a fresh
/// database; the PostgreSQL and MySQL ones skip without their server URL.
#[macro_export]
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        $crate::on_every_backend!(@backend sqlite, Sqlite, $($scenario),*);
        $crate::on_every_backend!(@backend postgres, Postgres, $($scenario),*);
        $crate::on_every_backend!(@backend mysql, MySql, $($scenario),*);
    };
    (@backend $module:ident, $engine:ident, $($scenario:ident),*) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(db) = $crate::TestDb::new($crate::Engine::$engine).await else {
                    return;
                };
                super::$scenario(&db).await;
                db.drop().await;
            })*
        }
    };
}

/// The fault tests' helpers (`faults.rs`, `lease.rs`, `galera.rs`), around the
/// `fault_runner` binary and its backfill (migration 102).
pub mod fault {
    use std::process::Child;
    use std::time::{Duration, Instant};

    use crate::TestDb;

    /// Where migration 102's backfill got to: its last committed key.
    pub const BACKFILL_KEY: &str = "SELECT CAST(COALESCE(MAX(last_key), 0) AS CHAR(20)) \
                                    FROM shiplap_migrations_backfill WHERE version = 102";

    /// Waits for a spawned runner: (exit code, stderr).
    pub fn finish(child: Child) -> (i32, String) {
        let out = child.wait_with_output().expect("fault_runner ends");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The integer in the first row of `sql`.
    pub async fn number(db: &TestDb, sql: &str) -> i64 {
        db.strings(sql).await[0].parse().unwrap()
    }

    /// Waits until `sql` (a count) reaches `at_least`, failing after a minute.
    pub async fn wait_for(db: &TestDb, sql: &str, at_least: i64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while number(db, sql).await < at_least {
            assert!(Instant::now() < deadline, "never reached {at_least}: {sql}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A PgBouncer in transaction pooling mode (the default of many hosted PostgreSQL
/// services) in front of `TEST_POSTGRES_URL`'s server, on a free port of 127.0.0.1, for as
/// long as this value lives. `None` (and a `skipped` line) without `TEST_POSTGRES_URL`, or
/// without a `pgbouncer` binary unless `SHIPLAP_REQUIRE_PGBOUNCER` is set (CI sets it, so
/// that a missing install fails instead of skipping).
#[derive(Debug)]
pub struct PgBouncer {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
    server: String,
}

impl PgBouncer {
    /// Starts one, or says why not.
    pub fn start() -> Option<PgBouncer> {
        let server = server_url("TEST_POSTGRES_URL")?;
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("SHIPLAP_REQUIRE_PGBOUNCER").is_none(),
                "SHIPLAP_REQUIRE_PGBOUNCER is set but there is no pgbouncer binary"
            );
            let _ = writeln!(std::io::stderr(), "skipped: no pgbouncer binary");
            return None;
        };
        let (host, port) = {
            let rest = server.split_once("://").expect("a URL").1;
            let authority = rest.split('/').next().unwrap_or(rest);
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
            (host.to_owned(), port.to_owned())
        };
        let listen = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let listen_port = listen.local_addr().expect("its address").port();
        drop(listen);
        let dir = std::env::temp_dir().join(format!("shiplap-pgbouncer-{}", unique_name()));
        std::fs::create_dir_all(&dir).expect("a folder for pgbouncer");
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={host} port={port}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen_port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {auth}\n\
                 pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 200\n\
                 ignore_startup_parameters = extra_float_digits\n",
                auth = dir.join("users.txt").display()
            ),
        )
        .expect("pgbouncer.ini");
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").expect("users.txt");
        let mut command = Command::new(binary);
        command.arg(dir.join("pgbouncer.ini"));
        // It refuses to run as root.
        if is_root() {
            command.args(["-u", "postgres"]);
            let _ = Command::new("chmod")
                .args(["-R", "a+rwx"])
                .arg(&dir)
                .status();
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", listen_port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "pgbouncer did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(PgBouncer {
            child,
            dir,
            port: listen_port,
            server,
        })
    }

    /// The URL of `database` through this PgBouncer (with the server URL's user).
    pub fn url(&self, database: &str) -> String {
        let rest = self.server.split_once("://").expect("a URL").1;
        let authority = rest.split('/').next().unwrap_or(rest);
        let user = authority.rsplit_once('@').map_or("postgres", |(u, _)| u);
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl TestDb {
    /// The database's name (on a server).
    pub fn name(&self) -> &str {
        &self.name
    }
}
