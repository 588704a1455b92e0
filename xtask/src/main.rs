//! `cargo xtask`: the workspace's own commands.
//!
//! `cargo xtask migrate <command>` runs shiplap's command line on the migrations of
//! `migrations-example`; everything it does is in `shiplap::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("migrate") => shiplap::cli::run(
            std::iter::once("cargo xtask migrate".into()).chain(args),
            migrations_example::migrations(),
        ),
        _ => {
            println!("usage: cargo xtask migrate <command>   (cargo xtask migrate --help)");
            ExitCode::from(2)
        }
    }
}
