//! MySQL and MariaDB: connecting, and the SQL of the run lock and session settings.
//!
//! The run lock is a `GET_LOCK` named lock; its name holds the database and the table,
//! since MySQL's named locks are server-wide. On a Galera cluster they are node-local, so
//! a run there takes a lease instead ([`crate::lock::lease`]).

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
/// The down of an index `index` of `table` whose first column is `column` (on MySQL and
/// MariaDB `drop` is `DROP INDEX ... ON table`). InnoDB lets a later index stand in for
/// the index a foreign key made for itself, dropping the key's own; `DROP INDEX` then
/// fails (error 1553). The down then drops the key, drops the index and adds the key
/// back, with `foreign_key_checks` off for that statement, as it was first made: its
/// rows are not checked again (they were all along), and InnoDB gives it its own index
/// again, which a later index replaces as the first time. Which of the two runs is read
/// from the catalog when the down runs, so the SQL is the same whatever the earlier
/// migrations did.
pub(crate) fn drop_index_keeping_foreign_key(drop: &str, index: &str, column: &str) -> String {
    let table = drop
        .rsplit(" ON ")
        .next()
        .unwrap_or_default()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches('`')
        .replace("``", "`");
    // A text inside an SQL string literal, and a name inside a quoted name inside one.
    let text = |s: &str| s.replace('\\', "\\\\").replace('\'', "''");
    let name = |s: &str| text(&s.replace('`', "``"));
    DROP_INDEX_KEEPING_FOREIGN_KEY
        .replace("{table_q}", &name(&table))
        .replace("{index_q}", &name(index))
        .replace("{table}", &text(&table))
        .replace("{index}", &text(index))
        .replace("{column}", &text(column))
        .replace("{drop}", &text(drop))
}

const DROP_INDEX_KEEPING_FOREIGN_KEY: &str = "-- the foreign key of `{table}` on `{column}` whose index this one replaced, if any
SET @shiplap_fk = (SELECT k.constraint_name FROM information_schema.key_column_usage k
  WHERE k.table_schema = DATABASE() AND k.table_name = '{table}' AND k.referenced_table_name IS NOT NULL
    AND k.ordinal_position = 1 AND k.column_name = '{column}'
    AND NOT EXISTS (SELECT 1 FROM information_schema.statistics s WHERE s.table_schema = DATABASE()
      AND s.table_name = '{table}' AND s.index_name <> '{index}' AND s.seq_in_index = 1 AND s.column_name = '{column}')
  LIMIT 1);
SET @shiplap_readd = (SELECT CONCAT('ALTER TABLE `{table_q}` DROP INDEX `{index_q}`, ADD CONSTRAINT `',
    REPLACE(r.constraint_name, '`', '``'), '` FOREIGN KEY (',
    GROUP_CONCAT(CONCAT('`', REPLACE(k.column_name, '`', '``'), '`') ORDER BY k.ordinal_position SEPARATOR ', '),
    ') REFERENCES `', REPLACE(r.referenced_table_name, '`', '``'), '` (',
    GROUP_CONCAT(CONCAT('`', REPLACE(k.referenced_column_name, '`', '``'), '`') ORDER BY k.ordinal_position SEPARATOR ', '),
    ') ON DELETE ', r.delete_rule, ' ON UPDATE ', r.update_rule)
  FROM information_schema.referential_constraints r JOIN information_schema.key_column_usage k
    ON k.constraint_schema = r.constraint_schema AND k.constraint_name = r.constraint_name AND k.table_name = r.table_name
  WHERE r.constraint_schema = DATABASE() AND r.table_name = '{table}' AND r.constraint_name = @shiplap_fk
  GROUP BY r.constraint_name, r.referenced_table_name, r.delete_rule, r.update_rule);
SET @shiplap_down = IF(@shiplap_fk IS NULL, '{drop}',
  CONCAT('ALTER TABLE `{table_q}` DROP FOREIGN KEY `', REPLACE(@shiplap_fk, '`', '``'), '`'));
PREPARE shiplap_down FROM @shiplap_down;
EXECUTE shiplap_down;
DEALLOCATE PREPARE shiplap_down;
SET @shiplap_checks = @@SESSION.foreign_key_checks, SESSION foreign_key_checks = 0;
SET @shiplap_down = COALESCE(@shiplap_readd, 'DO 0');
PREPARE shiplap_down FROM @shiplap_down;
EXECUTE shiplap_down;
DEALLOCATE PREPARE shiplap_down;
SET SESSION foreign_key_checks = @shiplap_checks";

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

/// `ON` on a node of a Galera cluster (MariaDB's `wsrep_on`); an error on MySQL.
pub(crate) const WSREP_ON: &str = "SELECT CAST(@@global.wsrep_on AS CHAR)";

/// Makes the session's reads wait until the node has applied what the cluster committed
/// before them (Galera's causality check for reads).
pub(crate) const SYNC_WAIT: &str = "SET SESSION wsrep_sync_wait = 1";

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
