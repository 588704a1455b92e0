//! The README's "Use shiplap in your own repository" as files: a scratch workspace
//! outside this checkout made of exactly the files the README shows (each code block that
//! starts with a `file:` comment), its path dependency pointed at this checkout, built
//! offline into one target folder under this checkout's `target/`. The end-to-end tests
//! of what a team does in its own repository (`adopt.rs`, `from_diff.rs`,
//! `import_tools.rs`, `renumber.rs`) each work in one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The files of the README's recipe: (path, content) of each fenced block whose first
/// line is `# file: PATH` or `// file: PATH`.
pub fn recipe_files(readme: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("```") {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let Some(first) = block.first() else { continue };
        let path = first
            .strip_prefix("# file: ")
            .or_else(|| first.strip_prefix("// file: "));
        if let Some(path) = path {
            files.push((path.trim().to_owned(), block.join("\n") + "\n"));
        }
    }
    files
}

/// A recipe workspace, and the target folder it builds into.
pub struct Scratch {
    /// The workspace.
    pub dir: PathBuf,
    target: PathBuf,
}

impl Scratch {
    /// Runs `cargo <args>` in the scratch workspace, offline (every crate it needs is in
    /// this checkout's lock file and the local cache).
    pub fn cargo(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(&self.dir)
            .args(args)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("DATABASE_URL")
            .env_remove("SHIPLAP_MIGRATIONS_DIR")
            .envs(env.iter().copied())
            .output()
            .expect("cargo runs");
        eprintln!(
            "$ cargo {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `cargo xtask migrate <args> --database-url <url> -q`.
    pub fn migrate(&self, args: &[&str], url: &str) -> Output {
        let mut full = vec!["xtask", "migrate"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--database-url", url, "-q"]);
        self.cargo(&full, &[])
    }

    /// The migration file whose name ends with `_<name>.rs`.
    pub fn migration_file(&self, name: &str) -> PathBuf {
        std::fs::read_dir(self.dir.join("migrations/src"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(&format!("_{name}.rs")))
            .unwrap_or_else(|| panic!("no migration named {name}"))
    }

    /// Back to the recipe's one migration: every other migration file removed, and
    /// `lib.rs` as `recipe_workspace` left it.
    pub fn back_to_the_recipe(&self, lib: &str) {
        for entry in std::fs::read_dir(self.dir.join("migrations/src")).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if file.starts_with('m') && !file.ends_with("_create_things.rs") {
                std::fs::remove_file(path).unwrap();
            }
        }
        std::fs::write(self.dir.join("migrations/src/lib.rs"), lib).unwrap();
    }

    /// `cargo <args>`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.cargo(args, &[]);
        assert!(output.status.success(), "cargo {} failed", args.join(" "));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// The README's recipe written into a folder of its own outside this checkout (`tag`
/// names it), with `migrate new create_things` run in it and its example step filled in.
/// Returns the workspace, the new migration's version, and its `lib.rs` as it then is.
pub fn recipe_workspace(tag: &str) -> (Scratch, i64, String) {
    let root = crate::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let files = recipe_files(&readme);
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for needed in [
        "Cargo.toml",
        ".cargo/config.toml",
        "migrations/Cargo.toml",
        "migrations/src/lib.rs",
        "migrations/tests/snapshots.rs",
        "xtask/Cargo.toml",
        "xtask/src/main.rs",
    ] {
        assert!(
            names.contains(&needed),
            "the README's recipe has no {needed}: {names:?}"
        );
    }

    // Outside this checkout, as a team's own repository is.
    let dir = std::env::temp_dir().join(format!("shiplap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let checkout = root.to_str().expect("a UTF-8 path");
    for (path, content) in &files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("a folder")).unwrap();
        // The one edit a team makes: where their shiplap checkout is.
        let content = content.replace("\"../shiplap/", &format!("\"{checkout}/"));
        std::fs::write(&file, content).unwrap();
    }
    assert!(
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap()
            .contains(&format!("path = \"{checkout}/crates/shiplap\"")),
        "the README's dependency line names ../shiplap/crates/shiplap"
    );
    // The versions this checkout is tested with, so nothing is fetched.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let scratch = Scratch {
        dir: dir.clone(),
        // Kept between runs (under this checkout's target/), so only the first is cold.
        target: root.join("target").join("adopt"),
    };

    // `migrate new`, then its example step filled in.
    let created = scratch.ok(&["xtask", "migrate", "new", "create_things"]);
    assert!(created.contains("registered in"), "{created}");
    let migration = scratch.migration_file("create_things");
    let version: i64 = file_version(&migration);
    let source = std::fs::read_to_string(&migration).unwrap();
    let filled: String = source
        .lines()
        .filter(|l| !l.contains("#[expect(unused_variables"))
        .map(|l| match l.strip_prefix("    // ") {
            Some(code) if code.starts_with("s.") || code.starts_with("    ") || code == ");" => {
                format!("    {code}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(filled.contains("\n    s.create_table("), "{filled}");
    std::fs::write(&migration, filled).unwrap();
    let lib = std::fs::read_to_string(dir.join("migrations/src/lib.rs")).unwrap();
    (scratch, version, lib)
}

/// The recipe tests build their workspaces into one target folder (only the first build
/// is cold), where each writes its `xtask` binary: tests of one binary take turns (cargo
/// runs the test binaries one after another).
pub static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `test` on a runtime of its own, in this file's turn (see [`ONE_AT_A_TIME`]).
pub fn in_turn(test: impl std::future::Future<Output = ()>) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// The version in a migration file's name: `m<version>_<name>.rs`.
pub fn file_version(file: &Path) -> i64 {
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    stem.trim_start_matches('m')
        .split('_')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
