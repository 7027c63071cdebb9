//! The last line of defence: panics become [`ErrorCode::Internal`] errors instead of unwinding
//! into N-API (which would abort the process).
//!
//! This is not control flow. Every expected failure is a typed `Result`; a caught panic is a bug.
//! The panic hook records only the panic's location, so no payload (which might quote data) is
//! ever printed or returned.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{Error, Result};

thread_local! {
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

fn install_quiet_hook() {
    INSTALL_HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_else(|| "unknown location".into());
            LAST_PANIC_LOCATION.with(|slot| *slot.borrow_mut() = Some(location));
        }));
    });
}

/// Runs `f`, turning a panic into an [`ErrorCode::Internal`](crate::ErrorCode::Internal) error.
pub fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_quiet_hook();
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => {
            let location = LAST_PANIC_LOCATION.with(|slot| slot.borrow_mut().take()).unwrap_or_else(|| "unknown location".into());
            Err(Error::internal(format!("internal error (panic at {location}); the operation was abandoned, please report it")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn panics_become_internal_errors() {
        let err = guarded::<()>(|| panic!("secret payload 1234")).unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        assert!(!err.message.contains("1234"), "payload must not leak: {}", err.message);
        assert_eq!(guarded(|| Ok(7)).unwrap(), 7);
    }
}
