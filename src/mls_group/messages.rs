//! Messages of a group: encrypting application messages, processing received ones, one at a time
//! or in batches of one storage transaction.

use std::sync::Arc;

use napi::bindgen_prelude::{AbortSignal, AsyncTask, BigInt};
use napi_derive::napi;
use openmls_node_core::group::Group;
use openmls_node_core::processed::{Processed, ProcessedContent};

use super::{bytes_to_js, group_task, MlsGroup};
use crate::bytes::Uint8Array;
use crate::config_types::NativeCredential;
use crate::error::{from_napi, run, NativeError, Result};
use crate::queued_proposal::QueuedProposal;
use crate::staged_commit::StagedCommit;
use crate::task::Job;
use crate::types::Sender;

/// The task of `processMessages`: one result per message.
type ProcessBatchTask = AsyncTask<Job<Vec<openmls_node_core::Result<Processed>>, Vec<NativeProcessedBatchItem>>>;
/// The task of `createMessages`: one result per plaintext.
type MessageBatchTask = AsyncTask<Job<Vec<openmls_node_core::Result<Vec<u8>>>, Vec<NativeMessageBatchItem>>>;

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

fn process(group: &Group, bytes: &[u8], review_commits: bool) -> openmls_node_core::Result<Processed> {
    if review_commits {
        group.process_message_for_review(bytes)
    } else {
        group.process_message(bytes)
    }
}

#[napi]
impl MlsGroup {
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

    /// Processes a received message, on the calling thread.
    #[napi]
    pub fn process_message_sync(&self, message: Uint8Array, review_commits: Option<bool>) -> Result<NativeProcessedMessage> {
        run(|| process(&self.inner, &message, review_commits.unwrap_or(false))).and_then(|p| processed_to_js(p).map_err(from_napi))
    }
}
