use shiplap::prelude::*;

#[migration(version = 20250101000000, nothing_to_undo = "")]
async fn backfill(_ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    Ok(())
}

fn main() {}
