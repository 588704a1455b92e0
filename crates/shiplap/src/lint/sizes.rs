//! The live database's table sizes, beside each finding: the same `CREATE INDEX` is an
//! error on a table of 50 million rows and harmless on one of 200.

use std::collections::HashMap;

use serde::Serialize;

/// A table's size as the database estimates it (PostgreSQL's statistics, MySQL's
/// `information_schema`, SQLite's largest rowid): cheap to read, roughly right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableSize {
    /// Rows (`None`: not known, e.g. a PostgreSQL table never analyzed).
    pub rows: Option<i64>,
    /// Bytes, indexes included (`None`: not known).
    pub bytes: Option<i64>,
}

impl TableSize {
    /// A size from its parts.
    pub fn new(rows: Option<i64>, bytes: Option<i64>) -> Self {
        TableSize { rows, bytes }
    }
}

/// Table name (unquoted, without schema) → size.
pub type TableSizes = HashMap<String, TableSize>;

/// Below both limits a table is small: what locks or rewrites it is over at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SizeLimits {
    /// Fewer rows than this is small (default 10,000).
    pub small_rows: i64,
    /// Fewer bytes than this is small, when the rows are not known (default 64 MiB).
    pub small_bytes: i64,
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits {
            small_rows: 10_000,
            small_bytes: 64 * 1024 * 1024,
        }
    }
}

impl SizeLimits {
    /// Limits from `shiplap.toml`'s `[lint]` (each one optional).
    pub fn new(small_rows: Option<i64>, small_bytes: Option<i64>) -> Self {
        let default = SizeLimits::default();
        SizeLimits {
            small_rows: small_rows.unwrap_or(default.small_rows),
            small_bytes: small_bytes.unwrap_or(default.small_bytes),
        }
    }

    /// Whether a table of this size is small.
    pub fn small(&self, size: TableSize) -> bool {
        match (size.rows, size.bytes) {
            (Some(rows), _) => rows < self.small_rows,
            (None, Some(bytes)) => bytes < self.small_bytes,
            (None, None) => false,
        }
    }
}

/// Rules whose harm grows with the table: a lock held or a rewrite lasting as long as
/// the table is big. (Losing data or breaking the running release does not depend on
/// size.)
pub(super) const SIZE_DEPENDENT: &[&str] = &[
    "pg_index_not_concurrent",
    "pg_constraint_not_valid",
    "pg_set_not_null",
    "pg_add_unique_constraint",
    "pg_volatile_default",
    "pg_type_change_rewrite",
    "pg_reindex_not_concurrent",
    "pg_refresh_not_concurrent",
    "pg_vacuum_full",
    "pg_cluster",
    "mysql_table_copy",
    "mysql_locking_ddl",
    "mysql_foreign_key",
];

/// The table a statement works on, read from its text: the one it indexes, alters,
/// drops, updates, deletes from, inserts into, truncates, locks, vacuums, clusters,
/// reindexes or refreshes.
pub(super) fn table_of(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
    let skip = |mut i: usize, optional: &[&str]| {
        while upper.get(i).is_some_and(|u| optional.contains(&u.as_str())) {
            i += 1;
        }
        i
    };
    let at = if is(0, "CREATE") {
        // CREATE [UNIQUE] INDEX ... ON [ONLY] table
        let on = upper.iter().position(|u| u == "ON")?;
        skip(on + 1, &["ONLY"])
    } else if is(0, "ALTER") && is(1, "TABLE") {
        skip(2, &["IF", "EXISTS", "ONLY"])
    } else if is(0, "DROP") && is(1, "TABLE") {
        skip(2, &["IF", "EXISTS"])
    } else if is(0, "UPDATE") {
        skip(1, &["ONLY", "LOW_PRIORITY", "IGNORE"])
    } else if is(0, "DELETE") || is(0, "INSERT") {
        upper.iter().position(|u| u == "FROM" || u == "INTO")? + 1
    } else if is(0, "TRUNCATE") || is(0, "LOCK") {
        skip(1, &["TABLE", "TABLES", "ONLY"])
    } else if is(0, "VACUUM") {
        let mut i = skip(1, &["FULL", "FREEZE", "VERBOSE", "ANALYZE"]);
        // VACUUM (FULL, ANALYZE) table
        while words
            .get(i)
            .is_some_and(|w| !w.ends_with(')') && w.starts_with('('))
            || words.get(i).is_some_and(|w| w.ends_with(')'))
        {
            i += 1;
        }
        i
    } else if is(0, "CLUSTER") {
        skip(1, &["VERBOSE"])
    } else if is(0, "REINDEX") && is(1, "TABLE") {
        skip(2, &["CONCURRENTLY"])
    } else if is(0, "REFRESH") {
        skip(3, &["CONCURRENTLY"])
    } else {
        return None;
    };
    let name = words.get(at)?;
    let name = name.split(['(', ';', ',']).next()?;
    let last = name.rsplit('.').next()?;
    let unquoted = last.trim_matches(|c| c == '"' || c == '`');
    (!unquoted.is_empty()).then(|| unquoted.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{SizeLimits, TableSize, table_of};

    #[test]
    fn the_table_of_each_kind_of_statement() {
        for (sql, table) in [
            (r#"CREATE INDEX "i" ON "public"."users" ("email")"#, "users"),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY t (a)",
                "t",
            ),
            (
                "ALTER TABLE IF EXISTS ONLY orders ADD COLUMN x int",
                "orders",
            ),
            ("ALTER TABLE `items` ADD INDEX (a)", "items"),
            ("DROP TABLE IF EXISTS old", "old"),
            ("UPDATE users SET a = 1", "users"),
            ("DELETE FROM sessions WHERE x", "sessions"),
            ("INSERT INTO log(a) VALUES (1)", "log"),
            ("TRUNCATE TABLE notes", "notes"),
            ("LOCK TABLE accounts IN SHARE MODE", "accounts"),
            ("VACUUM FULL events", "events"),
            ("VACUUM (FULL, ANALYZE) events", "events"),
            ("CLUSTER users USING users_pkey", "users"),
            ("REINDEX TABLE CONCURRENTLY users", "users"),
            ("REFRESH MATERIALIZED VIEW CONCURRENTLY sizes", "sizes"),
        ] {
            assert_eq!(table_of(sql).as_deref(), Some(table), "{sql}");
        }
        assert_eq!(table_of("SET lock_timeout = '5s'"), None);
    }

    #[test]
    fn small_is_below_the_rows_or_else_the_bytes() {
        let limits = SizeLimits::default();
        assert!(limits.small(TableSize::new(Some(200), None)));
        assert!(!limits.small(TableSize::new(Some(50_000_000), Some(1))));
        assert!(limits.small(TableSize::new(None, Some(8192))));
        assert!(
            !limits.small(TableSize::new(None, None)),
            "unknown is not small"
        );
    }
}
