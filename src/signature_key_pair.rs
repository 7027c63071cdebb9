//! `SignatureKeyPair`: a member's signing key.

use std::sync::{Arc, OnceLock};

use crate::bytes::Uint8Array;
use napi_derive::napi;
use openmls_node_core::identity;
use openmls_traits::crypto::OpenMlsCrypto;

use crate::error::{run, Result};

/// A signature key pair. The private key never leaves native memory except through `toBytes()`.
#[napi]
pub struct SignatureKeyPair {
    pub(crate) inner: Arc<openmls_node_core::SignatureKeyPair>,
}

/// A RustCrypto instance for checking imported keys; signature checks need no provider state.
fn checker() -> &'static impl OpenMlsCrypto {
    static CHECKER: OnceLock<openmls_rust_crypto::RustCrypto> = OnceLock::new();
    CHECKER.get_or_init(Default::default)
}

#[napi]
impl SignatureKeyPair {
    /// Generates a key pair for a signature scheme code point (e.g. 0x0807 = Ed25519).
    #[napi(factory)]
    pub fn generate(signature_scheme: u32) -> Result<Self> {
        run(|| {
            let scheme = identity::signature_scheme(crate::config_types::u16_of(signature_scheme, "signature scheme")?)?;
            Ok(Self { inner: Arc::new(identity::generate_signer(scheme)?) })
        })
    }

    /// Imports a key pair exported with `toBytes()`, checking that its halves match.
    #[napi(factory)]
    pub fn from_bytes(bytes: Uint8Array) -> Result<Self> {
        let bytes = bytes.to_vec();
        run(|| Ok(Self { inner: Arc::new(identity::signer_from_bytes(checker(), &bytes)?) }))
    }

    /// Exports the key pair, private key included. Store it as a secret.
    #[napi]
    pub fn to_bytes(&self) -> Result<Uint8Array> {
        run(|| identity::signer_to_bytes(&self.inner)).map(Uint8Array::new)
    }

    /// The public key.
    #[napi(getter)]
    pub fn public_key(&self) -> Uint8Array {
        Uint8Array::new(self.inner.public().to_vec())
    }

    /// The signature scheme code point.
    #[napi(getter)]
    pub fn signature_scheme(&self) -> u32 {
        self.inner.signature_scheme() as u32
    }
}
