//! SQLite has no `ALTER COLUMN`: a column's NOT NULL is changed in the table's recorded
//! definition. The rendered SQL is one marker statement naming the change; as it runs:
//!
//! 1. setting NOT NULL, a NULL left in the column fails it, naming the column;
//! 2. the table's `CREATE TABLE` text in `sqlite_master` gets the column's `NOT NULL`
//!    added or removed (`PRAGMA writable_schema`), and the schema version is bumped so that
//!    every connection reads it again.
//!
//! This is the procedure SQLite's documentation gives for changes that leave the stored
//! rows as they are. The usual rebuild (a new table, rows copied, the old one dropped)
//! was tried first and lost rows: dropping the old table ran the `ON DELETE CASCADE` of
//! the tables pointing at it, since foreign keys cannot be turned off inside the
//! migration's transaction and renaming a table rewrites the references to it. Here
//! nothing is copied or dropped; all of it is in the migration's transaction, so a
//! failure leaves the definition as it was.

use crate::backend::connection::Connection;

/// The first line of the marker statement.
pub(crate) const MARKER: &str = "-- shiplap: SQLite changes ";

/// The marker statement of a NOT NULL change (what snapshots and `--dry-run` show).
pub(crate) fn marker(table: &str, column: &str, not_null: bool) -> String {
    format!(
        "{MARKER}{} to make {} {} (its recorded definition, as it runs)\nSELECT {}, {}, {}",
        quote(table),
        quote(column),
        if not_null { "NOT NULL" } else { "nullable" },
        literal(table),
        literal(column),
        i32::from(not_null)
    )
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Why a rebuild failed: the database refused a statement of it (which one is in the
/// pair), or the table is not as the migration says.
#[derive(Debug)]
pub(crate) enum Failed {
    Statement(sqlx::Error, String),
    Table(String),
}

/// Runs the rebuild a marker statement names.
pub(crate) async fn run(conn: &mut Connection<'_>, marker_sql: &str) -> Result<(), Failed> {
    let (table, column, not_null) = parse_marker(marker_sql)
        .ok_or_else(|| Failed::Table(format!("not a rebuild statement: {marker_sql}")))?;
    let db = |e: sqlx::Error| Failed::Statement(e, "reading the table's definition".into());
    let definition = conn
        .strings_bound(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            &table,
        )
        .await
        .map_err(db)?
        .into_iter()
        .next()
        .ok_or_else(|| Failed::Table(format!("there is no table {}", quote(&table))))?;
    let changed = changed_definition(&definition, &column, not_null).map_err(Failed::Table)?;
    if not_null {
        let nulls = format!(
            "SELECT 1 FROM {} WHERE {} IS NULL LIMIT 1",
            quote(&table),
            quote(&column)
        );
        let found = conn
            .strings(&format!("SELECT CAST(EXISTS ({nulls}) AS TEXT)"))
            .await
            .map_err(|e| Failed::Statement(e, nulls.clone()))?;
        if found.first().map(String::as_str) == Some("1") {
            return Err(Failed::Table(format!(
                "column {} of {} still holds NULLs: fill them in an earlier step (or \
                 migration), then make it NOT NULL",
                quote(&column),
                quote(&table)
            )));
        }
    }
    let version: i64 = conn
        .strings("SELECT CAST(schema_version AS TEXT) FROM pragma_schema_version")
        .await
        .map_err(|e| Failed::Statement(e, "PRAGMA schema_version".into()))?
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let steps = [
        "PRAGMA writable_schema = ON".to_owned(),
        format!(
            "UPDATE sqlite_master SET sql = {} WHERE type = 'table' AND name = {}",
            literal(&changed),
            literal(&table)
        ),
        format!("PRAGMA schema_version = {}", version + 1),
        "PRAGMA writable_schema = OFF".to_owned(),
    ];
    for sql in &steps {
        if let Err(e) = conn.execute(sql).await {
            let _ = conn.execute("PRAGMA writable_schema = OFF").await;
            return Err(Failed::Statement(e, sql.clone()));
        }
    }
    Ok(())
}

/// The table, column and change a marker statement names.
fn parse_marker(sql: &str) -> Option<(String, String, bool)> {
    let select = sql.lines().nth(1)?.strip_prefix("SELECT ")?;
    let mut parts = Vec::new();
    let mut rest = select;
    for _ in 0..2 {
        let body = rest.strip_prefix('\'')?;
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let end = loop {
            let (i, c) = chars.next()?;
            if c == '\'' {
                if chars.peek().map(|(_, c)| *c) == Some('\'') {
                    chars.next();
                    value.push('\'');
                    continue;
                }
                break i;
            }
            value.push(c);
        };
        parts.push(value);
        rest = body[end + 1..].strip_prefix(", ")?;
    }
    let not_null = rest.trim() == "1";
    let column = parts.pop()?;
    let table = parts.pop()?;
    Some((table, column, not_null))
}

/// `definition` (a `CREATE TABLE` as SQLite recorded it) with `column`'s NOT NULL added
/// or removed.
fn changed_definition(definition: &str, column: &str, not_null: bool) -> Result<String, String> {
    let open = top_level_positions(definition, b'(')
        .first()
        .copied()
        .ok_or("the table's definition has no column list")?;
    let close = definition
        .rfind(')')
        .ok_or("the table's definition is cut short")?;
    let body = &definition[open + 1..close];
    let mut cuts = vec![0];
    cuts.extend(top_level_positions(body, b',').into_iter().map(|i| i + 1));
    cuts.push(body.len() + 1);
    let mut parts: Vec<String> = cuts
        .windows(2)
        .map(|w| body[w[0]..w[1] - 1].to_owned())
        .collect();
    let wanted = column.to_ascii_lowercase();
    let part = parts
        .iter_mut()
        .find(|p| first_name(p).is_some_and(|n| n.to_ascii_lowercase() == wanted))
        .ok_or_else(|| format!("the table has no column {}", quote(column)))?;
    let has = not_null_at(part);
    match (not_null, has) {
        (true, None) => part.push_str(" NOT NULL"),
        (false, Some((at, len))) => part.replace_range(at..at + len, ""),
        _ => {}
    }
    Ok(format!(
        "{}{}{}",
        &definition[..=open],
        parts.join(","),
        &definition[close..]
    ))
}

/// The byte positions of `byte` in `sql` outside quotes, comments and parentheses (the
/// first `(` is at depth 0 itself).
fn top_level_positions(sql: &str, byte: u8) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
            }
            b'[' => {
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' if byte == b'(' && depth == 0 => {
                found.push(i);
                depth += 1;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b if b == byte && depth == 0 => found.push(i),
            _ => {}
        }
        i += 1;
    }
    found
}

/// The first name of a column definition, unquoted (`None` for a table constraint).
fn first_name(part: &str) -> Option<String> {
    let part = part.trim_start();
    let name = match part.chars().next()? {
        '"' => part[1..].split('"').next()?.to_owned(),
        '`' => part[1..].split('`').next()?.to_owned(),
        '[' => part[1..].split(']').next()?.to_owned(),
        _ => part.split(|c: char| c.is_whitespace()).next()?.to_owned(),
    };
    let keyword = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];
    (!keyword.contains(&name.to_ascii_uppercase().as_str()) || part.starts_with(['"', '`', '[']))
        .then_some(name)
}

/// Where `NOT NULL` is in a column definition, outside quotes and parentheses.
fn not_null_at(part: &str) -> Option<(usize, usize)> {
    let upper = part.to_ascii_uppercase();
    let mut from = 0;
    while let Some(at) = upper[from..].find("NOT NULL") {
        let at = from + at;
        let before_it = &part[..at];
        let inside = before_it.matches('(').count() != before_it.matches(')').count()
            || before_it.matches('\'').count() % 2 == 1
            || before_it.matches('"').count() % 2 == 1;
        let before = at == 0 || !upper.as_bytes()[at - 1].is_ascii_alphanumeric();
        if !inside && before {
            // Take the space before it too.
            let start = if at > 0 && part.as_bytes()[at - 1] == b' ' {
                at - 1
            } else {
                at
            };
            return Some((start, at + "NOT NULL".len() - start));
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_its_change() {
        let sql = marker("la'bels", "name", true);
        assert!(sql.starts_with(MARKER));
        assert_eq!(
            parse_marker(&sql),
            Some(("la'bels".into(), "name".into(), true))
        );
    }

    #[test]
    fn a_definition_with_its_column_changed() {
        let definition = "CREATE TABLE \"labels\" (id INTEGER PRIMARY KEY, \"name\" varchar(40) \
                          DEFAULT 'a, NOT NULL' CHECK (length(name) > 0), note TEXT NOT NULL, \
                          CONSTRAINT c UNIQUE (name, note)) STRICT";
        assert_eq!(
            changed_definition(definition, "name", true).unwrap(),
            "CREATE TABLE \"labels\" (id INTEGER PRIMARY KEY, \"name\" varchar(40) DEFAULT 'a, \
             NOT NULL' CHECK (length(name) > 0) NOT NULL, note TEXT NOT NULL, CONSTRAINT c \
             UNIQUE (name, note)) STRICT"
        );
        assert_eq!(
            changed_definition(definition, "NOTE", false).unwrap(),
            "CREATE TABLE \"labels\" (id INTEGER PRIMARY KEY, \"name\" varchar(40) DEFAULT 'a, \
             NOT NULL' CHECK (length(name) > 0), note TEXT, CONSTRAINT c UNIQUE (name, note)) \
             STRICT"
        );
        // A NOT NULL after a parenthesised check is found and removed.
        let required = "CREATE TABLE t (name TEXT CHECK (length(name) > 0) NOT NULL)";
        assert_eq!(
            changed_definition(required, "name", false).unwrap(),
            "CREATE TABLE t (name TEXT CHECK (length(name) > 0))"
        );
        assert!(
            changed_definition(definition, "missing", true)
                .unwrap_err()
                .contains("no column \"missing\"")
        );
    }
}
