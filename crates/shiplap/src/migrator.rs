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
use crate::history::{HistoryTable, LAYOUT, Layout, SQLITE_CLOCK, Shape};
use crate::lint;
use crate::lock::{LockMode, RunLock, TAKEN};
use crate::progress::{ProgressOutput, Reporter};
use crate::{
    Backend, DatabaseUrl, Direction, Error, HistoryRow, Kind, Migration, MigrationFn,
    MigrationStatus, Registry, Rendered, Result, RowState, State, diff, render,
};

mod history_table;
mod plan;
mod repair;
mod run;

use history_table::{check_table_name, lock_wait_timed_out};
use plan::{Op, Planned, batchable};
pub use repair::{Mark, Repaired};
use run::taken;

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

/// Applies, reverts and inspects the migrations of a [`Registry`] on one database.
#[derive(Debug, Clone)]
pub struct Migrator {
    registry: Registry,
    url: DatabaseUrl,
    options: Options,
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
