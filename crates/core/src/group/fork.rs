//! Fork resolution (openmls's `fork-resolution` feature, the book's "Fork Resolution"): when
//! members merged different commits, either re-add the members of the other partition, or reboot
//! into a new group that carries the old one's extensions and members over.

use std::sync::Arc;

use openmls::prelude::*;

use super::{CommitOutput, Group, MemberInfo};
use crate::error::{Error, ErrorCode, Result};
use crate::extensions::{self, ExtensionSpec};

impl Group {
    /// The members outside `own_partition` (this member's side of the fork), whom a re-add replaces.
    pub fn fork_complement(&self, own_partition: &[u32]) -> Result<Vec<MemberInfo>> {
        self.tx(|_| {
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let partition = self.partition(&group, own_partition)?;
            let builder = group.recover_fork_by_readding(&partition).map_err(|e| Error::new(ErrorCode::UnknownMember, e.to_string()))?;
            Ok(builder.complement_partition().iter().map(MemberInfo::from).collect())
        })
    }

    /// Re-adds the members outside `own_partition` with fresh key packages, in one commit (pending
    /// until merged). The re-added members join from the Welcome.
    pub fn recover_fork_by_readding(&self, own_partition: &[u32], key_packages: Vec<KeyPackage>) -> Result<CommitOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let partition = self.partition(&group, own_partition)?;
            let provider = tx;
            let builder = group.recover_fork_by_readding(&partition).map_err(|e| Error::new(ErrorCode::UnknownMember, e.to_string()))?;
            if builder.complement_partition().len() != key_packages.len() {
                return Err(Error::invalid_argument(format!(
                    "{} member(s) to re-add, but {} key package(s) given",
                    builder.complement_partition().len(),
                    key_packages.len()
                )));
            }
            let bundle = builder
                .provide_key_packages(key_packages)
                .load_psks(provider.storage())
                .map_err(|e| crate::error::typed(e, ErrorCode::PskNotFound))?
                .build(provider.rand(), provider.crypto(), signer.as_ref(), |_| true)
                .map_err(|e| crate::error::typed(e, ErrorCode::ValidationFailed))?
                .stage_commit(provider)
                .map_err(|e| crate::error::typed(e, ErrorCode::Storage))?;
            let (commit, welcome, group_info) = bundle.into_messages();
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// Reboots into a new group with `new_group_id`: this member creates it with the old group's
    /// configuration and extensions (or `extensions`, when given) and invites `key_packages`.
    /// The new group's commit is pending until merged.
    pub fn reboot(
        &self,
        new_group_id: &[u8],
        extensions: Option<&[ExtensionSpec]>,
        key_packages: Vec<KeyPackage>,
    ) -> Result<(Arc<Group>, CommitOutput)> {
        self.tx(|tx| {
            if new_group_id.is_empty() {
                return Err(Error::invalid_argument("the new group id must not be empty"));
            }
            let signer = self.signer()?;
            let group = self.lock()?;
            Self::operational(&group)?;
            let own = group.own_leaf_node().ok_or_else(|| Error::new(ErrorCode::GroupInactive, "this member has no leaf"))?;
            let credential_with_key = CredentialWithKey::from(own);
            let builder = group.reboot(GroupId::from_slice(new_group_id));
            let extensions = match extensions {
                Some(specs) => extensions::group_context_extensions(specs)?,
                None => builder.old_group_context_extensions().clone(),
            };
            let mut members = vec![(group.own_leaf_index().u32(), own.capabilities().clone())];
            members.extend(key_packages.iter().map(|kp| (u32::MAX, kp.leaf_node().capabilities().clone())));
            extensions::check_group_context_extensions(&extensions, members.iter().map(|(i, c)| (*i, c)))?;
            let (new_group, bundle) = builder
                .finish(extensions, key_packages, |b| b, tx, signer.as_ref(), credential_with_key)
                // openmls keeps RebootError's module private, so its variants cannot be matched;
                // the extensions were checked above, and a storage fault was recorded by the
                // store, which makes the transaction fail with its code.
                .map_err(|e| crate::error::with_code(ErrorCode::ValidationFailed, e))?;
            let (commit, welcome, group_info) = bundle.into_messages();
            let output = CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())?;
            Ok((Group::from_parts(self.provider.clone(), Arc::clone(&signer), new_group)?, output))
        })
    }

    fn partition(&self, group: &MlsGroup, own_partition: &[u32]) -> Result<Vec<LeafNodeIndex>> {
        let own = group.own_leaf_index().u32();
        if !own_partition.contains(&own) {
            return Err(Error::invalid_argument("the own partition must contain this member's leaf index"));
        }
        own_partition
            .iter()
            .map(|&i| {
                group
                    .member_at(LeafNodeIndex::new(i))
                    .map(|_| LeafNodeIndex::new(i))
                    .ok_or_else(|| Error::new(ErrorCode::UnknownMember, format!("no member at leaf index {i}")))
            })
            .collect()
    }
}
