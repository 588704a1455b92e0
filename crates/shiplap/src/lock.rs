//! The run lock: one runner at a time per database and history table.
//!
//! - PostgreSQL: `pg_try_advisory_lock` on a connection of its own, polled until the
//!   timeout; the key is derived from the history table's name (advisory locks are
//!   per database).
//! - MySQL/MariaDB: `GET_LOCK` on a connection of its own; the name holds the database
//!   and table, since MySQL's named locks are server-wide. (On a Galera cluster they are
//!   node-local: a lease-row lock for that case can slot in here.)
//! - SQLite: an exclusive OS file lock (`flock`, `LockFileEx` on Windows) on a lock file
//!   beside the database (`<file>-shiplap-lock`): it keeps the database itself writable
//!   for the migrations while excluding other runners, costs no second SQLite connection,
//!   and the OS frees it if the process dies. The file stays (removing a lock file races
//!   with a runner about to lock it). An in-memory database has one connection, so it
//!   needs none.
//!
//! Every server lock lives on its own connection: closing that connection releases it, so
//! a crashed or killed runner never leaves it held.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection as _, Executor, MySqlConnection, PgConnection};

use crate::{Backend, DatabaseUrl, Error, Result};

/// A held run lock. Release it with [`RunLock::release`]; dropping it also releases it
/// (its connection closes).
#[derive(Debug)]
pub(crate) struct RunLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Postgres { conn: PgConnection, key: i64 },
    MySql { conn: MySqlConnection, name: String },
    SqliteFile { file: File, path: PathBuf },
    Nothing,
}

impl RunLock {
    /// Waits up to `timeout` for the lock of `table` in the database of `url`.
    pub(crate) async fn acquire(url: &DatabaseUrl, table: &str, timeout: Duration) -> Result<Self> {
        let started = Instant::now();
        let held = match url.backend() {
            Backend::Postgres => {
                let mut conn = PgConnectOptions::from_str(url.expose())?
                    .disable_statement_logging()
                    .connect()
                    .await?;
                let key = advisory_key(table);
                loop {
                    let locked: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT pg_try_advisory_lock({key})"
                    )))
                    .fetch_one(&mut conn)
                    .await?;
                    if locked {
                        break;
                    }
                    if started.elapsed() >= timeout {
                        return Err(lock_timeout(url, table, timeout));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Held::Postgres { conn, key }
            }
            Backend::MySql => {
                let mut conn = MySqlConnectOptions::from_str(url.expose())?
                    .disable_statement_logging()
                    .connect()
                    .await?;
                let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
                    .fetch_one(&mut conn)
                    .await?;
                let name = mysql_lock_name(database.as_deref().unwrap_or(""), table);
                let seconds = timeout.as_secs_f64().ceil();
                let locked: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT GET_LOCK('{name}', {seconds})"
                )))
                .fetch_one(&mut conn)
                .await?;
                if locked != Some(1) {
                    return Err(lock_timeout(url, table, timeout));
                }
                Held::MySql { conn, name }
            }
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())?;
                match sqlite_lock_path(&options) {
                    None => Held::Nothing,
                    Some(path) => {
                        let file = lock_file(&path, timeout)
                            .await?
                            .ok_or_else(|| lock_timeout(url, table, timeout))?;
                        Held::SqliteFile { file, path }
                    }
                }
            }
        };
        Ok(RunLock { held })
    }

    /// Releases the lock and closes its connection.
    pub(crate) async fn release(self) -> Result<()> {
        match self.held {
            Held::Postgres { mut conn, key } => {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "SELECT pg_advisory_unlock({key})"
                )))
                .await?;
                conn.close().await?;
            }
            Held::MySql { mut conn, name } => {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "SELECT RELEASE_LOCK('{name}')"
                )))
                .await?;
                conn.close().await?;
            }
            Held::SqliteFile { file, path } => {
                file.unlock().map_err(|source| Error::Io {
                    action: "unlock",
                    path,
                    source,
                })?;
            }
            Held::Nothing => {}
        }
        Ok(())
    }
}

fn lock_timeout(url: &DatabaseUrl, table: &str, timeout: Duration) -> Error {
    Error::LockTimeout {
        url: url.to_string(),
        table: table.to_owned(),
        waited_secs: timeout.as_secs(),
    }
}

/// Waits up to `timeout` for an exclusive lock on the file at `path` (created when
/// missing); `None` when another process kept it that long.
async fn lock_file(path: &Path, timeout: Duration) -> Result<Option<File>> {
    let io = |action| {
        move |source| Error::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io("create the lock file"))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(source)) => return Err(io("lock")(source)),
        }
    }
}

/// The advisory lock key of a history table: the first 8 bytes of a SHA-256.
fn advisory_key(table: &str) -> i64 {
    let digest = Sha256::digest(format!("shiplap:{table}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// A `GET_LOCK` name (at most 64 characters, no quotes) for a database and table.
fn mysql_lock_name(database: &str, table: &str) -> String {
    let name = format!("shiplap:{database}.{table}");
    if name.len() <= 64 && !name.contains(['\'', '\\']) {
        return name;
    }
    let digest = Sha256::digest(name.as_bytes());
    format!("shiplap:{}", crate::render::hex(&digest[..20]))
}

fn sqlite_lock_path(options: &SqliteConnectOptions) -> Option<PathBuf> {
    let file = options.get_filename();
    let text = file.to_string_lossy();
    if text.is_empty() || text == ":memory:" || text.starts_with("file::memory:") {
        return None;
    }
    let mut path = file.as_os_str().to_owned();
    path.push("-shiplap-lock");
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lock_file_is_held_until_released() {
        let dir = std::env::temp_dir().join(format!("shiplap-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db-shiplap-lock");
        let first = lock_file(&path, Duration::ZERO).await.unwrap().unwrap();
        let wait = Duration::from_millis(100);
        assert!(lock_file(&path, wait).await.unwrap().is_none(), "held");
        first.unlock().unwrap();
        let again = lock_file(&path, wait).await.unwrap();
        assert!(again.is_some(), "free once released");
        drop(again);
        let missing = dir.join("no-such-dir").join("db-shiplap-lock");
        let err = lock_file(&missing, wait).await.unwrap_err().to_string();
        assert!(err.starts_with("cannot create the lock file "), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_names() {
        assert_eq!(
            advisory_key("shiplap_migrations"),
            advisory_key("shiplap_migrations")
        );
        assert_ne!(advisory_key("a"), advisory_key("b"));
        assert_eq!(
            mysql_lock_name("shop", "shiplap_migrations"),
            "shiplap:shop.shiplap_migrations"
        );
        let long = mysql_lock_name(&"d".repeat(60), "t");
        assert!(long.len() <= 64 && long.starts_with("shiplap:"), "{long}");
        assert_eq!(mysql_lock_name("it's", "t").len(), 48);
    }
}
