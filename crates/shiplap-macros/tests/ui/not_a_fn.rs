use shiplap::prelude::*;

#[migration(version = 20250101000000)]
struct CreateUsers;

fn main() {
    let _ = CreateUsers;
}
