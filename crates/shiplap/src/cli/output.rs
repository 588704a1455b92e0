//! What the commands print: tables and lines for people, one JSON document otherwise.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::Outcome;
use crate::{Direction, Done, MigrationStatus, Migrator, Report};

pub(super) fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

pub(super) fn dry_run_output(m: &Migrator, script: String, json: bool) -> String {
    if json {
        json_text(
            &serde_json::json!({ "database": m.url().to_string(), "dry_run": true, "sql": script }),
        )
    } else {
        format!("-- dry run on {}: nothing was changed\n{script}", m.url())
    }
}

/// What a run did; when it failed part-way, what it did before (the error goes to stderr
/// after it, and into the JSON document as `error`).
pub(super) fn report_output(m: &Migrator, command: &str, report: Report, json: bool) -> Outcome {
    let Some(error) = report.error else {
        return done_output(m, command, &report.done, json).into();
    };
    let output = if json {
        json_text(&serde_json::json!({
            "database": m.url().to_string(),
            "command": command,
            "migrations": report.done,
            "error": error.to_string(),
        }))
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

pub(super) fn done_output(m: &Migrator, command: &str, done: &[Done], json: bool) -> String {
    if json {
        return json_text(&serde_json::json!({
            "database": m.url().to_string(),
            "command": command,
            "migrations": done,
        }));
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
        let _ = writeln!(
            out,
            "{verb} {} {} ({what}, {} ms)",
            d.version, d.name, d.duration_ms
        );
    }
    if done.is_empty() {
        let _ = writeln!(out, "nothing to do: {} is up to date", m.url());
    }
    out
}

pub(super) fn status_output(m: &Migrator, statuses: &[MigrationStatus], json: bool) -> String {
    if json {
        return json_text(
            &serde_json::json!({ "database": m.url().to_string(), "migrations": statuses }),
        );
    }
    const WIDTHS: [usize; 5] = [16, 40, 22, 25, 8];
    let mut out = String::with_capacity(120 * (statuses.len() + 1));
    row(
        &mut out,
        WIDTHS,
        ["VERSION", "NAME", "STATE", "APPLIED AT", "MS"],
    );
    for s in statuses {
        let state = if s.modified.is_empty() {
            Cow::Borrowed(s.state.name())
        } else {
            Cow::Owned(format!("{} ({})", s.state.name(), s.modified.join("+")))
        };
        let version = s.version.to_string();
        let ms = s
            .duration_ms
            .map_or_else(|| "-".to_owned(), |d| d.to_string());
        let applied_at = s.applied_at.as_deref().unwrap_or("-");
        row(
            &mut out,
            WIDTHS,
            [&version, &s.name, &state, applied_at, &ms],
        );
    }
    out
}

/// One line of a table: each cell left-aligned in its width, the last one right-aligned
/// (wider values push the rest along), as `{:<w}` and `{:>w}` would. With a thousand
/// migrations this runs a thousand times, so it pads by hand rather than through
/// `format!`'s machinery.
pub(super) fn row(out: &mut String, widths: [usize; 5], cells: [&str; 5]) {
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
            out.extend(padding);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_pad_like_format() {
        let widths = [16, 40, 22, 25, 8];
        for cells in [
            [
                "20250101090000",
                "create_users",
                "applied",
                "2025-01-01T00:00:00.000Z",
                "12",
            ],
            ["1", "é_ünïcode", "modified (source+sql)", "-", "-"],
            ["1", &"long_name_".repeat(6), "", "x", "123456789"],
        ] {
            let mut out = String::new();
            row(&mut out, widths, cells);
            let [a, b, c, d, e] = cells;
            assert_eq!(out, format!("{a:<16} {b:<40} {c:<22} {d:<25} {e:>8}\n"));
        }
    }
}
