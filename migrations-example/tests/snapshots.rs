//! The SQL of every migration, up and down, for every backend, as insta snapshots in
//! `snapshots/`: a pull request that changes a migration shows the SQL it changes.
//!
//! After editing a migration: `cargo insta test --review` (or `cargo test`, then
//! `cargo insta review`). CI runs with `INSTA_UPDATE=no`, so a stale snapshot fails it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use shiplap::Backend;

#[test]
fn sql_of_every_migration_per_backend() {
    let registry = migrations_example::migrations().unwrap();
    let mut failures = Vec::new();
    for migration in registry.iter() {
        for backend in Backend::ALL {
            let sql = shiplap::snapshot(migration, backend).unwrap_or_else(|e| panic!("{e}"));
            let name = format!("{}_{}", migration.version(), migration.name());
            // Check them all before failing, so one run writes every `.snap.new`.
            let checked = catch_unwind(AssertUnwindSafe(|| {
                insta::with_settings!({ snapshot_suffix => backend.name(), prepend_module_to_snapshot => false }, {
                    insta::assert_snapshot!(name.as_str(), sql);
                });
            }));
            if checked.is_err() {
                failures.push(format!("{name}@{backend}"));
            }
        }
    }
    assert!(failures.is_empty(), "snapshots differ: {failures:?}");
}
