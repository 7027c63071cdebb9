//! Plain JavaScript objects passed across the boundary (`#[napi(object)]`).

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;

pub use crate::config_types::{NativeCredential, NativeLeafNode};
use crate::proposal_types::{NativeGroupContext, NativeQueuedProposalInfo, PreSharedKeyId, RemoveOperation};
use openmls_node_core::group::{CommitOutput, MemberInfo};
use openmls_node_core::processed::{ProposalView, StagedCommitView};
use openmls_node_core::sender::SenderInfo;

/// Who sent a message or proposal (RFC 9420 `Sender`), discriminated by `type`.
#[napi(discriminant = "type", discriminant_case = "camelCase")]
pub enum Sender {
    /// A member of the group, by leaf index.
    Member {
        /// The sender's leaf index.
        leaf_index: u32,
    },
    /// An external sender, by its index in the group's ExternalSenders extension.
    External {
        /// The index in the ExternalSenders extension.
        sender_index: u32,
    },
    /// A new member proposing to join (an external join proposal).
    NewMemberProposal,
    /// A new member joining by external commit.
    NewMemberCommit,
}

impl From<SenderInfo> for Sender {
    fn from(sender: SenderInfo) -> Self {
        match sender {
            SenderInfo::Member(leaf_index) => Sender::Member { leaf_index },
            SenderInfo::External(sender_index) => Sender::External { sender_index },
            SenderInfo::NewMemberProposal => Sender::NewMemberProposal,
            SenderInfo::NewMemberCommit => Sender::NewMemberCommit,
        }
    }
}

/// The messages a commit produces, each an encoded `MLSMessage`.
#[napi(object)]
pub struct NativeCommitMessages {
    /// The commit, for the group.
    pub commit: Uint8Array,
    /// The Welcome, for added members.
    pub welcome: Option<Uint8Array>,
    /// The new epoch's GroupInfo, when the group uses the ratchet-tree extension.
    pub group_info: Option<Uint8Array>,
}

impl From<CommitOutput> for NativeCommitMessages {
    fn from(out: CommitOutput) -> Self {
        Self {
            commit: Uint8Array::new(out.commit),
            welcome: out.welcome.map(Uint8Array::new),
            group_info: out.group_info.map(Uint8Array::new),
        }
    }
}

/// Converts a core commit output, for [`crate::task::Job`].
pub fn commit_messages(out: CommitOutput) -> napi::Result<NativeCommitMessages> {
    Ok(out.into())
}

/// A member of a group.
#[napi(object)]
pub struct NativeMember {
    /// The member's leaf index.
    pub index: u32,
    /// The member's credential.
    pub credential: NativeCredential,
    /// The member's signature public key.
    pub signature_key: Uint8Array,
    /// The member's HPKE encryption public key.
    pub encryption_key: Uint8Array,
}

impl From<MemberInfo> for NativeMember {
    fn from(m: MemberInfo) -> Self {
        Self {
            index: m.index,
            credential: m.credential.into(),
            signature_key: Uint8Array::new(m.signature_key),
            encryption_key: Uint8Array::new(m.encryption_key),
        }
    }
}

/// A proposal covered by a staged commit.
#[napi(object)]
pub struct NativeProposalInfo {
    /// Who proposed it.
    pub sender: Sender,
    /// Add/update: the member's credential.
    pub credential: Option<NativeCredential>,
    /// Add/update: the member's signature key.
    pub signature_key: Option<Uint8Array>,
    /// Remove: the removed leaf index.
    pub removed: Option<u32>,
}

impl From<ProposalView> for NativeProposalInfo {
    fn from(v: ProposalView) -> Self {
        Self {
            sender: v.sender.into(),
            credential: v.credential.map(Into::into),
            signature_key: v.signature_key.map(Uint8Array::new),
            removed: v.removed,
        }
    }
}

/// What a staged commit will do when merged.
#[napi(object)]
pub struct NativeStagedCommitInfo {
    /// Add proposals it covers.
    pub add_proposals: Vec<NativeProposalInfo>,
    /// Remove proposals it covers.
    pub remove_proposals: Vec<NativeProposalInfo>,
    /// Update proposals it covers.
    pub update_proposals: Vec<NativeProposalInfo>,
    /// Whether this client is removed by it.
    pub self_removed: bool,
    /// The epoch after the merge.
    pub epoch: BigInt,
    /// The new epoch's authenticator (absent when this client is removed).
    pub epoch_authenticator: Option<Uint8Array>,
    /// Whether the commit carries an update path.
    pub has_update_path: bool,
    /// PSK proposals it covers.
    pub psk_proposals: Vec<NativePskProposal>,
    /// Every proposal it covers.
    pub queued_proposals: Vec<NativeQueuedProposalInfo>,
    /// The committer's new leaf, with an update path.
    pub update_path_leaf_node: Option<NativeLeafNode>,
    /// Credentials to validate before merging.
    pub credentials_to_verify: Vec<NativeCredential>,
    /// The group context after the merge.
    pub group_context: NativeGroupContext,
    /// What each removal means for this member.
    pub remove_operations: Vec<RemoveOperation>,
}

/// A PSK proposal in a staged commit.
#[napi(object)]
pub struct NativePskProposal {
    /// Who proposed it.
    pub sender: Sender,
    /// The PSK id.
    pub psk: PreSharedKeyId,
}

impl From<StagedCommitView> for NativeStagedCommitInfo {
    fn from(v: StagedCommitView) -> Self {
        let list = |l: Vec<ProposalView>| l.into_iter().map(Into::into).collect();
        Self {
            add_proposals: list(v.adds),
            remove_proposals: list(v.removes),
            update_proposals: list(v.updates),
            self_removed: v.self_removed,
            epoch: BigInt::from(v.epoch),
            epoch_authenticator: v.epoch_authenticator.map(Uint8Array::new),
            has_update_path: v.has_update_path,
            psk_proposals: v.psks.into_iter().map(|(sender, psk)| NativePskProposal { sender: sender.into(), psk: psk.into() }).collect(),
            queued_proposals: v.queued_proposals.into_iter().map(Into::into).collect(),
            update_path_leaf_node: v.update_path_leaf_node.map(Into::into),
            credentials_to_verify: v.credentials_to_verify.into_iter().map(Into::into).collect(),
            group_context: v.group_context.into(),
            remove_operations: v.remove_operations.into_iter().map(Into::into).collect(),
        }
    }
}
