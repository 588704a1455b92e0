//! Planning: calling a schema migration's function to get its steps.

use crate::error::{Error, Result};
use crate::migration::{Migration, MigrationFn};
use crate::panic::{catch, last_location};
use crate::schema::Schema;

/// What a migration will do, before any SQL is rendered.
#[derive(Debug)]
#[non_exhaustive]
pub enum Plan {
    /// Schema steps, each with its down.
    Schema(Schema),
    /// Rust code, run against the database; nothing to plan ahead.
    Data,
}

/// Plans a migration: calls its function with an empty [`Schema`]. A panic in the
/// function becomes [`Error::Plan`], naming the migration.
pub fn plan(migration: &'static Migration) -> Result<Plan> {
    match migration.function() {
        MigrationFn::Schema(f) => {
            let schema = catch(|| {
                let mut schema = Schema::new();
                f(&mut schema);
                schema
            })
            .map_err(|message| Error::Plan {
                migration: migration.reference(),
                message: match last_location() {
                    Some(at) => format!("{message} (at {at})"),
                    None => message,
                },
            })?;
            Ok(Plan::Schema(schema))
        }
        MigrationFn::Data(_) => Ok(Plan::Data),
    }
}
