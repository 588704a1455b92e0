//! Consecutive transactional migrations sent as scripts: each its own transaction, with a
//! marker row after it, so that the database goes from one to the next without waiting
//! for shiplap, and each is reported done as its marker arrives.

use futures_util::StreamExt as _;

use crate::backend::Backend;
use crate::backend::connection::{Connection, ELAPSED, MARKER};
use crate::backend::postgres;
use crate::error::{Error, Result};
use crate::history::{RowState, SQLITE_CLOCK};
use crate::lock::RunLock;

use super::execute::still_running;
use super::plan::{Op, Planned};
use super::{Done, Migrator};

impl Migrator<'_> {
    /// Runs consecutive transactional SQL migrations as scripts sent at once: each
    /// migration its own batch (`BEGIN`, its statements, its history write, `COMMIT`: one
    /// commit), then a marker row saying it is done. The database works through a script
    /// without waiting for us between migrations, and each is reported done as its marker
    /// arrives. Returns how many were applied. When that is fewer than `group`, the next
    /// one failed and was rolled back: the caller runs it again one statement at a time,
    /// which names the statement that fails (the script's error cannot say which it was).
    pub(super) async fn run_batches(
        &self,
        conn: &mut Connection<'_>,
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
    pub(super) fn script_of(&self, group: &[Planned]) -> Script {
        let table = self.table_sql();
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
        let elapsed = crate::history::elapsed_ms(backend).unwrap_or_else(|| "0".into());
        for (i, p) in group.iter().enumerate() {
            if i > 0 && script.text.len() >= SCRIPT_BYTES {
                break;
            }
            script.starts.push(script.chars);
            for &op in &p.ops {
                let sql = match op {
                    Op::Insert(state) => table.insert_timed(
                        &self.row(p.migration, &p.rendered, state, 0),
                        p.sizes.as_deref().filter(|_| state == RowState::Applied),
                    ),
                    _ => self.op_sql(op, p, 0, None).unwrap_or_default(),
                };
                // On a line of its own, so that a statement ending in a `--` comment
                // does not swallow its terminator.
                script.push(sql.trim_end_matches(';'));
                script.push("\n;\n");
                if let (Op::Begin, Some(began)) = (op, crate::history::began(backend)) {
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
    pub(super) async fn run_script(
        &self,
        conn: &mut Connection<'_>,
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
}

/// Migrations sent to the database as one script.
pub(super) struct Script {
    pub(super) text: String,
    /// The length of `text` in characters.
    pub(super) chars: usize,
    /// How many migrations it holds.
    pub(super) count: usize,
    /// Where each migration's text starts, in characters from the start of the script.
    pub(super) starts: Vec<usize>,
}

impl Script {
    fn push(&mut self, piece: &str) {
        self.chars += piece.chars().count();
        self.text.push_str(piece);
    }

    /// Which migration holds the syntax error for which the server refused the script
    /// (PostgreSQL parses a whole script before running any of it, and says where).
    fn refused_for(&self, error: &sqlx::Error) -> Option<usize> {
        let position = postgres::syntax_error_position(error)?;
        // Positions count characters from 1.
        let at = position.checked_sub(1)?;
        self.starts.iter().rposition(|start| *start <= at)
    }
}

/// About how long a script of migrations sent at once gets (see `Migrator::script_of`).
pub(super) const SCRIPT_BYTES: usize = 8 * 1024;
