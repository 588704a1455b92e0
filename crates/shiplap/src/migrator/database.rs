//! Where a migrator runs: a URL, the application's pool, or a connection it lends; and
//! taking a connection from there and giving it back as it was.

use std::sync::Arc;

use crate::backend::Backend;
use crate::backend::connection::{Connection, Handle, connect};
use crate::backend::{mysql, postgres};
use crate::database_url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::lock::lease::Lease;

use super::Migrator;

/// The database a [`Migrator`] runs on: a URL (shiplap opens one connection per command),
/// or the application's pool (shiplap takes one connection from it per command and gives
/// it back as it found it). A pool of the sqlx that shiplap re-exports: `shiplap::sqlx`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Database {
    /// A URL.
    Url(DatabaseUrl),
    /// An SQLite pool (an in-memory database needs a pool that keeps its connection:
    /// `max_connections(1)` and no idle timeout, or a shared cache).
    #[cfg(feature = "_sqlite")]
    SqlitePool(sqlx::SqlitePool),
    /// A PostgreSQL pool.
    #[cfg(feature = "postgres")]
    PgPool(sqlx::PgPool),
    /// A MySQL or MariaDB pool.
    #[cfg(feature = "mysql")]
    MySqlPool(sqlx::MySqlPool),
}

impl From<DatabaseUrl> for Database {
    fn from(url: DatabaseUrl) -> Self {
        Database::Url(url)
    }
}

macro_rules! database_from_pool {
    ($feature:literal, $variant:ident, $pool:ty) => {
        #[cfg(feature = $feature)]
        impl From<$pool> for Database {
            fn from(pool: $pool) -> Self {
                Database::$variant(pool)
            }
        }
        #[cfg(feature = $feature)]
        impl From<&$pool> for Database {
            fn from(pool: &$pool) -> Self {
                Database::$variant(pool.clone())
            }
        }
    };
}

database_from_pool!("_sqlite", SqlitePool, sqlx::SqlitePool);
database_from_pool!("postgres", PgPool, sqlx::PgPool);
database_from_pool!("mysql", MySqlPool, sqlx::MySqlPool);

impl Database {
    /// How the database is named in messages: the URL without its password, or for a pool
    /// its host, port, user and database.
    pub(super) fn label(&self) -> DatabaseUrl {
        match self {
            Database::Url(url) => url.clone(),
            #[cfg(feature = "_sqlite")]
            Database::SqlitePool(pool) => DatabaseUrl::described(
                Backend::Sqlite,
                format!(
                    "sqlite://{} (the application's pool)",
                    pool.connect_options().get_filename().display()
                ),
            ),
            #[cfg(feature = "postgres")]
            Database::PgPool(pool) => {
                let o = pool.connect_options();
                let database = o.get_database().unwrap_or_default();
                server(
                    Backend::Postgres,
                    o.get_username(),
                    o.get_host(),
                    o.get_port(),
                    database,
                )
            }
            #[cfg(feature = "mysql")]
            Database::MySqlPool(pool) => {
                let o = pool.connect_options();
                let database = o.get_database().unwrap_or_default();
                server(
                    Backend::MySql,
                    o.get_username(),
                    o.get_host(),
                    o.get_port(),
                    database,
                )
            }
        }
    }
}

/// A server pool's description: its backend's scheme, user, host, port and database
/// (never a password: the pool's options are read, not its URL).
#[allow(dead_code)] // used by the server backends this build has
fn server(backend: Backend, user: &str, host: &str, port: u16, database: &str) -> DatabaseUrl {
    DatabaseUrl::described(
        backend,
        format!("{backend}://{user}@{host}:{port}/{database} (the application's pool)"),
    )
}

/// A connection the application lends a [`Migrator`] ([`Migrator::on_connection`]): the
/// migrator runs on it and leaves it open, with its session settings as they were.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lent<'c> {
    /// An SQLite connection (an in-memory database, say).
    #[cfg(feature = "_sqlite")]
    Sqlite(&'c mut sqlx::SqliteConnection),
    /// A PostgreSQL connection.
    #[cfg(feature = "postgres")]
    Postgres(&'c mut sqlx::PgConnection),
    /// A MySQL or MariaDB connection.
    #[cfg(feature = "mysql")]
    MySql(&'c mut sqlx::MySqlConnection),
    #[doc(hidden)]
    #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
    None(std::convert::Infallible, std::marker::PhantomData<&'c ()>),
}

macro_rules! lent_from {
    ($feature:literal, $variant:ident, $conn:ty) => {
        #[cfg(feature = $feature)]
        impl<'c> From<&'c mut $conn> for Lent<'c> {
            fn from(conn: &'c mut $conn) -> Self {
                Lent::$variant(conn)
            }
        }
    };
}

lent_from!("_sqlite", Sqlite, sqlx::SqliteConnection);
lent_from!("postgres", Postgres, sqlx::PgConnection);
lent_from!("mysql", MySql, sqlx::MySqlConnection);

impl<'c> Lent<'c> {
    pub(super) fn target(self) -> (Backend, Target<'c>) {
        fn shared<C>(conn: &mut C) -> Arc<tokio::sync::Mutex<&mut C>> {
            Arc::new(tokio::sync::Mutex::new(conn))
        }
        match self {
            #[cfg(feature = "_sqlite")]
            Lent::Sqlite(c) => (Backend::Sqlite, Target::LentSqlite(shared(c))),
            #[cfg(feature = "postgres")]
            Lent::Postgres(c) => (Backend::Postgres, Target::LentPostgres(shared(c))),
            #[cfg(feature = "mysql")]
            Lent::MySql(c) => (Backend::MySql, Target::LentMySql(shared(c))),
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Lent::None(never, _) => match never {},
        }
    }
}

/// A lent connection, used by one command at a time.
type Shared<'c, C> = Arc<tokio::sync::Mutex<&'c mut C>>;

/// Where a migrator's connections come from.
#[derive(Debug, Clone)]
pub(super) enum Target<'c> {
    Database(Database),
    #[cfg(feature = "_sqlite")]
    LentSqlite(Shared<'c, sqlx::SqliteConnection>),
    #[cfg(feature = "postgres")]
    LentPostgres(Shared<'c, sqlx::PgConnection>),
    #[cfg(feature = "mysql")]
    LentMySql(Shared<'c, sqlx::MySqlConnection>),
    #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
    #[allow(dead_code)]
    None(std::convert::Infallible, std::marker::PhantomData<&'c ()>),
}

impl Migrator<'_> {
    pub(super) async fn open(&self, create: bool) -> Result<Connection<'_>> {
        let pool_error = |source: sqlx::Error| Error::Connect {
            url: self.label.to_string(),
            attempts: 1,
            hint: "the application's pool gave no connection".into(),
            source,
        };
        match &self.target {
            Target::Database(Database::Url(url)) => {
                let mut conn = connect(url, self.options.connect, create).await?;
                // On a Galera node, read what the whole cluster committed (the history
                // another node's runner just wrote). Harmless on MariaDB without Galera;
                // MySQL has no such setting (the error is ignored). Only on connections
                // shiplap opened: on an application's it would outlive the call.
                if url.backend() == Backend::MySql {
                    let _ = conn.execute(mysql::SYNC_WAIT).await;
                }
                Ok(conn)
            }
            #[cfg(feature = "_sqlite")]
            Target::Database(Database::SqlitePool(pool)) => Ok(Connection::Sqlite(Handle::Pooled(
                pool.acquire().await.map_err(pool_error)?,
            ))),
            #[cfg(feature = "postgres")]
            Target::Database(Database::PgPool(pool)) => Ok(Connection::Postgres(Handle::Pooled(
                pool.acquire().await.map_err(pool_error)?,
            ))),
            #[cfg(feature = "mysql")]
            Target::Database(Database::MySqlPool(pool)) => Ok(Connection::MySql(Handle::Pooled(
                pool.acquire().await.map_err(pool_error)?,
            ))),
            #[cfg(feature = "_sqlite")]
            Target::LentSqlite(c) => Ok(Connection::Sqlite(Handle::Lent(
                tokio::sync::MutexGuard::map(c.lock().await, |c| &mut **c),
            ))),
            #[cfg(feature = "postgres")]
            Target::LentPostgres(c) => Ok(Connection::Postgres(Handle::Lent(
                tokio::sync::MutexGuard::map(c.lock().await, |c| &mut **c),
            ))),
            #[cfg(feature = "mysql")]
            Target::LentMySql(c) => Ok(Connection::MySql(Handle::Lent(
                tokio::sync::MutexGuard::map(c.lock().await, |c| &mut **c),
            ))),
            #[cfg(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")))]
            Target::None(never, _) => match *never {},
        }
    }

    /// A second connection, for a lease's heartbeat: not for a lent connection (there is
    /// no second one) or an in-memory SQLite database (a second one is another database);
    /// without one, the lease is renewed before each migration instead.
    pub(super) async fn heartbeat_connection(&self, sqlite_file: bool) -> Option<Connection<'_>> {
        let possible = matches!(self.target, Target::Database(_))
            && (self.backend() != Backend::Sqlite || sqlite_file);
        if !possible {
            return None;
        }
        match self.open(false).await {
            Ok(conn) => Some(conn),
            Err(e) => {
                tracing::warn!(
                    "no second connection for the lease's heartbeat ({e}): the lease is \
                     renewed before each migration instead, so one migration must not outlast it"
                );
                None
            }
        }
    }

    /// Runs `work` while a lease's heartbeat renews it on `beat` (reopened by it when
    /// killed or cut), until `work` is done.
    pub(super) async fn beating<'s, T>(
        &'s self,
        lease: &Lease,
        beat: &mut Connection<'s>,
        work: impl Future<Output = T>,
    ) -> T {
        let (done, stop) = tokio::sync::watch::channel(false);
        let heartbeat = lease.heartbeat(beat, || self.open(false), stop);
        let work = async {
            let outcome = work.await;
            let _ = done.send(true);
            outcome
        };
        tokio::join!(work, heartbeat).0
    }

    /// Ends the use of a connection: one shiplap opened is closed; the application's
    /// (pooled or lent) gets back the session settings shiplap changed, and a pooled one
    /// that failed, or could not be reset, is closed rather than returned.
    pub(super) async fn finish(&self, conn: Connection<'_>, failed: bool) {
        let mut discard = failed;
        if !conn.owned() {
            let mut conn = conn;
            let reset = match self.backend() {
                Backend::Postgres => Some(postgres::RESET_SESSION),
                Backend::MySql => Some(mysql::RESET_SESSION),
                Backend::Sqlite => None,
            };
            if let Some(sql) = reset
                && let Err(e) = conn.execute(sql).await
            {
                tracing::debug!("resetting the session's settings failed: {e}");
                discard = true;
            }
            conn.finish(discard).await;
            return;
        }
        conn.finish(discard).await;
    }
}
