//! Setting the history straight without running migrations: `baseline`, `repair` and
//! `fresh` (which drops everything first).

use std::collections::HashSet;

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::connection::Connection;
use crate::error::{Error, Result};
use crate::history::RowState;
use crate::lock::LockMode;
use crate::render::Direction;
use crate::status::{MigrationStatus, State};

use super::{Done, Migrator};

impl Migrator<'_> {
    /// Records every registered migration up to `version` as applied, without running
    /// it: for a database that already has that schema. Refuses on a database with history.
    pub async fn baseline(&self, version: i64) -> Result<Vec<i64>> {
        if version < 1 {
            return Err(Error::InvalidArgument {
                message: "--version must be a positive version".into(),
            });
        }
        self.locked(true, async |conn, lock| {
            self.guarded(conn, lock, async |conn| {
                let table = self.table_sql();
                if !self
                    .prepare_history(conn, true)
                    .await?
                    .unwrap_or_default()
                    .is_empty()
                {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "the history table `{}` already has rows: baseline is for a database shiplap has not migrated yet",
                            self.options.table
                        ),
                    });
                }
                let mut recorded = Vec::new();
                for (m, rendered) in self.rendered_up()? {
                    if m.version() > version {
                        break;
                    }
                    let row = self.row(m, &rendered, RowState::Applied, 0);
                    conn.execute(&table.insert(&row)).await?;
                    recorded.push(m.version());
                }
                Ok(recorded)
            })
            .await
        })
        .await
    }

    /// Clears rows of migrations that did not finish (so that `up` runs them again, data
    /// migrations from their first row) and accepts the current checksums of changed ones,
    /// for every row or only `version`; with `mark`, records one `version` as applied or
    /// pending whatever its row says. Run it after a person has checked the database; it
    /// says what it changed. A down that did not finish needs `mark`: only a person can
    /// tell whether its objects are gone.
    pub async fn repair(&self, version: Option<i64>, mark: Option<Mark>) -> Result<Vec<Repaired>> {
        if mark.is_some() && version.is_none() {
            return Err(Error::InvalidArgument {
                message: "--mark needs --version: it marks one migration".into(),
            });
        }
        self.locked(false, async |conn, lock| {
            self.guarded(conn, lock, async |conn| {
                let table = self.table_sql();
                let rows = self
                    .prepare_history(conn, false)
                    .await?
                    .unwrap_or_default();
                let rendered = self.rendered_up()?;
                let current = |version: i64| {
                    rendered
                        .iter()
                        .find(|(m, _)| m.version() == version)
                        .ok_or(Error::UnknownVersion { version })
                };
                if let (Some(v), Some(mark)) = (version, mark) {
                    let row = rows.iter().find(|r| r.version == v);
                    let (name, action) = match mark {
                        Mark::Applied => {
                            let (m, r) = current(v)?;
                            let sql = match row {
                                Some(_) => table.update_checksums(
                                    v,
                                    m.source_checksum(),
                                    r.checksum().unwrap_or_default(),
                                    r.raw_checksum(),
                                ),
                                None => table.insert(&self.row(m, r, RowState::Applied, 0)),
                            };
                            conn.execute(&sql).await?;
                            (
                                m.name().to_owned(),
                                "marked applied (nothing ran): `down` can revert it",
                            )
                        }
                        Mark::Pending => {
                            let Some(row) = row else {
                                return Err(no_row(v));
                            };
                            conn.execute(&table.delete(v)).await?;
                            conn.execute(&table.backfill_delete(v)).await?;
                            (
                                row.name.clone(),
                                "marked pending (its row and backfill positions deleted, nothing ran): \
                                 `up` will run it from the start",
                            )
                        }
                    };
                    return Ok(vec![Repaired {
                        version: v,
                        name,
                        action,
                    }]);
                }
                if let Some(v) = version
                    && !rows.iter().any(|r| r.version == v)
                {
                    return Err(no_row(v));
                }
                let statuses: Vec<MigrationStatus> = self
                    .statuses(&rendered, &rows)
                    .into_iter()
                    .filter(|s| version.is_none_or(|v| v == s.version))
                    .collect();
                // Refuse before changing anything.
                for status in &statuses {
                    match status.state {
                        State::DirtyDown => {
                            return Err(Error::Dirty {
                                version: status.version,
                                name: status.name.clone(),
                                down: true,
                            });
                        }
                        State::Missing if version.is_some() => {
                            return Err(Error::InvalidArgument {
                                message: format!(
                                    "migration {} {} is applied but missing from the code: there is \
                                     nothing to repair against; `migrate repair --version {} --mark \
                                     pending` forgets its row (what it created stays)",
                                    status.version, status.name, status.version
                                ),
                            });
                        }
                        _ => {}
                    }
                }
                let mut changes = Vec::new();
                for status in statuses {
                    let action = match status.state {
                        State::Dirty => {
                            conn.execute(&table.delete(status.version)).await?;
                            conn.execute(&table.backfill_delete(status.version)).await?;
                            "cleared dirty row (and any backfill positions): `up` will run this \
                             migration again from the start"
                        }
                        State::Modified | State::RenderingChanged => {
                            let (m, r) = current(status.version)?;
                            conn.execute(&table.update_checksums(
                                status.version,
                                m.source_checksum(),
                                r.checksum().unwrap_or_default(),
                                r.raw_checksum(),
                            ))
                            .await?;
                            "accepted the current checksums"
                        }
                        _ => continue,
                    };
                    changes.push(Repaired {
                        version: status.version,
                        name: status.name,
                        action,
                    });
                }
                Ok(changes)
            })
            .await
        })
        .await
    }

    /// Drops every table (and view, sequence and enum type) in the database's current
    /// schema, then applies every migration. Destroys all data: for development only.
    pub async fn fresh_destroying_all_data(&self) -> Result<Vec<Done>> {
        if self.options.guards.refuse_fresh {
            return Err(Error::Guarded {
                environment: self.options.environment.clone().unwrap_or_default(),
                what: "`fresh` drops every table, and shiplap.toml says `refuse_fresh = true` \
                       here. Nothing was dropped. Use `down` and `up`, or run `fresh` against a \
                       database whose environment allows it (`--env NAME`)"
                    .into(),
            });
        }
        if self.options.lock == LockMode::Transaction {
            return Err(Error::InvalidArgument {
                message: "fresh drops everything while it holds the lock: it needs --lock \
                          session, on a direct connection (not through a pooler)"
                    .into(),
            });
        }
        self.locked(true, async |conn, lock| {
            // A lease's lock table stays: the run holds its row.
            drop_everything(conn, lock.lease().map(|l| l.table_name.as_str())).await?;
            self.prepared_history(conn, lock, true).await?;
            let plan = self.plan_up(&self.rendered_up()?, &[], &HashSet::new(), None, false)?;
            let mut done = self.run(conn, lock, plan, false).await.into_result()?;
            done.extend(
                self.apply_runs(conn, lock, super::runs::Runs::Repeatables(Direction::Up))
                    .await
                    .into_result()?,
            );
            Ok(done)
        })
        .await
    }
}

/// What `repair --mark` records a migration as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Mark {
    /// Applied, with the current checksums, although nothing runs: its objects are there.
    Applied,
    /// Not applied: its row (and backfill positions) deleted, although nothing runs.
    Pending,
}

/// The error for `repair --version V` when V has no history row.
pub(super) fn no_row(version: i64) -> Error {
    Error::InvalidArgument {
        message: format!(
            "migration {version} has no history row: nothing to repair (`migrate history` lists the rows)"
        ),
    }
}

/// What `repair` changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Repaired {
    /// The version of the row.
    pub version: i64,
    /// The name recorded for it.
    pub name: String,
    /// What was done: `cleared dirty row` or `accepted current checksums`.
    pub action: &'static str,
}

/// Drops every table, view, sequence and enum type of the current schema, but the table
/// `keep` (a checked name).
pub(super) async fn drop_everything(conn: &mut Connection<'_>, keep: Option<&str>) -> Result<()> {
    let keep = keep.unwrap_or_default();
    match conn.backend() {
        Backend::Sqlite => {
            let objects = conn
                .strings(&format!(
                    "SELECT type || ' \"' || replace(name, '\"', '\"\"') || '\"' FROM sqlite_master \
                     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' AND name <> '{keep}'"
                ))
                .await?;
            conn.execute("PRAGMA foreign_keys = OFF").await?;
            for object in objects {
                conn.execute(&format!("DROP {object}")).await?;
            }
            conn.execute("PRAGMA foreign_keys = ON").await?;
        }
        Backend::Postgres => {
            for (kind, query) in [
                (
                    "VIEW",
                    "SELECT quote_ident(viewname) FROM pg_views WHERE schemaname = current_schema()",
                ),
                (
                    "TABLE",
                    &format!(
                        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '{keep}'"
                    ),
                ),
                (
                    "SEQUENCE",
                    "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = current_schema()",
                ),
                (
                    "TYPE",
                    "SELECT quote_ident(t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                          WHERE n.nspname = current_schema() AND t.typtype = 'e'",
                ),
            ] {
                let names = conn.strings(query).await?;
                if !names.is_empty() {
                    conn.execute(&format!(
                        "DROP {kind} IF EXISTS {} CASCADE",
                        names.join(", ")
                    ))
                    .await?;
                }
            }
        }
        Backend::MySql => {
            let objects = conn
                .strings(&format!(
                    "SELECT CAST(CONCAT(IF(table_type = 'VIEW', 'VIEW', 'TABLE'), ' `', REPLACE(table_name, '`', '``'), '`') AS CHAR) \
                     FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> '{keep}'"
                ))
                .await?;
            conn.execute("SET FOREIGN_KEY_CHECKS = 0").await?;
            for object in objects {
                conn.execute(&format!("DROP {object}")).await?;
            }
            conn.execute("SET FOREIGN_KEY_CHECKS = 1").await?;
        }
    }
    Ok(())
}
