//! Fleets: `up`, `down`, `status` and `validate` on many databases (`--targets FILE`) or
//! on many PostgreSQL schemas of one database (`--schemas`, `--schemas-from`), up to
//! `--concurrency` at a time. Each target is a migrator of its own, with its own lock and
//! history table; one that fails does not stop the others. A line on stderr as each
//! target finishes, then one report: each target's own output (or JSON document), and
//! an error naming the targets that failed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde::Serialize;

use super::environment::{self, Selected};
use super::{Cli, Command, ConnectionArgs, FleetArgs, Format, Outcome, configured, database_url};
use crate::backend::Backend;
use crate::backend::connection::{Connection, Retry, connect};
use crate::database_url::{DatabaseUrl, UrlSource};
use crate::error::{Error, Result};
use crate::progress::ProgressOutput;
use crate::registry::Registry;

/// One database, or one schema of a database, to run the command on.
#[derive(Debug)]
struct Target {
    name: String,
    url: DatabaseUrl,
}

/// A `--targets` file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    #[serde(default)]
    target: Vec<TargetEntry>,
}

/// A `[[target]]` table.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEntry {
    name: String,
    url: Option<String>,
    /// An environment variable holding the URL (keeps passwords out of the file).
    url_from: Option<String>,
}

/// How one target's command went.
struct Finished {
    index: usize,
    name: String,
    database: String,
    outcome: Result<Outcome>,
    elapsed: Duration,
}

impl Finished {
    fn failed(&self) -> bool {
        !matches!(&self.outcome, Ok(o) if o.error.is_none())
    }
}

/// Runs the command on every target of `fleet`.
pub(super) async fn execute(
    cli: &Cli,
    c: &ConnectionArgs,
    fleet: &FleetArgs,
    registry: &Registry,
) -> Result<Outcome> {
    let selected = environment::selected(cli)?;
    let (targets, from) = match &fleet.targets {
        Some(path) => (read_targets(path)?, format!("{}", path.display())),
        None => {
            let (base, _) = database_url(c, selected.as_ref())?;
            let create = matches!(cli.command, Command::Up(_));
            let targets = schema_targets(&base, fleet, c.connect_retries, create).await?;
            (targets, format!("schemas of {base}"))
        }
    };
    let total = targets.len();
    let concurrency = usize::from(fleet.concurrency).min(total).max(1);
    if !cli.quiet {
        let _ = writeln!(
            std::io::stderr(),
            "shiplap: {total} target(s) ({from}), {concurrency} at a time"
        );
    }
    let mut done = 0;
    let mut finished: Vec<Finished> = futures_util::stream::iter(targets.into_iter().enumerate())
        .map(|(index, target)| {
            let selected = selected.clone();
            async move {
                let started = Instant::now();
                let name = target.name.clone();
                let database = target.url.to_string();
                let outcome = run_target(cli, c, registry, target, selected).await;
                Finished {
                    index,
                    name,
                    database,
                    outcome,
                    elapsed: started.elapsed(),
                }
            }
        })
        .buffer_unordered(concurrency)
        .inspect(|f| {
            done += 1;
            if !cli.quiet {
                progress_line(f, done, total);
            }
        })
        .collect()
        .await;
    finished.sort_by_key(|f| f.index);
    Ok(report(cli, &finished))
}

/// Says on stderr that a target finished, and how.
fn progress_line(f: &Finished, done: usize, total: usize) {
    let how = match &f.outcome {
        Ok(Outcome { error: Some(e), .. }) | Err(e) => {
            let first = e.to_string();
            format!("FAILED: {}", first.lines().next().unwrap_or_default())
        }
        Ok(o) if o.check_failed => "ok, with findings".to_owned(),
        Ok(_) => "ok".to_owned(),
    };
    let _ = writeln!(
        std::io::stderr(),
        "[{done}/{total}] {} {how} ({:.1} s)",
        f.name,
        f.elapsed.as_secs_f64()
    );
}

/// One target: its migrator, with the command's options, its progress silent (the
/// targets run at once).
async fn run_target(
    cli: &Cli,
    c: &ConnectionArgs,
    registry: &Registry,
    target: Target,
    selected: Option<Selected>,
) -> Result<Outcome> {
    let m = configured(c, registry, target.url, selected, ProgressOutput::Silent);
    super::execute_on(cli, registry, Some(m)).await
}

fn retry(retries: u32) -> Retry {
    Retry {
        retries,
        ..Retry::default()
    }
}

/// The command's report over all targets, in the order they were given.
fn report(cli: &Cli, finished: &[Finished]) -> Outcome {
    let failed: Vec<String> = finished
        .iter()
        .filter(|f| f.failed())
        .map(|f| f.name.clone())
        .collect();
    let check_failed = finished
        .iter()
        .any(|f| matches!(&f.outcome, Ok(o) if o.check_failed));
    let output = match cli.format {
        Format::Json => json_report(finished, failed.len()),
        Format::Human => human_report(finished, failed.len()),
    };
    Outcome {
        output,
        check_failed,
        error: (!failed.is_empty()).then(|| Error::FleetFailed {
            total: finished.len(),
            failed,
        }),
    }
}

fn human_report(finished: &[Finished], failed: usize) -> String {
    let mut out = String::new();
    for f in finished {
        let state = if f.failed() { "FAILED" } else { "ok" };
        let _ = writeln!(out, "== {} ({}): {state}", f.name, f.database);
        let (text, error) = match &f.outcome {
            Ok(o) => (o.output.as_str(), o.error.as_ref()),
            Err(e) => ("", Some(e)),
        };
        for line in text.lines() {
            let _ = writeln!(out, "  {line}");
        }
        if let Some(e) = error {
            for line in format!("error: {e}").lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{} of {} target(s) succeeded",
        finished.len() - failed,
        finished.len()
    );
    out
}

/// `{"targets": [{"name", "database", "ok", "result", "error"}], "succeeded", "failed"}`:
/// `result` is the document the command prints for one database.
fn json_report(finished: &[Finished], failed: usize) -> String {
    #[derive(Serialize)]
    struct TargetDoc<'a> {
        name: &'a str,
        database: &'a str,
        ok: bool,
        duration_ms: u128,
        result: Option<serde_json::Value>,
        error: Option<String>,
    }
    #[derive(Serialize)]
    struct FleetDoc<'a> {
        targets: Vec<TargetDoc<'a>>,
        succeeded: usize,
        failed: usize,
    }
    let targets = finished
        .iter()
        .map(|f| {
            let (result, error) = match &f.outcome {
                Ok(o) => (
                    serde_json::from_str(&o.output).ok(),
                    o.error.as_ref().map(ToString::to_string),
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            TargetDoc {
                name: &f.name,
                database: &f.database,
                ok: !f.failed(),
                duration_ms: f.elapsed.as_millis(),
                result,
                error,
            }
        })
        .collect();
    super::json::text(&FleetDoc {
        targets,
        succeeded: finished.len() - failed,
        failed,
    })
}

/// The targets of a `--targets` file.
fn read_targets(path: &Path) -> Result<Vec<Target>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read the targets file",
        path: path.to_owned(),
        source,
    })?;
    let bad = |message: String| Error::InvalidArgument {
        message: format!("--targets {}: {message}", path.display()),
    };
    let file: TargetsFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if file.target.is_empty() {
        return Err(bad(
            "no [[target]] tables (each needs a `name` and a `url` or `url_from`)".into(),
        ));
    }
    let mut targets: Vec<Target> = Vec::new();
    for (i, entry) in file.target.into_iter().enumerate() {
        let name = entry.name.trim().to_owned();
        if name.is_empty() {
            return Err(bad(format!("target {} has an empty name", i + 1)));
        }
        if targets.iter().any(|t| t.name == name) {
            return Err(bad(format!("two targets are named `{name}`")));
        }
        let url = match (entry.url, entry.url_from) {
            (Some(url), None) => url,
            (None, Some(variable)) => match std::env::var(&variable) {
                Ok(url) if !url.trim().is_empty() => url,
                _ => {
                    return Err(bad(format!(
                        "target `{name}`: its url_from variable ${variable} is not set"
                    )));
                }
            },
            _ => {
                return Err(bad(format!(
                    "target `{name}` needs exactly one of `url` and `url_from`"
                )));
            }
        };
        let url = DatabaseUrl::parse(&url, UrlSource::Fleet)
            .map_err(|e| bad(format!("target `{name}`: {e}")))?;
        targets.push(Target { name, url });
    }
    Ok(targets)
}

/// The schemas of `--schemas` or `--schemas-from`, each a target whose URL sets its
/// search_path; with `create` (`up`), those missing are created first, on the one
/// connection that also lists them.
async fn schema_targets(
    base: &DatabaseUrl,
    fleet: &FleetArgs,
    retries: u32,
    create: bool,
) -> Result<Vec<Target>> {
    if base.backend() != Backend::Postgres {
        return Err(Error::InvalidArgument {
            message: format!(
                "--schemas and --schemas-from need PostgreSQL (each schema's history table is \
                 found through search_path), and {base} is {}: list the databases in a \
                 --targets file instead",
                base.backend()
            ),
        });
    }
    let mut conn = match create || fleet.schemas_from.is_some() {
        true => Some(connect(base, retry(retries), false).await?),
        false => None,
    };
    let result = named_schemas(base, fleet, conn.as_mut(), create).await;
    if let Some(conn) = conn {
        conn.finish(result.is_err()).await;
    }
    result
}

async fn named_schemas(
    base: &DatabaseUrl,
    fleet: &FleetArgs,
    mut conn: Option<&mut Connection<'_>>,
    create: bool,
) -> Result<Vec<Target>> {
    let names = match (&fleet.schemas_from, conn.as_deref_mut()) {
        (Some(sql), Some(conn)) => conn
            .strings(sql)
            .await
            .map_err(|e| Error::InvalidArgument {
                message: format!("--schemas-from `{sql}` failed on {base}: {e}"),
            })?,
        _ => fleet.schemas.clone(),
    };
    let mut targets: Vec<Target> = Vec::new();
    for name in names {
        let name = name.trim().to_owned();
        check_schema_name(&name)?;
        if targets.iter().any(|t| t.name == name) {
            return Err(Error::InvalidArgument {
                message: format!("the schema `{name}` is listed twice"),
            });
        }
        targets.push(Target {
            url: with_search_path(base, &name)?,
            name,
        });
    }
    if targets.is_empty() {
        return Err(Error::InvalidArgument {
            message: "--schemas / --schemas-from gave no schema".into(),
        });
    }
    if let (true, Some(conn)) = (create, conn) {
        for target in &targets {
            let schema = &target.name;
            conn.execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(|source| Error::InvalidArgument {
                    message: format!(
                        "cannot create the schema `{schema}` in {base}: {source}; no target ran"
                    ),
                })?;
        }
    }
    Ok(targets)
}

/// A schema name shiplap can put in a URL and in SQL unquoted-safe: letters, digits and
/// `_`, not starting with a digit, at most 63 bytes.
fn check_schema_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        message: format!(
            "the schema name `{name}`: use letters, digits and `_` (not first), at most 63 bytes"
        ),
    })
}

/// `url` with `-c search_path=<schema>` added to its `options` parameter.
fn with_search_path(url: &DatabaseUrl, schema: &str) -> Result<DatabaseUrl> {
    let mut parsed = url::Url::parse(url.expose()).map_err(|e| Error::InvalidDatabaseUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    let mut pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let setting = format!("-c search_path={schema}");
    match pairs.iter_mut().find(|(k, _)| k == "options") {
        Some((_, options)) => *options = format!("{options} {setting}"),
        None => pairs.push(("options".into(), setting)),
    }
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    DatabaseUrl::parse(parsed.as_str(), UrlSource::Fleet)
}

#[cfg(test)]
mod tests {
    use super::{check_schema_name, read_targets, with_search_path};
    use crate::database_url::{DatabaseUrl, UrlSource};

    #[test]
    fn a_schema_s_search_path_joins_the_url_s_options() {
        let url = DatabaseUrl::parse(
            "postgres://u:secret@h/db?sslmode=disable&options=-c%20statement_timeout%3D5s",
            UrlSource::Flag,
        )
        .unwrap();
        let with = with_search_path(&url, "tenant_7").unwrap();
        assert_eq!(
            with.expose(),
            "postgres://u:secret@h/db?sslmode=disable&options=-c+statement_timeout%3D5s+-c+search_path%3Dtenant_7"
        );
        assert!(!with.to_string().contains("secret"));
        assert!(check_schema_name("tenant_7").is_ok());
        for bad in ["", "7up", "a-b", "a\"b", "x; DROP"] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_targets_file_names_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("shiplap-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("targets.toml");
        let cases = [
            ("", "no [[target]] tables"),
            (
                "[[target]]\nname = \"a\"\nurl = \"sqlite://a.db\"\n[[target]]\nname = \"a\"\nurl = \"sqlite://b.db\"\n",
                "two targets are named `a`",
            ),
            (
                "[[target]]\nname = \"a\"\n",
                "target `a` needs exactly one of `url` and `url_from`",
            ),
            (
                "[[target]]\nname = \"a\"\nurl_from = \"SHIPLAP_NO_SUCH_VARIABLE\"\n",
                "$SHIPLAP_NO_SUCH_VARIABLE is not set",
            ),
            (
                "[[target]]\nname = \"a\"\nurl = \"oracle://x\"\n",
                "target `a`: ",
            ),
            ("[[target]]\nnam = \"a\"\n", "unknown field `nam`"),
        ];
        for (text, expected) in cases {
            std::fs::write(&file, text).unwrap();
            let error = read_targets(&file).unwrap_err().to_string();
            assert!(
                error.contains(expected) && error.contains("targets.toml"),
                "{text:?}: {error}"
            );
        }
        std::fs::write(
            &file,
            "[[target]]\nname = \"eu\"\nurl = \"postgres://u:pw@eu/app\"\n[[target]]\nname = \"us\"\nurl = \"sqlite://us.db\"\n",
        )
        .unwrap();
        let targets = read_targets(&file).unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].url.to_string(), "postgres://u:***@eu/app");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
