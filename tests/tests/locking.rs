//! The run lock and the statement lock timeout, and connection errors as the CLI reports
//! them.

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};
use tests::{Engine, TestDb, migrate};

/// A second runner gives up after --lock-timeout while another holds the lock.
#[tokio::test]
async fn sqlite_runner_waits_for_the_lock_then_gives_up() {
    let db = TestDb::new(Engine::Sqlite).await.unwrap();
    // What a runner holds: an exclusive OS lock on the file beside the database.
    let lock_file = format!("{}-shiplap-lock", db.url.trim_start_matches("sqlite://"));
    let mut holder = std::fs::File::create(&lock_file).unwrap();
    holder.lock().unwrap();
    std::io::Write::write_all(&mut holder, b"process 4242 (since today)\n").unwrap();

    let started = Instant::now();
    let run = migrate(&db.url, &["up", "--lock-timeout", "2s"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "it waited"
    );
    assert!(
        run.stderr.contains("waiting for the run lock on sqlite://")
            && run.stderr.contains("held by process 4242 (since today)"),
        "after a second it says whom it waits for: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\nerror: another shiplap run holds the lock on sqlite://"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("gave up after 2 s (--lock-timeout)"),
        "{}",
        run.stderr
    );

    drop(holder);
    assert_eq!(migrate(&db.url, &["up"]).code, 0, "free again");
    db.drop().await;
}

/// `up` while another holds the lock: after a second it says whom it waits for (each of
/// `holder`), then gives up after --lock-timeout.
fn waits_for(url: &str, holder: &[&str]) {
    let run = migrate(url, &["up", "--lock-timeout", "2s"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        holder.iter().all(|h| run.stderr.contains(h)),
        "after a second it says whom it waits for: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("another shiplap run holds the lock"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn mysql_runner_waits_for_the_lock_then_gives_up() {
    let Some(db) = TestDb::new(Engine::MySql).await else {
        return;
    };
    let mut holder = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    let got: Option<i64> = sqlx::query_scalar(
        "SELECT GET_LOCK(CONCAT('shiplap:', DATABASE(), '.shiplap_migrations'), 1)",
    )
    .fetch_one(&mut holder)
    .await
    .unwrap();
    assert_eq!(got, Some(1));
    waits_for(&db.url, &["held by MySQL connection "]);
    holder.close().await.unwrap();
    assert_eq!(migrate(&db.url, &["up"]).code, 0, "free again");
    db.drop().await;
}

#[tokio::test]
async fn postgres_runner_says_whom_it_waits_for_then_gives_up() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let mut holder =
        sqlx::PgConnection::connect(&format!("{}?application_name=deployer-7", db.url))
            .await
            .unwrap();
    holder
        .execute(sqlx::AssertSqlSafe(format!(
            "SELECT pg_advisory_lock({})",
            tests::RUN_LOCK_KEY
        )))
        .await
        .unwrap();
    waits_for(
        &db.url,
        &["held by PostgreSQL session ", "application 'deployer-7'"],
    );
    holder.close().await.unwrap();
    assert_eq!(migrate(&db.url, &["up"]).code, 0, "free again");
    db.drop().await;
}

/// On Postgres: a runner blocked on a busy table holds the run lock, so a second runner
/// times out on the lock; with --statement-lock-timeout the blocked migration itself fails
/// fast and is rolled back.
#[tokio::test]
async fn postgres_busy_table_lock_timeouts() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    assert_eq!(migrate(&db.url, &["up", "--to", "20250101090300"]).code, 0);
    let mut app = sqlx::PgConnection::connect(&db.url).await.unwrap();
    app.execute("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE")
        .await
        .unwrap();

    // The next migration (ALTER TABLE users) waits for the app's lock, holding the run lock.
    let mut first = tests::xtask()
        .args([
            "migrate",
            "up",
            "--to",
            "20250115100000",
            "--database-url",
            &db.url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Until the first runner's ALTER waits behind the app (so it holds the run lock).
    loop {
        let waiting = db
            .strings(
                "SELECT CAST(COUNT(*) AS TEXT) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'shiplap' \
                 AND wait_event_type = 'Lock'",
            )
            .await;
        if waiting != ["0"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = migrate(&db.url, &["up", "--lock-timeout", "1s"]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(
        second.stderr.contains("another shiplap run holds the lock"),
        "{}",
        second.stderr
    );
    // Killed while its statement waits on the server: the server notices within a second
    // (client_connection_check_interval) and ends that session, so the run lock is free
    // for the next runner; without it the killed run's ALTER would still be queued.
    first.kill().unwrap();
    let _ = first.wait();

    let bounded = migrate(
        &db.url,
        &[
            "up",
            "--to",
            "20250115100000",
            "--statement-lock-timeout",
            "500ms",
        ],
    );
    assert_eq!(bounded.code, 1, "{}", bounded.stderr);
    assert!(
        bounded.stderr.contains("lock timeout"),
        "{}",
        bounded.stderr
    );
    assert!(
        bounded.stderr.contains("it was rolled back"),
        "{}",
        bounded.stderr
    );
    app.execute("COMMIT").await.unwrap();
    assert_eq!(migrate(&db.url, &["up"]).code, 0);
    db.drop().await;
}

#[test]
fn connection_errors_are_clear_and_redacted() {
    let refused = migrate("postgres://app:hunter2@127.0.0.1:1/shop", &["status"]);
    assert_eq!(refused.code, 1);
    // Which database, said first, without its password.
    assert_eq!(
        refused.database.as_deref(),
        Some("shiplap: database postgres://app:***@127.0.0.1:1/shop (from --database-url)")
    );
    assert!(
        refused.stderr.starts_with(
            "error: cannot connect to postgres://app:***@127.0.0.1:1/shop (after 1 attempt(s)): "
        ),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("hunter2"));

    let retried = migrate(
        "mysql://root:hunter2@127.0.0.1:1/shop",
        &["status", "--connect-retries", "2"],
    );
    assert!(
        retried.stderr.contains("(after 3 attempt(s))"),
        "{}",
        retried.stderr
    );

    let scheme = migrate("oracle://scott:tiger@db/orcl", &["up"]);
    assert_eq!(scheme.code, 2);
    assert_eq!(
        scheme.stderr,
        "error: unknown database scheme `oracle` in oracle://scott:***@db/orcl: expected sqlite:, postgres://, mysql:// or mariadb://\n"
    );

    let malformed = migrate("postgres:/nohost", &["up"]);
    assert_eq!(malformed.code, 2);
    assert!(
        malformed
            .stderr
            .starts_with("error: invalid database URL `postgres:/nohost`"),
        "{}",
        malformed.stderr
    );
}

#[tokio::test]
async fn wrong_password_is_clear_and_redacted() {
    let Some(server) = tests::server_url("TEST_MYSQL_URL") else {
        return;
    };
    let (scheme, rest) = server.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let run = migrate(&format!("{scheme}://shiplap_nobody:s3cret@{host}"), &["up"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("shiplap_nobody:***@"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"));
    assert!(
        run.stderr
            .trim_end()
            .ends_with("check the user name and password"),
        "{}",
        run.stderr
    );
}

/// Runs `f` with the URL of the test database for a new role `role` that may not execute
/// `function(bigint)` there; drops the database and the role afterwards.
async fn as_restricted_role<T>(
    db: TestDb,
    role: &str,
    function: &str,
    f: impl FnOnce(&str) -> T,
) -> T {
    db.execute(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
         GRANT ALL ON SCHEMA public TO {role}; \
         REVOKE EXECUTE ON FUNCTION {function}(bigint) FROM PUBLIC"
    ))
    .await;
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let host_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let value = f(&format!("{scheme}://{role}@{host_db}"));
    db.execute(&format!(
        "REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role}"
    ))
    .await;
    db.drop().await;
    if let Some(server) = tests::server_url("TEST_POSTGRES_URL") {
        let mut c = sqlx::PgConnection::connect(&server).await.unwrap();
        c.execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
            .await
            .unwrap();
    }
    value
}

/// A user who may not take advisory locks: the error names the lock and the database,
/// with a hint, rather than a bare "database error".
#[tokio::test]
async fn postgres_lock_refused_is_named() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let role = format!("shiplap_nolock_{}", std::process::id());
    let run = as_restricted_role(db, &role, "pg_try_advisory_lock", |url| {
        migrate(&url.replacen('@', ":hunter2@", 1), &["up"])
    })
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error: cannot take the run lock on postgres://{role}:***@"
        )) && run
            .stderr
            .contains("permission denied for function pg_try_advisory_lock")
            && run.stderr.contains("--lock none"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("hunter2"));
}

/// A lock that cannot be released at the end (here: the user may not call
/// pg_advisory_unlock) turns a successful run into a warning, not a failure: the applied
/// migrations are listed, and the server frees the lock as the connection closes.
#[tokio::test]
async fn postgres_failed_release_is_a_warning() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let role = format!("shiplap_nounlock_{}", std::process::id());
    let (first, second) = as_restricted_role(db, &role, "pg_advisory_unlock", |url| {
        let first = migrate(url, &["up", "--to", "20250101090000"]);
        let second = migrate(
            url,
            &["up", "--to", "20250101090100", "--lock-timeout", "5s"],
        );
        (first, second)
    })
    .await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first
            .stdout
            .contains("applied  20250101090000 create_users"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stderr
            .contains("WARN cannot release the run lock on postgres://")
            && first
                .stderr
                .contains("the server releases it when the connection closes"),
        "{}",
        first.stderr
    );
    assert_eq!(second.code, 0, "the lock was freed: {}", second.stderr);
}
