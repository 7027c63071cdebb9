//! Turning core errors and panics into JavaScript errors.
//!
//! The reason of every error thrown by the binding starts with its stable code, `ERR_…: `. The
//! TypeScript wrapper parses that prefix into `OpenMlsError.code`; the prefix is the one format that
//! survives both synchronous throws and rejected libuv tasks.

use napi::{Error, Status};
use openmls_node_core::guard::guarded;

/// Converts a core error into a JavaScript error whose reason starts with its code.
pub fn to_napi(err: openmls_node_core::Error) -> Error {
    Error::new(Status::GenericFailure, err.to_string())
}

/// Runs an operation with panics caught, converting its error for JavaScript.
pub fn run<T>(f: impl FnOnce() -> openmls_node_core::Result<T>) -> napi::Result<T> {
    guarded(f).map_err(to_napi)
}
