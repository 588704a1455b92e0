//! A migration binary for the fault tests (`tests/tests/faults.rs`): the tests kill it,
//! kill its database session, or let its server time it out, and start another at once.
//!
//! - 1 to 30: `pause_NN` create a table each, after a 20 ms pause on the server, both up
//!   and down, so that a run of them keeps the server busy for a while after one script
//!   was sent.
//! - 101: the `counters` table (the test fills it), whose `n` must stay below 1000;
//! - 102: adds one to every counter in batches of 500 without a transaction: a batch run
//!   twice leaves a 2, and a counter at 999 makes its batch fail;
//! - 201: two tables without a transaction, for the recovery tests (`tests/recovery.rs`);
//! - 301 to 303 fail, for the failure reports (`tests/failure_reports.rs`): a syntax error,
//!   an unknown type on the third line of a statement, a deferred foreign key violated at
//!   `COMMIT`;
//! - 401: one statement that runs for about half a second, for the "still running" report;
//! - 501 and 502 (SQLite): the first caps the database at its size for this connection, as
//!   a full disk would, so that the second, which writes, fails;
//! - 601 (PostgreSQL): a unique index built CONCURRENTLY on `recovery_codes`, which the
//!   test creates (with duplicates, to make the build fail and leave an INVALID index);
//! - 701 (PostgreSQL, MySQL): one statement of 2.5 s, longer than a lease of 1 s.

use std::process::ExitCode;

use shiplap::prelude::*;

/// The server-side pause of each `pause_NN` migration, per backend.
fn pause() -> Raw {
    Raw::per_backend()
        .postgres("SELECT pg_sleep(0.02)")
        .mysql("DO SLEEP(0.02)")
        .sqlite("")
}

macro_rules! pauses {
    ($($version:literal $name:ident),* $(,)?) => {$(
        #[migration(version = $version)]
        fn $name(s: &mut Schema) {
            s.raw(pause()).down(pause());
            s.raw(concat!("CREATE TABLE ", stringify!($name), " (id INT PRIMARY KEY)"))
                .down(concat!("DROP TABLE ", stringify!($name)));
        }
    )*};
}

pauses!(
    1 pause_01, 2 pause_02, 3 pause_03, 4 pause_04, 5 pause_05, 6 pause_06, 7 pause_07,
    8 pause_08, 9 pause_09, 10 pause_10, 11 pause_11, 12 pause_12, 13 pause_13, 14 pause_14,
    15 pause_15, 16 pause_16, 17 pause_17, 18 pause_18, 19 pause_19, 20 pause_20,
    21 pause_21, 22 pause_22, 23 pause_23, 24 pause_24, 25 pause_25, 26 pause_26,
    27 pause_27, 28 pause_28, 29 pause_29, 30 pause_30,
);

#[migration(version = 101)]
fn create_counters(s: &mut Schema) {
    s.raw("CREATE TABLE counters (id BIGINT PRIMARY KEY, n INT NOT NULL, CHECK (n < 1000))")
        .down("DROP TABLE counters");
}

/// Adds one to every counter: a batch applied twice leaves a 2.
#[migration(
    version = 102,
    transaction = false,
    nothing_to_undo = "the test reads n itself"
)]
async fn bump_counters(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.backfill(
        Backfill::new("counters", "id")
            .set("n", Expr::col("n").add(1))
            .batch_size(500),
    )
    .await?;
    Ok(())
}

/// Two tables, each its own step: a down that fails between them leaves one of them gone.
#[migration(version = 201, transaction = false)]
fn two_tables(s: &mut Schema) {
    s.raw("CREATE TABLE recovery_one (id INT PRIMARY KEY)")
        .down("DROP TABLE recovery_one");
    s.raw("CREATE TABLE recovery_two (id INT PRIMARY KEY)")
        .down("DROP TABLE recovery_two");
}

#[migration(version = 301)]
fn syntax_error(s: &mut Schema) {
    s.raw("CREATE TABLE syntax_error (id INT,)")
        .down("DROP TABLE syntax_error");
}

#[migration(version = 302)]
fn unknown_type(s: &mut Schema) {
    s.raw("CREATE TABLE unknown_type (\n  id INT,\n  b no_such_type\n)")
        .down("DROP TABLE unknown_type");
}

#[migration(version = 303)]
fn deferred_violation(s: &mut Schema) {
    s.raw("CREATE TABLE deferred_parent (id INT PRIMARY KEY)")
        .down("DROP TABLE deferred_parent");
    s.raw(
        "CREATE TABLE deferred_child (p INT REFERENCES deferred_parent (id) \
         DEFERRABLE INITIALLY DEFERRED)",
    )
    .down("DROP TABLE deferred_child");
    s.raw("INSERT INTO deferred_child (p) VALUES (1)")
        .nothing_to_undo("the table goes");
}

#[migration(version = 401)]
fn slow_statement(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .postgres("SELECT pg_sleep(0.5)")
            .mysql("DO SLEEP(0.5)")
            .sqlite(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
                 SELECT count(*) FROM c",
            ),
    )
    .nothing_to_undo("it changes nothing");
}

/// Caps the SQLite file at its current size, for this connection only (a full disk).
#[migration(version = 501)]
fn full_disk(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .sqlite("PRAGMA max_page_count = 1")
            .postgres("")
            .mysql(""),
    )
    .nothing_to_undo("a setting of the connection");
}

#[migration(version = 502)]
fn fill_the_disk(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .sqlite(
                "CREATE TABLE filler AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
                 SELECT x + 1 FROM c WHERE x < 20000) SELECT x, printf('%100d', x) AS pad FROM c",
            )
            .postgres("")
            .mysql(""),
    )
    .nothing_to_undo("the test drops the database");
}

#[migration(version = 601, transaction = false)]
fn unique_codes(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .postgres(
                "CREATE UNIQUE INDEX CONCURRENTLY recovery_codes_code ON recovery_codes (code)",
            )
            .mysql("")
            .sqlite(""),
    )
    .down(
        Raw::per_backend()
            .postgres("DROP INDEX CONCURRENTLY recovery_codes_code")
            .mysql("")
            .sqlite(""),
    );
}

/// One statement longer than a lease of 1 s (PostgreSQL, MySQL), for the heartbeat test
/// (`tests/lease.rs`).
#[migration(version = 701)]
fn longer_than_a_lease(s: &mut Schema) {
    let sleep = || {
        Raw::per_backend()
            .postgres("SELECT pg_sleep(2.5)")
            .mysql("DO SLEEP(2.5)")
            .sqlite("")
    };
    s.raw(sleep()).down(sleep());
}

shiplap::migrations!();

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let _migrate = args.next();
    shiplap::cli::run(
        std::iter::once("fault_runner migrate".into()).chain(args),
        migrations(),
    )
}
