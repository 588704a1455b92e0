//! What each parsed statement does to a live database, rule by rule.

use std::collections::{HashMap, HashSet};

use sqlparser::ast::{
    AlterColumnOperation, AlterTableAlgorithm, AlterTableLock, AlterTableOperation,
    CharacterLength, ColumnDef, ColumnOption, DataType, ExactNumberInfo, Expr, ObjectName,
    ObjectType, Statement, TableConstraint, TimezoneInfo,
};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::{LintOptions, Subject};
use crate::{Backend, Kind};

/// A finding before it is dressed: (rule, statement, message).
pub(super) type Raw = (&'static str, Option<String>, String);

/// What the migrations so far have built.
#[derive(Debug, Default)]
pub(super) struct SchemaState {
    tables: HashMap<String, TableState>,
}

#[derive(Debug, Default, Clone)]
struct TableState {
    /// Column name → type.
    columns: HashMap<String, DataType>,
    /// Columns declared NOT NULL (or primary key).
    not_null: HashSet<String>,
    /// Columns with a validated `CHECK (col IS NOT NULL)`.
    not_null_checked: HashSet<String>,
    /// NOT VALID checks `col IS NOT NULL` not validated yet: constraint → column.
    pending_not_null: HashMap<String, String>,
}

/// Volatile functions: a default calling one is evaluated per row.
const VOLATILE: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
];

/// One migration's walk.
struct Walk<'a> {
    backend: Backend,
    subject: &'a Subject,
    schema: &'a mut SchemaState,
    found: Vec<Raw>,
    /// Tables created by this migration: changing them locks nobody.
    created: HashSet<String>,
    /// Indexes created by this migration.
    created_indexes: HashSet<String>,
    /// Constraints added NOT VALID in this migration.
    not_valid: HashSet<String>,
    /// The first statement taking a strong lock on an existing table (PostgreSQL).
    strong_lock: Option<String>,
    lock_timeout_set: bool,
    ddl: Option<String>,
    dml: Option<String>,
    /// The statement being looked at.
    sql: String,
}

/// Lints one migration, and records what it builds in `schema`.
pub(super) fn migration(
    schema: &mut SchemaState,
    subject: &Subject,
    backend: Backend,
    options: LintOptions,
) -> Vec<Raw> {
    let mut walk = Walk {
        backend,
        subject,
        schema,
        found: Vec::new(),
        created: HashSet::new(),
        created_indexes: HashSet::new(),
        not_valid: HashSet::new(),
        strong_lock: None,
        lock_timeout_set: false,
        ddl: None,
        dml: None,
        sql: String::new(),
    };
    let dialect: Box<dyn Dialect> = match backend {
        Backend::Postgres => Box::new(PostgreSqlDialect {}),
        Backend::MySql => Box::new(MySqlDialect {}),
        Backend::Sqlite => Box::new(SQLiteDialect {}),
    };
    for sql in &subject.statements {
        walk.sql = sql.trim().trim_end_matches(';').to_owned();
        let (text, concurrently) = walk.work_around_parser(&walk.sql.clone());
        let Some(text) = text else { continue };
        match Parser::parse_sql(&*dialect, &text) {
            Ok(statements) => {
                for statement in statements {
                    walk.statement(&statement, concurrently);
                }
            }
            Err(e) => walk.find("unparsed_statement", format!("could not parse it: {e}")),
        }
    }
    walk.finish(options);
    walk.found
}

fn name_of(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map_or_else(|| name.to_string(), |ident| ident.value.clone())
}

/// Integer width in bits, for the integer types.
fn int_bits(data_type: &DataType) -> Option<u32> {
    Some(match data_type {
        DataType::TinyInt(_) => 8,
        DataType::SmallInt(_) | DataType::Int2(_) => 16,
        DataType::MediumInt(_) => 24,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => 32,
        DataType::BigInt(_) | DataType::Int8(_) => 64,
        _ => return None,
    })
}

/// A varchar's length (`None`: unbounded, as text).
fn varchar_len(data_type: &DataType) -> Option<Option<u64>> {
    match data_type {
        DataType::Varchar(len) | DataType::CharacterVarying(len) | DataType::Nvarchar(len) => {
            Some(match len {
                Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
                _ => None,
            })
        }
        DataType::Text => Some(None),
        _ => None,
    }
}

fn numeric(data_type: &DataType) -> Option<(u64, i64)> {
    match data_type {
        DataType::Numeric(info) | DataType::Decimal(info) => Some(match info {
            ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
            ExactNumberInfo::Precision(p) => (*p, 0),
            ExactNumberInfo::None => (1000, 1000),
        }),
        _ => None,
    }
}

/// How a column type change relates old to new.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Same,
    /// Holds every old value, without a rewrite on PostgreSQL.
    Widening,
    /// May fail on or truncate existing values.
    Narrowing,
    /// Anything else (a different kind of type).
    Other,
}

fn change(old: &DataType, new: &DataType) -> Change {
    if old == new {
        return Change::Same;
    }
    if let (Some(a), Some(b)) = (varchar_len(old), varchar_len(new)) {
        return match (a, b) {
            (_, None) => Change::Widening,
            (None, Some(_)) => Change::Narrowing,
            (Some(a), Some(b)) if b >= a => Change::Widening,
            _ => Change::Narrowing,
        };
    }
    if let (Some(a), Some(b)) = (int_bits(old), int_bits(new)) {
        // Wider integers are still a rewrite on PostgreSQL.
        return if b < a {
            Change::Narrowing
        } else {
            Change::Other
        };
    }
    if let (Some((p1, s1)), Some((p2, s2))) = (numeric(old), numeric(new)) {
        return if s2 == s1 && p2 >= p1 {
            Change::Widening
        } else if p2 < p1 || s2 < s1 {
            Change::Narrowing
        } else {
            Change::Other
        };
    }
    Change::Other
}

impl Walk<'_> {
    fn find(&mut self, rule: &'static str, message: String) {
        self.found.push((rule, Some(self.sql.clone()), message));
    }

    fn pg(&self) -> bool {
        self.backend == Backend::Postgres
    }

    fn mysql(&self) -> bool {
        self.backend == Backend::MySql
    }

    /// Whether `table` existed before this migration (an unknown table is assumed to).
    fn existing(&self, table: &str) -> bool {
        !self.created.contains(table)
    }

    fn ddl(&mut self) {
        if self.ddl.is_none() {
            self.ddl = Some(self.sql.clone());
        }
    }

    fn strong_lock(&mut self) {
        if self.strong_lock.is_none() {
            self.strong_lock = Some(self.sql.clone());
        }
    }

    /// Statements sqlparser does not parse, handled here: the text to parse instead (or
    /// none, when this function dealt with it) and whether it says CONCURRENTLY.
    fn work_around_parser(&mut self, sql: &str) -> (Option<String>, bool) {
        let words: Vec<String> = sql
            .split_whitespace()
            .take(4)
            .map(str::to_ascii_uppercase)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            // DROP INDEX CONCURRENTLY: parse it without the keyword, remember it.
            ["DROP", "INDEX", "CONCURRENTLY", ..] => {
                let at = sql.to_ascii_uppercase().find("CONCURRENTLY").unwrap_or(0);
                let text = format!("{}{}", &sql[..at], &sql[at + "CONCURRENTLY".len()..]);
                (Some(text), true)
            }
            ["CREATE", "FULLTEXT" | "SPATIAL", "INDEX", ..] if self.mysql() => {
                self.ddl();
                self.find(
                    "mysql_locking_ddl",
                    "a FULLTEXT or SPATIAL index is built under a shared lock (the first FULLTEXT index also rebuilds the table)".into(),
                );
                (None, false)
            }
            ["ALTER", "TABLE", _, "CONVERT"] if self.mysql() => {
                self.ddl();
                self.find(
                    "mysql_table_copy",
                    "converting a table's character set copies the table".into(),
                );
                (None, false)
            }
            // sea-query writes SQLite decimals as `real(p, s)`, which sqlparser rejects;
            // SQLite reads both as the same (REAL affinity), so check it as `numeric`.
            _ if self.backend == Backend::Sqlite && sql.contains(" real(") => {
                (Some(sql.replace(" real(", " numeric(")), false)
            }
            _ => (Some(sql.to_owned()), false),
        }
    }

    fn statement(&mut self, statement: &Statement, concurrently: bool) {
        match statement {
            Statement::CreateTable(create) => {
                self.ddl();
                let table = name_of(&create.name);
                self.check_identifier(&table);
                self.created.insert(table.clone());
                let mut state = TableState::default();
                let primary: HashSet<String> = create
                    .constraints
                    .iter()
                    .filter_map(|c| match c {
                        TableConstraint::PrimaryKey(pk) => Some(
                            pk.columns
                                .iter()
                                .map(|c| {
                                    c.column
                                        .expr
                                        .to_string()
                                        .trim_matches(['"', '`'])
                                        .to_owned()
                                })
                                .collect::<Vec<_>>(),
                        ),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                for column in &create.columns {
                    self.check_column(column, &table, false);
                    let is_primary = primary.contains(&column.name.value)
                        || column
                            .options
                            .iter()
                            .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)));
                    if is_primary {
                        self.check_primary_key_type(&column.data_type, &column.name.value);
                    }
                    if is_primary
                        || column
                            .options
                            .iter()
                            .any(|o| matches!(o.option, ColumnOption::NotNull))
                    {
                        state.not_null.insert(column.name.value.clone());
                    }
                    state
                        .columns
                        .insert(column.name.value.clone(), column.data_type.clone());
                }
                for constraint in &create.constraints {
                    if let Some(name) = constraint_name(constraint) {
                        self.check_identifier(&name);
                    }
                }
                self.schema.tables.insert(table, state);
            }
            Statement::CreateIndex(index) => {
                self.ddl();
                let table = name_of(&index.table_name);
                if let Some(name) = &index.name {
                    let name = name_of(name);
                    self.check_identifier(&name);
                    self.created_indexes.insert(name);
                }
                if self.pg() {
                    if index.concurrently && self.subject.transaction {
                        self.find(
                            "pg_concurrently_in_transaction",
                            "CREATE INDEX CONCURRENTLY in a migration that runs in a transaction"
                                .into(),
                        );
                    }
                    if !index.concurrently && self.existing(&table) {
                        self.strong_lock();
                        self.find(
                            "pg_index_not_concurrent",
                            format!(
                                "index built on the existing table `{table}` without CONCURRENTLY"
                            ),
                        );
                    }
                }
            }
            Statement::Drop {
                object_type, names, ..
            } => {
                self.ddl();
                for name in names {
                    let name = name_of(name);
                    match object_type {
                        ObjectType::Table => {
                            if self.existing(&name) {
                                self.strong_lock();
                                self.find(
                                    "drop_table",
                                    format!("drops the table `{name}` and its data"),
                                );
                            }
                            self.schema.tables.remove(&name);
                        }
                        ObjectType::Index if self.pg() => {
                            if concurrently && self.subject.transaction {
                                self.find(
                                    "pg_concurrently_in_transaction",
                                    "DROP INDEX CONCURRENTLY in a migration that runs in a transaction".into(),
                                );
                            }
                            if !concurrently && !self.created_indexes.contains(&name) {
                                self.strong_lock();
                                self.find(
                                    "pg_drop_index_not_concurrent",
                                    format!("drops the index `{name}` without CONCURRENTLY"),
                                );
                            }
                        }
                        _ => {}
                    }
                }
            }
            Statement::AlterTable(alter) => {
                self.ddl();
                let table = name_of(&alter.name);
                let existing = self.existing(&table);
                // VALIDATE CONSTRAINT only takes SHARE UPDATE EXCLUSIVE: writes go on.
                let strong = alter
                    .operations
                    .iter()
                    .any(|op| !matches!(op, AlterTableOperation::ValidateConstraint { .. }));
                if existing && self.pg() && strong {
                    self.strong_lock();
                }
                for operation in &alter.operations {
                    self.alter(&table, existing, operation);
                }
            }
            Statement::Set(_) => {
                let text = statement.to_string().to_ascii_lowercase();
                if text.contains("lock_timeout") {
                    self.lock_timeout_set = true;
                }
            }
            Statement::Update(update) => {
                self.dml_statement(
                    update.selection.is_none(),
                    &update.table.relation.to_string(),
                );
            }
            Statement::Delete(delete) => {
                self.dml_statement(delete.selection.is_none(), "the table");
            }
            Statement::Insert(_) => {
                if self.dml.is_none() {
                    self.dml = Some(self.sql.clone());
                }
            }
            Statement::Query(_) => {}
            _ => self.ddl(),
        }
    }

    fn dml_statement(&mut self, whole_table: bool, table: &str) {
        if self.dml.is_none() {
            self.dml = Some(self.sql.clone());
        }
        if whole_table && self.subject.transaction {
            let table = table.trim_matches(['"', '`']).to_owned();
            self.find(
                "data_in_one_transaction",
                format!("changes every row of {table} in one transaction"),
            );
        }
    }

    fn check_identifier(&mut self, name: &str) {
        if self.pg() && name.len() > 63 {
            self.find(
                "pg_identifier_too_long",
                format!("`{name}` is {} bytes long; PostgreSQL keeps 63", name.len()),
            );
        }
    }

    fn check_primary_key_type(&mut self, data_type: &DataType, column: &str) {
        if self.backend != Backend::Sqlite && int_bits(data_type).is_some_and(|bits| bits < 64) {
            self.find(
                "int_primary_key",
                format!("primary key `{column}` is {data_type}, not bigint"),
            );
        }
    }

    /// Type rules for a column being created or added.
    fn check_column(&mut self, column: &ColumnDef, table: &str, added: bool) {
        let name = &column.name.value;
        self.check_identifier(name);
        if !self.pg() {
            return;
        }
        match &column.data_type {
            DataType::JSON => self.find("pg_json_type", format!("`{table}.{name}` is json")),
            DataType::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => self
                .find(
                    "pg_timestamp_without_tz",
                    format!("`{table}.{name}` is timestamp without time zone"),
                ),
            DataType::Custom(type_name, _) => {
                let type_name = type_name.to_string().to_ascii_lowercase();
                if type_name.contains("serial") {
                    self.find("pg_serial", format!("`{table}.{name}` is {type_name}"));
                }
            }
            _ => {}
        }
        if added {
            for option in &column.options {
                if let ColumnOption::Default(expr) = &option.option
                    && let Some(function) = volatile_call(expr)
                {
                    self.find(
                        "pg_volatile_default",
                        format!("`{table}.{name}` defaults to {function}(), evaluated for every existing row"),
                    );
                }
            }
        }
    }

    fn alter(&mut self, table: &str, existing: bool, operation: &AlterTableOperation) {
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
                if let Some(state) = self.schema.tables.get_mut(table)
                    && let Some(data_type) = state.columns.remove(&old_column_name.value)
                {
                    state
                        .columns
                        .insert(new_column_name.value.clone(), data_type);
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
                if existing {
                    self.find(
                        "rename_table",
                        format!("renames `{table}` to `{new_name}` while the running release uses the old name"),
                    );
                }
                if let Some(state) = self.schema.tables.remove(table) {
                    self.schema.tables.insert(new_name, state);
                }
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

    fn foreign_key(&mut self, table: &str, not_valid: bool) {
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

    fn add_constraint(
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

    fn type_change(&mut self, table: &str, column: &str, new: &DataType, existing: bool) {
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

    fn finish(&mut self, options: LintOptions) {
        if self.pg()
            && !self.lock_timeout_set
            && !options.statement_lock_timeout
            && let Some(sql) = self.strong_lock.take()
        {
            self.found.push((
                "pg_missing_lock_timeout",
                Some(sql),
                "takes a strong lock on an existing table with no lock_timeout".into(),
            ));
        }
        if let (Some(_), Some(dml)) = (&self.ddl, &self.dml) {
            self.found.push((
                if self.mysql() {
                    "mysql_mixed_schema_and_data"
                } else {
                    "mixed_schema_and_data"
                },
                Some(dml.clone()),
                "changes data in a migration that also changes the schema".into(),
            ));
        }
        if self.subject.kind == Kind::Data && self.subject.transaction {
            self.found.push((
                "data_in_one_transaction",
                None,
                "a data migration that runs in one transaction: fine for small tables".into(),
            ));
        }
    }
}

fn constraint_name(constraint: &TableConstraint) -> Option<String> {
    let name = match constraint {
        TableConstraint::ForeignKey(c) => c.name.as_ref(),
        TableConstraint::Check(c) => c.name.as_ref(),
        TableConstraint::Unique(c) => c.name.as_ref(),
        TableConstraint::PrimaryKey(c) => c.name.as_ref(),
        _ => None,
    };
    name.map(|n| n.value.clone())
}

/// The volatile function a default expression calls, if any.
fn volatile_call(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            let name = name.rsplit('.').next().unwrap_or(&name).to_owned();
            VOLATILE.contains(&name.as_str()).then_some(name)
        }
        Expr::Cast { expr, .. } | Expr::Nested(expr) => volatile_call(expr),
        _ => None,
    }
}
