//! Reading the history table's rows from a connection.

#[allow(unused_imports)] // the readers of the backends this build has
use sqlx::Row as _;

use crate::backend::connection::Connection;
use crate::history::{HistoryRow, HistoryTable, RowState};

/// A history row as the database returns it, column by column.
#[allow(dead_code)] // not read when no backend is built in
type HistoryTuple = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl HistoryTable {
    /// The rows of the table, by version (the layout row too).
    pub(crate) async fn read(
        &self,
        conn: &mut Connection<'_>,
    ) -> Result<Vec<HistoryRow>, sqlx::Error> {
        let table = self;
        let rows: Vec<HistoryTuple> = match conn {
            #[cfg(feature = "_sqlite")]
            Connection::Sqlite(c) => {
                let sql = sqlx::AssertSqlSafe(table.select_all_by_column());
                let row = sqlx::query(sql).fetch_one(&mut **c).await?;
                let count: i64 = row.try_get(0)?;
                let columns = (1..row.len())
                    .map(|i| row.try_get(i))
                    .collect::<Result<Vec<Option<String>>, _>>()?;
                if let Some(rows) = crate::history::rows_from_columns(count, &columns) {
                    return Ok(rows);
                }
                let sql = sqlx::AssertSqlSafe(table.select_all_as_json());
                let json: String = sqlx::query_scalar(sql).fetch_one(&mut **c).await?;
                serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?
            }
            #[cfg(feature = "postgres")]
            Connection::Postgres(c) => {
                let sql = sqlx::AssertSqlSafe(table.select_all());
                sqlx::raw_sql(sql)
                    .fetch_all(&mut **c)
                    .await?
                    .iter()
                    .map(<HistoryTuple as sqlx::FromRow<'_, sqlx::postgres::PgRow>>::from_row)
                    .collect::<Result<_, _>>()?
            }
            #[cfg(feature = "mysql")]
            Connection::MySql(c) => {
                let sql = sqlx::AssertSqlSafe(table.select_all());
                sqlx::query_as(sql).fetch_all(&mut **c).await?
            }
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Connection::None(never, _) => match *never {},
        };
        let mut sizes = Vec::with_capacity(rows.len());
        let mut rows: Vec<HistoryRow> = rows
            .into_iter()
            .map(|r| {
                sizes.push(r.10);
                HistoryRow {
                    version: r.0,
                    name: r.1,
                    source_checksum: r.2,
                    sql_checksum: r.3,
                    applied_at: r.4,
                    duration_ms: r.5,
                    state: RowState::parse(&r.6),
                    shiplap_version: r.7,
                    rows_affected: r.8,
                    raw_checksum: r.9,
                    sizes: Vec::new(),
                    environment: r.11,
                }
            })
            .collect();
        crate::history::sizes_text::resolve(&mut rows, sizes);
        Ok(rows)
    }
}
