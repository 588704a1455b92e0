//! `migrate new NAME --from-diff`: the Rust migration that turns the schema the
//! migrations build into the schema of a database changed by hand. Steps are written in
//! the DSL (with downs) where it can say them, in raw SQL of the database's backend
//! where it cannot, and as `// REVIEW:` comments where a person has to decide (a removed
//! column may be a rename; a function's body is not in the model).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::backend::Backend;
use crate::inspect::{Column, DatabaseSchema, ForeignKey, Index, Table};

/// The body of a schema migration (the statements inside `fn name(s: &mut Schema)`), and
/// how many of its steps ask for review.
pub(crate) struct Generated {
    pub(crate) body: String,
    pub(crate) steps: usize,
    pub(crate) reviews: usize,
}

/// The steps that make `from` (what the migrations build) into `to` (the database).
pub(crate) fn steps(backend: Backend, from: &DatabaseSchema, to: &DatabaseSchema) -> Generated {
    let mut g = Gen {
        backend,
        out: String::new(),
        steps: 0,
        reviews: 0,
    };
    // New tables, those referenced first.
    let added: Vec<&String> = to
        .tables
        .keys()
        .filter(|t| !from.tables.contains_key(*t))
        .collect();
    for name in referenced_first(&added, to) {
        g.create_table(name, &to.tables[name]);
    }
    for (name, new) in &to.tables {
        if let Some(old) = from.tables.get(name) {
            g.change_table(name, old, new);
        }
    }
    for (name, view) in &to.views {
        match from.views.get(name) {
            None => {
                let kind = if view.materialized {
                    "MATERIALIZED VIEW"
                } else {
                    "VIEW"
                };
                let q = g.quote(name);
                let create = match backend {
                    Backend::Sqlite => view.definition.clone(),
                    _ => format!("CREATE {kind} {q} AS {}", view.definition),
                };
                g.raw(
                    &format!("+ view {name}"),
                    &create,
                    &format!("DROP {kind} {q}"),
                );
            }
            Some(old) if old != view => g.review(&format!(
                "view {name} differs: replace it with raw SQL (now: {})",
                view.definition
            )),
            Some(_) => {}
        }
    }
    for (name, values) in &to.enums {
        match from.enums.get(name) {
            None => g.raw(
                &format!("+ enum {name}"),
                &format!(
                    "CREATE TYPE {} AS ENUM ({})",
                    g.quote(name),
                    values.join(", ")
                ),
                &format!("DROP TYPE {}", g.quote(name)),
            ),
            Some(old) if old != values => g.review(&format!(
                "enum {name} is now ({}): ALTER TYPE ... ADD VALUE for each new value",
                values.join(", ")
            )),
            Some(_) => {}
        }
    }
    for name in to.sequences.difference(&from.sequences) {
        let q = g.quote(name);
        g.raw(
            &format!("+ sequence {name}"),
            &format!("CREATE SEQUENCE {q}"),
            &format!("DROP SEQUENCE {q}"),
        );
    }
    for (signature, function) in &to.functions {
        if from.functions.get(signature) != Some(function) {
            g.review(&format!(
                "{} {signature} is new or changed: write its CREATE OR REPLACE as raw SQL \
                 (the schema model keeps only a checksum of its body)",
                function.kind
            ));
        }
    }
    for (name, definition) in &to.triggers {
        if from.triggers.get(name) != Some(definition) {
            g.review(&format!(
                "trigger {name} is new or changed: write it as raw SQL ({definition})"
            ));
        }
    }

    // What the database no longer has.
    for (name, view) in &from.views {
        if !to.views.contains_key(name) {
            g.review(&format!(
                "view {name} is gone: drop it with raw SQL, its down re-creating it as {}",
                view.definition
            ));
        }
    }
    for (name, old) in &from.tables {
        if !to.tables.contains_key(name) {
            g.note(&format!(
                "REVIEW: table {name} is gone: dropping it destroys its data (was it renamed?)"
            ));
            let create = g.create_statement(name, old);
            let _ = writeln!(
                g.out,
                "    s.drop_table(Table::drop().table({})).down(\n{create}\n    );",
                lit(name)
            );
            g.steps += 1;
            g.reviews += 1;
        }
    }
    for name in from.enums.keys().filter(|e| !to.enums.contains_key(*e)) {
        g.review(&format!("enum {name} is gone: drop it with raw SQL"));
    }
    for name in from.sequences.difference(&to.sequences) {
        g.review(&format!("sequence {name} is gone: drop it with raw SQL"));
    }
    for signature in from
        .functions
        .keys()
        .filter(|f| !to.functions.contains_key(*f))
    {
        g.review(&format!("{signature} is gone: drop it with raw SQL"));
    }
    for name in from
        .triggers
        .keys()
        .filter(|t| !to.triggers.contains_key(*t))
    {
        g.review(&format!("trigger {name} is gone: drop it with raw SQL"));
    }
    Generated {
        body: g.out,
        steps: g.steps,
        reviews: g.reviews,
    }
}

/// `tables` ordered so that a table comes after the new tables its foreign keys name.
fn referenced_first<'a>(tables: &[&'a String], schema: &DatabaseSchema) -> Vec<&'a String> {
    let mut done: Vec<&String> = Vec::new();
    let mut left: Vec<&String> = tables.to_vec();
    while !left.is_empty() {
        let ready =
            left.iter()
                .position(|t| {
                    schema.tables[*t].foreign_keys.values().all(|fk| {
                        fk.target == **t || !left.iter().any(|other| **other == fk.target)
                    })
                })
                .unwrap_or(0);
        done.push(left.remove(ready));
    }
    done
}

struct Gen {
    backend: Backend,
    out: String,
    steps: usize,
    reviews: usize,
}

/// `s` as a Rust string literal.
fn lit(s: &str) -> String {
    format!("{s:?}")
}

impl Gen {
    fn quote(&self, name: &str) -> String {
        self.backend.quote_name(name)
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.out, "    // {text}");
    }

    /// A comment asking a person to write what the generator cannot.
    fn review(&mut self, text: &str) {
        let _ = writeln!(self.out, "    // REVIEW: {text}");
        self.reviews += 1;
    }

    /// A raw SQL step for this backend only, with its down.
    fn raw(&mut self, what: &str, up: &str, down: &str) {
        let backend = match self.backend {
            Backend::Postgres => "Postgres",
            Backend::MySql => "MySql",
            Backend::Sqlite => "Sqlite",
        };
        let _ = writeln!(
            self.out,
            "    // {what} (raw SQL: the DSL cannot say it)\n    \
             s.only_on(&[Backend::{backend}], |s| {{\n        \
             s.raw({}).down({});\n    }});",
            lit(up),
            lit(down)
        );
        self.steps += 1;
    }

    /// `ColumnDef::new(..)...` for a column, or `None` when its type needs raw SQL.
    fn column_def(&self, column: &Column, primary: bool) -> String {
        let mut def = format!("ColumnDef::new({})", lit(&column.name));
        def.push_str(&self.column_type(&column.data_type));
        def.push_str(if column.nullable {
            ".null()"
        } else {
            ".not_null()"
        });
        let auto = column.generated.as_deref().is_some_and(|g| {
            g.contains("identity") || g.contains("auto_increment") || g == "autoincrement"
        });
        if auto {
            def.push_str(".auto_increment()");
        }
        if primary {
            def.push_str(".primary_key()");
        }
        if let Some(default) = &column.default {
            let _ = write!(def, ".default(Expr::cust({}))", lit(default));
        }
        def
    }

    /// The builder call for a type, as the catalog spells it on this backend.
    fn column_type(&self, ty: &str) -> String {
        let lower = ty.to_ascii_lowercase();
        let args = |prefix: &str| -> Option<Vec<u32>> {
            let inner = lower
                .strip_prefix(prefix)?
                .strip_prefix('(')?
                .strip_suffix(')')?;
            inner.split(',').map(|n| n.trim().parse().ok()).collect()
        };
        let portable = match (self.backend, lower.as_str()) {
            (Backend::Postgres, "bigint") | (Backend::MySql, "bigint" | "bigint(20)") => {
                Some(".big_integer()".to_owned())
            }
            (Backend::Postgres, "integer") | (Backend::MySql, "int" | "int(11)") => {
                Some(".integer()".to_owned())
            }
            (Backend::Sqlite, "integer") => Some(".integer()".to_owned()),
            (Backend::Postgres, "smallint") | (Backend::MySql, "smallint" | "smallint(6)") => {
                Some(".small_integer()".to_owned())
            }
            (Backend::Postgres | Backend::MySql, "text") => Some(".text()".to_owned()),
            (Backend::Postgres, "boolean") | (Backend::MySql, "tinyint(1)") => {
                Some(".boolean()".to_owned())
            }
            (Backend::Postgres, "timestamp with time zone") => {
                Some(".timestamp_with_time_zone()".to_owned())
            }
            (Backend::Postgres, "jsonb") => Some(".json_binary()".to_owned()),
            (Backend::Postgres, "uuid") => Some(".uuid()".to_owned()),
            (Backend::Postgres | Backend::MySql, "date") => Some(".date()".to_owned()),
            (Backend::Postgres, "double precision") | (Backend::MySql, "double") => {
                Some(".double()".to_owned())
            }
            _ => None,
        };
        if let Some(portable) = portable {
            return portable;
        }
        let varchar = match self.backend {
            Backend::Postgres => args("character varying"),
            _ => args("varchar"),
        };
        if let Some([n]) = varchar.as_deref() {
            return format!(".string_len({n})");
        }
        let decimal = match self.backend {
            Backend::Postgres => args("numeric"),
            Backend::MySql => args("decimal"),
            Backend::Sqlite => None,
        };
        if let Some([p, s]) = decimal.as_deref() {
            return format!(".decimal_len({p}, {s})");
        }
        format!(".custom(Alias::new({}))", lit(ty))
    }

    fn foreign_key(&self, table: &str, name: &str, fk: &ForeignKey) -> String {
        let mut text = String::from("ForeignKey::create()");
        if self.backend != Backend::Sqlite {
            let _ = write!(text, ".name({})", lit(name));
        }
        let _ = write!(text, ".from_tbl({})", lit(table));
        for column in &fk.columns {
            let _ = write!(text, ".from_col({})", lit(column));
        }
        let _ = write!(text, ".to_tbl({})", lit(&fk.target));
        for column in &fk.target_columns {
            let _ = write!(text, ".to_col({})", lit(column));
        }
        for (method, action) in [("on_delete", &fk.on_delete), ("on_update", &fk.on_update)] {
            let variant = match action.as_str() {
                "CASCADE" => Some("Cascade"),
                "SET NULL" => Some("SetNull"),
                "SET DEFAULT" => Some("SetDefault"),
                "RESTRICT" => Some("Restrict"),
                _ => None,
            };
            if let Some(variant) = variant {
                let _ = write!(text, ".{method}(ForeignKeyAction::{variant})");
            }
        }
        text
    }

    /// Whether sea-query can build the index: plain columns, the usual method, no
    /// predicate.
    fn index_is_plain(index: &Index) -> bool {
        index.predicate.is_none()
            && index.method.is_none()
            && index
                .columns
                .iter()
                .all(|c| c.chars().all(|ch| ch.is_alphanumeric() || ch == '_'))
    }

    fn create_index_statement(name: &str, index: &Index) -> String {
        let mut text = format!("Index::create().name({})", lit(name));
        for column in &index.columns {
            let _ = write!(text, ".col({})", lit(column));
        }
        if index.unique {
            text.push_str(".unique()");
        }
        text
    }

    fn raw_index(&self, table: &str, name: &str, index: &Index) -> (String, String) {
        let method = match (&index.method, self.backend) {
            (Some(method), Backend::Postgres) => format!(" USING {method}"),
            _ => String::new(),
        };
        let kind = match (&index.method, self.backend) {
            (Some(method), Backend::MySql) if method == "FULLTEXT" || method == "SPATIAL" => {
                format!("{method} ")
            }
            _ => String::new(),
        };
        let mut up = format!(
            "CREATE {}{kind}INDEX {} ON {}{method} ({})",
            if index.unique { "UNIQUE " } else { "" },
            self.quote(name),
            self.quote(table),
            index.columns.join(", ")
        );
        if let Some(predicate) = &index.predicate {
            let _ = write!(up, " WHERE {predicate}");
        }
        let down = match self.backend {
            Backend::MySql => format!("DROP INDEX {} ON {}", self.quote(name), self.quote(table)),
            _ => format!("DROP INDEX {}", self.quote(name)),
        };
        (up, down)
    }

    fn add_index(&mut self, table: &str, name: &str, index: &Index) {
        if Self::index_is_plain(index) {
            let _ = writeln!(
                self.out,
                "    // + index {name} on {table}\n    s.create_index({}, {});",
                lit(table),
                Self::create_index_statement(name, index)
            );
            self.steps += 1;
        } else {
            let (up, down) = self.raw_index(table, name, index);
            self.raw(&format!("+ index {name} on {table}"), &up, &down);
        }
    }

    /// A check's expression, without the `CHECK` PostgreSQL's definition starts with.
    fn check_expression(expression: &str) -> String {
        let trimmed = expression.trim();
        let upper = trimmed.to_ascii_uppercase();
        let body = if upper.starts_with("CHECK") {
            trimmed["CHECK".len()..].trim()
        } else {
            trimmed
        };
        body.trim_end_matches(" NOT VALID").to_owned()
    }

    /// `Table::create()...` for a table (indented as a step's argument).
    fn create_statement(&self, name: &str, table: &Table) -> String {
        let mut text = format!("        Table::create()\n            .table({})", lit(name));
        let single = table.primary_key.len() == 1;
        for column in &table.columns {
            let primary = single && table.primary_key[0] == column.name;
            let _ = write!(
                text,
                "\n            .col({})",
                self.column_def(column, primary)
            );
        }
        if table.primary_key.len() > 1 {
            let columns: String = table
                .primary_key
                .iter()
                .map(|c| format!(".col({})", lit(c)))
                .collect();
            let _ = write!(text, "\n            .primary_key(Index::create(){columns})");
        }
        for (fk_name, fk) in &table.foreign_keys {
            let _ = write!(
                text,
                "\n            .foreign_key({})",
                self.foreign_key(name, fk_name, fk)
            );
        }
        for (check, expression) in &table.checks {
            let expression = lit(&Self::check_expression(expression));
            if self.backend == Backend::Sqlite && check.starts_with("check ") {
                let _ = write!(text, "\n            .check(Expr::cust({expression}))");
            } else {
                let _ = write!(
                    text,
                    "\n            .check(({}, Expr::cust({expression})))",
                    lit(check)
                );
            }
        }
        text
    }

    fn create_table(&mut self, name: &str, table: &Table) {
        if let Some(partitioning) = &table.partitioning {
            self.review(&format!(
                "table {name} is {partitioning}: add PARTITION BY / PARTITION OF with raw SQL"
            ));
        }
        let create = self.create_statement(name, table);
        let _ = writeln!(
            self.out,
            "    // + table {name}\n    s.create_table(\n{create},\n    );"
        );
        self.steps += 1;
        for (index_name, index) in &table.indexes {
            self.add_index(name, index_name, index);
        }
    }

    fn change_table(&mut self, name: &str, old: &Table, new: &Table) {
        let old_columns: BTreeSet<&str> = old.columns.iter().map(|c| c.name.as_str()).collect();
        let new_columns: BTreeSet<&str> = new.columns.iter().map(|c| c.name.as_str()).collect();
        for column in new
            .columns
            .iter()
            .filter(|c| !old_columns.contains(c.name.as_str()))
        {
            let _ = writeln!(
                self.out,
                "    // + column {name}.{}\n    s.add_column({}, {});",
                column.name,
                lit(name),
                self.column_def(column, false)
            );
            self.steps += 1;
        }
        for column in &new.columns {
            let Some(before) = old.columns.iter().find(|c| c.name == column.name) else {
                continue;
            };
            if before == column {
                continue;
            }
            if self.backend == Backend::Sqlite {
                self.review(&format!(
                    "column {name}.{} changed ({} -> {}): SQLite cannot alter a column; \
                     rebuild the table with raw SQL",
                    column.name, before.data_type, column.data_type
                ));
                continue;
            }
            self.note(&format!(
                "REVIEW: column {name}.{} changed: check the type change keeps the data",
                column.name
            ));
            let _ = writeln!(
                self.out,
                "    s.alter_table(Table::alter().table({t}).modify_column({new}))\n        \
                 .down(Table::alter().table({t}).modify_column({old}));",
                t = lit(name),
                new = self.column_def(column, false),
                old = self.column_def(before, false)
            );
            self.steps += 1;
            self.reviews += 1;
        }
        for (index_name, index) in &new.indexes {
            match old.indexes.get(index_name) {
                None => self.add_index(name, index_name, index),
                Some(before) if before != index => {
                    self.review(&format!(
                        "index {index_name} on {name} changed: drop it and create it again"
                    ));
                }
                Some(_) => {}
            }
        }
        for (fk_name, fk) in &new.foreign_keys {
            if old.foreign_keys.get(fk_name) == Some(fk) {
                continue;
            }
            if self.backend == Backend::Sqlite || old.foreign_keys.contains_key(fk_name) {
                self.review(&format!(
                    "foreign key {fk_name} on {name} is new or changed: {}",
                    if self.backend == Backend::Sqlite {
                        "SQLite cannot add one to an existing table; rebuild it with raw SQL"
                    } else {
                        "drop it and add it again"
                    }
                ));
                continue;
            }
            let _ = writeln!(
                self.out,
                "    // + foreign key {fk_name} on {name}\n    s.create_foreign_key({});",
                self.foreign_key(name, fk_name, fk)
            );
            self.steps += 1;
        }
        for (check, expression) in &new.checks {
            if old.checks.get(check) == Some(expression) {
                continue;
            }
            if self.backend == Backend::Sqlite || old.checks.contains_key(check) {
                self.review(&format!(
                    "check {check} on {name} is new or changed: {expression}"
                ));
                continue;
            }
            let (t, c) = (self.quote(name), self.quote(check));
            let down = format!("ALTER TABLE {t} DROP CONSTRAINT {c}");
            self.raw(
                &format!("+ check {check} on {name}"),
                &format!(
                    "ALTER TABLE {t} ADD CONSTRAINT {c} CHECK ({})",
                    Self::check_expression(expression)
                ),
                &down,
            );
        }
        if old.primary_key != new.primary_key {
            self.review(&format!(
                "the primary key of {name} is now ({}): change it with raw SQL",
                new.primary_key.join(", ")
            ));
        }

        // Removed: foreign keys, indexes, checks, then columns.
        for (fk_name, fk) in &old.foreign_keys {
            if new.foreign_keys.contains_key(fk_name) {
                continue;
            }
            if self.backend == Backend::Sqlite {
                self.review(&format!(
                    "foreign key {fk_name} on {name} is gone: rebuild the table with raw SQL"
                ));
                continue;
            }
            let _ = writeln!(
                self.out,
                "    // - foreign key {fk_name} on {name}\n    \
                 s.drop_foreign_key(ForeignKey::drop().name({}).table({}))\n        .down({});",
                lit(fk_name),
                lit(name),
                self.foreign_key(name, fk_name, fk)
            );
            self.steps += 1;
        }
        for (index_name, index) in &old.indexes {
            if new.indexes.contains_key(index_name) {
                continue;
            }
            if Self::index_is_plain(index) {
                let _ = writeln!(
                    self.out,
                    "    // - index {index_name} on {name}\n    \
                     s.drop_index(Index::drop().name({}).table({}))\n        .down({}.table({}).to_owned());",
                    lit(index_name),
                    lit(name),
                    Self::create_index_statement(index_name, index),
                    lit(name)
                );
                self.steps += 1;
            } else {
                let (create, drop) = self.raw_index(name, index_name, index);
                self.raw(&format!("- index {index_name} on {name}"), &drop, &create);
            }
        }
        for (check, expression) in &old.checks {
            if !new.checks.contains_key(check) {
                self.review(&format!(
                    "check {check} on {name} is gone (it was {expression}): drop it with raw SQL"
                ));
            }
        }
        for column in old
            .columns
            .iter()
            .filter(|c| !new_columns.contains(c.name.as_str()))
        {
            self.note(&format!(
                "REVIEW: column {name}.{} is gone: dropping it destroys its data. If it was \
                 renamed, replace this step and the new column's with rename_column",
                column.name
            ));
            let _ = writeln!(
                self.out,
                "    s.drop_column({t}, {c})\n        .down(Table::alter().table({t}).add_column({def}));",
                t = lit(name),
                c = lit(&column.name),
                def = self.column_def(column, false)
            );
            self.steps += 1;
            self.reviews += 1;
        }
    }
}
