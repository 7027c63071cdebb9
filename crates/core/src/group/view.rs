//! What a group looked like when its last operation ended: the answer of the state getters
//! while another operation on the group is running, so that a getter on the event loop never
//! waits for a commit or a message that runs on the thread pool.

use std::sync::Arc;

use openmls::prelude::*;
use tls_codec::Serialize as _;

use super::{Group, MemberInfo};
use crate::config::{describe_join_config, JoinConfigSpec};
use crate::error::{Error, Result};
use crate::extensions::{self, ExtensionSpec};
use crate::processed::{describe_staged_commit, GroupContextInfo, StagedCommitView};
use crate::proposal::QueuedProposalInfo;
use openmls_traits::crypto::OpenMlsCrypto;

/// The public state of a group after an operation. Secrets stay out of it.
#[derive(Debug, Clone)]
pub(crate) struct GroupView {
    pub epoch: u64,
    pub own_leaf_index: u32,
    pub group_id: Vec<u8>,
    pub ciphersuite: u16,
    pub active: bool,
    pub has_pending_commit: bool,
    pub epoch_authenticator: Vec<u8>,
    pub confirmation_tag: Vec<u8>,
    pub configuration: JoinConfigSpec,
    /// What changes only with the epoch, shared between views of the same epoch.
    pub members: Arc<Vec<MemberInfo>>,
    pub extensions: Arc<Vec<ExtensionSpec>>,
    pub group_context: Arc<GroupContextInfo>,
    /// The proposal queue (described only when it is not empty).
    pub pending_proposals: Arc<Vec<QueuedProposalInfo>>,
    /// The pending commit, described once: kept by its new confirmed transcript hash, which no
    /// other commit shares, while it stays pending.
    pub pending_commit: Option<(Vec<u8>, Arc<StagedCommitView>)>,
}

impl GroupView {
    /// The view of `group`. What changes only with the epoch is taken from `earlier` when that is
    /// a view of the same epoch and leaf, so an application message costs no member list.
    pub fn of(group: &MlsGroup, earlier: Option<&GroupView>, crypto: &impl OpenMlsCrypto) -> Result<Self> {
        let epoch = group.epoch().as_u64();
        let own_leaf_index = group.own_leaf_index().u32();
        let same_epoch =
            earlier.filter(|v| v.epoch == epoch && v.own_leaf_index == own_leaf_index && v.group_id == group.group_id().as_slice());
        let (members, extensions, group_context, epoch_authenticator, confirmation_tag) = match same_epoch {
            Some(v) => (
                v.members.clone(),
                v.extensions.clone(),
                v.group_context.clone(),
                v.epoch_authenticator.clone(),
                v.confirmation_tag.clone(),
            ),
            None => (
                Arc::new(group.members().map(MemberInfo::from).collect()),
                Arc::new(extensions::describe(group.extensions().iter())),
                Arc::new(GroupContextInfo::from(group.public_group().group_context())),
                group.epoch_authenticator().as_slice().to_vec(),
                confirmation_mac(group)?,
            ),
        };
        let pending_proposals = Arc::new(group.pending_proposals().map(|p| QueuedProposalInfo::from_openmls(p, crypto)).collect());
        let pending_commit = group.pending_commit().map(|staged| {
            let key = staged.group_context().confirmed_transcript_hash().to_vec();
            let known = earlier.and_then(|v| v.pending_commit.as_ref()).filter(|(k, _)| *k == key).map(|(_, c)| c.clone());
            let described = known.unwrap_or_else(|| Arc::new(describe_staged_commit(staged, Some(group), crypto)));
            (key, described)
        });
        Ok(GroupView {
            epoch,
            own_leaf_index,
            group_id: group.group_id().as_slice().to_vec(),
            ciphersuite: u16::from(group.ciphersuite()),
            active: group.is_active(),
            has_pending_commit: group.pending_commit().is_some(),
            epoch_authenticator,
            confirmation_tag,
            configuration: describe_join_config(group.configuration())?,
            members,
            extensions,
            group_context,
            pending_proposals,
            pending_commit,
        })
    }
}

/// The MAC of the epoch's confirmation tag.
pub(crate) fn confirmation_mac(group: &MlsGroup) -> Result<Vec<u8>> {
    let encoded = group.confirmation_tag().tls_serialize_detached().map_err(Error::from)?;
    let (mac, _) = tls_codec::VLBytes::tls_deserialize_bytes(&encoded)?;
    Ok(mac.as_slice().to_vec())
}

impl Group {
    /// Answers a state getter: from the group itself when no operation holds it, otherwise from
    /// the view its last operation left (the running one has not happened yet, as far as any
    /// caller can tell).
    pub(crate) fn read<T>(&self, live: impl FnOnce(&MlsGroup) -> Result<T>, view: impl FnOnce(&GroupView) -> T) -> Result<T> {
        self.check_current()?;
        match self.state.try_lock() {
            Ok(state) => match state.as_ref() {
                Some(group) => live(group),
                None => Err(Self::freed()),
            },
            Err(std::sync::TryLockError::WouldBlock) => match self.view() {
                Some(v) => Ok(view(&v)),
                None => Err(Self::freed()),
            },
            Err(std::sync::TryLockError::Poisoned(_)) => Err(Error::internal("group state is unusable after an earlier internal error")),
        }
    }

    fn view(&self) -> Option<Arc<GroupView>> {
        self.view.read().ok().and_then(|v| v.clone())
    }

    /// Records the view of the group as it is now; called when an operation ends.
    pub(crate) fn refresh_view(&self) {
        let Ok(state) = self.state.lock() else { return };
        let earlier = self.view();
        let fresh = state.as_ref().and_then(|group| GroupView::of(group, earlier.as_deref(), self.provider.crypto()).ok()).map(Arc::new);
        drop(state);
        if let Ok(mut slot) = self.view.write() {
            *slot = fresh;
        }
    }
}
