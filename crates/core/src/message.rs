//! Reading any MLS message before processing it, so an application can route it: its wire format,
//! and for group messages the group id, epoch and content type (the book's "Deserializing messages").

use openmls::prelude::*;

use crate::codec;
use crate::error::Result;
use crate::extensions::{self, ExtensionSpec};
use crate::processed::GroupContextInfo;
use crate::sender::SenderInfo;

/// The content type of a group message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// An application message.
    Application,
    /// A proposal.
    Proposal,
    /// A commit.
    Commit,
}

impl From<ContentType> for ContentKind {
    fn from(c: ContentType) -> Self {
        match c {
            ContentType::Application => ContentKind::Application,
            ContentType::Proposal => ContentKind::Proposal,
            ContentType::Commit => ContentKind::Commit,
        }
    }
}

/// What a message shows before it is processed, by wire format. Nothing here is authenticated yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageInfo {
    /// A PublicMessage: its framing is readable.
    PublicMessage {
        /// The group id.
        group_id: Vec<u8>,
        /// The epoch it was sent in.
        epoch: u64,
        /// What it carries.
        content_type: ContentKind,
        /// Who sent it.
        sender: SenderInfo,
    },
    /// A PrivateMessage: only the outer framing is readable.
    PrivateMessage {
        /// The group id.
        group_id: Vec<u8>,
        /// The epoch it was sent in.
        epoch: u64,
        /// What it carries.
        content_type: ContentKind,
        /// The additional authenticated data (readable, authenticated only on processing).
        authenticated_data: Vec<u8>,
    },
    /// A Welcome.
    Welcome {
        /// The ciphersuite.
        ciphersuite: u16,
        /// The key package references of the new members it is for.
        key_package_refs: Vec<Vec<u8>>,
    },
    /// A GroupInfo.
    GroupInfo {
        /// The group id.
        group_id: Vec<u8>,
        /// The epoch.
        epoch: u64,
        /// The ciphersuite.
        ciphersuite: u16,
        /// The group context.
        group_context: GroupContextInfo,
        /// The GroupInfo extensions.
        extensions: Vec<ExtensionSpec>,
    },
    /// A key package (not validated yet: `KeyPackage.fromBytes` validates).
    KeyPackage {
        /// The ciphersuite, read from the encoding.
        ciphersuite: u16,
    },
}

/// Parses any MLS message without processing it.
pub fn parse(bytes: &[u8]) -> Result<MessageInfo> {
    let message = codec::decode_message(bytes)?;
    Ok(match message.extract() {
        MlsMessageBodyIn::PublicMessage(m) => MessageInfo::PublicMessage {
            group_id: m.group_id().as_slice().to_vec(),
            epoch: m.epoch().as_u64(),
            content_type: m.content_type().into(),
            sender: m.sender().into(),
        },
        MlsMessageBodyIn::PrivateMessage(m) => MessageInfo::PrivateMessage {
            group_id: m.group_id().as_slice().to_vec(),
            epoch: m.epoch().as_u64(),
            content_type: m.content_type().into(),
            authenticated_data: m.aad().to_vec(),
        },
        MlsMessageBodyIn::Welcome(w) => MessageInfo::Welcome {
            ciphersuite: u16::from(w.ciphersuite()),
            key_package_refs: w.secrets().iter().map(|s| s.new_member().as_slice().to_vec()).collect(),
        },
        MlsMessageBodyIn::GroupInfo(g) => MessageInfo::GroupInfo {
            group_id: g.group_id().as_slice().to_vec(),
            epoch: g.epoch().as_u64(),
            ciphersuite: u16::from(g.ciphersuite()),
            group_context: GroupContextInfo::from(g.group_context()),
            extensions: extensions::describe(g.extensions().iter()),
        },
        MlsMessageBodyIn::KeyPackage(kp) => {
            // The ciphersuite follows the 2-byte protocol version in the encoding.
            let encoded = codec::encode(&kp)?;
            let ciphersuite = encoded.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])).unwrap_or_default();
            MessageInfo::KeyPackage { ciphersuite }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(parse(b"nope").unwrap_err().code, crate::ErrorCode::MalformedMessage);
    }
}
