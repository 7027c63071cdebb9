//! Proposals by reference and by value, leaving, and the pending proposal store.

use openmls::ciphersuite::hash_ref::ProposalRef;
use openmls::group::Propose;
use openmls::prelude::*;

use super::{Group, LeafNodeParamsSpec};
use crate::codec;
use crate::error::{typed, Error, ErrorCode, Result};
use crate::extensions::{self, ExtensionSpec};
use crate::identity::CredentialInfo;
use crate::proposal::QueuedProposalInfo;
use crate::provider::Tx;
use crate::psk::PskSpec;

/// A proposal message and its reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalOutput {
    /// The proposal, to send to the group.
    pub message: Vec<u8>,
    /// Its reference, for rolling it back with [`Group::remove_pending_proposal`].
    pub proposal_ref: Vec<u8>,
}

fn framing(by_value: bool) -> ProposalOrRefType {
    if by_value {
        ProposalOrRefType::Proposal
    } else {
        ProposalOrRefType::Reference
    }
}

impl Group {
    fn propose_with(&self, tx: &Tx<'_>, what: Propose, by_value: bool) -> Result<ProposalOutput> {
        let signer = self.signer()?;
        let mut group = self.lock()?;
        Self::operational(&group)?;
        let (message, proposal_ref) =
            group.propose(tx, signer.as_ref(), what, framing(by_value)).map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
        Ok(ProposalOutput { message: codec::encode_message(&message)?, proposal_ref: proposal_ref.as_slice().to_vec() })
    }

    /// Proposes adding a member.
    pub fn propose_add_member(&self, key_package: &KeyPackage, by_value: bool) -> Result<ProposalOutput> {
        self.tx(|tx| self.propose_with(tx, Propose::Add(key_package.clone()), by_value))
    }

    /// Proposes removing the member at a leaf index.
    pub fn propose_remove_member(&self, leaf_index: u32, by_value: bool) -> Result<ProposalOutput> {
        self.tx(|tx| {
            self.check_member(leaf_index)?;
            self.propose_with(tx, Propose::Remove(leaf_index), by_value)
        })
    }

    /// Proposes removing the member with this credential.
    pub fn propose_remove_member_by_credential(&self, credential: &CredentialInfo, by_value: bool) -> Result<ProposalOutput> {
        self.tx(|tx| {
            let credential = crate::identity::credential_from_info(credential)?;
            if self.lock()?.member_leaf_index(&credential).is_none() {
                return Err(Error::new(ErrorCode::UnknownMember, "no member has this credential"));
            }
            self.propose_with(tx, Propose::RemoveCredential(credential), by_value)
        })
    }

    /// Proposes updating this member's leaf (always by reference, as openmls requires).
    pub fn propose_self_update(&self, params: &LeafNodeParamsSpec) -> Result<ProposalOutput> {
        self.tx(|tx| {
            let params = {
                let group = self.lock()?;
                self.leaf_node_parameters_of(&group, params)?
            };
            self.propose_with(tx, Propose::Update(params), false)
        })
    }

    /// Proposes replacing the group context extensions (always by reference).
    pub fn propose_group_context_extensions(&self, specs: &[ExtensionSpec]) -> Result<ProposalOutput> {
        self.tx(|tx| {
            let extensions = extensions::group_context_extensions(specs)?;
            {
                let group = self.lock()?;
                let members = extensions::member_capabilities(&group);
                extensions::check_group_context_extensions(&extensions, members.iter().map(|(i, c)| (*i, c)))?;
            }
            self.propose_with(tx, Propose::GroupContextExtensions(extensions), false)
        })
    }

    /// Proposes an application-defined proposal. Every member must list its type in its capabilities.
    pub fn propose_custom_proposal(&self, proposal_type: u16, payload: &[u8], by_value: bool) -> Result<ProposalOutput> {
        self.tx(|tx| {
            if proposal_type <= 10 {
                return Err(Error::invalid_argument(format!(
                    "proposal type {proposal_type} is reserved by RFC 9420; custom proposals use other code points"
                )));
            }
            self.propose_with(tx, Propose::Custom(CustomProposal::new(proposal_type, payload.to_vec())), by_value)
        })
    }

    /// Proposes injecting a PSK: an external one the members stored, or a resumption PSK of an
    /// epoch the group keeps. Fails with `ERR_PSK_NOT_FOUND` if this member cannot load it.
    pub fn propose_pre_shared_key(&self, psk: &PskSpec, by_value: bool) -> Result<ProposalOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            self.check_psk_available(tx, &group, psk)?;
            let id = psk.to_openmls(&self.provider, group.ciphersuite())?;
            let result = if by_value {
                group.propose_pre_shared_key_by_value(tx, signer.as_ref(), id)
            } else {
                group.propose_pre_shared_key(tx, signer.as_ref(), id)
            };
            let (message, proposal_ref) = result.map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            Ok(ProposalOutput { message: codec::encode_message(&message)?, proposal_ref: proposal_ref.as_slice().to_vec() })
        })
    }

    /// Fails early when a PSK is neither stored (external) nor kept (resumption).
    pub(crate) fn check_psk_available(&self, tx: &Tx<'_>, group: &MlsGroup, psk: &PskSpec) -> Result<()> {
        let available = match psk {
            PskSpec::External { psk_id } => crate::psk::has_external_psk_in(tx, psk_id)?,
            PskSpec::Resumption { group_id, epoch } => {
                group_id.as_slice() == group.group_id().as_slice()
                    && (*epoch == group.epoch().as_u64() || group.get_past_resumption_psk(GroupEpoch::from(*epoch)).is_some())
            }
        };
        if available {
            return Ok(());
        }
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        Err(Error::new(
            ErrorCode::PskNotFound,
            match psk {
                PskSpec::External { psk_id } => {
                    format!("the external PSK with id {} is not stored: store it with provider.storeExternalPsk() first", hex(psk_id))
                }
                PskSpec::Resumption { group_id, epoch } => format!(
                    "the resumption PSK of group {} epoch {epoch} is not kept by this group (numberOfResumptionPsks)",
                    hex(group_id)
                ),
            },
        ))
    }

    /// Leaves the group with a Remove proposal for this member, for another member to commit.
    /// The proposal is queued here too; its reference takes the request back with
    /// [`Group::remove_pending_proposal`].
    pub fn leave_group(&self) -> Result<ProposalOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let before: Vec<ProposalRef> = group.pending_proposals().map(|p| p.proposal_reference_ref().clone()).collect();
            let message = group.leave_group(tx, signer.as_ref()).map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            let proposal_ref = new_proposal_ref(&group, &before)?;
            Ok(ProposalOutput { message: codec::encode_message(&message)?, proposal_ref })
        })
    }

    /// Leaves the group with a SelfRemove proposal, which any member's next commit covers. It is
    /// sent as a PublicMessage, so the group's policy must accept plaintext handshakes.
    pub fn leave_group_via_self_remove(&self) -> Result<ProposalOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let before: Vec<ProposalRef> = group.pending_proposals().map(|p| p.proposal_reference_ref().clone()).collect();
            let message = group.leave_group_via_self_remove(tx, signer.as_ref()).map_err(|e| match e {
                LeaveGroupError::CannotSelfRemoveWithPureCiphertext => {
                    Error::invalid_argument("SelfRemove is sent in plaintext; use a mixed or plaintext wire format policy (or leaveGroup)")
                }
                other => typed(other, ErrorCode::ValidationFailed),
            })?;
            let proposal_ref = new_proposal_ref(&group, &before)?;
            Ok(ProposalOutput { message: codec::encode_message(&message)?, proposal_ref })
        })
    }

    /// The proposals queued for the next commit.
    pub fn pending_proposals(&self) -> Result<Vec<QueuedProposalInfo>> {
        self.read(
            |group| Ok(group.pending_proposals().map(|p| QueuedProposalInfo::from_openmls(p, self.provider.crypto())).collect()),
            |v| v.pending_proposals.as_ref().clone(),
        )
    }

    /// Removes one queued proposal (rollback), by reference.
    pub fn remove_pending_proposal(&self, proposal_ref: &[u8]) -> Result<()> {
        self.tx(|tx| {
            let mut group = self.lock()?;
            let found = group
                .pending_proposals()
                .find(|p| p.proposal_reference_ref().as_slice() == proposal_ref)
                .map(|p| p.proposal_reference_ref().clone())
                .ok_or_else(|| Error::new(ErrorCode::UnknownProposal, "no queued proposal has this reference"))?;
            group.remove_pending_proposal(tx.storage(), &found).map_err(|e| typed(e, ErrorCode::UnknownProposal))
        })
    }

    /// Empties the proposal queue.
    pub fn clear_pending_proposals(&self) -> Result<()> {
        self.tx(|tx| self.lock()?.clear_pending_proposals(tx.storage()).map_err(|e| crate::storage::store_error(&e)))
    }

    /// Checks that a leaf index names a member.
    pub(crate) fn check_member(&self, leaf_index: u32) -> Result<()> {
        if self.lock()?.member_at(LeafNodeIndex::new(leaf_index)).is_none() {
            return Err(Error::new(ErrorCode::UnknownMember, format!("no member at leaf index {leaf_index}")));
        }
        Ok(())
    }
}

/// The reference of the one proposal queued since `before` (openmls queues a leave proposal
/// without returning its reference).
fn new_proposal_ref(group: &MlsGroup, before: &[ProposalRef]) -> Result<Vec<u8>> {
    group
        .pending_proposals()
        .map(|p| p.proposal_reference_ref())
        .find(|r| !before.contains(r))
        .map(|r| r.as_slice().to_vec())
        .ok_or_else(|| Error::internal("the leave proposal was not queued"))
}
