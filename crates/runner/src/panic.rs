//! Catching panics inside a run, so that a protocol bug (a failed assertion, a broken
//! invariant) in one seed is reported with that seed and the command that reproduces it,
//! and a sweep goes on with the other seeds.
//!
//! A process-wide panic hook records the message and source location of a panic raised
//! while [`catch`] is running on that thread, instead of printing it; panics anywhere
//! else are printed by the previous hook as usual.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    match info.location() {
        Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
        None => message,
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.get() {
                CAUGHT.set(Some(describe(info)));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err(message with its source location)`.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install();
    let outer = CATCHING.replace(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    result.map_err(|_| {
        CAUGHT
            .take()
            .unwrap_or_else(|| "(panic message lost)".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_location() {
        let err = catch(|| -> u32 { panic!("node n1: log position went backwards") }).unwrap_err();
        assert!(
            err.starts_with("node n1: log position went backwards (at "),
            "{err}"
        );
        assert!(err.contains("panic.rs:"), "{err}");
        assert_eq!(catch(|| 7), Ok(7));
    }
}
