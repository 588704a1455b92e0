//! orders.placed_at (4 of 5): check the existing rows against the NOT VALID check.
//!
//! `VALIDATE CONSTRAINT` scans the table under a SHARE UPDATE EXCLUSIVE lock, which lets
//! reads and writes through. It must be a migration of its own: in the transaction that
//! added the check, the ADD's stronger lock would still be held during the scan.

use shiplap::prelude::*;

/// Validate the check orders.placed_at IS NOT NULL.
#[migration(version = 20250201080300)]
fn validate_orders_placed_at(s: &mut Schema) {
    s.only_on(&[Backend::Postgres], |s| {
        s.raw(r#"ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_placed_at_not_null""#)
            // The check goes back to NOT VALID, as it was: dropped and added again
            // without checking the rows.
            .down(r#"ALTER TABLE "orders" DROP CONSTRAINT "orders_placed_at_not_null""#)
            .down(
                r#"ALTER TABLE "orders" ADD CONSTRAINT "orders_placed_at_not_null" CHECK ("placed_at" IS NOT NULL) NOT VALID"#,
            );
    });
}
