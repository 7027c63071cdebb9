//! The two-phase join (the book's "Examining a welcome message"): a [`PendingWelcome`] shows the
//! unverified GroupInfo and PSKs; staging it verifies everything and shows the sender, members and
//! group context; only then does the application turn it into a group, or drop it.

use std::sync::{Arc, Mutex};

use crate::signer::SignatureKeyPair;
use openmls::prelude::*;
use openmls_traits::storage::StorageProvider as _;

use crate::codec;
use crate::config::JoinConfigSpec;
use crate::error::{Error, ErrorCode, Result};
use crate::extensions::{self, ExtensionSpec};
use crate::group::{Group, MemberInfo};
use crate::identity::CredentialInfo;
use crate::processed::GroupContextInfo;
use crate::provider::{Provider, Tx};
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
///
/// Nothing is used up until the group exists: decrypting and staging run in transactions that
/// are rolled back, so the key package stays stored (and usable for a retry) until
/// [`StagedWelcomeHandle::into_group`] consumes it in the transaction that stores the group.
pub struct PendingWelcome {
    provider: Arc<Provider>,
    signer: Arc<SignatureKeyPair>,
    config: JoinConfigSpec,
    join_config: MlsGroupJoinConfig,
    /// The Welcome, to decrypt again when a staging attempt used up the decrypted one.
    welcome: Welcome,
    processed: Mutex<Option<ProcessedWelcome>>,
    key_package: Option<(KeyPackageRef, KeyPackageBundle)>,
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
        let (processed, key_package) = decrypt(&provider, &join_config, &welcome)?;
        let group_info = processed.unverified_group_info();
        let info = WelcomeInfo {
            ciphersuite: u16::from(group_info.ciphersuite()),
            group_id: group_info.group_id().as_slice().to_vec(),
            epoch: group_info.epoch().as_u64(),
            extensions: extensions::describe(group_info.extensions().iter()),
            has_ratchet_tree: group_info.extensions().ratchet_tree().is_some(),
            psks: processed.psks().iter().map(psk::describe).collect(),
        };
        Ok(Self { provider, signer, config, join_config, welcome, processed: Mutex::new(Some(processed)), key_package, info })
    }

    /// The unverified GroupInfo and the PSKs.
    pub fn info(&self) -> &WelcomeInfo {
        &self.info
    }

    /// Verifies the Welcome against the ratchet tree (from the Welcome or given) and stages it.
    /// It can be called again, after a failure (with the ratchet tree it lacked, say) or to stage
    /// it once more; nothing is used up until a staged Welcome becomes a group.
    pub fn stage(
        &self,
        ratchet_tree: Option<&[u8]>,
        skip_lifetime_validation: bool,
        replace_old_group: bool,
    ) -> Result<StagedWelcomeHandle> {
        let earlier = self.processed.lock().map_err(|_| Error::internal("welcome lock poisoned"))?.take();
        let processed = match earlier {
            Some(p) => p,
            // An earlier attempt used up the decrypted Welcome: decrypt it again.
            None => decrypt(&self.provider, &self.join_config, &self.welcome)?.0,
        };
        let staged = self.provider.transaction(|tx| {
            let mut builder = openmls::group::JoinBuilder::new(tx, processed);
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
            Ok((staged, false))
        })?;
        let sender = staged.welcome_sender().map_err(Error::from)?;
        let info = StagedWelcomeInfo {
            welcome_sender: MemberInfo {
                index: staged.welcome_sender_index().u32(),
                credential: CredentialInfo::from(sender.credential()),
                signature_key: sender.signature_key().as_slice().to_vec(),
                encryption_key: codec::vl_content(sender.encryption_key()).unwrap_or_default(),
            },
            own_leaf_index: staged.own_leaf_index().u32(),
            members: staged.members().map(MemberInfo::from).collect(),
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
            key_package: self.key_package.clone(),
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
    /// The key package the Welcome is for, consumed (unless last resort) when the group is stored.
    key_package: Option<(KeyPackageRef, KeyPackageBundle)>,
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

    /// Accepts the Welcome: the group is stored and returned, and the key package is consumed
    /// (kept if it is last resort), in one transaction.
    pub fn into_group(&self) -> Result<Arc<Group>> {
        let staged = self
            .staged
            .lock()
            .map_err(|_| Error::internal("welcome lock poisoned"))?
            .take()
            .ok_or_else(|| Error::new(ErrorCode::WelcomeUsed, "this Welcome was already turned into a group"))?;
        let group = self.provider.atomically(|tx| {
            if let Some((hash_ref, bundle)) = &self.key_package {
                if !bundle.key_package().last_resort() {
                    tx.storage().delete_key_package(hash_ref).map_err(|e| crate::storage::store_error(&e))?;
                }
            }
            let mut group = staged.into_group(tx)?;
            let config = self.config.to_openmls(Some(group.configuration()))?;
            group.set_configuration(tx.storage(), &config).map_err(|e| crate::storage::store_error(&e))?;
            crate::registry::register_group(tx, group.group_id(), &self.signer)?;
            Ok(group)
        })?;
        Group::from_parts(self.provider.clone(), self.signer.clone(), group)
    }
}

/// Decrypts a Welcome (`ProcessedWelcome::new_from_welcome`) in a transaction that is rolled
/// back, so the key package it is for stays stored. Returns that key package too.
fn decrypt(
    provider: &Provider,
    join_config: &MlsGroupJoinConfig,
    welcome: &Welcome,
) -> Result<(ProcessedWelcome, Option<(KeyPackageRef, KeyPackageBundle)>)> {
    provider.transaction(|tx| {
        let key_package = find_key_package(tx, welcome)?;
        let processed = ProcessedWelcome::new_from_welcome(tx, join_config, welcome.clone())?;
        Ok(((processed, key_package), false))
    })
}

/// Finds the stored key package bundle a Welcome is for, so it can be put back if joining fails.
fn find_key_package(tx: &Tx<'_>, welcome: &Welcome) -> Result<Option<(KeyPackageRef, KeyPackageBundle)>> {
    for secrets in welcome.secrets() {
        let hash_ref = secrets.new_member();
        let bundle: Option<KeyPackageBundle> = tx.storage().key_package(&hash_ref).map_err(|e| crate::storage::store_error(&e))?;
        if let Some(bundle) = bundle {
            return Ok(Some((hash_ref, bundle)));
        }
    }
    Ok(None)
}
