//! Test-only exports (feature `test-vectors`), in a separate build that is never published.

use std::sync::Arc;

use crate::bytes::Uint8Array;
use napi_derive::napi;
use openmls_node_core::vectors;

use crate::error::{run, Result};
use crate::provider::Provider;
use crate::signature_key_pair::SignatureKeyPair;

/// Stores a key package with its private keys (from a test vector) and returns its signer.
#[napi]
pub fn import_key_package_for_testing(
    provider: &Provider,
    key_package: Uint8Array,
    init_private: Uint8Array,
    encryption_private: Uint8Array,
    signature_private: Uint8Array,
) -> Result<SignatureKeyPair> {
    run(|| vectors::import_key_package(&provider.inner, &key_package, &init_private, &encryption_private, &signature_private))
        .map(|s| SignatureKeyPair { inner: Arc::new(s) })
}

/// Decodes and re-encodes a wire structure of `messages.json`.
#[napi]
pub fn roundtrip_for_testing(kind: String, bytes: Uint8Array) -> Result<Uint8Array> {
    run(|| vectors::roundtrip(&kind, &bytes)).map(Uint8Array::new)
}
