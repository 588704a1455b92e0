use shiplap::prelude::*;

#[migration(version = 20250101000000, allow(drop_column))]
fn drop_name(_s: &mut Schema) {}

fn main() {}
