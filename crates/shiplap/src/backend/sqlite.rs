//! SQLite: connecting, finding the database's file, and the run lock's file beside it.
//!
//! The run lock is an exclusive OS file lock (`flock`, `LockFileEx` on Windows) on a lock
//! file beside the database (`<file>-shiplap-lock`): it keeps the database itself writable
//! for the migrations while excluding other runners, and the OS frees it if the process
//! dies (which ends its SQLite work with it). The holder writes its process id into the
//! file, so that a waiting runner can say whom it waits for. The file stays (removing a
//! lock file races with a runner about to lock it).

use std::fs::{File, OpenOptions};
use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Connects to `url`; a missing file is created only when `create`.
#[cfg(feature = "_sqlite")]
pub(crate) async fn connect(
    url: &str,
    create: bool,
) -> Result<sqlx::SqliteConnection, sqlx::Error> {
    use sqlx::ConnectOptions as _;
    use std::str::FromStr as _;

    sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .create_if_missing(create)
        .busy_timeout(std::time::Duration::from_secs(5))
        .disable_statement_logging()
        .connect()
        .await
}

/// Whether an SQLite URL or file name is an in-memory database.
#[cfg(feature = "_sqlite")]
pub(crate) fn in_memory(file: &str) -> bool {
    file.is_empty() || file == ":memory:" || file.starts_with("file::memory:")
}

/// The tables of the main database (not SQLite's own).
#[cfg_attr(not(feature = "lint"), allow(dead_code))] // read by `lint --database-url`
pub(crate) const TABLES: &str =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";

/// A cheap estimate of a table's rows: its largest rowid (a lookup in the b-tree, not a
/// scan), as text; fails for a `WITHOUT ROWID` table.
#[cfg_attr(not(feature = "lint"), allow(dead_code))] // read by `lint --database-url`
pub(crate) fn estimated_rows(quoted_table: &str) -> String {
    format!("SELECT CAST(COALESCE(MAX(rowid), 0) AS TEXT) FROM {quoted_table}")
}

/// The query that names the file of the connection's main database (empty in memory).
pub(crate) const MAIN_FILE: &str = "SELECT file FROM pragma_database_list WHERE name = 'main'";

/// The lock file of an SQLite database file.
pub(crate) fn lock_path(database: &Path) -> PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push("-shiplap-lock");
    PathBuf::from(path)
}

/// Opens (creating) the lock file.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| Error::Io {
            action: "create the lock file",
            path: path.to_owned(),
            source,
        })
}

/// Writes who holds the lock into its file (best effort: it only informs a waiting runner).
pub(crate) fn write_holder(mut file: &File) {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let who = format!(
        "process {}{} (since {})\n",
        std::process::id(),
        if host.is_empty() {
            String::new()
        } else {
            format!(" on {host}")
        },
        crate::clock::now_rfc3339()
    );
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(who.as_bytes()));
}

#[cfg(test)]
mod tests {
    use std::fs::TryLockError;

    use super::{lock_path, open_lock_file, write_holder};

    #[test]
    fn a_lock_file_excludes_a_second_holder_until_unlocked() {
        let dir = std::env::temp_dir().join(format!("shiplap-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = lock_path(&dir.join("db"));
        let first = open_lock_file(&path).unwrap();
        first.try_lock().unwrap();
        write_holder(&first);
        let second = open_lock_file(&path).unwrap();
        assert!(matches!(second.try_lock(), Err(TryLockError::WouldBlock)));
        let holder = std::fs::read_to_string(&path).unwrap();
        assert!(
            holder.starts_with(&format!("process {}", std::process::id())),
            "{holder}"
        );
        first.unlock().unwrap();
        second.try_lock().unwrap();
        let missing = lock_path(&dir.join("no-such-dir").join("db"));
        let err = open_lock_file(&missing).unwrap_err().to_string();
        assert!(err.starts_with("cannot create the lock file "), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
