//! A group handle: an openmls [`MlsGroup`] behind a lock, with the provider and signer it uses.
//!
//! A [`Group`] is `Send + Sync`. Every operation takes the group's lock for its whole duration, so
//! the binding may run operations on the libuv thread pool while JavaScript keeps using the handle:
//! operations on one group are serialized; operations on different groups run in parallel.

mod commits;
mod fork;
mod future;
mod proposals;
mod view;

pub use commits::CommitSpec;
pub use future::{FutureBufferLimits, FutureBufferState};
pub use proposals::ProposalOutput;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::signer::SignatureKeyPair;
use openmls::prelude::*;
use openmls_traits::OpenMlsProvider;

use crate::codec;
use crate::config::{describe_join_config, CreateConfigSpec, JoinConfigSpec};
use crate::error::{with_code, Error, ErrorCode, Result};
use crate::extensions::{self, ExtensionSpec};
use crate::identity::{check_credential_key, CredentialInfo};
use crate::key_package::check_signer_suite;
use crate::leaf::LeafNodeInfo;
use crate::processed::{self, Processed, QueuedProposalHandle, StagedCommitHandle};
use crate::provider::{Provider, Tx};

/// Options for creating a group.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// A group id chosen by the application; random when absent.
    pub group_id: Option<Vec<u8>>,
    /// The group configuration (`MlsGroupCreateConfig`).
    pub config: CreateConfigSpec,
}

/// Options for joining a group from a Welcome.
#[derive(Debug, Clone, Default)]
pub struct JoinOptions {
    /// The ratchet tree, when the Welcome does not carry it.
    pub ratchet_tree: Option<Vec<u8>>,
    /// The join configuration. `use_ratchet_tree_extension` defaults to whether the Welcome
    /// carried the tree.
    pub config: JoinConfigSpec,
    /// Accept leaves whose lifetime has expired or not yet begun (for test vectors and replays).
    pub skip_lifetime_validation: bool,
    /// Replace a stored group with the same id (rejoining after a fork or a lost state).
    pub replace_old_group: bool,
}

/// The messages a commit produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutput {
    /// The commit, to send to the group.
    pub commit: Vec<u8>,
    /// The Welcome for new members, when the commit adds any.
    pub welcome: Option<Vec<u8>>,
    /// The new epoch's GroupInfo, when the group uses the ratchet-tree extension.
    pub group_info: Option<Vec<u8>>,
}

impl From<&Member> for MemberInfo {
    fn from(m: &Member) -> Self {
        Self {
            index: m.index.u32(),
            credential: CredentialInfo::from(&m.credential),
            signature_key: m.signature_key.clone(),
            encryption_key: m.encryption_key.clone(),
        }
    }
}

impl From<Member> for MemberInfo {
    /// Takes the keys over: what openmls's member iterators hand out is already a copy.
    fn from(m: Member) -> Self {
        Self {
            index: m.index.u32(),
            credential: CredentialInfo::from(&m.credential),
            signature_key: m.signature_key,
            encryption_key: m.encryption_key,
        }
    }
}

impl CommitOutput {
    /// Encodes the messages openmls returns for a commit.
    fn encode(commit: &MlsMessageOut, welcome: Option<&MlsMessageOut>, group_info: Option<&MlsMessageOut>) -> Result<Self> {
        Ok(Self {
            commit: codec::encode_message(commit)?,
            welcome: welcome.map(codec::encode_message).transpose()?,
            group_info: group_info.map(codec::encode_message).transpose()?,
        })
    }
}

/// A member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's leaf index.
    pub index: u32,
    /// The member's credential.
    pub credential: CredentialInfo,
    /// The member's signature public key.
    pub signature_key: Vec<u8>,
    /// The member's HPKE encryption public key.
    pub encryption_key: Vec<u8>,
}

/// New leaf parameters for a self-update (openmls `LeafNodeParameters`). `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct LeafNodeParamsSpec {
    /// A new credential (same signature key, unless rotating the signer).
    pub credential: Option<CredentialInfo>,
    /// New capabilities.
    pub capabilities: Option<crate::extensions::CapabilitiesSpec>,
    /// New leaf node extensions.
    pub extensions: Option<Vec<ExtensionSpec>>,
}

/// A group and everything it needs to operate.
#[derive(Debug)]
pub struct Group {
    pub(crate) provider: Arc<Provider>,
    signer: RwLock<Arc<SignatureKeyPair>>,
    /// The signer a pending key-rotation commit switches to when it is merged.
    pending_signer: Mutex<Option<Arc<SignatureKeyPair>>>,
    /// Set once the group was deleted; every later call fails.
    deleted: AtomicBool,
    /// Set once another handle took over this group (a rejoin with `replaceOldGroup`) or the
    /// application disposed of this one; every later call fails with `ERR_STALE_HANDLE`.
    stale: AtomicBool,
    /// The openmls group; `None` once the handle was disposed.
    state: Mutex<Option<MlsGroup>>,
    /// The group as its last operation left it, for getters while another one runs.
    view: RwLock<Option<Arc<view::GroupView>>>,
    /// Held for a whole operation on this group, before its storage transaction takes the
    /// provider's connection: the lock order is this group, then storage, then `state`.
    op: Mutex<()>,
    /// The thread holding `op` (0: none), so that an operation made of operations (a batch) takes
    /// it once.
    op_owner: AtomicU64,
    /// On a shared store (PostgreSQL): the token of the stored state this handle's group
    /// matches (0: unknown, reload before the next operation); see [`Group::claim`].
    seen: AtomicI64,
    /// The token this handle's running operation stores; `seen` once it commits.
    pending: AtomicI64,
}

/// The locked state of a live group.
pub(crate) struct GroupGuard<'a>(MutexGuard<'a, Option<MlsGroup>>);

impl std::ops::Deref for GroupGuard<'_> {
    type Target = MlsGroup;
    fn deref(&self) -> &MlsGroup {
        // `Group::lock` hands out a guard only over a present group.
        self.0.as_ref().expect("a group guard holds a group")
    }
}

impl std::ops::DerefMut for GroupGuard<'_> {
    fn deref_mut(&mut self) -> &mut MlsGroup {
        self.0.as_mut().expect("a group guard holds a group")
    }
}

impl Group {
    /// Wraps an openmls group that was just created or joined, and makes it the provider's live
    /// handle for its group id (a handle it replaces becomes stale).
    fn wrap(provider: Arc<Provider>, signer: Arc<SignatureKeyPair>, group: MlsGroup) -> Result<Arc<Self>> {
        Self::wrap_as(provider, signer, group, true)
    }

    fn wrap_as(provider: Arc<Provider>, signer: Arc<SignatureKeyPair>, group: MlsGroup, replace: bool) -> Result<Arc<Self>> {
        let group_id = group.group_id().as_slice().to_vec();
        let first_view = view::GroupView::of(&group, None, provider.crypto())?;
        let handle = Self {
            provider: provider.clone(),
            signer: RwLock::new(signer),
            pending_signer: Mutex::new(None),
            deleted: AtomicBool::new(false),
            stale: AtomicBool::new(false),
            state: Mutex::new(Some(group)),
            view: RwLock::new(Some(Arc::new(first_view))),
            op: Mutex::new(()),
            op_owner: AtomicU64::new(0),
            seen: AtomicI64::new(0),
            pending: AtomicI64::new(0),
        };
        provider.adopt(&group_id, handle, replace)
    }

    /// Whether this handle still speaks for its group: not deleted, not replaced, not disposed.
    pub(crate) fn is_current(&self) -> bool {
        !self.deleted.load(Ordering::SeqCst) && !self.stale.load(Ordering::SeqCst)
    }

    /// Retires this handle: another one took over its group.
    pub(crate) fn mark_stale(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// Releases this handle and its memory at once (`free()`/`[Symbol.dispose]` in JavaScript):
    /// later calls fail with `ERR_STALE_HANDLE`, and the next `loadGroup` reads the group from
    /// storage again. Nothing stored is touched.
    pub fn dispose(&self) {
        self.stale.store(true, Ordering::SeqCst);
        if let Ok(mut state) = self.state.lock() {
            if let Some(group) = state.take() {
                self.provider.forget_handle(group.group_id().as_slice(), self);
            }
        }
    }

    /// Creates a new group with this client as its only member.
    pub fn create(
        provider: Arc<Provider>,
        signer: Arc<SignatureKeyPair>,
        credential_with_key: CredentialWithKey,
        options: CreateOptions,
    ) -> Result<Arc<Self>> {
        let ciphersuite = provider.ciphersuite(options.config.ciphersuite)?;
        check_signer_suite(&signer, ciphersuite)?;
        check_credential_key(&credential_with_key, &signer)?;
        let credential_type = u16::from(credential_with_key.credential.credential_type());
        let mut builder = options.config.apply(MlsGroup::builder(), ciphersuite, credential_type)?;
        if let Some(id) = options.group_id {
            if id.is_empty() {
                return Err(Error::invalid_argument("the group id must not be empty"));
            }
            builder = builder.with_group_id(GroupId::from_slice(&id));
        }
        let group = provider.atomically(|tx| {
            let group = builder.build(tx, signer.as_ref(), credential_with_key).map_err(|e| match &e {
                NewGroupError::GroupAlreadyExists => {
                    with_code(ErrorCode::InvalidArgument, "a group with this id already exists in this provider")
                }
                NewGroupError::StorageError(s) => with_code(ErrorCode::Storage, format!("{s:?}")),
                NewGroupError::LibraryError(l) => l.clone().into(),
                NewGroupError::InvalidExtensions(_) | NewGroupError::UnsupportedExtensionType | NewGroupError::UnsupportedProposalType => {
                    with_code(ErrorCode::InvalidExtension, e)
                }
                other => with_code(ErrorCode::InvalidArgument, other),
            })?;
            let members = extensions::member_capabilities(&group);
            extensions::check_group_context_extensions(group.extensions(), members.iter().map(|(i, c)| (*i, c)))?;
            crate::registry::register_group(tx, group.group_id(), &signer)?;
            Ok(group)
        })?;
        Self::wrap(provider, signer, group)
    }

    /// Joins a group from a Welcome, using a key package this provider created: the two-phase
    /// join of [`crate::welcome`] with every check passing.
    ///
    /// If joining fails, the consumed key package is put back, so the application can retry
    /// (for example with the ratchet tree it forgot to pass).
    pub fn join(provider: Arc<Provider>, signer: Arc<SignatureKeyPair>, welcome: &[u8], options: JoinOptions) -> Result<Arc<Self>> {
        crate::welcome::PendingWelcome::new(provider, signer, welcome, options.config)?
            .stage(options.ratchet_tree.as_deref(), options.skip_lifetime_validation, options.replace_old_group)?
            .into_group()
    }

    /// Wraps an openmls group with the provider and signer it uses.
    pub(crate) fn from_parts(provider: Arc<Provider>, signer: Arc<SignatureKeyPair>, group: MlsGroup) -> Result<Arc<Self>> {
        Self::wrap(provider, signer, group)
    }

    /// Loads a stored group, with the signer its leaf uses. If the group already has a live handle
    /// in this provider, that handle is returned: one group, one in-memory state.
    pub fn load(provider: Arc<Provider>, group_id: &[u8]) -> Result<Arc<Self>> {
        if let Some(live) = provider.live_group(group_id) {
            return Ok(live);
        }
        let group = provider.atomically(|tx| {
            let group = MlsGroup::load(tx.storage(), &GroupId::from_slice(group_id))
                .map_err(|e| crate::storage::store_error(&e))?
                .ok_or_else(|| Error::new(ErrorCode::UnknownGroup, "no group with this id is stored"))?;
            let signer = match group.own_leaf_node() {
                Some(leaf) => openmls_basic_credential::SignatureKeyPair::read(
                    tx.storage(),
                    leaf.signature_key().as_slice(),
                    group.ciphersuite().signature_algorithm(),
                )
                .map(SignatureKeyPair::from)
                .ok_or_else(|| Error::new(ErrorCode::Storage, "the group's signature key is not stored"))?,
                // A member removed from the group: any stored identity will do for a read-only handle.
                None => crate::registry::identity_of(tx)?
                    .map(|(s, _)| s)
                    .ok_or_else(|| Error::new(ErrorCode::Storage, "no signer is stored for this inactive group"))?,
            };
            Ok((group, signer))
        })?;
        Self::wrap_as(provider, Arc::new(group.1), group.0, false)
    }

    /// Runs one operation as one storage transaction. If it fails, the transaction is rolled back
    /// and the in-memory group is reloaded from storage, so no half-done operation is visible.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.exclusive(|| {
            let result = self.provider.atomically(|tx| {
                self.claim(tx)?;
                f(tx)
            });
            self.claimed(&result);
            if result.is_err() {
                self.reload()?;
            }
            result
        })
    }

    /// On a shared store (PostgreSQL), at the start of an operation's transaction: locks the group
    /// until the transaction ends, so no other process acts on it meanwhile, and reloads it if
    /// another process changed it since this handle last saw it. Nothing to do on SQLite, which
    /// one process holds.
    pub(crate) fn claim(&self, tx: &Tx<'_>) -> Result<()> {
        // The message path runs this for every message: on SQLite it returns before any work.
        let Some(claim) = tx.claim_group(|| crate::registry::group_key(self.lock()?.group_id()))? else {
            return Ok(());
        };
        if self.seen.load(Ordering::SeqCst) != claim.seen {
            self.reload_in(tx)?;
            // What the getters show follows, even for an operation that changes nothing of it.
            self.refresh_view();
            self.seen.store(claim.seen, Ordering::SeqCst);
        }
        self.pending.store(claim.next, Ordering::SeqCst);
        Ok(())
    }

    /// After an operation that claimed the group: a committed one leaves the group at the token it
    /// stored; one that may have left memory ahead of storage (or whose commit is in doubt) makes
    /// the next operation reload.
    pub(crate) fn claimed<T>(&self, result: &Result<T>) {
        match result {
            Ok(_) => self.seen.store(self.pending.load(Ordering::SeqCst), Ordering::SeqCst),
            Err(e) if e.code.may_leave_partial_state() => self.seen.store(0, Ordering::SeqCst),
            Err(_) => {}
        }
    }

    /// Runs `f` as this group's only operation: other operations on the group wait, operations
    /// on other groups of the provider run beside it until one of them needs storage. Taken
    /// before the storage transaction, so an operation never waits for its group while it holds
    /// the provider's connection.
    pub(crate) fn exclusive<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.exclusive_viewing(f, |_| true)
    }

    /// [`Group::exclusive`] for an operation that may leave what the getters show as it was:
    /// `changes_view` says from its result whether the view must be refreshed (an application
    /// message sent or received changes no epoch, member, extension or pending commit).
    pub(crate) fn exclusive_viewing<T>(&self, f: impl FnOnce() -> Result<T>, changes_view: impl FnOnce(&Result<T>) -> bool) -> Result<T> {
        let me = crate::storage::thread_token();
        if self.op_owner.load(Ordering::SeqCst) == me {
            return f();
        }
        let _op = self.op.lock().unwrap_or_else(|e| e.into_inner());
        self.op_owner.store(me, Ordering::SeqCst);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        if result.as_ref().map_or(true, changes_view) {
            self.refresh_view();
        }
        self.op_owner.store(0, Ordering::SeqCst);
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Replaces the in-memory group with what storage holds.
    fn reload(&self) -> Result<()> {
        if !self.is_current() {
            return Ok(());
        }
        self.provider.atomically(|tx| self.reload_in(tx))
    }

    /// [`Group::reload`], inside a running transaction (a batch reads what its earlier items kept).
    fn reload_in(&self, tx: &Tx<'_>) -> Result<()> {
        if !self.is_current() {
            return Ok(());
        }
        // Same lock order as every operation: the group's state, then storage.
        let mut state = self.lock()?;
        let group_id = state.group_id().clone();
        match MlsGroup::load(tx.storage(), &group_id).map_err(|e| crate::storage::store_error(&e))? {
            Some(group) => {
                *state = group;
                Ok(())
            }
            None => Err(Error::internal("the group vanished from storage")),
        }
    }

    pub(crate) fn lock(&self) -> Result<GroupGuard<'_>> {
        self.check_current()?;
        let state = self.state.lock().map_err(|_| Error::internal("group state is unusable after an earlier internal error"))?;
        if state.is_none() {
            return Err(Self::freed());
        }
        Ok(GroupGuard(state))
    }

    /// Fails unless this handle still speaks for its group.
    fn check_current(&self) -> Result<()> {
        if self.deleted.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorCode::GroupInactive, "this group was deleted"));
        }
        if self.stale.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorCode::StaleHandle,
                "this group handle was replaced (a later join of the same group with replaceOldGroup) or freed; \
                 use the handle that join returned, or provider.loadGroup()",
            ));
        }
        Ok(())
    }

    fn freed() -> Error {
        Error::new(ErrorCode::StaleHandle, "this group handle was freed; use provider.loadGroup()")
    }

    pub(crate) fn signer(&self) -> Result<Arc<SignatureKeyPair>> {
        Ok(self.signer.read().map_err(|_| Error::internal("signer lock poisoned"))?.clone())
    }

    pub(crate) fn operational(group: &MlsGroup) -> Result<()> {
        if !group.is_active() {
            return Err(Error::new(ErrorCode::GroupInactive, "this member was removed from the group"));
        }
        if group.pending_commit().is_some() {
            return Err(Error::new(
                ErrorCode::PendingCommit,
                "a commit is pending: merge it with mergePendingCommit() or discard it with clearPendingCommit()",
            ));
        }
        Ok(())
    }

    /// Adds members by their key packages, as one commit. The commit stays pending until
    /// [`Group::merge_pending_commit`].
    pub fn add_members(&self, key_packages: &[KeyPackage]) -> Result<CommitOutput> {
        self.tx(|tx| self.add(tx, key_packages, true))
    }

    /// Adds members without refreshing the committer's own leaf (openmls's
    /// `add_members_without_update`): a path is included only if a queued proposal needs one.
    pub fn add_members_without_update(&self, key_packages: &[KeyPackage]) -> Result<CommitOutput> {
        self.tx(|tx| self.add(tx, key_packages, false))
    }

    fn add(&self, tx: &Tx<'_>, key_packages: &[KeyPackage], with_update: bool) -> Result<CommitOutput> {
        if key_packages.is_empty() {
            return Err(Error::invalid_argument("addMembers needs at least one key package"));
        }
        let signer = self.signer()?;
        let mut group = self.lock()?;
        Self::operational(&group)?;
        for kp in key_packages {
            if kp.ciphersuite() != group.ciphersuite() {
                return Err(Error::new(
                    ErrorCode::InvalidKeyPackage,
                    format!("key package is for {:?}, the group uses {:?}", kp.ciphersuite(), group.ciphersuite()),
                ));
            }
        }
        let added = if with_update {
            group.add_members(tx, signer.as_ref(), key_packages)
        } else {
            group.add_members_without_update(tx, signer.as_ref(), key_packages)
        };
        let (commit, welcome, group_info) = added.map_err(|e| crate::error::typed(e, ErrorCode::InvalidKeyPackage))?;
        let group_info = group_info.map(MlsMessageOut::from);
        CommitOutput::encode(&commit, Some(&welcome), group_info.as_ref())
    }

    /// Removes members by leaf index, as one commit (pending until merged).
    pub fn remove_members(&self, leaf_indices: &[u32]) -> Result<CommitOutput> {
        self.tx(|tx| {
            if leaf_indices.is_empty() {
                return Err(Error::invalid_argument("removeMembers needs at least one leaf index"));
            }
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let mut targets = Vec::with_capacity(leaf_indices.len());
            for &index in leaf_indices {
                let leaf = LeafNodeIndex::new(index);
                if group.member_at(leaf).is_none() {
                    return Err(Error::new(ErrorCode::UnknownMember, format!("no member at leaf index {index}")));
                }
                if leaf == group.own_leaf_index() {
                    return Err(Error::invalid_argument("a member cannot remove itself by commit; leave the group instead"));
                }
                if targets.contains(&leaf) {
                    return Err(Error::invalid_argument(format!("leaf index {index} is listed twice")));
                }
                targets.push(leaf);
            }
            let (commit, welcome, group_info) = group.remove_members(tx, signer.as_ref(), &targets).map_err(|e| match &e {
                RemoveMembersError::GroupStateError(s) => s.clone().into(),
                RemoveMembersError::LibraryError(_) => with_code(ErrorCode::Internal, &e),
                _ => with_code(ErrorCode::ValidationFailed, &e),
            })?;
            let group_info = group_info.map(MlsMessageOut::from);
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// Refreshes this member's leaf (new HPKE key, fresh path secrets), as a commit (pending until merged).
    pub fn self_update(&self) -> Result<CommitOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let bundle = group.self_update(tx, signer.as_ref(), LeafNodeParameters::default()).map_err(|e| match &e {
                SelfUpdateError::GroupStateError(s) => s.clone().into(),
                SelfUpdateError::LibraryError(_) => with_code(ErrorCode::Internal, &e),
                _ => with_code(ErrorCode::ValidationFailed, &e),
            })?;
            let (commit, welcome, group_info) = bundle.into_messages();
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// Merges this member's pending commit, entering the next epoch.
    ///
    /// Returns the messages the future-epoch buffer kept for the new epoch, processed (see
    /// [`Group::set_future_buffer`]); empty when it is off.
    pub fn merge_pending_commit(&self) -> Result<Vec<Result<Processed>>> {
        self.tx(|tx| {
            {
                let mut group = self.lock()?;
                if group.pending_commit().is_none() {
                    return Err(Error::new(ErrorCode::NoPendingCommit, "there is no pending commit to merge"));
                }
                group.merge_pending_commit(tx)?;
                self.adopt_pending_signer(true)?;
            }
            self.replay_future(tx)
        })
    }

    /// After a merge or a discard, the signer of a key-rotation commit is adopted or dropped.
    fn adopt_pending_signer(&self, adopt: bool) -> Result<()> {
        let pending = self.pending_signer.lock().map_err(|_| Error::internal("signer lock poisoned"))?.take();
        if let (true, Some(new_signer)) = (adopt, pending) {
            *self.signer.write().map_err(|_| Error::internal("signer lock poisoned"))? = new_signer;
        }
        Ok(())
    }

    /// Discards this member's pending commit (for example, when the delivery service rejected it).
    pub fn clear_pending_commit(&self) -> Result<()> {
        self.tx(|tx| {
            let mut group = self.lock()?;
            if group.pending_commit().is_none() {
                return Err(Error::new(ErrorCode::NoPendingCommit, "there is no pending commit to clear"));
            }
            group.clear_pending_commit(tx.storage()).map_err(|e| crate::storage::store_error(&e))?;
            self.adopt_pending_signer(false)
        })
    }

    /// Whether a commit of this member is pending.
    pub fn has_pending_commit(&self) -> Result<bool> {
        self.read(|g| Ok(g.pending_commit().is_some()), |v| v.has_pending_commit)
    }

    /// Sets the additional authenticated data of the next message this member sends (application
    /// message, proposal or commit). openmls clears it after that message.
    pub fn set_aad(&self, aad: &[u8]) -> Result<()> {
        self.lock()?.set_aad(aad.to_vec());
        Ok(())
    }

    /// The additional authenticated data set for the next message.
    pub fn aad(&self) -> Result<Vec<u8>> {
        Ok(self.lock()?.aad().to_vec())
    }

    /// Encrypts an application message. `aad`, when given, replaces what [`Group::set_aad`] set.
    pub fn create_message(&self, plaintext: &[u8], aad: Option<&[u8]>) -> Result<Vec<u8>> {
        self.exclusive_viewing(|| self.tx(|tx| self.create_message_in(tx, plaintext, aad)), |_| false)
    }

    fn create_message_in(&self, tx: &Tx<'_>, plaintext: &[u8], aad: Option<&[u8]>) -> Result<Vec<u8>> {
        {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            if !group.is_active() {
                return Err(Error::new(ErrorCode::GroupInactive, "this member was removed from the group"));
            }
            if let Some(aad) = aad {
                group.set_aad(aad.to_vec());
            }
            let own = group.own_leaf_index();
            let leaving = group.pending_proposals().any(|p| {
                p.sender() == &Sender::Member(own)
                    && match p.proposal() {
                        Proposal::Remove(r) => r.removed() == own,
                        Proposal::SelfRemove => true,
                        _ => false,
                    }
            });
            let message = group.create_message(tx, signer.as_ref(), plaintext).map_err(|e| match &e {
                CreateMessageError::GroupStateError(MlsGroupStateError::PendingProposal) if leaving => Error::new(
                    ErrorCode::PendingProposals,
                    "this member asked to leave the group (leaveGroup), so it cannot send until a commit removes it; \
                         clearPendingProposals() takes the request back",
                ),
                CreateMessageError::GroupStateError(MlsGroupStateError::PendingProposal) => Error::new(
                    ErrorCode::PendingProposals,
                    "proposals are queued: commit them (commitToPendingProposals) or clear them before sending application messages",
                ),
                CreateMessageError::GroupStateError(s) => s.clone().into(),
                CreateMessageError::LibraryError(_) => with_code(ErrorCode::Internal, &e),
            });
            // create_message only clears the AAD on success; never let it leak into the next message.
            group.set_aad(Vec::new());
            codec::encode_message(&message?)
        }
    }

    /// Processes a received message. A commit comes back staged, to be merged with
    /// [`Group::merge_staged_commit`]. On any error the group is unchanged.
    ///
    /// A rejected message costs no reload: openmls 0.9.2 changes the group only once a message
    /// has been verified, and applies the sender-ratchet update last, so a message refused by a
    /// check leaves memory as storage has it. Only a failure while writing (storage, or a bug)
    /// reloads the group.
    ///
    pub fn process_message(&self, bytes: &[u8]) -> Result<Processed> {
        self.process(bytes, false)
    }

    /// [`Group::process_message`], except that a commit is staged without using up anything: its
    /// key stays unused, so if the application's credential check refuses it, the group is
    /// exactly as before and the commit can be processed again. The staged commit still merges.
    /// It costs one reload of the group per commit.
    pub fn process_message_for_review(&self, bytes: &[u8]) -> Result<Processed> {
        self.process(bytes, true)
    }

    fn process(&self, bytes: &[u8], review_commits: bool) -> Result<Processed> {
        // Processing changes nothing the getters show: a commit is only staged (merging it is
        // another operation), a proposal is only returned, and a failure leaves the group as it
        // was (reloaded from storage if a write failed).
        self.exclusive_viewing(|| self.process_exclusive(bytes, review_commits), |_| false)
    }

    fn process_exclusive(&self, bytes: &[u8], review_commits: bool) -> Result<Processed> {
        let result = self.provider.transaction(|tx| {
            self.claim(tx)?;
            let processed = self.process_in_tx(tx, bytes)?;
            let keep = !(review_commits && matches!(processed.content, processed::ProcessedContent::Commit(_)));
            Ok((processed, keep))
        });
        match &result {
            // Rolled back: storage (and its token) are as before, and so is the reloaded group.
            Ok(p) if review_commits && matches!(p.content, processed::ProcessedContent::Commit(_)) => self.reload()?,
            Err(e) if e.code.may_leave_partial_state() => {
                self.claimed(&result);
                self.reload()?
            }
            // A message for a later epoch: the future-epoch buffer may keep it.
            Err(e) if e.code == ErrorCode::WrongEpoch => {
                let kept = self.provider.atomically(|tx| {
                    self.claim(tx)?;
                    self.buffer_if_future(tx, bytes)
                });
                self.claimed(&kept);
                if let Some(kept) = kept? {
                    return Err(kept);
                }
            }
            _ => self.claimed(&result),
        }
        result
    }

    /// Processes many received messages in one storage transaction (one sync to disk for all),
    /// in order. Each message is all-or-nothing on its own, exactly as [`Group::process_message`]:
    /// one that fails gets its error in its slot, leaves the group as it was before it, and the
    /// batch goes on. A commit is staged, not merged, as `process_message` stages it.
    ///
    /// The outer `Err` is a failure of the whole batch (the transaction could not be committed):
    /// then nothing of it was saved and the group is as before the batch.
    pub fn process_messages(&self, messages: &[Vec<u8>]) -> Result<Vec<Result<Processed>>> {
        self.tx(|tx| {
            let mut out = Vec::with_capacity(messages.len());
            for bytes in messages {
                let mut one = self.item_in(tx, || self.process_in_tx(tx, bytes))?;
                // Outside the refused message's savepoint: a kept message stays kept.
                if matches!(&one, Err(e) if e.code == ErrorCode::WrongEpoch) {
                    if let Some(kept) = self.buffer_if_future(tx, bytes)? {
                        one = Err(kept);
                    }
                }
                out.push(one);
            }
            Ok(out)
        })
    }

    /// Encrypts many application messages in one storage transaction, in order; each slot holds
    /// the message or the error [`Group::create_message`] would have thrown for it.
    pub fn create_messages(&self, plaintexts: &[Vec<u8>], aad: Option<&[u8]>) -> Result<Vec<Result<Vec<u8>>>> {
        self.batch(plaintexts, |tx, plaintext| self.create_message_in(tx, plaintext, aad))
    }

    /// Runs `item` on each input in one transaction, each all-or-nothing ([`Group::item_in`]).
    fn batch<I, T>(&self, inputs: &[I], item: impl Fn(&Tx<'_>, &I) -> Result<T>) -> Result<Vec<Result<T>>> {
        self.tx(|tx| inputs.iter().map(|input| self.item_in(tx, || item(tx, input))).collect())
    }

    /// Runs one item of a multi-item transaction under a savepoint: if it fails, its writes are
    /// rolled back and the in-memory group is reloaded from what storage holds at that point. The
    /// outer `Err` is a failure of the transaction itself.
    fn item_in<T>(&self, tx: &Tx<'_>, item: impl FnOnce() -> Result<T>) -> Result<Result<T>> {
        let one = tx.savepoint(item)?;
        if one.is_err() {
            self.reload_in(tx)?;
        }
        Ok(one)
    }

    fn process_in_tx(&self, tx: &Tx<'_>, bytes: &[u8]) -> Result<Processed> {
        {
            let message = codec::decode_protocol_message(bytes)?;
            let mut group = self.lock()?;
            if !group.is_active() {
                return Err(Error::new(ErrorCode::GroupInactive, "this member was removed from the group"));
            }
            if message.group_id() != group.group_id() {
                return Err(Error::new(ErrorCode::WrongGroup, "the message belongs to another group"));
            }
            check_epoch(&group, message.epoch().as_u64())?;
            let processed = group.process_message(tx, message)?;
            Ok(processed::from_openmls(processed, &group, self.provider.crypto()))
        }
    }

    /// Merges a staged commit obtained from [`Group::process_message`] on this group, in this epoch.
    ///
    /// Returns the messages the future-epoch buffer kept for the new epoch, processed (see
    /// [`Group::set_future_buffer`]); empty when it is off.
    pub fn merge_staged_commit(&self, staged: &StagedCommitHandle) -> Result<Vec<Result<Processed>>> {
        self.tx(|tx| {
            {
                let mut group = self.lock()?;
                let epoch = group.epoch().as_u64();
                let commit = staged.take_for(group.group_id(), epoch)?;
                group.merge_staged_commit(tx, commit)?;
                // Another member's commit won: this member's own pending commit (if any) is gone.
                self.adopt_pending_signer(false)?;
            }
            self.replay_future(tx)
        })
    }

    /// Stores a received proposal in the proposal queue, for a later commit to cover.
    pub fn store_pending_proposal(&self, proposal: &QueuedProposalHandle) -> Result<()> {
        self.tx(|tx| {
            let mut group = self.lock()?;
            let epoch = group.epoch().as_u64();
            let proposal = proposal.take_for(group.group_id(), epoch)?;
            group.store_pending_proposal(tx.storage(), proposal).map_err(|e| crate::storage::store_error(&e))
        })
    }

    /// The group's members, in leaf order.
    pub fn members(&self) -> Result<Vec<MemberInfo>> {
        self.read(|g| Ok(g.members().map(MemberInfo::from).collect()), |v| v.members.iter().map(|m| m.info.clone()).collect())
    }

    /// This member's leaf index.
    pub fn own_leaf_index(&self) -> Result<u32> {
        self.read(|g| Ok(g.own_leaf_index().u32()), |v| v.own_leaf_index)
    }

    /// The current epoch.
    pub fn epoch(&self) -> Result<u64> {
        self.read(|g| Ok(g.epoch().as_u64()), |v| v.epoch)
    }

    /// The group context of the current epoch (openmls `public_group().group_context()`).
    pub fn group_context(&self) -> Result<crate::processed::GroupContextInfo> {
        self.read(|g| Ok(g.public_group().group_context().into()), |v| (*v.group_context).clone())
    }

    /// The group id.
    pub fn group_id(&self) -> Result<Vec<u8>> {
        self.read(|g| Ok(g.group_id().as_slice().to_vec()), |v| v.group_id.clone())
    }

    /// The ciphersuite code point.
    pub fn ciphersuite(&self) -> Result<u16> {
        self.read(|g| Ok(u16::from(g.ciphersuite())), |v| v.ciphersuite)
    }

    /// Whether this member is still in the group. A deleted, replaced or freed handle is not.
    pub fn is_active(&self) -> Result<bool> {
        if !self.is_current() {
            return Ok(false);
        }
        self.read(|g| Ok(g.is_active()), |v| v.active)
    }

    /// Whether `other` is this very handle.
    pub fn same_handle(&self, other: &Group) -> bool {
        std::ptr::eq(self, other)
    }

    /// Derives a secret from the epoch's exporter (RFC 9420 §8.5).
    pub fn export_secret(&self, label: &str, context: &[u8], length: usize) -> Result<Vec<u8>> {
        let group = self.lock()?;
        let max = 255 * group.ciphersuite().hash_length();
        if length == 0 || length > max.min(u16::MAX as usize) {
            return Err(Error::invalid_argument(format!(
                "length must be an integer from 1 to {} for this ciphersuite (255 hash lengths)",
                max.min(u16::MAX as usize)
            )));
        }
        group.export_secret(self.provider.crypto(), label, context, length).map_err(|e| match e {
            ExportSecretError::GroupStateError(s) => s.into(),
            other => with_code(ErrorCode::Crypto, other),
        })
    }

    /// The epoch authenticator (RFC 9420 §8.7): equal for all members in the same epoch.
    pub fn epoch_authenticator(&self) -> Result<Vec<u8>> {
        self.read(|g| Ok(g.epoch_authenticator().as_slice().to_vec()), |v| v.epoch_authenticator.clone())
    }

    /// The group's runtime configuration.
    pub fn configuration(&self) -> Result<JoinConfigSpec> {
        self.read(|g| describe_join_config(g.configuration()), |v| v.configuration.clone())
    }

    /// Changes the runtime configuration; fields left `None` keep their current value.
    pub fn set_configuration(&self, changes: &JoinConfigSpec) -> Result<()> {
        self.tx(|tx| {
            let mut group = self.lock()?;
            let config = changes.to_openmls(Some(group.configuration()))?;
            group.set_configuration(tx.storage(), &config).map_err(|e| crate::storage::store_error(&e))
        })
    }

    /// The group context extensions.
    pub fn group_context_extensions(&self) -> Result<Vec<ExtensionSpec>> {
        self.read(|g| Ok(extensions::describe(g.extensions().iter())), |v| v.extensions.as_ref().clone())
    }

    /// This member's own leaf node.
    pub fn own_leaf_node(&self) -> Result<LeafNodeInfo> {
        let group = self.lock()?;
        group
            .own_leaf_node()
            .map(LeafNodeInfo::from)
            .ok_or_else(|| Error::new(ErrorCode::GroupInactive, "this member has no leaf in the group"))
    }

    /// The confirmation tag of the current epoch.
    pub fn confirmation_tag(&self) -> Result<Vec<u8>> {
        self.read(view::confirmation_mac, |v| v.confirmation_tag.clone())
    }

    /// The resumption PSK of the current epoch, or of a past epoch the group still keeps
    /// (`numberOfResumptionPsks`).
    pub fn resumption_psk(&self, epoch: Option<u64>) -> Result<Vec<u8>> {
        let group = self.lock()?;
        match epoch {
            None => Ok(group.resumption_psk_secret().as_slice().to_vec()),
            Some(e) if e == group.epoch().as_u64() => Ok(group.resumption_psk_secret().as_slice().to_vec()),
            Some(e) => group
                .get_past_resumption_psk(GroupEpoch::from(e))
                .map(|s| s.as_slice().to_vec())
                .ok_or_else(|| Error::new(ErrorCode::WrongEpoch, format!("no resumption PSK kept for epoch {e}"))),
        }
    }

    /// Deletes the group's state from the provider's storage for good. The handle is unusable afterwards.
    pub fn delete(&self) -> Result<()> {
        self.tx(|tx| {
            let mut group = self.lock()?;
            group.delete(tx.storage()).map_err(|e| crate::storage::store_error(&e))?;
            crate::registry::unregister_group(tx, group.group_id())?;
            future::delete_all(tx, group.group_id())?;
            self.deleted.store(true, Ordering::SeqCst);
            self.provider.forget(group.group_id().as_slice());
            Ok(())
        })
    }

    /// The ratchet tree, for members joining without the ratchet-tree extension.
    pub fn export_ratchet_tree(&self) -> Result<Vec<u8>> {
        codec::encode(&self.lock()?.export_ratchet_tree())
    }
}

/// Refuses messages from future epochs, and from past epochs whose secrets this group no longer
/// keeps, before openmls looks at them: openmls would report those as a too-old ratchet generation,
/// which reads like a replay.
fn check_epoch(group: &MlsGroup, message_epoch: u64) -> Result<()> {
    let current = group.epoch().as_u64();
    let kept = match group.past_epoch_deletion_policy() {
        PastEpochDeletionPolicy::MaxEpochs(n) => *n as u64,
        PastEpochDeletionPolicy::KeepAll => u64::MAX,
    };
    if message_epoch > current || current - message_epoch > kept {
        return Err(Error::new(
            ErrorCode::WrongEpoch,
            format!("the message is from epoch {message_epoch}; the group is in epoch {current} and keeps {kept} past epoch(s)"),
        ));
    }
    Ok(())
}
