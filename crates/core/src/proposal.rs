//! Proposals as plain data: what a queued proposal proposes, who sent it, by value or by reference.

use openmls::prelude::*;

use crate::extensions::{self, ExtensionSpec};
use crate::identity::CredentialInfo;
use crate::leaf::LeafNodeInfo;
use crate::psk::{self, PskIdInfo};
use crate::sender::SenderInfo;

/// What a proposal proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalContent {
    /// Add a member: its key package's leaf.
    Add {
        /// The new member's leaf.
        leaf_node: LeafNodeInfo,
        /// The key package's hash reference.
        key_package_ref: Vec<u8>,
    },
    /// Update the sender's leaf.
    Update {
        /// The new leaf.
        leaf_node: LeafNodeInfo,
    },
    /// Remove a member.
    Remove {
        /// The removed leaf index.
        removed: u32,
    },
    /// Inject a PSK.
    PreSharedKey {
        /// The PSK id.
        psk: PskIdInfo,
    },
    /// ReInit (openmls 0.9 cannot create these).
    ReInit,
    /// ExternalInit (part of an external commit).
    ExternalInit,
    /// Replace the group context extensions.
    GroupContextExtensions {
        /// The new extensions.
        extensions: Vec<ExtensionSpec>,
    },
    /// The sender leaves.
    SelfRemove,
    /// An application-defined proposal.
    Custom {
        /// Its type code point.
        proposal_type: u16,
        /// Its payload.
        payload: Vec<u8>,
    },
}

impl ProposalContent {
    /// The proposal type code point.
    pub fn proposal_type(&self) -> u16 {
        match self {
            ProposalContent::Add { .. } => 1,
            ProposalContent::Update { .. } => 2,
            ProposalContent::Remove { .. } => 3,
            ProposalContent::PreSharedKey { .. } => 4,
            ProposalContent::ReInit => 5,
            ProposalContent::ExternalInit => 6,
            ProposalContent::GroupContextExtensions { .. } => 7,
            ProposalContent::SelfRemove => 10,
            ProposalContent::Custom { proposal_type, .. } => *proposal_type,
        }
    }

    /// Describes an openmls proposal.
    pub fn from_openmls(proposal: &Proposal, crypto: &impl OpenMlsCrypto) -> Self {
        match proposal {
            Proposal::Add(add) => ProposalContent::Add {
                leaf_node: LeafNodeInfo::from(add.key_package().leaf_node()),
                key_package_ref: add.key_package().hash_ref(crypto).map(|r| r.as_slice().to_vec()).unwrap_or_default(),
            },
            Proposal::Update(update) => ProposalContent::Update { leaf_node: LeafNodeInfo::from(update.leaf_node()) },
            Proposal::Remove(remove) => ProposalContent::Remove { removed: remove.removed().u32() },
            Proposal::PreSharedKey(p) => match psk_id_of(p) {
                Some(id) => ProposalContent::PreSharedKey { psk: psk::describe(&id) },
                None => ProposalContent::Custom { proposal_type: 4, payload: Vec::new() },
            },
            Proposal::ReInit(_) => ProposalContent::ReInit,
            Proposal::ExternalInit(_) => ProposalContent::ExternalInit,
            Proposal::GroupContextExtensions(gce) => {
                ProposalContent::GroupContextExtensions { extensions: extensions::describe(gce.extensions().iter()) }
            }
            Proposal::SelfRemove => ProposalContent::SelfRemove,
            Proposal::Custom(custom) => {
                ProposalContent::Custom { proposal_type: custom.proposal_type(), payload: custom.payload().to_vec() }
            }
        }
    }
}

/// A PSK proposal's id: openmls has no getter, but the proposal is encoded as the id.
pub(crate) fn psk_id_of(proposal: &PreSharedKeyProposal) -> Option<openmls::schedule::PreSharedKeyId> {
    let bytes = crate::codec::encode(proposal).ok()?;
    openmls::schedule::PreSharedKeyId::tls_deserialize_exact_bytes(&bytes).ok()
}

/// A queued proposal: its reference, sender, framing and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedProposalInfo {
    /// The proposal reference (RFC 9420 §5.2).
    pub proposal_ref: Vec<u8>,
    /// Who proposed it.
    pub sender: SenderInfo,
    /// Whether it travels inside the commit (by value) rather than as a separate message.
    pub by_value: bool,
    /// What it proposes.
    pub content: ProposalContent,
}

impl QueuedProposalInfo {
    /// Describes an openmls queued proposal.
    pub fn from_openmls(q: &QueuedProposal, crypto: &impl OpenMlsCrypto) -> Self {
        Self {
            proposal_ref: q.proposal_reference_ref().as_slice().to_vec(),
            sender: q.sender().into(),
            by_value: matches!(q.proposal_or_ref_type(), ProposalOrRefType::Proposal),
            content: ProposalContent::from_openmls(q.proposal(), crypto),
        }
    }
}

/// A credential's description, for the removal-by-credential lookup.
pub fn credential_of(info: &CredentialInfo) -> crate::Result<Credential> {
    crate::identity::credential_from_info(info)
}
