//! The products table: a unique SKU and a price that cannot be negative.

use shiplap::prelude::*;

use crate::idens::Products;

/// Create the products table.
#[migration(version = 20250101090100)]
fn create_products(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table(Products::Table)
            .col(
                ColumnDef::new(Products::Id)
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new(Products::Sku).string_len(32).not_null())
            .col(ColumnDef::new(Products::Name).string_len(200).not_null())
            .col(
                ColumnDef::new(Products::PriceCents)
                    .big_integer()
                    .not_null(),
            )
            .col(
                ColumnDef::new(Products::CreatedAt)
                    .timestamp_with_time_zone()
                    .not_null()
                    .default(Expr::current_timestamp()),
            )
            .check((
                "products_price_cents_check",
                Expr::col(Products::PriceCents).gte(0),
            )),
    );
    s.create_index(
        Products::Table,
        Index::create()
            .name("products_sku_key")
            .col(Products::Sku)
            .unique(),
    );
}
