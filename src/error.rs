//! Turning core errors and panics into JavaScript errors, built here, once.
//!
//! A core error becomes a JavaScript `Error` whose `code` property is its stable code
//! (`ERR_WRONG_EPOCH`) and whose `message` is the core's message: napi-rs sets the status of an
//! [`napi::Error`] as the thrown error's `code`, so the status here is the code itself
//! ([`Coded`]). A rejected thread-pool task rejects with the same kind of object (see
//! `crate::task`). The TypeScript wrapper only re-types it as `OpenMlsError`; nothing parses a
//! message.

use napi::bindgen_prelude::{JsError, Unknown};
use napi::Env;
use openmls_node_core::guard::guarded;

/// The status of an error thrown to JavaScript: its stable code, which napi-rs sets as the
/// error's `code` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coded(pub openmls_node_core::ErrorCode);

impl AsRef<str> for Coded {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

/// The result of every exported function: an error carries its code.
pub type Result<T> = napi::Result<T, Coded>;

/// Converts a core error into the error JavaScript receives (`code`, `message`).
pub fn to_napi(err: openmls_node_core::Error) -> napi::Error<Coded> {
    napi::Error::new(Coded(err.code), err.message)
}

/// A failure of napi-rs itself while building a value (out of memory, a closing environment):
/// `ERR_INTERNAL`, with napi-rs's text.
pub fn from_napi(err: napi::Error) -> napi::Error<Coded> {
    to_napi(openmls_node_core::Error::internal(format!("N-API: {}", err.reason)))
}

/// The JavaScript error object for a core error, built on the main thread (for a task's
/// rejection).
pub fn to_js_error(env: Env, err: openmls_node_core::Error) -> napi::Error {
    let value: Unknown<'_> = JsError::from(to_napi(err)).into_unknown(env);
    napi::Error::from(value)
}

/// Runs an operation with panics caught, converting its error for JavaScript.
pub fn run<T>(f: impl FnOnce() -> openmls_node_core::Result<T>) -> Result<T> {
    guarded(f).map_err(to_napi)
}

/// Declares the JavaScript `ErrorCode` enum from the core crate's one list of codes, and its
/// conversion from the core's.
macro_rules! js_error_codes {
    ($($(#[doc = $doc:tt])* $name:ident => $code:tt,)*) => {
        /// Every stable error code openmls-node throws, as `error.code`. Codes are never renamed
        /// or reused for another meaning.
        #[napi_derive::napi(string_enum)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[napi(value = $code)] $name,)*
        }

        impl From<openmls_node_core::ErrorCode> for ErrorCode {
            fn from(code: openmls_node_core::ErrorCode) -> Self {
                match code {
                    $(openmls_node_core::ErrorCode::$name => ErrorCode::$name,)*
                }
            }
        }
    };
}

/// An error that is returned rather than thrown: one failed slot of a batch.
#[napi_derive::napi(object, object_from_js = false)]
pub struct NativeError {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl From<openmls_node_core::Error> for NativeError {
    fn from(err: openmls_node_core::Error) -> Self {
        NativeError { code: err.code.into(), message: err.message }
    }
}

openmls_node_core::for_each_error_code!(js_error_codes);
