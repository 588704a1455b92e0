//! A realistic schema written as shiplap migrations: a small shop (users, products,
//! orders and their items) and the changes such a schema goes through in its first
//! months. Each migration's SQL, per backend, is a snapshot in `tests/snapshots/`.
//!
//! One file per migration, named after its version, so that `git log` on a file is the
//! history of one migration; the table and column names shared by all of them are in
//! [`idens`].

pub mod idens;

mod seeds;

mod m20250101090000_create_users;
mod m20250101090100_create_products;
mod m20250101090200_create_orders;
mod m20250101090300_create_order_items;
mod m20250115100000_add_users_preferences;
mod m20250115100100_add_users_marketing_opt_in;
mod m20250201080000_add_orders_placed_at;
mod m20250201080100_backfill_orders_placed_at;
mod m20250201080200_check_orders_placed_at;
mod m20250201080300_validate_orders_placed_at;
mod m20250201080400_orders_placed_at_not_null;
mod m20250210090000_add_users_display_name;
mod m20250210090100_backfill_users_display_name;
mod m20250301090000_drop_users_name;
mod m20250310090000_widen_products_sku;
mod m20250320090000_index_pending_orders;
mod m20250320090100_index_order_items_product;

pub use m20250210090100_backfill_users_display_name::backfill_users_display_name;

shiplap::migrations!();
