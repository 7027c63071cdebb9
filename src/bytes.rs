//! Bytes across the boundary, always copied: a `Uint8Array` in JavaScript, a `Vec<u8>` here.
//!
//! napi-rs's own `Uint8Array` hands Rust-owned memory to V8 as an *external* ArrayBuffer, freed by a
//! finalizer. Node runs those finalizers only when the event loop turns, so a loop that never yields
//! holds every result until it does, and Electron 21+ forbids external buffers outright (the V8
//! memory cage). This type copies instead: outgoing bytes go into an ArrayBuffer that V8 allocates
//! and owns (collected like any JS object), incoming bytes are copied out of the caller's view at
//! once. Every byte-carrying value of the binding uses it; a test in `__test__/correctness.test.mts`
//! keeps it that way. (A synchronous call may borrow its input as `&[u8]` instead: the caller's
//! view cannot change while the call runs.)

use std::ops::Deref;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Error, Result, Status, ValueType};

/// Bytes that cross N-API as a `Uint8Array`, by copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uint8Array(Vec<u8>);

impl Uint8Array {
    /// Wraps bytes for JavaScript.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Uint8Array {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl Deref for Uint8Array {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Uint8Array {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl TypeName for Uint8Array {
    fn type_name() -> &'static str {
        "Uint8Array"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for Uint8Array {
    unsafe fn validate(env: sys::napi_env, value: sys::napi_value) -> Result<sys::napi_value> {
        unsafe { <&[u8] as ValidateNapiValue>::validate(env, value) }
    }
}

impl FromNapiValue for Uint8Array {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let view = unsafe { <&[u8] as FromNapiValue>::from_napi_value(env, value)? };
        Ok(Self(view.to_vec()))
    }
}

impl ToNapiValue for Uint8Array {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> Result<sys::napi_value> {
        unsafe { typed_array(env, &[&value.0]) }
    }
}

/// A large byte run and a small tail sent as one `Uint8Array`, each copied once into V8's buffer:
/// the large one is not grown (and so copied) to append the tail first.
#[derive(Debug)]
pub struct Concat(pub Vec<u8>, pub Vec<u8>);

/// The same JavaScript type as [`Uint8Array`].
impl TypeName for Concat {
    fn type_name() -> &'static str {
        Uint8Array::type_name()
    }

    fn value_type() -> ValueType {
        Uint8Array::value_type()
    }
}

impl ToNapiValue for Concat {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> Result<sys::napi_value> {
        unsafe { typed_array(env, &[&value.0, &value.1]) }
    }
}

/// A `Uint8Array` over a new ArrayBuffer that V8 allocates and owns, holding `parts` one after the other.
unsafe fn typed_array(env: sys::napi_env, parts: &[&[u8]]) -> Result<sys::napi_value> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    // SAFETY: napi_create_arraybuffer allocates `len` bytes owned by V8 and returns their address;
    // we fill them before any JavaScript runs.
    let status = unsafe { sys::napi_create_arraybuffer(env, len, &mut data, &mut buffer) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(Status::GenericFailure, "cannot allocate an ArrayBuffer"));
    }
    let mut at = data.cast::<u8>();
    for part in parts.iter().filter(|p| !p.is_empty()) {
        // SAFETY: the parts add up to `len`, so each copy stays inside the buffer.
        unsafe {
            ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
            at = at.add(part.len());
        }
    }
    let mut array = ptr::null_mut();
    let status = unsafe { sys::napi_create_typedarray(env, sys::TypedarrayType::uint8_array, len, buffer, 0, &mut array) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(Status::GenericFailure, "cannot create a Uint8Array"));
    }
    Ok(array)
}
