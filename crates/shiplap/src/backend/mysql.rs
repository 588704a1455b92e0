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

/// Each table's estimated rows and bytes (data and indexes) in the current database,
/// one text row each: `name<TAB>rows<TAB>bytes`.
#[cfg_attr(not(feature = "lint"), allow(dead_code))] // read by `lint --database-url`
pub(crate) const TABLE_SIZES: &str = "SELECT CAST(CONCAT(table_name, CHAR(9), \
     COALESCE(table_rows, ''), CHAR(9), COALESCE(data_length + index_length, '')) AS CHAR) \
     FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'";

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
