//! One libuv thread-pool task type for every asynchronous operation.
//!
//! The work closure owns copies of its inputs (never a JavaScript buffer) and `Arc`s of the handles
//! it uses, so it is `Send`. It runs under the panic guard on a pool thread; `to_js` builds the
//! JavaScript result back on the main thread.

use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{Env, Task};
use openmls_node_core::guard::guarded;

use crate::error::to_napi;

type Work<T> = Box<dyn FnOnce() -> openmls_node_core::Result<T> + Send>;

/// A unit of work for the libuv thread pool.
pub struct Job<T: Send + 'static, J> {
    work: Option<Work<T>>,
    to_js: fn(T) -> napi::Result<J>,
}

impl<T: Send + 'static, J> Job<T, J> {
    /// Wraps work and the conversion of its result.
    pub fn new(
        work: impl FnOnce() -> openmls_node_core::Result<T> + Send + 'static,
        to_js: fn(T) -> napi::Result<J>,
    ) -> Self {
        Self {
            work: Some(Box::new(work)),
            to_js,
        }
    }
}

// SAFETY-free: a Job only holds a `Send` closure and a fn pointer.
impl<T: Send + 'static, J: ToNapiValue + TypeName> Task for Job<T, J> {
    type Output = T;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<T> {
        let work = self
            .work
            .take()
            .ok_or_else(|| to_napi(openmls_node_core::Error::internal("task ran twice")))?;
        guarded(work).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<J> {
        (self.to_js)(output)
    }
}
