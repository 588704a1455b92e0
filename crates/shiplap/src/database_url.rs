//! Database URLs: which backend one names, where it comes from (flag, environment,
//! `.env`, the embedded default), and how it is printed: always without its password.

use std::fmt;
use std::path::Path;

use crate::backend::Backend;
use crate::error::{Error, Result};

/// The database used when no URL is given: an SQLite file in the current folder.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://shiplap.db";

/// A database URL whose backend is known. `Display` and `Debug` redact the password, so
/// it can go into logs, errors and JSON as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
    source: UrlSource,
}

/// Where a database URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlSource {
    /// `--database-url`.
    Flag,
    /// The `DATABASE_URL` environment variable.
    Environment,
    /// `DATABASE_URL` in a `.env` file.
    DotEnv,
    /// Nothing was given: [`DEFAULT_DATABASE_URL`].
    Default,
    /// Not a URL: the application's pool or connection, described.
    Application,
    /// A target of a fleet: a `--targets` file, or a schema of `--schemas`.
    Fleet,
}

impl DatabaseUrl {
    /// Parses `url`, naming its backend from the scheme: `sqlite:`, `postgres://` or
    /// `postgresql://`, `mysql://` or `mariadb://`.
    pub fn parse(url: &str, source: UrlSource) -> Result<Self> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(Error::InvalidDatabaseUrl {
                url: redact(url),
                reason: "expected a URL such as postgres://user@host/db or sqlite://file.db".into(),
            });
        };
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            "mysql" | "mariadb" => Backend::MySql,
            _ => {
                return Err(Error::UnknownScheme {
                    url: redact(url),
                    scheme: scheme.to_owned(),
                });
            }
        };
        if backend == Backend::Sqlite {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split(['?', '#']).next().unwrap_or_default();
            if path.is_empty() {
                return Err(Error::InvalidDatabaseUrl {
                    url: redact(url),
                    reason: "it names no file (SQLite would open a database in memory, gone \
                             when the run ends): use sqlite://path/to/file.db, or sqlite::memory: \
                             if that is what you mean"
                        .into(),
                });
            }
        }
        if backend != Backend::Sqlite && !rest.starts_with("//") {
            return Err(Error::InvalidDatabaseUrl {
                url: redact(url),
                reason: format!("expected {scheme}://[user[:password]@]host[:port]/database"),
            });
        }
        // `mariadb://` is our alias; the driver knows `mysql://`.
        let url = match scheme {
            "mariadb" => format!("mysql:{rest}"),
            _ => url.to_owned(),
        };
        Ok(DatabaseUrl {
            url,
            backend,
            source,
        })
    }

    /// The URL from, in order: `flag`, the `DATABASE_URL` environment variable, a
    /// `DATABASE_URL=` line in `dotenv` (a `.env` file, if it exists), or
    /// [`DEFAULT_DATABASE_URL`].
    pub fn resolve(flag: Option<&str>, env: Option<&str>, dotenv: &Path) -> Result<Self> {
        if let Some(url) = flag {
            return DatabaseUrl::parse(url, UrlSource::Flag);
        }
        if let Some(url) = env.filter(|u| !u.trim().is_empty()) {
            return DatabaseUrl::parse(url, UrlSource::Environment);
        }
        if let Some(url) = read_dotenv(dotenv) {
            return DatabaseUrl::parse(&url, UrlSource::DotEnv);
        }
        DatabaseUrl::parse(DEFAULT_DATABASE_URL, UrlSource::Default)
    }

    /// A description standing in for a URL (the application's pool or connection): shown
    /// as it is, never connected to.
    pub(crate) fn described(backend: Backend, text: String) -> Self {
        DatabaseUrl {
            url: text,
            backend,
            source: UrlSource::Application,
        }
    }

    /// The backend the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the URL came from.
    pub fn source(&self) -> UrlSource {
        self.source
    }

    /// The URL with its password: for the driver only, never for printing.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlSource::Flag => "from --database-url",
            UrlSource::Environment => "from $DATABASE_URL",
            UrlSource::DotEnv => "from DATABASE_URL in .env",
            UrlSource::Default => "the default: no --database-url, $DATABASE_URL or .env",
            UrlSource::Application => "the application's",
            UrlSource::Fleet => "a target of --targets or --schemas",
        })
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("url", &redact(&self.url))
            .field("backend", &self.backend)
            .field("source", &self.source)
            .finish()
    }
}

/// `url` with the password of its user-info (`user:password@`) and of any `password=`
/// query parameter replaced by `***`. A URL the `url` crate parses has its password
/// replaced there; a malformed one (no `//`, an unescaped `/`, `?` or `#` in the
/// password) loses whatever follows the user name up to the authority's last `@`.
pub fn redact(url: &str) -> String {
    let mut out = match url::Url::parse(url) {
        Ok(mut parsed) if parsed.has_host() => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
                parsed.to_string()
            } else {
                url.to_owned()
            }
        }
        _ => redact_malformed(url),
    };
    // Query parameters such as `?password=...` (accepted by some drivers), every one: in
    // the text, so that the rest of the query is shown as it was written.
    let mut from = 0;
    while let Some(found) = out[from..].to_ascii_lowercase().find("password=") {
        let value_start = from + found + "password=".len();
        let value_end = out[value_start..]
            .find(['&', '#'])
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "***");
        from = value_start + 3;
    }
    out
}

/// The user-info's password of a URL the `url` crate refuses: whatever follows the user
/// name up to the authority's last `@`.
fn redact_malformed(url: &str) -> String {
    // The user-info ends at the last `@`: a password may hold `@`, `/`, `?` or `#`
    // unescaped. (An `@` further on only hides more than it needs to.)
    let Some(at) = url.rfind('@') else {
        return url.to_owned();
    };
    // It starts after `scheme://`; in a URL without `://`, after the last `/` before
    // the first `:` (`postgres//user:pw@host`), or after the scheme's `:`.
    let start = match url[..at].find("://") {
        Some(i) => i + 3,
        None => {
            let colon = url[..at].find(':').unwrap_or(0);
            match url[..colon].rfind('/') {
                Some(slash) => slash + 1,
                None if url[..colon].chars().all(|c| c.is_ascii_alphanumeric()) => {
                    let after = colon + 1;
                    // `scheme:user:pw@host`: the user starts after the scheme.
                    if url[after..at].contains(':') {
                        after
                    } else {
                        0
                    }
                }
                None => 0,
            }
        }
    };
    match url[start..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[at..]),
        None => url.to_owned(),
    }
}

/// `DATABASE_URL` of a `.env` file, read as dotenv files are (quotes, `export`,
/// comments, escapes); `None` when the file or the variable is missing or empty.
fn read_dotenv(path: &Path) -> Option<String> {
    dotenvy::from_path_iter(path)
        .ok()?
        .filter_map(std::result::Result::ok)
        .find(|(key, _)| key == "DATABASE_URL")
        .map(|(_, value)| value)
        .filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_of_malformed_urls() {
        for (url, shown) in [
            ("postgres://app:pa/ss@host/db", "postgres://app:***@host/db"),
            ("postgres://app:pa#ss@host/db", "postgres://app:***@host/db"),
            ("postgres://app:pa?ss@host/db", "postgres://app:***@host/db"),
            ("postgres//app:hunter2@host/db", "postgres//app:***@host/db"),
            ("postgres:app:hunter2@host/db", "postgres:app:***@host/db"),
            (
                "postgres://h/db?password=one&password=two",
                "postgres://h/db?password=***&password=***",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn an_sqlite_url_must_name_a_file() {
        for url in ["sqlite:", "sqlite://", "sqlite://?mode=rwc"] {
            let err = DatabaseUrl::parse(url, UrlSource::Flag)
                .unwrap_err()
                .to_string();
            assert!(err.contains("it names no file"), "{url}: {err}");
        }
        assert!(DatabaseUrl::parse("sqlite::memory:", UrlSource::Flag).is_ok());
        assert!(DatabaseUrl::parse("sqlite:shop.db", UrlSource::Flag).is_ok());
    }

    #[test]
    fn redacts_passwords_everywhere() {
        assert_eq!(
            redact("postgres://app:s3cr%40t@db.internal:5432/shop"),
            "postgres://app:***@db.internal:5432/shop"
        );
        assert_eq!(
            redact("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            redact("postgres://app:p@ss@host/db"),
            "postgres://app:***@host/db",
            "an unescaped @ in the password"
        );
        assert_eq!(
            redact("postgres://host/db?user=app&password=hunter2&sslmode=require"),
            "postgres://host/db?user=app&password=***&sslmode=require"
        );
        assert_eq!(redact("sqlite://shiplap.db"), "sqlite://shiplap.db");
    }

    #[test]
    fn display_and_debug_never_show_the_password() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@host/db", UrlSource::Flag).unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@host/db");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "postgres://app:hunter2@host/db");
    }

    #[test]
    fn names_the_backend_from_the_scheme() {
        let backend = |u| DatabaseUrl::parse(u, UrlSource::Flag).unwrap().backend();
        assert_eq!(backend("sqlite://shiplap.db"), Backend::Sqlite);
        assert_eq!(backend("sqlite::memory:"), Backend::Sqlite);
        assert_eq!(backend("postgresql://h/db"), Backend::Postgres);
        assert_eq!(backend("mysql://h/db"), Backend::MySql);
        let maria = DatabaseUrl::parse("mariadb://root@h/db", UrlSource::Flag).unwrap();
        assert_eq!(
            (maria.backend(), maria.expose()),
            (Backend::MySql, "mysql://root@h/db")
        );
    }

    #[test]
    fn bad_urls_are_clear_errors_without_the_password() {
        let err = DatabaseUrl::parse("oracle://scott:tiger@h/db", UrlSource::Flag).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown database scheme `oracle` in oracle://scott:***@h/db: expected sqlite:, postgres://, mysql:// or mariadb://"
        );
        let err = DatabaseUrl::parse("not a url", UrlSource::Flag).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid database URL `not a url`"),
            "{err}"
        );
        let err = DatabaseUrl::parse("postgres:app:pw@host", UrlSource::Flag).unwrap_err();
        assert!(!err.to_string().contains("pw@"), "{err}");
    }

    #[test]
    fn resolves_flag_then_environment_then_dotenv_then_default() {
        let dir = std::env::temp_dir().join(format!("shiplap-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dotenv = dir.join(".env");
        std::fs::write(
            &dotenv,
            "# comment\nexport DATABASE_URL=\"postgres://from@dotenv/db\" # where the app runs\n",
        )
        .unwrap();

        let flag =
            DatabaseUrl::resolve(Some("mysql://f@h/db"), Some("sqlite://env.db"), &dotenv).unwrap();
        assert_eq!(
            (flag.source(), flag.expose()),
            (UrlSource::Flag, "mysql://f@h/db")
        );
        let env = DatabaseUrl::resolve(None, Some("sqlite://env.db"), &dotenv).unwrap();
        assert_eq!(
            (env.source(), env.expose()),
            (UrlSource::Environment, "sqlite://env.db")
        );
        let from_file = DatabaseUrl::resolve(None, Some(""), &dotenv).unwrap();
        assert_eq!(
            (from_file.source(), from_file.expose()),
            (UrlSource::DotEnv, "postgres://from@dotenv/db")
        );
        // An inline comment after an unquoted value is not part of it.
        let commented = dir.join("commented.env");
        std::fs::write(&commented, "DATABASE_URL=sqlite://shop.db # local\n").unwrap();
        let from_file = DatabaseUrl::resolve(None, None, &commented).unwrap();
        assert_eq!(from_file.expose(), "sqlite://shop.db");
        let default = DatabaseUrl::resolve(None, None, &dir.join("missing.env")).unwrap();
        assert_eq!(
            (default.source(), default.expose()),
            (UrlSource::Default, DEFAULT_DATABASE_URL)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
