//! One SQL statement of a migration, as sea-query built it or as raw SQL, and its
//! rendering for each backend.

use sea_query::{
    DeleteStatement, ForeignKeyCreateStatement, ForeignKeyDropStatement, IndexCreateStatement,
    IndexDropStatement, InsertStatement, MysqlQueryBuilder, PostgresQueryBuilder,
    QueryStatementWriter, SchemaStatementBuilder, SelectStatement, SqliteQueryBuilder,
    TableAlterStatement, TableCreateStatement, TableDropStatement, TableRenameStatement,
    TableTruncateStatement, UpdateStatement,
};

use crate::backend::Backend;
use crate::panic::catch;

/// A statement a migration step runs: any sea-query schema or data statement, or raw SQL.
///
/// Every sea-query statement type converts into it with `From`, so the methods of
/// [`Schema`](crate::schema::Schema) and [`NeedsDown::down`](crate::schema::NeedsDown::down) take
/// `impl Into<Statement>`.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[allow(missing_docs)] // the variants are named after the sea-query types they hold
pub enum Statement {
    CreateTable(TableCreateStatement),
    AlterTable(TableAlterStatement),
    DropTable(TableDropStatement),
    RenameTable(TableRenameStatement),
    TruncateTable(TableTruncateStatement),
    CreateIndex(IndexCreateStatement),
    DropIndex(IndexDropStatement),
    CreateForeignKey(ForeignKeyCreateStatement),
    DropForeignKey(ForeignKeyDropStatement),
    Insert(InsertStatement),
    Update(UpdateStatement),
    Delete(DeleteStatement),
    /// A query: the body of a check ([`crate::Schema::check`]).
    Select(SelectStatement),
    Raw(Raw),
    /// What sea-query has no statement for, rendered by shiplap: a constraint added,
    /// validated or dropped on an existing table, a column's NOT NULL, a default
    /// partition ([`crate::Schema::add_check`] and the like).
    TableChange(crate::schema::TableChange),
}

/// Raw SQL: one text for every backend, or one per backend.
///
/// The text may hold several statements (a `$$` function body, say): it is sent as one
/// script. An empty text means "nothing to do on this backend".
///
/// ```
/// use shiplap::Raw;
/// let same_everywhere = Raw::new("UPDATE users SET active = TRUE");
/// let per_backend = Raw::per_backend()
///     .postgres("CREATE EXTENSION IF NOT EXISTS citext")
///     .mysql("")
///     .sqlite("");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raw {
    sqlite: Option<String>,
    postgres: Option<String>,
    mysql: Option<String>,
}

impl Raw {
    /// The same SQL on every backend.
    pub fn new(sql: impl Into<String>) -> Self {
        let sql = sql.into();
        Raw {
            sqlite: Some(sql.clone()),
            postgres: Some(sql.clone()),
            mysql: Some(sql),
        }
    }

    /// SQL given per backend with [`Raw::sqlite`], [`Raw::postgres`] and [`Raw::mysql`].
    /// Rendering for a backend with no text is an error naming the migration and step.
    pub fn per_backend() -> Self {
        Raw::default()
    }

    /// The SQL for SQLite.
    pub fn sqlite(mut self, sql: impl Into<String>) -> Self {
        self.sqlite = Some(sql.into());
        self
    }

    /// The SQL for PostgreSQL.
    pub fn postgres(mut self, sql: impl Into<String>) -> Self {
        self.postgres = Some(sql.into());
        self
    }

    /// The SQL for MySQL and MariaDB.
    pub fn mysql(mut self, sql: impl Into<String>) -> Self {
        self.mysql = Some(sql.into());
        self
    }

    /// The SQL for one backend, if given.
    pub fn get(&self, backend: Backend) -> Option<&str> {
        match backend {
            Backend::Sqlite => self.sqlite.as_deref(),
            Backend::Postgres => self.postgres.as_deref(),
            Backend::MySql => self.mysql.as_deref(),
        }
    }
}

impl From<&str> for Raw {
    fn from(sql: &str) -> Self {
        Raw::new(sql)
    }
}

impl From<String> for Raw {
    fn from(sql: String) -> Self {
        Raw::new(sql)
    }
}

macro_rules! from_statements {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for Statement {
            fn from(statement: $ty) -> Self {
                Statement::$variant(statement)
            }
        }
        impl From<&mut $ty> for Statement {
            /// Copies the statement at the end of a sea-query builder chain (`Table::create()...`).
            fn from(statement: &mut $ty) -> Self {
                Statement::$variant(statement.clone())
            }
        })*
    };
}

from_statements!(
    CreateTable(TableCreateStatement),
    AlterTable(TableAlterStatement),
    DropTable(TableDropStatement),
    RenameTable(TableRenameStatement),
    TruncateTable(TableTruncateStatement),
    CreateIndex(IndexCreateStatement),
    DropIndex(IndexDropStatement),
    CreateForeignKey(ForeignKeyCreateStatement),
    DropForeignKey(ForeignKeyDropStatement),
    Insert(InsertStatement),
    Update(UpdateStatement),
    Delete(DeleteStatement),
    Select(SelectStatement),
    Raw(Raw),
);

impl From<&str> for Statement {
    fn from(sql: &str) -> Self {
        Statement::Raw(Raw::new(sql))
    }
}

impl From<String> for Statement {
    fn from(sql: String) -> Self {
        Statement::Raw(Raw::new(sql))
    }
}

impl Statement {
    /// Whether it is raw SQL: the user's own text, not rendered by sea-query.
    pub(crate) fn is_raw(&self) -> bool {
        matches!(self, Statement::Raw(_))
    }

    /// What the statement does, for messages: `create table`, `raw SQL`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Statement::CreateTable(_) => "create table",
            Statement::AlterTable(_) => "alter table",
            Statement::DropTable(_) => "drop table",
            Statement::RenameTable(_) => "rename table",
            Statement::TruncateTable(_) => "truncate table",
            Statement::CreateIndex(_) => "create index",
            Statement::DropIndex(_) => "drop index",
            Statement::CreateForeignKey(_) => "create foreign key",
            Statement::DropForeignKey(_) => "drop foreign key",
            Statement::Insert(_) => "insert",
            Statement::Update(_) => "update",
            Statement::Delete(_) => "delete",
            Statement::Select(_) => "select",
            Statement::Raw(_) => "raw SQL",
            Statement::TableChange(_) => "table change",
        }
    }

    /// The SQL for `backend`: `Ok(None)` when there is nothing to run there (an empty raw
    /// text), `Err` with the reason when the statement has no form on that backend.
    ///
    /// Values in data statements are inlined as literals, escaped by sea-query: a
    /// migration's SQL is fixed text that can be reviewed and checksummed.
    pub fn render(&self, backend: Backend) -> Result<Option<String>, String> {
        let sql = match self {
            Statement::Raw(raw) => {
                let Some(sql) = raw.get(backend) else {
                    return Err(format!(
                        "the raw SQL has no text for {backend}: add `.{backend}(...)` to it, \
                         or put the step in `only_on` for the other backends"
                    ));
                };
                sql.trim().to_owned()
            }
            Statement::CreateTable(s) => {
                crate::portable::resolve(catch(|| schema_sql(s, backend))?, backend)
            }
            Statement::AlterTable(s) => {
                crate::portable::resolve(catch(|| schema_sql(s, backend))?, backend)
            }
            Statement::DropTable(s) => catch(|| schema_sql(s, backend))?,
            Statement::RenameTable(s) => catch(|| schema_sql(s, backend))?,
            Statement::TruncateTable(s) => catch(|| schema_sql(s, backend))?,
            Statement::CreateIndex(s) => {
                let sql = catch(|| schema_sql(s, backend))?;
                // sea-query writes a partial index's WHERE for MySQL too, which rejects it
                // when the migration runs: say so when it is rendered instead.
                if backend == Backend::MySql && sql.contains(" WHERE ") {
                    return Err(
                        "MySQL and MariaDB have no partial indexes (sea-query renders \
                         the WHERE, which they reject): put the step in \
                         `only_on(&[Backend::Postgres, Backend::Sqlite], ..)` and give MySQL \
                         its own index (a full one, or on a generated column)"
                            .into(),
                    );
                }
                sql
            }
            Statement::DropIndex(s) => catch(|| schema_sql(s, backend))?,
            Statement::CreateForeignKey(s) => catch(|| schema_sql(s, backend))?,
            Statement::DropForeignKey(s) => catch(|| schema_sql(s, backend))?,
            Statement::Insert(s) => catch(|| query_sql(s, backend))?,
            Statement::Update(s) => catch(|| query_sql(s, backend))?,
            Statement::Delete(s) => catch(|| query_sql(s, backend))?,
            Statement::Select(s) => catch(|| query_sql(s, backend))?,
            Statement::TableChange(c) => return c.render(backend),
        };
        Ok((!sql.is_empty()).then_some(sql))
    }
}

/// A sea-query schema statement as SQL for `backend`.
pub(crate) fn schema_sql(statement: &impl SchemaStatementBuilder, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => statement.to_string(SqliteQueryBuilder),
        Backend::Postgres => statement.to_string(PostgresQueryBuilder),
        Backend::MySql => statement.to_string(MysqlQueryBuilder),
    }
}

/// A sea-query data statement as SQL for `backend`, values inlined.
pub(crate) fn query_sql(statement: &impl QueryStatementWriter, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => statement.to_string(SqliteQueryBuilder),
        Backend::Postgres => statement.to_string(PostgresQueryBuilder),
        Backend::MySql => statement.to_string(MysqlQueryBuilder),
    }
}

#[cfg(test)]
mod tests {
    use sea_query::{Alias, Table};

    use super::*;

    #[test]
    fn a_partial_index_is_refused_for_mysql_when_rendered() {
        use sea_query::{ConditionalStatement, Expr, ExprTrait, Index};
        let index = Statement::from(
            Index::create()
                .name("pending")
                .table(Alias::new("orders"))
                .col(Alias::new("id"))
                .and_where(Expr::col(Alias::new("state")).eq("pending"))
                .to_owned(),
        );
        assert!(
            index
                .render(Backend::Postgres)
                .unwrap()
                .unwrap()
                .contains(" WHERE ")
        );
        let error = index.render(Backend::MySql).unwrap_err();
        assert!(
            error.starts_with("MySQL and MariaDB have no partial indexes"),
            "{error}"
        );
    }

    #[test]
    fn raw_sql_per_backend() {
        let raw = Statement::from(Raw::per_backend().postgres("SELECT 1").sqlite("  "));
        assert_eq!(raw.render(Backend::Postgres), Ok(Some("SELECT 1".into())));
        assert_eq!(raw.render(Backend::Sqlite), Ok(None));
        let err = raw.render(Backend::MySql).unwrap_err();
        assert!(err.contains("no text for mysql"), "{err}");
    }

    #[test]
    fn sea_query_panics_become_errors() {
        let alter = Table::alter()
            .table(Alias::new("t"))
            .drop_column(Alias::new("a"))
            .drop_column(Alias::new("b"))
            .to_owned();
        let statement = Statement::from(alter);
        assert_eq!(
            statement.render(Backend::Sqlite),
            Err("Sqlite doesn't support multiple alter options".to_owned())
        );
        assert_eq!(
            statement.render(Backend::Postgres).unwrap().unwrap(),
            r#"ALTER TABLE "t" DROP COLUMN "a", DROP COLUMN "b""#
        );
    }
}
