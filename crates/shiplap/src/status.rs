//! Status: the registry compared with the history table, migration by migration.

use serde::Serialize;

use crate::history::{HistoryRow, RowState};
use crate::migration::Migration;

/// Where one migration stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// The version.
    pub version: i64,
    /// The name (from the code, or from the history row when the code has none).
    pub name: String,
    /// The state.
    pub state: State,
    /// Which checksums differ from the recorded ones (`source`, `sql`), when modified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modified: Vec<&'static str>,
    /// Where the migration is defined (none when missing from the code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When it was applied, as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// How long it took, as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

/// Where one repeatable migration stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RepeatableStatus {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: RepeatableState,
    /// Where it is defined.
    pub source: String,
    /// When it was last applied (or reverted), as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// How many times it was applied (and reverted) so far.
    pub runs: i64,
}

/// The state of one repeatable migration: applied as it is, or why the next `up` applies
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RepeatableState {
    /// Applied as its code renders now, after the versioned history as it is now.
    Applied,
    /// Never applied.
    New,
    /// Its SQL for this backend changed since its last application.
    Changed,
    /// Versioned migrations were applied or reverted since its last application.
    AfterMigrations,
    /// Reverted by `down --repeatables`.
    Reverted,
}

impl RepeatableState {
    /// The state's name as shown to people and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            RepeatableState::Applied => "applied",
            RepeatableState::New => "new",
            RepeatableState::Changed => "changed",
            RepeatableState::AfterMigrations => "after-migrations",
            RepeatableState::Reverted => "reverted",
        }
    }

    /// Why the next `up` applies it, for people (`None` when it does not).
    pub fn reason(self) -> Option<&'static str> {
        match self {
            RepeatableState::Applied => None,
            RepeatableState::New => Some("never applied"),
            RepeatableState::Changed => Some("its SQL changed"),
            RepeatableState::AfterMigrations => {
                Some("versioned migrations were applied or reverted since")
            }
            RepeatableState::Reverted => Some("reverted by `down --repeatables`"),
        }
    }
}

/// The state of one migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum State {
    /// Applied, with the checksums the code has now.
    Applied,
    /// Not applied yet, and newer than every applied one.
    Pending,
    /// Not applied yet, but older than one that is: applying it now runs it out of order.
    OutOfOrder,
    /// Applied, but the code's checksums differ from the recorded ones.
    Modified,
    /// Applied, and its code and raw SQL are unchanged, but the SQL sea-query renders for
    /// it is spelled differently now (a dependency update). `up` goes on, with a warning
    /// (refuses with `--strict-checksums`); `validate` reports it; `repair` accepts it.
    RenderingChanged,
    /// Applied, but no longer in the code.
    Missing,
    /// Started and not finished (a migration without a transaction, or on MySQL).
    Dirty,
    /// Its down started and did not finish: its objects may be partly gone.
    DirtyDown,
}

impl State {
    /// The state's name as shown to people and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::OutOfOrder => "out-of-order",
            State::Modified => "modified",
            State::RenderingChanged => "rendering-changed",
            State::Missing => "missing",
            State::Dirty => "dirty",
            State::DirtyDown => "dirty-down",
        }
    }
}

/// Compares `expected` (each registered migration with the SQL checksum it renders now,
/// empty for a data migration, and the checksum of its raw SQL steps alone, `None` for a
/// data migration) with the history `rows`. Sorted by version.
pub(crate) fn diff<S: AsRef<str>>(
    expected: &[(&'static Migration, S, Option<S>)],
    rows: &[HistoryRow],
) -> Vec<MigrationStatus> {
    let newest_applied = rows.iter().map(|r| r.version).max();
    let mut expected: Vec<_> = expected
        .iter()
        .map(|(m, sql, raw)| (*m, (sql.as_ref(), raw.as_ref().map(AsRef::as_ref))))
        .collect();
    expected.sort_by_key(|(m, _)| m.version());
    let mut rows: Vec<&HistoryRow> = rows.iter().collect();
    rows.sort_by_key(|row| row.version);
    // Both sorted by version (already, from the registry and the query): one merge.
    let mut out = Vec::with_capacity(expected.len().max(rows.len()));
    let (mut e, mut r) = (expected.into_iter().peekable(), rows.into_iter().peekable());
    loop {
        out.push(match (e.peek().copied(), r.peek().copied()) {
            (None, None) => break,
            (Some((m, sums)), Some(row)) if m.version() == row.version => {
                e.next();
                r.next();
                applied(m, sums, row)
            }
            (Some((m, _)), Some(row)) if m.version() > row.version => {
                r.next();
                not_in_code(row)
            }
            (Some((m, _)), _) => {
                e.next();
                not_applied(m, newest_applied)
            }
            (None, Some(row)) => {
                r.next();
                not_in_code(row)
            }
        });
    }
    out
}

/// The raw checksum of a migration without raw SQL steps (SHA-256 of nothing).
const NO_RAW_SQL: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A migration in the code with its history row.
fn applied(
    m: &'static Migration,
    (sql, raw): (&str, Option<&str>),
    row: &HistoryRow,
) -> MigrationStatus {
    let mut modified = Vec::new();
    let source_same = m.source_checksum() == row.source_checksum;
    if !source_same {
        modified.push("source");
    }
    if sql != row.sql_checksum {
        modified.push("sql");
    }
    // Only what sea-query renders changed: the source is the same, and so is the raw SQL
    // (recorded since layout 3; before, known only for a migration without raw SQL).
    let raw_same = match (raw, row.raw_checksum.as_deref()) {
        (Some(now), Some(then)) => now == then,
        (Some(now), None) => now == NO_RAW_SQL,
        (None, _) => false,
    };
    let state = match (row.state, modified.as_slice()) {
        (RowState::Dirty, _) => State::Dirty,
        (RowState::Reverting, _) => State::DirtyDown,
        (RowState::Applied, []) => State::Applied,
        (RowState::Applied, ["sql"]) if source_same && raw_same => State::RenderingChanged,
        (RowState::Applied, _) => State::Modified,
    };
    recorded(row, m.name().to_owned(), Some(m), state, modified)
}

/// A history row with no migration in the code.
fn not_in_code(row: &HistoryRow) -> MigrationStatus {
    let state = match row.state {
        RowState::Dirty => State::Dirty,
        RowState::Reverting => State::DirtyDown,
        RowState::Applied => State::Missing,
    };
    recorded(row, row.name.clone(), None, state, Vec::new())
}

/// A migration in the code with no history row.
fn not_applied(m: &'static Migration, newest_applied: Option<i64>) -> MigrationStatus {
    MigrationStatus {
        version: m.version(),
        name: m.name().to_owned(),
        state: match newest_applied {
            Some(newest) if m.version() < newest => State::OutOfOrder,
            _ => State::Pending,
        },
        modified: Vec::new(),
        source: Some(m.location().to_string()),
        applied_at: None,
        duration_ms: None,
    }
}

fn recorded(
    row: &HistoryRow,
    name: String,
    migration: Option<&Migration>,
    state: State,
    modified: Vec<&'static str>,
) -> MigrationStatus {
    MigrationStatus {
        version: row.version,
        name,
        state,
        modified,
        source: migration.map(|m| m.location().to_string()),
        applied_at: Some(row.applied_at.clone()),
        duration_ms: Some(row.duration_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::testing::schema_migration;

    fn row(version: i64, sql: &str, state: RowState) -> HistoryRow {
        HistoryRow {
            version,
            name: format!("m{version}"),
            source_checksum: "0000".into(),
            sql_checksum: sql.into(),
            applied_at: "2025-01-01T00:00:00.000Z".into(),
            duration_ms: 5,
            state,
            shiplap_version: "0.1.0".into(),
            rows_affected: None,
            raw_checksum: Some(NO_RAW_SQL.into()),
            sizes: Vec::new(),
            environment: None,
        }
    }

    #[test]
    fn every_state() {
        let expected: Vec<_> = [1, 2, 3, 4, 6, 7, 8, 9]
            .into_iter()
            .map(|v| {
                let raw = if v == 9 { "raw now" } else { NO_RAW_SQL };
                (
                    schema_migration(v, "m", 1, |_| {}),
                    format!("sql{v}"),
                    Some(raw.to_owned()),
                )
            })
            .collect();
        let rows = [
            row(1, "sql1", RowState::Applied),
            HistoryRow {
                raw_checksum: Some("raw then".into()),
                ..row(2, "changed", RowState::Applied)
            },
            // Recorded before layout 3 (no raw checksum), for a migration without raw SQL.
            HistoryRow {
                raw_checksum: None,
                ..row(8, "sea-query spelled it otherwise", RowState::Applied)
            },
            HistoryRow {
                raw_checksum: Some("raw then".into()),
                ..row(9, "sql9 once", RowState::Applied)
            },
            row(3, "sql3", RowState::Dirty),
            row(5, "sql5", RowState::Applied),
            row(6, "sql6", RowState::Applied),
        ];
        let states: Vec<_> = diff(&expected, &rows)
            .into_iter()
            .map(|s| (s.version, s.state, s.modified))
            .collect();
        let mut shuffled = (expected.clone(), rows.to_vec());
        shuffled.0.reverse();
        shuffled.1.swap(0, 3);
        assert_eq!(diff(&shuffled.0, &shuffled.1), diff(&expected, &rows));
        assert_eq!(
            states,
            [
                (1, State::Applied, vec![]),
                (2, State::Modified, vec!["sql"]),
                (3, State::Dirty, vec![]),
                (4, State::OutOfOrder, vec![]),
                (5, State::Missing, vec![]),
                (6, State::Applied, vec![]),
                (7, State::OutOfOrder, vec![]),
                (8, State::RenderingChanged, vec!["sql"]),
                (9, State::Modified, vec!["sql"]),
            ]
        );
    }

    #[test]
    fn empty_history_is_all_pending() {
        let expected = [(schema_migration(1, "m", 1, |_| {}), String::new(), None)];
        let status = diff(&expected, &[]);
        assert_eq!(status[0].state, State::Pending);
        assert_eq!(status[0].applied_at, None);
    }
}
