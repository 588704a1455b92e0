use shiplap::prelude::*;

#[migration(version = 20250101000000)]
fn backfill(_ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    Ok(())
}

fn main() {}
