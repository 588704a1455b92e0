//! Both kinds of binary see every migration of migrations-example. Counted from the
//! source files, not through inventory: a migration the linker dropped would be missing
//! from inventory too.

use std::collections::BTreeSet;

use tests::{example_versions_in_source, xtask};

#[test]
fn test_binary_sees_every_migration() {
    let in_source = example_versions_in_source();
    assert!(
        in_source.len() >= 12,
        "the example has at least 12 migrations"
    );
    let registry = migrations_example::migrations().unwrap();
    let registered: BTreeSet<i64> = registry.iter().map(|m| m.version()).collect();
    assert_eq!(registered, in_source);
}

#[test]
fn xtask_binary_sees_every_migration() {
    let output = xtask()
        .args(["migrate", "sql", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let versions: BTreeSet<i64> = listed
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, example_versions_in_source());
}

#[test]
fn each_migration_lives_in_the_file_named_after_its_version() {
    for m in migrations_example::migrations().unwrap().iter() {
        let file = m.location().file;
        assert!(
            file.starts_with(&format!("migrations-example/src/m{}_", m.version())),
            "{} is in {file}",
            m.version()
        );
    }
}
