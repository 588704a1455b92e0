//! The live database's table sizes: for `lint --database-url`, and around each migration
//! `up` applies (recorded in its history row, shown by `history`).

use std::collections::HashMap;

use crate::backend::connection::Connection;
use crate::history::sizes_text;
use crate::render::Direction;
use crate::split::touched_tables;

use super::plan::Planned;

use crate::backend::Backend;
use crate::backend::{mysql, postgres};
use crate::error::Result;
use crate::history::TableSize;

use super::Migrator;

impl Migrator<'_> {
    #[cfg(feature = "lint")]
    /// Each table's estimated rows and bytes, read from the database's statistics (cheap:
    /// no table is scanned). Reads only.
    pub async fn table_sizes(&self) -> Result<HashMap<String, TableSize>> {
        let mut conn = self.connect().await?;
        let sizes = async {
            let mut sizes = HashMap::new();
            match self.backend() {
                Backend::Postgres | Backend::MySql => {
                    let query = if self.backend() == Backend::Postgres {
                        postgres::table_sizes(None)
                    } else {
                        mysql::table_sizes(None)
                    };
                    sizes = read_sizes(&mut conn, &query).await?;
                }
                Backend::Sqlite => {
                    for name in conn.strings(crate::backend::sqlite::TABLES).await? {
                        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                        let rows = match conn
                            .strings(&crate::backend::sqlite::estimated_rows(&quoted))
                            .await
                        {
                            Ok(rows) => rows.first().and_then(|r| r.parse().ok()),
                            Err(_) => None,
                        };
                        sizes.insert(name, TableSize::new(rows, None));
                    }
                }
            }
            Ok::<_, crate::error::Error>(sizes)
        }
        .await;
        self.finish(conn, sizes.is_err()).await;
        sizes
    }
}

/// The sizes a [`table_sizes`](crate::backend::postgres::table_sizes) query reads.
async fn read_sizes(conn: &mut Connection<'_>, query: &str) -> Result<HashMap<String, TableSize>> {
    let mut sizes = HashMap::new();
    for line in conn.strings(query).await? {
        let mut parts = line.split('\t');
        let name = parts.next().unwrap_or_default().to_owned();
        let rows = parts.next().and_then(|r| r.parse().ok());
        let bytes = parts.next().and_then(|b| b.parse().ok());
        sizes.insert(name, TableSize::new(rows, bytes));
    }
    Ok(sizes)
}

/// `names` as an SQL list of string literals; on PostgreSQL each also folded to lower
/// case, the name an unquoted identifier gets.
fn sql_list(names: &[String], backend: Backend) -> String {
    let mut list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    if backend == Backend::Postgres {
        list.extend(
            names
                .iter()
                .filter(|n| n.to_lowercase() != **n)
                .map(|n| format!("'{}'", n.to_lowercase())),
        );
    }
    list.join(", ")
}

impl Migrator<'_> {
    /// Gives each schema migration of an `up` plan the SQL its history write records as
    /// `sizes`: the tables its statements name, as they were when the run began (one
    /// query for the whole run) or as the migration before it in the run left them, and
    /// as they are after it, read by the history write in the migration's own
    /// transaction. PostgreSQL and MySQL only: their catalogs answer at once, and a table
    /// that does not exist is simply not in the answer (SQLite would have to count).
    /// A failed read costs the sizes, never the run.
    pub(super) async fn with_sizes(
        &self,
        conn: &mut Connection<'_>,
        mut plan: Vec<Planned>,
    ) -> Vec<Planned> {
        let backend = self.backend();
        if backend == Backend::Sqlite {
            return plan;
        }
        let touched: Vec<Vec<String>> = plan
            .iter()
            .map(|p| {
                if p.rendered.direction != Direction::Up {
                    return Vec::new();
                }
                touched_tables(
                    p.rendered.statements.iter().map(|s| s.sql.as_str()),
                    backend,
                )
                .into_iter()
                // Names that would need escaping are not worth the risk.
                .filter(|t| !t.contains(['\'', '\\', '\t', '\n']))
                .collect()
            })
            .collect();
        let mut all: Vec<String> = touched.iter().flatten().cloned().collect();
        all.sort();
        all.dedup();
        if all.is_empty() {
            return plan;
        }
        let list = sql_list(&all, backend);
        let query = match backend {
            Backend::Postgres => postgres::table_sizes(Some(&list)),
            _ => mysql::table_sizes(Some(&list)),
        };
        let before = match read_sizes(conn, &query).await {
            Ok(before) => before,
            Err(e) => {
                tracing::warn!(
                    "cannot read the tables' sizes, so the history will not have them: {e}"
                );
                return plan;
            }
        };
        let mut seen: Vec<&String> = Vec::new();
        for (p, tables) in plan.iter_mut().zip(&touched) {
            if tables.is_empty() {
                continue;
            }
            let mut text = String::new();
            for table in tables {
                if seen.contains(&table) {
                    text.push_str(&sizes_text::unknown(table));
                    continue;
                }
                seen.push(table);
                let lower = table.to_lowercase();
                let found = before.get_key_value(table).or_else(|| {
                    before
                        .get_key_value(&lower)
                        .filter(|_| backend == Backend::Postgres)
                });
                text.push_str(&match found {
                    Some((name, size)) => sizes_text::before(name, Some(*size)),
                    None => sizes_text::before(table, None),
                });
            }
            let list = sql_list(tables, backend);
            p.sizes = Some(match backend {
                Backend::Postgres => format!("'{text}' || {}", postgres::sizes_now(&list, "a")),
                _ => format!("CONCAT('{text}', {})", mysql::sizes_now(&list, "a")),
            });
        }
        plan
    }
}
