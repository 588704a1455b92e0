//! `./shiplap.toml`: the settings a project keeps beside its code.

use std::path::Path;

use crate::error::{Error, Result};

/// What `shiplap.toml` may hold.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Config {
    /// `[lint]`.
    #[serde(default)]
    pub(super) lint: LintConfig,
}

/// `[lint]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LintConfig {
    /// Report only migrations from this version on.
    pub(super) since: Option<i64>,
    /// With `lint --database-url`: a table with fewer rows is small, and what locks or
    /// rewrites it only warns (default 10,000).
    pub(super) small_table_rows: Option<i64>,
    /// The same in bytes, for a table whose rows the database does not know (default
    /// 64 MiB).
    pub(super) small_table_bytes: Option<i64>,
}

impl Config {
    /// The file at `path`; an empty configuration when there is none.
    pub(super) fn read(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| Error::InvalidArgument {
            message: format!("{}: {e}", path.display()),
        })
    }
}
