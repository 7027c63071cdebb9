//! `KeyPackage`: a member's published invitation material.

use std::sync::Arc;

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use openmls_node_core::identity;
use openmls_node_core::key_package as core_kp;
use openmls_node_core::openmls::prelude::{CredentialWithKey, KeyPackage as OpenMlsKeyPackage};

use crate::error::run;
use crate::provider::Provider;
use crate::signature_key_pair::SignatureKeyPair;
use crate::types::NativeCredential;

/// A validated key package.
#[napi]
pub struct KeyPackage {
    pub(crate) inner: Arc<OpenMlsKeyPackage>,
}

/// Builds a `CredentialWithKey` for a signer from a credential's type and content.
pub(crate) fn credential_with_key(
    credential_type: u32,
    content: &[u8],
    signer: &SignatureKeyPair,
) -> openmls_node_core::Result<CredentialWithKey> {
    Ok(CredentialWithKey {
        credential: identity::credential(u16::try_from(credential_type).unwrap_or(0), content)?,
        signature_key: signer.inner.public().into(),
    })
}

#[napi]
impl KeyPackage {
    /// Creates a key package; its private keys are stored in the provider, where a Welcome finds them.
    #[napi(factory)]
    pub fn create(
        provider: &Provider,
        ciphersuite: u32,
        signer: &SignatureKeyPair,
        credential_type: u32,
        credential_content: Uint8Array,
    ) -> napi::Result<Self> {
        run(|| {
            let suite = provider.inner.ciphersuite(u16::try_from(ciphersuite).unwrap_or(0))?;
            let cwk = credential_with_key(credential_type, &credential_content, signer)?;
            let kp = core_kp::create_key_package(&provider.inner, suite, &signer.inner, cwk)?;
            Ok(Self { inner: Arc::new(kp) })
        })
    }

    /// Parses and validates a received key package (an `MLSMessage` or a bare `KeyPackage`).
    #[napi(factory)]
    pub fn from_bytes(provider: &Provider, bytes: Uint8Array) -> napi::Result<Self> {
        run(|| {
            Ok(Self {
                inner: Arc::new(core_kp::parse_key_package(&provider.inner, &bytes)?),
            })
        })
    }

    /// The key package as an encoded `MLSMessage`.
    #[napi]
    pub fn to_bytes(&self) -> napi::Result<Uint8Array> {
        run(|| core_kp::key_package_to_bytes(&self.inner)).map(Uint8Array::new)
    }

    /// The key package's hash reference.
    #[napi]
    pub fn hash_ref(&self, provider: &Provider) -> napi::Result<Uint8Array> {
        run(|| core_kp::key_package_ref(&provider.inner, &self.inner)).map(Uint8Array::new)
    }

    /// The ciphersuite code point.
    #[napi(getter)]
    pub fn ciphersuite(&self) -> u32 {
        u16::from(self.inner.ciphersuite()) as u32
    }

    /// The credential of the key package's leaf.
    #[napi(getter)]
    pub fn credential(&self) -> NativeCredential {
        identity::CredentialInfo::from(self.inner.leaf_node().credential()).into()
    }

    /// The signature public key of the key package's leaf.
    #[napi(getter)]
    pub fn signature_key(&self) -> Uint8Array {
        Uint8Array::new(self.inner.leaf_node().signature_key().as_slice().to_vec())
    }
}
