//! The downs shiplap derives run on every backend: each migration here is applied,
//! reverted and applied again, on a real database. The case a backend refused: MariaDB
//! will not drop an index a foreign key stands on (error 1553), so a table created with a
//! foreign key and an index on its column could not be reverted; the down now drops the
//! table alone, which drops its indexes.

use shiplap::prelude::*;
use shiplap::{DatabaseUrl, DownTarget, Migrator, Registry, UrlSource};
use tests::{TestDb, on_every_backend};

#[migration(version = 1)]
fn create_accounts(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("accounts")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key()),
    );
}

/// A table with a foreign key, and an index on the key's column: on MariaDB the index
/// stands in for the one the key needs.
#[migration(version = 2)]
fn create_invoices(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("invoices")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key())
            .col(ColumnDef::new("account_id").big_integer().not_null())
            .foreign_key(
                ForeignKey::create()
                    .name("invoices_account_fk")
                    .from("invoices", "account_id")
                    .to("accounts", "id"),
            ),
    );
    s.create_index(
        "invoices",
        Index::create()
            .name("invoices_account_idx")
            .col("account_id"),
    );
}

/// Columns added to an existing table, one indexed: the index is dropped before the
/// column (SQLite refuses to drop an indexed column).
#[migration(version = 3)]
fn add_account_columns(s: &mut Schema) {
    s.add_column("accounts", ColumnDef::new("handle").string_len(64).null());
    s.add_column("accounts", ColumnDef::new("region").string_len(8).null());
    s.create_index(
        "accounts",
        Index::create().name("accounts_region_idx").col("region"),
    );
}

async fn every_derived_down_runs(db: &TestDb) {
    let url = DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap();
    let m = Migrator::new(Registry::of_crate("derived_downs").unwrap(), url);
    for round in 0..2 {
        let up = m
            .up()
            .await
            .unwrap_or_else(|e| panic!("round {round}, up: {e}"));
        assert_eq!(up.len(), 3);
        for version in [2, 1, 0] {
            let down = m
                .down(DownTarget::To(version))
                .await
                .unwrap_or_else(|e| panic!("round {round}, down to {version}: {e}"));
            assert_eq!(down.len(), 1, "down to {version}");
        }
    }
}

on_every_backend!(every_derived_down_runs);
