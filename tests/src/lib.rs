//! Helpers for shiplap's end-to-end tests: the xtask binary, fresh databases on each
//! backend, and the example's migrations counted from their source.
//!
//! Postgres and MariaDB come from `TEST_POSTGRES_URL` and `TEST_MYSQL_URL`. Given a URL,
//! a test that cannot connect fails; without one it says it is skipped and passes.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, MySqlConnection, PgConnection};

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
            let value = compact.split("version=").nth(1).expect("a version");
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
pub fn skip(variable: &str) {
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

/// A fresh, empty Postgres database; `None` (the test is skipped) without
/// `TEST_POSTGRES_URL`. Panics if the server cannot be reached.
pub async fn fresh_postgres() -> Option<PgConnectOptions> {
    let url = server_url("TEST_POSTGRES_URL")?;
    let server = PgConnectOptions::from_str(&url).expect("TEST_POSTGRES_URL is a Postgres URL");
    let mut admin = server
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to TEST_POSTGRES_URL: {e}"));
    let name = unique_name();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .expect("CREATE DATABASE");
    admin.close().await.ok();
    Some(server.database(&name))
}

/// A fresh, empty MySQL/MariaDB database; `None` (the test is skipped) without
/// `TEST_MYSQL_URL`. Panics if the server cannot be reached.
pub async fn fresh_mysql() -> Option<MySqlConnectOptions> {
    let url = server_url("TEST_MYSQL_URL")?;
    let server = MySqlConnectOptions::from_str(&url).expect("TEST_MYSQL_URL is a MySQL URL");
    let mut admin = server
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to TEST_MYSQL_URL: {e}"));
    let name = unique_name();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .await
        .expect("CREATE DATABASE");
    admin.close().await.ok();
    Some(server.database(&name))
}

/// Drops a database made by [`fresh_postgres`].
pub async fn drop_postgres(options: &PgConnectOptions) {
    let name = options.get_database().expect("a database").to_owned();
    let mut admin: PgConnection = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .expect("connect");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .await
        .expect("DROP DATABASE");
}

/// Drops a database made by [`fresh_mysql`].
pub async fn drop_mysql(options: &MySqlConnectOptions) {
    let name = options.get_database().expect("a database").to_owned();
    let mut admin: MySqlConnection = options.clone().connect().await.expect("connect");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{name}`"
        )))
        .await
        .expect("DROP DATABASE");
}
