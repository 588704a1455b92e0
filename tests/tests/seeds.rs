//! Seeds (`#[migration(seed)]`), end to end on every backend: reference data that runs in
//! every environment, fixtures only in the environments they name; each run every time
//! (written to be re-runnable) and recorded; `up` with `seed` runs them after the
//! migrations under the same lock; a failing one is named, rolled back where the backend
//! allows it, and records nothing.

use shiplap::prelude::*;
use shiplap::{Migration, Registry, Up};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn create_tables(s: &mut Schema) {
    s.raw("CREATE TABLE countries (code VARCHAR(2) PRIMARY KEY, name VARCHAR(40))")
        .down("DROP TABLE countries");
    s.raw("CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(40))")
        .down("DROP TABLE users");
}

/// Reference data, everywhere: replaced whole, so running it again changes nothing.
#[migration(seed)]
fn countries(s: &mut Schema) {
    s.raw("DELETE FROM countries")
        .nothing_to_undo("a seed has no down");
    s.raw("INSERT INTO countries (code, name) VALUES ('fr', 'France'), ('jp', 'Japan')")
        .nothing_to_undo("a seed has no down");
}

/// Fixtures for development only: a user, once.
#[migration(seed, environments = ["development", "test"])]
async fn dev_users(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    let environment = ctx.environment().unwrap_or_default().to_owned();
    ctx.execute_raw("DELETE FROM users WHERE id = 1").await?;
    ctx.execute_raw(&format!(
        "INSERT INTO users (id, name) VALUES (1, 'dev user in {environment}')"
    ))
    .await?;
    Ok(())
}

mod broken {
    use shiplap::prelude::*;

    /// Writes, then fails: what it wrote must not stay.
    #[migration(seed, name = "countries")]
    async fn countries_broken(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
        ctx.execute_raw("DELETE FROM countries").await?;
        ctx.execute_raw("INSERT INTO countries (code, name) VALUES ('xx', NULL, 'too many')")
            .await?;
        Ok(())
    }
}

/// The migration and seeds of this file, the broken `countries` instead of the good one
/// when `broken`.
fn registry(broken: bool) -> Registry {
    Registry::new(
        shiplap::__private::inventory::iter::<Migration>
            .into_iter()
            .filter(|m| m.location().crate_name() == "seeds")
            .filter(|m| {
                m.name() != "countries" || m.location().module_path.ends_with("broken") == broken
            }),
    )
    .unwrap()
}

fn migrator(db: &TestDb, broken: bool) -> shiplap::Migrator<'static> {
    shiplap::Migrator::new(
        registry(broken),
        shiplap::DatabaseUrl::parse(&db.url, shiplap::UrlSource::Flag).unwrap(),
    )
    .progress(shiplap::ProgressOutput::Silent)
}

/// The runs table's seed rows as `name run environment`.
async fn runs(db: &TestDb) -> Vec<String> {
    let row = match db.engine() {
        Engine::MySql => "CONCAT(name, ' ', run, ' ', COALESCE(environment, '-'))",
        _ => "name || ' ' || run || ' ' || COALESCE(environment, '-')",
    };
    db.strings(&format!(
        "SELECT {row} FROM shiplap_migrations_runs WHERE kind = 'seed' ORDER BY name, run"
    ))
    .await
}

fn names(done: &[shiplap::Done]) -> Vec<&str> {
    done.iter().map(|d| d.name).collect()
}

async fn each_environment_gets_its_seeds(db: &TestDb) {
    let m = migrator(db, false);
    m.up().await.unwrap();
    // No environment: reference data only.
    let script = m.seed_dry_run().await.unwrap();
    assert!(
        script.contains("-- seed countries (up, tests/tests/seeds.rs:")
            && !script.contains("dev_users"),
        "{script}"
    );
    assert_eq!(names(&m.seed().await.unwrap()), ["countries"]);
    assert_eq!(runs(db).await, ["countries 1 -"]);

    // Development: both, and again: the same rows, one more run recorded each.
    let dev = migrator(db, false).environment("development");
    assert_eq!(
        names(&dev.seed().await.unwrap()),
        ["countries", "dev_users"]
    );
    assert_eq!(
        names(&dev.seed().await.unwrap()),
        ["countries", "dev_users"]
    );
    assert_eq!(
        db.strings("SELECT name FROM countries ORDER BY code").await,
        ["France", "Japan"]
    );
    assert_eq!(
        db.strings("SELECT name FROM users").await,
        ["dev user in development"]
    );
    assert_eq!(
        runs(db).await,
        [
            "countries 1 -",
            "countries 2 development",
            "countries 3 development",
            "dev_users 1 development",
            "dev_users 2 development",
        ]
    );

    // `up` then the seeds, in production: the fixtures are left out.
    let production = migrator(db, false).environment("production");
    let script = production.up_dry_run(Up::all().and_seed()).await.unwrap();
    assert!(
        script.contains("-- seed countries (up,") && !script.contains("dev_users"),
        "{script}"
    );
    let done = production.up_report(Up::all().and_seed()).await;
    assert!(done.error.is_none(), "{:?}", done.error);
    assert_eq!(names(&done.done), ["countries"]);
}

async fn a_failing_seed_leaves_nothing(db: &TestDb) {
    let m = migrator(db, false);
    m.up().await.unwrap();
    m.seed().await.unwrap();

    let error = migrator(db, true).seed().await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("seed countries (tests/tests/seeds.rs:")
            && message.contains("nothing was recorded for it")
            && message.contains("run `migrate seed` again"),
        "{message}"
    );
    // Its DELETE was rolled back with it (on MySQL too: a seed without DDL is all or
    // nothing there).
    assert_eq!(
        db.strings("SELECT name FROM countries ORDER BY code").await,
        ["France", "Japan"]
    );
    assert_eq!(runs(db).await, ["countries 1 -"]);
    // Fixed, it runs.
    assert_eq!(
        names(&migrator(db, false).seed().await.unwrap()),
        ["countries"]
    );
}

on_every_backend!(
    each_environment_gets_its_seeds,
    a_failing_seed_leaves_nothing
);
