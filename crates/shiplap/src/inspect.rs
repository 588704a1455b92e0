//! What a database holds, read from its catalog into one model for every backend: tables
//! (columns, primary key, indexes, foreign keys, checks), views, sequences, enum types,
//! functions and triggers. [`DatabaseSchema`]'s `Display` is stable sorted text (what
//! `migrate schema` prints and the example snapshots), and [`DatabaseSchema::diff`] says
//! which objects two schemas do not share (what `verify` and `diff` report).
//!
//! Each backend's catalog queries are in `inspect/{postgres,mysql,sqlite}.rs`. Types,
//! defaults and expressions are as the backend spells them (PostgreSQL's `format_type`
//! and `pg_get_expr`, MySQL's `COLUMN_TYPE`, SQLite's declared type): two schemas are
//! compared on the same backend, never across backends.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::connection::Connection;

mod mysql;
mod postgres;
mod sqlite;

/// A database's schema, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DatabaseSchema {
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
    /// Views by name (materialized ones marked).
    pub views: BTreeMap<String, View>,
    /// Sequences not owned by a column (an identity's or a serial's go with the column).
    pub sequences: BTreeSet<String>,
    /// Enum types (PostgreSQL) with their values in order.
    pub enums: BTreeMap<String, Vec<String>>,
    /// Functions and procedures by signature (`name(argument types)`).
    pub functions: BTreeMap<String, Function>,
    /// Triggers by `table.trigger`, with their definition.
    pub triggers: BTreeMap<String, String>,
}

/// A table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Table {
    /// Columns in their order.
    pub columns: Vec<Column>,
    /// Its primary key's columns, in key order (empty: none).
    pub primary_key: Vec<String>,
    /// Indexes by name (not the primary key's).
    pub indexes: BTreeMap<String, Index>,
    /// Foreign keys by name (SQLite, which keeps no names: by their columns).
    pub foreign_keys: BTreeMap<String, ForeignKey>,
    /// Check constraints by name (unnamed SQLite ones: `check N`), with their expression.
    pub checks: BTreeMap<String, String>,
    /// How a partitioned table is partitioned, or what a partition holds (PostgreSQL).
    pub partitioning: Option<String>,
}

/// A column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type, as the backend spells it.
    pub data_type: String,
    /// Whether it takes NULL.
    pub nullable: bool,
    /// Its default expression.
    pub default: Option<String>,
    /// How it is generated: an identity, auto-increment, or a generated expression.
    pub generated: Option<String>,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Index {
    /// Its columns or expressions, in order.
    pub columns: Vec<String>,
    /// Whether it is unique.
    pub unique: bool,
    /// A partial index's predicate.
    pub predicate: Option<String>,
    /// Its method when not the backend's usual one (PostgreSQL `gin`, MySQL `FULLTEXT`).
    pub method: Option<String>,
    /// `false` for an index a failed `CREATE INDEX CONCURRENTLY` left (PostgreSQL).
    pub valid: bool,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ForeignKey {
    /// Its columns.
    pub columns: Vec<String>,
    /// The table it references.
    pub target: String,
    /// The columns it references.
    pub target_columns: Vec<String>,
    /// `ON DELETE` (normalised to upper case; `NO ACTION` when unset).
    pub on_delete: String,
    /// `ON UPDATE`.
    pub on_update: String,
    /// `DEFERRABLE ...` (PostgreSQL), `None` when not deferrable.
    pub deferrable: Option<String>,
}

/// A view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct View {
    /// Materialized (PostgreSQL).
    pub materialized: bool,
    /// Its query, as the backend keeps it.
    pub definition: String,
}

/// A function or procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Function {
    /// `function` or `procedure`.
    pub kind: String,
    /// What it returns (empty for a procedure).
    pub returns: String,
    /// An MD5 of its whole definition: a changed body shows as a changed function.
    pub definition_md5: String,
}

/// One object two schemas do not share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Change {
    /// The object: `table orders`, `index orders_user_id_idx on orders`, ...
    pub object: String,
    /// How it is in the first schema (`None`: absent).
    pub before: Option<String>,
    /// How it is in the second (`None`: absent).
    pub after: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.before, &self.after) {
            (None, Some(after)) => write!(f, "+ {}: {after}", self.object),
            (Some(before), None) => write!(f, "- {}: {before}", self.object),
            (Some(before), Some(after)) => {
                write!(f, "~ {}: {before}\n      now: {after}", self.object)
            }
            (None, None) => write!(f, "  {}", self.object),
        }
    }
}

impl DatabaseSchema {
    /// Reads the schema of the database `conn` is connected to (PostgreSQL: its current
    /// schema; MySQL: its current database), leaving out shiplap's own tables (`history`
    /// and those named after it, and the copies that drops keep).
    pub(crate) async fn read(
        conn: &mut Connection<'_>,
        history: &str,
    ) -> Result<Self, sqlx::Error> {
        let mut schema = match conn.backend() {
            Backend::Postgres => postgres::read(conn).await?,
            Backend::MySql => mysql::read(conn).await?,
            Backend::Sqlite => sqlite::read(conn).await?,
        };
        schema.tables.retain(|name, _| {
            !name.starts_with(history) && !name.starts_with(crate::schema::BACKUP_PREFIX)
        });
        schema.triggers.retain(|name, _| !name.starts_with(history));
        Ok(schema)
    }

    /// Every object with its description, keyed so that each is named once.
    fn objects(&self) -> BTreeMap<String, String> {
        let mut objects = BTreeMap::new();
        for (name, table) in &self.tables {
            objects.insert(
                format!("table {name}"),
                table
                    .partitioning
                    .clone()
                    .unwrap_or_else(|| "exists".into()),
            );
            for column in &table.columns {
                objects.insert(format!("column {name}.{}", column.name), column.describe());
            }
            if !table.primary_key.is_empty() {
                objects.insert(
                    format!("primary key of {name}"),
                    format!("({})", table.primary_key.join(", ")),
                );
            }
            for (index_name, index) in &table.indexes {
                objects.insert(format!("index {index_name} on {name}"), index.describe());
            }
            for (fk, key) in &table.foreign_keys {
                objects.insert(format!("foreign key {fk} on {name}"), key.describe());
            }
            for (check, expression) in &table.checks {
                objects.insert(format!("check {check} on {name}"), expression.clone());
            }
        }
        for (name, view) in &self.views {
            let kind = if view.materialized {
                "materialized view"
            } else {
                "view"
            };
            objects.insert(format!("{kind} {name}"), view.definition.clone());
        }
        for name in &self.sequences {
            objects.insert(format!("sequence {name}"), "exists".into());
        }
        for (name, values) in &self.enums {
            objects.insert(format!("enum {name}"), values.join(", "));
        }
        for (signature, function) in &self.functions {
            objects.insert(
                format!("{} {signature}", function.kind),
                format!(
                    "returns {} (definition md5 {})",
                    function.returns, function.definition_md5
                ),
            );
        }
        for (name, definition) in &self.triggers {
            objects.insert(format!("trigger {name}"), definition.clone());
        }
        objects
    }

    /// The objects `self` and `other` do not share, or describe differently, in the order
    /// of their names: a removed one has no `after`, an added one no `before`.
    pub fn diff(&self, other: &DatabaseSchema) -> Vec<Change> {
        let (before, after) = (self.objects(), other.objects());
        let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        names
            .into_iter()
            .filter(|name| before.get(*name) != after.get(*name))
            .map(|name| Change {
                object: name.clone(),
                before: before.get(name).cloned(),
                after: after.get(name).cloned(),
            })
            .collect()
    }

    /// Whether it holds nothing (no table, view, sequence, type, function or trigger).
    pub fn is_empty(&self) -> bool {
        self == &DatabaseSchema::default()
    }
}

impl Column {
    fn describe(&self) -> String {
        let mut text = self.data_type.clone();
        if !self.nullable {
            text.push_str(" not null");
        }
        if let Some(default) = &self.default {
            text.push_str(&format!(" default {default}"));
        }
        if let Some(generated) = &self.generated {
            text.push_str(&format!(" {generated}"));
        }
        text
    }
}

impl Index {
    fn describe(&self) -> String {
        let mut text = String::new();
        if self.unique {
            text.push_str("unique ");
        }
        if let Some(method) = &self.method {
            text.push_str(&format!("using {method} "));
        }
        text.push_str(&format!("({})", self.columns.join(", ")));
        if let Some(predicate) = &self.predicate {
            text.push_str(&format!(" where {predicate}"));
        }
        if !self.valid {
            text.push_str(" INVALID");
        }
        text
    }
}

impl ForeignKey {
    fn describe(&self) -> String {
        let mut text = format!(
            "({}) references {} ({})",
            self.columns.join(", "),
            self.target,
            self.target_columns.join(", ")
        );
        if self.on_delete != "NO ACTION" {
            text.push_str(&format!(" on delete {}", self.on_delete.to_lowercase()));
        }
        if self.on_update != "NO ACTION" {
            text.push_str(&format!(" on update {}", self.on_update.to_lowercase()));
        }
        if let Some(deferrable) = &self.deferrable {
            text.push_str(&format!(" {}", deferrable.to_lowercase()));
        }
        text
    }
}

/// The schema as text: one line per object, each table's objects indented under it.
impl fmt::Display for DatabaseSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, table) in &self.tables {
            writeln!(f, "table {name}")?;
            if let Some(partitioning) = &table.partitioning {
                writeln!(f, "  {partitioning}")?;
            }
            for column in &table.columns {
                writeln!(f, "  column {}: {}", column.name, column.describe())?;
            }
            if !table.primary_key.is_empty() {
                writeln!(f, "  primary key ({})", table.primary_key.join(", "))?;
            }
            for (index, definition) in &table.indexes {
                writeln!(f, "  index {index}: {}", definition.describe())?;
            }
            for (fk, key) in &table.foreign_keys {
                writeln!(f, "  foreign key {fk}: {}", key.describe())?;
            }
            for (check, expression) in &table.checks {
                writeln!(f, "  check {check}: {expression}")?;
            }
        }
        let objects = self.objects();
        for (object, description) in objects.iter().filter(|(object, _)| !is_table_part(object)) {
            if description == "exists" {
                writeln!(f, "{object}")?;
            } else {
                writeln!(f, "{object}: {description}")?;
            }
        }
        Ok(())
    }
}

/// Whether an object key names a table or one of its parts (written under the table).
fn is_table_part(object: &str) -> bool {
    [
        "table ",
        "column ",
        "primary key ",
        "index ",
        "foreign key ",
        "check ",
    ]
    .iter()
    .any(|prefix| object.starts_with(prefix))
}

/// The changes as text, a line each (a changed object on two), each line indented by
/// `indent`: what `verify` and `diff` print.
pub fn changes_text(changes: &[Change], indent: &str) -> String {
    changes
        .iter()
        .map(|change| {
            change
                .to_string()
                .lines()
                .map(|line| format!("{indent}{line}\n"))
                .collect::<String>()
        })
        .collect()
}

/// A text cell of a catalog row (`None` for NULL or a missing column).
fn cell(row: &[Option<String>], i: usize) -> Option<String> {
    row.get(i).cloned().flatten()
}

/// A text cell, empty for NULL.
fn text(row: &[Option<String>], i: usize) -> String {
    cell(row, i).unwrap_or_default()
}

/// A list cell (items separated by the unit separator, `chr(31)`, which names and
/// expressions do not hold) as a list; empty for NULL or empty text.
fn list(row: &[Option<String>], i: usize) -> Vec<String> {
    cell(row, i)
        .filter(|s| !s.is_empty())
        .map(|s| s.split('\u{1f}').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `s` quoted as an SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(column_type: &str, index: bool) -> DatabaseSchema {
        let mut table = Table {
            columns: vec![Column {
                name: "id".into(),
                data_type: column_type.into(),
                nullable: false,
                default: None,
                generated: None,
            }],
            primary_key: vec!["id".into()],
            ..Table::default()
        };
        if index {
            table.indexes.insert(
                "t_id_idx".into(),
                Index {
                    columns: vec!["id".into()],
                    unique: false,
                    predicate: Some("id > 0".into()),
                    method: None,
                    valid: true,
                },
            );
        }
        let mut schema = DatabaseSchema::default();
        schema.tables.insert("t".into(), table);
        schema
    }

    #[test]
    fn a_diff_names_each_object_that_differs() {
        let before = schema("bigint", true);
        let after = schema("integer", false);
        let changes = before.diff(&after);
        assert_eq!(
            changes_text(&changes, "  "),
            "  ~ column t.id: bigint not null\n        now: integer not null\n  \
             - index t_id_idx on t: (id) where id > 0\n"
        );
        assert!(before.diff(&before).is_empty());
    }

    #[test]
    fn the_text_is_sorted_and_grouped_by_table() {
        let mut schema = schema("bigint", true);
        schema.sequences.insert("s".into());
        schema
            .enums
            .insert("mood".into(), vec!["'a'".into(), "'b'".into()]);
        assert_eq!(
            schema.to_string(),
            "table t\n  column id: bigint not null\n  primary key (id)\n  \
             index t_id_idx: (id) where id > 0\nenum mood: 'a', 'b'\nsequence s\n"
        );
    }
}
