//! Recovery flows end to end, through a real binary (`fault_runner`) and following the
//! advice each error gives, word for word: a down that fails half-way, an applied migration
//! gone from the code, and a data migration that fails, is fixed and resumed, or is
//! repaired to run again from the start.

use tests::{Engine, Run, TestDb, migrate_with, on_every_backend};

fn migrate(url: &str, args: &[&str]) -> Run {
    migrate_with(env!("CARGO_BIN_EXE_fault_runner"), url, args)
}

fn ok(run: &Run, what: &str) {
    assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.stderr);
}

async fn number(db: &TestDb, sql: &str) -> i64 {
    db.strings(sql).await[0].parse().unwrap()
}

async fn state(db: &TestDb, version: i64) -> Vec<String> {
    db.strings(&format!(
        "SELECT state FROM shiplap_migrations WHERE version = {version}"
    ))
    .await
}

/// Makes migration 201's down fail between its two steps: `recovery_one` is moved away,
/// so the down drops `recovery_two`, then fails on `recovery_one`.
async fn failed_down(db: &TestDb) -> Run {
    db.execute("ALTER TABLE recovery_one RENAME TO recovery_moved")
        .await;
    let down = migrate(&db.url, &["down"]);
    assert_eq!(down.code, 1, "{}", down.stderr);
    assert_eq!(state(db, 201).await, ["dirty-down"]);
    assert!(!db.tables().await.contains(&"recovery_two".to_owned()));
    down
}

async fn a_failed_down_is_repaired_either_way(db: &TestDb) {
    ok(&migrate(&db.url, &["up", "--to", "30"]), "up");
    ok(
        &migrate(&db.url, &["up", "--to", "201", "--allow-out-of-order"]),
        "up 201",
    );
    failed_down(db).await;

    // Every command that refuses says what to do.
    let status = migrate(&db.url, &["status"]);
    assert!(status.stdout.contains("dirty-down"), "{}", status.stdout);
    for args in [&["up"][..], &["down"], &["repair"]] {
        let refused = migrate(&db.url, args);
        assert_eq!(refused.code, 1, "{args:?}: {}", refused.stderr);
        assert!(
            refused
                .stderr
                .contains("its down started and did not finish")
                && refused
                    .stderr
                    .contains("`migrate repair --version 201 --mark pending`")
                && refused
                    .stderr
                    .contains("`migrate repair --version 201 --mark applied`"),
            "{args:?}: {}",
            refused.stderr
        );
    }

    // Either: finish reverting by hand, mark it pending; `up` applies it again.
    db.execute("DROP TABLE recovery_moved").await;
    ok(
        &migrate(
            &db.url,
            &["repair", "--version", "201", "--mark", "pending"],
        ),
        "mark pending",
    );
    assert!(state(db, 201).await.is_empty());
    ok(
        &migrate(&db.url, &["up", "--to", "201", "--allow-out-of-order"]),
        "up again",
    );
    assert_eq!(state(db, 201).await, ["applied"]);

    // Or: restore what the down removed, mark it applied; `down` reverts it.
    failed_down(db).await;
    db.execute("ALTER TABLE recovery_moved RENAME TO recovery_one")
        .await;
    db.execute("CREATE TABLE recovery_two (id INT PRIMARY KEY)")
        .await;
    ok(
        &migrate(
            &db.url,
            &["repair", "--version", "201", "--mark", "applied"],
        ),
        "mark applied",
    );
    assert_eq!(state(db, 201).await, ["applied"]);
    ok(&migrate(&db.url, &["down"]), "down once restored");
    assert!(state(db, 201).await.is_empty());
    let tables = db.tables().await;
    assert!(
        !tables.iter().any(|t| t.starts_with("recovery_")),
        "{tables:?}"
    );
}

async fn an_applied_migration_gone_from_the_code(db: &TestDb) {
    ok(&migrate(&db.url, &["up", "--to", "30"]), "up");
    // As if migration 150 had been applied by a build that had it.
    db.execute(
        "INSERT INTO shiplap_migrations (version, name, source_checksum, sql_checksum, applied_at, \
         duration_ms, state, shiplap_version) VALUES (150, 'gone', 's', 'q', '2025-01-01T00:00:00Z', 1, 'applied', '0.1.0')",
    )
    .await;

    let up = migrate(&db.url, &["up", "--to", "101"]);
    assert_eq!(up.code, 1, "{}", up.stderr);
    assert!(up.stderr.contains("pass --ignore-missing"), "{}", up.stderr);
    ok(
        &migrate(
            &db.url,
            &[
                "up",
                "--to",
                "101",
                "--ignore-missing",
                "--allow-out-of-order",
            ],
        ),
        "up --ignore-missing, as advised",
    );

    // down and redo of it: they cannot run a down the code no longer has.
    for args in [&["down"][..], &["redo"]] {
        let refused = migrate(&db.url, args);
        assert_eq!(refused.code, 1, "{args:?}: {}", refused.stderr);
        assert!(
            refused
                .stderr
                .contains("`migrate repair --version 150 --mark pending`"),
            "{args:?}: {}",
            refused.stderr
        );
        assert!(
            !refused.stderr.contains("--ignore-missing"),
            "{}",
            refused.stderr
        );
    }
    let plain = migrate(&db.url, &["repair", "--version", "150"]);
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(plain.stderr.contains("--mark pending"), "{}", plain.stderr);
    ok(
        &migrate(
            &db.url,
            &["repair", "--version", "150", "--mark", "pending"],
        ),
        "as advised",
    );
    ok(
        &migrate(&db.url, &["down"]),
        "down of the newest one still in the code",
    );
    ok(&migrate(&db.url, &["status"]), "status");
}

const WRONG: &str = "SELECT CAST(COUNT(*) AS CHAR(20)) FROM counters WHERE n <> 1";

/// Counters 1..=3000 at 0, one at 999 (its batch fails: n must stay below 1000).
async fn backfill_that_fails(db: &TestDb) {
    ok(&migrate(&db.url, &["up", "--to", "101"]), "up to 101");
    db.insert_series("counters", "id, n", "i, 0", 3000).await;
    db.execute("UPDATE counters SET n = 999 WHERE id = 1700")
        .await;
    let failed = migrate(&db.url, &["up", "--to", "102"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("bump_counters"), "{}", failed.stderr);
    assert_eq!(state(db, 102).await, ["dirty"]);
    // Batches 1-500 and 501-1000 and 1001-1500 committed.
    assert_eq!(
        number(
            db,
            "SELECT CAST(COUNT(*) AS CHAR(20)) FROM counters WHERE n = 1"
        )
        .await,
        1500
    );
}

async fn a_data_migration_fixed_and_resumed(db: &TestDb) {
    backfill_that_fails(db).await;
    // The fix: the data, and (as if) the code, which now differs from the first run's.
    db.execute("UPDATE counters SET n = 0 WHERE id = 1700")
        .await;
    db.execute("UPDATE shiplap_migrations SET source_checksum = 'the-code-before-the-fix' WHERE version = 102")
        .await;
    ok(&migrate(&db.url, &["up", "--to", "102"]), "resumed");
    assert_eq!(number(db, WRONG).await, 0, "each counter bumped once");
    // The row records the code that finished it: the next run is clean.
    ok(
        &migrate(&db.url, &["status", "--check", "--format", "json"]).expect_clean(),
        "status",
    );
    ok(&migrate(&db.url, &["up", "--to", "102"]), "the next up");
}

async fn a_repaired_data_migration_runs_from_the_start(db: &TestDb) {
    backfill_that_fails(db).await;
    // A person undoes what ran, and repairs: the rerun must start from the first row.
    db.execute("UPDATE counters SET n = 0").await;
    let repair = migrate(&db.url, &["repair", "--version", "102"]);
    ok(&repair, "repair");
    assert!(
        repair.stdout.contains("from the start"),
        "{}",
        repair.stdout
    );
    ok(&migrate(&db.url, &["up", "--to", "102"]), "up after repair");
    assert_eq!(
        number(db, WRONG).await,
        0,
        "no counter skipped or bumped twice"
    );
}

trait Clean {
    fn expect_clean(self) -> Run;
}

impl Clean for Run {
    /// `status --check` over versions up to 102 only: later ones are pending by design.
    fn expect_clean(self) -> Run {
        let json: serde_json::Value = serde_json::from_str(&self.stdout).unwrap();
        for m in json["migrations"].as_array().unwrap() {
            if m["version"].as_i64().unwrap() <= 102 {
                assert_eq!(m["state"], "applied", "{m}");
            }
        }
        Run { code: 0, ..self }
    }
}

/// A run that fails part-way says what it applied before the failure, in text and JSON.
async fn a_failed_run_says_what_it_did(db: &TestDb) {
    db.execute("CREATE TABLE pause_05 (id INT PRIMARY KEY)")
        .await;
    let text = migrate(&db.url, &["up", "--to", "30"]);
    assert_eq!(text.code, 1, "{}", text.stderr);
    for v in 1..=4 {
        assert!(
            text.stdout.contains(&format!("applied  {v} pause_0{v} ")),
            "{}",
            text.stdout
        );
    }
    assert!(
        text.stdout
            .ends_with("4 migration(s) done before the failure below; they stay so\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stderr.contains("migration 5 pause_05"),
        "{}",
        text.stderr
    );

    db.execute("DELETE FROM shiplap_migrations WHERE version > 0")
        .await;
    for v in 1..=4 {
        db.execute(&format!("DROP TABLE pause_0{v}")).await;
    }
    let json = migrate(&db.url, &["up", "--to", "30", "--format", "json"]);
    assert_eq!(json.code, 1, "{}", json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["command"], "up");
    assert_eq!(doc["migrations"].as_array().unwrap().len(), 4, "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("migration 5 pause_05"),
        "{doc}"
    );
}

/// A unique index built CONCURRENTLY on duplicate data fails and leaves the index behind,
/// INVALID (PostgreSQL). The error names it and says how to drop it; followed word for
/// word, with the duplicates fixed, `repair` and `up` apply the migration.
async fn a_failed_concurrent_index_is_named_and_dropped(db: &TestDb) {
    if db.engine() != Engine::Postgres {
        return;
    }
    db.execute("CREATE TABLE recovery_codes (code INT)").await;
    db.execute("INSERT INTO recovery_codes VALUES (1), (1), (2)")
        .await;
    ok(
        &migrate(&db.url, &["baseline", "--version", "600"]),
        "baseline",
    );
    let failed = migrate(&db.url, &["up"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_eq!(state(db, 601).await, ["dirty"]);
    let advice = "Drop it before running the migration again: ";
    let drop = failed
        .stderr
        .lines()
        .find_map(|line| line.split_once(advice).map(|(_, sql)| sql.to_owned()))
        .unwrap_or_else(|| panic!("no drop advised: {}", failed.stderr));
    assert!(
        failed
            .stderr
            .contains("left the index public.recovery_codes_code behind, INVALID"),
        "{}",
        failed.stderr
    );
    assert_eq!(drop, "DROP INDEX CONCURRENTLY public.recovery_codes_code;");

    // Without the drop, running it again cannot succeed.
    ok(&migrate(&db.url, &["repair", "--version", "601"]), "repair");
    db.execute("DELETE FROM recovery_codes WHERE code = 1")
        .await;
    let again = migrate(&db.url, &["up"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // Followed: the index dropped, the row repaired, `up` builds it.
    db.execute(drop.trim_end_matches(';')).await;
    ok(&migrate(&db.url, &["repair", "--version", "601"]), "repair");
    ok(&migrate(&db.url, &["up"]), "up after the drop");
    assert_eq!(state(db, 601).await, ["applied"]);
    let valid = db
        .strings(
            "SELECT i.indisvalid::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = 'recovery_codes_code'",
        )
        .await;
    assert_eq!(valid, ["true"]);
}

on_every_backend!(
    a_failed_concurrent_index_is_named_and_dropped,
    a_failed_run_says_what_it_did,
    a_failed_down_is_repaired_either_way,
    an_applied_migration_gone_from_the_code,
    a_data_migration_fixed_and_resumed,
    a_repaired_data_migration_runs_from_the_start,
);
