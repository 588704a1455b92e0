//! One registered migration: what `#[migration]` records about a function.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::data::DataContext;
use crate::schema::Schema;

/// A migration, as registered by `#[migration]`.
///
/// Built by the macro only; read it through the accessors.
#[derive(Debug)]
pub struct Migration {
    version: i64,
    name: &'static str,
    run: MigrationFn,
    transaction: bool,
    source_checksum: &'static str,
    doc: &'static str,
    nothing_to_undo: Option<&'static str>,
    allow: &'static [Allow],
    location: Location,
    role: Role,
    /// For a seed: the environments it runs in (empty: every one).
    environments: &'static [&'static str],
    /// For a callback: when it runs.
    event: Option<Event>,
    /// The backends it runs on without a transaction although `transaction` is true
    /// (`no_transaction_on = ["postgres"]`).
    no_transaction_on: &'static [&'static str],
}

/// What a registered function is: a versioned migration, or one of the functions that
/// `#[migration]` registers beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// `version = N`: applied once, in version order.
    Versioned,
    /// `repeatable`: applied again whenever its SQL changes or versioned migrations ran.
    Repeatable,
    /// `seed`: data, run by `migrate seed` (and `up --seed`), every time, in the
    /// environments it names.
    Seed,
    /// `callback = "event"`: run around `up`.
    Callback,
}

/// When a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Once, before `up` applies the first migration (only when there is one to apply).
    BeforeRun,
    /// Once, after `up` applied every pending migration (only when it applied one).
    AfterRun,
    /// Before each migration `up` applies, inside its transaction.
    BeforeEach,
    /// After each migration `up` applies, inside its transaction, before its history row.
    AfterEach,
    /// Once, after `up` failed (in a transaction of its own).
    OnError,
}

impl Event {
    /// The event's name, as `callback = "..."` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Event::BeforeRun => "before_run",
            Event::AfterRun => "after_run",
            Event::BeforeEach => "before_each",
            Event::AfterEach => "after_each",
            Event::OnError => "on_error",
        }
    }
}

/// The future a data migration returns.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = crate::error::Result<()>> + Send + 'a>>;

/// The function behind a migration.
#[derive(Clone, Copy)]
pub enum MigrationFn {
    /// `fn(&mut Schema)`: statements, planned and rendered without a database.
    Schema(fn(&mut Schema)),
    /// `async fn(&mut DataContext<'_>) -> Result<()>`: Rust code run against the database.
    Data(for<'a, 'c> fn(&'a mut DataContext<'c>) -> BoxFuture<'a>),
}

impl fmt::Debug for MigrationFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MigrationFn::Schema(_) => "Schema(fn)",
            MigrationFn::Data(_) => "Data(async fn)",
        })
    }
}

/// Whether a migration is built from statements or runs Rust code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Kind {
    /// Schema statements (and raw SQL), rendered per backend.
    Schema,
    /// Rust code with a database connection.
    Data,
}

/// Where a migration is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The source file, relative to the workspace root.
    pub file: &'static str,
    /// The line of the function's name.
    pub line: u32,
    /// The module path, starting with the crate's name.
    pub module_path: &'static str,
}

impl Location {
    #[doc(hidden)]
    pub const fn __new(file: &'static str, line: u32, module_path: &'static str) -> Self {
        Location {
            file,
            line,
            module_path,
        }
    }

    /// The name of the crate the migration is defined in.
    pub fn crate_name(&self) -> &'static str {
        self.module_path
            .split("::")
            .next()
            .unwrap_or(self.module_path)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A lint rule acknowledged by a migration: `allow(rule = "why")` for all of it, or
/// `allow(rule(step = N, why = "..."))` for one step (numbered as the lint prints them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Allow {
    /// The rule's id.
    pub rule: &'static str,
    /// Why its findings are acceptable here.
    pub why: &'static str,
    /// The step it is about; `None`: every step.
    pub step: Option<usize>,
}

impl Allow {
    #[doc(hidden)]
    pub const fn __new(rule: &'static str, why: &'static str, step: Option<usize>) -> Self {
        Allow { rule, why, step }
    }

    /// Whether it acknowledges `rule`'s finding in `step` (none: about the whole
    /// migration, which only a whole-migration acknowledgement covers).
    pub fn covers(&self, rule: &str, step: Option<usize>) -> bool {
        self.rule == rule && (self.step.is_none() || self.step == step)
    }
}

impl Migration {
    #[doc(hidden)]
    // Called only by `#[migration]`'s expansion, which passes every field by name order.
    #[allow(clippy::too_many_arguments)]
    pub const fn __new(
        version: i64,
        name: &'static str,
        run: MigrationFn,
        transaction: bool,
        source_checksum: &'static str,
        doc: &'static str,
        nothing_to_undo: Option<&'static str>,
        allow: &'static [Allow],
        location: Location,
        role: Role,
        environments: &'static [&'static str],
        event: Option<Event>,
        no_transaction_on: &'static [&'static str],
    ) -> Self {
        Migration {
            version,
            name,
            run,
            transaction,
            source_checksum,
            doc,
            nothing_to_undo,
            allow,
            location,
            role,
            environments,
            event,
            no_transaction_on,
        }
    }

    /// What it is: a versioned migration, a repeatable one, a seed or a callback.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether it is a repeatable migration (`#[migration(repeatable)]`): no version,
    /// applied again, after the versioned ones, whenever its SQL changes or the versioned
    /// migrations applied have changed since its last application.
    pub fn is_repeatable(&self) -> bool {
        self.role == Role::Repeatable
    }

    /// For a seed: the environments it runs in (empty: every one).
    pub fn environments(&self) -> &'static [&'static str] {
        self.environments
    }

    /// For a callback: when it runs.
    pub fn event(&self) -> Option<Event> {
        self.event
    }

    /// The lint findings acknowledged with `allow(rule = "why")` or
    /// `allow(rule(step = N, why = "..."))`.
    pub fn allowed(&self) -> &'static [Allow] {
        self.allow
    }

    /// The version: a positive integer, by convention a UTC timestamp `YYYYMMDDHHMMSS`
    /// (0 for a repeatable migration, a seed or a callback, which have none).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The name: the function's, unless `name = "..."` was given.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Schema statements or Rust code.
    pub fn kind(&self) -> Kind {
        match self.run {
            MigrationFn::Schema(_) => Kind::Schema,
            MigrationFn::Data(_) => Kind::Data,
        }
    }

    /// The function itself.
    pub fn function(&self) -> MigrationFn {
        self.run
    }

    /// Whether the migration runs inside a transaction on every backend
    /// (`transaction = false` turns it off; `no_transaction_on` on some: see
    /// [`transaction_on`](Self::transaction_on)).
    pub fn transaction(&self) -> bool {
        self.transaction && self.no_transaction_on.is_empty()
    }

    /// Whether it runs inside a transaction on `backend`: `transaction = false` turns it
    /// off everywhere, `no_transaction_on = ["postgres"]` there only (a `CREATE INDEX
    /// CONCURRENTLY` migration keeps its transaction on SQLite and MySQL).
    pub fn transaction_on(&self, backend: crate::backend::Backend) -> bool {
        self.transaction && !self.no_transaction_on.contains(&backend.name())
    }

    /// The SHA-256 (hex) of the function's tokens: changes when its code changes, not when
    /// its comments, whitespace or line endings do.
    pub fn source_checksum(&self) -> &'static str {
        self.source_checksum
    }

    /// The function's doc comment (may be empty).
    pub fn doc(&self) -> &'static str {
        self.doc
    }

    /// For a data migration declared with `nothing_to_undo = "why"`: why reverting it
    /// changes nothing. A data migration without it cannot be reverted.
    pub fn nothing_to_undo(&self) -> Option<&'static str> {
        self.nothing_to_undo
    }

    /// Where the migration is defined.
    pub fn location(&self) -> Location {
        self.location
    }

    /// A short reference for messages: version, name and source location.
    pub fn reference(&'static self) -> MigrationRef {
        MigrationRef(self)
    }
}

/// Names one migration in an error or a report; displays as `20250224120000
/// create_users (migrations/src/users.rs:12)`.
#[derive(Debug, Clone, Copy)]
pub struct MigrationRef(&'static Migration);

impl MigrationRef {
    /// The migration.
    pub fn migration(self) -> &'static Migration {
        self.0
    }

    /// Its version.
    pub fn version(self) -> i64 {
        self.0.version
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Where it is defined.
    pub fn location(self) -> Location {
        self.0.location
    }
}

impl PartialEq for MigrationRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for MigrationRef {}

impl fmt::Display for MigrationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let event = self.0.event.map_or("", Event::name);
        match self.0.role {
            Role::Versioned => {}
            Role::Repeatable => {
                return write!(f, "repeatable {} ({})", self.0.name, self.0.location);
            }
            Role::Seed => return write!(f, "seed {} ({})", self.0.name, self.0.location),
            Role::Callback => {
                return write!(f, "callback {event} {} ({})", self.0.name, self.0.location);
            }
        }
        write!(
            f,
            "{} {} ({})",
            self.0.version, self.0.name, self.0.location
        )
    }
}

inventory::collect!(Migration);

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A migration built by hand, as the macro would, leaked to get the `'static` a
    /// registered one has.
    pub(crate) fn schema_migration(
        version: i64,
        name: &'static str,
        line: u32,
        f: fn(&mut Schema),
    ) -> &'static Migration {
        with_allow(version, name, line, f, &[])
    }

    /// The same, with `allow(...)` acknowledgements.
    pub(crate) fn with_allow(
        version: i64,
        name: &'static str,
        line: u32,
        f: fn(&mut Schema),
        allow: &'static [Allow],
    ) -> &'static Migration {
        Box::leak(Box::new(Migration::__new(
            version,
            name,
            MigrationFn::Schema(f),
            true,
            "0000",
            "",
            None,
            allow,
            Location::__new("src/test.rs", line, "shiplap::tests"),
            Role::Versioned,
            &[],
            None,
            &[],
        )))
    }
}
