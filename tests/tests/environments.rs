//! Environments (`[environments.NAME]` in shiplap.toml, `--env` / `SHIPLAP_ENV`), from the
//! outside: the command line in a folder holding a shiplap.toml, on every backend. The
//! URL comes from the variable the environment names; the environment is printed and
//! recorded in each history row; its guards refuse `fresh` and a `down` that destroys
//! data, before anything changes, and what they advise works; a data migration reads
//! which environment it runs in.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use shiplap::prelude::*;
use tests::{TestDb, on_every_backend, xtask};

const CONFIG: &str = r#"
[environments.development]
url_from = "SHIPLAP_TEST_DEV_URL"
lint = "warn"
seed_after_up = true

[environments.production]
url_from = "SHIPLAP_TEST_PROD_URL"
refuse_fresh = true
refuse_destructive_down = true
lock_timeout = "7s"
"#;

/// A folder holding the shiplap.toml above, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Folder {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shiplap-env-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("shiplap.toml"), CONFIG).unwrap();
        Folder(dir)
    }

    /// `migrate <args>` run in the folder, with the two environments' URL variables
    /// set to `url` (unless `unset`), and none of DATABASE_URL or SHIPLAP_ENV.
    fn migrate(&self, url: &str, args: &[&str]) -> (i32, String, String) {
        let mut command: Command = xtask();
        command
            .current_dir(&self.0)
            .env_remove("SHIPLAP_ENV")
            .env("SHIPLAP_TEST_DEV_URL", url)
            .env("SHIPLAP_TEST_PROD_URL", url)
            .arg("migrate")
            .args(args);
        let out = command.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn guards_and_the_recorded_environment(db: &TestDb) {
    let folder = Folder::new();
    let (code, _, stderr) = folder.migrate(&db.url, &["up", "--env", "production"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.starts_with("shiplap: environment production (from --env)\nshiplap: database "),
        "{stderr}"
    );
    assert!(
        stderr.contains("(from $SHIPLAP_TEST_PROD_URL, environment production's url_from)"),
        "{stderr}"
    );
    let (_, history, _) = folder.migrate(
        &db.url,
        &["history", "--format", "json", "--env", "production"],
    );
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let rows = history["history"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["environment"] == "production"),
        "{history}"
    );

    // The example's seed runs in development only; twice, it adds nothing more.
    let (code, out, stderr) = folder.migrate(&db.url, &["seed", "--env", "production"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("nothing to do"), "{out}");
    for _ in 0..2 {
        let (code, out, stderr) = folder.migrate(&db.url, &["seed", "--env", "development"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            out.contains("applied  seed demo_products (2 statement(s)"),
            "{out}"
        );
    }
    assert_eq!(
        db.strings("SELECT sku FROM products WHERE sku LIKE 'DEMO-%' ORDER BY sku")
            .await,
        ["DEMO-1", "DEMO-2"]
    );
    let tables = db.tables().await;

    // `fresh` is refused, by name, with nothing dropped; so is it through $SHIPLAP_ENV.
    let mut command = xtask();
    let out = command
        .current_dir(&folder.0)
        .env("SHIPLAP_ENV", "production")
        .env("SHIPLAP_TEST_PROD_URL", &db.url)
        .args(["migrate", "fresh", "--yes-destroy-all-data"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("shiplap: environment production (from $SHIPLAP_ENV)")
            && stderr.contains(
                "error: refused in environment `production`: `fresh` drops every table, and \
                 shiplap.toml says `refuse_fresh = true` here. Nothing was dropped."
            ),
        "{stderr}"
    );
    assert_eq!(db.tables().await, tables);

    // A down that drops a table is refused before anything is reverted.
    let (code, _, stderr) = folder.migrate(&db.url, &["down", "--to", "0", "--env", "production"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: refused in environment `production`: reverting migration ")
            && stderr.contains("add_users_display_name")
            && stderr.contains("drops a column of users (statement 1 of its down:")
            && stderr.contains("Nothing was reverted. Undo it with a new migration instead"),
        "{stderr}"
    );
    assert_eq!(db.tables().await, tables);
    let (code, status, _) = folder.migrate(&db.url, &["status", "--check", "--env", "production"]);
    assert_eq!(code, 0, "{status}");

    // The advice: where the environment allows it, the same down runs.
    let (code, _, stderr) = folder.migrate(&db.url, &["down", "--to", "0", "--env", "development"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, status, _) = folder.migrate(
        &db.url,
        &["status", "--format", "json", "--env", "development"],
    );
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(
        status["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "pending"),
        "{status}"
    );
    // `seed_after_up`: up in development runs its seeds too.
    let (code, out, stderr) = folder.migrate(&db.url, &["up", "--env", "development"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("applied  seed demo_products"), "{out}");
}

async fn bad_environments_are_named(db: &TestDb) {
    let folder = Folder::new();
    let (code, _, stderr) = folder.migrate(&db.url, &["status", "--env", "staging"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "error: --env staging: ./shiplap.toml defines no environment `staging`; it defines: \
             development, production"
        ),
        "{stderr}"
    );
    // The environment's variable unset: refused, not another database.
    let out = xtask()
        .current_dir(&folder.0)
        .env_remove("SHIPLAP_TEST_PROD_URL")
        .args(["migrate", "status", "--env", "production"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "environment `production` takes its database URL from $SHIPLAP_TEST_PROD_URL \
             (url_from in ./shiplap.toml), which is not set: set it, or pass --database-url"
        ),
        "{stderr}"
    );
    // --database-url wins over the environment's variable; the guards still hold.
    let out = xtask()
        .current_dir(&folder.0)
        .env_remove("SHIPLAP_TEST_PROD_URL")
        .args([
            "migrate",
            "fresh",
            "--yes-destroy-all-data",
            "--env",
            "production",
            "--database-url",
            &db.url,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refuse_fresh = true"), "{stderr}");
}

/// Records the environment it runs in.
#[migration(version = 1, nothing_to_undo = "the table is dropped by hand")]
async fn note_the_environment(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    let environment = ctx.environment().unwrap_or("none").to_owned();
    ctx.execute_raw("CREATE TABLE noted (environment VARCHAR(20))")
        .await?;
    ctx.execute_raw(&format!("INSERT INTO noted VALUES ('{environment}')"))
        .await?;
    Ok(())
}

/// What the lint flags (`drop_table`, an error): refused where the lint is enforced.
#[migration(version = 2)]
fn drop_noted(s: &mut Schema) {
    s.raw("DROP TABLE noted").irreversible("the notes are gone");
}

async fn a_data_migration_reads_its_environment(db: &TestDb) {
    db.migrator("environments")
        .environment("qa")
        .up_to(1)
        .await
        .unwrap();
    assert_eq!(db.strings("SELECT environment FROM noted").await, ["qa"]);

    // The lint's policy: enforced, the drop is refused; `lint = "warn"`, it applies.
    let error = db
        .migrator("environments")
        .lint(true)
        .up()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, shiplap::Error::Lint { findings } if findings[0].contains("drop_table")),
        "{error}"
    );
    let mut guards = shiplap::Guards::default();
    guards.lint_warns_only = true;
    let done = db
        .migrator("environments")
        .lint(true)
        .guards(guards)
        .up()
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
}

on_every_backend!(
    guards_and_the_recorded_environment,
    bad_environments_are_named,
    a_data_migration_reads_its_environment
);
