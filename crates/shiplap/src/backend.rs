//! The database backends shiplap renders SQL for and runs it on: the [`Backend`] names,
//! and in this folder what differs per backend at run time: the connection
//! (`connection.rs`), and each backend's SQL, lock and quirks (`postgres.rs`, `mysql.rs`,
//! `sqlite.rs`). Rendering needs no driver; running on a backend needs its cargo feature.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

pub(crate) mod connection;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;
pub(crate) mod sqlite_not_null;

/// A database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Backend {
    /// SQLite 3 (embedded; the default: it needs no server).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    #[cfg_attr(feature = "cli", value(name = "mysql", alias = "mariadb"))]
    MySql,
}

impl Backend {
    /// Every backend, in the order shiplap lists them.
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    /// The backend's short name: `sqlite`, `postgres` or `mysql` (also its JSON form).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// `name` quoted as an identifier in this backend's SQL: `` `name` `` on MySQL,
    /// `"name"` elsewhere, the quote character doubled inside.
    pub(crate) fn quote_name(self, name: &str) -> String {
        match self {
            Backend::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// Whether DDL on this backend commits implicitly, so that a migration's schema
    /// changes cannot be rolled back with its transaction.
    pub fn ddl_commits_implicitly(self) -> bool {
        matches!(self, Backend::MySql)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            _ => Err(Error::UnknownBackend {
                given: s.to_owned(),
            }),
        }
    }
}

impl serde::Serialize for Backend {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_aliases() {
        assert_eq!("postgresql".parse::<Backend>().unwrap(), Backend::Postgres);
        assert_eq!("MariaDB".parse::<Backend>().unwrap(), Backend::MySql);
        assert_eq!("sqlite".parse::<Backend>().unwrap(), Backend::Sqlite);
        let err = "oracle".parse::<Backend>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown backend `oracle`: expected sqlite, postgres or mysql"
        );
    }
}
