/**
 * What the clear header of an MLS message says (RFC 9420 §6, §6.3), read without a native call.
 * @internal
 */

/** `mls_private_message` (RFC 9420 §6). */
const WIRE_FORMAT_PRIVATE_MESSAGE = 2
/** `application` (RFC 9420 §6). */
const CONTENT_TYPE_APPLICATION = 1

/**
 * Whether `bytes` start like an encrypted application message: `MLSMessage { version = mls10,
 * wire_format = mls_private_message, PrivateMessage { group_id<V>, epoch, content_type =
 * application, ... } }`. Only a hint for choosing where to process the message: openmls
 * parses and checks all of it either way.
 */
export function looksLikeApplicationMessage(bytes: Uint8Array): boolean {
  if (bytes.length < 5 || bytes[0] !== 0 || bytes[1] !== 1 || bytes[2] !== 0 || bytes[3] !== WIRE_FORMAT_PRIVATE_MESSAGE) return false
  // group_id<V>: a QUIC-style variable-length size (RFC 9420 §2.1.2).
  const first = bytes[4]
  const width = 1 << (first >> 6)
  if (width > 4) return false
  let size = first & 0x3f
  for (let i = 1; i < width; i++) size = size * 256 + (bytes[4 + i] ?? 0)
  const contentType = 4 + width + size + 8
  return contentType < bytes.length && bytes[contentType] === CONTENT_TYPE_APPLICATION
}
