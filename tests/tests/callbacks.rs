//! Callbacks (`#[migration(callback = "...")]`) around `up`, on every backend: the order
//! they run in, none on an `up` with nothing to do; `before_each`/`after_each` inside each
//! migration's transaction (rolled back with it); `on_error` after a failure; a failing
//! callback named together with the migration it ran with, which did not stay applied.

use shiplap::prelude::*;
use shiplap::{Error, Migration, Registry};
use tests::{TestDb, on_every_backend};

#[migration(version = 1)]
fn create_items(s: &mut Schema) {
    s.raw("CREATE TABLE items (id INTEGER PRIMARY KEY)")
        .down("DROP TABLE items");
}

#[migration(version = 2)]
fn add_items(s: &mut Schema) {
    s.raw("INSERT INTO items (id) VALUES (1), (2)")
        .down("DELETE FROM items");
}

mod failing {
    use shiplap::prelude::*;

    #[migration(version = 3)]
    fn add_more_items(s: &mut Schema) {
        s.raw("INSERT INTO items (id) VALUES (3)")
            .down("DELETE FROM items WHERE id = 3");
        s.raw("INSERT INTO no_such_table (id) VALUES (4)")
            .down("DELETE FROM no_such_table");
    }
}

/// A row of the log, numbered in the order written.
fn note(event: &str) -> String {
    format!(
        "INSERT INTO callback_log (seq, event) SELECT COUNT(*) + 1, '{event}' FROM callback_log"
    )
}

mod callbacks {
    use shiplap::prelude::*;

    #[migration(callback = "before_run")]
    fn note_start(s: &mut Schema) {
        s.raw(super::note("before_run"))
            .nothing_to_undo("a callback");
    }

    #[migration(callback = "before_each")]
    async fn note_each_start(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
        ctx.execute_raw(&super::note("before_each")).await?;
        Ok(())
    }

    #[migration(callback = "after_each")]
    fn note_each_end(s: &mut Schema) {
        s.raw(super::note("after_each"))
            .nothing_to_undo("a callback");
    }

    #[migration(callback = "after_run")]
    fn note_end(s: &mut Schema) {
        s.raw(super::note("after_run"))
            .nothing_to_undo("a callback");
    }

    #[migration(callback = "on_error")]
    async fn note_error(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
        ctx.execute_raw(&super::note("on_error")).await?;
        Ok(())
    }
}

mod broken {
    use shiplap::prelude::*;

    #[migration(callback = "after_each")]
    fn count_items(s: &mut Schema) {
        s.raw("INSERT INTO item_counts (n) SELECT COUNT(*) FROM items")
            .nothing_to_undo("a callback");
    }
}

/// The versioned migrations up to `newest` (3: the failing one) and the callbacks of
/// the modules named.
fn registry(newest: i64, modules: &[&str]) -> Registry {
    Registry::new(
        shiplap::__private::inventory::iter::<Migration>
            .into_iter()
            .filter(|m| m.location().crate_name() == "callbacks")
            .filter(|m| {
                let module = m.location().module_path.rsplit("::").next().unwrap_or("");
                match m.role() {
                    shiplap::Role::Callback => modules.contains(&module),
                    _ => m.version() <= newest,
                }
            }),
    )
    .unwrap()
}

fn migrator(db: &TestDb, registry: Registry) -> shiplap::Migrator<'static> {
    shiplap::Migrator::new(
        registry,
        shiplap::DatabaseUrl::parse(&db.url, shiplap::UrlSource::Flag).unwrap(),
    )
    .progress(shiplap::ProgressOutput::Silent)
}

async fn log(db: &TestDb) -> Vec<String> {
    db.strings("SELECT event FROM callback_log ORDER BY seq")
        .await
}

async fn around_each_migration_and_the_run(db: &TestDb) {
    db.execute("CREATE TABLE callback_log (seq INTEGER, event VARCHAR(20))")
        .await;
    let m = migrator(db, registry(2, &["callbacks"]));
    assert_eq!(m.up().await.unwrap().len(), 2);
    assert_eq!(
        log(db).await,
        [
            "before_run",
            "before_each",
            "after_each",
            "before_each",
            "after_each",
            "after_run"
        ]
    );
    // Nothing to do: no callback.
    assert!(m.up().await.unwrap().is_empty());
    assert_eq!(log(db).await.len(), 6);

    // A failing migration: what its `before_each` wrote is rolled back with it, and
    // `on_error` runs after.
    let error = migrator(db, registry(3, &["callbacks"]))
        .up()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Statement { migration, .. } if migration.version() == 3),
        "{error}"
    );
    assert_eq!(log(db).await[6..], ["before_run", "on_error"]);
    assert_eq!(
        db.strings("SELECT CAST(id AS CHAR(10)) FROM items ORDER BY id")
            .await,
        ["1", "2"]
    );
}

async fn a_failing_callback_names_the_migration_it_ran_with(db: &TestDb) {
    let m = migrator(db, registry(1, &[]));
    m.up().await.unwrap();
    let error = migrator(db, registry(2, &["broken"]))
        .up()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(&error, Error::Callback { .. })
            && message.starts_with("callback after_each count_items (tests/tests/callbacks.rs:")
            && message.contains("failed, running with migration 2 add_items (")
            && message.contains("statement 1 of 1:")
            && message.contains("INSERT INTO item_counts"),
        "{message}"
    );
    // The migration did not stay applied: its rows were rolled back with the callback's
    // failure; on MySQL its history row says dirty, and the advice works.
    assert!(
        db.strings("SELECT CAST(id AS CHAR(10)) FROM items")
            .await
            .is_empty()
    );
    let fixed = migrator(db, registry(2, &[]));
    if db.engine() == tests::Engine::MySql {
        assert!(
            message.contains("its history row is marked dirty: undo or finish what ran, then `migrate repair --version 2`"),
            "{message}"
        );
        fixed.repair(Some(2), None).await.unwrap();
    } else {
        assert!(message.contains("it was rolled back"), "{message}");
    }
    assert_eq!(fixed.up().await.unwrap().len(), 1);
}

on_every_backend!(
    around_each_migration_and_the_run,
    a_failing_callback_names_the_migration_it_ran_with
);
