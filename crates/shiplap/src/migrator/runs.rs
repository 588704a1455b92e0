//! What runs beside the versioned migrations and records each run in the
//! `<history>_runs` table:
//! - repeatable migrations (`#[migration(repeatable)]`): applied after the versioned ones,
//!   by name, whenever their SQL for this backend changes, and again whenever versioned
//!   migrations were applied or reverted since their last application (a versioned
//!   migration may have dropped the view or function they define, to change a table
//!   under it);
//! - seeds (`#[migration(seed)]`): run by `migrate seed` (and `up --seed`) every time, by
//!   name, in the environments they name.

use crate::backend::connection::Connection;
use crate::error::Result;
use crate::history::{HistoryRow, RunRow, history_mark};
use crate::lock::RunLock;
use crate::migration::{Kind, Migration};
use crate::render::{Direction, render};
use crate::status::{RepeatableState, RepeatableStatus};

use super::execute::taken;
use super::plan::{Op, Planned};
use super::{Migrator, Report};

/// The `kind` of a repeatable migration's rows in the runs table.
pub(super) const REPEATABLE: &str = "repeatable";

/// The `kind` of a seed's rows.
pub(super) const SEED: &str = "seed";

/// What a reverted repeatable migration's row records as its state.
const REVERTED: &str = "reverted";

/// What [`Migrator::apply_runs`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Runs {
    /// The repeatable migrations the history calls for (up), or the applied ones' downs.
    Repeatables(Direction),
    /// The seeds of this environment.
    Seeds,
}

impl Migrator<'_> {
    /// The latest row of each name of `kind`, as recorded (none when the runs table does
    /// not exist yet: nothing of the kind ran).
    pub(super) async fn latest_runs(
        &self,
        conn: &mut Connection<'_>,
        kind: &str,
    ) -> Result<Vec<RunRow>> {
        let table = self.table_sql();
        let columns = conn
            .strings_bound(table.columns_query(), &table.runs_table())
            .await?;
        if columns.is_empty() {
            return Ok(Vec::new());
        }
        let rows = conn.rows(&table.runs_latest(kind)).await?;
        Ok(rows.into_iter().filter_map(RunRow::from_texts).collect())
    }

    /// Where each repeatable migration stands, given the versioned history and the
    /// latest applications.
    pub(super) fn repeatable_statuses(
        &self,
        history: &[HistoryRow],
        runs: &[RunRow],
    ) -> Result<Vec<RepeatableStatus>> {
        let mark = history_mark(history);
        self.registry
            .repeatables()
            .iter()
            .map(|&m| {
                let rendered = render(m, self.backend(), Direction::Up)?;
                let checksum = rendered.checksum().unwrap_or_default();
                let last = runs.iter().find(|r| r.name == m.name());
                let state = match last {
                    None => RepeatableState::New,
                    Some(r) if r.state == REVERTED => RepeatableState::Reverted,
                    Some(r) if r.checksum != checksum => RepeatableState::Changed,
                    Some(r) if r.history_mark != mark => RepeatableState::AfterMigrations,
                    Some(_) => RepeatableState::Applied,
                };
                Ok(RepeatableStatus {
                    name: m.name().to_owned(),
                    state,
                    source: m.location().to_string(),
                    applied_at: last.map(|r| r.applied_at.clone()),
                    runs: last.map_or(0, |r| r.run),
                })
            })
            .collect()
    }

    /// The repeatable migrations to apply, by name: those not applied as they are now
    /// after the history as it is now.
    pub(super) fn plan_repeatables(
        &self,
        history: &[HistoryRow],
        runs: &[RunRow],
    ) -> Result<Vec<Planned>> {
        let mark = history_mark(history);
        let statuses = self.repeatable_statuses(history, runs)?;
        self.registry
            .repeatables()
            .iter()
            .zip(statuses)
            .filter(|(_, status)| status.state != RepeatableState::Applied)
            .map(|(&m, status)| self.planned_run(m, Direction::Up, status.runs, &mark))
            .collect()
    }

    /// `down --repeatables`: the applied repeatable migrations' downs, by name in reverse.
    /// Refuses, naming it, one that has no down.
    pub(super) fn plan_repeatables_down(
        &self,
        history: &[HistoryRow],
        runs: &[RunRow],
    ) -> Result<Vec<Planned>> {
        let mark = history_mark(history);
        let mut plan = Vec::new();
        for &m in self.registry.repeatables().iter().rev() {
            let Some(last) = runs.iter().find(|r| r.name == m.name()) else {
                continue;
            };
            if last.state == REVERTED {
                continue;
            }
            plan.push(self.planned_run(m, Direction::Down, last.run, &mark)?);
        }
        Ok(plan)
    }

    /// The seeds this run's environment runs, by name; those of other environments are
    /// said to be left out.
    pub(super) fn plan_seeds(&self, runs: &[RunRow]) -> Result<Vec<Planned>> {
        let environment = self.options.environment.as_deref();
        let mut plan = Vec::new();
        for &m in self.registry.seeds() {
            let wanted = m.environments();
            if !wanted.is_empty() && !environment.is_some_and(|e| wanted.contains(&e)) {
                tracing::info!(
                    "seed {} left out: it runs in {}, and this run's environment is {}",
                    m.reference(),
                    wanted.join(", "),
                    environment.map_or_else(|| "none (--env)".to_owned(), |e| format!("`{e}`"))
                );
                continue;
            }
            let runs = runs
                .iter()
                .find(|r| r.name == m.name())
                .map_or(0, |r| r.run);
            plan.push(self.planned_run(m, Direction::Up, runs, "")?);
        }
        Ok(plan)
    }

    /// A repeatable migration or a seed, run once more (its `runs`-th run was the last):
    /// its statements or its Rust code, then its row in the runs table; in a transaction
    /// where it has one.
    fn planned_run(
        &self,
        m: &'static Migration,
        direction: Direction,
        runs: i64,
        mark: &str,
    ) -> Result<Planned> {
        let rendered = render(m, self.backend(), direction)?;
        let checksum = match (direction, m.kind()) {
            (Direction::Up, Kind::Schema) => rendered.checksum().unwrap_or_default(),
            (Direction::Up, _) => m.source_checksum(),
            // What a later `up` compares with: never equal, so it applies it again.
            (Direction::Down, _) => "",
        }
        .to_owned();
        let ops = self.ops_alone(m, &rendered, true, Some(Op::RecordRun));
        Ok(Planned {
            migration: m,
            ops,
            resume: false,
            sizes: None,
            run: Some(RunRow {
                kind: match m.role() {
                    crate::migration::Role::Seed => SEED,
                    _ => REPEATABLE,
                }
                .to_owned(),
                name: m.name().to_owned(),
                run: runs + 1,
                checksum,
                state: match direction {
                    Direction::Up => "applied",
                    Direction::Down => REVERTED,
                }
                .to_owned(),
                history_mark: mark.to_owned(),
                applied_at: String::new(),
                duration_ms: 0,
                shiplap_version: env!("CARGO_PKG_VERSION").to_owned(),
                environment: self.options.environment.clone(),
            }),
            rendered,
        })
    }

    /// Under the lock: what `what` runs, read from the history and the runs as they are.
    pub(super) async fn planned_runs(
        &self,
        conn: &mut Connection<'_>,
        what: Runs,
    ) -> Result<Vec<Planned>> {
        match what {
            Runs::Seeds if self.registry.seeds().is_empty() => Ok(Vec::new()),
            Runs::Seeds => {
                let runs = self.latest_runs(conn, SEED).await?;
                self.plan_seeds(&runs)
            }
            Runs::Repeatables(_) if self.registry.repeatables().is_empty() => Ok(Vec::new()),
            Runs::Repeatables(direction) => {
                let history = self.read_history(conn).await?;
                let runs = self.latest_runs(conn, REPEATABLE).await?;
                match direction {
                    Direction::Up => self.plan_repeatables(&history, &runs),
                    Direction::Down => self.plan_repeatables_down(&history, &runs),
                }
            }
        }
    }

    /// Runs `what` under the lock, creating the runs table first when something runs;
    /// in transaction mode, one another runner ran meanwhile is planned again.
    pub(super) async fn apply_runs(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        what: Runs,
    ) -> Report {
        let mut done = Vec::new();
        let most = self.registry.repeatables().len() + self.registry.seeds().len();
        for _ in 0..=most {
            let planned = async {
                let plan = self.planned_runs(conn, what).await?;
                if !plan.is_empty() {
                    let create = self.table_sql().runs_create();
                    self.guarded(conn, lock, async |conn| {
                        conn.execute(&create).await?;
                        Ok(())
                    })
                    .await?;
                }
                Ok(plan)
            };
            let report = match planned.await {
                Ok(plan) => self.run(conn, lock, plan, false).await,
                Err(e) => Report::failure(e),
            };
            done.extend(report.done);
            match report.error {
                Some(e) if taken(&e) => tracing::info!("{e}; reading the runs again"),
                error => return Report { done, error },
            }
        }
        Report { done, error: None }
    }

    /// The repeatable migrations' states: read only.
    pub async fn repeatable_status(&self) -> Result<Vec<RepeatableStatus>> {
        Ok(self.status_with_repeatables().await?.1)
    }

    /// Runs the seeds of this environment (each every time: write them to be
    /// re-runnable), by name, each in its own transaction where it has one, under the
    /// run lock; returns what ran. Seeds that name other environments are left out.
    pub async fn seed(&self) -> Result<Vec<super::Done>> {
        self.seed_report().await.into_result()
    }

    /// [`seed`](Self::seed), reporting what ran before a failure too.
    pub async fn seed_report(&self) -> Report {
        self.locked(true, async |conn, lock| {
            self.apply_runs(conn, lock, Runs::Seeds).await
        })
        .await
    }

    /// The SQL `seed` would run (a data seed's Rust code is named, not shown). Reads only.
    pub async fn seed_dry_run(&self) -> Result<String> {
        let mut conn = self.connect().await?;
        let runs = self.latest_runs(&mut conn, SEED).await;
        self.finish(conn, runs.is_err()).await;
        let plan = self.plan_seeds(&runs?)?;
        Ok(self.script(&plan, false))
    }
}
