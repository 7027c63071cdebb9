//! Storage: openmls's `StorageProvider` on one SQLite connection per provider (a file, or
//! `:memory:` for the in-memory default), with `openmls_sqlite_storage`'s tables, rows and codec;
//! or on a PostgreSQL database that many providers share ([`postgres`]). Statements run through
//! [`Db`], written once for both backends.
//!
//! - **Atomic operations.** Every public operation runs in [`Storage::atomically`]: one SQLite
//!   transaction (`BEGIN IMMEDIATE` … `COMMIT`), rolled back on any error or panic. A transaction
//!   takes the connection when it first touches storage and holds it to its end, so the crypto an
//!   operation does before that runs in parallel with other operations of the provider, and the
//!   connection is only ever used by the thread that holds it.
//! - **Cached statements.** openmls's group data, written on every message, and the rows every
//!   commit touches go through the statement cache ([`group_data`], [`keyed_rows`]), on the rows
//!   `openmls_sqlite_storage` uses.
//! - **In memory, group data in a map.** An in-memory provider keeps openmls's group data (the
//!   tree, the message secrets, …) in a map with an undo log that follows the SQLite transaction,
//!   not in SQLite pages ([`memory`]); snapshots still hold it as rows.
//! - **Typed faults.** [`Store`] wraps openmls's store and records the first fault SQLite or the
//!   codec reports during a transaction (full disk, read-only file, I/O error, damaged value), by
//!   its typed SQLite code. openmls reports some failed writes as library errors; the transaction
//!   then fails with the recorded fault's code instead, and is rolled back.
//! - **Crash safety.** WAL journal, `synchronous=FULL`: a committed operation survives a crash, an
//!   interrupted one leaves no trace.
//! - **Forward secrecy on disk.** `secure_delete=ON` zeroes deleted rows, and every write
//!   transaction ends with a `TRUNCATE` checkpoint, so deleted keys do not linger in the WAL.
//! - **Encryption at rest.** With a key, the codec seals every value and key with a deterministic
//!   AEAD (SIV construction: nonce = HMAC(plaintext), ChaCha20-Poly1305), so lookups by key still
//!   work while nothing secret and no group id is readable in the file.
//! - **One opener.** `locking_mode=EXCLUSIVE` keeps other processes out; a registry of open paths
//!   refuses a second open in this process. Processes that open a free file at the same moment
//!   cannot lock each other out: see [`lock_file`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use openmls_sqlite_storage::{Codec, SqliteStorageProvider};
use openmls_traits::storage::{traits, StorageProvider, CURRENT_VERSION};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::Sha256;

use crate::error::{Error, ErrorCode, Result};

mod db;
mod group_data;
mod keyed_rows;
mod memory;
pub mod postgres;

pub use db::DbError;
pub(crate) use db::{Arg, Cell, Db};

/// The storage format this version writes. A database with a newer version is refused.
pub const FORMAT_VERSION: i64 = 1;
const FORMAT_NAME: &[u8] = b"openmls-node";
const SEALED_MAGIC: &[u8; 4] = b"OMN1";
const KEY_CHECK: &[u8] = b"openmls-node storage key check";

/// The header every SQLite database file and image starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The table `openmls_sqlite_storage` has refinery keep its migration history in.
const MIGRATION_TABLE: &str = "openmls_sqlite_storage_migrations";
/// How long an open keeps trying while another process holds (or is taking) the file's lock.
const OPEN_LOCK_WAIT: Duration = Duration::from_millis(500);
/// Prepared statements kept per connection: what a commit, a message and the registry run, with room.
const STATEMENT_CACHE: usize = 40;

// ----------------------------------------------------------------------------------------------
// The codec: JSON, sealed when the provider has a key.

struct CodecKey {
    enc: ChaCha20Poly1305,
    mac: [u8; 32],
}

thread_local! {
    static CODEC_KEY: RefCell<Option<Arc<CodecKey>>> = const { RefCell::new(None) };
    static THREAD_TOKEN: u64 = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    static TX_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// The first fault recorded in this thread's running transaction.
    static TX_FAULT: RefCell<Option<Error>> = const { RefCell::new(None) };
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Whether this thread is inside a storage transaction.
pub fn in_transaction() -> bool {
    TX_DEPTH.with(|d| d.get()) > 0
}

/// A number for the calling thread, unique in this process.
pub(crate) fn thread_token() -> u64 {
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
        Self::to_vec_sized(value, 0)
    }

    fn from_slice<T: serde::de::DeserializeOwned>(slice: &[u8]) -> std::result::Result<T, Self::Error> {
        // Unsealed JSON is read where it lies: a ratchet tree is over 100 KB.
        let json: Cow<'_, [u8]> = CODEC_KEY.with(|k| match k.borrow().as_ref() {
            Some(key) => open(key, slice).map(Cow::Owned).ok_or(CodecError::Sealed),
            None if slice.starts_with(SEALED_MAGIC) => Err(CodecError::Sealed),
            None => Ok(Cow::Borrowed(slice)),
        })?;
        Ok(serde_json::from_slice(&json)?)
    }
}

impl NodeCodec {
    /// [`Codec::to_vec`] into a buffer that starts with room for `capacity` bytes. The caller that
    /// knows the size of the value it replaces (a group's 100 KB ratchet tree, rewritten on every
    /// commit) saves the buffer's growth by doubling: a dozen reallocations and copies.
    pub(crate) fn to_vec_sized<T: serde::Serialize>(value: &T, capacity: usize) -> std::result::Result<Vec<u8>, CodecError> {
        let mut json = Vec::with_capacity(capacity.max(128));
        serde_json::to_writer(&mut json, value)?;
        Ok(CODEC_KEY.with(|k| match k.borrow().as_ref() {
            Some(key) => seal(key, &json),
            None => json,
        }))
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
    let ciphertext =
        key.enc.encrypt(Nonce::from_slice(&nonce), plaintext).expect("ChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
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
    Ok(Arc::new(CodecKey { enc: ChaCha20Poly1305::new((&enc).into()), mac }))
}

/// Encodes a value with the codec of the running transaction (sealed when the provider has a key).
pub(crate) fn encode_value<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    NodeCodec::to_vec(value).map_err(|e| Error::new(ErrorCode::Storage, e.to_string()))
}

/// Decodes a value stored with [`encode_value`].
pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    NodeCodec::from_slice(bytes).map_err(|e| codec_error(&e).0)
}

// ----------------------------------------------------------------------------------------------
// Errors, classified by their typed SQLite code, and the faults a transaction records.

/// The error code for an SQLite result code.
fn code_of(code: rusqlite::ErrorCode) -> ErrorCode {
    use rusqlite::ErrorCode as E;
    match code {
        E::DatabaseBusy | E::DatabaseLocked => ErrorCode::StorageLocked,
        E::NotADatabase | E::DatabaseCorrupt => ErrorCode::StorageCorrupt,
        E::DiskFull => ErrorCode::StorageFull,
        E::ReadOnly => ErrorCode::StorageReadOnly,
        _ => ErrorCode::Storage,
    }
}

/// Whether an SQLite result code is about the database or its disk rather than about one
/// statement: a transaction that saw one cannot be trusted to hold what the operation wrote.
fn is_fault(code: rusqlite::ErrorCode) -> bool {
    use rusqlite::ErrorCode as E;
    matches!(
        code,
        E::DiskFull
            | E::ReadOnly
            | E::DatabaseBusy
            | E::DatabaseLocked
            | E::DatabaseCorrupt
            | E::NotADatabase
            | E::SystemIoFailure
            | E::OutOfMemory
            | E::CannotOpen
            | E::PermissionDenied
            | E::FileLockingProtocolFailed
            | E::NoLargeFileSupport
    )
}

/// A codec error as a storage error, and whether it is a fault. A stored value that does not open or
/// decode is damage: the key was checked when the database was opened. The codec's own text is left
/// out, as it may quote the decoded value.
fn codec_error(err: &CodecError) -> (Error, bool) {
    let what = match err {
        CodecError::Sealed => "a stored value does not open with the database's key",
        CodecError::Json(_) => "a stored value does not decode",
    };
    (Error::new(ErrorCode::StorageCorrupt, format!("storage: {what}; the database is damaged")), true)
}

/// Classifies an error of rusqlite (from openmls's store or this crate's own SQL), which may wrap a
/// codec error; returns whether it is a fault.
fn classify(err: &rusqlite::Error) -> (Error, bool) {
    use rusqlite::Error as R;
    let damaged = || (Error::new(ErrorCode::StorageCorrupt, "storage: a stored value has the wrong type; the database is damaged"), true);
    match err {
        R::FromSqlConversionFailure(_, _, inner) => match inner.downcast_ref::<CodecError>() {
            Some(codec) => codec_error(codec),
            None => damaged(),
        },
        R::InvalidColumnType(..) | R::IntegralValueOutOfRange(..) | R::Utf8Error(_) => damaged(),
        R::ToSqlConversionFailure(inner) => match inner.downcast_ref::<CodecError>() {
            Some(CodecError::Sealed) | None => (Error::new(ErrorCode::Storage, "storage: a value cannot be encoded"), false),
            Some(CodecError::Json(e)) => (Error::new(ErrorCode::Storage, format!("storage: a value cannot be encoded ({e})")), false),
        },
        _ => match err.sqlite_error_code() {
            Some(code) => (Error::new(code_of(code), format!("storage: {err}")), is_fault(code)),
            None => (Error::new(ErrorCode::Storage, format!("storage: {err}")), false),
        },
    }
}

/// Classifies an error of a store statement on either backend; returns whether it is a fault.
fn classify_db(err: &DbError) -> (Error, bool) {
    match err {
        DbError::Sqlite(e) => classify(e),
        DbError::Codec(c) => codec_error(c),
        DbError::Encode(what) => (Error::new(ErrorCode::Storage, format!("storage: a value cannot be encoded ({what})")), false),
        DbError::WrongType => {
            (Error::new(ErrorCode::StorageCorrupt, "storage: a stored value has the wrong type; the database is damaged"), true)
        }
        DbError::Postgres(e) => postgres::classify(e),
    }
}

/// Records a fault as the running transaction's, unless one was recorded first.
fn record_fault(fault: &Error) {
    if in_transaction() {
        TX_FAULT.with(|slot| {
            slot.borrow_mut().get_or_insert_with(|| fault.clone());
        });
    }
}

/// The result of an operation (or one item of a batch, `what`) given the first fault recorded
/// while it ran: a write that failed under an operation that went on, or that openmls reported as
/// a library or storage error, makes it fail with the fault's code, and none of it is kept.
fn settle<T>(result: Result<T>, fault: Option<Error>, what: &str) -> Result<T> {
    let rolled_back = |fault: Error| Error::new(fault.code, format!("{}; {what} was rolled back", fault.message));
    match (result, fault) {
        (Ok(value), None) => Ok(value),
        (Err(e), Some(fault)) if matches!(e.code, ErrorCode::Internal | ErrorCode::Storage) => Err(rolled_back(fault)),
        (Ok(_), Some(fault)) => Err(rolled_back(fault)),
        (Err(e), _) => Err(e),
    }
}

/// Runs a statement without parameters through the connection's statement cache.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The code of an error of a store statement (from openmls's store or this crate's SQL).
pub(crate) fn error_code(err: &DbError) -> ErrorCode {
    classify_db(err).0.code
}

fn sql_error(err: rusqlite::Error) -> Error {
    classify(&err).0
}

/// Maps an error from openmls's store or this crate's SQL, and records it if it is a fault.
pub fn store_error(err: &DbError) -> Error {
    let (error, fault) = classify_db(err);
    if fault {
        record_fault(&error);
    }
    error
}

// ----------------------------------------------------------------------------------------------
// openmls's store, with its faults recorded.

/// openmls's storage provider over a transaction's backend ([`Db`]) and this module's codec. An
/// error also becomes the running transaction's fault (see [`Storage::atomically`]), so it keeps
/// its code even where openmls turns it into a library error.
pub struct Store<'t> {
    slot: &'t TxSlot,
}

/// The group-data map's key of one epoch's key pairs: the same encoded group id and epoch as the
/// row's columns (`keyed_rows::epoch_key_pairs`), so a snapshot writes the row a file would hold.
fn epoch_map_key(group_id: &impl serde::Serialize, epoch: &impl serde::Serialize, leaf: u32) -> std::result::Result<Vec<u8>, DbError> {
    Ok(memory::epoch_key(&group_data::encode(group_id)?, &group_data::encode(epoch)?, leaf))
}

fn noted(err: DbError) -> DbError {
    store_error(&err);
    err
}

/// Implements the group-data methods (`write "kind" fn ...;`, `read "kind" fn ...;`,
/// `delete "kind" fn ...;`) with [`group_data`], on the rows `openmls_sqlite_storage` uses for that
/// kind of data.
macro_rules! group_data_methods {
    () => {};
    (write $kind:literal fn $name:ident<$($param:ident: $bound:ident),+>(group_id: &$g:ident, $arg:ident: &$v:ident) -> (); $($rest:tt)*) => {
        fn $name<$($param: traits::$bound<CURRENT_VERSION>),+>(&self, group_id: &$g, $arg: &$v) -> std::result::Result<(), DbError> {
            self.write_group_data(group_id, $kind, $arg).map_err(noted)
        }
        group_data_methods!($($rest)*);
    };
    (read $kind:literal fn $name:ident<$($param:ident: $bound:ident),+>(group_id: &$g:ident) -> Option<$v:ident>; $($rest:tt)*) => {
        fn $name<$($param: traits::$bound<CURRENT_VERSION>),+>(&self, group_id: &$g) -> std::result::Result<Option<$v>, DbError> {
            self.read_group_data(group_id, $kind).map_err(noted)
        }
        group_data_methods!($($rest)*);
    };
    (delete $kind:literal fn $name:ident<$($param:ident: $bound:ident),+>(group_id: &$g:ident) -> (); $($rest:tt)*) => {
        fn $name<$($param: traits::$bound<CURRENT_VERSION>),+>(&self, group_id: &$g) -> std::result::Result<(), DbError> {
            self.delete_group_data(group_id, $kind).map_err(noted)
        }
        group_data_methods!($($rest)*);
    };
}

/// Implements the methods of openmls's other rows ([`keyed_rows`]): `fn name<Param: Bound, ...>(arg:
/// Type, ...) -> Output => keyed_rows::function;`, each `Bound` a trait of
/// `openmls_traits::storage::traits`; the function takes the transaction's backend, then the arguments.
macro_rules! keyed_rows_methods {
    ($( fn $name:ident<$($param:ident: $bound:ident),+>($($arg:ident: $ty:ty),*) -> $out:ty => $target:path; )+) => {
        $(
            fn $name<$($param: traits::$bound<CURRENT_VERSION>),+>(&self, $($arg: $ty),*) -> std::result::Result<$out, DbError> {
                $target(self.db(), $($arg),*).map_err(noted)
            }
        )+
    };
}

/// Implements the methods of a table of one value per key ([`keyed_rows::KeyedTable`]):
/// `write TABLE fn ...;`, `read TABLE fn ...;`, `delete TABLE fn ...;`.
macro_rules! keyed_table_methods {
    () => {};
    (write $table:ident fn $name:ident<$($param:ident: $bound:ident),+>($key:ident: &$k:ident, $arg:ident: &$v:ident); $($rest:tt)*) => {
        fn $name<$($param: traits::$bound<CURRENT_VERSION>),+>(&self, $key: &$k, $arg: &$v) -> std::result::Result<(), DbError> {
            keyed_rows::$table.write(self.db(), $key, $arg).map_err(noted)
        }
        keyed_table_methods!($($rest)*);
    };
    (read $table:ident fn $name:ident<$($param:ident: $bound:ident),+>($key:ident: &$k:ident) -> $v:ident; $($rest:tt)*) => {
        fn $name<$($param: traits::$bound<CURRENT_VERSION>),+>(&self, $key: &$k) -> std::result::Result<Option<$v>, DbError> {
            keyed_rows::$table.read(self.db(), $key).map_err(noted)
        }
        keyed_table_methods!($($rest)*);
    };
    (delete $table:ident fn $name:ident<$($param:ident: $bound:ident),+>($key:ident: &$k:ident); $($rest:tt)*) => {
        fn $name<$($param: traits::$bound<CURRENT_VERSION>),+>(&self, $key: &$k) -> std::result::Result<(), DbError> {
            keyed_rows::$table.delete(self.db(), $key).map_err(noted)
        }
        keyed_table_methods!($($rest)*);
    };
}

impl StorageProvider<CURRENT_VERSION> for Store<'_> {
    type Error = DbError;

    keyed_rows_methods! {
        fn own_leaf_nodes<GroupId: GroupId, LeafNode: LeafNode>(group_id: &GroupId) -> Vec<LeafNode> => keyed_rows::own_leaf_nodes;
        fn append_own_leaf_node<GroupId: GroupId, LeafNode: LeafNode>(group_id: &GroupId, leaf_node: &LeafNode) -> () => keyed_rows::append_own_leaf_node;
        fn delete_own_leaf_nodes<GroupId: GroupId>(group_id: &GroupId) -> () => keyed_rows::delete_own_leaf_nodes;
        fn queued_proposals<GroupId: GroupId, ProposalRef: ProposalRef, QueuedProposal: QueuedProposal>(group_id: &GroupId) -> Vec<(ProposalRef, QueuedProposal)> => keyed_rows::queued_proposals;
        fn queued_proposal_refs<GroupId: GroupId, ProposalRef: ProposalRef>(group_id: &GroupId) -> Vec<ProposalRef> => keyed_rows::queued_proposal_refs;
        fn queue_proposal<GroupId: GroupId, ProposalRef: ProposalRef, QueuedProposal: QueuedProposal>(group_id: &GroupId, proposal_ref: &ProposalRef, proposal: &QueuedProposal) -> () => keyed_rows::queue_proposal;
        fn remove_proposal<GroupId: GroupId, ProposalRef: ProposalRef>(group_id: &GroupId, proposal_ref: &ProposalRef) -> () => keyed_rows::remove_proposal;
        fn clear_proposal_queue<GroupId: GroupId, ProposalRef: ProposalRef>(group_id: &GroupId) -> () => keyed_rows::clear_proposal_queue;
    }

    // In memory, an epoch's key pairs sit in the group-data map (see `memory`); a row otherwise.
    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> std::result::Result<Vec<HpkeKeyPair>, DbError> {
        match self.slot.group_data_map() {
            Some(map) => {
                let key = epoch_map_key(group_id, epoch, leaf_index)?;
                map.read(key, memory::EPOCH_KEY_PAIRS, group_data::decode).transpose().map(Option::unwrap_or_default)
            }
            None => keyed_rows::epoch_key_pairs(self.db(), group_id, epoch, leaf_index),
        }
        .map_err(noted)
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> std::result::Result<(), DbError> {
        match self.slot.group_data_map() {
            Some(map) => {
                let key = epoch_map_key(group_id, epoch, leaf_index)?;
                map.write(&self.slot.undo, key, memory::EPOCH_KEY_PAIRS, group_data::encode(&key_pairs)?);
                Ok(())
            }
            None => keyed_rows::write_epoch_key_pairs(self.db(), group_id, epoch, leaf_index, key_pairs),
        }
        .map_err(noted)
    }

    fn delete_encryption_epoch_key_pairs<GroupId: traits::GroupId<CURRENT_VERSION>, EpochKey: traits::EpochKey<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> std::result::Result<(), DbError> {
        match self.slot.group_data_map() {
            Some(map) => {
                map.delete(&self.slot.undo, epoch_map_key(group_id, epoch, leaf_index)?, memory::EPOCH_KEY_PAIRS);
                Ok(())
            }
            None => keyed_rows::delete_epoch_key_pairs(self.db(), group_id, epoch, leaf_index),
        }
        .map_err(noted)
    }

    group_data_methods! {
        write "join_group_config" fn write_mls_join_config<GroupId: GroupId, MlsGroupJoinConfig: MlsGroupJoinConfig>(group_id: &GroupId, config: &MlsGroupJoinConfig) -> ();
        write "tree" fn write_tree<GroupId: GroupId, TreeSync: TreeSync>(group_id: &GroupId, tree: &TreeSync) -> ();
        write "interim_transcript_hash" fn write_interim_transcript_hash<GroupId: GroupId, InterimTranscriptHash: InterimTranscriptHash>(group_id: &GroupId, interim_transcript_hash: &InterimTranscriptHash) -> ();
        write "context" fn write_context<GroupId: GroupId, GroupContext: GroupContext>(group_id: &GroupId, group_context: &GroupContext) -> ();
        write "confirmation_tag" fn write_confirmation_tag<GroupId: GroupId, ConfirmationTag: ConfirmationTag>(group_id: &GroupId, confirmation_tag: &ConfirmationTag) -> ();
        write "group_state" fn write_group_state<GroupState: GroupState, GroupId: GroupId>(group_id: &GroupId, group_state: &GroupState) -> ();
        write "message_secrets" fn write_message_secrets<GroupId: GroupId, MessageSecrets: MessageSecrets>(group_id: &GroupId, message_secrets: &MessageSecrets) -> ();
        write "resumption_psk_store" fn write_resumption_psk_store<GroupId: GroupId, ResumptionPskStore: ResumptionPskStore>(group_id: &GroupId, resumption_psk_store: &ResumptionPskStore) -> ();
        write "own_leaf_index" fn write_own_leaf_index<GroupId: GroupId, LeafNodeIndex: LeafNodeIndex>(group_id: &GroupId, own_leaf_index: &LeafNodeIndex) -> ();
        write "group_epoch_secrets" fn write_group_epoch_secrets<GroupId: GroupId, GroupEpochSecrets: GroupEpochSecrets>(group_id: &GroupId, group_epoch_secrets: &GroupEpochSecrets) -> ();
        read "join_group_config" fn mls_group_join_config<GroupId: GroupId, MlsGroupJoinConfig: MlsGroupJoinConfig>(group_id: &GroupId) -> Option<MlsGroupJoinConfig>;
        read "tree" fn tree<GroupId: GroupId, TreeSync: TreeSync>(group_id: &GroupId) -> Option<TreeSync>;
        read "context" fn group_context<GroupId: GroupId, GroupContext: GroupContext>(group_id: &GroupId) -> Option<GroupContext>;
        read "interim_transcript_hash" fn interim_transcript_hash<GroupId: GroupId, InterimTranscriptHash: InterimTranscriptHash>(group_id: &GroupId) -> Option<InterimTranscriptHash>;
        read "confirmation_tag" fn confirmation_tag<GroupId: GroupId, ConfirmationTag: ConfirmationTag>(group_id: &GroupId) -> Option<ConfirmationTag>;
        read "group_state" fn group_state<GroupState: GroupState, GroupId: GroupId>(group_id: &GroupId) -> Option<GroupState>;
        read "message_secrets" fn message_secrets<GroupId: GroupId, MessageSecrets: MessageSecrets>(group_id: &GroupId) -> Option<MessageSecrets>;
        read "resumption_psk_store" fn resumption_psk_store<GroupId: GroupId, ResumptionPskStore: ResumptionPskStore>(group_id: &GroupId) -> Option<ResumptionPskStore>;
        read "own_leaf_index" fn own_leaf_index<GroupId: GroupId, LeafNodeIndex: LeafNodeIndex>(group_id: &GroupId) -> Option<LeafNodeIndex>;
        read "group_epoch_secrets" fn group_epoch_secrets<GroupId: GroupId, GroupEpochSecrets: GroupEpochSecrets>(group_id: &GroupId) -> Option<GroupEpochSecrets>;
        delete "join_group_config" fn delete_group_config<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "tree" fn delete_tree<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "confirmation_tag" fn delete_confirmation_tag<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "group_state" fn delete_group_state<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "context" fn delete_context<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "interim_transcript_hash" fn delete_interim_transcript_hash<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "message_secrets" fn delete_message_secrets<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "resumption_psk_store" fn delete_all_resumption_psk_secrets<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "own_leaf_index" fn delete_own_leaf_index<GroupId: GroupId>(group_id: &GroupId) -> ();
        delete "group_epoch_secrets" fn delete_group_epoch_secrets<GroupId: GroupId>(group_id: &GroupId) -> ();
    }

    keyed_table_methods! {
        write ENCRYPTION_KEYS fn write_encryption_key_pair<EncryptionKey: EncryptionKey, HpkeKeyPair: HpkeKeyPair>(public_key: &EncryptionKey, key_pair: &HpkeKeyPair);
        read ENCRYPTION_KEYS fn encryption_key_pair<HpkeKeyPair: HpkeKeyPair, EncryptionKey: EncryptionKey>(public_key: &EncryptionKey) -> HpkeKeyPair;
        delete ENCRYPTION_KEYS fn delete_encryption_key_pair<EncryptionKey: EncryptionKey>(public_key: &EncryptionKey);
        write SIGNATURE_KEYS fn write_signature_key_pair<SignaturePublicKey: SignaturePublicKey, SignatureKeyPair: SignatureKeyPair>(public_key: &SignaturePublicKey, signature_key_pair: &SignatureKeyPair);
        read SIGNATURE_KEYS fn signature_key_pair<SignaturePublicKey: SignaturePublicKey, SignatureKeyPair: SignatureKeyPair>(public_key: &SignaturePublicKey) -> SignatureKeyPair;
        delete SIGNATURE_KEYS fn delete_signature_key_pair<SignaturePublicKey: SignaturePublicKey>(public_key: &SignaturePublicKey);
        write KEY_PACKAGES fn write_key_package<HashReference: HashReference, KeyPackage: KeyPackage>(hash_ref: &HashReference, key_package: &KeyPackage);
        read KEY_PACKAGES fn key_package<KeyPackageRef: HashReference, KeyPackage: KeyPackage>(hash_ref: &KeyPackageRef) -> KeyPackage;
        delete KEY_PACKAGES fn delete_key_package<KeyPackageRef: HashReference>(hash_ref: &KeyPackageRef);
        write PSKS fn write_psk<PskId: PskId, PskBundle: PskBundle>(psk_id: &PskId, psk: &PskBundle);
        read PSKS fn psk<PskBundle: PskBundle, PskId: PskId>(psk_id: &PskId) -> PskBundle;
        delete PSKS fn delete_psk<PskKey: PskId>(psk_id: &PskKey);
    }
}

// ----------------------------------------------------------------------------------------------
// The connection, taken by a transaction when it first touches storage.

/// The SQLite connection of a provider, behind a mutex. A transaction locks it only when openmls
/// or this crate first reads or writes storage ([`TxSlot`]), and holds the lock to its end: the
/// signing, encryption and tree work an operation does before that runs in parallel with other
/// groups' operations. The guard lives in the transaction's slot, so the connection cannot be
/// reached outside a transaction, and a transaction cannot outlive its lock.
pub struct SharedConnection {
    // Declared before `claim`: the file's lock goes before the path is free again in this process.
    conn: Arc<parking_lot::Mutex<Option<Connection>>>,
    closed: AtomicBool,
    /// Transactions of this storage that are running and not waiting for the connection.
    running: AtomicU32,
    /// The most transactions that ran at once (see [`Storage::peak_parallel_operations`]).
    peak: AtomicU32,
    path: Option<PathBuf>,
    claim: Mutex<Option<PathClaim>>,
    /// In memory: openmls's group data, outside SQLite ([`memory`]); reached only by the
    /// transaction that holds `conn`.
    group_data: Option<memory::GroupDataMap>,
}

impl SharedConnection {
    fn started(&self) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn stopped(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

type ConnGuard = parking_lot::ArcMutexGuard<parking_lot::RawMutex, Option<Connection>>;

/// One transaction's hold on the connection: empty until the transaction first touches storage,
/// then the locked connection until the transaction ends, inside `BEGIN IMMEDIATE` from its first
/// SQL statement on. An in-memory transaction that only touches the group-data map (an
/// application message: its message secrets) never begins one: `BEGIN` and `COMMIT` on the
/// in-memory database cost about 4 µs per operation, and the map's undo log is its transaction.
pub struct TxSlot {
    shared: Arc<SharedConnection>,
    /// `Some(None)`: taking it failed (the provider was closed); the fault is recorded, and every
    /// storage access of the transaction fails.
    taken: std::cell::OnceCell<Option<ConnGuard>>,
    /// `Some(true)`: `BEGIN IMMEDIATE` ran on the taken connection; `Some(false)`: it failed (the
    /// fault is recorded, and every SQL statement of the transaction fails).
    begun: std::cell::OnceCell<bool>,
    /// On PostgreSQL: the transaction's session, taken from the pool when the transaction began.
    pg: Option<db::PgSession>,
    /// In memory: what this transaction changed in the group-data map, undone when the slot is
    /// dropped unless the transaction committed.
    undo: memory::Undo,
}

impl Drop for TxSlot {
    fn drop(&mut self) {
        // Before the connection goes back: the next transaction sees the map as SQLite's pages.
        if let Some(map) = &self.shared.group_data {
            self.undo.rollback_to(map, 0);
        }
    }
}

impl TxSlot {
    fn new(shared: Arc<SharedConnection>) -> Self {
        TxSlot { shared, taken: std::cell::OnceCell::new(), begun: std::cell::OnceCell::new(), pg: None, undo: memory::Undo::default() }
    }

    /// The group-data map, if this storage keeps one and this transaction holds the connection
    /// (taking it now if needed, without beginning an SQL transaction). `None` on a broken
    /// transaction: the SQL path then fails as every other access does.
    fn group_data_map(&self) -> Option<&memory::GroupDataMap> {
        let map = self.shared.group_data.as_ref()?;
        self.locked().map(|_| map)
    }

    /// The connection, inside `BEGIN IMMEDIATE`: taken now if this transaction has not yet
    /// (waiting for another one to end), and begun if it has not yet.
    fn connection(&self) -> Option<&Connection> {
        let conn = self.locked()?;
        let begun = *self.begun.get_or_init(|| match run_cached(conn, "BEGIN IMMEDIATE").map_err(sql_error) {
            Ok(()) => true,
            Err(fault) => {
                record_fault(&fault);
                false
            }
        });
        begun.then_some(conn)
    }

    /// The locked connection, taken now if this transaction has not yet; no SQL transaction.
    fn locked(&self) -> Option<&Connection> {
        self.taken.get_or_init(|| self.take()).as_ref().and_then(|guard| guard.as_ref())
    }

    /// The connection, if this transaction took it, and whether it began an SQL transaction on it.
    fn taken(&self) -> Option<(&Connection, bool)> {
        let conn = self.taken.get().and_then(|t| t.as_ref()).and_then(|guard| guard.as_ref())?;
        Some((conn, self.begun.get().copied().unwrap_or(false)))
    }

    fn take(&self) -> Option<ConnGuard> {
        self.shared.stopped();
        let guard = self.shared.conn.lock_arc();
        self.shared.started();
        match guard.as_ref() {
            Some(_) if !self.shared.closed.load(Ordering::SeqCst) => Some(guard),
            _ => {
                record_fault(&Error::new(ErrorCode::StorageClosed, "this provider was closed"));
                None
            }
        }
    }
}

thread_local! {
    /// The storages with a transaction running on this thread: a second one on the same storage
    /// would wait for itself.
    static RUNNING: RefCell<Vec<*const SharedConnection>> = const { RefCell::new(Vec::new()) };
    /// A connection to an empty database that the failed transactions of this thread are given:
    /// every read and write on it fails, so nothing runs outside a transaction.
    static BROKEN: std::cell::OnceCell<&'static Connection> = const { std::cell::OnceCell::new() };
}

fn broken_connection() -> &'static Connection {
    BROKEN.with(|b| {
        *b.get_or_init(|| {
            let conn = Connection::open_in_memory_with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY)
                .or_else(|_| Connection::open_in_memory())
                .expect("SQLite opens an in-memory database");
            // One per thread that ever needs it (the libuv pool has a few), kept for its life.
            Box::leak(Box::new(conn))
        })
    })
}

impl<'t> Store<'t> {
    fn new(slot: &'t TxSlot) -> Self {
        Store { slot }
    }

    /// Whether this transaction runs on PostgreSQL (shared with other processes). Takes nothing.
    pub(crate) fn is_shared(&self) -> bool {
        self.slot.pg.is_some()
    }

    /// The backend this transaction runs its statements on.
    pub(crate) fn db(&self) -> Db<'_> {
        match &self.slot.pg {
            Some(session) => Db::Postgres(session),
            None => Db::Sqlite(self.sql()),
        }
    }

    /// The raw SQLite connection of this transaction (snapshots and SQLite's own pragmas).
    pub(crate) fn sql(&self) -> &Connection {
        self.slot.connection().unwrap_or_else(|| broken_connection())
    }

    /// Writes one kind of a group's data: into the map in memory, a row otherwise.
    fn write_group_data(
        &self,
        group_id: &impl serde::Serialize,
        kind: &'static str,
        value: &impl serde::Serialize,
    ) -> std::result::Result<(), DbError> {
        match self.slot.group_data_map() {
            Some(map) => {
                let group_id = group_data::encode(group_id)?;
                // Room for what it replaces and a little more: a tree changes little per commit.
                let replaced = map.stored_len(&group_id, kind).unwrap_or(0);
                let value = group_data::encode_sized(value, replaced + replaced / 16)?;
                map.write(&self.slot.undo, group_id, kind, value);
                Ok(())
            }
            None => group_data::write(self.db(), group_id, kind, value),
        }
    }

    /// Reads one kind of a group's data, if stored.
    fn read_group_data<T: serde::de::DeserializeOwned>(
        &self,
        group_id: &impl serde::Serialize,
        kind: &'static str,
    ) -> std::result::Result<Option<T>, DbError> {
        match self.slot.group_data_map() {
            Some(map) => map.read(group_data::encode(group_id)?, kind, group_data::decode).transpose(),
            None => group_data::read(self.db(), group_id, kind),
        }
    }

    /// Deletes one kind of a group's data.
    fn delete_group_data(&self, group_id: &impl serde::Serialize, kind: &'static str) -> std::result::Result<(), DbError> {
        match self.slot.group_data_map() {
            Some(map) => {
                map.delete(&self.slot.undo, group_data::encode(group_id)?, kind);
                Ok(())
            }
            None => group_data::delete(self.db(), group_id, kind),
        }
    }

    /// Inside this transaction, runs `f` under an SQLite savepoint: one item of a batch. Its writes
    /// are kept if it succeeds and no fault was recorded during it; otherwise they are rolled back
    /// to the savepoint and the transaction goes on with the next item.
    ///
    /// The outer `Err` means the whole transaction is gone (SQLite rolled it back on a fault such
    /// as a full disk), so the batch must fail as a whole; the inner one is the item's own result.
    pub fn savepoint<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<Result<T>> {
        if self.slot.pg.is_some() {
            // On PostgreSQL a failed statement also aborts the transaction until the savepoint is
            // rolled back to; the savepoint's commands are the same otherwise.
            let db = self.db();
            let run = |sql: &'static str| postgres::savepoint(db, sql).map_err(|e| store_error(&e));
            run("SAVEPOINT openmls_node_item")?;
            return item(
                f,
                || run("RELEASE SAVEPOINT openmls_node_item"),
                || run("ROLLBACK TO SAVEPOINT openmls_node_item; RELEASE SAVEPOINT openmls_node_item"),
            );
        }
        let gone = || Error::new(ErrorCode::Storage, "storage: SQLite rolled the transaction back; nothing of it was saved");
        let conn = self.sql();
        conn.execute_batch("SAVEPOINT openmls_node_item").map_err(sql_error)?;
        let mark = self.slot.undo.mark();
        // SQLite rolls a whole transaction back on some faults (a full disk): then there is no
        // savepoint left, and the batch fails as a whole.
        let live = || if conn.is_autocommit() { Err(gone()) } else { Ok(()) };
        item(
            f,
            || {
                live()?;
                conn.execute_batch("RELEASE openmls_node_item").map_err(sql_error)
            },
            || {
                if let Some(map) = &self.slot.shared.group_data {
                    self.slot.undo.rollback_to(map, mark);
                }
                live()?;
                conn.execute_batch("ROLLBACK TO openmls_node_item; RELEASE openmls_node_item").map_err(sql_error)
            },
        )
    }
}

/// One item of a batch, under a savepoint the caller opened: runs `f` with a fault slot of its
/// own, then `release`s the savepoint if `f` succeeded and no fault was recorded, or `undo`es to it
/// (the item's result then carries the fault). A panic undoes and goes on unwinding.
fn item<T>(f: impl FnOnce() -> Result<T>, release: impl FnOnce() -> Result<()>, undo: impl FnOnce() -> Result<()>) -> Result<Result<T>> {
    let outer_fault = TX_FAULT.with(|slot| slot.take());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let fault = TX_FAULT.with(|slot| slot.replace(outer_fault));
    match result {
        Ok(Ok(value)) if fault.is_none() => {
            release()?;
            Ok(Ok(value))
        }
        Ok(result) => {
            let item = settle(result, fault, "this item");
            undo()?;
            Ok(item)
        }
        Err(panic) => {
            let _ = undo();
            std::panic::resume_unwind(panic)
        }
    }
}

fn open_paths() -> &'static Mutex<HashSet<PathBuf>> {
    static OPEN: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// A database file registered as open in this process. Dropping the claim releases the path, so
/// an open that fails, returns early or panics half-way leaves the file free for the next one.
struct PathClaim(PathBuf);

impl PathClaim {
    fn new(path: PathBuf) -> Result<Self> {
        // The set stays consistent whatever panicked while it was locked: ignore poisoning.
        let mut open = open_paths().lock().unwrap_or_else(|e| e.into_inner());
        if !open.insert(path.clone()) {
            return Err(Error::new(ErrorCode::StorageLocked, "this database is already open in this process; use the open provider"));
        }
        Ok(PathClaim(path))
    }
}

impl Drop for PathClaim {
    fn drop(&mut self) {
        open_paths().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
    }
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
    /// How hard a file store works to survive a crash of the machine (see [`Durability`]).
    pub durability: Durability,
    /// A PostgreSQL database instead of a file (then `path`, `read_only`, `max_page_count` and
    /// `durability` do not apply).
    pub postgres: Option<postgres::PostgresOptions>,
}

/// How a file store syncs to disk. Either way every transaction is atomic, a crash of the process
/// loses nothing that was committed, and deleted secrets are checkpointed out of the WAL before the
/// transaction returns (forward secrecy on disk).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL` (the default): a committed transaction survives a power loss or an OS crash.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the commit itself is not synced, only the checkpoint that follows it.
    /// A power loss or OS crash may lose the last transactions, never the database's integrity.
    Normal,
}

impl Durability {
    /// Parses the JavaScript name: `"full"` or `"normal"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            other => Err(Error::invalid_argument(format!("durability must be \"full\" or \"normal\", not {other:?}"))),
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// What a transaction's body returned (or its panic), and the first fault recorded while it ran.
type BodyOutcome<T> = (std::thread::Result<Result<(T, bool)>>, Option<Error>);

/// A provider's storage: openmls's store, the connection, and the transaction lock.
pub struct Storage {
    conn: Arc<SharedConnection>,
    key: Option<Arc<CodecKey>>,
    file_backed: bool,
    /// A PostgreSQL store: its pool (then `conn` holds no connection and only counts).
    pg: Option<Arc<postgres::PgPool>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("path", &self.conn.path).field("encrypted", &self.key.is_some()).finish()
    }
}

/// The error of the first access to a file: a file SQLite cannot read is not a database of ours.
fn open_error(err: &rusqlite::Error) -> Error {
    let error = classify(err).0;
    match error.code {
        ErrorCode::Storage => Error::new(ErrorCode::StorageCorrupt, format!("not a readable SQLite database ({err})")),
        _ => error,
    }
}

#[cfg(test)]
static LOCK_RETRIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Opens a file for writing and takes SQLite's exclusive lock, which the connection keeps until it
/// closes (`locking_mode=EXCLUSIVE`).
///
/// Several processes may open a free file at the same moment. An attempt that finds the lock taken,
/// or half-taken by a rival, must not wait holding what it got: SQLite keeps a shared lock in
/// exclusive mode and in WAL mode, so two waiters would block each other until both fail. So each
/// attempt fails at once (no busy timeout), closes its connection, which releases everything it
/// held, and tries again after a short random pause, for up to [`OPEN_LOCK_WAIT`]. The racers
/// cannot lock each other out, one gets the lock and keeps it, and the others then fail with
/// `ERR_STORAGE_LOCKED`, as does any open while another process has the file.
fn lock_file(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let deadline = Instant::now() + OPEN_LOCK_WAIT;
    let jitter = std::collections::hash_map::RandomState::new();
    let mut attempt = 0u64;
    loop {
        let conn = Connection::open_with_flags(path, flags).map_err(sql_error)?;
        conn.busy_timeout(Duration::ZERO).map_err(sql_error)?;
        // Before the first access: a WAL database then keeps its index in memory, under the lock.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(sql_error)?;
        let err = match conn.execute_batch("BEGIN EXCLUSIVE") {
            Ok(()) => {
                // Under the lock and before anything is written: SQLite reads a 1-byte file as an
                // empty database, and would write one over it. A file smaller than the smallest
                // page is no database (an empty one is a new database).
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                if (1..512).contains(&size) {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(Error::new(ErrorCode::StorageCorrupt, format!("not an SQLite database (a {size}-byte file)")));
                }
                conn.execute_batch("COMMIT").map_err(sql_error)?;
                return Ok(conn);
            }
            Err(e) => e,
        };
        drop(conn);
        let busy = matches!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked));
        if !busy {
            return Err(open_error(&err));
        }
        if Instant::now() >= deadline {
            return Err(Error::new(ErrorCode::StorageLocked, "this database is open in another process"));
        }
        #[cfg(test)]
        LOCK_RETRIES.fetch_add(1, Ordering::SeqCst);
        attempt += 1;
        std::thread::sleep(Duration::from_micros(500 + jitter.hash_one(attempt) % 9_500));
    }
}

impl Storage {
    /// Opens (or creates) storage, checks it is ours and the key is right, and migrates it.
    pub fn open(options: &StorageOptions) -> Result<Self> {
        if let Some(pg) = &options.postgres {
            if options.path.is_some() || options.read_only || options.max_page_count.is_some() {
                return Err(Error::invalid_argument("a PostgreSQL store takes no path, readOnly or maxPageCount"));
            }
            return Self::open_postgres(pg, options.key.as_deref());
        }
        let key = options.key.as_deref().map(derive_key).transpose()?;
        let Some(path) = &options.path else {
            return Self::from_connection(open_small_in_memory()?, None, key, options);
        };
        // Released by its drop on every way out of this function but success, a panic included.
        let claim = PathClaim::new(canonical(path)?)?;
        let conn = if options.read_only {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path, flags).map_err(sql_error)?
        } else {
            lock_file(path)?
        };
        Self::from_connection(conn, Some(claim), key, options)
    }

    /// Opens (or creates) a store in a PostgreSQL database, checks it is ours and the key is
    /// right, and creates what is missing.
    pub fn open_postgres(options: &postgres::PostgresOptions, key: Option<&[u8]>) -> Result<Self> {
        let key = key.map(derive_key).transpose()?;
        let pool = postgres::PgPool::open(options, key.as_deref())?;
        let shared = Arc::new(SharedConnection {
            conn: Arc::new(parking_lot::Mutex::new(None)),
            closed: AtomicBool::new(false),
            running: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            path: None,
            claim: Mutex::new(None),
            group_data: None,
        });
        Ok(Storage { conn: shared, key, file_backed: true, pg: Some(Arc::new(pool)) })
    }

    /// Whether this store is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Sets up a connection and shares it. `claim` is the file's registration; none in memory.
    fn from_connection(
        mut conn: Connection,
        claim: Option<PathClaim>,
        key: Option<Arc<CodecKey>>,
        options: &StorageOptions,
    ) -> Result<Self> {
        let file_backed = claim.is_some();
        // Until it is shared, the connection is this thread's alone: set it up directly.
        // Room for every statement a commit runs (group data, keyed rows, transaction control):
        // at rusqlite's default of 16 they would evict each other.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        if let Err(e) = initialize(&mut conn, key.as_deref(), file_backed, options) {
            // The file's lock first, then the path.
            drop(conn);
            drop(claim);
            return Err(e);
        }
        let shared = Arc::new(SharedConnection {
            conn: Arc::new(parking_lot::Mutex::new(Some(conn))),
            closed: AtomicBool::new(false),
            running: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            path: claim.as_ref().map(|c| c.0.clone()),
            claim: Mutex::new(claim),
            group_data: (!file_backed).then(memory::GroupDataMap::default),
        });
        Ok(Storage { conn: shared, key, file_backed, pg: None })
    }

    /// Commits (and checkpoints) on success, rolls back on error. `fault` is the first fault
    /// recorded during the transaction: the cause of a failure openmls reports as a library or
    /// storage error, and a reason not to keep writes that an operation reported as done.
    fn finish<T>(&self, conn: &Connection, result: Result<T>, fault: Option<Error>) -> Result<T> {
        match settle(result, fault, "the operation") {
            Ok(value) => {
                if conn.is_autocommit() {
                    return Err(Error::new(ErrorCode::Storage, "storage: SQLite rolled the operation back; nothing was saved"));
                }
                if let Err(e) = run_cached(conn, "COMMIT") {
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
                // Fails harmlessly when SQLite already rolled the transaction back itself.
                let _ = conn.execute_batch("ROLLBACK");
                // openmls reports some failed writes as library errors: on a read-only database,
                // a failed operation is a read-only error.
                if matches!(err.code, ErrorCode::Internal | ErrorCode::Storage) && conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
                    return Err(Error::new(ErrorCode::StorageReadOnly, format!("the database is read-only ({})", err.message)));
                }
                Err(err)
            }
        }
    }

    /// Runs `f` as one transaction: all of its writes are committed, or none. Nested calls on the
    /// same thread join the outer transaction.
    pub fn atomically<T>(&self, f: impl FnOnce(&Store<'_>) -> Result<T>) -> Result<T> {
        self.transaction(|store| f(store).map(|value| (value, true)))
    }

    /// Runs `f` as one transaction whose writes are kept only if `f` says so: `Ok((value, false))`
    /// rolls them back and still returns `value`. Used to look at what an operation would do
    /// without letting it use up anything (a commit waiting for the application's verdict).
    ///
    /// Transactions do not nest: what runs inside one gets its [`Store`]. A second transaction of
    /// the same storage on the same thread is refused (`ERR_INTERNAL`) instead of waiting for itself.
    pub fn transaction<T>(&self, f: impl FnOnce(&Store<'_>) -> Result<(T, bool)>) -> Result<T> {
        let shared = &self.conn;
        let me = Arc::as_ptr(shared);
        if RUNNING.with(|r| r.borrow().contains(&me)) {
            return Err(Error::internal("a storage transaction was started inside another one of the same provider"));
        }
        if shared.closed.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorCode::StorageClosed, "this provider was closed"));
        }
        if let Some(pool) = &self.pg {
            return self.pg_transaction(pool, f);
        }
        // The connection is taken when `f` first touches storage (see `TxSlot`).
        let slot = TxSlot::new(shared.clone());
        let (result, fault) = self.body(&slot, f);
        let outcome = match (result, slot.taken()) {
            (Err(panic), conn) => {
                if let Some((conn, true)) = conn {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                std::panic::resume_unwind(panic)
            }
            // Only the map was touched (no SQL transaction began): its undo log is the transaction.
            (Ok(result), Some((_, false))) => match result {
                Ok((value, false)) if fault.is_none() => Ok(value),
                r => {
                    let done = settle(r.map(|(value, _)| value), fault, "the operation");
                    if done.is_ok() {
                        slot.undo.commit();
                    }
                    done
                }
            },
            (Ok(result), Some((conn, true))) => match result {
                Ok((value, false)) if fault.is_none() => conn.execute_batch("ROLLBACK").map(|()| value).map_err(sql_error),
                // A discarded transaction that saw a fault fails with it: its value was computed
                // over a failed write.
                r => {
                    let done = self.finish(conn, r.map(|(value, _)| value), fault);
                    if done.is_ok() {
                        // SQLite committed: so does the map (the slot's drop undoes it otherwise).
                        slot.undo.commit();
                    }
                    done
                }
            },
            // Nothing was written: there is nothing to commit or roll back.
            (Ok(result), None) => settle(result.map(|(value, _)| value), fault, "the operation"),
        };
        // Dropping the slot (the store only borrowed it) gives the connection back.
        drop(slot);
        outcome
    }

    /// [`Storage::transaction`] on PostgreSQL: a connection from the pool for the whole transaction.
    fn pg_transaction<T>(&self, pool: &postgres::PgPool, f: impl FnOnce(&Store<'_>) -> Result<(T, bool)>) -> Result<T> {
        let mut slot = TxSlot::new(self.conn.clone());
        slot.pg = Some(postgres::begin(pool)?);
        let (result, fault) = self.body(&slot, f);
        let session = slot.pg.take().expect("a PostgreSQL transaction holds its session");
        match result {
            Err(panic) => {
                let _ = postgres::end(pool, session, false);
                std::panic::resume_unwind(panic)
            }
            Ok(Ok((value, false))) if fault.is_none() => postgres::end(pool, session, false).map(|()| value),
            Ok(result) => match settle(result.map(|(value, _)| value), fault, "the operation") {
                Ok(value) => postgres::end(pool, session, true).map(|()| value),
                Err(e) => {
                    let _ = postgres::end(pool, session, false);
                    Err(e)
                }
            },
        }
    }

    /// Runs `f`, the body of a transaction of this storage, on this thread: counts it as running,
    /// gives it this storage's codec key and a fault slot of its own, and catches a panic. Returns
    /// what `f` returned (or its panic) and the first fault recorded meanwhile. The thread's state
    /// is as before afterwards: another provider's transaction may be running around this one, and
    /// its key and its fault are its own.
    fn body<T>(&self, slot: &TxSlot, f: impl FnOnce(&Store<'_>) -> Result<(T, bool)>) -> BodyOutcome<T> {
        let shared = &self.conn;
        let me = Arc::as_ptr(shared);
        RUNNING.with(|r| r.borrow_mut().push(me));
        shared.started();
        let outer_key = CODEC_KEY.with(|k| k.replace(self.key.clone()));
        let outer_fault = TX_FAULT.with(|slot| slot.take());
        TX_DEPTH.with(|d| d.set(d.get() + 1));
        let result = {
            let store = Store::new(slot);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&store)))
        };
        TX_DEPTH.with(|d| d.set(d.get() - 1));
        let fault = TX_FAULT.with(|slot| slot.replace(outer_fault));
        shared.stopped();
        RUNNING.with(|r| r.borrow_mut().retain(|p| *p != me));
        CODEC_KEY.with(|k| *k.borrow_mut() = outer_key);
        (result, fault)
    }

    /// How many operations of this provider have run at the same moment, at most, since it was
    /// opened. An operation counts while it runs, except while it waits for another operation to
    /// finish with storage. Above 1 means operations on different groups overlapped.
    pub fn peak_parallel_operations(&self) -> u32 {
        self.conn.peak.load(Ordering::SeqCst)
    }

    /// Closes the database: releases the file and its lock. Every later operation is `ERR_STORAGE_CLOSED`.
    pub fn close(&self) -> Result<()> {
        let shared = &self.conn;
        if RUNNING.with(|r| r.borrow().contains(&Arc::as_ptr(shared))) {
            return Err(Error::invalid_argument("a provider cannot be closed from inside one of its own operations"));
        }
        if let Some(pool) = &self.pg {
            shared.closed.store(true, Ordering::SeqCst);
            pool.close();
            return Ok(());
        }
        // Waits for a running transaction to give the connection back.
        let conn = {
            let mut guard = shared.conn.lock();
            if shared.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            guard.take()
        };
        if let Some(map) = &shared.group_data {
            map.clear();
        }
        // The file's lock first (a failed close still drops the connection), then the path.
        let closed = conn.map(|c| c.close().map_err(|(_, e)| sql_error(e))).unwrap_or(Ok(()));
        drop(shared.claim.lock().unwrap_or_else(|e| e.into_inner()).take());
        closed
    }

    /// Whether this storage is a file.
    pub fn is_file(&self) -> bool {
        self.file_backed
    }

    /// The whole database as bytes (an SQLite image), for backups and snapshots.
    pub fn export(&self) -> Result<Vec<u8>> {
        if self.pg.is_some() {
            return Err(Error::invalid_argument("snapshots are SQLite images; back a PostgreSQL store up with pg_dump"));
        }
        let mut image = self.atomically(|store| match &self.conn.group_data {
            Some(map) => map.export_image(store.sql()).map_err(|e| store_error(&e)),
            None => Ok(store.sql().serialize(rusqlite::MAIN_DB).map_err(sql_error)?.to_vec()),
        })?;
        // A file's header says WAL (bytes 18 and 19 are 2). The image holds every committed page
        // but has no WAL beside it: mark it as a rollback-journal database, which opens anywhere.
        if image.get(18..20) == Some(&[2, 2]) {
            image[18..20].copy_from_slice(&[1, 1]);
        }
        Ok(image)
    }

    /// Opens an in-memory database from a snapshot made by [`Storage::export`], and checks it.
    pub fn import(options: &StorageOptions, snapshot: &[u8]) -> Result<Self> {
        if options.path.is_some() {
            return Err(Error::invalid_argument("snapshots are imported into in-memory providers"));
        }
        let key = options.key.as_deref().map(derive_key).transpose()?;
        let image = snapshot_image(snapshot)?;
        let mut conn = Connection::open_in_memory().map_err(sql_error)?;
        conn.deserialize_read_exact(rusqlite::MAIN_DB, &image[..], image.len(), false)
            .map_err(|e| Error::new(ErrorCode::StorageCorrupt, format!("not a snapshot ({e})")))?;
        let has_meta: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'openmls_node_meta'", [], |r| r.get(0))
            .map_err(|e| Error::new(ErrorCode::StorageCorrupt, format!("not a snapshot ({e})")))?;
        if has_meta != 1 {
            return Err(Error::new(ErrorCode::StorageCorrupt, "not an openmls-node snapshot"));
        }
        let storage = Self::from_connection(conn, None, key, options)?;
        if let Some(map) = &storage.conn.group_data {
            // Checked and migrated: the group data moves from its rows into the map.
            let guard = storage.conn.conn.lock();
            let conn = guard.as_ref().ok_or_else(|| Error::internal("an imported store has its connection"))?;
            map.import_rows(conn).map_err(|e| store_error(&e))?;
        }
        Ok(storage)
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

/// Checks a snapshot's SQLite header, and gives the image an in-memory database can open: a
/// snapshot of a WAL file (as earlier versions exported it) is marked as a rollback-journal one.
fn snapshot_image(snapshot: &[u8]) -> Result<Cow<'_, [u8]>> {
    // The smallest SQLite page is 512 bytes, and an image holds at least one page.
    if snapshot.len() < 512 || !snapshot.starts_with(SQLITE_MAGIC) {
        return Err(Error::new(ErrorCode::StorageCorrupt, "not a snapshot (no SQLite database image)"));
    }
    match (snapshot[18], snapshot[19]) {
        (1, 1) => Ok(Cow::Borrowed(snapshot)),
        (2, 2) => {
            let mut image = snapshot.to_vec();
            image[18..20].copy_from_slice(&[1, 1]);
            Ok(Cow::Owned(image))
        }
        _ => Err(Error::new(ErrorCode::StorageCorrupt, "not a snapshot (unknown SQLite file format version)")),
    }
}

/// Sets up a fresh connection: checks it is a readable database of ours with the right key, sets
/// the pragmas, and migrates. A file opened for writing is already locked (see [`lock_file`]).
fn initialize(conn: &mut Connection, key: Option<&CodecKey>, file_backed: bool, options: &StorageOptions) -> Result<()> {
    conn.busy_timeout(Duration::ZERO).map_err(sql_error)?;
    // The first read tells a corrupt file or a foreign format from an empty database.
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(|e| open_error(&e))?;
    if file_backed {
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(sql_error)?;
        if !options.read_only {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(sql_error)?;
        }
        conn.pragma_update(None, "synchronous", options.durability.pragma()).map_err(sql_error)?;
    }
    conn.pragma_update(None, "secure_delete", "ON").map_err(sql_error)?;
    if let Some(pages) = options.max_page_count {
        conn.pragma_update(None, "max_page_count", pages).map_err(sql_error)?;
    }
    let ours = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'openmls_node_meta'", [], |r| r.get::<_, i64>(0))
        .map_err(sql_error)?
        == 1;
    if tables > 0 && !ours {
        return Err(Error::new(ErrorCode::StorageCorrupt, "this database belongs to another application (no openmls-node metadata)"));
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
    // Added after format 1 was released: created on first open, so older databases get it too
    // (an older version of this package ignores it).
    tx.execute_batch(ADDED_TABLES).map_err(sql_error)?;
    tx.commit().map_err(sql_error)?;
    migrate(conn)
}

/// Runs `openmls_sqlite_storage`'s migrations (refinery), after checking the history refinery reads.
fn migrate(conn: &mut Connection) -> Result<()> {
    check_migration_history(conn)?;
    // refinery panics on history rows it cannot parse. The check above refuses every such row;
    // should one still slip through, the panic stops here, as a damaged database.
    let migrated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SqliteStorageProvider::<NodeCodec, &mut Connection>::new(conn).run_migrations()
    }));
    match migrated {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(migration_error(&e)),
        Err(_) => Err(Error::new(ErrorCode::StorageCorrupt, "the storage migration history is unreadable")),
    }
}

/// The error of a failed migration: what SQLite said if it said something (a full disk, say), else
/// a history that does not match this version's migrations, which is damage.
fn migration_error(err: &(dyn std::error::Error + 'static)) -> Error {
    let mut source = err.source();
    while let Some(inner) = source {
        if let Some(sql) = inner.downcast_ref::<rusqlite::Error>() {
            return classify(sql).0.context("storage migration failed");
        }
        source = inner.source();
    }
    Error::new(ErrorCode::StorageCorrupt, format!("the storage migration history does not match this openmls-node ({err})"))
}

/// Checks every row of refinery's migration history before refinery reads it: the types it
/// expects, a version that fits its `i32`, a timestamp it parses and a checksum that is a `u64`.
fn check_migration_history(conn: &Connection) -> Result<()> {
    use rusqlite::types::ValueRef;
    let exists: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [MIGRATION_TABLE], |r| r.get(0))
        .map_err(sql_error)?;
    if exists == 0 {
        return Ok(());
    }
    let damaged = |what: &str| Error::new(ErrorCode::StorageCorrupt, format!("the storage migration history is damaged ({what})"));
    let mut stmt =
        conn.prepare(&format!("SELECT version, name, applied_on, checksum FROM {MIGRATION_TABLE}")).map_err(|e| match classify(&e).0 {
            e if e.code == ErrorCode::Storage => damaged("its table lacks a column"),
            e => e,
        })?;
    let mut rows = stmt.query([]).map_err(sql_error)?;
    while let Some(row) = rows.next().map_err(sql_error)? {
        let text = |i: usize| match row.get_ref(i) {
            Ok(ValueRef::Text(t)) => std::str::from_utf8(t).ok(),
            _ => None,
        };
        if !matches!(row.get_ref(0), Ok(ValueRef::Integer(v)) if i32::try_from(v).is_ok()) {
            return Err(damaged("a version is not a number"));
        }
        if text(1).is_none() {
            return Err(damaged("a migration name is not text"));
        }
        let (applied_on, checksum) = (text(2).is_some_and(is_refinery_timestamp), text(3).is_some_and(|c| c.parse::<u64>().is_ok()));
        if !applied_on {
            return Err(damaged("a migration date is unreadable"));
        }
        if !checksum {
            return Err(damaged("a checksum is not a number"));
        }
    }
    Ok(())
}

/// Whether `s` is a timestamp as refinery writes them (RFC 3339 of the UTC time):
/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, with a real date and time. Stricter than RFC 3339, so
/// refinery's parser takes whatever this accepts.
fn is_refinery_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z' {
        return false;
    }
    let number = |at: usize, len: usize| -> Option<u32> {
        let digits = &b[at..at + len];
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) =
        (number(0, 4), number(5, 2), number(8, 2), number(11, 2), number(14, 2), number(17, 2))
    else {
        return false;
    };
    let fraction = &b[19..b.len() - 1];
    let fraction_ok =
        fraction.is_empty() || (fraction[0] == b'.' && (2..=10).contains(&fraction.len()) && fraction[1..].iter().all(u8::is_ascii_digit));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    fraction_ok && (1..=days).contains(&day) && hour < 24 && minute < 60 && second < 60
}
/// Tables added after format 1 was released, created on open. Every value goes through the codec.
/// - the delivery-service groups a provider tracks (`crate::public_group`), with the latest
///   GroupInfo a member gave for each;
/// - each group's settings of this package (the future-epoch buffer's limits);
/// - messages kept for a later epoch (`crate::group::future`), in arrival order.
const ADDED_TABLES: &str = "CREATE TABLE IF NOT EXISTS openmls_node_public_groups (group_id BLOB PRIMARY KEY, group_info BLOB);
     CREATE TABLE IF NOT EXISTS openmls_node_group_settings (group_id BLOB PRIMARY KEY, settings BLOB NOT NULL);
     CREATE TABLE IF NOT EXISTS openmls_node_future_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, group_id BLOB NOT NULL, message BLOB NOT NULL);";

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
        conn.query_row("SELECT value FROM openmls_node_meta WHERE name = ?1", [name], |r| r.get(0)).optional().map_err(sql_error)
    };
    if !matches!(get("format")?, Some(rusqlite::types::Value::Blob(b)) if b == FORMAT_NAME) {
        return Err(Error::new(ErrorCode::StorageCorrupt, "not an openmls-node database"));
    }
    match get("format_version")? {
        Some(rusqlite::types::Value::Integer(v)) if v == FORMAT_VERSION => {}
        Some(rusqlite::types::Value::Integer(v)) if v > FORMAT_VERSION => return Err(newer_format(v)),
        _ => return Err(Error::new(ErrorCode::StorageCorrupt, "the database's format version is unreadable")),
    }
    let check = match get("key_check")? {
        Some(rusqlite::types::Value::Blob(b)) => b,
        _ => return Err(Error::new(ErrorCode::StorageCorrupt, "the database's key check is missing")),
    };
    check_key(key, &check)
}

/// Checks the stored key check (empty: an unencrypted database) against the key given at open.
fn check_key(key: Option<&CodecKey>, check: &[u8]) -> Result<()> {
    match (key, check.is_empty()) {
        (None, true) => Ok(()),
        (None, false) => Err(Error::new(ErrorCode::WrongStorageKey, "this database is encrypted: open it with its key")),
        (Some(_), true) => Err(Error::new(ErrorCode::WrongStorageKey, "this database is not encrypted: open it without a key")),
        (Some(key), false) => match open(key, check) {
            Some(p) if p == KEY_CHECK => Ok(()),
            _ => Err(Error::new(ErrorCode::WrongStorageKey, "wrong storage key")),
        },
    }
}

/// The error for a database of a newer format than this version reads.
fn newer_format(version: i64) -> Error {
    Error::new(
        ErrorCode::StorageVersion,
        format!("the database has format version {version}; this openmls-node reads up to {FORMAT_VERSION}"),
    )
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
    let dir = dir.canonicalize().map_err(|e| Error::new(ErrorCode::Storage, format!("storage directory {}: {e}", dir.display())))?;
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn sqlite(code: std::os::raw::c_int, message: &str) -> DbError {
        DbError::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.into())))
    }

    fn groups(storage: &Storage) -> i64 {
        storage
            .atomically(|store| store.sql().query_row("SELECT count(*) FROM openmls_node_groups", [], |r| r.get(0)).map_err(sql_error))
            .unwrap()
    }

    #[test]
    fn errors_are_classified_by_their_sqlite_code_and_codec_errors_by_their_type() {
        for (code, expected) in [
            (ffi::SQLITE_FULL, ErrorCode::StorageFull),
            (ffi::SQLITE_READONLY, ErrorCode::StorageReadOnly),
            (ffi::SQLITE_READONLY_DBMOVED, ErrorCode::StorageReadOnly),
            (ffi::SQLITE_BUSY, ErrorCode::StorageLocked),
            (ffi::SQLITE_CORRUPT, ErrorCode::StorageCorrupt),
            (ffi::SQLITE_NOTADB, ErrorCode::StorageCorrupt),
            (ffi::SQLITE_IOERR_WRITE, ErrorCode::Storage),
        ] {
            assert_eq!(store_error(&sqlite(code, "disk I/O")).code, expected, "{code}");
        }
        // What a message says does not count, only the code.
        let chatty = sqlite(ffi::SQLITE_ERROR, "no such table: full_readonly_locked_busy");
        assert_eq!(store_error(&chatty).code, ErrorCode::Storage);
        let sealed = rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(CodecError::Sealed));
        assert_eq!(store_error(&sealed.into()).code, ErrorCode::StorageCorrupt);
        assert_eq!(store_error(&DbError::Codec(CodecError::Sealed)).code, ErrorCode::StorageCorrupt);
        let json = serde_json::from_slice::<u8>(b"[1, 2, 3]").unwrap_err();
        let garbled = rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(CodecError::Json(json)));
        let err = store_error(&garbled.into());
        assert_eq!(err.code, ErrorCode::StorageCorrupt);
        assert!(!err.message.contains("invalid type"), "the codec's text (which may quote data) is left out: {}", err.message);
        // A codec-like text in a foreign error is not a codec error.
        let foreign = rusqlite::Error::ToSqlConversionFailure("the stored value does not open with this key".into());
        assert_eq!(store_error(&foreign.into()).code, ErrorCode::Storage);
    }

    #[test]
    fn a_fault_during_a_transaction_is_its_error_and_nothing_of_it_is_kept() {
        let storage = Storage::open(&StorageOptions::default()).unwrap();
        let insert = |store: &Store<'_>| {
            store.sql().execute("INSERT INTO openmls_node_groups (group_id) VALUES (x'01')", []).map_err(sql_error)?;
            Ok(())
        };
        // openmls turns a failed write into a library error: the recorded fault is the error.
        let err = storage
            .atomically(|store| {
                insert(store)?;
                store_error(&sqlite(ffi::SQLITE_FULL, "database or disk is full"));
                Err::<(), _>(Error::internal("Malformed plaintext"))
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::StorageFull, "{err}");
        // An operation that swallowed a failed write does not commit the rest.
        let err = storage
            .atomically(|store| {
                insert(store)?;
                store_error(&sqlite(ffi::SQLITE_IOERR_WRITE, "disk I/O error"));
                Ok(())
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Storage, "{err}");
        assert_eq!(groups(&storage), 0);
        // A typed error of the operation's own stays; statement errors are not faults.
        let err = storage
            .atomically(|_| {
                store_error(&sqlite(ffi::SQLITE_FULL, "database or disk is full"));
                Err::<(), _>(Error::new(ErrorCode::UnknownMember, "no such member"))
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownMember);
        storage
            .atomically(|store| {
                store_error(&sqlite(ffi::SQLITE_CONSTRAINT, "UNIQUE constraint failed"));
                insert(store)
            })
            .unwrap();
        assert_eq!(groups(&storage), 1);
        // The fault of another provider's transaction nested in this one is that one's.
        let other = Storage::open(&StorageOptions::default()).unwrap();
        storage
            .atomically(|store| {
                let inner = other.atomically(|_| {
                    store_error(&sqlite(ffi::SQLITE_FULL, "database or disk is full"));
                    Err::<(), _>(Error::internal("Malformed plaintext"))
                });
                assert_eq!(inner.unwrap_err().code, ErrorCode::StorageFull);
                store.sql().execute("DELETE FROM openmls_node_groups", []).map_err(sql_error)?;
                Ok(())
            })
            .unwrap();
        assert_eq!(groups(&storage), 0);
    }

    #[test]
    fn a_transaction_takes_the_connection_on_first_use_and_never_nests() {
        let storage = Arc::new(Storage::open(&StorageOptions::default()).unwrap());
        // A second transaction of the same storage on the same thread is refused, not a deadlock.
        let nested = storage.atomically(|_| storage.atomically(|_| Ok(())));
        assert_eq!(nested.unwrap_err().code, ErrorCode::Internal);
        // One transaction holds the connection from its first access to its end; another one that
        // has not touched storage yet runs meanwhile, and waits only when it needs the connection.
        let (touched, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let holder = {
            let storage = storage.clone();
            std::thread::spawn(move || {
                storage.atomically(|store| {
                    store.sql().execute("INSERT INTO openmls_node_groups (group_id) VALUES (x'02')", []).map_err(sql_error)?;
                    touched.0.send(()).unwrap();
                    release.1.recv().unwrap();
                    Ok(())
                })
            })
        };
        touched.1.recv().unwrap();
        let (started, waiting) = std::sync::mpsc::channel();
        let other = {
            let storage = storage.clone();
            std::thread::spawn(move || {
                storage.atomically(|store| {
                    started.send(()).unwrap();
                    store.sql().query_row("SELECT count(*) FROM openmls_node_groups", [], |r| r.get::<_, i64>(0)).map_err(sql_error)
                })
            })
        };
        waiting.recv().unwrap();
        assert_eq!(storage.peak_parallel_operations(), 2, "both transactions ran at once");
        release.0.send(()).unwrap();
        holder.join().unwrap().unwrap();
        assert_eq!(other.join().unwrap().unwrap(), 1, "the second one saw what the first committed");
    }

    fn file(path: &Path) -> StorageOptions {
        StorageOptions { path: Some(path.to_path_buf()), ..Default::default() }
    }

    /// Takes the file's lock as another process opening it does.
    fn rival(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT").unwrap();
        conn
    }

    #[test]
    fn an_open_outlasts_a_rival_that_lets_go_and_gives_up_on_one_that_does_not() {
        let dir = tempfile::tempdir().unwrap();
        for existing in [false, true] {
            let path = dir.path().join(format!("race-{existing}.db"));
            if existing {
                Storage::open(&file(&path)).unwrap().close().unwrap();
            }
            let held = rival(&path);
            let retries = LOCK_RETRIES.load(Ordering::SeqCst);
            let opener = std::thread::spawn({
                let path = path.clone();
                move || Storage::open(&file(&path)).and_then(|s| s.close())
            });
            // The rival lets go once the opener found the file locked, as the loser of a race does.
            while LOCK_RETRIES.load(Ordering::SeqCst) == retries && !opener.is_finished() {
                std::thread::yield_now();
            }
            drop(held);
            opener.join().unwrap().unwrap();
        }
        let path = dir.path().join("held.db");
        let _held = rival(&path);
        assert_eq!(Storage::open(&file(&path)).unwrap_err().code, ErrorCode::StorageLocked);
    }

    /// A buffer sized for the value it replaces encodes the same bytes, sealed or not, and both
    /// read back (unsealed ones where they lie).
    #[test]
    fn a_sized_encoding_is_the_same_encoding() {
        let value: Vec<(u32, String)> = (0..500).map(|i| (i, format!("leaf {i}"))).collect();
        for key in [None, Some(derive_key(&[7u8; 32]).unwrap())] {
            CODEC_KEY.with(|k| *k.borrow_mut() = key.clone());
            let plain = NodeCodec::to_vec(&value).unwrap();
            for capacity in [0, 10, plain.len(), plain.len() * 2] {
                let sized = NodeCodec::to_vec_sized(&value, capacity).unwrap();
                assert_eq!(sized, plain, "capacity {capacity}, sealed {}", key.is_some());
                assert_eq!(NodeCodec::from_slice::<Vec<(u32, String)>>(&sized).unwrap(), value);
            }
            CODEC_KEY.with(|k| *k.borrow_mut() = None);
        }
    }

    #[test]
    fn refinery_timestamps() {
        for good in ["2026-12-03T14:42:17.311872029Z", "2024-02-29T00:00:00Z", "1999-12-31T23:59:59.5Z"] {
            assert!(is_refinery_timestamp(good), "{good}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-12-03",
            "2026-12-03T14:42:17",
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T14:60:00Z",
            "2026-12-03T14:42:60Z",
            "2026-12-03T14:42:17.Z",
            "2026-12-03T14:42:17.1234567890Z",
            "2026-12-03t14:42:17Z",
            "2026-12-03T14:42:17+01:00",
            "+026-12-03T14:42:17Z",
            "2026-12-03T14:42:17,5Z",
            "２０２６-12-03T14:42:17Z",
        ] {
            assert!(!is_refinery_timestamp(bad), "{bad}");
        }
    }
}
