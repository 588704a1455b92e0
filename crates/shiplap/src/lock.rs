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
//! Each backend's lock SQL is in its module: PostgreSQL a session-level advisory lock
//! ([`crate::backend::postgres`]), MySQL/MariaDB a `GET_LOCK` named lock
//! ([`crate::backend::mysql`]), SQLite an OS lock on a file beside the database
//! ([`crate::backend::sqlite`]). An in-memory SQLite database has one connection, so it
//! needs none.
//!
//! Behind a pooler in transaction mode (PgBouncer) no session lock can hold: with
//! [`LockMode::Transaction`] each migration's transaction takes PostgreSQL's
//! transaction-level advisory lock and checks that it is still to do ([`postgres::claim`]), and the
//! run's other writes to the history take it in a transaction of their own
//! ([`RunLock::guard`]).
//!
//! Where no session lock holds for the whole database (a Galera cluster, whose
//! `GET_LOCK` is one node's; engines without advisory locks) [`LockMode::Lease`] keeps a
//! row with an expiry in a lock table, renewed by a heartbeat ([`lease`]). On MariaDB
//! with `wsrep_on` shiplap takes it instead of `GET_LOCK` by itself.
//!
//! The interface every kind of lock implements is [`RunLock`]'s: `acquire` on the run's
//! connection, `check`/`verify` before each migration and each backfill batch (a lock
//! that can be lost says so there, before anything else runs), `guard` for writes outside
//! a migration, and `release`.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::backend::connection::Connection;
use crate::backend::{mysql, postgres, sqlite};
use crate::database_url::DatabaseUrl;
use crate::error::{Error, Result};

pub(crate) mod lease;

use lease::{Attempt, Lease};

/// How long a waiting runner stays silent before it says whom it waits for, and how often
/// it says so again.
const FIRST_WAIT_REPORT: Duration = Duration::from_secs(1);
const WAIT_REPORT_EVERY: Duration = Duration::from_secs(10);

/// How a run keeps other runners out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
    /// A lease: a row in a lock table (`<history table>_lock`) with an expiry, taken by
    /// an insert, renewed by a heartbeat on a second connection, taken over only once
    /// expired. Holds wherever rows replicate: across a Galera cluster's nodes (chosen by
    /// itself there), behind poolers in transaction mode, on engines without session
    /// locks (CockroachDB). Its length is `--lease` (`Migrator::lease`).
    Lease,
    /// No lock: two runners at once can apply a migration twice: run one at a time
    /// yourself.
    None,
}

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
    /// A lease row in the lock table.
    Lease(Lease),
    /// Nothing to hold: an in-memory SQLite database.
    Nothing,
}

impl RunLock {
    /// Waits up to `timeout` for the lock of `table` in the database of `url`, taking it on
    /// `conn`: the connection the run goes on to use. `sqlite_file` is the SQLite database's
    /// file (`None` in memory); `lease` the length of a lease.
    pub(crate) async fn acquire(
        conn: &mut Connection<'_>,
        url: &DatabaseUrl,
        sqlite_file: Option<&Path>,
        table: &str,
        timeout: Duration,
        mode: LockMode,
        lease: Duration,
    ) -> Result<Self> {
        let mut wait = Wait::new(url, table, timeout);
        let mode = match (mode, url.backend()) {
            (LockMode::Session, Backend::MySql) if galera(conn, url, table).await? => {
                tracing::info!(
                    "{url} is a node of a Galera cluster (wsrep_on): GET_LOCK would hold on \
                     this node only, so the run takes a lease in `{table}_lock` instead"
                );
                LockMode::Lease
            }
            _ => mode,
        };
        match (mode, url.backend()) {
            (LockMode::Lease, backend) => {
                let lease = Lease::new(backend, table, lease);
                return Self::take_lease(conn, url, table, lease, &mut wait).await;
            }
            (LockMode::None, _) => {
                tracing::warn!(
                    "running without a run lock (--lock none): another runner at the same time \
                     could apply a migration twice"
                );
                return Ok(RunLock::new(Held::Nothing, url, table));
            }
            (LockMode::Transaction, Backend::Postgres) => {
                let key = postgres::advisory_key(table);
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
                conn.execute(postgres::CLIENT_CHECK)
                    .await
                    .map_err(|e| lock_error(url, table, "take", e))?;
                // The history table of another schema (`--schemas`) is another lock.
                let schema = conn
                    .strings(postgres::CURRENT_SCHEMA)
                    .await
                    .map_err(|e| lock_error(url, table, "take", e))?;
                let key = match schema.first().map(String::as_str) {
                    None | Some("public" | "") => postgres::advisory_key(table),
                    Some(schema) => postgres::advisory_key(&format!("{schema}.{table}")),
                };
                loop {
                    let locked = conn
                        .has_rows(&postgres::try_lock(key))
                        .await
                        .map_err(|e| lock_error(url, table, "take", e))?;
                    if locked {
                        break Held::Postgres { key };
                    }
                    wait.next(conn, &postgres::holder(key)).await?;
                }
            }
            Backend::MySql => {
                let database = conn
                    .strings(mysql::CURRENT_DATABASE)
                    .await
                    .map_err(|e| lock_error(url, table, "take", e))?;
                let name = mysql::lock_name(database.first().map_or("", String::as_str), table);
                loop {
                    let locked = conn
                        .has_rows(&mysql::try_lock(&name))
                        .await
                        .map_err(|e| lock_error(url, table, "take", e))?;
                    if locked {
                        break Held::MySql { name };
                    }
                    wait.next(conn, &mysql::holder(&name)).await?;
                }
            }
            Backend::Sqlite => match sqlite_file {
                None => Held::Nothing,
                Some(file) => {
                    let path = sqlite::lock_path(file);
                    let file = sqlite::open_lock_file(&path)?;
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
                    sqlite::write_holder(&file);
                    Held::SqliteFile { file, path }
                }
            },
        };
        Ok(RunLock::new(held, url, table))
    }

    fn new(held: Held, url: &DatabaseUrl, table: &str) -> Self {
        let query = match &held {
            Held::Postgres { key } => Some(postgres::held(*key)),
            Held::MySql { name } => Some(mysql::held(name)),
            Held::Lease(lease) => Some(lease.held()),
            // Cannot be lost while the process lives; or taken anew by each transaction.
            Held::SqliteFile { .. } | Held::PerTransaction { .. } | Held::Nothing => None,
        };
        let check = LockCheck {
            query,
            url: url.to_string(),
            table: table.to_owned(),
            lease: matches!(held, Held::Lease(_)),
        };
        RunLock { held, check }
    }

    /// How to check that the lock is still held: for the run, and for a data migration's
    /// backfill batches.
    pub(crate) fn check(&self) -> &LockCheck {
        &self.check
    }

    /// Makes sure the lock is still held before `next` runs (a migration or a batch).
    /// A lease without a heartbeat (a lent connection: there is no second one) is renewed
    /// here.
    pub(crate) async fn verify(&self, conn: &mut Connection<'_>, next: &str) -> Result<()> {
        if let Held::Lease(lease) = &self.held {
            if lease.lost() {
                return self.check.verified(Ok(false), next);
            }
            if !lease.has_heartbeat() {
                let held = lease.renew(conn).await;
                return self.check.verified(held, next);
            }
        }
        let Some(query) = &self.check.query else {
            return Ok(());
        };
        let held = conn.has_rows(query).await;
        self.check.verified(held, next)
    }

    /// The lease, when the lock is one: the run renews it on a second connection.
    pub(crate) fn lease(&self) -> Option<&Lease> {
        match &self.held {
            Held::Lease(lease) => Some(lease),
            _ => None,
        }
    }

    /// Takes the lease, waiting up to the timeout while another runner holds it.
    async fn take_lease(
        conn: &mut Connection<'_>,
        url: &DatabaseUrl,
        table: &str,
        lease: Lease,
        wait: &mut Wait,
    ) -> Result<Self> {
        lease
            .create_table(conn)
            .await
            .map_err(|e| lock_error(url, table, "take", e))?;
        loop {
            match lease
                .attempt(conn)
                .await
                .map_err(|e| lock_error(url, table, "take", e))?
            {
                Attempt::Taken => break,
                Attempt::TookOver(previous) => {
                    tracing::warn!(
                        "took over the run lock on {url} (history table `{table}`) from {previous}, \
                         whose lease had expired: that runner stopped renewing it (killed, or cut \
                         off from the database) and stops before its next migration if it still runs"
                    );
                    break;
                }
                Attempt::Busy => wait.next(conn, &lease.holder()).await?,
            }
        }
        Ok(RunLock::new(Held::Lease(lease), url, table))
    }

    /// In transaction mode, the statement to run first in a transaction that changes the
    /// history outside a migration (creating the table, `repair`, `baseline`): it waits for
    /// the lock, which the transaction keeps until it ends.
    /// Its wait is bounded by `timeout` (`--lock-timeout`), as the rest of that
    /// transaction is.
    pub(crate) fn guard(&self, timeout: Duration) -> Option<String> {
        match self.held {
            Held::PerTransaction { key } => Some(postgres::guard(key, timeout)),
            _ => None,
        }
    }

    /// Releases the lock (closing the connection releases a server lock too).
    pub(crate) async fn release(self, conn: &mut Connection<'_>) -> Result<()> {
        let sql = match &self.held {
            Held::Postgres { key } => postgres::unlock(*key),
            Held::MySql { name } => mysql::unlock(name),
            Held::Lease(lease) => lease.release(),
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
    lease: bool,
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
            lease: self.lease,
            next: next.to_owned(),
            source,
        })
    }
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
    async fn next(&mut self, conn: &mut Connection<'_>, holder: &str) -> Result<()> {
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

/// Whether the MySQL server is a Galera node (`wsrep_on`); then the run's session reads
/// with `wsrep_sync_wait = 1`, so it sees every write the cluster committed before (the
/// history another node's runner just wrote), not only its own node's. (A connection
/// shiplap opened has it already; an application's pooled or lent one gets it here.)
async fn galera(conn: &mut Connection<'_>, url: &DatabaseUrl, table: &str) -> Result<bool> {
    // MySQL has no such variable: an error there means no.
    let on = conn.strings(mysql::WSREP_ON).await.unwrap_or_default();
    if !matches!(on.first().map(String::as_str), Some("1" | "ON")) {
        return Ok(false);
    }
    if conn.owned() {
        return Ok(true);
    }
    conn.execute(mysql::SYNC_WAIT)
        .await
        .map_err(|e| lock_error(url, table, "take", e))?;
    Ok(true)
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
