//! `StagedWelcome`: a verified Welcome, waiting for the application to accept it.

use std::sync::Arc;

use napi_derive::napi;
use openmls_node_core::welcome::StagedWelcomeHandle;

use crate::error::{run, Result};
use crate::mls_group::MlsGroup;
use crate::proposal_types::NativeGroupContext;
use crate::types::NativeMember;

/// A verified Welcome: who sent it, the members, and the group context.
#[napi(object)]
pub struct NativeStagedWelcomeInfo {
    /// The member who sent the Welcome.
    pub welcome_sender: NativeMember,
    /// This member's leaf index.
    pub own_leaf_index: u32,
    /// The members.
    pub members: Vec<NativeMember>,
    /// The group context.
    pub group_context: NativeGroupContext,
}

/// A verified Welcome (openmls `StagedWelcome`): accept it with `intoGroup`, or drop it.
#[napi]
pub struct StagedWelcome {
    pub(crate) inner: Arc<StagedWelcomeHandle>,
}

#[napi]
impl StagedWelcome {
    /// The sender, members and group context.
    #[napi]
    pub fn info(&self) -> NativeStagedWelcomeInfo {
        let i = self.inner.info().clone();
        NativeStagedWelcomeInfo {
            welcome_sender: i.welcome_sender.into(),
            own_leaf_index: i.own_leaf_index,
            members: i.members.into_iter().map(Into::into).collect(),
            group_context: i.group_context.into(),
        }
    }

    /// Accepts the Welcome and returns the group.
    // The book's name; a napi method cannot consume its JavaScript object.
    #[allow(clippy::wrong_self_convention)]
    #[napi]
    pub fn into_group(&self) -> Result<MlsGroup> {
        run(|| self.inner.into_group()).map(|inner| MlsGroup { inner })
    }
}
