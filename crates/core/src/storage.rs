//! Storage: openmls's `StorageProvider` through `openmls_sqlite_storage`, on one SQLite
//! connection per provider: a file, or `:memory:` for the in-memory default.
//!
//! - **Atomic operations.** Every public operation runs in [`Storage::atomically`]: one SQLite
//!   transaction (`BEGIN IMMEDIATE` … `COMMIT`), rolled back on any error or panic. The provider's
//!   lock serializes operations, so the connection is only ever used by the thread that holds it.
//! - **Crash safety.** WAL journal, `synchronous=FULL`: a committed operation survives a crash, an
//!   interrupted one leaves no trace.
//! - **Forward secrecy on disk.** `secure_delete=ON` zeroes deleted rows, and every write
//!   transaction ends with a `TRUNCATE` checkpoint, so deleted keys do not linger in the WAL.
//! - **Encryption at rest.** With a key, the codec seals every value and key with a deterministic
//!   AEAD (SIV construction: nonce = HMAC(plaintext), ChaCha20-Poly1305), so lookups by key still
//!   work while nothing secret and no group id is readable in the file.
//! - **One opener.** `locking_mode=EXCLUSIVE` keeps other processes out; a registry of open paths
//!   refuses a second open in this process.

use std::borrow::Borrow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use openmls_sqlite_storage::{Codec, SqliteStorageProvider};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::Sha256;

use crate::error::{Error, ErrorCode, Result};

/// The storage format this version writes. A database with a newer version is refused.
pub const FORMAT_VERSION: i64 = 1;
const FORMAT_NAME: &[u8] = b"openmls-node";
const SEALED_MAGIC: &[u8; 4] = b"OMN1";
const KEY_CHECK: &[u8] = b"openmls-node storage key check";

/// openmls's storage provider over this module's connection and codec.
pub type Store = SqliteStorageProvider<NodeCodec, ConnHandle>;

// ----------------------------------------------------------------------------------------------
// The codec: JSON, sealed when the provider has a key.

struct CodecKey {
    enc: ChaCha20Poly1305,
    mac: [u8; 32],
}

thread_local! {
    static CODEC_KEY: RefCell<Option<Arc<CodecKey>>> = const { RefCell::new(None) };
    static THREAD_TOKEN: u64 = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    static TX_DEPTH: Cell<u32> = const { Cell::new(0) };
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Whether this thread is inside a storage transaction.
pub fn in_transaction() -> bool {
    TX_DEPTH.with(|d| d.get()) > 0
}

fn thread_token() -> u64 {
    THREAD_TOKEN.with(|t| *t)
}

/// The codec error: JSON failures, and sealed data that does not open.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// JSON (de)serialization failed.
    #[error("storage codec: {0}")]
    Json(#[from] serde_json::Error),
    /// Sealed data did not open with this provider's key, or a key is missing.
    #[error("storage codec: the stored value does not open with this key")]
    Sealed,
}

/// JSON, as openmls 0.9 requires of storage codecs, sealed when a key is set.
#[derive(Default)]
pub struct NodeCodec;

impl Codec for NodeCodec {
    type Error = CodecError;

    fn to_vec<T: serde::Serialize>(value: &T) -> std::result::Result<Vec<u8>, Self::Error> {
        let json = serde_json::to_vec(value)?;
        Ok(CODEC_KEY.with(|k| match k.borrow().as_ref() {
            Some(key) => seal(key, &json),
            None => json,
        }))
    }

    fn from_slice<T: serde::de::DeserializeOwned>(slice: &[u8]) -> std::result::Result<T, Self::Error> {
        let json = CODEC_KEY.with(|k| match k.borrow().as_ref() {
            Some(key) => open(key, slice).ok_or(CodecError::Sealed),
            None if slice.starts_with(SEALED_MAGIC) => Err(CodecError::Sealed),
            None => Ok(slice.to_vec()),
        })?;
        Ok(serde_json::from_slice(&json)?)
    }
}

fn siv(key: &CodecKey, plaintext: &[u8]) -> [u8; 12] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.mac).expect("HMAC takes any key length");
    mac.update(plaintext);
    let tag = mac.finalize().into_bytes();
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&tag[..12]);
    nonce
}

fn seal(key: &CodecKey, plaintext: &[u8]) -> Vec<u8> {
    let nonce = siv(key, plaintext);
    let ciphertext = key
        .enc
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    [SEALED_MAGIC.as_slice(), &nonce, &ciphertext].concat()
}

fn open(key: &CodecKey, sealed: &[u8]) -> Option<Vec<u8>> {
    let rest = sealed.strip_prefix(SEALED_MAGIC.as_slice())?;
    if rest.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = rest.split_at(12);
    let plaintext = key.enc.decrypt(Nonce::from_slice(nonce), ciphertext).ok()?;
    (siv(key, &plaintext) == nonce).then_some(plaintext)
}

fn derive_key(secret: &[u8]) -> Result<Arc<CodecKey>> {
    if secret.len() != 32 {
        return Err(Error::invalid_argument("the storage encryption key must be 32 random bytes"));
    }
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"openmls-node storage v1"), secret);
    let (mut enc, mut mac) = ([0u8; 32], [0u8; 32]);
    hk.expand(b"encryption", &mut enc).expect("32 bytes is a valid HKDF length");
    hk.expand(b"authentication", &mut mac).expect("32 bytes is a valid HKDF length");
    Ok(Arc::new(CodecKey {
        enc: ChaCha20Poly1305::new((&enc).into()),
        mac,
    }))
}

/// Refines a generic storage error by what SQLite said (full disk, read-only, locked).
pub fn refine(err: Error) -> Error {
    if err.code != ErrorCode::Storage {
        return err;
    }
    let text = err.message.to_lowercase();
    let code = if text.contains("full") {
        ErrorCode::StorageFull
    } else if text.contains("readonly") || text.contains("read-only") || text.contains("read only") {
        ErrorCode::StorageReadOnly
    } else if text.contains("locked") || text.contains("busy") {
        ErrorCode::StorageLocked
    } else {
        return err;
    };
    Error::new(code, err.message)
}

/// Encodes a value with the codec of the running transaction (sealed when the provider has a key).
pub(crate) fn encode_value<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    NodeCodec::to_vec(value).map_err(|e| Error::new(ErrorCode::Storage, e.to_string()))
}

/// Decodes a value stored with [`encode_value`].
pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    NodeCodec::from_slice(bytes).map_err(|e| Error::new(ErrorCode::StorageCorrupt, e.to_string()))
}

// ----------------------------------------------------------------------------------------------
// The connection, shared under the provider's lock.

/// The SQLite connection. It is only touched by the thread holding the provider's lock; the
/// borrow checks that at run time, so a bug shows as an `ERR_INTERNAL`, never as a data race.
pub struct SharedConnection {
    conn: std::cell::UnsafeCell<Option<Connection>>,
    owner: AtomicU64,
    path: Option<PathBuf>,
}

// SAFETY: `Connection` is `Send` but not `Sync` (its statement cache is a `RefCell`). Every access
// goes through `Borrow::borrow` or `Storage::close` below, which only run on the thread that holds
// the provider's transaction lock (`owner`), so no two threads ever use the connection at once.
unsafe impl Sync for SharedConnection {}

impl Drop for SharedConnection {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            if let Ok(mut open) = open_paths().lock() {
                open.remove(path);
            }
        }
    }
}

/// A cheap handle on the shared connection, as `openmls_sqlite_storage` wants it.
#[derive(Clone)]
pub struct ConnHandle(Arc<SharedConnection>);

impl Borrow<Connection> for ConnHandle {
    fn borrow(&self) -> &Connection {
        assert_eq!(
            self.0.owner.load(Ordering::SeqCst),
            thread_token(),
            "storage used outside of a transaction"
        );
        // SAFETY: only the owning thread gets here (checked above), and `close` takes the
        // connection out only while it is that owner; `atomically` refuses to run once closed.
        unsafe { (*self.0.conn.get()).as_ref() }.expect("storage used after close")
    }
}

fn open_paths() -> &'static Mutex<HashSet<PathBuf>> {
    static OPEN: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

// ----------------------------------------------------------------------------------------------
// Opening.

/// Where and how a provider keeps its state.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    /// The database file; in memory when absent.
    pub path: Option<PathBuf>,
    /// A 32-byte key: encrypts everything stored.
    pub key: Option<Vec<u8>>,
    /// Open the file read-only: every write fails with `ERR_STORAGE_READONLY`.
    pub read_only: bool,
    /// Cap the database size, in pages (a test hook that simulates a full disk).
    pub max_page_count: Option<u64>,
}

/// A provider's storage: openmls's store, the connection, and the transaction lock.
pub struct Storage {
    store: Store,
    conn: ConnHandle,
    key: Option<Arc<CodecKey>>,
    tx_lock: Mutex<()>,
    file_backed: bool,
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("path", &self.conn.0.path)
            .field("encrypted", &self.key.is_some())
            .finish()
    }
}

fn sql_error(err: rusqlite::Error) -> Error {
    sql_error_ref(&err)
}

fn sql_error_ref(err: &rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as E;
    let code = match err.sqlite_error_code() {
        Some(E::DatabaseBusy) | Some(E::DatabaseLocked) => ErrorCode::StorageLocked,
        Some(E::NotADatabase) | Some(E::DatabaseCorrupt) => ErrorCode::StorageCorrupt,
        Some(E::DiskFull) => ErrorCode::StorageFull,
        Some(E::ReadOnly) | Some(E::CannotOpen) if err.to_string().contains("readonly") => ErrorCode::StorageReadOnly,
        Some(E::ReadOnly) => ErrorCode::StorageReadOnly,
        _ => ErrorCode::Storage,
    };
    Error::new(code, format!("storage: {err}"))
}

/// Maps an error from openmls's store (a rusqlite error, possibly wrapping a codec error).
pub fn store_error(err: &rusqlite::Error) -> Error {
    if let rusqlite::Error::ToSqlConversionFailure(inner) | rusqlite::Error::FromSqlConversionFailure(_, _, inner) = err {
        if inner.to_string().contains("does not open") {
            return Error::new(ErrorCode::WrongStorageKey, "a stored value does not open with this key");
        }
    }
    sql_error_ref(err)
}

impl Storage {
    /// Opens (or creates) storage, checks it is ours and the key is right, and migrates it.
    pub fn open(options: &StorageOptions) -> Result<Self> {
        let key = options.key.as_deref().map(derive_key).transpose()?;
        let (conn, path) = match &options.path {
            None => (open_small_in_memory()?, None),
            Some(path) => {
                let canonical = canonical(path)?;
                if !open_paths().lock().map_err(|_| Error::internal("registry poisoned"))?.insert(canonical.clone()) {
                    return Err(Error::new(
                        ErrorCode::StorageLocked,
                        "this database is already open in this process; use the open provider",
                    ));
                }
                let flags = if options.read_only {
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                } else {
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
                } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                match Connection::open_with_flags(path, flags) {
                    Ok(c) => (c, Some(canonical)),
                    Err(e) => {
                        open_paths().lock().map_err(|_| Error::internal("registry poisoned"))?.remove(&canonical);
                        return Err(sql_error(e));
                    }
                }
            }
        };
        Self::from_connection(conn, path, key, options)
    }

    fn from_connection(mut conn: Connection, path: Option<PathBuf>, key: Option<Arc<CodecKey>>, options: &StorageOptions) -> Result<Self> {
        let file_backed = path.is_some();
        // Until it is shared, the connection is this thread's alone: set it up directly.
        let init = initialize(&mut conn, key.as_deref(), file_backed, options);
        let shared = Arc::new(SharedConnection { conn: std::cell::UnsafeCell::new(Some(conn)), owner: AtomicU64::new(0), path });
        init?;
        let handle = ConnHandle(shared);
        Ok(Storage {
            store: Store::new(handle.clone()),
            conn: handle,
            key,
            tx_lock: Mutex::new(()),
            file_backed,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, ()>> {
        self.tx_lock
            .lock()
            .map_err(|_| Error::internal("storage lock poisoned by an earlier internal error"))
    }

    /// Runs `f` with this thread marked as the connection's user and the codec key set.
    fn with_owner<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.conn.0.owner.store(thread_token(), Ordering::SeqCst);
        // Another provider's transaction may be running on this thread around this one: keep its key.
        let outer_key = CODEC_KEY.with(|k| k.replace(self.key.clone()));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        CODEC_KEY.with(|k| *k.borrow_mut() = outer_key);
        self.conn.0.owner.store(0, Ordering::SeqCst);
        match result {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn connection(&self) -> &Connection {
        self.conn.borrow()
    }

    fn read_only(&self) -> bool {
        self.connection().is_readonly(rusqlite::MAIN_DB).unwrap_or(false)
    }

    /// Commits (and checkpoints) on success, rolls back on error.
    fn finish<T>(&self, result: Result<T>) -> Result<T> {
        let conn = self.connection();
        match result {
            Ok(value) => {
                if let Err(e) = conn.execute_batch("COMMIT") {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(sql_error(e));
                }
                if self.file_backed {
                    // Deleted keys must not survive in the WAL.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                }
                Ok(value)
            }
            Err(err) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(err)
            }
        }
    }

    /// Runs `f` as one transaction: all of its writes are committed, or none. Nested calls on the
    /// same thread join the outer transaction.
    pub fn atomically<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.transaction(|| f().map(|value| (value, true)))
    }

    /// Runs `f` as one transaction whose writes are kept only if `f` says so: `Ok((value, false))`
    /// rolls them back and still returns `value`. Used to look at what an operation would do
    /// without letting it use up anything (a commit waiting for the application's verdict).
    /// It cannot be nested: an outer transaction would keep what this one discards.
    pub fn transaction<T>(&self, f: impl FnOnce() -> Result<(T, bool)>) -> Result<T> {
        if TX_DEPTH.with(|d| d.get()) > 0 && self.conn.0.owner.load(Ordering::SeqCst) == thread_token() {
            return match f()? {
                (value, true) => Ok(value),
                (_, false) => Err(Error::internal("a discarding transaction cannot run inside another transaction")),
            };
        }
        let _lock = self.lock()?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorCode::StorageClosed, "this provider was closed"));
        }
        self.with_owner(|| {
            self.connection().execute_batch("BEGIN IMMEDIATE").map_err(sql_error)?;
            TX_DEPTH.with(|d| d.set(d.get() + 1));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            TX_DEPTH.with(|d| d.set(d.get() - 1));
            match result {
                // openmls reports some failed writes as library errors: on a read-only database,
                // a failed operation is a read-only error.
                Ok(Err(e)) if matches!(e.code, ErrorCode::Internal | ErrorCode::Storage) && self.read_only() => {
                    self.finish::<T>(Err(Error::new(ErrorCode::StorageReadOnly, format!("the database is read-only ({})", e.message))))
                }
                Ok(Ok((value, false))) => {
                    self.connection().execute_batch("ROLLBACK").map_err(sql_error)?;
                    Ok(value)
                }
                Ok(r) => self.finish(r.map(|(value, _)| value)),
                Err(panic) => {
                    let _ = self.connection().execute_batch("ROLLBACK");
                    std::panic::resume_unwind(panic)
                }
            }
        })
    }

    /// Closes the database: releases the file and its lock. Every later operation is `ERR_STORAGE_CLOSED`.
    pub fn close(&self) -> Result<()> {
        let _lock = self.lock()?;
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.conn.0.owner.store(thread_token(), Ordering::SeqCst);
        // SAFETY: this thread holds the transaction lock and is the recorded owner, and `closed` is
        // set, so no one else can reach the connection any more.
        let conn = unsafe { (*self.conn.0.conn.get()).take() };
        self.conn.0.owner.store(0, Ordering::SeqCst);
        if let Some(path) = &self.conn.0.path {
            if let Ok(mut open) = open_paths().lock() {
                open.remove(path);
            }
        }
        if let Some(conn) = conn {
            conn.close().map_err(|(_, e)| sql_error(e))?;
        }
        Ok(())
    }

    /// openmls's store. Use it inside [`Storage::atomically`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The raw connection, for this crate's own tables. Inside [`Storage::atomically`] only.
    pub(crate) fn sql(&self) -> &Connection {
        self.connection()
    }

    /// Whether this storage is a file.
    pub fn is_file(&self) -> bool {
        self.file_backed
    }

    /// The whole database as bytes (an SQLite image), for backups and snapshots.
    pub fn export(&self) -> Result<Vec<u8>> {
        self.atomically(|| {
            let data = self.sql().serialize(rusqlite::MAIN_DB).map_err(sql_error)?;
            Ok(data.to_vec())
        })
    }

    /// Opens an in-memory database from a snapshot made by [`Storage::export`], and checks it.
    pub fn import(options: &StorageOptions, snapshot: &[u8]) -> Result<Self> {
        if options.path.is_some() {
            return Err(Error::invalid_argument("snapshots are imported into in-memory providers"));
        }
        let key = options.key.as_deref().map(derive_key).transpose()?;
        let mut conn = Connection::open_in_memory().map_err(sql_error)?;
        conn.deserialize_read_exact(rusqlite::MAIN_DB, snapshot, snapshot.len(), false)
            .map_err(|e| Error::new(ErrorCode::StorageCorrupt, format!("not a snapshot ({e})")))?;
        let has_meta: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'openmls_node_meta'", [], |r| r.get(0))
            .map_err(|e| Error::new(ErrorCode::StorageCorrupt, format!("not a snapshot ({e})")))?;
        if has_meta != 1 {
            return Err(Error::new(ErrorCode::StorageCorrupt, "not an openmls-node snapshot"));
        }
        Self::from_connection(conn, None, key, options)
    }
}

/// An in-memory database sized for one client: 1 KiB pages (openmls's ~20 tables take a page each
/// even when empty) and no per-connection lookaside arena (SQLite reserves ~120 KiB for it by
/// default). A server holding thousands of clients pays for what they store, not for slack.
fn open_small_in_memory() -> Result<Connection> {
    let conn = Connection::open_in_memory().map_err(sql_error)?;
    // SAFETY: `conn.handle()` is this connection's live sqlite3 pointer; configuring lookaside
    // before any statement runs is what the SQLite documentation prescribes.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_config(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::ffi::c_void>(),
            0 as std::ffi::c_int,
            0 as std::ffi::c_int,
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        return Err(Error::new(ErrorCode::Storage, "cannot configure the in-memory database"));
    }
    conn.pragma_update(None, "page_size", 1024).map_err(sql_error)?;
    Ok(conn)
}

/// Sets up a fresh connection: checks it is a readable database of ours with the right key, sets
/// the pragmas, takes the write lock (a second process fails here), and migrates.
fn initialize(conn: &mut Connection, key: Option<&CodecKey>, file_backed: bool, options: &StorageOptions) -> Result<()> {
    conn.busy_timeout(Duration::ZERO).map_err(sql_error)?;
    // The first read tells a corrupt file or a foreign format from an empty database.
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(|e| {
        let err = sql_error_ref(&e);
        match err.code {
            ErrorCode::Storage => Error::new(ErrorCode::StorageCorrupt, format!("not a readable SQLite database ({e})")),
            _ => err,
        }
    })?;
    if file_backed {
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(sql_error)?;
        if !options.read_only {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(sql_error)?;
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql_error)?;
    }
    conn.pragma_update(None, "secure_delete", "ON").map_err(sql_error)?;
    if let Some(pages) = options.max_page_count {
        conn.pragma_update(None, "max_page_count", pages).map_err(sql_error)?;
    }
    let ours = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'openmls_node_meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql_error)?
        == 1;
    if tables > 0 && !ours {
        return Err(Error::new(
            ErrorCode::StorageCorrupt,
            "this database belongs to another application (no openmls-node metadata)",
        ));
    }
    if ours {
        check_meta(conn, key)?;
    } else if options.read_only {
        return Err(Error::new(ErrorCode::StorageCorrupt, "a read-only database must already exist"));
    }
    if options.read_only {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql_error)?;
    if !ours {
        create_meta(&tx, key)?;
    }
    tx.commit().map_err(sql_error)?;
    SqliteStorageProvider::<NodeCodec, &mut Connection>::new(conn)
        .run_migrations()
        .map_err(|e| Error::new(ErrorCode::Storage, format!("storage migration failed ({e})")))?;
    Ok(())
}

fn create_meta(conn: &Connection, key: Option<&CodecKey>) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE openmls_node_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
         CREATE TABLE openmls_node_groups (group_id BLOB PRIMARY KEY);
         CREATE TABLE openmls_node_identity (id INTEGER PRIMARY KEY CHECK (id = 1), identity BLOB NOT NULL);",
    )
    .map_err(sql_error)?;
    let key_check = key.map(|k| seal(k, KEY_CHECK)).unwrap_or_default();
    let mut insert = conn.prepare("INSERT INTO openmls_node_meta (name, value) VALUES (?1, ?2)").map_err(sql_error)?;
    insert.execute(rusqlite::params!["format", FORMAT_NAME]).map_err(sql_error)?;
    insert.execute(rusqlite::params!["format_version", FORMAT_VERSION]).map_err(sql_error)?;
    insert.execute(rusqlite::params!["key_check", key_check]).map_err(sql_error)?;
    Ok(())
}

fn check_meta(conn: &Connection, key: Option<&CodecKey>) -> Result<()> {
    let get = |name: &str| -> Result<Option<rusqlite::types::Value>> {
        conn.query_row("SELECT value FROM openmls_node_meta WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(sql_error)
    };
    if !matches!(get("format")?, Some(rusqlite::types::Value::Blob(b)) if b == FORMAT_NAME) {
        return Err(Error::new(ErrorCode::StorageCorrupt, "not an openmls-node database"));
    }
    match get("format_version")? {
        Some(rusqlite::types::Value::Integer(v)) if v == FORMAT_VERSION => {}
        Some(rusqlite::types::Value::Integer(v)) if v > FORMAT_VERSION => {
            return Err(Error::new(
                ErrorCode::StorageVersion,
                format!("the database has format version {v}; this openmls-node reads up to {FORMAT_VERSION}"),
            ))
        }
        _ => return Err(Error::new(ErrorCode::StorageCorrupt, "the database's format version is unreadable")),
    }
    let check = match get("key_check")? {
        Some(rusqlite::types::Value::Blob(b)) => b,
        _ => return Err(Error::new(ErrorCode::StorageCorrupt, "the database's key check is missing")),
    };
    match (key, check.is_empty()) {
        (None, true) => Ok(()),
        (None, false) => Err(Error::new(ErrorCode::WrongStorageKey, "this database is encrypted: open it with its key")),
        (Some(_), true) => Err(Error::new(ErrorCode::WrongStorageKey, "this database is not encrypted: open it without a key")),
        (Some(key), false) => match open(key, &check) {
            Some(p) if p == KEY_CHECK => Ok(()),
            _ => Err(Error::new(ErrorCode::WrongStorageKey, "wrong storage key")),
        },
    }
}

fn canonical(path: &Path) -> Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| Error::new(ErrorCode::Storage, e.to_string()))?.join(path)
    };
    // The file may not exist yet: canonicalize its directory.
    let dir = absolute.parent().unwrap_or(Path::new("/"));
    let name = absolute.file_name().ok_or_else(|| Error::invalid_argument("the storage path must name a file"))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::new(ErrorCode::Storage, format!("storage directory {}: {e}", dir.display())))?;
    Ok(dir.join(name))
}
