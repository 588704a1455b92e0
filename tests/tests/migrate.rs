//! `cargo xtask migrate ...` against real databases: every command, on SQLite always and on
//! PostgreSQL and MariaDB when their URLs are set, each test in a fresh database.

use tests::{TestDb, migrate};

const EXAMPLE_COUNT: usize = 17;
const HISTORY: &str = "shiplap_migrations";
const BACKFILL: &str = "shiplap_migrations_backfill";

fn applied_lines(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("applied ")).count()
}

async fn lifecycle(db: &TestDb) {
    // status reads only: no history table appears.
    let status = migrate(&db.url, &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(
        status.stdout.matches(" pending ").count(),
        EXAMPLE_COUNT,
        "{}",
        status.stdout
    );
    assert!(
        db.tables().await.is_empty(),
        "status created {:?}",
        db.tables().await
    );
    assert_eq!(migrate(&db.url, &["status", "--check"]).code, 3);

    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(applied_lines(&up.stdout), EXAMPLE_COUNT, "{}", up.stdout);
    assert!(db.tables().await.contains(&HISTORY.to_owned()));
    let again = migrate(&db.url, &["up"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.starts_with("nothing to do:"),
        "{}",
        again.stdout
    );
    assert_eq!(migrate(&db.url, &["status", "--check"]).code, 0);
    assert_eq!(migrate(&db.url, &["validate"]).code, 0);

    let history = migrate(&db.url, &["history", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let rows = json["history"].as_array().unwrap();
    assert_eq!(rows.len(), EXAMPLE_COUNT);
    assert!(
        rows.iter()
            .all(|r| r["state"] == "applied" && r["sql_checksum"].is_string())
    );

    let down = migrate(&db.url, &["down"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert_eq!(down.stdout.lines().count(), 1, "{}", down.stdout);
    assert!(
        down.stdout
            .starts_with("reverted 20250320090100 index_order_items_product_id")
    );
    let check = migrate(&db.url, &["status", "--check"]);
    assert_eq!(check.code, 3, "one migration is pending again");

    let redo = migrate(&db.url, &["redo", "--steps", "2"]);
    assert_eq!(redo.code, 0, "{}", redo.stderr);
    assert_eq!(
        redo.stdout.matches("reverted ").count(),
        2,
        "{}",
        redo.stdout
    );
    assert_eq!(applied_lines(&redo.stdout), 2, "{}", redo.stdout);

    let all_down = migrate(&db.url, &["down", "--to", "0"]);
    assert_eq!(all_down.code, 0, "{}", all_down.stderr);
    assert_eq!(
        db.tables().await,
        [
            "shiplap_backup_20250301090000_users_name",
            HISTORY,
            BACKFILL
        ],
        "only shiplap's own tables are left: the history, and the copy kept of users \
         when its column name was dropped"
    );
    let up = migrate(&db.url, &["up", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&up.stdout).unwrap();
    assert_eq!(json["migrations"].as_array().unwrap().len(), EXAMPLE_COUNT);
    assert!(!json["database"].as_str().unwrap().is_empty());
}

async fn dry_run_changes_nothing(db: &TestDb) {
    let dry = migrate(&db.url, &["up", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("CREATE TABLE IF NOT EXISTS"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("INSERT INTO"),
        "history writes are shown"
    );
    assert!(
        dry.stdout
            .contains("-- runs the data migration's Rust code")
    );
    assert!(db.tables().await.is_empty(), "a dry run changes nothing");

    assert_eq!(migrate(&db.url, &["up", "--to", "20250101090300"]).code, 0);
    let dry_down = migrate(&db.url, &["down", "--steps", "2", "--dry-run"]);
    assert_eq!(dry_down.code, 0, "{}", dry_down.stderr);
    assert!(
        dry_down.stdout.contains("DROP TABLE"),
        "{}",
        dry_down.stdout
    );
    assert!(
        dry_down.stdout.contains("DELETE FROM"),
        "{}",
        dry_down.stdout
    );
    let rows = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS CHAR(10)) FROM {HISTORY} WHERE version > 0"
        ))
        .await;
    assert_eq!(rows, ["4"]);
}

async fn drift_is_refused_until_repaired(db: &TestDb) {
    assert_eq!(migrate(&db.url, &["up"]).code, 0);
    // Its raw SQL edited (the source checksum cannot see an `include_str!` file's text).
    db.execute(&format!(
        "UPDATE {HISTORY} SET sql_checksum = 'edited', raw_checksum = 'edited' WHERE version = 20250101090100"
    ))
    .await;
    let status = migrate(&db.url, &["status", "--check"]);
    assert_eq!(status.code, 3);
    assert!(
        status.stdout.contains("modified (sql)"),
        "{}",
        status.stdout
    );
    let validate = migrate(&db.url, &["validate"]);
    assert_eq!(validate.code, 3);
    assert!(
        validate.stdout.contains("20250101090100"),
        "{}",
        validate.stdout
    );
    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 1);
    assert!(
        up.stderr.contains("migration 20250101090100 create_products (migrations-example/src/m20250101090100_create_products.rs:9) was changed after it was applied (sql checksum differs)"),
        "{}",
        up.stderr
    );
    let repair = migrate(&db.url, &["repair"]);
    assert_eq!(repair.code, 0, "{}", repair.stderr);
    assert_eq!(
        repair.stdout,
        "20250101090100 create_products: accepted the current checksums\n"
    );
    assert_eq!(migrate(&db.url, &["validate"]).code, 0);
}

async fn bad_input_changes_nothing(db: &TestDb) {
    assert_eq!(migrate(&db.url, &["up", "--to", "20250101090300"]).code, 0);
    let before = db
        .strings(&format!(
            "SELECT CAST(version AS CHAR(20)) FROM {HISTORY} ORDER BY 1"
        ))
        .await;

    let to_unknown = migrate(&db.url, &["down", "--to", "20240101000000"]);
    assert_eq!(to_unknown.code, 2);
    assert_eq!(
        to_unknown.stderr,
        "error: cannot revert to 20240101000000: it is not an applied migration (use 0 to revert everything)\n"
    );
    let zero_steps = migrate(&db.url, &["down", "--steps", "0"]);
    assert_eq!(zero_steps.code, 2);
    assert_eq!(zero_steps.stderr, "error: --steps must be at least 1\n");
    let up_to_unknown = migrate(&db.url, &["up", "--to", "42"]);
    assert_eq!(up_to_unknown.code, 2);
    assert_eq!(up_to_unknown.stderr, "error: no migration has version 42\n");
    let no_flag = migrate(&db.url, &["fresh"]);
    assert_eq!(no_flag.code, 2);
    assert!(
        no_flag.stderr.contains("--yes-destroy-all-data"),
        "{}",
        no_flag.stderr
    );

    let after = db
        .strings(&format!(
            "SELECT CAST(version AS CHAR(20)) FROM {HISTORY} ORDER BY 1"
        ))
        .await;
    assert_eq!(before, after);
}

async fn baseline_and_fresh(db: &TestDb) {
    let baseline = migrate(&db.url, &["baseline", "--version", "20250101090300"]);
    assert_eq!(baseline.code, 0, "{}", baseline.stderr);
    assert!(
        baseline
            .stdout
            .starts_with("recorded 4 migration(s) as applied"),
        "{}",
        baseline.stdout
    );
    let status = migrate(&db.url, &["status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let states: Vec<&str> = json["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "applied").count(), 4);
    assert_eq!(
        states.iter().filter(|s| **s == "pending").count(),
        EXAMPLE_COUNT - 4
    );
    let again = migrate(&db.url, &["baseline", "--version", "20250101090300"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already has rows"),
        "{}",
        again.stderr
    );

    // The baselined tables do not exist (nobody created them): fresh starts over.
    let fresh = migrate(&db.url, &["fresh", "--yes-destroy-all-data"]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_eq!(applied_lines(&fresh.stdout), EXAMPLE_COUNT);
    db.execute("INSERT INTO users (email, display_name) VALUES ('a@example.com', 'A')")
        .await;
    let fresh = migrate(&db.url, &["fresh", "--yes-destroy-all-data"]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_eq!(
        db.strings("SELECT email FROM users").await,
        Vec::<String>::new()
    );
}

/// Eight runners at once on one empty database: each migration applied exactly once, and
/// no runner fails.
async fn eight_concurrent_runners(db: &TestDb) {
    let children: Vec<_> = (0..8)
        .map(|_| {
            tests::xtask()
                .args([
                    "migrate",
                    "up",
                    "--database-url",
                    &db.url,
                    "--lock-timeout",
                    "120s",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        applied += applied_lines(&String::from_utf8_lossy(&output.stdout));
    }
    assert_eq!(
        applied, EXAMPLE_COUNT,
        "every migration applied exactly once across runners"
    );
    let rows = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS CHAR(10)) FROM {HISTORY} WHERE version > 0"
        ))
        .await;
    assert_eq!(rows, [EXAMPLE_COUNT.to_string()]);
}

/// The history reads back exactly what is stored, even a value holding the separator
/// the fast SQLite read joins values with.
async fn history_reads_back_odd_values(db: &TestDb) {
    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let odd = "odd\u{1f}name, \"quoted\"";
    db.execute(&format!(
        "UPDATE {HISTORY} SET name = '{odd}', rows_affected = 42 WHERE version = 20250101090000"
    ))
    .await;
    let history = migrate(&db.url, &["history", "--format", "json"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let json: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let rows = json["history"].as_array().unwrap();
    assert_eq!(rows.len(), EXAMPLE_COUNT);
    assert_eq!(rows[0]["name"], odd);
    assert_eq!(rows[0]["rows_affected"], 42);
    assert_eq!(rows[1]["rows_affected"], serde_json::Value::Null);
    assert!(
        rows.windows(2)
            .all(|w| w[0]["version"].as_i64() < w[1]["version"].as_i64())
    );
    assert_eq!(migrate(&db.url, &["status", "--check"]).code, 0);
}

tests::on_every_backend!(
    lifecycle,
    history_reads_back_odd_values,
    dry_run_changes_nothing,
    drift_is_refused_until_repaired,
    bad_input_changes_nothing,
    baseline_and_fresh,
    eight_concurrent_runners,
);
