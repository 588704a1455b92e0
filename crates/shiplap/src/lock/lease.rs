//! The lease lock: a row in a lock table beside the history table, which says who runs and
//! until when. It holds wherever rows replicate, so across the nodes of a Galera cluster
//! (where `GET_LOCK` is one node's), behind poolers in transaction mode, and on engines
//! without session locks.
//!
//! - Taken by an autocommit `INSERT` of the row (its key is the history table's name): a
//!   second runner's insert fails with a duplicate key, or on Galera with a certification
//!   conflict (1213) at commit; both mean "lost the race: wait and retry".
//! - Renewed by a heartbeat on a connection of its own, every third of the lease's length,
//!   while the run's connection works (a long statement does not let it lapse).
//! - Taken over only once it has expired, by an `UPDATE ... WHERE expires_at < now`
//!   whose affected-row count says who won.
//! - Released by `DELETE ... WHERE owner = me`.
//! - Checked before each migration and batch (`owner = me AND expires_at > now`): a runner
//!   whose lease lapsed or was taken over stops there.
//!
//! Times are the server's (`expires_at` is compared with the server's clock, never the
//! runner's), so runners on machines with skewed clocks agree on expiry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::backend::Backend;
use crate::backend::connection::Connection;
use crate::error::Result;

/// The default length of a lease.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A lease held (or being taken) on a lock table.
#[derive(Debug)]
pub(crate) struct Lease {
    backend: Backend,
    /// The lock table, quoted.
    table: String,
    /// The lock table's name, unquoted (for messages).
    pub(crate) table_name: String,
    /// The row's key: the history table's name.
    name: String,
    /// Who this runner is: host, process and a random part, unique per run.
    pub(crate) owner: String,
    pub(crate) ttl: Duration,
    /// Set by the heartbeat when a renewal found the lease no longer this runner's.
    lost: AtomicBool,
    /// Whether a heartbeat renews the lease (otherwise each check does).
    heartbeat: AtomicBool,
}

/// What an attempt to take the lease found.
pub(crate) enum Attempt {
    Taken,
    /// Taken over from a runner whose lease had expired (who it was).
    TookOver(String),
    /// Held by another runner: wait and try again.
    Busy,
}

impl Lease {
    pub(crate) fn new(backend: Backend, history_table: &str, ttl: Duration) -> Self {
        let table_name = format!("{history_table}_lock");
        Lease {
            backend,
            table: backend.quote_name(&table_name),
            table_name,
            name: history_table.to_owned(),
            owner: owner(),
            ttl: ttl.max(Duration::from_secs(1)),
            lost: AtomicBool::new(false),
            heartbeat: AtomicBool::new(false),
        }
    }

    /// Creates the lock table if it is missing.
    pub(crate) async fn create_table(&self, conn: &mut Connection<'_>) -> Result<(), sqlx::Error> {
        let (text, time, engine) = match self.backend {
            Backend::Postgres => ("VARCHAR(255)", "TIMESTAMPTZ", ""),
            Backend::MySql => ("VARCHAR(191)", "DATETIME(6)", " ENGINE=InnoDB"),
            Backend::Sqlite => ("TEXT", "TEXT", ""),
        };
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (name {text} NOT NULL PRIMARY KEY, \
             owner {text} NOT NULL, acquired_at {time} NOT NULL, expires_at {time} NOT NULL){engine}",
            self.table
        );
        match conn.execute(&sql).await {
            Ok(_) => Ok(()),
            // Two runners creating it at once (PostgreSQL's catalog race: its row type
            // "already exists", 42710, or the table, 42P07; a Galera conflict): the other
            // one made it, and once more finds it.
            Err(e) if lost_race(&e) || is_code(&e, "42710") || is_code(&e, "42P07") => {
                conn.execute(&sql).await.map(drop)
            }
            Err(e) => Err(e),
        }
    }

    /// One attempt to take the lease: insert the row, or take over an expired one.
    pub(crate) async fn attempt(&self, conn: &mut Connection<'_>) -> Result<Attempt, sqlx::Error> {
        let (now, until) = (self.now(), self.until());
        let insert = format!(
            "INSERT INTO {} (name, owner, acquired_at, expires_at) VALUES ('{}', '{}', {now}, {until})",
            self.table, self.name, self.owner
        );
        match conn.execute(&insert).await {
            Ok(_) => return Ok(Attempt::Taken),
            Err(e) if lost_race(&e) => {}
            Err(e) => return Err(e),
        }
        let expired = conn
            .strings(&format!(
                "SELECT owner FROM {} WHERE name = '{}' AND expires_at < {now}",
                self.table, self.name
            ))
            .await;
        let previous = match expired {
            Ok(rows) => match rows.into_iter().next() {
                Some(owner) => owner,
                None => return Ok(Attempt::Busy),
            },
            Err(e) if lost_race(&e) => return Ok(Attempt::Busy),
            Err(e) => return Err(e),
        };
        let take_over = format!(
            "UPDATE {} SET owner = '{}', acquired_at = {now}, expires_at = {until} \
             WHERE name = '{}' AND owner = '{}' AND expires_at < {now}",
            self.table,
            self.owner,
            self.name,
            previous.replace('\'', "''"),
        );
        match conn.execute(&take_over).await {
            Ok(1) => Ok(Attempt::TookOver(previous)),
            Ok(_) => Ok(Attempt::Busy),
            Err(e) if lost_race(&e) => Ok(Attempt::Busy),
            Err(e) => Err(e),
        }
    }

    /// Who holds the lease and until when (a query of one text column).
    pub(crate) fn holder(&self) -> String {
        let concat = match self.backend {
            Backend::MySql => "CAST(CONCAT(owner, ' (lease until ', expires_at, ' UTC)') AS CHAR)",
            _ => "owner || ' (lease until ' || CAST(expires_at AS TEXT) || ')'",
        };
        format!(
            "SELECT {concat} FROM {} WHERE name = '{}'",
            self.table, self.name
        )
    }

    /// One row while this runner holds an unexpired lease.
    pub(crate) fn held(&self) -> String {
        format!(
            "SELECT 1 FROM {} WHERE name = '{}' AND owner = '{}' AND expires_at > {}",
            self.table,
            self.name,
            self.owner,
            self.now()
        )
    }

    /// Extends the lease by its length from now; `Ok(false)` when it is no longer this
    /// runner's (expired and taken over, or deleted).
    pub(crate) async fn renew(&self, conn: &mut Connection<'_>) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "UPDATE {} SET expires_at = {} WHERE name = '{}' AND owner = '{}'",
            self.table,
            self.until(),
            self.name,
            self.owner
        );
        let held = conn.execute(&sql).await? == 1;
        if !held {
            self.lost.store(true, Ordering::Relaxed);
        }
        Ok(held)
    }

    /// Whether a heartbeat renews the lease.
    pub(crate) fn has_heartbeat(&self) -> bool {
        self.heartbeat.load(Ordering::Relaxed)
    }

    /// Whether the heartbeat found the lease gone.
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Deletes the row, if it is still this runner's.
    pub(crate) fn release(&self) -> String {
        format!(
            "DELETE FROM {} WHERE name = '{}' AND owner = '{}'",
            self.table, self.name, self.owner
        )
    }

    /// Renews the lease every third of its length on `conn`, a connection of its own,
    /// until `done` says the run is over. When a renewal fails (the connection was killed
    /// or cut), `reopen` gives a new connection and the lease is renewed on it at once;
    /// if that fails too, the next tick tries again, and the check before the next
    /// migration decides. A lease found taken over ends the heartbeat. From the call on,
    /// the checks no longer renew the lease themselves (so none does inside a migration's
    /// transaction).
    pub(crate) fn heartbeat<'a, 'c: 'a, F>(
        &'a self,
        conn: &'a mut Connection<'c>,
        reopen: impl Fn() -> F + 'a,
        mut done: tokio::sync::watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + 'a
    where
        F: Future<Output = Result<Connection<'c>>> + 'a,
    {
        self.heartbeat.store(true, Ordering::Relaxed);
        let every = self.ttl / 3;
        async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = done.changed() => return,
                }
                let renewed = match self.renew(conn).await {
                    Err(e) => match reopen().await {
                        Ok(new) => {
                            let old = std::mem::replace(conn, new);
                            old.finish(true).await;
                            let renewed = self.renew(conn).await;
                            if let Ok(true) = renewed {
                                tracing::warn!(
                                    "the lease's heartbeat lost its connection ({e}); it \
                                     reconnected and renewed the lease on `{}`",
                                    self.table_name
                                );
                            }
                            renewed
                        }
                        Err(reconnect) => Err(sqlx::Error::Protocol(format!(
                            "{e}; reconnecting failed: {reconnect}"
                        ))),
                    },
                    renewed => renewed,
                };
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            "the lease on `{}` is no longer this run's ({}): it stops before \
                             its next migration",
                            self.table_name,
                            self.owner
                        );
                        return;
                    }
                    Err(e) => tracing::warn!(
                        "could not renew the lease on `{}` ({e}); trying again in {} ms",
                        self.table_name,
                        every.as_millis()
                    ),
                }
            }
        }
    }

    /// The server's clock now.
    fn now(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "clock_timestamp()",
            Backend::MySql => "UTC_TIMESTAMP(6)",
            Backend::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        }
    }

    /// The server's clock one lease from now.
    fn until(&self) -> String {
        let ms = self.ttl.as_millis();
        match self.backend {
            Backend::Postgres => format!("clock_timestamp() + interval '{ms} milliseconds'"),
            Backend::MySql => format!("UTC_TIMESTAMP(6) + INTERVAL {} MICROSECOND", ms * 1000),
            Backend::Sqlite => format!(
                "strftime('%Y-%m-%d %H:%M:%f', 'now', '+{}.{:03} seconds')",
                ms / 1000,
                ms % 1000
            ),
        }
    }
}

/// Errors that mean another runner got there first (or at the same time): a duplicate
/// key, a deadlock or serialization failure (Galera's certification conflict is MySQL's
/// 1213, SQLSTATE 40001), or SQLite's busy database.
pub(crate) fn lost_race(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    if db.is_unique_violation() {
        return true;
    }
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517")
    )
}

/// Whether `e` is the database's error `code` (SQLSTATE, or SQLite's extended code).
fn is_code(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|c| c == code)
}

/// Who this runner is, unique per run: the host, the process and a random part. Only
/// letters, digits and `-._ ` (it is written into SQL).
fn owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(100)
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let random = u64::from(nanos) ^ (u64::from(std::process::id()) << 32) ^ random_bits();
    format!(
        "{} pid {} run {:012x}",
        if host.is_empty() {
            "unknown-host"
        } else {
            &host
        },
        std::process::id(),
        random & 0xffff_ffff_ffff
    )
}

/// Bits from the standard library's randomly seeded hasher.
fn random_bits() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::{Lease, owner};
    use crate::backend::Backend;
    use std::time::Duration;

    #[test]
    fn owners_differ_and_are_safe_in_sql() {
        let (a, b) = (owner(), owner());
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._ ".contains(c)),
            "{a}"
        );
    }

    #[test]
    fn the_lock_table_sits_beside_the_history_table() {
        let lease = Lease::new(
            Backend::MySql,
            "shiplap_migrations",
            Duration::from_secs(30),
        );
        assert_eq!(lease.table, "`shiplap_migrations_lock`");
        assert!(lease.held().contains("expires_at > UTC_TIMESTAMP(6)"));
        assert!(lease.until().ends_with("INTERVAL 30000000 MICROSECOND"));
        let sqlite = Lease::new(Backend::Sqlite, "h", Duration::from_millis(2500));
        assert!(
            sqlite.until().contains("'+2.500 seconds'"),
            "{}",
            sqlite.until()
        );
    }
}
