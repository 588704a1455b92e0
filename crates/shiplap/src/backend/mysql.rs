//! MySQL and MariaDB: connecting, and the SQL of the run lock and session settings.
//!
//! The run lock is a `GET_LOCK` named lock; its name holds the database and the table,
//! since MySQL's named locks are server-wide. (On a Galera cluster they are node-local.)

use std::time::Duration;

use sha2::{Digest, Sha256};

/// Connects to `url`.
#[cfg(feature = "mysql")]
pub(crate) async fn connect(url: &str) -> Result<sqlx::MySqlConnection, sqlx::Error> {
    use sqlx::ConnectOptions as _;
    use std::str::FromStr as _;

    sqlx::mysql::MySqlConnectOptions::from_str(url)?
        .disable_statement_logging()
        .connect()
        .await
}

/// Puts back the session setting shiplap changes, before a connection of the
/// application's own (pooled or lent) is handed back.
pub(crate) const RESET_SESSION: &str = "SET SESSION lock_wait_timeout = DEFAULT";

/// `--statement-lock-timeout` for the session (MySQL counts whole seconds).
pub(crate) fn lock_timeout(timeout: Duration) -> String {
    format!(
        "SET SESSION lock_wait_timeout = {}",
        timeout.as_secs().max(1)
    )
}

/// A table's estimated rows and bytes (data and indexes) as one text:
/// `name<TAB>rows<TAB>bytes`.
const SIZE_ROW: &str = "CONCAT(table_name, CHAR(9), COALESCE(table_rows, ''), CHAR(9), \
     COALESCE(data_length + index_length, ''))";

/// The tables of the current database.
const SIZE_FROM: &str =
    "FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'";

/// Each table's size ([`SIZE_ROW`]), one text row each; only those of `names` (an SQL
/// list of string literals) when given.
pub(crate) fn table_sizes(names: Option<&str>) -> String {
    match names {
        Some(names) => {
            format!("SELECT CAST({SIZE_ROW} AS CHAR) {SIZE_FROM} AND table_name IN ({names})")
        }
        None => format!("SELECT CAST({SIZE_ROW} AS CHAR) {SIZE_FROM}"),
    }
}

/// An expression: the sizes of those of `names` that exist, each on a line of its own
/// behind `prefix` and a tab (empty text when none does). Never fails on a missing table.
pub(crate) fn sizes_now(names: &str, prefix: &str) -> String {
    format!(
        "COALESCE((SELECT CAST(GROUP_CONCAT(CONCAT('{prefix}', CHAR(9), {SIZE_ROW}) \
         ORDER BY table_name SEPARATOR '\n') AS CHAR) {SIZE_FROM} AND table_name IN ({names})), '')"
    )
}

/// The current database's name, as text (empty when none is selected).
pub(crate) const CURRENT_DATABASE: &str = "SELECT CAST(COALESCE(DATABASE(), '') AS CHAR)";

/// A `GET_LOCK` name (at most 64 characters, no quotes) for a database and table.
pub(crate) fn lock_name(database: &str, table: &str) -> String {
    let name = format!("shiplap:{database}.{table}");
    if name.len() <= 64 && !name.contains(['\'', '\\']) {
        return name;
    }
    let digest = Sha256::digest(name.as_bytes());
    format!("shiplap:{}", hex::encode(&digest[..20]))
}

/// One row when the session got the lock. One second at a time: a huge timeout given to
/// `GET_LOCK` at once makes some servers answer at once that it is taken.
pub(crate) fn try_lock(name: &str) -> String {
    format!("SELECT 1 FROM DUAL WHERE GET_LOCK('{name}', 1) = 1")
}

/// One row while this session holds the lock.
pub(crate) fn held(name: &str) -> String {
    format!("SELECT 1 FROM DUAL WHERE IS_USED_LOCK('{name}') = CONNECTION_ID()")
}

/// Releases the session's lock.
pub(crate) fn unlock(name: &str) -> String {
    format!("SELECT RELEASE_LOCK('{name}')")
}

/// Who holds the lock: its connection's id, user, host and time.
pub(crate) fn holder(name: &str) -> String {
    format!(
        "SELECT CAST(CONCAT('MySQL connection ', p.id, ' (user ', p.user, ', host ', p.host, \
         ', ', p.command, ' for ', p.time, ' s)') AS CHAR) \
         FROM information_schema.processlist p WHERE p.id = IS_USED_LOCK('{name}')"
    )
}

#[cfg(test)]
mod tests {
    use super::lock_name;

    #[test]
    fn lock_names() {
        assert_eq!(
            lock_name("shop", "shiplap_migrations"),
            "shiplap:shop.shiplap_migrations"
        );
        let long = lock_name(&"d".repeat(60), "t");
        assert!(long.len() <= 64 && long.starts_with("shiplap:"), "{long}");
        assert_eq!(lock_name("it's", "t").len(), 48);
    }
}
