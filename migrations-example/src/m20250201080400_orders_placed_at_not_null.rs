//! orders.placed_at (5 of 5): NOT NULL at last.
//!
//! With a validated `CHECK (placed_at IS NOT NULL)`, Postgres 12+ sets NOT NULL without
//! scanning the table; the check is then redundant and dropped.

use shiplap::prelude::*;

/// Make orders.placed_at NOT NULL (Postgres), and drop the check that allowed it.
#[migration(version = 20250201080400)]
fn orders_placed_at_not_null(s: &mut Schema) {
    s.only_on(&[Backend::Postgres], |s| {
        s.raw(r#"ALTER TABLE "orders" ALTER COLUMN "placed_at" SET NOT NULL"#)
            .down(r#"ALTER TABLE "orders" ALTER COLUMN "placed_at" DROP NOT NULL"#);
        s.raw(r#"ALTER TABLE "orders" DROP CONSTRAINT "orders_placed_at_not_null""#)
            .down(
                r#"ALTER TABLE "orders" ADD CONSTRAINT "orders_placed_at_not_null" CHECK ("placed_at" IS NOT NULL) NOT VALID"#,
            )
            // It was validated before this migration dropped it.
            .down(r#"ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_placed_at_not_null""#);
    });
}
