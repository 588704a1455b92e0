//! A column type change: products.sku from varchar(32) to varchar(64).
//!
//! Widening a varchar changes only the catalog on Postgres (no rewrite). SQLite does not
//! enforce varchar lengths at all, so there is nothing to change there.

use shiplap::prelude::*;

use crate::idens::Products;

/// Widen products.sku to 64 characters for the new supplier's codes.
///
/// Reverting narrows it again, which fails if a longer SKU was stored since: fix those
/// rows first.
#[migration(version = 20250310090000)]
fn widen_products_sku(s: &mut Schema) {
    s.only_on(&[Backend::Postgres, Backend::MySql], |s| {
        s.alter_table(
            Table::alter()
                .table(Products::Table)
                .modify_column(ColumnDef::new(Products::Sku).string_len(64).not_null()),
        )
        .down(
            Table::alter()
                .table(Products::Table)
                .modify_column(ColumnDef::new(Products::Sku).string_len(32).not_null()),
        );
    });
}
