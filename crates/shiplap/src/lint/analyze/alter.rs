//! `ALTER TABLE` and its constraints, operation by operation.

use sqlparser::ast::{
    AlterColumnOperation, AlterTableAlgorithm, AlterTableLock, AlterTableOperation, ColumnOption,
    DataType, Expr, TableConstraint,
};

use super::types::{Change, change, varchar_len};
use super::{Walk, constraint_name};

impl Walk<'_> {
    pub(super) fn alter(&mut self, table: &str, existing: bool, operation: &AlterTableOperation) {
        match operation {
            AlterTableOperation::AddColumn { column_def, .. } => {
                self.check_column(column_def, table, existing);
                let options: Vec<&ColumnOption> =
                    column_def.options.iter().map(|o| &o.option).collect();
                let not_null = options.iter().any(|o| matches!(o, ColumnOption::NotNull));
                let has_default = options.iter().any(|o| {
                    matches!(
                        o,
                        ColumnOption::Default(_)
                            | ColumnOption::Generated { .. }
                            | ColumnOption::PrimaryKey(_)
                    )
                });
                if existing && not_null && !has_default {
                    self.find(
                        "add_not_null_without_default",
                        format!(
                            "`{table}.{}` is NOT NULL with no default",
                            column_def.name.value
                        ),
                    );
                }
                if existing {
                    for option in &options {
                        match option {
                            ColumnOption::Unique(_) if self.pg() => self.find(
                                "pg_add_unique_constraint",
                                format!("adds a UNIQUE column to the existing table `{table}`"),
                            ),
                            ColumnOption::ForeignKey(_) => self.foreign_key(table, false),
                            _ => {}
                        }
                    }
                }
                let state = self.schema.tables.entry(table.to_owned()).or_default();
                state
                    .columns
                    .insert(column_def.name.value.clone(), column_def.data_type.clone());
                if not_null {
                    state.not_null.insert(column_def.name.value.clone());
                }
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                for column in column_names {
                    if existing {
                        self.find(
                            "drop_column",
                            format!("drops `{table}.{}` and its data", column.value),
                        );
                    }
                    if let Some(state) = self.schema.tables.get_mut(table) {
                        state.columns.remove(&column.value);
                    }
                }
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                if existing {
                    self.find(
                        "rename_column",
                        format!(
                            "renames `{table}.{}` to `{}` while the running release uses the old name",
                            old_column_name.value, new_column_name.value
                        ),
                    );
                }
                // What the lint knows of the column goes with its name: its type, whether
                // it is NOT NULL, and its validated or pending NOT NULL checks.
                if let Some(state) = self.schema.tables.get_mut(table) {
                    let (old, new) = (&old_column_name.value, &new_column_name.value);
                    if let Some(data_type) = state.columns.remove(old) {
                        state.columns.insert(new.clone(), data_type);
                    }
                    for set in [&mut state.not_null, &mut state.not_null_checked] {
                        set.remove(new);
                        if set.remove(old) {
                            set.insert(new.clone());
                        }
                    }
                    for column in state.pending_not_null.values_mut() {
                        if column == old {
                            column.clone_from(new);
                        }
                    }
                }
            }
            AlterTableOperation::RenameTable { table_name } => {
                let new_name = table_name.to_string().trim_matches(['"', '`']).to_owned();
                let new_name = new_name
                    .rsplit(' ')
                    .next()
                    .unwrap_or(&new_name)
                    .trim_matches(['"', '`'])
                    .to_owned();
                self.rename_table(table, &new_name, existing);
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                let column = column_name.value.clone();
                match op {
                    AlterColumnOperation::SetNotNull => {
                        let state = self.schema.tables.entry(table.to_owned()).or_default();
                        // Already NOT NULL (sea-query's MODIFY repeats it): nothing to scan.
                        let safe = !existing
                            || state.not_null.contains(&column)
                            || state.not_null_checked.contains(&column);
                        state.not_null.insert(column.clone());
                        if self.pg() && !safe {
                            self.find(
                                "pg_set_not_null",
                                format!("SET NOT NULL on `{table}.{column}` with no validated CHECK ({column} IS NOT NULL) from an earlier migration"),
                            );
                        }
                    }
                    AlterColumnOperation::DropNotNull => {
                        if let Some(state) = self.schema.tables.get_mut(table) {
                            state.not_null.remove(&column);
                        }
                        if existing {
                            self.find(
                                "relax_constraint",
                                format!("drops NOT NULL from `{table}.{column}`"),
                            );
                        }
                    }
                    AlterColumnOperation::DropDefault if existing => {
                        self.find(
                            "relax_constraint",
                            format!("drops the default of `{table}.{column}`"),
                        );
                    }
                    AlterColumnOperation::SetDataType { data_type, .. } => {
                        self.type_change(table, &column, data_type, existing);
                    }
                    _ => {}
                }
            }
            AlterTableOperation::ModifyColumn {
                col_name,
                data_type,
                ..
            } => self.type_change(table, &col_name.value, data_type, existing),
            AlterTableOperation::ChangeColumn {
                old_name,
                new_name,
                data_type,
                ..
            } => {
                if existing && old_name.value != new_name.value {
                    self.find(
                        "rename_column",
                        format!(
                            "renames `{table}.{}` to `{}` while the running release uses the old name",
                            old_name.value, new_name.value
                        ),
                    );
                }
                self.type_change(table, &old_name.value, data_type, existing);
            }
            AlterTableOperation::AddConstraint {
                constraint,
                not_valid,
            } => self.add_constraint(table, existing, constraint, *not_valid),
            AlterTableOperation::DropConstraint { name, .. } if existing => {
                self.find(
                    "relax_constraint",
                    format!("drops the constraint `{name}` of `{table}`"),
                );
            }
            AlterTableOperation::ValidateConstraint { name } => {
                let name = name.value.clone();
                if self.not_valid.contains(&name) {
                    self.find(
                        "pg_constraint_not_valid",
                        format!("`{name}` is validated in the migration (transaction) that added it, which holds the ADD's lock during the scan"),
                    );
                }
                if let Some(state) = self.schema.tables.get_mut(table)
                    && let Some(column) = state.pending_not_null.remove(&name)
                {
                    state.not_null_checked.insert(column);
                }
            }
            AlterTableOperation::DropPrimaryKey { .. } if self.mysql() && existing => {
                self.find(
                    "mysql_table_copy",
                    format!(
                        "dropping the primary key of `{table}` rebuilds it with ALGORITHM=COPY"
                    ),
                );
            }
            AlterTableOperation::Algorithm {
                algorithm: AlterTableAlgorithm::Copy,
                ..
            } if self.mysql() => {
                self.find("mysql_table_copy", "asks for ALGORITHM=COPY".into());
            }
            AlterTableOperation::Lock {
                lock: lock @ (AlterTableLock::Shared | AlterTableLock::Exclusive),
                ..
            } if self.mysql() => {
                self.find("mysql_locking_ddl", format!("asks for LOCK={lock}"));
            }
            _ => {}
        }
    }

    pub(super) fn foreign_key(&mut self, table: &str, not_valid: bool) {
        if self.pg() && !not_valid {
            self.find(
                "pg_constraint_not_valid",
                format!("foreign key added to the existing table `{table}` without NOT VALID"),
            );
        }
        if self.mysql() {
            self.find(
                "mysql_foreign_key",
                format!("foreign key added to the existing table `{table}`"),
            );
        }
    }

    pub(super) fn add_constraint(
        &mut self,
        table: &str,
        existing: bool,
        constraint: &TableConstraint,
        not_valid: bool,
    ) {
        if let Some(name) = constraint_name(constraint) {
            self.check_identifier(&name);
            if not_valid {
                self.not_valid.insert(name);
            }
        }
        if !existing {
            return;
        }
        match constraint {
            TableConstraint::ForeignKey(_) => self.foreign_key(table, not_valid),
            TableConstraint::Check(check) => {
                if self.mysql() {
                    self.find(
                        "mysql_table_copy",
                        format!(
                            "adding a CHECK constraint to `{table}` copies the table and checks every row (MariaDB refuses ALGORITHM=INPLACE for it, error 1845)"
                        ),
                    );
                }
                if self.pg() && !not_valid {
                    self.find(
                        "pg_constraint_not_valid",
                        format!("check constraint added to the existing table `{table}` without NOT VALID"),
                    );
                }
                if let (Some(name), Expr::IsNotNull(inner)) = (&check.name, check.expr.as_ref())
                    && let Expr::Identifier(column) = inner.as_ref()
                {
                    let state = self.schema.tables.entry(table.to_owned()).or_default();
                    if not_valid {
                        state
                            .pending_not_null
                            .insert(name.value.clone(), column.value.clone());
                    } else {
                        state.not_null_checked.insert(column.value.clone());
                    }
                }
            }
            TableConstraint::Unique(_) if self.pg() => self.find(
                "pg_add_unique_constraint",
                format!("UNIQUE constraint added to the existing table `{table}`"),
            ),
            TableConstraint::PrimaryKey(_) if self.pg() => self.find(
                "pg_add_unique_constraint",
                format!("PRIMARY KEY added to the existing table `{table}`"),
            ),
            TableConstraint::PrimaryKey(_) if self.mysql() => self.find(
                "mysql_table_copy",
                format!("adding a primary key to `{table}` rebuilds it"),
            ),
            _ => {}
        }
    }

    pub(super) fn type_change(
        &mut self,
        table: &str,
        column: &str,
        new: &DataType,
        existing: bool,
    ) {
        let old = self
            .schema
            .tables
            .get(table)
            .and_then(|t| t.columns.get(column))
            .cloned();
        if let Some(state) = self.schema.tables.get_mut(table) {
            state.columns.insert(column.to_owned(), new.clone());
        }
        if !existing {
            return;
        }
        let how = old.as_ref().map_or(Change::Other, |old| change(old, new));
        let old_len = old.as_ref().and_then(varchar_len).flatten();
        let was = old.map_or_else(|| "an unknown type".to_owned(), |t| t.to_string());
        if how == Change::Narrowing {
            self.find(
                "narrowing_type",
                format!("`{table}.{column}` narrows from {was} to {new}"),
            );
        }
        if self.pg() && matches!(how, Change::Narrowing | Change::Other) {
            self.find(
                "pg_type_change_rewrite",
                format!("`{table}.{column}` changes from {was} to {new}: a table rewrite"),
            );
        }
        if self.mysql() {
            // Growing a VARCHAR is done in place while its length needs the same number
            // of length bytes (one up to 255 bytes; utf8mb4 takes 4 bytes a character).
            let two_bytes = |len: u64| len * 4 > 255;
            let in_place = match (&how, old_len, varchar_len(new).flatten()) {
                (Change::Same, ..) => true,
                (Change::Widening, Some(a), Some(b)) => two_bytes(a) == two_bytes(b),
                _ => false,
            };
            if !in_place {
                self.find(
                    "mysql_table_copy",
                    format!("`{table}.{column}` changes from {was} to {new}, which MySQL does with ALGORITHM=COPY"),
                );
            }
        }
    }
}
