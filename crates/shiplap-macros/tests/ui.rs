//! Compile-fail tests: one mistake per file in `ui/`, each with the exact error (and its
//! position) in the `.stderr` beside it. `pass/` holds forms that must compile.
//!
//! After changing a message: `TRYBUILD=overwrite cargo test -p shiplap-macros --test ui`,
//! then review the `.stderr` diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
