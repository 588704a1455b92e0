//! The history table: one row per applied (or dirty) migration, and the SQL that reads
//! and writes it on each backend.

use sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, Index, Query, QueryStatementWriter, SchemaStatementBuilder,
    Table,
};
use serde::Serialize;

use crate::backend::Backend;
use crate::statement::{query_sql, schema_sql};

mod backfill_positions;
mod layout;
mod read;
mod runs;
mod script_clock;
mod sizes;

pub(crate) use layout::{LAYOUT, Layout, Shape};
pub use runs::RunRow;
pub(crate) use runs::history_mark;
pub(crate) use script_clock::{SQLITE_CLOCK, began, elapsed_ms};
#[cfg(feature = "lint")]
pub(crate) use sizes::human_bytes;
pub(crate) use sizes::sizes_text;
pub use sizes::{SizeChange, TableSize};

/// The default name of the history table.
pub const DEFAULT_TABLE: &str = "shiplap_migrations";

/// One row of the history table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HistoryRow {
    /// The migration's version (the primary key).
    pub version: i64,
    /// Its name when it was applied.
    pub name: String,
    /// The source checksum when it was applied.
    pub source_checksum: String,
    /// The SQL checksum for this backend when it was applied (empty for a data migration).
    pub sql_checksum: String,
    /// When it was applied (UTC, RFC 3339).
    pub applied_at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// `applied`, or `dirty` while (or because) a migration without a transaction ran.
    pub state: RowState,
    /// The shiplap version that applied it.
    pub shiplap_version: String,
    /// Rows a data migration reported affected (none for a schema migration).
    pub rows_affected: Option<i64>,
    /// The checksum of the raw SQL steps alone when it was applied (none for a data
    /// migration, or a row written before layout 3).
    pub raw_checksum: Option<String>,
    /// The tables its statements named, with their sizes before and after it ran
    /// (PostgreSQL and MySQL; empty for a data migration, on SQLite, or before layout 4).
    pub sizes: Vec<SizeChange>,
    /// The environment it was applied in (`--env`, `SHIPLAP_ENV`); none when no
    /// environment was selected, or for a row written before layout 5.
    pub environment: Option<String>,
}

/// The state recorded in a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RowState {
    /// Applied completely.
    Applied,
    /// Started and not finished: its statements ran outside a transaction, and shiplap
    /// did not see them all succeed.
    Dirty,
    /// Its down started and did not finish (outside a transaction, or on MySQL): its
    /// objects may be partly gone.
    #[serde(rename = "dirty-down")]
    Reverting,
}

impl RowState {
    /// `applied` or `dirty`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Applied => "applied",
            RowState::Dirty => "dirty",
            RowState::Reverting => "dirty-down",
        }
    }

    pub(crate) fn parse(text: &str) -> RowState {
        match text {
            "applied" => RowState::Applied,
            "dirty-down" => RowState::Reverting,
            _ => RowState::Dirty,
        }
    }
}

/// The SQL of the history table named `table` on `backend`.
#[derive(Debug, Clone)]
pub(crate) struct HistoryTable {
    pub(crate) table: String,
    pub(crate) backend: Backend,
    /// The layout the table has (the reads of an older one fill in what it lacks).
    layout: i64,
}

const COLUMNS: [&str; 12] = [
    "version",
    "name",
    "source_checksum",
    "sql_checksum",
    "applied_at",
    "duration_ms",
    "state",
    "shiplap_version",
    "rows_affected",
    "raw_checksum",
    "sizes",
    "environment",
];

impl HistoryTable {
    pub(crate) fn new(table: &str, backend: Backend) -> Self {
        HistoryTable {
            table: table.to_owned(),
            backend,
            layout: LAYOUT,
        }
    }

    /// The table's name quoted for this backend's SQL.
    pub(crate) fn quoted(&self) -> String {
        self.backend.quote_name(&self.table)
    }

    fn name(&self) -> Alias {
        Alias::new(self.table.as_str())
    }

    fn schema_sql(&self, statement: &impl SchemaStatementBuilder) -> String {
        schema_sql(statement, self.backend)
    }

    fn query_sql(&self, statement: &impl QueryStatementWriter) -> String {
        query_sql(statement, self.backend)
    }

    /// `CREATE TABLE IF NOT EXISTS`.
    pub(crate) fn create(&self) -> String {
        self.schema_sql(
            Table::create()
                .table(self.name())
                .if_not_exists()
                .col(
                    ColumnDef::new(Alias::new("version"))
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Alias::new("name"))
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("source_checksum"))
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("sql_checksum"))
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("applied_at"))
                        .string_len(35)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("duration_ms"))
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("state"))
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("shiplap_version"))
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(Alias::new("rows_affected")).big_integer())
                .col(ColumnDef::new(Alias::new("raw_checksum")).string_len(64))
                .col(ColumnDef::new(Alias::new("sizes")).text())
                .col(ColumnDef::new(Alias::new("environment")).string_len(64)),
        ) + ";\n"
            + &self.schema_sql(
                Table::create()
                    .table(self.backfill_name())
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Alias::new("version"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("label"))
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("last_key")).big_integer())
                    .col(
                        ColumnDef::new(Alias::new("rows_done"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("finished"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("updated_at"))
                            .string_len(35)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(Alias::new("version"))
                            .col(Alias::new("label")),
                    ),
            )
    }

    /// Every row, by version.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn select_all(&self) -> String {
        let quote = |c: &str| match self.backend {
            Backend::MySql => format!("`{c}`"),
            _ => format!("\"{c}\""),
        };
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.select_list(quote).join(", "),
            self.quoted(),
            quote("version")
        )
    }

    /// Every row as one JSON array of arrays (SQLite): what
    /// [`select_all_by_column`](Self::select_all_by_column) falls back to.
    #[cfg_attr(not(feature = "_sqlite"), allow(dead_code))] // SQLite's reader
    pub(crate) fn select_all_as_json(&self) -> String {
        let columns = self.select_list(sqlite_quoted);
        format!(
            "SELECT json_group_array(json_array({})) FROM (SELECT * FROM {} ORDER BY \"version\")",
            columns.join(", "),
            sqlite_quoted(&self.table)
        )
    }

    /// Every row in one row (SQLite): the number of rows, then each column's values
    /// joined by [`SEPARATOR`], in the same row order; see [`rows_from_columns`].
    ///
    /// A thousand rows handed over one by one from SQLite's worker thread, or built into
    /// JSON, are most of the time a no-op `up` or `status` takes with many migrations;
    /// nine texts are not.
    #[cfg_attr(not(feature = "_sqlite"), allow(dead_code))] // SQLite's reader
    pub(crate) fn select_all_by_column(&self) -> String {
        let separator = u32::from(SEPARATOR);
        let columns: Vec<String> = self
            .select_list(sqlite_quoted)
            .iter()
            .map(|c| format!("group_concat(ifnull({c}, ''), char({separator}))"))
            .collect();
        format!(
            "SELECT count(*), {} FROM {}",
            columns.join(", "),
            sqlite_quoted(&self.table)
        )
    }

    /// Inserts a row.
    pub(crate) fn insert(&self, row: &HistoryRow) -> String {
        self.insert_sized(row, None)
    }

    /// Inserts a row, its `sizes` computed by the SQL expression `sizes` (see
    /// [`sizes_text`]), which reads the sizes as the insert runs.
    pub(crate) fn insert_sized(&self, row: &HistoryRow, sizes: Option<&str>) -> String {
        self.insert_with_times(
            row,
            row.applied_at.clone().into(),
            row.duration_ms.into(),
            sizes,
        )
    }

    fn insert_with_times(
        &self,
        row: &HistoryRow,
        applied_at: Expr,
        duration_ms: Expr,
        sizes: Option<&str>,
    ) -> String {
        self.query_sql(
            Query::insert()
                .into_table(self.name())
                .columns(COLUMNS.map(Alias::new))
                .values_panic([
                    row.version.into(),
                    row.name.clone().into(),
                    row.source_checksum.clone().into(),
                    row.sql_checksum.clone().into(),
                    applied_at,
                    duration_ms,
                    row.state.as_str().into(),
                    row.shiplap_version.clone().into(),
                    row.rows_affected.into(),
                    row.raw_checksum.clone().into(),
                    sizes.map_or_else(
                        || Option::<String>::None.into(),
                        |s| Expr::cust(s.to_owned()),
                    ),
                    row.environment.clone().into(),
                ]),
        )
    }

    /// Marks a dirty row applied, with the checksums of the code that finished it, its
    /// duration and rows affected (as in `row`), and its sizes (as in
    /// [`insert_sized`](Self::insert_sized)).
    pub(crate) fn mark_applied(&self, row: &HistoryRow, sizes: Option<&str>) -> String {
        let mut update = Query::update();
        if let Some(sizes) = sizes {
            update.value(Alias::new("sizes"), Expr::cust(sizes.to_owned()));
        }
        self.query_sql(
            update
                .table(self.name())
                .value(Alias::new("state"), RowState::Applied.as_str())
                // The code that finished it: a data migration fixed and resumed.
                .value(Alias::new("source_checksum"), row.source_checksum.as_str())
                .value(Alias::new("sql_checksum"), row.sql_checksum.as_str())
                .value(Alias::new("raw_checksum"), row.raw_checksum.as_deref())
                .value(Alias::new("duration_ms"), row.duration_ms)
                .value(Alias::new("rows_affected"), row.rows_affected)
                .and_where(Expr::col(Alias::new("version")).eq(row.version)),
        )
    }

    /// Marks a row as being reverted (before a down that runs outside a transaction).
    pub(crate) fn mark_reverting(&self, version: i64) -> String {
        self.query_sql(
            Query::update()
                .table(self.name())
                .value(Alias::new("state"), RowState::Reverting.as_str())
                .and_where(Expr::col(Alias::new("version")).eq(version)),
        )
    }

    /// Records new checksums for a row, and marks it applied (`repair`).
    pub(crate) fn update_checksums(
        &self,
        version: i64,
        source: &str,
        sql: &str,
        raw: Option<&str>,
    ) -> String {
        self.query_sql(
            Query::update()
                .table(self.name())
                .value(Alias::new("state"), RowState::Applied.as_str())
                .value(Alias::new("source_checksum"), source)
                .value(Alias::new("sql_checksum"), sql)
                .value(Alias::new("raw_checksum"), raw)
                .and_where(Expr::col(Alias::new("version")).eq(version)),
        )
    }

    /// Deletes one version's row.
    pub(crate) fn delete(&self, version: i64) -> String {
        self.query_sql(
            Query::delete()
                .from_table(self.name())
                .and_where(Expr::col(Alias::new("version")).eq(version)),
        )
    }
}

/// An SQLite identifier, quoted.
fn sqlite_quoted(name: &str) -> String {
    Backend::Sqlite.quote_name(name)
}

/// What [`HistoryTable::select_all_by_column`] joins a column's values with: the ASCII
/// unit separator, which no value shiplap writes holds.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
const SEPARATOR: char = '\x1f';

/// The rows of [`HistoryTable::select_all_by_column`]'s answer, by version. `None` when
/// the columns do not split into `count` values each, or a number does not parse (a
/// value holding the separator, say): the caller then reads the rows another way.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) fn rows_from_columns(count: i64, columns: &[Option<String>]) -> Option<Vec<HistoryRow>> {
    let count = usize::try_from(count).ok()?;
    if count == 0 {
        return Some(Vec::new());
    }
    let columns: Vec<Vec<&str>> = columns
        .iter()
        .map(|column| {
            let values: Vec<&str> = column.as_deref()?.split(SEPARATOR).collect();
            (values.len() == count).then_some(values)
        })
        .collect::<Option<_>>()?;
    let [
        version,
        name,
        source,
        sql,
        applied_at,
        duration,
        state,
        by,
        rows,
        raw,
        _sizes, // SQLite records none
        environment,
    ] = columns.as_slice()
    else {
        return None;
    };
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        out.push(HistoryRow {
            version: version[i].parse().ok()?,
            name: name[i].to_owned(),
            source_checksum: source[i].to_owned(),
            sql_checksum: sql[i].to_owned(),
            applied_at: applied_at[i].to_owned(),
            duration_ms: duration[i].parse().ok()?,
            state: RowState::parse(state[i]),
            shiplap_version: by[i].to_owned(),
            rows_affected: match rows[i] {
                "" => None,
                n => Some(n.parse().ok()?),
            },
            raw_checksum: Some(raw[i]).filter(|r| !r.is_empty()).map(str::to_owned),
            sizes: Vec::new(),
            environment: Some(environment[i])
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        });
    }
    out.sort_by_key(|row| row.version);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_columns_splits_each_column() {
        let columns = |texts: [&str; 12]| texts.map(|t| Some(t.to_owned()));
        let rows = rows_from_columns(
            2,
            &columns([
                "2\x1f1",
                "b\x1fa",
                "s2\x1fs1",
                "\x1fq1",
                "t2\x1ft1",
                "5\x1f0",
                "dirty\x1fapplied",
                "0.1.0\x1f0.1.0",
                "7\x1f",
                "r2\x1f",
                "\x1f",
                "\x1fstaging",
            ]),
        )
        .unwrap();
        assert_eq!(rows[0].environment.as_deref(), Some("staging"));
        assert_eq!(rows[1].environment, None);
        assert_eq!(rows[0].version, 1);
        assert_eq!(rows[0].sql_checksum, "q1");
        assert_eq!(rows[0].rows_affected, None);
        assert_eq!(rows[0].state, RowState::Applied);
        assert_eq!(rows[1].name, "b");
        assert_eq!(rows[1].sql_checksum, "");
        assert_eq!(rows[1].duration_ms, 5);
        assert_eq!(rows[1].rows_affected, Some(7));
        assert_eq!(rows[1].state, RowState::Dirty);
        assert_eq!(rows_from_columns(0, &[None, None]), Some(Vec::new()));
        // A name holding the separator: one value too many, so the caller reads otherwise.
        let mut odd = columns([
            "1", "a\x1fb", "s", "q", "t", "0", "applied", "0.1.0", "", "", "", "",
        ]);
        assert_eq!(rows_from_columns(1, &odd), None);
        odd[1] = Some("a".into());
        odd[5] = Some("x".into());
        assert_eq!(rows_from_columns(1, &odd), None);
    }

    #[test]
    fn history_sql_quotes_the_table_name() {
        let pg = HistoryTable::new("my \"history\"", Backend::Postgres);
        assert!(
            pg.create()
                .starts_with(r#"CREATE TABLE IF NOT EXISTS "my ""history""" ("#),
            "{}",
            pg.create()
        );
        let mysql = HistoryTable::new("shiplap_migrations", Backend::MySql);
        assert_eq!(
            mysql.delete(7),
            "DELETE FROM `shiplap_migrations` WHERE `version` = 7"
        );
    }
}
