//! `./shiplap.toml`: the settings a project keeps beside its code.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// The file, in the folder the command runs in.
pub(super) const FILE: &str = "shiplap.toml";

/// What `shiplap.toml` may hold.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Config {
    /// `[lint]`.
    #[serde(default)]
    #[cfg_attr(not(feature = "lint"), allow(dead_code))] // read by `migrate lint`
    pub(super) lint: LintConfig,
    /// `[environments.NAME]`: what `--env NAME` selects.
    #[serde(default)]
    pub(super) environments: BTreeMap<String, Environment>,
}

/// `[environments.NAME]`: where an environment's database is, and what it allows.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Environment {
    /// The environment variable holding the database URL (the URL itself never sits in
    /// the file): `--database-url` still wins; unset, the command refuses to guess.
    pub(super) url_from: Option<String>,
    /// Refuse `fresh`.
    #[serde(default)]
    pub(super) refuse_fresh: bool,
    /// Refuse a `down` or `redo` whose SQL drops a table or a column, truncates, or
    /// deletes rows.
    #[serde(default)]
    pub(super) refuse_destructive_down: bool,
    /// What `up` does with the lint's errors: `enforce` (refuse, the default), `warn`,
    /// `off`.
    pub(super) lint: Option<LintPolicy>,
    /// `up` runs the environment's seeds afterwards, as `up --seed` does.
    #[serde(default)]
    pub(super) seed_after_up: bool,
    /// How long to wait for another runner's lock (`--lock-timeout` wins), e.g. `"5m"`.
    #[serde(default, with = "duration_text")]
    pub(super) lock_timeout: Option<Duration>,
}

/// What `up` does with the lint's errors in an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum LintPolicy {
    /// Refuse migrations with unacknowledged lint errors.
    Enforce,
    /// Print them as warnings, and apply.
    Warn,
    /// Do not lint.
    Off,
}

/// A duration written as humantime's text (`"30s"`, `"5m"`).
mod duration_text {
    use std::time::Duration;

    pub(super) fn deserialize<'de, D>(deserializer: D) -> Result<Option<Duration>, D::Error>
    where
        D: serde::Deserializer<'de>,
    {
        let text: Option<String> = serde::Deserialize::deserialize(deserializer)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `[lint]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "lint"), allow(dead_code))] // read by `migrate lint`
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
    /// `./shiplap.toml`, or an empty configuration.
    pub(super) fn here() -> Result<Config> {
        Config::read(Path::new(FILE))
    }

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
