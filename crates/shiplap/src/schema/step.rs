//! One step of a schema migration: the statement going up, how it is undone, and what
//! the runtime needs to know of it (the backends it runs on, the table it makes or
//! indexes, a check's condition, where its down is knowingly inexact).

use sea_query::TableRef;

use crate::backend::Backend;
use crate::statement::Statement;

/// One step: the statement going up, and how to undo it.
#[derive(Debug, Clone)]
pub struct Step {
    up: Statement,
    pub(super) down: Down,
    only: Option<Vec<Backend>>,
    /// The table a `create_table` step creates, or a `create_index` step indexes: a
    /// derived `DROP INDEX` is left out of the down when the same migration's down drops
    /// its table afterwards (which drops the index), since MariaDB refuses to drop an
    /// index a foreign key stands on (error 1553).
    pub(super) table: Option<(TableUse, TableRef)>,
    /// Backends on which its down knowingly gives back a schema that differs from the one
    /// before the step, and why (see [`WithDown::inexact_on`]).
    inexact: Vec<(Backend, String)>,
    /// For a check ([`Schema::check`](crate::Schema::check)): what must hold.
    pub(super) check: Option<String>,
    /// For a plain `drop_column` or `drop_table`: the copy of a small table kept first
    /// (see [`NeedsDown::no_backup`]).
    pub(super) keep: Option<Keep>,
}

/// The copy that a plain drop keeps of its table's rows when the table is small: taken
/// by `CREATE TABLE IF NOT EXISTS <backup> AS SELECT * ... WHERE <at most rows>`, so a
/// table over the limit leaves an empty copy and the first copy of a version is kept.
#[derive(Debug, Clone)]
pub(crate) struct Keep {
    /// The copy's name, with [`VERSION_MARKER`](super::VERSION_MARKER) for the version.
    pub(crate) backup: String,
    /// The table dropped, or whose column is dropped.
    pub(crate) table: String,
    /// The most rows a table may hold for its copy to be kept.
    pub(crate) rows: u64,
    /// Whether the whole table is dropped (its down may re-create it: then the rows go
    /// back).
    pub(crate) table_dropped: bool,
}

/// How many rows a table may hold for a plain drop to keep a copy of them by default.
pub const KEEP_ROWS: u64 = 10_000;

/// What a step does to its table (see [`Step`]'s `table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TableUse {
    Creates,
    Indexes,
}

/// How a step is undone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Down {
    /// These statements, in order (derived, or given with [`NeedsDown::down`]).
    Statements(Vec<Statement>),
    /// Nothing needs undoing, for this reason (a backfill of a column that an earlier
    /// step's down drops, say).
    Nothing(String),
    /// The step cannot be undone, for this reason.
    Irreversible(String),
    /// Nobody said: the step has no down until one is given.
    Missing,
}

impl Step {
    pub(super) fn new(up: Statement, down: Down, only: Option<Vec<Backend>>) -> Self {
        Step {
            up,
            down,
            only,
            table: None,
            inexact: Vec::new(),
            check: None,
            keep: None,
        }
    }

    /// The statement going up.
    pub fn up(&self) -> &Statement {
        &self.up
    }

    /// How the step is undone.
    pub fn down(&self) -> &Down {
        &self.down
    }

    /// Whether going down, this step's down is left out on `backend` because a step
    /// before it (in `steps`, whose downs run after its own) drops its table anyway.
    pub(crate) fn down_covered(&self, before: &[Step], backend: Backend) -> bool {
        let Some((TableUse::Indexes, table)) = &self.table else {
            return false;
        };
        before.iter().any(|s| {
            s.runs_on(backend)
                && s.table
                    .as_ref()
                    .is_some_and(|(use_, t)| *use_ == TableUse::Creates && t == table)
        })
    }

    /// For a `create_index` step whose down is derived: the index's name and first
    /// column (MySQL's down checks whether a foreign key needs the index, see
    /// `backend::mysql::drop_index_keeping_foreign_key`).
    pub(crate) fn derived_index_drop(&self) -> Option<(String, String)> {
        let (Some((TableUse::Indexes, _)), Statement::CreateIndex(index)) = (&self.table, &self.up)
        else {
            return None;
        };
        let spec = index.get_index_spec();
        Some((
            spec.get_name()?.to_owned(),
            spec.get_column_names().first()?.clone(),
        ))
    }

    /// The copy a plain drop keeps of a small table (see [`NeedsDown::no_backup`]).
    pub(crate) fn kept(&self) -> Option<&Keep> {
        self.keep.as_ref()
    }

    /// For a check: what must hold (see [`Schema::check`](crate::Schema::check)).
    pub fn checked(&self) -> Option<&str> {
        self.check.as_deref()
    }

    /// Why the step's down does not give back exactly the schema before it on `backend`,
    /// when its author said so (see [`WithDown::inexact_on`]).
    pub fn inexact_on(&self, backend: Backend) -> Option<&str> {
        self.inexact
            .iter()
            .find(|(b, _)| *b == backend)
            .map(|(_, why)| why.as_str())
    }

    /// Whether the step runs on `backend` (see [`Schema::only_on`](crate::Schema::only_on)).
    pub fn runs_on(&self, backend: Backend) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.contains(&backend))
    }
}

/// A step whose down shiplap cannot derive: give it with [`NeedsDown::down`], or say why
/// there is none with [`NeedsDown::irreversible`].
#[must_use = "give the step a down with `.down(...)`, or mark it `.irreversible(\"why\")`"]
#[derive(Debug)]
pub struct NeedsDown<'a> {
    step: &'a mut Step,
}

/// A step that has a down; more statements can be added to it with [`WithDown::down`].
#[derive(Debug)]
pub struct WithDown<'a> {
    step: &'a mut Step,
}

impl<'a> WithDown<'a> {
    pub(super) fn new(step: &'a mut Step) -> Self {
        WithDown { step }
    }

    /// Replaces the step's down (derived, or given) with `statement`: a `create_index`
    /// whose index must be dropped otherwise, a per-backend down
    /// (`Raw::per_backend()`), ... Add more with [`down`](Self::down).
    pub fn replace_down(self, statement: impl Into<Statement>) -> Self {
        self.step.down = Down::Statements(vec![statement.into()]);
        self
    }

    /// Adds another statement to the step's down, run after the ones before it.
    pub fn down(self, statement: impl Into<Statement>) -> Self {
        if let Down::Statements(statements) = &mut self.step.down {
            statements.push(statement.into());
        }
        self
    }

    /// Says that on `backends` the down cannot give back exactly the schema before the
    /// step, and why (SQLite cannot drop a column's default without rebuilding the
    /// table, say). `migrate verify` then reports the difference without failing.
    pub fn inexact_on(self, backends: &[Backend], why: impl Into<String>) -> Self {
        let why = why.into();
        self.step
            .inexact
            .extend(backends.iter().map(|b| (*b, why.clone())));
        self
    }
}

impl<'a> NeedsDown<'a> {
    pub(super) fn new(step: &'a mut Step) -> Self {
        NeedsDown { step }
    }

    /// Gives the step its down (add more statements with [`WithDown::down`]; they run in
    /// order).
    pub fn down(self, statement: impl Into<Statement>) -> WithDown<'a> {
        self.step.down = Down::Statements(vec![statement.into()]);
        WithDown { step: self.step }
    }

    /// Says that undoing the step needs no statement, and why: a backfill of a column
    /// that an earlier step's down drops, for instance. The reason shows in the down SQL.
    pub fn nothing_to_undo(self, reason: impl Into<String>) {
        self.step.down = Down::Nothing(reason.into());
    }

    /// Keeps no copy of the rows this drop destroys. By default a `drop_column` or
    /// `drop_table` of a table that holds at most [`KEEP_ROWS`] rows copies them first
    /// into `shiplap_backup_<version>_<name>`, which `migrate backups` lists and empties;
    /// a larger table leaves an empty copy.
    pub fn no_backup(self) -> Self {
        self.step.keep = None;
        self
    }

    /// Keeps the copy of the rows this drop destroys when the table holds at most `rows`
    /// rows (instead of [`KEEP_ROWS`]); `0` is [`no_backup`](Self::no_backup).
    pub fn backup_up_to(self, rows: u64) -> Self {
        match rows {
            0 => self.step.keep = None,
            _ => {
                if let Some(keep) = &mut self.step.keep {
                    keep.rows = rows;
                }
            }
        }
        self
    }

    /// Marks the step irreversible: `down` will refuse to revert this migration, before
    /// touching the database, and show `reason`.
    pub fn irreversible(self, reason: impl Into<String>) {
        self.step.down = Down::Irreversible(reason.into());
    }
}
