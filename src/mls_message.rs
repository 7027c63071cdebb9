//! Parsing any MLS message for routing, and creating proposals from outside a group.

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;
use openmls_node_core::external::{self, ExternalProposalSpec};
use openmls_node_core::message;

use crate::config_types::{extension_specs, native_extensions, Extension};
use crate::error::{run, Result};
use crate::key_package::KeyPackage;
use crate::proposal_types::{NativeGroupContext, NativeProposalMessage};
use crate::signature_key_pair::SignatureKeyPair;
use crate::types::Sender;

/// What a message shows before processing. Nothing here is authenticated yet.
#[napi(object)]
pub struct NativeMessageInfo {
    /// `publicMessage`, `privateMessage`, `welcome`, `groupInfo` or `keyPackage`.
    pub wire_format: String,
    /// The group id (group messages and GroupInfos).
    pub group_id: Option<Uint8Array>,
    /// The epoch (group messages and GroupInfos).
    pub epoch: Option<BigInt>,
    /// `application`, `proposal` or `commit` (group messages).
    pub content_type: Option<String>,
    /// The sender (public messages).
    pub sender: Option<Sender>,
    /// The additional authenticated data (private messages).
    pub authenticated_data: Option<Uint8Array>,
    /// The ciphersuite (Welcomes, GroupInfos, key packages).
    pub ciphersuite: Option<u32>,
    /// The key package references a Welcome is for.
    pub welcome_key_package_refs: Vec<Uint8Array>,
    /// The group context (GroupInfos).
    pub group_context: Option<NativeGroupContext>,
    /// The GroupInfo extensions.
    pub group_info_extensions: Vec<Extension>,
}

/// Parses any MLS message without processing it.
#[napi]
pub fn parse_message(bytes: Uint8Array) -> Result<NativeMessageInfo> {
    run(|| message::parse(&bytes)).map(|m| NativeMessageInfo {
        wire_format: m.wire_format.to_string(),
        group_id: m.group_id.map(Uint8Array::new),
        epoch: m.epoch.map(BigInt::from),
        content_type: m.content_type.map(str::to_string),
        sender: m.sender.map(Into::into),
        authenticated_data: m.authenticated_data.map(Uint8Array::new),
        ciphersuite: m.ciphersuite.map(u32::from),
        welcome_key_package_refs: m.welcome_key_package_refs.into_iter().map(Uint8Array::new).collect(),
        group_context: m.group_context.map(Into::into),
        group_info_extensions: native_extensions(m.group_info_extensions),
    })
}

/// A new member's proposal to join a group (`JoinProposal::new`), signed by the key package's signer.
#[napi]
pub fn create_join_proposal(
    signer: &SignatureKeyPair,
    key_package: &KeyPackage,
    group_id: Uint8Array,
    epoch: BigInt,
) -> Result<NativeProposalMessage> {
    run(|| external::join_proposal(&signer.inner, &key_package.inner, &group_id, epoch_of(&epoch)?)).map(Into::into)
}

/// A bigint epoch, refused unless it is from 0 to 2^64-1.
fn epoch_of(epoch: &BigInt) -> openmls_node_core::Result<u64> {
    match epoch.get_u64() {
        (false, value, true) => Ok(value),
        _ => Err(openmls_node_core::Error::invalid_argument("epoch must be a bigint from 0 to 2^64-1")),
    }
}

/// A proposal from an external sender (`ExternalProposal::new_*`): `kind` is `add` (with
/// `keyPackage`), `remove` (with `removed`) or `groupContextExtensions` (with `extensions`).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn create_external_proposal(
    signer: &SignatureKeyPair,
    sender_index: u32,
    group_id: Uint8Array,
    epoch: BigInt,
    kind: String,
    key_package: Option<&KeyPackage>,
    removed: Option<u32>,
    extensions: Option<Vec<Extension>>,
) -> Result<Uint8Array> {
    run(|| {
        let missing = |what: &str| openmls_node_core::Error::invalid_argument(format!("a {kind} external proposal needs {what}"));
        let proposal = match kind.as_str() {
            "add" => ExternalProposalSpec::Add(key_package.ok_or_else(|| missing("keyPackage"))?.inner.as_ref().clone()),
            "remove" => ExternalProposalSpec::Remove(removed.ok_or_else(|| missing("removed"))?),
            "groupContextExtensions" => {
                ExternalProposalSpec::GroupContextExtensions(extension_specs(&Some(extensions.ok_or_else(|| missing("extensions"))?))?)
            }
            other => return Err(openmls_node_core::Error::invalid_argument(format!("unknown external proposal kind {other:?}"))),
        };
        external::external_proposal(&signer.inner, sender_index, &group_id, epoch_of(&epoch)?, proposal)
    })
    .map(Uint8Array::new)
}
