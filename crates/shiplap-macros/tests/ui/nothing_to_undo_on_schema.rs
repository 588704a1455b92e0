use shiplap::prelude::*;

#[migration(version = 20250101000000, nothing_to_undo = "why")]
fn create_users(_s: &mut Schema) {}

fn main() {}
