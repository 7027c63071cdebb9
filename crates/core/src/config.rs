//! Group configuration as plain data: the fields of openmls's `MlsGroupJoinConfig` and
//! `MlsGroupCreateConfig` (the book's "Group configuration"), with `None` meaning openmls's default.

use openmls::prelude::*;

use crate::error::{Error, ErrorCode, Result};
use crate::extensions::{self, CapabilitiesSpec, ExtensionSpec};

/// The wire-format policy names of the JavaScript API.
pub const WIRE_FORMAT_POLICIES: [(&str, WireFormatPolicy); 4] = [
    ("pureCiphertext", PURE_CIPHERTEXT_WIRE_FORMAT_POLICY),
    ("purePlaintext", PURE_PLAINTEXT_WIRE_FORMAT_POLICY),
    ("mixedCiphertext", MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY),
    ("mixedPlaintext", MIXED_PLAINTEXT_WIRE_FORMAT_POLICY),
];

/// Parses a wire-format policy name.
pub fn wire_format_policy(name: &str) -> Result<WireFormatPolicy> {
    WIRE_FORMAT_POLICIES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).ok_or_else(|| {
        Error::invalid_argument(format!(
            "unknown wire format policy {name:?}; expected pureCiphertext, purePlaintext, mixedCiphertext or mixedPlaintext"
        ))
    })
}

/// Names a wire-format policy.
pub fn wire_format_policy_name(policy: WireFormatPolicy) -> &'static str {
    WIRE_FORMAT_POLICIES.iter().find(|(_, p)| *p == policy).map(|(n, _)| *n).unwrap_or("custom")
}

/// How many past epochs' secrets a group keeps, to decrypt late application messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastEpochs {
    /// Keep at most this many.
    Max(usize),
    /// Keep all; the application deletes them.
    KeepAll,
}

/// The runtime configuration of a member's view of a group (`MlsGroupJoinConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinConfigSpec {
    /// Wire-format policy name (see [`WIRE_FORMAT_POLICIES`]).
    pub wire_format_policy: Option<String>,
    /// Pad encrypted messages to a multiple of this many bytes.
    pub padding_size: Option<usize>,
    /// The past-epoch deletion policy.
    pub past_epochs: Option<PastEpochs>,
    /// How many resumption PSKs to keep.
    pub number_of_resumption_psks: Option<usize>,
    /// Whether Welcomes carry the ratchet tree.
    pub use_ratchet_tree_extension: Option<bool>,
    /// Sender ratchet: (out-of-order tolerance, maximum forward distance).
    pub sender_ratchet: Option<(u32, u32)>,
}

impl JoinConfigSpec {
    /// Builds the openmls join config, starting from `base` for fields left `None`.
    pub fn to_openmls(&self, base: Option<&MlsGroupJoinConfig>) -> Result<MlsGroupJoinConfig> {
        let current = base.map(describe_join_config).transpose()?.unwrap_or_default();
        let merged = current.overlay(self);
        let mut builder = MlsGroupJoinConfig::builder();
        if let Some(name) = &merged.wire_format_policy {
            builder = builder.wire_format_policy(wire_format_policy(name)?);
        }
        if let Some(n) = merged.padding_size {
            builder = builder.padding_size(n);
        }
        if let Some(p) = merged.past_epochs {
            builder = builder.set_past_epoch_deletion_policy(match p {
                PastEpochs::Max(n) => PastEpochDeletionPolicy::MaxEpochs(n),
                PastEpochs::KeepAll => PastEpochDeletionPolicy::KeepAll,
            });
        }
        if let Some(n) = merged.number_of_resumption_psks {
            builder = builder.number_of_resumption_psks(n);
        }
        if let Some(b) = merged.use_ratchet_tree_extension {
            builder = builder.use_ratchet_tree_extension(b);
        }
        if let Some((tolerance, distance)) = merged.sender_ratchet {
            builder = builder.sender_ratchet_configuration(SenderRatchetConfiguration::new(tolerance, distance));
        }
        Ok(builder.build())
    }

    /// This spec with `other`'s set fields written over it.
    pub fn overlay(&self, other: &JoinConfigSpec) -> JoinConfigSpec {
        JoinConfigSpec {
            wire_format_policy: other.wire_format_policy.clone().or_else(|| self.wire_format_policy.clone()),
            padding_size: other.padding_size.or(self.padding_size),
            past_epochs: other.past_epochs.or(self.past_epochs),
            number_of_resumption_psks: other.number_of_resumption_psks.or(self.number_of_resumption_psks),
            use_ratchet_tree_extension: other.use_ratchet_tree_extension.or(self.use_ratchet_tree_extension),
            sender_ratchet: other.sender_ratchet.or(self.sender_ratchet),
        }
    }
}

/// Reads every field of an openmls join config. Some fields have no public getter in openmls 0.9,
/// so they are read from the config's serde form, which is the form openmls itself persists.
pub fn describe_join_config(config: &MlsGroupJoinConfig) -> Result<JoinConfigSpec> {
    let value = serde_json::to_value(config).map_err(|e| Error::internal(format!("cannot read config ({e})")))?;
    let get_usize = |key: &str| value.get(key).and_then(|v| v.as_u64()).map(|n| n as usize);
    let past_epochs = match value.get("past_epoch_deletion_policy").and_then(|v| v.as_u64()) {
        Some(n) if n == usize::MAX as u64 => Some(PastEpochs::KeepAll),
        Some(n) => Some(PastEpochs::Max(n as usize)),
        None => None,
    };
    let ratchet = config.sender_ratchet_configuration();
    Ok(JoinConfigSpec {
        wire_format_policy: Some(wire_format_policy_name(config.wire_format_policy()).to_string()),
        padding_size: Some(config.padding_size()),
        past_epochs,
        number_of_resumption_psks: get_usize("number_of_resumption_psks"),
        use_ratchet_tree_extension: value.get("use_ratchet_tree_extension").and_then(|v| v.as_bool()),
        sender_ratchet: Some((ratchet.out_of_order_tolerance(), ratchet.maximum_forward_distance())),
    })
}

/// A key package or leaf lifetime, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeSpec {
    /// Valid from an hour ago (clock skew) for this many seconds.
    ValidFor(u64),
    /// Explicit bounds.
    Range {
        /// Not valid before.
        not_before: u64,
        /// Not valid after.
        not_after: u64,
    },
}

impl LifetimeSpec {
    /// Builds the openmls lifetime.
    pub fn to_openmls(self) -> Result<Lifetime> {
        match self {
            LifetimeSpec::ValidFor(seconds) => Ok(Lifetime::new(seconds)),
            LifetimeSpec::Range { not_before, not_after } => {
                if not_before > not_after {
                    return Err(Error::invalid_argument("lifetime: notBefore is after notAfter"));
                }
                Ok(Lifetime::init(not_before, not_after))
            }
        }
    }
}

/// Reads a lifetime's bounds. openmls keeps them private; the TLS encoding is two u64s.
pub fn lifetime_bounds(lifetime: &Lifetime) -> (u64, u64) {
    use tls_codec::Serialize as _;
    let bytes = lifetime.tls_serialize_detached().unwrap_or_default();
    let read = |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0);
    (read(0), read(8))
}

/// Everything a new group is created with (`MlsGroupCreateConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateConfigSpec {
    /// The runtime configuration.
    pub join: JoinConfigSpec,
    /// The ciphersuite code point.
    pub ciphersuite: u16,
    /// The creator's leaf lifetime.
    pub lifetime: Option<LifetimeSpec>,
    /// Group context extensions.
    pub group_context_extensions: Vec<ExtensionSpec>,
    /// The creator's leaf node extensions.
    pub leaf_node_extensions: Vec<ExtensionSpec>,
    /// The creator's leaf capabilities.
    pub capabilities: Option<CapabilitiesSpec>,
}

impl CreateConfigSpec {
    /// Applies everything to an openmls group builder, for a creator with this credential type.
    pub fn apply(&self, mut builder: MlsGroupBuilder, ciphersuite: Ciphersuite, credential_type: u16) -> Result<MlsGroupBuilder> {
        let join = self.join.to_openmls(None)?;
        builder = builder
            .ciphersuite(ciphersuite)
            .with_wire_format_policy(join.wire_format_policy())
            .padding_size(join.padding_size())
            .sender_ratchet_configuration(*join.sender_ratchet_configuration());
        if let Some(p) = self.join.past_epochs {
            builder = builder.set_past_epoch_deletion_policy(match p {
                PastEpochs::Max(n) => PastEpochDeletionPolicy::MaxEpochs(n),
                PastEpochs::KeepAll => PastEpochDeletionPolicy::KeepAll,
            });
        }
        if let Some(n) = self.join.number_of_resumption_psks {
            builder = builder.number_of_resumption_psks(n);
        }
        builder = builder.use_ratchet_tree_extension(self.join.use_ratchet_tree_extension.unwrap_or(false));
        if let Some(lifetime) = self.lifetime {
            builder = builder.lifetime(lifetime.to_openmls()?);
        }
        if !self.group_context_extensions.is_empty() {
            builder = builder.with_group_context_extensions(extensions::group_context_extensions(&self.group_context_extensions)?);
        }
        // Capabilities first: openmls checks leaf extensions against them.
        let capabilities = self.capabilities.clone().unwrap_or_default().covering(&self.leaf_node_extensions, credential_type);
        if capabilities != CapabilitiesSpec::default() {
            builder = builder.with_capabilities(capabilities.to_openmls()?);
        }
        if !self.leaf_node_extensions.is_empty() {
            builder = builder
                .with_leaf_node_extensions(extensions::leaf_node_extensions(&self.leaf_node_extensions)?)
                .map_err(|e| Error::new(ErrorCode::InvalidExtension, e.to_string()))?;
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_config_round_trips_through_openmls() {
        let spec = JoinConfigSpec {
            wire_format_policy: Some("mixedPlaintext".into()),
            padding_size: Some(64),
            past_epochs: Some(PastEpochs::Max(3)),
            number_of_resumption_psks: Some(5),
            use_ratchet_tree_extension: Some(true),
            sender_ratchet: Some((7, 500)),
        };
        let config = spec.to_openmls(None).unwrap();
        assert_eq!(describe_join_config(&config).unwrap(), spec);
        let keep_all = JoinConfigSpec { past_epochs: Some(PastEpochs::KeepAll), ..Default::default() };
        let merged = keep_all.to_openmls(Some(&config)).unwrap();
        let described = describe_join_config(&merged).unwrap();
        assert_eq!(described.past_epochs, Some(PastEpochs::KeepAll));
        assert_eq!(described.padding_size, Some(64));
    }

    #[test]
    fn lifetimes_keep_their_bounds() {
        let l = LifetimeSpec::Range { not_before: 10, not_after: 20 }.to_openmls().unwrap();
        assert_eq!(lifetime_bounds(&l), (10, 20));
        assert!(LifetimeSpec::Range { not_before: 20, not_after: 10 }.to_openmls().is_err());
        assert_eq!(wire_format_policy("nope").unwrap_err().code, ErrorCode::InvalidArgument);
    }
}
