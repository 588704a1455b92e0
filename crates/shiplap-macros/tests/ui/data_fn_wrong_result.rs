use shiplap::prelude::*;

#[migration(version = 20250101000000)]
async fn backfill(_ctx: &mut DataContext<'_>) -> Result<(), String> {
    Ok(())
}

fn main() {}
