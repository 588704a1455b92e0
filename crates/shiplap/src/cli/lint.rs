//! `migrate lint`: every migration's SQL checked for what locks, rewrites or breaks a live
//! database.

use std::fmt::Write as _;
use std::path::Path;

use super::Outcome;
use super::args::LintArgs;
use super::config::Config;
use super::json::{LintDoc, text};
use crate::backend::Backend;
use crate::error::Result;
use crate::lint;
use crate::registry::Registry;

/// Lints `registry`; returns what to print, failing the check on an unacknowledged error.
pub(super) fn lint(args: &LintArgs, registry: &Registry, json: bool) -> Result<Outcome> {
    let backends = if args.backend.is_empty() {
        Backend::ALL.to_vec()
    } else {
        args.backend.clone()
    };
    let since = match args.since {
        Some(since) => Some(since),
        None => Config::read(Path::new("shiplap.toml"))?.lint.since,
    };
    let options = lint::LintOptions {
        since,
        statement_lock_timeout: args.statement_lock_timeout.is_some(),
    };
    let findings = lint::lint(registry, &backends, options)?;
    let errors = findings.iter().filter(|f| f.blocks()).count();
    let acknowledged = findings.iter().filter(|f| f.allowed.is_some()).count();
    let warnings = findings.len() - errors - acknowledged;
    let output = if json {
        text(&LintDoc {
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
                let _ = writeln!(out, "  {statement}");
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
