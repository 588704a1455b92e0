//! What each parsed statement does to a live database, rule by rule.

use std::collections::{HashMap, HashSet};

use sqlparser::ast::{
    AlterTableOperation, AlterTypeOperation, ColumnDef, ColumnOption, DataType, Expr, ObjectName,
    ObjectType, Statement, TableConstraint, TimezoneInfo,
};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::{LintOptions, Subject};
use crate::split;

mod alter;
mod keywords;
mod types;

use crate::backend::Backend;
use crate::migration::Kind;
use types::int_bits;

/// A finding before it is dressed: (rule, statement, message).
pub(super) type Raw = (&'static str, Option<Stmt>, String);

/// A statement of a migration, and where it is: its step (from 1, in the order the
/// migration's function adds them) and its line within that step's SQL (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stmt {
    pub(super) sql: String,
    pub(super) step: usize,
    pub(super) line: usize,
}

/// What the migrations so far have built.
#[derive(Debug, Default)]
pub(super) struct SchemaState {
    tables: HashMap<String, TableState>,
    /// Tables and views created by migrations not applied yet (pending on the database
    /// being migrated, or from `--since` on): new when the later migrations of the same
    /// deploy reach them, so changing them locks nobody.
    fresh: HashSet<String>,
    /// MySQL tables with a FULLTEXT index: every later ALTER of them needs LOCK=SHARED.
    fulltext: HashSet<String>,
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
    strong_lock: Option<Stmt>,
    lock_timeout_set: bool,
    ddl: Option<Stmt>,
    dml: Option<Stmt>,
    /// The statement being looked at, and where it is.
    sql: String,
    step: usize,
    line: usize,
    /// Statements read, and those the parser refused (for the corpus figures).
    statements: usize,
    /// The tables renamed, judged once the whole migration is read: a rename that is half
    /// of a swap done at once is harmless.
    renames: Vec<Rename>,
    /// Enum values this migration adds (PostgreSQL): inside its transaction, they cannot
    /// be used before it commits.
    enum_values: Vec<String>,
    /// A `BEGIN` of the migration's own, not yet committed or rolled back.
    open_transaction: Option<Stmt>,
}

/// One table renamed by a migration.
struct Rename {
    from: String,
    to: String,
    /// The table existed before the migration: the running release uses its name.
    existing: bool,
    /// The statement, and its number in the migration (one MySQL `RENAME TABLE` renames
    /// several tables at once).
    at: Stmt,
    number: usize,
}

/// Lints one migration, and records what it builds in `schema`.
pub(super) fn migration(
    schema: &mut SchemaState,
    subject: &Subject,
    backend: Backend,
    options: LintOptions,
) -> (Vec<Raw>, usize) {
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
        step: 0,
        line: 0,
        statements: 0,
        renames: Vec::new(),
        enum_values: Vec::new(),
        open_transaction: None,
    };
    let dialect: Box<dyn Dialect> = match backend {
        Backend::Postgres => Box::new(PostgreSqlDialect {}),
        Backend::MySql => Box::new(MySqlDialect {}),
        Backend::Sqlite => Box::new(SQLiteDialect {}),
    };
    // Each statement on its own: one the parser refuses hides nothing else.
    for (step, sql) in &subject.statements {
        for piece in split::split(sql, backend) {
            walk.sql = piece.text.to_owned();
            walk.step = *step;
            walk.line = piece.line;
            walk.statements += 1;
            walk.check_enum_use();
            let (text, concurrently) = walk.work_around_parser(&walk.sql.clone());
            let Some(text) = text else { continue };
            match Parser::parse_sql(&*dialect, &text) {
                Ok(statements) => {
                    for statement in statements {
                        walk.statement(&statement, concurrently);
                    }
                }
                Err(e) => {
                    if !walk.recognize(&*dialect) {
                        walk.find("unparsed_statement", format!("could not parse it: {e}"));
                    }
                }
            }
        }
    }
    walk.finish(options);
    let pending = subject.pending || options.since.is_some_and(|since| subject.version >= since);
    if pending {
        walk.schema.fresh.extend(walk.created.iter().cloned());
    }
    (walk.found, walk.statements)
}

fn name_of(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map_or_else(|| name.to_string(), |ident| ident.value.clone())
}

impl Walk<'_> {
    fn find(&mut self, rule: &'static str, message: String) {
        let here = self.here();
        self.found.push((rule, Some(here), message));
    }

    /// The statement being looked at, with where it is.
    fn here(&self) -> Stmt {
        Stmt {
            sql: self.sql.clone(),
            step: self.step,
            line: self.line,
        }
    }

    fn pg(&self) -> bool {
        self.backend == Backend::Postgres
    }

    fn mysql(&self) -> bool {
        self.backend == Backend::MySql
    }

    fn sqlite(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// Whether `table` existed before this migration (an unknown table is assumed to):
    /// not created by it, nor by a pending migration before it.
    fn existing(&self, table: &str) -> bool {
        !self.created.contains(table) && !self.schema.fresh.contains(table)
    }

    fn ddl(&mut self) {
        if self.ddl.is_none() {
            self.ddl = Some(self.here());
        }
    }

    fn strong_lock(&mut self) {
        if self.strong_lock.is_none() {
            self.strong_lock = Some(self.here());
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
                            // Data goes with it unless this very migration made it.
                            if !self.created.contains(&name) {
                                self.strong_lock();
                                self.find(
                                    "drop_table",
                                    format!("drops the table `{name}` and its data"),
                                );
                            }
                            self.schema.tables.remove(&name);
                        }
                        ObjectType::View
                        | ObjectType::MaterializedView
                        | ObjectType::Type
                        | ObjectType::Sequence
                        | ObjectType::Schema
                            if !self.created.contains(&name) =>
                        {
                            self.find(
                                "drop_object",
                                format!(
                                    "drops the {} `{name}`",
                                    object_type.to_string().to_lowercase()
                                ),
                            );
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
                if self.mysql() && self.schema.fulltext.contains(&table) {
                    self.find(
                        "mysql_locking_ddl",
                        format!(
                            "`{table}` has a FULLTEXT index: altering it needs LOCK=SHARED, writes wait (MariaDB refuses LOCK=NONE, error 1846)"
                        ),
                    );
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
                    self.dml = Some(self.here());
                }
            }
            Statement::Query(_) => {}
            Statement::DropFunction(_) | Statement::DropProcedure { .. } => {
                self.ddl();
                self.find(
                    "drop_object",
                    "drops a function or procedure the running release may call".into(),
                );
            }
            Statement::RenameTable(renames) => {
                self.ddl();
                for rename in renames {
                    let from = name_of(&rename.old_name);
                    let existing = self.existing(&from);
                    self.rename_table(&from, &name_of(&rename.new_name), existing);
                }
            }
            Statement::CreateView(view) => {
                // A view (materialized or not) made here is new: indexing it locks nobody.
                self.ddl();
                self.created.insert(name_of(&view.name));
            }
            Statement::AlterType(alter) if self.pg() => {
                self.ddl();
                if let AlterTypeOperation::AddValue(add) = &alter.operation {
                    self.enum_value_added(add.value.value.clone(), add.position.is_some());
                }
            }
            Statement::StartTransaction { .. } => self.transaction_control(true),
            Statement::Commit { .. } | Statement::Rollback { .. } => {
                self.transaction_control(false);
            }
            _ => self.ddl(),
        }
    }

    /// An enum value added: appended unless placed (`BEFORE`/`AFTER`), and unusable until
    /// the migration's transaction commits.
    fn enum_value_added(&mut self, value: String, placed: bool) {
        if !placed {
            self.find(
                "pg_enum_value_order",
                format!("adds '{value}' at the end of the enum: ORDER BY and comparisons of the type follow that order"),
            );
        }
        if self.subject.transaction {
            self.enum_values.push(value);
        }
    }

    /// A statement that uses a value an earlier statement of this migration added to an
    /// enum, in the same transaction: PostgreSQL refuses it ("unsafe use of new value").
    /// A function's body is not run when it is created, and another ALTER TYPE may name
    /// the value as a neighbour.
    fn check_enum_use(&mut self) {
        if self.enum_values.is_empty() {
            return;
        }
        let code = split::without_leading_comments(&self.sql).to_ascii_uppercase();
        let words: Vec<&str> = code.split_whitespace().take(4).collect();
        if matches!(
            words.as_slice(),
            ["ALTER", "TYPE", ..]
                | ["CREATE", "FUNCTION" | "PROCEDURE", ..]
                | ["CREATE", "OR", "REPLACE", "FUNCTION" | "PROCEDURE"]
        ) {
            return;
        }
        if let Some(value) = self
            .enum_values
            .iter()
            .find(|value| {
                self.sql
                    .contains(&format!("'{}'", value.replace('\'', "''")))
            })
            .cloned()
        {
            self.find(
                "pg_enum_value_in_transaction",
                format!(
                    "uses '{value}', which this migration added to an enum in the same transaction"
                ),
            );
        }
    }

    /// A `BEGIN` (`start`) or a `COMMIT`/`ROLLBACK` written in the migration.
    fn transaction_control(&mut self, start: bool) {
        if self.subject.transaction && !self.mysql() {
            self.find(
                "transaction_control",
                format!(
                    "{} inside the transaction shiplap runs the migration in",
                    if start { "BEGIN" } else { "COMMIT or ROLLBACK" }
                ),
            );
        } else if start {
            self.open_transaction = Some(self.here());
        } else {
            self.open_transaction = None;
        }
    }

    fn dml_statement(&mut self, whole_table: bool, table: &str) {
        if self.dml.is_none() {
            self.dml = Some(self.here());
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

    /// Records a table renamed: its finding waits for the end of the migration (see
    /// [`Walk::judge_renames`]).
    fn rename_table(&mut self, from: &str, to: &str, existing: bool) {
        if let Some(state) = self.schema.tables.remove(from) {
            self.schema.tables.insert(to.to_owned(), state);
        }
        if self.created.remove(from) {
            self.created.insert(to.to_owned());
        }
        self.renames.push(Rename {
            from: from.to_owned(),
            to: to.to_owned(),
            existing,
            at: self.here(),
            number: self.statements,
        });
    }

    /// A renamed table breaks the running release, which still uses its old name, unless
    /// the rename is half of a swap that nobody can see half done: another table takes
    /// the old name in the same transaction (PostgreSQL and SQLite, whose DDL is
    /// transactional), or in the same `RENAME TABLE` statement (MySQL, whose DDL commits
    /// at once). Both halves of such a swap pass.
    fn judge_renames(&mut self) {
        let transactional = self.subject.transaction && !self.mysql();
        let renames = &self.renames;
        let atomic = |a: &Rename, b: &Rename| transactional || a.number == b.number;
        // Half of a swap: a later rename takes its old name back, or it takes the name
        // an earlier rename left. (A chain `a` → `b` → `c` is neither: `a` is gone.)
        let swapped: Vec<bool> = renames
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (before, after) = (&renames[..i], &renames[i + 1..]);
                after.iter().any(|o| o.to == r.from && atomic(r, o))
                    || before.iter().any(|o| o.from == r.to && atomic(r, o))
            })
            .collect();
        for (rename, swapped) in std::mem::take(&mut self.renames).into_iter().zip(swapped) {
            if rename.existing && !swapped {
                self.found.push((
                    "rename_table",
                    Some(rename.at),
                    format!(
                        "renames `{}` to `{}` while the running release uses the old name",
                        rename.from, rename.to
                    ),
                ));
            }
        }
    }

    fn finish(&mut self, options: LintOptions) {
        self.judge_renames();
        if let Some(begin) = self.open_transaction.take() {
            self.found.push((
                "transaction_control",
                Some(begin),
                "a transaction begun and never committed: the migration ends with it open".into(),
            ));
        }
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
