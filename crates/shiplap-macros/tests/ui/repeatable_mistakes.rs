use shiplap::prelude::*;

#[migration(repeatable, version = 20250101000000)]
fn with_a_version(_s: &mut Schema) {}

#[migration(repeatable)]
async fn from_rust_code(_ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    Ok(())
}

#[migration(repeatable, repeatable)]
fn twice(_s: &mut Schema) {}

fn main() {}
