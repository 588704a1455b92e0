//! `DataContext`: what a data migration's `async fn` gets, a real database connection.

use sea_query::{
    DeleteStatement, InsertStatement, MysqlQueryBuilder, PostgresQueryBuilder, SelectStatement,
    SqliteQueryBuilder, UpdateStatement,
};
use sea_query_sqlx::SqlxBinder;
use sqlx::{AssertSqlSafe, MySqlConnection, PgConnection, SqliteConnection};

use crate::{Backend, Result};

/// The connection a data migration runs on, inside the migration's transaction unless the
/// migration says `transaction = false`.
///
/// Values in sea-query statements are sent as bound parameters, never spliced into SQL.
///
/// ```no_run
/// use shiplap::prelude::*;
/// use shiplap::sea_query::{Expr, Query};
///
/// #[derive(Iden)]
/// enum Users { Table, Active }
///
/// async fn activate_all(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
///     let update = Query::update()
///         .table(Users::Table)
///         .value(Users::Active, true)
///         .to_owned();
///     let rows = ctx.execute(update).await?;
///     println!("{rows} users activated on {}", ctx.backend());
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct DataContext<'c> {
    conn: Conn<'c>,
}

#[derive(Debug)]
enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
    MySql(&'c mut MySqlConnection),
}

/// A sea-query data statement that [`DataContext::execute`] runs with bound values.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the variants are named after the sea-query types they hold
pub enum Dml {
    Insert(InsertStatement),
    Update(UpdateStatement),
    Delete(DeleteStatement),
    Select(SelectStatement),
}

macro_rules! dml_from {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Dml {
            fn from(statement: $ty) -> Self {
                Dml::$variant(statement)
            }
        }
        impl From<&mut $ty> for Dml {
            fn from(statement: &mut $ty) -> Self {
                Dml::$variant(statement.clone())
            }
        }
    )*};
}

dml_from!(
    Insert(InsertStatement),
    Update(UpdateStatement),
    Delete(DeleteStatement),
    Select(SelectStatement)
);

impl<'c> DataContext<'c> {
    /// A context on a SQLite connection (or transaction: `&mut *tx`).
    pub fn sqlite(conn: &'c mut SqliteConnection) -> Self {
        DataContext {
            conn: Conn::Sqlite(conn),
        }
    }

    /// A context on a PostgreSQL connection (or transaction).
    pub fn postgres(conn: &'c mut PgConnection) -> Self {
        DataContext {
            conn: Conn::Postgres(conn),
        }
    }

    /// A context on a MySQL or MariaDB connection (or transaction).
    pub fn mysql(conn: &'c mut MySqlConnection) -> Self {
        DataContext {
            conn: Conn::MySql(conn),
        }
    }

    /// The backend the migration runs on.
    pub fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
            Conn::MySql(_) => Backend::MySql,
        }
    }

    /// Runs a sea-query statement, its values bound as parameters; returns the number of
    /// rows it affected.
    pub async fn execute(&mut self, statement: impl Into<Dml>) -> Result<u64> {
        let statement = statement.into();
        let rows = match &mut self.conn {
            Conn::Sqlite(conn) => {
                let (sql, values) = build(&statement, Backend::Sqlite);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **conn)
                    .await?
                    .rows_affected()
            }
            Conn::Postgres(conn) => {
                let (sql, values) = build(&statement, Backend::Postgres);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **conn)
                    .await?
                    .rows_affected()
            }
            Conn::MySql(conn) => {
                let (sql, values) = build(&statement, Backend::MySql);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **conn)
                    .await?
                    .rows_affected()
            }
        };
        Ok(rows)
    }

    /// Runs raw SQL (one or several statements, no parameters); returns the number of
    /// rows affected.
    pub async fn execute_raw(&mut self, sql: &str) -> Result<u64> {
        let sql = AssertSqlSafe(sql.to_owned());
        let rows = match &mut self.conn {
            Conn::Sqlite(conn) => sqlx::raw_sql(sql)
                .execute(&mut **conn)
                .await?
                .rows_affected(),
            Conn::Postgres(conn) => sqlx::raw_sql(sql)
                .execute(&mut **conn)
                .await?
                .rows_affected(),
            Conn::MySql(conn) => sqlx::raw_sql(sql)
                .execute(&mut **conn)
                .await?
                .rows_affected(),
        };
        Ok(rows)
    }
}

fn build(statement: &Dml, backend: Backend) -> (String, sea_query_sqlx::SqlxValues) {
    macro_rules! with_builder {
        ($builder:expr) => {
            match statement {
                Dml::Insert(s) => s.build_sqlx($builder),
                Dml::Update(s) => s.build_sqlx($builder),
                Dml::Delete(s) => s.build_sqlx($builder),
                Dml::Select(s) => s.build_sqlx($builder),
            }
        };
    }
    match backend {
        Backend::Sqlite => with_builder!(SqliteQueryBuilder),
        Backend::Postgres => with_builder!(PostgresQueryBuilder),
        Backend::MySql => with_builder!(MysqlQueryBuilder),
    }
}
