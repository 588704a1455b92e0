use shiplap::prelude::*;

#[migration(version = 20250101000000)]
fn create_users<T>(_s: &mut Schema) {}

fn main() {}
