//! Where repeatable migrations record each application: the `<history>_runs` table
//! (created when the first one is applied), one row per application.

use sea_query::{Alias, ColumnDef, Index, Query, Table};
use serde::Serialize;

use super::{HistoryRow, HistoryTable};
use crate::backend::Backend;

/// One application of a repeatable migration (or a seed), as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RunRow {
    /// `repeatable`.
    pub kind: String,
    /// The repeatable migration's name.
    pub name: String,
    /// Its applications, counted from 1: this is the `run`-th.
    pub run: i64,
    /// The SQL checksum (this backend's) of what was applied.
    pub checksum: String,
    /// `applied`, or `reverted` (by `down --repeatables`).
    pub state: String,
    /// The versioned history as this application found it (how many rows, the newest
    /// version, the latest time applied): a repeatable migration is applied again when the
    /// history no longer has this mark.
    pub history_mark: String,
    /// When (UTC, RFC 3339).
    pub applied_at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The shiplap version that applied it.
    pub shiplap_version: String,
    /// The environment it was applied in, if one was selected.
    pub environment: Option<String>,
}

/// The columns of the runs table, in the order read and written.
const RUN_COLUMNS: [&str; 10] = [
    "kind",
    "name",
    "run",
    "checksum",
    "state",
    "history_mark",
    "applied_at",
    "duration_ms",
    "shiplap_version",
    "environment",
];

impl HistoryTable {
    /// The name of the runs table: `<history>_runs`.
    pub(crate) fn runs_table(&self) -> String {
        format!("{}_runs", self.table)
    }

    /// `CREATE TABLE IF NOT EXISTS` of the runs table.
    pub(crate) fn runs_create(&self) -> String {
        let text = |name: &str, len: u32| {
            ColumnDef::new(Alias::new(name))
                .string_len(len)
                .not_null()
                .to_owned()
        };
        let number = |name: &str| {
            ColumnDef::new(Alias::new(name))
                .big_integer()
                .not_null()
                .to_owned()
        };
        self.schema_sql(
            Table::create()
                .table(Alias::new(self.runs_table()))
                .if_not_exists()
                .col(text("kind", 16))
                .col(text("name", 255))
                .col(number("run"))
                .col(text("checksum", 64))
                .col(text("state", 16))
                .col(text("history_mark", 255))
                .col(text("applied_at", 35))
                .col(number("duration_ms"))
                .col(text("shiplap_version", 32))
                .col(ColumnDef::new(Alias::new("environment")).string_len(64))
                .primary_key(
                    Index::create()
                        .col(Alias::new("kind"))
                        .col(Alias::new("name"))
                        .col(Alias::new("run")),
                ),
        )
    }

    /// The latest row of each name of `kind`, every column cast to text (for
    /// [`Connection::rows`](crate::backend::connection::Connection::rows)).
    pub(crate) fn runs_latest(&self, kind: &str) -> String {
        let q = |c: &str| self.backend.quote_name(c);
        let as_text = |c: &str| match self.backend {
            Backend::MySql => format!("CAST(r.{} AS CHAR)", q(c)),
            _ => format!("CAST(r.{} AS TEXT)", q(c)),
        };
        let columns: Vec<String> = RUN_COLUMNS
            .iter()
            .map(|c| match *c {
                "run" | "duration_ms" => as_text(c),
                _ => format!("r.{}", q(c)),
            })
            .collect();
        let table = q(&self.runs_table());
        format!(
            "SELECT {} FROM {table} r WHERE r.{kind_col} = '{kind}' AND r.{run} = \
             (SELECT max(l.{run}) FROM {table} l WHERE l.{kind_col} = r.{kind_col} \
             AND l.{name} = r.{name}) ORDER BY r.{name}",
            columns.join(", "),
            kind_col = q("kind"),
            run = q("run"),
            name = q("name"),
        )
    }

    /// Records one application.
    pub(crate) fn runs_insert(&self, row: &RunRow) -> String {
        self.query_sql(
            Query::insert()
                .into_table(Alias::new(self.runs_table()))
                .columns(RUN_COLUMNS.map(Alias::new))
                .values_panic([
                    row.kind.clone().into(),
                    row.name.clone().into(),
                    row.run.into(),
                    row.checksum.clone().into(),
                    row.state.clone().into(),
                    row.history_mark.clone().into(),
                    row.applied_at.clone().into(),
                    row.duration_ms.into(),
                    row.shiplap_version.clone().into(),
                    row.environment.clone().into(),
                ]),
        )
    }
}

impl RunRow {
    /// A row of [`HistoryTable::runs_latest`]'s answer; `None` when it is not one.
    pub(crate) fn from_texts(texts: Vec<Option<String>>) -> Option<RunRow> {
        let mut it = texts.into_iter();
        let mut next = || it.next();
        Some(RunRow {
            kind: next()??,
            name: next()??,
            run: next()??.trim().parse().ok()?,
            checksum: next()??,
            state: next()??,
            history_mark: next()??,
            applied_at: next()??,
            duration_ms: next()??.trim().parse().ok()?,
            shiplap_version: next()??,
            environment: next()?,
        })
    }
}

/// What a repeatable migration's application records of the versioned history it came
/// after: the rows (dirty ones too), the newest version, and the latest time of
/// application. A migration applied or reverted since changes it.
pub(crate) fn history_mark(rows: &[HistoryRow]) -> String {
    let newest = rows.iter().map(|r| r.version).max().unwrap_or(0);
    let latest = rows
        .iter()
        .map(|r| r.applied_at.as_str())
        .max()
        .unwrap_or("");
    format!("{}:{newest}:{latest}", rows.len())
}
