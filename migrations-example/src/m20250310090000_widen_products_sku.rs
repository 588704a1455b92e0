//! A column type change: products.sku from varchar(32) to varchar(60).
//!
//! Widening a varchar changes only the catalog on Postgres (no rewrite). On MySQL it is
//! done in place only while the longest value still fits the same length prefix: one byte,
//! up to 255 bytes, which is 63 characters in utf8mb4. Beyond that (varchar(64) would be)
//! MySQL copies the whole table. SQLite does not enforce varchar lengths at all, so there
//! is nothing to change there.

use shiplap::prelude::*;

use crate::idens::Products;

/// Widen products.sku to 60 characters for the new supplier's codes.
///
/// Reverting narrows it again, which fails if a longer SKU was stored since: fix those
/// rows first.
#[migration(version = 20250310090000)]
fn widen_products_sku(s: &mut Schema) {
    s.only_on(&[Backend::Postgres, Backend::MySql], |s| {
        s.alter_table(
            Table::alter()
                .table(Products::Table)
                .modify_column(ColumnDef::new(Products::Sku).string_len(60).not_null()),
        )
        .down(
            Table::alter()
                .table(Products::Table)
                .modify_column(ColumnDef::new(Products::Sku).string_len(32).not_null()),
        );
    });
}
