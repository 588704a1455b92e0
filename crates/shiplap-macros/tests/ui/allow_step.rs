use shiplap::prelude::*;

#[migration(version = 20250101000000, allow(drop_column(step = 0, why = "steps start at 1")))]
fn step_zero(_s: &mut Schema) {}

#[migration(version = 20250101000001, allow(drop_column(step = 2)))]
fn no_reason(_s: &mut Schema) {}

#[migration(version = 20250101000002, allow(drop_column(step = 2, why = "a"), drop_column(step = 2, why = "b")))]
fn twice(_s: &mut Schema) {}

fn main() {}
