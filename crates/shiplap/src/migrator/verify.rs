//! `schema`, `verify` and `diff`: the schema a database holds, every migration applied,
//! reverted and applied again on a scratch database, and a live database compared with
//! what its applied migrations should have built.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::connection::connect;
use crate::database_url::{DatabaseUrl, UrlSource};
use crate::error::{Error, Result};
use crate::inspect::{Change, DatabaseSchema};
use crate::migration::Migration;
use crate::migrator::{DownTarget, Migrator, Options};
use crate::progress::ProgressOutput;
use crate::render::{Direction, render};
use crate::schema::{Plan, plan};

use super::Mark;

/// What `verify` found for one migration.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Verified {
    /// Its version.
    pub version: i64,
    /// Its name.
    pub name: &'static str,
    /// Where it is defined (`file:line`).
    pub source: String,
    /// What happened.
    pub outcome: VerifyOutcome,
    /// How long its apply, revert and re-apply took, in milliseconds.
    pub duration_ms: u64,
}

/// The outcome of one migration's apply, revert, apply.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum VerifyOutcome {
    /// Reverting restored the schema before it, and applying again built the same schema.
    Ok,
    /// It has no down: applied, not reverted.
    Irreversible {
        /// Why, as its code says.
        reason: String,
    },
    /// Its down left another schema than the one before it, as its code says it does
    /// on this backend ([`crate::WithDown::inexact_on`]): reported, not a failure.
    Inexact {
        /// Why, as its code says.
        reason: String,
        /// Before the migration → after its down.
        changes: Vec<Change>,
    },
    /// Its down left a schema other than the one before it.
    DownMismatch {
        /// Before the migration → after its down.
        changes: Vec<Change>,
    },
    /// Applied again after its down, it built another schema than the first time.
    ReapplyMismatch {
        /// First apply → second apply.
        changes: Vec<Change>,
    },
    /// It failed (`step` is `up`, `down` or `up again`): the verification stops there.
    Failed {
        /// Which run failed.
        step: &'static str,
        /// The error.
        error: String,
    },
}

impl VerifyOutcome {
    /// Whether this is a problem (`verify` exits 3 on a mismatch, 1 on a failure).
    pub fn is_problem(&self) -> bool {
        !matches!(
            self,
            VerifyOutcome::Ok | VerifyOutcome::Irreversible { .. } | VerifyOutcome::Inexact { .. }
        )
    }
}

/// What `diff` found: the live database against the schema its applied migrations build.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Drift {
    /// The migrations applied on the live database (the ones the expected schema is built
    /// from).
    pub applied: Vec<i64>,
    /// Applied on the live database but missing from the code: the expected schema lacks
    /// what they built.
    pub missing: Vec<i64>,
    /// Each object that differs: `before` as the migrations build it, `after` as the live
    /// database has it (`+` added by hand, `-` removed, `~` changed).
    pub changes: Vec<Change>,
}

/// A database made for one command and dropped after it: a temporary SQLite file, or a
/// database created on the PostgreSQL or MySQL server of the migrator's URL.
struct Scratch {
    url: DatabaseUrl,
    /// The server's URL and the database's name (PostgreSQL, MySQL).
    server: Option<(DatabaseUrl, String)>,
    file: Option<PathBuf>,
}

impl Scratch {
    async fn create(migrator: &Migrator<'_>) -> Result<Scratch> {
        let unique = format!(
            "{}_{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() % 1_000_000_000_000)
        );
        let backend = migrator.backend();
        if backend == Backend::Sqlite {
            let file = std::env::temp_dir().join(format!("shiplap-scratch-{unique}.db"));
            let url = DatabaseUrl::parse(&format!("sqlite://{}", file.display()), UrlSource::Flag)?;
            return Ok(Scratch {
                url,
                server: None,
                file: Some(file),
            });
        }
        let Some(server) = migrator.own_url() else {
            return Err(Error::InvalidArgument {
                message: "this command creates a scratch database on the server: give the \
                          migrator a database URL, not a pool or a connection"
                    .into(),
            });
        };
        let name = format!("shiplap_scratch_{unique}");
        let mut conn = connect(server, migrator.options.connect, false).await?;
        let created = conn
            .execute(&format!("CREATE DATABASE {}", backend.quote_name(&name)))
            .await;
        conn.finish(true).await;
        created.map_err(|e| Error::InvalidArgument {
            message: format!(
                "could not create a scratch database on the server of {server}: {e}; the user \
                 needs the right to create databases (PostgreSQL CREATEDB, MySQL CREATE)"
            ),
        })?;
        let mut url = url::Url::parse(server.expose()).map_err(|e| Error::InvalidDatabaseUrl {
            url: server.to_string(),
            reason: e.to_string(),
        })?;
        url.set_path(&format!("/{name}"));
        Ok(Scratch {
            url: DatabaseUrl::parse(url.as_str(), server.source())?,
            server: Some((server.clone(), name)),
            file: None,
        })
    }

    /// Drops it; a failure is a warning (the run's outcome is what matters).
    async fn drop(self, migrator: &Migrator<'_>) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some((server, name)) = &self.server {
            let backend = server.backend();
            let sql = match backend {
                Backend::Postgres => format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    backend.quote_name(name)
                ),
                _ => format!("DROP DATABASE IF EXISTS {}", backend.quote_name(name)),
            };
            let dropped = match connect(server, migrator.options.connect, false).await {
                Ok(mut conn) => {
                    let dropped = conn.execute(&sql).await.map(|_| ());
                    conn.finish(true).await;
                    dropped.map_err(Error::from)
                }
                Err(e) => Err(e),
            };
            if let Err(e) = dropped {
                tracing::warn!("could not drop the scratch database {name}: {e}; drop it by hand");
            }
        }
    }

    /// A migrator of the same migrations on the scratch database, quiet, without the lint.
    fn migrator(&self, of: &Migrator<'_>) -> Migrator<'static> {
        let options = Options {
            progress: ProgressOutput::Silent,
            lint: false,
            allow_out_of_order: true,
            ..of.options.clone()
        };
        Migrator::new(of.registry().clone(), self.url.clone()).with_options(options)
    }
}

impl Migrator<'_> {
    /// The schema of the database, normalised (shiplap's own tables left out).
    pub async fn schema(&self) -> Result<DatabaseSchema> {
        let mut conn = self.connect().await?;
        let schema = DatabaseSchema::read(&mut conn, &self.options.table).await;
        self.finish(conn, schema.is_err()).await;
        Ok(schema?)
    }

    /// Applies, reverts and applies again each migration in order on a scratch database
    /// (a temporary SQLite file; on PostgreSQL and MySQL a database created on the server
    /// of the migrator's URL, and dropped after): reverting must give back the schema
    /// before the migration, and applying again the schema after it. The database of the
    /// migrator's URL itself is never touched. Stops at the first migration that fails.
    pub async fn verify(&self) -> Result<Vec<Verified>> {
        let mut scratch = Scratch::create(self).await?;
        let mut verified = Vec::new();
        let mut before = DatabaseSchema::default();
        for migration in self.registry().iter() {
            let started = Instant::now();
            let outcome = self.verify_one(&scratch, migration, &mut before).await;
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(e) => {
                    scratch.drop(self).await;
                    return Err(e);
                }
            };
            // A down that left the schema wrong leaves the scratch database so: start a
            // new one with the migrations up to this one applied, and go on from there.
            if matches!(outcome, VerifyOutcome::DownMismatch { .. }) {
                scratch.drop(self).await;
                scratch = Scratch::create(self).await?;
                if let Err(e) = scratch.migrator(self).up_to(migration.version()).await {
                    scratch.drop(self).await;
                    return Err(e);
                }
            }
            let stop = matches!(outcome, VerifyOutcome::Failed { .. });
            verified.push(Verified {
                version: migration.version(),
                name: migration.name(),
                source: migration.location().to_string(),
                outcome,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            if stop {
                break;
            }
        }
        scratch.drop(self).await;
        Ok(verified)
    }

    /// Applies, reverts and applies again one migration on the scratch database, whose
    /// schema is `before`; leaves `before` as the schema after it.
    async fn verify_one(
        &self,
        scratch: &Scratch,
        migration: &'static Migration,
        before: &mut DatabaseSchema,
    ) -> Result<VerifyOutcome> {
        let migrator = scratch.migrator(self);
        if let Err(e) = migrator.up_to(migration.version()).await {
            return Ok(VerifyOutcome::Failed {
                step: "up",
                error: e.to_string(),
            });
        }
        let after = migrator.schema().await?;
        let outcome = match render(migration, self.backend(), Direction::Down) {
            Err(Error::Irreversible { reason, .. }) => VerifyOutcome::Irreversible { reason },
            Err(e) => return Err(e),
            Ok(_) => {
                self.revert_and_reapply(&migrator, migration, before, &after)
                    .await?
            }
        };
        *before = after;
        Ok(outcome)
    }

    async fn revert_and_reapply(
        &self,
        migrator: &Migrator<'_>,
        migration: &'static Migration,
        before: &DatabaseSchema,
        after: &DatabaseSchema,
    ) -> Result<VerifyOutcome> {
        let version = migration.version();
        if let Err(e) = migrator.down(DownTarget::Steps(1)).await {
            return Ok(VerifyOutcome::Failed {
                step: "down",
                error: e.to_string(),
            });
        }
        let reverted = migrator.schema().await?;
        let changes = before.diff(&reverted);
        if !changes.is_empty() {
            // Its code may say the down is inexact on this backend.
            let inexact = match plan(migration)? {
                Plan::Schema(schema) => schema
                    .steps()
                    .iter()
                    .filter(|step| step.runs_on(self.backend()))
                    .find_map(|step| step.inexact_on(self.backend()).map(str::to_owned)),
                Plan::Data => None,
            };
            let Some(reason) = inexact else {
                return Ok(VerifyOutcome::DownMismatch { changes });
            };
            // Go on from the schema the migration built.
            migrator.up_to(version).await?;
            return Ok(VerifyOutcome::Inexact { reason, changes });
        }
        if let Err(e) = migrator.up_to(version).await {
            return Ok(VerifyOutcome::Failed {
                step: "up again",
                error: e.to_string(),
            });
        }
        let again = migrator.schema().await?;
        let changes = after.diff(&again);
        Ok(if changes.is_empty() {
            VerifyOutcome::Ok
        } else {
            VerifyOutcome::ReapplyMismatch { changes }
        })
    }

    /// The schema every migration builds, applied in order on a scratch database (see
    /// [`Migrator::verify`]): what `migrate schema` would print after `up` on a new
    /// database, without one.
    pub async fn built_schema(&self) -> Result<DatabaseSchema> {
        let scratch = Scratch::create(self).await?;
        let migrator = scratch.migrator(self);
        let built = match migrator.up().await {
            Ok(_) => migrator.schema().await,
            Err(e) => Err(e),
        };
        scratch.drop(self).await;
        built
    }

    /// Compares the database with the schema its applied migrations build, on a scratch
    /// database (see [`Migrator::verify`]): objects added, removed or changed by hand.
    pub async fn diff(&self) -> Result<Drift> {
        let applied: BTreeSet<i64> = self
            .history()
            .await?
            .iter()
            .filter(|row| row.state == crate::history::RowState::Applied)
            .map(|row| row.version)
            .collect();
        let known: BTreeSet<i64> = self.registry().iter().map(|m| m.version()).collect();
        let live = self.schema().await?;
        let scratch = Scratch::create(self).await?;
        let expected = self.build_expected(&scratch, &applied).await;
        scratch.drop(self).await;
        let expected = expected?;
        Ok(Drift {
            applied: applied.iter().copied().collect(),
            missing: applied.difference(&known).copied().collect(),
            changes: expected.diff(&live),
        })
    }

    /// Applies exactly `applied` (those of the code) on the scratch database, in order.
    async fn build_expected(
        &self,
        scratch: &Scratch,
        applied: &BTreeSet<i64>,
    ) -> Result<DatabaseSchema> {
        let migrator = scratch.migrator(self);
        let Some(&last) = applied.last() else {
            return Ok(DatabaseSchema::default());
        };
        // In order: one the live database applied is applied; one it has not is marked
        // applied (nothing runs), so that applying the next one skips it (`baseline`
        // while there is no history table yet).
        let mut history_made = false;
        for migration in self.registry().iter() {
            let version = migration.version();
            if version > last {
                break;
            }
            if applied.contains(&version) {
                migrator.up_to(version).await?;
            } else if history_made {
                migrator.repair(Some(version), Some(Mark::Applied)).await?;
            } else {
                migrator.baseline(version).await?;
            }
            history_made = true;
        }
        migrator.schema().await
    }
}
