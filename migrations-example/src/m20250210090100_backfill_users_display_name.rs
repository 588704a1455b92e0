//! Renaming users.name to users.display_name (2 of 3: copy the data).

use shiplap::prelude::*;

use crate::idens::Users;

/// Copy users.name into users.display_name where it is not set yet.
///
/// Only rows still NULL are touched, so running it again (after a crash, or with rows
/// written by an older release in between) copies only what is missing.
#[migration(
    version = 20250210090100,
    nothing_to_undo = "reverting add_users_display_name drops the column it fills"
)]
pub async fn backfill_users_display_name(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    let update = Query::update()
        .table(Users::Table)
        .value(Users::DisplayName, Expr::col(Users::Name))
        .and_where(Expr::col(Users::DisplayName).is_null())
        .to_owned();
    ctx.execute(update).await?;
    Ok(())
}
