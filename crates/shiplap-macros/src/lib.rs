//! The `#[migration]` attribute of shiplap.
//!
//! Use it through `shiplap::migration` (the `shiplap` crate re-exports it); the generated
//! code reaches the runtime only through `shiplap::__private`, so a crate of migrations
//! depends on `shiplap` alone.
//!
//! The work is split by stage, each returning `syn::Result`: `args` parses the
//! attribute's arguments, `signature` checks the function, `checksum` hashes its
//! tokens and `expand` writes the registration. Errors are turned into
//! `compile_error!` once, here, and the user's function is always emitted unchanged so
//! that one mistake in the attribute does not bury it under follow-on errors.

use proc_macro::TokenStream;

mod args;
mod checksum;
mod expand;
mod rules;
mod signature;

/// Registers a function as a shiplap migration.
///
/// ```
/// use shiplap::prelude::*;
///
/// #[migration(version = 20250224120000)]
/// fn create_users(s: &mut Schema) {
///     s.raw("CREATE TABLE users (id bigint PRIMARY KEY)")
///         .down("DROP TABLE users");
/// }
///
/// #[migration(version = 20250301000000, name = "backfill_emails", transaction = false)]
/// async fn backfill(ctx: &mut DataContext<'_>) -> shiplap::Result<()> {
///     ctx.execute_raw("UPDATE users SET id = id").await?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// Keys:
/// - `version` (required): a positive integer literal that fits in `i64`, by convention
///   the UTC time `YYYYMMDDHHMMSS`;
/// - `repeatable` (instead of `version`): a view, function, procedure or trigger defined
///   in one place, applied after the versioned migrations whenever its SQL changes (or
///   versioned migrations were applied or reverted since its last application), by name
///   order; its statements should be re-runnable (`CREATE OR REPLACE`);
/// - `seed` (instead of `version`): data run by `migrate seed` (and `up --seed`) every
///   time, written to be re-runnable; `environments = ["development", ...]` limits it to
///   those environments (`--env`);
/// - `callback = "event"` (instead of `version`): run around `up`, at `before_run`,
///   `after_run`, `before_each`, `after_each` (inside each migration's transaction) or
///   `on_error`;
/// - `name`: default the function's name;
/// - `transaction`: default `true`; `false` runs each statement on its own (for
///   `CREATE INDEX CONCURRENTLY`, or a resumable `Backfill`);
/// - `no_transaction_on = ["postgres"]`: without a transaction on those backends only
///   (`sqlite`, `postgres`, `mysql`), with one elsewhere;
/// - `nothing_to_undo = "why"`: a data migration whose revert needs nothing;
/// - `allow(rule = "why", ...)`: lint findings acknowledged, with the reason;
/// - `crate = path`: where the `shiplap` crate is, when the dependency is renamed or
///   re-exported (default `::shiplap`).
#[proc_macro_attribute]
pub fn migration(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::migration(attr.into(), item.into()).into()
}
