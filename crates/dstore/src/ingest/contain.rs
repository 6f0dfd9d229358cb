//! The containment of last resort for decoders of untrusted input (arrow-rs's IPC reader, the
//! parquet crate's page decoders): a panic while one input is decoded becomes an error about
//! that input instead of taking the process down.
//!
//! Inputs are validated before they are decoded (`ipc.rs` checks every IPC message against its
//! body; Parquet footers are checked by the parquet crate), so a panic caught here is a bug in a
//! decoder that validation did not foresee. Containing it is sound because nothing the panic
//! could leave half-done outlives the call: the decoder's state is dropped with the input, and
//! what was staged for the input is removed when the error unwinds the transaction.
//!
//! The panic's message is kept for the error, and the process's panic hook (which would print
//! it with a backtrace note) is not called for contained panics. The hook that does this is
//! installed once, the first time anything is contained, and passes every other panic to the
//! hook that was there before it.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// How many [`contain`] calls are running on this thread.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The message and location of the last contained panic on this thread.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if DEPTH.with(Cell::get) > 0 {
                LAST.with(|l| *l.borrow_mut() = Some(describe(info)));
            } else {
                previous(info);
            }
        }));
    });
}

/// `"<message> (at <file>:<line>)"`, the file shortened to its crate and path.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    match info.location() {
        Some(l) => {
            // `/root/.cargo/registry/src/index.../arrow-buffer-60.1.0/src/buffer/immutable.rs`
            // names the crate and file; the registry path before it says nothing.
            let file = l.file();
            let short = file
                .rfind("/src/")
                .and_then(|i| file[..i].rfind('/').map(|j| &file[j + 1..]))
                .unwrap_or(file);
            format!("{msg} (at {short}:{})", l.line())
        }
        None => msg,
    }
}

/// Runs `f`; a panic inside it (on this thread) is returned as `Err` with its message and
/// location. The caller turns that into an error naming the input; see the module doc for why
/// this is sound.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    r.map_err(|payload| {
        LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| {
            // The hook was replaced after ours was installed: the message is still in the
            // payload.
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned())
        })
    })
}

/// The words an error about a contained panic starts its detail with, so that tests and the
/// fuzz checks can tell a contained panic from a validation error.
pub(crate) const PANICKED: &str = "the decoder panicked: ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_location() {
        let r: Result<(), String> = contain(|| panic!("bad offset {}", 7));
        let msg = r.unwrap_err();
        assert!(msg.starts_with("bad offset 7 (at "), "{msg}");
        assert!(msg.contains("contain.rs:"), "{msg}");
        assert_eq!(contain(|| 5), Ok(5));
    }

    #[test]
    fn nested_and_sequential_containment() {
        let outer: Result<(), String> = contain(|| {
            let inner: Result<(), String> = contain(|| panic!("inner"));
            assert!(inner.unwrap_err().starts_with("inner"));
            panic!("outer")
        });
        let msg: String = outer.unwrap_err();
        assert!(msg.starts_with("outer"), "{msg}");
    }
}
