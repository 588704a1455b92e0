//! Renaming users.name to users.display_name (2 of 3: copy the data).
//!
//! On a large, busy table one `UPDATE users SET display_name = name` would lock every row
//! until it commits. This migration runs without a transaction of its own, and its
//! backfill updates 1000 users at a time, each batch a short transaction that also
//! records how far it got: killed half-way, the next `migrate up` continues after the
//! last batch that committed.

use shiplap::prelude::*;

use crate::idens::Users;

/// Copy users.name into users.display_name where it is not set yet, 1000 users a batch.
///
/// Only rows still NULL are touched, so rows that the new release already wrote keep
/// their value.
#[migration(
    version = 20250210090100,
    transaction = false,
    nothing_to_undo = "reverting add_users_display_name drops the column it fills"
)]
pub async fn backfill_users_display_name(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.backfill(
        Backfill::new(Users::Table, Users::Id)
            .set(Users::DisplayName, Expr::col(Users::Name))
            .filter(Expr::col(Users::DisplayName).is_null())
            .batch_size(1000),
    )
    .await?;
    Ok(())
}
