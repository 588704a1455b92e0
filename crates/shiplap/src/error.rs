//! The errors shiplap returns: one enum, with variants a caller can match on.

use crate::{Backend, MigrationRef};

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

    /// A data migration's own error.
    #[error("{message}")]
    Data {
        /// What the migration reported.
        message: String,
    },

    /// The database refused a statement run by a data migration.
    #[error("database error: {source}")]
    Database {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl From<sqlx::Error> for Error {
    fn from(source: sqlx::Error) -> Self {
        Error::Database { source }
    }
}
