//! `DataContext`: what a data migration's `async fn` gets, a real database connection,
//! and [`Backfill`], which updates a large table in short, resumable batches.

use std::sync::Arc;
use std::time::Duration;

use sea_query::{DeleteStatement, InsertStatement, SelectStatement, UpdateStatement, Value};
use sqlx::AssertSqlSafe;
#[cfg(feature = "mysql")]
use sqlx::MySqlConnection;
#[cfg(feature = "postgres")]
use sqlx::PgConnection;
#[cfg(feature = "_sqlite")]
use sqlx::SqliteConnection;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::history::HistoryTable;
use crate::lock::LockCheck;
use crate::migration::Migration;
use crate::progress::Reporter;

pub use backfill::{Backfill, BackfillReport};
use placeholders::numbered_placeholders;
use values::Bound;

/// The connection a data migration runs on, inside the migration's transaction unless the
/// migration says `transaction = false`.
///
/// Values are always sent as bound parameters, never spliced into SQL: in sea-query
/// statements, and in raw SQL through [`execute_sql`](Self::execute_sql) and
/// [`fetch_all_sql`](Self::fetch_all_sql).
///
/// ```no_run
/// use shiplap::prelude::*;
///
/// #[derive(Iden)]
/// enum Users { Table, Id, Email, Active }
///
/// async fn activate_all(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
///     let inactive: Vec<(i64, String)> = ctx
///         .fetch_all(
///             Query::select()
///                 .columns([Users::Id, Users::Email])
///                 .from(Users::Table)
///                 .and_where(Expr::col(Users::Active).eq(false)),
///         )
///         .await?;
///     ctx.log(format!("activating {} users", inactive.len()));
///     ctx.execute(Query::update().table(Users::Table).value(Users::Active, true))
///         .await?;
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct DataContext<'c> {
    conn: Conn<'c>,
    run: Option<RunInfo>,
    rows: u64,
}

/// What the migrator tells a data migration's context about the run.
#[derive(Debug)]
pub(crate) struct RunInfo {
    pub(crate) migration: &'static Migration,
    /// Whether the migration's function runs inside a transaction.
    pub(crate) in_transaction: bool,
    pub(crate) history: HistoryTable,
    pub(crate) reporter: Arc<Reporter>,
    /// Overrides every backfill's pause (`--backfill-pause`).
    pub(crate) pause: Option<Duration>,
    /// Checked before each backfill batch: the run must still hold its lock.
    pub(crate) lock: LockCheck,
    /// The environment the run is in (`--env`), if one was selected.
    pub(crate) environment: Option<String>,
}

#[derive(Debug)]
enum Conn<'c> {
    #[cfg(feature = "_sqlite")]
    Sqlite(&'c mut SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(&'c mut PgConnection),
    #[cfg(feature = "mysql")]
    MySql(&'c mut MySqlConnection),
    #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
    #[allow(dead_code)]
    None(std::convert::Infallible, std::marker::PhantomData<&'c ()>),
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

/// A type a row can be read into on every backend this build has: tuples of plain types,
/// or a struct with `#[derive(sqlx::FromRow)]` (`shiplap::sqlx` is the sqlx shiplap
/// uses; the derive needs sqlx's `derive` feature in your own dependency on it).
pub trait FetchRow: row::FromSqlite + row::FromPostgres + row::FromMySql + Send + Unpin {}

impl<T> FetchRow for T where T: row::FromSqlite + row::FromPostgres + row::FromMySql + Send + Unpin {}

/// One bound of [`FetchRow`] per backend: `sqlx::FromRow` of its rows when the backend
/// is built in, nothing otherwise.
#[doc(hidden)]
pub mod row {
    macro_rules! from_row {
        ($feature:literal, $name:ident, $row:ty) => {
            #[doc = concat!("`sqlx::FromRow` of `", stringify!($row), "` (with the `", $feature, "` feature).")]
            #[cfg(feature = $feature)]
            pub trait $name: for<'r> sqlx::FromRow<'r, $row> {}
            #[cfg(feature = $feature)]
            impl<T: for<'r> sqlx::FromRow<'r, $row>> $name for T {}
            #[doc = concat!("Nothing: this build has no `", $feature, "` feature.")]
            #[cfg(not(feature = $feature))]
            pub trait $name {}
            #[cfg(not(feature = $feature))]
            impl<T> $name for T {}
        };
    }
    from_row!("_sqlite", FromSqlite, sqlx::sqlite::SqliteRow);
    from_row!("postgres", FromPostgres, sqlx::postgres::PgRow);
    from_row!("mysql", FromMySql, sqlx::mysql::MySqlRow);
}

/// Runs `$body` with `$conn` bound to the backend's connection, `$builder` to its
/// sea-query builder.
macro_rules! on_backend {
    ($self:expr, $conn:ident, $builder:ident => $body:expr) => {
        match &mut $self.conn {
            #[cfg(feature = "_sqlite")]
            Conn::Sqlite($conn) => {
                let $builder = ::sea_query::SqliteQueryBuilder;
                $body
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres($conn) => {
                let $builder = ::sea_query::PostgresQueryBuilder;
                $body
            }
            #[cfg(feature = "mysql")]
            Conn::MySql($conn) => {
                let $builder = ::sea_query::MysqlQueryBuilder;
                $body
            }
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Conn::None(never, _) => match *never {},
        }
    };
}

#[allow(dead_code)] // not used when no backend is built in
fn build(statement: &Dml, builder: impl sea_query::QueryBuilder) -> Result<(String, Bound)> {
    let (sql, values) = match statement {
        Dml::Insert(s) => s.build(builder),
        Dml::Update(s) => s.build(builder),
        Dml::Delete(s) => s.build(builder),
        Dml::Select(s) => s.build(builder),
    };
    Ok((sql, Bound::new(values)?))
}

impl<'c> DataContext<'c> {
    fn new(conn: Conn<'c>) -> Self {
        DataContext {
            conn,
            run: None,
            rows: 0,
        }
    }

    /// A context on a SQLite connection (or transaction: `&mut *tx`).
    #[cfg(feature = "_sqlite")]
    pub fn sqlite(conn: &'c mut SqliteConnection) -> Self {
        Self::new(Conn::Sqlite(conn))
    }

    /// A context on a PostgreSQL connection (or transaction).
    #[cfg(feature = "postgres")]
    pub fn postgres(conn: &'c mut PgConnection) -> Self {
        Self::new(Conn::Postgres(conn))
    }

    /// A context on a MySQL or MariaDB connection (or transaction).
    #[cfg(feature = "mysql")]
    pub fn mysql(conn: &'c mut MySqlConnection) -> Self {
        Self::new(Conn::MySql(conn))
    }

    pub(crate) fn with_run(mut self, run: RunInfo) -> Self {
        self.run = Some(run);
        self
    }

    /// The backend the migration runs on.
    pub fn backend(&self) -> Backend {
        match self.conn {
            #[cfg(feature = "_sqlite")]
            Conn::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Conn::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Conn::MySql(_) => Backend::MySql,
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Conn::None(never, _) => match never {},
        }
    }

    /// Rows affected so far by this context's statements and backfills (a resumed
    /// backfill counts the rows of the run that was interrupted); recorded in the history
    /// table when the migration finishes.
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }

    /// The environment the run is in (`--env NAME`, `SHIPLAP_ENV`, or
    /// [`Migrator::environment`](crate::Migrator::environment)); `None` when none was
    /// selected. Schema migrations render the same SQL everywhere (their snapshots and
    /// checksums depend on it); a data migration can differ by environment:
    ///
    /// ```no_run
    /// # async fn f(ctx: &mut shiplap::DataContext<'_>) -> shiplap::Result<()> {
    /// if ctx.environment() == Some("development") {
    ///     ctx.execute_raw("INSERT INTO users (name) VALUES ('test user')").await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn environment(&self) -> Option<&str> {
        self.run.as_ref()?.environment.as_deref()
    }

    /// Writes a line to the migration's log (stderr; a JSON event with `--format json`).
    pub fn log(&self, message: impl AsRef<str>) {
        match &self.run {
            Some(run) => run.reporter.message(message.as_ref()),
            None => tracing::info!("{}", message.as_ref()),
        }
    }

    /// Reports progress: `done` rows of `total` (when known). Shown as a progress bar on a
    /// terminal, a line every few seconds otherwise. [`Backfill`] reports by itself.
    pub fn progress(&self, done: u64, total: Option<u64>) {
        if let Some(run) = &self.run {
            run.reporter.progress(done, total);
        }
    }

    /// Runs a sea-query statement, its values bound as parameters; returns the number of
    /// rows it affected.
    pub async fn execute(&mut self, statement: impl Into<Dml>) -> Result<u64> {
        let statement = statement.into();
        let persist = self.persistent();
        let rows = on_backend!(self, conn, builder => {
            let (sql, values) = build(&statement, builder)?;
            sqlx::query_with(AssertSqlSafe(sql), values)
                .persistent(persist)
                .execute(&mut **conn)
                .await?
                .rows_affected()
        });
        self.rows += rows;
        Ok(rows)
    }

    /// Runs raw SQL (one or several statements, no parameters); returns the number of
    /// rows affected. For values, use [`execute_sql`](Self::execute_sql).
    pub async fn execute_raw(&mut self, sql: &str) -> Result<u64> {
        let rows = self.raw(sql).await?;
        self.rows += rows;
        Ok(rows)
    }

    /// Runs raw SQL; returns rows affected, without counting them as the migration's.
    async fn raw(&mut self, sql: &str) -> Result<u64> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(on_backend!(self, conn, _builder => sqlx::raw_sql(sql)
            .execute(&mut **conn)
            .await?
            .rows_affected()))
    }

    /// Runs one raw SQL statement with `?` placeholders, each bound to the next of
    /// `values` (shiplap numbers them `$1, $2, ...` on PostgreSQL). Returns rows affected.
    ///
    /// ```no_run
    /// # async fn f(ctx: &mut shiplap::DataContext<'_>) -> shiplap::Result<()> {
    /// ctx.execute_sql("UPDATE users SET plan = ? WHERE plan = ?", ["pro".into(), "gold".into()])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn execute_sql(
        &mut self,
        sql: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<u64> {
        let (sql, values) = self.placeholders(sql, values)?;
        let persist = self.persistent();
        let rows = on_backend!(self, conn, _builder => sqlx::query_with(AssertSqlSafe(sql), values)
                .persistent(persist)
            .execute(&mut **conn)
            .await?
            .rows_affected());
        self.rows += rows;
        Ok(rows)
    }

    /// Reads every row of a sea-query `SELECT` into `T`.
    pub async fn fetch_all<T: FetchRow>(&mut self, select: impl Into<Dml>) -> Result<Vec<T>> {
        let select = select.into();
        let persist = self.persistent();
        Ok(on_backend!(self, conn, builder => {
            let (sql, values) = build(&select, builder)?;
            sqlx::query_as_with(AssertSqlSafe(sql), values)
                .persistent(persist)
                .fetch_all(&mut **conn)
                .await?
        }))
    }

    /// Reads the first row of a sea-query `SELECT` into `T`, if there is one.
    pub async fn fetch_optional<T: FetchRow>(
        &mut self,
        select: impl Into<Dml>,
    ) -> Result<Option<T>> {
        let select = select.into();
        let persist = self.persistent();
        Ok(on_backend!(self, conn, builder => {
            let (sql, values) = build(&select, builder)?;
            sqlx::query_as_with(AssertSqlSafe(sql), values)
                .persistent(persist)
                .fetch_optional(&mut **conn)
                .await?
        }))
    }

    /// Reads every row of a raw SQL query with `?` placeholders (as in
    /// [`execute_sql`](Self::execute_sql)) into `T`.
    pub async fn fetch_all_sql<T: FetchRow>(
        &mut self,
        sql: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<T>> {
        let (sql, values) = self.placeholders(sql, values)?;
        let persist = self.persistent();
        Ok(
            on_backend!(self, conn, _builder => sqlx::query_as_with(AssertSqlSafe(sql), values)
                .persistent(persist)
                .fetch_all(&mut **conn)
                .await?),
        )
    }

    /// The SQL for the backend (on PostgreSQL, `?` numbered) and its values; refuses a
    /// count of values that does not match the placeholders.
    fn placeholders(
        &self,
        sql: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<(String, Bound)> {
        let values: Vec<Value> = values.into_iter().collect();
        let sql = match self.backend() {
            Backend::Postgres => {
                let (numbered, count) = numbered_placeholders(sql);
                if count != values.len() {
                    return Err(Error::Data {
                        message: format!(
                            "the SQL has {count} `?` placeholder(s) but {} value(s) were given \
                             (write jsonb's `?` operator as `??`): {sql}",
                            values.len()
                        ),
                    });
                }
                numbered
            }
            _ => sql.to_owned(),
        };
        Ok((sql, Bound::new(values)?))
    }

    /// Whether statements are prepared once and kept (not on PostgreSQL: behind a pooler in
    /// transaction mode, a kept statement of one client meets another's of the same name on
    /// a server connection they share).
    fn persistent(&self) -> bool {
        self.backend() != Backend::Postgres
    }
}

// After `on_backend!`, which they use.
mod backfill;
mod placeholders;
mod values;
