//! Repeatable migrations (`#[migration(repeatable)]`), end to end on every backend: applied
//! after the versioned ones, by name; applied again when their SQL changes and when
//! versioned migrations were applied or reverted since (a view a versioned migration
//! dropped to change its table comes back); each application recorded; `down` leaves them
//! unless asked; a failing one names itself, records nothing, and applies once fixed.
//!
//! A repeatable migration's new code is a second function with the same `name`, in a
//! module of its own: each registry below picks the versions it needs.

use shiplap::prelude::*;
use shiplap::{
    DatabaseUrl, DownTarget, Error, Migration, Migrator, ProgressOutput, Registry, RepeatableState,
    Up, UrlSource,
};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn create_users(s: &mut Schema) {
    s.raw("CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(20), active INTEGER)")
        .down("DROP TABLE users");
    s.raw("INSERT INTO users (id, name, active) VALUES (1, 'ann', 1), (2, 'bob', 0)")
        .nothing_to_undo("the table goes");
}

/// Changes the table under the views, dropping them first (as a change of a column's type
/// must on PostgreSQL): the repeatable migrations make them again.
#[migration(version = 2)]
fn widen_names(s: &mut Schema) {
    s.raw("DROP VIEW IF EXISTS user_names")
        .nothing_to_undo("the repeatable migration makes it again");
    s.raw("DROP VIEW IF EXISTS active_users")
        .nothing_to_undo("the repeatable migration makes it again");
    s.raw("ALTER TABLE users ADD COLUMN email VARCHAR(40)")
        .down("ALTER TABLE users DROP COLUMN email");
}

mod first {
    use shiplap::prelude::*;

    #[migration(repeatable)]
    fn active_users(s: &mut Schema) {
        s.raw("DROP VIEW IF EXISTS active_users")
            .down("DROP VIEW IF EXISTS active_users");
        s.raw("CREATE VIEW active_users AS SELECT id, name FROM users WHERE active = 1")
            .nothing_to_undo("the step before drops it");
    }
}

mod second {
    use shiplap::prelude::*;

    /// The same view, now with every user.
    #[migration(repeatable, name = "active_users")]
    fn all_users(s: &mut Schema) {
        s.raw("DROP VIEW IF EXISTS active_users")
            .down("DROP VIEW IF EXISTS active_users");
        s.raw("CREATE VIEW active_users AS SELECT id, name FROM users")
            .nothing_to_undo("the step before drops it");
    }

    /// Applied after `active_users`: it reads that view.
    #[migration(repeatable)]
    fn user_names(s: &mut Schema) {
        s.raw("DROP VIEW IF EXISTS user_names")
            .down("DROP VIEW IF EXISTS user_names");
        s.raw("CREATE VIEW user_names AS SELECT name FROM active_users")
            .nothing_to_undo("the step before drops it");
    }
}

mod slow {
    use shiplap::prelude::*;

    /// Half a second inside its transaction (PostgreSQL only: the race test's).
    #[migration(repeatable)]
    fn a_slow(s: &mut Schema) {
        s.raw(
            Raw::per_backend()
                .postgres("SELECT pg_sleep(0.5)")
                .mysql("")
                .sqlite(""),
        )
        .nothing_to_undo("it changes nothing");
    }

    /// The same, shorter, applied after it.
    #[migration(repeatable)]
    fn b_slow(s: &mut Schema) {
        s.raw(
            Raw::per_backend()
                .postgres("SELECT pg_sleep(0.3)")
                .mysql("")
                .sqlite(""),
        )
        .nothing_to_undo("it changes nothing");
    }
}

mod broken {
    use shiplap::prelude::*;

    #[migration(repeatable, name = "user_names")]
    fn user_names_broken(s: &mut Schema) {
        s.raw("DROP VIEW IF EXISTS user_names")
            .down("DROP VIEW IF EXISTS user_names");
        s.raw("CREATE VIEW user_names AS SELECT name FROM active_users WHERE")
            .nothing_to_undo("the step before drops it");
    }
}

/// The versioned migrations up to `newest`, and the repeatable ones picked as
/// `module::name`.
fn registry(newest: i64, picks: &[&str]) -> Registry {
    let chosen = shiplap::__private::inventory::iter::<Migration>
        .into_iter()
        .filter(|m| m.location().crate_name() == "repeatable")
        .filter(|m| {
            if !m.is_repeatable() {
                return m.version() <= newest;
            }
            let module = m.location().module_path.rsplit("::").next().unwrap_or("");
            picks.contains(&format!("{module}::{}", m.name()).as_str())
        });
    Registry::new(chosen).unwrap()
}

fn migrator(db: &TestDb, registry: Registry) -> Migrator<'static> {
    Migrator::new(
        registry,
        DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap(),
    )
    .progress(ProgressOutput::Silent)
    .environment("staging")
}

/// What was applied, as `version name` or `R name`.
fn applied(done: &[shiplap::Done]) -> Vec<String> {
    done.iter()
        .map(|d| match d.role {
            shiplap::Role::Repeatable => format!("R {}", d.name),
            _ => format!("{} {}", d.version, d.name),
        })
        .collect()
}

async fn states(m: &Migrator<'_>) -> Vec<(String, RepeatableState)> {
    m.repeatable_status()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.state))
        .collect()
}

/// The runs table's rows as `name run state environment`.
async fn runs(db: &TestDb) -> Vec<String> {
    let row = match db.engine() {
        Engine::MySql => "CONCAT(name, ' ', run, ' ', state, ' ', environment)",
        _ => "name || ' ' || run || ' ' || state || ' ' || environment",
    };
    db.strings(&format!(
        "SELECT {row} FROM shiplap_migrations_runs ORDER BY name, run"
    ))
    .await
}

async fn applied_after_changed_and_after_migrations(db: &TestDb) {
    let m = migrator(db, registry(1, &["first::active_users"]));
    assert_eq!(
        states(&m).await,
        [("active_users".into(), RepeatableState::New)]
    );
    let script = m.up_dry_run(Up::all()).await.unwrap();
    assert!(
        script.contains("-- repeatable active_users (up, tests/tests/repeatable.rs:"),
        "{script}"
    );
    assert_eq!(
        applied(&m.up().await.unwrap()),
        ["1 create_users", "R active_users"]
    );
    assert_eq!(db.strings("SELECT name FROM active_users").await, ["ann"]);
    assert_eq!(
        states(&m).await,
        [("active_users".into(), RepeatableState::Applied)]
    );
    // Nothing changed: nothing to do, and the dry run says so.
    assert!(m.up().await.unwrap().is_empty());
    assert_eq!(m.up_dry_run(Up::all()).await.unwrap(), "-- nothing to do\n");

    // Its SQL changed: applied again, alone, and the one after it by name too.
    let m = migrator(
        db,
        registry(1, &["second::active_users", "second::user_names"]),
    );
    assert_eq!(
        states(&m).await,
        [
            ("active_users".into(), RepeatableState::Changed),
            ("user_names".into(), RepeatableState::New)
        ]
    );
    assert_eq!(
        applied(&m.up().await.unwrap()),
        ["R active_users", "R user_names"]
    );
    assert_eq!(
        db.strings("SELECT name FROM user_names ORDER BY name")
            .await,
        ["ann", "bob"]
    );

    // A versioned migration drops the view to change its table: the view comes back.
    let m = migrator(
        db,
        registry(2, &["second::active_users", "second::user_names"]),
    );
    assert_eq!(
        applied(&m.up().await.unwrap()),
        ["2 widen_names", "R active_users", "R user_names"]
    );
    assert_eq!(
        db.strings("SELECT name FROM user_names ORDER BY name")
            .await,
        ["ann", "bob"]
    );
    // ... and after a versioned migration is reverted.
    assert_eq!(
        applied(&m.down(DownTarget::Steps(1)).await.unwrap()),
        ["2 widen_names"]
    );
    assert_eq!(
        states(&m).await[0],
        ("active_users".into(), RepeatableState::AfterMigrations)
    );
    assert_eq!(m.up_to(1).await.unwrap().len(), 0, "up --to leaves them");
    assert_eq!(
        applied(&m.up().await.unwrap()),
        ["2 widen_names", "R active_users", "R user_names"]
    );

    // Each application is recorded, with the environment.
    let rows = runs(db).await;
    assert_eq!(
        rows,
        [
            "active_users 1 applied staging",
            "active_users 2 applied staging",
            "active_users 3 applied staging",
            "active_users 4 applied staging",
            "user_names 1 applied staging",
            "user_names 2 applied staging",
            "user_names 3 applied staging",
        ]
    );
    let history = m.history().await.unwrap();
    assert!(
        history
            .iter()
            .all(|r| r.environment.as_deref() == Some("staging")),
        "{history:?}"
    );

    // `down` leaves them; `down` with them reverts them first (by name, in reverse).
    m.down(DownTarget::Steps(1)).await.unwrap();
    assert_eq!(db.strings("SELECT name FROM user_names").await.len(), 2);
    m.up().await.unwrap();
    let mut reverting = migrator(
        db,
        registry(2, &["second::active_users", "second::user_names"]),
    );
    reverting.options_mut().revert_repeatables = true;
    let script = reverting.down_dry_run(DownTarget::Steps(0)).await.unwrap();
    assert!(
        script.starts_with("-- repeatable user_names (down,"),
        "{script}"
    );
    assert_eq!(
        applied(&reverting.down(DownTarget::Steps(0)).await.unwrap()),
        ["R user_names", "R active_users"]
    );
    assert!(!db.tables().await.contains(&"user_names".to_owned()));
    assert_eq!(
        states(&m).await,
        [
            ("active_users".into(), RepeatableState::Reverted),
            ("user_names".into(), RepeatableState::Reverted)
        ]
    );
    assert_eq!(
        applied(&m.up().await.unwrap()),
        ["R active_users", "R user_names"]
    );
}

async fn a_failing_one_names_itself_and_applies_once_fixed(db: &TestDb) {
    let m = migrator(
        db,
        registry(2, &["first::active_users", "broken::user_names"]),
    );
    let error = m.up().await.unwrap_err();
    let Error::Statement { migration, .. } = &error else {
        panic!("{error}");
    };
    assert!(migration.migration().is_repeatable());
    let message = error.to_string();
    assert!(
        message.contains("migration repeatable user_names (tests/tests/repeatable.rs:")
            && message.contains("nothing was recorded for it: fix it and run `up` again"),
        "{message}"
    );
    // The versioned migrations and the repeatable one before it stay applied.
    assert_eq!(m.status().await.unwrap().len(), 2);
    assert_eq!(
        states(&m).await,
        [
            ("active_users".into(), RepeatableState::Applied),
            ("user_names".into(), RepeatableState::New)
        ]
    );
    // Fixed: the next `up` applies it, and only it.
    let m = migrator(
        db,
        registry(2, &["first::active_users", "second::user_names"]),
    );
    assert_eq!(applied(&m.up().await.unwrap()), ["R user_names"]);
    assert_eq!(db.strings("SELECT name FROM user_names").await, ["ann"]);
}

on_every_backend!(
    applied_after_changed_and_after_migrations,
    a_failing_one_names_itself_and_applies_once_fixed
);

#[test]
fn two_with_one_name_are_refused_naming_both() {
    let error = Registry::of_crate("repeatable").unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(
            "two repeatable migrations are named `active_users`: at tests/tests/repeatable.rs:"
        ),
        "{message}"
    );
}

/// Runners in transaction lock mode (a pooler in front of PostgreSQL) racing to apply the
/// repeatable migrations: each applied exactly once, and no runner fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_runners_in_transaction_mode_apply_each_once() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    migrator(&db, registry(2, &[])).up().await.unwrap();
    // The versioned ones applied: the runners plan the repeatable ones at once, and all
    // but one find each taken when they hold the lock.
    let picks = ["second::active_users", "second::user_names"];
    for round in 1..=5 {
        let runners = (0..8).map(|_| {
            let m = migrator(&db, registry(2, &picks)).lock(shiplap::LockMode::Transaction);
            tokio::spawn(async move { m.up().await })
        });
        let mut applied = 0;
        for runner in runners {
            applied += runner.await.unwrap().unwrap().len();
        }
        assert_eq!(applied, 2, "round {round}: each repeatable migration once");
        let mut reverting = migrator(&db, registry(2, &picks));
        reverting.options_mut().revert_repeatables = true;
        reverting.down(DownTarget::Steps(0)).await.unwrap();
    }
    let runs = runs(&db).await;
    assert_eq!(runs.len(), 20, "{runs:?}");
    db.drop().await;
}

/// In transaction lock mode, a runner that planned a repeatable migration while another
/// was about to apply it finds it taken once it holds the lock, and plans again: each is
/// applied once. PostgreSQL grants a waited-for lock in the order it was asked for: the
/// second runner reads the runs as soon as the first commits `a_slow`, before the first
/// takes the lock again for `b_slow`, and asks for it again only after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_planned_meanwhile_is_found_taken() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    migrator(&db, registry(2, &[])).up().await.unwrap();
    let runner = || {
        let m = migrator(&db, registry(2, &["slow::a_slow", "slow::b_slow"]))
            .lock(shiplap::LockMode::Transaction);
        tokio::spawn(async move { m.up().await })
    };
    let first = runner();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = runner();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    let applied = first.unwrap().len() + second.unwrap().len();
    assert_eq!(applied, 2);
    assert_eq!(
        runs(&db).await,
        ["a_slow 1 applied staging", "b_slow 1 applied staging"]
    );
    db.drop().await;
}
