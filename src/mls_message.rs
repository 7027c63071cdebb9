//! Parsing any MLS message for routing, and creating proposals from outside a group.

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;
use openmls_node_core::external::{self, ExternalProposalSpec};
use openmls_node_core::message::{self, ContentKind, MessageInfo};

use crate::config_types::{extension_specs, native_extensions, Extension};
use crate::error::{run, Result};
use crate::key_package::KeyPackage;
use crate::proposal_types::{NativeGroupContext, NativeProposalMessage};
use crate::signature_key_pair::SignatureKeyPair;
use crate::types::Sender;

/// The content type of a group message.
#[napi(string_enum = "camelCase")]
pub enum ContentType {
    /// An application message.
    Application,
    /// A proposal.
    Proposal,
    /// A commit.
    Commit,
}

impl From<ContentKind> for ContentType {
    fn from(kind: ContentKind) -> Self {
        match kind {
            ContentKind::Application => ContentType::Application,
            ContentKind::Proposal => ContentType::Proposal,
            ContentKind::Commit => ContentType::Commit,
        }
    }
}

/// What an MLS message shows before processing (the book's "Deserializing messages"),
/// discriminated by `wireFormat`, RFC 9420's name for it. Nothing is authenticated yet.
#[napi(discriminant = "wireFormat", discriminant_case = "camelCase", object_from_js = false)]
pub enum NativeMessageInfo {
    /// A PublicMessage: its framing is readable.
    PublicMessage {
        /// The group id.
        group_id: Uint8Array,
        /// The epoch it was sent in.
        epoch: BigInt,
        /// What it carries.
        content_type: ContentType,
        /// Who sent it.
        sender: Sender,
    },
    /// A PrivateMessage: only the outer framing is readable.
    PrivateMessage {
        /// The group id.
        group_id: Uint8Array,
        /// The epoch it was sent in.
        epoch: BigInt,
        /// What it carries.
        content_type: ContentType,
        /// The additional authenticated data (readable; authenticated only when processed).
        authenticated_data: Uint8Array,
    },
    /// A Welcome.
    Welcome {
        /// The ciphersuite.
        ciphersuite: u32,
        /// The key package references of the new members it is for.
        key_package_refs: Vec<Uint8Array>,
    },
    /// A GroupInfo.
    GroupInfo {
        /// The group id.
        group_id: Uint8Array,
        /// The epoch.
        epoch: BigInt,
        /// The ciphersuite.
        ciphersuite: u32,
        /// The group context.
        group_context: NativeGroupContext,
        /// The GroupInfo extensions (ratchet tree, external pub, ...).
        extensions: Vec<Extension>,
    },
    /// A key package (not validated yet: `KeyPackage.fromBytes` validates).
    KeyPackage {
        /// The ciphersuite.
        ciphersuite: u32,
    },
}

/// Parses any MLS message without processing it.
#[napi]
pub fn parse_message(bytes: Uint8Array) -> Result<NativeMessageInfo> {
    run(|| message::parse(&bytes)).map(|m| match m {
        MessageInfo::PublicMessage { group_id, epoch, content_type, sender } => NativeMessageInfo::PublicMessage {
            group_id: Uint8Array::new(group_id),
            epoch: BigInt::from(epoch),
            content_type: content_type.into(),
            sender: sender.into(),
        },
        MessageInfo::PrivateMessage { group_id, epoch, content_type, authenticated_data } => NativeMessageInfo::PrivateMessage {
            group_id: Uint8Array::new(group_id),
            epoch: BigInt::from(epoch),
            content_type: content_type.into(),
            authenticated_data: Uint8Array::new(authenticated_data),
        },
        MessageInfo::Welcome { ciphersuite, key_package_refs } => NativeMessageInfo::Welcome {
            ciphersuite: ciphersuite.into(),
            key_package_refs: key_package_refs.into_iter().map(Uint8Array::new).collect(),
        },
        MessageInfo::GroupInfo { group_id, epoch, ciphersuite, group_context, extensions } => NativeMessageInfo::GroupInfo {
            group_id: Uint8Array::new(group_id),
            epoch: BigInt::from(epoch),
            ciphersuite: ciphersuite.into(),
            group_context: group_context.into(),
            extensions: native_extensions(extensions),
        },
        MessageInfo::KeyPackage { ciphersuite } => NativeMessageInfo::KeyPackage { ciphersuite: ciphersuite.into() },
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

/// A proposal from an external sender to add a member (`ExternalProposal::new_add`).
#[napi]
pub fn create_external_add_proposal(
    signer: &SignatureKeyPair,
    sender_index: u32,
    group_id: Uint8Array,
    epoch: BigInt,
    key_package: &KeyPackage,
) -> Result<Uint8Array> {
    external_proposal(signer, sender_index, &group_id, &epoch, || Ok(ExternalProposalSpec::Add(key_package.inner.as_ref().clone())))
}

/// A proposal from an external sender to remove a member (`ExternalProposal::new_remove`).
#[napi]
pub fn create_external_remove_proposal(
    signer: &SignatureKeyPair,
    sender_index: u32,
    group_id: Uint8Array,
    epoch: BigInt,
    removed: u32,
) -> Result<Uint8Array> {
    external_proposal(signer, sender_index, &group_id, &epoch, || Ok(ExternalProposalSpec::Remove(removed)))
}

/// A proposal from an external sender to replace the group context extensions
/// (`ExternalProposal::new_group_context_extensions`).
#[napi]
pub fn create_external_group_context_extensions_proposal(
    signer: &SignatureKeyPair,
    sender_index: u32,
    group_id: Uint8Array,
    epoch: BigInt,
    extensions: Vec<Extension>,
) -> Result<Uint8Array> {
    external_proposal(signer, sender_index, &group_id, &epoch, || {
        Ok(ExternalProposalSpec::GroupContextExtensions(extension_specs(&Some(extensions))?))
    })
}

fn external_proposal(
    signer: &SignatureKeyPair,
    sender_index: u32,
    group_id: &[u8],
    epoch: &BigInt,
    proposal: impl FnOnce() -> openmls_node_core::Result<ExternalProposalSpec>,
) -> Result<Uint8Array> {
    run(|| external::external_proposal(&signer.inner, sender_index, group_id, epoch_of(epoch)?, proposal()?)).map(Uint8Array::new)
}
