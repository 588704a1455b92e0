//! `migrate renumber`: after a merge, the pending migrations older than the newest applied
//! one get new versions above it, in their order: the version in the attribute, the
//! file's name (`m<version>_<name>.rs`), its module in `lib.rs`, and its SQL snapshots
//! (`<version>_<name>@<backend>.snap`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{invalid, io};
use crate::clock::{seconds_of_version, version_at};
use crate::error::Result;

/// One migration to give a new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Its version now.
    pub from: i64,
    /// Its name.
    pub name: String,
    /// Its source file (as the macro recorded it: relative to the workspace root).
    pub file: String,
}

/// What [`renumber`] changed for one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Renumbered {
    /// The old version.
    pub from: i64,
    /// The new version.
    pub to: i64,
    /// Its name.
    pub name: String,
    /// Its source file now.
    pub file: PathBuf,
    /// The snapshot files renamed.
    pub snapshots: Vec<PathBuf>,
}

/// The version after `after`: a `YYYYMMDDHHMMSS` one second later, or later still if
/// `now` is, when `after` is such a timestamp; `after + 1` otherwise.
pub fn next_version(after: i64, now: i64) -> i64 {
    match seconds_of_version(after) {
        Some(seconds) => version_at((seconds + 1).max(now)),
        None => after + 1,
    }
}

/// `file` found from `start` or one of the folders above it (the macro records paths
/// relative to the workspace root, and a command may run deeper in it).
fn locate(start: &Path, file: &str) -> Result<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(file))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            invalid(format!(
                "cannot find {file} from {}: run the command inside the workspace",
                start.display()
            ))
        })
}

/// `text` with the `version = from` of its `#[migration(...)]` attribute made `to`; `None`
/// when no attribute of the file has that version.
fn with_version(text: &str, from: i64, to: i64) -> Option<String> {
    let mut at = 0;
    while let Some(found) = text[at..].find("#[migration(") {
        let start = at + found;
        let attribute_end = start + text[start..].find(")]")?;
        let attribute = &text[start..attribute_end];
        if let Some(v) = attribute.find("version") {
            let rest = &attribute[v + "version".len()..];
            let after_eq = rest.trim_start().strip_prefix('=')?;
            let leading = after_eq.len() - after_eq.trim_start().len();
            let digits_start = attribute.len() - after_eq.len() + leading;
            let digits_len = attribute[digits_start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '_')
                .count();
            let digits = &attribute[digits_start..digits_start + digits_len];
            if digits.replace('_', "").parse::<i64>().ok() == Some(from) {
                let absolute = start + digits_start;
                return Some(format!(
                    "{}{to}{}",
                    &text[..absolute],
                    &text[absolute + digits_len..]
                ));
            }
        }
        at = attribute_end;
    }
    None
}

/// Gives each of `moves` (oldest first) a version above `newest_applied`, in order.
/// Refuses before changing anything when a file cannot be found or holds no attribute
/// with the version.
pub fn renumber(
    start: &Path,
    moves: &[Move],
    newest_applied: i64,
    now: i64,
) -> Result<Vec<Renumbered>> {
    let mut planned = Vec::new();
    let mut version = newest_applied;
    for m in moves {
        let file = locate(start, &m.file)?;
        let text = std::fs::read_to_string(&file).map_err(io("read", &file))?;
        version = next_version(version, now);
        let Some(edited) = with_version(&text, m.from, version) else {
            return Err(invalid(format!(
                "{} has no #[migration(version = {})]",
                file.display(),
                m.from
            )));
        };
        planned.push((m, file, version, edited));
    }
    let mut done = Vec::new();
    for (m, file, to, edited) in planned {
        std::fs::write(&file, edited).map_err(io("write", &file))?;
        let old_prefix = format!("m{}_", m.from);
        let new_prefix = format!("m{to}_");
        let mut path = file.clone();
        let stem = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(rest) = stem.strip_prefix(&old_prefix) {
            path = file.with_file_name(format!("{new_prefix}{rest}"));
            std::fs::rename(&file, &path).map_err(io("rename", &file))?;
            // Its module, wherever the crate declares it (lib.rs, or a mod.rs).
            let dir = file.parent().unwrap_or(Path::new("."));
            for declaring in ["lib.rs", "mod.rs", "main.rs"] {
                let declaring = dir.join(declaring);
                if let Ok(text) = std::fs::read_to_string(&declaring)
                    && text.contains(&old_prefix)
                {
                    std::fs::write(&declaring, text.replace(&old_prefix, &new_prefix))
                        .map_err(io("write", &declaring))?;
                }
            }
        }
        // Its SQL snapshots, in the crate's tests/snapshots.
        let mut snapshots = Vec::new();
        if let Some(crate_dir) = file.parent().and_then(Path::parent) {
            let folder = crate_dir.join("tests").join("snapshots");
            let old_name = format!("{}_{}@", m.from, m.name);
            if let Ok(entries) = std::fs::read_dir(&folder) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(rest) = name.strip_prefix(&old_name) {
                        let renamed = folder.join(format!("{to}_{}@{rest}", m.name));
                        std::fs::rename(entry.path(), &renamed)
                            .map_err(io("rename", &entry.path()))?;
                        snapshots.push(renamed);
                    }
                }
            }
        }
        snapshots.sort();
        done.push(Renumbered {
            from: m.from,
            to,
            name: m.name.clone(),
            file: path,
            snapshots,
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attribute_gets_the_new_version() {
        let text =
            "/// doc\n#[migration(version = 2025_01_01_090000, transaction = false)]\nfn a() {}\n";
        assert_eq!(
            with_version(text, 20250101090000, 20250301000000).as_deref(),
            Some(
                "/// doc\n#[migration(version = 20250301000000, transaction = false)]\nfn a() {}\n"
            )
        );
        assert_eq!(with_version(text, 1, 2), None);
        assert_eq!(
            with_version("#[migration(name = \"x\", version=7)]", 7, 8).as_deref(),
            Some("#[migration(name = \"x\", version=8)]")
        );
    }

    #[test]
    fn versions_follow_the_newest() {
        assert_eq!(next_version(20250101090000, 0), 20250101090001);
        assert_eq!(next_version(20251231235959, 0), 20260101000000);
        assert_eq!(next_version(41, 0), 42);
    }
}
