//! "Coming from sqlx / diesel / refinery", in the README's recipe workspace
//! (`tests::recipe`): each tool's migrations imported as files, and on each backend the
//! history the tool left.

use std::path::Path;

use tests::recipe::{in_turn, recipe_workspace};

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
