//! `cargo xtask migrate sql`: the SQL of migrations, with no database.

use std::process::Output;

use tests::xtask;

fn migrate(args: &[&str]) -> Output {
    xtask().arg("migrate").args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn one_migration_with_its_header() {
    let output = migrate(&[
        "sql",
        "--backend",
        "postgres",
        "--version",
        "20250320090100",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "-- 20250320090100 index_order_items_product_id (up, postgres)"
    );
    assert_eq!(
        lines[1],
        "-- source: migrations-example/src/m20250320090100_index_order_items_product.rs:20"
    );
    assert_eq!(lines[2], "-- Index order_items.product_id.");
    assert_eq!(
        lines[3],
        "-- transaction: none (each statement runs on its own)"
    );
    assert!(lines[4].starts_with("-- sql checksum: "), "{}", lines[4]);
    assert_eq!(
        lines[6],
        r#"CREATE INDEX CONCURRENTLY "order_items_product_id_idx" ON "order_items" ("product_id");"#
    );
}

#[test]
fn down_of_a_range_runs_newest_first() {
    let output = migrate(&[
        "sql",
        "--backend",
        "postgres",
        "--from",
        "20250101090200",
        "--to",
        "20250101090300",
        "--down",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let sql: Vec<String> = stdout(&output)
        .lines()
        .filter(|l| !l.starts_with("--") && !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        sql,
        [
            // Each table's index goes with it.
            r#"DROP TABLE "order_items";"#,
            r#"DROP TABLE "orders";"#,
        ]
    );
}

#[test]
fn a_data_migration_says_it_runs_rust_code_and_why_reverting_needs_nothing() {
    let up = migrate(&["sql", "--version", "20250210090100"]);
    assert!(stdout(&up).contains("-- data migration: runs Rust code against the database"));
    let down = migrate(&["sql", "--version", "20250210090100", "--down"]);
    assert!(down.status.success());
    assert!(
        stdout(&down).contains(
            "-- nothing to undo: reverting add_users_display_name drops the column it fills"
        ),
        "{}",
        stdout(&down)
    );
}

#[test]
fn default_backend_is_sqlite() {
    let output = migrate(&["sql", "--version", "20250101090000"]);
    assert!(stdout(&output).contains("(up, sqlite)"));
    assert!(stdout(&output).contains("AUTOINCREMENT"));
}

#[test]
fn unknown_version_is_a_clear_error() {
    let output = migrate(&["sql", "--version", "42"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output), "error: no migration has version 42\n");
    assert!(stdout(&output).is_empty());
}

#[test]
fn reversed_range_is_a_clear_error() {
    let output = migrate(&["sql", "--from", "20250301000000", "--to", "20250101000000"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: invalid range: --from 20250301000000 is after --to 20250101000000\n"
    );
}

#[test]
fn bad_arguments_name_the_argument() {
    let output = migrate(&["sql", "--backend", "oracle"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid value 'oracle' for '--backend <BACKEND>'"),
        "{}",
        stderr(&output)
    );

    let output = migrate(&["sql", "--version", "1", "--from", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("'--version <VERSION>' cannot be used with '--from <FROM>'"),
        "{}",
        stderr(&output)
    );

    let output = migrate(&["sql", "--version", "twelve"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid value 'twelve' for '--version <VERSION>'"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn json_output_lists_statements_and_checksums() {
    let output = migrate(&[
        "sql",
        "--backend",
        "postgres",
        "--format",
        "json",
        "--version",
        "20250101090000",
    ]);
    let items: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let item = &items[0];
    assert_eq!(item["name"], "create_users");
    assert_eq!(item["kind"], "schema");
    assert_eq!(item["direction"], "up");
    assert_eq!(item["backend"], "postgres");
    assert_eq!(item["statements"].as_array().unwrap().len(), 2);
    assert_eq!(
        item["statements"][1]["sql"],
        r#"CREATE UNIQUE INDEX "users_email_key" ON "users" ("email")"#
    );
    assert_eq!(item["sql_checksum"].as_str().unwrap().len(), 64);
    assert_eq!(item["source_checksum"].as_str().unwrap().len(), 64);
}
