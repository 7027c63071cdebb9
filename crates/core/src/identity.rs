//! Identities: signature key pairs and credentials.
//!
//! A [`SignatureKeyPair`] signs everything a member sends. Its private half leaves this crate only
//! through [`signer_to_bytes`], an explicit export for the application to store; `Debug` output of
//! openmls's key pair redacts it.

use crate::signer::SignatureKeyPair;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair as BasicKeyPair;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer as _;
use openmls_traits::types::{CryptoError, SignatureScheme};
use tls_codec::{DeserializeBytes, Serialize as _};

use crate::error::{Error, ErrorCode, Result};

/// The version byte that starts the exported signer format.
const SIGNER_FORMAT_VERSION: u8 = 1;

/// Parses a signature scheme code point (e.g. `0x0807` for Ed25519).
pub fn signature_scheme(code: u16) -> Result<SignatureScheme> {
    SignatureScheme::try_from(code).map_err(|_| Error::new(ErrorCode::InvalidArgument, format!("unknown signature scheme 0x{code:04x}")))
}

/// Generates a fresh signature key pair for a signature scheme.
pub fn generate_signer(scheme: SignatureScheme) -> Result<SignatureKeyPair> {
    BasicKeyPair::new(scheme).map(SignatureKeyPair::from).map_err(Error::from)
}

/// Exports a key pair, private key included, for the application to store:
/// `version(1) || SignatureKeyPair` in openmls_basic_credential's TLS encoding
/// (`private<V> || public<V> || scheme(u16)`).
pub fn signer_to_bytes(signer: &SignatureKeyPair) -> Result<Vec<u8>> {
    let mut out = vec![SIGNER_FORMAT_VERSION];
    out.extend(signer.tls_serialize_detached().map_err(|e| Error::internal(format!("cannot encode signer ({e:?})")))?);
    Ok(out)
}

/// Imports a key pair exported by [`signer_to_bytes`], checking that its halves belong together.
pub fn signer_from_bytes(crypto: &impl OpenMlsCrypto, bytes: &[u8]) -> Result<SignatureKeyPair> {
    let invalid = |what: &str| Error::new(ErrorCode::InvalidIdentity, what.to_string());
    let (version, rest) = bytes.split_first().ok_or_else(|| invalid("empty signer bytes"))?;
    if *version != SIGNER_FORMAT_VERSION {
        return Err(invalid("not an exported signature key pair (unknown format version)"));
    }
    let signer = BasicKeyPair::tls_deserialize_exact_bytes(rest).map_err(|_| invalid("not an exported signature key pair"))?;
    // The encoding decoded, so it starts with the private key's length prefix.
    let private_len = vl_length(rest).ok_or_else(|| invalid("not an exported signature key pair"))?;
    check_key_sizes(signer.signature_scheme(), private_len, signer.public().len())?;
    check_signer(crypto, signer)
}

/// The encoded sizes of a scheme's keys, as openmls_basic_credential makes them:
/// `(private key, public key)`, or `None` for a scheme it cannot sign with.
fn key_sizes(scheme: SignatureScheme) -> Option<(usize, usize)> {
    match scheme {
        // A scalar, and an uncompressed SEC1 point (0x04 || x || y).
        SignatureScheme::ECDSA_SECP256R1_SHA256 => Some((32, 65)),
        SignatureScheme::ECDSA_SECP384R1_SHA384 => Some((48, 97)),
        // RFC 8032 secret and public key.
        SignatureScheme::ED25519 => Some((32, 32)),
        // FIPS 204: the 32-byte seed, and the encoded verifying key.
        SignatureScheme::MLDSA44 => Some((32, 1312)),
        SignatureScheme::MLDSA65 => Some((32, 1952)),
        SignatureScheme::MLDSA87 => Some((32, 2592)),
        SignatureScheme::ECDSA_SECP521R1_SHA512 | SignatureScheme::ED448 => None,
    }
}

/// Checks key sizes against the scheme before any crypto library sees the keys.
///
/// openmls_basic_credential converts an ECDSA private key to a fixed-size array with a conversion
/// that panics on any other length. An export whose scheme field was changed (a P-384 key labelled
/// P-256, an Ed25519 key labelled P-384) must be refused here, as `ERR_INVALID_IDENTITY`.
fn check_key_sizes(scheme: SignatureScheme, private_len: usize, public_len: usize) -> Result<()> {
    let Some((want_private, want_public)) = key_sizes(scheme) else {
        return Err(Error::new(ErrorCode::InvalidIdentity, format!("cannot sign with signature scheme {scheme:?}")));
    };
    if private_len != want_private || public_len != want_public {
        return Err(Error::new(
            ErrorCode::InvalidIdentity,
            format!(
                "the keys do not fit signature scheme {scheme:?}: expected a {want_private}-byte private \
                 and a {want_public}-byte public key, got {private_len} and {public_len} bytes"
            ),
        ));
    }
    Ok(())
}

/// The value of the variable-length prefix (RFC 9420 §2.1.2) that starts `bytes`.
fn vl_length(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.first()?;
    let width = 1usize << (first >> 6);
    if width > 4 || bytes.len() < width {
        return None;
    }
    let mut value = usize::from(first & 0x3f);
    for b in &bytes[1..width] {
        value = (value << 8) | usize::from(*b);
    }
    Some(value)
}

/// Builds a key pair from raw private and public keys, checking that they belong together.
pub fn signer_from_raw(
    crypto: &impl OpenMlsCrypto,
    scheme: SignatureScheme,
    private: Vec<u8>,
    public: Vec<u8>,
) -> Result<SignatureKeyPair> {
    check_key_sizes(scheme, private.len(), public.len())?;
    check_signer(crypto, BasicKeyPair::from_raw(scheme, private, public))
}

/// Signs and verifies a probe, so a key pair whose halves do not match is refused up front.
fn check_signer(crypto: &impl OpenMlsCrypto, signer: BasicKeyPair) -> Result<SignatureKeyPair> {
    let signer = SignatureKeyPair::from(signer);
    const PROBE: &[u8] = b"openmls-node signer import probe";
    let mismatch = || Error::new(ErrorCode::InvalidIdentity, "private and public key do not match");
    let signature = signer.sign(PROBE).map_err(|_| mismatch())?;
    let scheme = signer.signature_scheme();
    match crypto.verify_signature(scheme, PROBE, signer.public(), &signature) {
        Ok(()) => {}
        // The signer is openmls_basic_credential's, which signs with the RustCrypto crates; a
        // backend that cannot verify its scheme (libcrux verifies Ed25519 only) must not make a
        // genuine key pair unreadable, so RustCrypto checks it instead.
        Err(CryptoError::UnsupportedSignatureScheme) => openmls_rust_crypto::RustCrypto::default()
            .verify_signature(scheme, PROBE, signer.public(), &signature)
            .map_err(|_| mismatch())?,
        Err(_) => return Err(mismatch()),
    }
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
    /// A basic credential's content is its identity as it is (openmls's `BasicCredential` wraps
    /// the same bytes), so no credential type needs a copy of the credential first.
    fn from(credential: &Credential) -> Self {
        Self { credential_type: u16::from(credential.credential_type()), serialized_content: credential.serialized_content().to_vec() }
    }
}

/// Checks that a credential's key is the signer's public key.
pub fn check_credential_key(credential_with_key: &CredentialWithKey, signer: &SignatureKeyPair) -> Result<()> {
    if credential_with_key.signature_key.as_slice() != signer.public() {
        return Err(Error::invalid_argument("the credential's signature key is not the signer's public key"));
    }
    Ok(())
}

/// Credential type code points.
pub mod credential_type {
    /// basic: an identity.
    pub const BASIC: u16 = 1;
    /// x509: a certificate chain.
    pub const X509: u16 = 2;
}

/// Builds a credential from its type and content. For basic credentials the content is the
/// identity; for X.509 it is the certificate chain as encoded on the wire (see [`x509_content`]).
pub fn credential(credential_type: u16, content: &[u8]) -> Result<Credential> {
    match credential_type {
        credential_type::BASIC => Ok(BasicCredential::new(content.to_vec()).into()),
        credential_type::X509 => {
            x509_certificates(content)?;
            Ok(Credential::new(CredentialType::X509, content.to_vec()))
        }
        other => Ok(Credential::new(CredentialType::from(other), content.to_vec())),
    }
}

/// Builds a credential from its plain description.
pub fn credential_from_info(info: &CredentialInfo) -> Result<Credential> {
    credential(info.credential_type, &info.serialized_content)
}

/// Encodes an X.509 certificate chain (leaf first) as an X.509 credential's content:
/// `Certificate certificates<V>`, each certificate an `opaque cert_data<V>`.
pub fn x509_content(certificates: &[Vec<u8>]) -> Result<Vec<u8>> {
    if certificates.is_empty() {
        return Err(Error::invalid_argument("an X.509 credential needs at least one certificate"));
    }
    let mut out = Vec::new();
    for cert in certificates {
        if cert.is_empty() {
            return Err(Error::invalid_argument("an X.509 certificate must not be empty"));
        }
        out.extend(
            tls_codec::VLBytes::from(cert.clone())
                .tls_serialize_detached()
                .map_err(|e| Error::internal(format!("cannot encode certificate ({e:?})")))?,
        );
    }
    Ok(out)
}

/// Decodes an X.509 credential's content into its certificates.
pub fn x509_certificates(content: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut rest = content;
    let mut certificates = Vec::new();
    while !rest.is_empty() {
        let (cert, tail) = tls_codec::VLBytes::tls_deserialize_bytes(rest)
            .map_err(|_| Error::new(ErrorCode::InvalidIdentity, "malformed X.509 certificate chain"))?;
        certificates.push(cert.as_slice().to_vec());
        rest = tail;
    }
    if certificates.is_empty() {
        return Err(Error::new(ErrorCode::InvalidIdentity, "empty X.509 certificate chain"));
    }
    Ok(certificates)
}

/// Builds the [`CredentialWithKey`] of a basic credential for a signer.
pub fn basic_credential_with_key(identity: &[u8], signer: &SignatureKeyPair) -> CredentialWithKey {
    CredentialWithKey { credential: BasicCredential::new(identity.to_vec()).into(), signature_key: signer.public().into() }
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

    /// Every scheme openmls_basic_credential can generate keys for.
    const SCHEMES: [SignatureScheme; 6] = [
        SignatureScheme::ECDSA_SECP256R1_SHA256,
        SignatureScheme::ECDSA_SECP384R1_SHA384,
        SignatureScheme::ED25519,
        SignatureScheme::MLDSA44,
        SignatureScheme::MLDSA65,
        SignatureScheme::MLDSA87,
    ];

    /// An export with its trailing scheme field replaced.
    fn relabelled(bytes: &[u8], scheme: u16) -> Vec<u8> {
        let mut out = bytes.to_vec();
        let n = out.len();
        out[n - 2..].copy_from_slice(&scheme.to_be_bytes());
        out
    }

    fn assert_signers_check(crypto: &impl OpenMlsCrypto) {
        let exports: Vec<(SignatureScheme, Vec<u8>)> =
            SCHEMES.iter().map(|&s| (s, signer_to_bytes(&generate_signer(s).unwrap()).unwrap())).collect();
        for (from, bytes) in &exports {
            // The genuine export imports, on every backend.
            let back = signer_from_bytes(crypto, bytes).unwrap_or_else(|e| panic!("{from:?}: {e:?}"));
            assert_eq!(back.signature_scheme(), *from);
            // Relabelled as any other scheme, including ones nobody can sign with: a typed refusal,
            // never a panic (the guard is deliberately not used here).
            for to in SCHEMES.iter().map(|&s| s as u16).chain([0x0603, 0x0808, 0x0000, 0xffff]) {
                if to == *from as u16 {
                    continue;
                }
                let err = signer_from_bytes(crypto, &relabelled(bytes, to)).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidIdentity, "{from:?} as 0x{to:04x}: {}", err.message);
            }
        }
    }

    #[test]
    fn relabelled_signers_are_refused_without_a_panic_on_rustcrypto() {
        assert_signers_check(&RustCrypto::default());
    }

    #[test]
    fn relabelled_signers_are_refused_without_a_panic_on_libcrux() {
        assert_signers_check(&openmls_libcrux_crypto::CryptoProvider::new().unwrap());
    }

    #[test]
    fn raw_keys_of_the_wrong_size_are_refused() {
        let crypto = RustCrypto::default();
        for scheme in [SignatureScheme::ECDSA_SECP256R1_SHA256, SignatureScheme::ECDSA_SECP384R1_SHA384] {
            for len in [0, 1, 31, 33, 47, 49, 64] {
                let err = signer_from_raw(&crypto, scheme, vec![7; len], vec![4; 65]).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidIdentity);
            }
        }
    }

    #[test]
    fn x509_credentials_carry_their_chain() {
        let content = x509_content(&[b"leaf cert".to_vec(), b"ca cert".to_vec()]).unwrap();
        let cred = credential(credential_type::X509, &content).unwrap();
        let info = CredentialInfo::from(&cred);
        assert_eq!(info.credential_type, 2);
        assert_eq!(x509_certificates(&info.serialized_content).unwrap(), vec![b"leaf cert".to_vec(), b"ca cert".to_vec()]);
        assert_eq!(credential(credential_type::X509, b"\xff").unwrap_err().code, ErrorCode::InvalidIdentity);
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
