//! Progress of data migrations: `tracing` events (the library's default), or for the
//! command line a bar on a terminal, plain lines when stderr is not one, JSON lines for
//! programs, or nothing. The command line's go to stderr, so `--format json` keeps one
//! JSON document on stdout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg(feature = "cli")]
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::migration::Migration;

/// How a data migration's progress and messages are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProgressOutput {
    /// `tracing` events (target `shiplap`): messages and finishes at `INFO`, progress at
    /// `DEBUG` at most every few seconds. The default of a library: the application's
    /// subscriber decides what is shown.
    #[default]
    Tracing,
    /// A progress bar with rows done, rows per second and the time left (a terminal; with
    /// the `cli` feature, otherwise lines).
    Bar,
    /// A line on stderr at most every few seconds (logs, CI).
    Lines,
    /// One JSON object per line (`--format json`).
    Json,
    /// Nothing (`-q`).
    Silent,
}

/// How often [`ProgressOutput::Lines`] prints a line.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Reports one data migration's progress.
#[derive(Debug)]
pub(crate) struct Reporter {
    output: ProgressOutput,
    version: i64,
    name: &'static str,
    state: Mutex<State>,
}

#[cfg(not(feature = "cli"))]
#[derive(Debug)]
struct ProgressBar;

#[cfg(not(feature = "cli"))]
impl ProgressBar {
    fn println(&self, line: String) {
        eprintln!("{line}");
    }
    fn set_position(&self, _: u64) {}
    fn finish_and_clear(&self) {}
}

#[derive(Debug)]
struct State {
    bar: Option<ProgressBar>,
    /// When the current count started (a new total starts a new count).
    started: Instant,
    /// Rows already done when it started (a resumed backfill), left out of the rate.
    base: u64,
    last_line: Option<Instant>,
}

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event<'a> {
    Message {
        version: i64,
        name: &'a str,
        message: &'a str,
    },
    Progress {
        version: i64,
        name: &'a str,
        rows: u64,
        total: Option<u64>,
        rows_per_second: u64,
        eta_seconds: Option<u64>,
    },
    Finished {
        version: i64,
        name: &'a str,
        rows: u64,
        duration_ms: u128,
    },
}

impl Reporter {
    pub(crate) fn new(output: ProgressOutput, migration: &Migration) -> Self {
        let output = match output {
            ProgressOutput::Bar if !cfg!(feature = "cli") => ProgressOutput::Lines,
            output => output,
        };
        Reporter {
            output,
            version: migration.version(),
            name: migration.name(),
            state: Mutex::new(State {
                bar: None,
                started: Instant::now(),
                base: 0,
                last_line: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn json(event: &Event<'_>) {
        if let Ok(line) = serde_json::to_string(event) {
            eprintln!("{line}");
        }
    }

    /// A message from the migration.
    pub(crate) fn message(&self, message: &str) {
        match self.output {
            ProgressOutput::Silent => {}
            ProgressOutput::Tracing => {
                tracing::info!(version = self.version, name = self.name, "{message}");
            }
            ProgressOutput::Json => Self::json(&Event::Message {
                version: self.version,
                name: self.name,
                message,
            }),
            ProgressOutput::Bar | ProgressOutput::Lines => {
                let line = format!("{} {}: {message}", self.version, self.name);
                match &self.state().bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
    }

    /// Starts counting towards `total` rows (when known), `done` of them done already.
    #[cfg_attr(not(feature = "cli"), allow(unused_variables))] // `total` sizes the bar
    pub(crate) fn start(&self, total: Option<u64>, done: u64) {
        let mut state = self.state();
        state.started = Instant::now();
        state.base = done;
        state.last_line = None;
        if let Some(bar) = state.bar.take() {
            bar.finish_and_clear();
        }
        #[cfg(feature = "cli")]
        if self.output == ProgressOutput::Bar {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{prefix} [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, ETA {eta}"
            } else {
                "{prefix} {spinner} {human_pos} rows, {per_sec}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(format!("{} {}", self.version, self.name));
            bar.set_position(done);
            bar.reset_eta();
            state.bar = Some(bar);
        }
    }

    /// `rows` of the current count are done.
    pub(crate) fn progress(&self, rows: u64, total: Option<u64>) {
        let mut state = self.state();
        let elapsed = state.started.elapsed();
        let per_second = rate(rows.saturating_sub(state.base), elapsed);
        let eta = total
            .and_then(|total| (per_second > 0).then(|| total.saturating_sub(rows) / per_second));
        match self.output {
            ProgressOutput::Silent => {}
            ProgressOutput::Bar => {
                if let Some(bar) = &state.bar {
                    bar.set_position(rows);
                }
            }
            ProgressOutput::Lines | ProgressOutput::Json | ProgressOutput::Tracing => {
                let finished = total.is_some_and(|t| rows >= t);
                if !finished && state.last_line.is_some_and(|at| at.elapsed() < LINE_EVERY) {
                    return;
                }
                state.last_line = Some(Instant::now());
                if self.output == ProgressOutput::Tracing {
                    tracing::debug!(
                        version = self.version,
                        name = self.name,
                        rows,
                        total,
                        rows_per_second = per_second,
                        eta_seconds = eta,
                        "progress"
                    );
                } else if self.output == ProgressOutput::Json {
                    Self::json(&Event::Progress {
                        version: self.version,
                        name: self.name,
                        rows,
                        total,
                        rows_per_second: per_second,
                        eta_seconds: eta,
                    });
                } else {
                    let of = total.map_or(String::new(), |t| format!(" of {t}"));
                    let percent = total.map_or(String::new(), |t| {
                        format!(" ({}%)", rows.saturating_mul(100) / t.max(1))
                    });
                    let eta = eta.map_or(String::new(), |s| format!(", {s}s left"));
                    eprintln!(
                        "{} {}: {rows}{of} rows{percent}, {per_second} rows/s{eta}",
                        self.version, self.name
                    );
                }
            }
        }
    }

    /// The migration's function returned: `rows` affected in all, in `duration`.
    pub(crate) fn finish(&self, rows: u64, duration: Duration) {
        if let Some(bar) = self.state().bar.take() {
            bar.finish_and_clear();
        }
        match self.output {
            ProgressOutput::Silent => {}
            ProgressOutput::Tracing => tracing::info!(
                version = self.version,
                name = self.name,
                rows,
                duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                "finished"
            ),
            ProgressOutput::Json => Self::json(&Event::Finished {
                version: self.version,
                name: self.name,
                rows,
                duration_ms: duration.as_millis(),
            }),
            ProgressOutput::Bar | ProgressOutput::Lines => eprintln!(
                "{} {}: {rows} rows in {:.1}s",
                self.version,
                self.name,
                duration.as_secs_f64()
            ),
        }
    }
}

fn rate(rows: u64, elapsed: Duration) -> u64 {
    let millis = u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    rows.saturating_mul(1000) / millis
}
