//! `verify`, `schema` and `diff` on real databases: migrations whose downs give back the
//! schema pass (the MariaDB case first: an index created later on a foreign key's column,
//! which InnoDB lets stand in for the key's own index, error 1553 on `DROP INDEX`); a down
//! that forgets an index, or restores a column with another type, is reported naming the
//! object; a change made by hand to a live database is reported by `diff`.

use shiplap::inspect::Change;
use shiplap::prelude::*;
use shiplap::{
    DatabaseUrl, DownTarget, Migrator, ProgressOutput, Registry, UrlSource, VerifyOutcome,
};
use tests::{TestDb, on_every_backend};

#[migration(version = 1)]
fn create_parents(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("parents")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key()),
    );
}

#[migration(version = 2)]
fn create_children(s: &mut Schema) {
    s.create_table(
        Table::create()
            .table("children")
            .col(ColumnDef::new("id").big_integer().not_null().primary_key())
            .col(ColumnDef::new("parent_id").big_integer().not_null())
            .col(ColumnDef::new("kind").integer().null())
            .foreign_key(
                ForeignKey::create()
                    .name("children_parent_fk")
                    .from("children", "parent_id")
                    .to("parents", "id"),
            ),
    );
}

/// A later index on the foreign key's column: InnoDB drops the key's own index, and
/// then refuses to drop this one (error 1553) unless the key gets its index back.
#[migration(version = 3)]
fn index_children_parent(s: &mut Schema) {
    s.create_index(
        "children",
        Index::create()
            .name("children_parent_kind_idx")
            .col("parent_id")
            .col("kind"),
    );
}

/// Its down forgets the index.
#[migration(version = 101)]
fn forgets_an_index(s: &mut Schema) {
    s.raw("CREATE INDEX children_kind_idx ON children (kind)")
        .nothing_to_undo("wrong on purpose: the index stays");
}

/// Its down restores the column with another type.
#[migration(version = 102)]
fn restores_another_type(s: &mut Schema) {
    s.raw("ALTER TABLE children DROP COLUMN kind")
        .down("ALTER TABLE children ADD COLUMN kind varchar(10)");
}

fn migrator(db: &TestDb, versions: &[i64]) -> Migrator<'static> {
    let all = Registry::of_crate("verify").unwrap();
    let registry =
        Registry::new(versions.iter().map(|v| all.get(*v).unwrap())).expect("no duplicates");
    Migrator::new(
        registry,
        DatabaseUrl::parse(&db.url, UrlSource::Flag).unwrap(),
    )
    .progress(ProgressOutput::Silent)
}

fn objects(changes: &[Change]) -> Vec<&str> {
    changes.iter().map(|c| c.object.as_str()).collect()
}

async fn good_downs_pass(db: &TestDb) {
    let m = migrator(db, &[1, 2, 3]);
    let verified = m.verify().await.unwrap();
    assert_eq!(verified.len(), 3);
    for v in &verified {
        assert!(
            matches!(v.outcome, VerifyOutcome::Ok),
            "{} {}: {:?}",
            v.version,
            v.name,
            v.outcome
        );
    }
    // The test database itself is untouched: verify works on a scratch database.
    assert!(m.schema().await.unwrap().tables.is_empty());

    // The same down on the real database: the key's index comes back under its name.
    m.up().await.unwrap();
    m.down(DownTarget::Steps(1)).await.unwrap();
    let schema = m.schema().await.unwrap();
    let children = &schema.tables["children"];
    assert!(!children.indexes.contains_key("children_parent_kind_idx"));
    if db.engine() == tests::Engine::MySql {
        assert_eq!(
            children.indexes["children_parent_fk"].columns,
            ["parent_id"],
            "{schema}"
        );
    }
    m.up().await.unwrap();
}

async fn a_forgotten_index_is_named(db: &TestDb) {
    let verified = migrator(db, &[1, 2, 101]).verify().await.unwrap();
    let VerifyOutcome::DownMismatch { changes } = &verified[2].outcome else {
        panic!("{:?}", verified[2]);
    };
    assert_eq!(objects(changes), ["index children_kind_idx on children"]);
    assert!(changes[0].before.is_none() && changes[0].after.is_some());
    assert!(verified[2].outcome.is_problem());
}

async fn a_column_restored_with_another_type_is_named(db: &TestDb) {
    let verified = migrator(db, &[1, 2, 102]).verify().await.unwrap();
    let VerifyOutcome::DownMismatch { changes } = &verified[2].outcome else {
        panic!("{:?}", verified[2]);
    };
    assert_eq!(objects(changes), ["column children.kind"], "{changes:?}");
    let (before, after) = (changes[0].before.as_deref(), changes[0].after.as_deref());
    assert!(
        before.unwrap().to_lowercase().starts_with("int") && after.unwrap().contains("char"),
        "{changes:?}"
    );
}

async fn diff_reports_changes_by_hand(db: &TestDb) {
    let m = migrator(db, &[1, 2, 3]);
    m.up().await.unwrap();
    let clean = m.diff().await.unwrap();
    assert!(clean.changes.is_empty(), "{:?}", clean.changes);
    assert_eq!(clean.applied, [1, 2, 3]);

    db.execute("CREATE INDEX hand_made_idx ON children (kind)")
        .await;
    db.execute("ALTER TABLE children ADD COLUMN note varchar(20)")
        .await;
    let drift = m.diff().await.unwrap();
    let objects = objects(&drift.changes);
    assert!(
        objects.contains(&"index hand_made_idx on children"),
        "{objects:?}"
    );
    assert!(objects.contains(&"column children.note"), "{objects:?}");
}

/// The commands, through the example's xtask: the example passes `verify` (a scratch
/// database: the test database stays empty), `schema` prints what `up` built, `diff` is
/// clean and then reports a change made by hand, with exit code 3.
async fn the_example_through_the_cli(db: &TestDb) {
    let verify = tests::migrate(&db.url, &["verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("0 with a problem"),
        "{}",
        verify.stdout
    );
    assert!(db.tables().await.is_empty(), "{:?}", db.tables().await);

    let up = tests::migrate(&db.url, &["up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let schema = tests::migrate(&db.url, &["schema"]);
    assert_eq!(schema.code, 0, "{}", schema.stderr);
    assert!(
        schema.stdout.contains("table order_items\n"),
        "{}",
        schema.stdout
    );
    assert!(
        !schema.stdout.contains("shiplap_migrations"),
        "{}",
        schema.stdout
    );

    let clean = tests::migrate(&db.url, &["diff"]);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert!(clean.stdout.starts_with("ok: "), "{}", clean.stdout);
    db.execute("CREATE INDEX orders_by_hand_idx ON orders (total_cents)")
        .await;
    let drift = tests::migrate(&db.url, &["diff"]);
    assert_eq!(drift.code, 3, "{}{}", drift.stdout, drift.stderr);
    assert!(
        drift
            .stdout
            .contains("  + index orders_by_hand_idx on orders: (total_cents)"),
        "{}",
        drift.stdout
    );
    let json = tests::migrate(&db.url, &["diff", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        doc["drift"]["changes"][0]["object"],
        "index orders_by_hand_idx on orders"
    );
}

on_every_backend!(
    the_example_through_the_cli,
    good_downs_pass,
    a_forgotten_index_is_named,
    a_column_restored_with_another_type_is_named,
    diff_reports_changes_by_hand,
);
