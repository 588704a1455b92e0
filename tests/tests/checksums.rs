//! Checksums after a dependency update: when only the SQL that sea-query renders is spelled
//! differently (the code and the raw SQL unchanged), `up` goes on with a warning, `validate`
//! reports it, `--strict-checksums` refuses, and `repair` records the new spelling; a
//! change of the raw SQL itself is still a modified migration.

use tests::{TestDb, migrate, on_every_backend};

/// The example's first migration: DSL statements only.
const FIRST: &str = "20250101090000";

async fn a_new_sea_query_spelling_warns_and_goes_on(db: &TestDb) {
    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    // As if the sea-query of the build that applied it had spelled its SQL otherwise.
    db.execute(&format!(
        "UPDATE shiplap_migrations SET sql_checksum = 'spelled-by-an-older-sea-query' WHERE version = {FIRST}"
    ))
    .await;

    let status = migrate(&db.url, &["status"]);
    assert!(
        status.stdout.contains("rendering-changed"),
        "{}",
        status.stdout
    );
    let check = migrate(&db.url, &["status", "--check"]);
    assert_eq!(check.code, 0, "applied is applied: {}", check.stdout);
    let validate = migrate(&db.url, &["validate"]);
    assert_eq!(validate.code, 3, "{}", validate.stdout);
    assert!(
        validate.stdout.contains("rendering-changed"),
        "{}",
        validate.stdout
    );

    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert!(
        up.stderr.contains(&format!(
            "{FIRST} create_users: the SQL sea-query renders for it is spelled differently now"
        )),
        "{}",
        up.stderr
    );
    let strict = migrate(&db.url, &["up", "--strict-checksums"]);
    assert_eq!(strict.code, 1, "{}", strict.stderr);
    assert!(
        strict.stderr.contains("create_users")
            && strict
                .stderr
                .contains("only as sea-query renders it, --strict-checksums")
            && strict
                .stderr
                .contains(&format!("migrate repair --version {FIRST}")),
        "{}",
        strict.stderr
    );
    // What the error advises works.
    let repair = migrate(&db.url, &["repair", "--version", FIRST]);
    assert_eq!(repair.code, 0, "{}", repair.stderr);
    let validate = migrate(&db.url, &["validate"]);
    assert_eq!(validate.code, 0, "{}", validate.stdout);
    let strict = migrate(&db.url, &["up", "--strict-checksums"]);
    assert_eq!(strict.code, 0, "{}", strict.stderr);
}

async fn a_changed_raw_sql_is_still_modified(db: &TestDb) {
    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    // As if an `include_str!` file's text had changed: the source checksum cannot see it.
    db.execute(&format!(
        "UPDATE shiplap_migrations SET sql_checksum = 'other', raw_checksum = 'other raw' WHERE version = {FIRST}"
    ))
    .await;
    let status = migrate(&db.url, &["status"]);
    assert!(status.stdout.contains("modified"), "{}", status.stdout);
    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 1, "{}", up.stderr);
    assert!(
        up.stderr
            .contains("was changed after it was applied (sql checksum differs)"),
        "{}",
        up.stderr
    );
}

on_every_backend!(
    a_new_sea_query_spelling_warns_and_goes_on,
    a_changed_raw_sql_is_still_modified,
);
