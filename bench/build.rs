//! Generates the benchmark's migrations: `COUNT` trivial ones (a table and an index
//! each), versions 1 to `COUNT`, as source the `#[migration]` macro compiles like any other.

use std::fmt::Write as _;
use std::path::PathBuf;

const COUNT: u32 = 1000;

fn main() {
    let mut source = String::new();
    for i in 1..=COUNT {
        write!(
            source,
            r#"
/// Benchmark migration {i}: a table with an index.
#[migration(version = {i})]
fn create_bench_{i:04}(s: &mut Schema) {{
    s.create_table(
        Table::create()
            .table("bench_{i:04}")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key())
            .col(ColumnDef::new("name").string_len(100).not_null()),
    );
    s.create_index("bench_{i:04}", Index::create().name("bench_{i:04}_name").col("name"));
}}
"#
        )
        .expect("writing to a String cannot fail");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("migrations.rs"), source).expect("cannot write the migrations");
    println!("cargo::rerun-if-changed=build.rs");
}
