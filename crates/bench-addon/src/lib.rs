//! The in-Node floor of `npm run bench`: native openmls (`openmls_rust_crypto`, openmls's own
//! in-memory storage) called through N-API with nothing else between, the least any Node binding
//! of openmls does. Its calls take the same shape as openmls-node's: `*Sync` ones on the calling
//! thread, Promise ones as a libuv thread-pool task each, bytes handed to JavaScript by copy into
//! an ArrayBuffer V8 owns (napi-rs's `Uint8ArraySlice::copy_from`). Against it, an overhead is the
//! binding's own: the thread pool's round trip and V8's buffers are in both.
//!
//! Loaded only by the benchmark (bench/floor.mts), never published.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName, Uint8ArraySlice};
use napi::{sys, Env, Task, ValueType};
use napi_derive::napi;
use openmls::prelude::StagedCommit;
use openmls_node_bench::{decrypt, encrypt, lock, merge_staged, pool_key_packages, process_commit, self_update, Pair};

#[cfg(not(any(all(target_os = "linux", target_env = "musl", target_arch = "aarch64"), all(windows, target_env = "gnu"))))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bytes for JavaScript, copied into an ArrayBuffer that V8 allocates and owns.
pub struct Copied(Vec<u8>);

impl TypeName for Copied {
    fn type_name() -> &'static str {
        "Uint8Array"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Copied {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        let slice = Uint8ArraySlice::copy_from(&Env::from_raw(env), &value.0)?;
        unsafe { ToNapiValue::to_napi_value(env, slice) }
    }
}

/// One call on the libuv thread pool: `work` there, `to_js` back on the main thread.
pub struct Work<T: Send + 'static, J> {
    work: Option<Box<dyn FnOnce() -> T + Send>>,
    to_js: fn(T) -> J,
}

impl<T: Send + 'static, J: ToNapiValue + TypeName> Task for Work<T, J> {
    type Output = T;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<T> {
        let work = self.work.take().ok_or_else(|| napi::Error::from_reason("ran twice"))?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|_| napi::Error::from_reason("openmls failed"))
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<J> {
        Ok((self.to_js)(output))
    }
}

fn task<T: Send + 'static, J: ToNapiValue + TypeName>(
    work: impl FnOnce() -> T + Send + 'static,
    to_js: fn(T) -> J,
) -> AsyncTask<Work<T, J>> {
    AsyncTask::new(Work { work: Some(Box::new(work)), to_js })
}

/// A commit that `FloorPair.processCommit` staged, to merge.
#[napi]
pub struct FloorStagedCommit {
    inner: Mutex<Option<Box<StagedCommit>>>,
}

impl FloorStagedCommit {
    fn take(&self) -> napi::Result<Box<StagedCommit>> {
        self.inner.lock().ok().and_then(|mut s| s.take()).ok_or_else(|| napi::Error::from_reason("merged already"))
    }
}

/// Two members of a group of native openmls: `a` (leaf 0) sends and commits, `b` (leaf 1) receives.
#[napi]
pub struct FloorPair {
    pair: Arc<Pair>,
}

#[napi]
impl FloorPair {
    /// A group of `size` members.
    #[napi(constructor)]
    pub fn new(size: u32) -> Self {
        let size = (size as usize).max(2);
        FloorPair { pair: Arc::new(Pair::new(size, &pool_key_packages(size - 2))) }
    }

    /// `a` encrypts an application message: its bytes on the wire.
    #[napi]
    pub fn encrypt_sync(&self, plaintext: &[u8]) -> Copied {
        Copied(encrypt(&self.pair.a, &mut lock(&self.pair.ga), plaintext))
    }

    /// `b` decrypts an application message: the plaintext.
    #[napi]
    pub fn decrypt_sync(&self, message: &[u8]) -> Copied {
        Copied(decrypt(&self.pair.b, &mut lock(&self.pair.gb), message))
    }

    /// `a` commits a self-update, on the calling thread: the commit's bytes (pending: merge it).
    #[napi]
    pub fn self_update_sync(&self) -> Copied {
        Copied(self_update(&self.pair.a, &self.pair.ga))
    }

    /// `a` merges its pending commit, on the calling thread.
    #[napi]
    pub fn merge_pending_commit_sync(&self) {
        lock(&self.pair.ga).merge_pending_commit(&self.pair.a.provider).expect("merge");
    }

    /// `a` commits a self-update, on the thread pool: the commit's bytes (pending: merge it).
    #[napi(ts_return_type = "Promise<Uint8Array>")]
    pub fn self_update(&self) -> AsyncTask<Work<Vec<u8>, Copied>> {
        let pair = self.pair.clone();
        task(move || self_update(&pair.a, &pair.ga), Copied)
    }

    /// `a` merges its pending commit, on the thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn merge_pending_commit(&self) -> AsyncTask<Work<(), ()>> {
        let pair = self.pair.clone();
        task(move || lock(&pair.ga).merge_pending_commit(&pair.a.provider).expect("merge"), |()| ())
    }

    /// `b` processes a commit, on the thread pool: the staged commit.
    #[napi(ts_return_type = "Promise<FloorStagedCommit>")]
    pub fn process_commit(&self, commit: &[u8]) -> AsyncTask<Work<Box<StagedCommit>, FloorStagedCommit>> {
        let (pair, commit) = (self.pair.clone(), commit.to_vec());
        task(move || process_commit(&pair.b, &pair.gb, &commit), |staged| FloorStagedCommit { inner: Mutex::new(Some(staged)) })
    }

    /// `b` merges a staged commit, on the thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn merge_staged_commit(&self, staged: &FloorStagedCommit) -> napi::Result<AsyncTask<Work<(), ()>>> {
        let (pair, staged) = (self.pair.clone(), staged.take()?);
        Ok(task(move || merge_staged(&pair.b, &pair.gb, *staged), |()| ()))
    }

    /// `b` processes a commit, on the calling thread: the staged commit.
    #[napi]
    pub fn process_commit_sync(&self, commit: &[u8]) -> FloorStagedCommit {
        FloorStagedCommit { inner: Mutex::new(Some(process_commit(&self.pair.b, &self.pair.gb, commit))) }
    }

    /// `b` merges a staged commit, on the calling thread.
    #[napi]
    pub fn merge_staged_commit_sync(&self, staged: &FloorStagedCommit) -> napi::Result<()> {
        merge_staged(&self.pair.b, &self.pair.gb, *staged.take()?);
        Ok(())
    }

    /// The epochs of `a` and `b`, to check that the two agree.
    #[napi]
    pub fn epochs(&self) -> Vec<u32> {
        vec![lock(&self.pair.ga).epoch().as_u64() as u32, lock(&self.pair.gb).epoch().as_u64() as u32]
    }
}
