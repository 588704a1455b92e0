//! Table sizes as the history records them: before and after each migration.

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

impl std::fmt::Display for TableSize {
    /// `1204 rows, 340.0 MB`; what is not known is left out (`rows unknown`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rows {
            Some(rows) => write!(f, "{rows} rows")?,
            None => f.write_str("rows unknown")?,
        }
        match self.bytes {
            Some(bytes) => write!(f, ", {}", human_bytes(bytes)),
            None => Ok(()),
        }
    }
}

/// Bytes for people: `12.3 MB`.
pub(crate) fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    #[allow(clippy::cast_precision_loss)] // a size for people to read
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// One table a migration touched, before and after it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SizeChange {
    /// The table's name.
    pub table: String,
    /// Its size before the migration; `None` when it did not exist (or is not known).
    pub before: Option<TableSize>,
    /// Its size after; `None` when it no longer exists (dropped, or renamed away).
    pub after: Option<TableSize>,
}

/// How `sizes` is stored: one line per fact, `<kind><TAB><table>[<TAB>rows<TAB>bytes]`,
/// kind `b` (the size before), `n` (no such table before), `?` (before: as the previous
/// row that touched the table left it; a run only reads sizes as it begins) or `a` (the
/// size after, read by the history write itself, in the migration's transaction).
pub(crate) mod sizes_text {
    use super::{SizeChange, TableSize};

    /// The sizes of a row's text; `?` tables have no `before` yet (see [`resolve`]).
    pub(crate) fn parse(text: &str) -> (Vec<SizeChange>, Vec<String>) {
        let mut changes: Vec<SizeChange> = Vec::new();
        let mut unresolved = Vec::new();
        for line in text.lines() {
            let mut parts = line.split('\t');
            let (Some(kind), Some(table)) = (parts.next(), parts.next()) else {
                continue;
            };
            let size = TableSize::new(
                parts.next().and_then(|r| r.parse().ok()),
                parts.next().and_then(|b| b.parse().ok()),
            );
            let at = match changes.iter().position(|c| c.table == table) {
                Some(at) => at,
                None => {
                    changes.push(SizeChange {
                        table: table.to_owned(),
                        before: None,
                        after: None,
                    });
                    changes.len() - 1
                }
            };
            match kind {
                "b" => changes[at].before = Some(size),
                "a" => changes[at].after = Some(size),
                "?" => unresolved.push(table.to_owned()),
                _ => {}
            }
        }
        (changes, unresolved)
    }

    /// A line of the text, for a size known before the run.
    pub(crate) fn before(table: &str, size: Option<TableSize>) -> String {
        let field = |v: Option<i64>| v.map_or_else(String::new, |v| v.to_string());
        match size {
            Some(size) => format!("b\t{table}\t{}\t{}\n", field(size.rows), field(size.bytes)),
            None => format!("n\t{table}\n"),
        }
    }

    /// The line of a table whose size before is the previous toucher's after.
    pub(crate) fn unknown(table: &str) -> String {
        format!("?\t{table}\n")
    }

    /// The rows' sizes, each `?` table's before taken from the last earlier row that
    /// recorded its size after.
    pub(crate) fn resolve(rows: &mut [crate::history::HistoryRow], texts: Vec<Option<String>>) {
        let mut last: std::collections::HashMap<String, TableSize> = Default::default();
        for (row, text) in rows.iter_mut().zip(texts) {
            let Some(text) = text else { continue };
            let (mut changes, unresolved) = parse(&text);
            for change in &mut changes {
                if unresolved.contains(&change.table) {
                    change.before = last.get(&change.table).copied();
                }
                match change.after {
                    Some(after) => last.insert(change.table.clone(), after),
                    None => last.remove(&change.table),
                };
            }
            row.sizes = changes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{HistoryRow, RowState};

    /// A row's sizes: those read before the run, and a table touched again later in the
    /// same run, whose size before is what the earlier migration left.
    #[test]
    fn sizes_resolve_from_the_rows_before() {
        let row = |version| HistoryRow {
            version,
            name: "m".into(),
            source_checksum: String::new(),
            sql_checksum: String::new(),
            applied_at: String::new(),
            duration_ms: 0,
            state: RowState::Applied,
            shiplap_version: String::new(),
            rows_affected: None,
            raw_checksum: None,
            sizes: Vec::new(),
            environment: None,
        };
        let mut rows = vec![row(1), row(2), row(3)];
        let texts = vec![
            Some(format!(
                "{}{}a\tusers\t10\t8192\na\tlog\t\t0",
                sizes_text::before("users", Some(TableSize::new(Some(10), Some(4096)))),
                sizes_text::before("log", None),
            )),
            None,
            Some(format!(
                "{}a\tusers\t20\t16384",
                sizes_text::unknown("users")
            )),
        ];
        sizes_text::resolve(&mut rows, texts);
        let size = |r, b| Some(TableSize::new(r, Some(b)));
        assert_eq!(
            rows[0].sizes,
            [
                SizeChange {
                    table: "users".into(),
                    before: size(Some(10), 4096),
                    after: size(Some(10), 8192),
                },
                SizeChange {
                    table: "log".into(),
                    before: None,
                    after: size(None, 0),
                },
            ]
        );
        assert!(rows[1].sizes.is_empty());
        assert_eq!(rows[2].sizes[0].before, size(Some(10), 8192));
        assert_eq!(rows[2].sizes[0].after, size(Some(20), 16384));
    }
}
