//! Decoding MLS messages from untrusted bytes.
//!
//! Every decoder here reads a byte slice exactly: garbage, truncation and trailing bytes are all
//! [`ErrorCode::MalformedMessage`]. tls_codec bounds each allocation by the bytes actually present,
//! so a hostile length prefix cannot make us allocate more than the input holds.

use openmls::prelude::*;
use tls_codec::{DeserializeBytes, Serialize as _};

use crate::error::{Error, ErrorCode, Result};

/// Decodes an `MLSMessage` of any wire format.
pub fn decode_message(bytes: &[u8]) -> Result<MlsMessageIn> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorCode::MalformedMessage, "empty message"));
    }
    MlsMessageIn::tls_deserialize_exact_bytes(bytes).map_err(Error::from)
}

/// Decodes a message that must be a public or private handshake/application message.
pub fn decode_protocol_message(bytes: &[u8]) -> Result<ProtocolMessage> {
    decode_message(bytes)?
        .try_into_protocol_message()
        .map_err(|_| Error::new(ErrorCode::WrongMessageType, "expected a PublicMessage or PrivateMessage"))
}

/// Decodes a message that must be a Welcome.
pub fn decode_welcome(bytes: &[u8]) -> Result<Welcome> {
    match decode_message(bytes)?.extract() {
        MlsMessageBodyIn::Welcome(welcome) => Ok(welcome),
        _ => Err(Error::new(ErrorCode::WrongMessageType, "expected a Welcome message")),
    }
}

/// Decodes an exported ratchet tree (the `ratchet_tree` extension's content).
pub fn decode_ratchet_tree(bytes: &[u8]) -> Result<RatchetTreeIn> {
    RatchetTreeIn::tls_deserialize_exact_bytes(bytes).map_err(|e| Error::from(e).context("ratchet tree"))
}

/// Encodes an outgoing message.
pub fn encode_message(message: &MlsMessageOut) -> Result<Vec<u8>> {
    message.tls_serialize_detached().map_err(|e| Error::internal(format!("cannot encode message ({e:?})")))
}

/// Encodes any TLS-serializable openmls structure.
pub fn encode<T: tls_codec::Serialize>(value: &T) -> Result<Vec<u8>> {
    value.tls_serialize_detached().map_err(|e| Error::internal(format!("cannot encode ({e:?})")))
}

/// The content of a TLS variable-length vector encoding (`<V>`): the bytes after the length prefix.
/// Used for openmls types whose byte accessors are crate-private but whose encoding is one `<V>`.
pub fn vl_content<T: tls_codec::Serialize>(value: &T) -> Result<Vec<u8>> {
    let encoded = encode(value)?;
    let (content, _) = tls_codec::VLBytes::tls_deserialize_bytes(&encoded)?;
    Ok(content.as_slice().to_vec())
}

/// A TLS `uint16`-encoded value (protocol versions, ciphersuites) as a number.
pub fn u16_of<T: tls_codec::Serialize>(value: &T) -> u16 {
    encode(value).ok().and_then(|b| b.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_empty_and_truncated_inputs_are_malformed() {
        for bytes in [&b""[..], b"\x00", b"\x00\x01\x00\x02\xff", &[0xffu8; 64][..]] {
            assert_eq!(decode_message(bytes).unwrap_err().code, ErrorCode::MalformedMessage);
        }
    }

    #[test]
    fn a_huge_length_prefix_does_not_allocate_or_panic() {
        // version 1, wire format 1 (public message), group id with a 1 GiB varint length.
        let bytes = [0x00, 0x01, 0x00, 0x01, 0xbf, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(decode_message(&bytes).unwrap_err().code, ErrorCode::MalformedMessage);
    }
}
