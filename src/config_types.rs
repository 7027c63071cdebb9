//! JavaScript objects for configuration, extensions, capabilities, lifetimes and leaf nodes, and
//! their conversion to and from the core crate's plain specs.

use crate::bytes::Uint8Array;
use napi_derive::napi;
use openmls_node_core::config::{CreateConfigSpec, JoinConfigSpec, LifetimeSpec, PastEpochs};
use openmls_node_core::extensions::{CapabilitiesSpec, ExtensionSpec, ExternalSenderSpec};
use openmls_node_core::identity::{self, CredentialInfo};
use openmls_node_core::leaf::LeafNodeInfo;
use openmls_node_core::{Error, Result};

/// A credential. `credentialType` 1 is basic (`serializedContent` is the identity); 2 is X.509
/// (`certificates` is the chain, leaf first). Other types carry `serializedContent` as is.
#[napi(object)]
pub struct NativeCredential {
    /// The credential type code point.
    pub credential_type: u32,
    /// The content as on the wire: the identity of a basic credential.
    pub serialized_content: Option<Uint8Array>,
    /// X.509: the certificate chain, leaf first.
    pub certificates: Option<Vec<Uint8Array>>,
}

impl From<CredentialInfo> for NativeCredential {
    fn from(info: CredentialInfo) -> Self {
        let certificates = (info.credential_type == identity::credential_type::X509)
            .then(|| identity::x509_certificates(&info.serialized_content).ok())
            .flatten()
            .map(|certs| certs.into_iter().map(Uint8Array::new).collect());
        Self {
            credential_type: info.credential_type as u32,
            serialized_content: Some(Uint8Array::new(info.serialized_content)),
            certificates,
        }
    }
}

/// A 16-bit code point from JavaScript: a number that does not fit is `ERR_INVALID_ARGUMENT`
/// naming what it was, never a silently different code point.
pub(crate) fn u16_of(n: u32, what: &str) -> Result<u16> {
    u16::try_from(n).map_err(|_| Error::invalid_argument(format!("{what} {n} does not fit in 16 bits")))
}

fn u16_list(list: &[u32], what: &str) -> Result<Vec<u16>> {
    list.iter().map(|&n| u16_of(n, what)).collect()
}

fn u16s(list: &Option<Vec<u32>>, what: &str) -> Result<Option<Vec<u16>>> {
    list.as_ref().map(|l| u16_list(l, what)).transpose()
}

fn u32s(list: Option<Vec<u16>>) -> Option<Vec<u32>> {
    list.map(|l| l.into_iter().map(u32::from).collect())
}

/// Converts a JavaScript credential to the core's description.
pub fn credential_info(c: &NativeCredential) -> Result<CredentialInfo> {
    let credential_type = u16_of(c.credential_type, "credential type")?;
    let serialized_content = match (&c.certificates, &c.serialized_content) {
        (Some(certs), _) => identity::x509_content(&certs.iter().map(|c| c.to_vec()).collect::<Vec<_>>())?,
        (None, Some(content)) => content.to_vec(),
        (None, None) => return Err(Error::invalid_argument("a credential needs serializedContent or certificates")),
    };
    // Validates the content (an X.509 chain must decode).
    identity::credential(credential_type, &serialized_content)?;
    Ok(CredentialInfo { credential_type, serialized_content })
}

/// An external sender: who may send proposals to the group from outside.
#[napi(object)]
pub struct NativeExternalSender {
    /// Its signature public key.
    pub signature_key: Uint8Array,
    /// Its credential.
    pub credential: NativeCredential,
}

/// An extension (the book's "Extensions"), discriminated by `type`. `unknown` carries any other
/// extension type as opaque bytes (the book's `UnknownExtension`). `ratchetTree` is read-only:
/// openmls adds it when `useRatchetTreeExtension` is on.
#[napi(discriminant = "type", discriminant_case = "camelCase")]
pub enum Extension {
    /// ApplicationId: an application-defined identifier of the leaf.
    ApplicationId {
        /// The id.
        application_id: Uint8Array,
    },
    /// RequiredCapabilities: what every member must support.
    RequiredCapabilities {
        /// Extension types.
        extension_types: Vec<u32>,
        /// Proposal types.
        proposal_types: Vec<u32>,
        /// Credential types.
        credential_types: Vec<u32>,
    },
    /// ExternalPub: the HPKE public key for external commits.
    ExternalPub {
        /// The HPKE public key.
        public_key: Uint8Array,
    },
    /// ExternalSenders: who may send proposals to the group from outside.
    ExternalSenders {
        /// The senders, by index.
        senders: Vec<NativeExternalSender>,
    },
    /// LastResort: marks a key package that may be used more than once.
    LastResort,
    /// RatchetTree (read only): the TLS-encoded tree.
    RatchetTree {
        /// The content bytes.
        data: Uint8Array,
    },
    /// Any other extension type, as opaque bytes.
    Unknown {
        /// The extension type code point.
        extension_type: u32,
        /// The content bytes.
        data: Uint8Array,
    },
}

/// Converts a JavaScript extension to the core's description.
pub fn extension_spec(e: &Extension) -> Result<ExtensionSpec> {
    Ok(match e {
        Extension::ApplicationId { application_id } => ExtensionSpec::ApplicationId(application_id.to_vec()),
        Extension::RequiredCapabilities { extension_types, proposal_types, credential_types } => ExtensionSpec::RequiredCapabilities {
            extension_types: u16_list(extension_types, "extension type")?,
            proposal_types: u16_list(proposal_types, "proposal type")?,
            credential_types: u16_list(credential_types, "credential type")?,
        },
        Extension::ExternalPub { public_key } => ExtensionSpec::ExternalPub(public_key.to_vec()),
        Extension::ExternalSenders { senders } => ExtensionSpec::ExternalSenders(
            senders
                .iter()
                .map(|s| Ok(ExternalSenderSpec { signature_key: s.signature_key.to_vec(), credential: credential_info(&s.credential)? }))
                .collect::<Result<Vec<_>>>()?,
        ),
        Extension::LastResort => ExtensionSpec::LastResort,
        Extension::RatchetTree { .. } => ExtensionSpec::RatchetTree(Vec::new()),
        Extension::Unknown { extension_type, data } => ExtensionSpec::Unknown(u16_of(*extension_type, "extension type")?, data.to_vec()),
    })
}

/// Converts a list of JavaScript extensions.
pub fn extension_specs(list: &Option<Vec<Extension>>) -> Result<Vec<ExtensionSpec>> {
    list.as_ref().map(|l| l.iter().map(extension_spec).collect()).transpose().map(Option::unwrap_or_default)
}

impl From<ExtensionSpec> for Extension {
    fn from(spec: ExtensionSpec) -> Self {
        let wide = |list: Vec<u16>| list.into_iter().map(u32::from).collect();
        match spec {
            ExtensionSpec::ApplicationId(id) => Extension::ApplicationId { application_id: Uint8Array::new(id) },
            ExtensionSpec::RatchetTree(data) => Extension::RatchetTree { data: Uint8Array::new(data) },
            ExtensionSpec::RequiredCapabilities { extension_types, proposal_types, credential_types } => Extension::RequiredCapabilities {
                extension_types: wide(extension_types),
                proposal_types: wide(proposal_types),
                credential_types: wide(credential_types),
            },
            ExtensionSpec::ExternalPub(key) => Extension::ExternalPub { public_key: Uint8Array::new(key) },
            ExtensionSpec::ExternalSenders(senders) => Extension::ExternalSenders {
                senders: senders
                    .into_iter()
                    .map(|s| NativeExternalSender { signature_key: Uint8Array::new(s.signature_key), credential: s.credential.into() })
                    .collect(),
            },
            ExtensionSpec::LastResort => Extension::LastResort,
            ExtensionSpec::Unknown(extension_type, data) => {
                Extension::Unknown { extension_type: extension_type.into(), data: Uint8Array::new(data) }
            }
        }
    }
}

/// Converts extensions for JavaScript.
pub fn native_extensions(list: Vec<ExtensionSpec>) -> Vec<Extension> {
    list.into_iter().map(Into::into).collect()
}

/// Leaf capabilities. Absent fields take openmls's defaults.
#[napi(object)]
pub struct NativeCapabilities {
    /// Protocol versions (1 = MLS 1.0).
    pub versions: Option<Vec<u32>>,
    /// Ciphersuites.
    pub ciphersuites: Option<Vec<u32>>,
    /// Extension types (beyond the default ones).
    pub extensions: Option<Vec<u32>>,
    /// Proposal types (beyond the default ones).
    pub proposals: Option<Vec<u32>>,
    /// Credential types.
    pub credentials: Option<Vec<u32>>,
    /// Add random GREASE values (RFC 9420 §13.5) to the ciphersuites, extensions, proposals and
    /// credentials (input only; default false).
    pub grease: Option<bool>,
}

/// Converts JavaScript capabilities.
pub fn capabilities_spec(c: &NativeCapabilities) -> Result<CapabilitiesSpec> {
    Ok(CapabilitiesSpec {
        versions: u16s(&c.versions, "protocol version")?,
        ciphersuites: u16s(&c.ciphersuites, "ciphersuite")?,
        extensions: u16s(&c.extensions, "extension type")?,
        proposals: u16s(&c.proposals, "proposal type")?,
        credentials: u16s(&c.credentials, "credential type")?,
        grease: c.grease.unwrap_or(false),
    })
}

impl From<CapabilitiesSpec> for NativeCapabilities {
    fn from(c: CapabilitiesSpec) -> Self {
        Self {
            versions: u32s(c.versions),
            ciphersuites: u32s(c.ciphersuites),
            extensions: u32s(c.extensions),
            proposals: u32s(c.proposals),
            credentials: u32s(c.credentials),
            grease: None,
        }
    }
}

/// A lifetime in seconds since the Unix epoch: `notBefore` and `notAfter`, or `validForSeconds`
/// from now (with openmls's one-hour allowance for clock skew).
#[napi(object)]
pub struct NativeLifetime {
    /// Not valid before (Unix seconds).
    pub not_before: Option<i64>,
    /// Not valid after (Unix seconds).
    pub not_after: Option<i64>,
    /// Valid for this many seconds from now.
    pub valid_for_seconds: Option<i64>,
}

fn non_negative(n: i64, what: &str) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::invalid_argument(format!("lifetime {what} must not be negative")))
}

/// Converts a JavaScript lifetime.
pub fn lifetime_spec(l: &NativeLifetime) -> Result<LifetimeSpec> {
    match (l.valid_for_seconds, l.not_before, l.not_after) {
        (Some(s), None, None) => Ok(LifetimeSpec::ValidFor(non_negative(s, "validForSeconds")?)),
        (None, Some(a), Some(b)) => {
            Ok(LifetimeSpec::Range { not_before: non_negative(a, "notBefore")?, not_after: non_negative(b, "notAfter")? })
        }
        _ => Err(Error::invalid_argument("a lifetime is either { notBefore, notAfter } or { validForSeconds }")),
    }
}

/// Converts lifetime bounds for JavaScript.
pub fn native_lifetime((not_before, not_after): (u64, u64)) -> NativeLifetime {
    NativeLifetime {
        not_before: Some(i64::try_from(not_before).unwrap_or(i64::MAX)),
        not_after: Some(i64::try_from(not_after).unwrap_or(i64::MAX)),
        valid_for_seconds: None,
    }
}

/// Sender ratchet tolerance (openmls `SenderRatchetConfiguration`).
#[napi(object)]
pub struct SenderRatchetConfiguration {
    /// How many past generations are kept to decrypt out-of-order messages. Default 5.
    pub out_of_order_tolerance: u32,
    /// How far ahead of the current generation a message may be. Default 1000.
    pub maximum_forward_distance: u32,
}

/// Which wire formats a member sends and accepts for handshake messages (application messages are
/// always encrypted).
#[napi(string_enum = "camelCase")]
pub enum WireFormatPolicy {
    /// Send encrypted, accept only encrypted (openmls's default).
    PureCiphertext,
    /// Send plaintext, accept only plaintext.
    PurePlaintext,
    /// Send encrypted, accept both.
    MixedCiphertext,
    /// Send plaintext, accept both.
    MixedPlaintext,
}

impl WireFormatPolicy {
    /// The core's name for the policy.
    fn name(&self) -> &'static str {
        match self {
            WireFormatPolicy::PureCiphertext => "pureCiphertext",
            WireFormatPolicy::PurePlaintext => "purePlaintext",
            WireFormatPolicy::MixedCiphertext => "mixedCiphertext",
            WireFormatPolicy::MixedPlaintext => "mixedPlaintext",
        }
    }

    /// The policy the core names; the core only ever names these four.
    fn of_name(name: &str) -> Option<Self> {
        [Self::PureCiphertext, Self::PurePlaintext, Self::MixedCiphertext, Self::MixedPlaintext].into_iter().find(|p| p.name() == name)
    }
}

/// A member's runtime configuration (openmls `MlsGroupJoinConfig`, the book's "Group
/// configuration"). Omitted fields take openmls's defaults (or, for `setConfiguration`, keep
/// their current value).
#[napi(object)]
pub struct MlsGroupJoinConfig {
    /// Which wire formats handshake messages use. Default `pureCiphertext`.
    pub wire_format_policy: Option<WireFormatPolicy>,
    /// Pad encrypted messages to a multiple of this many bytes. Default 0.
    pub padding_size: Option<u32>,
    /// How many past epochs' secrets to keep, to decrypt late application messages. Default 0.
    pub max_past_epochs: Option<u32>,
    /// Keep every past epoch's secrets (the `KeepAll` past-epoch deletion policy; overrides `maxPastEpochs`).
    pub keep_all_past_epochs: Option<bool>,
    /// How many resumption PSKs to keep. Default 0.
    pub number_of_resumption_psks: Option<u32>,
    /// Whether Welcome messages carry the ratchet tree, so joiners need nothing else. Default `false`.
    pub use_ratchet_tree_extension: Option<bool>,
    /// Sender ratchet tolerance.
    pub sender_ratchet_configuration: Option<SenderRatchetConfiguration>,
}

/// Converts a JavaScript join config.
pub fn join_config_spec(c: &MlsGroupJoinConfig) -> JoinConfigSpec {
    JoinConfigSpec {
        wire_format_policy: c.wire_format_policy.as_ref().map(|p| p.name().to_string()),
        padding_size: c.padding_size.map(|n| n as usize),
        past_epochs: match (c.keep_all_past_epochs, c.max_past_epochs) {
            (Some(true), _) => Some(PastEpochs::KeepAll),
            (_, Some(n)) => Some(PastEpochs::Max(n as usize)),
            // Turning KeepAll off without a number returns to openmls's default of none kept.
            (Some(false), None) => Some(PastEpochs::Max(0)),
            (None, None) => None,
        },
        number_of_resumption_psks: c.number_of_resumption_psks.map(|n| n as usize),
        use_ratchet_tree_extension: c.use_ratchet_tree_extension,
        sender_ratchet: c.sender_ratchet_configuration.as_ref().map(|r| (r.out_of_order_tolerance, r.maximum_forward_distance)),
    }
}

impl From<JoinConfigSpec> for MlsGroupJoinConfig {
    fn from(c: JoinConfigSpec) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            wire_format_policy: c.wire_format_policy.as_deref().and_then(WireFormatPolicy::of_name),
            padding_size: c.padding_size.map(clamp),
            max_past_epochs: match c.past_epochs {
                Some(PastEpochs::Max(n)) => Some(clamp(n)),
                _ => None,
            },
            keep_all_past_epochs: Some(matches!(c.past_epochs, Some(PastEpochs::KeepAll))),
            number_of_resumption_psks: c.number_of_resumption_psks.map(clamp),
            use_ratchet_tree_extension: c.use_ratchet_tree_extension,
            sender_ratchet_configuration: c
                .sender_ratchet
                .map(|(a, b)| SenderRatchetConfiguration { out_of_order_tolerance: a, maximum_forward_distance: b }),
        }
    }
}

/// Everything a group is created with (`MlsGroupCreateConfig`).
#[napi(object)]
pub struct NativeCreateConfig {
    /// The runtime configuration.
    pub join: Option<MlsGroupJoinConfig>,
    /// The ciphersuite code point.
    pub ciphersuite: u32,
    /// The creator's leaf lifetime.
    pub lifetime: Option<NativeLifetime>,
    /// Group context extensions.
    pub group_context_extensions: Option<Vec<Extension>>,
    /// The creator's leaf node extensions.
    pub leaf_node_extensions: Option<Vec<Extension>>,
    /// The creator's capabilities.
    pub capabilities: Option<NativeCapabilities>,
}

/// Converts a JavaScript create config.
pub fn create_config_spec(c: &NativeCreateConfig) -> Result<CreateConfigSpec> {
    Ok(CreateConfigSpec {
        join: c.join.as_ref().map(join_config_spec).unwrap_or_default(),
        ciphersuite: u16_of(c.ciphersuite, "ciphersuite")?,
        lifetime: c.lifetime.as_ref().map(lifetime_spec).transpose()?,
        group_context_extensions: extension_specs(&c.group_context_extensions)?,
        leaf_node_extensions: extension_specs(&c.leaf_node_extensions)?,
        capabilities: c.capabilities.as_ref().map(capabilities_spec).transpose()?,
    })
}

/// A leaf node.
#[napi(object)]
pub struct NativeLeafNode {
    /// The credential.
    pub credential: NativeCredential,
    /// The signature public key.
    pub signature_key: Uint8Array,
    /// The HPKE encryption public key.
    pub encryption_key: Uint8Array,
    /// The capabilities.
    pub capabilities: NativeCapabilities,
    /// The leaf node extensions.
    pub extensions: Vec<Extension>,
    /// How the leaf got its content.
    pub source: LeafNodeSource,
    /// The lifetime, for leaves from a key package.
    pub lifetime: Option<NativeLifetime>,
}

/// How a leaf got its content: from a key package, an update proposal, or a commit's update path.
#[napi(string_enum = "camelCase")]
pub enum LeafNodeSource {
    /// From a key package (a new member's leaf).
    KeyPackage,
    /// From an Update proposal.
    Update,
    /// From a commit's update path.
    Commit,
}

impl From<LeafNodeInfo> for NativeLeafNode {
    fn from(l: LeafNodeInfo) -> Self {
        Self {
            credential: l.credential.into(),
            signature_key: Uint8Array::new(l.signature_key),
            encryption_key: Uint8Array::new(l.encryption_key),
            capabilities: l.capabilities.into(),
            extensions: native_extensions(l.extensions),
            source: match l.source {
                "keyPackage" => LeafNodeSource::KeyPackage,
                "update" => LeafNodeSource::Update,
                _ => LeafNodeSource::Commit,
            },
            lifetime: l.lifetime.map(native_lifetime),
        }
    }
}
