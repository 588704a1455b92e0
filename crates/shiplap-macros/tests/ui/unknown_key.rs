use shiplap::prelude::*;

#[migration(version = 20250101000000, transactional = false)]
fn create_users(_s: &mut Schema) {}

fn main() {
    let _ = create_users;
}
