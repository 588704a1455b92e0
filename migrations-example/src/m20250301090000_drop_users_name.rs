//! Renaming users.name to users.display_name (3 of 3: contract).

use shiplap::prelude::*;

use crate::idens::Users;

/// Drop users.name, now that no deployed code reads it.
///
/// Reverting re-creates the column and fills it from display_name. The column had no
/// default, but a NOT NULL column added to a table with rows needs one: PostgreSQL and
/// MySQL drop it afterwards; on SQLite it stays (`migrate verify` reports the
/// difference there, and checks that the down gives back exactly the schema before on
/// the other two).
#[migration(
    version = 20250301090000,
    allow(
        drop_column = "the contract step: no deployed release reads users.name since display_name shipped"
    )
)]
fn drop_users_name(s: &mut Schema) {
    s.drop_column(Users::Table, Users::Name)
        .down(
            Table::alter().table(Users::Table).add_column(
                ColumnDef::new(Users::Name)
                    .string_len(200)
                    .not_null()
                    .default(""),
            ),
        )
        .down(
            Query::update()
                .table(Users::Table)
                .value(Users::Name, Expr::col(Users::DisplayName))
                .and_where(Expr::col(Users::DisplayName).is_not_null()),
        )
        .down(
            Raw::per_backend()
                .postgres(r#"ALTER TABLE "users" ALTER COLUMN "name" DROP DEFAULT"#)
                .mysql("ALTER TABLE `users` ALTER COLUMN `name` DROP DEFAULT")
                .sqlite(""),
        )
        .inexact_on(
            &[Backend::Sqlite],
            "SQLite cannot drop the default without rebuilding users, which its foreign keys forbid in a transaction",
        );
}
