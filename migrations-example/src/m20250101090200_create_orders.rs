//! The orders table: each order belongs to a user, who cannot be deleted while they have
//! orders.

use shiplap::prelude::*;

use crate::idens::{Orders, Users};

/// Create the orders table.
#[migration(version = 20250101090200)]
fn create_orders(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table(Orders::Table)
            .col(
                ColumnDef::new(Orders::Id)
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new(Orders::UserId).big_integer().not_null())
            .col(
                ColumnDef::new(Orders::Status)
                    .string_len(20)
                    .not_null()
                    .default("pending"),
            )
            .col(
                ColumnDef::new(Orders::TotalCents)
                    .big_integer()
                    .not_null()
                    .default(0),
            )
            .col(
                ColumnDef::new(Orders::CreatedAt)
                    .timestamp_with_time_zone()
                    .not_null()
                    .default(Expr::current_timestamp()),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("orders_user_id_fkey")
                    .from(Orders::Table, Orders::UserId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Restrict),
            ),
    );
    // InnoDB indexes foreign key columns itself, and then will not let an index of ours
    // that replaced its own be dropped (error 1553): only the other backends need one.
    s.only_on(&[Backend::Postgres, Backend::Sqlite], |s| {
        s.create_index(
            Orders::Table,
            Index::create()
                .name("orders_user_id_idx")
                .col(Orders::UserId),
        );
    });
}
