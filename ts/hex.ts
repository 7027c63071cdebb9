/** Lowercase hex of bytes, for display. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** A short fingerprint of bytes: the first `n` bytes in hex. */
export function fingerprint(bytes: Uint8Array, n = 4): string {
  return toHex(bytes.subarray(0, n))
}
