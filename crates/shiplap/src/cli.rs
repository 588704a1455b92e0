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

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    Backend, DatabaseUrl, Direction, Done, DownTarget, Error, Migration, MigrationStatus, Migrator,
    Options, ProgressOutput, Registry, Report, Result, Retry, State, authoring, lint, render,
    script,
};

/// shiplap: type-checked database migrations.
#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    version,
    after_help = "Exit codes:\n  0  success\n  1  a migration, lock, connection or database error\n  2  invalid arguments\n  3  `status --check`, `validate` or `lint` found something to fix"
)]
pub struct Cli {
    /// Output for people (`human`) or for programs (`json`).
    #[arg(long, value_enum, global = true, default_value_t = Format::Human)]
    pub format: Format,

    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// More log lines on stderr: -v each migration, -vv each statement.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

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

/// Where the database is, and how long to wait for it.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// The database URL (sqlite://file.db, postgres://user@host/db, mysql://user@host/db).
    /// Default: $DATABASE_URL, then DATABASE_URL in ./.env, then sqlite://shiplap.db.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// The history table.
    #[arg(long, global = true, value_name = "NAME", default_value = crate::DEFAULT_TABLE)]
    pub table: String,

    /// How long to wait for another runner's lock (e.g. 60s, 500ms, 2m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lock_timeout: Duration,

    /// How other runners are kept out: `session` (one lock for the run), `transaction`
    /// (PostgreSQL behind a pooler in transaction mode, e.g. PgBouncer: each migration's
    /// transaction locks and checks), `none` (no lock: run one at a time yourself).
    #[arg(long, global = true, value_enum, env = "SHIPLAP_LOCK", default_value_t = crate::LockMode::Session)]
    pub lock: crate::LockMode,

    /// Retries, with backoff, while the server does not accept connections yet.
    #[arg(long, global = true, value_name = "N", default_value_t = 0)]
    pub connect_retries: u32,

    /// A lock_timeout for the migrations' statements (PostgreSQL, MySQL), e.g. 5s: a
    /// migration that waits on a busy table fails instead of blocking traffic behind it.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub statement_lock_timeout: Option<Duration>,

    /// While a statement runs longer than this, warn that it is still running, again
    /// each time this much more has passed.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub progress_every: Duration,

    /// A pause after each batch of every backfill (e.g. 50ms), instead of the one the
    /// migration sets: throttles a backfill's load on a busy database.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub backfill_pause: Option<Duration>,
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

    /// Apply pending migrations, each in its own transaction.
    ///
    /// Examples: `migrate up`, `migrate up --to 20250301090000`, `migrate up --dry-run`.
    Up(UpArgs),

    /// Revert applied migrations, newest first (default: the newest one).
    ///
    /// Examples: `migrate down`, `migrate down --steps 3`, `migrate down --to 0` (all).
    Down(DownArgs),

    /// Revert the newest migrations and apply them again.
    Redo(RedoArgs),

    /// Show every migration's state: applied, pending, out-of-order, modified, missing,
    /// dirty. Writes nothing.
    Status(StatusArgs),

    /// Show the history table's rows as recorded.
    History,

    /// Check the database against the code: checksums, order, dirty rows. Exits 3 on any
    /// drift.
    Validate,

    /// Record that an existing database already has every migration up to a version.
    Baseline(BaselineArgs),

    /// After a person has fixed a failed migration: clear dirty rows, accept changed
    /// checksums. Prints exactly what it changed.
    Repair(RepairArgs),

    /// Drop every table and apply all migrations again. Destroys all data.
    Fresh(FreshArgs),

    /// Check every migration's SQL for statements that lock, rewrite or break a live
    /// database. Exits 3 when it finds an error nobody acknowledged.
    ///
    /// Acknowledge a finding next to its migration:
    /// `#[migration(version = V, allow(drop_column = "unused since v2.3"))]`.
    /// Examples: `migrate lint`, `migrate lint --backend postgres --since 20250301000000`.
    Lint(LintArgs),

    /// Start a migration: a new file in the migrations crate, versioned with the current
    /// UTC time, with a skeleton that compiles, registered in the crate's lib.rs.
    ///
    /// Examples: `migrate new add_users_email`, `migrate new backfill_users_email --data
    /// --no-transaction`.
    New(NewArgs),
}

/// Arguments of `lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Only this backend (default: all three). May be repeated.
    #[arg(long, value_enum)]
    pub backend: Vec<Backend>,
    /// Only report migrations with this version or a later one (older ones are still read
    /// to know the schema). Default: `[lint] since = V` in ./shiplap.toml, if any.
    #[arg(long, value_name = "VERSION")]
    pub since: Option<i64>,
    /// List acknowledged findings too.
    #[arg(long)]
    pub all: bool,
}

/// Arguments of `new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The migration's name, in snake_case: its function's name.
    pub name: String,
    /// A data migration (Rust code with a database connection) instead of schema steps.
    #[arg(long)]
    pub data: bool,
    /// Without a transaction (`transaction = false`): for CREATE INDEX CONCURRENTLY, or a
    /// data migration made of resumable backfills.
    #[arg(long)]
    pub no_transaction: bool,
    /// The migrations crate (default: the one crate of the workspace whose src/lib.rs
    /// calls `shiplap::migrations!()`).
    #[arg(long, value_name = "DIR", env = "SHIPLAP_MIGRATIONS_DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Arguments of `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply only up to (and including) this version.
    #[arg(long)]
    pub to: Option<i64>,
    /// Print the SQL that would run (history writes included); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply pending migrations older than the newest applied one.
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Go on although applied migrations are missing from the code.
    #[arg(long)]
    pub ignore_missing: bool,
    /// All pending migrations in one transaction: all or nothing (PostgreSQL, SQLite).
    #[arg(long)]
    pub single_transaction: bool,
    /// Apply migrations even if the lint finds errors nobody acknowledged in them.
    #[arg(long)]
    pub skip_lint: bool,
    /// Refuse applied migrations whose SQL sea-query now renders differently (by default
    /// a warning when their code and raw SQL are unchanged).
    #[arg(long)]
    pub strict_checksums: bool,
}

/// Arguments of `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Revert every migration newer than this version (0: all).
    #[arg(long, conflicts_with = "steps")]
    pub to: Option<i64>,
    /// Revert this many migrations (default 1).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Print the SQL that would run (history writes included); change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `redo`.
#[derive(Debug, Args)]
pub struct RedoArgs {
    /// How many of the newest migrations to redo.
    #[arg(long, default_value_t = 1)]
    pub steps: u32,
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit 3 when anything is pending, out of order, modified, missing or dirty (for CI).
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Every migration up to and including this version is recorded as applied.
    #[arg(long)]
    pub version: i64,
}

/// Arguments of `repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Only this migration's row.
    #[arg(long)]
    pub version: Option<i64>,
    /// Record this one version as applied or pending, whatever its row says; nothing runs.
    #[arg(long, value_enum, requires = "version")]
    pub mark: Option<crate::Mark>,
}

/// Arguments of `fresh`.
#[derive(Debug, Args)]
pub struct FreshArgs {
    /// Required: says that you mean to destroy every table and its data.
    #[arg(long, required = true)]
    pub yes_destroy_all_data: bool,
}

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

/// Parses `60s`, `500ms`, `2m` or a number of seconds.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    /// Longer than any wait a run means: past it, timers overflow.
    const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let not_a_duration = || format!("`{text}` is not a duration like 60s, 500ms, 2m or 1h");
    let n: u64 = number.parse().map_err(|_| not_a_duration())?;
    let seconds_per = match unit {
        "ms" => return checked(Duration::from_millis(n), text, LONGEST),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(not_a_duration()),
    };
    let seconds = n
        .checked_mul(seconds_per)
        .ok_or_else(|| format!("`{text}` is too long: at most 366 days"))?;
    checked(Duration::from_secs(seconds), text, LONGEST)
}

fn checked(
    duration: Duration,
    text: &str,
    longest: Duration,
) -> std::result::Result<Duration, String> {
    if duration > longest {
        return Err(format!("`{text}` is too long: at most 366 days"));
    }
    Ok(duration)
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

fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn dry_run_output(m: &Migrator, script: String, json: bool) -> String {
    if json {
        json_text(
            &serde_json::json!({ "database": m.url().to_string(), "dry_run": true, "sql": script }),
        )
    } else {
        format!("-- dry run on {}: nothing was changed\n{script}", m.url())
    }
}

/// What a run did; when it failed part-way, what it did before (the error goes to stderr
/// after it, and into the JSON document as `error`).
fn report_output(m: &Migrator, command: &str, report: Report, json: bool) -> Outcome {
    let Some(error) = report.error else {
        return done_output(m, command, &report.done, json).into();
    };
    let output = if json {
        json_text(&serde_json::json!({
            "database": m.url().to_string(),
            "command": command,
            "migrations": report.done,
            "error": error.to_string(),
        }))
    } else if report.done.is_empty() {
        String::new()
    } else {
        let mut out = done_output(m, command, &report.done, false);
        let _ = writeln!(
            out,
            "{} migration(s) {} before the failure below; they stay so",
            report.done.len(),
            if command == "down" {
                "reverted"
            } else {
                "done"
            }
        );
        out
    };
    Outcome {
        output,
        check_failed: false,
        error: Some(error),
    }
}

fn done_output(m: &Migrator, command: &str, done: &[Done], json: bool) -> String {
    if json {
        return json_text(&serde_json::json!({
            "database": m.url().to_string(),
            "command": command,
            "migrations": done,
        }));
    }
    let mut out = String::new();
    for d in done {
        let verb = if d.direction == Direction::Up {
            "applied "
        } else {
            "reverted"
        };
        let what = match d.rows {
            Some(rows) => format!("data: {rows} row(s)"),
            None => format!("{} statement(s)", d.statements),
        };
        let _ = writeln!(
            out,
            "{verb} {} {} ({what}, {} ms)",
            d.version, d.name, d.duration_ms
        );
    }
    if done.is_empty() {
        let _ = writeln!(out, "nothing to do: {} is up to date", m.url());
    }
    out
}

fn status_output(m: &Migrator, statuses: &[MigrationStatus], json: bool) -> String {
    if json {
        return json_text(
            &serde_json::json!({ "database": m.url().to_string(), "migrations": statuses }),
        );
    }
    const WIDTHS: [usize; 5] = [16, 40, 22, 25, 8];
    let mut out = String::with_capacity(120 * (statuses.len() + 1));
    row(
        &mut out,
        WIDTHS,
        ["VERSION", "NAME", "STATE", "APPLIED AT", "MS"],
    );
    for s in statuses {
        let state = if s.modified.is_empty() {
            Cow::Borrowed(s.state.name())
        } else {
            Cow::Owned(format!("{} ({})", s.state.name(), s.modified.join("+")))
        };
        let version = s.version.to_string();
        let ms = s
            .duration_ms
            .map_or_else(|| "-".to_owned(), |d| d.to_string());
        let applied_at = s.applied_at.as_deref().unwrap_or("-");
        row(
            &mut out,
            WIDTHS,
            [&version, &s.name, &state, applied_at, &ms],
        );
    }
    out
}

/// One line of a table: each cell left-aligned in its width, the last one right-aligned
/// (wider values push the rest along), as `{:<w}` and `{:>w}` would. With a thousand
/// migrations this runs a thousand times, so it pads by hand rather than through
/// `format!`'s machinery.
fn row(out: &mut String, widths: [usize; 5], cells: [&str; 5]) {
    for (i, (cell, width)) in cells.into_iter().zip(widths).enumerate() {
        let padding = std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count()));
        if i > 0 {
            out.push(' ');
        }
        if i == widths.len() - 1 {
            out.extend(padding);
            out.push_str(cell);
        } else {
            out.push_str(cell);
            out.extend(padding);
        }
    }
    out.push('\n');
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
    fn table_rows_pad_like_format() {
        let widths = [16, 40, 22, 25, 8];
        for cells in [
            [
                "20250101090000",
                "create_users",
                "applied",
                "2025-01-01T00:00:00.000Z",
                "12",
            ],
            ["1", "é_ünïcode", "modified (source+sql)", "-", "-"],
            ["1", &"long_name_".repeat(6), "", "x", "123456789"],
        ] {
            let mut out = String::new();
            row(&mut out, widths, cells);
            let [a, b, c, d, e] = cells;
            assert_eq!(out, format!("{a:<16} {b:<40} {c:<22} {d:<25} {e:>8}\n"));
        }
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
