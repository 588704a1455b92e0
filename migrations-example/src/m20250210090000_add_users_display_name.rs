//! Renaming users.name to users.display_name, the expand/contract way (1 of 3: expand).
//!
//! A plain `RENAME COLUMN` breaks every running instance of the application that still
//! reads `name`. Instead: add the new column (this migration), copy the data (the next,
//! a data migration), let the application write both and read the new one, and drop the
//! old column once no deployed code reads it (`drop_users_name`).

use shiplap::prelude::*;

use crate::idens::Users;

/// Add users.display_name, nullable until it is backfilled.
#[migration(version = 20250210090000)]
fn add_users_display_name(s: &mut Schema) {
    s.add_column(
        Users::Table,
        ColumnDef::new(Users::DisplayName).string_len(200).null(),
    );
}
