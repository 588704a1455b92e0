//! Callbacks (`#[migration(callback = "...")]`): `before_run` before the first migration
//! `up` applies, `after_run` once it applied all of them, `on_error` when it failed; and
//! `before_each`/`after_each`, which run as ops of each migration (see `ops_for`).

use std::sync::Arc;

use crate::backend::connection::Connection;
use crate::error::Result;
use crate::lock::RunLock;
use crate::migration::{Event, MigrationFn};
use crate::progress::Reporter;
use crate::render::{Direction, render};

use super::Migrator;
use super::plan::Planned;

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
                let ops = self.ops_alone(callback, &rendered, false, None);
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

    /// Runs the `i`-th callback of `event` as part of `p`: its statements, or its Rust
    /// code on the same connection (in `p`'s transaction when it has one). The error is
    /// said in one line, for [`Error::Callback`].
    pub(super) async fn run_callback(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        p: &Planned,
        event: Event,
        i: usize,
        in_transaction: bool,
    ) -> std::result::Result<(), String> {
        let Some(callback) = self.registry.callbacks(event).nth(i) else {
            return Ok(());
        };
        match callback.function() {
            MigrationFn::Data(f) => {
                let reporter = Arc::new(Reporter::new(self.options.progress, callback));
                let run = self.run_info(callback, lock, in_transaction, reporter);
                let mut ctx = conn.data_context().with_run(run);
                match crate::panic::catch_async(f(&mut ctx)).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(message) => Err(format!("it panicked: {message}")),
                }
            }
            MigrationFn::Schema(_) => {
                let rendered = crate::render::render(callback, self.backend(), Direction::Up)
                    .map_err(|e| e.to_string())?;
                let count = rendered.statements.len();
                for (n, statement) in rendered.statements.iter().enumerate() {
                    if let Err(e) = conn.execute(&statement.sql).await {
                        return Err(format!(
                            "statement {} of {count}: {}{}\n  statement: {}",
                            n + 1,
                            crate::error::message(&e),
                            crate::error::details(&e, &statement.sql),
                            statement.sql
                        ));
                    }
                }
                tracing::debug!(
                    "callback {} {} ran with migration {}",
                    event.name(),
                    callback.name(),
                    p.migration.reference()
                );
                Ok(())
            }
        }
    }
}
