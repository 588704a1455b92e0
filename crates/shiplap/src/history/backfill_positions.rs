//! Where batched backfills record how far they got: the `<history>_backfill` table (created
//! with the history table), one row per migration and backfill label.

use sea_query::{Alias, Expr, ExprTrait, Query};

use super::HistoryTable;
use crate::backend::Backend;
use crate::clock::now_rfc3339;

impl HistoryTable {
    /// The table where batched backfills record how far they got: `<history>_backfill`.
    pub(super) fn backfill_name(&self) -> Alias {
        Alias::new(format!("{}_backfill", self.table))
    }

    /// A backfill's recorded position: `last_key`, `rows_done`, `finished`.
    pub(crate) fn backfill_select(&self, version: i64, label: &str) -> String {
        self.query_sql(
            Query::select()
                .columns(["last_key", "rows_done", "finished"].map(Alias::new))
                .from(self.backfill_name())
                .and_where(Expr::col(Alias::new("version")).eq(version))
                .and_where(Expr::col(Alias::new("label")).eq(label)),
        )
    }

    /// Records a backfill that starts from the beginning.
    pub(crate) fn backfill_insert(&self, version: i64, label: &str) -> String {
        self.query_sql(
            Query::insert()
                .into_table(self.backfill_name())
                .columns(
                    [
                        "version",
                        "label",
                        "last_key",
                        "rows_done",
                        "finished",
                        "updated_at",
                    ]
                    .map(Alias::new),
                )
                .values_panic([
                    version.into(),
                    label.into(),
                    Option::<i64>::None.into(),
                    0i64.into(),
                    0i64.into(),
                    now_rfc3339().into(),
                ]),
        )
    }

    /// Records how far a backfill got (in the same transaction as the batch).
    pub(crate) fn backfill_update(
        &self,
        version: i64,
        label: &str,
        last_key: Option<i64>,
        rows_done: i64,
        finished: bool,
    ) -> String {
        self.query_sql(
            Query::update()
                .table(self.backfill_name())
                .value(Alias::new("last_key"), last_key)
                .value(Alias::new("rows_done"), rows_done)
                .value(Alias::new("finished"), i64::from(finished))
                .value(Alias::new("updated_at"), now_rfc3339())
                .and_where(Expr::col(Alias::new("version")).eq(version))
                .and_where(Expr::col(Alias::new("label")).eq(label)),
        )
    }

    /// Forgets a migration's backfill positions (it was reverted).
    pub(crate) fn backfill_delete(&self, version: i64) -> String {
        self.query_sql(
            Query::delete()
                .from_table(self.backfill_name())
                .and_where(Expr::col(Alias::new("version")).eq(version)),
        )
    }

    /// Versions with a recorded backfill position (as text).
    pub(crate) fn backfill_versions(&self) -> String {
        self.query_sql(
            Query::select()
                .distinct()
                .expr(
                    Expr::col(Alias::new("version")).cast_as(Alias::new(match self.backend {
                        Backend::MySql => "CHAR",
                        _ => "TEXT",
                    })),
                )
                .from(self.backfill_name()),
        )
    }
}
