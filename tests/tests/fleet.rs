//! Fleets through the command line (`cargo xtask migrate ... --targets FILE` and
//! `--schemas`): 50 PostgreSQL databases, and 50 schemas of one database, one of each
//! made to fail mid-way by an object created beforehand. The other 49 finish; the failed
//! one is named (progress line, report, error, exit code) and, once the object is gone,
//! the same command finishes it. `status`, `validate` and `down` take the same flags.
//! A targets file may mix backends.

use std::fmt::Write as _;
use std::path::PathBuf;

use tests::{Engine, TestDb, migrate};

const COUNT: usize = 50;
const BROKEN: usize = 17;

/// The migrations-example tables `create_orders` (its third migration) creates: made
/// beforehand, they make it fail after two migrations applied.
const CONFLICT: &str = "CREATE TABLE orders (id INT)";

fn targets_file(name: &str, targets: &[(String, String)]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("shiplap-{name}-{}.toml", std::process::id()));
    let mut text = String::new();
    for (name, url) in targets {
        let _ = writeln!(text, "[[target]]\nname = \"{name}\"\nurl = \"{url}\"\n");
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// `cargo xtask migrate <args>` (no `--database-url`: the targets file names them).
fn xtask_migrate(args: &[&str]) -> tests::Run {
    let out = tests::xtask().arg("migrate").args(args).output().unwrap();
    tests::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        database: None,
    }
}

fn count(db: &TestDb, sql: &str) -> impl Future<Output = usize> {
    let rows = db.strings(sql);
    async move { rows.await[0].parse().unwrap() }
}

/// The report and progress lines of a fleet run in which `broken` failed.
fn check_failed_run(run: &tests::Run, broken: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    let progress: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(progress.len(), COUNT, "a line per target: {}", run.stderr);
    assert!(
        progress
            .iter()
            .any(|l| l.contains(&format!("{broken} FAILED: migration 20250101090200"))),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("error: 1 of {COUNT} target(s) failed: {broken};")),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("== {broken} (")) && run.stdout.contains("): FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("{} of {COUNT} target(s) succeeded", COUNT - 1)),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_databases_one_failing() {
    let versions = tests::example_versions_in_source().len();
    let mut dbs = Vec::new();
    for _ in 0..COUNT {
        let Some(db) = TestDb::new(Engine::Postgres).await else {
            return;
        };
        dbs.push(db);
    }
    dbs[BROKEN].execute(CONFLICT).await;
    let names: Vec<(String, String)> = dbs
        .iter()
        .enumerate()
        .map(|(i, db)| (format!("db_{i:02}"), db.url.clone()))
        .collect();
    let file = targets_file("fleet", &names);
    let file_arg = file.to_str().unwrap();
    let fleet = |args: &[&str]| {
        xtask_migrate(&[args, &["--targets", file_arg, "--concurrency", "8"]].concat())
    };

    let run = fleet(&["up"]);
    check_failed_run(&run, &format!("db_{BROKEN:02}"));
    for (i, db) in dbs.iter().enumerate() {
        let applied = count(
            db,
            "SELECT CAST(COUNT(*) AS TEXT) FROM shiplap_migrations WHERE state = 'applied'",
        )
        .await;
        let expected = if i == BROKEN { 2 } else { versions };
        assert_eq!(applied, expected, "db_{i:02}");
    }

    // Fixed, the same command finishes the failed one; the others have nothing to do.
    dbs[BROKEN].execute("DROP TABLE orders").await;
    let run = fleet(&["up"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains(&format!("{COUNT} of {COUNT} target(s) succeeded")),
        "{}",
        run.stdout
    );

    let status = fleet(&["status", "--check", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(doc["succeeded"], COUNT);
    assert_eq!(doc["failed"], 0);
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets[BROKEN]["name"], format!("db_{BROKEN:02}"));
    assert!(
        targets
            .iter()
            .all(|t| t["result"]["migrations"].as_array().unwrap().len() == versions)
    );
    assert!(
        !status.stdout.contains("postgres:postgres@"),
        "no passwords"
    );

    assert_eq!(fleet(&["validate"]).code, 0);
    let down = fleet(&["down", "--steps", "1"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    for db in &dbs {
        let applied = count(
            db,
            "SELECT CAST(COUNT(*) AS TEXT) FROM shiplap_migrations WHERE state = 'applied'",
        )
        .await;
        assert_eq!(applied, versions - 1);
    }
    let _ = std::fs::remove_file(&file);
    for db in dbs {
        db.drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_schemas_one_failing() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let versions = tests::example_versions_in_source().len();
    let broken = format!("s_{BROKEN:02}");
    db.execute(&format!("CREATE SCHEMA {broken}")).await;
    db.execute(&format!("CREATE TABLE {broken}.orders (id INT)"))
        .await;
    let schemas: Vec<String> = (0..COUNT).map(|i| format!("s_{i:02}")).collect();
    let list = schemas.join(",");
    let fleet = |args: &[&str]| {
        migrate(
            &db.url,
            &[args, &["--schemas", &list, "--concurrency", "8"]].concat(),
        )
    };

    let run = fleet(&["up"]);
    check_failed_run(&run, &broken);
    for schema in &schemas {
        let applied = count(
            &db,
            &format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM {schema}.shiplap_migrations WHERE state = 'applied'"
            ),
        )
        .await;
        let expected = if *schema == broken { 2 } else { versions };
        assert_eq!(applied, expected, "{schema}");
    }
    assert_eq!(
        count(
            &db,
            "SELECT CAST(COUNT(*) AS TEXT) FROM pg_tables WHERE schemaname = 'public'"
        )
        .await,
        0,
        "nothing in public: each schema has its own history"
    );

    db.execute(&format!("DROP TABLE {broken}.orders")).await;
    let run = fleet(&["up"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // The schemas listed by a query.
    let status = migrate(
        &db.url,
        &[
            "status",
            "--check",
            "--schemas-from",
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 's\\_%' ORDER BY 1",
        ],
    );
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.stdout.matches("== s_").count(), COUNT);

    let bad = migrate(&db.url, &["status", "--schemas", "ok,no-dash"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("the schema name `no-dash`"),
        "{}",
        bad.stderr
    );
    db.drop().await;
}

/// One targets file, three backends: each target runs on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targets_file_mixes_backends() {
    let sqlite = TestDb::new(Engine::Sqlite).await.unwrap();
    let (Some(pg), Some(my)) = (
        TestDb::new(Engine::Postgres).await,
        TestDb::new(Engine::MySql).await,
    ) else {
        return;
    };
    let file = targets_file(
        "mixed",
        &[
            ("lite".into(), sqlite.url.clone()),
            ("pg".into(), pg.url.clone()),
            ("maria".into(), my.url.clone()),
        ],
    );
    let run = xtask_migrate(&[
        "up",
        "--targets",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lite", "pg", "maria"]);
    let both = migrate(&pg.url, &["status", "--targets", file.to_str().unwrap()]);
    assert_eq!(
        both.code, 2,
        "--targets names the databases: {}",
        both.stderr
    );
    let _ = std::fs::remove_file(&file);
    for db in [sqlite, pg, my] {
        db.drop().await;
    }
}
