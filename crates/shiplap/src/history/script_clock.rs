//! The database's own clock for migrations sent together as one script: each notes when its
//! transaction began, so that its history row and its marker tell its own start and
//! duration (the client reads the results of a script in bursts).

use sea_query::Expr;

use super::{HistoryRow, HistoryTable};
use crate::backend::Backend;

/// On SQLite, where a migration sent in a script records when its transaction began (a
/// temporary table, whose row outlives the `COMMIT` for the marker to read: SQLite has no
/// session variables, and its `'now'` is that of each statement): created once per script.
pub(crate) const SQLITE_CLOCK: &str =
    "CREATE TEMP TABLE IF NOT EXISTS shiplap_run_clock (id INTEGER PRIMARY KEY, t REAL NOT NULL)";

/// The julian day at which the migration's transaction began, on SQLite.
const SQLITE_BEGAN: &str = "(SELECT t FROM temp.shiplap_run_clock WHERE id = 1)";

/// When the migration's transaction began, on PostgreSQL: a setting of the session, read
/// by its history write and by its marker after `COMMIT`. (Not `now()`: every statement of
/// one script shares the time the server received the script, so `now()` is the script's
/// start for all its migrations.)
const PG_BEGAN: &str = "CAST(current_setting('shiplap.began') AS timestamptz)";

/// The statement that notes when a migration's transaction began, right after its
/// `BEGIN` (`None` on MySQL, which sends no scripts).
pub(crate) fn began(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => Some(
            "INSERT OR REPLACE INTO temp.shiplap_run_clock (id, t) VALUES (1, julianday('now'))",
        ),
        Backend::Postgres => {
            Some("SELECT set_config('shiplap.began', CAST(clock_timestamp() AS text), false)")
        }
        Backend::MySql => None,
    }
}

/// The milliseconds since the migration's transaction began, as an SQL expression of the
/// database's own clock (`None` on MySQL, which sends no scripts).
pub(crate) fn elapsed_ms(backend: Backend) -> Option<String> {
    match backend {
        Backend::Postgres => Some(format!(
            "CAST(EXTRACT(EPOCH FROM clock_timestamp() - {PG_BEGAN}) * 1000 AS bigint)"
        )),
        Backend::Sqlite => Some(format!(
            "CAST((julianday('now') - {SQLITE_BEGAN}) * 86400000 AS integer)"
        )),
        Backend::MySql => None,
    }
}

impl HistoryTable {
    /// Inserts a row whose `applied_at` and `duration_ms` the database computes when the
    /// insert runs, from when the migration's transaction began (see [`began`] and
    /// [`elapsed_ms`]). For a migration sent to the server in a script with others, whose
    /// times are not known when the script is written.
    pub(crate) fn insert_timed(&self, row: &HistoryRow, sizes: Option<&str>) -> String {
        let applied_at = match self.backend {
            Backend::Postgres => format!(
                "to_char({PG_BEGAN} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
            Backend::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%fZ', {SQLITE_BEGAN})"),
            Backend::MySql => return self.insert_sized(row, sizes),
        };
        let Some(elapsed) = elapsed_ms(self.backend) else {
            return self.insert_sized(row, sizes);
        };
        self.insert_with_times(row, Expr::cust(applied_at), Expr::cust(elapsed), sizes)
    }
}
