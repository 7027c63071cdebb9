//! The two-phase join (the book's "Examining a welcome message"): a [`PendingWelcome`] shows the
//! unverified GroupInfo and PSKs; staging it verifies everything and shows the sender, members and
//! group context; only then does the application turn it into a group, or drop it.

use std::sync::{Arc, Mutex};

use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::storage::StorageProvider as _;

use crate::codec;
use crate::config::JoinConfigSpec;
use crate::error::{Error, ErrorCode, Result};
use crate::extensions::{self, ExtensionSpec};
use crate::group::{Group, MemberInfo};
use crate::identity::CredentialInfo;
use crate::processed::GroupContextInfo;
use crate::provider::Provider;
use crate::psk::{self, PskIdInfo};

/// What a Welcome shows before it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeInfo {
    /// The ciphersuite.
    pub ciphersuite: u16,
    /// The group id (unverified).
    pub group_id: Vec<u8>,
    /// The epoch (unverified).
    pub epoch: u64,
    /// The GroupInfo extensions (unverified): ratchet tree, external pub, ...
    pub extensions: Vec<ExtensionSpec>,
    /// Whether the GroupInfo carries the ratchet tree.
    pub has_ratchet_tree: bool,
    /// The PSKs the Welcome needs.
    pub psks: Vec<PskIdInfo>,
}

/// A decrypted, not yet verified Welcome.
pub struct PendingWelcome {
    provider: Arc<Provider>,
    signer: Arc<SignatureKeyPair>,
    config: JoinConfigSpec,
    processed: Mutex<Option<ProcessedWelcome>>,
    consumed: Option<(KeyPackageRef, KeyPackageBundle)>,
    info: WelcomeInfo,
}

impl std::fmt::Debug for PendingWelcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingWelcome").field("info", &self.info).finish_non_exhaustive()
    }
}

impl PendingWelcome {
    /// Decrypts a Welcome with a key package this provider holds (`ProcessedWelcome::new_from_welcome`).
    pub fn new(provider: Arc<Provider>, signer: Arc<SignatureKeyPair>, welcome: &[u8], config: JoinConfigSpec) -> Result<Self> {
        let welcome = codec::decode_welcome(welcome)?;
        let join_config = config.to_openmls(None)?;
        // One transaction: a Welcome that fails to decrypt consumes nothing.
        let (processed, consumed) = provider.atomically(|| {
            let consumed = find_key_package(&provider, &welcome)?;
            let processed = ProcessedWelcome::new_from_welcome(provider.as_ref(), &join_config, welcome)?;
            Ok((processed, consumed))
        })?;
        let group_info = processed.unverified_group_info();
        let info = WelcomeInfo {
            ciphersuite: u16::from(group_info.ciphersuite()),
            group_id: group_info.group_id().as_slice().to_vec(),
            epoch: group_info.epoch().as_u64(),
            extensions: extensions::describe(group_info.extensions().iter()),
            has_ratchet_tree: group_info.extensions().ratchet_tree().is_some(),
            psks: processed.psks().iter().map(psk::describe).collect(),
        };
        Ok(Self { provider, signer, config, processed: Mutex::new(Some(processed)), consumed, info })
    }

    /// The unverified GroupInfo and the PSKs.
    pub fn info(&self) -> &WelcomeInfo {
        &self.info
    }

    /// Verifies the Welcome against the ratchet tree (from the Welcome or given) and stages it.
    /// If staging fails, the key package is put back so the application can retry.
    pub fn stage(&self, ratchet_tree: Option<&[u8]>, skip_lifetime_validation: bool, replace_old_group: bool) -> Result<StagedWelcomeHandle> {
        let processed = self
            .processed
            .lock()
            .map_err(|_| Error::internal("welcome lock poisoned"))?
            .take()
            .ok_or_else(|| Error::new(ErrorCode::StaleStagedCommit, "this welcome was already staged"))?;
        let staged = self.provider.atomically(|| {
            let mut builder = openmls::group::JoinBuilder::new(self.provider.as_ref(), processed);
            if let Some(tree) = ratchet_tree {
                builder = builder.with_ratchet_tree(codec::decode_ratchet_tree(tree)?);
            }
            if skip_lifetime_validation {
                builder = builder.skip_lifetime_validation();
            }
            if replace_old_group {
                builder = builder.replace_old_group();
            }
            let staged = builder.build()?;
            let own_key = staged.own_leaf_node().map(|l| l.signature_key().as_slice().to_vec());
            if own_key.as_deref() != Some(self.signer.public()) {
                return Err(Error::invalid_argument("the signer does not match the key package this Welcome is for"));
            }
            Ok(staged)
        });
        let staged = match staged {
            Ok(s) => s,
            Err(e) => {
                // The key package was consumed when the Welcome was decrypted: put it back.
                let _ = self.provider.atomically(|| {
                    restore(&self.provider, &self.consumed);
                    Ok(())
                });
                return Err(e);
            }
        };
        let sender = staged.welcome_sender().map_err(Error::from)?;
        let info = StagedWelcomeInfo {
            welcome_sender: MemberInfo {
                index: staged.welcome_sender_index().u32(),
                credential: CredentialInfo::from(sender.credential()),
                signature_key: sender.signature_key().as_slice().to_vec(),
                encryption_key: codec::vl_content(sender.encryption_key()).unwrap_or_default(),
            },
            own_leaf_index: staged.own_leaf_index().u32(),
            members: staged.members().map(|m| MemberInfo::from(&m)).collect(),
            group_context: GroupContextInfo::from(staged.group_context()),
        };
        // Without an explicit choice, a joiner's Welcomes carry the tree when the one it got did.
        let mut config = self.config.clone();
        config.use_ratchet_tree_extension = config.use_ratchet_tree_extension.or(Some(ratchet_tree.is_none()));
        Ok(StagedWelcomeHandle {
            provider: self.provider.clone(),
            signer: self.signer.clone(),
            config,
            staged: Mutex::new(Some(staged)),
            info,
        })
    }
}

/// What a verified Welcome shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedWelcomeInfo {
    /// The member who sent the Welcome.
    pub welcome_sender: MemberInfo,
    /// This member's leaf index.
    pub own_leaf_index: u32,
    /// The members.
    pub members: Vec<MemberInfo>,
    /// The group context.
    pub group_context: GroupContextInfo,
}

/// A verified Welcome, waiting for the application to accept it.
pub struct StagedWelcomeHandle {
    provider: Arc<Provider>,
    signer: Arc<SignatureKeyPair>,
    config: JoinConfigSpec,
    staged: Mutex<Option<StagedWelcome>>,
    info: StagedWelcomeInfo,
}

impl std::fmt::Debug for StagedWelcomeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedWelcome").field("info", &self.info).finish_non_exhaustive()
    }
}

impl StagedWelcomeHandle {
    /// The sender, members and group context.
    pub fn info(&self) -> &StagedWelcomeInfo {
        &self.info
    }

    /// Accepts the Welcome: the group is stored and returned.
    pub fn into_group(&self) -> Result<Group> {
        let staged = self
            .staged
            .lock()
            .map_err(|_| Error::internal("welcome lock poisoned"))?
            .take()
            .ok_or_else(|| Error::new(ErrorCode::StaleStagedCommit, "this welcome was already turned into a group"))?;
        let group = self.provider.atomically(|| {
            let mut group = staged.into_group(self.provider.as_ref())?;
            let config = self.config.to_openmls(Some(group.configuration()))?;
            group
                .set_configuration(self.provider.storage(), &config)
                .map_err(|e| Error::new(ErrorCode::Storage, format!("{e:?}")))?;
            crate::registry::register_group(&self.provider, group.group_id(), &self.signer)?;
            Ok(group)
        })?;
        Ok(Group::from_parts(self.provider.clone(), self.signer.clone(), group))
    }
}

/// Finds the stored key package bundle a Welcome is for, so it can be put back if joining fails.
fn find_key_package(provider: &Provider, welcome: &Welcome) -> Result<Option<(KeyPackageRef, KeyPackageBundle)>> {
    for secrets in welcome.secrets() {
        let hash_ref = secrets.new_member();
        let bundle: Option<KeyPackageBundle> = provider
            .storage()
            .key_package(&hash_ref)
            .map_err(|e| Error::new(ErrorCode::Storage, format!("{e:?}")))?;
        if let Some(bundle) = bundle {
            return Ok(Some((hash_ref, bundle)));
        }
    }
    Ok(None)
}

fn restore(provider: &Provider, consumed: &Option<(KeyPackageRef, KeyPackageBundle)>) {
    if let Some((hash_ref, bundle)) = consumed {
        // Best effort: the original error is what the caller needs to see.
        let _ = provider.storage().write_key_package(hash_ref, bundle);
    }
}
