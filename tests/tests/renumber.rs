//! `migrate renumber` after a merge, in the README's recipe workspace (`tests::recipe`).

use std::path::Path;

use tests::recipe::{ONE_AT_A_TIME, file_version, recipe_workspace};

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
