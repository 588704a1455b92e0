//! Planning a run: which migrations, in which order, refused for what, and the ops that
//! run each (the same list `--dry-run` prints).

use std::collections::HashSet;

use crate::backend::Backend;
use crate::backend::connection::Connection;
use crate::error::{Error, Result};
use crate::history::{HistoryRow, RowState, RunRow};
use crate::lock::{LockMode, RunLock};
use crate::migration::{Event, Kind, Migration, Role};
use crate::registry::Registry;
use crate::render::{Direction, Rendered, render};
use crate::status::{MigrationStatus, State, diff};

use super::{DownTarget, Migrator};

impl Migrator<'_> {
    /// Every registered migration rendered up for this backend.
    pub(super) fn rendered_up(&self) -> Result<Vec<(&'static Migration, Rendered)>> {
        rendered_up(&self.registry, self.backend())
    }

    /// [`rendered_up`](Self::rendered_up) on a blocking thread, to await once the
    /// database has answered: with many migrations, rendering them all (for their SQL
    /// checksums) takes about as long as reading the history table, and need not wait for it.
    pub(super) fn render_up_meanwhile(
        &self,
    ) -> impl Future<Output = Result<Vec<(&'static Migration, Rendered)>>> + use<> {
        let (registry, backend) = (self.registry.clone(), self.backend());
        let task = tokio::task::spawn_blocking(move || rendered_up(&registry, backend));
        async move {
            match task.await {
                Ok(rendered) => rendered,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    }

    pub(super) fn statuses(
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

    /// Refuses to apply migrations with lint errors nobody acknowledged (with
    /// [`Options::lint`](super::Options::lint)); logs the warnings it lets pass. Every
    /// migration is read (from `rendered`, all of them rendered up), so the lint knows
    /// which tables exist.
    pub(super) fn check_lint(
        &self,
        rendered: &[(&'static Migration, Rendered)],
        plan: &[Planned],
    ) -> Result<()> {
        let (blocking, warnings) = self.lint_pending(rendered, plan);
        for warning in &warnings {
            tracing::warn!("lint: {warning}");
        }
        if self.options.guards.lint_warns_only {
            for error in &blocking {
                tracing::warn!(
                    "lint error, not enforced in environment `{}`: {error}",
                    self.options.environment.as_deref().unwrap_or("(none)")
                );
            }
            return Ok(());
        }
        if blocking.is_empty() {
            Ok(())
        } else {
            Err(Error::Lint { findings: blocking })
        }
    }

    /// The lint's findings on the migrations of `plan`, one line each: the errors nobody
    /// acknowledged (which make `up` refuse), and the warnings. None without
    /// [`Options::lint`](super::Options::lint) or the `lint` feature.
    #[cfg(feature = "lint")]
    pub(super) fn lint_pending(
        &self,
        rendered: &[(&'static Migration, Rendered)],
        plan: &[Planned],
    ) -> (Vec<String>, Vec<String>) {
        use crate::lint;

        if !self.options.lint || plan.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let pending: HashSet<i64> = plan.iter().map(|p| p.migration.version()).collect();
        let options = lint::LintOptions {
            since: None,
            statement_lock_timeout: self.options.statement_lock_timeout.is_some(),
        };
        let subjects: Vec<lint::Subject> = rendered
            .iter()
            .map(|(m, r)| {
                let mut subject = lint::Subject::new(m, r);
                subject.pending = pending.contains(&m.version());
                subject
            })
            .collect();
        let (mut blocking, mut warnings) = (Vec::new(), Vec::new());
        for f in lint::lint_subjects(&subjects, self.backend(), options) {
            if f.allowed.is_some() || !pending.contains(&f.version) {
                continue;
            }
            let at = match (f.step, f.line) {
                (Some(step), Some(line)) => format!(", step {step}, line {line}"),
                _ => String::new(),
            };
            let line = format!(
                "{} {} ({}{at}): {}: {}",
                f.version, f.name, f.source, f.rule, f.message
            );
            if f.blocks() {
                blocking.push(line);
            } else {
                warnings.push(line);
            }
        }
        (blocking, warnings)
    }

    /// Without the `lint` feature there is no lint: see [`Options::lint`](super::Options::lint).
    #[cfg(not(feature = "lint"))]
    pub(super) fn lint_pending(
        &self,
        _rendered: &[(&'static Migration, Rendered)],
        _plan: &[Planned],
    ) -> (Vec<String>, Vec<String>) {
        (Vec::new(), Vec::new())
    }

    /// Dirty data migrations that `up` runs again rather than refusing: those whose
    /// backfills recorded how far they got, so that running them again continues there.
    pub(super) async fn resumable(
        &self,
        conn: &mut Connection<'_>,
        rows: &[HistoryRow],
    ) -> Result<HashSet<i64>> {
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
            .strings(&self.table_sql().backfill_versions())
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

    pub(super) fn plan_up(
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
                    sizes: None,
                    run: None,
                });
            }
        }
        self.check_lock_mode(&plan, single_transaction)?;
        Ok(plan)
    }

    /// In transaction mode every migration must run in a transaction of its own: the lock
    /// lives only as long as one.
    pub(super) fn check_lock_mode(&self, plan: &[Planned], single_transaction: bool) -> Result<()> {
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

    pub(super) fn check_single_transaction(
        &self,
        versions: impl Iterator<Item = i64>,
    ) -> Result<()> {
        if self.backend() == Backend::MySql {
            return Err(Error::InvalidArgument {
                message:
                    "--single-transaction needs PostgreSQL or SQLite: MySQL commits DDL implicitly"
                        .into(),
            });
        }
        for version in versions {
            let m = self.registry.get(version)?;
            if !m.transaction_on(self.backend()) {
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
    pub(super) fn check_clean(
        &self,
        statuses: &[MigrationStatus],
        resumable: &HashSet<i64>,
    ) -> Result<()> {
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
    pub(super) fn transactional(&self, m: &Migration) -> bool {
        m.transaction_on(self.backend()) && !self.backend().ddl_commits_implicitly()
    }

    /// The ops that run `m` in `rendered.direction`: its body wrapped in a transaction with
    /// its history write, or, without one, between a dirty mark and the final history write.
    pub(super) fn ops_for(&self, m: &Migration, rendered: &Rendered) -> Vec<Op> {
        let mut body = body(m, rendered);
        // `before_each` and `after_each` callbacks run with each migration `up` applies,
        // as part of it: in its transaction, before its history write.
        if rendered.direction == Direction::Up && m.role() == Role::Versioned {
            let around = |event| {
                (0..self.registry.callbacks(event).count()).map(move |i| Op::Callback(event, i))
            };
            body.splice(0..0, around(Event::BeforeEach));
            body.extend(around(Event::AfterEach));
        }
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
            if m.transaction_on(self.backend()) {
                ops.push(Op::Begin);
            }
            ops.extend(body);
            if m.transaction_on(self.backend()) {
                ops.push(Op::Commit);
            }
            ops.push(finish);
        }
        ops
    }

    /// The ops of a function run on its own beside the versioned migrations (a repeatable
    /// migration, a seed, a callback): its body, then `record` if any, in a transaction of
    /// its own where it has one on this backend (on MySQL too: it keeps a data seed's
    /// writes all or nothing; DDL commits as it runs there). `claim`: in transaction lock
    /// mode, the transaction first takes the lock and checks it was not done meanwhile.
    pub(super) fn ops_alone(
        &self,
        m: &Migration,
        rendered: &Rendered,
        claim: bool,
        record: Option<Op>,
    ) -> Vec<Op> {
        let transaction = m.transaction_on(self.backend());
        let mut ops = Vec::with_capacity(rendered.statements.len() + 4);
        if transaction {
            ops.push(Op::Begin);
            if claim && self.options.lock == LockMode::Transaction {
                ops.push(Op::Claim);
            }
        }
        ops.extend(body(m, rendered));
        ops.extend(record);
        if transaction {
            ops.push(Op::Commit);
        }
        ops
    }

    /// Under the lock: the history, then the plan of `down` to `target`.
    pub(super) async fn planned_down(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        target: DownTarget,
    ) -> Result<Vec<Planned>> {
        let rows = self.prepared_history(conn, lock, false).await?;
        self.plan_down(&rows.unwrap_or_default(), target)
    }

    pub(super) fn plan_down(
        &self,
        rows: &[HistoryRow],
        target: DownTarget,
    ) -> Result<Vec<Planned>> {
        let statuses = self.statuses(&self.rendered_up()?, rows);
        self.check_clean(&statuses, &HashSet::new())?;
        if self.options.revert_repeatables && target == DownTarget::Steps(0) {
            // `down --repeatables` alone: the repeatable migrations only.
            return Ok(Vec::new());
        }
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
                    sizes: None,
                    run: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.check_lock_mode(&plan, false)?;
        self.check_destructive(&plan)?;
        Ok(plan)
    }

    /// Under `refuse_destructive_down`: refuses a down plan with a statement that destroys
    /// data, naming the migration and the statement.
    fn check_destructive(&self, plan: &[Planned]) -> Result<()> {
        if !self.options.guards.refuse_destructive_down {
            return Ok(());
        }
        for p in plan {
            for (i, statement) in p.rendered.statements.iter().enumerate() {
                for piece in crate::split::split(&statement.sql, self.backend()) {
                    let Some(what) = crate::split::destroys_data(piece.text) else {
                        continue;
                    };
                    return Err(Error::Guarded {
                        environment: self.options.environment.clone().unwrap_or_default(),
                        what: format!(
                            "reverting migration {} {what} (statement {} of its down: {}), and \
                             shiplap.toml says `refuse_destructive_down = true` here. Nothing \
                             was reverted. Undo it with a new migration instead (`migrate new`), \
                             or revert it in an environment that allows it",
                            p.migration.reference(),
                            i + 1,
                            piece.text
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The ops of a plan, as one transaction when `single`.
    pub(super) fn ops(plan: &[Planned], single: bool) -> Vec<(usize, Op)> {
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

    pub(super) fn script(&self, plan: &[Planned], single: bool) -> String {
        let mut out = String::new();
        let mut current = usize::MAX;
        for (i, op) in Self::ops(plan, single) {
            let p = &plan[i];
            if i != current && !(single && matches!(op, Op::Begin)) {
                current = i;
                let what = match p.migration.role() {
                    Role::Versioned => {
                        format!("{} {}", p.migration.version(), p.migration.name())
                    }
                    Role::Seed => format!("seed {}", p.migration.name()),
                    _ => format!("repeatable {}", p.migration.name()),
                };
                out.push_str(&format!(
                    "\n-- {what} ({}, {})\n",
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
                    if !p.migration.transaction_on(self.backend()) {
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
}

/// One step of a run.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
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
    /// Record a repeatable migration's application in the runs table.
    RecordRun,
    /// Run the `i`-th callback of the event (`before_each`, `after_each`).
    Callback(Event, usize),
}

/// A migration with its rendered SQL and the ops that run it.
pub(super) struct Planned {
    pub(super) migration: &'static Migration,
    pub(super) rendered: Rendered,
    pub(super) ops: Vec<Op>,
    /// A dirty data migration run again: its backfills continue where they stopped.
    pub(super) resume: bool,
    /// The SQL expression its history write records as `sizes`: the sizes of the tables
    /// it touches, before (as read when the run began) and after (read by the write).
    pub(super) sizes: Option<String>,
    /// For a repeatable migration: the runs table row its application writes (its time
    /// and duration filled in as it is written).
    pub(super) run: Option<RunRow>,
}

/// What runs `m` in `rendered.direction`: its Rust code (a data migration going up), or
/// its statements.
fn body(m: &Migration, rendered: &Rendered) -> Vec<Op> {
    match (m.kind(), rendered.direction) {
        (Kind::Data, Direction::Up) => vec![Op::Data],
        _ => (0..rendered.statements.len()).map(Op::Statement).collect(),
    }
}

/// Whether `p` can run in a batch: a transactional SQL migration (its ops begin a
/// transaction and run no Rust code).
pub(super) fn batchable(p: &Planned) -> bool {
    p.migration.role() == Role::Versioned
        && matches!(p.ops.first(), Some(Op::Begin))
        && !p
            .ops
            .iter()
            .any(|op| matches!(op, Op::Data | Op::Callback(..)))
        && !p.rendered.statements.iter().any(|s| {
            s.check.is_some() || s.sql.starts_with(crate::backend::sqlite_not_null::MARKER)
        })
}

/// Every migration of `registry` rendered up for `backend`.
fn rendered_up(
    registry: &Registry,
    backend: Backend,
) -> Result<Vec<(&'static Migration, Rendered)>> {
    registry
        .iter()
        .map(|m| Ok((m, render(m, backend, Direction::Up)?)))
        .collect()
}
