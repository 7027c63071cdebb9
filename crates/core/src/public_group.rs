//! The delivery service's view of a group: openmls's [`PublicGroup`], which tracks a group's
//! public state (tree, group context, transcript) without being a member.
//!
//! A delivery service builds it from a GroupInfo and the ratchet tree, then validates every
//! handshake message it relays: a PublicMessage proposal or commit is verified (signature,
//! membership tag, proposals, the commit's update path against the tree) exactly as a member
//! would, except for what needs the epoch's secrets. It merges the commits it accepts, one per
//! epoch, and keeps the latest GroupInfo a member gave it, checked against its own state, for
//! external joiners.
//!
//! - **Persistence.** The public state lives in the provider's storage, in openmls's own rows, so
//!   it survives a restart ([`PublicGroupHandle::load`]). openmls keys those rows by group id, as
//!   it does a member's: one provider cannot both be a member of a group and track it publicly,
//!   and both ways of creating one refuse the other.
//! - **Atomic operations.** Each write is one storage transaction; a failure rolls it back and
//!   reloads the in-memory state, so a refused or failed operation changes nothing.
//! - **What cannot be checked.** A PrivateMessage is encrypted with the epoch's secrets: a
//!   delivery service can route it by its framing (group id, epoch, content type) but not verify
//!   it, and a commit sent as a PrivateMessage cannot be followed. Groups that want their delivery
//!   service to follow them send handshakes as PublicMessages (a plaintext wire-format policy).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::storage::{Arg, Cell, Db};
use openmls::group::PublicGroup;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::hash_ref::ProposalRef;
use openmls::prelude::*;
use openmls_traits::storage::StorageProvider as _;
use tls_codec::Serialize as _;

use crate::codec;
use crate::error::{typed, Error, ErrorCode, Result};
use crate::external::decode_group_info;
use crate::group::MemberInfo;
use crate::processed::{self, GroupContextInfo, Processed, QueuedProposalHandle, StagedCommitHandle};
use crate::provider::{Provider, Tx};
use crate::registry::group_key;
use crate::storage::{decode_value, encode_value, store_error};

/// A group as a delivery service sees it. `Send + Sync`: every operation takes the state's lock.
#[derive(Debug)]
pub struct PublicGroupHandle {
    provider: Arc<Provider>,
    group_id: GroupId,
    /// The state; `None` once deleted.
    state: Mutex<Option<PublicGroup>>,
    /// On PostgreSQL: the token of the stored state `state` matches (0: unknown), as for member
    /// groups ([`crate::group::Group::claim`]).
    seen: AtomicI64,
}

/// The live handles, per provider and group id: every way of getting a public group returns the
/// one handle, so one group has one in-memory state per provider.
/// The live handles, keyed by provider (its address) and group id.
type LiveHandles = Mutex<HashMap<(usize, Vec<u8>), Weak<PublicGroupHandle>>>;

fn live() -> &'static LiveHandles {
    static LIVE: OnceLock<LiveHandles> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn live_key(provider: &Arc<Provider>, group_id: &[u8]) -> (usize, Vec<u8>) {
    (Arc::as_ptr(provider) as usize, group_id.to_vec())
}

impl PublicGroupHandle {
    /// Starts tracking a group from a GroupInfo (an `MLSMessage` or a bare `GroupInfo`) and its
    /// ratchet tree, which may also come in the GroupInfo's ratchet-tree extension. The GroupInfo's
    /// signature, the tree (hashes, parent hashes, leaf signatures) and their agreement are
    /// verified. The state is stored in `provider`.
    pub fn from_group_info(provider: Arc<Provider>, group_info: &[u8], ratchet_tree: Option<&[u8]>) -> Result<Arc<Self>> {
        let info = decode_group_info(group_info)?;
        let tree = tree_for(&info, ratchet_tree)?;
        let group_id = info.group_id().clone();
        let group = provider.atomically(|tx| {
            refuse_existing(tx, &group_id)?;
            let (group, _) = PublicGroup::from_external(tx.crypto(), tx.storage(), tree, info, ProposalStore::new())
                .map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            register(tx, &group_id)?;
            Ok(group)
        })?;
        Ok(Self::adopt(provider, group_id, group))
    }

    /// The public group `group_id` this provider tracks; `ERR_UNKNOWN_GROUP` if none.
    pub fn load(provider: Arc<Provider>, group_id: &[u8]) -> Result<Arc<Self>> {
        if let Some(handle) = live().lock().ok().and_then(|l| l.get(&live_key(&provider, group_id)).and_then(Weak::upgrade)) {
            return Ok(handle);
        }
        let id = GroupId::from_slice(group_id);
        let group = provider.atomically(|tx| {
            if !is_registered(tx, &id)? {
                return Err(Error::new(ErrorCode::UnknownGroup, "this provider tracks no public group with this id"));
            }
            PublicGroup::load(tx.storage(), &id)
                .map_err(|e| store_error(&e))?
                .ok_or_else(|| Error::new(ErrorCode::StorageCorrupt, "the public group's state is incomplete"))
        })?;
        Ok(Self::adopt(provider, id, group))
    }

    /// The ids of the public groups `provider` tracks, sorted.
    pub fn list(provider: &Provider) -> Result<Vec<Vec<u8>>> {
        provider.atomically(|tx| {
            if !table_exists(tx)? {
                return Ok(Vec::new());
            }
            let rows = tx.db().blobs("SELECT group_id FROM openmls_node_public_groups", &[]).map_err(|e| store_error(&e))?;
            let mut ids = rows.iter().map(|row| decode_value::<Vec<u8>>(row)).collect::<Result<Vec<_>>>()?;
            ids.sort();
            Ok(ids)
        })
    }

    fn adopt(provider: Arc<Provider>, group_id: GroupId, group: PublicGroup) -> Arc<Self> {
        let key = live_key(&provider, group_id.as_slice());
        let handle = Arc::new(Self { provider, group_id, state: Mutex::new(Some(group)), seen: AtomicI64::new(0) });
        if let Ok(mut live) = live().lock() {
            live.retain(|_, weak| weak.strong_count() > 0);
            if let Some(existing) = live.get(&key).and_then(Weak::upgrade) {
                return existing;
            }
            live.insert(key, Arc::downgrade(&handle));
        }
        handle
    }

    fn lock(&self) -> Result<MutexGuard<'_, Option<PublicGroup>>> {
        let guard = self.state.lock().map_err(|_| Error::internal("public group lock poisoned"))?;
        if guard.is_none() {
            return Err(Error::new(ErrorCode::StaleHandle, "this public group handle was freed or its group deleted"));
        }
        Ok(guard)
    }

    /// Releases the in-memory state now; the stored state stays (`load` reads it again). Later
    /// calls on this handle fail with `ERR_STALE_HANDLE`.
    pub fn free(&self) {
        if let Ok(mut guard) = self.state.lock() {
            *guard = None;
        }
        if let Ok(mut live) = live().lock() {
            let key = live_key(&self.provider, self.group_id.as_slice());
            if live.get(&key).is_some_and(|w| std::ptr::eq(w.as_ptr(), self)) {
                live.remove(&key);
            }
        }
    }

    /// Runs `f` on the state in one storage transaction. On failure the transaction is rolled back
    /// and the state reloaded from storage, so nothing half-done stays in memory.
    fn write<T>(&self, f: impl FnOnce(&Tx<'_>, &mut PublicGroup) -> Result<T>) -> Result<T> {
        let mut guard = self.lock()?;
        let group = guard.as_mut().ok_or_else(|| Error::internal("checked above"))?;
        let mut next = 0;
        let result = self.provider.atomically(|tx| {
            // On PostgreSQL: one process at a time acts on the group, from its latest state.
            if let Some(claim) = tx.claim_group(|| group_key(&self.group_id))? {
                if self.seen.load(Ordering::SeqCst) != claim.seen {
                    *group = self.stored(tx)?;
                }
                next = claim.next;
            }
            f(tx, group)
        });
        if result.is_ok() {
            self.seen.store(next, Ordering::SeqCst);
        } else {
            self.seen.store(0, Ordering::SeqCst);
            let reloaded = self.provider.atomically(|tx| PublicGroup::load(tx.storage(), &self.group_id).map_err(|e| store_error(&e)))?;
            *guard = reloaded;
        }
        result
    }

    /// The group as storage holds it (another process may have changed it).
    fn stored(&self, tx: &Tx<'_>) -> Result<PublicGroup> {
        PublicGroup::load(tx.storage(), &self.group_id)
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| Error::new(ErrorCode::UnknownGroup, "the public group was deleted from storage"))
    }

    /// On PostgreSQL, before an operation that only reads the state (validating a message, checking
    /// a GroupInfo): reloads it if another process merged something since this handle last saw it.
    fn refresh_if_shared(&self) -> Result<()> {
        if !self.provider.is_shared() {
            return Ok(());
        }
        let mut guard = self.lock()?;
        self.provider.atomically(|tx| {
            let token = crate::storage::postgres::stored_token(tx.db(), &group_key(&self.group_id)?).map_err(|e| store_error(&e))?;
            if token != self.seen.load(Ordering::SeqCst) {
                *guard = Some(self.stored(tx)?);
                self.seen.store(token, Ordering::SeqCst);
            }
            Ok(())
        })
    }

    fn read<T>(&self, f: impl FnOnce(&PublicGroup) -> Result<T>) -> Result<T> {
        let guard = self.lock()?;
        f(guard.as_ref().ok_or_else(|| Error::internal("checked above"))?)
    }

    /// The group id.
    pub fn group_id(&self) -> Vec<u8> {
        self.group_id.as_slice().to_vec()
    }

    /// The current epoch.
    pub fn epoch(&self) -> Result<u64> {
        self.read(|g| Ok(g.group_context().epoch().as_u64()))
    }

    /// The current group context: epoch, tree hash, confirmed transcript hash, extensions.
    pub fn group_context(&self) -> Result<GroupContextInfo> {
        self.read(|g| Ok(GroupContextInfo::from(g.group_context())))
    }

    /// The members, in leaf order.
    pub fn members(&self) -> Result<Vec<MemberInfo>> {
        self.read(|g| Ok(g.members().map(MemberInfo::from).collect()))
    }

    /// The ratchet tree, TLS-encoded, for joiners whose GroupInfo does not carry it.
    pub fn export_ratchet_tree(&self) -> Result<Vec<u8>> {
        self.read(|g| codec::encode(&g.export_ratchet_tree()))
    }

    /// The confirmation tag of the current epoch.
    pub fn confirmation_tag(&self) -> Result<Vec<u8>> {
        self.read(|g| {
            let encoded = g.confirmation_tag().tls_serialize_detached().map_err(Error::from)?;
            let (mac, _) = tls_codec::VLBytes::tls_deserialize_bytes(&encoded)?;
            Ok(mac.as_slice().to_vec())
        })
    }

    /// Validates a handshake message for this group: a PublicMessage proposal or commit, checked
    /// as a member would (sender, signature, the proposals, the commit and its update path), except
    /// for the membership tag, whose key only members hold. Nothing is stored: store a proposal with [`Self::add_proposal`], merge a
    /// commit with [`Self::merge_staged_commit`].
    pub fn process_message(&self, bytes: &[u8]) -> Result<Processed> {
        let message = codec::decode_protocol_message(bytes)?;
        self.refresh_if_shared()?;
        self.read(|g| {
            if message.group_id() != g.group_id() {
                return Err(Error::new(ErrorCode::WrongGroup, "the message belongs to another group"));
            }
            let current = g.group_context().epoch().as_u64();
            let epoch = message.epoch().as_u64();
            if epoch != current {
                let why = if epoch < current && message.content_type() == ContentType::Commit {
                    format!("a commit for epoch {epoch} was already accepted and the group is in epoch {current}: the sender must process that commit and try again")
                } else {
                    format!("the message is from epoch {epoch}; the group is in epoch {current}")
                };
                return Err(Error::new(ErrorCode::WrongEpoch, why));
            }
            if matches!(message, ProtocolMessage::PrivateMessage(_)) {
                return Err(Error::new(
                    ErrorCode::WrongMessageType,
                    "a PrivateMessage is encrypted for members: a delivery service can route it (MlsMessage.parse) but not process it",
                ));
            }
            let processed = g.process_message(self.provider.crypto(), message).map_err(Error::from)?;
            Ok(processed::from_public(processed, current, self.provider.crypto()))
        })
    }

    /// Stores a proposal from [`Self::process_message`], so that a later commit may cover it by
    /// reference (members store the same proposals).
    pub fn add_proposal(&self, proposal: &QueuedProposalHandle) -> Result<()> {
        self.write(|tx, g| {
            let queued = proposal.take_for(g.group_id(), g.group_context().epoch().as_u64())?;
            g.add_proposal(tx.storage(), queued).map_err(|e| store_error(&e))
        })
    }

    /// Merges a commit from [`Self::process_message`]: the group enters the next epoch and its
    /// stored proposals and GroupInfo are dropped (they belonged to the last epoch).
    pub fn merge_staged_commit(&self, staged: &StagedCommitHandle) -> Result<()> {
        self.write(|tx, g| {
            let commit = staged.take_for(g.group_id(), g.group_context().epoch().as_u64())?;
            g.merge_commit(tx.storage(), commit).map_err(Error::from)?;
            set_group_info(tx, &self.group_id, None)
        })
    }

    /// Keeps a GroupInfo a member made (`exportGroupInfo`, or the one a commit returns), for
    /// external joiners. It must be of this epoch and verify against this state: signed by the
    /// member it names, for this group context and confirmation tag. Otherwise it is refused
    /// and the one kept before (if any) stays.
    pub fn set_group_info(&self, group_info: &[u8]) -> Result<()> {
        let info = decode_group_info(group_info)?;
        self.refresh_if_shared()?;
        // Held to the end: no commit is merged between the check and the write.
        let guard = self.lock()?;
        let g = guard.as_ref().ok_or_else(|| Error::internal("checked above"))?;
        let (tree, context, tag) = (g.export_ratchet_tree(), g.group_context().clone(), g.confirmation_tag().clone());
        if info.group_id() != context.group_id() {
            return Err(Error::new(ErrorCode::WrongGroup, "the GroupInfo belongs to another group"));
        }
        if info.epoch() != context.epoch() {
            return Err(Error::new(
                ErrorCode::WrongEpoch,
                format!("the GroupInfo is of epoch {}; the group is in epoch {}", info.epoch().as_u64(), context.epoch().as_u64()),
            ));
        }
        // Verify it as a new tracker would, over this state's tree, in a transaction that keeps
        // nothing: the signature by the member it names, and the tree it describes.
        let verified = self.provider.transaction(|tx| {
            let (probe, verified) =
                PublicGroup::from_external(tx.crypto(), tx.storage(), RatchetTreeIn::from(tree), info, ProposalStore::new())
                    .map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            let same = probe.group_context() == &context && probe.confirmation_tag() == &tag;
            Ok(((same, verified), false))
        })?;
        let (same, verified) = verified;
        if !same {
            return Err(Error::new(ErrorCode::ValidationFailed, "the GroupInfo does not describe this group's current state"));
        }
        let bytes = codec::encode_message(&MlsMessageOut::from(verified))?;
        self.provider.atomically(|tx| set_group_info(tx, &self.group_id, Some(&bytes)))
    }

    /// The GroupInfo kept for this epoch by [`Self::set_group_info`], as an `MLSMessage`.
    pub fn group_info(&self) -> Result<Option<Vec<u8>>> {
        let _deleted_check = self.lock()?;
        self.provider.atomically(|tx| {
            let k = group_key(&self.group_id)?;
            let rows = tx
                .db()
                .rows("SELECT group_info FROM openmls_node_public_groups WHERE group_id = $1", &[Arg::Bytes(&k)])
                .map_err(|e| store_error(&e))?;
            match rows.into_iter().next().and_then(|r| r.into_iter().next()) {
                Some(Cell::Bytes(v)) => decode_value::<Vec<u8>>(&v).map(Some),
                _ => Ok(None),
            }
        })
    }

    /// Stops tracking the group and deletes its state. Later calls on this handle fail with
    /// `ERR_STALE_HANDLE`.
    pub fn delete(&self) -> Result<()> {
        let mut guard = self.lock()?;
        self.provider.atomically(|tx| {
            PublicGroup::delete(tx.storage(), &self.group_id).map_err(|e| store_error(&e))?;
            tx.storage().clear_proposal_queue::<GroupId, ProposalRef>(&self.group_id).map_err(|e| store_error(&e))?;
            let k = group_key(&self.group_id)?;
            tx.db().run("DELETE FROM openmls_node_public_groups WHERE group_id = $1", &[Arg::Bytes(&k)]).map_err(|e| store_error(&e))?;
            Ok(())
        })?;
        *guard = None;
        if let Ok(mut live) = live().lock() {
            live.remove(&live_key(&self.provider, self.group_id.as_slice()));
        }
        Ok(())
    }
}

/// The tree to build from: the one given, else the GroupInfo's ratchet-tree extension.
fn tree_for(info: &VerifiableGroupInfo, given: Option<&[u8]>) -> Result<RatchetTreeIn> {
    match given {
        Some(bytes) => codec::decode_ratchet_tree(bytes),
        None => info
            .extensions()
            .ratchet_tree()
            .map(|ext| ext.ratchet_tree().clone())
            .ok_or_else(|| Error::new(ErrorCode::MissingRatchetTree, "the GroupInfo does not carry the ratchet tree: pass ratchetTree")),
    }
}

/// Whether the public groups' table exists: an older SQLite file opened read-only lacks it.
fn table_exists(tx: &Tx<'_>) -> Result<bool> {
    let Db::Sqlite(conn) = tx.db() else { return Ok(true) };
    let n: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'openmls_node_public_groups'", [], |r| r.get(0))
        .map_err(|e| store_error(&e.into()))?;
    Ok(n == 1)
}

fn is_registered(tx: &Tx<'_>, group_id: &GroupId) -> Result<bool> {
    if !table_exists(tx)? {
        return Ok(false);
    }
    let k = group_key(group_id)?;
    let n = tx
        .db()
        .int("SELECT count(*) FROM openmls_node_public_groups WHERE group_id = $1", &[Arg::Bytes(&k)])
        .map_err(|e| store_error(&e))?;
    Ok(n == 1)
}

/// Refuses to track a group this provider already holds, publicly or as a member: openmls keeps
/// both under the group id.
fn refuse_existing(tx: &Tx<'_>, group_id: &GroupId) -> Result<()> {
    if is_registered(tx, group_id)? {
        return Err(Error::new(ErrorCode::InvalidArgument, "this provider already tracks this group: load it with PublicGroup.load"));
    }
    if crate::registry::is_group_registered(tx, group_id)? {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            "this provider is a member of this group; track groups publicly in a provider of their own",
        ));
    }
    Ok(())
}

fn register(tx: &Tx<'_>, group_id: &GroupId) -> Result<()> {
    let k = group_key(group_id)?;
    tx.db().run("INSERT INTO openmls_node_public_groups (group_id) VALUES ($1)", &[Arg::Bytes(&k)]).map_err(|e| store_error(&e))?;
    Ok(())
}

fn set_group_info(tx: &Tx<'_>, group_id: &GroupId, group_info: Option<&[u8]>) -> Result<()> {
    let k = group_key(group_id)?;
    let info = group_info.map(|g| encode_value(&g.to_vec())).transpose()?;
    match &info {
        Some(info) => {
            tx.db().run("UPDATE openmls_node_public_groups SET group_info = $1 WHERE group_id = $2", &[Arg::Bytes(info), Arg::Bytes(&k)])
        }
        None => tx.db().run("UPDATE openmls_node_public_groups SET group_info = NULL WHERE group_id = $1", &[Arg::Bytes(&k)]),
    }
    .map_err(|e| store_error(&e))?;
    Ok(())
}
