//! A partial index: only pending orders, which the fulfilment queue scans by age.
//!
//! MySQL has no partial indexes; there a composite index on (status, created_at) serves
//! the same query. Built CONCURRENTLY on Postgres, which cannot run in a transaction.

use shiplap::prelude::*;

use crate::idens::Orders;

/// Index pending orders by creation time.
#[migration(version = 20250320090000, transaction = false)]
fn index_pending_orders(s: &mut Schema) {
    s.only_on(&[Backend::Postgres, Backend::Sqlite], |s| {
        s.create_index(
            Orders::Table,
            Index::create()
                .name("orders_pending_created_at_idx")
                .col(Orders::CreatedAt)
                .and_where(Expr::col(Orders::Status).eq("pending"))
                .concurrently(),
        );
    });
    s.only_on(&[Backend::MySql], |s| {
        s.create_index(
            Orders::Table,
            Index::create()
                .name("orders_pending_created_at_idx")
                .col(Orders::Status)
                .col(Orders::CreatedAt),
        );
    });
}
