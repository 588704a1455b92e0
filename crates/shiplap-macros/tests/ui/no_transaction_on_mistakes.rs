use shiplap::prelude::*;

#[migration(version = 1, no_transaction_on = ["oracle"])]
fn unknown_backend(_s: &mut Schema) {}

#[migration(version = 2, no_transaction_on = [])]
fn empty(_s: &mut Schema) {}

fn main() {}
