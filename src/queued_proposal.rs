//! `QueuedProposal`: a received proposal, waiting to be stored in the proposal queue.

use std::sync::Arc;

use crate::bytes::Uint8Array;
use napi_derive::napi;
use openmls_node_core::processed::QueuedProposalHandle;

use crate::error::Result;
use crate::types::Sender;

/// A received proposal. Store it with `MlsGroup.storePendingProposal` so a later commit covers it.
#[napi]
pub struct QueuedProposal {
    pub(crate) inner: Arc<QueuedProposalHandle>,
}

#[napi]
impl QueuedProposal {
    /// The proposal type code point (1 = add, 2 = update, 3 = remove, ...).
    #[napi(getter)]
    pub fn proposal_type(&self) -> u32 {
        self.inner.proposal_type as u32
    }

    /// The proposal reference.
    #[napi(getter)]
    pub fn proposal_ref(&self) -> Uint8Array {
        Uint8Array::new(self.inner.proposal_ref.clone())
    }

    /// The proposal's content.
    #[napi]
    pub fn info(&self) -> Result<crate::proposal_types::NativeQueuedProposalInfo> {
        crate::error::run(|| self.inner.info()).map(Into::into)
    }

    /// Who proposed it.
    #[napi(getter)]
    pub fn sender(&self) -> Sender {
        self.inner.sender.clone().into()
    }
}
