//! Column types and table parts whose SQL differs per backend, written once: a UUID key
//! with a database-made default (`uuid` on PostgreSQL and MariaDB, text on SQLite), and
//! a default partition (PostgreSQL, MariaDB).

use shiplap::prelude::*;
use shiplap::{Backend, DownTarget};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn create_accounts(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("accounts")
            .col(
                uuid_column("id")
                    .not_null()
                    .primary_key()
                    .default(new_uuid()),
            )
            .col(ColumnDef::new("name").string_len(40)),
    );
}

#[migration(version = 2)]
fn create_events(s: &mut Schema) {
    s.only_on(&[Backend::Postgres, Backend::MySql], |s| {
        s.raw(
            Raw::per_backend()
                .postgres(
                    "CREATE TABLE events (id INTEGER, kind VARCHAR(10)) PARTITION BY LIST (kind); \
                     CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a')",
                )
                .mysql(
                    "CREATE TABLE events (id INTEGER, kind VARCHAR(10)) \
                     PARTITION BY LIST COLUMNS (kind) (PARTITION events_a VALUES IN ('a'))",
                ),
        )
        .down("DROP TABLE events");
    });
}

#[migration(version = 3)]
fn default_partition(s: &mut Schema) {
    s.only_on(&[Backend::Postgres, Backend::MySql], |s| {
        s.create_default_partition("events", "events_other");
    });
}

async fn a_uuid_key_made_by_the_database(db: &TestDb) {
    let m = db.migrator("portable");
    m.up_to(1).await.unwrap();
    db.execute("INSERT INTO accounts (name) VALUES ('ann'), ('bob')")
        .await;
    let ids = db
        .strings("SELECT CAST(id AS CHAR(36)) FROM accounts")
        .await;
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert!(
            id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "{id}"
        );
    }
    if db.engine() != Engine::MySql {
        // gen_random_uuid() and the SQLite expression make version 4 UUIDs.
        assert!(ids.iter().all(|id| &id[14..15] == "4"), "{ids:?}");
    }
    let kind = match db.engine() {
        Engine::Sqlite => "SELECT lower(type) FROM pragma_table_info('accounts') WHERE name = 'id'",
        Engine::Postgres => {
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'id'"
        }
        Engine::MySql => {
            "SELECT CAST(data_type AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'accounts' AND column_name = 'id'"
        }
    };
    // MariaDB 10.7 or later: the native type (this machine's is 10.11).
    assert_eq!(
        db.strings(kind).await,
        [match db.engine() {
            Engine::Sqlite => "text",
            _ => "uuid",
        }]
    );

    // A default partition takes what no other partition does; its down drops it.
    if db.engine() == Engine::Sqlite {
        return;
    }
    m.up_to(2).await.unwrap();
    assert!(
        db.try_execute("INSERT INTO events VALUES (1, 'b')")
            .await
            .is_err()
    );
    m.up().await.unwrap();
    db.execute("INSERT INTO events VALUES (1, 'a'), (2, 'b')")
        .await;
    m.down(DownTarget::Steps(1)).await.unwrap();
    assert!(
        db.try_execute("INSERT INTO events VALUES (3, 'b')")
            .await
            .is_err()
    );
    m.down(DownTarget::To(0)).await.unwrap();
}

on_every_backend!(a_uuid_key_made_by_the_database);

#[test]
fn sqlite_refuses_a_default_partition_naming_the_step() {
    let mut s = Schema::new();
    s.create_default_partition("events", "events_other");
    let error = s.steps()[0].up().render(Backend::Sqlite).unwrap_err();
    assert!(
        error.starts_with("SQLite has no partitioned tables"),
        "{error}"
    );
}
