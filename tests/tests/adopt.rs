//! The README's "Use shiplap in your own repository", followed as a new team would: a
//! scratch workspace outside this checkout, made of exactly the files the README shows
//! (each code block that starts with a `file:` comment), with its path dependency
//! pointed at this checkout; then `migrate new`, `up`, `status --check`, the snapshot
//! test and `down` in it. If the README's recipe rots, this fails. In the same kind of
//! workspace, a database changed by hand becomes a migration with `migrate new
//! --from-diff`, on every backend: it compiles, a fresh database migrated with it has the
//! prototype's schema, and `verify` passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The files of the README's recipe: (path, content) of each fenced block whose first
/// line is `# file: PATH` or `// file: PATH`.
fn recipe_files(readme: &str) -> Vec<(String, String)> {
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

struct Scratch {
    dir: PathBuf,
    target: PathBuf,
}

impl Scratch {
    /// Runs `cargo <args>` in the scratch workspace, offline (every crate it needs is in
    /// this checkout's lock file and the local cache).
    fn cargo(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
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

    fn ok(&self, args: &[&str]) -> String {
        let output = self.cargo(args, &[]);
        assert!(output.status.success(), "cargo {} failed", args.join(" "));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// The README's recipe written into a folder of its own outside this checkout (`tag`
/// names it), with `migrate new create_things` run in it and its example step filled in.
/// Returns the workspace, the new migration's version, and its `lib.rs` as it then is.
fn recipe_workspace(tag: &str) -> (Scratch, i64, String) {
    let root = tests::workspace_root();
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
    let migration = std::fs::read_dir(dir.join("migrations/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_create_things.rs"))
        .expect("the new migration's file");
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

/// The two tests build their workspaces into one target folder (only the first build is
/// cold), where each writes its `xtask` binary: they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_readme_recipe_works_in_a_workspace_of_its_own() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (scratch, version, _) = recipe_workspace("adopt");
    let dir = scratch.dir.clone();

    // Its SQL, without a database.
    let sql = scratch.ok(&["xtask", "migrate", "sql", "--backend", "postgres"]);
    assert!(sql.contains("CREATE TABLE \"things\""), "{sql}");

    let up = scratch.ok(&["xtask", "migrate", "up"]);
    assert!(
        up.contains(&format!("applied  {version} create_things")),
        "{up}"
    );
    assert!(
        dir.join("shiplap.db").exists(),
        "the default database is ./shiplap.db"
    );
    let up_err = String::from_utf8_lossy(&scratch.cargo(&["xtask", "migrate", "up"], &[]).stderr)
        .into_owned();
    assert!(
        up_err.contains("shiplap: database sqlite://shiplap.db"),
        "{up_err}"
    );
    scratch.ok(&["xtask", "migrate", "status", "--check"]);

    // The snapshot test: a new migration's snapshots are reported, all of them...
    let first = scratch.cargo(&["test"], &[("INSTA_UPDATE", "no"), ("CI", "true")]);
    assert!(
        !first.status.success(),
        "new snapshots must fail with INSTA_UPDATE=no"
    );
    let report = String::from_utf8_lossy(&first.stdout).into_owned();
    for backend in ["sqlite", "postgres", "mysql"] {
        assert!(
            report.contains(&format!("{version}_create_things@{backend}")),
            "{report}"
        );
    }
    // ...accepted, they pass, and hold the SQL under <version>_<name>@<backend>.
    scratch.cargo(&["test"], &[("INSTA_UPDATE", "always")]);
    let snapshot = dir.join(format!(
        "migrations/tests/snapshots/{version}_create_things@postgres.snap"
    ));
    let sql = std::fs::read_to_string(&snapshot).expect("the accepted snapshot");
    assert!(sql.contains("CREATE TABLE \"things\""), "{sql}");
    let again = scratch.cargo(&["test"], &[("INSTA_UPDATE", "no"), ("CI", "true")]);
    assert!(again.status.success(), "accepted snapshots pass");

    let down = scratch.ok(&["xtask", "migrate", "down"]);
    assert!(
        down.contains(&format!("reverted {version} create_things")),
        "{down}"
    );
    let status = scratch.ok(&["xtask", "migrate", "status"]);
    assert!(
        status.contains("create_things") && status.contains("pending"),
        "{status}"
    );
    let check = scratch.cargo(&["xtask", "migrate", "status", "--check"], &[]);
    assert_eq!(
        check.status.code(),
        Some(3),
        "pending: status --check fails"
    );

    let version_text = scratch.ok(&["xtask", "migrate", "--version"]);
    assert!(version_text.contains("(shiplap "), "{version_text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The version in a migration file's name: `m<version>_<name>.rs`.
fn file_version(file: &Path) -> i64 {
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    stem.trim_start_matches('m')
        .split('_')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The change made by hand on the development database, per backend.
fn hand_change(engine: tests::Engine) -> &'static [&'static str] {
    match engine {
        tests::Engine::Postgres => &[
            "CREATE TABLE gadgets (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
             thing_id bigint NOT NULL REFERENCES things (id) ON DELETE CASCADE, \
             label varchar(40) NOT NULL DEFAULT 'x', price numeric(12, 4), \
             CONSTRAINT gadgets_price_check CHECK (price >= 0))",
            "CREATE UNIQUE INDEX gadgets_label_key ON gadgets (label)",
            "CREATE INDEX gadgets_cheap_idx ON gadgets (price) WHERE price < 10",
            "ALTER TABLE things ADD COLUMN note text",
        ],
        tests::Engine::MySql => &[
            "CREATE TABLE gadgets (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, \
             thing_id bigint NOT NULL, label varchar(40) NOT NULL DEFAULT 'x', \
             price decimal(12, 4), CONSTRAINT gadgets_thing_fk FOREIGN KEY (thing_id) \
             REFERENCES things (id) ON DELETE CASCADE, CONSTRAINT gadgets_price_check CHECK (price >= 0))",
            "CREATE UNIQUE INDEX gadgets_label_key ON gadgets (label)",
            "ALTER TABLE things ADD COLUMN note text",
        ],
        tests::Engine::Sqlite => &[
            "CREATE TABLE gadgets (id integer PRIMARY KEY AUTOINCREMENT, \
             thing_id integer NOT NULL REFERENCES things (id) ON DELETE CASCADE, \
             label varchar(40) NOT NULL DEFAULT 'x', CHECK (length(label) > 0))",
            "CREATE UNIQUE INDEX gadgets_label_key ON gadgets (label)",
            "ALTER TABLE things ADD COLUMN note text",
        ],
    }
}

/// Alembic's autogenerate, on the database: a prototype made by hand on a development
/// database becomes a migration that compiles, gives a fresh database the prototype's
/// schema, and passes `verify`; on each backend in turn, in one recipe workspace.
#[test]
fn a_prototype_becomes_a_migration_on_every_backend() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(prototype_to_migration());
}

async fn prototype_to_migration() {
    let (scratch, _, lib) = recipe_workspace("from-diff");
    let dir = scratch.dir.clone();
    let migrate = |args: &[&str], url: &str| {
        let mut full = vec!["xtask", "migrate"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--database-url", url, "-q"]);
        scratch.cargo(&full, &[])
    };
    for engine in [
        tests::Engine::Sqlite,
        tests::Engine::Postgres,
        tests::Engine::MySql,
    ] {
        let (Some(dev), Some(fresh)) = (
            tests::TestDb::new(engine).await,
            tests::TestDb::new(engine).await,
        ) else {
            continue;
        };
        assert!(migrate(&["up"], &dev.url).status.success());
        for sql in hand_change(engine) {
            dev.execute(sql).await;
        }
        let new = migrate(&["new", "gadgets", "--from-diff"], &dev.url);
        let said = String::from_utf8_lossy(&new.stdout).into_owned();
        assert!(new.status.success(), "{engine:?}: {said}");
        assert!(said.contains("0 marked REVIEW"), "{engine:?}: {said}");

        assert!(migrate(&["up"], &fresh.url).status.success(), "{engine:?}");
        let schema =
            |url: &str| String::from_utf8_lossy(&migrate(&["schema"], url).stdout).into_owned();
        let (prototype, built) = (schema(&dev.url), schema(&fresh.url));
        assert!(prototype.contains("table gadgets"), "{prototype}");
        assert_eq!(
            prototype, built,
            "{engine:?}: the migration rebuilds the prototype"
        );
        let verify = migrate(&["verify"], &fresh.url);
        assert!(
            verify.status.success(),
            "{engine:?}: {}",
            String::from_utf8_lossy(&verify.stdout)
        );
        // Nothing left to generate.
        let again = migrate(&["new", "gadgets_again", "--from-diff"], &fresh.url);
        assert!(!again.status.success(), "{engine:?}");

        // The next backend starts from the recipe's one migration.
        for entry in std::fs::read_dir(dir.join("migrations/src")).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with("_gadgets.rs") {
                std::fs::remove_file(path).unwrap();
            }
        }
        std::fs::write(dir.join("migrations/src/lib.rs"), &lib).unwrap();
        dev.drop().await;
        fresh.drop().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
