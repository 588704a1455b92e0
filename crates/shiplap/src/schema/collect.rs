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
            let steps = schema.steps().len();
            if let Some(allow) = migration
                .allowed()
                .iter()
                .find(|a| a.step.is_some_and(|n| n > steps))
            {
                return Err(Error::Plan {
                    migration: migration.reference(),
                    message: format!(
                        "`allow({}(step = {}, ...))` names a step it does not have: it has {steps}",
                        allow.rule,
                        allow.step.unwrap_or_default()
                    ),
                });
            }
            Ok(Plan::Schema(schema))
        }
        MigrationFn::Data(_) => {
            if let Some(allow) = migration.allowed().iter().find(|a| a.step.is_some()) {
                return Err(Error::Plan {
                    migration: migration.reference(),
                    message: format!(
                        "`allow({}(step = ...))`: a data migration has no steps; acknowledge \
                         the rule for the whole migration, `allow({} = \"why\")`",
                        allow.rule, allow.rule
                    ),
                });
            }
            Ok(Plan::Data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::Allow;
    use crate::migration::testing::with_allow;

    /// A step acknowledgement naming a step the migration lacks is a planning error that
    /// names the migration, so a typo cannot silently acknowledge nothing.
    #[test]
    fn a_step_acknowledgement_must_name_an_existing_step() {
        fn one_step(s: &mut Schema) {
            s.raw("SELECT 1").nothing_to_undo("a query");
        }
        const STEP_1: &[Allow] = &[Allow::__new("drop_column", "x", Some(1))];
        const STEP_2: &[Allow] = &[Allow::__new("drop_column", "x", Some(2))];
        let ok = with_allow(1, "ok", 10, one_step, STEP_1);
        assert!(plan(ok).is_ok());
        let wrong = with_allow(2, "wrong", 20, one_step, STEP_2);
        let message = plan(wrong).unwrap_err().to_string();
        assert!(message.contains("2 wrong (src/test.rs:20)"), "{message}");
        assert!(
            message.contains(
                "`allow(drop_column(step = 2, ...))` names a step it does not have: it has 1"
            ),
            "{message}"
        );
    }
}
