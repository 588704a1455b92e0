//! MySQL's and MariaDB's catalog (`information_schema`), for the current database.

use super::{Column, DatabaseSchema, ForeignKey, Function, Index, View, cell, text};
use crate::backend::connection::Connection;

pub(super) async fn read(conn: &mut Connection<'_>) -> Result<DatabaseSchema, sqlx::Error> {
    let mut schema = DatabaseSchema::default();
    let mariadb = conn
        .strings("SELECT CAST(VERSION() AS CHAR)")
        .await?
        .first()
        .is_some_and(|v| v.contains("MariaDB"));

    let tables = conn
        .rows(
            "SELECT CAST(table_name AS CHAR), CAST(table_type AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type IN ('BASE TABLE', 'SEQUENCE')",
        )
        .await?;
    for row in &tables {
        if text(row, 1) == "SEQUENCE" {
            schema.sequences.insert(text(row, 0));
        } else {
            schema.tables.entry(text(row, 0)).or_default();
        }
    }

    let columns = conn
        .rows(
            "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(column_type AS CHAR), \
             CAST(is_nullable AS CHAR), CAST(column_default AS CHAR), CAST(extra AS CHAR), \
             CAST(generation_expression AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position",
        )
        .await?;
    for row in &columns {
        let Some(table) = schema.tables.get_mut(&text(row, 0)) else {
            continue;
        };
        let extra = text(row, 5).to_lowercase();
        let generated = match text(row, 6) {
            expression if !expression.is_empty() => {
                Some(format!("generated always as ({expression}) {extra}"))
            }
            // MySQL 8 marks an expression default so; MariaDB says nothing.
            _ => Some(extra.replace("default_generated", "").trim().to_owned())
                .filter(|e| !e.is_empty()),
        };
        // MariaDB writes a nullable column without a default as the text NULL.
        let default = cell(row, 4).filter(|d| !(mariadb && d == "NULL"));
        table.columns.push(Column {
            name: text(row, 1),
            data_type: text(row, 2),
            nullable: text(row, 3) == "YES",
            default: if text(row, 6).is_empty() {
                default
            } else {
                None
            },
            generated,
        });
    }

    let indexes = conn
        .rows(
            "SELECT CAST(table_name AS CHAR), CAST(index_name AS CHAR), CAST(non_unique AS CHAR), \
             CAST(column_name AS CHAR), CAST(sub_part AS CHAR), CAST(index_type AS CHAR) \
             FROM information_schema.statistics WHERE table_schema = DATABASE() \
             ORDER BY table_name, index_name, seq_in_index",
        )
        .await?;
    for row in &indexes {
        let Some(table) = schema.tables.get_mut(&text(row, 0)) else {
            continue;
        };
        let column = match cell(row, 4) {
            Some(length) => format!("{}({length})", text(row, 3)),
            None => cell(row, 3).unwrap_or_else(|| "(expression)".into()),
        };
        let name = text(row, 1);
        if name == "PRIMARY" {
            table.primary_key.push(column);
            continue;
        }
        let method = text(row, 5);
        table
            .indexes
            .entry(name)
            .or_insert_with(|| Index {
                columns: Vec::new(),
                unique: text(row, 2) == "0",
                predicate: None,
                method: (method != "BTREE").then_some(method),
                valid: true,
            })
            .columns
            .push(column);
    }

    let keys = conn
        .rows(
            "SELECT CAST(k.table_name AS CHAR), CAST(k.constraint_name AS CHAR), \
             CAST(k.column_name AS CHAR), CAST(k.referenced_table_name AS CHAR), \
             CAST(k.referenced_column_name AS CHAR), CAST(r.delete_rule AS CHAR), \
             CAST(r.update_rule AS CHAR) \
             FROM information_schema.key_column_usage k \
             JOIN information_schema.referential_constraints r \
             ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name \
             AND r.table_name = k.table_name \
             WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL \
             ORDER BY k.table_name, k.constraint_name, k.ordinal_position",
        )
        .await?;
    for row in &keys {
        let Some(table) = schema.tables.get_mut(&text(row, 0)) else {
            continue;
        };
        let key = table
            .foreign_keys
            .entry(text(row, 1))
            .or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                target: text(row, 3),
                target_columns: Vec::new(),
                on_delete: innodb_action(text(row, 5)),
                on_update: innodb_action(text(row, 6)),
                deferrable: None,
            });
        key.columns.push(text(row, 2));
        key.target_columns.push(text(row, 4));
    }

    // MariaDB names checks per table (its check_constraints has table_name); MySQL 8
    // per schema.
    let checks = conn
        .rows(if mariadb {
            "SELECT CAST(table_name AS CHAR), CAST(constraint_name AS CHAR), CAST(check_clause AS CHAR) \
             FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()"
        } else {
            "SELECT CAST(tc.table_name AS CHAR), CAST(tc.constraint_name AS CHAR), \
             CAST(cc.check_clause AS CHAR) FROM information_schema.table_constraints tc \
             JOIN information_schema.check_constraints cc \
             ON cc.constraint_schema = tc.constraint_schema AND cc.constraint_name = tc.constraint_name \
             WHERE tc.table_schema = DATABASE() AND tc.constraint_type = 'CHECK'"
        })
        .await?;
    for row in &checks {
        if let Some(table) = schema.tables.get_mut(&text(row, 0)) {
            table.checks.insert(text(row, 1), text(row, 2));
        }
    }

    let views = conn
        .rows(
            "SELECT CAST(table_name AS CHAR), CAST(view_definition AS CHAR) \
             FROM information_schema.views WHERE table_schema = DATABASE()",
        )
        .await?;
    for row in &views {
        schema.views.insert(
            text(row, 0),
            View {
                materialized: false,
                definition: text(row, 1),
            },
        );
    }

    let routines = conn
        .rows(
            "SELECT CAST(routine_name AS CHAR), CAST(LOWER(routine_type) AS CHAR), \
             CAST(COALESCE(dtd_identifier, '') AS CHAR), CAST(MD5(routine_definition) AS CHAR) \
             FROM information_schema.routines WHERE routine_schema = DATABASE()",
        )
        .await?;
    for row in &routines {
        schema.functions.insert(
            format!("{}()", text(row, 0)),
            Function {
                kind: text(row, 1),
                returns: text(row, 2),
                definition_md5: text(row, 3),
            },
        );
    }

    let triggers = conn
        .rows(
            "SELECT CAST(CONCAT(event_object_table, '.', trigger_name) AS CHAR), \
             CAST(CONCAT(action_timing, ' ', event_manipulation, ' (statement md5 ', \
             MD5(action_statement), ')') AS CHAR) \
             FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
        )
        .await?;
    for row in &triggers {
        schema.triggers.insert(text(row, 0), text(row, 1));
    }
    Ok(schema)
}

/// A foreign key's action as InnoDB applies it: NO ACTION is RESTRICT there (checked at
/// once), and MariaDB reports either for the same key depending on how it was added.
fn innodb_action(action: String) -> String {
    if action == "NO ACTION" {
        "RESTRICT".into()
    } else {
        action
    }
}
