//! Connecting: retries while nothing listens, clear errors, and never the password.

use shiplap::{DatabaseUrl, Error, Migrator, Registry, UrlSource};

/// A migrator of no migrations on `url`, retrying twice while the server is not up.
fn migrator(text: &str) -> Migrator<'static> {
    let url = DatabaseUrl::parse(text, UrlSource::Flag).unwrap();
    Migrator::new(Registry::new(std::iter::empty()).unwrap(), url).connect_retries(2)
}

/// The error of connecting to `url` (to read its history).
async fn connect_error(url: &str) -> Error {
    migrator(url).history().await.unwrap_err()
}

#[tokio::test]
async fn sqlite_file_is_created() {
    let path = std::env::temp_dir().join(format!("shiplap-connect-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let m = migrator(&format!("sqlite://{}", path.display()));
    assert!(m.history().await.is_err(), "reading creates no database");
    assert!(!path.exists());
    assert!(m.up().await.unwrap().is_empty());
    assert!(path.exists());
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn refused_connection_is_retried_then_explained_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let err = connect_error("postgres://app:hunter2@127.0.0.1:1/shop").await;
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { attempts: 3, .. }), "{text}");
    assert!(
        text.starts_with(
            "cannot connect to postgres://app:***@127.0.0.1:1/shop (after 3 attempt(s)): "
        ),
        "{text}"
    );
    assert!(
        text.ends_with("is the server running? (--connect-retries waits for one that is starting)"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn unknown_postgres_database_fails_at_once() {
    let Some(server) = tests::server_url("TEST_POSTGRES_URL") else {
        return;
    };
    let mut options = server.rsplit_once('/').unwrap().0.to_owned();
    options.push_str("/shiplap_no_such_database");
    let err = connect_error(&options).await;
    assert!(matches!(err, Error::Connect { attempts: 1, .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("; check the database name: it does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_mysql_password_fails_at_once_without_the_password() {
    let Some(server) = tests::server_url("TEST_MYSQL_URL") else {
        return;
    };
    let (scheme, rest) = server.split_once("://").unwrap();
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let wrong = format!("{scheme}://shiplap_nobody:wrong-secret@{host_and_db}");
    let err = connect_error(&wrong).await;
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { attempts: 1, .. }), "{text}");
    assert!(text.contains("shiplap_nobody:***@"), "{text}");
    assert!(!text.contains("wrong-secret"), "{text}");
    assert!(
        text.ends_with("; check the user name and password"),
        "{text}"
    );
}
