//! One libuv thread-pool task type for every asynchronous operation.
//!
//! The work closure owns copies of its inputs (never a JavaScript buffer) and `Arc`s of the handles
//! it uses, so it is `Send`. It runs under the panic guard on a pool thread; `to_js` builds the
//! JavaScript result back on the main thread.

use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{Env, Task};
use openmls_node_core::guard::guarded;

use crate::error::to_js_error;

type Work<T> = Box<dyn FnOnce() -> openmls_node_core::Result<T> + Send>;

/// A unit of work for the libuv thread pool.
pub struct Job<T: Send + 'static, J> {
    work: Option<Work<T>>,
    to_js: fn(T) -> napi::Result<J>,
    /// The work's error, kept for `reject` to build the JavaScript error from (code and message)
    /// on the main thread.
    failed: Option<openmls_node_core::Error>,
}

impl<T: Send + 'static, J> Job<T, J> {
    /// Wraps work and the conversion of its result.
    pub fn new(work: impl FnOnce() -> openmls_node_core::Result<T> + Send + 'static, to_js: fn(T) -> napi::Result<J>) -> Self {
        Self { work: Some(Box::new(work)), to_js, failed: None }
    }
}

// SAFETY-free: a Job only holds a `Send` closure, a fn pointer and a core error.
impl<T: Send + 'static, J: ToNapiValue + TypeName> Task for Job<T, J> {
    type Output = T;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<T> {
        let result = match self.work.take() {
            Some(work) => guarded(work),
            None => Err(openmls_node_core::Error::internal("task ran twice")),
        };
        result.map_err(|err| {
            // napi-rs's task error has no room for a code: keep the error, `reject` builds it.
            self.failed = Some(err);
            napi::Error::from_reason("failed")
        })
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<J> {
        (self.to_js)(output)
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<J> {
        match self.failed.take() {
            Some(failed) => Err(to_js_error(env, failed)),
            // Not the work's own error (napi-rs failed around it): as napi-rs made it.
            None => Err(err),
        }
    }
}

/// The JavaScript result of a task that returns nothing.
pub fn unit_to_js(_: ()) -> napi::Result<()> {
    Ok(())
}
