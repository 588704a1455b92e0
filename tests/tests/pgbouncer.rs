//! Behind PgBouncer in transaction pooling, the default of many hosted PostgreSQL
//! services: each transaction may run on another server connection, so a session lock
//! cannot work and named prepared statements of different clients meet. With
//! `--lock transaction`, `up`, `status` and eight concurrent runners apply each migration
//! exactly once (the thirty migrations of `fault_runner` that each take 20 ms on the server);
//! with `--lock lease` too, a backfill without a transaction included.

use std::process::{Command, Stdio};

use tests::{Engine, PgBouncer, Run, TestDb, migrate_with};

const PAUSES: usize = 30;

fn migrate(url: &str, args: &[&str]) -> Run {
    migrate_with(env!("CARGO_BIN_EXE_fault_runner"), url, args)
}

/// Runs `fault_runner migrate <args>` `count` times at once on `url`; all must succeed.
/// How many migrations they applied together.
fn at_once(count: usize, url: &str, args: &[&str]) -> usize {
    let runners: Vec<_> = (0..count)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_fault_runner"))
                .arg("migrate")
                .args(args)
                .args(["--database-url", url])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for runner in runners {
        let out = runner.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        applied += stdout.lines().filter(|l| l.starts_with("applied ")).count();
    }
    applied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_runners_through_pgbouncer_apply_each_migration_once() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let Some(bouncer) = PgBouncer::start() else {
        db.drop().await;
        return;
    };
    let url = bouncer.url(db.name());
    let status = migrate(&url, &["status", "--lock", "transaction"]);
    assert_eq!(status.code, 0, "{}", status.stderr);

    let applied = at_once(8, &url, &["up", "--to", "30", "--lock", "transaction"]);
    assert_eq!(applied, PAUSES, "each migration applied exactly once");
    let rows = db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM shiplap_migrations WHERE version > 0")
        .await;
    assert_eq!(rows, [PAUSES.to_string()]);
    let tables = db.tables().await;
    assert_eq!(
        tables.iter().filter(|t| t.starts_with("pause_")).count(),
        PAUSES
    );
    let status = migrate(&url, &["status", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(
        status.stdout.matches("\"applied\"").count(),
        PAUSES,
        "{}",
        status.stdout
    );

    // A migration without a transaction is refused, naming it, before anything runs.
    let refused = migrate(&url, &["up", "--to", "102", "--lock", "transaction"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("migration 102 bump_counters")
            && refused
                .stderr
                .contains("--lock session on a direct connection"),
        "{}",
        refused.stderr
    );
    let down = migrate(&url, &["down", "--steps", "2", "--lock", "transaction"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    drop(bouncer);
    db.drop().await;
}

/// `--lock lease` holds behind PgBouncer too (a row, not a session's lock), and, unlike
/// `--lock transaction`, lets a migration without a transaction run: eight runners at
/// once apply the thirty migrations once each, then four run the non-idempotent backfill,
/// each counter bumped exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_with_a_lease_through_pgbouncer_apply_each_migration_once() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let Some(bouncer) = PgBouncer::start() else {
        db.drop().await;
        return;
    };
    let url = bouncer.url(db.name());
    let run_all =
        |count: usize, to: &str| at_once(count, &url, &["up", "--to", to, "--lock", "lease"]);
    assert_eq!(
        run_all(8, "30"),
        PAUSES,
        "each migration applied exactly once"
    );
    assert_eq!(run_all(1, "101"), 1);
    db.insert_series("counters", "id, n", "i, 0", 20_000).await;
    assert_eq!(run_all(4, "102"), 1, "the backfill applied once");
    let wrong = db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM counters WHERE n <> 1")
        .await;
    assert_eq!(wrong, ["0"], "each counter bumped exactly once");
    drop(bouncer);
    db.drop().await;
}

/// In transaction mode the wait for the lock is bounded by --lock-timeout too (here on a
/// direct connection, where the mode works the same): a runner that cannot get it in time
/// stops with the same error as for a session lock, and nothing more ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_mode_waits_at_most_the_lock_timeout() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let first = migrate(&db.url, &["up", "--to", "10", "--lock", "transaction"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let mut holder = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::Executor::execute(
        &mut holder,
        sqlx::AssertSqlSafe(format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            tests::RUN_LOCK_KEY
        )),
    )
    .await
    .unwrap();
    let waited = migrate(
        &db.url,
        &[
            "up",
            "--to",
            "30",
            "--lock",
            "transaction",
            "--lock-timeout",
            "1s",
        ],
    );
    assert_eq!(waited.code, 1, "{}", waited.stderr);
    assert!(
        waited
            .stderr
            .contains("error: another shiplap run holds the lock on postgres://")
            && waited.stderr.contains("gave up after 1 s (--lock-timeout)"),
        "{}",
        waited.stderr
    );
    let applied = db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM shiplap_migrations WHERE version > 0")
        .await;
    assert_eq!(applied, ["10"]);
    sqlx::Executor::execute(&mut holder, "COMMIT")
        .await
        .unwrap();
    let rest = migrate(&db.url, &["up", "--to", "30", "--lock", "transaction"]);
    assert_eq!(rest.code, 0, "{}", rest.stderr);
    drop(holder);
    db.drop().await;
}
