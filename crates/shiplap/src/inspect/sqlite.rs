//! SQLite's catalog: `sqlite_master` and the table pragmas.

use super::{Column, DatabaseSchema, ForeignKey, Index, View, cell, literal, text};
use crate::backend::connection::Connection;

pub(super) async fn read(conn: &mut Connection<'_>) -> Result<DatabaseSchema, sqlx::Error> {
    let mut schema = DatabaseSchema::default();
    let objects = conn
        .rows(
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .await?;
    for row in &objects {
        let (kind, name, sql) = (text(row, 0), text(row, 1), text(row, 3));
        match kind.as_str() {
            "table" => {
                let table = schema.tables.entry(name.clone()).or_default();
                for (i, (check_name, expression)) in checks(&sql).into_iter().enumerate() {
                    let check_name = check_name.unwrap_or_else(|| format!("check {}", i + 1));
                    table.checks.insert(check_name, expression);
                }
                let autoincrement = sql.to_ascii_uppercase().contains("AUTOINCREMENT");
                let columns = conn
                    .rows(&format!(
                        "SELECT name, type, CAST(\"notnull\" AS TEXT), dflt_value, CAST(pk AS TEXT), \
                         CAST(hidden AS TEXT) FROM pragma_table_xinfo({}) ORDER BY cid",
                        literal(&name)
                    ))
                    .await?;
                let mut key: Vec<(u32, String)> = Vec::new();
                for column in &columns {
                    let pk: u32 = text(column, 4).parse().unwrap_or(0);
                    if pk > 0 {
                        key.push((pk, text(column, 0)));
                    }
                    let hidden = text(column, 5);
                    table.columns.push(Column {
                        name: text(column, 0),
                        data_type: text(column, 1),
                        nullable: text(column, 2) == "0" && pk == 0,
                        default: cell(column, 3),
                        generated: match hidden.as_str() {
                            "2" => Some("generated always (virtual)".into()),
                            "3" => Some("generated always (stored)".into()),
                            _ if pk > 0 && autoincrement => Some("autoincrement".into()),
                            _ => None,
                        },
                    });
                }
                key.sort();
                table.primary_key = key.into_iter().map(|(_, name)| name).collect();

                let keys = conn
                    .rows(&format!(
                        "SELECT CAST(id AS TEXT), \"table\", \"from\", \"to\", on_update, on_delete \
                         FROM pragma_foreign_key_list({}) ORDER BY id, seq",
                        literal(&name)
                    ))
                    .await?;
                let mut by_id: Vec<(String, ForeignKey)> = Vec::new();
                for key in &keys {
                    let id = text(key, 0);
                    if by_id.last().is_none_or(|(last, _)| *last != id) {
                        by_id.push((
                            id,
                            ForeignKey {
                                columns: Vec::new(),
                                target: text(key, 1),
                                target_columns: Vec::new(),
                                on_delete: text(key, 5),
                                on_update: text(key, 4),
                                deferrable: None,
                            },
                        ));
                    }
                    let (_, fk) = by_id.last_mut().expect("pushed above");
                    fk.columns.push(text(key, 2));
                    fk.target_columns
                        .push(cell(key, 3).unwrap_or_else(|| "(primary key)".into()));
                }
                for (_, fk) in by_id {
                    // SQLite keeps no names: a key is named by its columns and target.
                    let name = format!("({}) -> {}", fk.columns.join(", "), fk.target);
                    table.foreign_keys.insert(name, fk);
                }
            }
            "view" => {
                schema.views.insert(
                    name,
                    View {
                        materialized: false,
                        definition: sql.split_whitespace().collect::<Vec<_>>().join(" "),
                    },
                );
            }
            "trigger" => {
                schema.triggers.insert(
                    format!("{}.{name}", text(row, 2)),
                    sql.split_whitespace().collect::<Vec<_>>().join(" "),
                );
            }
            _ => {}
        }
    }

    // Indexes, once every table is known (the primary key's own is left out).
    for row in objects.iter().filter(|row| text(row, 0) == "table") {
        let table_name = text(row, 1);
        let list = conn
            .rows(&format!(
                "SELECT name, CAST(\"unique\" AS TEXT), origin FROM pragma_index_list({})",
                literal(&table_name)
            ))
            .await?;
        for index in &list {
            let (name, origin) = (text(index, 0), text(index, 2));
            if origin == "pk" {
                continue;
            }
            let columns = conn
                .rows(&format!(
                    "SELECT name FROM pragma_index_xinfo({}) WHERE key = 1 ORDER BY seqno",
                    literal(&name)
                ))
                .await?
                .iter()
                .map(|c| cell(c, 0).unwrap_or_else(|| "(expression)".into()))
                .collect();
            let predicate = objects
                .iter()
                .find(|o| text(o, 0) == "index" && text(o, 1) == name)
                .and_then(|o| partial_predicate(&text(o, 3)));
            if let Some(table) = schema.tables.get_mut(&table_name) {
                table.indexes.insert(
                    name,
                    Index {
                        columns,
                        unique: text(index, 1) == "1",
                        predicate,
                        method: None,
                        valid: true,
                    },
                );
            }
        }
    }
    Ok(schema)
}

/// A partial index's `WHERE` predicate, from its `CREATE INDEX` text.
fn partial_predicate(sql: &str) -> Option<String> {
    let upper = sql.to_ascii_uppercase();
    let at = upper.rfind(" WHERE ")?;
    let close = upper.rfind(')')?;
    (at > close).then(|| sql[at + " WHERE ".len()..].trim().to_owned())
}

/// The CHECK constraints of a `CREATE TABLE` text: each with its name when it has one
/// (`CONSTRAINT name CHECK (...)`), and its expression as written.
fn checks(sql: &str) -> Vec<(Option<String>, String)> {
    let code = blank_quoted(sql);
    let upper = code.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = upper[from..].find("CHECK").map(|i| i + from) {
        from = at + "CHECK".len();
        let before_ok = at == 0 || !is_word(bytes[at - 1]);
        let rest = upper[from..].trim_start();
        if !before_ok || !rest.starts_with('(') {
            continue;
        }
        let open = upper.len() - rest.len();
        let mut depth = 0;
        let mut close = None;
        for (i, b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else { break };
        let expression = sql[open + 1..close].trim().to_owned();
        // `CONSTRAINT name CHECK`: the two words before it.
        let words: Vec<&str> = sql[..at].split_whitespace().rev().take(2).collect();
        let name = match words.as_slice() {
            [name, constraint] if constraint.eq_ignore_ascii_case("CONSTRAINT") => {
                Some(name.trim_matches(['"', '`', '[', ']']).to_owned())
            }
            _ => None,
        };
        found.push((name, expression));
        from = close;
    }
    found
}

/// `sql` with the inside of its quoted texts and names blanked out, byte for byte (so
/// that positions still point into `sql`).
fn blank_quoted(sql: &str) -> String {
    let mut out = Vec::with_capacity(sql.len());
    let mut quote: Option<u8> = None;
    for &b in sql.as_bytes() {
        match quote {
            Some(q) if b == q => {
                quote = None;
                out.push(b);
            }
            Some(_) => out.push(b' '),
            None => {
                if matches!(b, b'\'' | b'"' | b'`') {
                    quote = Some(b);
                }
                out.push(b);
            }
        }
    }
    String::from_utf8(out).expect("ASCII outside quotes, blanks inside")
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::{checks, partial_predicate};

    #[test]
    fn checks_are_read_from_the_table_text() {
        let sql = r#"CREATE TABLE "t" ("a" integer CHECK (a > 0), "note" text DEFAULT 'CHECK (x)', CONSTRAINT "t_b" CHECK ((b IN (1, 2))))"#;
        assert_eq!(
            checks(sql),
            [
                (None, "a > 0".to_owned()),
                (Some("t_b".to_owned()), "(b IN (1, 2))".to_owned())
            ]
        );
    }

    #[test]
    fn a_partial_index_predicate() {
        assert_eq!(
            partial_predicate(r#"CREATE INDEX "i" ON "t" ("a") WHERE a IS NOT NULL"#).as_deref(),
            Some("a IS NOT NULL")
        );
        assert_eq!(partial_predicate(r#"CREATE INDEX "i" ON "t" ("a")"#), None);
    }
}
