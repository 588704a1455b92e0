//! `--env NAME` / `SHIPLAP_ENV`: the environment a command runs in, as `shiplap.toml`'s
//! `[environments.NAME]` describes it.

use crate::database_url::{DatabaseUrl, UrlSource};
use crate::error::{Error, Result};
use crate::migrator::{Guards, Migrator};

use super::args::{Cli, ConnectionArgs};
use super::config::{Config, Environment, FILE, LintPolicy};

/// The variable that selects an environment when `--env` is not given.
pub(super) const VARIABLE: &str = "SHIPLAP_ENV";

/// The environment a command runs in.
#[derive(Clone)]
pub(super) struct Selected {
    pub(super) name: String,
    /// How it was selected, for the line that says so: `from --env`, `from $SHIPLAP_ENV`.
    pub(super) source: &'static str,
    pub(super) settings: Environment,
}

/// The environment `--env` or `$SHIPLAP_ENV` selects (none when neither is given);
/// refuses a name `shiplap.toml` does not define, listing those it does.
pub(super) fn selected(cli: &Cli) -> Result<Option<Selected>> {
    let (name, source) = match &cli.environment {
        Some(name) => (name.clone(), "from --env"),
        None => match std::env::var(VARIABLE) {
            Ok(name) if !name.trim().is_empty() => (name, "from $SHIPLAP_ENV"),
            _ => return Ok(None),
        },
    };
    let mut config = Config::here()?;
    let Some(settings) = config.environments.remove(&name) else {
        let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        let given = match source {
            "from --env" => format!("--env {name}"),
            _ => format!("${VARIABLE}={name}"),
        };
        return Err(Error::InvalidArgument {
            message: if known.is_empty() {
                format!(
                    "{given}: ./{FILE} defines no environment; add `[environments.{name}]` \
                     to it (see the README's \"Environments\")"
                )
            } else {
                format!(
                    "{given}: ./{FILE} defines no environment `{name}`; it defines: {}",
                    known.join(", ")
                )
            },
        });
    };
    Ok(Some(Selected {
        name,
        source,
        settings,
    }))
}

impl Selected {
    /// The database URL from the environment's `url_from` variable, and where it came
    /// from; `None` when `--database-url` is given (it wins) or no variable is named. An
    /// unset or empty variable is an error: falling back to another database is how a
    /// production command ends up on a developer's, or the reverse.
    pub(super) fn url_from(&self, c: &ConnectionArgs) -> Option<Result<(DatabaseUrl, String)>> {
        if c.database_url.is_some() {
            return None;
        }
        let variable = self.settings.url_from.as_ref()?;
        Some(match std::env::var(variable) {
            Ok(url) if !url.trim().is_empty() => DatabaseUrl::parse(&url, UrlSource::Environment)
                .map(|url| {
                    (
                        url,
                        format!("from ${variable}, environment {}'s url_from", self.name),
                    )
                }),
            _ => Err(Error::InvalidArgument {
                message: format!(
                    "environment `{}` takes its database URL from ${variable} (url_from in \
                     ./{FILE}), which is not set: set it, or pass --database-url",
                    self.name
                ),
            }),
        })
    }

    /// `m` with the environment's name (recorded in the history), guards, lint policy and
    /// whether `up` runs the seeds.
    pub(super) fn apply(self, m: Migrator<'static>) -> Migrator<'static> {
        let guards = Guards {
            refuse_fresh: self.settings.refuse_fresh,
            refuse_destructive_down: self.settings.refuse_destructive_down,
            lint_warns_only: self.settings.lint == Some(LintPolicy::Warn),
        };
        let lint = self.settings.lint != Some(LintPolicy::Off);
        let mut m = m.environment(self.name).guards(guards).lint(lint);
        m.options_mut().seed_after_up = self.settings.seed_after_up;
        m
    }
}
