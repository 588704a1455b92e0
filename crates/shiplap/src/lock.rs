//! The run lock: one runner at a time per database and history table.
//!
//! The lock is held by the very session that runs the migrations, never by a connection of
//! its own. A lock on a second connection can be lost while the first goes on working (the
//! lock's idle connection cut by a proxy, killed, or ended by PostgreSQL's
//! `idle_session_timeout`), and after `kill -9` of a runner the server may still be running
//! the script that runner sent on its other connection: both let a second runner in while
//! the first one's migrations still run. Held by the working session, the lock ends only
//! when that session has ended, and a lost session stops its own work.
//!
//! - PostgreSQL: a session-level `pg_try_advisory_lock`, polled until the timeout; the key
//!   is derived from the history table's name (advisory locks are per database).
//! - MySQL/MariaDB: `GET_LOCK`, waited for a second at a time; the name holds the database
//!   and table, since MySQL's named locks are server-wide. (On a Galera cluster they are
//!   node-local: a lease-row lock is the answer there.)
//! - SQLite: an exclusive OS file lock (`flock`, `LockFileEx` on Windows) on a lock file
//!   beside the database (`<file>-shiplap-lock`): it keeps the database itself writable for
//!   the migrations while excluding other runners, and the OS frees it if the process dies
//!   (which ends its SQLite work with it). The holder writes its process id into the file,
//!   so that a waiting runner can say whom it waits for. The file stays (removing a lock
//!   file races with a runner about to lock it). An in-memory database has one connection,
//!   so it needs none.
//!
//! Behind a pooler in transaction mode (PgBouncer) no session lock can hold: with
//! [`LockMode::Transaction`] each migration's transaction takes PostgreSQL's
//! transaction-level advisory lock and checks that it is still to do ([`claim`]), and the
//! run's other writes to the history take it in a transaction of their own
//! ([`RunLock::guard`]).
//!
//! The interface every kind of lock implements is [`RunLock`]'s: `acquire` on the run's
//! connection, `check`/`verify` before each migration and each backfill batch (a lock
//! that can be lost says so there, before anything else runs), `guard` for writes outside
//! a migration, and `release`. A lease lock (a row with an expiry, renewed at each check)
//! fits the same five.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::connection::Connection;
use crate::{Backend, DatabaseUrl, Error, Result};

/// How long a waiting runner stays silent before it says whom it waits for, and how often
/// it says so again.
const FIRST_WAIT_REPORT: Duration = Duration::from_secs(1);
const WAIT_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Sets `client_connection_check_interval` where the server has it.
const CLIENT_CHECK: &str = "SELECT set_config('client_connection_check_interval', '1s', false) \
     WHERE current_setting('server_version_num')::int >= 140000";

/// How a run keeps other runners out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum LockMode {
    /// One lock for the whole run, held by the session that runs the migrations
    /// (PostgreSQL advisory lock, MySQL `GET_LOCK`, SQLite file lock).
    #[default]
    Session,
    /// PostgreSQL only: each migration's transaction takes a transaction-level advisory
    /// lock (released at its `COMMIT`), then checks that no other runner applied (or
    /// reverted) it meanwhile. For a pooler in transaction mode (PgBouncer), where a
    /// session lock cannot hold. Every migration must run in a transaction.
    Transaction,
    /// No lock: for engines without any (CockroachDB). Two runners at once can apply a
    /// migration twice: run one at a time yourself.
    None,
}

/// The SQLSTATE with which a migration's claim fails when another runner took it (see
/// [`claim`]).
pub(crate) const TAKEN: &str = "SL001";

/// A held run lock.
#[derive(Debug)]
pub(crate) struct RunLock {
    held: Held,
    /// How to check it is still held, worked out once (it runs before every migration).
    check: LockCheck,
}

#[derive(Debug)]
enum Held {
    /// A session-level advisory lock of the run's own PostgreSQL session.
    Postgres { key: i64 },
    /// PostgreSQL's transaction-level advisory lock, taken by each migration's transaction
    /// (see [`LockMode::Transaction`]): nothing is held between them.
    PerTransaction { key: i64 },
    /// A `GET_LOCK` named lock of the run's own MySQL session.
    MySql { name: String },
    /// An OS lock on the lock file beside the SQLite database.
    SqliteFile { file: File, path: PathBuf },
    /// Nothing to hold: an in-memory SQLite database.
    Nothing,
}

impl RunLock {
    /// Waits up to `timeout` for the lock of `table` in the database of `url`, taking it on
    /// `conn`: the connection the run goes on to use. `sqlite_file` is the SQLite database's
    /// file (`None` in memory).
    pub(crate) async fn acquire(
        conn: &mut Connection,
        url: &DatabaseUrl,
        sqlite_file: Option<&Path>,
        table: &str,
        timeout: Duration,
        mode: LockMode,
    ) -> Result<Self> {
        let mut wait = Wait::new(url, table, timeout);
        match (mode, url.backend()) {
            (LockMode::None, _) => {
                tracing::warn!(
                    "running without a run lock (--lock none): another runner at the same time \
                     could apply a migration twice"
                );
                return Ok(RunLock::new(Held::Nothing, url, table));
            }
            (LockMode::Transaction, Backend::Postgres) => {
                let key = advisory_key(table);
                return Ok(RunLock::new(Held::PerTransaction { key }, url, table));
            }
            (LockMode::Transaction, backend) => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "--lock transaction needs PostgreSQL (its transaction-level advisory \
                         locks), not {backend}: use --lock session"
                    ),
                });
            }
            (LockMode::Session, _) => {}
        }
        let held = match url.backend() {
            Backend::Postgres => {
                // A runner killed while its statement waits or works on the server would
                // keep its session, and so the lock, until that statement ends: have the
                // server check every second that its client is still there (PostgreSQL 14
                // and later, on Linux), and end the session when it is not.
                conn.execute(CLIENT_CHECK)
                    .await
                    .map_err(|e| lock_error(url, table, "take", e))?;
                let key = advisory_key(table);
                loop {
                    let locked = conn
                        .has_rows(&format!("SELECT 1 WHERE pg_try_advisory_lock({key})"))
                        .await
                        .map_err(|e| lock_error(url, table, "take", e))?;
                    if locked {
                        break Held::Postgres { key };
                    }
                    wait.next(conn, &postgres_holder_query(key)).await?;
                }
            }
            Backend::MySql => {
                let database = conn
                    .strings("SELECT CAST(COALESCE(DATABASE(), '') AS CHAR)")
                    .await
                    .map_err(|e| lock_error(url, table, "take", e))?;
                let name = mysql_lock_name(database.first().map_or("", String::as_str), table);
                loop {
                    // One second at a time: a huge timeout given to GET_LOCK at once makes
                    // some servers answer at once that it is taken.
                    let locked = conn
                        .has_rows(&format!(
                            "SELECT 1 FROM DUAL WHERE GET_LOCK('{name}', 1) = 1"
                        ))
                        .await
                        .map_err(|e| lock_error(url, table, "take", e))?;
                    if locked {
                        break Held::MySql { name };
                    }
                    wait.next(conn, &mysql_holder_query(&name)).await?;
                }
            }
            Backend::Sqlite => match sqlite_file {
                None => Held::Nothing,
                Some(file) => {
                    let path = sqlite_lock_path(file);
                    let file = open_lock_file(&path)?;
                    loop {
                        match file.try_lock() {
                            Ok(()) => break,
                            Err(TryLockError::WouldBlock) => {}
                            Err(TryLockError::Error(source)) => {
                                return Err(Error::Io {
                                    action: "lock",
                                    path,
                                    source,
                                });
                            }
                        }
                        wait.next_file(&path).await?;
                    }
                    write_holder(&file);
                    Held::SqliteFile { file, path }
                }
            },
        };
        Ok(RunLock::new(held, url, table))
    }

    fn new(held: Held, url: &DatabaseUrl, table: &str) -> Self {
        let query = match &held {
            Held::Postgres { key } => {
                let (high, low) = advisory_halves(*key);
                Some(format!(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() \
                     AND granted AND classid::int8 = {high} AND objid::int8 = {low} AND objsubid = 1"
                ))
            }
            Held::MySql { name } => Some(format!(
                "SELECT 1 FROM DUAL WHERE IS_USED_LOCK('{name}') = CONNECTION_ID()"
            )),
            // Cannot be lost while the process lives; or taken anew by each transaction.
            Held::SqliteFile { .. } | Held::PerTransaction { .. } | Held::Nothing => None,
        };
        let check = LockCheck {
            query,
            url: url.to_string(),
            table: table.to_owned(),
        };
        RunLock { held, check }
    }

    /// How to check that the lock is still held: for the run, and for a data migration's
    /// backfill batches.
    pub(crate) fn check(&self) -> &LockCheck {
        &self.check
    }

    /// Makes sure the lock is still held before `next` runs (a migration or a batch).
    pub(crate) async fn verify(&self, conn: &mut Connection, next: &str) -> Result<()> {
        let Some(query) = &self.check.query else {
            return Ok(());
        };
        let held = conn.has_rows(query).await;
        self.check.verified(held, next)
    }

    /// In transaction mode, the statement to run first in a transaction that changes the
    /// history outside a migration (creating the table, `repair`, `baseline`): it waits for
    /// the lock, which the transaction keeps until it ends.
    /// Its wait is bounded by `timeout` (`--lock-timeout`), as the rest of that
    /// transaction is.
    pub(crate) fn guard(&self, timeout: Duration) -> Option<String> {
        match self.held {
            Held::PerTransaction { key } => Some(format!(
                "SET LOCAL lock_timeout = '{}ms'; SELECT pg_advisory_xact_lock({key})",
                timeout.as_millis().max(1)
            )),
            _ => None,
        }
    }

    /// Releases the lock (closing the connection releases a server lock too).
    pub(crate) async fn release(self, conn: &mut Connection) -> Result<()> {
        let sql = match &self.held {
            Held::Postgres { key } => format!("SELECT pg_advisory_unlock({key})"),
            Held::MySql { name } => format!("SELECT RELEASE_LOCK('{name}')"),
            Held::SqliteFile { file, path } => {
                let _ = file.set_len(0);
                return file.unlock().map_err(|source| Error::Io {
                    action: "unlock",
                    path: path.clone(),
                    source,
                });
            }
            Held::PerTransaction { .. } | Held::Nothing => return Ok(()),
        };
        conn.execute(&sql)
            .await
            .map(|_| ())
            .map_err(|e| lock_error_text(&self.check.url, &self.check.table, "release", e))
    }
}

/// How to check that a held lock is still held.
#[derive(Debug, Clone)]
pub(crate) struct LockCheck {
    /// A query returning one row while the run's session holds the lock (`None`: this
    /// kind of lock cannot be lost while the process lives).
    pub(crate) query: Option<String>,
    url: String,
    table: String,
}

impl LockCheck {
    /// The outcome of running [`query`](Self::query) before `next`: whether it returned a
    /// row, or its error.
    pub(crate) fn verified(&self, held: Result<bool, sqlx::Error>, next: &str) -> Result<()> {
        let source = match held {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(e) => Some(Box::new(e)),
        };
        Err(Error::LockLost {
            url: self.url.clone(),
            table: self.table.clone(),
            next: next.to_owned(),
            source,
        })
    }
}

/// In transaction mode, the statement that follows a migration's `BEGIN`: it waits for the
/// lock of `table` (kept until `COMMIT`) for at most `timeout` (`--lock-timeout`), fails
/// with SQLSTATE [`TAKEN`] if another runner applied (`up`) or reverted the migration
/// meanwhile, so that it runs exactly once, then sets the migration's own `lock_timeout`
/// (`--statement-lock-timeout`, local to the transaction: on a pooled server connection a
/// session setting would reach other clients).
pub(crate) fn claim(
    table: &str,
    quoted_table: &str,
    version: i64,
    up: bool,
    timeout: Duration,
    statement_timeout: Option<Duration>,
) -> String {
    let key = advisory_key(table);
    let (test, what) = if up {
        ("EXISTS", "applied")
    } else {
        ("NOT EXISTS", "reverted")
    };
    let after = match statement_timeout {
        Some(t) => format!("'{}ms'", t.as_millis().max(1)),
        None => "previous".to_owned(),
    };
    format!(
        "DO $shiplap$ DECLARE previous text := current_setting('lock_timeout'); BEGIN \
         PERFORM set_config('lock_timeout', '{}ms', true); \
         PERFORM pg_advisory_xact_lock({key}); \
         PERFORM set_config('lock_timeout', {after}, true); \
         IF {test} (SELECT 1 FROM {quoted_table} WHERE version = {version}) THEN \
         RAISE EXCEPTION 'migration {version} was {what} by another runner meanwhile' \
         USING ERRCODE = '{TAKEN}'; END IF; END $shiplap$",
        timeout.as_millis().max(1)
    )
}

/// Waiting for the lock: the deadline, and what to say meanwhile.
struct Wait {
    started: Instant,
    timeout: Duration,
    next_report: Duration,
    url: String,
    table: String,
}

impl Wait {
    fn new(url: &DatabaseUrl, table: &str, timeout: Duration) -> Self {
        Wait {
            started: Instant::now(),
            timeout,
            next_report: FIRST_WAIT_REPORT,
            url: url.to_string(),
            table: table.to_owned(),
        }
    }

    /// Fails once the timeout has passed; says now and then who holds the lock (`holder`:
    /// a query whose first column describes it); waits a little.
    async fn next(&mut self, conn: &mut Connection, holder: &str) -> Result<()> {
        self.check_timeout()?;
        if self.started.elapsed() >= self.next_report {
            let who = conn.strings(holder).await.unwrap_or_default();
            self.report(who.first().map(String::as_str));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }

    async fn next_file(&mut self, path: &Path) -> Result<()> {
        self.check_timeout()?;
        if self.started.elapsed() >= self.next_report {
            let who = std::fs::read_to_string(path).unwrap_or_default();
            let who = who.trim();
            self.report((!who.is_empty()).then_some(who));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        Ok(())
    }

    fn check_timeout(&self) -> Result<()> {
        if self.started.elapsed() >= self.timeout {
            return Err(Error::LockTimeout {
                url: self.url.clone(),
                table: self.table.clone(),
                waited_secs: self.timeout.as_secs(),
            });
        }
        Ok(())
    }

    fn report(&mut self, holder: Option<&str>) {
        let waited = self.started.elapsed().as_secs();
        let left = self
            .timeout
            .saturating_sub(self.started.elapsed())
            .as_secs();
        tracing::warn!(
            "waiting for the run lock on {} (history table `{}`), held by {}; waited {waited} s, \
             giving up in {left} s (--lock-timeout)",
            self.url,
            self.table,
            holder.unwrap_or("another shiplap run")
        );
        self.next_report = self.started.elapsed() + WAIT_REPORT_EVERY;
    }
}

fn lock_error(url: &DatabaseUrl, table: &str, action: &'static str, source: sqlx::Error) -> Error {
    lock_error_text(&url.to_string(), table, action, source)
}

fn lock_error_text(url: &str, table: &str, action: &'static str, source: sqlx::Error) -> Error {
    let hint = match &source {
        sqlx::Error::Io(_) => "the connection was lost: check the server and the network".into(),
        e if e.as_database_error().is_some() => {
            "the user may lack the right to take advisory or named locks; \
             `--lock none` runs without one, at the risk of two runners at once"
                .into()
        }
        _ => String::new(),
    };
    Error::Lock {
        action,
        url: url.to_owned(),
        table: table.to_owned(),
        hint,
        source: Box::new(source),
    }
}

/// Who holds a PostgreSQL advisory lock: its session's application, user, client and start.
fn postgres_holder_query(key: i64) -> String {
    let (high, low) = advisory_halves(key);
    format!(
        "SELECT format('PostgreSQL session %s (application %L, user %s, client %s, connected at %s, %s)', \
         a.pid, a.application_name, a.usename, COALESCE(host(a.client_addr), 'local'), \
         date_trunc('second', a.backend_start), a.state) \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int8 = {high} \
         AND l.objid::int8 = {low} AND l.objsubid = 1 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
}

/// Who holds a MySQL named lock: its connection's id, user, host and time.
fn mysql_holder_query(name: &str) -> String {
    format!(
        "SELECT CAST(CONCAT('MySQL connection ', p.id, ' (user ', p.user, ', host ', p.host, \
         ', ', p.command, ' for ', p.time, ' s)') AS CHAR) \
         FROM information_schema.processlist p WHERE p.id = IS_USED_LOCK('{name}')"
    )
}

/// The advisory lock key of a history table: the first 8 bytes of a SHA-256.
fn advisory_key(table: &str) -> i64 {
    let digest = Sha256::digest(format!("shiplap:{table}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// A bigint advisory key as `pg_locks` shows it: (classid, objid), its high and low halves.
fn advisory_halves(key: i64) -> (u32, u32) {
    let [a, b, c, d, e, f, g, h] = key.to_be_bytes();
    (
        u32::from_be_bytes([a, b, c, d]),
        u32::from_be_bytes([e, f, g, h]),
    )
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

/// The lock file of an SQLite database file.
pub(crate) fn sqlite_lock_path(database: &Path) -> PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push("-shiplap-lock");
    PathBuf::from(path)
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| Error::Io {
            action: "create the lock file",
            path: path.to_owned(),
            source,
        })
}

/// Writes who holds the lock into its file (best effort: it only informs a waiting runner).
fn write_holder(mut file: &File) {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let who = format!(
        "process {}{} (since {})\n",
        std::process::id(),
        if host.is_empty() {
            String::new()
        } else {
            format!(" on {host}")
        },
        crate::clock::now_rfc3339()
    );
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(who.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_excludes_a_second_holder_until_unlocked() {
        let dir = std::env::temp_dir().join(format!("shiplap-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = sqlite_lock_path(&dir.join("db"));
        let first = open_lock_file(&path).unwrap();
        first.try_lock().unwrap();
        write_holder(&first);
        let second = open_lock_file(&path).unwrap();
        assert!(matches!(second.try_lock(), Err(TryLockError::WouldBlock)));
        let holder = std::fs::read_to_string(&path).unwrap();
        assert!(
            holder.starts_with(&format!("process {}", std::process::id())),
            "{holder}"
        );
        first.unlock().unwrap();
        second.try_lock().unwrap();
        let missing = sqlite_lock_path(&dir.join("no-such-dir").join("db"));
        let err = open_lock_file(&missing).unwrap_err().to_string();
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
        assert_eq!(advisory_halves(-1), (u32::MAX, u32::MAX));
        assert_eq!(advisory_halves(0x0000_0001_0000_0002), (1, 2));
        assert_eq!(
            mysql_lock_name("shop", "shiplap_migrations"),
            "shiplap:shop.shiplap_migrations"
        );
        let long = mysql_lock_name(&"d".repeat(60), "t");
        assert!(long.len() <= 64 && long.starts_with("shiplap:"), "{long}");
        assert_eq!(mysql_lock_name("it's", "t").len(), 48);
    }
}
