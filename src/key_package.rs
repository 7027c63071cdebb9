//! `KeyPackage`: a member's published invitation material.

use std::sync::Arc;

use crate::bytes::Uint8Array;
use napi_derive::napi;
use openmls_node_core::identity;
use openmls_node_core::key_package as core_kp;
use openmls_node_core::openmls::prelude::{CredentialWithKey, KeyPackage as OpenMlsKeyPackage};

use crate::config_types::{
    capabilities_spec, credential_info, extension_specs, lifetime_spec, native_extensions, native_lifetime, Extension, NativeCapabilities,
    NativeCredential, NativeLeafNode, NativeLifetime,
};
use crate::error::{run, Result};
use crate::provider::Provider;
use crate::signature_key_pair::SignatureKeyPair;

/// A validated key package.
#[napi]
pub struct KeyPackage {
    pub(crate) inner: Arc<OpenMlsKeyPackage>,
}

/// Builds a `CredentialWithKey` for a signer from a JavaScript credential.
pub(crate) fn credential_with_key(
    credential: &NativeCredential,
    signer: &SignatureKeyPair,
) -> openmls_node_core::Result<CredentialWithKey> {
    Ok(CredentialWithKey {
        credential: identity::credential_from_info(&credential_info(credential)?)?,
        signature_key: signer.inner.public().into(),
    })
}

/// The options of openmls's `KeyPackageBuilder`.
#[napi(object)]
pub struct NativeKeyPackageOptions {
    /// The lifetime; about 12 weeks when absent.
    pub lifetime: Option<NativeLifetime>,
    /// Key package extensions.
    pub key_package_extensions: Option<Vec<Extension>>,
    /// Leaf node extensions.
    pub leaf_node_extensions: Option<Vec<Extension>>,
    /// Leaf capabilities.
    pub capabilities: Option<NativeCapabilities>,
    /// Mark as last resort.
    pub last_resort: Option<bool>,
}

fn key_package_options(o: &NativeKeyPackageOptions) -> openmls_node_core::Result<core_kp::KeyPackageOptions> {
    Ok(core_kp::KeyPackageOptions {
        lifetime: o.lifetime.as_ref().map(lifetime_spec).transpose()?,
        key_package_extensions: extension_specs(&o.key_package_extensions)?,
        leaf_node_extensions: extension_specs(&o.leaf_node_extensions)?,
        capabilities: o.capabilities.as_ref().map(capabilities_spec).transpose()?,
        last_resort: o.last_resort.unwrap_or(false),
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
        credential: NativeCredential,
        options: Option<NativeKeyPackageOptions>,
    ) -> Result<Self> {
        run(|| {
            let suite = provider.inner.ciphersuite(crate::config_types::u16_of(ciphersuite, "ciphersuite")?)?;
            let cwk = credential_with_key(&credential, signer)?;
            let options = options.as_ref().map(key_package_options).transpose()?.unwrap_or_default();
            let kp = core_kp::create_key_package_with(&provider.inner, suite, &signer.inner, cwk, &options)?;
            Ok(Self { inner: Arc::new(kp) })
        })
    }

    /// Parses and validates a received key package (an `MLSMessage` or a bare `KeyPackage`).
    #[napi(factory)]
    pub fn from_bytes(provider: &Provider, bytes: Uint8Array) -> Result<Self> {
        run(|| Ok(Self { inner: Arc::new(core_kp::parse_key_package(&provider.inner, &bytes)?) }))
    }

    /// The key package as an encoded `MLSMessage`.
    #[napi]
    pub fn to_bytes(&self) -> Result<Uint8Array> {
        run(|| core_kp::key_package_to_bytes(&self.inner)).map(Uint8Array::new)
    }

    /// The key package's hash reference.
    #[napi]
    pub fn hash_ref(&self, provider: &Provider) -> Result<Uint8Array> {
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

    /// The lifetime (Unix seconds).
    #[napi(getter)]
    pub fn lifetime(&self) -> NativeLifetime {
        native_lifetime(core_kp::describe_key_package(&self.inner).lifetime)
    }

    /// Whether this is a last-resort key package.
    #[napi(getter)]
    pub fn last_resort(&self) -> bool {
        self.inner.last_resort()
    }

    /// The key package extensions.
    #[napi(getter)]
    pub fn extensions(&self) -> Vec<Extension> {
        native_extensions(core_kp::describe_key_package(&self.inner).extensions)
    }

    /// The key package's leaf node.
    #[napi(getter)]
    pub fn leaf_node(&self) -> NativeLeafNode {
        core_kp::describe_key_package(&self.inner).leaf_node.into()
    }

    /// The signature public key of the key package's leaf.
    #[napi(getter)]
    pub fn signature_key(&self) -> Uint8Array {
        Uint8Array::new(self.inner.leaf_node().signature_key().as_slice().to_vec())
    }
}
