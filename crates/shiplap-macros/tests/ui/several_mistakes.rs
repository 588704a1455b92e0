// Every mistake is reported in one build, each at its own token.
use shiplap::prelude::*;

#[migration(version = 0, colour = "blue")]
const fn create_users<T>(_s: &mut Schema) {}

fn main() {}
