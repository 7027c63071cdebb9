//! Extensions and capabilities as plain data, converted to and from openmls's types.
//!
//! Known extensions are built through openmls's own constructors, so their encoding is openmls's.
//! Unknown extensions carry a type id and opaque bytes. openmls checks where each type may appear;
//! a type that is not allowed in a context is [`ErrorCode::InvalidExtension`].

use openmls::prelude::*;
use tls_codec::{Deserialize as _, Serialize as _};

use crate::error::{Error, ErrorCode, Result};
use crate::identity::{self, CredentialInfo};

/// Extension type code points (RFC 9420 §17.3).
pub mod extension_type {
    /// application_id
    pub const APPLICATION_ID: u16 = 1;
    /// ratchet_tree
    pub const RATCHET_TREE: u16 = 2;
    /// required_capabilities
    pub const REQUIRED_CAPABILITIES: u16 = 3;
    /// external_pub
    pub const EXTERNAL_PUB: u16 = 4;
    /// external_senders
    pub const EXTERNAL_SENDERS: u16 = 5;
    /// last_resort (RFC 9420 extensions draft, 0x000a)
    pub const LAST_RESORT: u16 = 10;
}

/// An external sender: a signature key and credential allowed to send proposals to the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSenderSpec {
    /// The sender's signature public key.
    pub signature_key: Vec<u8>,
    /// The sender's credential.
    pub credential: CredentialInfo,
}

/// One extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionSpec {
    /// ApplicationId: an application-defined identifier of the leaf.
    ApplicationId(Vec<u8>),
    /// RatchetTree: read-only here; its TLS-encoded content.
    RatchetTree(Vec<u8>),
    /// RequiredCapabilities: what every member must support.
    RequiredCapabilities {
        /// Extension types.
        extension_types: Vec<u16>,
        /// Proposal types.
        proposal_types: Vec<u16>,
        /// Credential types.
        credential_types: Vec<u16>,
    },
    /// ExternalPub: the HPKE public key for external commits.
    ExternalPub(Vec<u8>),
    /// ExternalSenders: who may send external proposals.
    ExternalSenders(Vec<ExternalSenderSpec>),
    /// LastResort: marks a key package that may be used more than once.
    LastResort,
    /// Any other extension: its type id and content bytes.
    Unknown(u16, Vec<u8>),
}

impl ExtensionSpec {
    /// The extension's type code point.
    pub fn extension_type(&self) -> u16 {
        use extension_type::*;
        match self {
            ExtensionSpec::ApplicationId(_) => APPLICATION_ID,
            ExtensionSpec::RatchetTree(_) => RATCHET_TREE,
            ExtensionSpec::RequiredCapabilities { .. } => REQUIRED_CAPABILITIES,
            ExtensionSpec::ExternalPub(_) => EXTERNAL_PUB,
            ExtensionSpec::ExternalSenders(_) => EXTERNAL_SENDERS,
            ExtensionSpec::LastResort => LAST_RESORT,
            ExtensionSpec::Unknown(t, _) => *t,
        }
    }

    /// Builds the openmls extension.
    pub fn to_openmls(&self) -> Result<Extension> {
        Ok(match self {
            ExtensionSpec::ApplicationId(id) => Extension::ApplicationId(ApplicationIdExtension::new(id)),
            ExtensionSpec::RatchetTree(_) => {
                return Err(Error::new(
                    ErrorCode::InvalidExtension,
                    "the ratchet_tree extension is managed by openmls (useRatchetTreeExtension)",
                ))
            }
            ExtensionSpec::RequiredCapabilities { extension_types, proposal_types, credential_types } => {
                Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
                    &extension_types.iter().map(|&t| ExtensionType::from(t)).collect::<Vec<_>>(),
                    &proposal_types.iter().map(|&t| ProposalType::from(t)).collect::<Vec<_>>(),
                    &credential_types.iter().map(|&t| CredentialType::from(t)).collect::<Vec<_>>(),
                ))
            }
            ExtensionSpec::ExternalPub(key) => Extension::ExternalPub(ExternalPubExtension::new(key.clone().into())),
            ExtensionSpec::ExternalSenders(senders) => Extension::ExternalSenders(
                senders
                    .iter()
                    .map(|s| Ok(ExternalSender::new(s.signature_key.clone().into(), identity::credential_from_info(&s.credential)?)))
                    .collect::<Result<Vec<_>>>()?,
            ),
            ExtensionSpec::LastResort => Extension::LastResort(LastResortExtension::new()),
            ExtensionSpec::Unknown(t, data) => {
                if is_known(*t) {
                    return Err(Error::new(
                        ErrorCode::InvalidExtension,
                        format!("extension type {t} is a known type; use its own form, not 'unknown'"),
                    ));
                }
                Extension::Unknown(*t, UnknownExtension(data.clone()))
            }
        })
    }

    /// Describes an openmls extension.
    pub fn from_openmls(extension: &Extension) -> Self {
        match extension {
            Extension::ApplicationId(e) => ExtensionSpec::ApplicationId(e.as_slice().to_vec()),
            Extension::RatchetTree(e) => ExtensionSpec::RatchetTree(raw_content(extension).unwrap_or_else(|| {
                let _ = e;
                Vec::new()
            })),
            Extension::RequiredCapabilities(e) => ExtensionSpec::RequiredCapabilities {
                extension_types: e.extension_types().iter().map(|&t| u16::from(t)).collect(),
                proposal_types: e.proposal_types().iter().map(|&t| u16::from(t)).collect(),
                credential_types: e.credential_types().iter().map(|&t| u16::from(t)).collect(),
            },
            Extension::ExternalPub(e) => ExtensionSpec::ExternalPub(e.external_pub().as_slice().to_vec()),
            Extension::ExternalSenders(senders) => {
                ExtensionSpec::ExternalSenders(senders.iter().filter_map(external_sender_spec).collect())
            }
            Extension::LastResort(_) => ExtensionSpec::LastResort,
            Extension::Unknown(t, data) => ExtensionSpec::Unknown(*t, data.0.clone()),
        }
    }
}

/// Reads an external sender through its encoding (`SignaturePublicKey signature_key; Credential
/// credential;`): openmls keeps the accessors crate-private.
fn external_sender_spec(sender: &ExternalSender) -> Option<ExternalSenderSpec> {
    let encoded = sender.tls_serialize_detached().ok()?;
    let (key, rest) = tls_codec::VLBytes::tls_deserialize_bytes(&encoded).ok()?;
    let credential = Credential::tls_deserialize_exact_bytes(rest).ok()?;
    Some(ExternalSenderSpec { signature_key: key.as_slice().to_vec(), credential: CredentialInfo::from(&credential) })
}

fn is_known(t: u16) -> bool {
    use extension_type::*;
    matches!(t, APPLICATION_ID | RATCHET_TREE | REQUIRED_CAPABILITIES | EXTERNAL_PUB | EXTERNAL_SENDERS | LAST_RESORT)
}

/// The `extension_data` bytes of an extension: its TLS encoding minus the type and length prefix.
fn raw_content(extension: &Extension) -> Option<Vec<u8>> {
    let encoded = extension.tls_serialize_detached().ok()?;
    let mut rest = encoded.get(2..)?;
    let content = tls_codec::VLBytes::tls_deserialize(&mut rest).ok()?;
    Some(content.as_slice().to_vec())
}

fn invalid_extension(err: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::InvalidExtension, err.to_string())
}

fn to_vec(specs: &[ExtensionSpec]) -> Result<Vec<Extension>> {
    specs.iter().map(ExtensionSpec::to_openmls).collect()
}

/// Extensions for a group context.
pub fn group_context_extensions(specs: &[ExtensionSpec]) -> Result<Extensions<GroupContext>> {
    Extensions::from_vec(to_vec(specs)?).map_err(invalid_extension)
}

/// Extensions for a key package.
pub fn key_package_extensions(specs: &[ExtensionSpec]) -> Result<Extensions<KeyPackage>> {
    Extensions::from_vec(to_vec(specs)?).map_err(invalid_extension)
}

/// Extensions for a leaf node.
pub fn leaf_node_extensions(specs: &[ExtensionSpec]) -> Result<Extensions<LeafNode>> {
    Extensions::from_vec(to_vec(specs)?).map_err(invalid_extension)
}

/// Describes a list of openmls extensions.
pub fn describe<'a>(extensions: impl Iterator<Item = &'a Extension>) -> Vec<ExtensionSpec> {
    extensions.map(ExtensionSpec::from_openmls).collect()
}

/// Leaf capabilities as plain data. `None` fields take openmls's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitiesSpec {
    /// Protocol versions (1 = MLS 1.0).
    pub versions: Option<Vec<u16>>,
    /// Ciphersuites.
    pub ciphersuites: Option<Vec<u16>>,
    /// Extension types beyond the default ones.
    pub extensions: Option<Vec<u16>>,
    /// Proposal types beyond the default ones.
    pub proposals: Option<Vec<u16>>,
    /// Credential types.
    pub credentials: Option<Vec<u16>>,
    /// Add random GREASE values (RFC 9420 §13.5) to the ciphersuites, extensions, proposals and
    /// credentials, with openmls's `Capabilities::with_grease`.
    pub grease: bool,
}

impl CapabilitiesSpec {
    /// Builds openmls capabilities.
    pub fn to_openmls(&self) -> Result<Capabilities> {
        let versions = self
            .versions
            .as_ref()
            .map(|v| {
                v.iter()
                    .map(|&n| match n {
                        1 => Ok(ProtocolVersion::Mls10),
                        other => Err(Error::invalid_argument(format!("unknown protocol version {other}"))),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let ciphersuites = self
            .ciphersuites
            .as_ref()
            .map(|v| {
                v.iter()
                    .map(|&c| {
                        Ciphersuite::try_from(c)
                            .map_err(|_| Error::new(ErrorCode::UnsupportedCiphersuite, format!("unknown ciphersuite 0x{c:04x}")))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let extensions: Option<Vec<ExtensionType>> = self.extensions.as_ref().map(|v| v.iter().map(|&t| ExtensionType::from(t)).collect());
        let proposals: Option<Vec<ProposalType>> = self.proposals.as_ref().map(|v| v.iter().map(|&t| ProposalType::from(t)).collect());
        let credentials: Option<Vec<CredentialType>> =
            self.credentials.as_ref().map(|v| v.iter().map(|&t| CredentialType::from(t)).collect());
        let capabilities = Capabilities::new(
            versions.as_deref(),
            ciphersuites.as_deref(),
            extensions.as_deref(),
            proposals.as_deref(),
            credentials.as_deref(),
        );
        // GREASE values are picked at random; any CSPRNG does, so this needs no provider.
        Ok(if self.grease { capabilities.with_grease(&openmls_rust_crypto::RustCrypto::default()) } else { capabilities })
    }

    /// These capabilities, extended to cover the extensions a leaf uses and its own credential type.
    ///
    /// RFC 9420 requires a leaf to list every non-default extension type it carries (and openmls
    /// checks it on receipt), so a key package marked last resort or carrying a custom extension
    /// would otherwise be rejected by everyone who receives it.
    pub fn covering(&self, extensions: &[ExtensionSpec], credential_type: u16) -> Self {
        let mut out = self.clone();
        let needed: Vec<u16> = extensions
            .iter()
            .map(ExtensionSpec::extension_type)
            .filter(|&t| !(extension_type::APPLICATION_ID..=extension_type::EXTERNAL_SENDERS).contains(&t))
            .collect();
        if !needed.is_empty() {
            let list = out.extensions.get_or_insert_with(Vec::new);
            for t in needed {
                if !list.contains(&t) {
                    list.push(t);
                }
            }
        }
        if credential_type != crate::identity::credential_type::BASIC {
            let list = out.credentials.get_or_insert_with(|| vec![crate::identity::credential_type::BASIC]);
            if !list.contains(&credential_type) {
                list.push(credential_type);
            }
        }
        out
    }

    /// Describes openmls capabilities (every field set).
    pub fn from_openmls(c: &Capabilities) -> Self {
        Self {
            versions: Some(c.versions().iter().map(crate::codec::u16_of).collect()),
            ciphersuites: Some(c.ciphersuites().iter().map(crate::codec::u16_of).collect()),
            extensions: Some(c.extensions().iter().map(|&t| u16::from(t)).collect()),
            proposals: Some(c.proposals().iter().map(|&t| u16::from(t)).collect()),
            credentials: Some(c.credentials().iter().map(|&t| u16::from(t)).collect()),
            // GREASE values a leaf carries show in the lists above.
            grease: false,
        }
    }
}

/// Whether a proposal type is one every MLS implementation supports (RFC 9420 §7.2: Add to
/// GroupContextExtensions, 1–7), so no member needs to list it.
fn is_default_proposal(t: u16) -> bool {
    (1..=7).contains(&t)
}

/// Whether an extension type is one of RFC 9420's default ones (1–5).
fn is_default_extension(t: u16) -> bool {
    (extension_type::APPLICATION_ID..=extension_type::EXTERNAL_SENDERS).contains(&t)
}

/// The one rule for group context extensions, checked wherever they are set (creating a group, a
/// GroupContextExtensions proposal or commit, the commit builder, a reboot) before anything is
/// sent or stored, so that no proposal can be made that its commit would then refuse:
///
/// 1. every extension that is not one of RFC 9420's default types (1–5) is also listed in the
///    same list's RequiredCapabilities, so every member is known to support it (openmls refuses
///    such a commit otherwise);
/// 2. every member supports what RequiredCapabilities requires (RFC 9420 §11.1): each required
///    extension, proposal (beyond 1–7) and credential type is in the member's capabilities.
///
/// `members` gives each member's leaf index and capabilities. A breach is `ERR_INVALID_EXTENSION`.
pub fn check_group_context_extensions<'a>(
    extensions: &Extensions<GroupContext>,
    members: impl IntoIterator<Item = (u32, &'a Capabilities)>,
) -> Result<()> {
    let (ext_types, proposal_types, credential_types) = match extensions.required_capabilities() {
        Some(r) => (
            r.extension_types().iter().map(|&t| u16::from(t)).collect::<Vec<_>>(),
            r.proposal_types().iter().map(|&t| u16::from(t)).collect::<Vec<_>>(),
            r.credential_types().iter().map(|&t| u16::from(t)).collect::<Vec<_>>(),
        ),
        None => Default::default(),
    };
    for ext in extensions.iter() {
        let t = u16::from(ext.extension_type());
        if !is_default_extension(t) && !ext_types.contains(&t) {
            return Err(Error::new(
                ErrorCode::InvalidExtension,
                format!(
                    "group context extension type 0x{t:04x} must also be listed in the RequiredCapabilities \
                     extension's extensionTypes, so that every member is known to support it"
                ),
            ));
        }
    }
    for (index, caps) in members {
        let missing_ext = ext_types.iter().find(|&&t| !is_default_extension(t) && !caps.extensions().iter().any(|&e| u16::from(e) == t));
        let missing_proposal =
            proposal_types.iter().find(|&&t| !is_default_proposal(t) && !caps.proposals().iter().any(|&p| u16::from(p) == t));
        let missing_credential = credential_types.iter().find(|&&t| !caps.credentials().iter().any(|&c| u16::from(c) == t));
        let missing = missing_ext
            .map(|t| format!("extension type 0x{t:04x}"))
            .or(missing_proposal.map(|t| format!("proposal type 0x{t:04x}")))
            .or(missing_credential.map(|t| format!("credential type 0x{t:04x}")));
        if let Some(what) = missing {
            return Err(Error::new(
                ErrorCode::InvalidExtension,
                format!("the member at leaf {index} does not list {what} in its capabilities, which RequiredCapabilities requires"),
            ));
        }
    }
    Ok(())
}

/// Each member's leaf index and capabilities, for [`check_group_context_extensions`].
pub(crate) fn member_capabilities(group: &MlsGroup) -> Vec<(u32, Capabilities)> {
    group.members().filter_map(|m| group.public_group().leaf(m.index).map(|l| (m.index.u32(), l.capabilities().clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_extensions_round_trip() {
        let specs = vec![
            ExtensionSpec::ApplicationId(b"app".to_vec()),
            ExtensionSpec::RequiredCapabilities { extension_types: vec![0xff00], proposal_types: vec![], credential_types: vec![1] },
            ExtensionSpec::Unknown(0xff00, vec![1, 2, 3]),
        ];
        for spec in &specs {
            assert_eq!(&ExtensionSpec::from_openmls(&spec.to_openmls().unwrap()), spec);
        }
        group_context_extensions(&specs[1..]).unwrap();
    }

    #[test]
    fn grease_adds_one_grease_value_to_each_list() {
        let plain = CapabilitiesSpec { extensions: Some(vec![0xff00]), ..Default::default() };
        let greased = CapabilitiesSpec { grease: true, ..plain.clone() }.to_openmls().unwrap();
        let is_grease = openmls::grease::is_grease_value;
        assert_eq!(greased.ciphersuites().iter().filter(|c| is_grease(crate::codec::u16_of(*c))).count(), 1);
        assert_eq!(greased.extensions().iter().filter(|e| e.is_grease()).count(), 1);
        assert_eq!(greased.proposals().iter().filter(|p| p.is_grease()).count(), 1);
        assert_eq!(greased.credentials().iter().filter(|c| c.is_grease()).count(), 1);
        assert!(greased.extensions().contains(&ExtensionType::Unknown(0xff00)));
        let plain = plain.to_openmls().unwrap();
        assert!(!plain.extensions().iter().any(|e| e.is_grease()));
    }

    #[test]
    fn misplaced_extensions_are_typed_errors() {
        // LastResort belongs in key packages, not in a group context.
        let err = group_context_extensions(&[ExtensionSpec::LastResort]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidExtension);
        let err = ExtensionSpec::Unknown(extension_type::EXTERNAL_PUB, vec![]).to_openmls().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidExtension);
    }
}
