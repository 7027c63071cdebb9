//! The signer every operation uses: openmls_basic_credential's key pair, with its signing key
//! parsed once instead of for every signature.
//!
//! openmls_basic_credential rebuilds the signing key from the private bytes on each `sign`: for
//! Ed25519 that expands the secret and derives the public point (a scalar multiplication, about
//! half the cost of the signature itself), for ECDSA it derives the verifying key. A member signs
//! every message it sends, so this type does that work once, when the key pair is made or
//! loaded. Signatures are the same bytes openmls_basic_credential makes (Ed25519 is
//! deterministic; ECDSA is DER either way), and storage sees the same key pair.

use std::ops::Deref;

use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::SignatureScheme;
use tls_codec::{DeserializeBytes as _, Serialize as _, VLBytes};
use zeroize::Zeroize as _;

/// A signing key made ready to sign, for the schemes where that saves work.
enum Ready {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A member's signature key pair: openmls_basic_credential's, which it dereferences to (public
/// key, scheme, storage), signing with a key parsed once.
pub struct SignatureKeyPair {
    pair: openmls_basic_credential::SignatureKeyPair,
    ready: Option<Ready>,
}

impl SignatureKeyPair {
    /// Wraps openmls_basic_credential's key pair. A private key that does not parse for its
    /// scheme is left to openmls_basic_credential, which refuses to sign with it as before.
    pub fn new(pair: openmls_basic_credential::SignatureKeyPair) -> Self {
        let ready = private_key(&pair).and_then(|mut private| {
            let ready = match pair.signature_scheme() {
                SignatureScheme::ED25519 => ed25519_dalek::SigningKey::try_from(private.as_slice()).ok().map(Ready::Ed25519),
                SignatureScheme::ECDSA_SECP256R1_SHA256 => p256::ecdsa::SigningKey::from_slice(&private).ok().map(Ready::P256),
                SignatureScheme::ECDSA_SECP384R1_SHA384 => p384::ecdsa::SigningKey::from_slice(&private).ok().map(Ready::P384),
                _ => None,
            };
            private.zeroize();
            ready
        });
        Self { pair, ready }
    }

    /// The key pair as openmls_basic_credential has it.
    pub fn basic(&self) -> &openmls_basic_credential::SignatureKeyPair {
        &self.pair
    }
}

/// The private key of `pair`, read from its TLS encoding (`private<V> || public<V> || scheme`):
/// openmls_basic_credential does not hand it out otherwise.
fn private_key(pair: &openmls_basic_credential::SignatureKeyPair) -> Option<Vec<u8>> {
    let mut encoded = pair.tls_serialize_detached().ok()?;
    let private = VLBytes::tls_deserialize_bytes(&encoded).ok().map(|(p, _)| p.as_slice().to_vec());
    encoded.zeroize();
    private
}

impl From<openmls_basic_credential::SignatureKeyPair> for SignatureKeyPair {
    fn from(pair: openmls_basic_credential::SignatureKeyPair) -> Self {
        Self::new(pair)
    }
}

impl Deref for SignatureKeyPair {
    type Target = openmls_basic_credential::SignatureKeyPair;

    fn deref(&self) -> &Self::Target {
        &self.pair
    }
}

impl Signer for SignatureKeyPair {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        use signature::Signer as _;
        match &self.ready {
            Some(Ready::Ed25519(key)) => Ok(key.sign(payload).to_bytes().to_vec()),
            Some(Ready::P256(key)) => {
                let signature: p256::ecdsa::Signature = key.sign(payload);
                Ok(signature.to_der().to_bytes().into())
            }
            Some(Ready::P384(key)) => {
                let signature: p384::ecdsa::Signature = key.sign(payload);
                Ok(signature.to_der().to_bytes().into())
            }
            None => self.pair.sign(payload),
        }
    }

    fn signature_scheme(&self) -> SignatureScheme {
        self.pair.signature_scheme()
    }
}

impl std::fmt::Debug for SignatureKeyPair {
    /// openmls_basic_credential's redacted form: the private key never shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.pair.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmls_traits::crypto::OpenMlsCrypto;

    /// Every scheme signs what RustCrypto verifies; Ed25519 signs exactly the bytes
    /// openmls_basic_credential signs.
    #[test]
    fn signs_as_openmls_basic_credential_does() {
        let crypto = openmls_rust_crypto::RustCrypto::default();
        for scheme in [
            SignatureScheme::ED25519,
            SignatureScheme::ECDSA_SECP256R1_SHA256,
            SignatureScheme::ECDSA_SECP384R1_SHA384,
            SignatureScheme::MLDSA65,
        ] {
            let basic = openmls_basic_credential::SignatureKeyPair::new(scheme).unwrap();
            let expected = basic.sign(b"payload").unwrap();
            let pair = SignatureKeyPair::new(basic);
            assert_eq!(pair.ready.is_some(), scheme != SignatureScheme::MLDSA65, "{scheme:?}");
            let signature = pair.sign(b"payload").unwrap();
            crypto.verify_signature(scheme, b"payload", pair.public(), &signature).unwrap();
            if scheme == SignatureScheme::ED25519 {
                assert_eq!(signature, expected);
            }
            assert!(crypto.verify_signature(scheme, b"other", pair.public(), &signature).is_err());
        }
    }

    /// A private key that does not parse is not made ready, and signing fails as before.
    #[test]
    fn a_bad_private_key_still_fails_to_sign() {
        let pair = SignatureKeyPair::new(openmls_basic_credential::SignatureKeyPair::from_raw(
            SignatureScheme::ECDSA_SECP256R1_SHA256,
            vec![0; 32],
            vec![4; 65],
        ));
        assert!(pair.ready.is_none());
        assert!(pair.sign(b"payload").is_err());
        assert!(!format!("{pair:?}").contains("[0, 0"));
    }
}
