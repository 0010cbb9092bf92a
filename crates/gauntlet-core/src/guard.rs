//! Last line of defence: a panic inside a tensor library becomes an error value.
//!
//! Operators check shapes before calling burn, but a library panic must still never reach
//! the user as a crash. [`catch`] converts it into [`Error::Model`] carrying the panic message.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use crate::{Error, Result};

thread_local! {
    /// Depth of active [`catch`] calls on this thread; other threads' panics stay loud.
    static GUARDED: Cell<usize> = const { Cell::new(0) };
}
static HOOK: Once = Once::new();

/// Installs (once) a panic hook that stays quiet while a [`catch`] is active and otherwise
/// defers to the default hook.
fn install_hook() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                default(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into an error that starts with `context`.
pub fn catch<T>(context: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_hook();
    GUARDED.with(|g| g.set(g.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".into());
            Err(Error::Model(format!(
                "{context}: {message}. The model and the input probably do not fit together \
                 (check the input shape and the ONNX file)"
            )))
        }
    }
}
