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
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde::Serialize;

use crate::clock::now_rfc3339;
use crate::connection::{Connection, ELAPSED, MARKER, Retry, connect_to};
use crate::data::RunInfo;
use crate::history::{self, HistoryTable, LAYOUT, Layout, SQLITE_CLOCK, Shape};
use crate::lint;
use crate::lock::{LockMode, RunLock, TAKEN};
use crate::progress::{ProgressOutput, Reporter};
use crate::{
    Backend, DatabaseUrl, Direction, Error, HistoryRow, Kind, Migration, MigrationFn,
    MigrationStatus, Registry, Rendered, Result, RowState, State, diff, render,
};

/// How the migrator connects, locks and decides.
#[derive(Debug, Clone)]
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
    /// How data migrations show progress and messages.
    pub progress: ProgressOutput,
    /// A pause after each backfill batch, instead of the one the migration sets.
    pub backfill_pause: Option<Duration>,
    /// Let `up` apply migrations with lint errors nobody acknowledged.
    pub skip_lint: bool,
    /// Refuse applied migrations whose SQL sea-query now renders differently, although
    /// their code and raw SQL are unchanged (by default a warning).
    pub strict_checksums: bool,
    /// How other runners are kept out.
    pub lock: LockMode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            table: crate::DEFAULT_TABLE.to_owned(),
            lock_timeout: Duration::from_secs(60),
            connect: Retry::default(),
            statement_lock_timeout: None,
            allow_out_of_order: false,
            ignore_missing: false,
            progress_every: Duration::from_secs(10),
            progress: ProgressOutput::default(),
            backfill_pause: None,
            skip_lint: false,
            strict_checksums: false,
            lock: LockMode::Session,
        }
    }
}

/// Which migrations `down` reverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownTarget {
    /// Every applied migration newer than this version (0: all of them).
    To(i64),
    /// The newest N applied migrations.
    Steps(u32),
}

/// One migration applied or reverted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// What `repair --mark` records a migration as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Mark {
    /// Applied, with the current checksums, although nothing runs: its objects are there.
    Applied,
    /// Not applied: its row (and backfill positions) deleted, although nothing runs.
    Pending,
}

/// The error for `repair --version V` when V has no history row.
fn no_row(version: i64) -> Error {
    Error::InvalidArgument {
        message: format!(
            "migration {version} has no history row: nothing to repair (`migrate history` lists the rows)"
        ),
    }
}

/// What `repair` changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// The version of the row.
    pub version: i64,
    /// The name recorded for it.
    pub name: String,
    /// What was done: `cleared dirty row` or `accepted current checksums`.
    pub action: &'static str,
}

/// Applies, reverts and inspects the migrations of a [`Registry`] on one database.
#[derive(Debug, Clone)]
pub struct Migrator {
    registry: Registry,
    url: DatabaseUrl,
    options: Options,
}

/// One step of a run.
#[derive(Debug, Clone, Copy)]
enum Op {
    Begin,
    /// In transaction mode, take the lock and check the migration is still to do.
    Claim,
    Commit,
    /// The `index`-th statement (from 0) of the migration.
    Statement(usize),
    /// Run a data migration's function.
    Data,
    /// Insert the history row in this state.
    Insert(RowState),
    /// Mark the dirty row applied.
    MarkApplied,
    /// Mark the row as being reverted (before a down without a transaction).
    MarkReverting,
    /// Delete the row (the migration is reverted).
    DeleteRow,
    /// Forget a reverted data migration's backfill positions.
    ForgetBackfills,
}

/// A migration with its rendered SQL and the ops that run it.
struct Planned {
    migration: &'static Migration,
    rendered: Rendered,
    ops: Vec<Op>,
    /// A dirty data migration run again: its backfills continue where they stopped.
    resume: bool,
}

impl Migrator {
    /// A migrator for `registry` on the database at `url`.
    pub fn new(registry: Registry, url: DatabaseUrl, options: Options) -> Self {
        Migrator {
            registry,
            url,
            options,
        }
    }

    /// The options, to change before a run.
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.options
    }

    /// The database URL (its `Display` hides the password).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    fn backend(&self) -> Backend {
        self.url.backend()
    }

    fn table(&self) -> HistoryTable {
        HistoryTable::new(&self.options.table, self.backend())
    }

    /// Connects for reading: an SQLite file must exist.
    async fn connect(&self) -> Result<Connection> {
        self.connect_creating(false).await
    }

    /// Connects; an SQLite file is created when missing if `create`.
    async fn connect_creating(&self, create: bool) -> Result<Connection> {
        check_table_name(&self.options.table)?;
        let mut conn = connect_to(&self.url, self.options.connect, create).await?;
        if let Some(timeout) = self.options.statement_lock_timeout {
            let sql = match self.backend() {
                // Set by each migration's claim instead, for its transaction only.
                Backend::Postgres if self.options.lock == LockMode::Transaction => None,
                Backend::Postgres => {
                    Some(format!("SET lock_timeout = '{}ms'", timeout.as_millis()))
                }
                Backend::MySql => Some(format!(
                    "SET SESSION lock_wait_timeout = {}",
                    timeout.as_secs().max(1)
                )),
                Backend::Sqlite => None,
            };
            if let Some(sql) = sql {
                conn.execute(&sql).await?;
            }
        }
        Ok(conn)
    }

    /// Runs `f` on a connection while holding the run lock, taken on that same connection;
    /// releases both on every path. A lock that cannot be released is a warning, not a
    /// failure of the run: the server releases it when the connection closes.
    /// Only `create` makes a missing SQLite file (`up`, `baseline`, `fresh`).
    async fn locked<T: Outcome>(
        &self,
        create: bool,
        f: impl AsyncFnOnce(&mut Connection, &RunLock) -> T,
    ) -> T {
        let mut conn = match self.connect_creating(create).await {
            Ok(conn) => conn,
            Err(e) => return T::failure(e),
        };
        let sqlite_file = conn.sqlite_file().await;
        let lock = match RunLock::acquire(
            &mut conn,
            &self.url,
            sqlite_file.as_deref(),
            &self.options.table,
            self.options.lock_timeout,
            self.options.lock,
        )
        .await
        {
            Ok(lock) => lock,
            Err(e) => {
                conn.close().await;
                return T::failure(e);
            }
        };
        let outcome = f(&mut conn, &lock).await;
        match lock.release(&mut conn).await {
            Ok(()) => {}
            // After a failure the connection may be gone: the error says what matters.
            Err(e) if outcome.failed() => tracing::debug!("{e}"),
            Err(e) => tracing::warn!(
                "{e}; the server releases it when the connection closes, which happens now"
            ),
        }
        conn.close().await;
        outcome
    }

    /// The history rows; `None` when the table does not exist (nothing is created). A
    /// table of an older layout is read as it is, one of a newer layout or of columns no
    /// layout has is refused.
    async fn history_if_exists(&self, conn: &mut Connection) -> Result<Option<Vec<HistoryRow>>> {
        let table = self.table();
        let layout = match self.shape(conn).await? {
            Shape::Missing => return Ok(None),
            Shape::Layout(layout) => layout,
            Shape::Unknown(_) => unreachable!("shape() refuses it"),
        };
        self.rows(conn, &table.in_layout(layout)).await.map(Some)
    }

    async fn read_history(&self, conn: &mut Connection) -> Result<Vec<HistoryRow>> {
        Ok(self.history_if_exists(conn).await?.unwrap_or_default())
    }

    /// Under the lock: the history rows, after creating the table (`create`) or bringing
    /// an older layout up to this build's, in order. `None` when there is no table and
    /// `create` is false.
    async fn prepared_history(
        &self,
        conn: &mut Connection,
        lock: &RunLock,
        create: bool,
    ) -> Result<Option<Vec<HistoryRow>>> {
        self.guarded(conn, lock, async |conn| {
            self.prepare_history(conn, create).await
        })
        .await
    }

    /// In transaction mode, the error for a wait for the lock that failed: past
    /// `--lock-timeout`, the same as a session lock's.
    fn lock_wait_error(&self, error: sqlx::Error) -> Error {
        if lock_wait_timed_out(&error) {
            return Error::LockTimeout {
                url: self.url.to_string(),
                table: self.options.table.clone(),
                waited_secs: self.options.lock_timeout.as_secs(),
            };
        }
        Error::Database { source: error }
    }

    /// Runs `f`; in transaction mode, in a transaction that first takes the lock, committed
    /// when `f` succeeds and rolled back when it fails.
    async fn guarded<T>(
        &self,
        conn: &mut Connection,
        lock: &RunLock,
        f: impl AsyncFnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let Some(guard) = lock.guard(self.options.lock_timeout) else {
            return f(conn).await;
        };
        conn.execute("BEGIN").await?;
        if let Err(e) = conn.execute(&guard).await {
            let _ = conn.execute("ROLLBACK").await;
            return Err(self.lock_wait_error(e));
        }
        match f(conn).await {
            Ok(value) => {
                conn.execute("COMMIT").await?;
                Ok(value)
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                Err(e)
            }
        }
    }

    async fn prepare_history(
        &self,
        conn: &mut Connection,
        create: bool,
    ) -> Result<Option<Vec<HistoryRow>>> {
        let table = self.table();
        let columns_layout = match self.shape(conn).await? {
            Shape::Missing if create => {
                conn.execute(&table.create()).await?;
                conn.execute(&table.layout_insert()).await?;
                return Ok(Some(Vec::new()));
            }
            Shape::Missing => return Ok(None),
            Shape::Layout(layout) => layout,
            Shape::Unknown(_) => unreachable!("shape() refuses it"),
        };
        let (rows, recorded) = self
            .rows_and_layout(conn, &table.in_layout(columns_layout))
            .await?;
        let layout = recorded
            .as_ref()
            .map_or(columns_layout, |r| r.layout.max(columns_layout));
        if layout < LAYOUT || recorded.is_none() {
            if layout < LAYOUT {
                // Said at the default level: a one-time change to the user's database.
                tracing::warn!(
                    "upgrading the history table `{}` from layout {layout} to {LAYOUT} \
                     (once, under the run lock)",
                    self.options.table
                );
            }
            for step in table.upgrade(columns_layout) {
                conn.execute(&step).await?;
            }
            // The backfill positions' table, created with `IF NOT EXISTS`.
            conn.execute(&table.create()).await?;
        }
        Ok(Some(rows))
    }

    /// The shape of the history table; refuses one no layout has.
    async fn shape(&self, conn: &mut Connection) -> Result<Shape> {
        let table = self.table();
        let columns = conn
            .strings_bound(table.columns_query(), &self.options.table)
            .await?;
        match Shape::of(columns) {
            Shape::Unknown(found) => Err(Error::HistoryTable {
                table: self.options.table.clone(),
                problem: format!(
                    "its columns are {}, which no layout of shiplap's history table has: it is \
                     not shiplap's, or was changed by hand. shiplap neither reads nor writes it; \
                     pass --table to use another name, or restore its columns",
                    found.join(", ")
                ),
            }),
            shape => Ok(shape),
        }
    }

    /// The rows of `table`, without its layout row.
    async fn rows(&self, conn: &mut Connection, table: &HistoryTable) -> Result<Vec<HistoryRow>> {
        Ok(self.rows_and_layout(conn, table).await?.0)
    }

    /// The rows of `table` and its recorded layout; refuses a layout newer than this
    /// build's.
    async fn rows_and_layout(
        &self,
        conn: &mut Connection,
        table: &HistoryTable,
    ) -> Result<(Vec<HistoryRow>, Option<Layout>)> {
        let mut rows = conn.history(table).await?;
        let recorded = Layout::take(&mut rows);
        if let Some(newer) = recorded.as_ref().filter(|r| r.layout > LAYOUT) {
            return Err(Error::HistoryTable {
                table: self.options.table.clone(),
                problem: format!(
                    "it has layout {} (written by shiplap {}), newer than the layout {LAYOUT} \
                     this shiplap {} knows: run shiplap {} or newer",
                    newer.layout,
                    newer.written_by,
                    env!("CARGO_PKG_VERSION"),
                    newer.written_by
                ),
            });
        }
        Ok((rows, recorded))
    }

    /// Every registered migration rendered up for this backend.
    fn rendered_up(&self) -> Result<Vec<(&'static Migration, Rendered)>> {
        self.registry
            .iter()
            .map(|m| Ok((m, render(m, self.backend(), Direction::Up)?)))
            .collect()
    }

    /// [`rendered_up`](Self::rendered_up) on a blocking thread, to await once the
    /// database has answered: with many migrations, rendering them all (for their SQL
    /// checksums) takes about as long as reading the history table, and need not wait for it.
    fn render_up_meanwhile(
        &self,
    ) -> impl Future<Output = Result<Vec<(&'static Migration, Rendered)>>> + use<> {
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || this.rendered_up());
        async move {
            match task.await {
                Ok(rendered) => rendered,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    }

    fn statuses(
        &self,
        rendered: &[(&'static Migration, Rendered)],
        rows: &[HistoryRow],
    ) -> Vec<MigrationStatus> {
        let expected: Vec<_> = rendered
            .iter()
            .map(|(m, r)| (*m, r.checksum().unwrap_or_default(), r.raw_checksum()))
            .collect();
        diff(&expected, rows)
    }

    /// Every migration's state. Reads only: creates nothing, takes no lock.
    pub async fn status(&self) -> Result<Vec<MigrationStatus>> {
        let rendered = self.render_up_meanwhile();
        let mut conn = self.connect().await?;
        let rows = self.read_history(&mut conn).await;
        // Closing is the SQLite worker thread's job: it can go on while we compare.
        let (_, statuses) = tokio::join!(conn.close(), async {
            Ok(self.statuses(&rendered.await?, &rows?))
        });
        statuses
    }

    /// The history table's rows as recorded (none when it does not exist).
    pub async fn history(&self) -> Result<Vec<HistoryRow>> {
        let mut conn = self.connect().await?;
        let rows = self.read_history(&mut conn).await;
        conn.close().await;
        rows
    }

    /// Applies pending migrations (up to and including `to`), each in its own
    /// transaction, or all in one with `single_transaction` (PostgreSQL and SQLite).
    pub async fn up(&self, to: Option<i64>, single_transaction: bool) -> Result<Vec<Done>> {
        self.up_report(to, single_transaction).await.into_result()
    }

    /// [`up`](Self::up), reporting what was applied before a failure too.
    pub async fn up_report(&self, to: Option<i64>, single_transaction: bool) -> Report {
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
    pub async fn up_dry_run(&self, to: Option<i64>, single_transaction: bool) -> Result<String> {
        if let Some(to) = to {
            self.registry.get(to)?;
        }
        // A new SQLite database: nothing to read, and nothing is created.
        let missing = crate::connection::missing_sqlite_file(&self.url)?;
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
            conn.close().await;
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
            let table = self.table();
            script.push_str(&table.create());
            script.push_str(";\n");
            script.push_str(&table.layout_insert());
            script.push_str(";\n\n");
        }
        script.push_str(&self.script(&plan, single_transaction));
        Ok(script)
    }

    /// Refuses to apply migrations with lint errors nobody acknowledged (unless
    /// `skip_lint`). Every migration is read (from `rendered`, all of them rendered up),
    /// so the lint knows which tables exist.
    fn check_lint(
        &self,
        rendered: &[(&'static Migration, Rendered)],
        plan: &[Planned],
    ) -> Result<()> {
        if self.options.skip_lint || plan.is_empty() {
            return Ok(());
        }
        let pending: HashSet<i64> = plan.iter().map(|p| p.migration.version()).collect();
        let options = lint::LintOptions {
            since: None,
            statement_lock_timeout: self.options.statement_lock_timeout.is_some(),
        };
        let subjects: Vec<lint::Subject> = rendered
            .iter()
            .map(|(m, r)| lint::Subject::new(m, r))
            .collect();
        let blocking: Vec<String> = lint::lint_subjects(&subjects, self.backend(), options)
            .into_iter()
            .filter(|f| f.blocks() && pending.contains(&f.version))
            .map(|f| {
                format!(
                    "{} {} ({}): {}: {}",
                    f.version, f.name, f.source, f.rule, f.message
                )
            })
            .collect();
        if blocking.is_empty() {
            Ok(())
        } else {
            Err(Error::Lint { findings: blocking })
        }
    }

    /// Dirty data migrations that `up` runs again rather than refusing: those whose
    /// backfills recorded how far they got, so that running them again continues there.
    async fn resumable(&self, conn: &mut Connection, rows: &[HistoryRow]) -> Result<HashSet<i64>> {
        let dirty_data = |version: i64| {
            self.registry
                .get(version)
                .is_ok_and(|m| m.kind() == Kind::Data)
        };
        if !rows
            .iter()
            .any(|r| r.state == RowState::Dirty && dirty_data(r.version))
        {
            return Ok(HashSet::new());
        }
        let with_position: HashSet<i64> = conn
            .strings(&self.table().backfill_versions())
            .await?
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        Ok(rows
            .iter()
            .filter(|r| r.state == RowState::Dirty && dirty_data(r.version))
            .map(|r| r.version)
            .filter(|v| with_position.contains(v))
            .collect())
    }

    fn plan_up(
        &self,
        rendered: &[(&'static Migration, Rendered)],
        rows: &[HistoryRow],
        resumable: &HashSet<i64>,
        to: Option<i64>,
        single_transaction: bool,
    ) -> Result<Vec<Planned>> {
        let statuses = self.statuses(rendered, rows);
        self.check_clean(&statuses, resumable)?;
        let missing: Vec<i64> = statuses
            .iter()
            .filter(|s| s.state == State::Missing)
            .map(|s| s.version)
            .collect();
        if !missing.is_empty() && !self.options.ignore_missing {
            return Err(Error::Missing {
                versions: missing,
                advice: "restore them, or pass --ignore-missing to go on without them".into(),
            });
        }
        let limit = to.unwrap_or(i64::MAX);
        let pending: Vec<&MigrationStatus> = statuses
            .iter()
            .filter(|s| {
                let resume = s.state == State::Dirty && resumable.contains(&s.version);
                (matches!(s.state, State::Pending | State::OutOfOrder) || resume)
                    && s.version <= limit
            })
            .collect();
        let pending_versions: HashSet<i64> = pending.iter().map(|s| s.version).collect();
        let out_of_order: Vec<i64> = pending
            .iter()
            .filter(|s| s.state == State::OutOfOrder)
            .map(|s| s.version)
            .collect();
        if !out_of_order.is_empty() && !self.options.allow_out_of_order {
            let newest = rows.iter().map(|r| r.version).max().unwrap_or_default();
            return Err(Error::OutOfOrder {
                versions: out_of_order,
                newest,
            });
        }
        if single_transaction {
            self.check_single_transaction(pending.iter().map(|s| s.version))?;
        }
        let mut plan = Vec::new();
        for &(migration, ref rendered) in rendered {
            if pending_versions.contains(&migration.version()) {
                let resume = resumable.contains(&migration.version());
                let mut ops = self.ops_for(migration, rendered);
                if resume {
                    // Its dirty row is there already.
                    ops.retain(|op| !matches!(op, Op::Insert(RowState::Dirty)));
                    tracing::warn!(
                        version = migration.version(),
                        "{}: resuming the interrupted data migration",
                        migration.name()
                    );
                }
                plan.push(Planned {
                    migration,
                    // Only the pending ones are copied.
                    rendered: rendered.clone(),
                    ops,
                    resume,
                });
            }
        }
        self.check_lock_mode(&plan, single_transaction)?;
        Ok(plan)
    }

    /// In transaction mode every migration must run in a transaction of its own: the lock
    /// lives only as long as one.
    fn check_lock_mode(&self, plan: &[Planned], single_transaction: bool) -> Result<()> {
        if self.options.lock != LockMode::Transaction {
            return Ok(());
        }
        if single_transaction {
            return Err(Error::InvalidArgument {
                message: "--single-transaction cannot be combined with --lock transaction".into(),
            });
        }
        match plan.iter().find(|p| !self.transactional(p.migration)) {
            Some(p) => Err(Error::InvalidArgument {
                message: format!(
                    "migration {} runs without a transaction, so --lock transaction cannot \
                     keep other runners out while it runs: apply it with --lock session on a \
                     direct connection (not through the pooler), then go on",
                    p.migration.reference()
                ),
            }),
            None => Ok(()),
        }
    }

    fn check_single_transaction(&self, versions: impl Iterator<Item = i64>) -> Result<()> {
        if self.backend() == Backend::MySql {
            return Err(Error::InvalidArgument {
                message:
                    "--single-transaction needs PostgreSQL or SQLite: MySQL commits DDL implicitly"
                        .into(),
            });
        }
        for version in versions {
            let m = self.registry.get(version)?;
            if !m.transaction() {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "--single-transaction cannot include migration {}: it runs without a transaction",
                        m.reference()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Refuses dirty (unless `resumable`) and modified migrations.
    fn check_clean(&self, statuses: &[MigrationStatus], resumable: &HashSet<i64>) -> Result<()> {
        for status in statuses {
            match status.state {
                State::Dirty | State::DirtyDown if !resumable.contains(&status.version) => {
                    return Err(Error::Dirty {
                        version: status.version,
                        name: status.name.clone(),
                        down: status.state == State::DirtyDown,
                    });
                }
                State::Modified => {
                    return Err(Error::Modified {
                        migration: self.registry.get(status.version)?.reference(),
                        which: status.modified.join(" and "),
                    });
                }
                State::RenderingChanged if self.options.strict_checksums => {
                    return Err(Error::Modified {
                        migration: self.registry.get(status.version)?.reference(),
                        which: "sql (only as sea-query renders it, --strict-checksums)".into(),
                    });
                }
                State::RenderingChanged => {
                    tracing::warn!(
                        version = status.version,
                        "{} {}: the SQL sea-query renders for it is spelled differently now than \
                         when it was applied (its code and raw SQL are unchanged: a dependency \
                         update); going on. `migrate repair --version {}` records the new \
                         spelling; --strict-checksums refuses instead",
                        status.version,
                        status.name,
                        status.version
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a migration runs in a transaction of its own on this backend.
    fn transactional(&self, m: &Migration) -> bool {
        m.transaction() && !self.backend().ddl_commits_implicitly()
    }

    /// The ops that run `m` in `rendered.direction`: its body wrapped in a transaction with
    /// its history write, or, without one, between a dirty mark and the final history write.
    fn ops_for(&self, m: &Migration, rendered: &Rendered) -> Vec<Op> {
        let mut body: Vec<Op> = match (m.kind(), rendered.direction) {
            (Kind::Data, Direction::Up) => vec![Op::Data],
            _ => (0..rendered.statements.len()).map(Op::Statement).collect(),
        };
        if m.kind() == Kind::Data && rendered.direction == Direction::Down {
            body.push(Op::ForgetBackfills);
        }
        // (history write inside a transaction, dirty mark before, final write after)
        let (record, mark_dirty, finish) = match rendered.direction {
            Direction::Up => (
                Op::Insert(RowState::Applied),
                Op::Insert(RowState::Dirty),
                Op::MarkApplied,
            ),
            Direction::Down => (Op::DeleteRow, Op::MarkReverting, Op::DeleteRow),
        };
        let mut ops = Vec::with_capacity(body.len() + 5);
        if self.transactional(m) {
            ops.push(Op::Begin);
            if self.options.lock == LockMode::Transaction {
                ops.push(Op::Claim);
            }
            ops.extend(body);
            ops.push(record);
            ops.push(Op::Commit);
        } else {
            ops.push(mark_dirty);
            // On MySQL a transaction still makes a migration's data changes all or nothing
            // while it has no DDL. Each DDL statement commits what came before it and runs
            // on its own, so a migration mixing both can fail half done: its dirty row says
            // so (and the lint's mysql_mixed_schema_and_data is an error).
            if m.transaction() {
                ops.push(Op::Begin);
            }
            ops.extend(body);
            if m.transaction() {
                ops.push(Op::Commit);
            }
            ops.push(finish);
        }
        ops
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
        conn.close().await;
        let plan = self.plan_down(&rows?, target)?;
        Ok(self.script(&plan, false))
    }

    /// Under the lock: the history, then the plan of `down` to `target`.
    async fn planned_down(
        &self,
        conn: &mut Connection,
        lock: &RunLock,
        target: DownTarget,
    ) -> Result<Vec<Planned>> {
        let rows = self.prepared_history(conn, lock, false).await?;
        self.plan_down(&rows.unwrap_or_default(), target)
    }

    fn plan_down(&self, rows: &[HistoryRow], target: DownTarget) -> Result<Vec<Planned>> {
        let statuses = self.statuses(&self.rendered_up()?, rows);
        self.check_clean(&statuses, &HashSet::new())?;
        let mut applied: Vec<&HistoryRow> = rows.iter().collect();
        applied.sort_by_key(|r| std::cmp::Reverse(r.version));
        let selected: Vec<&HistoryRow> = match target {
            DownTarget::Steps(0) => {
                return Err(Error::InvalidArgument {
                    message: "--steps must be at least 1".into(),
                });
            }
            DownTarget::Steps(n) => applied.into_iter().take(n as usize).collect(),
            DownTarget::To(0) => applied,
            DownTarget::To(version) => {
                if !rows.iter().any(|r| r.version == version) {
                    return Err(Error::NotApplied { version });
                }
                applied
                    .into_iter()
                    .filter(|r| r.version > version)
                    .collect()
            }
        };
        let missing: Vec<i64> = selected
            .iter()
            .filter(|r| self.registry.get(r.version).is_err())
            .map(|r| r.version)
            .collect();
        if !missing.is_empty() {
            let advice = format!(
                "their downs are in that code: restore it to revert them, or forget their history \
                 rows with `migrate repair --version {} --mark pending` (what they created stays)",
                missing[0]
            );
            return Err(Error::Missing {
                versions: missing,
                advice,
            });
        }
        // Render every down first: refuse before touching the database.
        let plan = selected
            .into_iter()
            .map(|row| {
                let migration = self.registry.get(row.version)?;
                let rendered = render(migration, self.backend(), Direction::Down)?;
                let ops = self.ops_for(migration, &rendered);
                Ok(Planned {
                    migration,
                    rendered,
                    ops,
                    resume: false,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.check_lock_mode(&plan, false)?;
        Ok(plan)
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

    /// Records every registered migration up to `version` as applied, without running
    /// it: for a database that already has that schema. Refuses on a database with history.
    pub async fn baseline(&self, version: i64) -> Result<Vec<i64>> {
        if version < 1 {
            return Err(Error::InvalidArgument {
                message: "--version must be a positive version".into(),
            });
        }
        self.locked(true, async |conn, lock| {
            self.guarded(conn, lock, async |conn| {
                let table = self.table();
                if !self
                    .prepare_history(conn, true)
                    .await?
                    .unwrap_or_default()
                    .is_empty()
                {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "the history table `{}` already has rows: baseline is for a database shiplap has not migrated yet",
                            self.options.table
                        ),
                    });
                }
                let mut recorded = Vec::new();
                for (m, rendered) in self.rendered_up()? {
                    if m.version() > version {
                        break;
                    }
                    let row = self.row(m, &rendered, RowState::Applied, 0);
                    conn.execute(&table.insert(&row)).await?;
                    recorded.push(m.version());
                }
                Ok(recorded)
            })
            .await
        })
        .await
    }

    /// Clears rows of migrations that did not finish (so that `up` runs them again, data
    /// migrations from their first row) and accepts the current checksums of changed ones,
    /// for every row or only `version`; with `mark`, records one `version` as applied or
    /// pending whatever its row says. Run it after a person has checked the database; it
    /// says what it changed. A down that did not finish needs `mark`: only a person can
    /// tell whether its objects are gone.
    pub async fn repair(&self, version: Option<i64>, mark: Option<Mark>) -> Result<Vec<Repaired>> {
        if mark.is_some() && version.is_none() {
            return Err(Error::InvalidArgument {
                message: "--mark needs --version: it marks one migration".into(),
            });
        }
        self.locked(false, async |conn, lock| {
            self.guarded(conn, lock, async |conn| {
                let table = self.table();
                let rows = self
                    .prepare_history(conn, false)
                    .await?
                    .unwrap_or_default();
                let rendered = self.rendered_up()?;
                let current = |version: i64| {
                    rendered
                        .iter()
                        .find(|(m, _)| m.version() == version)
                        .ok_or(Error::UnknownVersion { version })
                };
                if let (Some(v), Some(mark)) = (version, mark) {
                    let row = rows.iter().find(|r| r.version == v);
                    let (name, action) = match mark {
                        Mark::Applied => {
                            let (m, r) = current(v)?;
                            let sql = match row {
                                Some(_) => table.update_checksums(
                                    v,
                                    m.source_checksum(),
                                    r.checksum().unwrap_or_default(),
                                    r.raw_checksum(),
                                ),
                                None => table.insert(&self.row(m, r, RowState::Applied, 0)),
                            };
                            conn.execute(&sql).await?;
                            (
                                m.name().to_owned(),
                                "marked applied (nothing ran): `down` can revert it",
                            )
                        }
                        Mark::Pending => {
                            let Some(row) = row else {
                                return Err(no_row(v));
                            };
                            conn.execute(&table.delete(v)).await?;
                            conn.execute(&table.backfill_delete(v)).await?;
                            (
                                row.name.clone(),
                                "marked pending (its row and backfill positions deleted, nothing ran): \
                                 `up` will run it from the start",
                            )
                        }
                    };
                    return Ok(vec![Repaired {
                        version: v,
                        name,
                        action,
                    }]);
                }
                if let Some(v) = version
                    && !rows.iter().any(|r| r.version == v)
                {
                    return Err(no_row(v));
                }
                let statuses: Vec<MigrationStatus> = self
                    .statuses(&rendered, &rows)
                    .into_iter()
                    .filter(|s| version.is_none_or(|v| v == s.version))
                    .collect();
                // Refuse before changing anything.
                for status in &statuses {
                    match status.state {
                        State::DirtyDown => {
                            return Err(Error::Dirty {
                                version: status.version,
                                name: status.name.clone(),
                                down: true,
                            });
                        }
                        State::Missing if version.is_some() => {
                            return Err(Error::InvalidArgument {
                                message: format!(
                                    "migration {} {} is applied but missing from the code: there is \
                                     nothing to repair against; `migrate repair --version {} --mark \
                                     pending` forgets its row (what it created stays)",
                                    status.version, status.name, status.version
                                ),
                            });
                        }
                        _ => {}
                    }
                }
                let mut changes = Vec::new();
                for status in statuses {
                    let action = match status.state {
                        State::Dirty => {
                            conn.execute(&table.delete(status.version)).await?;
                            conn.execute(&table.backfill_delete(status.version)).await?;
                            "cleared dirty row (and any backfill positions): `up` will run this \
                             migration again from the start"
                        }
                        State::Modified | State::RenderingChanged => {
                            let (m, r) = current(status.version)?;
                            conn.execute(&table.update_checksums(
                                status.version,
                                m.source_checksum(),
                                r.checksum().unwrap_or_default(),
                                r.raw_checksum(),
                            ))
                            .await?;
                            "accepted the current checksums"
                        }
                        _ => continue,
                    };
                    changes.push(Repaired {
                        version: status.version,
                        name: status.name,
                        action,
                    });
                }
                Ok(changes)
            })
            .await
        })
        .await
    }

    /// Drops every table (and view, sequence and enum type) in the database's current
    /// schema, then applies every migration. Destroys all data: for development only.
    pub async fn fresh_destroying_all_data(&self) -> Result<Vec<Done>> {
        if self.options.lock == LockMode::Transaction {
            return Err(Error::InvalidArgument {
                message: "fresh drops everything while it holds the lock: it needs --lock \
                          session, on a direct connection (not through a pooler)"
                    .into(),
            });
        }
        self.locked(true, async |conn, lock| {
            drop_everything(conn).await?;
            self.prepared_history(conn, lock, true).await?;
            let plan = self.plan_up(&self.rendered_up()?, &[], &HashSet::new(), None, false)?;
            self.run(conn, lock, plan, false).await.into_result()
        })
        .await
    }

    fn row(
        &self,
        m: &Migration,
        rendered: &Rendered,
        state: RowState,
        duration_ms: i64,
    ) -> HistoryRow {
        HistoryRow {
            version: m.version(),
            name: m.name().to_owned(),
            source_checksum: m.source_checksum().to_owned(),
            sql_checksum: rendered.checksum().unwrap_or_default().to_owned(),
            applied_at: now_rfc3339(),
            duration_ms,
            state,
            shiplap_version: env!("CARGO_PKG_VERSION").to_owned(),
            rows_affected: None,
            raw_checksum: rendered.raw_checksum().map(str::to_owned),
        }
    }

    fn begin(&self) -> &'static str {
        match self.backend() {
            // Take the write lock at once, not at the first write.
            Backend::Sqlite => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        }
    }

    /// The SQL of one op (`None` for a data migration's Rust code).
    fn op_sql(&self, op: Op, p: &Planned, duration_ms: i64, rows: Option<u64>) -> Option<String> {
        let table = self.table();
        let version = p.migration.version();
        Some(match op {
            Op::Begin => self.begin().to_owned(),
            Op::Claim => crate::lock::claim(
                &self.options.table,
                &table.quoted(),
                version,
                p.rendered.direction == Direction::Up,
                self.options.lock_timeout,
                self.options.statement_lock_timeout,
            ),
            Op::Commit => "COMMIT".to_owned(),
            Op::Statement(i) => p.rendered.statements[i].sql.clone(),
            Op::Data => return None,
            Op::Insert(state) => table.insert(&HistoryRow {
                rows_affected: rows.map(rows_i64),
                ..self.row(p.migration, &p.rendered, state, duration_ms)
            }),
            Op::MarkApplied => table.mark_applied(
                version,
                p.migration.source_checksum(),
                p.rendered.checksum().unwrap_or_default(),
                p.rendered.raw_checksum(),
                duration_ms,
                rows.map(rows_i64),
            ),
            Op::ForgetBackfills => table.backfill_delete(version),
            Op::MarkReverting => table.mark_reverting(version),
            Op::DeleteRow => table.delete(version),
        })
    }

    /// The ops of a plan, as one transaction when `single`.
    fn ops(plan: &[Planned], single: bool) -> Vec<(usize, Op)> {
        let mut ops: Vec<(usize, Op)> = Vec::new();
        for (i, p) in plan.iter().enumerate() {
            ops.extend(
                p.ops
                    .iter()
                    .filter(|op| !single || !matches!(op, Op::Begin | Op::Commit))
                    .map(|op| (i, *op)),
            );
        }
        if single && !plan.is_empty() {
            ops.insert(0, (0, Op::Begin));
            ops.push((plan.len() - 1, Op::Commit));
        }
        ops
    }

    fn script(&self, plan: &[Planned], single: bool) -> String {
        let mut out = String::new();
        let mut current = usize::MAX;
        for (i, op) in Self::ops(plan, single) {
            let p = &plan[i];
            if i != current && !(single && matches!(op, Op::Begin)) {
                current = i;
                out.push_str(&format!(
                    "\n-- {} {} ({}, {})\n",
                    p.migration.version(),
                    p.migration.name(),
                    p.rendered.direction.name(),
                    p.migration.location()
                ));
            }
            match self.op_sql(op, p, 0, None) {
                Some(sql) => {
                    out.push_str(sql.trim_end_matches(';'));
                    out.push_str(";\n");
                }
                None => {
                    out.push_str(
                        "-- runs the data migration's Rust code: its SQL is known only when it runs\n",
                    );
                    for line in p.migration.doc().lines() {
                        out.push_str(&format!("--   {line}\n").replace("--   \n", "--\n"));
                    }
                    if !p.migration.transaction() {
                        out.push_str(
                            "-- (no transaction: its backfills commit batch by batch and resume after an interruption)\n",
                        );
                    }
                }
            }
        }
        if out.is_empty() {
            out.push_str("-- nothing to do\n");
        }
        out.trim_start().to_owned()
    }

    /// Runs a plan: what was done, and the error that stopped it. In one transaction
    /// (`single`), a failure rolls back everything, so nothing was done.
    async fn run(
        &self,
        conn: &mut Connection,
        lock: &RunLock,
        plan: Vec<Planned>,
        single: bool,
    ) -> Report {
        let mut done: Vec<Done> = Vec::with_capacity(plan.len());
        let result = self.run_plan(conn, lock, &plan, single, &mut done).await;
        if result.is_err() && single {
            done.clear();
        }
        Report {
            done,
            error: result.err(),
        }
    }

    async fn run_plan(
        &self,
        conn: &mut Connection,
        lock: &RunLock,
        plan: &[Planned],
        single: bool,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        let mut in_transaction = false;
        let mut dirty = false;
        let mut started = Instant::now();
        let mut current = usize::MAX;
        let mut rows = None;
        // A migration whose batch failed: it runs again op by op.
        let mut alone = None;
        let ops = Self::ops(plan, single);
        let mut n = 0;
        while n < ops.len() {
            let (i, op) = ops[n];
            let p = &plan[i];
            if i != current {
                lock.verify(conn, &format!("migration {}", p.migration.reference()))
                    .await?;
                current = i;
                started = Instant::now();
                dirty = p.resume;
                rows = None;
                let group = if single || alone == Some(i) {
                    0
                } else {
                    plan[i..].iter().take_while(|p| batchable(p)).count()
                };
                if group > 0 {
                    let applied = self
                        .run_batches(conn, lock, &plan[i..i + group], done)
                        .await?;
                    n += plan[i..i + applied]
                        .iter()
                        .map(|p| p.ops.len())
                        .sum::<usize>();
                    if applied < group {
                        alone = Some(i + applied);
                    }
                    current = usize::MAX;
                    continue;
                }
            }
            match self
                .run_op(conn, lock, p, op, started, dirty, in_transaction, rows)
                .await
            {
                Ok(Some(affected)) => rows = Some(affected),
                Ok(None) => {}
                Err(e) => {
                    if in_transaction {
                        // The failure is what matters; a failed rollback ends the connection
                        // anyway. (A failed COMMIT has ended the transaction already.)
                        self.end_failed_transaction(conn).await;
                    }
                    return Err(e);
                }
            }
            match op {
                Op::Begin => in_transaction = true,
                Op::Commit => in_transaction = false,
                Op::Insert(RowState::Dirty) | Op::MarkReverting => dirty = true,
                _ => {}
            }
            // A migration is done when its last op has run (in one transaction, a failure
            // later still rolls it back, and the error is returned instead of this list).
            n += 1;
            if ops.get(n).is_none_or(|(next, _)| *next != i) {
                done.push(self.finished(p, millis(started.elapsed()), rows));
            }
        }
        Ok(())
    }

    /// Runs consecutive transactional SQL migrations as scripts sent at once: each
    /// migration its own batch (`BEGIN`, its statements, its history write, `COMMIT`: one
    /// commit), then a marker row saying it is done. The database works through a script
    /// without waiting for us between migrations, and each is reported done as its marker
    /// arrives. Returns how many were applied. When that is fewer than `group`, the next
    /// one failed and was rolled back: the caller runs it again one statement at a time,
    /// which names the statement that fails (the script's error cannot say which it was).
    async fn run_batches(
        &self,
        conn: &mut Connection,
        lock: &RunLock,
        group: &[Planned],
        done: &mut Vec<Done>,
    ) -> Result<usize> {
        let mut applied = 0;
        while applied < group.len() {
            let next = format!("migration {}", group[applied].migration.reference());
            lock.verify(conn, &next).await?;
            let script = self.script_of(&group[applied..]);
            let (ran, culprit) = self
                .run_script(conn, &group[applied..applied + script.count], &script, done)
                .await?;
            applied += ran;
            if ran < script.count {
                // The server refused the whole script (a syntax error) because of a
                // later migration: the ones before it are fine, and run as usual.
                if let Some(k) = culprit.filter(|k| *k > ran) {
                    let before = &group[applied..applied + k - ran];
                    applied += Box::pin(self.run_batches(conn, lock, before, done)).await?;
                }
                break;
            }
        }
        Ok(applied)
    }

    /// The script of the first migrations of `group` (at least one), up to about
    /// [`SCRIPT_BYTES`]. SQLite copies the rest of the text each time it prepares a
    /// statement, so one script of a thousand migrations would cost time quadratic in
    /// its length.
    ///
    /// Each migration is `BEGIN`, a note of when it began, its statements, its history
    /// write (whose time and duration the database fills in), `COMMIT`, then a marker row
    /// ([`MARKER`]) with its duration by the database's clock ([`ELAPSED`]).
    fn script_of(&self, group: &[Planned]) -> Script {
        let table = self.table();
        let backend = self.backend();
        let mut script = Script {
            text: String::new(),
            chars: 0,
            count: 0,
            starts: Vec::new(),
        };
        if backend == Backend::Sqlite {
            script.push(&format!("{SQLITE_CLOCK};\n"));
        }
        let elapsed = history::elapsed_ms(backend).unwrap_or_else(|| "0".into());
        for (i, p) in group.iter().enumerate() {
            if i > 0 && script.text.len() >= SCRIPT_BYTES {
                break;
            }
            script.starts.push(script.chars);
            for &op in &p.ops {
                let sql = match op {
                    Op::Insert(state) => {
                        table.insert_timed(&self.row(p.migration, &p.rendered, state, 0))
                    }
                    _ => self.op_sql(op, p, 0, None).unwrap_or_default(),
                };
                // On a line of its own, so that a statement ending in a `--` comment
                // does not swallow its terminator.
                script.push(sql.trim_end_matches(';'));
                script.push("\n;\n");
                if let (Op::Begin, Some(began)) = (op, history::began(backend)) {
                    script.push(&format!("{began};\n"));
                }
            }
            script.push(&format!(
                "SELECT CAST({i} AS BIGINT) AS {MARKER}, {elapsed} AS {ELAPSED};\n"
            ));
            script.count += 1;
        }
        script
    }

    /// Runs `script`, the script of `group`; returns how many of them were applied, and
    /// rolls back the one that failed, if any. When the server refused the whole script
    /// for a syntax error, also which migration holds it (an index into `group`).
    async fn run_script(
        &self,
        conn: &mut Connection,
        group: &[Planned],
        script: &Script,
        done: &mut Vec<Done>,
    ) -> Result<(usize, Option<usize>)> {
        // -vv: each statement, as when they run one at a time (the whole script, history
        // writes and markers included, at the trace level).
        if tracing::enabled!(tracing::Level::DEBUG) {
            for p in group {
                let count = p.rendered.statements.len();
                for (index, statement) in p.rendered.statements.iter().enumerate() {
                    tracing::debug!(
                        version = p.migration.version(),
                        statement = index + 1,
                        of = count,
                        "running (sent with {} migration(s) as one script): {}",
                        group.len(),
                        statement.sql
                    );
                }
            }
        }
        tracing::trace!(migrations = group.len(), "the script:\n{}", script.text);
        let mut applied = 0;
        let failure = {
            let mut results = conn.markers(&script.text);
            loop {
                let running = &group[applied.min(group.len() - 1)];
                let next = still_running(results.next(), self.options.progress_every, |time| {
                    tracing::warn!(
                        version = running.migration.version(),
                        "{}: still running after {:.1}s ({} statements sent as one batch)",
                        running.migration.name(),
                        time.as_secs_f64(),
                        running.rendered.statements.len()
                    );
                })
                .await;
                match next {
                    None => break None,
                    Some(Ok(Some(marker))) => {
                        if let Some(i) = usize::try_from(marker.done)
                            .ok()
                            .filter(|i| *i < group.len())
                        {
                            let ms = marker.ms.unwrap_or_default();
                            done.push(self.finished(&group[i], ms, None));
                            applied = i + 1;
                        }
                    }
                    Some(Ok(None)) => {}
                    Some(Err(e)) => break Some(e),
                }
            }
        };
        let Some(e) = failure else {
            return Ok((applied, None));
        };
        if crate::error::connection_lost(&e) {
            let running = &group[applied.min(group.len() - 1)];
            return Err(Error::ConnectionLost {
                migration: running.migration.reference(),
                direction: running.rendered.direction.name(),
                source: Box::new(e),
            });
        }
        let culprit = (applied == 0).then(|| script.refused_for(&e)).flatten();
        tracing::debug!(
            version = group
                .get(culprit.unwrap_or(applied))
                .map(|p| p.migration.version()),
            "the script failed ({e}); running that migration again one statement at a time"
        );
        self.end_failed_transaction(conn).await;
        Ok((applied, culprit))
    }

    /// After a failed script: rolls back the migration's transaction if it is still open.
    /// None is when the server refused the script before running it, or when `COMMIT`
    /// itself failed; a `ROLLBACK` then would only earn a warning from PostgreSQL.
    async fn end_failed_transaction(&self, conn: &mut Connection) {
        if self.backend() == Backend::Postgres {
            let aborted = match conn.execute("SELECT 1").await {
                Ok(_) => false,
                Err(e) => e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|code| code == "25P02"),
            };
            if !aborted {
                return;
            }
        }
        // SQLite says nothing when there is no transaction to roll back.
        let _ = conn.execute("ROLLBACK").await;
    }

    /// Runs one op of `p`; a data migration's function returns the rows it affected.
    #[allow(clippy::too_many_arguments)] // the run's state, passed rather than stored
    async fn run_op(
        &self,
        conn: &mut Connection,
        lock: &RunLock,
        p: &Planned,
        op: Op,
        started: Instant,
        dirty: bool,
        in_transaction: bool,
        rows: Option<u64>,
    ) -> Result<Option<u64>> {
        if let Op::Data = op {
            let MigrationFn::Data(f) = p.migration.function() else {
                return Ok(None);
            };
            let reporter = Arc::new(Reporter::new(self.options.progress, p.migration));
            let mut ctx = conn.data_context().with_run(RunInfo {
                migration: p.migration,
                in_transaction,
                history: self.table(),
                reporter: Arc::clone(&reporter),
                pause: self.options.backfill_pause,
                lock: lock.check(),
            });
            // A panic in the migration's code is its failure, not the host's.
            let result = match crate::panic::catch_async(f(&mut ctx)).await {
                Ok(result) => result,
                Err(message) => Err(Error::Data {
                    message: format!("it panicked: {message}"),
                }),
            };
            let affected = ctx.rows_affected();
            return match result {
                Ok(()) => {
                    reporter.finish(affected, started.elapsed());
                    Ok(Some(affected))
                }
                Err(source) => Err(Error::DataMigration {
                    migration: p.migration.reference(),
                    dirty,
                    source: Box::new(source),
                }),
            };
        }
        let sql = self
            .op_sql(op, p, millis(started.elapsed()), rows)
            .unwrap_or_default();
        let Op::Statement(index) = op else {
            return conn
                .execute(&sql)
                .await
                .map(|_| None)
                .map_err(|source| match op {
                    Op::Claim if lock_wait_timed_out(&source) => self.lock_wait_error(source),
                    _ => Error::Bookkeeping {
                        migration: p.migration.reference(),
                        direction: p.rendered.direction.name(),
                        what: match op {
                            Op::Begin => "BEGIN",
                            Op::Claim => "its claim under the run lock (--lock transaction)",
                            Op::Commit => "COMMIT",
                            Op::ForgetBackfills => "forgetting its backfill positions",
                            _ => "its history write",
                        },
                        dirty,
                        details: crate::error::details(&source, &sql),
                        source: Box::new(source),
                    },
                });
        };
        let count = p.rendered.statements.len();
        tracing::debug!(
            version = p.migration.version(),
            statement = index + 1,
            of = count,
            "running: {sql}"
        );
        let result = still_running(conn.execute(&sql), self.options.progress_every, |elapsed| {
            tracing::warn!(
                version = p.migration.version(),
                statement = index + 1,
                of = count,
                "{}: statement {}/{count} still running after {:.1}s",
                p.migration.name(),
                index + 1,
                elapsed.as_secs_f64()
            );
        })
        .await;
        result.map(|_| None).map_err(|source| Error::Statement {
            migration: p.migration.reference(),
            direction: p.rendered.direction.name(),
            index: index + 1,
            count,
            details: crate::error::details(&source, &sql),
            sql,
            dirty,
            source: Box::new(source),
        })
    }

    /// Logs that `p` is done, and says so.
    fn finished(&self, p: &Planned, duration_ms: i64, rows: Option<u64>) -> Done {
        let entry = Done {
            version: p.migration.version(),
            name: p.migration.name(),
            direction: p.rendered.direction,
            statements: p.rendered.statements.len(),
            rows,
            duration_ms,
        };
        tracing::info!(
            version = entry.version,
            name = entry.name,
            duration_ms = entry.duration_ms,
            statements = entry.statements,
            "{} {}",
            if entry.direction == Direction::Up {
                "applied"
            } else {
                "reverted"
            },
            entry.name
        );
        entry
    }
}

/// The longest history table name: with `_backfill` appended, PostgreSQL's limit of 63
/// bytes for a name (MySQL's is 64), so that the two tables never collapse into one.
const LONGEST_TABLE: usize = 63 - "_backfill".len();

/// Refuses a history table name that some backend would take otherwise than written.
fn check_table_name(table: &str) -> Result<()> {
    let problem = if table.is_empty() {
        "it is empty".to_owned()
    } else if table.contains('.') {
        "a schema-qualified name is not supported: name the table alone, and choose the \
         schema with the connection (PostgreSQL's search_path, e.g. `?options=-c%20search_path%3Dops` \
         in the URL; on MySQL the URL's database)"
            .to_owned()
    } else if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || table.starts_with(|c: char| c.is_ascii_digit())
    {
        "use letters, digits and `_` only, not starting with a digit (quotes and backslashes \
         are read differently by each backend)"
            .to_owned()
    } else if table.len() > LONGEST_TABLE {
        format!(
            "it is {} bytes long: at most {LONGEST_TABLE}, so that `{table}_backfill` fits \
             PostgreSQL's 63",
            table.len()
        )
    } else {
        return Ok(());
    };
    Err(Error::InvalidArgument {
        message: format!("--table `{table}`: {problem}"),
    })
}

/// Migrations sent to the database as one script.
struct Script {
    text: String,
    /// The length of `text` in characters.
    chars: usize,
    /// How many migrations it holds.
    count: usize,
    /// Where each migration's text starts, in characters from the start of the script.
    starts: Vec<usize>,
}

impl Script {
    fn push(&mut self, piece: &str) {
        self.chars += piece.chars().count();
        self.text.push_str(piece);
    }

    /// Which migration holds the syntax error for which the server refused the script
    /// (PostgreSQL parses a whole script before running any of it, and says where).
    fn refused_for(&self, error: &sqlx::Error) -> Option<usize> {
        let pg = error
            .as_database_error()?
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
        if pg.code() != "42601" {
            return None;
        }
        let sqlx::postgres::PgErrorPosition::Original(position) = pg.position()? else {
            return None;
        };
        // Positions count characters from 1.
        let at = position.checked_sub(1)?;
        self.starts.iter().rposition(|start| *start <= at)
    }
}

/// Whether PostgreSQL gave up waiting for a lock (`lock_timeout`).
fn lock_wait_timed_out(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55P03")
}

/// Whether the error is a migration's claim failing in transaction mode: another runner
/// applied or reverted it meanwhile.
fn taken(error: &Error) -> bool {
    let source = match error {
        Error::Bookkeeping { source, .. } | Error::Statement { source, .. } => source,
        _ => return false,
    };
    source
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == TAKEN)
}

/// About how long a script of migrations sent at once gets (see `Migrator::script_of`).
const SCRIPT_BYTES: usize = 8 * 1024;

/// Whether `p` can run in a batch: a transactional SQL migration (its ops begin a
/// transaction and run no Rust code).
fn batchable(p: &Planned) -> bool {
    matches!(p.ops.first(), Some(Op::Begin)) && !p.ops.iter().any(|op| matches!(op, Op::Data))
}

/// Awaits `work`, calling `report` with the time elapsed every `every` until it is done.
async fn still_running<T>(
    work: impl Future<Output = T>,
    every: Duration,
    report: impl Fn(Duration),
) -> T {
    let every = every.max(Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval_at(started + every, every);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => report(started.elapsed()),
        }
    }
}

fn rows_i64(rows: u64) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Drops every table, view, sequence and enum type of the current schema.
async fn drop_everything(conn: &mut Connection) -> Result<()> {
    match conn.backend() {
        Backend::Sqlite => {
            let objects = conn
                .strings(
                    "SELECT type || ' \"' || replace(name, '\"', '\"\"') || '\"' FROM sqlite_master \
                     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'",
                )
                .await?;
            conn.execute("PRAGMA foreign_keys = OFF").await?;
            for object in objects {
                conn.execute(&format!("DROP {object}")).await?;
            }
            conn.execute("PRAGMA foreign_keys = ON").await?;
        }
        Backend::Postgres => {
            for (kind, query) in [
                (
                    "VIEW",
                    "SELECT quote_ident(viewname) FROM pg_views WHERE schemaname = current_schema()",
                ),
                (
                    "TABLE",
                    "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()",
                ),
                (
                    "SEQUENCE",
                    "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = current_schema()",
                ),
                (
                    "TYPE",
                    "SELECT quote_ident(t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                          WHERE n.nspname = current_schema() AND t.typtype = 'e'",
                ),
            ] {
                let names = conn.strings(query).await?;
                if !names.is_empty() {
                    conn.execute(&format!(
                        "DROP {kind} IF EXISTS {} CASCADE",
                        names.join(", ")
                    ))
                    .await?;
                }
            }
        }
        Backend::MySql => {
            let objects = conn
                .strings(
                    "SELECT CAST(CONCAT(IF(table_type = 'VIEW', 'VIEW', 'TABLE'), ' `', REPLACE(table_name, '`', '``'), '`') AS CHAR) \
                     FROM information_schema.tables WHERE table_schema = DATABASE()",
                )
                .await?;
            conn.execute("SET FOREIGN_KEY_CHECKS = 0").await?;
            for object in objects {
                conn.execute(&format!("DROP {object}")).await?;
            }
            conn.execute("SET FOREIGN_KEY_CHECKS = 1").await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reports_a_long_statement_until_it_is_done() {
        let reports = Mutex::new(Vec::new());
        let work = async {
            tokio::time::sleep(Duration::from_millis(3500)).await;
            "done"
        };
        let out = still_running(work, Duration::from_secs(1), |elapsed| {
            reports.lock().unwrap().push(elapsed.as_secs());
        })
        .await;
        assert_eq!(out, "done");
        assert_eq!(*reports.lock().unwrap(), [1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn says_nothing_about_a_quick_statement() {
        let reports = Mutex::new(0);
        still_running(
            tokio::time::sleep(Duration::from_millis(999)),
            Duration::from_secs(1),
            |_| *reports.lock().unwrap() += 1,
        )
        .await;
        assert_eq!(*reports.lock().unwrap(), 0);
    }
}
