//! Messages of a group: encrypting application messages, processing received ones, one at a time
//! or in batches of one storage transaction.

use std::sync::Arc;

use napi::bindgen_prelude::{AbortSignal, AsyncTask, BigInt, Either3, ToNapiValue, TypeName};
use napi::{sys, ValueType};
use napi_derive::napi;
use openmls_node_core::group::Group;
use openmls_node_core::identity::CredentialInfo;
use openmls_node_core::processed::{Processed, ProcessedContent};
use openmls_node_core::sender::SenderInfo;

use super::{bytes_to_js, group_task, MlsGroup};
use crate::bytes::{Concat, Uint8Array};
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

/// Declares `NativeProcessedMessage`: every variant has the fields every processed message has
/// (written once, here) and its own.
macro_rules! processed_message {
    ($( $doc:literal $variant:ident { $($vdoc:literal $field:ident: $ty:ty),* } )+) => {
        /// A processed message (openmls `ProcessedMessage`), discriminated by `type`.
        #[napi(discriminant = "type", discriminant_case = "camelCase", object_from_js = false)]
        pub enum NativeProcessedMessage {
            $(
                #[doc = $doc]
                $variant {
                    #[doc = "The group id."]
                    group_id: Uint8Array,
                    #[doc = "The epoch the message was sent in."]
                    epoch: BigInt,
                    #[doc = "Who sent it."]
                    sender: Sender,
                    #[doc = "The additional authenticated data the sender attached."]
                    authenticated_data: Uint8Array,
                    #[doc = "The sender's credential."]
                    credential: NativeCredential,
                    $( #[doc = $vdoc] $field: $ty, )*
                },
            )+
        }
    };
}

processed_message! {
    "An application message." Application { "The plaintext." data: Uint8Array }
    "A proposal, to store or drop." Proposal { "The proposal." proposal: QueuedProposal }
    "A new member's proposal to join." ExternalJoinProposal { "The proposal." proposal: QueuedProposal }
    "A commit, staged: merge it to enter the new epoch." Commit { "The staged commit." staged_commit: StagedCommit }
    "This member's own pending commit, echoed back in plaintext." OwnPendingCommit {}
    "This member's own encrypted message, echoed back (it cannot decrypt its own)." OwnPrivateMessage {}
}

pub(crate) fn processed_to_js(p: Processed) -> napi::Result<NativeProcessedMessage> {
    let group_id = Uint8Array::new(p.group_id);
    let epoch = BigInt::from(p.epoch);
    let sender = p.sender.into();
    let authenticated_data = Uint8Array::new(p.aad);
    let credential = p.credential.into();
    Ok(match p.content {
        ProcessedContent::Application(data) => {
            NativeProcessedMessage::Application { group_id, epoch, sender, authenticated_data, credential, data: Uint8Array::new(data) }
        }
        ProcessedContent::Proposal(handle) => {
            let proposal = QueuedProposal { inner: Arc::new(handle) };
            NativeProcessedMessage::Proposal { group_id, epoch, sender, authenticated_data, credential, proposal }
        }
        ProcessedContent::ExternalJoinProposal(handle) => {
            let proposal = QueuedProposal { inner: Arc::new(handle) };
            NativeProcessedMessage::ExternalJoinProposal { group_id, epoch, sender, authenticated_data, credential, proposal }
        }
        ProcessedContent::Commit(handle) => {
            let staged_commit = StagedCommit { inner: Arc::new(handle) };
            NativeProcessedMessage::Commit { group_id, epoch, sender, authenticated_data, credential, staged_commit }
        }
        ProcessedContent::OwnPendingCommit => {
            NativeProcessedMessage::OwnPendingCommit { group_id, epoch, sender, authenticated_data, credential }
        }
        ProcessedContent::OwnPrivateMessage => {
            NativeProcessedMessage::OwnPrivateMessage { group_id, epoch, sender, authenticated_data, credential }
        }
    })
}

/// A processed message as `processMessage` and `processMessageSync` hand it to JavaScript: an
/// application message as one byte array ([`packed`]), a commit as that byte array (without data)
/// beside its staged commit's handle, anything else (and any message whose sender has an X.509
/// credential, whose chain is split into certificates here) as the processed-message union. The
/// wrapper reads all three into the same objects. A commit's message in a group of 100 took about
/// 20 µs to build as objects of named properties (sender, credential, …); packed, one array.
pub type ProcessedForJs = Either3<Concat, PackedCommit, NativeProcessedMessage>;

/// A commit's packed fields and its staged commit, as a two-element array.
pub struct PackedCommit(Concat, StagedCommit);

impl TypeName for PackedCommit {
    fn type_name() -> &'static str {
        "[Uint8Array, StagedCommit]"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for PackedCommit {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        unsafe { ToNapiValue::to_napi_value(env, (value.0, value.1)) }
    }
}

/// [`ProcessedForJs`] of a processed message.
pub(crate) fn processed_for_js(p: Processed) -> napi::Result<ProcessedForJs> {
    // X.509 chains are split into certificates natively: those take the general form.
    if p.credential.credential_type == openmls_node_core::identity::credential_type::X509 {
        return processed_to_js(p).map(Either3::C);
    }
    let Processed { group_id, epoch, sender, aad, credential, content } = p;
    let fields = |data: Vec<u8>| packed(data, &group_id, epoch, &sender, &aad, &credential);
    match content {
        ProcessedContent::Application(data) => Ok(Either3::A(fields(data))),
        ProcessedContent::Commit(handle) => Ok(Either3::B(PackedCommit(fields(Vec::new()), StagedCommit { inner: Arc::new(handle) }))),
        content => processed_to_js(Processed { group_id, epoch, sender, aad, credential, content }).map(Either3::C),
    }
}

/// The fields of a processed message as one byte array (the wrapper's `readPacked`): the
/// application data (empty for a commit) first, then the group id, the AAD and the credential's
/// serialized content, then a 31-byte trailer, little-endian: sender kind u8 (0 member, 1
/// external, 2 new member proposal, 3 new member commit), sender index u32, epoch u64, credential
/// type u16, and the lengths (u32) of the four fields in that order. Each part is copied once into
/// V8's buffer ([`Concat`]: a 10 KiB plaintext is not grown to append the rest).
fn packed(data: Vec<u8>, group_id: &[u8], epoch: u64, sender: &SenderInfo, aad: &[u8], credential: &CredentialInfo) -> Concat {
    let (kind, index) = match *sender {
        SenderInfo::Member(i) => (0u8, i),
        SenderInfo::External(i) => (1, i),
        SenderInfo::NewMemberProposal => (2, 0),
        SenderInfo::NewMemberCommit => (3, 0),
    };
    let content = &credential.serialized_content;
    let lengths = [data.len(), group_id.len(), aad.len(), content.len()];
    let mut tail = Vec::with_capacity(group_id.len() + aad.len() + content.len() + 31);
    tail.extend_from_slice(group_id);
    tail.extend_from_slice(aad);
    tail.extend_from_slice(content);
    tail.push(kind);
    tail.extend_from_slice(&index.to_le_bytes());
    tail.extend_from_slice(&epoch.to_le_bytes());
    tail.extend_from_slice(&credential.credential_type.to_le_bytes());
    for len in lengths {
        tail.extend_from_slice(&(len as u32).to_le_bytes());
    }
    Concat(data, tail)
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

pub(super) fn processed_batch_to_js(items: Vec<openmls_node_core::Result<Processed>>) -> napi::Result<Vec<NativeProcessedBatchItem>> {
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
    /// staged without using up its key, for the application's credential check. An application
    /// message or a commit comes back packed (see `ProcessedForJs`), anything else as the union.
    #[napi(ts_return_type = "Promise<Uint8Array | [Uint8Array, StagedCommit] | NativeProcessedMessage>")]
    pub fn process_message(
        &self,
        message: Uint8Array,
        review_commits: Option<bool>,
        signal: Option<AbortSignal>,
    ) -> AsyncTask<Job<Processed, ProcessedForJs>> {
        let bytes = message.to_vec();
        let review = review_commits.unwrap_or(false);
        group_task(&self.inner, signal, move |g| process(g, &bytes, review), processed_for_js)
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

    /// Processes a received message, on the calling thread. An application message or a commit
    /// comes back packed (see `ProcessedForJs`), anything else as the processed-message union.
    #[napi(ts_return_type = "Uint8Array | [Uint8Array, StagedCommit] | NativeProcessedMessage")]
    pub fn process_message_sync(&self, message: &[u8], review_commits: Option<bool>) -> Result<ProcessedForJs> {
        run(|| process(&self.inner, message, review_commits.unwrap_or(false))).and_then(|p| processed_for_js(p).map_err(from_napi))
    }
}
