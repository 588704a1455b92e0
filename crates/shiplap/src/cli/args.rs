//! The command line's arguments: the commands, their options, and the connection options
//! every command that reaches a database shares.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::backend::Backend;

/// shiplap: type-checked database migrations.
#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    // Whose version: the tool's. The application's own version is its own business.
    version = concat!("(shiplap ", env!("CARGO_PKG_VERSION"), ")"),
    after_help = "Exit codes:\n  0  success\n  1  a migration, lock, connection or database error\n  2  invalid arguments\n  3  `status --check`, `validate` or `lint` found something to fix"
)]
pub struct Cli {
    /// Output for people (`human`) or for programs (`json`).
    #[arg(long, value_enum, global = true, default_value_t = Format::Human)]
    pub format: Format,

    /// More log lines on stderr: -v each migration, -vv each statement.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// The environment (`[environments.NAME]` in ./shiplap.toml): its database URL's
    /// variable, its guards, lint policy and lock timeout; recorded in the history.
    /// Default: $SHIPLAP_ENV.
    #[arg(long = "env", value_name = "NAME", global = true)]
    pub environment: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum Format {
    /// Text for people.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// Where the database is, and how the run locks and paces itself: the options of every
/// command that reaches a database, listed under their own heading.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// The database URL (sqlite://file.db, postgres://user@host/db, mysql://user@host/db).
    /// Default: $DATABASE_URL, then DATABASE_URL in ./.env, then sqlite://shiplap.db.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,

    /// The history table.
    #[arg(long, value_name = "NAME", default_value = crate::history::DEFAULT_TABLE)]
    pub table: String,

    /// How long to wait for another runner's lock (e.g. 60s, 500ms, 2m). Default: the
    /// environment's `lock_timeout`, then 60s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Option<Duration>,

    /// How other runners are kept out: `session` (one lock for the run; on a Galera
    /// cluster a lease), `transaction` (PostgreSQL behind a pooler in transaction mode,
    /// e.g. PgBouncer: each migration's transaction locks and checks), `lease` (a row in
    /// `<table>_lock` with an expiry, renewed while the run goes on), `none` (no lock: run
    /// one at a time yourself).
    #[arg(long, value_enum, env = "SHIPLAP_LOCK", default_value_t = crate::lock::LockMode::Session)]
    pub lock: crate::lock::LockMode,

    /// The length of a lease (`--lock lease`, Galera): how long a killed runner keeps
    /// the others waiting; renewed every third of it.
    #[arg(long, value_name = "DURATION", env = "SHIPLAP_LEASE", default_value = "30s", value_parser = parse_duration)]
    pub lease: Duration,

    /// Retries, with backoff, while the server does not accept connections yet.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub connect_retries: u32,

    /// A lock_timeout for the migrations' statements (PostgreSQL, MySQL), e.g. 5s: a
    /// migration that waits on a busy table fails instead of blocking traffic behind it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub statement_lock_timeout: Option<Duration>,

    /// While a statement runs longer than this, warn that it is still running, again
    /// each time this much more has passed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub progress_every: Duration,

    /// A pause after each batch of every backfill (e.g. 50ms), instead of the one the
    /// migration sets: throttles a backfill's load on a busy database.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
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
    History(HistoryArgs),

    /// Check the database against the code: checksums, order, dirty rows. Exits 3 on any
    /// drift.
    Validate(ValidateArgs),

    /// Print the database's schema, normalised and sorted: tables, columns, keys,
    /// indexes, checks, views, sequences, enum types, functions, triggers.
    ///
    /// Example: `migrate schema --database-url postgres://localhost/app`.
    Schema(SchemaArgs),

    /// Apply, revert and apply again every migration on a scratch database: each down
    /// must give back the schema before its migration. Exits 3 on a mismatch.
    ///
    /// The scratch database is a temporary SQLite file, or on PostgreSQL and MySQL a
    /// database created on the server of `--database-url` and dropped after; the database
    /// the URL names is not touched. Example: `migrate verify`.
    Verify(VerifyArgs),

    /// Compare the database with the schema its applied migrations build (on a scratch
    /// database): objects added, removed or changed by hand. Exits 3 on drift.
    ///
    /// Example: `migrate diff --database-url "$STAGING_URL"`.
    Diff(DiffArgs),

    /// Write a shiplap migration for each migration of sqlx, diesel or refinery in DIR,
    /// its SQL kept as the file holds it, registered in the migrations crate.
    ///
    /// Example: `migrate import --from sqlx ../app/migrations`.
    Import(ImportArgs),

    /// Record in shiplap's history the migrations sqlx, diesel or refinery applied (with
    /// their timestamps), running none. Refuses on migrations missing from the code,
    /// failed ones, or checksums that differ.
    ///
    /// Example: `migrate import-history --from sqlx --database-url "$DATABASE_URL"`.
    ImportHistory(ImportHistoryArgs),

    /// After a merge: give the pending migrations older than the newest applied one new
    /// versions above it, in their order (attribute, file name, module, SQL snapshots).
    ///
    /// Example: `migrate renumber --database-url "$DATABASE_URL"`, then rebuild.
    Renumber(RenumberArgs),

    /// Record that an existing database already has every migration up to a version.
    Baseline(BaselineArgs),

    /// After a person has fixed a failed migration: clear dirty rows, accept changed
    /// checksums. Prints exactly what it changed.
    Repair(RepairArgs),

    /// Drop every table and apply all migrations again. Destroys all data.
    Fresh(FreshArgs),

    /// List the data that drops kept (`drop_column_keeping_data`, `drop_table_keeping_data`)
    /// and empty it once it is no longer wanted.
    ///
    /// Examples: `migrate backups`, `migrate backups --purge 20250301090000`,
    /// `migrate backups --purge all`.
    Backups(BackupsArgs),

    /// Run the seeds (`#[migration(seed)]`) of the environment, by name, each every time:
    /// reference data everywhere, fixtures where `environments = [...]` names the
    /// environment (`--env`).
    ///
    /// Examples: `migrate seed --env development`, `migrate seed --dry-run`.
    Seed(SeedArgs),

    /// Check every migration's SQL for statements that lock, rewrite or break a live
    /// database. Exits 3 when it finds an error nobody acknowledged.
    ///
    /// Acknowledge a finding next to its migration:
    /// `#[migration(version = V, allow(drop_column = "unused since v2.3"))]`.
    /// Examples: `migrate lint`, `migrate lint --backend postgres --since 20250301000000`.
    #[cfg(feature = "lint")]
    Lint(LintArgs),

    /// Start a migration: a new file in the migrations crate, versioned with the current
    /// UTC time, with a skeleton that compiles, registered in the crate's lib.rs.
    ///
    /// Examples: `migrate new add_users_email`, `migrate new backfill_users_email --data
    /// --no-transaction`.
    New(NewArgs),
}

/// Arguments of `lint`.
#[cfg(feature = "lint")]
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
    /// The `--statement-lock-timeout` you deploy with (e.g. 5s): a migration's statements
    /// then do not queue traffic behind them (see `pg_missing_lock_timeout`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub statement_lock_timeout: Option<Duration>,
    /// Lint for this database (its backend only): the migrations it has not applied are
    /// the pending ones, and each finding shows its table's rows and bytes; a lock on a
    /// small table only warns (`[lint] small_table_rows` in ./shiplap.toml). Reads only.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The history table, with `--database-url`.
    #[arg(long, value_name = "NAME", default_value = crate::history::DEFAULT_TABLE)]
    pub table: String,
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
    /// Write the steps that turn the schema the migrations build into the schema of the
    /// database (`--database-url`, a development database changed by hand).
    #[arg(long, conflicts_with_all = ["data", "no_transaction"])]
    pub from_diff: bool,
    /// With --from-diff: the database changed by hand.
    #[command(flatten)]
    pub connection: ConnectionArgs,
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
    /// Then run the seeds of the environment, under the same lock (also
    /// `seed_after_up = true` in the environment's shiplap.toml table).
    #[arg(long)]
    pub seed: bool,
    /// Refuse applied migrations whose SQL sea-query now renders differently (by default
    /// a warning when their code and raw SQL are unchanged).
    #[arg(long)]
    pub strict_checksums: bool,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Many databases or schemas at once.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Arguments of `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Revert every migration newer than this version (0: all).
    #[arg(long, conflicts_with = "steps")]
    pub to: Option<i64>,
    /// Revert this many migrations (default 1; with --repeatables alone, none).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Also revert the applied repeatable migrations (their downs, first); without it,
    /// `down` leaves them as they are. Alone: only them.
    #[arg(long)]
    pub repeatables: bool,
    /// Print the SQL that would run (history writes included); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Many databases or schemas at once.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Arguments of `redo`.
#[derive(Debug, Args)]
pub struct RedoArgs {
    /// How many of the newest migrations to redo.
    #[arg(long, default_value_t = 1)]
    pub steps: u32,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit 3 when anything is pending, out of order, modified, missing or dirty (for CI).
    #[arg(long)]
    pub check: bool,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Many databases or schemas at once.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Arguments of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Many databases or schemas at once.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The server to make the scratch database on (SQLite: a temporary file, whatever
    /// the URL names).
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

fn tool(name: &str) -> Result<crate::import::Tool, String> {
    crate::import::Tool::parse(name).map_err(|e| e.to_string())
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tool the migrations are written for: sqlx, diesel or refinery.
    #[arg(long, value_parser = tool, value_name = "TOOL")]
    pub from: crate::import::Tool,
    /// The folder of the tool's migrations.
    pub source: std::path::PathBuf,
    /// The migrations crate (default: the one crate of the workspace whose src/lib.rs
    /// calls `shiplap::migrations!()`).
    #[arg(long, value_name = "DIR", env = "SHIPLAP_MIGRATIONS_DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Arguments of `import-history`.
#[derive(Debug, Args)]
pub struct ImportHistoryArgs {
    /// The tool whose history table to read: sqlx, diesel or refinery.
    #[arg(long, value_parser = tool, value_name = "TOOL")]
    pub from: crate::import::Tool,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `renumber`.
#[derive(Debug, Args)]
pub struct RenumberArgs {
    /// The database whose history says which migrations are applied.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Every migration up to and including this version is recorded as applied.
    #[arg(long)]
    pub version: i64,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Only this migration's row.
    #[arg(long)]
    pub version: Option<i64>,
    /// Record this one version as applied or pending, whatever its row says; nothing runs.
    #[arg(long, value_enum, requires = "version")]
    pub mark: Option<crate::migrator::Mark>,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `fresh`.
#[derive(Debug, Args)]
pub struct FreshArgs {
    /// Required: says that you mean to destroy every table and its data.
    #[arg(long, required = true)]
    pub yes_destroy_all_data: bool,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `backups`.
#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// Empty the backups of this migration (a version), or `all`: the space is freed, the
    /// migrations stay applied, and their downs add the column or table back without its
    /// rows.
    #[arg(long, value_name = "VERSION|all")]
    pub purge: Option<String>,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Print what would run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The database and how to reach it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
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

/// Parses a duration: `60s`, `500ms`, `2m`, `1h 30m` (humantime), or a number of
/// seconds; at most 366 days, longer than any wait a run means.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("`{text}` is not a duration like 60s, 500ms, 2m or 1h: {e}"))?,
    };
    if duration > LONGEST {
        return Err(format!("`{text}` is too long: at most 366 days"));
    }
    Ok(duration)
}

/// Running one command on many databases (`--targets`) or PostgreSQL schemas
/// (`--schemas`, `--schemas-from`), each locked and migrated on its own.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Fleets")]
#[non_exhaustive]
pub struct FleetArgs {
    /// A TOML file of `[[target]]` tables, each with a `name` and a `url` (or `url_from`,
    /// an environment variable holding it): the command runs on each.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["schemas", "schemas_from", "database_url"])]
    pub targets: Option<std::path::PathBuf>,

    /// PostgreSQL schemas of the database (comma-separated): the command runs on each,
    /// with its own history table, its search_path set to it (`up` creates a missing one).
    #[arg(
        long,
        value_name = "A,B,C",
        value_delimiter = ',',
        conflicts_with = "schemas_from"
    )]
    pub schemas: Vec<String>,

    /// A query whose first column lists the schemas, run on the database first, e.g.
    /// "SELECT schema_name FROM tenants".
    #[arg(long, value_name = "SQL")]
    pub schemas_from: Option<String>,

    /// How many targets run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

impl FleetArgs {
    /// Whether any target was asked for.
    pub fn any(&self) -> bool {
        self.targets.is_some() || !self.schemas.is_empty() || self.schemas_from.is_some()
    }
}

impl Command {
    /// The fleet options of a command that can run on many targets (`up`, `down`,
    /// `status`, `validate`), when some were given.
    pub fn fleet(&self) -> Option<&FleetArgs> {
        let fleet = match self {
            Command::Up(a) => &a.fleet,
            Command::Down(a) => &a.fleet,
            Command::Status(a) => &a.fleet,
            Command::Validate(a) => &a.fleet,
            _ => return None,
        };
        fleet.any().then_some(fleet)
    }

    /// The connection options of a command that reaches a database (`None` for `sql`,
    /// `lint` and `new`, which need none).
    pub fn connection(&self) -> Option<&ConnectionArgs> {
        match self {
            Command::Up(a) => Some(&a.connection),
            Command::Down(a) => Some(&a.connection),
            Command::Redo(a) => Some(&a.connection),
            Command::Status(a) => Some(&a.connection),
            Command::History(a) => Some(&a.connection),
            Command::Validate(a) => Some(&a.connection),
            Command::Schema(a) => Some(&a.connection),
            Command::Verify(a) => Some(&a.connection),
            Command::Diff(a) => Some(&a.connection),
            Command::ImportHistory(a) => Some(&a.connection),
            Command::Renumber(a) => Some(&a.connection),
            Command::Baseline(a) => Some(&a.connection),
            Command::Repair(a) => Some(&a.connection),
            Command::Fresh(a) => Some(&a.connection),
            Command::Seed(a) => Some(&a.connection),
            Command::Backups(a) => Some(&a.connection),
            Command::New(a) if a.from_diff => Some(&a.connection),
            Command::Sql(_) | Command::New(_) | Command::Import(_) => None,
            #[cfg(feature = "lint")]
            Command::Lint(_) => None,
        }
    }
}
