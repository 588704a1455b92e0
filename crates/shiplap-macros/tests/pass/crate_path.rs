//! `crate = path`: a crate that reaches shiplap under another name (a renamed
//! dependency, or a re-export of its own) registers migrations through that path.

mod platform {
    /// An application's own re-export of the runtime.
    pub use shiplap as migrations_runtime;
}

use platform::migrations_runtime::{DataContext, Schema, migration};

#[migration(version = 1, crate = platform::migrations_runtime)]
fn create_users(s: &mut Schema) {
    s.raw("CREATE TABLE users (id bigint)").down("DROP TABLE users");
}

#[migration(version = 2, crate = "crate::platform::migrations_runtime", nothing_to_undo = "reads only")]
async fn count_users(ctx: &mut DataContext<'_>) -> platform::migrations_runtime::Result<()> {
    ctx.execute_raw("SELECT 1").await?;
    Ok(())
}

fn main() {}
