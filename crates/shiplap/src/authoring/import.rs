//! `migrate import --from sqlx|diesel|refinery DIR`: another tool's SQL migrations as
//! shiplap migrations, one file each, their SQL inlined as it is (a raw step, its down
//! where the tool has one), run in a transaction or not as the tool ran them, with the
//! version mapped so that the order is the same.

use std::path::{Path, PathBuf};

use super::{Created, check_name, create_all, invalid, io};
use crate::error::Result;
use crate::import::{Tool, shiplap_version};

/// One migration of the other tool, read from its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its version as the tool writes it in its history.
    pub version: String,
    /// Its name (sqlx: the description, with underscores).
    pub name: String,
    /// The up SQL, as the file holds it.
    pub up: String,
    /// The down SQL, when the tool has one.
    pub down: Option<String>,
    /// Whether the tool runs it in a transaction.
    pub transaction: bool,
    /// The file (sqlx, refinery) or folder (diesel) it came from.
    pub origin: PathBuf,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io("read", path))
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("read", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// The migrations in `dir`, in the tool's layout, sorted by version.
pub fn sources(tool: Tool, dir: &Path) -> Result<Vec<Source>> {
    let mut found = Vec::new();
    for path in entries(dir)? {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match tool {
            Tool::Sqlx => {
                let Some((version, rest)) = file.split_once('_') else {
                    continue;
                };
                if !path.is_file() || !rest.ends_with(".sql") || rest.ends_with(".down.sql") {
                    continue;
                }
                let name = rest
                    .trim_end_matches(".sql")
                    .trim_end_matches(".up")
                    .to_owned();
                let up = read(&path)?;
                let down = if rest.ends_with(".up.sql") {
                    let down_path = path.with_file_name(file.replace(".up.sql", ".down.sql"));
                    Some(read(&down_path)?)
                } else {
                    None
                };
                found.push(Source {
                    version: version.to_owned(),
                    transaction: !up.starts_with("-- no-transaction"),
                    name,
                    up,
                    down,
                    origin: path,
                });
            }
            Tool::Diesel => {
                let up_path = path.join("up.sql");
                if !path.is_dir() || !up_path.is_file() {
                    continue;
                }
                let (version, name) = file.split_once('_').unwrap_or((file.as_str(), ""));
                let down_path = path.join("down.sql");
                let metadata = path.join("metadata.toml");
                let transaction = !metadata.is_file()
                    || !read(&metadata)?.lines().any(|line| {
                        let line: String = line.chars().filter(|c| !c.is_whitespace()).collect();
                        line == "run_in_transaction=false"
                    });
                found.push(Source {
                    version: version.replace('-', ""),
                    name: name.to_owned(),
                    up: read(&up_path)?,
                    down: down_path.is_file().then(|| read(&down_path)).transpose()?,
                    transaction,
                    origin: path,
                });
            }
            Tool::Refinery => {
                let Some(stem) = file.strip_suffix(".sql") else {
                    continue;
                };
                if let Some(rest) = stem.strip_prefix('U')
                    && rest.contains("__")
                {
                    return Err(invalid(format!(
                        "{}: an unversioned refinery migration (U...) runs whenever it is \
                         missing from the history; shiplap has no such kind: rename it V<n>__",
                        path.display()
                    )));
                }
                let Some((version, name)) = stem
                    .strip_prefix('V')
                    .and_then(|rest| rest.split_once("__"))
                else {
                    continue;
                };
                found.push(Source {
                    version: version.to_owned(),
                    name: name.to_owned(),
                    up: read(&path)?,
                    down: None,
                    transaction: true,
                    origin: path,
                });
            }
        }
    }
    for source in &found {
        if shiplap_version(tool, &source.version).is_none() {
            return Err(invalid(format!(
                "{}: its version `{}` is not a number shiplap can use",
                source.origin.display(),
                source.version
            )));
        }
    }
    found.sort_by_key(|s| shiplap_version(tool, &s.version));
    Ok(found)
}

/// A function name made of a migration's name: snake_case, not starting with a digit.
fn function_name(name: &str, taken: &[String]) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || check_name(&out).is_err()
    {
        out = format!("m_{out}");
    }
    let mut unique = out.clone();
    let mut n = 2;
    while taken.contains(&unique) {
        unique = format!("{out}_{n}");
        n += 1;
    }
    unique
}

/// `text` as a Rust raw string literal.
fn raw_literal(text: &str) -> String {
    let mut hashes = 1;
    while text.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let h = "#".repeat(hashes);
    format!("r{h}\"{text}\"{h}")
}

/// The migration file for `source`.
fn file(tool: Tool, source: &Source, function: &str, version: i64, dir: &Path) -> String {
    let origin = source
        .origin
        .strip_prefix(dir)
        .unwrap_or(&source.origin)
        .display()
        .to_string();
    let transaction = if source.transaction {
        ""
    } else {
        ", transaction = false"
    };
    let down = match &source.down {
        Some(down) => format!(".down({})", raw_literal(down)),
        None => format!(".irreversible(\"the {tool} migration has no down\")"),
    };
    format!(
        "//! Imported from {tool} ({origin}, version {}): its SQL as the file held it.\n\
         \n\
         use shiplap::prelude::*;\n\
         \n\
         /// {} (imported from {tool}).\n\
         #[migration(version = {version}{transaction})]\n\
         fn {function}(s: &mut Schema) {{\n    \
         s.raw({})\n        {down};\n\
         }}\n",
        source.version,
        source.name.replace('_', " "),
        raw_literal(&source.up),
    )
}

/// Writes a shiplap migration into the crate at `crate_dir` for each migration of `tool`
/// in `dir`, registered in its `lib.rs`. Refuses before writing anything when a version
/// is taken or the folder holds none.
pub fn import(crate_dir: &Path, tool: Tool, dir: &Path) -> Result<Vec<Created>> {
    let sources = sources(tool, dir)?;
    if sources.is_empty() {
        return Err(invalid(format!(
            "{} holds no {tool} migrations",
            dir.display()
        )));
    }
    let mut taken: Vec<String> = Vec::new();
    let mut planned: Vec<(i64, String, &Source)> = Vec::new();
    for source in &sources {
        let version = shiplap_version(tool, &source.version).expect("checked by sources()");
        if let Some((_, _, other)) = planned.iter().find(|(v, _, _)| *v == version) {
            return Err(invalid(format!(
                "{} and {} both become version {version}",
                other.origin.display(),
                source.origin.display()
            )));
        }
        let function = function_name(&source.name, &taken);
        taken.push(function.clone());
        planned.push((version, function, source));
    }
    let files = planned
        .into_iter()
        .map(|(version, function, source)| {
            let text = file(tool, source, &function, version, dir);
            (version, function, text)
        })
        .collect();
    create_all(crate_dir, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_in_order() {
        assert_eq!(
            shiplap_version(Tool::Diesel, "2023-01-02-030405"),
            Some(20230102030405)
        );
        assert_eq!(shiplap_version(Tool::Diesel, "00000000000000"), Some(1));
        // Newer diesel adds a counter; as numbers, 18 digits would sort after 2099.
        assert_eq!(
            shiplap_version(Tool::Diesel, "2026-07-08-184840-0000"),
            Some(20260708184840)
        );
        assert_eq!(
            shiplap_version(Tool::Sqlx, "20230101000000"),
            Some(20230101000000)
        );
        assert_eq!(shiplap_version(Tool::Refinery, "3"), Some(3));
        assert_eq!(shiplap_version(Tool::Sqlx, "0"), None);
        assert_eq!(shiplap_version(Tool::Sqlx, "x1"), None);
    }

    #[test]
    fn names_and_literals() {
        assert_eq!(function_name("create users", &[]), "create_users");
        assert_eq!(function_name("2nd-try", &[]), "m_2nd_try");
        assert_eq!(function_name("type", &[]), "m_type");
        assert_eq!(function_name("a", &["a".into()]), "a_2");
        assert_eq!(raw_literal("x"), "r#\"x\"#");
        assert_eq!(raw_literal("a \"# b"), "r##\"a \"# b\"##");
    }
}
