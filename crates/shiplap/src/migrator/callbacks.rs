//! Callbacks around a run (`#[migration(callback = "...")]`): `before_run` before the first
//! migration `up` applies, `after_run` once it applied all of them, `on_error` when it
//! failed. (`before_each` and `after_each` are ops of each migration: see `ops_for`.)

use crate::backend::connection::Connection;
use crate::error::Result;
use crate::lock::RunLock;
use crate::migration::{Event, Kind};
use crate::render::{Direction, render};

use super::Migrator;
use super::plan::{Op, Planned};

impl Migrator<'_> {
    /// Runs the callbacks of a run-level `event`, by name, each in a transaction of its
    /// own where it has one (`transaction = false`: none). The first failure stops them.
    pub(super) async fn fire(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        event: Event,
    ) -> Result<()> {
        let plan = self
            .registry
            .callbacks(event)
            .map(|callback| {
                let rendered = render(callback, self.backend(), Direction::Up)?;
                let body: Vec<Op> = match callback.kind() {
                    Kind::Data => vec![Op::Data],
                    _ => (0..rendered.statements.len()).map(Op::Statement).collect(),
                };
                let ops = if callback.transaction_on(self.backend()) {
                    [vec![Op::Begin], body, vec![Op::Commit]].concat()
                } else {
                    body
                };
                Ok(Planned {
                    migration: callback,
                    rendered,
                    ops,
                    resume: false,
                    sizes: None,
                    run: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if plan.is_empty() {
            return Ok(());
        }
        tracing::info!("{}: {} callback(s)", event.name(), plan.len());
        self.run(conn, lock, plan, false)
            .await
            .into_result()
            .map(drop)
    }

    /// After a failed run: the `on_error` callbacks. Their own failure is a warning: the
    /// run's error is what the caller reports.
    pub(super) async fn fire_on_error(&self, conn: &mut Connection<'_>, lock: &RunLock) {
        if let Err(e) = self.fire(conn, lock, Event::OnError).await {
            tracing::warn!("an on_error callback failed too: {e}");
        }
    }
}
