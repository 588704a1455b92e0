//! Running a plan: op by op (consecutive transactional migrations go as scripts: see
//! script.rs), and what a failure says.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::backend::connection::Connection;
use crate::backend::postgres;
use crate::backend::postgres::TAKEN;
use crate::clock::now_rfc3339;
use crate::data::RunInfo;
use crate::error::{Error, Result};
use crate::history::{HistoryRow, RowState, RunRow};
use crate::lock::RunLock;
use crate::migration::{Migration, MigrationFn};
use crate::progress::Reporter;
use crate::render::{Direction, Rendered};

use super::history_table::lock_wait_timed_out;
use super::plan::{Op, Planned, batchable};
use super::{Done, Migrator, Report};

impl Migrator<'_> {
    pub(super) fn row(
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
            sizes: Vec::new(),
            environment: self.options.environment.clone(),
        }
    }

    /// In transaction mode, what a migration's claim finds when another runner did it
    /// meanwhile (an SQL condition), and what it says then.
    fn taken_condition(&self, p: &Planned) -> (String, String) {
        let table = self.table_sql();
        let up = p.rendered.direction == Direction::Up;
        let what = if up { "applied" } else { "reverted" };
        if let Some(run) = &p.run {
            let quote = |name: &str| self.backend().quote_name(name);
            return (
                format!(
                    "EXISTS (SELECT 1 FROM {} WHERE kind = '{}' AND name = '{}' AND run >= {})",
                    quote(&table.runs_table()),
                    run.kind,
                    run.name.replace('\'', "''"),
                    run.run
                ),
                format!(
                    "{} was {what} by another runner meanwhile",
                    p.migration.reference()
                ),
            );
        }
        let version = p.migration.version();
        (
            format!(
                "{} (SELECT 1 FROM {} WHERE version = {version})",
                if up { "EXISTS" } else { "NOT EXISTS" },
                table.quoted()
            ),
            format!("migration {version} was {what} by another runner meanwhile"),
        )
    }

    pub(super) fn begin(&self) -> &'static str {
        match self.backend() {
            // Take the write lock at once, not at the first write.
            Backend::Sqlite => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        }
    }

    /// The SQL of one op (`None` for a data migration's Rust code).
    pub(super) fn op_sql(
        &self,
        op: Op,
        p: &Planned,
        duration_ms: i64,
        rows: Option<u64>,
    ) -> Option<String> {
        let table = self.table_sql();
        let version = p.migration.version();
        Some(match op {
            Op::Begin => self.begin().to_owned(),
            Op::Claim => postgres::claim(
                &self.options.table,
                self.taken_condition(p),
                self.options.lock_timeout,
                self.options.statement_lock_timeout,
            ),
            Op::Commit => "COMMIT".to_owned(),
            Op::Statement(i) => p.rendered.statements[i].sql.clone(),
            Op::Data | Op::Callback(..) => return None,
            Op::Insert(state) => table.insert_sized(
                &HistoryRow {
                    rows_affected: rows.map(rows_i64),
                    ..self.row(p.migration, &p.rendered, state, duration_ms)
                },
                // Read after the statements: an applied row's sizes are final.
                p.sizes.as_deref().filter(|_| state == RowState::Applied),
            ),
            Op::MarkApplied => table.mark_applied(
                &HistoryRow {
                    rows_affected: rows.map(rows_i64),
                    ..self.row(p.migration, &p.rendered, RowState::Applied, duration_ms)
                },
                p.sizes.as_deref(),
            ),
            Op::ForgetBackfills => table.backfill_delete(version),
            Op::MarkReverting => table.mark_reverting(version),
            Op::DeleteRow => table.delete(version),
            Op::RecordRun => table.runs_insert(&RunRow {
                applied_at: now_rfc3339(),
                duration_ms,
                ..p.run.clone()?
            }),
        })
    }

    /// Runs a plan: what was done, and the error that stopped it. In one transaction
    /// (`single`), a failure rolls back everything, so nothing was done.
    pub(super) async fn run(
        &self,
        conn: &mut Connection<'_>,
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

    pub(super) async fn run_plan(
        &self,
        conn: &mut Connection<'_>,
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

    /// After a failed script: rolls back the migration's transaction if it is still open.
    /// None is when the server refused the script before running it, or when `COMMIT`
    /// itself failed; a `ROLLBACK` then would only earn a warning from PostgreSQL.
    pub(super) async fn end_failed_transaction(&self, conn: &mut Connection<'_>) {
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
    pub(super) async fn run_op(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        p: &Planned,
        op: Op,
        started: Instant,
        dirty: bool,
        in_transaction: bool,
        rows: Option<u64>,
    ) -> Result<Option<u64>> {
        if let Op::Callback(event, i) = op {
            return self
                .run_callback(conn, lock, p, event, i, in_transaction)
                .await
                .map(|()| None)
                .map_err(|message| Error::Callback {
                    callback: self
                        .registry
                        .callbacks(event)
                        .nth(i)
                        .map_or_else(|| p.migration.reference(), Migration::reference),
                    migration: p.migration.reference(),
                    message,
                    dirty,
                });
        }
        if let Op::Data = op {
            let MigrationFn::Data(f) = p.migration.function() else {
                return Ok(None);
            };
            let reporter = Arc::new(Reporter::new(self.options.progress, p.migration));
            let run = self.run_info(p.migration, lock, in_transaction, Arc::clone(&reporter));
            let mut ctx = conn.data_context().with_run(run);
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
                            Op::RecordRun => "recording its application",
                            _ => "its history write",
                        },
                        dirty,
                        details: crate::error::details(&source, &sql),
                        source: Box::new(source),
                    },
                });
        };
        let count = p.rendered.statements.len();
        if let Some(what) = &p.rendered.statements[index].check {
            return match conn.has_rows(&sql).await {
                Ok(false) => Ok(None),
                Ok(true) => Err(Error::CheckFailed {
                    migration: p.migration.reference(),
                    direction: p.rendered.direction.name(),
                    what: what.clone(),
                    sql: sql
                        .lines()
                        .filter(|l| !l.starts_with("-- check: "))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    dirty,
                }),
                Err(source) => Err(Error::Statement {
                    migration: p.migration.reference(),
                    direction: p.rendered.direction.name(),
                    index: index + 1,
                    count,
                    details: crate::error::details(&source, &sql),
                    sql,
                    dirty,
                    source: Box::new(source),
                }),
            };
        }
        tracing::debug!(
            version = p.migration.version(),
            statement = index + 1,
            of = count,
            "running: {sql}"
        );
        if self.backend() == Backend::Sqlite
            && sql.starts_with(crate::backend::sqlite_not_null::MARKER)
        {
            use crate::backend::sqlite_not_null::{Failed, run};
            return match run(conn, &sql).await {
                Ok(()) => Ok(None),
                Err(Failed::Statement(source, statement)) => Err(Error::Statement {
                    migration: p.migration.reference(),
                    direction: p.rendered.direction.name(),
                    index: index + 1,
                    count,
                    details: crate::error::details(&source, &statement),
                    sql: format!("{sql}\n  (its rebuild failed at: {statement})"),
                    dirty,
                    source: Box::new(source),
                }),
                Err(Failed::Table(message)) => Err(Error::Data {
                    message: format!(
                        "migration {} failed ({}) at statement {} of {count}: {message}",
                        p.migration.reference(),
                        p.rendered.direction.name(),
                        index + 1
                    ),
                }),
            };
        }
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
        match result {
            Ok(_) => Ok(None),
            Err(source) => {
                let mut details = crate::error::details(&source, &sql);
                if dirty {
                    details.push_str(&invalid_index_left(conn, &sql).await);
                }
                Err(Error::Statement {
                    migration: p.migration.reference(),
                    direction: p.rendered.direction.name(),
                    index: index + 1,
                    count,
                    details,
                    sql,
                    dirty,
                    source: Box::new(source),
                })
            }
        }
    }

    /// What a data migration's (or callback's) context knows of the run.
    pub(super) fn run_info(
        &self,
        migration: &'static Migration,
        lock: &RunLock,
        in_transaction: bool,
        reporter: Arc<Reporter>,
    ) -> RunInfo {
        RunInfo {
            migration,
            in_transaction,
            history: self.table_sql(),
            reporter,
            pause: self.options.backfill_pause,
            lock: lock.check().clone(),
            environment: self.options.environment.clone(),
        }
    }

    /// Logs that `p` is done, and says so.
    pub(super) fn finished(&self, p: &Planned, duration_ms: i64, rows: Option<u64>) -> Done {
        let entry = Done {
            role: p.migration.role(),
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

/// After `sql` failed outside a transaction: when it was a PostgreSQL `CREATE INDEX
/// CONCURRENTLY` whose index the failure left behind INVALID, a line saying so and how
/// to drop it (a second build of it fails with "already exists", and `IF NOT EXISTS`
/// would keep the invalid one); empty otherwise.
async fn invalid_index_left(conn: &mut Connection<'_>, sql: &str) -> String {
    if conn.backend() == Backend::Postgres
        && let Some(name) = crate::split::concurrent_index(sql)
        && let Ok(left) = conn.strings_bound(postgres::INVALID_INDEXES, &name).await
        && !left.is_empty()
    {
        let drops: Vec<String> = left
            .iter()
            .map(|index| format!("DROP INDEX CONCURRENTLY {index};"))
            .collect();
        return format!(
            "\nthe failed build left the index {} behind, INVALID: queries ignore it, \
             writes still maintain it, and building it again fails (\"already exists\"). \
             Drop it before running the migration again: {}",
            left.join(", "),
            drops.join(" ")
        );
    }
    String::new()
}

/// Whether the error is a migration's claim failing in transaction mode: another runner
/// applied or reverted it meanwhile.
pub(super) fn taken(error: &Error) -> bool {
    let source = match error {
        Error::Bookkeeping { source, .. } | Error::Statement { source, .. } => source,
        _ => return false,
    };
    source
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == TAKEN)
}

/// Awaits `work`, calling `report` with the time elapsed every `every` until it is done.
pub(super) async fn still_running<T>(
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

pub(super) fn rows_i64(rows: u64) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
