//! Who sent a message or proposal, as the rest of the crate describes it (RFC 9420 `Sender`).

use openmls::prelude::*;

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderInfo {
    /// A member, by leaf index.
    Member(u32),
    /// An external sender, by its index in the ExternalSenders extension.
    External(u32),
    /// A new member proposing to join.
    NewMemberProposal,
    /// A new member joining by external commit.
    NewMemberCommit,
}

impl From<&Sender> for SenderInfo {
    fn from(sender: &Sender) -> Self {
        match sender {
            Sender::Member(index) => SenderInfo::Member(index.u32()),
            Sender::External(index) => SenderInfo::External(external_index(index)),
            Sender::NewMemberProposal => SenderInfo::NewMemberProposal,
            Sender::NewMemberCommit => SenderInfo::NewMemberCommit,
        }
    }
}

/// The position of an external sender in the ExternalSenders extension. openmls keeps the accessor
/// crate-private, but the index is a TLS `uint32`, so its encoding gives it back.
fn external_index(index: &SenderExtensionIndex) -> u32 {
    use tls_codec::Serialize as _;
    let bytes = index.tls_serialize_detached().unwrap_or_default();
    bytes.try_into().map(u32::from_be_bytes).unwrap_or(u32::MAX)
}
