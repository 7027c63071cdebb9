//! Joining by external commit, GroupInfo export, and proposals from outside the group (a new
//! member's join proposal, or an external sender such as a delivery service).

use std::sync::Arc;

use crate::signer::SignatureKeyPair;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::*;

use crate::codec;
use crate::config::JoinConfigSpec;
use crate::error::{typed, Error, ErrorCode, Result};
use crate::extensions::{self, ExtensionSpec};
use crate::group::{CommitOutput, Group};
use crate::provider::{Provider, Tx};
use crate::psk::PskSpec;

/// Options of an external join (openmls's `ExternalCommitBuilder`).
#[derive(Debug, Clone, Default)]
pub struct ExternalJoinOptions {
    /// The ratchet tree, when the GroupInfo does not carry it.
    pub ratchet_tree: Option<Vec<u8>>,
    /// The joiner's runtime configuration.
    pub config: JoinConfigSpec,
    /// Additional authenticated data for the commit.
    pub aad: Option<Vec<u8>>,
    /// External PSKs to inject (every member must have stored them).
    pub psks: Vec<PskSpec>,
    /// SelfRemove proposals (encoded PublicMessages) to cover, e.g. of this client's old leaf.
    pub self_remove_proposals: Vec<Vec<u8>>,
    /// Accept leaves outside their lifetime.
    pub skip_lifetime_validation: bool,
}

/// Decodes a GroupInfo: an `MLSMessage` holding one, or a bare `GroupInfo`.
pub fn decode_group_info(bytes: &[u8]) -> Result<VerifiableGroupInfo> {
    match codec::decode_message(bytes) {
        Ok(message) => match message.extract() {
            MlsMessageBodyIn::GroupInfo(info) => Ok(info),
            _ => Err(Error::new(ErrorCode::WrongMessageType, "expected a GroupInfo message")),
        },
        Err(_) => VerifiableGroupInfo::tls_deserialize_exact_bytes(bytes).map_err(|e| Error::from(e).context("group info")),
    }
}

impl Group {
    /// Joins a group by external commit from its GroupInfo. The commit is already merged on this
    /// side; send it to the group. If the delivery service rejects it, delete the group.
    ///
    /// A member of the group whose signature key equals this signer's is replaced (resync of an
    /// old self).
    pub fn join_by_external_commit(
        provider: Arc<Provider>,
        signer: Arc<SignatureKeyPair>,
        credential_with_key: CredentialWithKey,
        group_info: &[u8],
        options: ExternalJoinOptions,
    ) -> Result<(Arc<Group>, CommitOutput)> {
        crate::identity::check_credential_key(&credential_with_key, &signer)?;
        let group_info = decode_group_info(group_info)?;
        let ciphersuite = provider.ciphersuite(u16::from(group_info.ciphersuite()))?;
        crate::key_package::check_signer_suite(&signer, ciphersuite)?;
        let mut proposals = Vec::new();
        for bytes in &options.self_remove_proposals {
            match codec::decode_message(bytes)?.extract() {
                MlsMessageBodyIn::PublicMessage(m) => proposals.push(m),
                _ => return Err(Error::new(ErrorCode::WrongMessageType, "SelfRemove proposals are PublicMessages")),
            }
        }
        let mut builder = MlsGroup::external_commit_builder().with_proposals(proposals).with_config(options.config.to_openmls(None)?);
        if let Some(tree) = &options.ratchet_tree {
            builder = builder.with_ratchet_tree(codec::decode_ratchet_tree(tree)?);
        }
        if let Some(aad) = &options.aad {
            builder = builder.with_aad(aad.clone());
        }
        if options.skip_lifetime_validation {
            builder = builder.skip_lifetime_validation();
        }
        provider.clone().atomically(|tx| {
            Self::external_join_in_tx(tx, provider, signer, credential_with_key, group_info, builder, &options, ciphersuite)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn external_join_in_tx(
        tx: &Tx<'_>,
        provider: Arc<Provider>,
        signer: Arc<SignatureKeyPair>,
        credential_with_key: CredentialWithKey,
        group_info: VerifiableGroupInfo,
        builder: openmls::group::ExternalCommitBuilder,
        options: &ExternalJoinOptions,
        ciphersuite: Ciphersuite,
    ) -> Result<(Arc<Group>, CommitOutput)> {
        let mut psks = Vec::new();
        for psk in &options.psks {
            if let PskSpec::External { psk_id } = psk {
                if !crate::psk::has_external_psk_in(tx, psk_id)? {
                    return Err(Error::new(ErrorCode::PskNotFound, "this external PSK is not stored"));
                }
            } else {
                return Err(Error::invalid_argument("an external commit can only inject external PSKs"));
            }
            psks.push(PreSharedKeyProposal::new(psk.to_openmls(&provider, ciphersuite)?));
        }
        let (group, bundle) = builder
            .build_group(tx, group_info, credential_with_key)
            .map_err(|e| match &e {
                ExternalCommitBuilderError::MissingRatchetTree => Error::new(ErrorCode::MissingRatchetTree, e.to_string()),
                ExternalCommitBuilderError::MissingExternalPub => Error::new(ErrorCode::InvalidWelcome, e.to_string()),
                ExternalCommitBuilderError::UnsupportedCiphersuite(_) => Error::new(ErrorCode::UnsupportedCiphersuite, e.to_string()),
                _ => typed(e, ErrorCode::ValidationFailed),
            })?
            .add_psk_proposals(psks)
            .load_psks(tx.storage())
            .map_err(|e| typed(e, ErrorCode::PskNotFound))?
            .build(tx.rand(), tx.crypto(), signer.as_ref(), |_| true)
            .map_err(|e| typed(e, ErrorCode::ValidationFailed))?
            .finalize(tx)
            .map_err(|e| typed(e, ErrorCode::Storage))?;
        crate::registry::register_group(tx, group.group_id(), &signer)?;
        let (commit, welcome, group_info) = bundle.into_messages();
        let output = CommitOutput {
            commit: codec::encode_message(&commit)?,
            welcome: welcome.as_ref().map(codec::encode_message).transpose()?,
            group_info: group_info.as_ref().map(codec::encode_message).transpose()?,
        };
        Ok((Group::from_parts(provider, signer, group)?, output))
    }

    /// Exports a signed GroupInfo (with the ExternalPub extension, for external joins), optionally
    /// carrying the ratchet tree.
    pub fn export_group_info(&self, with_ratchet_tree: bool) -> Result<Vec<u8>> {
        let signer = self.signer()?;
        let group = self.lock()?;
        Self::operational(&group)?;
        let message = group
            .export_group_info(self.provider.crypto(), signer.as_ref(), with_ratchet_tree)
            .map_err(|e| typed(e, ErrorCode::Internal))?;
        codec::encode_message(&message)
    }
}

/// A new member's proposal to join (`JoinProposal::new`), signed with the key package's signer.
/// The group's members see it as an `externalJoinProposal` and may commit it.
pub fn join_proposal(
    signer: &SignatureKeyPair,
    key_package: &KeyPackage,
    group_id: &[u8],
    epoch: u64,
) -> Result<crate::group::ProposalOutput> {
    if key_package.leaf_node().signature_key().as_slice() != signer.public() {
        return Err(Error::invalid_argument("the signer does not match the key package"));
    }
    let message = JoinProposal::new::<openmls_memory_storage::MemoryStorage>(
        key_package.clone(),
        GroupId::from_slice(group_id),
        GroupEpoch::from(epoch),
        signer,
    )
    .map_err(|e| typed(e, ErrorCode::ValidationFailed))?;
    let message = codec::encode_message(&message)?;
    let proposal_ref = proposal_ref_of_public_message(key_package.ciphersuite(), &message)?;
    Ok(crate::group::ProposalOutput { message, proposal_ref })
}

/// The proposal reference of a proposal sent as a PublicMessage by a non-member (RFC 9420 §5.2):
/// `RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent)`. Without a membership tag, the
/// AuthenticatedContent is the MLSMessage after its 2-byte protocol version.
fn proposal_ref_of_public_message(ciphersuite: Ciphersuite, message: &[u8]) -> Result<Vec<u8>> {
    use openmls_traits::crypto::OpenMlsCrypto as _;
    use tls_codec::Serialize as _;
    let content = message.get(2..).ok_or_else(|| Error::internal("the proposal message is too short"))?;
    let mut input = tls_codec::VLByteSlice(b"MLS 1.0 Proposal Reference").tls_serialize_detached()?;
    input.extend(tls_codec::VLByteSlice(content).tls_serialize_detached()?);
    openmls_rust_crypto::RustCrypto::default().hash(ciphersuite.hash_algorithm(), &input).map_err(Error::from)
}

/// What an external sender proposes.
// Made once per proposal and consumed at once: boxing the key package would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ExternalProposalSpec {
    /// Add a member.
    Add(KeyPackage),
    /// Remove the member at a leaf index.
    Remove(u32),
    /// Replace the group context extensions.
    GroupContextExtensions(Vec<ExtensionSpec>),
}

/// A proposal from an external sender listed at `sender_index` in the group's ExternalSenders
/// extension (`ExternalProposal::new_*`): a delivery service adding, removing or reconfiguring.
pub fn external_proposal(
    signer: &SignatureKeyPair,
    sender_index: u32,
    group_id: &[u8],
    epoch: u64,
    proposal: ExternalProposalSpec,
) -> Result<Vec<u8>> {
    // The storage type only names the error type of these calls; no storage is used.
    type P = Tx<'static>;
    let (group_id, epoch, index) = (GroupId::from_slice(group_id), GroupEpoch::from(epoch), SenderExtensionIndex::new(sender_index));
    let message = match proposal {
        ExternalProposalSpec::Add(kp) => {
            ExternalProposal::new_add::<P>(kp, group_id, epoch, signer, index).map_err(|e| typed(e, ErrorCode::ValidationFailed))?
        }
        ExternalProposalSpec::Remove(leaf) => ExternalProposal::new_remove::<P>(LeafNodeIndex::new(leaf), group_id, epoch, signer, index)
            .map_err(|e| typed(e, ErrorCode::ValidationFailed))?,
        ExternalProposalSpec::GroupContextExtensions(specs) => ExternalProposal::new_group_context_extensions::<P>(
            extensions::group_context_extensions(&specs)?,
            group_id,
            epoch,
            signer,
            index,
        )
        .map_err(|e| typed(e, ErrorCode::InvalidExtension))?,
    };
    codec::encode_message(&message)
}
