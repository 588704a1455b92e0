//! Dropping a column or a table while keeping its data, so that the down brings it back:
//! the data is copied into a table of shiplap's (`shiplap_backup_<version>_<name>`) in
//! the same migration (in its transaction where the backend allows DDL in one), and the
//! down re-creates the column or table and fills it again from there.

use sea_query::{
    Alias, ColumnDef, PostgresQueryBuilder, Table, TableCreateStatement, TableDropStatement,
    TableName, TableRef,
};

use super::{Down, Owned, Schema, Step, WithDown};
use crate::backend::Backend;
use crate::statement::Statement;

/// What a backup table's name holds in place of the migration's version until it is
/// rendered (see `render`).
pub(crate) const VERSION_MARKER: &str = "{shiplap_version}";

/// The prefix of every backup table's name.
pub const BACKUP_PREFIX: &str = "shiplap_backup_";

/// The name of the backup of `what` (a table, or `table_column`): within PostgreSQL's 63
/// bytes once the marker is a version of up to 19 digits.
pub(super) fn backup_name(what: &str) -> String {
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

/// The name of an unqualified table (a copy is kept only of those).
pub(super) fn unqualified(table: &TableRef) -> Option<String> {
    match table {
        TableRef::Table(TableName(None, name), _) => Some(name.to_string()),
        _ => None,
    }
}

/// The one unqualified table a `DROP TABLE` without `IF EXISTS` drops (read back from its
/// PostgreSQL rendering, as sea-query keeps its tables to itself).
pub(super) fn dropped_table(drop: &TableDropStatement) -> Option<String> {
    let sql = drop.to_string(PostgresQueryBuilder);
    let rest = sql.strip_prefix("DROP TABLE \"")?;
    let mut name = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            name.push(c);
        } else if chars.peek().is_some_and(|(_, c)| *c == '"') {
            chars.next();
            name.push('"');
        } else {
            return matches!(&rest[i + 1..], "" | " CASCADE" | " RESTRICT").then_some(name);
        }
    }
    None
}

/// The SQL of the copy a plain drop keeps: `DROP`-free, so that the first copy of a
/// version stays (a re-run after a down, or after a failure on MySQL, where the copy has
/// committed, keeps the rows as they were before the first drop); empty when the table
/// holds more than `rows` rows.
///
/// On MySQL the copy gets a primary key of its own (`shiplap_copy_row`, which the
/// restores, naming their columns, leave out): servers with `sql_require_primary_key`
/// (managed MySQL) and Galera clusters with `wsrep_mode = REQUIRED_PRIMARY_KEY` refuse a
/// table without one (MariaDB's Galera refuses `CREATE TABLE ... LIKE` there too).
pub(crate) fn keep_sql(keep: &super::Keep, backend: Backend) -> String {
    let q = |name: &str| backend.quote_name(name);
    let (table, backup) = (q(&keep.table), q(&keep.backup));
    let key = copy_key(backend);
    format!(
        "-- shiplap keeps the rows of {table} if there are at most {rows} (`.no_backup()` turns this off)\n\
         CREATE TABLE IF NOT EXISTS {backup}{key} AS SELECT * FROM {table} \
         WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT {over}) AS shiplap_rows) <= {rows}",
        rows = keep.rows,
        over = keep.rows.saturating_add(1),
    )
}

/// The primary key a copy gets on MySQL, where servers may refuse tables without one.
fn copy_key(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => " (shiplap_copy_row BIGINT AUTO_INCREMENT PRIMARY KEY)",
        Backend::Postgres | Backend::Sqlite => "",
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

/// The SQL of a backup, for `backend`. A copy left by an earlier attempt is dropped
/// first: on MySQL the copy commits at once, and a drop after it that failed leaves it
/// behind for the run that follows the repair. On MySQL the copy has a key of its own,
/// as [`keep_sql`]'s.
pub(crate) fn backup_sql(backup: &str, select: &BackupOf, backend: Backend) -> String {
    let q = |name: &str| backend.quote_name(name);
    let key = copy_key(backend);
    let copy = match select {
        BackupOf::Table(table) => {
            format!(
                "CREATE TABLE {}{key} AS SELECT * FROM {}",
                q(backup),
                q(table)
            )
        }
        BackupOf::Columns { table, columns } => format!(
            "CREATE TABLE {}{key} AS SELECT {} FROM {}",
            q(backup),
            columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
            q(table)
        ),
    };
    format!("DROP TABLE IF EXISTS {};\n{copy}", q(backup))
}

pub(crate) fn restore_sql(backup: &str, into: &RestoreInto, backend: Backend) -> String {
    let q = |name: &str| backend.quote_name(name);
    match into {
        RestoreInto::Table { table, columns } => {
            let list = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            let insert = format!(
                "INSERT INTO {} ({list}) SELECT {list} FROM {}",
                q(table),
                q(backup)
            );
            match backend {
                // The rows come back with their keys, which the table's sequences have
                // not counted: without this the next insert would take key 1 again.
                // (MySQL's AUTO_INCREMENT and SQLite's rowid follow explicit keys.)
                Backend::Postgres => format!("{insert};\n{}", resync_sequences(table)),
                _ => insert,
            }
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

/// PostgreSQL: moves each sequence that a column of `table` takes its values from
/// (serial or identity) past the largest value the column holds.
fn resync_sequences(table: &str) -> String {
    let literal = table.replace('\'', "''");
    format!(
        "DO $shiplap$ DECLARE c record; BEGIN \
         FOR c IN SELECT a.attname AS name, \
         pg_get_serial_sequence(quote_ident('{literal}'), a.attname) AS seq \
         FROM pg_attribute a WHERE a.attrelid = quote_ident('{literal}')::regclass \
         AND a.attnum > 0 AND NOT a.attisdropped LOOP \
         IF c.seq IS NOT NULL THEN EXECUTE format(\
         'SELECT setval(%L, COALESCE((SELECT max(%I) FROM %I), 0) + 1, false)', \
         c.seq, c.name, '{literal}'); END IF; END LOOP; END $shiplap$"
    )
}

/// Going down a plain `drop_table` whose rows were kept (see `Keep`): when the step's
/// down creates the table again (`Table::create()`), the rows go back into it and the
/// copy is dropped.
pub(crate) fn keep_restore_sql(step: &Step, down: &[Statement], backend: Backend) -> Vec<String> {
    let Some(keep) = step.kept().filter(|k| k.table_dropped) else {
        return Vec::new();
    };
    let created = down.iter().find_map(|s| match s {
        Statement::CreateTable(create)
            if create.get_table_name().and_then(unqualified).as_deref()
                == Some(keep.table.as_str()) =>
        {
            Some(
                create
                    .get_columns()
                    .iter()
                    .map(|c| c.get_column_name())
                    .collect(),
            )
        }
        _ => None,
    });
    let Some(columns) = created else {
        return Vec::new();
    };
    let into = RestoreInto::Table {
        table: keep.table.clone(),
        columns,
    };
    vec![
        restore_sql(&keep.backup, &into, backend),
        format!("DROP TABLE {}", backend.quote_name(&keep.backup)),
    ]
}
