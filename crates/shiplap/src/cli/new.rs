//! `migrate new`: a migration file in the migrations crate, registered in its `lib.rs`.

use std::path::Path;

use super::args::NewArgs;
use super::json::{NewDoc, text};
use crate::authoring;
use crate::error::Result;

/// Writes the file; returns what to print.
pub(super) fn new(args: &NewArgs, json: bool) -> Result<String> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => authoring::find_migrations_crate(Path::new("."))?,
    };
    let template = authoring::Template {
        data: args.data,
        transaction: !args.no_transaction,
    };
    let created = authoring::create(&dir, &args.name, template, crate::clock::now_seconds())?;
    Ok(if json {
        text(&NewDoc {
            version: created.version,
            name: &args.name,
            file: &created.path,
            registered_in: &created.lib,
        })
    } else {
        format!(
            "created {} (version {})\nregistered in {}\nit is pending until applied: fill it in, then `migrate status`, `migrate up`\n",
            created.path.display(),
            created.version,
            created.lib.display()
        )
    })
}
