//! The `migrate` command line: parse arguments, run a command, print for people or JSON.
//! With the `cli` feature (on by default).
//!
//! As a binary of its own (the workspace's `cargo xtask migrate`), handing it the
//! registry of its migrations:
//!
//! ```no_run
//! # mod my_migrations { shiplap::migrations!(); }
//! fn main() -> std::process::ExitCode {
//!     shiplap::cli::run(std::env::args_os(), my_migrations::migrations())
//! }
//! ```
//!
//! As a subcommand of an application's own clap command line (`myapp migrate up`), in
//! its async `main` or not: [`Cli`] is a `clap::Args`, and [`run_cli`] runs it.
//!
//! ```no_run
//! # mod my_migrations { shiplap::migrations!(); }
//! use shiplap::cli::clap::{self, Parser, Subcommand};
//!
//! #[derive(Parser)]
//! struct App {
//!     #[command(subcommand)]
//!     command: AppCommand,
//! }
//!
//! #[derive(Subcommand)]
//! enum AppCommand {
//!     /// Serve requests.
//!     Serve,
//!     /// Database migrations.
//!     Migrate(Box<shiplap::cli::Cli>), // boxed: clippy's large_enum_variant
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     match App::parse().command {
//!         AppCommand::Serve => std::process::ExitCode::SUCCESS,
//!         AppCommand::Migrate(cli) => shiplap::cli::run_cli(*cli, my_migrations::migrations()).await,
//!     }
//! }
//! ```

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// The clap shiplap's command line is built with (4.x), for an application that nests
/// [`Cli`] in its own.
pub use clap;
use clap::Parser as _;

use crate::database_url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::migration::Migration;
use crate::migrator::{DownTarget, Migrator, Up};
use crate::progress::ProgressOutput;
use crate::registry::Registry;
use crate::render::{Direction, render, script};
use crate::status::{MigrationStatus, RepeatableState, State};

mod args;
mod config;
mod environment;
mod fleet;
mod json;
#[cfg(feature = "lint")]
mod lint;
mod new;
mod output;

#[cfg(feature = "lint")]
pub use args::LintArgs;
pub use args::{
    BackupsArgs, BaselineArgs, Cli, Command, ConnectionArgs, DownArgs, FleetArgs, Format,
    FreshArgs, HistoryArgs, NewArgs, RedoArgs, RepairArgs, SeedArgs, SqlArgs, StatusArgs, UpArgs,
    ValidateArgs,
};
use output::{
    backups_output, diff_output, done_output, dry_run_output, history_output, report_output,
    status_output, verify_output,
};

/// What a command printed, and whether a check failed (exit code 3).
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// What goes to stdout.
    pub output: String,
    /// `status --check`, `validate` or `lint` found something.
    pub check_failed: bool,
    /// What stopped a run part-way (after `output` says what it did), for stderr and the
    /// exit code.
    pub error: Option<Error>,
}

impl From<String> for Outcome {
    fn from(output: String) -> Self {
        Outcome {
            output,
            check_failed: false,
            error: None,
        }
    }
}

/// Parses `args` (the first is the program's name) and runs the command on `registry`.
/// Errors are printed on stderr; the exit code says what happened (see `--help`).
///
/// Blocking. Called where a tokio runtime already runs (an async `main`), it runs the
/// command on a thread of its own rather than nesting runtimes; [`run_async`] awaits it
/// instead.
pub fn run<I, T>(args: I, registry: Result<Registry>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse(args) {
        Ok(cli) => block_on(run_cli(cli, registry)),
        Err(code) => code,
    }
}

/// [`run`], awaited on the caller's runtime.
pub async fn run_async<I, T>(args: I, registry: Result<Registry>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse(args) {
        Ok(cli) => run_cli(cli, registry).await,
        Err(code) => code,
    }
}

/// Runs a command line the application parsed itself (with [`Cli`] nested in its own
/// clap command): prints what the command prints, errors on stderr, and returns the exit
/// code.
pub async fn run_cli(cli: Cli, registry: Result<Registry>) -> ExitCode {
    init_logging(&cli);
    // The command line owns its process: a statement sea-query cannot render is reported
    // as an error, without the panic's message on stderr too.
    crate::panic::install_quiet_hook();
    let result = match registry {
        Ok(registry) => execute(&cli, &registry).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(outcome) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = stdout.write_all(outcome.output.as_bytes());
            let _ = stdout.flush();
            if let Some(e) = outcome.error {
                let _ = writeln!(std::io::stderr(), "error: {e}");
                ExitCode::from(exit_code(&e))
            } else if outcome.check_failed {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// [`run_cli`] without a runtime of the caller's (or inside one, on a thread of its own).
pub fn run_cli_blocking(cli: Cli, registry: Result<Registry>) -> ExitCode {
    block_on(run_cli(cli, registry))
}

/// Parses the command line; `Err` holds the exit code after clap printed its message
/// (`--help` and `--version` exit 0).
fn parse<I, T>(args: I) -> std::result::Result<Cli, ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        ExitCode::from(if e.use_stderr() { 2 } else { 0 })
    })
}

/// Runs `future` to completion on a runtime of its own: on this thread, or, when this
/// thread already runs a tokio runtime (which cannot block on another), on a new one.
fn block_on(future: impl Future<Output = ExitCode> + Send) -> ExitCode {
    let run = move || match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(source) => {
            let _ = writeln!(std::io::stderr(), "error: {}", Error::Runtime { source });
            ExitCode::from(1)
        }
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|scope| {
        scope
            .spawn(run)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn exit_code(error: &Error) -> u8 {
    match error {
        Error::UnknownVersion { .. }
        | Error::InvalidRange { .. }
        | Error::UnknownBackend { .. }
        | Error::InvalidDatabaseUrl { .. }
        | Error::UnknownScheme { .. }
        | Error::NotApplied { .. }
        | Error::InvalidArgument { .. } => 2,
        _ => 1,
    }
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, 2) => tracing::Level::DEBUG,
        (false, _) => tracing::Level::TRACE,
    };
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(colour)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The migrator a command's connection options describe; says on stderr which database
/// the command works on (unless `-q`).
fn migrator(cli: &Cli, c: &ConnectionArgs, registry: &Registry) -> Result<Migrator<'static>> {
    let selected = environment::selected(cli)?;
    let (url, source) = database_url(c, selected.as_ref())?;
    if !cli.quiet {
        if let Some(selected) = &selected {
            let _ = writeln!(
                std::io::stderr(),
                "shiplap: environment {} ({})",
                selected.name,
                selected.source
            );
        }
        let _ = writeln!(std::io::stderr(), "shiplap: database {url} ({source})");
    }
    let progress = match (cli.format, cli.quiet) {
        (Format::Json, _) => ProgressOutput::Json,
        (_, true) => ProgressOutput::Silent,
        _ if std::io::stderr().is_terminal() => ProgressOutput::Bar,
        _ => ProgressOutput::Lines,
    };
    Ok(configured(c, registry, url, selected, progress))
}

/// The database the connection options name (or the environment's, or `DATABASE_URL`),
/// and where it came from.
fn database_url(
    c: &ConnectionArgs,
    selected: Option<&environment::Selected>,
) -> Result<(DatabaseUrl, String)> {
    if let Some(found) = selected.and_then(|s| s.url_from(c)) {
        return found;
    }
    let env = std::env::var("DATABASE_URL").ok();
    let url = DatabaseUrl::resolve(c.database_url.as_deref(), env.as_deref(), Path::new(".env"))?;
    let source = url.source().to_string();
    Ok((url, source))
}

/// A migrator of `url` with the connection options and the environment's settings.
fn configured(
    c: &ConnectionArgs,
    registry: &Registry,
    url: DatabaseUrl,
    selected: Option<environment::Selected>,
    progress: ProgressOutput,
) -> Migrator<'static> {
    let lock_timeout = c
        .lock_timeout
        .or_else(|| selected.as_ref().and_then(|s| s.settings.lock_timeout))
        .unwrap_or(std::time::Duration::from_secs(60));
    let mut m = Migrator::new(registry.clone(), url)
        .table(c.table.clone())
        .lock_timeout(lock_timeout)
        .lock(c.lock)
        .lease(c.lease)
        .connect_retries(c.connect_retries)
        .progress_every(c.progress_every)
        .progress(progress)
        // The command line's `up` refuses what the lint flags (`--skip-lint` overrides).
        .lint(true);
    if let Some(timeout) = c.statement_lock_timeout {
        m = m.statement_lock_timeout(timeout);
    }
    if let Some(pause) = c.backfill_pause {
        m = m.backfill_pause(pause);
    }
    if let Some(selected) = selected {
        m = selected.apply(m);
    }
    m
}

/// Runs a parsed command and returns what it prints on stdout.
pub async fn execute(cli: &Cli, registry: &Registry) -> Result<Outcome> {
    if let (Some(fleet), Some(connection)) = (cli.command.fleet(), cli.command.connection()) {
        return fleet::execute(cli, connection, fleet, registry).await;
    }
    let migrator = match cli.command.connection() {
        Some(connection) => Some(migrator(cli, connection, registry)?),
        None => None,
    };
    execute_on(cli, registry, migrator).await
}

/// Runs a parsed command on `migrator` (`None` for the commands without a database).
async fn execute_on(
    cli: &Cli,
    registry: &Registry,
    migrator: Option<Migrator<'static>>,
) -> Result<Outcome> {
    let json = cli.format == Format::Json;
    // Called once, by the commands that have connection options.
    let m = || migrator.expect("a command with connection options");
    match &cli.command {
        Command::Sql(args) => sql(args, cli.format, registry).map(Outcome::from),
        Command::New(args) if args.from_diff => {
            new::from_diff(args, &m(), json).await.map(Outcome::from)
        }
        Command::New(args) => new::new(args, json).map(Outcome::from),
        #[cfg(feature = "lint")]
        Command::Lint(args) => lint::lint(args, registry, json).await,
        Command::Up(args) => {
            let m = m();
            // The environment's lint policy may have turned it off already.
            let lint = m.options().lint && !args.skip_lint;
            let m = m
                .allow_out_of_order(args.allow_out_of_order)
                .ignore_missing(args.ignore_missing)
                .lint(lint)
                .strict_checksums(args.strict_checksums);
            let up = Up {
                to: args.to,
                single_transaction: args.single_transaction,
                // Or the environment's `seed_after_up`.
                seed: args.seed || m.options().seed_after_up,
            };
            if args.dry_run {
                let script = m.up_dry_run(up).await?;
                return Ok(dry_run_output(&m, &script, json).into());
            }
            let report = m.up_report(up).await;
            Ok(report_output(&m, "up", report, json))
        }
        Command::Down(args) => {
            let target = match (args.to, args.steps) {
                (Some(to), _) => DownTarget::To(to),
                (None, Some(steps)) => DownTarget::Steps(steps),
                (None, None) if args.repeatables => DownTarget::Steps(0),
                (None, None) => DownTarget::Steps(1),
            };
            let mut m = m();
            m.options_mut().revert_repeatables = args.repeatables;
            if args.dry_run {
                let script = m.down_dry_run(target).await?;
                return Ok(dry_run_output(&m, &script, json).into());
            }
            let report = m.down_report(target).await;
            Ok(report_output(&m, "down", report, json))
        }
        Command::Redo(args) => {
            let m = m();
            let report = m.redo_report(args.steps).await;
            Ok(report_output(&m, "redo", report, json))
        }
        Command::Fresh(_) => {
            let m = m();
            let done = m.fresh_destroying_all_data().await?;
            Ok(done_output(&m, "fresh", &done, json).into())
        }
        Command::Backups(args) => {
            let m = m();
            let version = match args.purge.as_deref() {
                None => None,
                Some("all") => Some(None),
                Some(v) => Some(Some(v.parse::<i64>().map_err(|_| {
                    Error::InvalidArgument {
                        message: format!("--purge `{v}`: a migration's version, or `all`"),
                    }
                })?)),
            };
            let (backups, emptied) = match version {
                None => (m.backups().await?, false),
                Some(version) => (m.empty_backups(version).await?, true),
            };
            Ok(backups_output(&m, &backups, emptied, json).into())
        }
        Command::Seed(args) => {
            let m = m();
            if args.dry_run {
                let script = m.seed_dry_run().await?;
                return Ok(dry_run_output(&m, &script, json).into());
            }
            let report = m.seed_report().await;
            Ok(report_output(&m, "seed", report, json))
        }
        Command::Status(args) => {
            let m = m();
            let (statuses, repeatables) = m.status_with_repeatables().await?;
            // Applied is applied, however sea-query spells it now (`validate` reports that).
            let check_failed = args.check
                && (statuses
                    .iter()
                    .any(|s| !matches!(s.state, State::Applied | State::RenderingChanged))
                    || repeatables
                        .iter()
                        .any(|r| r.state != RepeatableState::Applied));
            Ok(Outcome {
                output: status_output(&m, &statuses, &repeatables, json),
                check_failed,
                error: None,
            })
        }
        Command::Validate(_) => {
            let m = m();
            let problems: Vec<MigrationStatus> = m
                .status()
                .await?
                .into_iter()
                .filter(|s| !matches!(s.state, State::Applied | State::Pending))
                .collect();
            let output = if json {
                json::text(&json::ValidateDoc {
                    database: m.url().to_string(),
                    problems: &problems,
                })
            } else if problems.is_empty() {
                format!("ok: {} matches the code\n", m.url())
            } else {
                status_output(&m, &problems, &[], false)
            };
            Ok(Outcome {
                output,
                check_failed: !problems.is_empty(),
                error: None,
            })
        }
        Command::Schema(_) => {
            let m = m();
            let schema = m.schema().await?;
            Ok(if json {
                json::text(&json::SchemaDoc {
                    database: m.url().to_string(),
                    schema: &schema,
                })
            } else {
                schema.to_string()
            }
            .into())
        }
        Command::Verify(_) => {
            let m = m();
            let verified = m.verify().await?;
            Ok(verify_output(&m, &verified, json))
        }
        Command::Diff(_) => {
            let m = m();
            let drift = m.diff().await?;
            Ok(diff_output(&m, &drift, json))
        }
        Command::Import(args) => new::import(args, json).map(Outcome::from),
        Command::Renumber(_) => new::renumber(&m(), json).await.map(Outcome::from),
        Command::ImportHistory(args) => {
            let m = m();
            let imported = m.import_history(args.from).await?;
            Ok(if json {
                json::text(&json::ImportHistoryDoc {
                    database: m.url().to_string(),
                    from: args.from.name(),
                    imported: &imported,
                })
            } else {
                let mut out = format!(
                    "recorded {} migration(s) {} applied as applied, with its timestamps; nothing ran\n",
                    imported.len(),
                    args.from
                );
                for row in &imported {
                    let _ = writeln!(out, "  {} {} (applied {})", row.version, row.name, row.applied_at);
                }
                out
            }
            .into())
        }
        Command::History(_) => {
            let m = m();
            let rows = m.history().await?;
            Ok(history_output(&m, &rows, json).into())
        }
        Command::Baseline(args) => {
            let m = m();
            let versions = m.baseline(args.version).await?;
            Ok(if json {
                json::text(&json::BaselineDoc {
                    database: m.url().to_string(),
                    baselined: &versions,
                })
            } else {
                format!(
                    "recorded {} migration(s) as applied without running them, up to {}: {:?}\n",
                    versions.len(),
                    args.version,
                    versions
                )
            }
            .into())
        }
        Command::Repair(args) => {
            let m = m();
            let changes = m.repair(args.version, args.mark).await?;
            if json {
                return Ok(json::text(&json::RepairDoc {
                    database: m.url().to_string(),
                    repaired: &changes,
                })
                .into());
            }
            let mut out = String::new();
            for c in &changes {
                let _ = writeln!(out, "{} {}: {}", c.version, c.name, c.action);
            }
            if changes.is_empty() {
                out.push_str("nothing to repair\n");
            }
            Ok(out.into())
        }
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
                let mut item = json::SqlItem {
                    version: m.version(),
                    name: m.name(),
                    kind: m.kind(),
                    source: m.location().to_string(),
                    transaction: m.transaction_on(args.backend),
                    source_checksum: m.source_checksum(),
                    direction,
                    backend: args.backend,
                    sql_checksum: None,
                    statements: None,
                    irreversible: None,
                };
                match render(m, args.backend, direction) {
                    Ok(rendered) => {
                        item.sql_checksum = rendered.checksum().map(str::to_owned);
                        item.statements = Some(rendered.statements);
                    }
                    Err(Error::Irreversible { reason, .. }) => item.irreversible = Some(reason),
                    Err(e) => return Err(e),
                }
                items.push(item);
            }
            Ok(json::text(&items))
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
        // A command that reaches a database lists its connection options under their
        // own heading.
        let up_help = Cli::command()
            .term_width(100)
            .find_subcommand_mut("up")
            .map(|c| c.render_long_help().to_string())
            .unwrap_or_default();
        insta::assert_snapshot!("migrate_up_help", up_help);
    }
}
