//! Compile-fail tests: one mistake per file in `ui/`, each with the exact error (and its
//! position) in the `.stderr` beside it. `pass/` holds forms that must compile, and the
//! skeletons `migrate new` writes must compile too (they are generated here, each kind).
//!
//! After changing a message: `TRYBUILD=overwrite cargo test -p shiplap-macros --test ui`,
//! then review the `.stderr` diff.

use shiplap::authoring::{Template, skeleton};

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skeletons");
    std::fs::create_dir_all(&dir).unwrap();
    for (data, transaction) in [(false, true), (false, false), (true, true), (true, false)] {
        let name = format!("new_data_{data}_transaction_{transaction}");
        let mut source = skeleton(&name, 20250224120000, Template { data, transaction });
        source.push_str("\nfn main() {}\n");
        let path = dir.join(format!("{name}.rs"));
        std::fs::write(&path, source).unwrap();
        t.pass(path);
    }
}
