//! A drop that keeps its data and then fails, on every backend, followed to the end: on
//! PostgreSQL and SQLite the copy is rolled back with the failed drop; on MySQL, whose
//! copy commits at once, the migration is dirty, and after the fix and the `repair` the
//! error advises, the next `up` makes the copy again and the down still brings the
//! values back.

use shiplap::prelude::*;
use shiplap::{DownTarget, Error};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn create_pets(s: &mut Schema) {
    s.raw("CREATE TABLE owners (id INTEGER PRIMARY KEY)")
        .down("DROP TABLE owners");
    s.raw(
        "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER, name VARCHAR(20), \
         CONSTRAINT pets_owner_fk FOREIGN KEY (owner_id) REFERENCES owners (id))",
    )
    .down("DROP TABLE pets");
    s.raw("INSERT INTO owners (id) VALUES (1), (2)")
        .nothing_to_undo("the table goes");
    s.raw("INSERT INTO pets (id, owner_id, name) VALUES (1, 1, 'rex'), (2, 2, 'tom')")
        .nothing_to_undo("the table goes");
}

/// Refused by MySQL and SQLite while the foreign key uses the column (PostgreSQL drops
/// the key with it).
#[migration(version = 2)]
fn drop_pets_owner(s: &mut Schema) {
    s.drop_column_keeping_data(
        "pets",
        "owner_id",
        "id",
        ColumnDef::new("owner_id").integer(),
    );
}

async fn owners(db: &TestDb) -> Vec<String> {
    db.strings("SELECT CAST(owner_id AS CHAR(10)) FROM pets ORDER BY id")
        .await
}

async fn backups(db: &TestDb) -> usize {
    db.tables()
        .await
        .iter()
        .filter(|t| t.starts_with("shiplap_backup_"))
        .count()
}

async fn a_failed_drop_then_the_fix(db: &TestDb) {
    let m = db.migrator("backups_recovery");
    m.up_to(1).await.unwrap();
    match db.engine() {
        Engine::Postgres => {
            m.up().await.unwrap();
        }
        Engine::Sqlite => {
            let error = m.up().await.unwrap_err();
            assert!(
                matches!(error, Error::Statement { dirty: false, .. }),
                "{error}"
            );
            // Rolled back whole: no copy, the column as it was.
            assert_eq!(backups(db).await, 0);
            assert_eq!(owners(db).await, ["1", "2"]);
            return;
        }
        Engine::MySql => {
            let error = m.up().await.unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, Error::Statement { dirty: true, .. })
                    && message.contains("migrate repair --version 2"),
                "{message}"
            );
            assert_eq!(
                backups(db).await,
                1,
                "the copy committed before the drop failed"
            );
            // The advice: fix what failed, repair, run again.
            db.execute("ALTER TABLE pets DROP FOREIGN KEY pets_owner_fk")
                .await;
            m.repair(Some(2), None).await.unwrap();
            m.up().await.unwrap();
        }
    }
    assert_eq!(backups(db).await, 1);
    m.down(DownTarget::Steps(1)).await.unwrap();
    assert_eq!(owners(db).await, ["1", "2"]);
    assert_eq!(backups(db).await, 0);
}

on_every_backend!(a_failed_drop_then_the_fix);
