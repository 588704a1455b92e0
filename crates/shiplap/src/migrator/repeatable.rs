//! Repeatable migrations (`#[migration(repeatable)]`): applied after the versioned ones,
//! by name, whenever their SQL for this backend changes, and again whenever versioned
//! migrations were applied or reverted since their last application (a versioned
//! migration may have dropped the view or function they define, to change a table under
//! it). Each application is a row of the `<history>_runs` table.

use crate::backend::connection::Connection;
use crate::error::{Error, Result};
use crate::history::{HistoryRow, RunRow, history_mark};
use crate::migration::Migration;
use crate::render::{Direction, render};
use crate::status::{RepeatableState, RepeatableStatus};

use super::Migrator;
use super::plan::{Op, Planned};

/// The `kind` of a repeatable migration's rows in the runs table.
pub(super) const REPEATABLE: &str = "repeatable";

/// What a reverted repeatable migration's row records as its state.
const REVERTED: &str = "reverted";

impl Migrator<'_> {
    /// The latest application of each repeatable migration, as recorded (none when the
    /// runs table does not exist yet: a history table of an older layout, or none).
    pub(super) async fn repeatable_runs(&self, conn: &mut Connection<'_>) -> Result<Vec<RunRow>> {
        let table = self.table_sql();
        let columns = conn
            .strings_bound(table.columns_query(), &table.runs_table())
            .await?;
        if columns.is_empty() {
            return Ok(Vec::new());
        }
        let rows = conn.rows(&table.runs_latest(REPEATABLE)).await?;
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
            .map(|(&m, status)| self.planned_repeatable(m, Direction::Up, status.runs, &mark))
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
            plan.push(self.planned_repeatable(m, Direction::Down, last.run, &mark)?);
        }
        Ok(plan)
    }

    fn planned_repeatable(
        &self,
        m: &'static Migration,
        direction: Direction,
        runs: i64,
        mark: &str,
    ) -> Result<Planned> {
        let rendered = render(m, self.backend(), direction)?;
        let checksum = match direction {
            Direction::Up => rendered.checksum(),
            // What a later `up` compares with: never equal, so it applies it again.
            Direction::Down => None,
        }
        .unwrap_or_default()
        .to_owned();
        let body = (0..rendered.statements.len()).map(Op::Statement);
        let mut ops = Vec::with_capacity(rendered.statements.len() + 4);
        if self.transactional(m) {
            ops.push(Op::Begin);
            if self.options.lock == crate::lock::LockMode::Transaction {
                ops.push(Op::Claim);
            }
            ops.extend(body);
            ops.push(Op::RecordRun);
            ops.push(Op::Commit);
        } else {
            ops.extend(body);
            ops.push(Op::RecordRun);
        }
        Ok(Planned {
            migration: m,
            ops,
            resume: false,
            sizes: None,
            run: Some(RunRow {
                kind: REPEATABLE.to_owned(),
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

    /// Under the lock, after the versioned migrations: the repeatable ones to apply, read
    /// from the history as it is now.
    pub(super) async fn planned_repeatables(
        &self,
        conn: &mut Connection<'_>,
        direction: Direction,
    ) -> Result<Vec<Planned>> {
        if self.registry.repeatables().is_empty() {
            return Ok(Vec::new());
        }
        let history = self.read_history(conn).await?;
        let runs = self.repeatable_runs(conn).await?;
        match direction {
            Direction::Up => self.plan_repeatables(&history, &runs),
            Direction::Down => self.plan_repeatables_down(&history, &runs),
        }
    }

    /// The repeatable migrations' states: read only.
    pub async fn repeatable_status(&self) -> Result<Vec<RepeatableStatus>> {
        if self.registry.repeatables().is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connect().await?;
        let read = async {
            let history = self.read_history(&mut conn).await?;
            let runs = self.repeatable_runs(&mut conn).await?;
            Ok::<_, Error>((history, runs))
        }
        .await;
        self.finish(conn, read.is_err()).await;
        let (history, runs) = read?;
        self.repeatable_statuses(&history, &runs)
    }
}
