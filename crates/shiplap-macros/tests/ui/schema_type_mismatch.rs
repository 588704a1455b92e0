// A type that is called `Schema` but is not shiplap's: caught by the type check, at the
// function's name.
use shiplap::migration;

struct Schema;

#[migration(version = 20250101000000)]
fn create_users(_s: &mut Schema) {}

fn main() {}
