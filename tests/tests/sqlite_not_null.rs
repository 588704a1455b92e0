//! `set_not_null` / `drop_not_null` on SQLite, which has no ALTER COLUMN: the column's
//! NOT NULL is changed in the table's recorded definition as the migration runs, in its
//! transaction. Its rows, default, check, index, trigger and AUTOINCREMENT stay; the rows
//! of a table whose foreign key cascades from it stay too (a first version, which rebuilt
//! the table, lost them here); a NULL left fails the migration, naming the column, and
//! leaves the table as it was.

use shiplap::prelude::*;
use shiplap::{DownTarget, Error};
use tests::{Engine, TestDb};

#[migration(version = 1)]
fn create_labels(s: &mut Schema) {
    s.raw(
        "CREATE TABLE owners (id INTEGER PRIMARY KEY);
         CREATE TABLE labels (id INTEGER PRIMARY KEY AUTOINCREMENT,
             owner_id INTEGER REFERENCES owners (id) ON DELETE CASCADE,
             name VARCHAR(40) DEFAULT 'x' CHECK (length(name) < 30));
         CREATE INDEX labels_name_idx ON labels (name);
         CREATE TABLE tags (label_id INTEGER REFERENCES labels (id) ON DELETE CASCADE, tag TEXT);
         CREATE TABLE audit (what TEXT);
         CREATE TRIGGER labels_audit AFTER INSERT ON labels BEGIN
             INSERT INTO audit (what) VALUES ('label ' || NEW.id);
         END;
         INSERT INTO owners (id) VALUES (1);
         INSERT INTO labels (owner_id, name) VALUES (1, 'a'), (1, NULL);
         INSERT INTO tags (label_id, tag) VALUES (1, 't1'), (2, 't2')",
    )
    .down("DROP TABLE audit; DROP TABLE tags; DROP TABLE labels; DROP TABLE owners");
}

#[migration(version = 2)]
fn names_required(s: &mut Schema) {
    s.set_not_null("labels", "name");
}

#[tokio::test]
async fn not_null_changes_and_everything_else_stays() {
    let db = TestDb::new(Engine::Sqlite).await.unwrap();
    let m = db.migrator("sqlite_not_null");
    let sql = shiplap::snapshot(
        shiplap::Registry::of_crate("sqlite_not_null")
            .unwrap()
            .get(2)
            .unwrap(),
        shiplap::Backend::Sqlite,
    )
    .unwrap();
    assert!(
        sql.contains("-- shiplap: SQLite changes \"labels\" to make \"name\" NOT NULL"),
        "{sql}"
    );
    m.up_to(1).await.unwrap();
    let definition = "SELECT sql FROM sqlite_master WHERE name = 'labels'";
    let before = db.strings(definition).await;

    // A NULL left: the migration fails, naming the column, and nothing changed.
    let error = m.up().await.unwrap_err();
    assert!(
        matches!(&error, Error::Data { .. })
            && error.to_string().contains("migration 2 names_required")
            && error
                .to_string()
                .contains("column \"name\" of \"labels\" still holds NULLs"),
        "{error}"
    );
    assert_eq!(db.strings(definition).await, before);

    db.execute("UPDATE labels SET name = 'b' WHERE name IS NULL")
        .await;
    m.up().await.unwrap();
    assert!(
        db.try_execute("INSERT INTO labels (owner_id, name) VALUES (1, NULL)")
            .await
            .is_err()
    );
    // The rest stayed: rows, default, check, index, trigger, the counter, the children.
    db.execute("INSERT INTO labels (owner_id) VALUES (1)").await;
    assert_eq!(
        db.strings("SELECT id || ':' || name FROM labels ORDER BY id")
            .await,
        ["1:a", "2:b", "3:x"]
    );
    assert!(
        db.try_execute(
            "INSERT INTO labels (owner_id, name) VALUES (1, 'far too long for the check in place')"
        )
        .await
        .is_err()
    );
    assert_eq!(
        db.strings("SELECT name FROM sqlite_master WHERE tbl_name = 'labels' AND type IN ('index', 'trigger') ORDER BY name")
            .await,
        ["labels_audit", "labels_name_idx"]
    );
    assert_eq!(
        db.strings("SELECT what FROM audit ORDER BY what").await,
        ["label 1", "label 2", "label 3"]
    );
    assert_eq!(
        db.strings("SELECT tag FROM tags ORDER BY tag").await,
        ["t1", "t2"]
    );
    assert!(
        db.strings("SELECT * FROM pragma_foreign_key_check")
            .await
            .is_empty()
    );

    // The down: nullable again.
    m.down(DownTarget::Steps(1)).await.unwrap();
    db.execute("INSERT INTO labels (owner_id, name) VALUES (1, NULL)")
        .await;
    assert_eq!(
        db.strings("SELECT tag FROM tags ORDER BY tag").await,
        ["t1", "t2"]
    );
    db.drop().await;
}
