//! Splitting a raw SQL text into its statements (for the lint, which parses each on its
//! own so that one the parser rejects hides nothing else, and for the tables a migration
//! touches, whose sizes `up` records): `;` ends a statement except inside quotes
//! ('…', "…", `…`, PostgreSQL's E'…' and $tag$…$tag$), comments (`--`, `/* */`, MySQL's
//! `#`) and a `BEGIN ATOMIC … END` function body.

use crate::backend::Backend;

/// One statement of a text: its text (trimmed, without the `;`) and the line of the text
/// it starts on (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece<'a> {
    pub(crate) text: &'a str,
    pub(crate) line: usize,
}

/// The statements of `sql`; pieces holding only comments are left out.
pub(crate) fn split(sql: &str, backend: Backend) -> Vec<Piece<'_>> {
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // Inside `BEGIN ATOMIC`: how many ENDs close it (CASE … END opens one more).
    let mut atomic = 0usize;
    let mut previous_word = String::new();
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' => {
                let backslashes = backend == Backend::MySql
                    || (i > 0
                        && matches!(bytes[i - 1], b'E' | b'e')
                        && (i < 2 || !is_word(bytes[i - 2])));
                i = skip_quoted(bytes, i, b'\'', backslashes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'`' if backend == Backend::MySql => i = skip_quoted(bytes, i, b'`', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line(bytes, i),
            b'#' if backend == Backend::MySql => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i, backend == Backend::Postgres);
            }
            b'$' if backend == Backend::Postgres && (i == 0 || !is_word(bytes[i - 1])) => {
                i = match dollar_tag(bytes, i) {
                    Some(tag) => skip_dollar_quoted(bytes, i, tag),
                    None => i + 1,
                };
            }
            b';' if atomic == 0 => {
                push(sql, start, i, &mut pieces);
                start = i + 1;
                i += 1;
                previous_word.clear();
            }
            c if is_word(c) && (i == 0 || !is_word(bytes[i - 1])) => {
                let end = (i..bytes.len())
                    .find(|&j| !is_word(bytes[j]))
                    .unwrap_or(bytes.len());
                let word = sql[i..end].to_ascii_uppercase();
                match word.as_str() {
                    "ATOMIC" if previous_word == "BEGIN" => atomic += 1,
                    "CASE" if atomic > 0 => atomic += 1,
                    "END" if atomic > 0 => atomic -= 1,
                    _ => {}
                }
                previous_word = word;
                i = end;
            }
            _ => i += 1,
        }
    }
    push(sql, start, sql.len(), &mut pieces);
    pieces
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Adds `sql[start..end]`, from its first character of code (leading blanks and comments
/// left out), unless it holds nothing but blanks and comments.
fn push<'a>(sql: &'a str, start: usize, end: usize, pieces: &mut Vec<Piece<'a>>) {
    let text = without_leading_comments(&sql[start..end]).trim_end();
    if text.is_empty() {
        return;
    }
    let offset = end - without_leading_comments(&sql[start..end]).len();
    pieces.push(Piece {
        text,
        line: sql[..offset].matches('\n').count() + 1,
    });
}

/// `text` from its first character that is neither blank nor in a comment.
pub(crate) fn without_leading_comments(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line(bytes, i),
            b'#' => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i, true),
            c if c.is_ascii_whitespace() => i += 1,
            _ => break,
        }
    }
    &text[i.min(text.len())..]
}

/// The index after a quoted text opened at `i` (doubled quotes stay inside; with
/// `backslashes`, a backslash escapes the next byte). Unclosed: the end of the text.
fn skip_quoted(bytes: &[u8], i: usize, quote: u8, backslashes: bool) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if backslashes => j += 2,
            c if c == quote && bytes.get(j + 1) == Some(&quote) => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

fn skip_line(bytes: &[u8], i: usize) -> usize {
    (i..bytes.len())
        .find(|&j| bytes[j] == b'\n')
        .map_or(bytes.len(), |j| j + 1)
}

/// The index after a `/* … */` comment (nested ones counted on PostgreSQL).
fn skip_block_comment(bytes: &[u8], i: usize, nested: bool) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j + 1 < bytes.len() {
        if bytes[j] == b'/' && bytes[j + 1] == b'*' {
            depth += 1;
            j += 2;
            if !nested && depth > 1 {
                depth = 1;
            }
        } else if bytes[j] == b'*' && bytes[j + 1] == b'/' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    bytes.len()
}

/// The dollar-quote tag starting at `i` (`$$` or `$name$`), if one does.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<&[u8]> {
    let mut j = i + 1;
    while j < bytes.len() && is_word(bytes[j]) {
        j += 1;
    }
    let tag = &bytes[i..=j.min(bytes.len() - 1)];
    let starts_with_digit = tag.get(1).is_some_and(u8::is_ascii_digit);
    (bytes.get(j) == Some(&b'$') && !starts_with_digit).then_some(tag)
}

fn skip_dollar_quoted(bytes: &[u8], i: usize, tag: &[u8]) -> usize {
    let body = i + tag.len();
    bytes[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(bytes.len(), |at| body + at + tag.len())
}

/// The table a statement works on, read from its text: the one it indexes, alters,
/// drops, updates, deletes from, inserts into, truncates, locks, vacuums, clusters,
/// reindexes or refreshes.
pub(crate) fn table_of(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
    let skip = |mut i: usize, optional: &[&str]| {
        while upper.get(i).is_some_and(|u| optional.contains(&u.as_str())) {
            i += 1;
        }
        i
    };
    let index = is(1, "INDEX")
        || (["UNIQUE", "FULLTEXT", "SPATIAL"].iter().any(|k| is(1, k)) && is(2, "INDEX"));
    let at = if is(0, "CREATE") && index {
        // CREATE [UNIQUE | FULLTEXT | SPATIAL] INDEX ... ON [ONLY] table
        let on = upper.iter().position(|u| u == "ON")?;
        skip(on + 1, &["ONLY"])
    } else if is(0, "ALTER") && is(1, "TABLE") {
        skip(2, &["IF", "EXISTS", "ONLY"])
    } else if is(0, "DROP") && is(1, "TABLE") {
        skip(2, &["IF", "EXISTS"])
    } else if is(0, "UPDATE") {
        skip(1, &["ONLY", "LOW_PRIORITY", "IGNORE"])
    } else if is(0, "DELETE") || is(0, "INSERT") {
        upper.iter().position(|u| u == "FROM" || u == "INTO")? + 1
    } else if is(0, "TRUNCATE") || is(0, "LOCK") {
        skip(1, &["TABLE", "TABLES", "ONLY"])
    } else if is(0, "VACUUM") {
        let mut i = skip(1, &["FULL", "FREEZE", "VERBOSE", "ANALYZE"]);
        // VACUUM (FULL, ANALYZE) table
        while words
            .get(i)
            .is_some_and(|w| !w.ends_with(')') && w.starts_with('('))
            || words.get(i).is_some_and(|w| w.ends_with(')'))
        {
            i += 1;
        }
        i
    } else if is(0, "CLUSTER") {
        skip(1, &["VERBOSE"])
    } else if is(0, "REINDEX") && is(1, "TABLE") {
        skip(2, &["CONCURRENTLY"])
    } else if is(0, "REFRESH") {
        skip(3, &["CONCURRENTLY"])
    } else {
        return None;
    };
    let name = words.get(at)?;
    let name = name.split(['(', ';', ',']).next()?;
    let last = name.rsplit('.').next()?;
    let unquoted = last.trim_matches(|c| c == '"' || c == '`');
    (!unquoted.is_empty()).then(|| unquoted.to_owned())
}

/// What a statement destroys, read from its text: `drops table users`, `drops a column of
/// users`, `truncates users`, `deletes rows of users`; `None` for a statement that keeps
/// every row and column (a `DROP INDEX`, a `DROP VIEW`, an `ALTER` that adds).
pub(crate) fn destroys_data(sql: &str) -> Option<String> {
    let sql = without_leading_comments(sql);
    let upper: Vec<String> = sql
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
    let table = || table_of(sql).unwrap_or_else(|| "a table".to_owned());
    if is(0, "DROP") && is(1, "TABLE") {
        return Some(format!("drops table {}", table()));
    }
    if is(0, "DROP") && (is(1, "SCHEMA") || is(1, "DATABASE")) {
        return Some(format!("drops a whole {}", upper[1].to_ascii_lowercase()));
    }
    if is(0, "TRUNCATE") {
        return Some(format!("truncates {}", table()));
    }
    if is(0, "DELETE") {
        return Some(format!("deletes rows of {}", table()));
    }
    if is(0, "ALTER") && is(1, "TABLE") {
        // `DROP COLUMN x`, or MySQL's and SQLite's `DROP x`; not `DROP CONSTRAINT`,
        // `DROP INDEX`, `DROP DEFAULT`, `DROP NOT NULL` and the like.
        let keeps = [
            "CONSTRAINT",
            "INDEX",
            "KEY",
            "DEFAULT",
            "NOT",
            "PRIMARY",
            "FOREIGN",
            "CHECK",
            "IDENTITY",
            "EXPRESSION",
            "PARTITION",
        ];
        let drops_column = upper.windows(2).any(|w| {
            w[0] == "DROP" && (w[1] == "COLUMN" || !keeps.contains(&w[1].trim_end_matches(',')))
        });
        // `ALTER COLUMN x DROP DEFAULT` is `DROP` after `ALTER COLUMN`: the words above
        // keep it.
        if drops_column {
            return Some(format!("drops a column of {}", table()));
        }
    }
    None
}

/// The tables `statements` (SQL texts, each split into its statements) create, change or
/// fill, each once, in the order they are first named; for the sizes `up` records.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn touched_tables<'a>(
    statements: impl IntoIterator<Item = &'a str>,
    backend: Backend,
) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    for sql in statements {
        for piece in split(sql, backend) {
            for table in [table_of(piece.text), created_table(piece.text)]
                .into_iter()
                .flatten()
            {
                if !tables.contains(&table) {
                    tables.push(table);
                }
            }
        }
    }
    tables
}

/// The table a `CREATE TABLE` creates, or the name an `ALTER TABLE ... RENAME TO` or a
/// `RENAME TABLE` gives.
fn created_table(sql: &str) -> Option<String> {
    let upper: Vec<String> = sql
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = sql.split_whitespace().collect();
    let at = if upper.first()? == "CREATE" {
        let table = upper.iter().position(|u| u == "TABLE")?;
        if upper[1..table].iter().any(|u| {
            !matches!(
                u.as_str(),
                "TEMP" | "TEMPORARY" | "UNLOGGED" | "GLOBAL" | "LOCAL"
            )
        }) {
            return None;
        }
        let mut at = table + 1;
        while upper
            .get(at)
            .is_some_and(|u| matches!(u.as_str(), "IF" | "NOT" | "EXISTS"))
        {
            at += 1;
        }
        at
    } else if upper.first()? == "RENAME"
        || (upper.first()? == "ALTER" && upper.contains(&"RENAME".to_owned()))
    {
        // The last `TO name` that is not a column's.
        let to = upper.iter().rposition(|u| u == "TO")?;
        if upper.get(1).is_some_and(|u| u == "TABLE")
            && upper
                .iter()
                .any(|u| u == "COLUMN" || u == "CONSTRAINT" || u == "INDEX")
        {
            return None;
        }
        to + 1
    } else {
        return None;
    };
    let name = words.get(at)?.split(['(', ';', ',']).next()?;
    let last = name.rsplit('.').next()?;
    let unquoted = last.trim_matches(|c| c == '"' || c == '`');
    (!unquoted.is_empty()).then(|| unquoted.to_owned())
}

/// The index a `CREATE [UNIQUE] INDEX CONCURRENTLY` builds, unquoted (`None` for any other
/// statement, and for one without a name): a failed build leaves it behind, INVALID.
pub(crate) fn concurrent_index(sql: &str) -> Option<String> {
    let words: Vec<&str> = without_leading_comments(sql).split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let mut at = 1;
    if upper.first()? != "CREATE" {
        return None;
    }
    for (word, optional) in [
        ("UNIQUE", true),
        ("INDEX", false),
        ("CONCURRENTLY", false),
        ("IF", true),
        ("NOT", true),
        ("EXISTS", true),
    ] {
        match upper.get(at) {
            Some(u) if u == word => at += 1,
            _ if optional => {}
            _ => return None,
        }
    }
    let name = words.get(at)?.split('(').next()?;
    if name.eq_ignore_ascii_case("ON") {
        return None;
    }
    let unquoted = name.trim_matches('"').replace("\"\"", "\"");
    (!unquoted.is_empty()).then_some(unquoted)
}

#[cfg(test)]
mod tests {
    use super::{Piece, concurrent_index, destroys_data, split, table_of, touched_tables};
    use crate::backend::Backend;

    #[test]
    fn what_destroys_data() {
        let cases = [
            ("DROP TABLE \"users\"", Some("drops table users")),
            ("drop table if exists users", Some("drops table users")),
            (
                "-- gone\nTRUNCATE TABLE sessions",
                Some("truncates sessions"),
            ),
            (
                "DELETE FROM users WHERE id > 3",
                Some("deletes rows of users"),
            ),
            (
                "ALTER TABLE users DROP COLUMN name",
                Some("drops a column of users"),
            ),
            (
                "ALTER TABLE `users` DROP `name`",
                Some("drops a column of users"),
            ),
            ("DROP SCHEMA app CASCADE", Some("drops a whole schema")),
            ("ALTER TABLE users DROP CONSTRAINT users_name_check", None),
            ("ALTER TABLE users ALTER COLUMN name DROP NOT NULL", None),
            ("ALTER TABLE users ALTER COLUMN name DROP DEFAULT", None),
            ("ALTER TABLE users DROP FOREIGN KEY fk_users_org", None),
            ("ALTER TABLE users ADD COLUMN nickname text", None),
            ("DROP INDEX users_name_idx", None),
            ("DROP VIEW active_users", None),
            ("UPDATE users SET name = ''", None),
        ];
        for (sql, expected) in cases {
            assert_eq!(destroys_data(sql).as_deref(), expected, "{sql}");
        }
    }

    #[test]
    fn the_tables_a_migration_touches() {
        let statements = [
            r#"CREATE TABLE IF NOT EXISTS "public"."orders" ("id" bigint)"#,
            "CREATE INDEX i ON orders (id); UPDATE users SET a = 1",
            "ALTER TABLE users RENAME TO people",
            "ALTER TABLE people RENAME COLUMN a TO b",
            "SET lock_timeout = '1s'; CREATE VIEW v AS SELECT 1",
        ];
        assert_eq!(
            touched_tables(statements, Backend::Postgres),
            ["orders", "users", "people"]
        );
        assert_eq!(
            touched_tables(
                ["RENAME TABLE `a` TO `a_old`, `a_new` TO `a`"],
                Backend::MySql
            ),
            ["a"],
            "the last name a MySQL RENAME TABLE gives"
        );
    }

    #[test]
    fn the_index_a_concurrent_build_names() {
        for (sql, name) in [
            (r#"CREATE INDEX CONCURRENTLY "i" ON "t" ("a")"#, Some("i")),
            (
                "-- why\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON t (a)",
                Some("u"),
            ),
            (
                r#"CREATE INDEX CONCURRENTLY "a""b" ON t (a)"#,
                Some(r#"a"b"#),
            ),
            ("CREATE INDEX CONCURRENTLY ON t (a)", None),
            ("CREATE INDEX i ON t (a)", None),
            ("DROP INDEX CONCURRENTLY i", None),
        ] {
            assert_eq!(concurrent_index(sql).as_deref(), name, "{sql}");
        }
    }

    #[test]
    fn the_table_of_each_kind_of_statement() {
        for (sql, table) in [
            (r#"CREATE INDEX "i" ON "public"."users" ("email")"#, "users"),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY t (a)",
                "t",
            ),
            (
                "ALTER TABLE IF EXISTS ONLY orders ADD COLUMN x int",
                "orders",
            ),
            ("ALTER TABLE `items` ADD INDEX (a)", "items"),
            ("CREATE FULLTEXT INDEX ft ON `docs` (body)", "docs"),
            ("DROP TABLE IF EXISTS old", "old"),
            ("UPDATE users SET a = 1", "users"),
            ("DELETE FROM sessions WHERE x", "sessions"),
            ("INSERT INTO log(a) VALUES (1)", "log"),
            ("TRUNCATE TABLE notes", "notes"),
            ("LOCK TABLE accounts IN SHARE MODE", "accounts"),
            ("VACUUM FULL events", "events"),
            ("VACUUM (FULL, ANALYZE) events", "events"),
            ("CLUSTER users USING users_pkey", "users"),
            ("REINDEX TABLE CONCURRENTLY users", "users"),
            ("REFRESH MATERIALIZED VIEW CONCURRENTLY sizes", "sizes"),
        ] {
            assert_eq!(table_of(sql).as_deref(), Some(table), "{sql}");
        }
        assert_eq!(table_of("SET lock_timeout = '5s'"), None);
        assert_eq!(
            table_of("CREATE TABLE o (u bigint REFERENCES users ON DELETE CASCADE)"),
            None,
            "a CREATE TABLE's ON is its foreign key's"
        );
    }

    fn texts(sql: &str, backend: Backend) -> Vec<&str> {
        split(sql, backend).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn splits_at_semicolons_outside_quotes_comments_and_bodies() {
        let sql = "CREATE TABLE a (x text DEFAULT 'a;b');\n\
                   -- a comment; with a semicolon\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n\
                   /* block; /* nested; */ still */ SELECT \"odd;name\" FROM a;\n\
                   SELECT E'it\\'s; fine';\n\
                   CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\n\
                   SELECT $1";
        let pieces = texts(sql, Backend::Postgres);
        assert_eq!(pieces.len(), 7, "{pieces:#?}");
        assert_eq!(pieces[0], "CREATE TABLE a (x text DEFAULT 'a;b')");
        assert!(
            pieces[1].starts_with("CREATE FUNCTION f()"),
            "{}",
            pieces[1]
        );
        assert!(pieces[1].ends_with("$body$ LANGUAGE sql"));
        assert_eq!(pieces[2], "DO $$ BEGIN PERFORM 1; END $$");
        assert_eq!(pieces[3], "SELECT \"odd;name\" FROM a");
        assert_eq!(pieces[4], "SELECT E'it\\'s; fine'");
        assert!(pieces[5].ends_with("THEN 2 END; END"), "{}", pieces[5]);
        assert_eq!(pieces[6], "SELECT $1");
    }

    #[test]
    fn pieces_know_their_line_and_comments_alone_are_dropped() {
        let sql = "SELECT 1;\n\n  SELECT 2;\n-- only a comment;\n";
        assert_eq!(
            split(sql, Backend::Postgres),
            [
                Piece {
                    text: "SELECT 1",
                    line: 1
                },
                Piece {
                    text: "SELECT 2",
                    line: 3
                }
            ]
        );
    }

    #[test]
    fn mysql_quotes_and_comments() {
        let sql = "INSERT INTO t VALUES ('a\\';b'); # note; here\nSELECT `a;b` FROM t";
        assert_eq!(
            texts(sql, Backend::MySql),
            ["INSERT INTO t VALUES ('a\\';b')", "SELECT `a;b` FROM t"]
        );
    }
}
