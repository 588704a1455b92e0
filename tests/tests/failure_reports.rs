//! What a failure says, through a real binary (`fault_runner`): the migration at fault
//! when the server refuses a whole script, or `COMMIT` fails; PostgreSQL's detail, hint
//! and error position as a line of the statement; no spurious warnings; and each
//! migration's own time in the history and on screen when migrations go as one script.

use tests::{Engine, Run, TestDb, migrate_with, on_every_backend};

fn migrate(url: &str, args: &[&str]) -> Run {
    migrate_with(env!("CARGO_BIN_EXE_fault_runner"), url, args)
}

const NO_SPURIOUS: &str = "there is no transaction in progress";

/// Applies everything up to 201, then records `versions` (of the failing 301 to 303) as
/// applied without running them, to reach the migration after them.
fn past_the_failing_ones(db: &TestDb, versions: &[&str]) {
    let run = migrate(&db.url, &["up", "--to", "201"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for v in versions {
        let mark = migrate(&db.url, &["repair", "--version", v, "--mark", "applied"]);
        assert_eq!(mark.code, 0, "{}", mark.stderr);
    }
}

/// Migration 301's syntax error makes PostgreSQL refuse the whole script it is in; the
/// 33 migrations before it apply, and the error is 301's.
async fn a_syntax_error_is_blamed_on_its_migration(db: &TestDb) {
    let run = migrate(&db.url, &["up", "--to", "301", "-v"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: migration 301 syntax_error")
            && run.stderr.contains("at statement 1 of 1"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(NO_SPURIOUS), "{}", run.stderr);
    let applied = db
        .strings(
            "SELECT CAST(COUNT(*) AS CHAR(20)) FROM shiplap_migrations \
             WHERE version > 0 AND state = 'applied'",
        )
        .await;
    assert_eq!(applied, ["33"]);
    assert!(
        run.stdout
            .ends_with("33 migration(s) done before the failure below; they stay so\n"),
        "{}",
        run.stdout
    );
}

/// Each migration of a script has its own time: in the history, and on screen.
async fn each_migration_of_a_script_has_its_own_time(db: &TestDb) {
    let started = std::time::Instant::now();
    let run = migrate(&db.url, &["up", "--to", "30"]);
    let wall = i64::try_from(started.elapsed().as_millis()).unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = db
        .strings(
            "SELECT CAST(CONCAT(applied_at, ' ', duration_ms) AS CHAR(60)) FROM shiplap_migrations \
             WHERE version > 0 ORDER BY version",
        )
        .await;
    assert_eq!(rows.len(), 30);
    let mut previous = String::new();
    let mut sum = 0;
    let mut times = std::collections::BTreeSet::new();
    for row in &rows {
        let (at, ms) = row.split_once(' ').unwrap();
        assert_eq!(at.len(), "2025-01-01T00:00:00.000Z".len(), "{row}");
        assert!(at.ends_with('Z') && at.as_bytes()[10] == b'T', "{row}");
        assert!(*at >= *previous, "in order: {rows:?}");
        previous = at.to_owned();
        times.insert(at.to_owned());
        let ms: i64 = ms.parse().unwrap();
        sum += ms;
        // Each waits 20 ms on the server (not on SQLite, which has no such pause).
        if db.engine() != Engine::Sqlite {
            assert!(ms >= 20, "its own time, not the script's: {rows:?}");
        }
    }
    // One after the other: their own times add up to no more than the whole run (times
    // counted from the script's start would add up to far more).
    assert!(
        sum <= wall,
        "{sum} ms recorded in a run of {wall} ms: {rows:?}"
    );
    if db.engine() == Engine::Postgres {
        assert!(times.len() > 1, "not one time for all: {rows:?}");
        for line in run.stdout.lines() {
            let ms: i64 = line
                .rsplit(", ")
                .next()
                .and_then(|s| s.strip_suffix(" ms)"))
                .unwrap()
                .parse()
                .unwrap();
            assert!(ms >= 20, "{line}");
        }
    }
}

/// PostgreSQL's error position, as a line of the statement.
async fn the_line_at_fault(db: &TestDb) {
    if db.engine() != Engine::Postgres {
        return;
    }
    past_the_failing_ones(db, &["301"]);
    let run = migrate(&db.url, &["up", "--to", "302"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("migration 302 unknown_type")
            && run.stderr.contains("no_such_type\" does not exist")
            && run
                .stderr
                .contains("\n  at line 3 of the statement: b no_such_type\n"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(NO_SPURIOUS), "{}", run.stderr);
    // Not the line of the server's C source that the driver appends.
    assert_eq!(run.stderr.matches(" at line ").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("(SQLSTATE 42704)"), "{}", run.stderr);
}

/// A deferred constraint fails at `COMMIT`: the error names the migration and says so.
async fn a_failed_commit_names_its_migration(db: &TestDb) {
    if db.engine() == Engine::MySql {
        return; // No deferred constraints.
    }
    past_the_failing_ones(db, &["301", "302"]);
    let run = migrate(&db.url, &["up", "--to", "303"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: migration 303 deferred_violation (tests/src/bin/fault_runner.rs:")
            && run.stderr.contains("failed (up) at COMMIT: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("it was rolled back"), "{}", run.stderr);
    assert!(!run.stderr.contains(NO_SPURIOUS), "{}", run.stderr);
    assert!(!db.tables().await.contains(&"deferred_child".to_owned()));
}

/// A down refused because views depend on the table: DETAIL names them, HINT says what
/// would do it.
async fn detail_and_hint(db: &TestDb) {
    if db.engine() != Engine::Postgres {
        return;
    }
    let run = migrate(&db.url, &["up", "--to", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    db.execute("CREATE VIEW pause_view AS SELECT * FROM pause_01")
        .await;
    let down = migrate(&db.url, &["down"]);
    assert_eq!(down.code, 1, "{}", down.stderr);
    assert!(
        down.stderr
            .contains("\n  detail: view pause_view depends on table pause_01")
            && down.stderr.contains("\n  hint: Use DROP ... CASCADE"),
        "{}",
        down.stderr
    );
}

/// `-vv` logs each statement, also when migrations go as one script.
async fn very_verbose_logs_each_statement(db: &TestDb) {
    let run = migrate(&db.url, &["up", "--to", "3", "-vv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for n in 1..=3 {
        let statement = format!("CREATE TABLE pause_0{n} (id INT PRIMARY KEY)");
        let lines = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("DEBUG running") && l.contains(&statement))
            .count();
        assert_eq!(lines, 1, "{statement}: {}", run.stderr);
    }
    assert!(!run.stderr.contains("the script:"), "{}", run.stderr);
}

/// A statement running longer than --progress-every is reported while it runs, whether it
/// was sent alone (MySQL) or in a script.
async fn a_long_statement_is_reported_while_it_runs(db: &TestDb) {
    past_the_failing_ones(db, &["301", "302", "303"]);
    let run = migrate(&db.url, &["up", "--to", "401", "--progress-every", "100ms"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("slow_statement: ") && run.stderr.contains("still running after"),
        "{}",
        run.stderr
    );
}

/// The session killed while migration 401 runs: the error names it and says that whether
/// it committed is for `status` to tell, and `status` does.
async fn a_lost_connection_names_the_migration_in_flight(db: &TestDb) {
    let kill = match db.engine() {
        Engine::Sqlite => return,
        Engine::Postgres => {
            "SELECT CAST(pg_terminate_backend(pid) AS TEXT) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'shiplap' \
             AND query LIKE '%pg_sleep(0.5)%' AND pid <> pg_backend_pid()"
        }
        Engine::MySql => {
            "SELECT CAST(id AS CHAR) FROM information_schema.processlist \
             WHERE db = DATABASE() AND info LIKE 'DO SLEEP(0.5)%'"
        }
    };
    past_the_failing_ones(db, &["301", "302", "303"]);
    let binary = env!("CARGO_BIN_EXE_fault_runner");
    let child = std::process::Command::new(binary)
        .args(["migrate", "up", "--to", "401", "--database-url", &db.url])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let found = db.strings(kill).await;
        if let Some(id) = found.first() {
            if db.engine() == Engine::MySql {
                db.execute(&format!("KILL {id}")).await;
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("migration 401 slow_statement")
            && stderr.contains("whether it committed is not known here")
            && stderr.contains("`migrate status`"),
        "{stderr}"
    );
    let status = migrate(&db.url, &["status", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let state = doc["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == 401)
        .map(|m| m["state"].clone());
    // Rolled back by the server (MySQL: its dirty row says it did not finish).
    let expected = if db.engine() == Engine::MySql {
        "dirty"
    } else {
        "pending"
    };
    assert_eq!(state, Some(serde_json::json!(expected)), "{doc}");
}

/// A full disk (SQLite capped at its size, for that connection): the error names the
/// migration that wrote, it is rolled back, and the next run (room again) applies it.
async fn a_full_disk_names_the_migration(db: &TestDb) {
    if db.engine() != Engine::Sqlite {
        return;
    }
    past_the_failing_ones(db, &["301", "302", "303"]);
    let run = migrate(&db.url, &["up", "--to", "502"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("migration 502 fill_the_disk")
            && run.stderr.contains("database or disk is full")
            && run.stderr.contains("it was rolled back"),
        "{}",
        run.stderr
    );
    assert!(!db.tables().await.contains(&"filler".to_owned()));
    let again = migrate(&db.url, &["up", "--to", "502"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(db.tables().await.contains(&"filler".to_owned()));
}

on_every_backend!(
    a_full_disk_names_the_migration,
    a_lost_connection_names_the_migration_in_flight,
    a_long_statement_is_reported_while_it_runs,
    very_verbose_logs_each_statement,
    a_syntax_error_is_blamed_on_its_migration,
    each_migration_of_a_script_has_its_own_time,
    the_line_at_fault,
    a_failed_commit_names_its_migration,
    detail_and_hint,
);
