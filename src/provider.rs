//! `Provider`: the crypto backend and storage a client's groups use.

use std::sync::Arc;

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;
use openmls_node_core::group::Group;
use openmls_node_core::registry;
use openmls_node_core::storage::postgres::PostgresOptions;
use openmls_node_core::storage::{Durability, StorageOptions};
use openmls_node_core::{CryptoProviderKind, Provider as CoreProvider};

use crate::config_types::{credential_info, native_lifetime, NativeCredential, NativeLifetime};
use crate::error::{run, Result};
use crate::mls_group::MlsGroup;
use crate::signature_key_pair::SignatureKeyPair;
use crate::task::Job;

/// Where a provider keeps its state.
#[napi(object)]
pub struct NativeStorageOptions {
    /// The SQLite database file. Absent: in memory.
    pub path: Option<String>,
    /// A 32-byte key that encrypts everything stored.
    pub encryption_key: Option<Uint8Array>,
    /// Open the file read-only.
    pub read_only: Option<bool>,
    /// Cap the database size in pages (simulates a full disk; for tests).
    pub max_page_count: Option<u32>,
    /// `"full"` (the default) or `"normal"`: how a file store syncs to disk.
    pub durability: Option<String>,
    /// A PostgreSQL database instead of a file.
    pub postgres: Option<NativePostgresOptions>,
}

/// A PostgreSQL database that several processes share.
#[napi(object)]
pub struct NativePostgresOptions {
    /// A libpq-style connection string: `host=/run/postgresql dbname=mls` or `postgresql://…`.
    pub connection_string: String,
    /// The schema for the tables (created if missing); `public` by default.
    pub schema: Option<String>,
    /// The most connections the provider opens at once (default 4).
    pub max_connections: Option<u32>,
    /// How long to wait for a connection or to connect, in milliseconds (default 10000).
    pub connect_timeout_ms: Option<u32>,
    /// PEM certificates to trust for the server's TLS certificate, besides the Mozilla roots.
    pub tls_ca: Option<Uint8Array>,
}

/// The stored identity of a client.
#[napi(object, object_from_js = false)]
pub struct NativeIdentity {
    /// The signer.
    pub signer: SignatureKeyPair,
    /// The credential.
    pub credential: NativeCredential,
}

/// A key package this provider holds the private keys of.
#[napi(object)]
pub struct NativeKeyPackageEntry {
    /// Its hash reference.
    pub key_package_ref: Uint8Array,
    /// The ciphersuite.
    pub ciphersuite: u32,
    /// The lifetime.
    pub lifetime: NativeLifetime,
    /// Whether it is last resort.
    pub last_resort: bool,
    /// The key package, as an `MLSMessage`.
    pub key_package: Uint8Array,
}

/// The OpenMLS provider: a crypto backend (`"rustcrypto"`, the default, or `"libcrux"`) and
/// storage (in memory, or an SQLite file) for keys and group state.
#[napi]
pub struct Provider {
    pub(crate) inner: Arc<CoreProvider>,
}

/// The core's storage options from JavaScript's (copied: they cross to the thread pool).
fn storage_options(storage: Option<NativeStorageOptions>) -> openmls_node_core::Result<StorageOptions> {
    let Some(s) = storage else { return Ok(StorageOptions::default()) };
    Ok(StorageOptions {
        path: s.path.map(Into::into),
        key: s.encryption_key.as_ref().map(|k| k.to_vec()),
        read_only: s.read_only.unwrap_or(false),
        max_page_count: s.max_page_count.map(u64::from),
        durability: match s.durability.as_deref() {
            Some(name) => Durability::parse(name)?,
            None => Durability::default(),
        },
        postgres: s.postgres.map(|pg| {
            let mut options = PostgresOptions::new(pg.connection_string);
            options.schema = pg.schema;
            if let Some(n) = pg.max_connections {
                options.max_connections = n;
            }
            if let Some(ms) = pg.connect_timeout_ms {
                options.connect_timeout = std::time::Duration::from_millis(ms.into());
            }
            options.tls_ca = pg.tls_ca.map(|ca| ca.to_vec());
            options
        }),
    })
}

fn kind(crypto: Option<&str>) -> openmls_node_core::Result<CryptoProviderKind> {
    CryptoProviderKind::parse(crypto.unwrap_or("rustcrypto"))
}

#[napi]
impl Provider {
    /// Creates a provider with the named crypto backend, in memory, over an SQLite file, or on
    /// PostgreSQL (which connects on the calling thread: `open` does it off the event loop).
    #[napi(constructor)]
    pub fn new(crypto: Option<String>, storage: Option<NativeStorageOptions>) -> Result<Self> {
        run(|| {
            let options = storage_options(storage)?;
            Ok(Self { inner: Arc::new(CoreProvider::open(kind(crypto.as_deref())?, &options)?) })
        })
    }

    /// The constructor off the event loop: opening a file or connecting to PostgreSQL runs on the
    /// libuv pool.
    #[napi(ts_return_type = "Promise<Provider>")]
    pub fn open(crypto: Option<String>, storage: Option<NativeStorageOptions>) -> Result<AsyncTask<Job<CoreProvider, Provider>>> {
        let (kind, options) = run(|| Ok((kind(crypto.as_deref())?, storage_options(storage)?)))?;
        Ok(AsyncTask::new(Job::new(move || CoreProvider::open(kind, &options), |p| Ok(Provider { inner: Arc::new(p) }))))
    }

    /// Creates an in-memory provider from a snapshot made by `exportSnapshot`.
    #[napi(factory)]
    pub fn import_snapshot(snapshot: Uint8Array, crypto: Option<String>, encryption_key: Option<Uint8Array>) -> Result<Self> {
        run(|| {
            let provider = CoreProvider::import_snapshot(kind(crypto.as_deref())?, &snapshot, encryption_key.map(|k| k.to_vec()))?;
            Ok(Self { inner: Arc::new(provider) })
        })
    }

    /// The whole state (keys, groups, identity) as bytes: an SQLite image, encrypted values included.
    #[napi]
    pub fn export_snapshot(&self) -> Result<Uint8Array> {
        run(|| self.inner.export_snapshot()).map(Uint8Array::new)
    }

    /// The crypto backend's name.
    #[napi(getter)]
    pub fn crypto(&self) -> String {
        self.inner.kind().as_str().to_string()
    }

    /// Whether state is kept in a file.
    #[napi(getter)]
    pub fn persistent(&self) -> bool {
        self.inner.is_persistent()
    }

    /// The most operations of this provider that ran at the same moment since it was opened (a
    /// diagnostic): above 1, operations on different groups overlapped.
    #[napi(getter)]
    pub fn peak_parallel_operations(&self) -> u32 {
        self.inner.peak_parallel_operations()
    }

    /// Closes the storage: releases the file and its lock. Later operations fail with `ERR_STORAGE_CLOSED`.
    #[napi]
    pub fn close(&self) -> Result<()> {
        run(|| self.inner.close())
    }

    /// The ids of the groups stored in this provider.
    #[napi]
    pub fn list_groups(&self) -> Result<Vec<Uint8Array>> {
        run(|| registry::list_groups(&self.inner)).map(|l| l.into_iter().map(Uint8Array::new).collect())
    }

    /// Loads a stored group, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<MlsGroup>")]
    pub fn load_group(&self, group_id: Uint8Array) -> AsyncTask<Job<Arc<openmls_node_core::group::Group>, MlsGroup>> {
        let provider = self.inner.clone();
        let id = group_id.to_vec();
        AsyncTask::new(Job::new(move || Group::load(provider, &id), |g| Ok(MlsGroup { inner: g })))
    }

    /// Loads a stored group, on the calling thread.
    #[napi]
    pub fn load_group_sync(&self, group_id: Uint8Array) -> Result<MlsGroup> {
        run(|| Group::load(self.inner.clone(), &group_id)).map(|inner| MlsGroup { inner })
    }

    /// Stores the client's identity (signer and credential), to get it back after reopening.
    #[napi]
    pub fn set_identity(&self, signer: &SignatureKeyPair, credential: NativeCredential) -> Result<()> {
        run(|| registry::set_identity(&self.inner, &signer.inner, &credential_info(&credential)?))
    }

    /// The stored identity, if any.
    #[napi]
    pub fn identity(&self) -> Result<Option<NativeIdentity>> {
        run(|| registry::identity(&self.inner)).map(|id| {
            id.map(|(signer, credential)| NativeIdentity {
                signer: SignatureKeyPair { inner: Arc::new(signer) },
                credential: credential.into(),
            })
        })
    }

    /// The key packages this provider holds: published, not yet consumed (last-resort ones stay).
    #[napi]
    pub fn key_packages(&self) -> Result<Vec<NativeKeyPackageEntry>> {
        run(|| registry::key_packages(&self.inner)).map(|l| {
            l.into_iter()
                .map(|k| NativeKeyPackageEntry {
                    key_package_ref: Uint8Array::new(k.key_package_ref),
                    ciphersuite: u32::from(k.ciphersuite),
                    lifetime: native_lifetime(k.lifetime),
                    last_resort: k.last_resort,
                    key_package: Uint8Array::new(k.key_package),
                })
                .collect()
        })
    }

    /// Deletes a held key package and its private keys. Returns whether it existed.
    #[napi]
    pub fn delete_key_package(&self, key_package_ref: Uint8Array) -> Result<bool> {
        run(|| registry::delete_key_package(&self.inner, &key_package_ref))
    }

    /// Deletes the held key packages whose lifetime ended before `now` (Unix seconds; default: now).
    #[napi]
    pub fn delete_expired_key_packages(&self, now: Option<i64>) -> Result<u32> {
        let now = now
            .map(|n| n.max(0) as u64)
            .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
        run(|| registry::delete_expired_key_packages(&self.inner, now)).map(|n| n as u32)
    }

    /// Stores an external PSK (id and secret), for the commits and joins that inject it.
    #[napi]
    pub fn store_external_psk(&self, psk_id: Uint8Array, secret: Uint8Array) -> Result<()> {
        run(|| openmls_node_core::psk::store_external_psk(&self.inner, &psk_id, &secret))
    }

    /// Deletes a stored external PSK.
    #[napi]
    pub fn delete_external_psk(&self, psk_id: Uint8Array) -> Result<()> {
        run(|| openmls_node_core::psk::delete_external_psk(&self.inner, &psk_id))
    }

    /// The ciphersuites the crypto backend supports, as IANA code points.
    #[napi]
    pub fn supported_ciphersuites(&self) -> Vec<u32> {
        self.inner.supported_ciphersuites().into_iter().map(u32::from).collect()
    }
}
