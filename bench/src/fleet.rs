//! `cargo xtask bench fleet`: `migrate up --targets` of migrations-example (the xtask
//! binary, `SHIPLAP_BENCH_XTASK`) on many PostgreSQL databases at several concurrencies,
//! each on freshly created databases; and the same `up` on a Galera cluster's node against
//! one MariaDB server.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use sqlx::{Connection as _, MySqlConnection};

use crate::backfill::{connect, execute};

struct Settings {
    databases: usize,
    concurrency: Vec<usize>,
    postgres: String,
    galera: Option<String>,
    mysql: Option<String>,
    xtask: PathBuf,
}

pub(crate) fn main(args: &[String]) -> ExitCode {
    let settings = match parse(args) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("shiplap-bench fleet: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(&settings)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("shiplap-bench fleet: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Settings, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut settings = Settings {
        databases: 100,
        concurrency: vec![1, 4, 16],
        postgres: env("TEST_POSTGRES_URL")
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        galera: env("TEST_GALERA_URLS").and_then(|u| u.split(',').next().map(str::to_owned)),
        mysql: env("TEST_MYSQL_URL"),
        xtask: env("SHIPLAP_BENCH_XTASK")
            .map(PathBuf::from)
            .ok_or("run it as `cargo xtask bench fleet` (SHIPLAP_BENCH_XTASK is not set)")?,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--databases" => {
                settings.databases = value()?
                    .parse()
                    .map_err(|_| "--databases: a number".to_owned())?;
            }
            "--concurrency" => {
                settings.concurrency = value()?
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse()
                            .map_err(|_| format!("--concurrency: `{n}`"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--postgres-url" => settings.postgres = value()?,
            "--galera-url" => settings.galera = Some(value()?),
            "--mysql-url" => settings.mysql = Some(value()?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(settings)
}

/// `url` with its database replaced by `database`.
fn on_database(url: &str, database: &str) -> Result<String, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}

async fn my_execute(url: &str, sql: &str) -> Result<(), String> {
    let mut conn = MySqlConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", shiplap::redact(url)))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .map(drop)
        .map_err(|e| format!("{sql}: {e}"))
}

/// Runs `migrate <args>` of migrations-example quietly; its wall time.
fn migrate(xtask: &PathBuf, args: &[&str]) -> Result<Duration, String> {
    crate::timed(
        Command::new(xtask)
            .arg("migrate")
            .args(args)
            .arg("--quiet")
            .env_remove("DATABASE_URL"),
    )
}

async fn run(s: &Settings) -> Result<String, String> {
    let mut report = String::new();
    let mut admin = connect(&s.postgres).await?;
    let names: Vec<String> = (0..s.databases)
        .map(|i| format!("shiplap_fleet_{i:03}"))
        .collect();
    let targets = std::env::temp_dir().join("shiplap-bench-fleet.toml");
    let mut text = String::new();
    for name in &names {
        let url = on_database(&s.postgres, name)?;
        let _ = writeln!(text, "[[target]]\nname = \"{name}\"\nurl = \"{url}\"\n");
    }
    std::fs::write(&targets, text).map_err(|e| format!("{}: {e}", targets.display()))?;
    let targets_arg = targets.to_string_lossy().into_owned();
    let _ = writeln!(
        report,
        "fleet: `migrate up --targets` of migrations-example on {} PostgreSQL databases (fresh each time)",
        s.databases
    );
    let mut sequential = None;
    for &concurrency in &s.concurrency {
        for name in &names {
            execute(&mut admin, &format!("DROP DATABASE IF EXISTS {name}")).await?;
            execute(&mut admin, &format!("CREATE DATABASE {name}")).await?;
        }
        let took = migrate(
            &s.xtask,
            &[
                "up",
                "--targets",
                &targets_arg,
                "--concurrency",
                &concurrency.to_string(),
            ],
        )?;
        let base = *sequential.get_or_insert(took);
        let _ = writeln!(
            report,
            "  --concurrency {concurrency:>2}: {:>7.2} s   speed-up {:.2}x",
            took.as_secs_f64(),
            base.as_secs_f64() / took.as_secs_f64()
        );
    }
    for name in &names {
        execute(&mut admin, &format!("DROP DATABASE IF EXISTS {name}")).await?;
    }
    let _ = std::fs::remove_file(&targets);

    if let (Some(galera), Some(mysql)) = (&s.galera, &s.mysql) {
        let mut medians = Vec::new();
        for server in [galera, mysql] {
            let url = on_database(server, "shiplap_bench_up")?;
            let mut times = Vec::new();
            for _ in 0..5 {
                my_execute(server, "DROP DATABASE IF EXISTS shiplap_bench_up").await?;
                my_execute(server, "CREATE DATABASE shiplap_bench_up").await?;
                times.push(migrate(&s.xtask, &["up", "--database-url", &url])?);
            }
            my_execute(server, "DROP DATABASE IF EXISTS shiplap_bench_up").await?;
            times.sort();
            medians.push(times[times.len() / 2]);
        }
        let _ = writeln!(
            report,
            "galera: `migrate up` of migrations-example (median of 5): Galera node {:.3} s, \
             one MariaDB server {:.3} s, ratio {:.2}x",
            medians[0].as_secs_f64(),
            medians[1].as_secs_f64(),
            medians[0].as_secs_f64() / medians[1].as_secs_f64()
        );
    }
    Ok(report)
}
