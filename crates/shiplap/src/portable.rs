//! Column types that differ per backend where sea-query has one spelling: a UUID column
//! with its default. They are markers in the sea-query statement, replaced as it is
//! rendered for each backend.

use sea_query::{Alias, ColumnDef, Expr, IntoIden};

use crate::backend::Backend;

/// The marker of the UUID type.
const UUID_TYPE: &str = "shiplap_uuid";

/// The marker of a new UUID as a default.
const UUID_DEFAULT: &str = "shiplap_uuid_default()";

/// A UUID column, typed per backend: `uuid` on PostgreSQL and on MariaDB 10.7 or later
/// (chosen when the statement runs), `char(36)` on MySQL, `text` on SQLite. With
/// [`new_uuid`] as its default, the database fills in a random (version 4) UUID:
///
/// ```
/// use shiplap::prelude::*;
/// use shiplap::{new_uuid, uuid_column};
///
/// # fn m(s: &mut Schema) {
/// s.create_table(
///     Table::create()
///         .table("accounts")
///         .col(uuid_column("id").not_null().primary_key().default(new_uuid()))
///         .col(ColumnDef::new("name").string_len(40)),
/// );
/// # }
/// ```
///
/// The UUID reads back as text on every backend.
pub fn uuid_column(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .custom(Alias::new(UUID_TYPE))
        .to_owned()
}

/// A new random UUID as a column default: `gen_random_uuid()` on PostgreSQL, `uuid()` on
/// MySQL and MariaDB, an expression of `randomblob` on SQLite.
pub fn new_uuid() -> Expr {
    Expr::cust(UUID_DEFAULT)
}

/// SQLite has no UUID function: a version 4 UUID from random bytes.
const SQLITE_NEW_UUID: &str = "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) \
     || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' \
     || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) \
     || '-' || lower(hex(randomblob(6))))";

/// `sql` (a rendered schema statement) with the markers replaced for `backend`.
pub(crate) fn resolve(sql: String, backend: Backend) -> String {
    if !sql.contains(UUID_TYPE) {
        return sql;
    }
    match backend {
        Backend::Postgres => sql
            .replace(UUID_DEFAULT, "gen_random_uuid()")
            .replace(UUID_TYPE, "uuid"),
        Backend::Sqlite => sql
            .replace(UUID_DEFAULT, SQLITE_NEW_UUID)
            .replace(UUID_TYPE, "text"),
        Backend::MySql => {
            // MariaDB 10.7 and later have a `uuid` type; MySQL has none: which one runs
            // is decided by the server it runs on, with the same SQL text everywhere.
            let mariadb = sql
                .replace(UUID_DEFAULT, "uuid()")
                .replace(UUID_TYPE, "uuid");
            let mysql = sql
                .replace(UUID_DEFAULT, "(uuid())")
                .replace(UUID_TYPE, "char(36)");
            let literal = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
            format!(
                "-- a uuid column: MariaDB 10.7+ has the type, MySQL gets char(36)\n\
                 SET @shiplap_uuid = IF(VERSION() LIKE '%MariaDB%' AND \
                 CAST(SUBSTRING_INDEX(VERSION(), '.', 1) AS UNSIGNED) * 100 \
                 + CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(VERSION(), '.', 2), '.', -1) AS UNSIGNED) >= 1007,\n  \
                 {},\n  {});\n\
                 PREPARE shiplap_uuid FROM @shiplap_uuid;\n\
                 EXECUTE shiplap_uuid;\n\
                 DEALLOCATE PREPARE shiplap_uuid",
                literal(&mariadb),
                literal(&mysql)
            )
        }
    }
}
