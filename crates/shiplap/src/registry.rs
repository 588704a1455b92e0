//! The registry: the migrations of a crate, sorted by version, with no version twice.

use crate::error::{Error, Result};
use crate::migration::{Event, Migration, Role};

/// A set of migrations sorted by version, each version once.
///
/// Get one from the `migrations()` function that [`migrations!`](crate::migrations)
/// defines in a crate of migrations: calling it is also what makes the linker keep that
/// crate's migrations in your binary.
#[derive(Debug, Clone)]
pub struct Registry {
    migrations: Vec<&'static Migration>,
    /// The repeatable migrations, by name.
    repeatables: Vec<&'static Migration>,
    /// The seeds, by name.
    seeds: Vec<&'static Migration>,
    /// The callbacks, by event then name.
    callbacks: Vec<&'static Migration>,
}

impl Registry {
    /// The migrations defined in the crate named `crate_name` (as in `module_path!()`,
    /// with underscores). Only crates linked into the binary are seen: prefer the
    /// crate's own `migrations()` function, which makes sure of that.
    pub fn of_crate(crate_name: &str) -> Result<Self> {
        Registry::new(
            inventory::iter::<Migration>
                .into_iter()
                .filter(|m| m.location().crate_name() == crate_name),
        )
    }

    /// Every migration linked into this binary, whichever crate defines it.
    pub fn linked() -> Result<Self> {
        Registry::new(inventory::iter::<Migration>)
    }

    /// A registry of the given functions: the versioned migrations sorted by version, the
    /// repeatable ones and the seeds by name, the callbacks by event then name. Two
    /// migrations with the same version are [`Error::DuplicateVersion`], two repeatable
    /// ones (or two seeds) with the same name [`Error::DuplicateName`], naming both.
    pub fn new(functions: impl IntoIterator<Item = &'static Migration>) -> Result<Self> {
        let mut migrations: Vec<&'static Migration> = Vec::new();
        let (mut repeatables, mut seeds, mut callbacks) = (Vec::new(), Vec::new(), Vec::new());
        for m in functions {
            match m.role() {
                Role::Versioned => migrations.push(m),
                Role::Repeatable => repeatables.push(m),
                Role::Seed => seeds.push(m),
                Role::Callback => callbacks.push(m),
            }
        }
        for (list, what) in [
            (&mut repeatables, "repeatable migrations"),
            (&mut seeds, "seeds"),
        ] {
            list.sort_by_key(|m| (m.name(), m.location().file, m.location().line));
            if let Some(pair) = list.windows(2).find(|w| w[0].name() == w[1].name()) {
                return Err(Error::DuplicateName {
                    what,
                    first: pair[0].reference(),
                    second: pair[1].reference(),
                });
            }
        }
        callbacks.sort_by_key(|m| (m.event(), m.name(), m.location().file, m.location().line));
        migrations.sort_by_key(|m| (m.version(), m.location().file, m.location().line));
        if let Some(pair) = migrations
            .windows(2)
            .find(|w| w[0].version() == w[1].version())
        {
            return Err(Error::DuplicateVersion {
                version: pair[0].version(),
                first: pair[0].reference(),
                second: pair[1].reference(),
            });
        }
        Ok(Registry {
            migrations,
            repeatables,
            seeds,
            callbacks,
        })
    }

    /// The seeds, by name (the order they run in).
    pub fn seeds(&self) -> &[&'static Migration] {
        &self.seeds
    }

    /// The callbacks of `event`, by name (the order they run in).
    pub fn callbacks(&self, event: Event) -> impl Iterator<Item = &'static Migration> + '_ {
        self.callbacks
            .iter()
            .copied()
            .filter(move |m| m.event() == Some(event))
    }

    /// Every function registered: versioned migrations, repeatable ones, seeds and
    /// callbacks.
    pub fn all(&self) -> impl Iterator<Item = &'static Migration> + '_ {
        self.migrations
            .iter()
            .chain(&self.repeatables)
            .chain(&self.seeds)
            .chain(&self.callbacks)
            .copied()
    }

    /// The repeatable migrations, by name (the order they are applied in).
    pub fn repeatables(&self) -> &[&'static Migration] {
        &self.repeatables
    }

    /// The versioned migrations, by version.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'static Migration> + '_ {
        self.migrations.iter().copied()
    }

    /// How many versioned migrations there are.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether there are no versioned migrations.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The migration with this version.
    pub fn get(&self, version: i64) -> Result<&'static Migration> {
        self.migrations
            .binary_search_by_key(&version, |m| m.version())
            .map(|i| self.migrations[i])
            .map_err(|_| Error::UnknownVersion { version })
    }

    /// The migrations with `from <= version <= to`.
    pub fn range(&self, from: i64, to: i64) -> Result<Vec<&'static Migration>> {
        if from > to {
            return Err(Error::InvalidRange { from, to });
        }
        Ok(self
            .iter()
            .filter(|m| (from..=to).contains(&m.version()))
            .collect())
    }
}

/// Defines `pub fn migrations() -> shiplap::Result<shiplap::Registry>` in a crate of
/// migrations: the migrations that crate defines. Put it once in the crate's `lib.rs`,
/// and pass its result to [`cli::run`](crate::cli::run) or a `Migrator`.
///
/// Calling the function is what links the crate's migrations into a binary: without a
/// reference to the crate, the linker may drop them and the binary would see none.
#[macro_export]
macro_rules! migrations {
    () => {
        /// Every migration this crate defines, sorted by version.
        pub fn migrations() -> $crate::Result<$crate::Registry> {
            let module = ::core::module_path!();
            $crate::Registry::of_crate(module.split("::").next().unwrap_or(module))
        }
    };
}

/// The snapshot test of a migrations crate, in one call: the up and down SQL of every
/// migration of a registry, for every backend (or those listed), each compared with its
/// [insta](https://insta.rs) snapshot `<version>_<name>@<backend>.snap` (a repeatable
/// migration's `repeatable_<name>@..`, a seed's `seed_<name>@..`, a callback's
/// `callback_<event>_<name>@..`) in the test's
/// `snapshots/` folder. Every migration is checked before the test fails, and the failure
/// names each that differs, so one run writes every `.snap.new` to review
/// (`cargo insta review`). Needs `insta` among the crate's dev-dependencies.
///
/// ```no_run
/// # mod my_migrations { shiplap::migrations!(); }
/// #[test]
/// fn sql_snapshots() {
///     shiplap::assert_sql_snapshots!(my_migrations::migrations().unwrap());
///     // or for some backends only:
///     // shiplap::assert_sql_snapshots!(registry, [shiplap::Backend::Postgres]);
/// }
/// ```
#[macro_export]
macro_rules! assert_sql_snapshots {
    ($registry:expr) => {
        $crate::assert_sql_snapshots!($registry, $crate::Backend::ALL)
    };
    ($registry:expr, $backends:expr) => {{
        let registry: $crate::Registry = $registry;
        let mut differ: ::std::vec::Vec<::std::string::String> = ::std::vec::Vec::new();
        for migration in registry.all() {
            for backend in $backends {
                let backend: $crate::Backend = backend;
                let sql = $crate::snapshot(migration, backend)
                    .unwrap_or_else(|e| ::core::panic!("{e}"));
                let name = match migration.role() {
                    $crate::Role::Versioned => {
                        ::std::format!("{}_{}", migration.version(), migration.name())
                    }
                    $crate::Role::Repeatable => ::std::format!("repeatable_{}", migration.name()),
                    $crate::Role::Seed => ::std::format!("seed_{}", migration.name()),
                    _ => ::std::format!(
                        "callback_{}_{}",
                        migration.event().map_or("", $crate::Event::name),
                        migration.name()
                    ),
                };
                let checked = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
                    insta::with_settings!({
                        snapshot_suffix => backend.name(),
                        prepend_module_to_snapshot => false,
                    }, {
                        insta::assert_snapshot!(name.as_str(), sql);
                    });
                }));
                if checked.is_err() {
                    differ.push(::std::format!("{name}@{backend}"));
                }
            }
        }
        ::core::assert!(
            differ.is_empty(),
            "{} SQL snapshot(s) differ: {}; review them with `cargo insta review`",
            differ.len(),
            differ.join(", ")
        );
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::testing::schema_migration;

    #[test]
    fn sorts_by_version() {
        let registry = Registry::new([
            schema_migration(3, "c", 1, |_| {}),
            schema_migration(1, "a", 2, |_| {}),
            schema_migration(2, "b", 3, |_| {}),
        ])
        .unwrap();
        let names: Vec<_> = registry.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(registry.get(2).unwrap().name(), "b");
        assert!(matches!(
            registry.get(4),
            Err(Error::UnknownVersion { version: 4 })
        ));
        let range: Vec<_> = registry
            .range(2, 3)
            .unwrap()
            .iter()
            .map(|m| m.version())
            .collect();
        assert_eq!(range, [2, 3]);
        assert!(matches!(
            registry.range(3, 2),
            Err(Error::InvalidRange { from: 3, to: 2 })
        ));
    }

    #[test]
    fn duplicate_versions_name_both_sources() {
        let err = Registry::new([
            schema_migration(7, "create_users", 10, |_| {}),
            schema_migration(7, "create_orders", 20, |_| {}),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "two migrations have version 7: `create_users` at src/test.rs:10 and \
             `create_orders` at src/test.rs:20; give one of them a new version"
        );
    }
}
