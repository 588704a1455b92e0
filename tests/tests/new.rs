//! `migrate new` through the xtask binary, on a migrations crate in a temporary folder
//! (the skeletons' compiling is checked by the macro crate's trybuild test).

use std::path::PathBuf;

use tests::xtask;

fn migrations_crate() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shiplap-new-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"m\"\n").unwrap();
    std::fs::write(dir.join("src/lib.rs"), "shiplap::migrations!();\n").unwrap();
    dir
}

fn new(args: &[&str]) -> (i32, String, String) {
    let out = xtask()
        .args(["migrate", "new"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn writes_a_data_migration_and_refuses_bad_names() {
    let dir = migrations_crate();
    let dir_arg = dir.to_str().unwrap();

    let (code, stdout, stderr) = new(&[
        "backfill_emails",
        "--data",
        "--no-transaction",
        "--dir",
        dir_arg,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let version = created["version"].as_i64().unwrap();
    assert!(version > 20250000000000, "{stdout}");
    let file = dir.join(format!("src/m{version}_backfill_emails.rs"));
    let source = std::fs::read_to_string(&file).unwrap();
    // With nothing_to_undo, so that `down` can pass it.
    assert!(
        source.contains(&format!(
            "#[migration(\n    version = {version}, transaction = false,\n    nothing_to_undo = \""
        )),
        "{source}"
    );
    assert!(source.contains("async fn backfill_emails(ctx: &mut DataContext<'_>)"));
    assert_eq!(
        std::fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
        format!("mod m{version}_backfill_emails;\n\nshiplap::migrations!();\n")
    );

    let (code, _, stderr) = new(&["backfill_emails", "--dir", dir_arg]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("the name `backfill_emails` is taken"),
        "{stderr}"
    );
    let (code, _, stderr) = new(&["Backfill-Emails", "--dir", dir_arg]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a snake_case name"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.join("src")).unwrap().count(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}
