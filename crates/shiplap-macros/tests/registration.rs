//! What `#[migration]` records: version, name, kind, transaction flag, doc, location and
//! a source checksum that follows the code, not its layout.

use shiplap::prelude::*;
use shiplap::{Allow, Kind, Registry};

mod original {
    use super::*;

    /// Creates t.
    ///
    /// Second paragraph.
    #[migration(version = 1)]
    fn create_t(s: &mut Schema) {
        s.raw("CREATE TABLE t (id int)\nWITHOUT ROWID")
            .irreversible("test");
    }
}

// The same function: other layout, comments, no doc comment.
mod relaid {
    use super::*;

    #[migration(version = 2)]
    #[rustfmt::skip]
    fn create_t(  s : &mut Schema  )
    {
        // a comment
        s.raw( "CREATE TABLE t (id int)\nWITHOUT ROWID" )
            .irreversible( "test" ) ; /* another */
    }
}

// The same function again, in a file with CRLF line endings.
mod crlf {
    use super::*;

    include!("fixtures/crlf.rs");
}

// One token changed.
mod edited {
    use super::*;

    #[migration(version = 4)]
    fn create_t(s: &mut Schema) {
        s.raw("CREATE TABLE t (id bigint)\nWITHOUT ROWID")
            .irreversible("test");
    }
}

#[migration(
    version = 5,
    name = "custom",
    transaction = false,
    allow(
        drop_table = "scratch table",
        rename_column = "nobody reads it yet",
        drop_column(step = 2, why = "the copy is gone")
    )
)]
fn named(_s: &mut Schema) {}

#[migration(version = 6)]
async fn data(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.execute_raw("SELECT 1").await?;
    Ok(())
}

fn registry() -> Registry {
    Registry::linked().expect("no duplicate versions")
}

#[test]
fn registers_every_migration_with_its_attributes() {
    let registry = registry();
    let summary: Vec<_> = registry
        .iter()
        .map(|m| (m.version(), m.name(), m.kind(), m.transaction()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "create_t", Kind::Schema, true),
            (2, "create_t", Kind::Schema, true),
            (3, "create_t", Kind::Schema, true),
            (4, "create_t", Kind::Schema, true),
            (5, "custom", Kind::Schema, false),
            (6, "data", Kind::Data, true),
        ]
    );
    let first = registry.get(1).unwrap();
    assert_eq!(first.doc(), "Creates t.\n\nSecond paragraph.");
    assert_eq!(
        first.location().file,
        "crates/shiplap-macros/tests/registration.rs"
    );
    assert_eq!(first.location().line, 14, "the line of the function's name");
    assert_eq!(first.location().module_path, "registration::original");
    assert_eq!(first.location().crate_name(), "registration");
    assert!(first.allowed().is_empty());
    assert_eq!(
        registry.get(5).unwrap().allowed(),
        [
            Allow::__new("drop_table", "scratch table", None),
            Allow::__new("rename_column", "nobody reads it yet", None),
            Allow::__new("drop_column", "the copy is gone", Some(2))
        ]
    );
}

#[test]
fn source_checksum_follows_code_not_layout() {
    let registry = registry();
    let sum = |v| registry.get(v).unwrap().source_checksum();
    assert_eq!(sum(1).len(), 64);
    assert!(sum(1).chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        sum(1),
        sum(2),
        "layout, comments and doc comments do not count"
    );
    assert_eq!(sum(1), sum(3), "CRLF line endings do not count");
    assert_ne!(sum(1), sum(4), "a changed token changes the checksum");
    assert_ne!(sum(5), sum(6));
}
