//! Another tool's migrations, and its history: which tool, and how its versions map to
//! shiplap's. `migrate import` writes the files (`authoring`), `migrate import-history`
//! records the history (`Migrator::import_history`).

use std::fmt;

use crate::error::{Error, Result};

fn invalid(message: String) -> Error {
    Error::InvalidArgument { message }
}

/// The tool migrations are imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tool {
    /// sqlx: `<version>_<description>.sql`, or `.up.sql` and `.down.sql`; history in
    /// `_sqlx_migrations`.
    Sqlx,
    /// diesel: `<version>_<name>/up.sql` (and `down.sql`, `metadata.toml`); history in
    /// `__diesel_schema_migrations`.
    Diesel,
    /// refinery: `V<version>__<name>.sql`; history in `refinery_schema_history`.
    Refinery,
}

impl Tool {
    /// Its name as `--from` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::Refinery => "refinery",
        }
    }

    /// The tool named `name`.
    pub fn parse(name: &str) -> Result<Tool> {
        match name {
            "sqlx" => Ok(Tool::Sqlx),
            "diesel" => Ok(Tool::Diesel),
            "refinery" => Ok(Tool::Refinery),
            _ => Err(invalid(format!(
                "--from {name}: expected sqlx, diesel or refinery"
            ))),
        }
    }

    /// The history table the tool keeps by default.
    pub fn history_table(self) -> &'static str {
        match self {
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::Refinery => "refinery_schema_history",
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The shiplap version of a migration the tool knows by `version` (its text as the tool
/// writes it in its history: diesel's without dashes): the same number, except for
/// diesel, whose versions are timestamps ordered as text: its first 14 digits
/// (`YYYYMMDDHHMMSS`: newer diesel writes `2024-01-01-120000-0000`, whose 18 digits would
/// sort after every older 14-digit one as numbers), and `00000000000000_diesel_initial_setup`,
/// version 0, becomes 1 (shiplap versions are positive).
pub fn shiplap_version(tool: Tool, version: &str) -> Option<i64> {
    let digits: String = match tool {
        Tool::Diesel => version.replace('-', "").chars().take(14).collect(),
        _ => version.to_owned(),
    };
    let number: i64 = digits.trim().parse().ok()?;
    match (tool, number) {
        (Tool::Diesel, 0) => Some(1),
        (_, n) if n > 0 => Some(n),
        _ => None,
    }
}
