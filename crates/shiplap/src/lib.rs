//! shiplap: database migrations written as Rust functions, checked by the compiler,
//! rendered as SQL for SQLite, PostgreSQL and MySQL/MariaDB, and reviewed as snapshots.
//!
//! A migration is a function annotated with [`#[migration]`](migration): a schema
//! migration takes `&mut Schema` and adds sea-query statements to it; a data migration is
//! an `async fn` taking `&mut DataContext<'_>`.
//!
//! ```
//! use shiplap::prelude::*;
//!
//! #[derive(Iden)]
//! enum Users { Table, Id, Email }
//!
//! /// Create the users table.
//! #[migration(version = 20250224120000)]
//! fn create_users(s: &mut Schema) {
//!     s.create_table(
//!         Table::create()
//!             .table(Users::Table)
//!             .col(ColumnDef::new(Users::Id).big_integer().not_null().primary_key())
//!             .col(ColumnDef::new(Users::Email).string().not_null()),
//!     );
//! }
//!
//! // In the crate's lib.rs: `pub fn migrations()`, the registry of this crate.
//! shiplap::migrations!();
//!
//! # fn main() -> shiplap::Result<()> {
//! let registry = migrations()?;
//! let users = registry.get(20250224120000)?;
//! let sql = shiplap::render(users, Backend::Postgres, Direction::Up)?;
//! assert_eq!(
//!     sql.statements[0].sql,
//!     r#"CREATE TABLE "users" ( "id" bigint NOT NULL PRIMARY KEY, "email" varchar NOT NULL )"#
//! );
//! # Ok(())
//! # }
//! ```

// Without any backend (rendering only), the code that runs migrations is compiled but
// can never be reached: not worth a warning each.
#![cfg_attr(
    not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")),
    allow(unused, unreachable_code)
)]

#[cfg(feature = "cli")]
pub mod authoring;
mod backend;
#[cfg(feature = "cli")]
pub mod cli;
mod clock;
mod data;
mod database_url;
mod error;
mod history;
pub mod import;
pub mod inspect;
#[cfg(feature = "lint")]
pub mod lint;
mod lock;
mod migration;
mod migrator;
mod panic;
mod portable;
mod progress;
mod registry;
mod render;
mod schema;
mod split;
mod statement;
mod status;

pub use backend::Backend;
pub use backend::connection::Retry;
#[doc(hidden)]
pub use data::row;
pub use data::{Backfill, BackfillReport, DataContext, Dml, FetchRow};
pub use database_url::{DEFAULT_DATABASE_URL, DatabaseUrl, UrlSource, redact};
pub use error::{Error, Result};
pub use history::{DEFAULT_TABLE, HistoryRow, RowState, RunRow, SizeChange, TableSize};
pub use lock::LockMode;
pub use migration::{Allow, Event, Kind, Location, Migration, MigrationFn, MigrationRef, Role};
pub use migrator::{
    Backup, Database, Done, DownTarget, Drift, Guards, ImportedRow, Lent, Mark, Migrator, Options,
    Repaired, Report, Up, Verified, VerifyOutcome,
};
pub use portable::{new_uuid, uuid_column};
pub use progress::ProgressOutput;
pub use registry::Registry;
pub use render::{Direction, Rendered, RenderedStatement, render, script, snapshot};
pub use schema::{
    BACKUP_PREFIX, BackupOf, Down, KEEP_ROWS, NeedsDown, Owned, Plan, RestoreInto, Schema, Step,
    TableChange, WithDown, plan,
};
pub use sea_query;
pub use shiplap_macros::migration;
/// The sqlx shiplap is built on (0.9): use it for `#[derive(sqlx::FromRow)]` and pools
/// of the same version (`shiplap::sqlx::PgPool`), so the types match.
pub use sqlx;
pub use statement::{Raw, Statement};
pub use status::{MigrationStatus, RepeatableState, RepeatableStatus, State};

/// What a file of migrations needs: `use shiplap::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Backend, Backfill, DataContext, Direction, Raw, Schema, migration, new_uuid, uuid_column,
    };
    // `#[derive(Iden)]` refers to `sea_query::...`: this makes it resolve without a
    // direct dependency on sea-query.
    pub use sea_query::{
        self, Alias, ColumnDef, ConditionalStatement, Expr, ExprTrait, ForeignKey,
        ForeignKeyAction, Iden, Index, Query, Table,
    };
}

/// What `#[migration]`'s expansion uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::migration::{Allow, BoxFuture, Event, Location, Migration, MigrationFn, Role};
    pub use inventory;
}
