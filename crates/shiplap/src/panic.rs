//! Turning panics (sea-query's "not supported on this backend", a user's `unwrap`) into
//! errors.
//!
//! The library installs no panic hook: the process is the application's. The command line
//! ([`crate::cli::run`], which owns its process) installs [`install_quiet_hook`], which
//! keeps the default hook's message off stderr for panics caught here (the error says it
//! instead, with where it happened) and passes every other panic to the hook before it.
//!
//! Catching needs `panic = "unwind"` (Rust's default). Built with `panic = "abort"`, a
//! statement sea-query cannot render for a backend aborts the process instead of
//! returning a render error: the snapshot test (which renders every migration for every
//! backend in CI) finds those first.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that stays quiet for the panics [`catch`] catches, on the
/// thread catching them, and notes where they happened; other panics go to the hook that
/// was there before.
#[cfg_attr(not(feature = "cli"), allow(dead_code))] // a library leaves the hook alone
pub(crate) fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|cell| *cell.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic becomes `Err(message)`.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let was_catching = CATCHING.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was_catching));
    result.map_err(|payload| message(payload.as_ref()))
}

/// A panic's message.
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_owned()
    }
}

/// Runs the future `f`; a panic while it runs becomes `Err(message)` (with where it
/// happened, when the quiet hook saw it).
pub(crate) async fn catch_async<T>(f: impl Future<Output = T>) -> Result<T, String> {
    use futures_util::FutureExt as _;
    let was_catching = CATCHING.with(|c| c.replace(true));
    let result = AssertUnwindSafe(f).catch_unwind().await;
    CATCHING.with(|c| c.set(was_catching));
    result.map_err(|payload| {
        let message = message(payload.as_ref());
        match last_location() {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
}

/// Where the last panic caught on this thread happened, if the hook saw it.
pub(crate) fn last_location() -> Option<String> {
    LOCATION.with(|cell| cell.borrow_mut().take())
}
