//! The users table, with a unique index on the e-mail address.

use shiplap::prelude::*;

use crate::idens::Users;

/// Create the users table.
#[migration(version = 20250101090000)]
fn create_users(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table(Users::Table)
            .col(
                ColumnDef::new(Users::Id)
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new(Users::Email).string_len(320).not_null())
            .col(ColumnDef::new(Users::Name).string_len(200).not_null())
            .col(
                ColumnDef::new(Users::CreatedAt)
                    .timestamp_with_time_zone()
                    .not_null()
                    .default(Expr::current_timestamp()),
            ),
    );
    s.create_index(
        Users::Table,
        Index::create()
            .name("users_email_key")
            .col(Users::Email)
            .unique(),
    );
}
