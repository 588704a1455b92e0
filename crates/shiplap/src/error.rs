//! The errors shiplap returns: one enum, with variants a caller can match on.

use crate::backend::Backend;
use crate::migration::MigrationRef;

/// A shiplap result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong. Each variant about one migration names it (version, name
/// and source location); one about a statement shows the statement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two migrations share a version.
    #[error(
        "two migrations have version {version}: `{}` at {} and `{}` at {}; give one of them a new version",
        first.name(), first.location(), second.name(), second.location()
    )]
    DuplicateVersion {
        /// The version both use.
        version: i64,
        /// The first of the two (by source location).
        first: MigrationRef,
        /// The second.
        second: MigrationRef,
    },

    /// The environment forbids what was asked (`shiplap.toml`'s guards).
    #[error("refused in environment `{environment}`: {what}")]
    Guarded {
        /// The environment.
        environment: String,
        /// What was refused, why, and what to do instead.
        what: String,
    },

    /// Two repeatable migrations, or two seeds, have the same name.
    #[error(
        "two {what} are named `{}`: at {} and at {}; rename one of them \
         (`name = \"...\"` in its attribute)",
        first.name(), first.location(), second.location()
    )]
    DuplicateName {
        /// `repeatable migrations` or `seeds`.
        what: &'static str,
        /// The first.
        first: MigrationRef,
        /// The second.
        second: MigrationRef,
    },

    /// A migration's function panicked while its steps were being planned.
    #[error("migration {migration} panicked while planning its steps: {message}")]
    Plan {
        /// The migration.
        migration: MigrationRef,
        /// The panic's message.
        message: String,
    },

    /// A step cannot be rendered as SQL for a backend (sea-query refused it, or a
    /// per-backend raw SQL step has no text for that backend).
    #[error(
        "migration {migration}, step {step} ({statement}): cannot render it for {backend}: {message}"
    )]
    Render {
        /// The migration.
        migration: MigrationRef,
        /// The step's position in the migration, from 1.
        step: usize,
        /// What the step does, e.g. `alter table users`.
        statement: String,
        /// The backend.
        backend: Backend,
        /// Why.
        message: String,
    },

    /// A migration cannot be reverted.
    #[error("migration {migration} cannot be reverted: {reason}")]
    Irreversible {
        /// The migration.
        migration: MigrationRef,
        /// Why, e.g. which step has no down.
        reason: String,
    },

    /// No registered migration has this version.
    #[error("no migration has version {version}")]
    UnknownVersion {
        /// The version asked for.
        version: i64,
    },

    /// A version range whose start is after its end.
    #[error("invalid range: --from {from} is after --to {to}")]
    InvalidRange {
        /// The start.
        from: i64,
        /// The end.
        to: i64,
    },

    /// A backend name that shiplap does not know.
    #[error("unknown backend `{given}`: expected sqlite, postgres or mysql")]
    UnknownBackend {
        /// What was given.
        given: String,
    },

    /// A database URL that cannot be parsed. The URL is shown with its password redacted.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidDatabaseUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A database URL whose scheme names no backend shiplap knows.
    #[error(
        "unknown database scheme `{scheme}` in {url}: expected sqlite:, postgres://, mysql:// or mariadb://"
    )]
    UnknownScheme {
        /// The URL, password redacted.
        url: String,
        /// The scheme given.
        scheme: String,
    },

    /// The database could not be reached or refused the connection.
    #[error("cannot connect to {url} (after {attempts} attempt(s)): {source}{}", if hint.is_empty() { String::new() } else { format!("; {hint}") })]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// How many times shiplap tried.
        attempts: u32,
        /// What to check, when shiplap can tell.
        hint: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// Another runner held the lock for longer than the lock timeout.
    #[error(
        "another shiplap run holds the lock on {url} (history table `{table}`); gave up after {waited_secs} s (--lock-timeout){}",
        if url.starts_with("postgres") {
            "; if no run is going on and the database is behind a pooler in transaction mode \
             (PgBouncer), a session lock was left on a pooled server connection: use --lock transaction"
        } else { "" }
    )]
    LockTimeout {
        /// The database, password redacted.
        url: String,
        /// The history table the lock protects.
        table: String,
        /// How long shiplap waited.
        waited_secs: u64,
    },

    /// The history table cannot be used as it is.
    #[error("the history table `{table}` cannot be used: {problem}")]
    HistoryTable {
        /// Its name.
        table: String,
        /// What is wrong, and what to do.
        problem: String,
    },

    /// The run lock could not be taken or released: the query failed.
    #[error(
        "cannot {action} the run lock on {url} (history table `{table}`): {}{}",
        message(source), if hint.is_empty() { String::new() } else { format!("; {hint}") }
    )]
    Lock {
        /// `take` or `release`.
        action: &'static str,
        /// The database, password redacted.
        url: String,
        /// The history table the lock protects.
        table: String,
        /// What to check, when shiplap can tell.
        hint: String,
        /// The driver's error.
        #[source]
        source: Box<sqlx::Error>,
    },

    /// The run lock was lost during the run (its session ended or released it), so the
    /// run stopped before the next migration or batch: another runner may have started.
    #[error(
        "the run lock on {url} (history table `{table}`) was lost{}; stopped before {next}. \
         Nothing more ran; what had committed stays (see `migrate status`), and a run that \
         took the lock meanwhile goes on. Run `migrate up` again once it is done{}",
        match source { Some(e) => format!(" ({})", message(e)), None => String::new() },
        if *lease {
            " (the lease in the lock table expired or was taken over: its heartbeat could not \
             renew it in time; a longer --lease rides out longer outages)"
        } else if source.is_none() && url.starts_with("postgres") {
            " (behind a pooler in transaction mode, PgBouncer, a session lock cannot hold: \
             use --lock transaction)"
        } else { "" }
    )]
    LockLost {
        /// The database, password redacted.
        url: String,
        /// The history table the lock protects.
        table: String,
        /// Whether the lock was a lease ([`LockMode::Lease`](crate::LockMode::Lease)).
        lease: bool,
        /// What would have run next: a migration or a backfill batch.
        next: String,
        /// The driver's error, when the check itself failed (the session is gone).
        #[source]
        source: Option<Box<sqlx::Error>>,
    },

    /// A statement of a migration failed. On PostgreSQL and SQLite the migration was
    /// rolled back whole; when `dirty`, it ran outside a transaction (or on MySQL) and is
    /// recorded as dirty.
    #[error(
        "migration {migration} failed ({direction}) at statement {index} of {count}: {}{details}\n  statement: {sql}\n{}",
        message(source), after_failure(*dirty, *migration, connection_lost(source))
    )]
    Statement {
        /// The migration.
        migration: MigrationRef,
        /// `up` or `down`.
        direction: &'static str,
        /// The failing statement's position, from 1.
        index: usize,
        /// How many statements the migration has.
        count: usize,
        /// The statement.
        sql: String,
        /// Whether the migration was left dirty.
        dirty: bool,
        /// What the database said beyond its message (PostgreSQL's detail and hint, and the
        /// line of the statement its error position points at), each on a line of its own.
        details: String,
        /// The database's error.
        #[source]
        source: Box<sqlx::Error>,
    },

    /// A check of a migration ([`crate::Schema::check`]) found rows.
    #[error(
        "migration {migration} failed ({direction}): its check \"{what}\" does not hold (its query returned a row)\n  query: {sql}\n{}",
        after_failure(*dirty, *migration, false)
    )]
    CheckFailed {
        /// The migration.
        migration: MigrationRef,
        /// `up` or `down`.
        direction: &'static str,
        /// What must hold.
        what: String,
        /// The check's query.
        sql: String,
        /// Whether the migration was left dirty.
        dirty: bool,
    },

    /// The bookkeeping around a migration failed: its `BEGIN`, its `COMMIT` (a deferred
    /// constraint, say) or its history write.
    #[error(
        "migration {migration} failed ({direction}) at {what}: {}{details}\n{}",
        message(source), after_failure(*dirty, *migration, connection_lost(source))
    )]
    Bookkeeping {
        /// The migration.
        migration: MigrationRef,
        /// `up` or `down`.
        direction: &'static str,
        /// What failed: `BEGIN`, `COMMIT`, `its history write`.
        what: &'static str,
        /// Whether the migration was left dirty.
        dirty: bool,
        /// What the database said beyond its message (see [`Error::Statement`]).
        details: String,
        /// The database's error.
        #[source]
        source: Box<sqlx::Error>,
    },

    /// The connection was lost while migrations sent together as one script ran.
    #[error(
        "the connection was lost while migration {migration} ran ({direction}, sent with \
         others as one script): {}\n{}",
        message(source), after_failure(false, *migration, true)
    )]
    ConnectionLost {
        /// The migration that was running.
        migration: MigrationRef,
        /// `up` or `down`.
        direction: &'static str,
        /// The driver's error.
        #[source]
        source: Box<sqlx::Error>,
    },

    /// A callback that runs with each migration (`before_each`, `after_each`) failed.
    #[error(
        "{callback} failed, running with migration {migration}: {message}\n{}",
        after_failure(*dirty, *migration, false)
    )]
    Callback {
        /// The callback.
        callback: MigrationRef,
        /// The migration it ran with, which failed with it.
        migration: MigrationRef,
        /// What went wrong.
        message: String,
        /// Whether the migration was left dirty.
        dirty: bool,
    },

    /// A data migration returned an error.
    #[error("data migration {migration} failed: {source}\n{}", after_failure(*dirty, *migration, false))]
    DataMigration {
        /// The migration.
        migration: MigrationRef,
        /// Whether the migration was left dirty.
        dirty: bool,
        /// Its error.
        #[source]
        source: Box<Error>,
    },

    /// `import-history` found what it cannot record: migrations of the other tool's
    /// history that the code lacks, that failed, or whose SQL changed.
    #[error("refusing to import {tool}'s history, nothing recorded:\n  {}", problems.join("\n  "))]
    ImportRefused {
        /// The tool.
        tool: &'static str,
        /// Each problem, naming its migration.
        problems: Vec<String>,
    },

    /// A migration is recorded as dirty: it (or its down) started and did not finish.
    #[error(
        "migration {version} {name} is dirty: {}",
        if *down {
            format!("its down started and did not finish (it ran outside a transaction, or on MySQL), so \
             its objects may be partly gone. Look at what the down removed, then either finish \
             reverting by hand and run `migrate repair --version {version} --mark pending`, or \
             restore what it removed and run `migrate repair --version {version} --mark applied`")
        } else {
            format!("it started and did not finish (it ran outside a transaction, or on MySQL). \
             Check what it changed, undo it by hand, then run `migrate repair --version {version}` \
             and `migrate up` (or, if you finished it by hand, `migrate repair --version \
             {version} --mark applied`)")
        }
    )]
    Dirty {
        /// Its version.
        version: i64,
        /// Its name.
        name: String,
        /// Whether it was its down that did not finish.
        down: bool,
    },

    /// An applied migration's code no longer matches what was applied.
    #[error(
        "migration {migration} was changed after it was applied ({which} checksum differs): \
         revert the edit and write a new migration, or accept it with `migrate repair --version {}`",
        migration.version()
    )]
    Modified {
        /// The migration.
        migration: MigrationRef,
        /// `source`, `sql` or `source and sql`.
        which: String,
    },

    /// Applied migrations that the code no longer has.
    #[error("applied migrations are missing from the code: {versions:?}; {advice}")]
    Missing {
        /// Their versions.
        versions: Vec<i64>,
        /// What the command that refused can do about it.
        advice: String,
    },

    /// Pending migrations older than the newest applied one.
    #[error(
        "pending migrations {versions:?} are older than the newest applied one ({newest}): \
         after a merge, `migrate renumber` gives them versions above it (then rebuild); or \
         pass --allow-out-of-order to apply them as they are"
    )]
    OutOfOrder {
        /// Their versions.
        versions: Vec<i64>,
        /// The newest applied version.
        newest: i64,
    },

    /// `down --to V` with a V that is neither 0 nor an applied migration.
    #[error(
        "cannot revert to {version}: it is not an applied migration (use 0 to revert everything)"
    )]
    NotApplied {
        /// The version asked for.
        version: i64,
    },

    /// A command run on many targets (`--targets`, `--schemas`) failed on some of them;
    /// the others finished. Each one's error is in the command's report.
    #[error(
        "{} of {total} target(s) failed: {}; the others finished. Each failed target's error is \
         in the report above: fix it and run the same command again (the targets that finished \
         have nothing left to do)",
        failed.len(), failed.join(", ")
    )]
    FleetFailed {
        /// The names of the targets that failed.
        failed: Vec<String>,
        /// How many targets there were.
        total: usize,
    },

    /// A command's arguments do not make sense together.
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },

    /// Pending migrations have lint errors nobody acknowledged.
    #[error(
        "the lint found errors in pending migrations; nothing was applied:\n  {}\n\
         `migrate lint` explains each; make the migration safe, acknowledge the finding with \
         `#[migration(..., allow(rule(step = N, why = \"...\")))]` for its step, or \
         `allow(rule = \"why\")` for the whole migration, or pass --skip-lint \
         (`Migrator::lint(false)` in code)",
        findings.join("\n  ")
    )]
    Lint {
        /// One line per finding: version, name, source, rule and what is wrong.
        findings: Vec<String>,
    },

    /// A file of the migrations crate could not be read or written (`migrate new`).
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done: `read`, `write`, ...
        action: &'static str,
        /// The file or folder.
        path: std::path::PathBuf,
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },

    /// The async runtime could not start.
    #[error("cannot start the async runtime: {source}")]
    Runtime {
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },

    /// A data migration's own error.
    #[error("{message}")]
    Data {
        /// What the migration reported.
        message: String,
    },

    /// The database refused a statement run by a data migration.
    #[error("database error: {}", message(source))]
    Database {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// The driver's error as people read it: PostgreSQL's message with its SQLSTATE code, not
/// the line of the server's C source that sqlx appends to it.
pub(crate) fn message(error: &sqlx::Error) -> String {
    crate::backend::postgres::message(error).unwrap_or_else(|| error.to_string())
}

/// Whether the error is the connection's loss (the server, or the network, went away):
/// then what the server did last is not known here.
pub(crate) fn connection_lost(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
    ) || error
        .as_database_error()
        .and_then(|e| e.code())
        // PostgreSQL: the session was terminated (administrator, shutdown, crash).
        .is_some_and(|code| matches!(code.as_ref(), "57P01" | "57P02" | "57P03"))
}

/// What a failed migration left, and what to do.
fn after_failure(dirty: bool, migration: MigrationRef, lost: bool) -> String {
    let version = migration.version();
    if migration.migration().role() == crate::migration::Role::Seed {
        return format!(
            "nothing was recorded for it{}: fix it and run `migrate seed` again",
            if migration.migration().transaction() {
                "; on PostgreSQL and SQLite what it wrote was rolled back"
            } else {
                ""
            }
        );
    }
    if migration.migration().role() == crate::migration::Role::Callback {
        use crate::migration::Event;
        return match migration.migration().event() {
            Some(Event::AfterRun) => {
                "the migrations of the run stay applied, and what the callback does did not \
                 happen (rolled back where it had a transaction): fix it, and do that by hand, \
                 or let it run with the next `up` that applies a migration"
            }
            _ => "nothing of the run was applied: fix the callback and run `up` again",
        }
        .into();
    }
    if migration.migration().is_repeatable() {
        return format!(
            "nothing was recorded for it: fix it and run `up` again, which applies it again \
             (the versioned migrations before it stay applied{})",
            if migration.migration().transaction() {
                "; on PostgreSQL and SQLite its statements were rolled back"
            } else {
                ""
            }
        );
    }
    if lost {
        return format!(
            "the connection was lost while it ran, so whether it committed is not known here. \
             Its history row is written in the same transaction: `migrate status` (a new \
             connection) says whether migration {version} is applied{}; then run the command again",
            if dirty { " or dirty" } else { "" }
        );
    }
    if dirty {
        format!(
            "its history row is marked dirty: undo or finish what ran, then \
             `migrate repair --version {version}` and run again (`migrate status` shows the state)"
        )
    } else {
        "it was rolled back: nothing of it remains (the migrations before it stay applied)".into()
    }
}

/// What the database said beyond its message, for an error of running `sql`: PostgreSQL's
/// DETAIL and HINT, and the line of `sql` that its error position points at; each on a
/// line of its own (empty when there is nothing more).
pub(crate) fn details(error: &sqlx::Error, sql: &str) -> String {
    crate::backend::postgres::details(error, sql)
}

/// The line number (from 1) and text of the line holding the `position`-th character
/// (from 1) of `sql`.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))] // PostgreSQL reports positions
pub(crate) fn line_at(sql: &str, position: usize) -> Option<(usize, &str)> {
    let offset = sql.char_indices().nth(position.checked_sub(1)?)?.0;
    let line = sql[..offset].matches('\n').count() + 1;
    let text = sql.lines().nth(line - 1).unwrap_or_default();
    Some((line, text))
}

impl From<sqlx::Error> for Error {
    fn from(source: sqlx::Error) -> Self {
        Error::Database { source }
    }
}

#[cfg(test)]
mod tests {
    use super::line_at;

    #[test]
    fn a_position_is_a_line_of_the_statement() {
        let sql = "CREATE TABLE t (\n  a int,\n  b nosuchtype\n)";
        let position = sql.find("nosuchtype").unwrap() + 1;
        assert_eq!(line_at(sql, position), Some((3, "  b nosuchtype")));
        assert_eq!(line_at(sql, 1), Some((1, "CREATE TABLE t (")));
        assert_eq!(line_at("é\nx", 3), Some((2, "x")), "characters, not bytes");
        assert_eq!(line_at(sql, 0), None);
        assert_eq!(line_at(sql, 1000), None);
    }
}
