//! `migrate lint`: every migration's SQL checked for what locks, rewrites or breaks a live
//! database.

use std::fmt::Write as _;

use super::Outcome;
use super::args::LintArgs;
use super::config::Config;
use super::json::{LintDoc, text};
use std::collections::HashSet;

use crate::backend::Backend;
use crate::database_url::{DatabaseUrl, UrlSource};
use crate::error::Result;
use crate::lint;
use crate::migrator::Migrator;
use crate::registry::Registry;

/// Lints `registry`; returns what to print, failing the check on an unacknowledged error.
/// With `--database-url`, on that database's backend only: the migrations it has not
/// applied are the pending ones, and each finding gets its table's live size.
pub(super) async fn lint(args: &LintArgs, registry: &Registry, json: bool) -> Result<Outcome> {
    let config = Config::here()?;
    let since = args.since.or(config.lint.since);
    let options = lint::LintOptions {
        since,
        statement_lock_timeout: args.statement_lock_timeout.is_some(),
    };
    let (backends, findings, database) = match &args.database_url {
        None => {
            let backends = if args.backend.is_empty() {
                Backend::ALL.to_vec()
            } else {
                args.backend.clone()
            };
            let findings = lint::lint(registry, &backends, options)?;
            (backends, findings, None)
        }
        Some(url) => {
            let url = DatabaseUrl::parse(url, UrlSource::Flag)?;
            let backend = url.backend();
            let m = Migrator::new(registry.clone(), url).table(args.table.clone());
            let applied: HashSet<i64> = m.history().await?.iter().map(|r| r.version).collect();
            let started = std::time::Instant::now();
            let sizes = m.table_sizes().await?;
            tracing::info!(
                "read {} table sizes in {} ms",
                sizes.len(),
                started.elapsed().as_millis()
            );
            let mut subjects = lint::subjects(registry, backend)?;
            for subject in &mut subjects {
                subject.pending = !applied.contains(&subject.version);
            }
            let mut findings = lint::lint_subjects(&subjects, backend, options);
            let limits =
                lint::SizeLimits::new(config.lint.small_table_rows, config.lint.small_table_bytes);
            lint::add_sizes(&mut findings, &sizes, limits);
            (vec![backend], findings, Some(m.url().to_string()))
        }
    };
    let errors = findings.iter().filter(|f| f.blocks()).count();
    let acknowledged = findings.iter().filter(|f| f.allowed.is_some()).count();
    let warnings = findings.len() - errors - acknowledged;
    let output = if json {
        text(&LintDoc {
            database,
            backends: &backends,
            since,
            errors,
            warnings,
            acknowledged,
            findings: &findings,
        })
    } else {
        let mut out = String::new();
        for f in findings.iter().filter(|f| args.all || f.allowed.is_none()) {
            let label = match (f.allowed.is_some(), f.severity) {
                (true, _) => "allowed",
                (false, lint::Severity::Error) => "error",
                (false, lint::Severity::Warning) => "warning",
            };
            let _ = writeln!(
                out,
                "{label}[{}] {} {} ({}) on {}",
                f.rule, f.version, f.name, f.source, f.backend
            );
            if let Some(statement) = &f.statement {
                let at = match (f.step, f.line) {
                    (Some(step), Some(line)) => format!("step {step}, line {line}: "),
                    _ => String::new(),
                };
                let _ = writeln!(out, "  {at}{}", excerpt(statement));
            }
            let _ = writeln!(out, "  {}", f.message);
            match &f.allowed {
                Some(reason) => {
                    let _ = writeln!(out, "  acknowledged: {reason}");
                }
                None => {
                    let _ = writeln!(out, "  why: {}\n  fix: {}", f.why, f.fix);
                }
            }
            out.push('\n');
        }
        // A summary per rule: how many findings each, and of them how many acknowledged.
        let mut per_rule: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
        for f in &findings {
            let (count, allowed) = per_rule.entry(f.rule).or_default();
            *count += 1;
            *allowed += usize::from(f.allowed.is_some());
        }
        if !per_rule.is_empty() {
            out.push_str("by rule:\n");
            for (rule, (count, allowed)) in &per_rule {
                let _ = writeln!(out, "  {rule:<32} {count:>5}  ({allowed} acknowledged)");
            }
        }
        let names: Vec<&str> = backends.iter().map(|b| b.name()).collect();
        let _ = writeln!(
            out,
            "{errors} error(s), {warnings} warning(s), {acknowledged} acknowledged; {} migration(s) on {}{}",
            registry.len(),
            names.join(", "),
            since.map_or(String::new(), |v| format!(", reporting from {v}"))
        );
        out
    };
    Ok(Outcome {
        output,
        check_failed: errors > 0,
        error: None,
    })
}

/// A statement as a finding shows it: at most five lines, each at most 160 characters,
/// the rest elided, indented under the finding.
fn excerpt(statement: &str) -> String {
    const LINES: usize = 5;
    const WIDTH: usize = 160;
    let lines: Vec<&str> = statement.lines().collect();
    let mut shown: Vec<String> = lines
        .iter()
        .take(LINES)
        .map(|line| match line.char_indices().nth(WIDTH) {
            Some((at, _)) => format!("{}…", &line[..at]),
            None => (*line).to_owned(),
        })
        .collect();
    if lines.len() > LINES {
        shown.push(format!("… ({} more lines)", lines.len() - LINES));
    }
    shown.join("\n    ")
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn long_statements_are_cut_to_a_few_lines() {
        let long = (1..=9)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            excerpt(&long),
            "line 1\n    line 2\n    line 3\n    line 4\n    line 5\n    … (4 more lines)"
        );
        let wide = "x".repeat(200);
        assert_eq!(excerpt(&wide).chars().count(), 161);
    }
}
