//! An index on a foreign key column, built without blocking writes.
//!
//! order_items.product_id references products but had no index, so deleting a product
//! scanned every order item. `CONCURRENTLY` (Postgres) builds the index while the table
//! stays writable; it cannot run inside a transaction, hence `transaction = false`.
//!
//! MySQL needs nothing: InnoDB created an index for the foreign key with the table (and
//! an index of ours on the same column would replace it, then could not be dropped).

use shiplap::prelude::*;

use crate::idens::OrderItems;

/// Index order_items.product_id.
#[migration(
    version = 20250320090100,
    name = "index_order_items_product_id",
    transaction = false
)]
fn index_order_items_product(s: &mut Schema) {
    s.only_on(&[Backend::Postgres, Backend::Sqlite], |s| {
        s.create_index(
            OrderItems::Table,
            Index::create()
                .name("order_items_product_id_idx")
                .col(OrderItems::ProductId)
                .concurrently(),
        );
    });
}
