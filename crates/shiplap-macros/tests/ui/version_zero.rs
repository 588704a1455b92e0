use shiplap::prelude::*;

#[migration(version = 0)]
fn create_users(_s: &mut Schema) {}

fn main() {}
