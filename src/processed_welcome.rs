//! `ProcessedWelcome`: a decrypted Welcome whose GroupInfo is not verified yet.

use std::sync::Arc;

use crate::bytes::Uint8Array;
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;
use openmls_node_core::welcome::PendingWelcome;

use crate::config_types::{join_config_spec, native_extensions, Extension, MlsGroupJoinConfig};
use crate::error::{run, Result};
use crate::proposal_types::PreSharedKeyId;
use crate::provider::Provider;
use crate::signature_key_pair::SignatureKeyPair;
use crate::staged_welcome::StagedWelcome;

/// The unverified GroupInfo of a Welcome.
#[napi(object)]
pub struct NativeWelcomeInfo {
    /// The ciphersuite.
    pub ciphersuite: u32,
    /// The group id (unverified).
    pub group_id: Uint8Array,
    /// The epoch (unverified).
    pub epoch: BigInt,
    /// The GroupInfo extensions.
    pub extensions: Vec<Extension>,
    /// Whether the GroupInfo carries the ratchet tree.
    pub has_ratchet_tree: bool,
    /// The PSKs the Welcome needs.
    pub psks: Vec<PreSharedKeyId>,
}

/// A decrypted Welcome (openmls `ProcessedWelcome`): inspect it, then stage it.
#[napi]
pub struct ProcessedWelcome {
    inner: Arc<PendingWelcome>,
}

#[napi]
impl ProcessedWelcome {
    /// Decrypts a Welcome with a key package held by `provider`, signed by `signer`.
    #[napi(factory)]
    pub fn new_from_welcome(
        provider: &Provider,
        signer: &SignatureKeyPair,
        welcome: Uint8Array,
        config: Option<MlsGroupJoinConfig>,
    ) -> Result<Self> {
        let config = config.as_ref().map(join_config_spec).unwrap_or_default();
        run(|| PendingWelcome::new(provider.inner.clone(), signer.inner.clone(), &welcome, config)).map(|w| Self { inner: Arc::new(w) })
    }

    /// The unverified GroupInfo and PSKs.
    #[napi]
    pub fn info(&self) -> NativeWelcomeInfo {
        let i = self.inner.info().clone();
        NativeWelcomeInfo {
            ciphersuite: i.ciphersuite as u32,
            group_id: Uint8Array::new(i.group_id),
            epoch: BigInt::from(i.epoch),
            extensions: native_extensions(i.extensions),
            has_ratchet_tree: i.has_ratchet_tree,
            psks: i.psks.into_iter().map(Into::into).collect(),
        }
    }

    /// Verifies and stages the Welcome.
    // The book's name; a napi method cannot consume its JavaScript object.
    #[allow(clippy::wrong_self_convention)]
    #[napi]
    pub fn into_staged_welcome(
        &self,
        ratchet_tree: Option<Uint8Array>,
        skip_lifetime_validation: Option<bool>,
        replace_old_group: Option<bool>,
    ) -> Result<StagedWelcome> {
        run(|| self.inner.stage(ratchet_tree.as_deref(), skip_lifetime_validation.unwrap_or(false), replace_old_group.unwrap_or(false)))
            .map(|s| StagedWelcome { inner: Arc::new(s) })
    }
}
