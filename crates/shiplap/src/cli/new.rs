//! `migrate new`: a migration file in the migrations crate, registered in its `lib.rs`.

use std::path::Path;

use super::args::{ImportArgs, NewArgs};
use super::json::{ImportDoc, NewDoc, RenumberDoc, text};
use crate::authoring;
use crate::error::{Error, Result};
use crate::migrator::Migrator;

/// `new`'s JSON document for the file it wrote.
fn new_doc(name: &str, created: &authoring::Created) -> String {
    text(&NewDoc {
        version: created.version,
        name,
        file: &created.path,
        registered_in: &created.lib,
    })
}

/// The migrations crate: `--dir`, or the one the workspace has.
fn crate_dir(dir: Option<&std::path::PathBuf>) -> Result<std::path::PathBuf> {
    match dir {
        Some(dir) => Ok(dir.clone()),
        None => authoring::find_migrations_crate(Path::new(".")),
    }
}

/// `--from-diff`: the schema the migrations build (on a scratch database, like `verify`)
/// against the database's; the migration that turns the one into the other.
pub(super) async fn from_diff(args: &NewArgs, m: &Migrator<'_>, json: bool) -> Result<String> {
    let dir = crate_dir(args.dir.as_ref())?;
    authoring::check_name(&args.name)?;
    let live = m.schema().await?;
    let built = m.built_schema().await?;
    if built.diff(&live).is_empty() {
        return Err(Error::InvalidArgument {
            message: format!(
                "{} has exactly the schema the migrations build: there is nothing to generate",
                m.url()
            ),
        });
    }
    let written = authoring::create_from_diff(
        &dir,
        &args.name,
        crate::clock::now_seconds(),
        m.url().backend(),
        &m.url().to_string(),
        &built,
        &live,
    )?;
    let created = &written.created;
    // Formatted as the rest of the crate is, when rustfmt is there (it is with cargo).
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(&created.path)
        .stderr(std::process::Stdio::null())
        .status();
    Ok(if json {
        new_doc(&args.name, created)
    } else {
        format!(
            "created {} (version {}) from the differences with {}: {} step(s), {} marked REVIEW\n\
             registered in {}\nread it, then `migrate sql --version {}` shows its SQL; `migrate verify` checks its down\n",
            created.path.display(),
            created.version,
            m.url(),
            written.steps,
            written.reviews,
            created.lib.display(),
            created.version,
        )
    })
}

/// `import`: a migration for each of the other tool's; returns what to print.
pub(super) fn import(args: &ImportArgs, json: bool) -> Result<String> {
    let dir = crate_dir(args.dir.as_ref())?;
    let created = authoring::import(&dir, args.from, &args.source)?;
    Ok(if json {
        text(&ImportDoc {
            from: args.from.name(),
            created: &created,
        })
    } else {
        let mut out = format!(
            "imported {} {} migration(s) from {} into {}:\n",
            created.len(),
            args.from,
            args.source.display(),
            dir.display()
        );
        for c in &created {
            out.push_str(&format!("  {} {}\n", c.version, c.path.display()));
        }
        out.push_str("then, on each database the tool migrated: `migrate import-history --from ");
        out.push_str(args.from.name());
        out.push_str("`\n");
        out
    })
}

/// `renumber`: the pending migrations older than the newest applied one, moved above it.
pub(super) async fn renumber(m: &Migrator<'_>, json: bool) -> Result<String> {
    let recorded: Vec<i64> = m.history().await?.iter().map(|r| r.version).collect();
    let Some(&newest) = recorded.iter().max() else {
        return Ok(format!(
            "nothing to renumber: {} has no applied migration\n",
            m.url()
        ));
    };
    let moves: Vec<authoring::Move> = m
        .registry()
        .iter()
        .filter(|migration| {
            migration.version() < newest && !recorded.contains(&migration.version())
        })
        .map(|migration| authoring::Move {
            from: migration.version(),
            name: migration.name().to_owned(),
            file: migration.location().file.to_owned(),
        })
        .collect();
    let start = std::env::current_dir().map_err(|source| Error::Io {
        action: "read",
        path: ".".into(),
        source,
    })?;
    let renumbered = authoring::renumber(&start, &moves, newest, crate::clock::now_seconds())?;
    if json {
        return Ok(text(&RenumberDoc {
            database: m.url().to_string(),
            renumbered: &renumbered,
        }));
    }
    if renumbered.is_empty() {
        return Ok(format!(
            "nothing to renumber: no pending migration is older than {newest}, the newest applied on {}\n",
            m.url()
        ));
    }
    let mut out = format!(
        "renumbered {} pending migration(s) older than {newest}, the newest applied on {}:\n",
        renumbered.len(),
        m.url()
    );
    for r in &renumbered {
        out.push_str(&format!(
            "  {} -> {} {} ({}; {} snapshot(s) renamed)\n",
            r.from,
            r.to,
            r.name,
            r.file.display(),
            r.snapshots.len()
        ));
    }
    out.push_str("rebuild, review the diff, and `migrate up` applies them in order\n");
    Ok(out)
}

/// Writes the file; returns what to print.
pub(super) fn new(args: &NewArgs, json: bool) -> Result<String> {
    let dir = crate_dir(args.dir.as_ref())?;
    let template = authoring::Template {
        data: args.data,
        transaction: !args.no_transaction,
    };
    let created = authoring::create(&dir, &args.name, template, crate::clock::now_seconds())?;
    Ok(if json {
        new_doc(&args.name, &created)
    } else {
        format!(
            "created {} (version {})\nregistered in {}\nit is pending until applied: fill it in, then `migrate status`, `migrate up`\n",
            created.path.display(),
            created.version,
            created.lib.display()
        )
    })
}
