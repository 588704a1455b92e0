//! The items of an order: deleted with their order, and never for a deleted product.

use shiplap::prelude::*;

use crate::idens::{OrderItems, Orders, Products};

/// Create the order_items table.
#[migration(version = 20250101090300)]
fn create_order_items(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table(OrderItems::Table)
            .col(
                ColumnDef::new(OrderItems::Id)
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new(OrderItems::OrderId).big_integer().not_null())
            .col(
                ColumnDef::new(OrderItems::ProductId)
                    .big_integer()
                    .not_null(),
            )
            .col(ColumnDef::new(OrderItems::Quantity).integer().not_null())
            .col(
                ColumnDef::new(OrderItems::UnitPriceCents)
                    .big_integer()
                    .not_null(),
            )
            .check((
                "order_items_quantity_check",
                Expr::col(OrderItems::Quantity).gt(0),
            ))
            .foreign_key(
                ForeignKey::create()
                    .name("order_items_order_id_fkey")
                    .from(OrderItems::Table, OrderItems::OrderId)
                    .to(Orders::Table, Orders::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("order_items_product_id_fkey")
                    .from(OrderItems::Table, OrderItems::ProductId)
                    .to(Products::Table, Products::Id)
                    .on_delete(ForeignKeyAction::Restrict),
            ),
    );
    // InnoDB indexes foreign key columns itself (see create_orders).
    s.only_on(&[Backend::Postgres, Backend::Sqlite], |s| {
        s.create_index(
            OrderItems::Table,
            Index::create()
                .name("order_items_order_id_idx")
                .col(OrderItems::OrderId),
        );
    });
}
