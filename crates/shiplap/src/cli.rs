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
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::{
    Backend, DatabaseUrl, Direction, DownTarget, Error, Migration, MigrationStatus, Migrator,
    Options, ProgressOutput, Registry, Result, Retry, State, authoring, lint, render, script,
};

mod args;
mod output;

pub use args::{
    BaselineArgs, Cli, Command, ConnectionArgs, DownArgs, Format, FreshArgs, LintArgs, NewArgs,
    RedoArgs, RepairArgs, SqlArgs, StatusArgs, UpArgs,
};
use output::{done_output, dry_run_output, json_text, report_output, row, status_output};

/// What a command printed, and whether a check failed (exit code 3).
#[derive(Debug)]
pub struct Outcome {
    /// What goes to stdout.
    pub output: String,
    /// `status --check` or `validate` found something.
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

/// `[lint] since = V` from `./shiplap.toml`, when the file says so.
fn configured_since(path: &Path) -> Result<Option<i64>> {
    #[derive(serde::Deserialize)]
    struct Config {
        lint: Option<LintConfig>,
    }
    #[derive(serde::Deserialize)]
    struct LintConfig {
        since: Option<i64>,
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let config: Config = toml::from_str(&text).map_err(|e| Error::InvalidArgument {
        message: format!("{}: {e}", path.display()),
    })?;
    Ok(config.lint.and_then(|lint| lint.since))
}

/// `migrate lint`.
fn lint_command(cli: &Cli, args: &LintArgs, registry: &Registry, json: bool) -> Result<Outcome> {
    let backends = if args.backend.is_empty() {
        Backend::ALL.to_vec()
    } else {
        args.backend.clone()
    };
    let since = match args.since {
        Some(since) => Some(since),
        None => configured_since(Path::new("shiplap.toml"))?,
    };
    let options = lint::LintOptions {
        since,
        statement_lock_timeout: cli.connection.statement_lock_timeout.is_some(),
    };
    let findings = lint::lint(registry, &backends, options)?;
    let errors = findings.iter().filter(|f| f.blocks()).count();
    let acknowledged = findings.iter().filter(|f| f.allowed.is_some()).count();
    let warnings = findings.len() - errors - acknowledged;
    let output = if json {
        json_text(&serde_json::json!({
            "backends": backends,
            "since": since,
            "errors": errors,
            "warnings": warnings,
            "acknowledged": acknowledged,
            "findings": findings,
        }))
    } else {
        let mut out = String::new();
        for f in findings.iter().filter(|f| args.all || f.allowed.is_none()) {
            let label = match (f.allowed.is_some(), f.severity) {
                (true, _) => "allowed",
                (false, lint::Severity::Error) => "error",
                (false, lint::Severity::Warning) => "warning",
            };
            let _ = writeln!(
                out,
                "{label}[{}] {} {} ({}) on {}",
                f.rule, f.version, f.name, f.source, f.backend
            );
            if let Some(statement) = &f.statement {
                let _ = writeln!(out, "  {statement}");
            }
            let _ = writeln!(out, "  {}", f.message);
            match &f.allowed {
                Some(reason) => {
                    let _ = writeln!(out, "  acknowledged: {reason}");
                }
                None => {
                    let _ = writeln!(out, "  why: {}\n  fix: {}", f.why, f.fix);
                }
            }
            out.push('\n');
        }
        let names: Vec<&str> = backends.iter().map(|b| b.name()).collect();
        let _ = writeln!(
            out,
            "{errors} error(s), {warnings} warning(s), {acknowledged} acknowledged; {} migration(s) on {}{}",
            registry.len(),
            names.join(", "),
            since.map_or(String::new(), |v| format!(", reporting from {v}"))
        );
        out
    };
    Ok(Outcome {
        output,
        check_failed: errors > 0,
        error: None,
    })
}

/// `migrate new`.
fn new(args: &NewArgs, json: bool) -> Result<String> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => authoring::find_migrations_crate(Path::new("."))?,
    };
    let template = authoring::Template {
        data: args.data,
        transaction: !args.no_transaction,
    };
    let created = authoring::create(&dir, &args.name, template, crate::clock::now_seconds())?;
    Ok(if json {
        json_text(&serde_json::json!({
            "version": created.version,
            "name": args.name,
            "file": created.path,
            "registered_in": created.lib,
        }))
    } else {
        format!(
            "created {} (version {})\nregistered in {}\nit is pending until applied: fill it in, then `migrate status`, `migrate up`\n",
            created.path.display(),
            created.version,
            created.lib.display()
        )
    })
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
    init_logging(&cli);
    // The command line owns its process: a statement sea-query cannot render is reported
    // as an error, without the panic's message on stderr too.
    crate::panic::install_quiet_hook();
    let result = registry.and_then(|registry| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Runtime { source })?;
        runtime.block_on(execute(&cli, &registry))
    });
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

/// The migrator the command line describes.
fn migrator(
    cli: &Cli,
    registry: &Registry,
    allow_out_of_order: bool,
    ignore_missing: bool,
) -> Result<Migrator> {
    let c = &cli.connection;
    let env = std::env::var("DATABASE_URL").ok();
    let url = DatabaseUrl::resolve(c.database_url.as_deref(), env.as_deref(), Path::new(".env"))?;
    Ok(Migrator::new(
        registry.clone(),
        url,
        Options {
            table: c.table.clone(),
            lock_timeout: c.lock_timeout,
            connect: Retry {
                retries: c.connect_retries,
                ..Retry::default()
            },
            statement_lock_timeout: c.statement_lock_timeout,
            allow_out_of_order,
            ignore_missing,
            progress_every: c.progress_every,
            progress: match (cli.format, cli.quiet) {
                (Format::Json, _) => ProgressOutput::Json,
                (_, true) => ProgressOutput::Silent,
                _ if std::io::stderr().is_terminal() => ProgressOutput::Bar,
                _ => ProgressOutput::Lines,
            },
            backfill_pause: c.backfill_pause,
            skip_lint: false,
            strict_checksums: false,
            lock: c.lock,
        },
    ))
}

/// Runs a parsed command and returns what it prints on stdout.
pub async fn execute(cli: &Cli, registry: &Registry) -> Result<Outcome> {
    let json = cli.format == Format::Json;
    let plain = |cli: &Cli| migrator(cli, registry, false, false);
    match &cli.command {
        Command::Sql(args) => sql(args, cli.format, registry).map(Outcome::from),
        Command::New(args) => new(args, json).map(Outcome::from),
        Command::Lint(args) => lint_command(cli, args, registry, json),
        Command::Up(args) => {
            let mut m = migrator(cli, registry, args.allow_out_of_order, args.ignore_missing)?;
            m.options_mut().skip_lint = args.skip_lint;
            m.options_mut().strict_checksums = args.strict_checksums;
            if args.dry_run {
                let script = m.up_dry_run(args.to, args.single_transaction).await?;
                return Ok(dry_run_output(&m, script, json).into());
            }
            let report = m.up_report(args.to, args.single_transaction).await;
            Ok(report_output(&m, "up", report, json))
        }
        Command::Down(args) => {
            let target = match (args.to, args.steps) {
                (Some(to), _) => DownTarget::To(to),
                (None, steps) => DownTarget::Steps(steps.unwrap_or(1)),
            };
            let m = plain(cli)?;
            if args.dry_run {
                let script = m.down_dry_run(target).await?;
                return Ok(dry_run_output(&m, script, json).into());
            }
            let report = m.down_report(target).await;
            Ok(report_output(&m, "down", report, json))
        }
        Command::Redo(args) => {
            let m = plain(cli)?;
            let report = m.redo_report(args.steps).await;
            Ok(report_output(&m, "redo", report, json))
        }
        Command::Fresh(_) => {
            let m = plain(cli)?;
            let done = m.fresh_destroying_all_data().await?;
            Ok(done_output(&m, "fresh", &done, json).into())
        }
        Command::Status(args) => {
            let m = plain(cli)?;
            let statuses = m.status().await?;
            // Applied is applied, however sea-query spells it now (`validate` reports that).
            let check_failed = args.check
                && statuses
                    .iter()
                    .any(|s| !matches!(s.state, State::Applied | State::RenderingChanged));
            Ok(Outcome {
                output: status_output(&m, &statuses, json),
                check_failed,
                error: None,
            })
        }
        Command::Validate => {
            let m = plain(cli)?;
            let problems: Vec<MigrationStatus> = m
                .status()
                .await?
                .into_iter()
                .filter(|s| !matches!(s.state, State::Applied | State::Pending))
                .collect();
            let output = if json {
                json_text(
                    &serde_json::json!({ "database": m.url().to_string(), "problems": problems }),
                )
            } else if problems.is_empty() {
                format!("ok: {} matches the code\n", m.url())
            } else {
                status_output(&m, &problems, false)
            };
            Ok(Outcome {
                output,
                check_failed: !problems.is_empty(),
                error: None,
            })
        }
        Command::History => {
            let m = plain(cli)?;
            let rows = m.history().await?;
            if json {
                return Ok(json_text(
                    &serde_json::json!({ "database": m.url().to_string(), "history": rows }),
                )
                .into());
            }
            const WIDTHS: [usize; 5] = [16, 40, 8, 25, 8];
            let mut out = String::new();
            row(
                &mut out,
                WIDTHS,
                ["VERSION", "NAME", "STATE", "APPLIED AT", "MS"],
            );
            for r in &rows {
                let (version, ms) = (r.version.to_string(), r.duration_ms.to_string());
                let cells = [&*version, &r.name, r.state.as_str(), &r.applied_at, &ms];
                row(&mut out, WIDTHS, cells);
            }
            if rows.is_empty() {
                let _ = writeln!(out, "(no history in {})", m.url());
            }
            Ok(out.into())
        }
        Command::Baseline(args) => {
            let m = plain(cli)?;
            let versions = m.baseline(args.version).await?;
            Ok(if json {
                json_text(
                    &serde_json::json!({ "database": m.url().to_string(), "baselined": versions }),
                )
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
            let m = plain(cli)?;
            let changes = m.repair(args.version, args.mark).await?;
            if json {
                return Ok(json_text(
                    &serde_json::json!({ "database": m.url().to_string(), "repaired": changes }),
                )
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
