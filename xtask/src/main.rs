//! `cargo xtask`: the workspace's own commands.
//!
//! - `cargo xtask migrate <command>` runs shiplap's command line on the migrations of
//!   `migrations-example`; everything it does is in `shiplap::cli`.
//! - `cargo xtask bench [options]` builds and runs the `shiplap-bench` binary (release
//!   profile): shiplap against psql and sqlite3 on 100 and 1000 generated migrations.

use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask migrate <command>   (cargo xtask migrate --help)
       cargo xtask bench [options]     (cargo xtask bench --help)";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("migrate") => shiplap::cli::run(
            std::iter::once("cargo xtask migrate".into()).chain(args),
            migrations_example::migrations(),
        ),
        Some("bench") => {
            // The benchmark's 1000 migrations live in their own crate, so that
            // `cargo xtask migrate` never compiles them.
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "run",
                    "--quiet",
                    "--release",
                    "--package",
                    "shiplap-bench",
                    "--",
                ])
                .args(args)
                // `bench fleet` runs `migrate` of migrations-example: this very binary.
                .env(
                    "SHIPLAP_BENCH_XTASK",
                    std::env::current_exe().unwrap_or_default(),
                )
                .status();
            match status {
                Ok(status) if status.success() => ExitCode::SUCCESS,
                Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
                Err(e) => {
                    eprintln!("cargo xtask bench: cannot run cargo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            println!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
