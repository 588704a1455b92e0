//! Bad input, found by trying it: each case is a clear error with exit code 2, no password
//! in what is printed, and nothing changed.

use tests::{TestDb, migrate, on_every_backend};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("shiplap-bad-input-{}-{name}", std::process::id()))
}

#[test]
fn an_sqlite_url_without_a_file_is_refused() {
    for url in ["sqlite:", "sqlite://"] {
        let run = migrate(url, &["up"]);
        assert_eq!(run.code, 2, "{url}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("it names no file"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "nothing applied: {}", run.stdout);
    }
}

#[test]
fn reading_commands_never_create_an_sqlite_file() {
    let path = temp_path("missing.db");
    let url = format!("sqlite://{}", path.display());
    for args in [
        &["status"][..],
        &["validate"],
        &["history"],
        &["down"],
        &["repair"],
    ] {
        let run = migrate(&url, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("there is no SQLite database at")
                && run.stderr.contains("`migrate up` creates it"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!path.exists(), "{args:?} created the file");
        assert!(
            !std::path::Path::new(&format!("{}-shiplap-lock", path.display())).exists(),
            "{args:?} left a lock file"
        );
    }
}

/// `up --dry-run` of a new database says what `up` would do, and creates nothing either.
#[test]
fn a_dry_run_of_a_new_sqlite_database_creates_nothing() {
    let path = temp_path("new.db");
    let url = format!("sqlite://{}", path.display());
    let run = migrate(&url, &["up", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("\n-- there is no database at ")
            && run
                .stdout
                .contains("CREATE TABLE IF NOT EXISTS \"shiplap_migrations\""),
        "{}",
        run.stdout
    );
    assert!(!path.exists(), "the dry run created the file");
}

#[test]
fn durations_too_long_for_a_timer_are_refused() {
    let path = temp_path("durations.db");
    let url = format!("sqlite://{}", path.display());
    for args in [
        &["up", "--progress-every", "18446744073709551615s"][..],
        &["up", "--progress-every", "18446744073709551615m"],
        &["up", "--lock-timeout", "999999999999m"],
        &["up", "--backfill-pause", "400d"],
    ] {
        let run = migrate(&url, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is too long") || run.stderr.contains("is not a duration"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!path.exists(), "{args:?} touched the database");
    }
}

#[test]
fn malformed_urls_never_print_their_password() {
    for url in [
        "postgres://app:pa/ss-hunter2@127.0.0.1:1/db",
        "postgres://app:pa#ss-hunter2@127.0.0.1:1/db",
        "postgres://app:pa?ss-hunter2@127.0.0.1:1/db",
        "postgres://127.0.0.1:1/db?password=hunter2&password=hunter2",
        "postgres//app:hunter2@127.0.0.1:1/db",
        "mysql://app:hunter2@127.0.0.1:99999999/db",
        "postgres://app:hunter2@127.0.0.1:notaport/db",
    ] {
        let run = migrate(url, &["status"]);
        assert_ne!(run.code, 0, "{url}");
        assert!(
            !run.stderr.contains("hunter2") && !run.stdout.contains("hunter2"),
            "{url}: {}",
            run.stderr
        );
    }
    // A URL the driver refuses is bad input, not a failure to connect.
    let port = migrate("postgres://app:hunter2@127.0.0.1:notaport/db", &["status"]);
    assert_eq!(port.code, 2, "{}", port.stderr);
    assert!(
        port.stderr.starts_with("error: invalid database URL"),
        "{}",
        port.stderr
    );
}

async fn bad_history_table_names_are_refused(db: &TestDb) {
    let long = "h".repeat(60);
    for table in ["", "x\\", "ops.history", "it's", "9lives", long.as_str()] {
        let run = migrate(&db.url, &["up", "--table", table]);
        assert_eq!(run.code, 2, "{table:?}: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with(&format!("error: --table `{table}`: ")),
            "{table:?}: {}",
            run.stderr
        );
    }
    assert!(db.tables().await.is_empty(), "nothing created");
    let fine = migrate(&db.url, &["up", "--table", &"h".repeat(54)]);
    assert_eq!(fine.code, 0, "{}", fine.stderr);
}

async fn repair_of_a_version_without_a_row(db: &TestDb) {
    assert_eq!(migrate(&db.url, &["up", "--to", "20250101090000"]).code, 0);
    let run = migrate(&db.url, &["repair", "--version", "42"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "error: migration 42 has no history row: nothing to repair (`migrate history` lists the rows)\n"
    );
}

on_every_backend!(
    bad_history_table_names_are_refused,
    repair_of_a_version_without_a_row
);
