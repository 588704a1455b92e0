//! Connecting: one connection to the database a URL names, retried with backoff while
//! the server is not up yet, and errors that say what went wrong without the password.

use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, MySqlConnection, PgConnection, Row as _, SqliteConnection};

use crate::{Backend, DatabaseUrl, Error, Result};

/// A connection to one of the backends.
#[derive(Debug)]
#[non_exhaustive]
pub enum Connection {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Postgres(PgConnection),
    /// MySQL or MariaDB.
    MySql(MySqlConnection),
}

impl Connection {
    /// The backend connected to.
    pub fn backend(&self) -> Backend {
        match self {
            Connection::Sqlite(_) => Backend::Sqlite,
            Connection::Postgres(_) => Backend::Postgres,
            Connection::MySql(_) => Backend::MySql,
        }
    }
}

/// How often to try, and how long to wait in between.
#[derive(Debug, Clone, Copy)]
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
/// once. An SQLite file is created when missing.
pub async fn connect(url: &DatabaseUrl, retry: Retry) -> Result<Connection> {
    connect_to(url, retry, true).await
}

/// [`connect`]; an SQLite file is created only when `create`, and its absence otherwise is
/// an error saying so (a mistyped path must not read as an empty database).
pub(crate) async fn connect_to(
    url: &DatabaseUrl,
    retry: Retry,
    create: bool,
) -> Result<Connection> {
    if !create && let Some(file) = missing_sqlite_file(url)? {
        return Err(Error::InvalidArgument {
            message: format!(
                "there is no SQLite database at {} ({url}): check the path; `migrate up` \
                 creates it, no other command does",
                file.display()
            ),
        });
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
    let options = SqliteConnectOptions::from_str(url.expose()).map_err(|e| invalid(url, &e))?;
    let file = options.get_filename();
    let text = file.to_string_lossy();
    let in_memory = text.is_empty() || text == ":memory:" || text.starts_with("file::memory:");
    Ok((!in_memory && !file.exists()).then(|| file.to_path_buf()))
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

async fn connect_once(url: &DatabaseUrl, create: bool) -> Result<Connection, sqlx::Error> {
    Ok(match url.backend() {
        Backend::Sqlite => Connection::Sqlite(
            SqliteConnectOptions::from_str(url.expose())?
                .create_if_missing(create)
                .busy_timeout(Duration::from_secs(5))
                .disable_statement_logging()
                .connect()
                .await?,
        ),
        Backend::Postgres => {
            let options = PgConnectOptions::from_str(url.expose())?;
            // So that `pg_stat_activity`, and a runner waiting for the lock, can tell us.
            let options = match options.get_application_name() {
                Some(_) => options,
                None => options.application_name("shiplap"),
            };
            Connection::Postgres(options.disable_statement_logging().connect().await?)
        }
        Backend::MySql => Connection::MySql(
            MySqlConnectOptions::from_str(url.expose())?
                .disable_statement_logging()
                .connect()
                .await?,
        ),
    })
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

type HistoryTuple = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
);

macro_rules! on_conn {
    ($self:expr, $conn:ident => $body:expr) => {
        match $self {
            Connection::Sqlite($conn) => $body,
            Connection::Postgres($conn) => $body,
            Connection::MySql($conn) => $body,
        }
    };
}

impl Connection {
    /// Runs SQL text (one statement or several, no parameters); returns rows affected.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_conn!(self, c => Ok(sqlx::raw_sql(sql).execute(&mut *c).await?.rows_affected()))
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
            .fetch_many(&mut *c)
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
            Connection::Postgres(c) => {
                Ok(sqlx::raw_sql(sql).fetch_optional(&mut *c).await?.is_some())
            }
            _ => on_conn!(self, c => Ok(sqlx::query(sql).fetch_optional(&mut *c).await?.is_some())),
        }
    }

    /// The first column of every row, as text.
    pub(crate) async fn strings(&mut self, sql: &str) -> Result<Vec<String>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Connection::Postgres(c) => sqlx::raw_sql(sql)
                .fetch_all(&mut *c)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect(),
            _ => on_conn!(self, c => sqlx::query_scalar(sql).fetch_all(&mut *c).await),
        }
    }

    /// The first column of every row, as text, of a query with one text parameter (`$1` on
    /// PostgreSQL, where it is written in as a hex-decoded literal: see [`Self::has_rows`]).
    pub(crate) async fn strings_bound(
        &mut self,
        sql: &str,
        value: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        if let Connection::Postgres(_) = self {
            let literal = format!(
                "convert_from(decode('{}', 'hex'), 'UTF8')",
                crate::render::hex(value.as_bytes())
            );
            return self.strings(&sql.replace("$1", &literal)).await;
        }
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_conn!(self, c => sqlx::query_scalar(sql).bind(value).fetch_all(&mut *c).await)
    }

    /// The rows of the history table, by version (the layout row too).
    pub(crate) async fn history(
        &mut self,
        table: &crate::history::HistoryTable,
    ) -> Result<Vec<crate::HistoryRow>, sqlx::Error> {
        let rows: Vec<HistoryTuple> = match self {
            Connection::Sqlite(c) => {
                let sql = sqlx::AssertSqlSafe(table.select_all_by_column());
                let row = sqlx::query(sql).fetch_one(&mut *c).await?;
                let count: i64 = row.try_get(0)?;
                let columns = (1..row.len())
                    .map(|i| row.try_get(i))
                    .collect::<Result<Vec<Option<String>>, _>>()?;
                if let Some(rows) = crate::history::rows_from_columns(count, &columns) {
                    return Ok(rows);
                }
                let sql = sqlx::AssertSqlSafe(table.select_all_as_json());
                let json: String = sqlx::query_scalar(sql).fetch_one(&mut *c).await?;
                serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?
            }
            Connection::Postgres(c) => {
                let sql = sqlx::AssertSqlSafe(table.select_all());
                sqlx::raw_sql(sql)
                    .fetch_all(&mut *c)
                    .await?
                    .iter()
                    .map(<HistoryTuple as sqlx::FromRow<'_, sqlx::postgres::PgRow>>::from_row)
                    .collect::<Result<_, _>>()?
            }
            Connection::MySql(c) => {
                let sql = sqlx::AssertSqlSafe(table.select_all());
                sqlx::query_as(sql).fetch_all(&mut *c).await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| crate::HistoryRow {
                version: r.0,
                name: r.1,
                source_checksum: r.2,
                sql_checksum: r.3,
                applied_at: r.4,
                duration_ms: r.5,
                state: crate::RowState::parse(&r.6),
                shiplap_version: r.7,
                rows_affected: r.8,
                raw_checksum: r.9,
            })
            .collect())
    }

    /// The file of an SQLite database, resolved by SQLite itself and then through
    /// symbolic links, so that every spelling of one file names it the same way (`None`
    /// for an in-memory or temporary database, and on the other backends).
    pub(crate) async fn sqlite_file(&mut self) -> Option<std::path::PathBuf> {
        let Connection::Sqlite(c) = self else {
            return None;
        };
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_optional(&mut *c)
                .await
                .ok()
                .flatten()?;
        if file.is_empty() {
            return None;
        }
        let path = std::path::PathBuf::from(file);
        Some(std::fs::canonicalize(&path).unwrap_or(path))
    }

    /// A data migration's view of this connection.
    pub(crate) fn data_context(&mut self) -> crate::DataContext<'_> {
        match self {
            Connection::Sqlite(c) => crate::DataContext::sqlite(c),
            Connection::Postgres(c) => crate::DataContext::postgres(c),
            Connection::MySql(c) => crate::DataContext::mysql(c),
        }
    }

    /// Closes the connection cleanly.
    pub(crate) async fn close(self) {
        use sqlx::Connection as _;
        let _ = on_conn!(self, c => c.close().await);
    }
}
