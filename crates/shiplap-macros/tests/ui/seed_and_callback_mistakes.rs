use shiplap::prelude::*;

#[migration(seed, environments = [])]
fn never(_s: &mut Schema) {}

#[migration(version = 1, environments = ["development"])]
fn not_a_seed(_s: &mut Schema) {}

#[migration(callback = "after_migrate")]
fn unknown_event(_s: &mut Schema) {}

#[migration(seed, callback = "after_run")]
fn both(_s: &mut Schema) {}

fn main() {}
