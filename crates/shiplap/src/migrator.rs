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

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::connection::{Connection, missing_sqlite_file};
use crate::backend::{mysql, postgres};
use crate::database_url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::history::{HistoryRow, HistoryTable};
use crate::lock::{LockMode, RunLock};
use crate::migration::{Event, Migration, Role};
use crate::registry::Registry;
use crate::render::{Direction, Rendered};
use crate::status::{MigrationStatus, RepeatableStatus};

mod backups;
mod callbacks;
mod database;
mod execute;
mod history_table;
mod import_history;
mod options;
mod plan;
mod repair;
mod runs;
mod script;
mod sizes;
mod verify;

pub use backups::Backup;
use database::Target;
pub use database::{Database, Lent};
use execute::taken;
use history_table::check_table_name;
pub use import_history::ImportedRow;
pub use options::{Guards, Options, Up};
pub use repair::{Mark, Repaired};
use runs::{REPEATABLE, Runs};
pub use verify::{Drift, Verified, VerifyOutcome};

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
    /// A versioned migration, a repeatable one or a seed (then `version` is 0).
    pub role: Role,
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

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
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
            self.options.lease,
        )
        .await
        {
            Ok(lock) => lock,
            Err(e) => {
                self.finish(conn, true).await;
                return T::failure(e);
            }
        };
        let mut heartbeat = match lock.lease() {
            Some(_) => self.heartbeat_connection(sqlite_file.is_some()).await,
            None => None,
        };
        let outcome = match (lock.lease(), heartbeat.as_mut()) {
            (Some(lease), Some(beat)) => self.beating(lease, beat, f(&mut conn, &lock)).await,
            _ => f(&mut conn, &lock).await,
        };
        let mut failed = outcome.failed();
        // A lease is released on the heartbeat's connection: the run's may be broken.
        let released = match heartbeat {
            Some(mut beat) => {
                let released = lock.release(&mut beat).await;
                self.finish(beat, released.is_err()).await;
                released
            }
            None => lock.release(&mut conn).await,
        };
        match released {
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
        Ok(self.status_with_repeatables().await?.0)
    }

    /// Every migration's state, and every repeatable migration's ([`RepeatableStatus`]),
    /// from one connection and one read of the history. Reads only.
    pub async fn status_with_repeatables(
        &self,
    ) -> Result<(Vec<MigrationStatus>, Vec<RepeatableStatus>)> {
        let rendered = self.render_up_meanwhile();
        let mut conn = self.connect().await?;
        let read = async {
            let rows = self.read_history(&mut conn).await?;
            let runs = match self.registry.repeatables().is_empty() {
                true => Vec::new(),
                false => self.latest_runs(&mut conn, REPEATABLE).await?,
            };
            Ok::<_, Error>((rows, runs))
        }
        .await;
        // Closing is the SQLite worker thread's job: it can go on while we compare.
        let failed = read.is_err();
        let (_, statuses) = tokio::join!(self.finish(conn, failed), async {
            let (rows, runs) = read?;
            Ok((
                self.statuses(&rendered.await?, &rows),
                self.repeatable_statuses(&rows, &runs)?,
            ))
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
        if let Some(to) = up.to
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
            let mut report = self.up_locked(conn, lock, &rendered, up).await;
            // After the run: `after_run` when it applied something, `on_error` when it
            // failed (then the report's error stands, whatever the callbacks do).
            match &report.error {
                None if !report.done.is_empty() => {
                    if let Err(e) = self.fire(conn, lock, Event::AfterRun).await {
                        report.error = Some(e);
                    }
                }
                None => {}
                Some(_) => self.fire_on_error(conn, lock).await,
            }
            report
        })
        .await
    }

    /// `up` under the lock: the versioned migrations, then (up to no version in
    /// particular) the repeatable ones and, when asked, the seeds. `before_run` fires
    /// before the first of them that runs.
    async fn up_locked(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        rendered: &[(&'static Migration, Rendered)],
        up: Up,
    ) -> Report {
        let mut fired = false;
        let Up {
            to,
            single_transaction,
            seed,
        } = up;
        let mut done = Vec::new();
        let mut first = true;
        // In transaction mode, a migration another runner took meanwhile sends us back
        // to the history: each round, someone applied at least one migration.
        for _ in 0..=self.registry.len() {
            let plan = async {
                let rows = if std::mem::take(&mut first) {
                    let rows = self.prepared_history(conn, lock, true).await?;
                    self.import_first(conn, lock, rows).await?
                } else {
                    self.history_if_exists(conn).await?
                };
                let rows = rows.unwrap_or_default();
                let resumable = self.resumable(conn, &rows).await?;
                let plan = self.plan_up(rendered, &rows, &resumable, to, single_transaction)?;
                self.check_lint(rendered, &plan)?;
                if !plan.is_empty() && !std::mem::replace(&mut fired, true) {
                    self.fire(conn, lock, Event::BeforeRun).await?;
                }
                Ok(plan)
            };
            let report = match plan.await {
                Ok(plan) => {
                    let plan = self.with_sizes(conn, plan).await;
                    self.run(conn, lock, plan, single_transaction).await
                }
                Err(e) => Report::failure(e),
            };
            done.extend(report.done);
            match report.error {
                Some(e) if taken(&e) => {
                    tracing::info!("{e}; reading the history again");
                }
                None => break,
                error => return Report { done, error },
            }
        }
        // Up to a version, later versioned migrations may still be pending: the
        // repeatable ones wait for the `up` that applies them all.
        if to.is_some() {
            return Report { done, error: None };
        }
        if !fired && self.registry.callbacks(Event::BeforeRun).next().is_some() {
            let pending = self
                .planned_runs(conn, Runs::Repeatables(Direction::Up))
                .await
                .map(|plan| !plan.is_empty());
            let fire = match pending {
                Ok(true) => self.fire(conn, lock, Event::BeforeRun).await,
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = fire {
                return Report {
                    done,
                    error: Some(e),
                };
            }
        }
        let mut report = self
            .apply_runs(conn, lock, Runs::Repeatables(Direction::Up))
            .await;
        done.append(&mut report.done);
        if report.error.is_none() && seed {
            report = self.apply_runs(conn, lock, Runs::Seeds).await;
            done.append(&mut report.done);
        }
        Report {
            done,
            error: report.error,
        }
    }

    /// The SQL `up` would run, history writes included. Reads only.
    pub async fn up_dry_run(&self, up: Up) -> Result<String> {
        let Up {
            to,
            single_transaction,
            seed,
        } = up;
        if let Some(to) = to {
            self.registry.get(to)?;
        }
        // A new SQLite database: nothing to read, and nothing is created.
        let missing = match self.own_url() {
            Some(url) => missing_sqlite_file(url)?,
            None => None,
        };
        let repeatables_due = to.is_none() && !self.registry.repeatables().is_empty();
        let seeds_due = seed && !self.registry.seeds().is_empty();
        // Everything the plan reads, on one connection.
        let (rows, resumable, repeatable_runs, seed_runs) = if missing.is_some() {
            check_table_name(&self.options.table)?;
            (None, HashSet::new(), Vec::new(), Vec::new())
        } else {
            let mut conn = self.connect().await?;
            let read = async {
                let rows = self.history_if_exists(&mut conn).await?;
                let resumable = match &rows {
                    Some(rows) => self.resumable(&mut conn, rows).await?,
                    None => HashSet::new(),
                };
                let repeatable_runs = match repeatables_due {
                    true => self.latest_runs(&mut conn, REPEATABLE).await?,
                    false => Vec::new(),
                };
                let seed_runs = match seeds_due {
                    true => self.latest_runs(&mut conn, runs::SEED).await?,
                    false => Vec::new(),
                };
                Ok::<_, Error>((rows, resumable, repeatable_runs, seed_runs))
            }
            .await;
            self.finish(conn, read.is_err()).await;
            read?
        };
        let rendered = self.rendered_up()?;
        let plan = self.plan_up(
            &rendered,
            rows.as_deref().unwrap_or_default(),
            &resumable,
            to,
            single_transaction,
        )?;
        let mut script = String::new();
        // What the lint would say when `up` runs this for real.
        let (blocking, warnings) = self.lint_pending(&rendered, &plan);
        for line in &blocking {
            script.push_str(&format!("-- up would refuse (lint error): {line}\n"));
        }
        for line in &warnings {
            script.push_str(&format!("-- lint warning: {line}\n"));
        }
        if let Some(file) = &missing {
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
        let repeatables = if repeatables_due {
            // What this read of the history is from before the versioned migrations run:
            // any of them pending makes every repeatable one due again.
            let rows = match rows {
                Some(rows) if plan.is_empty() => rows,
                _ => Vec::new(),
            };
            self.plan_repeatables(&rows, &repeatable_runs)?
        } else {
            Vec::new()
        };
        if !plan.is_empty() || repeatables.is_empty() {
            script.push_str(&self.script(&plan, single_transaction));
        }
        if !repeatables.is_empty() {
            script.push('\n');
            script.push_str(&self.table_sql().runs_create());
            script.push_str(";\n");
            script.push_str(&self.script(&repeatables, false));
        }
        if seeds_due {
            let seeds = self.plan_seeds(&seed_runs)?;
            if !seeds.is_empty() {
                script.push('\n');
                script.push_str(&self.script(&seeds, false));
            }
        }
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
            // Planned first: a versioned down that cannot run refuses before anything is
            // reverted, the repeatable migrations included.
            let plan = match self.planned_down(conn, lock, target).await {
                Ok(plan) => plan,
                Err(e) => return Report::failure(e),
            };
            let mut done = Vec::new();
            if self.options.revert_repeatables {
                let mut report = self
                    .apply_runs(conn, lock, Runs::Repeatables(Direction::Down))
                    .await;
                done.append(&mut report.done);
                if report.error.is_some() {
                    return Report {
                        done,
                        error: report.error,
                    };
                }
            }
            let mut report = self.run(conn, lock, plan, false).await;
            done.append(&mut report.done);
            Report {
                done,
                error: report.error,
            }
        })
        .await
    }

    /// The SQL `down` would run, history writes included. Reads only.
    pub async fn down_dry_run(&self, target: DownTarget) -> Result<String> {
        let mut conn = self.connect().await?;
        let rows = self.read_history(&mut conn).await;
        self.finish(conn, rows.is_err()).await;
        let rows = rows?;
        let plan = self.plan_down(&rows, target)?;
        let mut script = String::new();
        if self.options.revert_repeatables {
            let mut conn = self.connect().await?;
            let runs = self.latest_runs(&mut conn, REPEATABLE).await;
            self.finish(conn, runs.is_err()).await;
            let repeatables = self.plan_repeatables_down(&rows, &runs?)?;
            if !repeatables.is_empty() {
                script.push_str(&self.script(&repeatables, false));
                script.push('\n');
            }
        }
        script.push_str(&self.script(&plan, false));
        Ok(script)
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
