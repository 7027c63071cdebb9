//! Leaf nodes as plain data.

use openmls::prelude::*;
use openmls::treesync::LeafNodeSource;

use crate::config::lifetime_bounds;
use crate::extensions::{self, CapabilitiesSpec, ExtensionSpec};
use crate::identity::CredentialInfo;

/// A leaf node: a member's credential, keys, capabilities and extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafNodeInfo {
    /// The credential.
    pub credential: CredentialInfo,
    /// The signature public key.
    pub signature_key: Vec<u8>,
    /// The HPKE encryption public key.
    pub encryption_key: Vec<u8>,
    /// The capabilities.
    pub capabilities: CapabilitiesSpec,
    /// The leaf node extensions.
    pub extensions: Vec<ExtensionSpec>,
    /// `keyPackage`, `update` or `commit`: how the leaf got its current content.
    pub source: &'static str,
    /// The lifetime (not before, not after), for leaves from a key package.
    pub lifetime: Option<(u64, u64)>,
}

impl From<&LeafNode> for LeafNodeInfo {
    fn from(leaf: &LeafNode) -> Self {
        let (source, lifetime) = match leaf.leaf_node_source() {
            LeafNodeSource::KeyPackage(lifetime) => ("keyPackage", Some(lifetime_bounds(lifetime))),
            LeafNodeSource::Update => ("update", None),
            LeafNodeSource::Commit(_) => ("commit", None),
        };
        Self {
            credential: leaf.credential().into(),
            signature_key: leaf.signature_key().as_slice().to_vec(),
            encryption_key: crate::codec::vl_content(leaf.encryption_key()).unwrap_or_default(),
            capabilities: CapabilitiesSpec::from_openmls(leaf.capabilities()),
            extensions: extensions::describe(leaf.extensions().iter()),
            source,
            lifetime,
        }
    }
}
