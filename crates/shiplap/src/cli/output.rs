//! What the commands print: tables and lines for people, one JSON document otherwise.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::Outcome;
use super::json::{DiffDoc, DryRunDoc, HistoryDoc, RunDoc, StatusDoc, VerifyDoc, text};
use crate::backend::Backend;
use crate::history::HistoryRow;
use crate::inspect::changes_text;
use crate::migration::Role;
use crate::migrator::{Done, Migrator, Report};
use crate::migrator::{Drift, Verified, VerifyOutcome};
use crate::render::Direction;
use crate::status::{MigrationStatus, RepeatableStatus};

pub(super) fn dry_run_output(m: &Migrator<'_>, script: &str, json: bool) -> String {
    if json {
        text(&DryRunDoc {
            database: m.url().to_string(),
            dry_run: true,
            sql: script,
        })
    } else {
        format!("-- dry run on {}: nothing was changed\n{script}", m.url())
    }
}

/// What a run did; when it failed part-way, what it did before (the error goes to stderr
/// after it, and into the JSON document as `error`).
pub(super) fn report_output(
    m: &Migrator<'_>,
    command: &str,
    report: Report,
    json: bool,
) -> Outcome {
    let Some(error) = report.error else {
        return done_output(m, command, &report.done, json).into();
    };
    let output = if json {
        text(&RunDoc {
            database: m.url().to_string(),
            command,
            migrations: &report.done,
            error: Some(error.to_string()),
        })
    } else if report.done.is_empty() {
        String::new()
    } else {
        let mut out = done_output(m, command, &report.done, false);
        let _ = writeln!(
            out,
            "{} migration(s) {} before the failure below; they stay so",
            report.done.len(),
            if command == "down" {
                "reverted"
            } else {
                "done"
            }
        );
        out
    };
    Outcome {
        output,
        check_failed: false,
        error: Some(error),
    }
}

pub(super) fn done_output(m: &Migrator<'_>, command: &str, done: &[Done], json: bool) -> String {
    if json {
        return text(&RunDoc {
            database: m.url().to_string(),
            command,
            migrations: done,
            error: None,
        });
    }
    let mut out = String::new();
    for d in done {
        let verb = if d.direction == Direction::Up {
            "applied "
        } else {
            "reverted"
        };
        let what = match d.rows {
            Some(rows) => format!("data: {rows} row(s)"),
            None => format!("{} statement(s)", d.statements),
        };
        let which = match d.role {
            Role::Versioned => d.version.to_string(),
            Role::Seed => "seed".to_owned(),
            _ => "repeatable".to_owned(),
        };
        let _ = writeln!(
            out,
            "{verb} {which} {} ({what}, {} ms)",
            d.name, d.duration_ms
        );
    }
    if done.is_empty() {
        let _ = writeln!(out, "nothing to do: {} is up to date", m.url());
    }
    out
}

pub(super) fn status_output(
    m: &Migrator<'_>,
    statuses: &[MigrationStatus],
    repeatables: &[RepeatableStatus],
    json: bool,
) -> String {
    if json {
        return text(&StatusDoc {
            database: m.url().to_string(),
            migrations: statuses,
            repeatables,
        });
    }
    let mut table = Table::new(["VERSION", "NAME", "STATE", "APPLIED AT", "MS"]);
    for s in statuses {
        let state = if s.modified.is_empty() {
            Cow::Borrowed(s.state.name())
        } else {
            Cow::Owned(format!("{} ({})", s.state.name(), s.modified.join("+")))
        };
        let ms = s
            .duration_ms
            .map_or_else(|| "-".to_owned(), |d| d.to_string());
        table.push([
            s.version.to_string(),
            s.name.clone(),
            state.into_owned(),
            s.applied_at.clone().unwrap_or_else(|| "-".to_owned()),
            ms,
        ]);
    }
    for r in repeatables {
        let state = match r.state.reason() {
            Some(why) => format!("pending ({why})"),
            None => r.state.name().to_owned(),
        };
        table.push([
            "repeatable".to_owned(),
            r.name.clone(),
            state,
            r.applied_at.clone().unwrap_or_else(|| "-".to_owned()),
            "-".to_owned(),
        ]);
    }
    table.render()
}

pub(super) fn backups_output(
    m: &Migrator<'_>,
    backups: &[crate::migrator::Backup],
    emptied: bool,
    json: bool,
) -> String {
    if json {
        return text(&serde_json::json!({
            "database": m.url().to_string(),
            "emptied": emptied,
            "backups": backups,
        }));
    }
    if backups.is_empty() {
        return format!("no backups in {}\n", m.url());
    }
    let mut table = Table::new(["BACKUP", "MIGRATION", "STATE", "ROWS", ""]);
    for b in backups {
        table.push([
            b.table.clone(),
            b.version.map_or_else(|| "-".to_owned(), |v| v.to_string()),
            match (b.applied, b.restored_by_down) {
                (true, Some(true)) => "applied: its down restores from it",
                (true, Some(false)) => "applied: a copy to restore from by hand",
                (true, None) => "applied (by a migration this build lacks)",
                (false, _) => "not applied: left over",
            }
            .to_owned(),
            b.rows.to_string(),
            String::new(),
        ]);
    }
    let mut out = table.render();
    if emptied {
        let _ = writeln!(
            out,
            "emptied {} backup(s): their migrations' downs now add the columns or tables back without their rows (copies that no down reads are dropped)",
            backups.len()
        );
    }
    out
}

pub(super) fn history_output(m: &Migrator<'_>, rows: &[HistoryRow], json: bool) -> String {
    if json {
        return text(&HistoryDoc {
            database: m.url().to_string(),
            history: rows,
        });
    }
    let mut table = Table::new(["VERSION", "NAME", "STATE", "APPLIED AT", "MS"]);
    for r in rows {
        table.push([
            r.version.to_string(),
            r.name.clone(),
            r.state.as_str().to_owned(),
            r.applied_at.clone(),
            r.duration_ms.to_string(),
        ]);
    }
    // Each row's environment, and its table sizes before and after, on lines of their
    // own below it.
    let mut out = String::new();
    for (i, line) in table.render().lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        let Some(row) = i.checked_sub(1).and_then(|i| rows.get(i)) else {
            continue;
        };
        if let Some(environment) = &row.environment {
            let _ = writeln!(out, "  environment: {environment}");
        }
        for change in &row.sizes {
            let size = |s: &Option<crate::TableSize>, none: &str| {
                s.as_ref()
                    .map_or_else(|| none.to_owned(), ToString::to_string)
            };
            let _ = writeln!(
                out,
                "  {}: {} -> {}",
                change.table,
                size(&change.before, "(new)"),
                size(&change.after, "(gone)")
            );
        }
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no history in {})", m.url());
    }
    out
}

/// A table of five columns, each as wide as its widest cell: left-aligned, the last
/// (a number) right-aligned.
struct Table {
    header: [&'static str; 5],
    rows: Vec<[String; 5]>,
}

impl Table {
    fn new(header: [&'static str; 5]) -> Self {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, row: [String; 5]) {
        self.rows.push(row);
    }

    fn render(&self) -> String {
        let mut widths = self.header.map(|h| h.chars().count());
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out =
            String::with_capacity((widths.iter().sum::<usize>() + 6) * (self.rows.len() + 1));
        line(&mut out, widths, self.header);
        for row in &self.rows {
            line(
                &mut out,
                widths,
                [&row[0], &row[1], &row[2], &row[3], &row[4]].map(String::as_str),
            );
        }
        out
    }
}

/// One line of a table: `{:<w}` for each cell, `{:>w}` for the last, padded by hand (a
/// thousand migrations make a thousand lines).
fn line(out: &mut String, widths: [usize; 5], cells: [&str; 5]) {
    for (i, (cell, width)) in cells.into_iter().zip(widths).enumerate() {
        let padding = std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count()));
        if i > 0 {
            out.push(' ');
        }
        if i == widths.len() - 1 {
            out.extend(padding);
            out.push_str(cell);
        } else {
            out.push_str(cell);
            // No trailing blanks after the last left-aligned cell of a line.
            out.extend(padding);
        }
    }
    out.push('\n');
}

/// `verify`: a line per migration, the diff under each mismatch, a summary; exit 3 when
/// a down does not restore the schema, applying again differs, or a run fails.
pub(super) fn verify_output(m: &Migrator<'_>, verified: &[Verified], json: bool) -> Outcome {
    let check_failed = verified.iter().any(|v| v.outcome.is_problem());
    let scratch_on = match m.url().backend() {
        Backend::Sqlite => "a temporary SQLite file".to_owned(),
        _ => format!("a scratch database on the server of {}", m.url()),
    };
    if json {
        return Outcome {
            output: text(&VerifyDoc {
                scratch_on,
                migrations: verified,
            }),
            check_failed,
            error: None,
        };
    }
    let mut out =
        format!("verify: each migration applied, reverted and applied again on {scratch_on}\n");
    let (mut ok, mut irreversible, mut problems) = (0, 0, 0);
    for v in verified {
        let head = format!("{} {}", v.version, v.name);
        match &v.outcome {
            VerifyOutcome::Ok => {
                ok += 1;
                let _ = writeln!(out, "ok            {head} ({} ms)", v.duration_ms);
            }
            VerifyOutcome::Irreversible { reason } => {
                irreversible += 1;
                let _ = writeln!(
                    out,
                    "irreversible  {head}: applied, not reverted ({reason})"
                );
            }
            VerifyOutcome::Inexact { reason, changes } => {
                irreversible += 1;
                let _ = writeln!(
                    out,
                    "inexact       {head}: its down differs from the schema before it, as its code says ({reason}):\n{}",
                    changes_text(changes, "    ")
                );
            }
            VerifyOutcome::DownMismatch { changes } => {
                problems += 1;
                let _ = writeln!(
                    out,
                    "MISMATCH      {head} ({}): its down did not restore the schema before it \
                     (- lost, + left behind, ~ changed):\n{}",
                    v.source,
                    changes_text(changes, "    ")
                );
            }
            VerifyOutcome::ReapplyMismatch { changes } => {
                problems += 1;
                let _ = writeln!(
                    out,
                    "MISMATCH      {head} ({}): applied again after its down, it built another \
                     schema (- first time, + second):\n{}",
                    v.source,
                    changes_text(changes, "    ")
                );
            }
            VerifyOutcome::Failed { step, error } => {
                problems += 1;
                let _ = writeln!(
                    out,
                    "FAILED        {head} ({}) at {step}; the verification stops here:\n    {}",
                    v.source,
                    error.replace('\n', "\n    ")
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "{} migration(s): {ok} reversed cleanly, {irreversible} irreversible or inexact as their code says, {problems} with a problem",
        verified.len()
    );
    Outcome {
        output: out,
        check_failed,
        error: None,
    }
}

/// `diff`: each object that differs from what the applied migrations build; exit 3 on
/// drift.
pub(super) fn diff_output(m: &Migrator<'_>, drift: &Drift, json: bool) -> Outcome {
    let check_failed = !drift.changes.is_empty();
    let output = if json {
        text(&DiffDoc {
            database: m.url().to_string(),
            drift,
        })
    } else {
        let mut out = String::new();
        if !drift.missing.is_empty() {
            let _ = writeln!(
                out,
                "note: applied but missing from the code, so not rebuilt: {:?}",
                drift.missing
            );
        }
        if check_failed {
            let _ = write!(
                out,
                "drift: {} differs from what its {} applied migration(s) build \
                 (+ added by hand, - removed, ~ changed):\n{}",
                m.url(),
                drift.applied.len(),
                changes_text(&drift.changes, "  ")
            );
        } else {
            let _ = writeln!(
                out,
                "ok: {} has exactly the schema its {} applied migration(s) build",
                m.url(),
                drift.applied.len()
            );
        }
        out
    };
    Outcome {
        output,
        check_failed,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(["VERSION", "NAME", "STATE", "APPLIED AT", "MS"]);
        let long = "long_name_".repeat(6);
        table.push(
            [
                "20250101090000",
                "é_ünïcode",
                "modified (source+sql)",
                "-",
                "7",
            ]
            .map(String::from),
        );
        table.push(
            [
                "1",
                long.as_str(),
                "applied",
                "2025-01-01T00:00:00.000Z",
                "123456789",
            ]
            .map(String::from),
        );
        let out = table.render();
        let lines: Vec<&str> = out.lines().collect();
        let name_at = lines[0].find("NAME").unwrap();
        let state_at = lines[0].find("STATE").unwrap();
        // Every line's third column starts where the header's does, past the long name.
        assert!(state_at > name_at + long.len(), "{out}");
        assert_eq!(lines[2].find("applied").unwrap(), state_at, "{out}");
        assert_eq!(
            lines[1].chars().position(|c| c == 'm'),
            Some(state_at),
            "{out}"
        );
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() == lines[0].chars().count()),
            "{out}"
        );
    }
}
