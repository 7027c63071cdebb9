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
    capabilities_spec, credential_info, extension_specs, native_extensions, NativeCapabilities, NativeCredential, NativeExtension,
    NativeLeafNode,
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
    pub extensions: Option<Vec<NativeExtension>>,
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

/// A queued proposal. `kind` is `add`, `update`, `remove`, `preSharedKey`, `reInit`, `externalInit`,
/// `groupContextExtensions`, `selfRemove` or `custom`; the fields of that kind are set.
#[napi(object)]
pub struct NativeQueuedProposalInfo {
    /// The proposal reference.
    pub proposal_ref: Uint8Array,
    /// Who proposed it.
    pub sender: Sender,
    /// Whether it travels inside the commit.
    pub by_value: bool,
    /// The proposal type code point.
    pub proposal_type: u32,
    /// The kind.
    pub kind: String,
    /// add/update: the leaf.
    pub leaf_node: Option<NativeLeafNode>,
    /// add: the key package reference.
    pub key_package_ref: Option<Uint8Array>,
    /// remove: the removed leaf.
    pub removed: Option<u32>,
    /// preSharedKey: the PSK id.
    pub psk: Option<PreSharedKeyId>,
    /// groupContextExtensions: the extensions.
    pub extensions: Option<Vec<NativeExtension>>,
    /// custom: the payload.
    pub payload: Option<Uint8Array>,
}

impl From<QueuedProposalInfo> for NativeQueuedProposalInfo {
    fn from(q: QueuedProposalInfo) -> Self {
        let mut out = Self {
            proposal_ref: Uint8Array::new(q.proposal_ref),
            sender: q.sender.into(),
            by_value: q.by_value,
            proposal_type: q.content.proposal_type() as u32,
            kind: String::new(),
            leaf_node: None,
            key_package_ref: None,
            removed: None,
            psk: None,
            extensions: None,
            payload: None,
        };
        out.kind = match q.content {
            ProposalContent::Add { leaf_node, key_package_ref } => {
                out.leaf_node = Some(leaf_node.into());
                out.key_package_ref = Some(Uint8Array::new(key_package_ref));
                "add"
            }
            ProposalContent::Update { leaf_node } => {
                out.leaf_node = Some(leaf_node.into());
                "update"
            }
            ProposalContent::Remove { removed } => {
                out.removed = Some(removed);
                "remove"
            }
            ProposalContent::PreSharedKey { psk } => {
                out.psk = Some(psk.into());
                "preSharedKey"
            }
            ProposalContent::ReInit => "reInit",
            ProposalContent::ExternalInit => "externalInit",
            ProposalContent::GroupContextExtensions { extensions } => {
                out.extensions = Some(native_extensions(extensions));
                "groupContextExtensions"
            }
            ProposalContent::SelfRemove => "selfRemove",
            ProposalContent::Custom { payload, .. } => {
                out.payload = Some(Uint8Array::new(payload));
                "custom"
            }
        }
        .to_string();
        out
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
    pub extensions: Vec<NativeExtension>,
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
