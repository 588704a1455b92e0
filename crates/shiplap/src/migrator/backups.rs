//! What `drop_column_keeping_data` and `drop_table_keeping_data` keep, and the copies
//! that plain drops of small tables keep: the `shiplap_backup_<version>_<name>` tables,
//! listed, and emptied once their data is no longer wanted (a down then adds the column
//! or table back without its rows).

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::connection::Connection;
use crate::error::Result;
use crate::schema::BACKUP_PREFIX;

use super::Migrator;

/// One backup table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Backup {
    /// The table's name.
    pub table: String,
    /// The migration that made it.
    pub version: Option<i64>,
    /// Whether that migration is applied.
    pub applied: bool,
    /// Whether that migration's down puts the rows back from this table (otherwise it
    /// is a copy to restore from by hand); `None` when the migration is not among those
    /// this migrator knows.
    pub restored_by_down: Option<bool>,
    /// How many rows it holds.
    pub rows: i64,
}

impl Migrator<'_> {
    /// The backup tables, by name. Reads only.
    pub async fn backups(&self) -> Result<Vec<Backup>> {
        let mut conn = self.connect().await?;
        let backups = self.read_backups(&mut conn).await;
        self.finish(conn, backups.is_err()).await;
        backups
    }

    /// Empties the backups of migration `version` (all of them with `None`), under the
    /// run lock, and returns them as they were. The migrations stay applied; their downs
    /// then add the column or table back without the rows. A backup that no down reads
    /// (a plain drop's copy, or one left by a migration not applied) is dropped.
    pub async fn empty_backups(&self, version: Option<i64>) -> Result<Vec<Backup>> {
        self.locked(false, async |conn, _lock| {
            let chosen: Vec<Backup> = self
                .read_backups(conn)
                .await?
                .into_iter()
                .filter(|b| version.is_none() || b.version == version)
                .collect();
            for backup in &chosen {
                let table = self.backend().quote_name(&backup.table);
                let read_by_down = backup.applied && backup.restored_by_down != Some(false);
                let sql = match self.backend() {
                    _ if !read_by_down => format!("DROP TABLE {table}"),
                    Backend::Sqlite => format!("DELETE FROM {table}"),
                    _ => format!("TRUNCATE TABLE {table}"),
                };
                conn.execute(&sql).await?;
            }
            Ok(chosen)
        })
        .await
    }

    async fn read_backups(&self, conn: &mut Connection<'_>) -> Result<Vec<Backup>> {
        let like = format!("{}%", BACKUP_PREFIX.replace('_', "\\_"));
        let query = match self.backend() {
            Backend::Postgres => format!(
                "SELECT CAST(tablename AS text) FROM pg_catalog.pg_tables \
                 WHERE schemaname = current_schema() AND tablename LIKE '{like}' ORDER BY 1"
            ),
            Backend::MySql => format!(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name LIKE '{}' ORDER BY 1",
                like.replace('\\', "\\\\")
            ),
            Backend::Sqlite => format!(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name LIKE '{like}' ESCAPE '\\' ORDER BY 1"
            ),
        };
        let tables = conn.strings(&query).await?;
        let history = self.read_history(conn).await?;
        let mut backups = Vec::with_capacity(tables.len());
        for table in tables {
            let version = table
                .strip_prefix(BACKUP_PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|v| v.parse::<i64>().ok());
            let cast = match self.backend() {
                Backend::MySql => "CHAR",
                _ => "TEXT",
            };
            let rows = conn
                .strings(&format!(
                    "SELECT CAST(COUNT(*) AS {cast}) FROM {}",
                    self.backend().quote_name(&table)
                ))
                .await?
                .first()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            let quoted = self.backend().quote_name(&table);
            let restored_by_down = version.and_then(|v| self.registry().get(v).ok()).map(|m| {
                crate::render(m, self.backend(), crate::Direction::Down)
                    .is_ok_and(|down| down.statements.iter().any(|s| s.sql.contains(&quoted)))
            });
            backups.push(Backup {
                applied: version.is_some_and(|v| history.iter().any(|r| r.version == v)),
                restored_by_down,
                table,
                version,
                rows,
            });
        }
        Ok(backups)
    }
}
