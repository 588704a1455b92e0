//! The README's "Use shiplap in your own repository", followed as a new team would: a
//! scratch workspace outside this checkout, made of exactly the files the README shows,
//! with its path dependency pointed at this checkout (`tests::recipe`); then `migrate
//! new`, `up`, `status --check`, the snapshot test and `down` in it. If the README's
//! recipe rots, this fails.

use tests::recipe::{ONE_AT_A_TIME, recipe_workspace};

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
