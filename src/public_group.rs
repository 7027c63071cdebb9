//! `PublicGroup`: a delivery service's view of a group (openmls `PublicGroup`).

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, BigInt};
use napi_derive::napi;
use openmls_node_core::processed::Processed;
use openmls_node_core::public_group::PublicGroupHandle;

use crate::bytes::Uint8Array;
use crate::error::{from_napi, run, Result};
use crate::mls_group::{processed_to_js, NativeProcessedMessage};
use crate::proposal_types::NativeGroupContext;
use crate::provider::Provider;
use crate::queued_proposal::QueuedProposal;
use crate::staged_commit::StagedCommit;
use crate::task::{unit_to_js, Job};
use crate::types::NativeMember;

/// A group as a delivery service sees it: its public state (tree, group context, transcript),
/// followed by validating and merging the handshake messages the service relays. It is not a
/// member: it cannot read PrivateMessages.
#[napi]
pub struct PublicGroup {
    inner: Arc<PublicGroupHandle>,
}

fn public_group_to_js(inner: Arc<PublicGroupHandle>) -> napi::Result<PublicGroup> {
    Ok(PublicGroup { inner })
}

#[napi]
impl PublicGroup {
    /// Starts tracking a group from a GroupInfo and its ratchet tree (or the GroupInfo's
    /// ratchet-tree extension), verified, on the libuv thread pool. The state is stored in
    /// `provider`.
    #[napi(ts_return_type = "Promise<PublicGroup>")]
    pub fn from_external(
        provider: &Provider,
        group_info: Uint8Array,
        ratchet_tree: Option<Uint8Array>,
    ) -> AsyncTask<Job<Arc<PublicGroupHandle>, PublicGroup>> {
        let (provider, group_info, tree) = (provider.inner.clone(), group_info.to_vec(), ratchet_tree.map(|t| t.to_vec()));
        AsyncTask::new(Job::new(move || PublicGroupHandle::from_group_info(provider, &group_info, tree.as_deref()), public_group_to_js))
    }

    /// `fromExternal`, on the calling thread.
    #[napi]
    pub fn from_external_sync(provider: &Provider, group_info: Uint8Array, ratchet_tree: Option<Uint8Array>) -> Result<PublicGroup> {
        run(|| PublicGroupHandle::from_group_info(provider.inner.clone(), &group_info, ratchet_tree.as_deref()))
            .and_then(|g| public_group_to_js(g).map_err(from_napi))
    }

    /// The public group `groupId` that `provider` tracks.
    #[napi]
    pub fn load(provider: &Provider, group_id: Uint8Array) -> Result<PublicGroup> {
        run(|| PublicGroupHandle::load(provider.inner.clone(), &group_id)).map(|inner| PublicGroup { inner })
    }

    /// The ids of the public groups `provider` tracks.
    #[napi]
    pub fn list(provider: &Provider) -> Result<Vec<Uint8Array>> {
        run(|| PublicGroupHandle::list(&provider.inner)).map(|ids| ids.into_iter().map(Uint8Array::new).collect())
    }

    /// Validates a PublicMessage proposal or commit, on the libuv thread pool. Nothing is stored.
    #[napi(ts_return_type = "Promise<NativeProcessedMessage>")]
    pub fn process_message(&self, message: Uint8Array) -> AsyncTask<Job<Processed, NativeProcessedMessage>> {
        let (group, bytes) = (self.inner.clone(), message.to_vec());
        AsyncTask::new(Job::new(move || group.process_message(&bytes), processed_to_js))
    }

    /// `processMessage`, on the calling thread.
    #[napi]
    pub fn process_message_sync(&self, message: Uint8Array) -> Result<NativeProcessedMessage> {
        run(|| self.inner.process_message(&message)).and_then(|p| processed_to_js(p).map_err(from_napi))
    }

    /// Stores a validated proposal, so a later commit may cover it by reference.
    #[napi]
    pub fn add_proposal(&self, proposal: &QueuedProposal) -> Result<()> {
        run(|| self.inner.add_proposal(&proposal.inner))
    }

    /// Merges a validated commit, on the libuv thread pool: the group enters the next epoch.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn merge_staged_commit(&self, staged_commit: &StagedCommit) -> AsyncTask<Job<(), ()>> {
        let (group, staged) = (self.inner.clone(), staged_commit.inner.clone());
        AsyncTask::new(Job::new(move || group.merge_staged_commit(&staged), unit_to_js))
    }

    /// `mergeStagedCommit`, on the calling thread.
    #[napi]
    pub fn merge_staged_commit_sync(&self, staged_commit: &StagedCommit) -> Result<()> {
        run(|| self.inner.merge_staged_commit(&staged_commit.inner))
    }

    /// Keeps a member's GroupInfo of this epoch for external joiners, after checking it against
    /// this state.
    #[napi]
    pub fn set_group_info(&self, group_info: Uint8Array) -> Result<()> {
        run(|| self.inner.set_group_info(&group_info))
    }

    /// The GroupInfo kept for this epoch, if a member gave one.
    #[napi]
    pub fn group_info(&self) -> Result<Option<Uint8Array>> {
        run(|| self.inner.group_info()).map(|g| g.map(Uint8Array::new))
    }

    /// The group id.
    #[napi(getter)]
    pub fn group_id(&self) -> Uint8Array {
        Uint8Array::new(self.inner.group_id())
    }

    /// The current epoch.
    #[napi(getter)]
    pub fn epoch(&self) -> Result<BigInt> {
        run(|| self.inner.epoch()).map(BigInt::from)
    }

    /// The current group context.
    #[napi]
    pub fn group_context(&self) -> Result<NativeGroupContext> {
        run(|| self.inner.group_context()).map(Into::into)
    }

    /// The members, in leaf order.
    #[napi]
    pub fn members(&self) -> Result<Vec<NativeMember>> {
        run(|| self.inner.members()).map(|m| m.into_iter().map(Into::into).collect())
    }

    /// The ratchet tree, TLS-encoded.
    #[napi]
    pub fn export_ratchet_tree(&self) -> Result<Uint8Array> {
        run(|| self.inner.export_ratchet_tree()).map(Uint8Array::new)
    }

    /// The confirmation tag of the current epoch.
    #[napi]
    pub fn confirmation_tag(&self) -> Result<Uint8Array> {
        run(|| self.inner.confirmation_tag()).map(Uint8Array::new)
    }

    /// Releases this handle's memory now; the stored state stays.
    #[napi]
    pub fn free(&self) {
        self.inner.free()
    }

    /// Stops tracking the group and deletes its state.
    #[napi]
    pub fn delete(&self) -> Result<()> {
        run(|| self.inner.delete())
    }
}
