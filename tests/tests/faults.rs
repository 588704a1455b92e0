//! The run lock under faults, through a real binary (`fault_runner`): the lock's session
//! killed or timed out in the middle of a non-idempotent backfill, and a runner killed with
//! `kill -9` followed at once by another. Each case let a migration run twice when the lock
//! lived on a connection of its own; each round here must end with every migration applied
//! exactly once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::fault::{BACKFILL_KEY, finish, number, wait_for};
use tests::{Engine, TestDb};

const COUNTERS: i64 = 100_000;
const ROUNDS: usize = 4;

fn runner(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fault_runner"));
    command
        .arg("migrate")
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the binary to the end: (exit code, stderr).
fn run(url: &str, args: &[&str]) -> (i32, String) {
    let out = runner(url, args).output().expect("fault_runner runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const APPLIED_PAUSES: &str = "SELECT CAST(COUNT(*) AS CHAR(20)) FROM shiplap_migrations \
                              WHERE version <= 30 AND state = 'applied'";

/// After a run of `up --to 30`: all thirty recorded once and their tables there.
async fn all_pauses_applied(db: &TestDb, context: &str) {
    assert_eq!(number(db, APPLIED_PAUSES).await, 30, "{context}: history");
    let tables = db.tables().await;
    let pause_tables = tables.iter().filter(|t| t.starts_with("pause_")).count();
    assert_eq!(pause_tables, 30, "{context}: tables {tables:?}");
    let (code, stderr) = run(&db.url, &["status"]);
    assert_eq!(code, 0, "{context}: {stderr}");
}

/// `down` killed with -9 while the server still works through the script it was sent,
/// then `up` at once; and `up` killed the same way, then `up` at once.
async fn killed_runner_then_an_immediate_restart(db: &TestDb) {
    let (code, stderr) = run(&db.url, &["up", "--to", "30"]);
    assert_eq!(code, 0, "{stderr}");
    for round in 0..ROUNDS {
        // down, killed once some migrations are reverted
        let mut down = runner(&db.url, &["down", "--to", "0"]).spawn().unwrap();
        wait_for_below(db, APPLIED_PAUSES, 29).await;
        down.kill().unwrap();
        down.wait().unwrap();
        restart(db, &format!("round {round}, up after a killed down")).await;
        all_pauses_applied(db, &format!("round {round}, after a killed down")).await;

        // up, killed once some migrations are applied
        let (code, stderr) = run(&db.url, &["down", "--to", "0"]);
        assert_eq!(code, 0, "{stderr}");
        let mut up = runner(&db.url, &["up", "--to", "30"]).spawn().unwrap();
        wait_for(db, APPLIED_PAUSES, 2).await;
        up.kill().unwrap();
        up.wait().unwrap();
        restart(db, &format!("round {round}, up after a killed up")).await;
        all_pauses_applied(db, &format!("round {round}, after a killed up")).await;
    }
}

/// `up --to 30` right after a runner was killed. On PostgreSQL and SQLite every migration
/// here has a transaction, so it just works. MySQL commits DDL as it goes: the migration
/// the killed runner was in is dirty, `up` refuses it, and the advice it prints, followed
/// as a person would (look whether its table is there), gets `up` through.
async fn restart(db: &TestDb, context: &str) {
    let (code, stderr) = run(&db.url, &["up", "--to", "30"]);
    if code == 0 {
        return;
    }
    assert_eq!(db.engine(), Engine::MySql, "{context}: {stderr}");
    let dirty: Vec<String> = db
        .strings("SELECT CAST(CONCAT(version, ' ', state) AS CHAR) FROM shiplap_migrations WHERE state <> 'applied' AND version > 0")
        .await;
    assert_eq!(
        dirty.len(),
        1,
        "{context}: one migration in flight: {dirty:?}"
    );
    let (version, state) = dirty[0].split_once(' ').unwrap();
    let table = format!("pause_{version:0>2}");
    let present = db.tables().await.contains(&table);
    let args: Vec<&str> = match (state, present) {
        ("dirty-down", true) => vec!["--mark", "applied"],
        ("dirty-down", false) => vec!["--mark", "pending"],
        (_, true) => vec!["--mark", "applied"],
        (_, false) => vec![],
    };
    let advised = if args.is_empty() {
        format!("`migrate repair --version {version}`")
    } else {
        format!("`migrate repair --version {version} {}`", args.join(" "))
    };
    assert!(
        stderr.contains(&advised),
        "{context}: advises {advised}: {stderr}"
    );
    let mut repair = vec!["repair", "--version", version];
    repair.extend(args);
    let (code, stderr) = run(&db.url, &repair);
    assert_eq!(code, 0, "{context}: {stderr}");
    let (code, stderr) = run(&db.url, &["up", "--to", "30"]);
    assert_eq!(code, 0, "{context}, after repair: {stderr}");
}

async fn wait_for_below(db: &TestDb, sql: &str, at_most: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while number(db, sql).await > at_most {
        assert!(
            Instant::now() < deadline,
            "never went down to {at_most}: {sql}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Starts the backfill (migration 102) over fresh counters; returns the running binary
/// once a few batches have committed.
async fn backfill_under_way(db: &TestDb, url: &str) -> Child {
    let (code, stderr) = run(&db.url, &["up", "--to", "101"]);
    assert_eq!(code, 0, "{stderr}");
    db.execute("DELETE FROM counters").await;
    db.execute("DELETE FROM shiplap_migrations WHERE version = 102")
        .await;
    db.execute("DELETE FROM shiplap_migrations_backfill").await;
    db.insert_series("counters", "id, n", "i, 0", COUNTERS)
        .await;
    let child = runner(url, &["up", "--to", "102", "--backfill-pause", "5ms"])
        .spawn()
        .unwrap();
    wait_for(db, BACKFILL_KEY, 5_000).await;
    child
}

/// Every counter was bumped exactly once, and the history says the backfill is done.
async fn every_counter_bumped_once(db: &TestDb, context: &str) {
    let wrong = number(
        db,
        "SELECT CAST(COUNT(*) AS CHAR(20)) FROM counters WHERE n <> 1",
    )
    .await;
    assert_eq!(wrong, 0, "{context}: counters not bumped exactly once");
    let state = db
        .strings("SELECT state FROM shiplap_migrations WHERE version = 102")
        .await;
    assert_eq!(state, ["applied"], "{context}");
}

/// Kills the session that holds the run lock, as an administrator (or a proxy) would.
async fn kill_lock_session(db: &TestDb) {
    match db.engine() {
        Engine::Postgres => {
            let killed = db
                .strings(
                    "SELECT CAST(pg_terminate_backend(pid) AS TEXT) FROM pg_locks \
                     WHERE locktype = 'advisory' AND granted \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .await;
            assert_eq!(killed, ["true"], "one lock session was there to kill");
        }
        Engine::MySql => {
            let id = db
                .strings(
                    "SELECT CAST(IS_USED_LOCK(CONCAT('shiplap:', DATABASE(), '.shiplap_migrations')) AS CHAR)",
                )
                .await;
            db.execute(&format!("KILL {}", id[0])).await;
        }
        Engine::Sqlite => unreachable!("an SQLite lock is the process's own"),
    }
}

/// The lock's session killed in the middle of the backfill, a second runner started at
/// once: the first stops (its work was on that session), the second resumes after the last
/// committed batch, and no counter is bumped twice.
async fn lock_session_killed_mid_backfill(db: &TestDb) {
    for round in 0..ROUNDS {
        let first = backfill_under_way(db, &db.url).await;
        kill_lock_session(db).await;
        let second = runner(&db.url, &["up", "--to", "102"]).spawn().unwrap();
        let (first_code, first_err) = finish(first);
        let (second_code, second_err) = finish(second);
        assert_eq!(
            first_code, 1,
            "round {round}: the first run stops: {first_err}"
        );
        assert!(
            first_err.contains("bump_counters"),
            "round {round}: the error names the migration: {first_err}"
        );
        assert_eq!(second_code, 0, "round {round}: {second_err}");
        every_counter_bumped_once(db, &format!("round {round}")).await;
    }
}

/// PostgreSQL ends sessions idle for `idle_session_timeout`: the lock's session, when it
/// was a connection of its own, while the run went on. Now the lock's session is the one
/// at work, so a second runner waits for the first and finds nothing left to do.
async fn idle_session_timeout_mid_backfill(db: &TestDb) {
    if db.engine() != Engine::Postgres {
        return;
    }
    let url = format!("{}?options=-c%20idle_session_timeout%3D300", db.url);
    for round in 0..ROUNDS {
        let first = backfill_under_way(db, &url).await;
        // Longer than the timeout: a lock on an idle connection of its own is gone by now.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let second = runner(&db.url, &["up", "--to", "102"]).spawn().unwrap();
        let (first_code, first_err) = finish(first);
        let (second_code, second_err) = finish(second);
        assert_eq!(first_code, 0, "round {round}: {first_err}");
        assert_eq!(second_code, 0, "round {round}: {second_err}");
        every_counter_bumped_once(db, &format!("round {round}")).await;
    }
}

macro_rules! on_servers {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(db) = tests::TestDb::new(tests::Engine::Postgres).await else { return };
                super::$scenario(&db).await;
                db.drop().await;
            })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(db) = tests::TestDb::new(tests::Engine::MySql).await else { return };
                super::$scenario(&db).await;
                db.drop().await;
            })*
        }
    };
}

on_servers!(
    killed_runner_then_an_immediate_restart,
    lock_session_killed_mid_backfill,
    idle_session_timeout_mid_backfill,
);
