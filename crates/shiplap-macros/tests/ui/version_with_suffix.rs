use shiplap::prelude::*;

#[migration(version = 20250101000000u64)]
fn create_users(_s: &mut Schema) {}

fn main() {}
