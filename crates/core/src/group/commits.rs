//! Commits beyond the basic three: the commit builder with an application policy, committing to
//! pending proposals, group-context-extension updates, swaps, removal by credential, and
//! self-updates with new leaf parameters or a new signer.

use std::collections::HashSet;
use std::sync::Arc;

use crate::signer::SignatureKeyPair;
use openmls::prelude::*;

use super::{CommitOutput, Group, LeafNodeParamsSpec};
use crate::error::{typed, Error, ErrorCode, Result};
use crate::extensions::{self, ExtensionSpec};
use crate::identity::{self, CredentialInfo};
use crate::key_package::check_signer_suite;
use crate::processed::StagedCommitView;
use crate::psk::PskSpec;

/// What a commit built with [`Group::commit`] contains (openmls's `CommitBuilder`).
#[derive(Debug, Clone, Default)]
pub struct CommitSpec {
    /// Members to add, by value.
    pub adds: Vec<KeyPackage>,
    /// Members to remove, by leaf index, by value.
    pub removes: Vec<u32>,
    /// New group context extensions, by value.
    pub group_context_extensions: Option<Vec<ExtensionSpec>>,
    /// Custom proposals (type, payload), by value.
    pub custom_proposals: Vec<(u16, Vec<u8>)>,
    /// PSKs to inject, by value.
    pub psks: Vec<PskSpec>,
    /// Whether queued proposals are included (openmls default: yes).
    pub consume_proposal_store: bool,
    /// Whether to refresh this member's leaf even when no proposal needs it.
    pub force_self_update: bool,
    /// New leaf parameters for this member (implies an update path).
    pub leaf_node_parameters: Option<LeafNodeParamsSpec>,
    /// The references of the queued proposals the application's policy accepted. `None` accepts all.
    pub accepted_proposals: Option<Vec<Vec<u8>>>,
}

impl Group {
    /// Builds and stages a commit (pending until merged), the book's `commit_builder()`.
    pub fn commit(&self, spec: CommitSpec) -> Result<CommitOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            for index in &spec.removes {
                if group.member_at(LeafNodeIndex::new(*index)).is_none() {
                    return Err(Error::new(ErrorCode::UnknownMember, format!("no member at leaf index {index}")));
                }
            }
            for psk in &spec.psks {
                self.check_psk_available(tx, &group, psk)?;
            }
            let accepted: Option<HashSet<Vec<u8>>> = match &spec.accepted_proposals {
                None => None,
                Some(refs) => {
                    let queued: HashSet<Vec<u8>> =
                        group.pending_proposals().map(|p| p.proposal_reference_ref().as_slice().to_vec()).collect();
                    if let Some(unknown) = refs.iter().find(|r| !queued.contains(*r)) {
                        return Err(Error::new(ErrorCode::UnknownProposal, format!("no queued proposal has reference {}", hex(unknown))));
                    }
                    Some(refs.iter().cloned().collect())
                }
            };
            let leaf_params = spec.leaf_node_parameters.as_ref().map(|p| self.leaf_node_parameters_of(&group, p)).transpose()?;
            let ciphersuite = group.ciphersuite();
            let mut proposals = Vec::new();
            for (proposal_type, payload) in &spec.custom_proposals {
                proposals.push(Proposal::Custom(Box::new(CustomProposal::new(*proposal_type, payload.clone()))));
            }
            for psk in &spec.psks {
                proposals.push(Proposal::PreSharedKey(Box::new(PreSharedKeyProposal::new(psk.to_openmls(&self.provider, ciphersuite)?))));
            }
            let proposed_extensions = match &spec.group_context_extensions {
                Some(specs) => {
                    let proposed = extensions::group_context_extensions(specs)?;
                    let members = extensions::member_capabilities(&group);
                    extensions::check_group_context_extensions(&proposed, members.iter().map(|(i, c)| (*i, c)))?;
                    Some(proposed)
                }
                None => None,
            };
            let queued_refs: HashSet<Vec<u8>> = group.pending_proposals().map(|p| p.proposal_reference_ref().as_slice().to_vec()).collect();

            let mut builder = group
                .commit_builder()
                .consume_proposal_store(spec.consume_proposal_store)
                .force_self_update(spec.force_self_update)
                .propose_adds(spec.adds.iter().cloned())
                .propose_removals(spec.removes.iter().map(|&i| LeafNodeIndex::new(i)))
                .add_proposals(proposals);
            if let Some(proposed) = proposed_extensions {
                builder = builder.propose_group_context_extensions(proposed).map_err(|e| typed(e, ErrorCode::InvalidExtension))?;
            }
            if let Some(params) = leaf_params {
                builder = builder.leaf_node_parameters(params);
            }
            let bundle = builder
                .load_psks(tx.storage())
                .map_err(|e| typed(e, ErrorCode::PskNotFound))?
                .build(tx.rand(), self.provider.crypto(), signer.as_ref(), |p| {
                    let reference = p.proposal_reference_ref().as_slice();
                    // The builder's own by-value proposals are not in the queue: always included.
                    match &accepted {
                        Some(set) if queued_refs.contains(reference) => set.contains(reference),
                        _ => true,
                    }
                })
                .map_err(|e| typed(e, ErrorCode::ValidationFailed))?
                .stage_commit(tx)
                .map_err(|e| typed(e, ErrorCode::Storage))?;
            let (commit, welcome, group_info) = bundle.into_messages();
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// Commits to every queued proposal.
    pub fn commit_to_pending_proposals(&self) -> Result<CommitOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let (commit, welcome, group_info) =
                group.commit_to_pending_proposals(tx, signer.as_ref()).map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            let group_info = group_info.map(MlsMessageOut::from);
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// Replaces the group context extensions, as an immediate commit.
    pub fn update_group_context_extensions(&self, specs: &[ExtensionSpec]) -> Result<CommitOutput> {
        self.tx(|tx| {
            let extensions = extensions::group_context_extensions(specs)?;
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let members = extensions::member_capabilities(&group);
            extensions::check_group_context_extensions(&extensions, members.iter().map(|(i, c)| (*i, c)))?;
            let (commit, welcome, group_info) = group
                .update_group_context_extensions(tx, extensions, signer.as_ref())
                .map_err(|e| typed(e, ErrorCode::InvalidExtension))?;
            let group_info = group_info.map(MlsMessageOut::from);
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// Replaces members: removes `leaf_indices` and adds `key_packages`, one for one, in one commit.
    pub fn swap_members(&self, leaf_indices: &[u32], key_packages: &[KeyPackage]) -> Result<CommitOutput> {
        self.tx(|tx| {
            if leaf_indices.is_empty() || leaf_indices.len() != key_packages.len() {
                return Err(Error::invalid_argument("swapMembers needs as many key packages as leaf indices, at least one"));
            }
            for &index in leaf_indices {
                self.check_member(index)?;
            }
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let indices: Vec<LeafNodeIndex> = leaf_indices.iter().map(|&i| LeafNodeIndex::new(i)).collect();
            let messages =
                group.swap_members(tx, signer.as_ref(), &indices, key_packages).map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            CommitOutput::encode(&messages.commit, Some(&messages.welcome), messages.group_info.as_ref())
        })
    }

    /// Removes the members holding these credentials, as one commit.
    pub fn remove_members_by_credential(&self, credentials: &[CredentialInfo]) -> Result<CommitOutput> {
        // One operation: no other one on this group runs between the look-up and the commit.
        self.exclusive(|| {
            let indices = {
                let group = self.lock()?;
                credentials
                    .iter()
                    .map(|c| {
                        let credential = identity::credential_from_info(c)?;
                        group
                            .member_leaf_index(&credential)
                            .map(|i| i.u32())
                            .ok_or_else(|| Error::new(ErrorCode::UnknownMember, "no member has this credential"))
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            self.remove_members(&indices)
        })
    }

    /// Refreshes this member's leaf with new parameters (capabilities, extensions, credential), as a commit.
    pub fn self_update_with(&self, params: &LeafNodeParamsSpec) -> Result<CommitOutput> {
        self.tx(|tx| {
            let signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            let params = self.leaf_node_parameters_of(&group, params)?;
            let bundle = group.self_update(tx, signer.as_ref(), params).map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            let (commit, welcome, group_info) = bundle.into_messages();
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// Rotates this member's signature key: a commit signed with the old key whose new leaf carries
    /// `new_signer`'s key and `credential`. The group signs with the new key once the commit is merged.
    pub fn self_update_with_new_signer(
        &self,
        new_signer: Arc<SignatureKeyPair>,
        credential: &CredentialInfo,
        params: &LeafNodeParamsSpec,
    ) -> Result<CommitOutput> {
        self.tx(|tx| {
            let old_signer = self.signer()?;
            let mut group = self.lock()?;
            Self::operational(&group)?;
            check_signer_suite(&new_signer, group.ciphersuite())?;
            let credential_with_key =
                CredentialWithKey { credential: identity::credential_from_info(credential)?, signature_key: new_signer.public().into() };
            let mut params_spec = params.clone();
            params_spec.credential = Some(credential.clone());
            let leaf_params = self.leaf_node_parameters_for(&group, &params_spec, new_signer.public())?;
            let bundle = group
                .self_update_with_new_signer(
                    tx,
                    old_signer.as_ref(),
                    NewSignerBundle { signer: new_signer.as_ref(), credential_with_key },
                    leaf_params,
                )
                .map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
            *self.pending_signer.lock().map_err(|_| Error::internal("signer lock poisoned"))? = Some(new_signer);
            let (commit, welcome, group_info) = bundle.into_messages();
            CommitOutput::encode(&commit, welcome.as_ref(), group_info.as_ref())
        })
    }

    /// What this member's pending commit will do, if there is one.
    pub fn pending_commit(&self) -> Result<Option<StagedCommitView>> {
        self.read(
            |group| {
                Ok(group
                    .pending_commit()
                    .map(|staged| crate::processed::describe_staged_commit(staged, Some(group), self.provider.crypto())))
            },
            |v| v.pending_commit.as_ref().map(|(_, c)| c.as_ref().clone()),
        )
    }

    pub(super) fn leaf_node_parameters_of(&self, group: &MlsGroup, spec: &LeafNodeParamsSpec) -> Result<LeafNodeParameters> {
        let key = self.signer()?.public().to_vec();
        self.leaf_node_parameters_for(group, spec, &key)
    }

    /// Builds openmls leaf parameters. When extensions change but capabilities are not given, the
    /// current capabilities are kept and extended to cover the new extensions.
    pub(super) fn leaf_node_parameters_for(
        &self,
        group: &MlsGroup,
        spec: &LeafNodeParamsSpec,
        signature_key: &[u8],
    ) -> Result<LeafNodeParameters> {
        let mut builder = LeafNodeParameters::builder();
        let own = group.own_leaf_node().map(crate::leaf::LeafNodeInfo::from);
        let credential_type = spec
            .credential
            .as_ref()
            .map(|c| c.credential_type)
            .or(own.as_ref().map(|l| l.credential.credential_type))
            .unwrap_or(identity::credential_type::BASIC);
        if let Some(c) = &spec.credential {
            builder = builder.with_credential_with_key(CredentialWithKey {
                credential: identity::credential_from_info(c)?,
                signature_key: signature_key.into(),
            });
        }
        let extensions = spec.extensions.clone();
        if spec.capabilities.is_some() || extensions.is_some() || spec.credential.is_some() {
            let base = spec.capabilities.clone().or(own.as_ref().map(|l| l.capabilities.clone())).unwrap_or_default();
            let covered = base.covering(extensions.as_deref().unwrap_or(&[]), credential_type);
            builder = builder.with_capabilities(covered.to_openmls()?);
        }
        if let Some(specs) = &extensions {
            builder = builder.with_extensions(extensions::leaf_node_extensions(specs)?);
        }
        Ok(builder.build())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
