//! The README's "Use shiplap in your own repository", followed as a new team would: a
//! scratch workspace outside this checkout, made of exactly the files the README shows
//! (each code block that starts with a `file:` comment), with its path dependency
//! pointed at this checkout; then `migrate new`, `up`, `status --check`, the snapshot
//! test and `down` in it. If the README's recipe rots, this fails. In the same kind of
//! workspace, a database changed by hand becomes a migration with `migrate new
//! --from-diff`, on every backend: it compiles, a fresh database migrated with it has the
//! prototype's schema, and `verify` passes. And a team coming from sqlx, diesel or
//! refinery imports its migrations and, on each backend, the history the tool left.

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

    /// `cargo xtask migrate <args> --database-url <url> -q`.
    fn migrate(&self, args: &[&str], url: &str) -> Output {
        let mut full = vec!["xtask", "migrate"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--database-url", url, "-q"]);
        self.cargo(&full, &[])
    }

    /// The migration file whose name ends with `_<name>.rs`.
    fn migration_file(&self, name: &str) -> PathBuf {
        std::fs::read_dir(self.dir.join("migrations/src"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(&format!("_{name}.rs")))
            .unwrap_or_else(|| panic!("no migration named {name}"))
    }

    /// Back to the recipe's one migration: every other migration file removed, and
    /// `lib.rs` as `recipe_workspace` left it.
    fn back_to_the_recipe(&self, lib: &str) {
        for entry in std::fs::read_dir(self.dir.join("migrations/src")).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if file.starts_with('m') && !file.ends_with("_create_things.rs") {
                std::fs::remove_file(path).unwrap();
            }
        }
        std::fs::write(self.dir.join("migrations/src/lib.rs"), lib).unwrap();
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

/// The two tests build their workspaces into one target folder (only the first build is
/// cold), where each writes its `xtask` binary: they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `test` on a runtime of its own, in this file's turn (see [`ONE_AT_A_TIME`]).
fn in_turn(test: impl std::future::Future<Output = ()>) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

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
    in_turn(prototype_to_migration());
}

async fn prototype_to_migration() {
    let (scratch, _, lib) = recipe_workspace("from-diff");
    let dir = scratch.dir.clone();
    let migrate = |args: &[&str], url: &str| scratch.migrate(args, url);
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
        scratch.back_to_the_recipe(&lib);
        dev.drop().await;
        fresh.drop().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One migration of the import fixture: (name, up, down). The SQL runs on every backend,
/// except the `$$` function body (PostgreSQL), which the simulated tool run skips
/// elsewhere (its history row is still written, as the files are what is imported).
const FIXTURE: &[(&str, &str, &str)] = &[
    (
        "create_users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL);\n",
        "DROP TABLE users;\n",
    ),
    (
        "create_posts",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title VARCHAR(200));\n",
        "DROP TABLE posts;\n",
    ),
    (
        "index_posts_user",
        "-- no-transaction\nCREATE INDEX posts_user_idx ON posts (user_id);\n",
        "DROP INDEX posts_user_idx ON posts;\n",
    ),
    (
        "seed_users",
        "INSERT INTO users (id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com');\n",
        "DELETE FROM users WHERE id IN (1, 2);\n",
    ),
    (
        "add_users_name",
        "ALTER TABLE users ADD COLUMN name VARCHAR(50);\n",
        "ALTER TABLE users DROP COLUMN name;\n",
    ),
    (
        "create_tags",
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, label VARCHAR(40) NOT NULL);\n",
        "DROP TABLE tags;\n",
    ),
    (
        "post_count_function",
        "CREATE FUNCTION post_count() RETURNS bigint LANGUAGE sql AS $$\n  SELECT count(*) FROM posts\n$$;\n",
        "DROP FUNCTION post_count();\n",
    ),
    (
        "create_comments",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL, body TEXT);\n",
        "DROP TABLE comments;\n",
    ),
    (
        "create_likes",
        "CREATE TABLE likes (post_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (post_id, user_id));\n",
        "DROP TABLE likes;\n",
    ),
    (
        "add_posts_body",
        "ALTER TABLE posts ADD COLUMN body TEXT;\n",
        "ALTER TABLE posts DROP COLUMN body;\n",
    ),
    (
        "create_settings",
        "CREATE TABLE settings (k VARCHAR(20) PRIMARY KEY, v TEXT);\nINSERT INTO settings (k, v) VALUES ('theme', 'dark');\n",
        "DROP TABLE settings;\n",
    ),
    (
        "create_audit",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT NOT NULL);\n",
        "DROP TABLE audit;\n",
    ),
];

/// The fixture in `tool`'s layout, in `dir`; each migration's version as the tool keeps
/// it in its history.
fn write_fixture(tool: &str, dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let mut versions = Vec::new();
    for (i, (name, up, down)) in FIXTURE.iter().enumerate() {
        let n = i + 1;
        match tool {
            "sqlx" => {
                let version = format!("2024010100{n:04}");
                std::fs::write(dir.join(format!("{version}_{name}.up.sql")), up).unwrap();
                std::fs::write(dir.join(format!("{version}_{name}.down.sql")), down).unwrap();
                versions.push(version);
            }
            "diesel" => {
                let folder = dir.join(format!("2024-01-01-00{n:04}_{name}"));
                std::fs::create_dir_all(&folder).unwrap();
                let up = up.replace("-- no-transaction\n", "");
                std::fs::write(folder.join("up.sql"), &up).unwrap();
                std::fs::write(folder.join("down.sql"), down).unwrap();
                if name.starts_with("index_") {
                    std::fs::write(folder.join("metadata.toml"), "run_in_transaction = false\n")
                        .unwrap();
                }
                versions.push(format!("2024010100{n:04}"));
            }
            _ => {
                let up = up.replace("-- no-transaction\n", "");
                std::fs::write(dir.join(format!("V{n}__{name}.sql")), up).unwrap();
                versions.push(n.to_string());
            }
        }
    }
    versions
}

/// The up SQL of fixture migration `i` as `tool`'s file holds it.
fn fixture_up(tool: &str, i: usize) -> String {
    let up = FIXTURE[i].1;
    if tool == "sqlx" {
        up.to_owned()
    } else {
        up.replace("-- no-transaction\n", "")
    }
}

/// A byte string as an SQL literal of `engine`.
fn blob(engine: tests::Engine, bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    match engine {
        tests::Engine::Postgres => format!("decode('{hex}', 'hex')"),
        tests::Engine::MySql => format!("UNHEX('{hex}')"),
        tests::Engine::Sqlite => format!("X'{hex}'"),
    }
}

/// refinery's checksum: SipHash 1-3 of name, version (i32) and SQL, as Rust hashes them.
fn refinery_checksum(name: &str, version: i32, sql: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = siphasher::sip::SipHasher13::new();
    name.hash(&mut hasher);
    version.hash(&mut hasher);
    sql.hash(&mut hasher);
    hasher.finish()
}

/// The database as `tool` leaves it: each migration's SQL run (the `$$` function on
/// PostgreSQL only), and its history table with a row per migration, written as the tool
/// writes them.
async fn run_as_the_tool(db: &tests::TestDb, tool: &str, versions: &[String]) {
    let engine = db.engine();
    for (i, version) in versions.iter().enumerate() {
        let (name, _, _) = FIXTURE[i];
        let up = fixture_up(tool, i);
        if !name.ends_with("_function") || engine == tests::Engine::Postgres {
            db.execute(&up).await;
        }
        let _ = version;
    }
    let at = "'2024-05-01 10:00:00'";
    match tool {
        "sqlx" => {
            let (timestamp, blob_type) = match engine {
                tests::Engine::Postgres => ("TIMESTAMPTZ NOT NULL DEFAULT now()", "BYTEA"),
                _ => ("TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP", "BLOB"),
            };
            db.execute(&format!(
                "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
                 installed_on {timestamp}, success BOOLEAN NOT NULL, checksum {blob_type} NOT NULL, \
                 execution_time BIGINT NOT NULL)"
            ))
            .await;
            for (i, version) in versions.iter().enumerate() {
                use sha2::Digest;
                let checksum = sha2::Sha384::digest(fixture_up(tool, i).as_bytes());
                db.execute(&format!(
                    "INSERT INTO _sqlx_migrations VALUES ({version}, '{}', {at}, TRUE, {}, 2500000)",
                    FIXTURE[i].0.replace('_', " "),
                    blob(engine, &checksum)
                ))
                .await;
            }
        }
        "diesel" => {
            db.execute(
                "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
                 run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
            )
            .await;
            for version in versions {
                db.execute(&format!(
                    "INSERT INTO __diesel_schema_migrations VALUES ('{version}', {at})"
                ))
                .await;
            }
        }
        _ => {
            db.execute(
                "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), \
                 applied_on VARCHAR(255), checksum VARCHAR(255))",
            )
            .await;
            for (i, version) in versions.iter().enumerate() {
                let n: i32 = version.parse().unwrap();
                let checksum = refinery_checksum(FIXTURE[i].0, n, &fixture_up(tool, i));
                db.execute(&format!(
                    "INSERT INTO refinery_schema_history VALUES ({n}, '{}', '2024-05-01T10:00:00Z', '{checksum}')",
                    FIXTURE[i].0
                ))
                .await;
            }
        }
    }
}

/// "Coming from sqlx / diesel / refinery": each tool's migrations imported into the
/// README's recipe workspace (it compiles, and `migrate sql` gives the files' SQL back),
/// then on each backend a database the tool migrated: `import-history` refuses a failed
/// or changed migration and one missing from the files, records the rest with the tool's
/// timestamps and runs nothing; the recipe's own newer migration applies on top,
/// `status --check` is clean, and `down` of an imported one runs its original down.
#[test]
fn migrations_and_history_come_over_from_sqlx_diesel_and_refinery() {
    in_turn(import_from_each_tool());
}

async fn import_from_each_tool() {
    let (scratch, own_version, lib) = recipe_workspace("import");
    let dir = scratch.dir.clone();
    let migrate = |args: &[&str], url: &str| {
        let output = scratch.migrate(args, url);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for tool in ["sqlx", "diesel", "refinery"] {
        let source = dir.join(format!("{tool}-migrations"));
        let versions = write_fixture(tool, &source);
        let imported = scratch.ok(&[
            "xtask",
            "migrate",
            "import",
            "--from",
            tool,
            source.to_str().unwrap(),
        ]);
        assert!(imported.contains("imported 12"), "{tool}: {imported}");

        // The SQL is the files' (surrounding blank space aside).
        let sql = scratch.ok(&[
            "xtask",
            "migrate",
            "sql",
            "--backend",
            "postgres",
            "--format",
            "json",
        ]);
        let doc: serde_json::Value = serde_json::from_str(&sql).unwrap();
        for (i, _) in FIXTURE.iter().enumerate() {
            let statement = doc[i]["statements"][0]["sql"].as_str().unwrap();
            assert_eq!(statement, fixture_up(tool, i).trim(), "{tool} {i}");
        }
        let transaction: Vec<bool> = (0..FIXTURE.len())
            .map(|i| doc[i]["transaction"].as_bool().unwrap())
            .collect();
        assert_eq!(
            transaction[2],
            tool == "refinery",
            "{tool}: the no-transaction one"
        );

        for engine in [
            tests::Engine::Sqlite,
            tests::Engine::Postgres,
            tests::Engine::MySql,
        ] {
            let Some(db) = tests::TestDb::new(engine).await else {
                continue;
            };
            run_as_the_tool(&db, tool, &versions).await;
            let table = [
                "_sqlx_migrations",
                "__diesel_schema_migrations",
                "refinery_schema_history",
            ][["sqlx", "diesel", "refinery"]
                .iter()
                .position(|t| *t == tool)
                .unwrap()];

            // Refused, naming the migration, and nothing recorded: a version the files lack...
            db.execute(&format!(
                "UPDATE {table} SET version = {} WHERE version = {}",
                if tool == "refinery" {
                    "99".to_owned()
                } else if tool == "diesel" {
                    "'99'".to_owned()
                } else {
                    "99".to_owned()
                },
                if tool == "diesel" {
                    format!("'{}'", versions[11])
                } else {
                    versions[11].clone()
                }
            ))
            .await;
            let (code, _, err) = migrate(&["import-history", "--from", tool], &db.url);
            assert_eq!(code, Some(1), "{tool} {engine:?}: {err}");
            assert!(
                err.contains("99") && err.contains("not in the code"),
                "{tool} {engine:?}: {err}"
            );
            db.execute(&format!(
                "UPDATE {table} SET version = {} WHERE version = {}",
                if tool == "diesel" {
                    format!("'{}'", versions[11])
                } else {
                    versions[11].clone()
                },
                if tool == "diesel" { "'99'" } else { "99" }
            ))
            .await;
            if tool == "sqlx" {
                // ...a failed one, and a changed one.
                db.execute(&format!(
                    "UPDATE _sqlx_migrations SET success = FALSE WHERE version = {}",
                    versions[4]
                ))
                .await;
                let (code, _, err) = migrate(&["import-history", "--from", tool], &db.url);
                assert_eq!(code, Some(1), "{engine:?}: {err}");
                assert!(err.contains("add_users_name failed"), "{engine:?}: {err}");
                db.execute(&format!(
                    "UPDATE _sqlx_migrations SET success = TRUE, checksum = {} WHERE version = {}",
                    blob(engine, b"not the checksum"),
                    versions[4]
                ))
                .await;
                let (code, _, err) = migrate(&["import-history", "--from", tool], &db.url);
                assert_eq!(code, Some(1), "{engine:?}: {err}");
                assert!(
                    err.contains("add_users_name") && err.contains("checksum"),
                    "{engine:?}: {err}"
                );
                use sha2::Digest;
                db.execute(&format!(
                    "UPDATE _sqlx_migrations SET checksum = {} WHERE version = {}",
                    blob(
                        engine,
                        &sha2::Sha384::digest(fixture_up(tool, 4).as_bytes())
                    ),
                    versions[4]
                ))
                .await;
            }
            if tool == "refinery" {
                db.execute(
                    "UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 5",
                )
                .await;
                let (code, _, err) = migrate(&["import-history", "--from", tool], &db.url);
                assert!(
                    code == Some(1) && err.contains("checksum"),
                    "{engine:?}: {err}"
                );
                db.execute(&format!(
                    "UPDATE refinery_schema_history SET checksum = '{}' WHERE version = 5",
                    refinery_checksum(FIXTURE[4].0, 5, &fixture_up(tool, 4))
                ))
                .await;
            }
            assert!(
                db.strings("SELECT name FROM shiplap_migrations WHERE version > 0")
                    .await
                    .is_empty()
            );

            // sqlx and refinery: `import-history`; diesel: the first `up` imports it.
            if tool != "diesel" {
                let (code, out, err) = migrate(&["import-history", "--from", tool], &db.url);
                assert_eq!(code, Some(0), "{tool} {engine:?}: {out}{err}");
                assert!(
                    out.contains("recorded 12 migration(s)"),
                    "{tool} {engine:?}: {out}"
                );
                let applied_at = db
                    .strings(
                        "SELECT applied_at FROM shiplap_migrations WHERE version > 0 ORDER BY version",
                    )
                    .await;
                assert_eq!(applied_at.len(), 12);
                assert!(
                    applied_at
                        .iter()
                        .all(|a| a.starts_with("2024-05-01T10:00:00")),
                    "{applied_at:?}"
                );
                // Again: nothing more to record.
                let (code, out, _) = migrate(&["import-history", "--from", tool], &db.url);
                assert!(code == Some(0) && out.contains("recorded 0"), "{out}");

                // The recipe's own migration is the only one `up` runs (seed_users would fail
                // on its primary key if it ran again).
                let (code, _, _) = migrate(&["status", "--check"], &db.url);
                assert_eq!(
                    code,
                    Some(3),
                    "{tool} {engine:?}: its own migration is pending"
                );
            }
            let (code, out, err) = migrate(&["up"], &db.url);
            assert_eq!(code, Some(0), "{tool} {engine:?}: {out}{err}");
            assert_eq!(out.matches("applied  ").count(), 1, "{out}");
            assert!(
                out.contains(&format!("applied  {own_version} create_things")),
                "{out}"
            );
            let applied_at = db
                .strings(
                    "SELECT applied_at FROM shiplap_migrations WHERE version > 0 ORDER BY version",
                )
                .await;
            assert_eq!(applied_at.len(), 13, "{tool} {engine:?}: {applied_at:?}");
            assert!(
                applied_at[..12]
                    .iter()
                    .all(|a| a.starts_with("2024-05-01T10:00:00")),
                "{applied_at:?}"
            );
            let (code, _, err) = migrate(&["status", "--check"], &db.url);
            assert_eq!(code, Some(0), "{tool} {engine:?}: {err}");
            assert_eq!(
                db.strings("SELECT email FROM users ORDER BY id").await,
                ["a@example.com", "b@example.com"],
                "seed_users ran once"
            );

            // Down: the recipe's migration, then the newest imported one, by its own down.
            let (code, out, err) = migrate(&["down", "--steps", "2"], &db.url);
            if tool == "refinery" {
                assert_eq!(code, Some(1), "{out}{err}");
                assert!(
                    err.contains("create_audit") && err.contains("no down"),
                    "{err}"
                );
            } else {
                assert_eq!(code, Some(0), "{tool} {engine:?}: {out}{err}");
                assert!(
                    !db.tables().await.contains(&"audit".to_owned()),
                    "{tool} {engine:?}"
                );
            }
            db.drop().await;
        }

        // The next tool starts from the recipe's one migration.
        scratch.back_to_the_recipe(&lib);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A merge brings a migration older than one already applied: `up` refuses it as out of
/// order; `renumber` gives it a version above the newest applied (attribute, file name,
/// module, SQL snapshots), and after a rebuild `up` applies it, `status --check` is clean
/// and the renamed snapshots still match.
#[test]
fn renumber_fixes_a_merge() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (scratch, _, _) = recipe_workspace("renumber");
    let dir = scratch.dir.clone();
    let mut made = Vec::new();
    for name in ["from_the_other_branch", "from_this_branch"] {
        scratch.ok(&["xtask", "migrate", "new", name]);
        let file = scratch.migration_file(name);
        let source = std::fs::read_to_string(&file).unwrap();
        let filled = source
            .lines()
            .filter(|l| !l.contains("#[expect(unused_variables"))
            .map(|l| {
                if l.starts_with(&format!("fn {name}(")) {
                    format!(
                        "{l}\n    s.raw(\"CREATE TABLE {name} (id INTEGER PRIMARY KEY)\").down(\"DROP TABLE {name}\");\n"
                    )
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>();
        std::fs::write(&file, filled).unwrap();
        made.push(file_version(&file));
    }
    // Both applied (and their snapshots accepted), then both reverted and the newer one
    // recorded as applied: as after a merge, the older one is pending and out of order.
    scratch.ok(&["xtask", "migrate", "up"]);
    scratch.cargo(&["test"], &[("INSTA_UPDATE", "always")]);
    scratch.ok(&["xtask", "migrate", "down", "--steps", "2"]);
    let older = made[0].to_string();
    let newer = made[1].to_string();
    scratch.ok(&[
        "xtask",
        "migrate",
        "repair",
        "--version",
        &newer,
        "--mark",
        "applied",
    ]);
    let merged = scratch.cargo(&["xtask", "migrate", "up"], &[]);
    assert!(
        !merged.status.success(),
        "up refuses the out-of-order migration"
    );
    assert!(
        String::from_utf8_lossy(&merged.stderr).contains(&older)
            && String::from_utf8_lossy(&merged.stderr).contains("`migrate renumber`"),
        "the refusal names it, and says what to run"
    );

    let renumbered = scratch.ok(&["xtask", "migrate", "renumber"]);
    assert!(
        renumbered.contains(&format!("{older} -> "))
            && renumbered.contains("3 snapshot(s) renamed"),
        "{renumbered}"
    );
    let files: Vec<String> = std::fs::read_dir(dir.join("migrations/src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f.contains(&older)), "{files:?}");
    let moved = files
        .iter()
        .find(|f| f.ends_with("_from_the_other_branch.rs"))
        .map(|f| file_version(Path::new(f)))
        .unwrap();
    assert!(moved > made[1], "{moved} comes after {}", made[1]);
    let lib = std::fs::read_to_string(dir.join("migrations/src/lib.rs")).unwrap();
    assert!(!lib.contains(&older), "{lib}");

    let up = scratch.ok(&["xtask", "migrate", "up"]);
    assert!(up.contains("from_the_other_branch"), "{up}");
    scratch.ok(&["xtask", "migrate", "status", "--check"]);
    let snapshots = scratch.cargo(&["test"], &[("INSTA_UPDATE", "no"), ("CI", "true")]);
    assert!(snapshots.status.success(), "the renamed snapshots match");
    std::fs::remove_dir_all(&dir).unwrap();
}
