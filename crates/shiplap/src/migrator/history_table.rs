//! The history table as a run finds it: read as it is, or, under the lock, created or
//! brought up to this build's layout first; and the writes to it outside a migration,
//! taken under the lock in transaction mode.

use crate::backend::connection::Connection;
use crate::error::{Error, Result};
use crate::history::{HistoryRow, HistoryTable, LAYOUT, Layout, Shape};
use crate::lock::RunLock;

use super::Migrator;

impl Migrator<'_> {
    /// The history rows; `None` when the table does not exist (nothing is created). A
    /// table of an older layout is read as it is, one of a newer layout or of columns no
    /// layout has is refused.
    pub(super) async fn history_if_exists(
        &self,
        conn: &mut Connection<'_>,
    ) -> Result<Option<Vec<HistoryRow>>> {
        let table = self.table_sql();
        let layout = match self.shape(conn).await? {
            Shape::Missing => return Ok(None),
            Shape::Layout(layout) => layout,
            Shape::Unknown(_) => unreachable!("shape() refuses it"),
        };
        self.rows(conn, &table.in_layout(layout)).await.map(Some)
    }

    pub(super) async fn read_history(&self, conn: &mut Connection<'_>) -> Result<Vec<HistoryRow>> {
        Ok(self.history_if_exists(conn).await?.unwrap_or_default())
    }

    /// Under the lock: the history rows, after creating the table (`create`) or bringing
    /// an older layout up to this build's, in order. `None` when there is no table and
    /// `create` is false.
    pub(super) async fn prepared_history(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        create: bool,
    ) -> Result<Option<Vec<HistoryRow>>> {
        self.guarded(conn, lock, async |conn| {
            self.prepare_history(conn, create).await
        })
        .await
    }

    /// In transaction mode, the error for a wait for the lock that failed: past
    /// `--lock-timeout`, the same as a session lock's.
    pub(super) fn lock_wait_error(&self, error: sqlx::Error) -> Error {
        if lock_wait_timed_out(&error) {
            return Error::LockTimeout {
                url: self.label.to_string(),
                table: self.options.table.clone(),
                waited_secs: self.options.lock_timeout.as_secs(),
            };
        }
        Error::Database { source: error }
    }

    /// Runs `f`; in transaction mode, in a transaction that first takes the lock, committed
    /// when `f` succeeds and rolled back when it fails.
    pub(super) async fn guarded<T>(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        f: impl AsyncFnOnce(&mut Connection<'_>) -> Result<T>,
    ) -> Result<T> {
        let Some(guard) = lock.guard(self.options.lock_timeout) else {
            return f(conn).await;
        };
        conn.execute("BEGIN").await?;
        if let Err(e) = conn.execute(&guard).await {
            let _ = conn.execute("ROLLBACK").await;
            return Err(self.lock_wait_error(e));
        }
        match f(conn).await {
            Ok(value) => {
                conn.execute("COMMIT").await?;
                Ok(value)
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                Err(e)
            }
        }
    }

    pub(super) async fn prepare_history(
        &self,
        conn: &mut Connection<'_>,
        create: bool,
    ) -> Result<Option<Vec<HistoryRow>>> {
        let table = self.table_sql();
        let columns_layout = match self.shape(conn).await? {
            Shape::Missing if create => {
                conn.execute(&table.create()).await?;
                conn.execute(&table.layout_insert()).await?;
                return Ok(Some(Vec::new()));
            }
            Shape::Missing => return Ok(None),
            Shape::Layout(layout) => layout,
            Shape::Unknown(_) => unreachable!("shape() refuses it"),
        };
        let (rows, recorded) = self
            .rows_and_layout(conn, &table.in_layout(columns_layout))
            .await?;
        let layout = recorded
            .as_ref()
            .map_or(columns_layout, |r| r.layout.max(columns_layout));
        if layout < LAYOUT || recorded.is_none() {
            if layout < LAYOUT {
                // Said at the default level: a one-time change to the user's database.
                tracing::warn!(
                    "upgrading the history table `{}` from layout {layout} to {LAYOUT} \
                     (once, under the run lock)",
                    self.options.table
                );
            }
            for step in table.upgrade(columns_layout) {
                conn.execute(&step).await?;
            }
            // The backfill positions' table, created with `IF NOT EXISTS`.
            conn.execute(&table.create()).await?;
        }
        Ok(Some(rows))
    }

    /// The shape of the history table; refuses one no layout has.
    pub(super) async fn shape(&self, conn: &mut Connection<'_>) -> Result<Shape> {
        let table = self.table_sql();
        let columns = conn
            .strings_bound(table.columns_query(), &self.options.table)
            .await?;
        match Shape::of(columns) {
            Shape::Unknown(found) => Err(Error::HistoryTable {
                table: self.options.table.clone(),
                problem: format!(
                    "its columns are {}, which no layout of shiplap's history table has: it is \
                     not shiplap's, or was changed by hand. shiplap neither reads nor writes it; \
                     pass --table to use another name, or restore its columns",
                    found.join(", ")
                ),
            }),
            shape => Ok(shape),
        }
    }

    /// The rows of `table`, without its layout row.
    pub(super) async fn rows(
        &self,
        conn: &mut Connection<'_>,
        table: &HistoryTable,
    ) -> Result<Vec<HistoryRow>> {
        Ok(self.rows_and_layout(conn, table).await?.0)
    }

    /// The rows of `table` and its recorded layout; refuses a layout newer than this
    /// build's.
    pub(super) async fn rows_and_layout(
        &self,
        conn: &mut Connection<'_>,
        table: &HistoryTable,
    ) -> Result<(Vec<HistoryRow>, Option<Layout>)> {
        let mut rows = table.read(conn).await?;
        let recorded = Layout::take(&mut rows);
        if let Some(newer) = recorded.as_ref().filter(|r| r.layout > LAYOUT) {
            return Err(Error::HistoryTable {
                table: self.options.table.clone(),
                problem: format!(
                    "it has layout {} (written by shiplap {}), newer than the layout {LAYOUT} \
                     this shiplap {} knows: run shiplap {} or newer",
                    newer.layout,
                    newer.written_by,
                    env!("CARGO_PKG_VERSION"),
                    newer.written_by
                ),
            });
        }
        Ok((rows, recorded))
    }
}

/// The longest history table name: with `_backfill` appended, PostgreSQL's limit of 63
/// bytes for a name (MySQL's is 64), so that the two tables never collapse into one.
pub(super) const LONGEST_TABLE: usize = 63 - "_backfill".len();

/// Refuses a history table name that some backend would take otherwise than written.
pub(super) fn check_table_name(table: &str) -> Result<()> {
    let problem = if table.is_empty() {
        "it is empty".to_owned()
    } else if table.contains('.') {
        "a schema-qualified name is not supported: name the table alone, and choose the \
         schema with the connection (PostgreSQL's search_path, e.g. `?options=-c%20search_path%3Dops` \
         in the URL; on MySQL the URL's database)"
            .to_owned()
    } else if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || table.starts_with(|c: char| c.is_ascii_digit())
    {
        "use letters, digits and `_` only, not starting with a digit (quotes and backslashes \
         are read differently by each backend)"
            .to_owned()
    } else if table.len() > LONGEST_TABLE {
        format!(
            "it is {} bytes long: at most {LONGEST_TABLE}, so that `{table}_backfill` fits \
             PostgreSQL's 63",
            table.len()
        )
    } else {
        return Ok(());
    };
    Err(Error::InvalidArgument {
        message: format!("--table `{table}`: {problem}"),
    })
}

/// Whether PostgreSQL gave up waiting for a lock (`lock_timeout`).
pub(super) fn lock_wait_timed_out(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55P03")
}
