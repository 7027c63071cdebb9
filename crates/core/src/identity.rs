//! Identities: signature key pairs and credentials.
//!
//! A [`SignatureKeyPair`] signs everything a member sends. Its private half leaves this crate only
//! through [`signer_to_bytes`], an explicit export for the application to store; `Debug` output of
//! openmls's key pair redacts it.

use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::SignatureScheme;
use openmls_traits::signatures::Signer as _;
use tls_codec::{DeserializeBytes, Serialize as _};

use crate::error::{Error, ErrorCode, Result};

/// The version byte that starts the exported signer format.
const SIGNER_FORMAT_VERSION: u8 = 1;

/// Parses a signature scheme code point (e.g. `0x0807` for Ed25519).
pub fn signature_scheme(code: u16) -> Result<SignatureScheme> {
    SignatureScheme::try_from(code).map_err(|_| {
        Error::new(ErrorCode::InvalidArgument, format!("unknown signature scheme 0x{code:04x}"))
    })
}

/// Generates a fresh signature key pair for a signature scheme.
pub fn generate_signer(scheme: SignatureScheme) -> Result<SignatureKeyPair> {
    SignatureKeyPair::new(scheme).map_err(Error::from)
}

/// Exports a key pair, private key included, for the application to store:
/// `version(1) || SignatureKeyPair` in openmls_basic_credential's TLS encoding
/// (`private<V> || public<V> || scheme(u16)`).
pub fn signer_to_bytes(signer: &SignatureKeyPair) -> Result<Vec<u8>> {
    let mut out = vec![SIGNER_FORMAT_VERSION];
    out.extend(
        signer
            .tls_serialize_detached()
            .map_err(|e| Error::internal(format!("cannot encode signer ({e:?})")))?,
    );
    Ok(out)
}

/// Imports a key pair exported by [`signer_to_bytes`], checking that its halves belong together.
pub fn signer_from_bytes(crypto: &impl OpenMlsCrypto, bytes: &[u8]) -> Result<SignatureKeyPair> {
    let invalid = |what: &str| Error::new(ErrorCode::InvalidIdentity, what.to_string());
    let (version, rest) = bytes.split_first().ok_or_else(|| invalid("empty signer bytes"))?;
    if *version != SIGNER_FORMAT_VERSION {
        return Err(invalid("not an exported signature key pair (unknown format version)"));
    }
    let signer = SignatureKeyPair::tls_deserialize_exact_bytes(rest)
        .map_err(|_| invalid("not an exported signature key pair"))?;
    check_signer(crypto, signer)
}

/// Builds a key pair from raw private and public keys, checking that they belong together.
pub fn signer_from_raw(
    crypto: &impl OpenMlsCrypto,
    scheme: SignatureScheme,
    private: Vec<u8>,
    public: Vec<u8>,
) -> Result<SignatureKeyPair> {
    check_signer(crypto, SignatureKeyPair::from_raw(scheme, private, public))
}

/// Signs and verifies a probe, so a key pair whose halves do not match is refused up front.
fn check_signer(crypto: &impl OpenMlsCrypto, signer: SignatureKeyPair) -> Result<SignatureKeyPair> {
    const PROBE: &[u8] = b"openmls-node signer import probe";
    let mismatch = || Error::new(ErrorCode::InvalidIdentity, "private and public key do not match");
    let signature = signer.sign(PROBE).map_err(|_| mismatch())?;
    crypto
        .verify_signature(signer.signature_scheme(), PROBE, signer.public(), &signature)
        .map_err(|_| mismatch())?;
    Ok(signer)
}

/// A credential as the JavaScript API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// The credential type code point (1 = basic, 2 = x509).
    pub credential_type: u16,
    /// The credential's content: the identity of a basic credential.
    pub serialized_content: Vec<u8>,
}

impl From<&Credential> for CredentialInfo {
    fn from(credential: &Credential) -> Self {
        let serialized_content = match BasicCredential::try_from(credential.clone()) {
            Ok(basic) => basic.identity().to_vec(),
            Err(_) => credential.serialized_content().to_vec(),
        };
        Self {
            credential_type: u16::from(credential.credential_type()),
            serialized_content,
        }
    }
}

/// Checks that a credential's key is the signer's public key.
pub fn check_credential_key(credential_with_key: &CredentialWithKey, signer: &SignatureKeyPair) -> Result<()> {
    if credential_with_key.signature_key.as_slice() != signer.public() {
        return Err(Error::invalid_argument(
            "the credential's signature key is not the signer's public key",
        ));
    }
    Ok(())
}

/// Builds a credential from its type code point and content. This version accepts basic
/// credentials (type 1), whose content is the identity.
pub fn credential(credential_type: u16, content: &[u8]) -> Result<Credential> {
    match credential_type {
        1 => Ok(BasicCredential::new(content.to_vec()).into()),
        other => Err(Error::invalid_argument(format!(
            "credential type {other} is not supported yet; use a basic credential (type 1)"
        ))),
    }
}

/// Builds the [`CredentialWithKey`] of a basic credential for a signer.
pub fn basic_credential_with_key(identity: &[u8], signer: &SignatureKeyPair) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(identity.to_vec()).into(),
        signature_key: signer.public().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmls_rust_crypto::RustCrypto;

    #[test]
    fn signer_round_trips_through_bytes() {
        let crypto = RustCrypto::default();
        let signer = generate_signer(SignatureScheme::ED25519).unwrap();
        let bytes = signer_to_bytes(&signer).unwrap();
        let back = signer_from_bytes(&crypto, &bytes).unwrap();
        assert_eq!(back.public(), signer.public());
        assert_eq!(back.signature_scheme(), SignatureScheme::ED25519);
    }

    #[test]
    fn mismatched_or_garbage_signers_are_rejected() {
        let crypto = RustCrypto::default();
        let a = generate_signer(SignatureScheme::ED25519).unwrap();
        let b = generate_signer(SignatureScheme::ED25519).unwrap();
        // Splice b's public key into a's export: the probe signature must not verify.
        let mut spliced = signer_to_bytes(&a).unwrap();
        let a_pub = a.public().to_vec();
        let at = spliced.windows(a_pub.len()).position(|w| w == a_pub.as_slice()).unwrap();
        spliced[at..at + a_pub.len()].copy_from_slice(b.public());
        assert_eq!(signer_from_bytes(&crypto, &spliced).unwrap_err().code, ErrorCode::InvalidIdentity);
        assert_eq!(signer_from_bytes(&crypto, b"\x01garbage").unwrap_err().code, ErrorCode::InvalidIdentity);
        let mut truncated = signer_to_bytes(&a).unwrap();
        truncated.pop();
        assert_eq!(signer_from_bytes(&crypto, &truncated).unwrap_err().code, ErrorCode::InvalidIdentity);
    }

    #[test]
    fn basic_credentials_show_their_identity() {
        let signer = generate_signer(SignatureScheme::ED25519).unwrap();
        let cwk = basic_credential_with_key(b"alice", &signer);
        let info = CredentialInfo::from(&cwk.credential);
        assert_eq!(info.credential_type, 1);
        assert_eq!(info.serialized_content, b"alice");
    }
}
