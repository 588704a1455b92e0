//! The safety lint: checks the SQL every migration renders, for each backend, for
//! statements that lock, rewrite or break a live database.
//!
//! Each statement is parsed (sqlparser, with the backend's dialect) rather than matched
//! as text. The lint walks every migration in version order and keeps what it learns of
//! the schema (tables, column types, validated NOT NULL checks), so it knows whether an
//! index is built on a table that existed before the migration, or whether a type change
//! narrows a column. Migrations before `--since` are walked for that knowledge but not
//! reported.

mod analyze;
mod rules;
mod sizes;

use serde::Serialize;

pub use rules::{RULES, Rule, Severity, rule};
pub use sizes::{SizeLimits, TableSize, TableSizes};

use crate::backend::Backend;
use crate::error::Result;
use crate::migration::{Allow, Kind, Migration};
use crate::registry::Registry;
use crate::render::{Direction, Rendered, render};
use crate::split;

/// One problem found in one migration on one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The backend whose SQL was checked.
    pub backend: Backend,
    /// The migration's version.
    pub version: i64,
    /// The migration's name.
    pub name: String,
    /// Where it is defined: `file:line`.
    pub source: String,
    /// The offending statement, when one is at fault.
    pub statement: Option<String>,
    /// Where the statement is: its step (from 1, in the order the migration's function
    /// adds them; the same number on every backend) and its line within that step's SQL
    /// (from 1). `allow(rule(step = N, why = "..."))` acknowledges one step.
    pub step: Option<usize>,
    /// See [`step`](Self::step).
    pub line: Option<usize>,
    /// The table the statement works on, when the lint can tell.
    pub table: Option<String>,
    /// The table's rows, as the live database estimates them (`lint --database-url`).
    pub rows: Option<i64>,
    /// The table's bytes, indexes included, as the live database reports them.
    pub bytes: Option<i64>,
    /// What is wrong here.
    pub message: String,
    /// Why it is dangerous on this backend.
    pub why: &'static str,
    /// The safe alternative.
    pub fix: &'static str,
    /// The reason given in `allow(rule = "...")`, when acknowledged.
    pub allowed: Option<String>,
}

impl Finding {
    /// An error nobody acknowledged: fails the lint, and stops `up`.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error && self.allowed.is_none()
    }
}

/// One migration as the lint sees it: its SQL for one backend, and what it says of itself.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Its version.
    pub version: i64,
    /// Its name.
    pub name: String,
    /// `file:line`.
    pub source: String,
    /// Schema or data.
    pub kind: Kind,
    /// Whether it runs in a transaction (`transaction = true`, the default).
    pub transaction: bool,
    /// `allow(...)` acknowledgements.
    pub allow: Vec<Allow>,
    /// Its up statements, in order: the step each comes from (from 1, the same on
    /// every backend) and its SQL.
    pub statements: Vec<(usize, String)>,
    /// Not applied yet on the database the lint looks at: the tables it creates are new
    /// when later migrations of the same deploy change them.
    pub pending: bool,
}

/// What the lint may assume about how migrations are run.
#[derive(Debug, Clone, Copy, Default)]
pub struct LintOptions {
    /// Only report migrations with this version or a later one.
    pub since: Option<i64>,
    /// The runner sets a statement lock timeout (`--statement-lock-timeout`).
    pub statement_lock_timeout: bool,
}

impl Subject {
    /// `migration` as the lint sees it, from its SQL rendered up (none for a data
    /// migration).
    pub fn new(migration: &Migration, rendered: &Rendered) -> Self {
        Subject {
            version: migration.version(),
            name: migration.name().to_owned(),
            source: migration.location().to_string(),
            kind: migration.kind(),
            transaction: migration.transaction_on(rendered.backend),
            allow: migration.allowed().to_vec(),
            // The copies shiplap keeps before a drop are its own, not the migration's SQL.
            statements: rendered
                .statements
                .iter()
                .filter(|s| !s.kept)
                .map(|s| (s.step, s.sql.clone()))
                .collect(),
            pending: false,
        }
    }
}

/// The subjects of every migration of `registry` for `backend`, by version.
pub fn subjects(registry: &Registry, backend: Backend) -> Result<Vec<Subject>> {
    registry
        .iter()
        .map(|m| Ok(Subject::new(m, &render(m, backend, Direction::Up)?)))
        .collect()
}

/// Lints every migration of `registry` for each of `backends`.
pub fn lint(
    registry: &Registry,
    backends: &[Backend],
    options: LintOptions,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for &backend in backends {
        findings.extend(lint_subjects(
            &subjects(registry, backend)?,
            backend,
            options,
        ));
    }
    Ok(findings)
}

/// Adds the live database's size of each finding's table to it. A finding whose harm
/// grows with the table (a lock held, or a rewrite, as long as the table is big) on a
/// small table is a warning, not an error: over at once.
pub fn add_sizes(findings: &mut [Finding], sizes: &TableSizes, limits: SizeLimits) {
    for f in findings {
        let Some(size) = f.table.as_ref().and_then(|t| sizes.get(t)) else {
            continue;
        };
        f.rows = size.rows;
        f.bytes = size.bytes;
        let rows = size
            .rows
            .map_or_else(|| "rows unknown".to_owned(), |r| format!("{r} rows"));
        let bytes = size.bytes.map_or_else(String::new, |b| {
            format!(", {}", crate::history::human_bytes(b))
        });
        let table = f.table.as_deref().unwrap_or_default();
        if sizes::SIZE_DEPENDENT.contains(&f.rule) && limits.small(*size) {
            f.severity = Severity::Warning;
            f.message = format!(
                "{} (`{table}` is small: {rows}{bytes}; over at once)",
                f.message
            );
        } else {
            f.message = format!("{} (`{table}`: {rows}{bytes})", f.message);
        }
    }
}

/// How many statements the migrations hold for `backend`, each raw text split into its
/// statements as the lint reads them.
pub fn statement_count(subjects: &[Subject], backend: Backend) -> usize {
    subjects
        .iter()
        .flat_map(|s| &s.statements)
        .map(|(_, sql)| split::split(sql, backend).len())
        .sum()
}

/// Lints migrations (sorted by version) for one backend.
pub fn lint_subjects(subjects: &[Subject], backend: Backend, options: LintOptions) -> Vec<Finding> {
    let mut schema = analyze::SchemaState::default();
    let mut findings = Vec::new();
    for subject in subjects {
        let (found, _) = analyze::migration(&mut schema, subject, backend, options);
        if options.since.is_some_and(|since| subject.version < since) {
            continue;
        }
        findings.extend(found.into_iter().map(|(rule, statement, message)| {
            let info = rules::rule(rule).unwrap_or(&RULES[RULES.len() - 1]);
            let step = statement.as_ref().map(|s| s.step);
            // The acknowledgement of this step wins over the whole migration's.
            let allowed = subject
                .allow
                .iter()
                .filter(|a| a.covers(rule, step))
                .max_by_key(|a| a.step.is_some())
                .map(|a| a.why.to_owned());
            Finding {
                rule,
                severity: info.severity,
                backend,
                version: subject.version,
                name: subject.name.clone(),
                source: subject.source.clone(),
                table: statement.as_ref().and_then(|s| split::table_of(&s.sql)),
                rows: None,
                bytes: None,
                step,
                line: statement.as_ref().map(|s| s.line),
                statement: statement.map(|s| s.sql),
                message,
                why: info.why,
                fix: info.fix,
                allowed,
            }
        }));
    }
    findings
}

#[cfg(test)]
mod tests;
