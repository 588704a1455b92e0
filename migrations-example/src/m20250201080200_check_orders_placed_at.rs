//! orders.placed_at (3 of 5): promise NOT NULL without checking the rows yet.
//!
//! On Postgres a `NOT VALID` check applies to new rows only, so adding it is instant. On
//! MySQL, making the column NOT NULL is done in place (the table stays writable).

use shiplap::prelude::*;

use crate::idens::Orders;

/// Add the NOT VALID check orders.placed_at IS NOT NULL (MySQL: make it NOT NULL).
#[migration(version = 20250201080200)]
fn check_orders_placed_at(s: &mut Schema) {
    s.only_on(&[Backend::Postgres], |s| {
        s.raw(
            r#"ALTER TABLE "orders" ADD CONSTRAINT "orders_placed_at_not_null" CHECK ("placed_at" IS NOT NULL) NOT VALID"#,
        )
        .down(r#"ALTER TABLE "orders" DROP CONSTRAINT "orders_placed_at_not_null""#);
    });
    s.only_on(&[Backend::MySql], |s| {
        let column = |c: &mut ColumnDef| c.timestamp_with_time_zone().to_owned();
        s.alter_table(
            Table::alter()
                .table(Orders::Table)
                .modify_column(column(&mut ColumnDef::new(Orders::PlacedAt)).not_null()),
        )
        .down(
            Table::alter()
                .table(Orders::Table)
                .modify_column(column(&mut ColumnDef::new(Orders::PlacedAt)).null()),
        );
    });
}
