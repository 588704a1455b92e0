//! A NOT NULL column added the safe way: nullable first, backfilled, then NOT NULL.
//!
//! On Postgres, `SET NOT NULL` alone scans the table under an ACCESS EXCLUSIVE lock. A
//! `CHECK (... IS NOT NULL) NOT VALID` constraint, validated separately (which only takes
//! a SHARE UPDATE EXCLUSIVE lock), lets `SET NOT NULL` skip that scan. SQLite cannot add
//! NOT NULL to an existing column without rebuilding the table, so there the column stays
//! nullable and the application keeps it filled.

use shiplap::prelude::*;

use crate::idens::Orders;

/// Add orders.placed_at, backfilled from created_at, then NOT NULL.
#[migration(version = 20250201080000)]
fn add_orders_placed_at(s: &mut Schema) {
    s.add_column(
        Orders::Table,
        ColumnDef::new(Orders::PlacedAt)
            .timestamp_with_time_zone()
            .null(),
    );
    s.exec(
        Query::update()
            .table(Orders::Table)
            .value(Orders::PlacedAt, Expr::col(Orders::CreatedAt))
            .and_where(Expr::col(Orders::PlacedAt).is_null()),
    )
    .nothing_to_undo("reverting drops the column");
    s.only_on(&[Backend::Postgres], |s| {
        const DROPPED: &str = "reverting drops the column, and its constraints with it";
        s.raw(
            r#"ALTER TABLE "orders" ADD CONSTRAINT "orders_placed_at_not_null" CHECK ("placed_at" IS NOT NULL) NOT VALID"#,
        )
        .nothing_to_undo(DROPPED);
        s.raw(r#"ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_placed_at_not_null""#)
            .nothing_to_undo(DROPPED);
        s.raw(r#"ALTER TABLE "orders" ALTER COLUMN "placed_at" SET NOT NULL"#)
            .nothing_to_undo(DROPPED);
        s.raw(r#"ALTER TABLE "orders" DROP CONSTRAINT "orders_placed_at_not_null""#)
            .nothing_to_undo(DROPPED);
    });
    s.only_on(&[Backend::MySql], |s| {
        s.alter_table(
            Table::alter().table(Orders::Table).modify_column(
                ColumnDef::new(Orders::PlacedAt)
                    .timestamp_with_time_zone()
                    .not_null(),
            ),
        )
        .nothing_to_undo("reverting drops the column");
    });
}
