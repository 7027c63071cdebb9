//! Plain-data views of what openmls hands back after processing a message, and the handles that
//! carry a staged commit or a queued proposal back into the group.

use std::sync::Mutex;

use openmls::prelude::*;

use crate::error::{Error, ErrorCode, Result};
use crate::extensions::ExtensionSpec;
use crate::identity::CredentialInfo;
use crate::leaf::LeafNodeInfo;
use crate::proposal::QueuedProposalInfo;
use crate::psk::PskIdInfo;
use crate::sender::SenderInfo;

/// A processed message: common fields plus its content.
#[derive(Debug)]
pub struct Processed {
    /// The group the message belongs to.
    pub group_id: Vec<u8>,
    /// The epoch the message was sent in.
    pub epoch: u64,
    /// Who sent it.
    pub sender: SenderInfo,
    /// The authenticated additional data.
    pub aad: Vec<u8>,
    /// The sender's credential.
    pub credential: CredentialInfo,
    /// What the message carries.
    pub content: ProcessedContent,
}

/// What a processed message carries.
// One per processed message, moved once into its JavaScript form: boxing the staged commit
// would cost an allocation per message and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ProcessedContent {
    /// Application data.
    Application(Vec<u8>),
    /// A proposal, to inspect and then store (or drop).
    Proposal(QueuedProposalHandle),
    /// A proposal from a new member to join.
    ExternalJoinProposal(QueuedProposalHandle),
    /// A commit, staged: inspect it, then merge it.
    Commit(StagedCommitHandle),
    /// This client's own commit, matching its pending commit: merge the pending commit.
    OwnPendingCommit,
    /// This client's own private message, which it cannot decrypt.
    OwnPrivateMessage,
}

/// Tells a handle's group and epoch, so it is only used where it belongs.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) group_id: GroupId,
    pub(crate) epoch: u64,
}

impl Origin {
    pub(crate) fn check(&self, group_id: &GroupId, epoch: u64, what: &str) -> Result<()> {
        if &self.group_id != group_id {
            return Err(Error::new(ErrorCode::WrongGroup, format!("this {what} belongs to another group")));
        }
        if self.epoch != epoch {
            return Err(Error::new(
                ErrorCode::StaleStagedCommit,
                format!("this {what} was made in epoch {}, the group is in epoch {epoch}", self.epoch),
            ));
        }
        Ok(())
    }
}

/// Takes a handle's content out, once: a second take is [`ErrorCode::StaleStagedCommit`].
fn take_once<T>(slot: &Mutex<Option<T>>, what: &str) -> Result<T> {
    slot.lock()
        .map_err(|_| Error::internal(format!("{what} lock poisoned")))?
        .take()
        .ok_or_else(|| Error::new(ErrorCode::StaleStagedCommit, format!("this {what} was already used")))
}

/// A staged commit waiting to be merged. It can be merged once, into the group and epoch it came from.
#[derive(Debug)]
pub struct StagedCommitHandle {
    pub(crate) origin: Origin,
    pub(crate) commit: Mutex<Option<StagedCommit>>,
    view: StagedCommitView,
}

/// A proposal in a staged commit, with its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalView {
    /// Who proposed it.
    pub sender: SenderInfo,
    /// `add`: the new member's credential; `update`: the updated credential.
    pub credential: Option<CredentialInfo>,
    /// `add` and `update`: the member's signature key.
    pub signature_key: Option<Vec<u8>>,
    /// `remove`: the removed leaf.
    pub removed: Option<u32>,
}

/// What a staged commit will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedCommitView {
    /// Add proposals it covers.
    pub adds: Vec<ProposalView>,
    /// Remove proposals it covers.
    pub removes: Vec<ProposalView>,
    /// Update proposals it covers.
    pub updates: Vec<ProposalView>,
    /// Whether this client is removed by it.
    pub self_removed: bool,
    /// The epoch the group enters when it is merged.
    pub epoch: u64,
    /// The new epoch's authenticator (absent when this client is removed).
    pub epoch_authenticator: Option<Vec<u8>>,
    /// Whether the committer's leaf is refreshed by an update path.
    pub has_update_path: bool,
    /// PSK proposals it covers.
    pub psks: Vec<(SenderInfo, PskIdInfo)>,
    /// Every proposal it covers, in order, with its content.
    pub queued_proposals: Vec<QueuedProposalInfo>,
    /// The committer's new leaf, when the commit has an update path.
    pub update_path_leaf_node: Option<LeafNodeInfo>,
    /// The credentials the application should validate before merging (new and changed leaves).
    pub credentials_to_verify: Vec<CredentialInfo>,
    /// The group context after the merge.
    pub group_context: GroupContextInfo,
    /// What each removal means for this member (the book's `RemoveOperation`).
    pub remove_operations: Vec<RemoveOperationInfo>,
}

/// A group context as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupContextInfo {
    /// The protocol version (1 = MLS 1.0).
    pub protocol_version: u16,
    /// The ciphersuite.
    pub ciphersuite: u16,
    /// The group id.
    pub group_id: Vec<u8>,
    /// The epoch.
    pub epoch: u64,
    /// The tree hash.
    pub tree_hash: Vec<u8>,
    /// The confirmed transcript hash.
    pub confirmed_transcript_hash: Vec<u8>,
    /// The group context extensions.
    pub extensions: Vec<ExtensionSpec>,
}

impl From<&GroupContext> for GroupContextInfo {
    fn from(c: &GroupContext) -> Self {
        Self {
            protocol_version: crate::codec::u16_of(&c.protocol_version()),
            ciphersuite: u16::from(c.ciphersuite()),
            group_id: c.group_id().as_slice().to_vec(),
            epoch: c.epoch().as_u64(),
            tree_hash: c.tree_hash().to_vec(),
            confirmed_transcript_hash: c.confirmed_transcript_hash().to_vec(),
            extensions: crate::extensions::describe(c.extensions().iter()),
        }
    }
}

/// What a removal means for this member (openmls's `RemoveOperation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveOperationInfo {
    /// This member asked to leave, and the commit removes it.
    WeLeft,
    /// Someone removed this member.
    WeWereRemovedBy(SenderInfo),
    /// Another member asked to leave and is removed.
    TheyLeft(u32),
    /// Another member was removed by someone.
    TheyWereRemovedBy(u32, SenderInfo),
    /// This member removed another one.
    WeRemovedThem(u32),
}

/// Describes a staged commit, with the pre-merge group for the removal interpretation.
/// Describes a staged commit. `member` is this member's group; a delivery service's public view
/// has none, so it gets no remove operations (they say what a removal means for a member) and is
/// never "removed".
pub(crate) fn describe_staged_commit(commit: &StagedCommit, member: Option<&MlsGroup>, crypto: &impl OpenMlsCrypto) -> StagedCommitView {
    let leaf_view = |sender: &Sender, leaf: &LeafNode| ProposalView {
        sender: sender.into(),
        credential: Some(leaf.credential().into()),
        signature_key: Some(leaf.signature_key().as_slice().to_vec()),
        removed: None,
    };
    let mut remove_operations: Vec<RemoveOperationInfo> = Vec::new();
    if let Some(group) = member {
        let own = group.own_leaf_index();
        remove_operations = commit
            .remove_proposals()
            .filter_map(|p| RemoveOperation::new(p, group).ok())
            .map(|op| match op {
                RemoveOperation::WeLeft => RemoveOperationInfo::WeLeft,
                RemoveOperation::WeWereRemovedBy(s) => RemoveOperationInfo::WeWereRemovedBy((&s).into()),
                RemoveOperation::TheyLeft(i) => RemoveOperationInfo::TheyLeft(i.u32()),
                RemoveOperation::TheyWereRemovedBy((i, s)) => RemoveOperationInfo::TheyWereRemovedBy(i.u32(), (&s).into()),
                RemoveOperation::WeRemovedThem(i) => RemoveOperationInfo::WeRemovedThem(i.u32()),
            })
            .collect();
        // SelfRemove proposals are not Remove proposals, but they remove their sender all the same.
        for q in commit.queued_proposals() {
            if let (Proposal::SelfRemove, Sender::Member(leaf)) = (q.proposal(), q.sender()) {
                remove_operations.push(if *leaf == own { RemoveOperationInfo::WeLeft } else { RemoveOperationInfo::TheyLeft(leaf.u32()) });
            }
        }
    }
    StagedCommitView {
        adds: commit.add_proposals().map(|p| leaf_view(p.sender(), p.add_proposal().key_package().leaf_node())).collect(),
        removes: commit
            .remove_proposals()
            .map(|p| ProposalView {
                sender: p.sender().into(),
                credential: None,
                signature_key: None,
                removed: Some(p.remove_proposal().removed().u32()),
            })
            .collect(),
        updates: commit.update_proposals().map(|p| leaf_view(p.sender(), p.update_proposal().leaf_node())).collect(),
        // openmls says a public view is "removed" (it has no leaf): that means nothing there.
        self_removed: member.is_some() && commit.self_removed(),
        epoch: commit.group_context().epoch().as_u64(),
        epoch_authenticator: commit.epoch_authenticator().map(|a| a.as_slice().to_vec()),
        has_update_path: commit.update_path_leaf_node().is_some(),
        psks: commit
            .psk_proposals()
            .filter_map(|p| {
                crate::proposal::psk_id_of(p.psk_proposal()).map(|id| (SenderInfo::from(p.sender()), crate::psk::describe(&id)))
            })
            .collect(),
        queued_proposals: commit.queued_proposals().map(|q| QueuedProposalInfo::from_openmls(q, crypto)).collect(),
        update_path_leaf_node: commit.update_path_leaf_node().map(LeafNodeInfo::from),
        credentials_to_verify: commit.credentials_to_verify().map(CredentialInfo::from).collect(),
        group_context: GroupContextInfo::from(commit.group_context()),
        remove_operations,
    }
}

impl StagedCommitHandle {
    pub(crate) fn new(origin: Origin, commit: StagedCommit, view: StagedCommitView) -> Self {
        Self { origin, commit: Mutex::new(Some(commit)), view }
    }

    /// Describes the commit: a snapshot taken when it was staged, still readable after the merge.
    pub fn view(&self) -> Result<StagedCommitView> {
        Ok(self.view.clone())
    }

    /// Takes the commit out for merging, after checking it belongs to this group and epoch.
    pub(crate) fn take_for(&self, group_id: &GroupId, epoch: u64) -> Result<StagedCommit> {
        self.origin.check(group_id, epoch, "staged commit")?;
        take_once(&self.commit, "staged commit")
    }
}

/// A proposal received from another member, waiting to be stored in the proposal queue.
#[derive(Debug)]
pub struct QueuedProposalHandle {
    pub(crate) origin: Origin,
    pub(crate) proposal: Mutex<Option<QueuedProposal>>,
    /// The proposal type code point (1 = add, 2 = update, 3 = remove, ...).
    pub proposal_type: u16,
    /// The proposal reference (RFC 9420 §5.2).
    pub proposal_ref: Vec<u8>,
    /// Who proposed it.
    pub sender: SenderInfo,
    info: QueuedProposalInfo,
}

impl QueuedProposalHandle {
    pub(crate) fn new(origin: Origin, proposal: QueuedProposal, crypto: &impl OpenMlsCrypto) -> Self {
        Self {
            info: QueuedProposalInfo::from_openmls(&proposal, crypto),
            origin,
            proposal_type: u16::from(proposal.proposal().proposal_type()),
            proposal_ref: proposal.proposal_reference_ref().as_slice().to_vec(),
            sender: proposal.sender().into(),
            proposal: Mutex::new(Some(proposal)),
        }
    }

    /// What the proposal proposes.
    pub fn info(&self) -> Result<QueuedProposalInfo> {
        Ok(self.info.clone())
    }

    pub(crate) fn take_for(&self, group_id: &GroupId, epoch: u64) -> Result<QueuedProposal> {
        self.origin.check(group_id, epoch, "proposal")?;
        take_once(&self.proposal, "proposal")
    }
}

/// Converts openmls's processed message into the plain view, for a member of the group.
pub(crate) fn from_openmls(message: ProcessedMessage, group: &MlsGroup, crypto: &impl OpenMlsCrypto) -> Processed {
    convert(message, group.epoch().as_u64(), Some(group), crypto)
}

/// Converts what a delivery service's public view of a group (in `current_epoch`) processed.
pub(crate) fn from_public(message: ProcessedMessage, current_epoch: u64, crypto: &impl OpenMlsCrypto) -> Processed {
    convert(message, current_epoch, None, crypto)
}

fn convert(message: ProcessedMessage, current_epoch: u64, member: Option<&MlsGroup>, crypto: &impl OpenMlsCrypto) -> Processed {
    let group_id = message.group_id().clone();
    let origin = Origin { group_id: group_id.clone(), epoch: current_epoch };
    let epoch = message.epoch().as_u64();
    let sender = SenderInfo::from(message.sender());
    let aad = message.aad().to_vec();
    let credential = CredentialInfo::from(message.credential());
    let content = match message.into_content() {
        ProcessedMessageContent::ApplicationMessage(app) => ProcessedContent::Application(app.into_bytes()),
        ProcessedMessageContent::ProposalMessage(p) => ProcessedContent::Proposal(QueuedProposalHandle::new(origin, *p, crypto)),
        ProcessedMessageContent::ExternalJoinProposalMessage(p) => {
            ProcessedContent::ExternalJoinProposal(QueuedProposalHandle::new(origin, *p, crypto))
        }
        ProcessedMessageContent::StagedCommitMessage(c) => {
            let view = describe_staged_commit(&c, member, crypto);
            ProcessedContent::Commit(StagedCommitHandle::new(origin, *c, view))
        }
        ProcessedMessageContent::OwnPendingCommit => ProcessedContent::OwnPendingCommit,
        ProcessedMessageContent::OwnPrivateMessage => ProcessedContent::OwnPrivateMessage,
    };
    Processed { group_id: group_id.as_slice().to_vec(), epoch, sender, aad, credential, content }
}
