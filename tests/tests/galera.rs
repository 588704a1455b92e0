//! A real 3-node MariaDB Galera cluster (`bash .ci/galera start`, which prints
//! `TEST_GALERA_URLS`: one URL per node, comma-separated). `GET_LOCK` holds on one node
//! only there; shiplap sees `wsrep_on` and takes a lease instead:
//! - 8 runners spread over the 3 nodes apply migrations-example to an empty database, 10
//!   times: no runner fails, each migration is applied by exactly one of them, and the
//!   history is the same on every node (tables without a primary key refused, as
//!   clusters are often set up);
//! - a runner killed with `kill -9` while it holds the lease in the middle of a backfill:
//!   a runner on another node takes over once the lease has expired and finishes, each
//!   row bumped exactly once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tests::fault::finish;
use tests::{Engine, TestDb};

const RUNNERS: usize = 8;
const ROUNDS: usize = 10;

fn nodes() -> Option<Vec<String>> {
    let urls = tests::server_url("TEST_GALERA_URLS")?;
    let nodes: Vec<String> = urls.split(',').map(|u| u.trim().to_owned()).collect();
    assert_eq!(nodes.len(), 3, "TEST_GALERA_URLS names three nodes: {urls}");
    Some(nodes)
}

/// Rows of one text column, read on one node after it has applied everything the cluster
/// committed before (`wsrep_sync_wait`).
async fn read_on(url: &str, sql: &str) -> Vec<String> {
    let mut conn = sqlx::MySqlConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the Galera node {url}: {e}"));
    sqlx::raw_sql("SET SESSION wsrep_sync_wait = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql} on {url}: {e}"))
}

/// A database made on one node: waits until every node has it (DDL runs on each node
/// in total order, but the node that ran it first may answer before the others have).
async fn on_cluster(nodes: &[String]) -> TestDb {
    let db = TestDb::on_server(Engine::MySql, &nodes[0]).await;
    let sql = format!(
        "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.schemata WHERE schema_name = '{}'",
        db.name()
    );
    for node in nodes {
        assert_eq!(read_on(node, &sql).await, ["1"], "{node}");
    }
    db
}

const HISTORY: &str = "SELECT CAST(CONCAT(version, ' ', name, ' ', sql_checksum, ' ', state) AS CHAR) \
                       FROM shiplap_migrations ORDER BY version";

/// Clusters often refuse tables without a primary key (`wsrep_mode =
/// REQUIRED_PRIMARY_KEY`; MySQL's `sql_require_primary_key` elsewhere): so here, where
/// the copy a plain drop keeps must carry one (`CREATE TABLE ... AS SELECT` would fail
/// with 4165 "Galera replication not supported").
async fn require_primary_keys(nodes: &[String]) {
    for node in nodes {
        let mut conn = sqlx::MySqlConnection::connect(node).await.unwrap();
        sqlx::raw_sql("SET GLOBAL wsrep_mode = 'REQUIRED_PRIMARY_KEY'")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_on_every_node_apply_each_migration_once() {
    let Some(nodes) = nodes() else { return };
    require_primary_keys(&nodes).await;
    let expected = tests::example_versions_in_source().len();
    for round in 0..ROUNDS {
        let db = on_cluster(&nodes).await;
        let started = Instant::now();
        let runners: Vec<(String, Child)> = (0..RUNNERS)
            .map(|i| {
                let url = db.url_on(&nodes[i % nodes.len()]);
                let child = tests::xtask()
                    .args(["migrate", "up", "--database-url", &url])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (url, child)
            })
            .collect();
        let mut applied = Vec::new();
        for (url, child) in runners {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "round {round}: the runner on {url} failed: {}{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
            applied.extend(
                stdout
                    .lines()
                    .filter(|l| l.starts_with("applied "))
                    .map(|l| l.split_whitespace().nth(1).unwrap().to_owned()),
            );
        }
        let elapsed = started.elapsed();
        applied.sort();
        let mut unique = applied.clone();
        unique.dedup();
        assert_eq!(
            applied, unique,
            "round {round}: a migration was applied by two runners"
        );
        assert_eq!(applied.len(), expected, "round {round}: {applied:?}");
        let first = read_on(&db.url_on(&nodes[0]), HISTORY).await;
        for node in &nodes[1..] {
            assert_eq!(
                read_on(&db.url_on(node), HISTORY).await,
                first,
                "round {round}: the history differs on {node}"
            );
        }
        assert!(
            read_on(&db.url, "SELECT owner FROM shiplap_migrations_lock")
                .await
                .is_empty()
        );
        // Right after, each node's `status` (no lock) reads the whole cluster's history.
        for node in &nodes {
            let status = tests::migrate(&db.url_on(node), &["status", "--check"]);
            assert_eq!(status.code, 0, "round {round}, {node}: {}", status.stdout);
        }
        eprintln!("round {round}: {RUNNERS} runners in {elapsed:?}");
        db.drop().await;
    }
}

fn fault_runner(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fault_runner"));
    command
        .arg("migrate")
        .args(args)
        .args(["--database-url", url, "--lease", "3s"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn number(url: &str, sql: &str) -> i64 {
    read_on(url, sql).await[0].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_on_one_node_is_taken_over_from_another() {
    let Some(nodes) = nodes() else { return };
    let db = on_cluster(&nodes).await;
    let (one, two, three) = (
        db.url_on(&nodes[0]),
        db.url_on(&nodes[1]),
        db.url_on(&nodes[2]),
    );
    let (code, stderr) = finish(fault_runner(&one, &["up", "--to", "101"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    db.insert_series("counters", "id, n", "i, 0", 20_000).await;
    let mut first = fault_runner(&one, &["up", "--to", "102", "--backfill-pause", "5ms"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let key = "SELECT CAST(COALESCE(MAX(last_key), 0) AS CHAR) FROM shiplap_migrations_backfill";
    while number(&three, key).await < 2_000 {
        assert!(Instant::now() < deadline, "the backfill never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let owner = read_on(&three, "SELECT owner FROM shiplap_migrations_lock").await;
    assert_eq!(owner.len(), 1, "the first runner holds the lease");
    first.kill().unwrap();
    let _ = first.wait();
    let (code, stderr) = finish(fault_runner(&two, &["up", "--to", "102"]).spawn().unwrap());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("took over the run lock") && stderr.contains(&owner[0]),
        "{stderr}"
    );
    let wrong = number(
        &three,
        "SELECT CAST(COUNT(*) AS CHAR) FROM counters WHERE n <> 1",
    )
    .await;
    assert_eq!(wrong, 0, "counters not bumped exactly once");
    db.drop().await;
}
