use shiplap::prelude::*;

#[migration(version = 20250101000000, version = 20250101000001)]
fn create_users(_s: &mut Schema) {}

fn main() {}
