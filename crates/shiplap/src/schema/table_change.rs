//! Changes to existing tables that sea-query has no statement for: a CHECK added (`NOT
//! VALID` on PostgreSQL), a constraint validated, a foreign key added `NOT VALID`, a
//! column's NOT NULL set or dropped, a default partition.

use sea_query::ForeignKeyCreateStatement;

use super::{Down, Owned, Schema, WithDown, foreign_key_down};
use crate::backend::Backend;
use crate::statement::{Statement, schema_sql};

/// A change to an existing table, rendered by shiplap for each backend.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TableChange {
    /// `ALTER TABLE .. ADD CONSTRAINT name CHECK (condition)`, `NOT VALID` on PostgreSQL
    /// when asked (existing rows are not checked, and no long lock is taken).
    AddCheck {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
        /// The condition, as SQL.
        condition: String,
        /// `NOT VALID` on PostgreSQL.
        not_valid: bool,
    },
    /// A foreign key added `NOT VALID` on PostgreSQL (as it is elsewhere).
    ForeignKeyNotValid(Box<ForeignKeyCreateStatement>),
    /// `ALTER TABLE .. VALIDATE CONSTRAINT name` on PostgreSQL; nothing elsewhere, where
    /// constraints are checked as they are added.
    Validate {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
    },
    /// `ALTER TABLE .. DROP CONSTRAINT name`.
    Drop {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
    },
    /// A column made `NOT NULL` (or nullable again) without restating its type: on
    /// MySQL the type, character set, default, extra and comment are read from the
    /// catalog when it runs.
    NotNull {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// `NOT NULL` (true) or nullable (false).
        not_null: bool,
    },
    /// A copy of what a drop destroys, into a table of shiplap's
    /// ([`Schema::drop_column_keeping_data`]).
    Backup {
        /// The backup table.
        backup: String,
        /// What it copies.
        select: super::backup::BackupOf,
    },
    /// The copy put back by the drop's down.
    Restore {
        /// The backup table.
        backup: String,
        /// Where its rows go.
        into: super::backup::RestoreInto,
    },
    /// The default partition of a partitioned table (rows no other partition takes), or
    /// its removal (`drop`).
    DefaultPartition {
        /// The partitioned table.
        parent: String,
        /// The partition's name.
        name: String,
        /// Drop it instead (with its rows).
        drop: bool,
    },
}

/// What SQLite lacks, said where a migration meets it.
const SQLITE_HAS_NO_ADD_CONSTRAINT: &str = "SQLite cannot add or drop a constraint of an \
     existing table (its ALTER TABLE has no ADD CONSTRAINT): declare it in `create_table`, \
     rebuild the table with raw SQL for SQLite, or put the step in `only_on` for the other \
     backends";

impl TableChange {
    /// The SQL for `backend` (`None`: nothing to run there), or why it has none.
    pub(crate) fn render(&self, backend: Backend) -> Result<Option<String>, String> {
        let q = |name: &str| backend.quote_name(name);
        Ok(match (self, backend) {
            (TableChange::AddCheck { .. } | TableChange::Drop { .. }, Backend::Sqlite) => {
                return Err(SQLITE_HAS_NO_ADD_CONSTRAINT.into());
            }
            (
                TableChange::AddCheck {
                    table,
                    name,
                    condition,
                    not_valid,
                },
                _,
            ) => Some(format!(
                "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({condition}){}",
                q(table),
                q(name),
                if *not_valid && backend == Backend::Postgres {
                    " NOT VALID"
                } else {
                    ""
                }
            )),
            (TableChange::ForeignKeyNotValid(key), Backend::Postgres) => {
                crate::panic::catch(|| format!("{} NOT VALID", schema_sql(key.as_ref(), backend)))
                    .map(Some)?
            }
            (TableChange::ForeignKeyNotValid(key), _) => {
                crate::panic::catch(|| schema_sql(key.as_ref(), backend)).map(Some)?
            }
            (TableChange::Validate { table, name }, Backend::Postgres) => Some(format!(
                "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                q(table),
                q(name)
            )),
            (TableChange::Validate { .. }, _) => None,
            (TableChange::Drop { table, name }, _) => Some(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                q(table),
                q(name)
            )),
            (
                TableChange::NotNull {
                    table,
                    column,
                    not_null,
                },
                Backend::Sqlite,
            ) => Some(crate::backend::sqlite_not_null::marker(
                table, column, *not_null,
            )),
            (
                TableChange::NotNull {
                    table,
                    column,
                    not_null,
                },
                Backend::Postgres,
            ) => Some(format!(
                "ALTER TABLE {} ALTER COLUMN {} {} NOT NULL",
                q(table),
                q(column),
                if *not_null { "SET" } else { "DROP" }
            )),
            (
                TableChange::NotNull {
                    table,
                    column,
                    not_null,
                },
                Backend::MySql,
            ) => Some(mysql_modify_nullability(table, column, *not_null)),
            (TableChange::Backup { backup, select }, _) => {
                Some(super::backup::backup_sql(backup, select, backend))
            }
            (TableChange::Restore { backup, into }, _) => {
                Some(super::backup::restore_sql(backup, into, backend))
            }
            (TableChange::DefaultPartition { .. }, Backend::Sqlite) => {
                return Err(
                    "SQLite has no partitioned tables: put the step in `only_on` for \
                     the other backends"
                        .into(),
                );
            }
            (TableChange::DefaultPartition { parent, name, drop }, Backend::Postgres) => {
                Some(match drop {
                    false => format!(
                        "CREATE TABLE {} PARTITION OF {} DEFAULT",
                        q(name),
                        q(parent)
                    ),
                    true => format!("DROP TABLE {}", q(name)),
                })
            }
            // MariaDB's LIST partitioning has a DEFAULT partition; MySQL's has none, and
            // refuses this when it runs.
            (TableChange::DefaultPartition { parent, name, drop }, Backend::MySql) => {
                Some(match drop {
                    false => format!(
                        "ALTER TABLE {} ADD PARTITION (PARTITION {} DEFAULT)",
                        q(parent),
                        q(name)
                    ),
                    true => format!("ALTER TABLE {} DROP PARTITION {}", q(parent), q(name)),
                })
            }
        })
    }
}

/// MySQL's `MODIFY` restates the whole column: this script reads it from the catalog as
/// it runs (type, character set and collation, default, extra such as `ON UPDATE` or
/// `AUTO_INCREMENT`, comment) and changes only its nullability. MariaDB keeps a default
/// as an SQL expression, MySQL as a value (an expression's marked `DEFAULT_GENERATED`).
/// A column that is not there fails the script naming it.
fn mysql_modify_nullability(table: &str, column: &str, not_null: bool) -> String {
    // A text inside an SQL string literal, and a name inside a quoted name inside one.
    let text = |s: &str| s.replace('\\', "\\\\").replace('\'', "''");
    let name = |s: &str| text(&s.replace('`', "``"));
    MODIFY_NULLABILITY
        .replace("{table_q}", &name(table))
        .replace("{column_q}", &name(column))
        .replace("{table}", &text(table))
        .replace("{column}", &text(column))
        .replace("{null}", if not_null { " NOT NULL" } else { " NULL" })
}

const MODIFY_NULLABILITY: &str = "-- `{column}` of `{table}` as the catalog has it, its nullability changed
SET @shiplap_modify = (SELECT CONCAT('ALTER TABLE `{table_q}` MODIFY `{column_q}` ', c.column_type,
    IF(c.character_set_name IS NULL, '', CONCAT(' CHARACTER SET ', c.character_set_name, ' COLLATE ', c.collation_name)),
    '{null}',
    CASE
      WHEN c.column_default IS NULL OR c.column_default = 'NULL' THEN ''
      WHEN VERSION() LIKE '%MariaDB%' THEN CONCAT(' DEFAULT ', c.column_default)
      WHEN c.extra LIKE '%DEFAULT_GENERATED%' THEN CONCAT(' DEFAULT (', c.column_default, ')')
      ELSE CONCAT(' DEFAULT ', QUOTE(c.column_default))
    END,
    IF(TRIM(REPLACE(c.extra, 'DEFAULT_GENERATED', '')) = '', '', CONCAT(' ', TRIM(REPLACE(c.extra, 'DEFAULT_GENERATED', '')))),
    IF(c.column_comment = '', '', CONCAT(' COMMENT ', QUOTE(c.column_comment))))
  FROM information_schema.columns c
  WHERE c.table_schema = DATABASE() AND c.table_name = '{table}' AND c.column_name = '{column}');
SET @shiplap_modify = COALESCE(@shiplap_modify, 'SELECT `{column_q}` FROM `{table_q}` LIMIT 0');
PREPARE shiplap_modify FROM @shiplap_modify;
EXECUTE shiplap_modify;
DEALLOCATE PREPARE shiplap_modify";

impl Schema {
    /// `ALTER TABLE table ADD CONSTRAINT name CHECK (condition)`; down: drop it. Existing
    /// rows are checked while the table is locked: on a big PostgreSQL table prefer
    /// [`add_check_not_valid`](Self::add_check_not_valid) then
    /// [`validate_constraint`](Self::validate_constraint). (SQLite cannot: see there.)
    pub fn add_check(&mut self, table: &str, name: &str, condition: &str) -> WithDown<'_> {
        self.constraint(table, name, condition, false)
    }

    /// The same CHECK, `NOT VALID` on PostgreSQL: new and changed rows are checked at
    /// once, existing ones only by a later [`validate_constraint`](Self::validate_constraint),
    /// which takes a lock that lets reads and writes go on. MySQL and MariaDB have no
    /// `NOT VALID`: they check every row as the constraint is added. SQLite cannot add a
    /// constraint to an existing table at all: rendering for it is an error naming the
    /// step (declare the check in `create_table` there, or use `only_on`).
    pub fn add_check_not_valid(
        &mut self,
        table: &str,
        name: &str,
        condition: &str,
    ) -> WithDown<'_> {
        self.constraint(table, name, condition, true)
    }

    fn constraint(
        &mut self,
        table: &str,
        name: &str,
        condition: &str,
        not_valid: bool,
    ) -> WithDown<'_> {
        let up = TableChange::AddCheck {
            table: table.to_owned(),
            name: name.to_owned(),
            condition: condition.to_owned(),
            not_valid,
        };
        let down = TableChange::Drop {
            table: table.to_owned(),
            name: name.to_owned(),
        };
        WithDown::new(self.push(
            Statement::TableChange(up),
            Down::Statements(vec![Statement::TableChange(down)]),
        ))
    }

    /// `ALTER TABLE table VALIDATE CONSTRAINT name` on PostgreSQL (a check or foreign key
    /// added `NOT VALID`): reads every row under a lock that blocks no reads or writes.
    /// Nothing on MySQL and SQLite, which check rows as a constraint is added. Its down
    /// is nothing: a valid constraint stays.
    pub fn validate_constraint(&mut self, table: &str, name: &str) -> WithDown<'_> {
        WithDown::new(self.push(
            Statement::TableChange(TableChange::Validate {
                table: table.to_owned(),
                name: name.to_owned(),
            }),
            Down::Nothing("validating changes no schema".into()),
        ))
    }

    /// Makes `column` of `table` `NOT NULL` without restating its type; down: nullable
    /// again. PostgreSQL `ALTER COLUMN .. SET NOT NULL` (it reads the table under an
    /// exclusive lock unless a validated `CHECK (column IS NOT NULL)` proves it: see the
    /// example's five steps); MySQL `MODIFY` with the rest of the column read from the
    /// catalog when it runs; SQLite, which has no such statement, in the table's recorded
    /// definition as it runs (a NULL left fails it, naming the column).
    pub fn set_not_null(&mut self, table: &str, column: &str) -> WithDown<'_> {
        self.nullability(table, column, true)
    }

    /// Makes `column` of `table` nullable without restating its type; down: `NOT NULL`
    /// again (which fails if NULLs were written meanwhile). As
    /// [`set_not_null`](Self::set_not_null) on each backend.
    pub fn drop_not_null(&mut self, table: &str, column: &str) -> WithDown<'_> {
        self.nullability(table, column, false)
    }

    fn nullability(&mut self, table: &str, column: &str, not_null: bool) -> WithDown<'_> {
        let change = |not_null| {
            Statement::TableChange(TableChange::NotNull {
                table: table.to_owned(),
                column: column.to_owned(),
                not_null,
            })
        };
        WithDown::new(self.push(change(not_null), Down::Statements(vec![change(!not_null)])))
    }

    /// The default partition of the partitioned table `parent`: the rows no other
    /// partition takes go there instead of failing. PostgreSQL `CREATE TABLE name
    /// PARTITION OF parent DEFAULT`; MariaDB `ALTER TABLE parent ADD PARTITION (PARTITION
    /// name DEFAULT)` (LIST partitioning; MySQL has no default partition and refuses it
    /// when it runs); SQLite has no partitions (an error naming the step). Down: drop it,
    /// with the rows it holds.
    pub fn create_default_partition(&mut self, parent: &str, name: &str) -> WithDown<'_> {
        let change = |drop| {
            Statement::TableChange(TableChange::DefaultPartition {
                parent: parent.to_owned(),
                name: name.to_owned(),
                drop,
            })
        };
        WithDown::new(self.push(change(false), Down::Statements(vec![change(true)])))
    }

    /// A foreign key added `NOT VALID` on PostgreSQL (existing rows checked later by
    /// [`validate_constraint`](Self::validate_constraint)); as
    /// [`create_foreign_key`](Self::create_foreign_key) elsewhere. Down: drop it.
    pub fn create_foreign_key_not_valid(
        &mut self,
        statement: impl Owned<ForeignKeyCreateStatement>,
    ) -> WithDown<'_> {
        let statement = statement.owned();
        let down = foreign_key_down(&statement);
        WithDown::new(self.push(
            Statement::TableChange(TableChange::ForeignKeyNotValid(Box::new(statement))),
            down,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_backend() {
        let add = TableChange::AddCheck {
            table: "plans".into(),
            name: "price_positive".into(),
            condition: "price >= 0".into(),
            not_valid: true,
        };
        assert_eq!(
            add.render(Backend::Postgres).unwrap().unwrap(),
            r#"ALTER TABLE "plans" ADD CONSTRAINT "price_positive" CHECK (price >= 0) NOT VALID"#
        );
        assert_eq!(
            add.render(Backend::MySql).unwrap().unwrap(),
            "ALTER TABLE `plans` ADD CONSTRAINT `price_positive` CHECK (price >= 0)"
        );
        assert!(
            add.render(Backend::Sqlite)
                .unwrap_err()
                .starts_with("SQLite cannot add or drop a constraint")
        );
        let validate = TableChange::Validate {
            table: "plans".into(),
            name: "price_positive".into(),
        };
        assert_eq!(validate.render(Backend::MySql), Ok(None));
        assert_eq!(validate.render(Backend::Sqlite), Ok(None));
        assert_eq!(
            validate.render(Backend::Postgres).unwrap().unwrap(),
            r#"ALTER TABLE "plans" VALIDATE CONSTRAINT "price_positive""#
        );
    }
}
