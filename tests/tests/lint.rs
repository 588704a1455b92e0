//! `migrate lint` and the lint's hold on `up`: `up` refuses pending migrations with lint
//! errors nobody acknowledged (and applies nothing), unless `--skip-lint`.

use clap::Parser;
use shiplap::cli::{Cli, execute};
use shiplap::prelude::*;
use shiplap::{DatabaseUrl, Error, Migrator, Registry, UrlSource};
use tests::{Engine, TestDb, xtask};

#[migration(version = 1)]
fn create_sessions(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("sessions")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key()),
    );
}

#[migration(version = 2)]
fn drop_sessions(s: &mut Schema) {
    s.drop_table(Table::drop().table("sessions"))
        .irreversible("the sessions are gone");
}

fn registry() -> Registry {
    Registry::of_crate("lint").unwrap()
}

#[tokio::test]
async fn up_refuses_unacknowledged_errors_unless_told_to_skip() {
    let db = TestDb::new(Engine::Sqlite).await.unwrap();
    let url = DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap();
    // The command line's `up` lints; a library's does when asked.
    let mut m = Migrator::new(registry(), url).lint(true);

    let err = m.up().await.unwrap_err();
    assert!(matches!(err, Error::Lint { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(
            "2 drop_sessions (tests/tests/lint.rs:20, step 1, line 1): drop_table: drops the table `sessions`"
        ),
        "{text}"
    );
    assert!(text.contains("--skip-lint"), "{text}");
    assert!(
        m.status()
            .await
            .unwrap()
            .iter()
            .all(|s| s.state.name() == "pending"),
        "nothing was applied, not even the safe migration before it"
    );

    // The first migration alone is fine.
    assert_eq!(m.up_to(1).await.unwrap().len(), 1);
    m.options_mut().lint = false;
    assert_eq!(m.up().await.unwrap().len(), 1);
    db.drop().await;
}

async fn lint_cli(args: &[&str]) -> (bool, String) {
    let cli = Cli::try_parse_from(["migrate", "lint"].iter().chain(args)).unwrap();
    let outcome = execute(&cli, &registry()).await.unwrap();
    (outcome.check_failed, outcome.output)
}

#[tokio::test]
async fn lint_reports_errors_with_their_migration_and_fix() {
    // (The runner's lock timeout silences pg_missing_lock_timeout.)
    let (failed, output) =
        lint_cli(&["--backend", "postgres", "--statement-lock-timeout", "5s"]).await;
    assert!(failed, "an unacknowledged error fails the lint (exit 3)");
    assert!(
        output.starts_with(
            "error[drop_table] 2 drop_sessions (tests/tests/lint.rs:20) on postgres\n  step 1, line 1: DROP TABLE \"sessions\"\n"
        ),
        "{output}"
    );
    assert!(
        output.contains("  fix: stop using it in a release first"),
        "{output}"
    );
    assert!(
        output.ends_with(
            "by rule:\n  drop_table                           1  (0 acknowledged)\n\
             1 error(s), 0 warning(s), 0 acknowledged; 2 migration(s) on postgres\n"
        ),
        "{output}"
    );

    let (failed, output) = lint_cli(&["--format", "json"]).await;
    assert!(failed);
    let doc: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(doc["errors"], 3, "one per backend");
    assert_eq!(doc["findings"][0]["rule"], "drop_table");
    assert_eq!(doc["findings"][0]["source"], "tests/tests/lint.rs:20");
    assert_eq!(doc["findings"][0]["severity"], "error");
    assert_eq!(doc["findings"][0]["step"], 1);
    assert_eq!(doc["findings"][0]["line"], 1);

    let (failed, output) = lint_cli(&["--since", "3"]).await;
    assert!(!failed, "{output}");
}

#[test]
fn the_example_passes_and_since_comes_from_shiplap_toml() {
    let out = xtask().args(["migrate", "lint"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 error(s)"), "{stdout}");

    let dir = std::env::temp_dir().join(format!("shiplap-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("shiplap.toml"), "[lint]\nsince = 20250301090000\n").unwrap();
    let out = xtask()
        .current_dir(&dir)
        .args(["migrate", "lint", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["since"], 20250301090000i64);
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        !findings.is_empty(),
        "the acknowledged drop_column is from then"
    );
    assert!(
        findings
            .iter()
            .all(|f| f["version"].as_i64().unwrap() >= 20250301090000)
    );

    std::fs::write(dir.join("shiplap.toml"), "[lint]\nsince = \"soon\"\n").unwrap();
    let out = xtask()
        .current_dir(&dir)
        .args(["migrate", "lint"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shiplap.toml"));
    std::fs::remove_dir_all(dir).unwrap();
}
