use shiplap::prelude::*;

#[derive(Iden)]
enum Users {
    Table,
    Id,
}

/// A schema migration.
#[migration(version = 1)]
fn create_users(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table(Users::Table)
            .col(ColumnDef::new(Users::Id).big_integer().not_null().primary_key()),
    );
}

#[migration(version = 2, name = "custom_name", transaction = false)]
pub(crate) fn r#renamed(_s: &mut shiplap::Schema) {}

#[migration(version = 3, nothing_to_undo = "the column it fills is dropped by reverting 1")]
async fn backfill(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    let _ = ctx.backend();
    Ok(())
}

#[migration(version = 9_223_372_036_854_775_807)]
async fn largest(_ctx: &mut shiplap::DataContext<'_>) -> Result<(), shiplap::Error> {
    Ok(())
}

fn main() {}

/// Lint findings acknowledged next to the migration, each with its reason.
#[migration(
    version = 9,
    allow(drop_column = "unused since v2.3", pg_missing_lock_timeout = "a tiny table")
)]
fn drop_legacy_column(s: &mut Schema) {
    s.raw("ALTER TABLE users DROP COLUMN legacy")
        .irreversible("the data is gone");
}

/// A repeatable migration: no version, applied again whenever its SQL changes.
#[migration(repeatable, name = "active_users", transaction = false)]
fn active_users_view(s: &mut Schema) {
    s.raw("CREATE OR REPLACE VIEW active_users AS SELECT id FROM users")
        .down("DROP VIEW active_users");
}

/// Reference data, in every environment.
#[migration(seed)]
fn countries(s: &mut Schema) {
    s.raw("DELETE FROM countries").nothing_to_undo("a seed");
}

/// Fixtures, in development and test only.
#[migration(seed, environments = ["development", "test"], transaction = false)]
async fn fixtures(_ctx: &mut shiplap::DataContext<'_>) -> Result<(), shiplap::Error> {
    Ok(())
}

/// After each `up` that applied something.
#[migration(callback = "after_run", name = "analyze")]
fn analyze_after_run(s: &mut Schema) {
    s.raw("ANALYZE").nothing_to_undo("a callback");
}

/// Without a transaction on PostgreSQL only (CONCURRENTLY), with one elsewhere.
#[migration(version = 10, no_transaction_on = ["postgres"])]
fn index_concurrently(s: &mut Schema) {
    s.raw("CREATE INDEX users_email_idx ON users (email)")
        .down("DROP INDEX users_email_idx");
}
