//! Reading any MLS message before processing it, so an application can route it: its wire format,
//! and for group messages the group id, epoch and content type (the book's "Deserializing messages").

use openmls::prelude::*;

use crate::codec;
use crate::error::Result;
use crate::extensions::{self, ExtensionSpec};
use crate::processed::GroupContextInfo;
use crate::sender::SenderInfo;

/// What a message shows before it is processed. Nothing here is authenticated yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// `publicMessage`, `privateMessage`, `welcome`, `groupInfo` or `keyPackage`.
    pub wire_format: &'static str,
    /// Public and private messages, GroupInfos: the group id.
    pub group_id: Option<Vec<u8>>,
    /// Public and private messages, GroupInfos: the epoch.
    pub epoch: Option<u64>,
    /// Public and private messages: `application`, `proposal` or `commit`.
    pub content_type: Option<&'static str>,
    /// Public messages: the sender.
    pub sender: Option<SenderInfo>,
    /// Private messages: the additional authenticated data (readable, authenticated only on processing).
    pub authenticated_data: Option<Vec<u8>>,
    /// Welcomes, GroupInfos and key packages: the ciphersuite.
    pub ciphersuite: Option<u16>,
    /// Welcomes: the key package references of the new members it is for.
    pub welcome_key_package_refs: Vec<Vec<u8>>,
    /// GroupInfos: the group context.
    pub group_context: Option<GroupContextInfo>,
    /// GroupInfos: the GroupInfo extensions.
    pub group_info_extensions: Vec<ExtensionSpec>,
}

fn content_type_name(c: ContentType) -> &'static str {
    match c {
        ContentType::Application => "application",
        ContentType::Proposal => "proposal",
        ContentType::Commit => "commit",
    }
}

/// Parses any MLS message without processing it.
pub fn parse(bytes: &[u8]) -> Result<MessageInfo> {
    let message = codec::decode_message(bytes)?;
    let mut info = MessageInfo {
        wire_format: "",
        group_id: None,
        epoch: None,
        content_type: None,
        sender: None,
        authenticated_data: None,
        ciphersuite: None,
        welcome_key_package_refs: Vec::new(),
        group_context: None,
        group_info_extensions: Vec::new(),
    };
    match message.extract() {
        MlsMessageBodyIn::PublicMessage(m) => {
            info.wire_format = "publicMessage";
            info.group_id = Some(m.group_id().as_slice().to_vec());
            info.epoch = Some(m.epoch().as_u64());
            info.content_type = Some(content_type_name(m.content_type()));
            info.sender = Some(m.sender().into());
        }
        MlsMessageBodyIn::PrivateMessage(m) => {
            info.wire_format = "privateMessage";
            info.group_id = Some(m.group_id().as_slice().to_vec());
            info.epoch = Some(m.epoch().as_u64());
            info.content_type = Some(content_type_name(m.content_type()));
            info.authenticated_data = Some(m.aad().to_vec());
        }
        MlsMessageBodyIn::Welcome(w) => {
            info.wire_format = "welcome";
            info.ciphersuite = Some(u16::from(w.ciphersuite()));
            info.welcome_key_package_refs = w.secrets().iter().map(|s| s.new_member().as_slice().to_vec()).collect();
        }
        MlsMessageBodyIn::GroupInfo(g) => {
            info.wire_format = "groupInfo";
            info.group_id = Some(g.group_id().as_slice().to_vec());
            info.epoch = Some(g.epoch().as_u64());
            info.ciphersuite = Some(u16::from(g.ciphersuite()));
            info.group_context = Some(GroupContextInfo::from(g.group_context()));
            info.group_info_extensions = extensions::describe(g.extensions().iter());
        }
        MlsMessageBodyIn::KeyPackage(kp) => {
            info.wire_format = "keyPackage";
            // Unvalidated: KeyPackage.fromBytes validates. The ciphersuite is read from the encoding.
            let encoded = codec::encode(&kp)?;
            info.ciphersuite = encoded.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]));
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(parse(b"nope").unwrap_err().code, crate::ErrorCode::MalformedMessage);
    }
}
