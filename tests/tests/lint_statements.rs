//! The lint reads raw SQL statement by statement: a construct the parser refuses hides
//! nothing after it. A PostgreSQL history written the way real projects write theirs
//! (functions, triggers, DO blocks, enums, policies, materialized views, partitions),
//! with the count of statements and of unparsed ones printed.

use shiplap::lint::{LintOptions, lint, statement_count, subjects};
use shiplap::prelude::*;
use shiplap::{Backend, Registry};

/// The schema of a small SaaS, as hand-written PostgreSQL.
#[migration(version = 1)]
fn base_schema(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .sqlite("")
            .mysql("")
            .postgres(include_str!("lint_statements/base.sql")),
    )
    .nothing_to_undo("fixture");
}

/// Later changes: the risky ones among harmless ones.
#[migration(version = 2)]
fn later_changes(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .sqlite("")
            .mysql("")
            .postgres(include_str!("lint_statements/later.sql")),
    )
    .nothing_to_undo("fixture");
}

#[test]
fn every_statement_is_read_and_one_refused_hides_nothing() {
    let registry = Registry::of_crate("lint_statements").unwrap();
    let subjects = subjects(&registry, Backend::Postgres).unwrap();
    let statements = statement_count(&subjects, Backend::Postgres);
    let findings = lint(&registry, &[Backend::Postgres], LintOptions::default()).unwrap();
    let unparsed = findings
        .iter()
        .filter(|f| f.rule == "unparsed_statement")
        .count();
    eprintln!("{statements} statements, {unparsed} unparsed");
    assert_eq!(statements, 42);
    assert_eq!(unparsed, 0, "{findings:#?}");

    // The base schema: everything on tables and views it creates itself, nothing found.
    let base: Vec<_> = findings.iter().filter(|f| f.version == 1).collect();
    assert!(base.is_empty(), "{base:#?}");

    // Each risky statement of the later migration, at its line, and nothing else: the
    // statements the parser refuses (ALTER CONSTRAINT, ALTER TYPE ... ADD VALUE) hide
    // neither the rewrite after them nor the ALTER inside the DO block.
    let later: Vec<(&str, usize)> = findings
        .iter()
        .filter(|f| f.version == 2)
        .map(|f| (f.rule, f.line.unwrap_or(0)))
        .collect();
    assert_eq!(
        later,
        [
            ("pg_reindex_not_concurrent", 5),
            ("pg_concurrently_in_transaction", 6),
            ("pg_refresh_not_concurrent", 7),
            ("narrowing_type", 10),
            ("pg_type_change_rewrite", 10),
            ("pg_index_not_concurrent", 11),
            ("pg_vacuum_full", 12),
            ("pg_cluster", 13),
            ("lock_table", 14),
            ("truncate_table", 15),
            ("pg_volatile_default", 23),
            ("mixed_schema_and_data", 15),
        ],
        "{findings:#?}"
    );
    let rewrite = findings
        .iter()
        .find(|f| f.rule == "pg_type_change_rewrite")
        .unwrap();
    assert_eq!(
        rewrite.statement.as_deref(),
        Some("ALTER TABLE users ALTER COLUMN display_name TYPE varchar(80)"),
        "the finding shows its statement, not the migration's whole text"
    );
}
