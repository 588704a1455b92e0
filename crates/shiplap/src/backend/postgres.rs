//! PostgreSQL: connecting, and the SQL of its run lock and session settings.
//!
//! The run lock is a session-level advisory lock whose key comes from the history table's
//! name (advisory locks are per database); behind a pooler in transaction mode, each
//! migration's transaction takes the transaction-level lock instead ([`claim`]).

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The SQLSTATE with which a migration's claim fails when another runner took it (see
/// [`claim`]).
pub(crate) const TAKEN: &str = "SL001";

/// Sets `client_connection_check_interval` where the server has it (14 and later), so a
/// runner killed while its statement runs does not keep its session, and the lock, until
/// that statement ends.
pub(crate) const CLIENT_CHECK: &str = "SELECT set_config('client_connection_check_interval', '1s', false) \
     WHERE current_setting('server_version_num')::int >= 140000";

/// PostgreSQL's message with its SQLSTATE code, without the line of the server's C
/// source that sqlx appends to it (`None` for another backend's error).
#[cfg(feature = "postgres")]
pub(crate) fn message(error: &sqlx::Error) -> Option<String> {
    let pg = error
        .as_database_error()?
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    Some(format!(
        "error returned from database: {} (SQLSTATE {})",
        pg.message(),
        pg.code()
    ))
}

/// (Without the `postgres` feature there are no PostgreSQL errors.)
#[cfg(not(feature = "postgres"))]
pub(crate) fn message(_: &sqlx::Error) -> Option<String> {
    None
}

/// Where in the text sent a syntax error is (characters from 1), when PostgreSQL refused
/// it for one (SQLSTATE 42601).
#[cfg(feature = "postgres")]
pub(crate) fn syntax_error_position(error: &sqlx::Error) -> Option<usize> {
    let pg = error
        .as_database_error()?
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    if pg.code() != "42601" {
        return None;
    }
    match pg.position()? {
        sqlx::postgres::PgErrorPosition::Original(position) => Some(position),
        _ => None,
    }
}

/// (Without the `postgres` feature there are no PostgreSQL errors.)
#[cfg(not(feature = "postgres"))]
pub(crate) fn syntax_error_position(_: &sqlx::Error) -> Option<usize> {
    None
}

/// PostgreSQL's DETAIL and HINT, and the line of `sql` its error position points at; each
/// on a line of its own (empty for another backend's error).
#[cfg(feature = "postgres")]
pub(crate) fn details(error: &sqlx::Error, sql: &str) -> String {
    use std::fmt::Write as _;
    let Some(pg) = error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
    else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(detail) = pg.detail() {
        let _ = write!(out, "\n  detail: {}", detail.replace('\n', "\n    "));
    }
    if let Some(hint) = pg.hint() {
        let _ = write!(out, "\n  hint: {}", hint.replace('\n', "\n    "));
    }
    if let Some(sqlx::postgres::PgErrorPosition::Original(position)) = pg.position()
        && let Some((line, text)) = crate::error::line_at(sql, position)
    {
        let _ = write!(out, "\n  at line {line} of the statement: {}", text.trim());
    }
    out
}

/// (Without the `postgres` feature there are no PostgreSQL errors.)
#[cfg(not(feature = "postgres"))]
pub(crate) fn details(_: &sqlx::Error, _: &str) -> String {
    String::new()
}

/// Connects to `url`, naming the session `shiplap` unless the URL names it, so that
/// `pg_stat_activity`, and a runner waiting for the lock, can tell who it is.
#[cfg(feature = "postgres")]
pub(crate) async fn connect(url: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
    use sqlx::ConnectOptions as _;
    use std::str::FromStr as _;

    let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let options = match options.get_application_name() {
        Some(_) => options,
        None => options.application_name("shiplap"),
    };
    options.disable_statement_logging().connect().await
}

/// Puts back the session settings shiplap changes, before a connection of the
/// application's own (pooled or lent) is handed back.
pub(crate) const RESET_SESSION: &str = "SELECT set_config(name, reset_val, false) FROM pg_settings \
     WHERE name IN ('lock_timeout', 'client_connection_check_interval')";

/// A table's estimated rows and total bytes (indexes and TOAST included) as one text:
/// `name<TAB>rows<TAB>bytes`; rows empty when the table was never analyzed.
const SIZE_ROW: &str = "c.relname || chr(9) || \
     CASE WHEN c.reltuples < 0 THEN '' ELSE c.reltuples::bigint::text END || chr(9) || \
     pg_total_relation_size(c.oid)::text";

/// The tables of the schemas of the search path.
const SIZE_FROM: &str = "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = ANY (current_schemas(false))";

/// Each table's size ([`SIZE_ROW`]), one text row each; only those of `names` (an SQL
/// list of string literals) when given.
pub(crate) fn table_sizes(names: Option<&str>) -> String {
    match names {
        Some(names) => format!("SELECT {SIZE_ROW} {SIZE_FROM} AND c.relname IN ({names})"),
        None => format!("SELECT {SIZE_ROW} {SIZE_FROM}"),
    }
}

/// An expression: the sizes of those of `names` that exist, each on a line of its own
/// behind `prefix` and a tab (empty text when none does). Never fails on a missing table.
pub(crate) fn sizes_now(names: &str, prefix: &str) -> String {
    format!(
        "COALESCE((SELECT string_agg('{prefix}' || chr(9) || {SIZE_ROW}, chr(10) ORDER BY c.relname) \
         {SIZE_FROM} AND c.relname IN ({names})), '')"
    )
}

/// The indexes named `$1` that are INVALID (a `CREATE INDEX CONCURRENTLY` that failed
/// leaves its index so), schema-qualified and quoted for SQL.
pub(crate) const INVALID_INDEXES: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT i.indisvalid AND c.relname = $1 ORDER BY 1";

/// `--statement-lock-timeout` for the session.
pub(crate) fn lock_timeout(timeout: Duration) -> String {
    format!("SET lock_timeout = '{}ms'", timeout.as_millis())
}

/// The schema unqualified names resolve to (none when the search_path names none that
/// exists).
pub(crate) const CURRENT_SCHEMA: &str = "SELECT COALESCE(current_schema(), '')";

/// The advisory lock key of a history table (`schema.table` outside `public`): the first
/// 8 bytes of a SHA-256.
pub(crate) fn advisory_key(table: &str) -> i64 {
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

/// One row when the session got the lock.
pub(crate) fn try_lock(key: i64) -> String {
    format!("SELECT 1 WHERE pg_try_advisory_lock({key})")
}

/// One row while this session holds the lock.
pub(crate) fn held(key: i64) -> String {
    let (high, low) = advisory_halves(key);
    format!(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() \
         AND granted AND classid::int8 = {high} AND objid::int8 = {low} AND objsubid = 1"
    )
}

/// Releases the session's lock.
pub(crate) fn unlock(key: i64) -> String {
    format!("SELECT pg_advisory_unlock({key})")
}

/// Who holds the lock: its session's application, user, client and start.
pub(crate) fn holder(key: i64) -> String {
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

/// In transaction mode, the first statement of a transaction that changes the history
/// outside a migration: it waits for the lock, at most `timeout`, and keeps it until the
/// transaction ends.
pub(crate) fn guard(key: i64, timeout: Duration) -> String {
    format!(
        "SET LOCAL lock_timeout = '{}ms'; SELECT pg_advisory_xact_lock({key})",
        timeout.as_millis().max(1)
    )
}

/// In transaction mode, the statement that follows a migration's `BEGIN`: it waits for the
/// lock of `table` (kept until `COMMIT`) for at most `timeout` (`--lock-timeout`), fails
/// with SQLSTATE [`TAKEN`] when `taken` (an SQL condition, and what to say) holds: another
/// runner applied (`up`) or reverted the migration meanwhile, so that it runs exactly
/// once. Then it sets the migration's own `lock_timeout`
/// (`--statement-lock-timeout`, local to the transaction: on a pooled server connection a
/// session setting would reach other clients).
pub(crate) fn claim(
    table: &str,
    taken: (String, String),
    timeout: Duration,
    statement_timeout: Option<Duration>,
) -> String {
    let key = advisory_key(table);
    let after = match statement_timeout {
        Some(t) => format!("'{}ms'", t.as_millis().max(1)),
        None => "previous".to_owned(),
    };
    let (condition, message) = taken;
    let taken = format!(
        "IF {condition} THEN RAISE EXCEPTION '{}' USING ERRCODE = '{TAKEN}'; END IF; ",
        // RAISE reads `%` as a parameter's place.
        message.replace('\'', "''").replace('%', "%%")
    );
    format!(
        "DO $shiplap$ DECLARE previous text := current_setting('lock_timeout'); BEGIN \
         PERFORM set_config('lock_timeout', '{}ms', true); \
         PERFORM pg_advisory_xact_lock({key}); \
         PERFORM set_config('lock_timeout', {after}, true); \
         {taken}END $shiplap$",
        timeout.as_millis().max(1)
    )
}

#[cfg(test)]
mod tests {
    use super::{advisory_halves, advisory_key};

    #[test]
    fn lock_keys() {
        assert_eq!(
            advisory_key("shiplap_migrations"),
            advisory_key("shiplap_migrations")
        );
        assert_ne!(advisory_key("a"), advisory_key("b"));
        assert_eq!(advisory_halves(-1), (u32::MAX, u32::MAX));
        assert_eq!(advisory_halves(0x0000_0001_0000_0002), (1, 2));
    }
}
