//! The history table's own layout: which one a table has (its columns, and the row that
//! records it), and the steps from an older one to this build's.

use sea_query::{Alias, ColumnDef, Table};

use super::{COLUMNS, HistoryRow, HistoryTable, RowState};
use crate::backend::Backend;
use crate::clock::now_rfc3339;

/// The layout of the history table this build writes. Each layout adds to the one before:
/// 1, the first (eight columns); 2, `rows_affected` (and the `<table>_backfill` table of
/// backfill positions, created with `IF NOT EXISTS` by every run); 3, `raw_checksum`;
/// 4, `sizes`; 5, `environment` (and the `<table>_runs` table of repeatable migrations'
/// applications, created when the first one is applied).
///
/// The layout is recorded in a row of the table itself, version [`LAYOUT_ROW`] (a
/// migration's version is positive), so that reading it costs nothing more; a build finding
/// a newer layout refuses the table rather than misread it.
pub(crate) const LAYOUT: i64 = 5;

/// The version of the row recording the layout.
pub(crate) const LAYOUT_ROW: i64 = 0;

/// The state of the row recording the layout.
const LAYOUT_STATE: &str = "layout";

/// The recorded layout of a history table, and the shiplap version that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) layout: i64,
    pub(crate) written_by: String,
}

impl Layout {
    /// Takes the layout row out of `rows` (all of a table's rows, by version).
    pub(crate) fn take(rows: &mut Vec<HistoryRow>) -> Option<Layout> {
        if rows.first()?.version != LAYOUT_ROW {
            return None;
        }
        let row = rows.remove(0);
        Some(Layout {
            layout: row.duration_ms,
            written_by: row.shiplap_version,
        })
    }
}

/// What a history table's columns say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// There is no such table.
    Missing,
    /// The columns of this layout.
    Layout(i64),
    /// Columns of no layout shiplap knows: not read, ever.
    Unknown(Vec<String>),
}

impl Shape {
    /// The shape of a table with these columns (none: no table).
    pub(crate) fn of(mut columns: Vec<String>) -> Shape {
        if columns.is_empty() {
            return Shape::Missing;
        }
        columns.sort();
        for layout in (1..=LAYOUT).rev() {
            let mut expected: Vec<&str> = columns_of(layout).to_vec();
            expected.sort_unstable();
            if columns == expected {
                return Shape::Layout(layout);
            }
        }
        Shape::Unknown(columns)
    }
}

/// The columns of a layout.
fn columns_of(layout: i64) -> &'static [&'static str] {
    match layout {
        1 => &COLUMNS[..8],
        2 => &COLUMNS[..9],
        3 => &COLUMNS[..10],
        4 => &COLUMNS[..11],
        _ => &COLUMNS,
    }
}

impl HistoryTable {
    /// The same table, as it is in an older `layout` (read as it is, never written).
    pub(crate) fn in_layout(&self, layout: i64) -> Self {
        HistoryTable {
            layout,
            ..self.clone()
        }
    }

    /// A query of the table's column names, with its name bound as the one parameter:
    /// no rows when it does not exist. It finds the table an unqualified name finds.
    pub(crate) fn columns_query(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "SELECT name FROM pragma_table_info(?1)",
            Backend::Postgres => {
                "SELECT CAST(attname AS text) FROM pg_catalog.pg_attribute \
                 WHERE attrelid = to_regclass(quote_ident($1)) AND attnum > 0 AND NOT attisdropped"
            }
            Backend::MySql => {
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ?"
            }
        }
    }

    /// The statements that bring the table from `layout` to [`LAYOUT`], in order.
    pub(crate) fn upgrade(&self, layout: i64) -> Vec<String> {
        // Each layout's new column, by the layout that added it.
        let added = [
            (
                2,
                ColumnDef::new(Alias::new("rows_affected"))
                    .big_integer()
                    .to_owned(),
            ),
            (
                3,
                ColumnDef::new(Alias::new("raw_checksum"))
                    .string_len(64)
                    .to_owned(),
            ),
            (4, ColumnDef::new(Alias::new("sizes")).text().to_owned()),
            (
                5,
                ColumnDef::new(Alias::new("environment"))
                    .string_len(64)
                    .to_owned(),
            ),
        ];
        let mut steps: Vec<String> = added
            .into_iter()
            .filter(|(added_in, _)| layout < *added_in)
            .map(|(_, column)| {
                self.schema_sql(Table::alter().table(self.name()).add_column(column))
            })
            .collect();
        steps.push(self.delete(LAYOUT_ROW));
        steps.push(self.layout_insert());
        steps
    }

    /// Records [`LAYOUT`] in the layout row (after `create`, or an upgrade's delete).
    pub(crate) fn layout_insert(&self) -> String {
        self.insert(&HistoryRow {
            version: LAYOUT_ROW,
            name: "(shiplap history table layout)".to_owned(),
            source_checksum: String::new(),
            sql_checksum: String::new(),
            applied_at: now_rfc3339(),
            duration_ms: LAYOUT,
            state: RowState::Applied,
            shiplap_version: env!("CARGO_PKG_VERSION").to_owned(),
            rows_affected: None,
            raw_checksum: None,
            sizes: Vec::new(),
            environment: None,
        })
        .replacen("'applied'", &format!("'{LAYOUT_STATE}'"), 1)
    }

    /// The select list of [`COLUMNS`] for this table's layout: what it lacks, as NULL.
    pub(super) fn select_list(&self, quote: impl Fn(&str) -> String) -> Vec<String> {
        let present = columns_of(self.layout);
        COLUMNS
            .iter()
            .map(|c| {
                if present.contains(c) {
                    quote(c)
                } else {
                    let text = matches!(*c, "raw_checksum" | "sizes" | "environment");
                    match (self.backend, text) {
                        (Backend::MySql, false) => "CAST(NULL AS SIGNED)",
                        (Backend::MySql, true) => "CAST(NULL AS CHAR(64))",
                        (_, false) => "CAST(NULL AS BIGINT)",
                        (_, true) => "CAST(NULL AS TEXT)",
                    }
                    .to_owned()
                }
            })
            .collect()
    }
}
