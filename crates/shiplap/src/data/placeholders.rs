//! `?` placeholders numbered for PostgreSQL, outside quotes, dollar quotes and comments.

/// `?` placeholders as `$1, $2, ...` (PostgreSQL), and how many there are. Not inside
/// quotes (`E'...'` strings with their backslash escapes), dollar quotes or comments
/// (nested `/* */` too). jsonb's `?|` and `?&` stay operators; its `?` operator is written
/// `??` and becomes `?`.
pub(super) fn numbered_placeholders(sql: &str) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut chars = sql.char_indices().peekable();
    let mut previous: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                // E'...' (not inside a longer word): backslash escapes a quote.
                let escapes = c == '\''
                    && matches!(previous, Some('E' | 'e'))
                    && !sql[..i.saturating_sub(1)]
                        .chars()
                        .next_back()
                        .is_some_and(|p| p.is_alphanumeric() || p == '_');
                out.push(c);
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if escaped {
                        escaped = false;
                    } else if escapes && d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            '-' if sql[i..].starts_with("--") => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if sql[i..].starts_with("/*") => {
                let end = block_comment_end(sql, i);
                out.push_str(&sql[i..end]);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
            }
            '$' => {
                // A dollar quote: $$ ... $$ or $tag$ ... $tag$.
                let tag_len = sql[i + 1..]
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .filter(|&len| sql[i + 1 + len..].starts_with('$'));
                match tag_len {
                    Some(len) if !sql[i + 1..].starts_with(|ch: char| ch.is_ascii_digit()) => {
                        let tag = &sql[i..i + len + 2];
                        let body = i + tag.len();
                        let end = sql[body..]
                            .find(tag)
                            .map_or(sql.len(), |e| body + e + tag.len());
                        out.push_str(&sql[i..end]);
                        while chars.peek().is_some_and(|(j, _)| *j < end) {
                            chars.next();
                        }
                    }
                    _ => out.push(c),
                }
            }
            '?' => match chars.peek().map(|(_, d)| *d) {
                Some('?') => {
                    chars.next();
                    out.push('?');
                }
                Some('|' | '&') => out.push(c),
                _ => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
            },
            _ => out.push(c),
        }
        previous = Some(c);
    }
    (out, n)
}

/// Where the block comment starting at `start` ends (after its `*/`), nested ones
/// included.
fn block_comment_end(sql: &str, start: usize) -> usize {
    let bytes = sql.as_bytes();
    let (mut depth, mut i) = (0usize, start);
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    sql.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_outside_quotes_and_comments() {
        let numbered = |sql| numbered_placeholders(sql).0;
        assert_eq!(
            numbered(
                "UPDATE t SET a = ?, b = 'what?' -- why?\n WHERE c = ? /* ? */ AND d = $x$?$x$ AND \"e?\" = ?"
            ),
            "UPDATE t SET a = $1, b = 'what?' -- why?\n WHERE c = $2 /* ? */ AND d = $x$?$x$ AND \"e?\" = $3"
        );
        assert_eq!(numbered("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
        // An escape string: \' does not end it.
        assert_eq!(
            numbered(r"SELECT E'it\'s ?', ?, e'\\', ?, note'?'"),
            r"SELECT E'it\'s ?', $1, e'\\', $2, note'?'"
        );
        // Nested comments.
        assert_eq!(
            numbered("/* a /* ? */ still ? */ SELECT ?"),
            "/* a /* ? */ still ? */ SELECT $1"
        );
        // jsonb operators.
        assert_eq!(
            numbered("SELECT d ?? 'k', d ?| ARRAY['a'], d ?& ARRAY['b'] FROM t WHERE id = ?"),
            "SELECT d ? 'k', d ?| ARRAY['a'], d ?& ARRAY['b'] FROM t WHERE id = $1"
        );
        assert_eq!(numbered_placeholders("SELECT ?, ??, ?").1, 2);
    }
}
