//! The schema every migration builds, per backend, as insta snapshots beside the SQL
//! ones (`snapshots/schema@<backend>.snap`): a pull request shows the schema change
//! next to the SQL change. Built on a scratch database: a temporary SQLite file, and on
//! the servers of `TEST_POSTGRES_URL` and `TEST_MYSQL_URL` (skipped without them) a
//! database created and dropped for the test. The MySQL snapshot is MariaDB's (the
//! catalogs spell types and defaults differently).

use shiplap::{Backend, DatabaseUrl, Migrator, ProgressOutput, UrlSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_after_every_migration_per_backend() {
    for backend in Backend::ALL {
        let url = match backend {
            Backend::Sqlite => Some("sqlite://not-touched.db".to_owned()),
            Backend::Postgres => std::env::var("TEST_POSTGRES_URL").ok(),
            _ => std::env::var("TEST_MYSQL_URL").ok(),
        };
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            eprintln!("skipped {backend}: its TEST_*_URL is not set");
            continue;
        };
        let migrator = Migrator::new(
            migrations_example::migrations().unwrap(),
            DatabaseUrl::parse(&url, UrlSource::Flag).unwrap(),
        )
        .progress(ProgressOutput::Silent);
        let schema = migrator.built_schema().await.unwrap();
        insta::with_settings!({ snapshot_suffix => backend.name(), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("schema", schema.to_string());
        });
    }
}
