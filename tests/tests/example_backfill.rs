//! The example's display_name backfill on 100,000 users, on all three backends, through
//! the real `cargo xtask migrate` binary: killed half-way, the next `up` resumes after the
//! last committed batch; a writer updating single rows of the same table meanwhile is never
//! held up for longer than about one batch.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, MySqlConnection, PgConnection, SqliteConnection};
use tests::{Engine, TestDb, migrate, xtask};

const USERS: i64 = 100_000;
const ADD_COLUMN: &str = "20250210090000";
const BACKFILL: &str = "20250210090100";

async fn number(db: &TestDb, sql: &str) -> i64 {
    db.strings(sql).await[0].parse().unwrap()
}

async fn filled(db: &TestDb) -> i64 {
    number(
        db,
        "SELECT CAST(COUNT(*) AS CHAR(20)) FROM users WHERE display_name IS NOT NULL",
    )
    .await
}

/// The backfill's recorded position: (last key, finished).
async fn position(db: &TestDb) -> Option<(i64, bool)> {
    let rows = db
        .strings(&format!(
            "SELECT CAST(CONCAT(COALESCE(last_key, 0), ' ', finished) AS CHAR(40)) \
             FROM shiplap_migrations_backfill WHERE version = {BACKFILL}"
        ))
        .await;
    rows.first().map(|row| {
        let (key, finished) = row.split_once(' ').unwrap();
        (key.parse().unwrap(), finished == "1")
    })
}

/// Updates random single users until `stop`; returns (updates, the longest one).
async fn writer(engine: Engine, url: String, stop: Arc<AtomicBool>) -> (u32, Duration) {
    macro_rules! write_loop {
        ($conn:ty, $sql:expr) => {{
            let mut conn = <$conn>::connect(&url).await.expect("the writer connects");
            let (mut count, mut longest, mut id) = (0u32, Duration::ZERO, 1i64);
            while !stop.load(Ordering::Relaxed) {
                id = (id * 7919 + 17) % USERS + 1;
                let started = Instant::now();
                sqlx::query($sql)
                    .bind(id)
                    .execute(&mut conn)
                    .await
                    .expect("the writer's update");
                longest = longest.max(started.elapsed());
                count += 1;
                // An application between two writes (SQLite serves one writer at a time,
                // without a queue: a loop with no pause would starve the backfill).
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (count, longest)
        }};
    }
    let toggle = "UPDATE users SET marketing_opt_in = NOT marketing_opt_in WHERE id = ";
    match engine {
        Engine::Sqlite => write_loop!(SqliteConnection, sqlx::AssertSqlSafe(format!("{toggle}?"))),
        Engine::Postgres => write_loop!(PgConnection, sqlx::AssertSqlSafe(format!("{toggle}$1"))),
        Engine::MySql => write_loop!(MySqlConnection, sqlx::AssertSqlSafe(format!("{toggle}?"))),
    }
}

async fn killed_resumed_and_never_blocking(db: &TestDb) {
    let run = migrate(&db.url, &["up", "--to", ADD_COLUMN]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let concat = match db.engine() {
        Engine::Sqlite => "'user' || i || '@example.test', 'User ' || i",
        _ => "CONCAT('user', i, '@example.test'), CONCAT('User ', i)",
    };
    db.insert_series("users", "email, name", concat, USERS)
        .await;

    // Kill the first run once ten batches have committed.
    let mut child = xtask()
        .args([
            "migrate",
            "up",
            "--backfill-pause",
            "20ms",
            "--database-url",
        ])
        .arg(&db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the xtask binary starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the backfill did not start");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        if position(db).await.is_some_and(|(key, _)| key >= 10_000) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (key, finished) = position(db).await.unwrap();
    assert!(!finished && key < USERS, "killed at {key}");
    assert_eq!(
        filled(db).await,
        key,
        "exactly the rows up to the recorded key are filled"
    );
    let state = db
        .strings(&format!(
            "SELECT state FROM shiplap_migrations WHERE version = {BACKFILL}"
        ))
        .await;
    assert_eq!(state, ["dirty"]);

    // Resume, with a writer on the same table.
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(writer(db.engine(), db.url.clone(), Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let url = db.url.clone();
    let resumed = tokio::task::spawn_blocking(move || {
        migrate(&url, &["up", "--to", BACKFILL, "--backfill-pause", "10ms"])
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (writes, longest_wait) = writing.await.unwrap();
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed
            .stderr
            .contains(&format!("resuming after key {key} ")),
        "{}",
        resumed.stderr
    );
    assert_eq!(filled(db).await, USERS);
    let rows = number(
        db,
        &format!(
            "SELECT CAST(rows_affected AS CHAR(20)) FROM shiplap_migrations WHERE version = {BACKFILL}"
        ),
    )
    .await;
    assert_eq!(rows, USERS, "rows of both runs");

    // "backfill of users: N rows in B batches, S.Ss (longest batch M ms)"
    let summary = resumed
        .stderr
        .lines()
        .find(|l| l.contains("longest batch "))
        .unwrap_or_else(|| panic!("no backfill summary in: {}", resumed.stderr));
    let number_after = |marker: &str, end: char| -> f64 {
        let rest = &summary[summary.find(marker).unwrap() + marker.len()..];
        rest[..rest.find(end).unwrap()].parse().unwrap()
    };
    let backfill = Duration::from_secs_f64(number_after("batches, ", 's'));
    let longest_batch = Duration::from_secs_f64(number_after("longest batch ", ' ') / 1000.0);
    eprintln!(
        "{:?}: {writes} single-row updates during a {backfill:?} backfill, longest wait \
         {longest_wait:?}, longest batch {longest_batch:?}",
        db.engine()
    );
    // Behind one UPDATE of the whole table the writer would wait for all of it, and get
    // one or two updates through; between batches it keeps going. (How long it waits is
    // measured by `cargo xtask bench backfill`, not asserted here: a busy machine would
    // fail a time bound.)
    assert!(
        writes >= 10,
        "{writes} single-row updates during a {backfill:?} backfill"
    );

    let rest = migrate(&db.url, &["up"]);
    assert_eq!(rest.code, 0, "{}", rest.stderr);
}

tests::on_every_backend!(killed_resumed_and_never_blocking);
