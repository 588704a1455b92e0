//! The registry sees every migration of this crate: counted from the source files, not
//! through inventory, since inventory items the linker drops would vanish from both.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The versions written in `#[migration(version = N ...)]` attributes in `src/`.
pub fn versions_in_source() -> BTreeSet<i64> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut versions = BTreeSet::new();
    for entry in fs::read_dir(src).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        for attribute in text.split("#[migration(").skip(1) {
            // `version = N`, wherever rustfmt put the line breaks.
            let compact: String = attribute.chars().filter(|c| !c.is_whitespace()).collect();
            let value = compact.split("version=").nth(1).unwrap();
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            versions.insert(digits.parse::<i64>().unwrap());
        }
    }
    versions
}

#[test]
fn test_binary_sees_every_migration() {
    let in_source = versions_in_source();
    assert!(
        in_source.len() >= 12,
        "the example has at least 12 migrations"
    );
    let registry = migrations_example::migrations().unwrap();
    let registered: BTreeSet<i64> = registry.iter().map(|m| m.version()).collect();
    assert_eq!(registered, in_source);
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
