use shiplap::prelude::*;

#[migration(name = "create_users")]
fn create_users(_s: &mut Schema) {}

fn main() {
    // The function is still emitted: no second error here.
    let _ = create_users;
}
