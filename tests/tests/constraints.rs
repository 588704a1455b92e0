//! Constraints on existing tables without raw SQL (`add_check`, `add_check_not_valid`,
//! `validate_constraint`, `create_foreign_key_not_valid`), on every backend: PostgreSQL
//! adds them `NOT VALID`, so a bad row already there fails only the validation, named;
//! MySQL checks the rows as it adds them; SQLite cannot add them, and says so naming the
//! migration and step. The downs drop them.

use shiplap::prelude::*;
use shiplap::{Backend, Error, Registry};
use tests::{Engine, TestDb, on_every_backend};

#[migration(version = 1)]
fn create_plans(s: &mut Schema) {
    s.raw("CREATE TABLE owners (id INTEGER PRIMARY KEY)")
        .down("DROP TABLE owners");
    s.raw("CREATE TABLE plans (id INTEGER PRIMARY KEY, owner_id INTEGER, price INTEGER)")
        .down("DROP TABLE plans");
    s.raw("INSERT INTO owners (id) VALUES (1)")
        .nothing_to_undo("the table goes");
    s.raw("INSERT INTO plans (id, owner_id, price) VALUES (1, 1, 5), (2, 1, -3)")
        .nothing_to_undo("the table goes");
}

#[migration(version = 2)]
fn constrain_plans(s: &mut Schema) {
    s.add_check_not_valid("plans", "plans_price_positive", "price >= 0");
    s.create_foreign_key_not_valid(
        ForeignKey::create()
            .name("plans_owner_fk")
            .from("plans", "owner_id")
            .to("owners", "id"),
    );
}

#[migration(version = 3)]
fn validate_plans(s: &mut Schema) {
    s.validate_constraint("plans", "plans_price_positive");
    s.validate_constraint("plans", "plans_owner_fk");
}

/// An index whose down is not the derived one.
#[migration(version = 4)]
fn index_plans(s: &mut Schema) {
    s.create_index(
        "plans",
        Index::create().name("plans_price_idx").col("price"),
    )
    .replace_down(
        Raw::per_backend()
            .postgres("DROP INDEX IF EXISTS plans_price_idx")
            .mysql("DROP INDEX plans_price_idx ON plans")
            .sqlite("DROP INDEX IF EXISTS plans_price_idx"),
    );
}

/// Columns made NOT NULL without restating their types (which carry a collation, a
/// default, a comment and an `ON UPDATE` on MySQL).
#[migration(version = 5)]
fn labels_not_null(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .mysql(
                "CREATE TABLE labels (id INTEGER PRIMARY KEY, \
                 name VARCHAR(40) COLLATE utf8mb4_bin DEFAULT 'x' COMMENT 'the label', \
                 touched TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)",
            )
            .postgres("CREATE TABLE labels (id INTEGER PRIMARY KEY, name VARCHAR(40) DEFAULT 'x', touched TIMESTAMP)")
            .sqlite("CREATE TABLE labels (id INTEGER PRIMARY KEY, name VARCHAR(40), touched TIMESTAMP)"),
    )
    .down("DROP TABLE labels");
    s.set_not_null("labels", "name");
    s.set_not_null("labels", "touched");
}

/// Each column of `labels` as `name nullable default extra comment collation`.
async fn labels(db: &TestDb) -> Vec<String> {
    db.strings(match db.engine() {
        Engine::MySql => {
            "SELECT CONCAT_WS(' ', column_name, is_nullable, COALESCE(column_default, '-'), \
             COALESCE(NULLIF(extra, ''), '-'), COALESCE(NULLIF(column_comment, ''), '-'), \
             COALESCE(collation_name, '-')) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'labels' ORDER BY ordinal_position"
        }
        _ => {
            "SELECT column_name || ' ' || is_nullable || ' ' || COALESCE(column_default, '-') \
             FROM information_schema.columns WHERE table_name = 'labels' ORDER BY ordinal_position"
        }
    })
    .await
}

async fn not_valid_then_validated(db: &TestDb) {
    let m = db.migrator("constraints");
    if db.engine() == Engine::Sqlite {
        // Every migration is rendered before anything runs: refused at once.
        let error = m.up_to(1).await.unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, Error::Render { .. })
                && message.contains("2 constrain_plans")
                && message.contains("SQLite cannot add or drop a constraint of an existing table"),
            "{message}"
        );
        assert!(db.tables().await.is_empty(), "nothing ran");
        return;
    }
    m.up_to(1).await.unwrap();
    if db.engine() == Engine::MySql {
        // MySQL checks the rows there are as it adds the check: the bad one fails it.
        let error = m.up().await.unwrap_err();
        assert!(
            error.to_string().contains("plans_price_positive"),
            "{error}"
        );
        m.repair(Some(2), None).await.unwrap();
    } else {
        // NOT VALID: added over the bad row; the validation names what fails.
        let error = m.up().await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("migration 3 validate_plans")
                && message.contains("VALIDATE CONSTRAINT \"plans_price_positive\""),
            "{message}"
        );
        assert_eq!(m.status().await.unwrap()[1].state, shiplap::State::Applied);
    }
    // The data fixed, the rest applies, and the constraints hold.
    db.execute("UPDATE plans SET price = 0 WHERE price < 0")
        .await;
    m.up().await.unwrap();
    for bad in [
        "INSERT INTO plans (id, owner_id, price) VALUES (3, 1, -1)",
        "INSERT INTO plans (id, owner_id, price) VALUES (4, 9, 1)",
    ] {
        assert!(db.try_execute(bad).await.is_err(), "{bad} was accepted");
    }
    let after = labels(db).await;
    // Only the nullability changed; on the way down, back as it was.
    let expected: &[&str] = match db.engine() {
        Engine::MySql => &[
            "id NO - - - -",
            "name NO 'x' - the label utf8mb4_bin",
            "touched NO current_timestamp() on update current_timestamp() - -",
        ],
        _ => &["id NO -", "name NO 'x'::character varying", "touched NO -"],
    };
    assert_eq!(after, expected);
    m.down(shiplap::DownTarget::Steps(1)).await.unwrap();
    m.up().await.unwrap();
    m.down(shiplap::DownTarget::Steps(1)).await.unwrap();
    // Their downs drop them.
    m.down(shiplap::DownTarget::To(1)).await.unwrap();
    assert!(
        !db.strings(match db.engine() {
            Engine::MySql => "SELECT index_name FROM information_schema.statistics WHERE table_schema = DATABASE()",
            _ => "SELECT indexname FROM pg_indexes WHERE tablename = 'plans'",
        })
        .await
        .iter()
        .any(|i| i == "plans_price_idx")
    );
    db.execute("INSERT INTO plans (id, owner_id, price) VALUES (3, 9, -1)")
        .await;
}

on_every_backend!(not_valid_then_validated);

#[test]
fn the_sql_per_backend() {
    let index = shiplap::snapshot(
        Registry::of_crate("constraints").unwrap().get(4).unwrap(),
        Backend::Postgres,
    )
    .unwrap();
    assert!(
        index.ends_with("-- down\nDROP INDEX IF EXISTS plans_price_idx;\n"),
        "{index}"
    );
    let registry = Registry::of_crate("constraints").unwrap();
    let sql =
        |version, backend| shiplap::snapshot(registry.get(version).unwrap(), backend).unwrap();
    let postgres = sql(2, Backend::Postgres);
    assert!(
        postgres.contains(
            "ALTER TABLE \"plans\" ADD CONSTRAINT \"plans_price_positive\" CHECK (price >= 0) NOT VALID;"
        ) && postgres.contains("REFERENCES \"owners\" (\"id\") NOT VALID;")
            && postgres.contains("ALTER TABLE \"plans\" DROP CONSTRAINT \"plans_price_positive\";"),
        "{postgres}"
    );
    let mysql = sql(2, Backend::MySql);
    assert!(!mysql.contains("NOT VALID"), "{mysql}");
    assert!(
        sql(3, Backend::MySql).contains("-- up\n-- nothing to run on mysql\n"),
        "validation is nothing on MySQL: {}",
        sql(3, Backend::MySql)
    );
}
