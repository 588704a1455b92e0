//! The `migrate` command line: parse arguments, run a command, print for people or JSON.
//!
//! A binary (such as the workspace's `cargo xtask migrate`) hands it the registry of
//! its migrations:
//!
//! ```no_run
//! # mod my_migrations { shiplap::migrations!(); }
//! fn main() -> std::process::ExitCode {
//!     shiplap::cli::run(std::env::args_os(), my_migrations::migrations())
//! }
//! ```

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{Backend, Direction, Error, Migration, Registry, Result, render, script};

/// shiplap: type-checked database migrations.
#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    version,
    after_help = "Exit codes:\n  0  success\n  1  a migration, rendering or database error\n  2  invalid arguments"
)]
pub struct Cli {
    /// Output for people (`human`) or for programs (`json`).
    #[arg(long, value_enum, global = true, default_value_t = Format::Human)]
    pub format: Format,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Print the SQL that migrations run, without a database.
    ///
    /// Examples: `migrate sql --backend postgres`, `migrate sql --version 20250224120000
    /// --down`, `migrate sql --from 20250101000000 --to 20250301000000`.
    Sql(SqlArgs),
}

/// Arguments of `sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The backend to render for.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,

    /// Only this migration.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub version: Option<i64>,

    /// Only migrations with this version or a later one.
    #[arg(long)]
    pub from: Option<i64>,

    /// Only migrations with this version or an earlier one.
    #[arg(long)]
    pub to: Option<i64>,

    /// Print the down SQL (what reverting runs), newest migration first.
    #[arg(long)]
    pub down: bool,
}

/// Parses `args` (the first is the program's name) and runs the command on `registry`.
/// Errors are printed on stderr; the exit code says what happened (see `--help`).
pub fn run<I, T>(args: I, registry: Result<Registry>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = registry.and_then(|registry| execute(&cli, &registry));
    match result {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = stdout.write_all(output.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(error: &Error) -> u8 {
    match error {
        Error::UnknownVersion { .. }
        | Error::InvalidRange { .. }
        | Error::UnknownBackend { .. } => 2,
        _ => 1,
    }
}

/// Runs a parsed command and returns what it prints on stdout.
pub fn execute(cli: &Cli, registry: &Registry) -> Result<String> {
    match &cli.command {
        Command::Sql(args) => sql(args, cli.format, registry),
    }
}

fn sql(args: &SqlArgs, format: Format, registry: &Registry) -> Result<String> {
    let mut migrations: Vec<&'static Migration> = match args.version {
        Some(version) => vec![registry.get(version)?],
        None => registry.range(args.from.unwrap_or(i64::MIN), args.to.unwrap_or(i64::MAX))?,
    };
    let direction = if args.down {
        migrations.reverse();
        Direction::Down
    } else {
        Direction::Up
    };
    match format {
        Format::Human => {
            let scripts = migrations
                .iter()
                .map(|m| script(m, args.backend, direction))
                .collect::<Result<Vec<_>>>()?;
            Ok(scripts.join("\n"))
        }
        Format::Json => {
            let mut items = Vec::new();
            for m in migrations {
                let mut item = serde_json::json!({
                    "version": m.version(),
                    "name": m.name(),
                    "kind": m.kind(),
                    "source": m.location().to_string(),
                    "transaction": m.transaction(),
                    "source_checksum": m.source_checksum(),
                    "direction": direction,
                    "backend": args.backend.name(),
                });
                match render(m, args.backend, direction) {
                    Ok(rendered) => {
                        item["sql_checksum"] = serde_json::json!(rendered.checksum());
                        item["statements"] = serde_json::json!(rendered.statements);
                    }
                    Err(Error::Irreversible { reason, .. }) => {
                        item["irreversible"] = serde_json::json!(reason);
                    }
                    Err(e) => return Err(e),
                }
                items.push(item);
            }
            let mut text = serde_json::to_string_pretty(&items).unwrap_or_default();
            text.push('\n');
            Ok(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_conflicts_with_a_range() {
        let err =
            Cli::try_parse_from(["migrate", "sql", "--version", "1", "--from", "0"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn help_snapshot() {
        let help = Cli::command()
            .term_width(100)
            .render_long_help()
            .to_string();
        insta::assert_snapshot!("migrate_help", help);
        let sql_help = Cli::command()
            .term_width(100)
            .find_subcommand_mut("sql")
            .map(|c| c.render_long_help().to_string())
            .unwrap_or_default();
        insta::assert_snapshot!("migrate_sql_help", sql_help);
    }
}
