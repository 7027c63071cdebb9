//! Test-only support for the MLS working group's test vectors (feature `test-vectors`): importing
//! a key package together with its private keys. Never part of the published addon.

use crate::signer::SignatureKeyPair;
use openmls::prelude::*;
use openmls_traits::storage::StorageProvider as _;

use crate::codec;
use crate::error::{Error, ErrorCode, Result};
use crate::provider::Provider;

fn json_err(e: serde_json::Error) -> Error {
    Error::internal(format!("vector import: {e}"))
}

/// Stores a key package with its init and leaf encryption private keys, and returns the signer
/// built from its signature private key. Lifetimes are not checked (old vectors have expired).
pub fn import_key_package(
    provider: &Provider,
    key_package: &[u8],
    init_private: &[u8],
    encryption_private: &[u8],
    signature_private: &[u8],
) -> Result<SignatureKeyPair> {
    let key_package_in = match codec::decode_message(key_package)?.extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp,
        _ => return Err(Error::new(ErrorCode::WrongMessageType, "expected a KeyPackage message")),
    };
    let key_package = key_package_in.into_unchecked();
    let bundle: KeyPackageBundle = serde_json::from_value(serde_json::json!({
        "key_package": serde_json::to_value(&key_package).map_err(json_err)?,
        "private_init_key": serde_json::to_value(HpkePrivateKey::from(init_private.to_vec())).map_err(json_err)?,
        "private_encryption_key": { "key": serde_json::to_value(HpkePrivateKey::from(encryption_private.to_vec())).map_err(json_err)? },
    }))
    .map_err(json_err)?;
    let scheme = key_package.ciphersuite().signature_algorithm();
    let public = key_package.leaf_node().signature_key().as_slice().to_vec();
    let signer = crate::identity::signer_from_raw(provider.crypto(), scheme, signature_private.to_vec(), public)?;
    provider.atomically(|tx| {
        let hash_ref = key_package.hash_ref(provider.crypto())?;
        tx.storage().write_key_package(&hash_ref, &bundle).map_err(|e| crate::storage::store_error(&e))?;
        Ok(())
    })?;
    Ok(signer)
}

/// Decodes `bytes` as the named wire structure (a field of `messages.json`) and encodes it again.
/// `kind` is `mls_message`, `ratchet_tree`, or one of the proposal kinds. `commit` and
/// `group_secrets` are crate-private in openmls 0.9 and cannot be reached.
pub fn roundtrip(kind: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    use openmls::messages::proposals_in::{AddProposalIn, GroupContextExtensionProposalIn, UpdateProposalIn};
    use tls_codec::{Deserialize, Serialize};
    fn again<T: Deserialize + Serialize>(mut bytes: &[u8]) -> Result<Vec<u8>> {
        let value = T::tls_deserialize(&mut bytes).map_err(Error::from)?;
        if !bytes.is_empty() {
            return Err(Error::new(ErrorCode::MalformedMessage, "trailing bytes"));
        }
        codec::encode(&value)
    }
    match kind {
        "mls_message" => again::<MlsMessageIn>(bytes),
        "ratchet_tree" => again::<RatchetTreeIn>(bytes),
        "add_proposal" => again::<AddProposalIn>(bytes),
        "update_proposal" => again::<UpdateProposalIn>(bytes),
        "remove_proposal" => again::<RemoveProposal>(bytes),
        "pre_shared_key_proposal" => again::<PreSharedKeyProposal>(bytes),
        "re_init_proposal" => again::<ReInitProposal>(bytes),
        "external_init_proposal" => again::<ExternalInitProposal>(bytes),
        "group_context_extensions_proposal" => again::<GroupContextExtensionProposalIn>(bytes),
        other => Err(Error::invalid_argument(format!("no public openmls type for {other}"))),
    }
}
