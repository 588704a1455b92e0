//! Splitting a raw SQL text into its statements, so that each is parsed on its own and
//! one the parser rejects hides nothing else: `;` ends a statement except inside quotes
//! ('…', "…", `…`, PostgreSQL's E'…' and $tag$…$tag$), comments (`--`, `/* */`, MySQL's
//! `#`) and a `BEGIN ATOMIC … END` function body.

use crate::backend::Backend;

/// One statement of a text: its text (trimmed, without the `;`) and the line of the text
/// it starts on (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece<'a> {
    pub(super) text: &'a str,
    pub(super) line: usize,
}

/// The statements of `sql`; pieces holding only comments are left out.
pub(super) fn split(sql: &str, backend: Backend) -> Vec<Piece<'_>> {
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
pub(super) fn without_leading_comments(text: &str) -> &str {
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

#[cfg(test)]
mod tests {
    use super::{Piece, split};
    use crate::backend::Backend;

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
