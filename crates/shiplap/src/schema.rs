//! `Schema`: what a schema migration's function builds, step by step, with each step's
//! down derived where its inverse is certain and given by hand where it is not.

use sea_query::{
    Alias, ColumnDef, ForeignKey, ForeignKeyCreateStatement, Index, IndexCreateStatement, IntoIden,
    IntoTableRef, Table, TableCreateStatement,
};

use crate::backend::Backend;
use crate::statement::Statement;

mod backup;
mod collect;
mod step;
mod table_change;

pub use backup::{BACKUP_PREFIX, BackupOf, RestoreInto};
pub(crate) use backup::{VERSION_MARKER, keep_restore_sql, keep_sql};
use backup::{dropped_table, unqualified};
pub use collect::{Plan, plan};
pub(crate) use step::Keep;
use step::TableUse;
pub use step::{Down, KEEP_ROWS, NeedsDown, Step, WithDown};
pub use table_change::TableChange;

/// The steps of one schema migration, in order.
///
/// A migration's function receives `&mut Schema` and adds steps to it. Steps whose
/// inverse is certain (create table, create index, add column, rename table or column,
/// create foreign key) derive their down step; the others return a [`NeedsDown`], on
/// which you give the down or mark the step irreversible.
///
/// ```
/// use shiplap::prelude::*;
///
/// #[derive(Iden)]
/// enum Users { Table, Id, Email, Nickname }
///
/// fn plan(s: &mut Schema) {
///     s.create_table(
///         Table::create()
///             .table(Users::Table)
///             .col(ColumnDef::new(Users::Id).big_integer().not_null().primary_key())
///             .col(ColumnDef::new(Users::Email).string().not_null()),
///     );
///     s.add_column(Users::Table, ColumnDef::new(Users::Nickname).string().null());
///     s.raw("UPDATE users SET nickname = email")
///         .irreversible("the old nicknames are not kept");
/// }
/// ```
#[derive(Debug, Default)]
pub struct Schema {
    steps: Vec<Step>,
    only: Option<Vec<Backend>>,
}

impl Schema {
    /// An empty schema plan; shiplap makes one per migration.
    pub fn new() -> Self {
        Schema::default()
    }

    /// The steps added so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub(crate) fn push(&mut self, up: Statement, down: Down) -> &mut Step {
        self.steps.push(Step::new(up, down, self.only.clone()));
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn needs_down(&mut self, up: Statement) -> NeedsDown<'_> {
        NeedsDown::new(self.push(up, Down::Missing))
    }

    /// Steps added inside `f` run only on `backends` (and render nothing elsewhere): for
    /// a partial index that MySQL lacks, a table rebuild that only SQLite needs, ...
    pub fn only_on(&mut self, backends: &[Backend], f: impl FnOnce(&mut Schema)) -> &mut Self {
        let outer = self.only.clone();
        let inner: Vec<Backend> = match &outer {
            Some(outer) => backends
                .iter()
                .copied()
                .filter(|b| outer.contains(b))
                .collect(),
            None => backends.to_vec(),
        };
        self.only = Some(inner);
        f(self);
        self.only = outer;
        self
    }

    /// `CREATE TABLE`; down: `DROP TABLE`.
    pub fn create_table(&mut self, statement: impl Owned<TableCreateStatement>) -> WithDown<'_> {
        let statement = statement.owned();
        let table = statement.get_table_name().cloned();
        let down = match &table {
            Some(table) => Down::Statements(vec![Table::drop().table(table.clone()).into()]),
            None => Down::Missing,
        };
        let step = self.push(statement.into(), down);
        step.table = table.map(|t| (TableUse::Creates, t));
        WithDown::new(step)
    }

    /// `ALTER TABLE ... ADD COLUMN`; down: `ALTER TABLE ... DROP COLUMN`.
    pub fn add_column(
        &mut self,
        table: impl IntoTableRef,
        column: impl Owned<ColumnDef>,
    ) -> WithDown<'_> {
        let column = column.owned();
        let table = table.into_table_ref();
        let name = Alias::new(column.get_column_name());
        let up = Table::alter()
            .table(table.clone())
            .add_column(column)
            .to_owned();
        let down = Table::alter().table(table).drop_column(name).to_owned();
        WithDown::new(self.push(up.into(), Down::Statements(vec![down.into()])))
    }

    /// `ALTER TABLE ... DROP COLUMN`: destroys data, so it needs a down (re-adding the
    /// column, and its data if it matters) or an explicit `irreversible`. When the table
    /// holds at most [`KEEP_ROWS`] rows, its rows are copied first into
    /// `shiplap_backup_<version>_<table>_<column>`, kept until `migrate backups --purge`
    /// (turn it off with [`NeedsDown::no_backup`]; for a down that puts the values back,
    /// use [`drop_column_keeping_data`](Self::drop_column_keeping_data)).
    pub fn drop_column(
        &mut self,
        table: impl IntoTableRef,
        column: impl IntoIden,
    ) -> NeedsDown<'_> {
        let (table, column) = (table.into_table_ref(), column.into_iden());
        let keep = unqualified(&table).map(|name| Keep {
            backup: backup::backup_name(&format!("{name}_{column}")),
            table: name,
            rows: KEEP_ROWS,
            table_dropped: false,
        });
        let up = Table::alter().table(table).drop_column(column).to_owned();
        let step = self.push(up.into(), Down::Missing);
        step.keep = keep;
        NeedsDown::new(step)
    }

    /// `ALTER TABLE ... RENAME COLUMN`; down: the reverse rename.
    pub fn rename_column(
        &mut self,
        table: impl IntoTableRef,
        from: impl IntoIden,
        to: impl IntoIden,
    ) -> WithDown<'_> {
        let table = table.into_table_ref();
        let (from, to) = (from.into_iden(), to.into_iden());
        let up = Table::alter()
            .table(table.clone())
            .rename_column(from.clone(), to.clone())
            .to_owned();
        let down = Table::alter()
            .table(table)
            .rename_column(to, from)
            .to_owned();
        WithDown::new(self.push(up.into(), Down::Statements(vec![down.into()])))
    }

    /// `ALTER TABLE ... RENAME TO`; down: the reverse rename.
    pub fn rename_table(&mut self, from: impl IntoTableRef, to: impl IntoTableRef) -> WithDown<'_> {
        let (from, to) = (from.into_table_ref(), to.into_table_ref());
        let up = Table::rename().table(from.clone(), to.clone()).to_owned();
        let down = Table::rename().table(to, from).to_owned();
        WithDown::new(self.push(up.into(), Down::Statements(vec![down.into()])))
    }

    /// Any `ALTER TABLE`: its inverse depends on what it changes, so give a down.
    pub fn alter_table(&mut self, statement: impl Into<Statement>) -> NeedsDown<'_> {
        self.needs_down(statement.into())
    }

    /// `DROP TABLE`: destroys data; give a down (the table's creation) or mark it
    /// irreversible. When the table holds at most [`KEEP_ROWS`] rows, they are copied
    /// first into `shiplap_backup_<version>_<table>`, and a down that creates the table
    /// again (`Table::create()`) puts them back (turn it off with
    /// [`NeedsDown::no_backup`]). Not for `IF EXISTS`, several tables or raw SQL.
    pub fn drop_table(&mut self, statement: impl Into<Statement>) -> NeedsDown<'_> {
        let statement = statement.into();
        let keep = match &statement {
            Statement::DropTable(drop) => dropped_table(drop).map(|name| Keep {
                backup: backup::backup_name(&name),
                table: name,
                rows: KEEP_ROWS,
                table_dropped: true,
            }),
            _ => None,
        };
        let step = self.push(statement, Down::Missing);
        step.keep = keep;
        NeedsDown::new(step)
    }

    /// `TRUNCATE TABLE`: destroys data; usually irreversible.
    pub fn truncate_table(&mut self, statement: impl Into<Statement>) -> NeedsDown<'_> {
        self.needs_down(statement.into())
    }

    /// `CREATE INDEX` on `table` (the statement's own `.table(...)` is replaced); down:
    /// `DROP INDEX`, `CONCURRENTLY` on Postgres when the index was built so; none when
    /// the same migration created the table, whose `DROP TABLE` drops the index too. The index
    /// needs a name, which is how the down finds it. A down of your own (another name, a
    /// per-backend text): `.replace_down(...)`.
    pub fn create_index(
        &mut self,
        table: impl IntoTableRef,
        index: impl Owned<IndexCreateStatement>,
    ) -> WithDown<'_> {
        let table = table.into_table_ref();
        let mut index = index.owned();
        index.table(table.clone());
        let down = match index.get_index_spec().get_name() {
            Some(name) => {
                let mut drop = Index::drop().name(name).table(table.clone()).to_owned();
                if builds_concurrently(&index) {
                    drop.concurrently();
                }
                Down::Statements(vec![drop.into()])
            }
            None => Down::Irreversible("the index has no name, so it cannot be dropped".into()),
        };
        let step = self.push(index.into(), down);
        step.table = Some((TableUse::Indexes, table));
        WithDown::new(step)
    }

    /// A check: `query` must return no row, or the migration fails there, inside its
    /// transaction (rolled back with everything it did; a migration without one is left
    /// dirty). `what` says what must hold, and is the failure's message. For example, no
    /// NULL left after a backfill:
    ///
    /// ```
    /// # use shiplap::prelude::*;
    /// # fn m(s: &mut Schema) {
    /// s.check(
    ///     "every order has placed_at",
    ///     Query::select().expr(Expr::val(1)).from("orders").and_where(Expr::col("placed_at").is_null()),
    /// );
    /// s.check("exactly 3 plans", "SELECT 1 FROM (SELECT COUNT(*) AS n FROM plans) c WHERE n <> 3");
    /// # }
    /// ```
    ///
    /// Its down is nothing; it never runs in a script sent with other migrations, since
    /// its rows must be read.
    pub fn check(&mut self, what: impl Into<String>, query: impl Into<Statement>) -> &mut Self {
        let step = self.push(
            query.into(),
            Down::Nothing("a check changes nothing".into()),
        );
        step.check = Some(what.into());
        self
    }

    /// `DROP INDEX`: give a down (the index's creation) or mark it irreversible.
    pub fn drop_index(&mut self, statement: impl Into<Statement>) -> NeedsDown<'_> {
        self.needs_down(statement.into())
    }

    /// `ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`; down: drop it by name. (SQLite
    /// cannot add a foreign key to an existing table: declare it in `create_table`.)
    pub fn create_foreign_key(
        &mut self,
        statement: impl Owned<ForeignKeyCreateStatement>,
    ) -> WithDown<'_> {
        let statement = statement.owned();
        let down = foreign_key_down(&statement);
        WithDown::new(self.push(statement.into(), down))
    }

    /// `ALTER TABLE ... DROP CONSTRAINT` (a foreign key): give a down or mark it
    /// irreversible.
    pub fn drop_foreign_key(&mut self, statement: impl Into<Statement>) -> NeedsDown<'_> {
        self.needs_down(statement.into())
    }

    /// A data statement (`INSERT`, `UPDATE`, `DELETE` built with sea-query), run with the
    /// migration's other steps: give a down or mark it irreversible.
    pub fn exec(&mut self, statement: impl Into<Statement>) -> NeedsDown<'_> {
        self.needs_down(statement.into())
    }

    /// Raw SQL, the same for every backend or one text per backend (see [`crate::statement::Raw`]).
    pub fn raw(&mut self, sql: impl Into<crate::statement::Raw>) -> NeedsDown<'_> {
        self.needs_down(Statement::Raw(sql.into()))
    }
}

/// Whether a `CREATE INDEX` is built `CONCURRENTLY`. sea-query keeps the flag private, so
/// read it from the statement's own Postgres rendering, which always spells it.
fn builds_concurrently(index: &IndexCreateStatement) -> bool {
    Statement::from(index.clone())
        .render(Backend::Postgres)
        .ok()
        .flatten()
        .is_some_and(|sql| {
            let head = sql.split(" ON ").next().unwrap_or_default();
            head.contains(" CONCURRENTLY")
        })
}

/// A sea-query value, owned or at the end of a builder chain (`Table::create()...` yields
/// `&mut TableCreateStatement`): either way shiplap keeps its own copy.
pub trait Owned<T> {
    /// The owned value.
    fn owned(self) -> T;
}

impl<T> Owned<T> for T {
    fn owned(self) -> T {
        self
    }
}

impl<T: Clone> Owned<T> for &mut T {
    fn owned(self) -> T {
        self.clone()
    }
}

impl<T: Clone> Owned<T> for &T {
    fn owned(self) -> T {
        self.clone()
    }
}

/// The down of a foreign key added by name: drop it (none without a name and a table).
fn foreign_key_down(statement: &ForeignKeyCreateStatement) -> Down {
    let key = statement.get_foreign_key();
    match (key.get_name(), key.get_table()) {
        (Some(name), Some(table)) => Down::Statements(vec![
            ForeignKey::drop()
                .name(name)
                .table(table.clone())
                .to_owned()
                .into(),
        ]),
        _ => Down::Irreversible("the foreign key needs a name and a table to be dropped".into()),
    }
}

#[cfg(test)]
mod tests {
    use sea_query::{Expr, Iden, Query};

    use super::*;
    use crate::error::Error;
    use crate::migration::testing::schema_migration;
    use crate::render::{Direction, render};

    #[derive(Iden)]
    enum Users {
        Table,
        Id,
        Email,
        Nickname,
    }

    #[derive(Iden)]
    enum Orders {
        Table,
        UserId,
    }

    fn sql(f: fn(&mut Schema), backend: Backend, direction: Direction) -> Vec<String> {
        let m = schema_migration(1, "t", 1, f);
        render(m, backend, direction)
            .unwrap()
            .statements
            .into_iter()
            .map(|s| s.sql)
            .collect()
    }

    /// An index of a table the same migration creates goes with the table: MariaDB
    /// refuses to drop an index a foreign key stands on (error 1553).
    #[test]
    fn an_index_of_a_table_created_alongside_goes_with_it() {
        fn f(s: &mut Schema) {
            s.create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).big_integer().primary_key()),
            );
            s.create_index(
                Users::Table,
                Index::create().name("users_email_idx").col(Users::Email),
            );
        }
        assert_eq!(
            sql(f, Backend::MySql, Direction::Down),
            ["DROP TABLE `users`"]
        );
    }

    #[test]
    fn concurrent_index_is_dropped_concurrently() {
        fn f(s: &mut Schema) {
            s.create_index(
                Users::Table,
                Index::create()
                    .name("users_email_idx")
                    .col(Users::Email)
                    .concurrently(),
            );
        }
        assert_eq!(
            sql(f, Backend::Postgres, Direction::Up),
            [r#"CREATE INDEX CONCURRENTLY "users_email_idx" ON "users" ("email")"#]
        );
        assert_eq!(
            sql(f, Backend::Postgres, Direction::Down),
            [r#"DROP INDEX CONCURRENTLY "users_email_idx""#]
        );
    }

    #[test]
    fn add_column_and_renames_reverse() {
        fn f(s: &mut Schema) {
            s.add_column(
                Users::Table,
                ColumnDef::new(Users::Nickname).string().null(),
            );
            s.rename_column(Users::Table, Users::Email, Alias::new("email_address"));
            s.rename_table(Users::Table, Alias::new("accounts"));
        }
        assert_eq!(
            sql(f, Backend::Sqlite, Direction::Down),
            [
                r#"ALTER TABLE "accounts" RENAME TO "users""#,
                r#"ALTER TABLE "users" RENAME COLUMN "email_address" TO "email""#,
                r#"ALTER TABLE "users" DROP COLUMN "nickname""#,
            ]
        );
    }

    #[test]
    fn foreign_key_is_dropped_by_name() {
        fn f(s: &mut Schema) {
            s.create_foreign_key(
                ForeignKey::create()
                    .name("orders_user_id_fkey")
                    .from(Orders::Table, Orders::UserId)
                    .to(Users::Table, Users::Id),
            );
        }
        assert_eq!(
            sql(f, Backend::Postgres, Direction::Down),
            [r#"ALTER TABLE "orders" DROP CONSTRAINT "orders_user_id_fkey""#]
        );
    }

    #[test]
    fn explicit_downs_run_in_order_and_nothing_to_undo_renders_nothing() {
        fn f(s: &mut Schema) {
            s.drop_column(Users::Table, Users::Nickname)
                .down(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(ColumnDef::new(Users::Nickname).string().null()),
                )
                .down("UPDATE users SET nickname = email");
            s.exec(
                Query::update()
                    .table(Users::Table)
                    .value(Users::Email, Expr::val("x")),
            )
            .nothing_to_undo("test");
        }
        assert_eq!(
            sql(f, Backend::Postgres, Direction::Down),
            [
                r#"ALTER TABLE "users" ADD COLUMN "nickname" varchar NULL"#,
                "UPDATE users SET nickname = email",
            ]
        );
        let up = sql(f, Backend::Postgres, Direction::Up);
        assert!(up[0].contains("shiplap_backup_"), "{up:?}");
        assert_eq!(up[2], r#"UPDATE "users" SET "email" = 'x'"#);
    }

    #[test]
    fn plain_drops_keep_a_copy_of_a_small_table_unless_told_not_to() {
        fn f(s: &mut Schema) {
            s.drop_column(Users::Table, Users::Nickname)
                .backup_up_to(50)
                .irreversible("test");
            s.drop_table(Table::drop().table("a \"b\"").cascade())
                .irreversible("test");
            s.drop_table(Table::drop().table("gone").if_exists())
                .irreversible("test: it may not exist, so no copy");
            s.drop_table(Table::drop().table("x").table("y"))
                .irreversible("test: two tables, no copy");
            s.drop_table(Table::drop().table("z"))
                .no_backup()
                .irreversible("test");
            s.drop_column("t", "c").backup_up_to(0).irreversible("test");
            s.drop_table("DROP TABLE raw")
                .irreversible("test: raw SQL, no copy");
        }
        let kept: Vec<String> = sql(f, Backend::MySql, Direction::Up)
            .into_iter()
            .filter(|sql| sql.contains("shiplap_backup_"))
            .collect();
        assert_eq!(
            kept,
            [
                "-- shiplap keeps the rows of `users` if there are at most 50 (`.no_backup()` turns this off)\n\
                 CREATE TABLE IF NOT EXISTS `shiplap_backup_1_users_nickname` \
                 (shiplap_copy_row BIGINT AUTO_INCREMENT PRIMARY KEY) AS SELECT * FROM `users` \
                 WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM `users` LIMIT 51) AS shiplap_rows) <= 50",
                "-- shiplap keeps the rows of `a \"b\"` if there are at most 10000 (`.no_backup()` turns this off)\n\
                 CREATE TABLE IF NOT EXISTS `shiplap_backup_1_a \"b\"` \
                 (shiplap_copy_row BIGINT AUTO_INCREMENT PRIMARY KEY) AS SELECT * FROM `a \"b\"` \
                 WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM `a \"b\"` LIMIT 10001) AS shiplap_rows) <= 10000",
            ]
        );
    }

    #[test]
    fn a_step_without_down_makes_the_migration_irreversible() {
        let missing = schema_migration(5, "drop_nickname", 42, |s| {
            let _ = s.drop_column(Users::Table, Users::Nickname);
        });
        let err = render(missing, Backend::Sqlite, Direction::Down).unwrap_err();
        assert_eq!(
            err.to_string(),
            "migration 5 drop_nickname (src/test.rs:42) cannot be reverted: step 1 \
             (alter table) has no down: give it one with `.down(...)`, or mark it \
             `.irreversible(\"why\")`"
        );
        let marked = schema_migration(6, "truncate", 7, |s| {
            s.raw("DELETE FROM users").irreversible("the rows are gone");
        });
        let err = render(marked, Backend::Sqlite, Direction::Down).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("step 1 (raw SQL) is irreversible: the rows are gone"),
            "{err}"
        );
        // Going up is unaffected.
        assert!(render(marked, Backend::Sqlite, Direction::Up).is_ok());
    }

    #[test]
    fn only_on_limits_steps_to_backends_and_nests() {
        fn f(s: &mut Schema) {
            s.only_on(&[Backend::Postgres, Backend::MySql], |s| {
                s.raw("SELECT 'pg or mysql'").nothing_to_undo("test");
                s.only_on(&[Backend::MySql, Backend::Sqlite], |s| {
                    s.raw("SELECT 'mysql only'").nothing_to_undo("test");
                });
            });
            s.raw("SELECT 'all'").nothing_to_undo("test");
        }
        assert_eq!(sql(f, Backend::Sqlite, Direction::Up), ["SELECT 'all'"]);
        assert_eq!(
            sql(f, Backend::Postgres, Direction::Up),
            ["SELECT 'pg or mysql'", "SELECT 'all'"]
        );
        assert_eq!(
            sql(f, Backend::MySql, Direction::Up),
            [
                "SELECT 'pg or mysql'",
                "SELECT 'mysql only'",
                "SELECT 'all'"
            ]
        );
    }

    #[test]
    fn unsupported_statement_is_a_render_error_naming_migration_and_step() {
        let m = schema_migration(9, "modify", 3, |s| {
            s.add_column(
                Users::Table,
                ColumnDef::new(Users::Nickname).string().null(),
            );
            s.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .modify_column(ColumnDef::new(Users::Email).text()),
            )
            .irreversible("test");
        });
        let err = render(m, Backend::Sqlite, Direction::Up).unwrap_err();
        assert!(matches!(
            err,
            Error::Render {
                step: 2,
                backend: Backend::Sqlite,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "migration 9 modify (src/test.rs:3), step 2 (alter table): cannot render it \
             for sqlite: Sqlite not support modifying table column"
        );
    }

    #[test]
    fn a_panicking_migration_is_a_plan_error_with_its_location() {
        // As the command line does: where a caught panic happened is known to the hook.
        crate::panic::install_quiet_hook();
        let m = schema_migration(11, "boom", 8, |_| {
            let names: Vec<&str> = Vec::new();
            let first = names.first().copied();
            first.expect("the table name");
        });
        let err = render(m, Backend::Postgres, Direction::Up).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "migration 11 boom (src/test.rs:8) panicked while planning its steps: the table name (at crates/shiplap/src/schema.rs:"
            ),
            "{text}"
        );
    }

    #[test]
    fn sql_checksum_ignores_whitespace_but_not_content() {
        let a = schema_migration(1, "a", 1, |s| {
            s.raw("SELECT  1,\r\n 2").irreversible("x");
        });
        let b = schema_migration(1, "b", 1, |s| {
            s.raw("SELECT 1, 2").irreversible("x");
        });
        let c = schema_migration(1, "c", 1, |s| {
            s.raw("SELECT 1, 3").irreversible("x");
        });
        let sum = |m| {
            render(m, Backend::Postgres, Direction::Up)
                .unwrap()
                .checksum()
                .unwrap()
                .to_owned()
        };
        assert_eq!(sum(a), sum(b));
        assert_ne!(sum(b), sum(c));
        assert_eq!(sum(c).len(), 64);
    }
}
