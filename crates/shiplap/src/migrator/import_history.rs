//! `migrate import-history --from sqlx|diesel|refinery`: the migrations another tool
//! applied, recorded as applied in shiplap's history with the tool's timestamps, and
//! none of them run. The tool's table is read, never changed.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde::Serialize;
use sha2::{Digest, Sha384};

use crate::backend::Backend;
use crate::backend::connection::Connection;
use crate::clock::rfc3339_at;
use crate::error::{Error, Result};
use crate::history::{HistoryRow, RowState};
use crate::import::{Tool, shiplap_version};
use crate::lock::{LockMode, RunLock};
use crate::migration::Migration;
use crate::schema::{Plan, plan};
use crate::statement::Statement;

use super::Migrator;

/// One migration recorded from the other tool's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImportedRow {
    /// Its shiplap version.
    pub version: i64,
    /// Its shiplap name.
    pub name: &'static str,
    /// When the other tool applied it (RFC 3339, UTC), now its `applied_at`.
    pub applied_at: String,
}

/// A row of the other tool's history table.
struct OldRow {
    version: String,
    name: String,
    applied_at: String,
    duration_ms: i64,
    success: bool,
    checksum: Option<String>,
}

/// The other tool's rows, oldest version first.
async fn old_rows(conn: &mut Connection<'_>, tool: Tool) -> Result<Vec<OldRow>> {
    let backend = conn.backend();
    let epoch = |column: &str| match backend {
        Backend::Postgres => format!("CAST(CAST(extract(epoch FROM {column}) AS bigint) AS text)"),
        Backend::MySql => format!("CAST(UNIX_TIMESTAMP({column}) AS CHAR)"),
        Backend::Sqlite => format!("strftime('%s', {column})"),
    };
    let text = |column: &str| match backend {
        Backend::MySql => format!("CAST({column} AS CHAR)"),
        _ => format!("CAST({column} AS TEXT)"),
    };
    let hex = |column: &str| match backend {
        Backend::Postgres => format!("encode({column}, 'hex')"),
        _ => format!("LOWER(HEX({column}))"),
    };
    let table = tool.history_table();
    let sql = match tool {
        Tool::Sqlx => format!(
            "SELECT {}, {}, {}, {}, {}, {} FROM {table} ORDER BY version",
            text("version"),
            text("description"),
            epoch("installed_on"),
            text("execution_time"),
            match backend {
                Backend::Postgres => "CASE WHEN success THEN '1' ELSE '0' END".to_owned(),
                _ => text("success"),
            },
            hex("checksum"),
        ),
        Tool::Diesel => format!(
            "SELECT {}, '', {}, '0', '1', NULL FROM {table} ORDER BY version",
            text("version"),
            epoch("run_on")
        ),
        Tool::Refinery => format!(
            "SELECT {}, {}, {}, '0', '1', {} FROM {table} ORDER BY version",
            text("version"),
            text("name"),
            text("applied_on"),
            text("checksum")
        ),
    };
    let rows = conn.rows(&sql).await.map_err(|e| Error::InvalidArgument {
        message: format!("could not read {tool}'s history table `{table}`: {e}"),
    })?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            let applied_at = match tool {
                // refinery writes RFC 3339 itself.
                Tool::Refinery => cell(2),
                _ => cell(2).parse().map(rfc3339_at).unwrap_or_else(|_| cell(2)),
            };
            OldRow {
                version: cell(0),
                name: cell(1),
                applied_at,
                // sqlx records nanoseconds.
                duration_ms: cell(3).parse::<i64>().unwrap_or(0) / 1_000_000,
                success: matches!(cell(4).as_str(), "1" | "true" | "t"),
                checksum: row.get(5).cloned().flatten(),
            }
        })
        .collect())
}

/// The up SQL of an imported migration as its file held it: its first raw step's text.
fn raw_up(migration: &'static Migration, backend: Backend) -> Option<String> {
    let Ok(Plan::Schema(schema)) = plan(migration) else {
        return None;
    };
    match schema.steps().first()?.up() {
        Statement::Raw(raw) => raw.get(backend).map(str::to_owned),
        _ => None,
    }
}

/// refinery's checksum of a migration: SipHash 1-3 of its name, version and SQL, as
/// Rust's `Hash` feeds them (the version as an i32, or an i64 with `int8-versions`).
fn refinery_checksums(name: &str, version: i64, sql: &str) -> [u64; 2] {
    let small = i32::try_from(version).ok().map(|v| {
        let mut hasher = siphasher::sip::SipHasher13::new();
        name.hash(&mut hasher);
        v.hash(&mut hasher);
        sql.hash(&mut hasher);
        hasher.finish()
    });
    let mut hasher = siphasher::sip::SipHasher13::new();
    name.hash(&mut hasher);
    version.hash(&mut hasher);
    sql.hash(&mut hasher);
    [small.unwrap_or(0), hasher.finish()]
}

impl Migrator<'_> {
    /// Records in shiplap's history, as applied, every migration `tool`'s history table
    /// says it applied, with its timestamp; runs none of them. Refuses, naming them and
    /// recording nothing, when that table holds migrations the code lacks, failed ones
    /// (sqlx's `success = false`), or checksums that differ from the files (sqlx's
    /// SHA-384, refinery's SipHash). Migrations shiplap already records are left as they
    /// are, so it can run again. The tool's table is not changed.
    pub async fn import_history(&self, tool: Tool) -> Result<Vec<ImportedRow>> {
        self.locked(true, async |conn, lock| {
            self.guarded(conn, lock, async |conn| self.import_on(conn, tool).await)
                .await
        })
        .await
    }

    /// On the first `up` (shiplap's history `rows` empty), another tool's history: imported
    /// (see [`Self::import_history`]), and the history read again.
    pub(super) async fn import_first(
        &self,
        conn: &mut Connection<'_>,
        lock: &RunLock,
        rows: Option<Vec<HistoryRow>>,
    ) -> Result<Option<Vec<HistoryRow>>> {
        if rows.as_ref().is_some_and(|r| !r.is_empty()) {
            return Ok(rows);
        }
        let Some(tool) = self.other_tool(conn).await? else {
            return Ok(rows);
        };
        let imported = self
            .guarded(conn, lock, async |conn| self.import_on(conn, tool).await)
            .await?;
        tracing::warn!(
            "first run on a database {tool} migrated: recorded the {} migration(s) it applied as applied, with its timestamps; none of them ran",
            imported.len()
        );
        self.history_if_exists(conn).await
    }

    /// The tool whose history table the database has, when shiplap's history is empty:
    /// the first `up` imports it. Two such tables: an error asking which.
    pub(super) async fn other_tool(&self, conn: &mut Connection<'_>) -> Result<Option<Tool>> {
        const TOOLS: [Tool; 3] = [Tool::Sqlx, Tool::Diesel, Tool::Refinery];
        let names = TOOLS
            .iter()
            .map(|t| format!("'{}'", t.history_table()))
            .collect::<Vec<_>>()
            .join(", ");
        // One query for the three, on a run that finds shiplap's history empty.
        let sql = match conn.backend() {
            Backend::Postgres => format!(
                "SELECT t FROM unnest(ARRAY[{names}]) AS t WHERE to_regclass(t) IS NOT NULL"
            ),
            Backend::MySql => format!(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name IN ({names})"
            ),
            Backend::Sqlite => {
                format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({names})")
            }
        };
        let present = conn.strings(&sql).await?;
        let found: Vec<Tool> = TOOLS
            .into_iter()
            .filter(|t| present.iter().any(|p| p == t.history_table()))
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [tool] => Ok(Some(*tool)),
            _ => Err(Error::InvalidArgument {
                message: format!(
                    "the database has the history tables of {}: run `migrate import-history --from <tool>` for the one that migrated it",
                    found
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            }),
        }
    }

    /// [`Self::import_history`] on a connection that holds the run lock.
    pub(super) async fn import_on(
        &self,
        conn: &mut Connection<'_>,
        tool: Tool,
    ) -> Result<Vec<ImportedRow>> {
        let table = self.table_sql();
        let recorded: Vec<i64> = self
            .prepare_history(conn, true)
            .await?
            .unwrap_or_default()
            .iter()
            .map(|r| r.version)
            .collect();
        let old = old_rows(conn, tool).await?;
        let rendered: BTreeMap<i64, _> = self
            .rendered_up()?
            .into_iter()
            .map(|(m, r)| (m.version(), (m, r)))
            .collect();
        let mut problems = Vec::new();
        let mut rows = Vec::new();
        for row in &old {
            let Some(version) = shiplap_version(tool, &row.version) else {
                problems.push(format!("version `{}` is not a number", row.version));
                continue;
            };
            let Some((m, r)) = rendered.get(&version) else {
                problems.push(format!(
                    "{} (version {version}) is in `{}` but not in the code: import its file, or remove the row",
                    row.version,
                    tool.history_table()
                ));
                continue;
            };
            if !row.success {
                problems.push(format!(
                    "{version} {} failed under {tool} (success = false): fix it with {tool} first",
                    m.name()
                ));
                continue;
            }
            let sql = raw_up(m, self.backend()).unwrap_or_default();
            let matches = match (tool, &row.checksum) {
                (Tool::Sqlx, Some(checksum)) => {
                    hex::encode(Sha384::digest(sql.as_bytes())) == *checksum
                }
                (Tool::Refinery, Some(checksum)) => {
                    let expected = refinery_checksums(&row.name, version, &sql);
                    checksum.parse::<u64>().is_ok_and(|c| expected.contains(&c))
                }
                _ => true,
            };
            if !matches {
                problems.push(format!(
                    "{version} {} ({}): its SQL differs from what {tool} applied (checksum)",
                    m.name(),
                    m.location()
                ));
                continue;
            }
            if recorded.contains(&version) {
                continue;
            }
            let mut history = self.row(m, r, RowState::Applied, row.duration_ms);
            history.applied_at = row.applied_at.clone();
            rows.push((history, m.name()));
        }
        if old.is_empty() {
            problems.push(format!("`{}` has no rows", tool.history_table()));
        }
        if !problems.is_empty() {
            return Err(Error::ImportRefused {
                tool: tool.name(),
                problems,
            });
        }
        // All or none: a runner killed half-way must not leave some rows, which would make
        // the next `up` skip the import and run the rest. (In transaction lock mode the
        // caller's transaction already holds them.)
        let own_transaction = self.options.lock != LockMode::Transaction && !rows.is_empty();
        if own_transaction {
            conn.execute(self.begin()).await?;
        }
        let mut imported = Vec::new();
        for (row, name) in rows {
            if let Err(e) = conn.execute(&table.insert(&row)).await {
                if own_transaction {
                    let _ = conn.execute("ROLLBACK").await;
                }
                return Err(e.into());
            }
            imported.push(ImportedRow {
                version: row.version,
                name,
                applied_at: row.applied_at,
            });
        }
        if own_transaction {
            conn.execute("COMMIT").await?;
        }
        Ok(imported)
    }
}
