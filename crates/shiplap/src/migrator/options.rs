//! What a run may do and how: [`Options`], [`Up`], and the builder methods that set them.

use std::time::Duration;

use crate::backend::connection::Retry;
use crate::history::DEFAULT_TABLE;
use crate::lock::LockMode;
use crate::progress::ProgressOutput;

use super::Migrator;

/// How the migrator locks, decides and reports. Set through [`Migrator`]'s builder
/// methods; the fields say what each does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The history table's name.
    pub table: String,
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
    /// Connection retries while the server is not up.
    pub connect: Retry,
    /// A `lock_timeout` for the migrations' own statements (PostgreSQL, MySQL), so one
    /// waiting on a busy table fails fast instead of queueing production traffic behind it.
    pub statement_lock_timeout: Option<Duration>,
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Go on when applied migrations are missing from the code.
    pub ignore_missing: bool,
    /// While one statement runs longer than this, a warning says so, again every
    /// `progress_every`, so a long migration is never silent.
    pub progress_every: Duration,
    /// How data migrations show progress and messages (`tracing` events by default).
    pub progress: ProgressOutput,
    /// A pause after each backfill batch, instead of the one the migration sets.
    pub backfill_pause: Option<Duration>,
    /// Let `up` refuse migrations with lint errors nobody acknowledged (the command line's
    /// `up` does; a library call does not: see [`Migrator::lint`]).
    pub lint: bool,
    /// Refuse applied migrations whose SQL sea-query now renders differently, although
    /// their code and raw SQL are unchanged (by default a warning).
    pub strict_checksums: bool,
    /// How other runners are kept out.
    pub lock: LockMode,
    /// The length of a lease ([`LockMode::Lease`], and on a Galera cluster): renewed every
    /// third of it while the run goes on; a runner that stops renewing it (killed, cut
    /// off) is taken over once it has passed.
    pub lease: Duration,
    /// The environment this run is in (`--env`, `SHIPLAP_ENV`): recorded in each history
    /// row it writes, and what [`DataContext::environment`](crate::DataContext::environment)
    /// answers.
    pub environment: Option<String>,
    /// `down` also reverts the applied repeatable migrations (their downs, by name in
    /// reverse), before the versioned ones. With `DownTarget::Steps(0)`, only them.
    pub revert_repeatables: bool,
    /// What the environment forbids (`shiplap.toml`'s guards).
    pub guards: Guards,
    /// The environment runs its seeds after every `up` (`seed_after_up` in its
    /// `shiplap.toml` table): the command line's `up` asks for [`Up::seed`] then.
    pub seed_after_up: bool,
}

/// What an environment forbids, from `[environments.NAME]` in `shiplap.toml` (or set by
/// an application): each refusal names the environment and the setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Guards {
    /// `fresh` (drop everything, apply all) is refused.
    pub refuse_fresh: bool,
    /// A `down` or `redo` whose SQL destroys data (drops a table or a column, truncates,
    /// deletes rows) is refused before anything runs.
    pub refuse_destructive_down: bool,
    /// Lint errors only warn: `up` applies what the lint flags.
    pub lint_warns_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            table: DEFAULT_TABLE.to_owned(),
            lock_timeout: Duration::from_secs(60),
            connect: Retry::default(),
            statement_lock_timeout: None,
            allow_out_of_order: false,
            ignore_missing: false,
            progress_every: Duration::from_secs(10),
            progress: ProgressOutput::default(),
            backfill_pause: None,
            lint: false,
            strict_checksums: false,
            lock: LockMode::Session,
            lease: crate::lock::lease::DEFAULT_LEASE,
            environment: None,
            revert_repeatables: false,
            guards: Guards::default(),
            seed_after_up: false,
        }
    }
}

/// What `up` applies: everything pending (the default), or up to a version; each
/// migration in its own transaction, or all in one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Up {
    /// The last version to apply (`None`: all).
    pub to: Option<i64>,
    /// All migrations in one transaction (PostgreSQL and SQLite): all or nothing.
    pub single_transaction: bool,
    /// Then run the seeds of the environment (as [`Migrator::seed`] does), under the
    /// same lock.
    pub seed: bool,
}

impl Up {
    /// Every pending migration, each in its own transaction.
    pub fn all() -> Self {
        Up::default()
    }

    /// Pending migrations up to and including `version`.
    pub fn to(version: i64) -> Self {
        Up {
            to: Some(version),
            ..Up::default()
        }
    }

    /// All in one transaction (PostgreSQL and SQLite).
    pub fn single_transaction(mut self) -> Self {
        self.single_transaction = true;
        self
    }

    /// Then the seeds of the environment, under the same lock.
    pub fn and_seed(mut self) -> Self {
        self.seed = true;
        self
    }
}

impl Migrator<'_> {
    /// The history table's name (default `shiplap_migrations`).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.options.table = table.into();
        self
    }

    /// How long to wait for another runner's lock (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.options.lock_timeout = timeout;
        self
    }

    /// How other runners are kept out (default [`LockMode::Session`]).
    pub fn lock(mut self, mode: LockMode) -> Self {
        self.options.lock = mode;
        self
    }

    /// The length of a lease (default 30 s), for [`LockMode::Lease`] and on a Galera
    /// cluster: the longest a killed runner keeps others waiting. At least 1 s.
    pub fn lease(mut self, length: Duration) -> Self {
        self.options.lease = length;
        self
    }

    /// Retries, with backoff, while the server does not accept connections yet (a URL
    /// only; default none).
    pub fn connect_retries(mut self, retries: u32) -> Self {
        self.options.connect.retries = retries;
        self
    }

    /// A lock timeout for the migrations' statements (PostgreSQL `lock_timeout`, MySQL
    /// `lock_wait_timeout`): one that waits on a busy table fails instead of queueing
    /// traffic behind it.
    pub fn statement_lock_timeout(mut self, timeout: Duration) -> Self {
        self.options.statement_lock_timeout = Some(timeout);
        self
    }

    /// Apply pending migrations older than the newest applied one.
    pub fn allow_out_of_order(mut self, allow: bool) -> Self {
        self.options.allow_out_of_order = allow;
        self
    }

    /// Go on when applied migrations are missing from the code.
    pub fn ignore_missing(mut self, ignore: bool) -> Self {
        self.options.ignore_missing = ignore;
        self
    }

    /// How data migrations report progress and messages (default: `tracing` events).
    pub fn progress(mut self, output: ProgressOutput) -> Self {
        self.options.progress = output;
        self
    }

    /// How long a statement may run before a warning says it still runs (default 10 s).
    pub fn progress_every(mut self, every: Duration) -> Self {
        self.options.progress_every = every;
        self
    }

    /// A pause after each backfill batch, instead of the one each migration sets.
    pub fn backfill_pause(mut self, pause: Duration) -> Self {
        self.options.backfill_pause = Some(pause);
        self
    }

    /// Let `up` refuse migrations with lint errors nobody acknowledged (with the `lint`
    /// feature). Off by default: the lint gates in CI (`migrate lint`) and in the command
    /// line's `up`; an application starting up runs what its release was built with.
    pub fn lint(mut self, lint: bool) -> Self {
        self.options.lint = lint;
        self
    }

    /// Refuse applied migrations whose SQL sea-query now renders differently (by default
    /// a warning).
    pub fn strict_checksums(mut self, strict: bool) -> Self {
        self.options.strict_checksums = strict;
        self
    }

    /// The environment this run is in: recorded in each history row it writes (`--env`
    /// and `SHIPLAP_ENV` on the command line).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.options.environment = Some(environment.into());
        self
    }

    /// `down` also reverts the applied repeatable migrations (their downs, by name in
    /// reverse), before the versioned ones; by default it leaves them.
    pub fn revert_repeatables(mut self, revert: bool) -> Self {
        self.options.revert_repeatables = revert;
        self
    }

    /// What the environment forbids.
    pub fn guards(mut self, guards: Guards) -> Self {
        self.options.guards = guards;
        self
    }

    /// All options at once.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }
}
