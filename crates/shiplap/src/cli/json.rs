//! The JSON documents of `--format json`, one type each, so that what each prints is
//! declared in one place (and snapshot-tested: a field is only ever added).

use std::path::Path;

use serde::Serialize;

use crate::backend::Backend;
use crate::history::HistoryRow;
use crate::inspect::DatabaseSchema;
use crate::migration::Kind;
use crate::migrator::{Done, Repaired};
use crate::migrator::{Drift, Verified};
use crate::render::{Direction, RenderedStatement};
use crate::status::{MigrationStatus, RepeatableStatus};

/// `up`, `down`, `redo`, `fresh`: what was applied or reverted, and the error that
/// stopped the run.
#[derive(Debug, Serialize)]
pub(super) struct RunDoc<'a> {
    pub(super) database: String,
    pub(super) command: &'a str,
    pub(super) migrations: &'a [Done],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
}

/// `up --dry-run`, `down --dry-run`.
#[derive(Debug, Serialize)]
pub(super) struct DryRunDoc<'a> {
    pub(super) database: String,
    pub(super) dry_run: bool,
    pub(super) sql: &'a str,
}

/// `status`.
#[derive(Debug, Serialize)]
pub(super) struct StatusDoc<'a> {
    pub(super) database: String,
    pub(super) migrations: &'a [MigrationStatus],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) repeatables: &'a [RepeatableStatus],
}

/// `validate`.
#[derive(Debug, Serialize)]
pub(super) struct ValidateDoc<'a> {
    pub(super) database: String,
    pub(super) problems: &'a [MigrationStatus],
}

/// `history`.
#[derive(Debug, Serialize)]
pub(super) struct HistoryDoc<'a> {
    pub(super) database: String,
    pub(super) history: &'a [HistoryRow],
}

/// `schema`.
#[derive(Debug, Serialize)]
pub(super) struct SchemaDoc<'a> {
    pub(super) database: String,
    pub(super) schema: &'a DatabaseSchema,
}

/// `verify`.
#[derive(Debug, Serialize)]
pub(super) struct VerifyDoc<'a> {
    pub(super) scratch_on: String,
    pub(super) migrations: &'a [Verified],
}

/// `diff`.
#[derive(Debug, Serialize)]
pub(super) struct DiffDoc<'a> {
    pub(super) database: String,
    pub(super) drift: &'a Drift,
}

/// `renumber`.
#[derive(Debug, Serialize)]
pub(super) struct RenumberDoc<'a> {
    pub(super) database: String,
    pub(super) renumbered: &'a [crate::authoring::Renumbered],
}

/// `import`.
#[derive(Debug, Serialize)]
pub(super) struct ImportDoc<'a> {
    pub(super) from: &'static str,
    pub(super) created: &'a [crate::authoring::Created],
}

/// `import-history`.
#[derive(Debug, Serialize)]
pub(super) struct ImportHistoryDoc<'a> {
    pub(super) database: String,
    pub(super) from: &'static str,
    pub(super) imported: &'a [crate::migrator::ImportedRow],
}

/// `baseline`.
#[derive(Debug, Serialize)]
pub(super) struct BaselineDoc<'a> {
    pub(super) database: String,
    pub(super) baselined: &'a [i64],
}

/// `repair`.
#[derive(Debug, Serialize)]
pub(super) struct RepairDoc<'a> {
    pub(super) database: String,
    pub(super) repaired: &'a [Repaired],
}

/// `new`.
#[derive(Debug, Serialize)]
pub(super) struct NewDoc<'a> {
    pub(super) version: i64,
    pub(super) name: &'a str,
    pub(super) file: &'a Path,
    pub(super) registered_in: &'a Path,
}

/// One migration of `sql`.
#[derive(Debug, Serialize)]
pub(super) struct SqlItem {
    pub(super) version: i64,
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) source: String,
    pub(super) transaction: bool,
    pub(super) source_checksum: &'static str,
    pub(super) direction: Direction,
    pub(super) backend: Backend,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sql_checksum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) statements: Option<Vec<RenderedStatement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) irreversible: Option<String>,
}

/// `lint`.
#[cfg(feature = "lint")]
#[derive(Debug, Serialize)]
pub(super) struct LintDoc<'a> {
    /// With `--database-url`: the database whose sizes and history the lint read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) database: Option<String>,
    pub(super) backends: &'a [Backend],
    pub(super) since: Option<i64>,
    pub(super) errors: usize,
    pub(super) warnings: usize,
    pub(super) acknowledged: usize,
    pub(super) findings: &'a [crate::lint::Finding],
}

/// A document as the command prints it: pretty, with a final newline.
pub(super) fn text(document: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{RowState, SizeChange, TableSize};
    use crate::status::State;

    /// Every document with every field present: a renamed or removed field shows in
    /// the snapshot's diff (fields are only ever added).
    #[test]
    fn documents_keep_their_fields() {
        let database = "postgres://app:***@db/shop".to_owned();
        let status = [MigrationStatus {
            version: 20250101090000,
            name: "create_users".into(),
            state: State::Modified,
            modified: vec!["source"],
            source: Some("src/m.rs:3".into()),
            applied_at: Some("2025-01-01T09:00:00.000Z".into()),
            duration_ms: Some(12),
        }];
        let history = [HistoryRow {
            version: 20250101090000,
            name: "create_users".into(),
            source_checksum: "abc".into(),
            sql_checksum: "def".into(),
            applied_at: "2025-01-01T09:00:00.000Z".into(),
            duration_ms: 12,
            state: RowState::Applied,
            shiplap_version: "0.1.0".into(),
            rows_affected: Some(3),
            raw_checksum: Some("123".into()),
            sizes: vec![SizeChange {
                table: "users".into(),
                before: Some(TableSize::new(Some(1200), Some(81920))),
                after: None,
            }],
            environment: Some("production".into()),
        }];
        let done = [Done {
            role: crate::migration::Role::Versioned,
            version: 20250101090000,
            name: "create_users",
            direction: Direction::Up,
            statements: 2,
            rows: None,
            duration_ms: 12,
        }];
        let documents = serde_json::json!({
            "run": RunDoc { database: database.clone(), command: "up", migrations: &done, error: Some("boom".into()) },
            "dry_run": DryRunDoc { database: database.clone(), dry_run: true, sql: "BEGIN;" },
            "status": StatusDoc { database: database.clone(), migrations: &status, repeatables: &[] },
            "validate": ValidateDoc { database: database.clone(), problems: &status },
            "history": HistoryDoc { database: database.clone(), history: &history },
            "baseline": BaselineDoc { database: database.clone(), baselined: &[1, 2] },
            "repair": RepairDoc { database, repaired: &[] },
            "new": NewDoc { version: 1, name: "x", file: Path::new("src/m1_x.rs"), registered_in: Path::new("src/lib.rs") },
        });
        insta::assert_snapshot!("json_documents", text(&documents));
    }
}
