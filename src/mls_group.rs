//! `MlsGroup`: a group handle. Heavy operations come as Promise-returning methods that run on the
//! libuv thread pool, each with a `*Sync` twin that runs on the calling thread.

use std::sync::Arc;

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::{AbortSignal, AsyncTask, BigInt, ToNapiValue, TypeName};
use napi_derive::napi;
use openmls_node_core::external::ExternalJoinOptions;
use openmls_node_core::group::{CommitOutput, CommitSpec, CreateOptions, Group, JoinOptions, ProposalOutput};
use openmls_node_core::openmls::prelude::KeyPackage as OpenMlsKeyPackage;
use openmls_node_core::processed::{Processed, ProcessedContent};

use crate::config_types::{
    create_config_spec, credential_info, extension_specs, join_config_spec, native_extensions, u16_of, Extension, MlsGroupJoinConfig,
    NativeCreateConfig, NativeCredential, NativeLeafNode,
};
use crate::error::{from_napi, run, NativeError, Result};
use crate::key_package::{credential_with_key, KeyPackage};
use crate::proposal_types::{
    leaf_params_spec, psk_spec, NativeLeafNodeParams, NativeProposalMessage, NativeQueuedProposalInfo, PreSharedKeyId,
};
use crate::provider::Provider;
use crate::queued_proposal::QueuedProposal;
use crate::signature_key_pair::SignatureKeyPair;
use crate::staged_commit::StagedCommit;
use crate::task::Job;
use crate::types::{commit_messages, NativeCommitMessages, NativeMember, NativeStagedCommitInfo, Sender};

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

/// A processed message. `kind` is `application`, `proposal`, `externalJoinProposal`, `commit`,
/// `ownPendingCommit` or `ownPrivateMessage`; the field of that kind is set.
#[napi(object, object_from_js = false)]
pub struct NativeProcessedMessage {
    /// What the message carries.
    pub kind: String,
    /// The group id.
    pub group_id: Uint8Array,
    /// The epoch the message was sent in.
    pub epoch: BigInt,
    /// Who sent it.
    pub sender: Sender,
    /// The authenticated additional data.
    pub authenticated_data: Uint8Array,
    /// The sender's credential.
    pub credential: NativeCredential,
    /// `application`: the plaintext.
    pub data: Option<Uint8Array>,
    /// `commit`: the staged commit.
    pub staged_commit: Option<StagedCommit>,
    /// `proposal` and `externalJoinProposal`: the proposal.
    pub proposal: Option<QueuedProposal>,
}

fn processed_to_js(p: Processed) -> napi::Result<NativeProcessedMessage> {
    let mut out = NativeProcessedMessage {
        kind: String::new(),
        group_id: Uint8Array::new(p.group_id),
        epoch: BigInt::from(p.epoch),
        sender: p.sender.into(),
        authenticated_data: Uint8Array::new(p.aad),
        credential: p.credential.into(),
        data: None,
        staged_commit: None,
        proposal: None,
    };
    out.kind = match p.content {
        ProcessedContent::Application(data) => {
            out.data = Some(Uint8Array::new(data));
            "application"
        }
        ProcessedContent::Proposal(handle) => {
            out.proposal = Some(QueuedProposal { inner: Arc::new(handle) });
            "proposal"
        }
        ProcessedContent::ExternalJoinProposal(handle) => {
            out.proposal = Some(QueuedProposal { inner: Arc::new(handle) });
            "externalJoinProposal"
        }
        ProcessedContent::Commit(handle) => {
            out.staged_commit = Some(StagedCommit { inner: Arc::new(handle) });
            "commit"
        }
        ProcessedContent::OwnPendingCommit => "ownPendingCommit",
        ProcessedContent::OwnPrivateMessage => "ownPrivateMessage",
    }
    .to_string();
    Ok(out)
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
/// The task of `processMessages`: one result per message.
type ProcessBatchTask = AsyncTask<Job<Vec<openmls_node_core::Result<Processed>>, Vec<NativeProcessedBatchItem>>>;
/// The task of `createMessages`: one result per plaintext.
type MessageBatchTask = AsyncTask<Job<Vec<openmls_node_core::Result<Vec<u8>>>, Vec<NativeMessageBatchItem>>>;
/// The task of an external join: the new group and what to send.
type ExternalJoinTask = AsyncTask<Job<(Arc<Group>, CommitOutput), NativeExternalJoin>>;

fn commit_task(
    group: &Arc<Group>,
    signal: Option<AbortSignal>,
    op: impl FnOnce(&Group) -> openmls_node_core::Result<CommitOutput> + Send + 'static,
) -> CommitTask {
    group_task(group, signal, op, commit_messages)
}

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

fn unit_to_js(_: ()) -> napi::Result<()> {
    Ok(())
}

/// One slot of `processMessages`: the processed message, or the error it would have thrown alone.
#[napi(object, object_from_js = false)]
pub struct NativeProcessedBatchItem {
    /// The processed message, when this one succeeded.
    pub message: Option<NativeProcessedMessage>,
    /// The error, when it failed.
    pub error: Option<NativeError>,
}

/// One slot of `createMessages`: the encrypted message, or the error it would have thrown alone.
#[napi(object, object_from_js = false)]
pub struct NativeMessageBatchItem {
    /// The `MLSMessage` to send, when this one succeeded.
    pub message: Option<Uint8Array>,
    /// The error, when it failed.
    pub error: Option<NativeError>,
}

fn processed_batch_to_js(items: Vec<openmls_node_core::Result<Processed>>) -> napi::Result<Vec<NativeProcessedBatchItem>> {
    items
        .into_iter()
        .map(|item| match item {
            Ok(p) => Ok(NativeProcessedBatchItem { message: Some(processed_to_js(p)?), error: None }),
            Err(e) => Ok(NativeProcessedBatchItem { message: None, error: Some(e.into()) }),
        })
        .collect()
}

fn message_batch_to_js(items: Vec<openmls_node_core::Result<Vec<u8>>>) -> napi::Result<Vec<NativeMessageBatchItem>> {
    Ok(items
        .into_iter()
        .map(|item| match item {
            Ok(m) => NativeMessageBatchItem { message: Some(Uint8Array::new(m)), error: None },
            Err(e) => NativeMessageBatchItem { message: None, error: Some(e.into()) },
        })
        .collect())
}

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

fn process(group: &Group, bytes: &[u8], review_commits: bool) -> openmls_node_core::Result<Processed> {
    if review_commits {
        group.process_message_for_review(bytes)
    } else {
        group.process_message(bytes)
    }
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

    /// Adds members as one commit, on the libuv thread pool. Merge with `mergePendingCommit`.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn add_members(&self, key_packages: Vec<&KeyPackage>, signal: Option<AbortSignal>) -> CommitTask {
        let kps = self::key_packages(&key_packages);
        commit_task(&self.inner, signal, move |g| g.add_members(&kps))
    }

    /// Adds members as one commit, on the calling thread.
    #[napi]
    pub fn add_members_sync(&self, key_packages: Vec<&KeyPackage>) -> Result<NativeCommitMessages> {
        let kps = self::key_packages(&key_packages);
        run(|| self.inner.add_members(&kps)).map(Into::into)
    }

    /// Adds members without refreshing the committer's leaf, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn add_members_without_update(&self, key_packages: Vec<&KeyPackage>, signal: Option<AbortSignal>) -> CommitTask {
        let kps = self::key_packages(&key_packages);
        commit_task(&self.inner, signal, move |g| g.add_members_without_update(&kps))
    }

    /// Adds members without refreshing the committer's leaf, on the calling thread.
    #[napi]
    pub fn add_members_without_update_sync(&self, key_packages: Vec<&KeyPackage>) -> Result<NativeCommitMessages> {
        let kps = self::key_packages(&key_packages);
        run(|| self.inner.add_members_without_update(&kps)).map(Into::into)
    }

    /// Removes members by leaf index as one commit, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn remove_members(&self, leaf_indices: Vec<u32>, signal: Option<AbortSignal>) -> CommitTask {
        commit_task(&self.inner, signal, move |g| g.remove_members(&leaf_indices))
    }

    /// Removes members by leaf index as one commit, on the calling thread.
    #[napi]
    pub fn remove_members_sync(&self, leaf_indices: Vec<u32>) -> Result<NativeCommitMessages> {
        run(|| self.inner.remove_members(&leaf_indices)).map(Into::into)
    }

    /// Refreshes this member's leaf as a commit, optionally with new leaf parameters, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn self_update(&self, params: Option<NativeLeafNodeParams>, signal: Option<AbortSignal>) -> Result<CommitTask> {
        let spec = run(|| leaf_params_spec(params.as_ref()))?;
        Ok(commit_task(&self.inner, signal, move |g| g.self_update_with(&spec)))
    }

    /// Refreshes this member's leaf as a commit, on the calling thread.
    #[napi]
    pub fn self_update_sync(&self, params: Option<NativeLeafNodeParams>) -> Result<NativeCommitMessages> {
        run(|| self.inner.self_update_with(&leaf_params_spec(params.as_ref())?)).map(Into::into)
    }

    /// Rotates this member's signature key in a commit signed with the old key, on the libuv thread pool.
    /// The group signs with `newSigner` once the commit is merged.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn self_update_with_new_signer(
        &self,
        new_signer: &SignatureKeyPair,
        credential: NativeCredential,
        params: Option<NativeLeafNodeParams>,
        signal: Option<AbortSignal>,
    ) -> Result<CommitTask> {
        let (spec, cred) = run(|| Ok((leaf_params_spec(params.as_ref())?, credential_info(&credential)?)))?;
        let signer = new_signer.inner.clone();
        Ok(commit_task(&self.inner, signal, move |g| g.self_update_with_new_signer(signer, &cred, &spec)))
    }

    /// Rotates this member's signature key, on the calling thread.
    #[napi]
    pub fn self_update_with_new_signer_sync(
        &self,
        new_signer: &SignatureKeyPair,
        credential: NativeCredential,
        params: Option<NativeLeafNodeParams>,
    ) -> Result<NativeCommitMessages> {
        run(|| {
            self.inner.self_update_with_new_signer(
                new_signer.inner.clone(),
                &credential_info(&credential)?,
                &leaf_params_spec(params.as_ref())?,
            )
        })
        .map(Into::into)
    }

    /// Builds a commit (openmls's commit builder), on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn commit(&self, adds: Vec<&KeyPackage>, options: NativeCommitOptions, signal: Option<AbortSignal>) -> Result<CommitTask> {
        let spec = run(|| commit_spec(&adds, &options))?;
        Ok(commit_task(&self.inner, signal, move |g| g.commit(spec)))
    }

    /// Builds a commit, on the calling thread.
    #[napi]
    pub fn commit_sync(&self, adds: Vec<&KeyPackage>, options: NativeCommitOptions) -> Result<NativeCommitMessages> {
        run(|| self.inner.commit(commit_spec(&adds, &options)?)).map(Into::into)
    }

    /// Commits to every queued proposal, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn commit_to_pending_proposals(&self, signal: Option<AbortSignal>) -> CommitTask {
        commit_task(&self.inner, signal, |g| g.commit_to_pending_proposals())
    }

    /// Commits to every queued proposal, on the calling thread.
    #[napi]
    pub fn commit_to_pending_proposals_sync(&self) -> Result<NativeCommitMessages> {
        run(|| self.inner.commit_to_pending_proposals()).map(Into::into)
    }

    /// Replaces the group context extensions in a commit, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn update_group_context_extensions(&self, extensions: Vec<Extension>, signal: Option<AbortSignal>) -> Result<CommitTask> {
        let specs = run(|| extension_specs(&Some(extensions)))?;
        Ok(commit_task(&self.inner, signal, move |g| g.update_group_context_extensions(&specs)))
    }

    /// Replaces the group context extensions in a commit, on the calling thread.
    #[napi]
    pub fn update_group_context_extensions_sync(&self, extensions: Vec<Extension>) -> Result<NativeCommitMessages> {
        run(|| self.inner.update_group_context_extensions(&extension_specs(&Some(extensions))?)).map(Into::into)
    }

    /// Replaces members (remove + add, one for one) in one commit, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn swap_members(&self, leaf_indices: Vec<u32>, key_packages: Vec<&KeyPackage>, signal: Option<AbortSignal>) -> CommitTask {
        let kps = self::key_packages(&key_packages);
        commit_task(&self.inner, signal, move |g| g.swap_members(&leaf_indices, &kps))
    }

    /// Replaces members in one commit, on the calling thread.
    #[napi]
    pub fn swap_members_sync(&self, leaf_indices: Vec<u32>, key_packages: Vec<&KeyPackage>) -> Result<NativeCommitMessages> {
        run(|| self.inner.swap_members(&leaf_indices, &self::key_packages(&key_packages))).map(Into::into)
    }

    /// Removes the members holding these credentials in one commit, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeCommitMessages>")]
    pub fn remove_members_by_credential(&self, credentials: Vec<NativeCredential>, signal: Option<AbortSignal>) -> Result<CommitTask> {
        let infos = run(|| credentials.iter().map(credential_info).collect::<openmls_node_core::Result<Vec<_>>>())?;
        Ok(commit_task(&self.inner, signal, move |g| g.remove_members_by_credential(&infos)))
    }

    /// Removes the members holding these credentials, on the calling thread.
    #[napi]
    pub fn remove_members_by_credential_sync(&self, credentials: Vec<NativeCredential>) -> Result<NativeCommitMessages> {
        run(|| {
            let infos = credentials.iter().map(credential_info).collect::<openmls_node_core::Result<Vec<_>>>()?;
            self.inner.remove_members_by_credential(&infos)
        })
        .map(Into::into)
    }

    /// Proposes adding a member (by reference unless `byValue`).
    #[napi]
    pub fn propose_add_member(&self, key_package: &KeyPackage, by_value: Option<bool>) -> Result<NativeProposalMessage> {
        run(|| self.inner.propose_add_member(&key_package.inner, by_value.unwrap_or(false))).map(Into::into)
    }

    /// Proposes removing a member by leaf index.
    #[napi]
    pub fn propose_remove_member(&self, leaf_index: u32, by_value: Option<bool>) -> Result<NativeProposalMessage> {
        run(|| self.inner.propose_remove_member(leaf_index, by_value.unwrap_or(false))).map(Into::into)
    }

    /// Proposes removing the member holding a credential.
    #[napi]
    pub fn propose_remove_member_by_credential(
        &self,
        credential: NativeCredential,
        by_value: Option<bool>,
    ) -> Result<NativeProposalMessage> {
        run(|| self.inner.propose_remove_member_by_credential(&credential_info(&credential)?, by_value.unwrap_or(false))).map(Into::into)
    }

    /// Proposes updating this member's leaf.
    #[napi]
    pub fn propose_self_update(&self, params: Option<NativeLeafNodeParams>) -> Result<NativeProposalMessage> {
        run(|| self.inner.propose_self_update(&leaf_params_spec(params.as_ref())?)).map(Into::into)
    }

    /// Proposes new group context extensions.
    #[napi]
    pub fn propose_group_context_extensions(&self, extensions: Vec<Extension>) -> Result<NativeProposalMessage> {
        run(|| self.inner.propose_group_context_extensions(&extension_specs(&Some(extensions))?)).map(Into::into)
    }

    /// Proposes an application-defined proposal.
    #[napi]
    pub fn propose_custom_proposal(
        &self,
        proposal_type: u32,
        payload: Uint8Array,
        by_value: Option<bool>,
    ) -> Result<NativeProposalMessage> {
        run(|| self.inner.propose_custom_proposal(u16_of(proposal_type, "proposal type")?, &payload, by_value.unwrap_or(false)))
            .map(Into::into)
    }

    /// Proposes injecting a PSK.
    #[napi]
    pub fn propose_pre_shared_key(&self, psk: PreSharedKeyId, by_value: Option<bool>) -> Result<NativeProposalMessage> {
        run(|| self.inner.propose_pre_shared_key(&psk_spec(&psk)?, by_value.unwrap_or(false))).map(Into::into)
    }

    /// Leaves with a Remove proposal for this member.
    #[napi]
    pub fn leave_group(&self) -> Result<NativeProposalMessage> {
        run(|| self.inner.leave_group()).map(Into::into)
    }

    /// Leaves with a SelfRemove proposal.
    #[napi]
    pub fn leave_group_via_self_remove(&self) -> Result<NativeProposalMessage> {
        run(|| self.inner.leave_group_via_self_remove()).map(Into::into)
    }

    /// The proposals queued for the next commit.
    #[napi]
    pub fn pending_proposals(&self) -> Result<Vec<NativeQueuedProposalInfo>> {
        run(|| self.inner.pending_proposals()).map(|l| l.into_iter().map(Into::into).collect())
    }

    /// Removes a queued proposal by reference.
    #[napi]
    pub fn remove_pending_proposal(&self, proposal_ref: Uint8Array) -> Result<()> {
        run(|| self.inner.remove_pending_proposal(&proposal_ref))
    }

    /// Empties the proposal queue.
    #[napi]
    pub fn clear_pending_proposals(&self) -> Result<()> {
        run(|| self.inner.clear_pending_proposals())
    }

    /// What this member's pending commit will do, if there is one.
    #[napi]
    pub fn pending_commit(&self) -> Result<Option<NativeStagedCommitInfo>> {
        run(|| self.inner.pending_commit()).map(|v| v.map(Into::into))
    }

    /// Deletes the group's state for good.
    #[napi]
    pub fn delete(&self) -> Result<()> {
        run(|| self.inner.delete())
    }

    /// Merges this member's pending commit.
    #[napi]
    pub fn merge_pending_commit(&self) -> Result<()> {
        run(|| self.inner.merge_pending_commit())
    }

    /// Discards this member's pending commit.
    #[napi]
    pub fn clear_pending_commit(&self) -> Result<()> {
        run(|| self.inner.clear_pending_commit())
    }

    /// Whether a commit of this member is pending.
    #[napi(getter)]
    pub fn has_pending_commit(&self) -> Result<bool> {
        run(|| self.inner.has_pending_commit())
    }

    /// Encrypts an application message.
    #[napi]
    pub fn create_message(&self, plaintext: Uint8Array, aad: Option<Uint8Array>) -> Result<Uint8Array> {
        run(|| self.inner.create_message(&plaintext, aad.as_deref())).map(Uint8Array::new)
    }

    /// Processes a received message, on the libuv thread pool. With `reviewCommits`, a commit is
    /// staged without using up its key, for the application's credential check.
    #[napi(ts_return_type = "Promise<NativeProcessedMessage>")]
    pub fn process_message(
        &self,
        message: Uint8Array,
        review_commits: Option<bool>,
        signal: Option<AbortSignal>,
    ) -> AsyncTask<Job<Processed, NativeProcessedMessage>> {
        let bytes = message.to_vec();
        let review = review_commits.unwrap_or(false);
        group_task(&self.inner, signal, move |g| process(g, &bytes, review), processed_to_js)
    }

    /// Processes many received messages in one storage transaction (one sync to disk), in order,
    /// on the libuv thread pool. Each message is all-or-nothing on its own: a bad one gets its
    /// error in its slot and changes nothing, the others land.
    #[napi(ts_return_type = "Promise<NativeProcessedBatchItem[]>")]
    pub fn process_messages(&self, messages: Vec<Uint8Array>, signal: Option<AbortSignal>) -> ProcessBatchTask {
        let messages: Vec<Vec<u8>> = messages.into_iter().map(|m| m.to_vec()).collect();
        group_task(&self.inner, signal, move |g| g.process_messages(&messages), processed_batch_to_js)
    }

    /// `processMessages`, on the calling thread.
    #[napi]
    pub fn process_messages_sync(&self, messages: Vec<Uint8Array>) -> Result<Vec<NativeProcessedBatchItem>> {
        let messages: Vec<Vec<u8>> = messages.into_iter().map(|m| m.to_vec()).collect();
        run(|| self.inner.process_messages(&messages)).and_then(|items| processed_batch_to_js(items).map_err(from_napi))
    }

    /// Encrypts many application messages in one storage transaction, in order, on the libuv
    /// thread pool. Each slot holds the message or the error `createMessage` would have thrown.
    #[napi(ts_return_type = "Promise<NativeMessageBatchItem[]>")]
    pub fn create_messages(&self, plaintexts: Vec<Uint8Array>, aad: Option<Uint8Array>, signal: Option<AbortSignal>) -> MessageBatchTask {
        let plaintexts: Vec<Vec<u8>> = plaintexts.into_iter().map(|m| m.to_vec()).collect();
        let aad = aad.map(|a| a.to_vec());
        group_task(&self.inner, signal, move |g| g.create_messages(&plaintexts, aad.as_deref()), message_batch_to_js)
    }

    /// `createMessages`, on the calling thread.
    #[napi]
    pub fn create_messages_sync(&self, plaintexts: Vec<Uint8Array>, aad: Option<Uint8Array>) -> Result<Vec<NativeMessageBatchItem>> {
        let plaintexts: Vec<Vec<u8>> = plaintexts.into_iter().map(|m| m.to_vec()).collect();
        run(|| self.inner.create_messages(&plaintexts, aad.as_deref())).and_then(|items| message_batch_to_js(items).map_err(from_napi))
    }

    /// Encrypts an application message, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<Uint8Array>")]
    pub fn create_message_async(&self, plaintext: Uint8Array, aad: Option<Uint8Array>) -> AsyncTask<Job<Vec<u8>, Uint8Array>> {
        let plaintext = plaintext.to_vec();
        let aad = aad.map(|a| a.to_vec());
        group_task(&self.inner, None, move |g| g.create_message(&plaintext, aad.as_deref()), bytes_to_js)
    }

    /// Merges this member's pending commit, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn merge_pending_commit_async(&self) -> AsyncTask<Job<(), ()>> {
        group_task(&self.inner, None, |g| g.merge_pending_commit(), unit_to_js)
    }

    /// Merges a staged commit from `processMessage`, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn merge_staged_commit_async(&self, staged_commit: &StagedCommit) -> AsyncTask<Job<(), ()>> {
        let staged = staged_commit.inner.clone();
        group_task(&self.inner, None, move |g| g.merge_staged_commit(&staged), unit_to_js)
    }

    /// Discards this member's pending commit, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn clear_pending_commit_async(&self) -> AsyncTask<Job<(), ()>> {
        group_task(&self.inner, None, |g| g.clear_pending_commit(), unit_to_js)
    }

    /// Stores a received proposal in the proposal queue, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn store_pending_proposal_async(&self, proposal: &QueuedProposal) -> AsyncTask<Job<(), ()>> {
        let proposal = proposal.inner.clone();
        group_task(&self.inner, None, move |g| g.store_pending_proposal(&proposal), unit_to_js)
    }

    /// Removes a queued proposal by reference, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn remove_pending_proposal_async(&self, proposal_ref: Uint8Array) -> AsyncTask<Job<(), ()>> {
        let proposal_ref = proposal_ref.to_vec();
        group_task(&self.inner, None, move |g| g.remove_pending_proposal(&proposal_ref), unit_to_js)
    }

    /// Empties the proposal queue, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn clear_pending_proposals_async(&self) -> AsyncTask<Job<(), ()>> {
        group_task(&self.inner, None, |g| g.clear_pending_proposals(), unit_to_js)
    }

    /// Proposes adding a member, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn propose_add_member_async(
        &self,
        key_package: &KeyPackage,
        by_value: Option<bool>,
    ) -> AsyncTask<Job<ProposalOutput, NativeProposalMessage>> {
        let kp = key_package.inner.clone();
        let by_value = by_value.unwrap_or(false);
        group_task(&self.inner, None, move |g| g.propose_add_member(&kp, by_value), proposal_to_js)
    }

    /// Proposes removing a member by leaf index, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn propose_remove_member_async(
        &self,
        leaf_index: u32,
        by_value: Option<bool>,
    ) -> AsyncTask<Job<ProposalOutput, NativeProposalMessage>> {
        let by_value = by_value.unwrap_or(false);
        group_task(&self.inner, None, move |g| g.propose_remove_member(leaf_index, by_value), proposal_to_js)
    }

    /// Proposes removing the member holding a credential, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn propose_remove_member_by_credential_async(
        &self,
        credential: NativeCredential,
        by_value: Option<bool>,
    ) -> Result<AsyncTask<Job<ProposalOutput, NativeProposalMessage>>> {
        let info = run(|| credential_info(&credential))?;
        let by_value = by_value.unwrap_or(false);
        Ok(group_task(&self.inner, None, move |g| g.propose_remove_member_by_credential(&info, by_value), proposal_to_js))
    }

    /// Proposes updating this member's leaf, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn propose_self_update_async(
        &self,
        params: Option<NativeLeafNodeParams>,
    ) -> Result<AsyncTask<Job<ProposalOutput, NativeProposalMessage>>> {
        let spec = run(|| leaf_params_spec(params.as_ref()))?;
        Ok(group_task(&self.inner, None, move |g| g.propose_self_update(&spec), proposal_to_js))
    }

    /// Proposes new group context extensions, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn propose_group_context_extensions_async(
        &self,
        extensions: Vec<Extension>,
    ) -> Result<AsyncTask<Job<ProposalOutput, NativeProposalMessage>>> {
        let specs = run(|| extension_specs(&Some(extensions)))?;
        Ok(group_task(&self.inner, None, move |g| g.propose_group_context_extensions(&specs), proposal_to_js))
    }

    /// Proposes an application-defined proposal, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn propose_custom_proposal_async(
        &self,
        proposal_type: u32,
        payload: Uint8Array,
        by_value: Option<bool>,
    ) -> Result<AsyncTask<Job<ProposalOutput, NativeProposalMessage>>> {
        let kind = run(|| u16_of(proposal_type, "proposal type"))?;
        let payload = payload.to_vec();
        let by_value = by_value.unwrap_or(false);
        Ok(group_task(&self.inner, None, move |g| g.propose_custom_proposal(kind, &payload, by_value), proposal_to_js))
    }

    /// Proposes injecting a PSK, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn propose_pre_shared_key_async(
        &self,
        psk: PreSharedKeyId,
        by_value: Option<bool>,
    ) -> Result<AsyncTask<Job<ProposalOutput, NativeProposalMessage>>> {
        let spec = run(|| psk_spec(&psk))?;
        let by_value = by_value.unwrap_or(false);
        Ok(group_task(&self.inner, None, move |g| g.propose_pre_shared_key(&spec, by_value), proposal_to_js))
    }

    /// Leaves with a Remove proposal for this member, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn leave_group_async(&self) -> AsyncTask<Job<ProposalOutput, NativeProposalMessage>> {
        group_task(&self.inner, None, |g| g.leave_group(), proposal_to_js)
    }

    /// Leaves with a SelfRemove proposal, on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeProposalMessage>")]
    pub fn leave_group_via_self_remove_async(&self) -> AsyncTask<Job<ProposalOutput, NativeProposalMessage>> {
        group_task(&self.inner, None, |g| g.leave_group_via_self_remove(), proposal_to_js)
    }

    /// Processes a received message, on the calling thread.
    #[napi]
    pub fn process_message_sync(&self, message: Uint8Array, review_commits: Option<bool>) -> Result<NativeProcessedMessage> {
        run(|| process(&self.inner, &message, review_commits.unwrap_or(false))).and_then(|p| processed_to_js(p).map_err(from_napi))
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

    /// Merges a staged commit from `processMessage`.
    #[napi]
    pub fn merge_staged_commit(&self, staged_commit: &StagedCommit) -> Result<()> {
        run(|| self.inner.merge_staged_commit(&staged_commit.inner))
    }

    /// Stores a received proposal in the proposal queue.
    #[napi]
    pub fn store_pending_proposal(&self, proposal: &QueuedProposal) -> Result<()> {
        run(|| self.inner.store_pending_proposal(&proposal.inner))
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
