//! Statements read by their first words: those sqlparser refuses but whose effect is
//! known, those it parses without what matters (CONCURRENTLY), and the SQL inside a `DO`
//! block.

use sqlparser::dialect::Dialect;
use sqlparser::parser::Parser;

use super::Walk;
use crate::backend::Backend;
use crate::split;

impl Walk<'_> {
    /// A statement the parser refused, recognised by its first words: statements whose
    /// effect on a live database is known (catalog changes that take brief locks) count
    /// as read; a `DO` block's SQL statements are read one by one. `false` when it is
    /// not one of them.
    pub(super) fn recognize(&mut self, dialect: &dyn Dialect) -> bool {
        let code = split::without_leading_comments(&self.sql).to_owned();
        let upper = code.to_ascii_uppercase();
        let words: Vec<&str> = upper.split_whitespace().take(6).collect();
        match words.as_slice() {
            ["DO", ..] if self.pg() => {
                self.do_block(&code, dialect);
                true
            }
            // A new function, procedure, trigger, type, statistics object or policy, or
            // a comment, grant, or sequence setting: catalog changes, no table rewritten.
            [
                "CREATE",
                "OR",
                "REPLACE",
                "FUNCTION" | "PROCEDURE" | "TRIGGER",
                ..,
            ]
            | [
                "CREATE",
                "FUNCTION" | "PROCEDURE" | "TRIGGER" | "STATISTICS" | "POLICY" | "TYPE"
                | "SEQUENCE",
                ..,
            ]
            | ["CREATE", "CONSTRAINT", "TRIGGER", ..]
            | [
                "ALTER",
                "SEQUENCE" | "POLICY" | "FUNCTION" | "PROCEDURE" | "STATISTICS" | "TRIGGER",
                ..,
            ]
            | ["ALTER", "TYPE", _, "RENAME", "VALUE", ..]
            | ["COMMENT", "ON", ..]
            | ["GRANT" | "REVOKE", ..]
            | ["ANALYZE" | "ANALYSE", ..]
                if self.pg() =>
            {
                self.ddl();
                true
            }
            ["ALTER", "TYPE", _, "ADD", "VALUE", ..] if self.pg() => {
                self.ddl();
                if let Some(value) = added_value(&code) {
                    let placed = upper.contains(" BEFORE ") || upper.contains(" AFTER ");
                    self.enum_value_added(value, placed);
                }
                true
            }
            // Only changes a foreign key's deferrability: no rows are checked, but it is
            // an ALTER TABLE, which waits for every query of the table.
            ["ALTER", "TABLE", ..] if self.pg() && upper.contains(" ALTER CONSTRAINT ") => {
                self.ddl();
                self.strong_lock();
                true
            }
            _ => false,
        }
    }

    /// The SQL statements of a `DO` block's body, each linted as if it stood alone
    /// (PL/pgSQL's own statements — IF, PERFORM, RAISE, assignments — are skipped).
    pub(super) fn do_block(&mut self, code: &str, dialect: &dyn Dialect) {
        let Some(body) = dollar_body(code) else {
            return;
        };
        let (outer, step, line) = (self.sql.clone(), self.step, self.line);
        for piece in split::split(body, Backend::Postgres) {
            let Some(inner) = plpgsql_sql(piece.text) else {
                continue;
            };
            let skipped = piece.text.len() - inner.len();
            self.sql = inner.to_owned();
            self.line = line + piece.line - 1 + piece.text[..skipped].matches('\n').count();
            let (text, concurrently) = self.work_around_parser(&self.sql.clone());
            if let Some(text) = text
                && let Ok(statements) = Parser::parse_sql(dialect, &text)
            {
                for statement in statements {
                    self.statement(&statement, concurrently);
                }
            }
        }
        (self.sql, self.step, self.line) = (outer, step, line);
    }

    /// Statements sqlparser does not parse, handled here: the text to parse instead (or
    /// none, when this function dealt with it) and whether it says CONCURRENTLY.
    pub(super) fn work_around_parser(&mut self, sql: &str) -> (Option<String>, bool) {
        let words: Vec<String> = split::without_leading_comments(sql)
            .split_whitespace()
            .take(8)
            .map(str::to_ascii_uppercase)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let concurrently = words.contains(&"CONCURRENTLY");
        match words.as_slice() {
            ["REINDEX", ..] if self.pg() => {
                if concurrently && self.subject.transaction {
                    self.find(
                        "pg_concurrently_in_transaction",
                        "REINDEX CONCURRENTLY inside the migration's transaction fails".into(),
                    );
                }
                if !concurrently {
                    self.strong_lock();
                    self.find(
                        "pg_reindex_not_concurrent",
                        "rebuilds indexes while blocking writes".into(),
                    );
                }
                self.ddl();
                (None, false)
            }
            ["REFRESH", "MATERIALIZED", "VIEW", ..] if self.pg() => {
                if !concurrently {
                    self.strong_lock();
                    self.find(
                        "pg_refresh_not_concurrent",
                        "rebuilds the view while every read of it waits".into(),
                    );
                }
                (None, false)
            }
            ["VACUUM", rest @ ..] if self.pg() => {
                if rest.iter().any(|w| *w == "FULL" || w.starts_with("(FULL")) {
                    self.strong_lock();
                    self.find(
                        "pg_vacuum_full",
                        "rewrites the table under an exclusive lock".into(),
                    );
                }
                (None, false)
            }
            ["CLUSTER", ..] if self.pg() => {
                self.strong_lock();
                self.find(
                    "pg_cluster",
                    "rewrites the table under an exclusive lock".into(),
                );
                (None, false)
            }
            ["LOCK", "TABLE" | "TABLES", ..] | ["LOCK", _, ..] if !self.sqlite() => {
                if self.pg() {
                    self.strong_lock();
                }
                self.find(
                    "lock_table",
                    "holds a table lock until the migration's transaction ends".into(),
                );
                (None, false)
            }
            ["TRUNCATE", ..] => {
                if self.pg() {
                    self.strong_lock();
                }
                if self.dml.is_none() {
                    self.dml = Some(self.here());
                }
                self.find("truncate_table", "deletes every row of the table".into());
                (None, false)
            }
            // DROP INDEX CONCURRENTLY: parse it without the keyword, remember it.
            ["DROP", "INDEX", "CONCURRENTLY", ..] => {
                let at = sql.to_ascii_uppercase().find("CONCURRENTLY").unwrap_or(0);
                let text = format!("{}{}", &sql[..at], &sql[at + "CONCURRENTLY".len()..]);
                (Some(text), true)
            }
            ["CREATE", "FULLTEXT" | "SPATIAL", "INDEX", ..] if self.mysql() => {
                self.ddl();
                if words[1] == "FULLTEXT"
                    && let Some(table) = split::table_of(sql)
                {
                    self.schema.fulltext.insert(table);
                }
                self.find(
                    "mysql_locking_ddl",
                    "a FULLTEXT or SPATIAL index is built under a shared lock (the first FULLTEXT index also rebuilds the table)".into(),
                );
                (None, false)
            }
            ["ALTER", "TABLE", _, "CONVERT", ..] if self.mysql() => {
                self.ddl();
                self.find(
                    "mysql_table_copy",
                    "converting a table's character set copies the table".into(),
                );
                (None, false)
            }
            // sea-query writes SQLite decimals as `real(p, s)`, which sqlparser rejects;
            // SQLite reads both as the same (REAL affinity), so check it as `numeric`.
            _ if self.backend == Backend::Sqlite && sql.contains(" real(") => {
                (Some(sql.replace(" real(", " numeric(")), false)
            }
            _ => (Some(sql.to_owned()), false),
        }
    }
}

/// The value an `ALTER TYPE ... ADD VALUE [IF NOT EXISTS] 'value'` adds.
fn added_value(code: &str) -> Option<String> {
    let open = code.find('\'')?;
    let rest = &code[open + 1..];
    let mut value = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return Some(value);
            }
        }
        value.push(c);
    }
    None
}

/// The text between a `DO` block's dollar quotes.
fn dollar_body(code: &str) -> Option<&str> {
    let open = code.find('$')?;
    let tag_end = open + 1 + code[open + 1..].find('$')?;
    let tag = &code[open..=tag_end];
    let close = code[tag_end + 1..].rfind(tag)? + tag_end + 1;
    Some(&code[tag_end + 1..close])
}

/// The SQL statement in a piece of PL/pgSQL, after the block and branch words that may
/// lead it (`BEGIN`, `DECLARE ...`, `IF ... THEN`, `ELSE`, `LOOP`); `None` for
/// PL/pgSQL's own statements.
fn plpgsql_sql(piece: &str) -> Option<&str> {
    const SQL: &[&str] = &[
        "ALTER", "CREATE", "DROP", "UPDATE", "DELETE", "INSERT", "TRUNCATE", "REINDEX", "CLUSTER",
        "VACUUM", "LOCK", "REFRESH",
    ];
    let mut rest = split::without_leading_comments(piece);
    loop {
        let upper = rest.to_ascii_uppercase();
        let first = upper.split_whitespace().next()?;
        let skip_to = match first {
            "BEGIN" | "ELSE" | "LOOP" => Some(first.len()),
            "IF" | "ELSIF" | "WHEN" => upper.find(" THEN").map(|at| at + " THEN".len()),
            "DECLARE" => upper.find("BEGIN").map(|at| at + "BEGIN".len()),
            _ => None,
        };
        match skip_to {
            Some(at) => rest = rest[at..].trim_start(),
            None => {
                let word = first.trim_end_matches(|c: char| !c.is_ascii_alphabetic());
                return SQL.contains(&word).then_some(rest);
            }
        }
    }
}
