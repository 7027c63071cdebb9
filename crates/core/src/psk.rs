//! Pre-shared keys: external PSKs the application stores, and resumption PSKs of past epochs.

use openmls::prelude::*;
use openmls::schedule::psk::{ResumptionPsk, ResumptionPskUsage};
use openmls::schedule::{ExternalPsk, PreSharedKeyId, Psk};

use crate::error::{Error, ErrorCode, Result};
use crate::provider::{Provider, Tx};

/// A PSK id as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PskSpec {
    /// An external PSK, by its id.
    External {
        /// The application-chosen PSK id.
        psk_id: Vec<u8>,
    },
    /// A resumption PSK of a group's past epoch.
    Resumption {
        /// The group.
        group_id: Vec<u8>,
        /// The epoch.
        epoch: u64,
    },
}

/// A PSK id with its nonce, as proposals carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskIdInfo {
    /// Which PSK.
    pub psk: PskSpec,
    /// The nonce.
    pub nonce: Vec<u8>,
}

impl PskSpec {
    /// Builds an openmls PSK id with a fresh nonce.
    pub fn to_openmls(&self, provider: &Provider, ciphersuite: Ciphersuite) -> Result<PreSharedKeyId> {
        PreSharedKeyId::new(ciphersuite, provider.crypto(), self.psk())
            .map_err(|e| Error::new(ErrorCode::Crypto, format!("cannot make a PSK nonce ({e:?})")))
    }

    fn psk(&self) -> Psk {
        match self {
            PskSpec::External { psk_id } => Psk::External(ExternalPsk::new(psk_id.clone())),
            PskSpec::Resumption { group_id, epoch } => Psk::Resumption(ResumptionPsk::new(
                ResumptionPskUsage::Application,
                GroupId::from_slice(group_id),
                GroupEpoch::from(*epoch),
            )),
        }
    }
}

/// Describes an openmls PSK id.
pub fn describe(id: &PreSharedKeyId) -> PskIdInfo {
    let psk = match id.psk() {
        Psk::External(e) => PskSpec::External { psk_id: e.psk_id().to_vec() },
        Psk::Resumption(r) => PskSpec::Resumption { group_id: r.psk_group_id().as_slice().to_vec(), epoch: r.psk_epoch().as_u64() },
    };
    PskIdInfo { psk, nonce: id.psk_nonce().to_vec() }
}

/// Stores an external PSK's secret in the provider, where commits and joins that use it find it.
pub fn store_external_psk(provider: &Provider, psk_id: &[u8], secret: &[u8]) -> Result<()> {
    if psk_id.is_empty() || secret.is_empty() {
        return Err(Error::invalid_argument("an external PSK needs a non-empty id and secret"));
    }
    // The nonce is not part of what is stored: storage is keyed by the PSK id alone.
    provider.atomically(|tx| {
        PreSharedKeyId::external(psk_id.to_vec(), Vec::new())
            .store(tx, secret)
            .map_err(|e| Error::new(ErrorCode::Storage, format!("cannot store the PSK ({})", crate::error::readable(&e.to_string()))))
    })
}

/// Any stored PSK bundle, read without knowing its (crate-private) type: the storage codec is serde.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct StoredPsk(serde_json::Value);

impl openmls_traits::storage::Entity<{ openmls_traits::storage::CURRENT_VERSION }> for StoredPsk {}
impl openmls_traits::storage::traits::PskBundle<{ openmls_traits::storage::CURRENT_VERSION }> for StoredPsk {}

/// Whether an external PSK is stored.
pub fn has_external_psk(provider: &Provider, psk_id: &[u8]) -> Result<bool> {
    provider.atomically(|tx| has_external_psk_in(tx, psk_id))
}

/// [`has_external_psk`], inside a running transaction.
pub(crate) fn has_external_psk_in(tx: &Tx<'_>, psk_id: &[u8]) -> Result<bool> {
    use openmls_traits::storage::StorageProvider as _;
    use openmls_traits::OpenMlsProvider as _;
    let bundle: Option<StoredPsk> = tx
        .storage()
        .psk(&Psk::External(ExternalPsk::new(psk_id.to_vec())))
        .map_err(|e| crate::storage::store_error(&e).context("cannot read the PSK store"))?;
    Ok(bundle.is_some())
}

/// Deletes a stored external PSK.
pub fn delete_external_psk(provider: &Provider, psk_id: &[u8]) -> Result<()> {
    use openmls_traits::storage::StorageProvider as _;
    use openmls_traits::OpenMlsProvider as _;
    provider.atomically(|tx| {
        tx.storage()
            .delete_psk(&Psk::External(ExternalPsk::new(psk_id.to_vec())))
            .map_err(|e| crate::storage::store_error(&e).context("cannot delete the PSK"))
    })
}
