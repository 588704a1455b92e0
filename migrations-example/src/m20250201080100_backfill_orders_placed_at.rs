//! orders.placed_at (2 of 5: backfill), in batches that each commit on their own.

use shiplap::prelude::*;

use crate::idens::Orders;

/// Fill orders.placed_at from created_at, 1000 orders a batch.
#[migration(
    version = 20250201080100,
    transaction = false,
    nothing_to_undo = "reverting add_orders_placed_at drops the column it fills"
)]
async fn backfill_orders_placed_at(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.backfill(
        Backfill::new(Orders::Table, Orders::Id)
            .set(Orders::PlacedAt, Expr::col(Orders::CreatedAt))
            .filter(Expr::col(Orders::PlacedAt).is_null()),
    )
    .await?;
    Ok(())
}
