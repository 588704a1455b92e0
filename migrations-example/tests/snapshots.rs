//! The SQL of every migration, up and down, for every backend, as insta snapshots in
//! `snapshots/`: a pull request that changes a migration shows the SQL it changes.
//!
//! After editing a migration: `cargo insta test --review` (or `cargo test`, then
//! `cargo insta review`). CI runs with `INSTA_UPDATE=no`, so a stale snapshot fails it.

#[test]
fn sql_of_every_migration_per_backend() {
    shiplap::assert_sql_snapshots!(migrations_example::migrations().unwrap());
}
