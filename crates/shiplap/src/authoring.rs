//! `migrate new`: starts a migration. Writes `src/m<version>_<name>.rs` into the
//! migrations crate, with the current UTC time as its version (`YYYYMMDDHHMMSS`) and a
//! skeleton that compiles, and registers its module in the crate's `src/lib.rs`, so that
//! the next build lists it as pending.

use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::clock::{seconds_of_version, version_at};
use crate::error::{Error, Result};
use crate::inspect::DatabaseSchema;

mod from_diff;
mod import;
mod renumber;

pub use import::{Source, import, sources};
pub use renumber::{Move, Renumbered, next_version, renumber};

/// What kind of migration to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// A data migration (`async fn` with a `DataContext`) rather than schema steps.
    pub data: bool,
    /// Runs in a transaction (the default); `false` for `transaction = false`.
    pub transaction: bool,
}

/// A migration [`create`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Created {
    /// Its version.
    pub version: i64,
    /// The new file.
    pub path: PathBuf,
    /// The crate's `lib.rs`, where its module was registered.
    pub lib: PathBuf,
}

/// Rust's keywords, which cannot name a function.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

fn invalid(message: String) -> Error {
    Error::InvalidArgument { message }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Checks a migration's name: snake_case, usable as a function's name.
pub fn check_name(name: &str) -> Result<()> {
    let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_');
    if !snake {
        return Err(invalid(format!(
            "`{name}` is not a snake_case name: use lowercase letters, digits and single \
             underscores, starting with a letter (e.g. add_users_email)"
        )));
    }
    if KEYWORDS.contains(&name) {
        return Err(invalid(format!(
            "`{name}` is a Rust keyword: it cannot name the migration's function"
        )));
    }
    if name.len() > 100 {
        return Err(invalid(format!("`{name}` is longer than 100 characters")));
    }
    Ok(())
}

/// The migrations crate under the workspace that holds `start`: the one crate whose
/// `src/lib.rs` calls `shiplap::migrations!()`.
pub fn find_migrations_crate(start: &Path) -> Result<PathBuf> {
    let start = start.canonicalize().map_err(io("read the folder", start))?;
    let workspace = start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|toml| toml.lines().any(|l| l.trim() == "[workspace]"))
        })
        .or_else(|| {
            start
                .ancestors()
                .find(|dir| dir.join("Cargo.toml").is_file())
        })
        .unwrap_or(&start)
        .to_path_buf();
    let mut found = Vec::new();
    let mut folders = vec![(workspace.clone(), 0)];
    while let Some((dir, depth)) = folders.pop() {
        let lib = dir.join("src/lib.rs");
        if dir.join("Cargo.toml").is_file()
            && std::fs::read_to_string(&lib).is_ok_and(|text| calls_migrations_macro(&text))
        {
            found.push(dir.clone());
        }
        if depth == 3 {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.path().is_dir() && !name.starts_with('.') && name != "target" {
                folders.push((entry.path(), depth + 1));
            }
        }
    }
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(invalid(format!(
            "no crate under {} has `shiplap::migrations!()` in its src/lib.rs: \
             pass --dir <migrations crate> (or set SHIPLAP_MIGRATIONS_DIR)",
            workspace.display()
        ))),
        several => Err(invalid(format!(
            "several migrations crates: {}; pass --dir to choose one (or set SHIPLAP_MIGRATIONS_DIR)",
            several
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Whether a `lib.rs` calls `shiplap::migrations!()` (on a line of its own, not in a
/// comment).
fn calls_migrations_macro(lib: &str) -> bool {
    lib.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("shiplap::migrations!(") || line.starts_with("migrations!(")
    })
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("read the folder", dir))? {
        let path = entry.map_err(io("read the folder", dir))?.path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(files)
}

/// The versions in `#[migration(version = ...)]` attributes of a source file.
fn versions_in(source: &str) -> Vec<i64> {
    source
        .split("#[migration(")
        .skip(1)
        .filter_map(|attribute| {
            let rest = &attribute[attribute.find("version")? + "version".len()..];
            let digits: String = rest
                .trim_start()
                .strip_prefix('=')?
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '_')
                .filter(|c| *c != '_')
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// Writes a new migration named `name` into the crate at `crate_dir` and registers it.
/// Its version is the UTC time `now` (seconds since 1970), or, when a migration already
/// has that version or a later one, the second after the newest.
pub fn create(crate_dir: &Path, name: &str, template: Template, now: i64) -> Result<Created> {
    create_with(crate_dir, name, now, |version| {
        skeleton(name, version, template)
    })
}

/// What [`create_from_diff`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromDiff {
    /// The file and its version.
    pub created: Created,
    /// How many steps it has.
    pub steps: usize,
    /// How many of them (or notes in their place) are marked `// REVIEW:`.
    pub reviews: usize,
}

/// Like [`create`], with the steps that turn `from` (the schema the migrations build)
/// into `to` (a database changed by hand, `source` describing it) as the migration's
/// body: `migrate new NAME --from-diff`.
pub fn create_from_diff(
    crate_dir: &Path,
    name: &str,
    now: i64,
    backend: Backend,
    source: &str,
    from: &DatabaseSchema,
    to: &DatabaseSchema,
) -> Result<FromDiff> {
    let generated = from_diff::steps(backend, from, to);
    let created = create_with(crate_dir, name, now, |version| {
        format!(
            "//! Generated by `migrate new {name} --from-diff` from the differences between the\n\
             //! schema the migrations build and {source} ({backend}). Read every step; those\n\
             //! marked REVIEW ({reviews}) need a person's decision.\n\
             \n\
             use shiplap::prelude::*;\n\
             \n\
             /// Generated from {source}: review it before it is applied anywhere.\n\
             #[migration(version = {version})]\n\
             fn {name}(s: &mut Schema) {{\n\
             {body}}}\n",
            reviews = generated.reviews,
            body = generated.body,
        )
    })?;
    Ok(FromDiff {
        created,
        steps: generated.steps,
        reviews: generated.reviews,
    })
}

/// The migrations crate at `crate_dir` as a new migration finds it: its `src/`, its
/// `lib.rs` (which must call `shiplap::migrations!()`) and that file's text.
struct CrateFiles {
    src: PathBuf,
    lib: PathBuf,
    lib_text: String,
}

impl CrateFiles {
    fn read(crate_dir: &Path) -> Result<CrateFiles> {
        let src = crate_dir.join("src");
        let lib = src.join("lib.rs");
        let lib_text = std::fs::read_to_string(&lib).map_err(io("read", &lib))?;
        if !calls_migrations_macro(&lib_text) {
            return Err(invalid(format!(
                "{} does not call `shiplap::migrations!()`: is {} the migrations crate?",
                lib.display(),
                crate_dir.display()
            )));
        }
        Ok(CrateFiles { src, lib, lib_text })
    }

    /// Its Rust files, each with its text.
    fn sources(&self) -> Result<Vec<(PathBuf, String)>> {
        rust_files(&self.src)?
            .into_iter()
            .map(|file| {
                let text = std::fs::read_to_string(&file).map_err(io("read", &file))?;
                Ok((file, text))
            })
            .collect()
    }

    /// The versions `sources` hold; an error when `name` is taken (a file or a function
    /// has it).
    fn versions(sources: &[(PathBuf, String)], name: &str) -> Result<Vec<i64>> {
        check_name(name)?;
        let mut versions = Vec::new();
        for (file, text) in sources {
            let stem = file.file_stem().unwrap_or_default().to_string_lossy();
            let taken_file = stem
                .split_once('_')
                .is_some_and(|(prefix, rest)| prefix.starts_with('m') && rest == name);
            if taken_file || text.contains(&format!("fn {name}(")) {
                return Err(invalid(format!(
                    "the name `{name}` is taken: {} already has it",
                    file.display()
                )));
            }
            versions.extend(versions_in(text));
        }
        Ok(versions)
    }

    /// Writes `src/m<version>_<name>.rs` and registers it in `lib.rs`.
    fn write(&mut self, name: &str, version: i64, contents: String) -> Result<Created> {
        let module = format!("m{version}_{name}");
        let path = self.src.join(format!("{module}.rs"));
        std::fs::write(&path, contents).map_err(io("write", &path))?;
        let registered = register(&self.lib_text, &module);
        if let Err(e) = std::fs::write(&self.lib, &registered).map_err(io("write", &self.lib)) {
            // Leave nothing half-done behind.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        self.lib_text = registered;
        Ok(Created {
            version,
            path,
            lib: self.lib.clone(),
        })
    }
}

/// Writes the migration file `contents(version)` gives, with a version after the newest
/// (and `now`), and registers it.
fn create_with(
    crate_dir: &Path,
    name: &str,
    now: i64,
    contents: impl FnOnce(i64) -> String,
) -> Result<Created> {
    let mut files = CrateFiles::read(crate_dir)?;
    let newest = CrateFiles::versions(&files.sources()?, name)?
        .into_iter()
        .fold(i64::MIN, i64::max);
    let after_newest = seconds_of_version(newest).map(|s| s + 1);
    let version = version_at(after_newest.map_or(now, |next| now.max(next)));
    if version <= newest {
        return Err(invalid(format!(
            "migration version {newest} is not a UTC timestamp (YYYYMMDDHHMMSS) in the past: \
             cannot choose a version after it"
        )));
    }
    files.write(name, version, contents(version))
}

/// Writes migration files with given versions and names, and registers them; refuses
/// before writing any when a version or a name is taken.
fn create_all(crate_dir: &Path, migrations: Vec<(i64, String, String)>) -> Result<Vec<Created>> {
    let mut files = CrateFiles::read(crate_dir)?;
    let sources = files.sources()?;
    for (version, name, _) in &migrations {
        if CrateFiles::versions(&sources, name)?.contains(version) {
            return Err(invalid(format!(
                "version {version} (for `{name}`) is taken in {}",
                files.src.display()
            )));
        }
    }
    migrations
        .into_iter()
        .map(|(version, name, contents)| files.write(&name, version, contents))
        .collect()
}

/// `lib.rs` with `mod <module>;` after the last migration module (or before
/// `shiplap::migrations!()` when there is none yet).
fn register(lib: &str, module: &str) -> String {
    let line = format!("mod {module};");
    let is_migration_module = |l: &str| {
        l.trim_start()
            .strip_prefix("mod m")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    let lines: Vec<&str> = lib.lines().collect();
    let at = match lines.iter().rposition(|l| is_migration_module(l)) {
        Some(last) => last + 1,
        None => lines
            .iter()
            .position(|l| calls_migrations_macro(l))
            .unwrap_or(lines.len()),
    };
    let mut out: Vec<&str> = lines[..at].to_vec();
    out.push(&line);
    let separate = at < lines.len() && !is_migration_module(lines[at]) && !lines[at].is_empty();
    if separate && lines[..at].iter().all(|l| !is_migration_module(l)) {
        out.push("");
    }
    out.extend(&lines[at..]);
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The source of a new migration: it compiles, and does nothing until it is filled in.
pub fn skeleton(name: &str, version: i64, template: Template) -> String {
    let mut sentence = name.replace('_', " ");
    if let Some(first) = sentence.get(..1) {
        sentence.replace_range(..1, &first.to_uppercase());
    }
    let transaction = if template.transaction {
        ""
    } else {
        ", transaction = false"
    };
    // A data migration has no down: saying why reverting needs none lets `down` pass it.
    let attribute = if template.data {
        format!(
            "#[migration(\n    version = {version}{transaction},\n    \
             nothing_to_undo = \"it only changes data: say here why reverting needs no change\"\n)]"
        )
    } else {
        format!("#[migration(version = {version}{transaction})]")
    };
    let body = match (template.data, template.transaction) {
        (false, transaction) => format!(
            "{attribute}\n\
             #[expect(unused_variables, reason = \"remove this line with the first step\")]\n\
             fn {name}(s: &mut Schema) {{\n\
             {}\
             \x20   // s.create_table(\n\
             \x20   //     Table::create()\n\
             \x20   //         .table(\"things\")\n\
             \x20   //         .col(ColumnDef::new(\"id\").big_integer().not_null().primary_key()),\n\
             \x20   // );\n\
             }}\n",
            if transaction {
                "    // Its steps run in one transaction with its history row. For example:\n"
            } else {
                "    // Its steps run one at a time, outside a transaction (as CREATE INDEX\n\
                 \x20   // CONCURRENTLY must); a failure leaves it dirty. For example:\n"
            }
        ),
        (true, true) => format!(
            "{attribute}\n\
             async fn {name}(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {{\n\
             \x20   // It runs in one transaction with its history row. For example:\n\
             \x20   // ctx.execute(Query::update().table(\"things\").value(\"flag\", true)).await?;\n\
             \x20   ctx.log(\"nothing to do yet\");\n\
             \x20   Ok(())\n\
             }}\n"
        ),
        (true, false) => format!(
            "{attribute}\n\
             async fn {name}(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {{\n\
             \x20   // Without a transaction, write it as backfills: each batch commits with its\n\
             \x20   // position, and after an interruption `up` continues after the last one.\n\
             \x20   // For example:\n\
             \x20   // ctx.backfill(\n\
             \x20   //     Backfill::new(\"things\", \"id\")\n\
             \x20   //         .set(\"flag\", true)\n\
             \x20   //         .filter(Expr::col(\"flag\").is_null()),\n\
             \x20   // )\n\
             \x20   // .await?;\n\
             \x20   ctx.log(\"nothing to do yet\");\n\
             \x20   Ok(())\n\
             }}\n"
        ),
    };
    format!(
        "//! {sentence}: what this migration changes, and why.\n\
         \n\
         use shiplap::prelude::*;\n\
         \n\
         /// {sentence}.\n\
         {body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_740_398_400; // 2025-02-24 12:00:00 UTC

    fn migrations_crate() -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("shiplap-new-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"m\"\n").unwrap();
        std::fs::write(
            dir.join("src/lib.rs"),
            "//! Migrations.\n\nmod m20250101090000_create_users;\n\nshiplap::migrations!();\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("src/m20250101090000_create_users.rs"),
            "#[migration(version = 20250101090000)]\nfn create_users(s: &mut Schema) {}\n",
        )
        .unwrap();
        dir
    }

    const SCHEMA: Template = Template {
        data: false,
        transaction: true,
    };

    #[test]
    fn writes_the_file_and_registers_its_module() {
        let dir = migrations_crate();
        let created = create(&dir, "add_users_email", SCHEMA, NOON).unwrap();
        assert_eq!(created.version, 20250224120000);
        assert_eq!(
            created.path,
            dir.join("src/m20250224120000_add_users_email.rs")
        );
        let source = std::fs::read_to_string(&created.path).unwrap();
        assert!(
            source.contains("#[migration(version = 20250224120000)]\n"),
            "{source}"
        );
        assert!(
            source.contains("fn add_users_email(s: &mut Schema)"),
            "{source}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
            "//! Migrations.\n\nmod m20250101090000_create_users;\nmod m20250224120000_add_users_email;\n\nshiplap::migrations!();\n"
        );
        assert_eq!(
            find_migrations_crate(&dir.join("src")).unwrap(),
            dir.canonicalize().unwrap()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn two_in_the_same_second_get_distinct_versions() {
        let dir = migrations_crate();
        let first = create(&dir, "first", SCHEMA, NOON).unwrap();
        let second = create(&dir, "second", SCHEMA, NOON).unwrap();
        assert_eq!(
            (first.version, second.version),
            (20250224120000, 20250224120001)
        );
        // A clock behind the newest version still gives a later one.
        let third = create(&dir, "third", SCHEMA, NOON - 86_400).unwrap();
        assert_eq!(third.version, 20250224120002);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_bad_and_taken_names_and_writes_nothing() {
        let dir = migrations_crate();
        for (name, says) in [
            ("AddUsers", "is not a snake_case name"),
            ("add-users", "is not a snake_case name"),
            ("1st", "is not a snake_case name"),
            ("add__users", "is not a snake_case name"),
            ("type", "is a Rust keyword"),
            ("create_users", "is taken"),
        ] {
            let err = create(&dir, name, SCHEMA, NOON).unwrap_err().to_string();
            assert!(err.contains(says), "{name}: {err}");
        }
        assert_eq!(std::fs::read_dir(dir.join("src")).unwrap().count(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn finds_no_crate_or_asks_which() {
        let dir = migrations_crate();
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::remove_dir_all(dir.join("src")).unwrap();
        let err = find_migrations_crate(&dir).unwrap_err().to_string();
        assert!(err.contains("no crate under"), "{err}");
        for member in ["a", "b"] {
            std::fs::create_dir_all(dir.join(member).join("src")).unwrap();
            std::fs::write(dir.join(member).join("Cargo.toml"), "[package]\n").unwrap();
            std::fs::write(
                dir.join(member).join("src/lib.rs"),
                "shiplap::migrations!();\n",
            )
            .unwrap();
        }
        let err = find_migrations_crate(&dir).unwrap_err().to_string();
        assert!(err.contains("several migrations crates"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn registers_the_first_module_before_the_macro() {
        assert_eq!(
            register("//! M.\n\nshiplap::migrations!();\n", "m20250101000000_a"),
            "//! M.\n\nmod m20250101000000_a;\n\nshiplap::migrations!();\n"
        );
    }
}
