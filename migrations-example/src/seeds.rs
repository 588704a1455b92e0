//! Seeds: data the database needs beside its schema, run by `migrate seed`.

use shiplap::prelude::*;

/// Demo products for development databases (`migrate seed --env development`): each
/// inserted only when its SKU is missing, so running it again changes nothing, and
/// orders that point at a demo product keep it.
#[migration(seed, environments = ["development"])]
fn demo_products(s: &mut Schema) {
    for (sku, name, cents) in [
        ("DEMO-1", "Demo mug", 1200),
        ("DEMO-2", "Demo poster", 2500),
    ] {
        s.raw(format!(
            "INSERT INTO products (sku, name, price_cents) \
             SELECT '{sku}', '{name}', {cents} FROM (SELECT 1 AS one) seed \
             WHERE NOT EXISTS (SELECT 1 FROM products WHERE sku = '{sku}')"
        ))
        .nothing_to_undo("a seed has no down");
    }
}
