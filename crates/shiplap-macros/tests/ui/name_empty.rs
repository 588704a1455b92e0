use shiplap::prelude::*;

#[migration(version = 20250101000000, name = "")]
fn create_users(_s: &mut Schema) {}

fn main() {}
