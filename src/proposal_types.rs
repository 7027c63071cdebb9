//! JavaScript objects for proposals, PSKs, staged-commit details and group contexts.

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;
use openmls_node_core::group::{LeafNodeParamsSpec, ProposalOutput};
use openmls_node_core::processed::{GroupContextInfo, RemoveOperationInfo};
use openmls_node_core::proposal::{ProposalContent, QueuedProposalInfo};
use openmls_node_core::psk::{PskIdInfo, PskSpec};
use openmls_node_core::{Error, Result};

use crate::config_types::{
    capabilities_spec, credential_info, extension_specs, native_extensions, Extension, NativeCapabilities, NativeCredential, NativeLeafNode,
};
use crate::types::Sender;

/// A proposal message and its reference.
#[napi(object)]
pub struct NativeProposalMessage {
    /// The proposal, an encoded `MLSMessage`.
    pub message: Uint8Array,
    /// The proposal reference, for rolling it back.
    pub proposal_ref: Uint8Array,
}

impl From<ProposalOutput> for NativeProposalMessage {
    fn from(p: ProposalOutput) -> Self {
        Self { message: Uint8Array::new(p.message), proposal_ref: Uint8Array::new(p.proposal_ref) }
    }
}

/// New leaf parameters for a self-update.
#[napi(object)]
pub struct NativeLeafNodeParams {
    /// A new credential.
    pub credential: Option<NativeCredential>,
    /// New capabilities.
    pub capabilities: Option<NativeCapabilities>,
    /// New leaf node extensions.
    pub extensions: Option<Vec<Extension>>,
}

/// Converts JavaScript leaf parameters.
pub fn leaf_params_spec(p: Option<&NativeLeafNodeParams>) -> Result<LeafNodeParamsSpec> {
    let Some(p) = p else { return Ok(LeafNodeParamsSpec::default()) };
    Ok(LeafNodeParamsSpec {
        credential: p.credential.as_ref().map(credential_info).transpose()?,
        capabilities: p.capabilities.as_ref().map(capabilities_spec).transpose()?,
        extensions: p.extensions.as_ref().map(|_| extension_specs(&p.extensions)).transpose()?,
    })
}

/// A pre-shared key id (the book's "PSKs"), discriminated by `type`: an external PSK the members
/// stored with `provider.storeExternalPsk`, or the resumption PSK of a past epoch of a group.
#[napi(discriminant = "type", discriminant_case = "camelCase")]
pub enum PreSharedKeyId {
    /// An external PSK, by its id.
    External {
        /// The PSK id.
        psk_id: Uint8Array,
        /// The nonce of a proposed PSK (on output only; ignored on input).
        nonce: Option<Uint8Array>,
    },
    /// The resumption PSK of a group's epoch.
    Resumption {
        /// The group.
        group_id: Uint8Array,
        /// The epoch.
        epoch: BigInt,
        /// The nonce of a proposed PSK (on output only; ignored on input).
        nonce: Option<Uint8Array>,
    },
}

/// Converts a JavaScript PSK id.
pub fn psk_spec(p: &PreSharedKeyId) -> Result<PskSpec> {
    Ok(match p {
        PreSharedKeyId::External { psk_id, .. } => PskSpec::External { psk_id: psk_id.to_vec() },
        PreSharedKeyId::Resumption { group_id, epoch, .. } => {
            let (negative, epoch, lossless) = epoch.get_u64();
            if negative || !lossless {
                return Err(Error::invalid_argument("a resumption PSK's epoch must be an unsigned 64-bit integer"));
            }
            PskSpec::Resumption { group_id: group_id.to_vec(), epoch }
        }
    })
}

impl From<PskIdInfo> for PreSharedKeyId {
    fn from(info: PskIdInfo) -> Self {
        let nonce = Some(Uint8Array::new(info.nonce));
        match info.psk {
            PskSpec::External { psk_id } => PreSharedKeyId::External { psk_id: Uint8Array::new(psk_id), nonce },
            PskSpec::Resumption { group_id, epoch } => {
                PreSharedKeyId::Resumption { group_id: Uint8Array::new(group_id), epoch: BigInt::from(epoch), nonce }
            }
        }
    }
}

/// What a proposal proposes, discriminated by `type`.
#[napi(discriminant = "type", discriminant_case = "camelCase")]
pub enum Proposal {
    /// Add a member.
    Add {
        /// The new member's leaf, from its key package.
        leaf_node: NativeLeafNode,
        /// The key package's hash reference.
        key_package_ref: Uint8Array,
    },
    /// Update the sender's leaf.
    Update {
        /// The new leaf.
        leaf_node: NativeLeafNode,
    },
    /// Remove a member.
    Remove {
        /// The removed member's leaf index.
        removed: u32,
    },
    /// Inject a pre-shared key.
    PreSharedKey {
        /// The PSK id.
        psk: PreSharedKeyId,
    },
    /// Reinitialize the group (openmls 0.9 cannot create these).
    ReInit,
    /// Part of an external commit.
    ExternalInit,
    /// Replace the group context extensions.
    GroupContextExtensions {
        /// The new extensions.
        extensions: Vec<Extension>,
    },
    /// The sender leaves (SelfRemove).
    SelfRemove,
    /// A proposal of a type openmls does not know, as opaque bytes.
    Custom {
        /// Its type code point.
        proposal_type: u32,
        /// Its payload.
        payload: Uint8Array,
    },
}

impl From<ProposalContent> for Proposal {
    fn from(content: ProposalContent) -> Self {
        match content {
            ProposalContent::Add { leaf_node, key_package_ref } => {
                Proposal::Add { leaf_node: leaf_node.into(), key_package_ref: Uint8Array::new(key_package_ref) }
            }
            ProposalContent::Update { leaf_node } => Proposal::Update { leaf_node: leaf_node.into() },
            ProposalContent::Remove { removed } => Proposal::Remove { removed },
            ProposalContent::PreSharedKey { psk } => Proposal::PreSharedKey { psk: psk.into() },
            ProposalContent::ReInit => Proposal::ReInit,
            ProposalContent::ExternalInit => Proposal::ExternalInit,
            ProposalContent::GroupContextExtensions { extensions } => {
                Proposal::GroupContextExtensions { extensions: native_extensions(extensions) }
            }
            ProposalContent::SelfRemove => Proposal::SelfRemove,
            ProposalContent::Custom { proposal_type, payload } => {
                Proposal::Custom { proposal_type: proposal_type.into(), payload: Uint8Array::new(payload) }
            }
        }
    }
}

/// A queued proposal: its reference, sender, framing and content.
#[napi(object)]
pub struct NativeQueuedProposalInfo {
    /// The proposal reference.
    pub proposal_ref: Uint8Array,
    /// Who proposed it.
    pub sender: Sender,
    /// Whether it travels inside the commit (by value) rather than as its own message (by reference).
    pub by_value: bool,
    /// The proposal type code point.
    pub proposal_type: u32,
    /// What it proposes.
    pub proposal: Proposal,
}

impl From<QueuedProposalInfo> for NativeQueuedProposalInfo {
    fn from(q: QueuedProposalInfo) -> Self {
        Self {
            proposal_ref: Uint8Array::new(q.proposal_ref),
            sender: q.sender.into(),
            by_value: q.by_value,
            proposal_type: q.content.proposal_type() as u32,
            proposal: q.content.into(),
        }
    }
}

/// A group context.
#[napi(object)]
pub struct NativeGroupContext {
    /// The protocol version (1 = MLS 1.0).
    pub protocol_version: u32,
    /// The ciphersuite.
    pub ciphersuite: u32,
    /// The group id.
    pub group_id: Uint8Array,
    /// The epoch.
    pub epoch: BigInt,
    /// The tree hash.
    pub tree_hash: Uint8Array,
    /// The confirmed transcript hash.
    pub confirmed_transcript_hash: Uint8Array,
    /// The group context extensions.
    pub extensions: Vec<Extension>,
}

impl From<GroupContextInfo> for NativeGroupContext {
    fn from(c: GroupContextInfo) -> Self {
        Self {
            protocol_version: c.protocol_version as u32,
            ciphersuite: c.ciphersuite as u32,
            group_id: Uint8Array::new(c.group_id),
            epoch: BigInt::from(c.epoch),
            tree_hash: Uint8Array::new(c.tree_hash),
            confirmed_transcript_hash: Uint8Array::new(c.confirmed_transcript_hash),
            extensions: native_extensions(c.extensions),
        }
    }
}

/// What a removal in a commit means for this member (the book's "Interpreting remove
/// operations"), discriminated by `type`.
#[napi(discriminant = "type", discriminant_case = "camelCase")]
pub enum RemoveOperation {
    /// This member left (its own Remove or SelfRemove was committed).
    WeLeft,
    /// This member was removed by another.
    WeWereRemovedBy {
        /// Who removed it.
        sender: Sender,
    },
    /// Another member left.
    TheyLeft {
        /// The member that left.
        leaf_index: u32,
    },
    /// Another member was removed by someone else.
    TheyWereRemovedBy {
        /// The removed member.
        leaf_index: u32,
        /// Who removed it.
        sender: Sender,
    },
    /// This member removed another.
    WeRemovedThem {
        /// The removed member.
        leaf_index: u32,
    },
}

impl From<RemoveOperationInfo> for RemoveOperation {
    fn from(op: RemoveOperationInfo) -> Self {
        match op {
            RemoveOperationInfo::WeLeft => RemoveOperation::WeLeft,
            RemoveOperationInfo::WeWereRemovedBy(s) => RemoveOperation::WeWereRemovedBy { sender: s.into() },
            RemoveOperationInfo::TheyLeft(leaf_index) => RemoveOperation::TheyLeft { leaf_index },
            RemoveOperationInfo::TheyWereRemovedBy(leaf_index, s) => RemoveOperation::TheyWereRemovedBy { leaf_index, sender: s.into() },
            RemoveOperationInfo::WeRemovedThem(leaf_index) => RemoveOperation::WeRemovedThem { leaf_index },
        }
    }
}
