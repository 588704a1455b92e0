//! `no_transaction_on = ["postgres"]`: a migration that needs to run outside a transaction
//! on PostgreSQL only (`CREATE INDEX CONCURRENTLY`) keeps its transaction elsewhere, so a
//! failure there rolls it back instead of leaving it dirty.

use shiplap::prelude::*;
use shiplap::{Backend, Error, Registry};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn create_orders(s: &mut Schema) {
    s.raw("CREATE TABLE orders (id INTEGER PRIMARY KEY, state VARCHAR(10))")
        .down("DROP TABLE orders");
}

#[migration(version = 2, no_transaction_on = ["postgres"])]
fn index_orders(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .postgres("CREATE INDEX CONCURRENTLY orders_state_idx ON orders (state)")
            .mysql("CREATE INDEX orders_state_idx ON orders (state)")
            .sqlite("CREATE INDEX orders_state_idx ON orders (state)"),
    )
    .down(
        Raw::per_backend()
            .postgres("DROP INDEX CONCURRENTLY orders_state_idx")
            .mysql("DROP INDEX orders_state_idx ON orders")
            .sqlite("DROP INDEX orders_state_idx"),
    );
    s.raw("INSERT INTO orders (id, state) VALUES (1, 'new')")
        .down("DELETE FROM orders WHERE id = 1");
    s.raw("INSERT INTO orders (id, state) VALUES (1, 'again')")
        .down("DELETE FROM orders WHERE id = 1");
}

#[test]
fn the_snapshot_says_where_there_is_no_transaction() {
    let registry = Registry::of_crate("transactions").unwrap();
    let m = registry.get(2).unwrap();
    assert!(!m.transaction() && m.transaction_on(Backend::Sqlite));
    for backend in Backend::ALL {
        let sql = shiplap::snapshot(m, backend).unwrap();
        assert_eq!(
            sql.starts_with("-- transaction: none"),
            backend == Backend::Postgres,
            "{backend}: {sql}"
        );
    }
}

async fn a_failure_rolls_back_where_there_is_one(db: &TestDb) {
    let m = db.migrator("transactions");
    let error = m.up().await.unwrap_err();
    let Error::Statement { dirty, .. } = &error else {
        panic!("{error}");
    };
    // PostgreSQL runs it statement by statement (dirty); MySQL has the dirty row for its
    // DDL anyway; SQLite keeps the transaction: nothing of it stays.
    assert_eq!(*dirty, db.engine() != Engine::Sqlite, "{error}");
    if db.engine() == Engine::Sqlite {
        assert!(db.strings("SELECT state FROM orders").await.is_empty());
        assert_eq!(m.status().await.unwrap()[1].state, shiplap::State::Pending);
    }
}

on_every_backend!(a_failure_rolls_back_where_there_is_one);
