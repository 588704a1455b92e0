//! The lease lock (`--lock lease`) on every backend, through a real binary
//! (`fault_runner`) in the middle of a non-idempotent backfill (each counter must end
//! bumped exactly once):
//! - a runner killed with `kill -9` while it holds the lease: a second one started at once
//!   waits for the lease to expire, takes it over, resumes the backfill and finishes;
//! - a lease taken away from a running runner (its row given to another owner): the runner
//!   stops before its next batch, naming the migration, and a later run finishes;
//! - a lease held by someone else that does not expire: `--lock-timeout` gives up and names
//!   the holder;
//! - two runners at once: each migration applied once; the lock table empty after;
//! - `fresh` keeps the lock table (the run holds its row);
//! - a statement longer than the lease: the heartbeat keeps it, the second runner waits;
//!   and so when the heartbeat's own session is killed meanwhile (it reconnects).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::fault::{BACKFILL_KEY, finish, number, wait_for};
use tests::{Engine, TestDb};

const COUNTERS: i64 = 40_000;
const LOCK: &str = "shiplap_migrations_lock";

/// `fault_runner migrate <args>` under a lease of 2 s.
fn runner(url: &str, args: &[&str]) -> Command {
    runner_with(url, args, "2s")
}

fn runner_with(url: &str, args: &[&str], lease: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fault_runner"));
    command
        .arg("migrate")
        .args(args)
        .args(["--database-url", url, "--lock", "lease", "--lease", lease])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts the backfill (migration 102) over fresh counters under a lease; returns the
/// running binary once a few batches have committed.
async fn backfill_under_way(db: &TestDb) -> Child {
    let (code, stderr) = finish(runner(&db.url, &["up", "--to", "101"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    db.execute("DELETE FROM counters").await;
    db.execute("DELETE FROM shiplap_migrations WHERE version = 102")
        .await;
    db.execute("DELETE FROM shiplap_migrations_backfill").await;
    db.insert_series("counters", "id, n", "i, 0", COUNTERS)
        .await;
    let child = runner(&db.url, &["up", "--to", "102", "--backfill-pause", "5ms"])
        .spawn()
        .unwrap();
    wait_for(db, BACKFILL_KEY, 2_000).await;
    child
}

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
    let left = db.strings(&format!("SELECT owner FROM {LOCK}")).await;
    assert!(
        left.is_empty(),
        "{context}: the lease is released: {left:?}"
    );
}

async fn killed_holder_is_taken_over_once_its_lease_expires(db: &TestDb) {
    let mut first = backfill_under_way(db).await;
    let owner = db.strings(&format!("SELECT owner FROM {LOCK}")).await;
    assert_eq!(owner.len(), 1, "the first runner holds the lease");
    first.kill().unwrap(); // SIGKILL: no release
    let _ = first.wait();
    let killed_at = Instant::now();
    let (code, stderr) = finish(runner(&db.url, &["up", "--to", "102"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("took over the run lock") && stderr.contains(&owner[0]),
        "the second runner says whose expired lease it took: {stderr}"
    );
    assert!(
        killed_at.elapsed() >= Duration::from_millis(500),
        "the second runner waited for the lease to expire"
    );
    every_counter_bumped_once(db, "after the takeover").await;
}

async fn a_runner_whose_lease_is_taken_stops_before_its_next_batch(db: &TestDb) {
    let first = backfill_under_way(db).await;
    // Another runner's lease, as after an expiry and a takeover.
    db.execute(&format!(
        "UPDATE {LOCK} SET owner = 'thief', expires_at = expires_at"
    ))
    .await;
    let (code, stderr) = finish(first);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("was lost")
            && stderr.contains("bump_counters")
            && stderr.contains("the lease in the lock table expired or was taken over"),
        "the error names the lock and the migration: {stderr}"
    );
    let done = number(db, BACKFILL_KEY).await;
    assert!(done < COUNTERS, "it stopped mid-way ({done})");
    // The thief's lease expires; the next run takes it over and finishes.
    let (code, stderr) = finish(runner(&db.url, &["up", "--to", "102"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    every_counter_bumped_once(db, "after the stolen lease").await;
}

async fn a_live_lease_keeps_others_out_until_the_timeout(db: &TestDb) {
    let (code, stderr) = finish(runner(&db.url, &["up", "--to", "1"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    let far = match db.engine() {
        Engine::Postgres => "clock_timestamp() + interval '1 hour'",
        Engine::MySql => "UTC_TIMESTAMP(6) + INTERVAL 1 HOUR",
        Engine::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now', '+3600 seconds')",
    };
    db.execute(&format!(
        "INSERT INTO {LOCK} (name, owner, acquired_at, expires_at) \
         VALUES ('shiplap_migrations', 'someone else', {far}, {far})"
    ))
    .await;
    let (code, stderr) = finish(
        runner(&db.url, &["up", "--to", "2", "--lock-timeout", "2s"])
            .spawn()
            .unwrap(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("gave up after 2 s") && stderr.contains("someone else (lease until"),
        "{stderr}"
    );
    db.execute(&format!("DELETE FROM {LOCK}")).await;
}

async fn two_runners_at_once_apply_each_migration_once(db: &TestDb) {
    let runs: Vec<Child> = (0..2)
        .map(|_| runner(&db.url, &["up", "--to", "30"]).spawn().unwrap())
        .collect();
    for run in runs {
        let (code, stderr) = finish(run);
        assert_eq!(code, 0, "{stderr}");
    }
    let applied = db
        .strings(
            "SELECT CAST(COUNT(*) AS CHAR(20)) FROM shiplap_migrations \
             WHERE version <= 30 AND state = 'applied'",
        )
        .await;
    assert_eq!(applied, ["30"]);
    let left = db.strings(&format!("SELECT owner FROM {LOCK}")).await;
    assert!(left.is_empty(), "{left:?}");
}

/// A statement longer than the lease: the heartbeat renews it meanwhile, so a second
/// runner waits instead of taking it over and applying the migration again.
async fn the_heartbeat_keeps_the_lease_through_a_long_statement(db: &TestDb) {
    if db.engine() == Engine::Sqlite {
        return; // no sleep there; an SQLite write transaction blocks a takeover anyway
    }
    let short = |args: &[&str]| runner_with(&db.url, args, "1s");
    let (code, stderr) = finish(short(&["baseline", "--version", "700"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    let first = short(&["up", "--to", "701"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db
        .strings(&format!("SELECT owner FROM {LOCK}"))
        .await
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the first runner never took the lease"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = short(&["up", "--to", "701"]).spawn().unwrap();
    let mut applied = Vec::new();
    for run in [first, second] {
        let out = run.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("took over"), "{stderr}");
        applied.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with("applied"))
                .map(str::to_owned),
        );
    }
    assert_eq!(applied.len(), 1, "701 applied once: {applied:?}");
}

/// The heartbeat's own session killed (an administrator, a proxy) while the run's long
/// statement goes on: the heartbeat reconnects and renews the lease in time, so a second
/// runner still waits, and the migration is applied once.
async fn the_heartbeat_reconnects_when_its_session_is_killed(db: &TestDb) {
    let kill_idle = match db.engine() {
        Engine::Sqlite => return, // no sessions to kill
        // The heartbeat's session is the one whose last statement renewed the lease.
        Engine::Postgres => {
            "SELECT CAST(pg_terminate_backend(pid) AS TEXT) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND query LIKE 'UPDATE %_lock% SET expires_at%'"
        }
        // The run's session is busy in its statement; the heartbeat's sleeps between beats.
        Engine::MySql => {
            "SELECT CAST(id AS CHAR) FROM information_schema.processlist \
             WHERE db = DATABASE() AND id <> CONNECTION_ID() AND command = 'Sleep'"
        }
    };
    let short = |args: &[&str]| runner_with(&db.url, args, "1s");
    let (code, stderr) = finish(short(&["baseline", "--version", "700"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    let first = short(&["up", "--to", "701"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let killed = loop {
        let found = db.strings(kill_idle).await;
        if let Some(found) = found.first() {
            break found.clone();
        }
        assert!(Instant::now() < deadline, "no heartbeat session to kill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if db.engine() == Engine::MySql {
        db.execute(&format!("KILL {killed}")).await;
    }
    let second = short(&["up", "--to", "701"]).spawn().unwrap();
    let (first_code, first_err) = finish(first);
    assert_eq!(first_code, 0, "{first_err}");
    assert!(
        first_err.contains("it reconnected and renewed the lease"),
        "{first_err}"
    );
    let (second_code, second_err) = finish(second);
    assert_eq!(second_code, 0, "{second_err}");
    assert!(!second_err.contains("took over"), "{second_err}");
    let applied = db
        .strings("SELECT state FROM shiplap_migrations WHERE version = 701")
        .await;
    assert_eq!(applied, ["applied"]);
}

/// `fresh` drops every table but the lease's, whose row it holds.
async fn fresh_under_a_lease_keeps_the_lock_table(db: &TestDb) {
    for command in [&["up"][..], &["fresh", "--yes-destroy-all-data"]] {
        let run = tests::migrate(&db.url, &[command, &["--lock", "lease"]].concat());
        assert_eq!(run.code, 0, "{command:?}: {}", run.stderr);
    }
    let left = db.strings(&format!("SELECT owner FROM {LOCK}")).await;
    assert!(left.is_empty(), "{left:?}");
    let status = tests::migrate(&db.url, &["status", "--lock", "lease"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
}

tests::on_every_backend!(
    killed_holder_is_taken_over_once_its_lease_expires,
    a_runner_whose_lease_is_taken_stops_before_its_next_batch,
    a_live_lease_keeps_others_out_until_the_timeout,
    two_runners_at_once_apply_each_migration_once,
    fresh_under_a_lease_keeps_the_lock_table,
    the_heartbeat_keeps_the_lease_through_a_long_statement,
    the_heartbeat_reconnects_when_its_session_is_killed,
);
