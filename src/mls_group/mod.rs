//! `MlsGroup`: a group handle. Heavy operations come as Promise-returning methods that run on the
//! libuv thread pool, each with a `*Sync` twin that runs on the calling thread ([`twins`] writes
//! both from one declaration). This file has the handle, joining and the state getters; the
//! operations are split by concept: [`commits`], [`proposals`], [`messages`].

mod commits;
mod messages;
mod proposals;
mod twins;

pub(crate) use messages::{processed_to_js, NativeProcessedMessage};

use std::sync::Arc;

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::{AbortSignal, AsyncTask, BigInt, ToNapiValue, TypeName};
use napi_derive::napi;
use openmls_node_core::external::ExternalJoinOptions;
use openmls_node_core::group::{CommitOutput, CreateOptions, FutureBufferLimits, Group, JoinOptions, ProposalOutput};
use openmls_node_core::openmls::prelude::KeyPackage as OpenMlsKeyPackage;

use crate::config_types::{
    create_config_spec, extension_specs, join_config_spec, native_extensions, Extension, MlsGroupJoinConfig, NativeCreateConfig,
    NativeCredential, NativeLeafNode,
};
use crate::error::{from_napi, run, Result};
use crate::key_package::{credential_with_key, KeyPackage};
use crate::proposal_types::{psk_spec, NativeGroupContext, NativeProposalMessage, PreSharedKeyId};
use crate::provider::Provider;
use crate::signature_key_pair::SignatureKeyPair;
use crate::task::{unit_to_js, Job};
use crate::types::{NativeCommitMessages, NativeMember};

/// The bounds of a future-epoch buffer.
#[napi(object)]
pub struct NativeFutureBufferLimits {
    /// How many messages it keeps at most.
    pub max_messages: u32,
    /// How many bytes of messages it keeps at most.
    pub max_bytes: u32,
}

/// A future-epoch buffer: its limits (absent: off) and what it holds.
#[napi(object, object_from_js = false)]
pub struct NativeFutureBufferState {
    /// The limits; absent when buffering is off.
    pub limits: Option<NativeFutureBufferLimits>,
    /// How many messages it holds.
    pub messages: u32,
    /// How many bytes they take.
    pub bytes: f64,
}

/// Options for joining from a Welcome.
#[napi(object)]
pub struct NativeJoinOptions {
    /// The ratchet tree, when the Welcome does not carry it.
    pub ratchet_tree: Option<Uint8Array>,
    /// The join configuration. `useRatchetTreeExtension` defaults to whether the Welcome carried the tree.
    pub config: Option<MlsGroupJoinConfig>,
    /// Accept leaves whose lifetime is not current.
    pub skip_lifetime_validation: Option<bool>,
    /// Replace a stored group with the same id (rejoining after a fork or lost state).
    pub replace_old_group: Option<bool>,
}

fn group_to_js(group: Arc<Group>) -> napi::Result<MlsGroup> {
    Ok(MlsGroup { inner: group })
}

fn join_job(
    provider: &Provider,
    signer: &SignatureKeyPair,
    welcome: &[u8],
    options: Option<NativeJoinOptions>,
) -> impl FnOnce() -> openmls_node_core::Result<Arc<Group>> + Send + 'static {
    let provider = provider.inner.clone();
    let signer = signer.inner.clone();
    let welcome = welcome.to_vec();
    let options = JoinOptions {
        ratchet_tree: options.as_ref().and_then(|o| o.ratchet_tree.as_ref().map(|t| t.to_vec())),
        config: options.as_ref().and_then(|o| o.config.as_ref()).map(join_config_spec).unwrap_or_default(),
        skip_lifetime_validation: options.as_ref().and_then(|o| o.skip_lifetime_validation).unwrap_or(false),
        replace_old_group: options.as_ref().and_then(|o| o.replace_old_group).unwrap_or(false),
    };
    move || Group::join(provider, signer, &welcome, options)
}

/// A commit-producing operation on the libuv thread pool.
type CommitTask = AsyncTask<Job<CommitOutput, NativeCommitMessages>>;
/// A proposal-producing operation on the libuv thread pool.
type ProposalTask = AsyncTask<Job<ProposalOutput, NativeProposalMessage>>;
/// An operation with no result on the libuv thread pool.
type UnitTask = AsyncTask<Job<(), ()>>;
/// A merge on the libuv thread pool: the messages kept for the new epoch, processed.
type ReplayTask =
    AsyncTask<Job<Vec<openmls_node_core::Result<openmls_node_core::processed::Processed>>, Vec<messages::NativeProcessedBatchItem>>>;
/// The task of an external join: the new group and what to send.
type ExternalJoinTask = AsyncTask<Job<(Arc<Group>, CommitOutput), NativeExternalJoin>>;

/// Any operation on a group, on the libuv thread pool. `signal` cancels it while it waits for a
/// pool thread: it then never starts, and rejects with an `AbortError`.
fn group_task<T: Send + 'static, J: ToNapiValue + TypeName>(
    group: &Arc<Group>,
    signal: Option<AbortSignal>,
    op: impl FnOnce(&Group) -> openmls_node_core::Result<T> + Send + 'static,
    to_js: fn(T) -> napi::Result<J>,
) -> AsyncTask<Job<T, J>> {
    let group = group.clone();
    AsyncTask::with_optional_signal(Job::new(move || op(&group), to_js), signal)
}

fn proposal_to_js(p: ProposalOutput) -> napi::Result<NativeProposalMessage> {
    Ok(p.into())
}

fn bytes_to_js(bytes: Vec<u8>) -> napi::Result<Uint8Array> {
    Ok(Uint8Array::new(bytes))
}

/// Options of an external join.
#[napi(object)]
pub struct NativeExternalJoinOptions {
    /// The ratchet tree, when the GroupInfo does not carry it.
    pub ratchet_tree: Option<Uint8Array>,
    /// The joiner's runtime configuration.
    pub config: Option<MlsGroupJoinConfig>,
    /// Additional authenticated data for the commit.
    pub aad: Option<Uint8Array>,
    /// External PSKs to inject.
    pub psks: Option<Vec<PreSharedKeyId>>,
    /// SelfRemove proposals (encoded PublicMessages) to cover, e.g. of this client's old leaf.
    pub self_remove_proposals: Option<Vec<Uint8Array>>,
    /// Accept leaves outside their lifetime.
    pub skip_lifetime_validation: Option<bool>,
}

/// The result of an external join: the group, and the commit to send.
#[napi(object, object_from_js = false)]
pub struct NativeExternalJoin {
    /// The joined group (the commit is already merged).
    pub group: MlsGroup,
    /// The commit and, with the ratchet-tree extension, the new GroupInfo.
    pub messages: NativeCommitMessages,
}

type ExternalJoinWork = Box<dyn FnOnce() -> openmls_node_core::Result<(Arc<Group>, CommitOutput)> + Send>;

fn external_join_job(
    provider: &Provider,
    signer: &SignatureKeyPair,
    credential: &NativeCredential,
    group_info: &[u8],
    options: Option<&NativeExternalJoinOptions>,
) -> openmls_node_core::Result<ExternalJoinWork> {
    let cwk = credential_with_key(credential, signer)?;
    let options = ExternalJoinOptions {
        ratchet_tree: options.and_then(|o| o.ratchet_tree.as_ref()).map(|t| t.to_vec()),
        config: options.and_then(|o| o.config.as_ref()).map(join_config_spec).unwrap_or_default(),
        aad: options.and_then(|o| o.aad.as_ref()).map(|a| a.to_vec()),
        psks: options.and_then(|o| o.psks.as_ref()).map(|l| l.iter().map(psk_spec).collect()).transpose()?.unwrap_or_default(),
        self_remove_proposals: options
            .and_then(|o| o.self_remove_proposals.as_ref())
            .map(|l| l.iter().map(|m| m.to_vec()).collect())
            .unwrap_or_default(),
        skip_lifetime_validation: options.and_then(|o| o.skip_lifetime_validation).unwrap_or(false),
    };
    let (provider, signer, group_info) = (provider.inner.clone(), signer.inner.clone(), group_info.to_vec());
    Ok(Box::new(move || Group::join_by_external_commit(provider, signer, cwk, &group_info, options)))
}

fn external_join_to_js((group, messages): (Arc<Group>, CommitOutput)) -> napi::Result<NativeExternalJoin> {
    Ok(NativeExternalJoin { group: MlsGroup { inner: group }, messages: messages.into() })
}

fn key_packages(list: &[&KeyPackage]) -> Vec<OpenMlsKeyPackage> {
    list.iter().map(|kp| kp.inner.as_ref().clone()).collect()
}

/// An MLS group, as seen by one member.
#[napi]
pub struct MlsGroup {
    pub(crate) inner: Arc<Group>,
}

#[napi]
impl MlsGroup {
    /// Creates a group with this client as its only member.
    #[napi(factory)]
    pub fn create(
        provider: &Provider,
        signer: &SignatureKeyPair,
        credential: NativeCredential,
        group_id: Option<Uint8Array>,
        config: NativeCreateConfig,
    ) -> Result<Self> {
        run(|| {
            let cwk = credential_with_key(&credential, signer)?;
            let options = CreateOptions { group_id: group_id.map(|g| g.to_vec()), config: create_config_spec(&config)? };
            Ok(Self { inner: Group::create(provider.inner.clone(), signer.inner.clone(), cwk, options)? })
        })
    }

    /// Joins a group from a Welcome, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<MlsGroup>")]
    pub fn join_from_welcome(
        provider: &Provider,
        signer: &SignatureKeyPair,
        welcome: Uint8Array,
        options: Option<NativeJoinOptions>,
        signal: Option<AbortSignal>,
    ) -> AsyncTask<Job<Arc<Group>, MlsGroup>> {
        AsyncTask::with_optional_signal(Job::new(join_job(provider, signer, &welcome, options), group_to_js), signal)
    }

    /// Joins a group from a Welcome, on the calling thread.
    #[napi]
    pub fn join_from_welcome_sync(
        provider: &Provider,
        signer: &SignatureKeyPair,
        welcome: Uint8Array,
        options: Option<NativeJoinOptions>,
    ) -> Result<MlsGroup> {
        run(join_job(provider, signer, &welcome, options)).and_then(|g| group_to_js(g).map_err(from_napi))
    }

    /// Deletes the group's state for good.
    #[napi]
    pub fn delete(&self) -> Result<()> {
        run(|| self.inner.delete())
    }

    /// Releases this handle and its memory now, instead of when it is garbage collected. Later
    /// calls fail with `ERR_STALE_HANDLE`; stored state is untouched (`loadGroup` reads it again).
    #[napi]
    pub fn free(&self) {
        self.inner.dispose()
    }

    /// Whether `other` is the same native group handle as this one.
    #[napi]
    pub fn is_same_handle(&self, other: &MlsGroup) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The members, in leaf order.
    #[napi]
    pub fn members(&self) -> Result<Vec<NativeMember>> {
        run(|| self.inner.members()).map(|m| m.into_iter().map(Into::into).collect())
    }

    /// This member's leaf index.
    #[napi(getter)]
    pub fn own_leaf_index(&self) -> Result<u32> {
        run(|| self.inner.own_leaf_index())
    }

    /// The current epoch.
    #[napi(getter)]
    pub fn epoch(&self) -> Result<BigInt> {
        run(|| self.inner.epoch()).map(BigInt::from)
    }

    /// Turns the future-epoch buffer on (with these limits) or off (`undefined`); turning it off
    /// returns the messages it held.
    #[napi]
    pub fn set_future_epoch_buffer(&self, limits: Option<NativeFutureBufferLimits>) -> Result<Vec<Uint8Array>> {
        let limits = limits.map(|l| FutureBufferLimits { max_messages: l.max_messages, max_bytes: u64::from(l.max_bytes) });
        run(|| self.inner.set_future_buffer(limits)).map(|held| held.into_iter().map(Uint8Array::new).collect())
    }

    /// The future-epoch buffer: its limits (absent: off) and what it holds.
    #[napi]
    pub fn future_epoch_buffer(&self) -> Result<NativeFutureBufferState> {
        run(|| self.inner.future_buffer()).map(|s| NativeFutureBufferState {
            limits: s
                .limits
                .map(|l| NativeFutureBufferLimits { max_messages: l.max_messages, max_bytes: l.max_bytes.min(u64::from(u32::MAX)) as u32 }),
            messages: s.messages,
            bytes: s.bytes as f64,
        })
    }

    /// The group context of the current epoch: epoch, tree hash, confirmed transcript hash,
    /// extensions.
    #[napi]
    pub fn group_context(&self) -> Result<NativeGroupContext> {
        run(|| self.inner.group_context()).map(Into::into)
    }

    /// The group id.
    #[napi(getter)]
    pub fn group_id(&self) -> Result<Uint8Array> {
        run(|| self.inner.group_id()).map(Uint8Array::new)
    }

    /// The ciphersuite code point.
    #[napi(getter)]
    pub fn ciphersuite(&self) -> Result<u32> {
        run(|| self.inner.ciphersuite()).map(u32::from)
    }

    /// Whether this member is still in the group.
    #[napi(getter)]
    pub fn is_active(&self) -> Result<bool> {
        run(|| self.inner.is_active())
    }

    /// Derives `length` bytes from the epoch's exporter secret (RFC 9420 §8.5).
    #[napi]
    pub fn export_secret(&self, label: String, context: Uint8Array, length: f64) -> Result<Uint8Array> {
        // Any number reaches the core's one range check: a value that is not a length becomes 0.
        let length = if length.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&length) { length as usize } else { 0 };
        run(|| self.inner.export_secret(&label, &context, length)).map(Uint8Array::new)
    }

    /// The epoch authenticator (RFC 9420 §8.7).
    #[napi]
    pub fn epoch_authenticator(&self) -> Result<Uint8Array> {
        run(|| self.inner.epoch_authenticator()).map(Uint8Array::new)
    }

    /// Joins by external commit from a GroupInfo, on the libuv thread pool. The commit is already
    /// merged on this side: send it to the group.
    #[napi(ts_return_type = "Promise<NativeExternalJoin>")]
    pub fn join_by_external_commit(
        provider: &Provider,
        signer: &SignatureKeyPair,
        credential: NativeCredential,
        group_info: Uint8Array,
        options: Option<NativeExternalJoinOptions>,
    ) -> Result<ExternalJoinTask> {
        let work = run(|| external_join_job(provider, signer, &credential, &group_info, options.as_ref()))?;
        Ok(AsyncTask::new(Job::new(work, external_join_to_js)))
    }

    /// Joins by external commit, on the calling thread.
    #[napi]
    pub fn join_by_external_commit_sync(
        provider: &Provider,
        signer: &SignatureKeyPair,
        credential: NativeCredential,
        group_info: Uint8Array,
        options: Option<NativeExternalJoinOptions>,
    ) -> Result<NativeExternalJoin> {
        let work = run(|| external_join_job(provider, signer, &credential, &group_info, options.as_ref()))?;
        run(work).and_then(|j| external_join_to_js(j).map_err(from_napi))
    }

    /// The members outside `ownPartition`, whom a fork re-add replaces.
    #[napi]
    pub fn fork_complement(&self, own_partition: Vec<u32>) -> Result<Vec<NativeMember>> {
        run(|| self.inner.fork_complement(&own_partition)).map(|l| l.into_iter().map(Into::into).collect())
    }

    /// Recovers from a fork by re-adding the members outside `ownPartition` with fresh key packages.
    #[napi]
    pub fn recover_fork_by_readding(&self, own_partition: Vec<u32>, key_packages: Vec<&KeyPackage>) -> Result<NativeCommitMessages> {
        run(|| self.inner.recover_fork_by_readding(&own_partition, self::key_packages(&key_packages))).map(Into::into)
    }

    /// Recovers from a fork by rebooting into a new group that invites `keyPackages`.
    #[napi]
    pub fn reboot(
        &self,
        new_group_id: Uint8Array,
        key_packages: Vec<&KeyPackage>,
        extensions: Option<Vec<Extension>>,
    ) -> Result<NativeExternalJoin> {
        run(|| {
            let specs = extensions.as_ref().map(|_| extension_specs(&extensions)).transpose()?;
            self.inner.reboot(&new_group_id, specs.as_deref(), self::key_packages(&key_packages))
        })
        .and_then(|j| external_join_to_js(j).map_err(from_napi))
    }

    /// Exports a signed GroupInfo (for external joins), optionally with the ratchet tree.
    #[napi]
    pub fn export_group_info(&self, with_ratchet_tree: bool) -> Result<Uint8Array> {
        run(|| self.inner.export_group_info(with_ratchet_tree)).map(Uint8Array::new)
    }

    /// Sets the additional authenticated data of the next message this member sends.
    #[napi]
    pub fn set_aad(&self, aad: Uint8Array) -> Result<()> {
        run(|| self.inner.set_aad(&aad))
    }

    /// The additional authenticated data set for the next message.
    #[napi]
    pub fn aad(&self) -> Result<Uint8Array> {
        run(|| self.inner.aad()).map(Uint8Array::new)
    }

    /// The runtime configuration.
    #[napi]
    pub fn configuration(&self) -> Result<MlsGroupJoinConfig> {
        run(|| self.inner.configuration()).map(Into::into)
    }

    /// Changes the runtime configuration; absent fields keep their value.
    #[napi]
    pub fn set_configuration(&self, changes: MlsGroupJoinConfig) -> Result<()> {
        run(|| self.inner.set_configuration(&join_config_spec(&changes)))
    }

    /// The group context extensions.
    #[napi]
    pub fn group_context_extensions(&self) -> Result<Vec<Extension>> {
        run(|| self.inner.group_context_extensions()).map(native_extensions)
    }

    /// This member's leaf node.
    #[napi]
    pub fn own_leaf_node(&self) -> Result<NativeLeafNode> {
        run(|| self.inner.own_leaf_node()).map(Into::into)
    }

    /// The confirmation tag of the current epoch.
    #[napi]
    pub fn confirmation_tag(&self) -> Result<Uint8Array> {
        run(|| self.inner.confirmation_tag()).map(Uint8Array::new)
    }

    /// The resumption PSK of the current epoch, or of a kept past epoch.
    #[napi]
    pub fn resumption_psk(&self, epoch: Option<BigInt>) -> Result<Uint8Array> {
        let epoch = epoch.map(|e| e.get_u64().1);
        run(|| self.inner.resumption_psk(epoch)).map(Uint8Array::new)
    }

    /// The encoded ratchet tree, for joiners whose Welcome does not carry it.
    #[napi]
    pub fn export_ratchet_tree(&self) -> Result<Uint8Array> {
        run(|| self.inner.export_ratchet_tree()).map(Uint8Array::new)
    }
}
