//! Commits on a group: the operations that make one, openmls's commit builder, and merging or
//! discarding what is pending.

use napi::bindgen_prelude::AbortSignal;
use napi_derive::napi;
use openmls_node_core::group::{CommitSpec, Group};

use super::messages::{processed_batch_to_js, NativeProcessedBatchItem};
use super::twins::group_twins;
use super::{group_task, key_packages, unit_to_js, CommitTask, MlsGroup, ReplayTask, UnitTask};
use crate::bytes::Uint8Array;
use crate::config_types::{credential_info, extension_specs, u16_of, Extension, NativeCredential};
use crate::error::{from_napi, run, Result};
use crate::key_package::KeyPackage;
use crate::proposal_types::{leaf_params_spec, psk_spec, NativeLeafNodeParams, PreSharedKeyId};
use crate::signature_key_pair::SignatureKeyPair;
use crate::staged_commit::StagedCommit;
use crate::types::{commit_messages, NativeCommitMessages, NativeStagedCommitInfo};

/// Options of `MlsGroup.commit` (openmls's commit builder); members to add are passed separately.
#[napi(object)]
pub struct NativeCommitOptions {
    /// Members to remove, by leaf index.
    pub removes: Option<Vec<u32>>,
    /// New group context extensions.
    pub group_context_extensions: Option<Vec<Extension>>,
    /// Custom proposals to include by value.
    pub custom_proposals: Option<Vec<NativeCustomProposal>>,
    /// PSKs to inject.
    pub psks: Option<Vec<PreSharedKeyId>>,
    /// Whether queued proposals are included. Default: true.
    pub consume_proposal_store: Option<bool>,
    /// Refresh this member's leaf even if no proposal needs it. Default: false.
    pub force_self_update: Option<bool>,
    /// New leaf parameters (implies an update path).
    pub leaf_node_parameters: Option<NativeLeafNodeParams>,
    /// References of the queued proposals to include; absent includes all.
    pub accepted_proposals: Option<Vec<Uint8Array>>,
}

/// A custom proposal: an application-defined type and payload.
#[napi(object)]
pub struct NativeCustomProposal {
    /// The proposal type code point (not one of RFC 9420's).
    pub proposal_type: u32,
    /// The payload.
    pub payload: Uint8Array,
}

fn commit_spec(adds: &[&KeyPackage], o: &NativeCommitOptions) -> openmls_node_core::Result<CommitSpec> {
    Ok(CommitSpec {
        adds: key_packages(adds),
        removes: o.removes.clone().unwrap_or_default(),
        group_context_extensions: o.group_context_extensions.as_ref().map(|_| extension_specs(&o.group_context_extensions)).transpose()?,
        custom_proposals: o
            .custom_proposals
            .as_ref()
            .map(|l| {
                l.iter()
                    .map(|c| Ok((u16_of(c.proposal_type, "proposal type")?, c.payload.to_vec())))
                    .collect::<openmls_node_core::Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default(),
        psks: o.psks.as_ref().map(|l| l.iter().map(psk_spec).collect()).transpose()?.unwrap_or_default(),
        consume_proposal_store: o.consume_proposal_store.unwrap_or(true),
        force_self_update: o.force_self_update.unwrap_or(false),
        leaf_node_parameters: o.leaf_node_parameters.as_ref().map(|p| leaf_params_spec(Some(p))).transpose()?,
        accepted_proposals: o.accepted_proposals.as_ref().map(|l| l.iter().map(|r| r.to_vec()).collect()),
    })
}

group_twins! {
    "Adds members as one commit. Merge with `mergePendingCommit`."
    commit fn add_members / add_members_sync(key_packages: Vec<&KeyPackage>) {
        let kps = self::key_packages(&key_packages);
    } => |g| g.add_members(&kps);

    "Adds members without refreshing the committer's leaf."
    commit fn add_members_without_update / add_members_without_update_sync(key_packages: Vec<&KeyPackage>) {
        let kps = self::key_packages(&key_packages);
    } => |g| g.add_members_without_update(&kps);

    "Removes members by leaf index as one commit."
    commit fn remove_members / remove_members_sync(leaf_indices: Vec<u32>) {} => |g| g.remove_members(&leaf_indices);

    "Refreshes this member's leaf as a commit, optionally with new leaf parameters."
    commit fn self_update / self_update_sync(params: Option<NativeLeafNodeParams>) {
        let spec = leaf_params_spec(params.as_ref())?;
    } => |g| g.self_update_with(&spec);

    "Rotates this member's signature key in a commit signed with the old key. The group signs"
    "with `newSigner` once the commit is merged."
    commit fn self_update_with_new_signer / self_update_with_new_signer_sync(
        new_signer: &SignatureKeyPair,
        credential: NativeCredential,
        params: Option<NativeLeafNodeParams>,
    ) {
        let spec = leaf_params_spec(params.as_ref())?;
        let cred = credential_info(&credential)?;
        let signer = new_signer.inner.clone();
    } => |g| g.self_update_with_new_signer(signer, &cred, &spec);

    "Builds a commit (openmls's commit builder)."
    commit fn commit / commit_sync(adds: Vec<&KeyPackage>, options: NativeCommitOptions) {
        let spec = commit_spec(&adds, &options)?;
    } => |g| g.commit(spec);

    "Commits to every queued proposal."
    commit fn commit_to_pending_proposals / commit_to_pending_proposals_sync() {} => |g| g.commit_to_pending_proposals();

    "Replaces the group context extensions in a commit."
    commit fn update_group_context_extensions / update_group_context_extensions_sync(extensions: Vec<Extension>) {
        let specs = extension_specs(&Some(extensions))?;
    } => |g| g.update_group_context_extensions(&specs);

    "Replaces members (remove + add, one for one) in one commit."
    commit fn swap_members / swap_members_sync(leaf_indices: Vec<u32>, key_packages: Vec<&KeyPackage>) {
        let kps = self::key_packages(&key_packages);
    } => |g| g.swap_members(&leaf_indices, &kps);

    "Removes the members holding these credentials in one commit."
    commit fn remove_members_by_credential / remove_members_by_credential_sync(credentials: Vec<NativeCredential>) {
        let infos = credentials.iter().map(credential_info).collect::<openmls_node_core::Result<Vec<_>>>()?;
    } => |g| g.remove_members_by_credential(&infos);

    "Merges this member's pending commit. Returns the messages the future-epoch buffer kept for"
    "the new epoch, processed (empty when the buffer is off)."
    replay fn merge_pending_commit_async / merge_pending_commit() {} => |g| g.merge_pending_commit();

    "Merges a staged commit from `processMessage`. Returns the messages the future-epoch buffer"
    "kept for the new epoch, processed (empty when the buffer is off)."
    replay fn merge_staged_commit_async / merge_staged_commit(staged_commit: &StagedCommit) {
        let staged = staged_commit.inner.clone();
    } => |g| g.merge_staged_commit(&staged);

    "Discards this member's pending commit."
    unit fn clear_pending_commit_async / clear_pending_commit() {} => |g| g.clear_pending_commit();
}

#[napi]
impl MlsGroup {
    /// What this member's pending commit will do, if there is one.
    #[napi]
    pub fn pending_commit(&self) -> Result<Option<NativeStagedCommitInfo>> {
        run(|| self.inner.pending_commit()).map(|v| v.map(Into::into))
    }

    /// Whether a commit of this member is pending.
    #[napi(getter)]
    pub fn has_pending_commit(&self) -> Result<bool> {
        run(|| self.inner.has_pending_commit())
    }
}
