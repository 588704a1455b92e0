//! `Backfill`: a large table updated in keyset batches, each committed with its position,
//! resumed after an interruption; and the `DataContext` methods that run one.

use std::time::{Duration, Instant};

use sea_query::{
    Alias, Condition, ConditionalStatement, DynIden, Expr, ExprTrait, IntoCondition, IntoIden,
    Order, Query, SelectStatement, UpdateStatement,
};
use sqlx::AssertSqlSafe;

use super::{Conn, DataContext, Dml};
use crate::backend::Backend;
use crate::error::{Error, Result};

impl DataContext<'_> {
    /// Fails when the run no longer holds its lock, before the batch after `last` runs.
    async fn verify_lock(&mut self, label: &str, last: Option<i64>) -> Result<()> {
        let Some(run) = &self.run else {
            return Ok(());
        };
        let check = run.lock.clone();
        let next = format!(
            "the backfill batch of {label} after key {} (migration {})",
            last.map_or_else(|| "none".to_owned(), |k| k.to_string()),
            run.migration.reference()
        );
        let Some(query) = &check.query else {
            return Ok(());
        };
        let sql = AssertSqlSafe(query.clone());
        let held = on_backend!(self, conn, _builder => sqlx::raw_sql(sql)
            .fetch_optional(&mut **conn)
            .await
            .map(|row| row.is_some()));
        check.verified(held, &next)
    }

    /// A backfill's own query of one integer, often outside a transaction: on PostgreSQL
    /// by the simple protocol, its values written in by sea-query (see
    /// [`persistent`](Self::persistent)).
    async fn fetch_key(&mut self, select: &SelectStatement) -> Result<Option<i64>> {
        #[cfg(feature = "postgres")]
        #[allow(irrefutable_let_patterns)] // a build with PostgreSQL alone
        if let Conn::Postgres(conn) = &mut self.conn {
            let sql = AssertSqlSafe(select.to_string(sea_query::PostgresQueryBuilder));
            let row = sqlx::raw_sql(sql).fetch_optional(&mut **conn).await?;
            return Ok(match row {
                Some(row) => sqlx::Row::try_get::<Option<i64>, _>(&row, 0)?,
                None => None,
            });
        }
        let select = Dml::Select(select.clone());
        let key: Option<(Option<i64>,)> = self.fetch_optional(select).await?;
        Ok(key.and_then(|(k,)| k))
    }

    /// Runs a [`Backfill`]: the rows of a table, in batches of consecutive keys, each
    /// batch an `UPDATE` in a short transaction of its own (when the migration has
    /// `transaction = false`) together with the position it reached. Killed half-way, the
    /// next `up` runs the migration again and the backfill continues after the last batch
    /// that committed: no batch is applied twice.
    ///
    /// On a context made by hand (`DataContext::sqlite(..)`, say in a unit test) nothing
    /// is recorded: each batch is one `UPDATE` statement, atomic on its own.
    pub async fn backfill(&mut self, backfill: Backfill) -> Result<BackfillReport> {
        let started = Instant::now();
        let label = backfill.position_label();
        // (version, history table, whether the migration runs in a transaction)
        let record = self.run.as_ref().map(|run| {
            (
                run.migration.version(),
                run.history.clone(),
                run.in_transaction,
            )
        });
        let own_transactions = record.as_ref().is_some_and(|(_, _, in_tx)| !in_tx);
        let pause = self
            .run
            .as_ref()
            .and_then(|run| run.pause)
            .unwrap_or(backfill.pause);

        // Where it stopped, if it ran before.
        let (mut last, mut done) = match &record {
            None => (None, 0),
            Some((version, history, _)) => {
                let select = history.backfill_select(*version, &label);
                let recorded: Option<(Option<i64>, i64, i64)> = match &mut self.conn {
                    // Outside a transaction: by the simple protocol (see `fetch_key`).
                    #[cfg(feature = "postgres")]
                    Conn::Postgres(conn) => {
                        match sqlx::raw_sql(AssertSqlSafe(select))
                            .fetch_optional(&mut **conn)
                            .await?
                        {
                            Some(row) => Some(sqlx::FromRow::from_row(&row)?),
                            None => None,
                        }
                    }
                    #[allow(unreachable_patterns)] // a build with PostgreSQL alone
                    _ => self.fetch_all_sql(&select, []).await?.into_iter().next(),
                };
                match recorded {
                    Some((_, rows, 1)) => {
                        self.log(format!(
                            "backfill of {label}: already finished ({rows} rows)"
                        ));
                        return Ok(BackfillReport {
                            rows: 0,
                            batches: 0,
                            resumed_after: None,
                            longest_batch: Duration::ZERO,
                            duration: started.elapsed(),
                        });
                    }
                    Some((last, rows, _)) => {
                        // The migration's rows affected count those of the earlier run.
                        self.rows += u64::try_from(rows).unwrap_or_default();
                        if let Some(key) = last {
                            self.log(format!(
                                "backfill of {label}: resuming after key {key} ({rows} rows done before)"
                            ));
                        }
                        (last, u64::try_from(rows).unwrap_or_default())
                    }
                    None => {
                        self.raw(&history.backfill_insert(*version, &label)).await?;
                        (None, 0)
                    }
                }
            }
        };
        let resumed_after = last;
        let left = self
            .fetch_key(&backfill.keys_left(last, self.backend()))
            .await?;
        let total = left.map(|left| u64::try_from(left).unwrap_or_default() + done);
        if let Some(run) = &self.run {
            run.reporter.start(total, done);
        }

        let mut batches = 0;
        let mut rows = 0;
        let mut longest_batch = Duration::ZERO;
        loop {
            let batch_started = Instant::now();
            let backend = self.backend();
            let upper = match self.fetch_key(&backfill.window_end(last, backend)).await? {
                Some(upper) => Some(upper),
                None => self.fetch_key(&backfill.max_after(last, backend)).await?,
            };
            let Some(upper) = upper else { break };
            self.verify_lock(&label, last).await?;
            if own_transactions {
                let begin = match backend {
                    Backend::Sqlite => "BEGIN IMMEDIATE",
                    // A batch need not wait for its WAL flush: a crash loses at most the
                    // last batches together with their recorded position (one
                    // transaction), so the next run does them again, exactly once.
                    Backend::Postgres => "BEGIN; SET LOCAL synchronous_commit = off",
                    Backend::MySql => "BEGIN",
                };
                self.raw(begin).await?;
            }
            let batch = async {
                let affected = self.execute(backfill.update(last, upper)).await?;
                if let Some((version, history, _)) = &record {
                    let done_now = i64::try_from(done + affected).unwrap_or(i64::MAX);
                    self.raw(&history.backfill_update(
                        *version,
                        &label,
                        Some(upper),
                        done_now,
                        false,
                    ))
                    .await?;
                }
                if own_transactions {
                    self.raw("COMMIT").await?;
                }
                Ok::<u64, Error>(affected)
            }
            .await;
            let affected = match batch {
                Ok(affected) => affected,
                Err(e) => {
                    if own_transactions {
                        let _ = self.raw("ROLLBACK").await;
                    }
                    return Err(e);
                }
            };
            longest_batch = longest_batch.max(batch_started.elapsed());
            batches += 1;
            rows += affected;
            done += affected;
            last = Some(upper);
            self.progress(done, total.map(|t| std::cmp::max(t, done)));
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        if let Some((version, history, _)) = &record {
            let done = i64::try_from(done).unwrap_or(i64::MAX);
            self.raw(&history.backfill_update(*version, &label, last, done, true))
                .await?;
        }
        let report = BackfillReport {
            rows,
            batches,
            resumed_after,
            longest_batch,
            duration: started.elapsed(),
        };
        self.log(format!(
            "backfill of {label}: {rows} rows in {batches} batches, {:.1}s (longest batch {} ms)",
            report.duration.as_secs_f64(),
            report.longest_batch.as_millis()
        ));
        Ok(report)
    }
}

/// A batched update of a large table: `UPDATE table SET ... WHERE key > a AND key <= b
/// [AND filter]` for consecutive windows of `batch_size` keys (keyset pagination, never
/// `OFFSET` over the table), run by [`DataContext::backfill`].
///
/// The key must be an integer column with an index (the primary key). A window holds
/// `batch_size` keys whether or not the filter matches them, so each batch locks at most
/// that many rows and finds them through the key's index.
///
/// ```no_run
/// use shiplap::prelude::*;
///
/// #[derive(Iden)]
/// enum Users { Table, Id, Name, DisplayName }
///
/// #[migration(version = 20250210090100, transaction = false)]
/// async fn backfill_display_name(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
///     ctx.backfill(
///         Backfill::new(Users::Table, Users::Id)
///             .set(Users::DisplayName, Expr::col(Users::Name))
///             .filter(Expr::col(Users::DisplayName).is_null())
///             .batch_size(1000),
///     )
///     .await?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Backfill {
    table: DynIden,
    key: DynIden,
    set: Vec<(DynIden, Expr)>,
    filter: Option<Condition>,
    batch_size: u64,
    pause: Duration,
    label: Option<String>,
}

/// What a [`Backfill`] did in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackfillReport {
    /// Rows updated in this run.
    pub rows: u64,
    /// Batches committed in this run.
    pub batches: u64,
    /// The key it resumed after, when an earlier run was interrupted.
    pub resumed_after: Option<i64>,
    /// The longest batch (select of the window, update, commit).
    pub longest_batch: Duration,
    /// The whole backfill.
    pub duration: Duration,
}

impl Backfill {
    /// The default number of keys per batch.
    pub const DEFAULT_BATCH_SIZE: u64 = 1000;

    /// A backfill of `table`, in batches ordered by the integer column `key`.
    pub fn new(table: impl IntoIden, key: impl IntoIden) -> Self {
        Backfill {
            table: table.into_iden(),
            key: key.into_iden(),
            set: Vec::new(),
            filter: None,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            pause: Duration::ZERO,
            label: None,
        }
    }

    /// Sets `column` to `value` (an expression: `Expr::col(..)`, a constant, ...).
    pub fn set(mut self, column: impl IntoIden, value: impl Into<Expr>) -> Self {
        self.set.push((column.into_iden(), value.into()));
        self
    }

    /// Updates only the rows that match (say, those not filled in yet).
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.filter = Some(condition.into_condition());
        self
    }

    /// Keys per batch (at least 1; default 1000).
    pub fn batch_size(mut self, keys: u64) -> Self {
        self.batch_size = std::cmp::max(keys, 1);
        self
    }

    /// A pause after each batch, to leave the database room for its traffic
    /// (`--backfill-pause` overrides it).
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// The name its position is recorded under (default: the table's name); set it when
    /// one migration backfills the same table twice.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The name its position is recorded under.
    fn position_label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.table.to_string())
    }

    /// Only keys after `last` (all of them without one).
    fn after(&self, statement: &mut impl ConditionalStatement, last: Option<i64>) {
        if let Some(last) = last {
            statement.and_where(Expr::col(self.key.clone()).gt(last));
        }
    }

    /// `key` as a 64-bit integer, whatever its declared width.
    fn key_as_i64(&self, backend: Backend) -> Expr {
        let bigint = match backend {
            Backend::MySql => "SIGNED",
            Backend::Postgres => "BIGINT",
            Backend::Sqlite => "INTEGER",
        };
        Expr::col(self.key.clone()).cast_as(Alias::new(bigint))
    }

    /// The last key of the next window.
    fn window_end(&self, last: Option<i64>, backend: Backend) -> SelectStatement {
        let mut select = Query::select();
        select
            .expr(self.key_as_i64(backend))
            .from(self.table.clone())
            .order_by(self.key.clone(), Order::Asc)
            .limit(1)
            .offset(self.batch_size - 1);
        self.after(&mut select, last);
        select
    }

    /// The last key of all (for the final, partial window).
    fn max_after(&self, last: Option<i64>, backend: Backend) -> SelectStatement {
        let mut select = Query::select();
        select
            .expr(self.key_as_i64(backend).max())
            .from(self.table.clone());
        self.after(&mut select, last);
        select
    }

    /// About how many rows are left, for the progress bar: the span of keys after `last`,
    /// read from the key's index (its two ends), never a `COUNT` over the table. Exact for
    /// consecutive keys; more than the rows to update when keys have gaps or the filter
    /// leaves rows out.
    fn keys_left(&self, last: Option<i64>, backend: Backend) -> SelectStatement {
        let mut select = Query::select();
        let key = || Expr::col(self.key.clone());
        select
            .expr(
                Expr::expr(key().max())
                    .sub(key().min())
                    .add(1)
                    .cast_as(Alias::new(match backend {
                        Backend::MySql => "SIGNED",
                        Backend::Postgres => "BIGINT",
                        Backend::Sqlite => "INTEGER",
                    })),
            )
            .from(self.table.clone());
        self.after(&mut select, last);
        select
    }

    fn update(&self, last: Option<i64>, upper: i64) -> UpdateStatement {
        let mut update = Query::update();
        update.table(self.table.clone());
        for (column, value) in &self.set {
            update.value(column.clone(), value.clone());
        }
        self.after(&mut update, last);
        update.and_where(Expr::col(self.key.clone()).lte(upper));
        if let Some(filter) = &self.filter {
            update.cond_where(filter.clone());
        }
        update
    }
}

#[cfg(test)]
mod tests {
    use sea_query::{MysqlQueryBuilder, PostgresQueryBuilder};

    use super::*;

    #[test]
    fn backfill_sql_uses_keyset_windows() {
        #[derive(sea_query::Iden)]
        enum Users {
            Table,
            Id,
            Name,
            DisplayName,
        }
        let backfill = Backfill::new(Users::Table, Users::Id)
            .set(Users::DisplayName, Expr::col(Users::Name))
            .filter(Expr::col(Users::DisplayName).is_null())
            .batch_size(500);
        assert_eq!(
            backfill
                .keys_left(Some(1000), Backend::Postgres)
                .to_string(PostgresQueryBuilder),
            r#"SELECT CAST(((MAX("id") - MIN("id")) + 1) AS BIGINT) FROM "users" WHERE "id" > 1000"#,
            "an estimate from the key's index, not a COUNT over the table"
        );
        assert_eq!(
            backfill
                .window_end(Some(1000), Backend::Postgres)
                .to_string(PostgresQueryBuilder),
            r#"SELECT CAST("id" AS BIGINT) FROM "users" WHERE "id" > 1000 ORDER BY "id" ASC LIMIT 1 OFFSET 499"#
        );
        assert_eq!(
            backfill
                .update(Some(1000), 1500)
                .to_string(PostgresQueryBuilder),
            r#"UPDATE "users" SET "display_name" = "name" WHERE "id" > 1000 AND "id" <= 1500 AND "display_name" IS NULL"#
        );
        assert_eq!(
            backfill.update(None, 500).to_string(MysqlQueryBuilder),
            "UPDATE `users` SET `display_name` = `name` WHERE `id` <= 500 AND `display_name` IS NULL"
        );
        assert_eq!(backfill.position_label(), "users");
    }
}
