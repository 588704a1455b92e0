use shiplap::prelude::*;

#[migration(version = 20250101000000)]
fn create_users(_s: &Schema) {}

fn main() {}
