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
    /// The configuration `configuration` describes, to tell whether it changed.
    raw_configuration: MlsGroupJoinConfig,
    /// What changes only with the epoch, shared between views of the same epoch.
    pub members: Arc<Vec<Arc<ViewMember>>>,
    pub extensions: Arc<Vec<ExtensionSpec>>,
    pub group_context: Arc<GroupContextInfo>,
    /// The proposal queue (described only when it is not empty).
    pub pending_proposals: Arc<Vec<QueuedProposalInfo>>,
    /// The pending commit, described once: kept by its new confirmed transcript hash, which no
    /// other commit shares, while it stays pending.
    pub pending_commit: Option<(Vec<u8>, Arc<StagedCommitView>)>,
}

/// A member in a view, with the signature of its leaf: a leaf whose signature did not change
/// is the same leaf (the signature covers every field of it), so its entry is shared with the
/// earlier view instead of being built again.
#[derive(Debug)]
pub(crate) struct ViewMember {
    pub info: MemberInfo,
    leaf_signature: Signature,
}

/// The members of `group` in leaf order. An entry of `earlier` is kept when its leaf is the
/// same (index, signature key, credential and leaf signature): a commit changes a few leaves,
/// so the list after it costs a comparison per member, not a copy of every key and credential.
fn members(group: &MlsGroup, earlier: Option<&[Arc<ViewMember>]>) -> Result<Vec<Arc<ViewMember>>> {
    let earlier = earlier.unwrap_or_default();
    let mut at = 0;
    group
        .public_group()
        .treesync()
        .full_leaves()
        .map(|(index, leaf)| {
            let index = index.u32();
            while earlier.get(at).is_some_and(|m| m.info.index < index) {
                at += 1;
            }
            match earlier.get(at) {
                Some(m) if m.info.index == index && same_leaf(m, leaf) => Ok(m.clone()),
                _ => Ok(Arc::new(ViewMember { info: member_of(index, leaf)?, leaf_signature: leaf.signature().clone() })),
            }
        })
        .collect()
}

fn same_leaf(m: &ViewMember, leaf: &LeafNode) -> bool {
    m.leaf_signature == *leaf.signature()
        && m.info.signature_key == leaf.signature_key().as_slice()
        && m.info.credential.credential_type == u16::from(leaf.credential().credential_type())
        && m.info.credential.serialized_content == leaf.credential().serialized_content()
}

/// What openmls's `Member` says about a leaf (its encryption key is only public encoded).
fn member_of(index: u32, leaf: &LeafNode) -> Result<MemberInfo> {
    Ok(MemberInfo {
        index,
        credential: leaf.credential().into(),
        signature_key: leaf.signature_key().as_slice().to_vec(),
        encryption_key: crate::codec::vl_content(leaf.encryption_key())?,
    })
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
                Arc::new(members(group, earlier.map(|v| v.members.as_slice()))?),
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
        let raw_configuration = group.configuration();
        let configuration = match earlier.filter(|v| v.raw_configuration == *raw_configuration) {
            Some(v) => v.configuration.clone(),
            None => describe_join_config(raw_configuration)?,
        };
        Ok(GroupView {
            epoch,
            own_leaf_index,
            group_id: group.group_id().as_slice().to_vec(),
            ciphersuite: u16::from(group.ciphersuite()),
            active: group.is_active(),
            has_pending_commit: group.pending_commit().is_some(),
            epoch_authenticator,
            confirmation_tag,
            configuration,
            raw_configuration: raw_configuration.clone(),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::config::{CreateConfigSpec, JoinConfigSpec};
    use crate::group::{CreateOptions, Group, JoinOptions, LeafNodeParamsSpec, MemberInfo};
    use crate::identity::{basic_credential_with_key, generate_signer, CredentialInfo};
    use crate::key_package::{create_key_package, key_package_to_bytes, parse_key_package};
    use crate::processed::ProcessedContent;
    use crate::{CryptoProviderKind, Provider, SignatureKeyPair};

    const SUITE: u16 = 1;

    struct Client(Arc<Provider>, Arc<SignatureKeyPair>, &'static str);

    impl Client {
        fn new(name: &'static str) -> Self {
            let provider = Arc::new(Provider::new(CryptoProviderKind::RustCrypto).unwrap());
            let scheme = provider.ciphersuite(SUITE).unwrap().signature_algorithm();
            Self(provider, Arc::new(generate_signer(scheme).unwrap()), name)
        }

        fn key_package(&self) -> Vec<u8> {
            let cs = self.0.ciphersuite(SUITE).unwrap();
            key_package_to_bytes(&create_key_package(&self.0, cs, &self.1, basic_credential_with_key(self.2.as_bytes(), &self.1)).unwrap())
                .unwrap()
        }
    }

    fn view_members(g: &Group) -> Vec<Arc<super::ViewMember>> {
        g.view().unwrap().members.as_ref().clone()
    }

    fn infos(members: &[Arc<super::ViewMember>]) -> Vec<MemberInfo> {
        members.iter().map(|m| m.info.clone()).collect()
    }

    fn apply(g: &Group, commit: &[u8]) {
        let ProcessedContent::Commit(staged) = g.process_message(commit).unwrap().content else { panic!("not a commit") };
        g.merge_staged_commit(&staged).unwrap();
    }

    /// The member list of the view equals openmls's after adds, updates (a new key, a new
    /// credential) and removes, and shares the entries of the leaves a commit left alone.
    #[test]
    fn the_view_lists_the_members_as_openmls_does_and_shares_unchanged_leaves() {
        let (alice, bob, carol) = (Client::new("alice"), Client::new("bob"), Client::new("carol"));
        let config = CreateConfigSpec { ciphersuite: SUITE, join: JoinConfigSpec::default(), ..Default::default() };
        let a = Group::create(
            alice.0.clone(),
            alice.1.clone(),
            basic_credential_with_key(b"alice", &alice.1),
            CreateOptions { group_id: None, config },
        )
        .unwrap();
        let kps = [bob.key_package(), carol.key_package()].map(|kp| parse_key_package(&alice.0, &kp).unwrap());
        let added = a.add_members(&kps).unwrap();
        a.merge_pending_commit().unwrap();
        let tree = Some(a.export_ratchet_tree().unwrap());
        let b =
            Group::join(bob.0.clone(), bob.1.clone(), &added.welcome.unwrap(), JoinOptions { ratchet_tree: tree, ..Default::default() })
                .unwrap();
        assert_eq!(infos(&view_members(&a)), a.members().unwrap());
        assert_eq!(a.members().unwrap().len(), 3);

        let before = view_members(&a);
        let update = b.self_update().unwrap();
        b.merge_pending_commit().unwrap();
        apply(&a, &update.commit);
        let after = view_members(&a);
        assert_eq!(infos(&after), a.members().unwrap());
        assert!(Arc::ptr_eq(&before[0], &after[0]) && Arc::ptr_eq(&before[2], &after[2]), "alice and carol are shared");
        assert!(!Arc::ptr_eq(&before[1], &after[1]) && before[1].info.encryption_key != after[1].info.encryption_key, "bob's new key");

        let renamed = LeafNodeParamsSpec {
            credential: Some(CredentialInfo { credential_type: 1, serialized_content: b"bob, renamed".to_vec() }),
            ..Default::default()
        };
        let update = b.self_update_with(&renamed).unwrap();
        b.merge_pending_commit().unwrap();
        apply(&a, &update.commit);
        assert_eq!(infos(&view_members(&a)), a.members().unwrap());
        assert_eq!(view_members(&a)[1].info.credential.serialized_content, b"bob, renamed");

        a.remove_members(&[1]).unwrap();
        a.merge_pending_commit().unwrap();
        let left = view_members(&a);
        assert_eq!(infos(&left), a.members().unwrap());
        assert_eq!(left.iter().map(|m| m.info.index).collect::<Vec<_>>(), [0, 2]);
        assert!(Arc::ptr_eq(&after[2], &left[1]), "carol is still shared after bob's leaf went blank");
    }
}
