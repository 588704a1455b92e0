//! `shiplap-bench`: shiplap against the raw clients (`psql`, `sqlite3`) on generated
//! migrations. Run it as `cargo xtask bench` (see `cargo xtask bench --help`).
//!
//! For each backend and number of migrations N it measures, as whole processes:
//! - **apply**: `migrate up` on an empty database, against the floor: the same SQL sent by
//!   the raw client, one `BEGIN ... COMMIT` per migration, without any bookkeeping; and
//!   against "bookkept": the raw client running exactly what `up` runs, history writes
//!   included (`up --dry-run`), which tells shiplap's own cost from its history table's;
//! - **no-op up** and **status** with all N applied, against the floor: the raw client's
//!   `SELECT * FROM` the history table.
//!
//! Each figure is the median of `--rounds` runs; the ratios are to the floor of the same run.
//!
//! `backfill` measures the `Backfill` helper on a large PostgreSQL table (see
//! [`backfill`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use shiplap::{Backend, Direction, Registry, render};

mod backfill;
mod fleet;

mod generated {
    use shiplap::prelude::*;

    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

    shiplap::migrations!();
}

/// How the benchmark is run: the number of migrations goes to `migrate` in this variable.
const COUNT_VAR: &str = "SHIPLAP_BENCH_MIGRATIONS";

const HELP: &str = "\
usage: cargo xtask bench [--n 100,1000] [--backend sqlite,postgres] [--rounds 3]
                         [--postgres-url URL] [--dir DIR]

Applies N generated migrations (a table and an index each) with shiplap and with the raw
client (psql, sqlite3), and prints the times and their ratios: to the migrations' SQL alone
(floor), and to what shiplap runs, history writes included (bookkept).

  --n            how many migrations (at most 1000); default 100,1000
  --backend      sqlite, postgres or both; default both
  --rounds       runs per figure, the median is reported; default 3
  --postgres-url a server the benchmark may create and drop the database
                 `shiplap_bench` on; default $TEST_POSTGRES_URL, then
                 postgres://postgres@127.0.0.1:5432/postgres
  --dir          where the SQLite files and scripts go; default target/shiplap-bench

cargo xtask bench lint
  The lint's time on the 1000 generated migrations, all three backends.

cargo xtask bench lint-dir DIR [--show-unparsed] [--fresh]
  The lint on a folder of PostgreSQL migrations, one `.sql` file each, in name order
  (a real project's history, say): statements, unparsed ones, findings per rule, time.
  --fresh lints them as for an empty database: every migration pending.

cargo xtask bench fleet [--databases 100] [--concurrency 1,4,16] [--postgres-url URL]
                        [--galera-url URL] [--mysql-url URL]
  `migrate up --targets` of migrations-example on that many PostgreSQL databases at each
  concurrency (wall time, speed-up over 1); with --galera-url (a node; default
  $TEST_GALERA_URLS' first) and --mysql-url (default $TEST_MYSQL_URL), the same `up` on a
  Galera cluster against one MariaDB server (median of 5, ratio).

cargo xtask bench backfill [--rows 1000000] [--postgres-url URL]
  A batched Backfill against one plain UPDATE of every row of a PostgreSQL table:
  throughput, and the longest wait of a concurrent single-row UPDATE.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("migrate") {
        let program = std::iter::once("shiplap-bench migrate".to_owned());
        return shiplap::cli::run(program.chain(args.into_iter().skip(1)), registry());
    }
    if args.first().map(String::as_str) == Some("backfill") {
        return backfill_main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("lint") {
        return lint_main();
    }
    if args.first().map(String::as_str) == Some("fleet") {
        return fleet::main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("lint-dir") {
        return lint_dir_main(&args[1..]);
    }
    match Settings::parse(&args).and_then(|settings| run(&settings)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("shiplap-bench: {message}");
            ExitCode::from(2)
        }
    }
}

/// `shiplap-bench lint`: the lint's time on the 1000 generated migrations, all three
/// backends, as `migrate lint` runs it (rendering included); the median of 5 runs.
fn lint_main() -> ExitCode {
    let result = registry().and_then(|registry| {
        let mut times = Vec::new();
        let mut findings = 0;
        for _ in 0..5 {
            let started = Instant::now();
            findings = shiplap::lint::lint(&registry, &Backend::ALL, Default::default())?.len();
            times.push(started.elapsed());
        }
        Ok((registry.len(), findings, median(times)))
    });
    match result {
        Ok((migrations, findings, took)) => {
            println!(
                "lint: {migrations} migrations x 3 backends in {:.1} ms (median of 5), {findings} findings",
                took.as_secs_f64() * 1000.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shiplap-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `shiplap-bench lint-dir DIR [--show-unparsed]`: the lint over a folder of PostgreSQL
/// migrations, each file one migration (its text one raw step), in name order.
fn lint_dir_main(args: &[String]) -> ExitCode {
    let Some(dir) = args.first() else {
        eprintln!("shiplap-bench lint-dir: name a folder of .sql files");
        return ExitCode::from(2);
    };
    let show_unparsed = args.iter().any(|a| a == "--show-unparsed");
    let fresh = args.iter().any(|a| a == "--fresh");
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect(),
        Err(e) => {
            eprintln!("shiplap-bench lint-dir: cannot read {dir}: {e}");
            return ExitCode::from(2);
        }
    };
    files.sort();
    let mut bytes = 0;
    let subjects: Vec<shiplap::lint::Subject> = files
        .iter()
        .zip(1..)
        .map(|(file, version)| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            bytes += text.len();
            shiplap::lint::Subject {
                version,
                name: file
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                source: file.display().to_string(),
                kind: shiplap::Kind::Schema,
                transaction: true,
                allow: Vec::new(),
                statements: vec![(1, text)],
                pending: fresh,
            }
        })
        .collect();
    let statements = shiplap::lint::statement_count(&subjects, Backend::Postgres);
    let mut times = Vec::new();
    let mut findings = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        findings = shiplap::lint::lint_subjects(&subjects, Backend::Postgres, Default::default());
        times.push(started.elapsed());
    }
    let unparsed: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "unparsed_statement")
        .collect();
    println!(
        "lint-dir: {} migrations, {:.0} KB, {statements} statements, {} unparsed ({:.2}%), {} findings, {:.1} ms (median of 5)",
        subjects.len(),
        bytes as f64 / 1000.0,
        unparsed.len(),
        100.0 * unparsed.len() as f64 / statements.max(1) as f64,
        findings.len(),
        median(times).as_secs_f64() * 1000.0
    );
    let mut per_rule = std::collections::BTreeMap::<&str, usize>::new();
    for f in &findings {
        *per_rule.entry(f.rule).or_default() += 1;
    }
    for (rule, count) in per_rule {
        println!("  {rule:<32} {count:>5}");
    }
    if show_unparsed {
        for f in unparsed {
            let first = f
                .statement
                .as_deref()
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default();
            println!(
                "unparsed: {} line {:?}: {first}\n  {}",
                f.name, f.line, f.message
            );
        }
    }
    ExitCode::SUCCESS
}

/// `shiplap-bench backfill [--rows N] [--postgres-url URL]`.
fn backfill_main(args: &[String]) -> ExitCode {
    let mut rows = 1_000_000;
    let mut server = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--rows", Some(n)) if n.parse::<i64>().is_ok_and(|n| n > 0) => {
                rows = n.parse().unwrap_or(rows);
            }
            ("--postgres-url", Some(url)) => server = url.clone(),
            _ => {
                eprintln!(
                    "usage: cargo xtask bench fleet [--databases 100] [--concurrency 1,4,16] [--postgres-url URL]
                        [--galera-url URL] [--mysql-url URL]
  `migrate up --targets` of migrations-example on that many PostgreSQL databases at each
  concurrency (wall time, speed-up over 1); with --galera-url (a node; default
  $TEST_GALERA_URLS' first) and --mysql-url (default $TEST_MYSQL_URL), the same `up` on a
  Galera cluster against one MariaDB server (median of 5, ratio).

cargo xtask bench backfill [--rows 1000000] [--postgres-url URL]\n\
                     (it creates and drops the database shiplap_bench on that server)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let result = with_database(&server, "shiplap_bench").and_then(|url| {
        let target = Target::Postgres {
            psql: psql(),
            admin_url: server.clone(),
            url: url.clone(),
        };
        target.reset()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let report = runtime.block_on(backfill::run(&url, rows));
        target.reset()?;
        report
    });
    match result {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("shiplap-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The first `$SHIPLAP_BENCH_MIGRATIONS` generated migrations (all without it).
fn registry() -> shiplap::Result<Registry> {
    let all = generated::migrations()?;
    let count = std::env::var(COUNT_VAR)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(all.len());
    Registry::new(
        all.iter()
            .filter(|m| m.version() < backfill::VERSION)
            .take(count),
    )
}

struct Settings {
    counts: Vec<usize>,
    backends: Vec<Backend>,
    rounds: usize,
    postgres_url: String,
    dir: PathBuf,
    psql: PathBuf,
}

impl Settings {
    fn parse(args: &[String]) -> Result<Settings, String> {
        let mut settings = Settings {
            counts: vec![100, 1000],
            backends: vec![Backend::Sqlite, Backend::Postgres],
            rounds: 3,
            postgres_url: std::env::var("TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            dir: PathBuf::from("target/shiplap-bench"),
            psql: psql(),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(HELP.into());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n\n{HELP}"))?;
            match flag.as_str() {
                "--n" => {
                    settings.counts = list(value, |n| {
                        n.parse()
                            .ok()
                            .filter(|n| (1..=1000).contains(n))
                            .ok_or_else(|| format!("--n: `{n}` is not a number from 1 to 1000"))
                    })?;
                }
                "--backend" => {
                    settings.backends = list(value, |b| match b {
                        "sqlite" => Ok(Backend::Sqlite),
                        "postgres" => Ok(Backend::Postgres),
                        _ => Err(format!("--backend: `{b}` is not sqlite or postgres")),
                    })?;
                }
                "--rounds" => {
                    settings.rounds =
                        value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            format!("--rounds: `{value}` is not a positive number")
                        })?;
                }
                "--postgres-url" => settings.postgres_url = value.clone(),
                "--dir" => settings.dir = PathBuf::from(value),
                _ => return Err(format!("unknown argument `{flag}`\n\n{HELP}")),
            }
        }
        Ok(settings)
    }
}

/// The server's own psql (`pg_config --bindir`): the `psql` on the PATH may be a wrapper
/// script (Debian's pg_wrapper is Perl) whose start-up would flatter shiplap.
fn psql() -> PathBuf {
    Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("psql"))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("psql"))
}

fn list<T>(value: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    value.split(',').map(|v| parse(v.trim())).collect()
}

/// One database the benchmark owns: how to empty it, and how the raw client reaches it.
enum Target {
    Sqlite {
        file: PathBuf,
    },
    Postgres {
        psql: PathBuf,
        admin_url: String,
        url: String,
    },
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::Sqlite { file } => format!("sqlite://{}", file.display()),
            Target::Postgres { url, .. } => url.clone(),
        }
    }

    fn reset(&self) -> Result<(), String> {
        match self {
            Target::Sqlite { file } => {
                for suffix in ["", "-wal", "-shm", "-journal", "-shiplap-lock"] {
                    let mut path = file.clone().into_os_string();
                    path.push(suffix);
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(format!(
                                "cannot remove {}: {e}",
                                Path::new(&path).display()
                            ));
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            Target::Postgres {
                psql, admin_url, ..
            } => timed(
                Command::new(psql)
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", admin_url])
                    .args(["-c", "DROP DATABASE IF EXISTS shiplap_bench WITH (FORCE)"])
                    .args(["-c", "CREATE DATABASE shiplap_bench"]),
            )
            .map(drop),
        }
    }

    /// The raw client running a script file.
    fn run_script(&self, script: &Path) -> Result<Duration, String> {
        match self {
            Target::Sqlite { file } => {
                let stdin = std::fs::File::open(script)
                    .map_err(|e| format!("cannot open {}: {e}", script.display()))?;
                timed(Command::new("sqlite3").arg(file).stdin(stdin))
            }
            Target::Postgres { psql, url, .. } => timed(
                Command::new(psql)
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
                    .arg(script)
                    .arg(url),
            ),
        }
    }

    /// The raw client running one query.
    fn run_query(&self, sql: &str) -> Result<Duration, String> {
        match self {
            Target::Sqlite { file } => timed(Command::new("sqlite3").arg(file).arg(sql)),
            Target::Postgres { psql, url, .. } => {
                timed(Command::new(psql).args(["-X", "-q", "-c", sql, url]))
            }
        }
    }
}

/// Runs `command` to completion with its output discarded; how long it took.
fn timed(command: &mut Command) -> Result<Duration, String> {
    let started = Instant::now();
    let output = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "{:?} failed ({}): {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(elapsed)
}

/// The SQL `migrate up` would run on the empty database at `url`, history writes
/// included (its `--dry-run`), as a script for the raw client.
fn bookkept_script(count: usize, url: &str) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let output = Command::new(exe)
        .env(COUNT_VAR, count.to_string())
        .args(["migrate", "-q", "up", "--dry-run", "--database-url", url])
        .output()
        .map_err(|e| format!("cannot run migrate up --dry-run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "migrate up --dry-run failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("migrate up --dry-run: {e}"))
}

/// This binary's `migrate` command on the first `count` migrations.
fn shiplap(count: usize, url: &str, args: &[&str]) -> Result<Duration, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    timed(
        Command::new(exe)
            .env(COUNT_VAR, count.to_string())
            .args(["migrate", "-q"])
            .args(args)
            // Connection options follow the command.
            .args(["--database-url", url]),
    )
}

/// The migrations' SQL for the raw client: one transaction per migration, as shiplap runs
/// them, but without the history table.
fn floor_script(count: usize, backend: Backend) -> Result<String, String> {
    let registry = registry().map_err(|e| e.to_string())?;
    let mut script = String::new();
    for migration in registry.iter().take(count) {
        let rendered = render(migration, backend, Direction::Up).map_err(|e| e.to_string())?;
        script.push_str("BEGIN;\n");
        for statement in &rendered.statements {
            let _ = writeln!(script, "{};", statement.sql.trim_end_matches(';'));
        }
        script.push_str("COMMIT;\n");
    }
    Ok(script)
}

/// A database URL with its database name replaced.
fn with_database(url: &str, database: &str) -> Result<String, String> {
    let scheme_end = url.find("://").ok_or("--postgres-url: not a URL")? + 3;
    let (rest, query) = url[scheme_end..]
        .split_once('?')
        .map_or((&url[scheme_end..], None), |(r, q)| (r, Some(q)));
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{}{authority}/{database}", &url[..scheme_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// One line of the report.
struct Figure {
    measure: &'static str,
    /// The raw client running the migrations' SQL (or the SELECT).
    floor: Duration,
    /// The raw client running exactly what shiplap runs, history writes included.
    bookkept: Option<Duration>,
    shiplap: Duration,
}

/// Figures for one backend and N.
fn measure(settings: &Settings, backend: Backend, count: usize) -> Result<Vec<Figure>, String> {
    let target = match backend {
        Backend::Sqlite => Target::Sqlite {
            file: settings.dir.join("bench.db"),
        },
        _ => Target::Postgres {
            psql: settings.psql.clone(),
            admin_url: settings.postgres_url.clone(),
            url: with_database(&settings.postgres_url, "shiplap_bench")?,
        },
    };
    let script = settings
        .dir
        .join(format!("floor-{}-{count}.sql", backend.name()));
    std::fs::write(&script, floor_script(count, backend)?)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let url = target.url();
    let select = format!("SELECT * FROM {}", shiplap::DEFAULT_TABLE);
    target.reset()?;
    let bookkept = settings
        .dir
        .join(format!("bookkept-{}-{count}.sql", backend.name()));
    std::fs::write(&bookkept, bookkept_script(count, &url)?)
        .map_err(|e| format!("cannot write {}: {e}", bookkept.display()))?;

    let mut samples: [(Vec<Duration>, Vec<Duration>); 3] = Default::default();
    let mut bookkept_samples = Vec::new();
    for _ in 0..settings.rounds {
        target.reset()?;
        samples[0].0.push(target.run_script(&script)?);
        target.reset()?;
        bookkept_samples.push(target.run_script(&bookkept)?);
        target.reset()?;
        samples[0].1.push(shiplap(count, &url, &["up"])?);
        // All applied: a second `up` has nothing to do.
        shiplap(count, &url, &["status", "--check"])?;
        samples[1].0.push(target.run_query(&select)?);
        samples[1].1.push(shiplap(count, &url, &["up"])?);
        samples[2].0.push(target.run_query(&select)?);
        samples[2].1.push(shiplap(count, &url, &["status"])?);
    }
    target.reset()?;
    let mut bookkept = Some(median(bookkept_samples));
    let names = ["apply", "no-op up", "status"];
    Ok(names
        .into_iter()
        .zip(samples)
        .map(|(measure, (floor, ours))| Figure {
            measure,
            floor: median(floor),
            bookkept: bookkept.take(),
            shiplap: median(ours),
        })
        .collect())
}

fn run(settings: &Settings) -> Result<String, String> {
    std::fs::create_dir_all(&settings.dir)
        .map_err(|e| format!("cannot create {}: {e}", settings.dir.display()))?;
    let mut report = format!(
        "median of {} runs; floor: the raw client ({} / sqlite3), one transaction per \
         migration; bookkept: the raw client running what shiplap runs, history writes \
         included (`up --dry-run`)\n\n\
         {:<9} {:>5}  {:<9} {:>10} {:>10} {:>10} {:>7} {:>9}\n",
        settings.rounds,
        settings.psql.display(),
        "backend",
        "N",
        "measure",
        "floor",
        "bookkept",
        "shiplap",
        "ratio",
        "/bookkept"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for &backend in &settings.backends {
        for &count in &settings.counts {
            for f in measure(settings, backend, count)? {
                let (bookkept, to_bookkept) = match f.bookkept {
                    Some(b) => (
                        format!("{:.1}ms", ms(b)),
                        format!("{:.2}x", f.shiplap.as_secs_f64() / b.as_secs_f64()),
                    ),
                    None => ("-".to_owned(), "-".to_owned()),
                };
                let _ = writeln!(
                    report,
                    "{:<9} {:>5}  {:<9} {:>8.1}ms {:>10} {:>8.1}ms {:>6.2}x {:>9}",
                    backend.name(),
                    count,
                    f.measure,
                    ms(f.floor),
                    bookkept,
                    ms(f.shiplap),
                    f.shiplap.as_secs_f64() / f.floor.as_secs_f64(),
                    to_bookkept
                );
                eprint!("{}", report.lines().last().unwrap_or_default());
                eprintln!();
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/test?sslmode=disable", "b").unwrap(),
            "postgres://u:p@h:5432/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h", "b").unwrap(),
            "postgres://u@h/b"
        );
    }
}
