//! Rendering: a migration's up or down as SQL text for one backend, with its checksum.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::migration::{Kind, Migration};
use crate::schema::Down;
use crate::schema::{Plan, plan};

/// Up (apply) or down (revert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Direction {
    /// Apply.
    Up,
    /// Revert.
    Down,
}

impl Direction {
    /// `up` or `down`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// One migration's SQL for one backend and direction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rendered {
    /// The backend rendered for.
    pub backend: Backend,
    /// Up or down.
    pub direction: Direction,
    /// Schema statements, or Rust code (then `statements` is empty).
    pub kind: Kind,
    /// The statements, in the order they run.
    pub statements: Vec<RenderedStatement>,
    /// The SQL checksum, computed once when rendered.
    sql_checksum: Option<String>,
    /// The checksum of the raw SQL steps' statements alone, computed with the other.
    raw_checksum: Option<String>,
}

/// One statement of a rendered migration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RenderedStatement {
    /// The step it comes from, counted from 1 in the migration's function.
    pub step: usize,
    /// The SQL text (may hold several statements when it is raw SQL).
    pub sql: String,
    /// Whether the text is the user's own raw SQL (not rendered by sea-query).
    pub raw: bool,
    /// For a check: what must hold (the query must return no row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Whether it is shiplap's copy of the rows a plain drop destroys (or their way
    /// back): not part of the migration's checksum, which stays what it was before
    /// shiplap kept copies.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kept: bool,
}

impl Rendered {
    /// The SQL checksum: SHA-256 (hex) of the statements, with line endings and runs of
    /// whitespace outside quotes normalised. `None` for a data migration.
    pub fn checksum(&self) -> Option<&str> {
        self.sql_checksum.as_deref()
    }

    /// The checksum of the raw SQL steps' statements alone (the same normalisation): the
    /// part of the SQL that is the user's own text, which a new sea-query cannot change.
    /// `None` for a data migration.
    pub fn raw_checksum(&self) -> Option<&str> {
        self.raw_checksum.as_deref()
    }

    /// Computes the checksums, once, when rendering is complete.
    fn with_checksum(mut self) -> Self {
        if self.kind != Kind::Schema {
            return self;
        }
        let (mut all, mut raw) = (Sha256::new(), Sha256::new());
        let mut normalized = String::new();
        for statement in self.statements.iter().filter(|s| !s.kept) {
            normalized.clear();
            normalize_sql_into(&statement.sql, &mut normalized);
            all.update(normalized.as_bytes());
            all.update([0]);
            if statement.raw {
                raw.update(normalized.as_bytes());
                raw.update([0]);
            }
        }
        self.sql_checksum = Some(hex::encode(all.finalize()));
        self.raw_checksum = Some(hex::encode(raw.finalize()));
        self
    }
}

/// Renders `migration` for `backend`. Going down, the steps' downs run in reverse order;
/// a step with no down makes it [`Error::Irreversible`], naming the step.
pub fn render(
    migration: &'static Migration,
    backend: Backend,
    direction: Direction,
) -> Result<Rendered> {
    let mut rendered = Rendered {
        backend,
        direction,
        kind: migration.kind(),
        statements: Vec::new(),
        sql_checksum: None,
        raw_checksum: None,
    };
    let schema = match plan(migration)? {
        Plan::Schema(schema) => schema,
        Plan::Data => {
            if direction == Direction::Down && migration.nothing_to_undo().is_none() {
                return Err(Error::Irreversible {
                    migration: migration.reference(),
                    reason: "it is a data migration (Rust code) with no down; if reverting it \
                             needs no change, say so with `nothing_to_undo = \"why\"`"
                        .into(),
                });
            }
            return Ok(rendered.with_checksum());
        }
    };
    let steps: Vec<_> = schema
        .steps()
        .iter()
        .enumerate()
        .map(|(i, s)| (i + 1, s))
        .collect();
    let render_one = |step: usize, statement: &crate::statement::Statement| {
        statement
            .render(backend)
            .map(|sql| {
                sql.map(|sql| match sql.contains(crate::schema::VERSION_MARKER) {
                    // A backup table's name holds the migration's version.
                    true => sql.replace(
                        crate::schema::VERSION_MARKER,
                        &migration.version().to_string(),
                    ),
                    false => sql,
                })
            })
            .map_err(|message| Error::Render {
                migration: migration.reference(),
                step,
                statement: statement.kind().to_owned(),
                backend,
                message,
            })
    };
    let versioned = |sql: String| {
        sql.replace(
            crate::schema::VERSION_MARKER,
            &migration.version().to_string(),
        )
    };
    match direction {
        Direction::Up => {
            for (number, step) in steps.iter().filter(|(_, s)| s.runs_on(backend)) {
                if let Some(keep) = step.kept() {
                    rendered.statements.push(RenderedStatement {
                        step: *number,
                        sql: versioned(crate::schema::keep_sql(keep, backend)),
                        raw: false,
                        check: None,
                        kept: true,
                    });
                }
                if let Some(mut sql) = render_one(*number, step.up())? {
                    let check = step.checked().map(str::to_owned);
                    if let Some(what) = &check {
                        sql = format!(
                            "-- check: {}: the migration fails if this returns a row\n{sql}",
                            what.replace('\n', " ")
                        );
                    }
                    rendered.statements.push(RenderedStatement {
                        step: *number,
                        sql,
                        raw: step.up().is_raw(),
                        check,
                        kept: false,
                    });
                }
            }
        }
        Direction::Down => {
            let all = schema.steps();
            for (number, step) in steps.iter().rev().filter(|(_, s)| s.runs_on(backend)) {
                if step.down_covered(&all[..number - 1], backend) {
                    continue;
                }
                let what = step.up().kind();
                let statements = match step.down() {
                    Down::Statements(statements) => statements.as_slice(),
                    Down::Nothing(_) => &[],
                    Down::Irreversible(reason) => {
                        return Err(Error::Irreversible {
                            migration: migration.reference(),
                            reason: format!("step {number} ({what}) is irreversible: {reason}"),
                        });
                    }
                    _ => {
                        return Err(Error::Irreversible {
                            migration: migration.reference(),
                            reason: format!(
                                "step {number} ({what}) has no down: give it one with \
                                 `.down(...)`, or mark it `.irreversible(\"why\")`"
                            ),
                        });
                    }
                };
                let index_drop = step
                    .derived_index_drop()
                    .filter(|_| backend == Backend::MySql);
                for statement in statements {
                    if let Some(mut sql) = render_one(*number, statement)? {
                        if let Some((index, column)) = &index_drop {
                            sql = crate::backend::mysql::drop_index_keeping_foreign_key(
                                &sql, index, column,
                            );
                        }
                        rendered.statements.push(RenderedStatement {
                            step: *number,
                            sql,
                            raw: statement.is_raw(),
                            check: None,
                            kept: false,
                        });
                    }
                }
                for sql in crate::schema::keep_restore_sql(step, statements, backend) {
                    rendered.statements.push(RenderedStatement {
                        step: *number,
                        sql: versioned(sql),
                        raw: false,
                        check: None,
                        kept: true,
                    });
                }
            }
        }
    }
    Ok(rendered.with_checksum())
}

/// The SQL of `migration` as a reviewable script: a comment header (version, name,
/// source, checksum) and each statement terminated by `;`. A migration that cannot be
/// reverted says so in a comment instead of failing, so a range can be inspected whole.
pub fn script(
    migration: &'static Migration,
    backend: Backend,
    direction: Direction,
) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- {} {} ({}, {})",
        migration.version(),
        migration.name(),
        direction.name(),
        backend
    );
    let _ = writeln!(out, "-- source: {}", migration.location());
    if let Some(summary) = migration.doc().lines().next().filter(|l| !l.is_empty()) {
        let _ = writeln!(out, "-- {summary}");
    }
    match render(migration, backend, direction) {
        Ok(rendered) => {
            if !migration.transaction_on(backend) {
                let _ = writeln!(out, "-- transaction: none (each statement runs on its own)");
            }
            if let Some(checksum) = rendered.checksum() {
                let _ = writeln!(out, "-- sql checksum: {checksum}");
            }
            out.push('\n');
            write_statements(&mut out, migration, &rendered);
        }
        Err(Error::Irreversible { reason, .. }) => {
            let _ = writeln!(out, "-- cannot be reverted: {reason}");
        }
        Err(e) => return Err(e),
    }
    Ok(out)
}

/// The up and down SQL of `migration` for `backend`, without source locations or
/// checksums: what a snapshot test stores, so that moving code around changes nothing.
pub fn snapshot(migration: &'static Migration, backend: Backend) -> Result<String> {
    let mut out = String::new();
    if !migration.transaction_on(backend) {
        out.push_str("-- transaction: none\n");
    }
    for direction in [Direction::Up, Direction::Down] {
        let _ = writeln!(out, "-- {}", direction.name());
        match render(migration, backend, direction) {
            Ok(rendered) => write_statements(&mut out, migration, &rendered),
            Err(Error::Irreversible { reason, .. }) => {
                let _ = writeln!(out, "-- cannot be reverted: {reason}");
            }
            Err(e) => return Err(e),
        }
        if direction == Direction::Up {
            out.push('\n');
        }
    }
    Ok(out)
}

fn write_statements(out: &mut String, migration: &Migration, rendered: &Rendered) {
    if rendered.kind == Kind::Data {
        match (rendered.direction, migration.nothing_to_undo()) {
            (Direction::Down, Some(reason)) => {
                let _ = writeln!(out, "-- nothing to undo: {reason}");
            }
            _ => out.push_str(
                "-- data migration: runs Rust code against the database; no SQL to show\n",
            ),
        }
        return;
    }
    if rendered.statements.is_empty() {
        let _ = writeln!(out, "-- nothing to run on {}", rendered.backend);
    }
    for (i, statement) in rendered.statements.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(statement.sql.trim_end());
        if !statement.sql.trim_end().ends_with(';') {
            out.push(';');
        }
        out.push('\n');
    }
}

/// Appends `sql` normalised for checksums to `out`: CRLF becomes LF, runs of whitespace
/// outside quotes become one space, and the ends are trimmed. Text inside `'...'`, `"..."`
/// and `` `...` `` is kept as it is. Every checksum runs through it, so it fills the
/// caller's buffer rather than allocating per statement.
fn normalize_sql_into(sql: &str, out: &mut String) {
    out.reserve(sql.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    let mut chars = sql.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => pending_space = true,
            None => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                if matches!(c, '\'' | '"' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    fn normalize_sql(sql: &str) -> String {
        let mut out = String::new();
        super::normalize_sql_into(sql, &mut out);
        out
    }

    #[test]
    fn normalizes_whitespace_outside_quotes_only() {
        assert_eq!(
            normalize_sql("  SELECT\r\n  a,\tb\n FROM t WHERE x = 'a  b'  "),
            "SELECT a, b FROM t WHERE x = 'a  b'"
        );
        assert_eq!(normalize_sql("a \"x  y\"  z"), "a \"x  y\" z");
        assert_ne!(normalize_sql("x = 'a b'"), normalize_sql("x = 'a  b'"));
        assert_eq!(normalize_sql("'a\r\nb'\r\n\r\rc"), "'a\nb' c");
        assert_eq!(normalize_sql("a\u{a0}\u{3000}b 'é\u{a0}'"), "a b 'é\u{a0}'");
    }

    /// Checksums are stored in every database a migration was applied to: any change to
    /// how they are computed would report every applied migration as modified.
    #[test]
    fn sql_checksums_stay_what_they_were() {
        let rendered = super::Rendered {
            backend: crate::backend::Backend::Postgres,
            direction: super::Direction::Up,
            kind: crate::migration::Kind::Schema,
            statements: [
                "CREATE TABLE \"t\" (\r\n  \"a\"  text DEFAULT 'x  y'\n)",
                "SELECT 1",
            ]
            .into_iter()
            .enumerate()
            .map(|(i, sql)| super::RenderedStatement {
                step: i + 1,
                sql: sql.into(),
                raw: i == 1,
                check: None,
                kept: false,
            })
            .collect(),
            sql_checksum: None,
            raw_checksum: None,
        }
        .with_checksum();
        assert_eq!(
            rendered.checksum(),
            Some("df1e95733506e5ed5e25f2e0736adc08a444433b054c738eb6f249b8a4a6443a")
        );
    }
}
