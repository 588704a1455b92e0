//! A JSON column for per-user preferences (jsonb on Postgres).

use shiplap::prelude::*;

use crate::idens::Users;

/// Add users.preferences, a JSON document; NULL means "the defaults".
#[migration(version = 20250115100000)]
fn add_users_preferences(s: &mut Schema) {
    s.add_column(
        Users::Table,
        ColumnDef::new(Users::Preferences).json_binary().null(),
    );
}
