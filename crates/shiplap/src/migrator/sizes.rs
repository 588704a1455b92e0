//! The live database's table sizes (for `lint --database-url`).

use crate::backend::Backend;
use crate::backend::{mysql, postgres, sqlite};
use crate::error::Result;
use crate::lint::{TableSize, TableSizes};

use super::Migrator;

impl Migrator<'_> {
    /// Each table's estimated rows and bytes, read from the database's statistics (cheap:
    /// no table is scanned). Reads only.
    pub async fn table_sizes(&self) -> Result<TableSizes> {
        let mut conn = self.connect().await?;
        let sizes = async {
            let mut sizes = TableSizes::new();
            match self.backend() {
                Backend::Postgres | Backend::MySql => {
                    let query = if self.backend() == Backend::Postgres {
                        postgres::TABLE_SIZES
                    } else {
                        mysql::TABLE_SIZES
                    };
                    for line in conn.strings(query).await? {
                        let mut parts = line.split('\t');
                        let name = parts.next().unwrap_or_default().to_owned();
                        let rows = parts.next().and_then(|r| r.parse().ok());
                        let bytes = parts.next().and_then(|b| b.parse().ok());
                        sizes.insert(name, TableSize::new(rows, bytes));
                    }
                }
                Backend::Sqlite => {
                    for name in conn.strings(sqlite::TABLES).await? {
                        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                        let rows = match conn.strings(&sqlite::estimated_rows(&quoted)).await {
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
