//! The provider: a crypto backend chosen at run time, randomness, and storage.
//!
//! openmls takes its crypto, randomness and storage through the [`OpenMlsProvider`] trait, whose
//! associated types are fixed at compile time. A JavaScript caller picks the crypto backend when it
//! opens a client, so [`CryptoBackend`] is an enum that forwards each call to the chosen backend.
//! Storage is the in-memory store for now; persistent storage plugs in beside it.

use openmls_rust_crypto::RustCrypto;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::random::OpenMlsRand;
use openmls_traits::types::{
    AeadType, Ciphersuite, CryptoError, ExporterSecret, HashType, HpkeCiphertext, HpkeConfig, HpkeKeyPair, KemOutput, SignatureScheme,
};
use openmls_traits::OpenMlsProvider;
use tls_codec::SecretVLBytes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::error::{Error, ErrorCode, Result};
use crate::group::Group;
use crate::storage::{Storage, StorageOptions, Store};

/// Which crypto library backs a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoProviderKind {
    /// `openmls_rust_crypto`: the RustCrypto crates (the default).
    RustCrypto,
    /// `openmls_libcrux_crypto`: Cryspen's formally verified libcrux.
    Libcrux,
}

impl CryptoProviderKind {
    /// The name used in the JavaScript API.
    pub fn as_str(self) -> &'static str {
        match self {
            CryptoProviderKind::RustCrypto => "rustcrypto",
            CryptoProviderKind::Libcrux => "libcrux",
        }
    }

    /// Parses the JavaScript name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "rustcrypto" => Ok(CryptoProviderKind::RustCrypto),
            "libcrux" => Ok(CryptoProviderKind::Libcrux),
            other => Err(Error::invalid_argument(format!("unknown crypto provider {other:?}; expected \"rustcrypto\" or \"libcrux\""))),
        }
    }
}

/// A crypto backend chosen at run time. Implements openmls's crypto and randomness traits by
/// forwarding to the selected library.
// One backend per provider: the size difference costs nothing, boxing would cost a pointer chase per call.
#[allow(clippy::large_enum_variant)]
pub enum CryptoBackend {
    /// RustCrypto.
    RustCrypto(RustCrypto),
    /// libcrux.
    Libcrux(openmls_libcrux_crypto::CryptoProvider),
}

impl std::fmt::Debug for CryptoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind().as_str())
    }
}

impl CryptoBackend {
    /// Creates the backend of the given kind.
    pub fn new(kind: CryptoProviderKind) -> Result<Self> {
        Ok(match kind {
            CryptoProviderKind::RustCrypto => CryptoBackend::RustCrypto(RustCrypto::default()),
            CryptoProviderKind::Libcrux => CryptoBackend::Libcrux(
                openmls_libcrux_crypto::CryptoProvider::new()
                    .map_err(|e| Error::new(ErrorCode::Crypto, format!("cannot start libcrux ({e:?})")))?,
            ),
        })
    }

    /// Which library this is.
    pub fn kind(&self) -> CryptoProviderKind {
        match self {
            CryptoBackend::RustCrypto(_) => CryptoProviderKind::RustCrypto,
            CryptoBackend::Libcrux(_) => CryptoProviderKind::Libcrux,
        }
    }
}

/// Forwards one method call to whichever backend is selected.
macro_rules! forward {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            CryptoBackend::RustCrypto(c) => c.$method($($arg),*),
            CryptoBackend::Libcrux(c) => c.$method($($arg),*),
        }
    };
}

impl OpenMlsCrypto for CryptoBackend {
    fn supports(&self, ciphersuite: Ciphersuite) -> std::result::Result<(), CryptoError> {
        forward!(self.supports(ciphersuite))
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        forward!(self.supported_ciphersuites())
    }

    fn hkdf_extract(&self, hash_type: HashType, salt: &[u8], ikm: &[u8]) -> std::result::Result<SecretVLBytes, CryptoError> {
        forward!(self.hkdf_extract(hash_type, salt, ikm))
    }

    fn hmac(&self, hash_type: HashType, key: &[u8], message: &[u8]) -> std::result::Result<SecretVLBytes, CryptoError> {
        forward!(self.hmac(hash_type, key, message))
    }

    fn hkdf_expand(&self, hash_type: HashType, prk: &[u8], info: &[u8], okm_len: usize) -> std::result::Result<SecretVLBytes, CryptoError> {
        forward!(self.hkdf_expand(hash_type, prk, info, okm_len))
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> std::result::Result<Vec<u8>, CryptoError> {
        forward!(self.hash(hash_type, data))
    }

    fn aead_encrypt(&self, alg: AeadType, key: &[u8], data: &[u8], nonce: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, CryptoError> {
        forward!(self.aead_encrypt(alg, key, data, nonce, aad))
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> std::result::Result<Vec<u8>, CryptoError> {
        forward!(self.aead_decrypt(alg, key, ct_tag, nonce, aad))
    }

    fn signature_key_gen(&self, alg: SignatureScheme) -> std::result::Result<(Vec<u8>, Vec<u8>), CryptoError> {
        forward!(self.signature_key_gen(alg))
    }

    fn verify_signature(&self, alg: SignatureScheme, data: &[u8], pk: &[u8], signature: &[u8]) -> std::result::Result<(), CryptoError> {
        match (self, alg) {
            (CryptoBackend::RustCrypto(_), SignatureScheme::ED25519) => crate::ed25519::verify(data, pk, signature),
            _ => forward!(self.verify_signature(alg, data, pk, signature)),
        }
    }

    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> std::result::Result<Vec<u8>, CryptoError> {
        forward!(self.sign(alg, data, key))
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> std::result::Result<HpkeCiphertext, CryptoError> {
        forward!(self.hpke_seal(config, pk_r, info, aad, ptxt))
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> std::result::Result<Vec<u8>, CryptoError> {
        forward!(self.hpke_open(config, input, sk_r, info, aad))
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> std::result::Result<(KemOutput, ExporterSecret), CryptoError> {
        forward!(self.hpke_setup_sender_and_export(config, pk_r, info, exporter_context, exporter_length))
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> std::result::Result<ExporterSecret, CryptoError> {
        forward!(self.hpke_setup_receiver_and_export(config, enc, sk_r, info, exporter_context, exporter_length))
    }

    fn derive_hpke_keypair(&self, config: HpkeConfig, ikm: &[u8]) -> std::result::Result<HpkeKeyPair, CryptoError> {
        forward!(self.derive_hpke_keypair(config, ikm))
    }
}

/// The randomness error of either backend, reduced to its text.
#[derive(Debug, thiserror::Error)]
#[error("randomness source failed: {0}")]
pub struct RandError(String);

impl OpenMlsRand for CryptoBackend {
    type Error = RandError;

    fn random_array<const N: usize>(&self) -> std::result::Result<[u8; N], Self::Error> {
        match self {
            CryptoBackend::RustCrypto(c) => c.random_array().map_err(|e| RandError(format!("{e:?}"))),
            CryptoBackend::Libcrux(c) => c.random_array().map_err(|e| RandError(format!("{e:?}"))),
        }
    }

    fn random_vec(&self, len: usize) -> std::result::Result<Vec<u8>, Self::Error> {
        match self {
            CryptoBackend::RustCrypto(c) => c.random_vec(len).map_err(|e| RandError(format!("{e:?}"))),
            CryptoBackend::Libcrux(c) => c.random_vec(len).map_err(|e| RandError(format!("{e:?}"))),
        }
    }
}

/// An [`OpenMlsProvider`] with a run-time crypto choice and its storage.
///
/// It is `Send + Sync`: the crypto backends guard their state with locks, and storage is used only
/// inside [`Provider::atomically`], whose transactions take the connection one at a time.
#[derive(Debug)]
pub struct Provider {
    crypto: CryptoBackend,
    storage: Storage,
    /// The live group handles, by group id.
    live: Mutex<HashMap<Vec<u8>, Weak<Group>>>,
}

impl Provider {
    /// Creates a provider with in-memory storage.
    pub fn new(kind: CryptoProviderKind) -> Result<Self> {
        Self::open(kind, &StorageOptions::default())
    }

    /// Creates a provider over storage: in memory, or an SQLite file (optionally encrypted).
    pub fn open(kind: CryptoProviderKind, options: &StorageOptions) -> Result<Self> {
        Ok(Self { crypto: CryptoBackend::new(kind)?, storage: Storage::open(options)?, live: Mutex::default() })
    }

    /// Creates an in-memory provider from a snapshot made by [`Provider::export_snapshot`].
    pub fn import_snapshot(kind: CryptoProviderKind, snapshot: &[u8], key: Option<Vec<u8>>) -> Result<Self> {
        Ok(Self {
            crypto: CryptoBackend::new(kind)?,
            storage: Storage::import(&StorageOptions { key, ..Default::default() }, snapshot)?,
            live: Mutex::default(),
        })
    }

    /// The whole state (keys, groups, identity) as bytes.
    pub fn export_snapshot(&self) -> Result<Vec<u8>> {
        self.storage.export()
    }

    /// Runs `f` as one storage transaction: all of its writes are committed, or none. A storage
    /// fault during it (full disk, read-only file, ...) fails it with that fault's code. `f` gets
    /// the transaction as openmls's provider; storage is reachable only through it.
    pub fn atomically<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.storage.atomically(|store| f(&Tx { crypto: &self.crypto, store }))
    }

    /// The most operations of this provider that ran at the same moment (see
    /// [`Storage::peak_parallel_operations`]).
    pub fn peak_parallel_operations(&self) -> u32 {
        self.storage.peak_parallel_operations()
    }

    /// Runs `f` as one storage transaction that keeps its writes only when `f` returns `(_, true)`.
    pub(crate) fn transaction<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<(T, bool)>) -> Result<T> {
        self.storage.transaction(|store| f(&Tx { crypto: &self.crypto, store }))
    }

    /// The crypto backend, for work that needs no storage.
    pub fn crypto(&self) -> &CryptoBackend {
        &self.crypto
    }

    /// The live handle of a group, if one exists: every way of getting a group returns it, so one
    /// group has one in-memory state per provider.
    pub(crate) fn live_group(&self, group_id: &[u8]) -> Option<Arc<Group>> {
        let live = self.live.lock().ok()?;
        live.get(group_id).and_then(Weak::upgrade).filter(|g| g.is_current())
    }

    /// Makes `group` the live handle of its group id. With `replace`, a handle it replaces (a
    /// Welcome or external commit that rejoined the same group) becomes stale and refuses to act.
    /// Without it (a group loaded from storage), a live handle that appeared meanwhile is kept and
    /// returned instead, so two concurrent loads agree.
    pub(crate) fn adopt(&self, group_id: &[u8], group: Group, replace: bool) -> Result<Arc<Group>> {
        let mut live = self.live.lock().map_err(|_| Error::internal("group registry poisoned"))?;
        live.retain(|_, weak| weak.strong_count() > 0);
        if !replace {
            if let Some(existing) = live.get(group_id).and_then(Weak::upgrade).filter(|g| g.is_current()) {
                return Ok(existing);
            }
        }
        let group = Arc::new(group);
        if let Some(old) = live.insert(group_id.to_vec(), Arc::downgrade(&group)).and_then(|w| w.upgrade()) {
            old.mark_stale();
        }
        Ok(group)
    }

    /// Forgets the live handle of a deleted group.
    pub(crate) fn forget(&self, group_id: &[u8]) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(group_id);
        }
    }

    /// Forgets `handle` if it is the live handle of `group_id` (it was disposed).
    pub(crate) fn forget_handle(&self, group_id: &[u8], handle: &Group) {
        if let Ok(mut live) = self.live.lock() {
            if live.get(group_id).is_some_and(|w| std::ptr::eq(w.as_ptr(), handle)) {
                live.remove(group_id);
            }
        }
    }

    /// Closes the storage, releasing the file and its lock.
    pub fn close(&self) -> Result<()> {
        self.storage.close()
    }

    /// Whether the provider keeps its state in a file.
    pub fn is_persistent(&self) -> bool {
        self.storage.is_file()
    }

    /// Whether other processes share this provider's storage (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.storage.is_postgres()
    }

    /// Which crypto library backs this provider.
    pub fn kind(&self) -> CryptoProviderKind {
        self.crypto.kind()
    }

    /// The ciphersuites the crypto backend supports, by their IANA code points.
    pub fn supported_ciphersuites(&self) -> Vec<u16> {
        self.crypto.supported_ciphersuites().into_iter().map(u16::from).collect()
    }

    /// Parses a ciphersuite code point and checks that this provider supports it.
    pub fn ciphersuite(&self, code: u16) -> Result<Ciphersuite> {
        let suite = Ciphersuite::try_from(code)
            .map_err(|_| Error::new(ErrorCode::UnsupportedCiphersuite, format!("unknown ciphersuite 0x{code:04x}")))?;
        self.crypto.supports(suite).map_err(|_| {
            Error::new(
                ErrorCode::UnsupportedCiphersuite,
                format!("ciphersuite {suite:?} is not supported by the {} provider", self.kind().as_str()),
            )
        })?;
        Ok(suite)
    }
}

/// One storage transaction of a provider, as openmls's provider: its crypto, and its storage,
/// which takes the provider's connection on first use (see [`Provider::atomically`]).
pub struct Tx<'t> {
    crypto: &'t CryptoBackend,
    store: &'t Store<'t>,
}

impl Tx<'_> {
    /// The transaction's backend, for this crate's own tables. On SQLite, the first call takes
    /// the provider's connection for the rest of the transaction.
    pub(crate) fn db(&self) -> crate::storage::Db<'_> {
        self.store.db()
    }

    /// On a shared store (PostgreSQL), at the start of an operation on a group: takes the group's
    /// lock for the rest of the transaction and swaps its token (see
    /// [`crate::storage::postgres::claim_group`]). On SQLite, which one process holds, there is
    /// nothing to claim: `None`, without touching storage (the connection stays free for the
    /// crypto before the operation's first write) and without asking for the group's `key`.
    pub(crate) fn claim_group(&self, key: impl FnOnce() -> Result<Vec<u8>>) -> Result<Option<crate::storage::postgres::Claim>> {
        if !self.store.is_shared() {
            return Ok(None);
        }
        crate::storage::postgres::claim_group(self.db(), &key()?).map(Some).map_err(|e| crate::storage::store_error(&e))
    }

    /// Runs `f` as one item of a batch: its writes are kept if it succeeds, rolled back otherwise
    /// (see [`Store::savepoint`]).
    pub(crate) fn savepoint<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<Result<T>> {
        self.store.savepoint(f)
    }
}

impl<'t> OpenMlsProvider for Tx<'t> {
    type CryptoProvider = CryptoBackend;
    type RandProvider = CryptoBackend;
    type StorageProvider = Store<'t>;

    fn storage(&self) -> &Self::StorageProvider {
        self.store
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        self.crypto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_start_and_list_suite_1() {
        for kind in [CryptoProviderKind::RustCrypto, CryptoProviderKind::Libcrux] {
            let p = Provider::new(kind).unwrap();
            assert_eq!(p.kind(), kind);
            assert!(p.supported_ciphersuites().contains(&1), "{kind:?}");
            assert!(p.ciphersuite(1).is_ok());
        }
    }

    #[test]
    fn unknown_names_and_suites_are_typed_errors() {
        assert_eq!(CryptoProviderKind::parse("nss").unwrap_err().code, ErrorCode::InvalidArgument);
        let p = Provider::new(CryptoProviderKind::RustCrypto).unwrap();
        assert_eq!(p.ciphersuite(0xdead).unwrap_err().code, ErrorCode::UnsupportedCiphersuite);
    }
}
