//! Connecting: one connection to the database a URL names, retried with backoff while
//! the server is not up yet, and errors that say what went wrong without the password.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
#[cfg(feature = "mysql")]
use sqlx::MySql;
#[cfg(feature = "postgres")]
use sqlx::Postgres;
use sqlx::Row as _;
#[cfg(feature = "_sqlite")]
use sqlx::Sqlite;

use crate::backend::Backend;
use crate::database_url::DatabaseUrl;
use crate::error::{Error, Result};

/// A connection shiplap opened, took from the application's pool, or was lent.
#[derive(Debug)]
pub(crate) enum Handle<'c, DB: sqlx::Database> {
    /// Opened from a URL: closed at the end.
    Owned(DB::Connection),
    /// From the application's pool: returned to it at the end (closed after a failure).
    Pooled(sqlx::pool::PoolConnection<DB>),
    /// The application's own connection, lent for the call: left open.
    Lent(tokio::sync::MappedMutexGuard<'c, DB::Connection>),
}

impl<DB: sqlx::Database> Deref for Handle<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            Handle::Owned(c) => c,
            Handle::Pooled(c) => c,
            Handle::Lent(c) => c,
        }
    }
}

impl<DB: sqlx::Database> DerefMut for Handle<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Handle::Owned(c) => c,
            Handle::Pooled(c) => c,
            Handle::Lent(c) => c,
        }
    }
}

impl<DB: sqlx::Database> Handle<'_, DB> {
    /// Whether shiplap opened the connection (and so may leave settings on it).
    pub(crate) fn owned(&self) -> bool {
        matches!(self, Handle::Owned(_))
    }

    /// Ends shiplap's use of the connection: an owned one is closed, a pooled one returned
    /// (or closed, when `discard`: after a failure it may be mid-transaction or hold the
    /// lock), a lent one left as it is.
    async fn finish(self, discard: bool) {
        use sqlx::Connection as _;
        match self {
            Handle::Owned(c) => {
                let _ = c.close().await;
            }
            Handle::Pooled(c) if discard => {
                let _ = c.close().await;
            }
            Handle::Pooled(c) => drop(c),
            Handle::Lent(_) => {}
        }
    }
}

/// A connection to one of the backends.
#[derive(Debug)]
pub(crate) enum Connection<'c> {
    /// SQLite.
    #[cfg(feature = "_sqlite")]
    Sqlite(Handle<'c, Sqlite>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(Handle<'c, Postgres>),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    MySql(Handle<'c, MySql>),
    /// Never made: keeps the lifetime used when no backend is compiled in.
    #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
    #[allow(dead_code)]
    None(std::convert::Infallible, std::marker::PhantomData<&'c ()>),
}

impl Connection<'_> {
    /// The backend connected to.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "_sqlite")]
            Connection::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Connection::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Connection::MySql(_) => Backend::MySql,
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Connection::None(never, _) => crate::backend::connection::absurd(never),
        }
    }
}

/// How often to try, and how long to wait in between.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Retry {
    /// Retries after the first attempt (0: try once).
    pub retries: u32,
    /// The wait before the first retry; it doubles each time, up to 5 s.
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            retries: 0,
            first_delay: Duration::from_millis(250),
        }
    }
}

/// Connects to `url`. Errors that may pass (the server refuses connections or is still
/// starting) are retried per `retry`; a wrong password or an unknown database fails at
/// once. An SQLite file is created only when `create`, and its absence otherwise is an error
/// saying so (a mistyped path must not read as an empty database).
pub(crate) async fn connect(
    url: &DatabaseUrl,
    retry: Retry,
    create: bool,
) -> Result<Connection<'static>> {
    if !create && let Some(file) = missing_sqlite_file(url)? {
        return Err(Error::InvalidArgument {
            message: format!(
                "there is no SQLite database at {} ({url}): check the path; `migrate up` \
                 creates it, no other command does",
                file.display()
            ),
        });
    }
    if !built_in(url.backend()) {
        return Err(not_built_in(url));
    }
    let mut delay = retry.first_delay;
    let mut attempt = 1;
    loop {
        match connect_once(url, create).await {
            Ok(conn) => return Ok(conn),
            Err(source) if attempt <= retry.retries && is_transient(&source) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            // The driver refused the URL itself: a bad argument, not a failure to connect.
            Err(source @ sqlx::Error::Configuration(_)) => return Err(invalid(url, &source)),
            Err(source) => {
                return Err(Error::Connect {
                    url: url.to_string(),
                    attempts: attempt,
                    hint: hint(&source),
                    source,
                });
            }
        }
    }
}

/// The file of an SQLite URL when it does not exist (`None` when it does, in memory, or on
/// the other backends).
pub(crate) fn missing_sqlite_file(url: &DatabaseUrl) -> Result<Option<std::path::PathBuf>> {
    if url.backend() != Backend::Sqlite {
        return Ok(None);
    }
    #[cfg(feature = "_sqlite")]
    {
        use std::str::FromStr as _;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url.expose())
            .map_err(|e| invalid(url, &e))?;
        let file = options.get_filename();
        let in_memory = crate::backend::sqlite::in_memory(&file.to_string_lossy());
        Ok((!in_memory && !file.exists()).then(|| file.to_path_buf()))
    }
    #[cfg(not(feature = "_sqlite"))]
    Err(not_built_in(url))
}

/// Whether this build has the backend's driver (its cargo feature).
pub(crate) fn built_in(backend: Backend) -> bool {
    match backend {
        Backend::Sqlite => cfg!(feature = "_sqlite"),
        Backend::Postgres => cfg!(feature = "postgres"),
        Backend::MySql => cfg!(feature = "mysql"),
    }
}

/// The error for a URL of a backend this build leaves out.
fn not_built_in(url: &DatabaseUrl) -> Error {
    let backend = url.backend();
    Error::InvalidDatabaseUrl {
        url: url.to_string(),
        reason: format!(
            "this build of shiplap has no {backend} driver: enable its cargo feature \
             `{}` (shiplap = {{ features = [\"{}\"] }})",
            backend.name(),
            backend.name()
        ),
    }
}

/// The error for a URL the driver refuses.
fn invalid(url: &DatabaseUrl, error: &sqlx::Error) -> Error {
    Error::InvalidDatabaseUrl {
        url: url.to_string(),
        reason: match error {
            sqlx::Error::Configuration(e) => e.to_string(),
            e => e.to_string(),
        },
    }
}

async fn connect_once(url: &DatabaseUrl, create: bool) -> Result<Connection<'static>, sqlx::Error> {
    match url.backend() {
        #[cfg(feature = "_sqlite")]
        Backend::Sqlite => crate::backend::sqlite::connect(url.expose(), create)
            .await
            .map(|c| Connection::Sqlite(Handle::Owned(c))),
        #[cfg(feature = "postgres")]
        Backend::Postgres => crate::backend::postgres::connect(url.expose())
            .await
            .map(|c| Connection::Postgres(Handle::Owned(c))),
        #[cfg(feature = "mysql")]
        Backend::MySql => crate::backend::mysql::connect(url.expose())
            .await
            .map(|c| Connection::MySql(Handle::Owned(c))),
        #[allow(unreachable_patterns)]
        _ => {
            let _ = create;
            Err(sqlx::Error::Configuration(
                not_built_in(url).to_string().into(),
            ))
        }
    }
}

/// Whether trying again later may succeed: the server is not reachable (yet), or says
/// it is starting up.
fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // Postgres: cannot connect now (starting up, shutting down), too many clients;
            // MySQL (sqlx reports its SQLSTATE): too many connections.
            Some("57P03" | "53300" | "08004")
        ),
        _ => false,
    }
}

/// One line on what to check, for the errors people meet most.
fn hint(error: &sqlx::Error) -> String {
    let code = error
        .as_database_error()
        .and_then(|db| db.code())
        .map(|c| c.into_owned());
    match (error, code.as_deref()) {
        (_, Some("28P01" | "28000")) => "check the user name and password".into(),
        (_, Some("3D000" | "42000")) => "check the database name: it does not exist".into(),
        (sqlx::Error::Io(io), _) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "nothing listens at that host and port: is the server running? \
             (--connect-retries waits for one that is starting)"
                .into()
        }
        (sqlx::Error::Io(_), _) => "check the host name and port".into(),
        _ => String::new(),
    }
}

/// The column name of [`Connection::markers`]' marker rows: migration `i` of the script is
/// done (committed).
pub(crate) const MARKER: &str = "shiplap_applied";

/// The column of a marker row saying how long its migration took, by the database's
/// clock, from its `BEGIN` to after its `COMMIT`.
pub(crate) const ELAPSED: &str = "shiplap_ms";

/// A marker row of [`Connection::markers`]: migration `done` of the script committed,
/// taking `ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    pub(crate) done: i64,
    pub(crate) ms: Option<i64>,
}

/// The value of a match arm that cannot be reached (a build without any backend).
#[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
pub(crate) fn absurd<T>(never: impl std::borrow::Borrow<std::convert::Infallible>) -> T {
    match *never.borrow() {}
}

/// Runs `$body` with `$conn` bound to the backend's `&mut Handle`.
macro_rules! on_conn {
    ($self:expr, $conn:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "_sqlite")]
            Connection::Sqlite($conn) => $body,
            #[cfg(feature = "postgres")]
            Connection::Postgres($conn) => $body,
            #[cfg(feature = "mysql")]
            Connection::MySql($conn) => $body,
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Connection::None(never, _) => crate::backend::connection::absurd(never),
        }
    };
}

impl Connection<'_> {
    /// Runs SQL text (one statement or several, no parameters); returns rows affected.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_conn!(self, c => Ok(sqlx::raw_sql(sql).execute(&mut **c).await?.rows_affected()))
    }

    /// Runs SQL text of several statements (no parameters), as a stream with one item per
    /// statement result or row: a [`Marker`] for a row with an integer column named
    /// [`MARKER`] (and [`ELAPSED`]), `None` for anything else. The first error ends it: the
    /// statements after the failing one do not run.
    pub(crate) fn markers(
        &mut self,
        sql: &str,
    ) -> BoxStream<'_, Result<Option<Marker>, sqlx::Error>> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_conn!(self, c => sqlx::raw_sql(sql)
            .fetch_many(&mut **c)
            .map(|item| {
                Ok(item?.right().and_then(|row| {
                    let done = row.try_get(MARKER).ok()?;
                    Some(Marker { done, ms: row.try_get(ELAPSED).ok() })
                }))
            })
            .boxed())
    }

    /// Whether the query returns at least one row.
    ///
    /// On PostgreSQL, shiplap's own queries go by the simple protocol (no prepared
    /// statements): behind a pooler in transaction mode (PgBouncer), the statement a client
    /// prepared may be on another server connection by the time it runs, and named ones of
    /// different clients collide.
    pub(crate) async fn has_rows(&mut self, sql: &str) -> Result<bool, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            #[cfg(feature = "postgres")]
            Connection::Postgres(c) => {
                Ok(sqlx::raw_sql(sql).fetch_optional(&mut **c).await?.is_some())
            }
            #[allow(unreachable_patterns)] // a build with PostgreSQL alone
            _ => {
                on_conn!(self, c => Ok(sqlx::query(sql).fetch_optional(&mut **c).await?.is_some()))
            }
        }
    }

    /// Every row, each column as text (`None` for NULL): the query casts its columns to
    /// text. Sent without preparing it, like [`Self::has_rows`].
    pub(crate) async fn rows(
        &mut self,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        use sqlx::Row as _;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_conn!(self, c => {
            let rows = sqlx::raw_sql(sql).fetch_all(&mut **c).await?;
            rows.iter()
                .map(|row| (0..row.len()).map(|i| row.try_get::<Option<String>, _>(i)).collect())
                .collect()
        })
    }

    /// The first column of every row, as text.
    pub(crate) async fn strings(&mut self, sql: &str) -> Result<Vec<String>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            #[cfg(feature = "postgres")]
            Connection::Postgres(c) => sqlx::raw_sql(sql)
                .fetch_all(&mut **c)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect(),
            #[allow(unreachable_patterns)] // a build with PostgreSQL alone
            _ => on_conn!(self, c => sqlx::query_scalar(sql).fetch_all(&mut **c).await),
        }
    }

    /// The first column of every row, as text, of a query with one text parameter (`$1` on
    /// PostgreSQL, where it is written in as a hex-decoded literal: see [`Self::has_rows`]).
    pub(crate) async fn strings_bound(
        &mut self,
        sql: &str,
        value: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        if self.backend() == Backend::Postgres {
            let literal = format!(
                "convert_from(decode('{}', 'hex'), 'UTF8')",
                hex::encode(value.as_bytes())
            );
            return self.strings(&sql.replace("$1", &literal)).await;
        }
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_conn!(self, c => sqlx::query_scalar(sql).bind(value).fetch_all(&mut **c).await)
    }

    /// The file of an SQLite database, resolved by SQLite itself and then through
    /// symbolic links, so that every spelling of one file names it the same way (`None`
    /// for an in-memory or temporary database, and on the other backends).
    pub(crate) async fn sqlite_file(&mut self) -> Option<std::path::PathBuf> {
        if self.backend() != Backend::Sqlite {
            return None;
        }
        let file = self
            .strings(crate::backend::sqlite::MAIN_FILE)
            .await
            .ok()?
            .into_iter()
            .next()?;
        if file.is_empty() {
            return None;
        }
        let path = std::path::PathBuf::from(file);
        Some(std::fs::canonicalize(&path).unwrap_or(path))
    }

    /// A data migration's view of this connection.
    pub(crate) fn data_context(&mut self) -> crate::data::DataContext<'_> {
        match self {
            #[cfg(feature = "_sqlite")]
            Connection::Sqlite(c) => crate::data::DataContext::sqlite(c),
            #[cfg(feature = "postgres")]
            Connection::Postgres(c) => crate::data::DataContext::postgres(c),
            #[cfg(feature = "mysql")]
            Connection::MySql(c) => crate::data::DataContext::mysql(c),
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Connection::None(never, _) => crate::backend::connection::absurd(never),
        }
    }

    /// Ends shiplap's use of the connection: closes one it opened, returns one from a pool
    /// (closes it instead after a failure, `discard`), leaves one it was lent.
    pub(crate) async fn finish(self, discard: bool) {
        on_conn!(self, c => c.finish(discard).await)
    }

    /// Whether shiplap opened the connection itself (not the application's pool or
    /// connection, which must get it back as it was).
    pub(crate) fn owned(&self) -> bool {
        on_conn!(self, c => c.owned())
    }
}
