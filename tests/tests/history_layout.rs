//! The history table's own layout: a table written by an earlier build (layout 1, before
//! `rows_affected`, `raw_checksum`, `sizes` and `environment`) is read as it is and upgraded under the lock by the
//! next run; a table
//! of a newer layout, or of columns no layout has, is refused and left as it is.

use tests::{TestDb, migrate, on_every_backend};

const FIRST: &str = "20250101090000";

/// The example's first migration applied by this build, then the table taken back to
/// layout 1: no `rows_affected` column and no layout row, as the earlier build left it.
async fn layout_one(db: &TestDb) {
    let run = migrate(&db.url, &["up", "--to", FIRST]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    db.execute("ALTER TABLE shiplap_migrations DROP COLUMN rows_affected")
        .await;
    db.execute("ALTER TABLE shiplap_migrations DROP COLUMN raw_checksum")
        .await;
    db.execute("ALTER TABLE shiplap_migrations DROP COLUMN sizes")
        .await;
    db.execute("ALTER TABLE shiplap_migrations DROP COLUMN environment")
        .await;
    db.execute("DELETE FROM shiplap_migrations WHERE version = 0")
        .await;
}

async fn columns(db: &TestDb) -> usize {
    let sql = match db.engine() {
        tests::Engine::Sqlite => "SELECT name FROM pragma_table_info('shiplap_migrations')",
        tests::Engine::Postgres => {
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_name = 'shiplap_migrations'"
        }
        tests::Engine::MySql => {
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'shiplap_migrations'"
        }
    };
    db.strings(sql).await.len()
}

async fn layout_row(db: &TestDb) -> Vec<String> {
    db.strings(
        "SELECT CAST(duration_ms AS CHAR(20)) FROM shiplap_migrations WHERE version = 0 AND state = 'layout'",
    )
    .await
}

async fn an_earlier_layout_is_read_then_upgraded(db: &TestDb) {
    layout_one(db).await;
    assert_eq!(columns(db).await, 8);

    // Read as it is: nothing written.
    let status = migrate(&db.url, &["status", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let first = json["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == FIRST.parse::<i64>().unwrap())
        .unwrap();
    assert_eq!(first["state"], "applied", "{}", status.stdout);
    assert_eq!(columns(db).await, 8, "status changes nothing");
    let history = migrate(&db.url, &["history"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    assert!(
        history.stdout.contains("create_users"),
        "{}",
        history.stdout
    );

    // The next run upgrades it, then applies the rest.
    let up = migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert!(
        up.stderr
            .contains("upgrading the history table `shiplap_migrations` from layout 1 to 5"),
        "{}",
        up.stderr
    );
    assert_eq!(columns(db).await, 12);
    assert_eq!(layout_row(db).await, ["5"]);
    let status = migrate(&db.url, &["status", "--check"]);
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let history = migrate(&db.url, &["history", "--format", "json"]);
    assert!(
        !history.stdout.contains("\"version\": 0,"),
        "the layout row is not a migration: {}",
        history.stdout
    );
    // A data migration's rows affected are recorded in the new column.
    let rows = db
        .strings("SELECT CAST(COUNT(*) AS CHAR(20)) FROM shiplap_migrations WHERE rows_affected IS NOT NULL")
        .await;
    assert_ne!(rows, ["0"], "rows_affected written after the upgrade");
}

async fn a_newer_layout_is_refused(db: &TestDb) {
    let run = migrate(&db.url, &["up", "--to", FIRST]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    db.execute(
        "UPDATE shiplap_migrations SET duration_ms = 6, shiplap_version = '9.9.9' WHERE version = 0",
    )
    .await;
    for args in [
        &["status"][..],
        &["up"],
        &["down"],
        &["repair"],
        &["history"],
    ] {
        let run = migrate(&db.url, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(
                "the history table `shiplap_migrations` cannot be used: it has layout 6 (written by shiplap 9.9.9), newer than the layout 5 this shiplap"
            ),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(layout_row(db).await, ["6"], "left as it is");
}

async fn a_table_of_another_shape_is_never_read(db: &TestDb) {
    let run = migrate(&db.url, &["up", "--to", FIRST]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    db.execute("ALTER TABLE shiplap_migrations DROP COLUMN state")
        .await;
    for args in [
        &["status"][..],
        &["up"],
        &["repair"],
        &["baseline", "--version", FIRST],
    ] {
        let run = migrate(&db.url, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot be used: its columns are ")
                && run
                    .stderr
                    .contains("which no layout of shiplap's history table has"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let rows = db
        .strings("SELECT CAST(COUNT(*) AS CHAR(20)) FROM shiplap_migrations")
        .await;
    assert_eq!(rows, ["2"], "nothing deleted (its row and the layout row)");
}

on_every_backend!(
    an_earlier_layout_is_read_then_upgraded,
    a_newer_layout_is_refused,
    a_table_of_another_shape_is_never_read,
);
