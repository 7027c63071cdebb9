//! Ed25519 signature checks for the RustCrypto backend, with each public key decompressed once.
//!
//! `openmls_rust_crypto` decompresses the sender's public key (a square root in the field, about
//! a tenth of a signature check) for every message it verifies. A member receives many messages
//! from the same few senders, so this keeps the decompressed keys of recent senders. The check is
//! the same: `ed25519_dalek`'s `verify_strict` on the same key, with the same errors as
//! `openmls_rust_crypto` for a malformed key or signature.

use std::collections::HashMap;
use std::sync::OnceLock;

use ed25519_dalek::{Signature, VerifyingKey, SIGNATURE_LENGTH};
use openmls_traits::types::CryptoError;
use parking_lot::Mutex;

/// How many decompressed keys are kept (about 200 bytes each). When full, the cache starts over.
const CAPACITY: usize = 4096;

fn cache() -> &'static Mutex<HashMap<[u8; 32], VerifyingKey>> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The decompressed key for `pk`, or the error `openmls_rust_crypto` returns for a bad key.
fn verifying_key(pk: &[u8]) -> Result<VerifyingKey, CryptoError> {
    let bytes: [u8; 32] = pk.try_into().map_err(|_| CryptoError::CryptoLibraryError)?;
    if let Some(key) = cache().lock().get(&bytes) {
        return Ok(*key);
    }
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| CryptoError::CryptoLibraryError)?;
    let mut cache = cache().lock();
    if cache.len() >= CAPACITY {
        cache.clear();
    }
    cache.insert(bytes, key);
    Ok(key)
}

/// Checks an Ed25519 signature exactly as `openmls_rust_crypto` does.
pub(crate) fn verify(data: &[u8], pk: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    let key = verifying_key(pk)?;
    let signature: [u8; SIGNATURE_LENGTH] = signature.try_into().map_err(|_| CryptoError::CryptoLibraryError)?;
    key.verify_strict(data, &Signature::from(signature)).map_err(|_| CryptoError::InvalidSignature)
}

#[cfg(test)]
mod tests {
    use openmls_traits::crypto::OpenMlsCrypto as _;
    use openmls_traits::signatures::Signer as _;
    use openmls_traits::types::SignatureScheme;

    use super::*;

    /// Every outcome matches openmls_rust_crypto's, first call and cached call alike: a good
    /// signature, a changed message, a changed signature, a short signature, a key of the wrong
    /// size, and bytes that are not a point.
    #[test]
    fn agrees_with_openmls_rust_crypto() {
        let rust_crypto = openmls_rust_crypto::RustCrypto::default();
        let pair = openmls_basic_credential::SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
        let signature = pair.sign(b"message").unwrap();
        let mut flipped = signature.clone();
        flipped[5] ^= 1;
        let not_a_point = {
            // y = 2 has no x on the curve.
            let mut b = [0u8; 32];
            b[0] = 2;
            b.to_vec()
        };
        let cases: Vec<(&[u8], Vec<u8>, Vec<u8>)> = vec![
            (b"message", pair.public().to_vec(), signature.clone()),
            (b"other", pair.public().to_vec(), signature.clone()),
            (b"message", pair.public().to_vec(), flipped),
            (b"message", pair.public().to_vec(), signature[..63].to_vec()),
            (b"message", pair.public()[..31].to_vec(), signature.clone()),
            (b"message", not_a_point, signature.clone()),
        ];
        for (data, pk, sig) in &cases {
            let theirs = rust_crypto.verify_signature(SignatureScheme::ED25519, data, pk, sig);
            for _ in 0..2 {
                assert_eq!(verify(data, pk, sig), theirs);
            }
        }
        assert_eq!(verify(b"message", pair.public(), &signature), Ok(()));
    }
}
