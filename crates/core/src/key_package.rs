//! Key packages: creating them (private keys go to the provider's storage) and validating received ones.

use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::OpenMlsProvider;
use tls_codec::DeserializeBytes;

use crate::codec;
use crate::error::{Error, ErrorCode, Result};
use crate::provider::Provider;

/// Creates a key package for a ciphersuite. Its private keys are stored in the provider, where a
/// later Welcome finds them.
pub fn create_key_package(
    provider: &Provider,
    ciphersuite: Ciphersuite,
    signer: &SignatureKeyPair,
    credential_with_key: CredentialWithKey,
) -> Result<KeyPackage> {
    check_signer_suite(signer, ciphersuite)?;
    crate::identity::check_credential_key(&credential_with_key, signer)?;
    let bundle = KeyPackage::builder()
        .build(ciphersuite, provider, signer, credential_with_key)
        .map_err(|e| Error::new(ErrorCode::InvalidKeyPackage, e.to_string()))?;
    Ok(bundle.key_package().clone())
}

/// Checks that a signer's scheme is the one a ciphersuite signs with.
pub fn check_signer_suite(signer: &SignatureKeyPair, ciphersuite: Ciphersuite) -> Result<()> {
    if signer.signature_scheme() != ciphersuite.signature_algorithm() {
        return Err(Error::invalid_argument(format!(
            "ciphersuite {ciphersuite:?} signs with {:?}, but the signer's key is {:?}",
            ciphersuite.signature_algorithm(),
            signer.signature_scheme()
        )));
    }
    Ok(())
}

/// Parses and validates a received key package: an `MLSMessage` holding one, or a bare `KeyPackage`.
/// Checks its signatures, lifetime, protocol version and that the provider supports its suite.
pub fn parse_key_package(provider: &Provider, bytes: &[u8]) -> Result<KeyPackage> {
    let key_package_in = match codec::decode_message(bytes) {
        Ok(message) => match message.extract() {
            MlsMessageBodyIn::KeyPackage(kp) => kp,
            _ => {
                return Err(Error::new(
                    ErrorCode::WrongMessageType,
                    "expected a KeyPackage message",
                ))
            }
        },
        Err(_) => KeyPackageIn::tls_deserialize_exact_bytes(bytes)
            .map_err(|e| Error::from(e).context("key package"))?,
    };
    let key_package = key_package_in
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|e| Error::new(ErrorCode::InvalidKeyPackage, e.to_string()))?;
    provider.ciphersuite(u16::from(key_package.ciphersuite()))?;
    Ok(key_package)
}

/// Serializes a key package as an `MLSMessage`, the form it is published in.
pub fn key_package_to_bytes(key_package: &KeyPackage) -> Result<Vec<u8>> {
    codec::encode_message(&MlsMessageOut::from(key_package.clone()))
}

/// The key package's hash reference (RFC 9420 §5.2), which identifies it.
pub fn key_package_ref(provider: &Provider, key_package: &KeyPackage) -> Result<Vec<u8>> {
    Ok(key_package.hash_ref(provider.crypto())?.as_slice().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{basic_credential_with_key, generate_signer};
    use crate::provider::CryptoProviderKind;

    #[test]
    fn key_packages_round_trip_and_tampering_is_caught() {
        let provider = Provider::new(CryptoProviderKind::RustCrypto).unwrap();
        let suite = provider.ciphersuite(1).unwrap();
        let signer = generate_signer(suite.signature_algorithm()).unwrap();
        let kp = create_key_package(&provider, suite, &signer, basic_credential_with_key(b"bob", &signer)).unwrap();
        let bytes = key_package_to_bytes(&kp).unwrap();
        let parsed = parse_key_package(&provider, &bytes).unwrap();
        assert_eq!(parsed, kp);
        assert_eq!(key_package_ref(&provider, &parsed).unwrap(), key_package_ref(&provider, &kp).unwrap());

        let mut tampered = bytes.clone();
        let n = tampered.len();
        tampered[n - 10] ^= 0x55; // inside the signature
        assert_eq!(parse_key_package(&provider, &tampered).unwrap_err().code, ErrorCode::InvalidKeyPackage);
        assert_eq!(parse_key_package(&provider, &bytes[..n - 1]).unwrap_err().code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn a_signer_of_the_wrong_scheme_is_refused() {
        let provider = Provider::new(CryptoProviderKind::RustCrypto).unwrap();
        let p256 = provider.ciphersuite(2).unwrap();
        let signer = generate_signer(SignatureScheme::ED25519).unwrap();
        let err = create_key_package(&provider, p256, &signer, basic_credential_with_key(b"x", &signer)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }
}
