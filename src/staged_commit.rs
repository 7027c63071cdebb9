//! `StagedCommit`: a received commit, validated and waiting to be merged.

use std::sync::Arc;

use napi_derive::napi;
use openmls_node_core::processed::StagedCommitHandle;

use crate::error::{run, Result};
use crate::types::NativeStagedCommitInfo;

/// A staged commit. Inspect it, then merge it with `MlsGroup.mergeStagedCommit`.
#[napi]
pub struct StagedCommit {
    pub(crate) inner: Arc<StagedCommitHandle>,
}

#[napi]
impl StagedCommit {
    /// Describes what the commit does.
    #[napi]
    pub fn info(&self) -> Result<NativeStagedCommitInfo> {
        run(|| self.inner.view()).map(Into::into)
    }
}
