//! orders.placed_at, NOT NULL in the end, added without locking orders (1 of 5: expand).
//!
//! A NOT NULL column on a table with rows needs a value in every row first. The safe way
//! is five small migrations:
//! 1. add the column, nullable (this one: only the catalog changes);
//! 2. backfill it in batches (`backfill_orders_placed_at`);
//! 3. on Postgres, add `CHECK (placed_at IS NOT NULL) NOT VALID`, which is instant; on
//!    MySQL, make the column NOT NULL (done in place);
//! 4. validate the check, in a transaction of its own: a scan that lets writes through;
//! 5. `SET NOT NULL`, which trusts the validated check instead of scanning, then drop it.
//!
//! SQLite cannot make an existing column NOT NULL without rebuilding the table, so there
//! the column stays nullable and the application keeps it filled.

use shiplap::prelude::*;

use crate::idens::Orders;

/// Add orders.placed_at, nullable until every row has one.
#[migration(version = 20250201080000)]
fn add_orders_placed_at(s: &mut Schema) {
    s.add_column(
        Orders::Table,
        ColumnDef::new(Orders::PlacedAt)
            .timestamp_with_time_zone()
            .null(),
    );
}
