use shiplap::prelude::*;

#[migration(version = 99999999999999999999)]
fn create_users(_s: &mut Schema) {}

fn main() {}
