//! The live database's table sizes, beside each finding: the same `CREATE INDEX` is an
//! error on a table of 50 million rows and harmless on one of 200.

use std::collections::HashMap;

pub use crate::history::TableSize;

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

#[cfg(test)]
mod tests {
    use super::{SizeLimits, TableSize};

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
