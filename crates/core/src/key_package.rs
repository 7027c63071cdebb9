//! Key packages: creating them (private keys go to the provider's storage) and validating received ones.

use crate::signer::SignatureKeyPair;
use openmls::prelude::*;
use tls_codec::DeserializeBytes;

use crate::codec;
use crate::config::{lifetime_bounds, LifetimeSpec};
use crate::error::{Error, ErrorCode, Result};
use crate::extensions::{self, CapabilitiesSpec, ExtensionSpec};
use crate::leaf::LeafNodeInfo;
use crate::provider::Provider;

/// The options of openmls's `KeyPackageBuilder`.
#[derive(Debug, Clone, Default)]
pub struct KeyPackageOptions {
    /// The key package's lifetime; openmls's default (about 12 weeks) when absent.
    pub lifetime: Option<LifetimeSpec>,
    /// Key package extensions.
    pub key_package_extensions: Vec<ExtensionSpec>,
    /// Leaf node extensions.
    pub leaf_node_extensions: Vec<ExtensionSpec>,
    /// Leaf capabilities.
    pub capabilities: Option<CapabilitiesSpec>,
    /// Mark as last resort: it survives being used in a Welcome.
    pub last_resort: bool,
}

/// Creates a key package for a ciphersuite. Its private keys are stored in the provider, where a
/// later Welcome finds them.
pub fn create_key_package(
    provider: &Provider,
    ciphersuite: Ciphersuite,
    signer: &SignatureKeyPair,
    credential_with_key: CredentialWithKey,
) -> Result<KeyPackage> {
    create_key_package_with(provider, ciphersuite, signer, credential_with_key, &KeyPackageOptions::default())
}

/// [`create_key_package`] with builder options.
pub fn create_key_package_with(
    provider: &Provider,
    ciphersuite: Ciphersuite,
    signer: &SignatureKeyPair,
    credential_with_key: CredentialWithKey,
    options: &KeyPackageOptions,
) -> Result<KeyPackage> {
    check_signer_suite(signer, ciphersuite)?;
    crate::identity::check_credential_key(&credential_with_key, signer)?;
    let mut builder = KeyPackage::builder();
    if let Some(lifetime) = options.lifetime {
        builder = builder.key_package_lifetime(lifetime.to_openmls()?);
    }
    if !options.key_package_extensions.is_empty() {
        builder = builder.key_package_extensions(extensions::key_package_extensions(&options.key_package_extensions)?);
    }
    if !options.leaf_node_extensions.is_empty() {
        builder = builder.leaf_node_extensions(extensions::leaf_node_extensions(&options.leaf_node_extensions)?);
    }
    let mut used = options.key_package_extensions.clone();
    used.extend(options.leaf_node_extensions.iter().cloned());
    if options.last_resort {
        used.push(ExtensionSpec::LastResort);
    }
    let credential_type = u16::from(credential_with_key.credential.credential_type());
    let capabilities = options.capabilities.clone().unwrap_or_default().covering(&used, credential_type);
    if capabilities != CapabilitiesSpec::default() {
        builder = builder.leaf_node_capabilities(capabilities.to_openmls()?);
    }
    if options.last_resort {
        builder = builder.mark_as_last_resort();
    }
    // The closure's error fails the transaction, so a key package whose keys were not all stored
    // leaves nothing behind. A storage failure takes the code of what SQLite reported.
    let bundle = provider.atomically(|tx| {
        builder.build(ciphersuite, tx, signer, credential_with_key).map_err(|e| match e {
            KeyPackageNewError::UnsupportedCiphersuite(_) => Error::new(ErrorCode::UnsupportedCiphersuite, e.to_string()),
            KeyPackageNewError::StorageError => Error::new(ErrorCode::Storage, e.to_string()),
            KeyPackageNewError::LibraryError(l) => l.into(),
            other => Error::new(ErrorCode::InvalidKeyPackage, other.to_string()),
        })
    })?;
    Ok(bundle.key_package().clone())
}

/// A key package's details beyond its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPackageInfo {
    /// (not before, not after), seconds since the Unix epoch.
    pub lifetime: (u64, u64),
    /// Whether it is a last-resort key package.
    pub last_resort: bool,
    /// Its key package extensions.
    pub extensions: Vec<ExtensionSpec>,
    /// Its leaf node.
    pub leaf_node: LeafNodeInfo,
}

/// Describes a key package.
pub fn describe_key_package(key_package: &KeyPackage) -> KeyPackageInfo {
    KeyPackageInfo {
        lifetime: lifetime_bounds(key_package.life_time()),
        last_resort: key_package.last_resort(),
        extensions: extensions::describe(key_package.extensions().iter()),
        leaf_node: LeafNodeInfo::from(key_package.leaf_node()),
    }
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
            _ => return Err(Error::new(ErrorCode::WrongMessageType, "expected a KeyPackage message")),
        },
        Err(_) => KeyPackageIn::tls_deserialize_exact_bytes(bytes).map_err(|e| Error::from(e).context("key package"))?,
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
