//! Dropping a column or a table while keeping its data, so that the down brings it back:
//! the data is copied into a table of shiplap's (`shiplap_backup_<version>_<name>`) in
//! the same migration (in its transaction where the backend allows DDL in one), and the
//! down re-creates the column or table and fills it again from there.

use sea_query::{Alias, ColumnDef, Table, TableCreateStatement};

use super::{Down, Owned, Schema, WithDown};
use crate::statement::Statement;

/// What a backup table's name holds in place of the migration's version until it is
/// rendered (see `render`).
pub(crate) const VERSION_MARKER: &str = "{shiplap_version}";

/// The prefix of every backup table's name.
pub const BACKUP_PREFIX: &str = "shiplap_backup_";

/// The name of the backup of `what` (a table, or `table_column`): within PostgreSQL's 63
/// bytes once the marker is a version of up to 19 digits.
fn backup_name(what: &str) -> String {
    let room = 63 - BACKUP_PREFIX.len() - 19 - 1;
    let mut end = what.len().min(room);
    while !what.is_char_boundary(end) {
        end -= 1;
    }
    format!("{BACKUP_PREFIX}{VERSION_MARKER}_{}", &what[..end])
}

impl Schema {
    /// Drops `column` of `table`, keeping its values: they are copied first, with the
    /// `key` column of each row, into `shiplap_backup_<version>_<table>_<column>`. The
    /// down adds the column back as `restore` says, puts each row's value back by `key`,
    /// and drops the backup. `migrate backups` lists what is kept and empties it.
    ///
    /// ```
    /// # use shiplap::prelude::*;
    /// # fn m(s: &mut Schema) {
    /// s.drop_column_keeping_data("users", "name", "id", ColumnDef::new("name").string_len(200));
    /// # }
    /// ```
    pub fn drop_column_keeping_data(
        &mut self,
        table: &str,
        column: &str,
        key: &str,
        restore: impl Owned<ColumnDef>,
    ) -> WithDown<'_> {
        let backup = backup_name(&format!("{table}_{column}"));
        let name = |n: &str| Alias::new(n);
        self.push(
            Statement::TableChange(super::TableChange::Backup {
                backup: backup.clone(),
                select: BackupOf::Columns {
                    table: table.to_owned(),
                    columns: vec![key.to_owned(), column.to_owned()],
                },
            }),
            Down::Statements(vec![Table::drop().table(name(&backup)).to_owned().into()]),
        );
        let drop = Table::alter()
            .table(name(table))
            .drop_column(name(column))
            .to_owned();
        let re_add = Table::alter()
            .table(name(table))
            .add_column(restore.owned())
            .to_owned();
        let refill = Statement::TableChange(super::TableChange::Restore {
            backup,
            into: RestoreInto::Column {
                table: table.to_owned(),
                column: column.to_owned(),
                key: key.to_owned(),
            },
        });
        WithDown::new(self.push(drop.into(), Down::Statements(vec![re_add.into(), refill])))
    }

    /// Drops `table`, keeping its rows: they are copied first into
    /// `shiplap_backup_<version>_<table>`. The down creates the table again as `restore`
    /// says (its columns, keys and indexes), copies the rows back (by column name) and
    /// drops the backup.
    pub fn drop_table_keeping_data(
        &mut self,
        table: &str,
        restore: impl Owned<TableCreateStatement>,
    ) -> WithDown<'_> {
        let backup = backup_name(table);
        let restore = restore.owned();
        let columns: Vec<String> = restore
            .get_columns()
            .iter()
            .map(|c| c.get_column_name())
            .collect();
        self.push(
            Statement::TableChange(super::TableChange::Backup {
                backup: backup.clone(),
                select: BackupOf::Table(table.to_owned()),
            }),
            Down::Statements(vec![
                Table::drop().table(Alias::new(&backup)).to_owned().into(),
            ]),
        );
        let refill = Statement::TableChange(super::TableChange::Restore {
            backup,
            into: RestoreInto::Table {
                table: table.to_owned(),
                columns,
            },
        });
        WithDown::new(self.push(
            Table::drop().table(Alias::new(table)).to_owned().into(),
            Down::Statements(vec![restore.into(), refill]),
        ))
    }
}

/// What a backup copies.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BackupOf {
    /// Every row and column of the table.
    Table(String),
    /// These columns of every row.
    Columns {
        /// The table.
        table: String,
        /// The key, then the column kept.
        columns: Vec<String>,
    },
}

/// Where a backup's rows go back.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RestoreInto {
    /// Into the re-created table, by column name.
    Table {
        /// The table.
        table: String,
        /// Its columns.
        columns: Vec<String>,
    },
    /// Into the re-added column, row by row by `key`.
    Column {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The key column.
        key: String,
    },
}

/// The SQL of a backup and of its restore, quoted with `q`. A copy left by an earlier
/// attempt is dropped first: on MySQL the copy commits at once, and a drop after it that
/// failed leaves it behind for the run that follows the repair.
pub(crate) fn backup_sql(backup: &str, select: &BackupOf, q: impl Fn(&str) -> String) -> String {
    let copy = match select {
        BackupOf::Table(table) => {
            format!("CREATE TABLE {} AS SELECT * FROM {}", q(backup), q(table))
        }
        BackupOf::Columns { table, columns } => format!(
            "CREATE TABLE {} AS SELECT {} FROM {}",
            q(backup),
            columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
            q(table)
        ),
    };
    format!("DROP TABLE IF EXISTS {};\n{copy}", q(backup))
}

pub(crate) fn restore_sql(backup: &str, into: &RestoreInto, q: impl Fn(&str) -> String) -> String {
    match into {
        RestoreInto::Table { table, columns } => {
            let list = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            format!(
                "INSERT INTO {} ({list}) SELECT {list} FROM {}",
                q(table),
                q(backup)
            )
        }
        RestoreInto::Column { table, column, key } => format!(
            "UPDATE {t} SET {c} = (SELECT b.{c} FROM {b} b WHERE b.{k} = {t}.{k})",
            t = q(table),
            c = q(column),
            k = q(key),
            b = q(backup)
        ),
    }
}
