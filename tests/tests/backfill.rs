//! Backfills: batches that fail half-way are resumed after the last committed batch and
//! never applied twice (a non-idempotent `n = n + 1` shows it), on all three backends.

use shiplap::Error;
use shiplap::prelude::*;
use tests::TestDb;

const ROWS: i64 = 10_000;

#[migration(version = 1)]
fn create_items(s: &mut Schema) {
    s.raw("CREATE TABLE items (id BIGINT PRIMARY KEY, n INT NOT NULL, CHECK (n < 2))")
        .down("DROP TABLE items");
}

/// Adds one to every row: applying a batch twice would leave a 2 (refused by the CHECK).
#[migration(
    version = 2,
    transaction = false,
    nothing_to_undo = "the test resets n itself"
)]
async fn increment_items(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.backfill(
        Backfill::new("items", "id")
            .set("n", Expr::col("n").add(1))
            .batch_size(1000),
    )
    .await?;
    Ok(())
}

async fn count(db: &TestDb, filter: &str) -> i64 {
    db.strings(&format!(
        "SELECT CAST(COUNT(*) AS CHAR(20)) FROM items WHERE {filter}"
    ))
    .await[0]
        .parse()
        .unwrap()
}

async fn resumes_after_the_last_committed_batch(db: &TestDb) {
    let m = db.migrator("backfill");
    m.up_to(1).await.unwrap();
    db.insert_series("items", "id, n", "i, 0", ROWS).await;
    // Row 5500 makes the sixth batch fail.
    db.execute("UPDATE items SET n = 1 WHERE id = 5500").await;

    let err = m.up().await.unwrap_err();
    assert!(
        matches!(&err, Error::DataMigration { dirty: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("increment_items"), "{err}");
    // Five batches committed, the sixth rolled back.
    assert_eq!(count(db, "id <= 5000 AND n = 1").await, 5000);
    assert_eq!(count(db, "id > 5000 AND n = 1").await, 1);
    let position = db
        .strings(
            "SELECT CAST(last_key AS CHAR(20)) FROM shiplap_migrations_backfill WHERE version = 2",
        )
        .await;
    assert_eq!(position, ["5000"]);

    // Fixed: up runs the dirty data migration again, from row 5001.
    db.execute("UPDATE items SET n = 0 WHERE id = 5500").await;
    let done = m.up().await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].rows, Some(10_000), "rows of both runs");
    assert_eq!(count(db, "n = 1").await, ROWS, "every row exactly once");
    let history = m.history().await.unwrap();
    assert_eq!(history[1].rows_affected, Some(10_000));
    assert!(
        m.status()
            .await
            .unwrap()
            .iter()
            .all(|s| s.state.name() == "applied")
    );

    // Reverting forgets the position: a redo runs the backfill again from the start.
    db.execute("UPDATE items SET n = 0").await;
    let redone = m.redo(1).await.unwrap();
    assert_eq!(redone.len(), 2);
    assert_eq!(count(db, "n = 1").await, ROWS);
}

tests::on_every_backend!(resumes_after_the_last_committed_batch);
