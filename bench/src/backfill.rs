//! `cargo xtask bench backfill`: the example's kind of backfill on a large PostgreSQL
//! table, batched (the `Backfill` helper, default batch size) against one plain `UPDATE`
//! of every row: throughput of each, and the longest time a concurrent single-row
//! `UPDATE` of the same table had to wait meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shiplap::prelude::*;
use shiplap::{DatabaseUrl, Migrator, ProgressOutput, Registry, UrlSource};
use sqlx::{Connection, PgConnection};

/// The version of the benchmark's data migration (after the generated ones).
pub(crate) const VERSION: i64 = 5000;

/// Adds one to `v` of every row of `bench_rows`, in batches of the default size.
#[migration(
    version = 5000,
    transaction = false,
    nothing_to_undo = "a benchmark: the table is dropped afterwards"
)]
async fn backfill_bench_rows(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
    ctx.backfill(Backfill::new("bench_rows", "id").set("v", Expr::col("v").add(1)))
        .await?;
    Ok(())
}

pub(crate) async fn connect(url: &str) -> Result<PgConnection, String> {
    PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", shiplap::redact(url)))
}

pub(crate) async fn execute(conn: &mut PgConnection, sql: &str) -> Result<(), String> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .map(drop)
        .map_err(|e| format!("{sql}: {e}"))
}

/// Updates random single rows (one every millisecond or so) until `stop`; returns how
/// many, and the longest.
async fn writer(url: String, rows: i64, stop: Arc<AtomicBool>) -> Result<(u64, Duration), String> {
    let mut conn = connect(&url).await?;
    let (mut count, mut longest, mut id) = (0, Duration::ZERO, 1i64);
    while !stop.load(Ordering::Relaxed) {
        id = (id * 7919 + 17) % rows + 1;
        let started = Instant::now();
        sqlx::query("UPDATE bench_rows SET touched = touched + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut conn)
            .await
            .map_err(|e| format!("the writer's update: {e}"))?;
        longest = longest.max(started.elapsed());
        count += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok((count, longest))
}

/// Runs `work` with the writer going; returns (work's duration, writes, longest wait).
async fn with_writer<F: Future<Output = Result<(), String>>>(
    url: &str,
    rows: i64,
    work: F,
) -> Result<(Duration, u64, Duration), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(writer(url.to_owned(), rows, Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let result = work.await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (writes, longest) = writing.await.map_err(|e| e.to_string())??;
    result?;
    Ok((took, writes, longest))
}

/// The benchmark on a fresh database at `url` (which it fills and leaves behind).
pub(crate) async fn run(url: &str, rows: i64) -> Result<String, String> {
    let mut conn = connect(url).await?;
    execute(
        &mut conn,
        &format!(
            "DROP TABLE IF EXISTS bench_rows;
             CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, v BIGINT NOT NULL, touched BIGINT NOT NULL, pad TEXT NOT NULL);
             INSERT INTO bench_rows SELECT i, 0, 0, repeat('x', 60) FROM generate_series(1, {rows}) AS s(i);"
        ),
    )
    .await?;
    execute(&mut conn, "VACUUM ANALYZE bench_rows").await?;

    let plain = with_writer(url, rows, async {
        let mut conn = connect(url).await?;
        execute(&mut conn, "UPDATE bench_rows SET v = v + 1").await
    })
    .await?;
    execute(&mut conn, "VACUUM bench_rows").await?;

    let registry = Registry::new(
        Registry::of_crate("shiplap_bench")
            .map_err(|e| e.to_string())?
            .iter()
            .filter(|m| m.version() == VERSION),
    )
    .map_err(|e| e.to_string())?;
    let migrator = Migrator::new(
        registry,
        DatabaseUrl::parse(url, UrlSource::Flag).map_err(|e| e.to_string())?,
    )
    .progress(ProgressOutput::Silent);
    let batched = with_writer(url, rows, async {
        migrator.up().await.map(drop).map_err(|e| e.to_string())
    })
    .await?;
    let (wrong,): (i64,) = sqlx::query_as("SELECT count(*) FROM bench_rows WHERE v <> 2")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    if wrong != 0 {
        return Err(format!("{wrong} rows were not updated exactly twice"));
    }

    let rate = |took: Duration| rows as f64 / took.as_secs_f64();
    let line = |name: &str, (took, writes, longest): (Duration, u64, Duration)| {
        format!(
            "{name:<22} {:>8.2}s {:>10.0} rows/s   writer: {writes:>5} updates, longest wait {:>7.1} ms\n",
            took.as_secs_f64(),
            rate(took),
            longest.as_secs_f64() * 1000.0
        )
    };
    Ok(format!(
        "backfill of {rows} rows on PostgreSQL (batches of {} keys)\n\n{}{}\nthroughput, batched / plain: {:.2}x\n",
        Backfill::DEFAULT_BATCH_SIZE,
        line("one plain UPDATE", plain),
        line("Backfill (batched)", batched),
        rate(batched.0) / rate(plain.0)
    ))
}
