//! Proposals on a group: making them, leaving, and the queue of received ones.

use napi_derive::napi;
use openmls_node_core::group::Group;

use super::twins::group_twins;
use super::{group_task, proposal_to_js, unit_to_js, MlsGroup, ProposalTask, UnitTask};
use crate::bytes::Uint8Array;
use crate::config_types::{credential_info, extension_specs, u16_of, Extension, NativeCredential};
use crate::error::{from_napi, run, Result};
use crate::key_package::KeyPackage;
use crate::proposal_types::{
    leaf_params_spec, psk_spec, NativeLeafNodeParams, NativeProposalMessage, NativeQueuedProposalInfo, PreSharedKeyId,
};
use crate::queued_proposal::QueuedProposal;

group_twins! {
    "Proposes adding a member (by reference unless `byValue`)."
    proposal fn propose_add_member_async / propose_add_member(key_package: &KeyPackage, by_value: Option<bool>) {
        let kp = key_package.inner.clone();
        let by_value = by_value.unwrap_or(false);
    } => |g| g.propose_add_member(&kp, by_value);

    "Proposes removing a member by leaf index."
    proposal fn propose_remove_member_async / propose_remove_member(leaf_index: u32, by_value: Option<bool>) {
        let by_value = by_value.unwrap_or(false);
    } => |g| g.propose_remove_member(leaf_index, by_value);

    "Proposes removing the member holding a credential."
    proposal fn propose_remove_member_by_credential_async / propose_remove_member_by_credential(credential: NativeCredential, by_value: Option<bool>) {
        let info = credential_info(&credential)?;
        let by_value = by_value.unwrap_or(false);
    } => |g| g.propose_remove_member_by_credential(&info, by_value);

    "Proposes updating this member's leaf."
    proposal fn propose_self_update_async / propose_self_update(params: Option<NativeLeafNodeParams>) {
        let spec = leaf_params_spec(params.as_ref())?;
    } => |g| g.propose_self_update(&spec);

    "Proposes new group context extensions."
    proposal fn propose_group_context_extensions_async / propose_group_context_extensions(extensions: Vec<Extension>) {
        let specs = extension_specs(&Some(extensions))?;
    } => |g| g.propose_group_context_extensions(&specs);

    "Proposes an application-defined proposal."
    proposal fn propose_custom_proposal_async / propose_custom_proposal(proposal_type: u32, payload: Uint8Array, by_value: Option<bool>) {
        let kind = u16_of(proposal_type, "proposal type")?;
        let payload = payload.to_vec();
        let by_value = by_value.unwrap_or(false);
    } => |g| g.propose_custom_proposal(kind, &payload, by_value);

    "Proposes injecting a PSK."
    proposal fn propose_pre_shared_key_async / propose_pre_shared_key(psk: PreSharedKeyId, by_value: Option<bool>) {
        let spec = psk_spec(&psk)?;
        let by_value = by_value.unwrap_or(false);
    } => |g| g.propose_pre_shared_key(&spec, by_value);

    "Leaves with a Remove proposal for this member."
    proposal fn leave_group_async / leave_group() {} => |g| g.leave_group();

    "Leaves with a SelfRemove proposal."
    proposal fn leave_group_via_self_remove_async / leave_group_via_self_remove() {} => |g| g.leave_group_via_self_remove();

    "Stores a received proposal in the proposal queue."
    unit fn store_pending_proposal_async / store_pending_proposal(proposal: &QueuedProposal) {
        let proposal = proposal.inner.clone();
    } => |g| g.store_pending_proposal(&proposal);

    "Removes a queued proposal by reference."
    unit fn remove_pending_proposal_async / remove_pending_proposal(proposal_ref: Uint8Array) {
        let proposal_ref = proposal_ref.to_vec();
    } => |g| g.remove_pending_proposal(&proposal_ref);

    "Empties the proposal queue."
    unit fn clear_pending_proposals_async / clear_pending_proposals() {} => |g| g.clear_pending_proposals();
}

#[napi]
impl MlsGroup {
    /// The proposals queued for the next commit.
    #[napi]
    pub fn pending_proposals(&self) -> Result<Vec<NativeQueuedProposalInfo>> {
        run(|| self.inner.pending_proposals()).map(|l| l.into_iter().map(Into::into).collect())
    }
}
