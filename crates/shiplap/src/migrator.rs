//! The migrator: applies and reverts migrations on one database, one runner at a time,
//! each migration exactly once, and records what it did in the history table.
//!
//! How one migration runs:
//! - in a transaction (the default, on PostgreSQL and SQLite): `BEGIN`, its statements,
//!   the history row, `COMMIT`; any failure rolls all of it back;
//! - without one (`transaction = false`, and always on MySQL, whose DDL commits
//!   implicitly): a `dirty` history row first, then the statements one at a time, then the
//!   row marked `applied`. A failure leaves the row dirty, and `up` refuses to pass it until
//!   a person has looked and run `repair`.
//!
//! Each run is planned as a list of [`Op`]s; `--dry-run` prints that same list as SQL, so
//! what it shows is what would run, history writes included.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::connection::{Connection, Handle, Retry, connect, missing_sqlite_file};
use crate::backend::{mysql, postgres};
use crate::database_url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::history::{DEFAULT_TABLE, HistoryRow, HistoryTable};
use crate::lock::{LockMode, RunLock};
use crate::progress::ProgressOutput;
use crate::registry::Registry;
use crate::render::Direction;
use crate::status::MigrationStatus;

mod execute;
mod history_table;
mod plan;
mod repair;

use execute::taken;
use history_table::check_table_name;
pub use repair::{Mark, Repaired};

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
        }
    }
}

/// The database a [`Migrator`] runs on: a URL (shiplap opens one connection per command),
/// or the application's pool (shiplap takes one connection from it per command and gives
/// it back as it found it). A pool of the sqlx that shiplap re-exports: `shiplap::sqlx`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Database {
    /// A URL.
    Url(DatabaseUrl),
    /// An SQLite pool (an in-memory database needs a pool that keeps its connection:
    /// `max_connections(1)` and no idle timeout, or a shared cache).
    #[cfg(feature = "_sqlite")]
    SqlitePool(sqlx::SqlitePool),
    /// A PostgreSQL pool.
    #[cfg(feature = "postgres")]
    PgPool(sqlx::PgPool),
    /// A MySQL or MariaDB pool.
    #[cfg(feature = "mysql")]
    MySqlPool(sqlx::MySqlPool),
}

impl From<DatabaseUrl> for Database {
    fn from(url: DatabaseUrl) -> Self {
        Database::Url(url)
    }
}

macro_rules! database_from_pool {
    ($feature:literal, $variant:ident, $pool:ty) => {
        #[cfg(feature = $feature)]
        impl From<$pool> for Database {
            fn from(pool: $pool) -> Self {
                Database::$variant(pool)
            }
        }
        #[cfg(feature = $feature)]
        impl From<&$pool> for Database {
            fn from(pool: &$pool) -> Self {
                Database::$variant(pool.clone())
            }
        }
    };
}

database_from_pool!("_sqlite", SqlitePool, sqlx::SqlitePool);
database_from_pool!("postgres", PgPool, sqlx::PgPool);
database_from_pool!("mysql", MySqlPool, sqlx::MySqlPool);

impl Database {
    /// How the database is named in messages: the URL without its password, or for a pool
    /// its host, port, user and database.
    fn label(&self) -> DatabaseUrl {
        match self {
            Database::Url(url) => url.clone(),
            #[cfg(feature = "_sqlite")]
            Database::SqlitePool(pool) => DatabaseUrl::described(
                Backend::Sqlite,
                format!(
                    "sqlite://{} (the application's pool)",
                    pool.connect_options().get_filename().display()
                ),
            ),
            #[cfg(feature = "postgres")]
            Database::PgPool(pool) => {
                let o = pool.connect_options();
                DatabaseUrl::described(
                    Backend::Postgres,
                    format!(
                        "postgres://{}@{}:{}/{} (the application's pool)",
                        o.get_username(),
                        o.get_host(),
                        o.get_port(),
                        o.get_database().unwrap_or_default()
                    ),
                )
            }
            #[cfg(feature = "mysql")]
            Database::MySqlPool(pool) => {
                let o = pool.connect_options();
                DatabaseUrl::described(
                    Backend::MySql,
                    format!(
                        "mysql://{}@{}:{}/{} (the application's pool)",
                        o.get_username(),
                        o.get_host(),
                        o.get_port(),
                        o.get_database().unwrap_or_default()
                    ),
                )
            }
        }
    }
}

/// A connection the application lends a [`Migrator`] ([`Migrator::on_connection`]): the
/// migrator runs on it and leaves it open, with its session settings as they were.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lent<'c> {
    /// An SQLite connection (an in-memory database, say).
    #[cfg(feature = "_sqlite")]
    Sqlite(&'c mut sqlx::SqliteConnection),
    /// A PostgreSQL connection.
    #[cfg(feature = "postgres")]
    Postgres(&'c mut sqlx::PgConnection),
    /// A MySQL or MariaDB connection.
    #[cfg(feature = "mysql")]
    MySql(&'c mut sqlx::MySqlConnection),
    #[doc(hidden)]
    #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
    None(std::convert::Infallible, std::marker::PhantomData<&'c ()>),
}

macro_rules! lent_from {
    ($feature:literal, $variant:ident, $conn:ty) => {
        #[cfg(feature = $feature)]
        impl<'c> From<&'c mut $conn> for Lent<'c> {
            fn from(conn: &'c mut $conn) -> Self {
                Lent::$variant(conn)
            }
        }
    };
}

lent_from!("_sqlite", Sqlite, sqlx::SqliteConnection);
lent_from!("postgres", Postgres, sqlx::PgConnection);
lent_from!("mysql", MySql, sqlx::MySqlConnection);

impl<'c> Lent<'c> {
    fn target(self) -> (Backend, Target<'c>) {
        fn shared<C>(conn: &mut C) -> Arc<tokio::sync::Mutex<&mut C>> {
            Arc::new(tokio::sync::Mutex::new(conn))
        }
        match self {
            #[cfg(feature = "_sqlite")]
            Lent::Sqlite(c) => (Backend::Sqlite, Target::LentSqlite(shared(c))),
            #[cfg(feature = "postgres")]
            Lent::Postgres(c) => (Backend::Postgres, Target::LentPostgres(shared(c))),
            #[cfg(feature = "mysql")]
            Lent::MySql(c) => (Backend::MySql, Target::LentMySql(shared(c))),
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Lent::None(never, _) => match never {},
        }
    }
}

/// A lent connection, used by one command at a time.
type Shared<'c, C> = Arc<tokio::sync::Mutex<&'c mut C>>;

/// Where a migrator's connections come from.
#[derive(Debug, Clone)]
enum Target<'c> {
    Database(Database),
    #[cfg(feature = "_sqlite")]
    LentSqlite(Shared<'c, sqlx::SqliteConnection>),
    #[cfg(feature = "postgres")]
    LentPostgres(Shared<'c, sqlx::PgConnection>),
    #[cfg(feature = "mysql")]
    LentMySql(Shared<'c, sqlx::MySqlConnection>),
    #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
    #[allow(dead_code)]
    None(std::convert::Infallible, std::marker::PhantomData<&'c ()>),
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
}

/// Which migrations `down` reverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownTarget {
    /// Every applied migration newer than this version (0: all of them).
    To(i64),
    /// The newest N applied migrations.
    Steps(u32),
}

/// One migration applied or reverted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Done {
    /// Its version.
    pub version: i64,
    /// Its name.
    pub name: &'static str,
    /// Up or down.
    pub direction: Direction,
    /// How many statements ran (0 for a data migration).
    pub statements: usize,
    /// Rows a data migration affected (none for a schema migration).
    pub rows: Option<u64>,
    /// How long it took.
    pub duration_ms: i64,
}

/// What a run did, and the error that stopped it, if any: a run that fails part-way
/// still says which migrations it applied (or reverted) before.
#[derive(Debug)]
#[non_exhaustive]
pub struct Report {
    /// The migrations applied or reverted, in order; each is committed.
    pub done: Vec<Done>,
    /// What stopped the run.
    pub error: Option<Error>,
}

impl Report {
    fn failure(error: Error) -> Self {
        Report {
            done: Vec::new(),
            error: Some(error),
        }
    }

    /// The migrations done, or the error (then what was done before it is lost: use the
    /// report itself to keep it).
    pub fn into_result(self) -> Result<Vec<Done>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.done),
        }
    }
}

/// What [`Migrator::locked`] returns: an outcome that can be a failure.
trait Outcome {
    fn failure(error: Error) -> Self;
    fn failed(&self) -> bool;
}

impl<T> Outcome for Result<T> {
    fn failure(error: Error) -> Self {
        Err(error)
    }
    fn failed(&self) -> bool {
        self.is_err()
    }
}

impl Outcome for Report {
    fn failure(error: Error) -> Self {
        Report::failure(error)
    }
    fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// Applies, reverts and inspects the migrations of a [`Registry`] on one database.
///
/// At an application's start-up, on its own pool:
///
/// ```no_run
/// # mod my_migrations { shiplap::migrations!(); }
/// # async fn start(pool: shiplap::sqlx::PgPool) -> shiplap::Result<()> {
/// use std::time::Duration;
///
/// let applied = shiplap::Migrator::new(my_migrations::migrations()?, &pool)
///     .lock_timeout(Duration::from_secs(30))
///     .up()
///     .await?;
/// tracing::info!("{} migration(s) applied", applied.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Migrator<'c> {
    registry: Registry,
    target: Target<'c>,
    /// How the database is named in messages (never with its password).
    label: DatabaseUrl,
    options: Options,
}

impl Migrator<'static> {
    /// A migrator for `registry` on `database`: a [`DatabaseUrl`] or a pool of the
    /// application's (`&PgPool`, `&MySqlPool`, `&SqlitePool`).
    pub fn new(registry: Registry, database: impl Into<Database>) -> Self {
        let database = database.into();
        Migrator {
            registry,
            label: database.label(),
            target: Target::Database(database),
            options: Options::default(),
        }
    }
}

impl<'c> Migrator<'c> {
    /// A migrator for `registry` on a connection the application lends it (`&mut
    /// PgConnection`, `&mut SqliteConnection`, `&mut MySqlConnection`), used by one command
    /// at a time and left open.
    pub fn on_connection(registry: Registry, conn: impl Into<Lent<'c>>) -> Self {
        let (backend, target) = conn.into().target();
        Migrator {
            registry,
            label: DatabaseUrl::described(
                backend,
                format!("{backend} (the application's connection)"),
            ),
            target,
            options: Options::default(),
        }
    }

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

    /// All options at once.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The options, to change before a run.
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.options
    }

    /// The registry it applies.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The database, as messages name it: its URL (`Display` hides the password), or a
    /// description of the application's pool or connection.
    pub fn url(&self) -> &DatabaseUrl {
        &self.label
    }

    fn backend(&self) -> Backend {
        self.label.backend()
    }

    fn table_sql(&self) -> HistoryTable {
        HistoryTable::new(&self.options.table, self.backend())
    }

    /// The URL, when the migrator opens its own connections.
    fn own_url(&self) -> Option<&DatabaseUrl> {
        match &self.target {
            Target::Database(Database::Url(url)) => Some(url),
            _ => None,
        }
    }

    /// Connects for reading: an SQLite file must exist.
    async fn connect(&self) -> Result<Connection<'_>> {
        self.connect_creating(false).await
    }

    /// A connection: opened (an SQLite file is created when missing if `create`), taken
    /// from the pool, or the lent one; with the session settings the options ask for.
    async fn connect_creating(&self, create: bool) -> Result<Connection<'_>> {
        check_table_name(&self.options.table)?;
        let mut conn = self.open(create).await?;
        if let Some(timeout) = self.options.statement_lock_timeout {
            let sql = match self.backend() {
                // Set by each migration's claim instead, for its transaction only.
                Backend::Postgres if self.options.lock == LockMode::Transaction => None,
                Backend::Postgres => Some(postgres::lock_timeout(timeout)),
                Backend::MySql => Some(mysql::lock_timeout(timeout)),
                Backend::Sqlite => None,
            };
            if let Some(sql) = sql
                && let Err(e) = conn.execute(&sql).await
            {
                self.finish(conn, true).await;
                return Err(e.into());
            }
        }
        Ok(conn)
    }

    async fn open(&self, create: bool) -> Result<Connection<'_>> {
        let pool_error = |source: sqlx::Error| Error::Connect {
            url: self.label.to_string(),
            attempts: 1,
            hint: "the application's pool gave no connection".into(),
            source,
        };
        let _ = &pool_error;
        match &self.target {
            Target::Database(Database::Url(url)) => {
                connect(url, self.options.connect, create).await
            }
            #[cfg(feature = "_sqlite")]
            Target::Database(Database::SqlitePool(pool)) => Ok(Connection::Sqlite(Handle::Pooled(
                pool.acquire().await.map_err(pool_error)?,
            ))),
            #[cfg(feature = "postgres")]
            Target::Database(Database::PgPool(pool)) => Ok(Connection::Postgres(Handle::Pooled(
                pool.acquire().await.map_err(pool_error)?,
            ))),
            #[cfg(feature = "mysql")]
            Target::Database(Database::MySqlPool(pool)) => Ok(Connection::MySql(Handle::Pooled(
                pool.acquire().await.map_err(pool_error)?,
            ))),
            #[cfg(feature = "_sqlite")]
            Target::LentSqlite(c) => Ok(Connection::Sqlite(Handle::Lent(
                tokio::sync::MutexGuard::map(c.lock().await, |c| &mut **c),
            ))),
            #[cfg(feature = "postgres")]
            Target::LentPostgres(c) => Ok(Connection::Postgres(Handle::Lent(
                tokio::sync::MutexGuard::map(c.lock().await, |c| &mut **c),
            ))),
            #[cfg(feature = "mysql")]
            Target::LentMySql(c) => Ok(Connection::MySql(Handle::Lent(
                tokio::sync::MutexGuard::map(c.lock().await, |c| &mut **c),
            ))),
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Target::None(never, _) => match *never {},
        }
    }

    /// Ends the use of a connection: one shiplap opened is closed; the application's
    /// (pooled or lent) gets back the session settings shiplap changed, and a pooled one
    /// that failed, or could not be reset, is closed rather than returned.
    async fn finish(&self, conn: Connection<'_>, failed: bool) {
        let mut discard = failed;
        if !conn.owned() {
            let mut conn = conn;
            let reset = match self.backend() {
                Backend::Postgres => Some(postgres::RESET_SESSION),
                Backend::MySql => Some(mysql::RESET_SESSION),
                Backend::Sqlite => None,
            };
            if let Some(sql) = reset
                && let Err(e) = conn.execute(sql).await
            {
                tracing::debug!("resetting the session's settings failed: {e}");
                discard = true;
            }
            conn.finish(discard).await;
            return;
        }
        conn.finish(discard).await;
    }

    /// Runs `f` on a connection while holding the run lock, taken on that same connection;
    /// releases both on every path. A lock that cannot be released is a warning, not a
    /// failure of the run: the server releases it when the connection closes.
    /// Only `create` makes a missing SQLite file (`up`, `baseline`, `fresh`).
    async fn locked<T: Outcome>(
        &self,
        create: bool,
        f: impl AsyncFnOnce(&mut Connection<'_>, &RunLock) -> T,
    ) -> T {
        let mut conn = match self.connect_creating(create).await {
            Ok(conn) => conn,
            Err(e) => return T::failure(e),
        };
        let sqlite_file = conn.sqlite_file().await;
        let lock = match RunLock::acquire(
            &mut conn,
            &self.label,
            sqlite_file.as_deref(),
            &self.options.table,
            self.options.lock_timeout,
            self.options.lock,
        )
        .await
        {
            Ok(lock) => lock,
            Err(e) => {
                self.finish(conn, true).await;
                return T::failure(e);
            }
        };
        let outcome = f(&mut conn, &lock).await;
        let mut failed = outcome.failed();
        match lock.release(&mut conn).await {
            Ok(()) => {}
            // After a failure the connection may be gone: the error says what matters.
            Err(e) if failed => tracing::debug!("{e}"),
            Err(e) => {
                tracing::warn!(
                    "{e}; the server releases it when the connection closes, which happens now"
                );
                failed = true;
            }
        }
        self.finish(conn, failed).await;
        outcome
    }

    /// Every migration's state. Reads only: creates nothing, takes no lock.
    pub async fn status(&self) -> Result<Vec<MigrationStatus>> {
        let rendered = self.render_up_meanwhile();
        let mut conn = self.connect().await?;
        let rows = self.read_history(&mut conn).await;
        // Closing is the SQLite worker thread's job: it can go on while we compare.
        let failed = rows.is_err();
        let (_, statuses) = tokio::join!(self.finish(conn, failed), async {
            Ok(self.statuses(&rendered.await?, &rows?))
        });
        statuses
    }

    /// The history table's rows as recorded (none when it does not exist).
    pub async fn history(&self) -> Result<Vec<HistoryRow>> {
        let mut conn = self.connect().await?;
        let rows = self.read_history(&mut conn).await;
        self.finish(conn, rows.is_err()).await;
        rows
    }

    /// Applies every pending migration, each in its own transaction; returns what it
    /// applied.
    pub async fn up(&self) -> Result<Vec<Done>> {
        self.up_report(Up::all()).await.into_result()
    }

    /// Applies pending migrations up to and including `version`.
    pub async fn up_to(&self, version: i64) -> Result<Vec<Done>> {
        self.up_report(Up::to(version)).await.into_result()
    }

    /// Applies pending migrations as `up` says ([`Up::to`] a version, in a
    /// [single transaction](Up::single_transaction)); the report says what was applied
    /// before a failure too.
    pub async fn up_report(&self, up: Up) -> Report {
        let Up {
            to,
            single_transaction,
        } = up;
        if let Some(to) = to
            && let Err(e) = self.registry.get(to)
        {
            return Report::failure(e);
        }
        let rendered = self.render_up_meanwhile();
        self.locked(true, async |conn, lock| {
            let rendered = match rendered.await {
                Ok(rendered) => rendered,
                Err(e) => return Report::failure(e),
            };
            let mut done = Vec::new();
            let mut first = true;
            // In transaction mode, a migration another runner took meanwhile sends us back
            // to the history: each round, someone applied at least one migration.
            for _ in 0..=self.registry.len() {
                let plan = async {
                    let rows = if std::mem::take(&mut first) {
                        self.prepared_history(conn, lock, true).await?
                    } else {
                        self.history_if_exists(conn).await?
                    };
                    let rows = rows.unwrap_or_default();
                    let resumable = self.resumable(conn, &rows).await?;
                    let plan =
                        self.plan_up(&rendered, &rows, &resumable, to, single_transaction)?;
                    self.check_lint(&rendered, &plan)?;
                    Ok(plan)
                };
                let report = match plan.await {
                    Ok(plan) => self.run(conn, lock, plan, single_transaction).await,
                    Err(e) => Report::failure(e),
                };
                done.extend(report.done);
                match report.error {
                    Some(e) if taken(&e) => {
                        tracing::info!("{e}; reading the history again");
                    }
                    error => return Report { done, error },
                }
            }
            Report { done, error: None }
        })
        .await
    }

    /// The SQL `up` would run, history writes included. Reads only.
    pub async fn up_dry_run(&self, up: Up) -> Result<String> {
        let Up {
            to,
            single_transaction,
        } = up;
        if let Some(to) = to {
            self.registry.get(to)?;
        }
        // A new SQLite database: nothing to read, and nothing is created.
        let missing = match self.own_url() {
            Some(url) => missing_sqlite_file(url)?,
            None => None,
        };
        let (rows, resumable) = if missing.is_some() {
            check_table_name(&self.options.table)?;
            (None, HashSet::new())
        } else {
            let mut conn = self.connect().await?;
            let rows = self.history_if_exists(&mut conn).await;
            let resumable = match &rows {
                Ok(Some(rows)) => self.resumable(&mut conn, rows).await,
                _ => Ok(HashSet::new()),
            };
            self.finish(conn, rows.is_err() || resumable.is_err()).await;
            (rows?, resumable?)
        };
        let plan = self.plan_up(
            &self.rendered_up()?,
            rows.as_deref().unwrap_or_default(),
            &resumable,
            to,
            single_transaction,
        )?;
        let mut script = String::new();
        if let Some(file) = missing {
            script.push_str(&format!(
                "-- there is no database at {} yet: `up` creates it\n",
                file.display()
            ));
        }
        if rows.is_none() {
            let table = self.table_sql();
            script.push_str(&table.create());
            script.push_str(";\n");
            script.push_str(&table.layout_insert());
            script.push_str(";\n\n");
        }
        script.push_str(&self.script(&plan, single_transaction));
        Ok(script)
    }

    /// Reverts applied migrations, newest first. Refuses before touching the database
    /// when any of them cannot be reverted.
    pub async fn down(&self, target: DownTarget) -> Result<Vec<Done>> {
        self.down_report(target).await.into_result()
    }

    /// [`down`](Self::down), reporting what was reverted before a failure too.
    pub async fn down_report(&self, target: DownTarget) -> Report {
        self.locked(false, async |conn, lock| {
            match self.planned_down(conn, lock, target).await {
                Ok(plan) => self.run(conn, lock, plan, false).await,
                Err(e) => Report::failure(e),
            }
        })
        .await
    }

    /// The SQL `down` would run, history writes included. Reads only.
    pub async fn down_dry_run(&self, target: DownTarget) -> Result<String> {
        let mut conn = self.connect().await?;
        let rows = self.read_history(&mut conn).await;
        self.finish(conn, rows.is_err()).await;
        let plan = self.plan_down(&rows?, target)?;
        Ok(self.script(&plan, false))
    }

    /// Reverts the newest `steps` migrations, then applies them again, holding the lock
    /// throughout so that no other runner acts in between.
    pub async fn redo(&self, steps: u32) -> Result<Vec<Done>> {
        self.redo_report(steps).await.into_result()
    }

    /// [`redo`](Self::redo), reporting what was reverted and applied before a failure too.
    pub async fn redo_report(&self, steps: u32) -> Report {
        self.locked(false, async |conn, lock| {
            let down = match self
                .planned_down(conn, lock, DownTarget::Steps(steps))
                .await
            {
                Ok(down) => down,
                Err(e) => return Report::failure(e),
            };
            let newest = down.iter().map(|p| p.migration.version()).max();
            let mut report = self.run(conn, lock, down, false).await;
            if let (Some(newest), None) = (newest, &report.error) {
                let up = async {
                    let rows = self.read_history(conn).await?;
                    self.plan_up(
                        &self.rendered_up()?,
                        &rows,
                        &HashSet::new(),
                        Some(newest),
                        false,
                    )
                };
                let again = match up.await {
                    Ok(up) => self.run(conn, lock, up, false).await,
                    Err(e) => Report::failure(e),
                };
                report.done.extend(again.done);
                report.error = again.error;
            }
            report
        })
        .await
    }
}
