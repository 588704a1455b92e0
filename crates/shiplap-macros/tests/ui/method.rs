use shiplap::prelude::*;

struct Migrations;

impl Migrations {
    #[migration(version = 20250101000000)]
    fn create_users(&mut self) {}
}

fn main() {}
