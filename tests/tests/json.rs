//! JSON in data migrations, the same code on every backend: a `serde_json::Value` bound
//! as a parameter (no `CAST(? AS jsonb)` on PostgreSQL), through raw SQL and through
//! sea-query, into PostgreSQL `jsonb` and `json`, MySQL `JSON` and SQLite text; and read
//! back as `Json<serde_json::Value>` without a per-backend cast.

use serde_json::json;
use shiplap::prelude::*;
use shiplap::sqlx::types::Json;
use tests::{TestDb, on_every_backend};

#[migration(version = 1)]
fn create_prefs(s: &mut Schema) {
    s.raw(
        Raw::per_backend()
            .postgres("CREATE TABLE prefs (id INTEGER PRIMARY KEY, doc jsonb, plain json)")
            .mysql("CREATE TABLE prefs (id INTEGER PRIMARY KEY, doc JSON, plain JSON)")
            .sqlite("CREATE TABLE prefs (id INTEGER PRIMARY KEY, doc TEXT, plain TEXT)"),
    )
    .down("DROP TABLE prefs");
}

#[migration(version = 2, nothing_to_undo = "the table goes")]
async fn write_and_read_json(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    let dark = json!({"theme": "dark", "sizes": [1, 2]});
    ctx.execute_sql(
        "INSERT INTO prefs (id, doc, plain) VALUES (?, ?, ?)",
        [1.into(), dark.clone().into(), dark.clone().into()],
    )
    .await?;
    ctx.execute(
        Query::insert()
            .into_table("prefs")
            .columns(["id", "doc", "plain"])
            .values_panic([
                2.into(),
                json!({"theme": "light"}).into(),
                json!(null).into(),
            ]),
    )
    .await?;
    let rows: Vec<(
        i32,
        Json<serde_json::Value>,
        Option<Json<serde_json::Value>>,
    )> = ctx
        .fetch_all_sql("SELECT id, doc, plain FROM prefs ORDER BY id", [])
        .await?;
    let got: Vec<_> = rows
        .into_iter()
        .map(|(id, doc, plain)| (id, doc.0, plain.map(|p| p.0)))
        .collect();
    let expected = vec![
        (1, dark.clone(), Some(dark)),
        (2, json!({"theme": "light"}), Some(serde_json::Value::Null)),
    ];
    if got != expected {
        return Err(shiplap::Error::Data {
            message: format!("read back {got:?}, wrote {expected:?}"),
        });
    }
    Ok(())
}

async fn bound_and_read_the_same_way_everywhere(db: &TestDb) {
    let done = db.migrator("json").up().await.unwrap();
    assert_eq!(done.len(), 2);
}

on_every_backend!(bound_and_read_the_same_way_everywhere);
