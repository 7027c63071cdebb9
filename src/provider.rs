//! `Provider`: the crypto backend and storage a client's groups use.

use std::sync::Arc;

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use openmls_node_core::{CryptoProviderKind, Provider as CoreProvider};

use crate::error::run;

/// The OpenMLS provider: a crypto backend (`"rustcrypto"`, the default, or `"libcrux"`) and
/// in-memory storage for keys and group state.
#[napi]
pub struct Provider {
    pub(crate) inner: Arc<CoreProvider>,
}

#[napi]
impl Provider {
    /// Creates a provider with the named crypto backend.
    #[napi(constructor)]
    pub fn new(crypto: Option<String>) -> napi::Result<Self> {
        run(|| {
            let kind = CryptoProviderKind::parse(crypto.as_deref().unwrap_or("rustcrypto"))?;
            Ok(Self {
                inner: Arc::new(CoreProvider::new(kind)?),
            })
        })
    }

    /// The crypto backend's name.
    #[napi(getter)]
    pub fn crypto(&self) -> String {
        self.inner.kind().as_str().to_string()
    }

    /// Stores an external PSK (id and secret), for the commits and joins that inject it.
    #[napi]
    pub fn store_external_psk(&self, psk_id: Uint8Array, secret: Uint8Array) -> napi::Result<()> {
        run(|| openmls_node_core::psk::store_external_psk(&self.inner, &psk_id, &secret))
    }

    /// Deletes a stored external PSK.
    #[napi]
    pub fn delete_external_psk(&self, psk_id: Uint8Array) -> napi::Result<()> {
        run(|| openmls_node_core::psk::delete_external_psk(&self.inner, &psk_id))
    }

    /// The ciphersuites the crypto backend supports, as IANA code points.
    #[napi]
    pub fn supported_ciphersuites(&self) -> Vec<u32> {
        self.inner
            .supported_ciphersuites()
            .into_iter()
            .map(u32::from)
            .collect()
    }
}
