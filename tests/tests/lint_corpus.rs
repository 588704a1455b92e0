//! The lint on a corpus of fixture migrations: 31 unsafe ones (each rule at least once)
//! and 31 safe ones (each rule's safe pattern at least once), linted for all three
//! backends in one pass, as `migrate lint` does. Every expected finding must be found
//! (no false negatives) and nothing else (no false positives); the counts are printed.
//!
//! Raw SQL is unquoted so one text serves every backend; `only` gives one backend a
//! statement (the others run nothing).

use std::collections::BTreeSet;

use shiplap::lint::{LintOptions, lint};
use shiplap::prelude::*;
use shiplap::{Backend, Registry};

const PG: Backend = Backend::Postgres;
const MY: Backend = Backend::MySql;
const LITE: Backend = Backend::Sqlite;

/// A raw statement for one backend only.
fn only(s: &mut Schema, backend: Backend, sql: &str) {
    let raw = Raw::per_backend().sqlite("").postgres("").mysql("");
    let raw = match backend {
        Backend::Postgres => raw.postgres(sql),
        Backend::MySql => raw.mysql(sql),
        _ => raw.sqlite(sql),
    };
    s.raw(raw).nothing_to_undo("fixture");
}

/// The same raw statement on every backend.
fn all(s: &mut Schema, sql: &str) {
    s.raw(sql).nothing_to_undo("fixture");
}

/// The safe habit on PostgreSQL: a lock_timeout before taking strong locks.
fn timeout(s: &mut Schema) {
    only(s, PG, "SET lock_timeout = '5s'");
}

// ---- Tables the fixtures work on (safe) ----

#[migration(version = 1)]
fn create_accounts(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("accounts")
            .col(
                ColumnDef::new("id")
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new("email").string_len(320).not_null())
            .col(ColumnDef::new("name").string_len(32).null())
            .col(ColumnDef::new("age").integer().null())
            .col(ColumnDef::new("plan").string_len(20).null())
            .col(ColumnDef::new("score").decimal_len(10, 2).null())
            .col(ColumnDef::new("nick").string_len(40).null()),
    );
}

#[migration(version = 2)]
fn create_events(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("events")
            .col(
                ColumnDef::new("id")
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new("account_id").big_integer().not_null())
            .col(ColumnDef::new("payload").json_binary().null())
            .col(ColumnDef::new("at").timestamp_with_time_zone().not_null()),
    );
}

#[migration(version = 3)]
fn create_notes(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("notes")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key())
            .col(ColumnDef::new("body").text().null()),
    );
}

// ---- PostgreSQL: unsafe ----

#[migration(version = 10)]
fn u_index_not_concurrent(s: &mut Schema) {
    timeout(s);
    only(s, PG, "CREATE INDEX accounts_email_idx ON accounts (email)");
}

#[migration(version = 11)]
fn u_concurrently_in_transaction(s: &mut Schema) {
    only(
        s,
        PG,
        "CREATE INDEX CONCURRENTLY accounts_plan_idx ON accounts (plan)",
    );
}

#[migration(version = 12)]
fn u_drop_index_not_concurrent(s: &mut Schema) {
    timeout(s);
    only(s, PG, "DROP INDEX accounts_email_idx");
}

#[migration(version = 13)]
fn u_foreign_key_valid(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE events ADD CONSTRAINT events_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)",
    );
}

#[migration(version = 14)]
fn u_check_valid(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ADD CONSTRAINT accounts_age_check CHECK (age >= 0)",
    );
}

#[migration(version = 15)]
fn u_validate_same_transaction(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ADD CONSTRAINT accounts_plan_check CHECK (plan <> '') NOT VALID",
    );
    only(
        s,
        PG,
        "ALTER TABLE accounts VALIDATE CONSTRAINT accounts_plan_check",
    );
}

#[migration(version = 16)]
fn u_set_not_null(s: &mut Schema) {
    timeout(s);
    only(s, PG, "ALTER TABLE accounts ALTER COLUMN plan SET NOT NULL");
}

#[migration(version = 17)]
fn u_unique_constraint(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email)",
    );
}

#[migration(version = 18)]
fn u_volatile_default(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ADD COLUMN token uuid DEFAULT gen_random_uuid()",
    );
}

#[migration(version = 19)]
fn u_type_change(s: &mut Schema) {
    timeout(s);
    only(s, PG, "ALTER TABLE accounts ALTER COLUMN age TYPE bigint");
}

#[migration(version = 20)]
fn u_json(s: &mut Schema) {
    only(
        s,
        PG,
        "CREATE TABLE logs (id bigint PRIMARY KEY, body json)",
    );
}

#[migration(version = 21)]
fn u_timestamp(s: &mut Schema) {
    only(
        s,
        PG,
        "CREATE TABLE visits (id bigint PRIMARY KEY, at timestamp)",
    );
}

#[migration(version = 22)]
fn u_serial(s: &mut Schema) {
    only(s, PG, "CREATE TABLE tags (id serial PRIMARY KEY)");
}

#[migration(version = 23)]
fn u_long_identifier(s: &mut Schema) {
    only(
        s,
        PG,
        "CREATE TABLE an_extremely_long_table_name_that_keeps_going_well_past_the_limit_of_63 (id bigint PRIMARY KEY)",
    );
}

#[migration(version = 24)]
fn u_no_lock_timeout(s: &mut Schema) {
    s.add_column("accounts", ColumnDef::new("bio").text().null());
}

// ---- Every backend: unsafe ----

#[migration(version = 30)]
fn u_add_not_null(s: &mut Schema) {
    timeout(s);
    s.add_column("notes", ColumnDef::new("author").string_len(40).not_null());
}

#[migration(version = 31)]
fn u_mixed(s: &mut Schema) {
    timeout(s);
    s.add_column("notes", ColumnDef::new("lang").string_len(8).null());
    s.exec(
        Query::update()
            .table("notes")
            .value("lang", "en")
            .and_where(Expr::col("lang").is_null()),
    )
    .nothing_to_undo("fixture");
}

#[migration(version = 32)]
fn u_update_everything(s: &mut Schema) {
    all(s, "UPDATE notes SET body = ''");
}

#[migration(version = 33)]
async fn u_data_in_transaction(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.execute_raw("UPDATE notes SET body = '' WHERE body IS NULL")
        .await?;
    Ok(())
}

#[migration(version = 34)]
fn u_int_primary_key(s: &mut Schema) {
    all(
        s,
        "CREATE TABLE counters (id integer NOT NULL PRIMARY KEY, n bigint)",
    );
}

#[migration(version = 35)]
fn u_narrowing(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ALTER COLUMN nick TYPE varchar(10)",
    );
    only(s, MY, "ALTER TABLE accounts MODIFY COLUMN nick varchar(10)");
}

// ---- MySQL: unsafe ----

#[migration(version = 40)]
fn u_mysql_type_copy(s: &mut Schema) {
    only(s, MY, "ALTER TABLE accounts MODIFY COLUMN age bigint");
}

#[migration(version = 41)]
fn u_mysql_varchar_copy(s: &mut Schema) {
    only(
        s,
        MY,
        "ALTER TABLE accounts MODIFY COLUMN name varchar(100)",
    );
}

#[migration(version = 42)]
fn u_mysql_lock_shared(s: &mut Schema) {
    only(
        s,
        MY,
        "ALTER TABLE notes ADD COLUMN summary text, LOCK=SHARED",
    );
}

#[migration(version = 43)]
fn u_mysql_fulltext(s: &mut Schema) {
    // Its own table: once a table has a FULLTEXT index, every ALTER of it locks (99).
    only(
        s,
        MY,
        "CREATE TABLE articles (id BIGINT PRIMARY KEY, body TEXT)",
    );
    only(
        s,
        MY,
        "CREATE FULLTEXT INDEX articles_body_ft ON articles (body)",
    );
}

#[migration(version = 44)]
fn u_mysql_foreign_key(s: &mut Schema) {
    only(
        s,
        MY,
        "ALTER TABLE events ADD CONSTRAINT events_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)",
    );
}

#[migration(version = 45)]
fn u_unparsed(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "SECURITY LABEL FOR selinux ON TABLE accounts IS 'system_u:object_r:sepgsql_table_t:s0'",
    );
}

#[migration(version = 46)]
fn u_reindex(s: &mut Schema) {
    timeout(s);
    only(s, PG, "REINDEX INDEX accounts_pkey");
}

#[migration(version = 47)]
fn u_refresh_materialized_view(s: &mut Schema) {
    timeout(s);
    only(s, PG, "REFRESH MATERIALIZED VIEW account_plans");
}

#[migration(version = 48, transaction = false)]
fn u_vacuum_full(s: &mut Schema) {
    timeout(s);
    only(s, PG, "VACUUM FULL accounts");
}

#[migration(version = 49)]
fn u_cluster(s: &mut Schema) {
    timeout(s);
    only(s, PG, "CLUSTER accounts USING accounts_pkey");
}

// ---- Safe patterns ----

#[migration(version = 50, transaction = false)]
fn s_index_concurrently(s: &mut Schema) {
    s.create_index(
        "events",
        Index::create()
            .name("events_account_idx")
            .col("account_id")
            .concurrently(),
    );
}

#[migration(version = 51, transaction = false)]
fn s_drop_index_concurrently(s: &mut Schema) {
    only(s, PG, "DROP INDEX CONCURRENTLY events_account_idx");
}

#[migration(version = 52)]
fn s_foreign_key_not_valid(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE events ADD CONSTRAINT events_account_fk2 FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID",
    );
}

#[migration(version = 53)]
fn s_validate_later(s: &mut Schema) {
    only(
        s,
        PG,
        "ALTER TABLE events VALIDATE CONSTRAINT events_account_fk2",
    );
}

#[migration(version = 54)]
fn s_not_null_check(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ADD CONSTRAINT accounts_email_nn CHECK (email IS NOT NULL) NOT VALID",
    );
    only(
        s,
        PG,
        "ALTER TABLE accounts ADD CONSTRAINT accounts_name_nn CHECK (name IS NOT NULL) NOT VALID",
    );
}

#[migration(version = 55)]
fn s_validate_not_null_check(s: &mut Schema) {
    only(
        s,
        PG,
        "ALTER TABLE accounts VALIDATE CONSTRAINT accounts_name_nn",
    );
}

#[migration(version = 56)]
fn s_set_not_null_after_check(s: &mut Schema) {
    timeout(s);
    only(s, PG, "ALTER TABLE accounts ALTER COLUMN name SET NOT NULL");
}

#[migration(version = 57, transaction = false)]
fn s_unique_index_concurrently(s: &mut Schema) {
    only(
        s,
        PG,
        "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_uidx ON accounts (email)",
    );
}

#[migration(version = 58)]
fn s_unique_using_index(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ADD CONSTRAINT accounts_email_unique UNIQUE USING INDEX accounts_email_uidx",
    );
}

#[migration(version = 59)]
fn s_stable_default(s: &mut Schema) {
    timeout(s);
    s.add_column(
        "accounts",
        ColumnDef::new("seen_at")
            .timestamp_with_time_zone()
            .default(Expr::current_timestamp()),
    );
}

#[migration(version = 60)]
fn s_widen_varchar(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ALTER COLUMN plan TYPE varchar(60)",
    );
    only(s, MY, "ALTER TABLE accounts MODIFY COLUMN plan varchar(60)");
}

#[migration(version = 61)]
fn s_widen_numeric(s: &mut Schema) {
    timeout(s);
    only(
        s,
        PG,
        "ALTER TABLE accounts ALTER COLUMN score TYPE numeric(12, 2)",
    );
}

#[migration(version = 62)]
fn s_good_types(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("audits")
            .col(
                ColumnDef::new("id")
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new("doc").json_binary().null())
            .col(ColumnDef::new("at").timestamp_with_time_zone().not_null()),
    );
}

#[migration(version = 63, transaction = false)]
fn s_short_identifier(s: &mut Schema) {
    s.create_index(
        "audits",
        Index::create()
            .name("audits_at_idx")
            .col("at")
            .concurrently(),
    );
}

#[migration(version = 64)]
fn s_lock_timeout_set(s: &mut Schema) {
    timeout(s);
    s.add_column("accounts", ColumnDef::new("locale").string_len(10).null());
}

#[migration(version = 65)]
fn s_scratch_table(s: &mut Schema) {
    all(s, "CREATE TABLE scratch (id bigint PRIMARY KEY)");
    all(s, "DROP TABLE scratch");
}

#[migration(version = 66)]
fn s_add_nullable(s: &mut Schema) {
    timeout(s);
    s.add_column("notes", ColumnDef::new("title").string_len(100).null());
}

#[migration(version = 67)]
fn s_not_null_with_default(s: &mut Schema) {
    timeout(s);
    s.add_column(
        "notes",
        ColumnDef::new("pinned").boolean().not_null().default(false),
    );
}

#[migration(version = 68, transaction = false, nothing_to_undo = "fixture")]
async fn s_backfill(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.backfill(Backfill::new("notes", "id").set("title", "untitled"))
        .await?;
    Ok(())
}

#[migration(version = 69)]
fn s_targeted_update(s: &mut Schema) {
    all(s, "UPDATE notes SET title = 'welcome' WHERE id = 1");
}

#[migration(version = 70)]
fn s_sqlite_rowid_key(s: &mut Schema) {
    only(
        s,
        LITE,
        "CREATE TABLE kv (id integer NOT NULL PRIMARY KEY, v text)",
    );
}

#[migration(version = 71)]
fn s_mysql_inplace(s: &mut Schema) {
    only(
        s,
        MY,
        "ALTER TABLE notes ADD COLUMN summary2 text, ALGORITHM=INPLACE, LOCK=NONE",
    );
}

#[migration(version = 72)]
fn s_mysql_new_table_foreign_key(s: &mut Schema) {
    only(
        s,
        MY,
        "CREATE TABLE replies (id bigint NOT NULL PRIMARY KEY, note_id bigint, CONSTRAINT replies_note_fk FOREIGN KEY (note_id) REFERENCES notes (id))",
    );
}

#[migration(version = 73)]
fn s_table_with_index(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("sessions")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key())
            .col(ColumnDef::new("token").string_len(64).not_null()),
    );
    s.create_index(
        "sessions",
        Index::create().name("sessions_token_idx").col("token"),
    );
}

#[migration(version = 74)]
fn s_new_table_changes(s: &mut Schema) {
    all(s, "CREATE TABLE drafts (id bigint PRIMARY KEY, body text)");
    all(
        s,
        "ALTER TABLE drafts ADD COLUMN author varchar(40) NOT NULL",
    );
    all(s, "ALTER TABLE drafts RENAME COLUMN body TO text");
}

#[migration(version = 75)]
fn s_mysql_nullability(s: &mut Schema) {
    only(
        s,
        MY,
        "ALTER TABLE accounts MODIFY COLUMN email varchar(320) NOT NULL",
    );
}

#[migration(version = 76)]
fn s_extension(s: &mut Schema) {
    only(s, PG, "CREATE EXTENSION IF NOT EXISTS citext");
}

#[migration(version = 77)]
fn s_view(s: &mut Schema) {
    all(
        s,
        "CREATE VIEW adults AS SELECT id FROM accounts WHERE age >= 18",
    );
}

#[migration(version = 78, allow(drop_column = "fixture: acknowledged"))]
fn s_acknowledged_drop(s: &mut Schema) {
    timeout(s);
    all(s, "ALTER TABLE notes DROP COLUMN summary");
}

#[migration(version = 79)]
fn s_bigint_key(s: &mut Schema) {
    all(
        s,
        "CREATE TABLE ledgers (id bigint NOT NULL PRIMARY KEY, n bigint)",
    );
}

#[migration(version = 80)]
fn s_targeted_delete(s: &mut Schema) {
    all(s, "DELETE FROM notes WHERE id = 2");
}

#[migration(version = 81, transaction = false)]
fn s_reindex_concurrently(s: &mut Schema) {
    only(s, PG, "REINDEX INDEX CONCURRENTLY accounts_pkey");
}

#[migration(version = 82)]
fn s_refresh_concurrently(s: &mut Schema) {
    only(
        s,
        PG,
        "REFRESH MATERIALIZED VIEW CONCURRENTLY account_plans",
    );
}

#[migration(version = 84)]
fn s_drop_own_view(s: &mut Schema) {
    all(
        s,
        "CREATE VIEW scratch_names AS SELECT email FROM accounts; DROP VIEW scratch_names",
    );
}

#[migration(version = 83, transaction = false)]
fn s_plain_vacuum(s: &mut Schema) {
    only(s, PG, "VACUUM (ANALYZE) accounts");
}

// ---- Every backend: unsafe, destructive (last: they remove what others use) ----

#[migration(version = 90)]
fn u_rename_column(s: &mut Schema) {
    timeout(s);
    all(s, "ALTER TABLE notes RENAME COLUMN body TO content");
}

#[migration(version = 91)]
fn u_drop_column(s: &mut Schema) {
    timeout(s);
    all(s, "ALTER TABLE notes DROP COLUMN title");
}

#[migration(version = 92)]
fn u_rename_table(s: &mut Schema) {
    timeout(s);
    all(s, "ALTER TABLE ledgers RENAME TO books");
}

#[migration(version = 93)]
fn u_drop_table(s: &mut Schema) {
    timeout(s);
    all(s, "DROP TABLE books");
}

#[migration(version = 94)]
fn u_truncate(s: &mut Schema) {
    timeout(s);
    all(s, "TRUNCATE TABLE notes");
}

#[migration(version = 96)]
fn u_drop_view(s: &mut Schema) {
    timeout(s);
    all(s, "DROP VIEW account_names");
}

#[migration(version = 97)]
fn u_drop_default(s: &mut Schema) {
    timeout(s);
    only(s, PG, "ALTER TABLE notes ALTER COLUMN content DROP DEFAULT");
    only(s, MY, "ALTER TABLE notes ALTER COLUMN content DROP DEFAULT");
}

#[migration(version = 98)]
fn u_mysql_check(s: &mut Schema) {
    only(
        s,
        MY,
        "ALTER TABLE accounts ADD CONSTRAINT accounts_age_check CHECK (age >= 0)",
    );
}

#[migration(version = 99)]
fn u_mysql_alter_after_fulltext(s: &mut Schema) {
    only(s, MY, "ALTER TABLE articles ADD COLUMN note_id BIGINT");
}

#[migration(version = 95)]
fn u_lock_table(s: &mut Schema) {
    timeout(s);
    only(s, PG, "LOCK TABLE accounts IN SHARE MODE");
    only(s, MY, "LOCK TABLES accounts READ");
}

#[migration(version = 100)]
fn create_moods(s: &mut Schema) {
    only(s, PG, "CREATE TYPE mood AS ENUM ('sad', 'happy')");
    only(
        s,
        PG,
        "CREATE TABLE moods (id BIGINT PRIMARY KEY, mood mood)",
    );
}

#[migration(version = 101)]
fn u_enum_value_appended(s: &mut Schema) {
    only(s, PG, "ALTER TYPE mood ADD VALUE 'meh'");
}

#[migration(version = 102)]
fn u_enum_value_used_at_once(s: &mut Schema) {
    timeout(s);
    only(s, PG, "ALTER TYPE mood ADD VALUE 'ok' AFTER 'sad'");
    only(
        s,
        PG,
        "ALTER TABLE moods ALTER COLUMN mood SET DEFAULT 'ok'",
    );
}

#[migration(version = 103)]
fn enum_value_placed(s: &mut Schema) {
    only(s, PG, "ALTER TYPE mood ADD VALUE 'fine' BEFORE 'happy'");
}

/// Without a transaction, each statement commits before the next uses the value.
#[migration(version = 104, transaction = false)]
fn enum_value_committed_first(s: &mut Schema) {
    timeout(s);
    only(s, PG, "ALTER TYPE mood ADD VALUE 'great' AFTER 'happy'");
    only(
        s,
        PG,
        "ALTER TABLE moods ALTER COLUMN mood SET DEFAULT 'great'",
    );
}

#[migration(version = 105)]
fn u_commit_inside(s: &mut Schema) {
    all(s, "COMMIT");
}

#[migration(version = 106, transaction = false)]
fn u_begin_never_committed(s: &mut Schema) {
    all(s, "BEGIN");
    all(s, "SELECT 1");
}

#[migration(version = 107, transaction = false)]
fn begin_committed(s: &mut Schema) {
    all(s, "BEGIN");
    all(s, "SELECT 1");
    all(s, "COMMIT");
}

/// (version, backend, rule): every finding the corpus should produce.
fn expected() -> BTreeSet<(i64, Backend, &'static str)> {
    let mut e = BTreeSet::new();
    for (version, rule) in [
        (10, "pg_index_not_concurrent"),
        (11, "pg_concurrently_in_transaction"),
        (12, "pg_drop_index_not_concurrent"),
        (13, "pg_constraint_not_valid"),
        (14, "pg_constraint_not_valid"),
        (15, "pg_constraint_not_valid"),
        (16, "pg_set_not_null"),
        (17, "pg_add_unique_constraint"),
        (18, "pg_volatile_default"),
        (19, "pg_type_change_rewrite"),
        (20, "pg_json_type"),
        (21, "pg_timestamp_without_tz"),
        (22, "pg_serial"),
        (23, "pg_identifier_too_long"),
        (24, "pg_missing_lock_timeout"),
        (35, "pg_type_change_rewrite"),
        (45, "unparsed_statement"),
        (46, "pg_reindex_not_concurrent"),
        (47, "pg_refresh_not_concurrent"),
        (48, "pg_vacuum_full"),
        (49, "pg_cluster"),
        (95, "lock_table"),
        (101, "pg_enum_value_order"),
        (102, "pg_enum_value_in_transaction"),
        (105, "transaction_control"),
    ] {
        e.insert((version, PG, rule));
    }
    // MySQL commits the DDL at once: an error there, under its own id.
    e.insert((31, PG, "mixed_schema_and_data"));
    e.insert((31, LITE, "mixed_schema_and_data"));
    e.insert((31, MY, "mysql_mixed_schema_and_data"));
    // MySQL runs a migration's statements one by one (its DDL commits at once).
    e.insert((105, LITE, "transaction_control"));
    for backend in [PG, MY, LITE] {
        for (version, rule) in [
            (30, "add_not_null_without_default"),
            (32, "data_in_one_transaction"),
            (33, "data_in_one_transaction"),
            (90, "rename_column"),
            (91, "drop_column"),
            (92, "rename_table"),
            (93, "drop_table"),
            (94, "truncate_table"),
            (96, "drop_object"),
            (106, "transaction_control"),
        ] {
            e.insert((version, backend, rule));
        }
    }
    for backend in [PG, MY] {
        e.insert((34, backend, "int_primary_key"));
        e.insert((35, backend, "narrowing_type"));
        e.insert((97, backend, "relax_constraint"));
    }
    for (version, rule) in [
        (35, "mysql_table_copy"),
        (40, "mysql_table_copy"),
        (41, "mysql_table_copy"),
        (42, "mysql_locking_ddl"),
        (43, "mysql_locking_ddl"),
        (44, "mysql_foreign_key"),
        (95, "lock_table"),
        (98, "mysql_table_copy"),
        (99, "mysql_locking_ddl"),
    ] {
        e.insert((version, MY, rule));
    }
    e
}

#[test]
fn corpus() {
    let registry = Registry::of_crate("lint_corpus").unwrap();
    let unsafe_ones = registry
        .iter()
        .filter(|m| m.name().starts_with("u_"))
        .count();
    let safe_ones = registry
        .iter()
        .filter(|m| !m.name().starts_with("u_"))
        .count();
    assert!(
        unsafe_ones >= 30 && safe_ones >= 30,
        "{unsafe_ones} unsafe, {safe_ones} safe"
    );

    let findings = lint(&registry, &Backend::ALL, LintOptions::default()).unwrap();
    // Acknowledged findings are found too; they just do not block.
    let acknowledged: Vec<_> = findings.iter().filter(|f| f.allowed.is_some()).collect();
    assert_eq!(acknowledged.len(), 3, "{acknowledged:#?}");
    assert!(
        acknowledged
            .iter()
            .all(|f| f.version == 78 && f.rule == "drop_column")
    );

    let found: BTreeSet<(i64, Backend, &str)> = findings
        .iter()
        .filter(|f| f.allowed.is_none())
        .map(|f| (f.version, f.backend, f.rule))
        .collect();
    let expected = expected();
    let true_positives = found.intersection(&expected).count();
    let false_positives: Vec<_> = found.difference(&expected).collect();
    let false_negatives: Vec<_> = expected.difference(&found).collect();
    eprintln!(
        "lint corpus: {unsafe_ones} unsafe and {safe_ones} safe migrations × 3 backends: \
         {true_positives} true positives, {} false positives, {} false negatives",
        false_positives.len(),
        false_negatives.len()
    );
    assert!(
        false_positives.is_empty(),
        "false positives: {false_positives:#?}"
    );
    assert!(
        false_negatives.is_empty(),
        "false negatives: {false_negatives:#?}"
    );

    // Every rule fires somewhere in the corpus.
    let fired: BTreeSet<&str> = found.iter().map(|(_, _, rule)| *rule).collect();
    let silent: Vec<&str> = shiplap::lint::RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !fired.contains(id))
        .collect();
    assert!(silent.is_empty(), "rules no fixture triggers: {silent:?}");
}
