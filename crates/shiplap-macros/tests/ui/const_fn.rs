use shiplap::prelude::*;

#[migration(version = 20250101000000)]
const fn create_users(_s: &mut Schema) {}

fn main() {}
