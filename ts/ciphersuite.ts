import { native } from './native.js'

/**
 * MLS ciphersuites by their RFC 9420 names (IANA code points). Which ones a provider supports is
 * told by {@link Provider.supportedCiphersuites}.
 */
export const Ciphersuite = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: 0x0001,
  MLS_128_DHKEMP256_AES128GCM_SHA256_P256: 0x0002,
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: 0x0003,
  MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448: 0x0004,
  MLS_256_DHKEMP521_AES256GCM_SHA512_P521: 0x0005,
  MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448: 0x0006,
  MLS_256_DHKEMP384_AES256GCM_SHA384_P384: 0x0007,
  // Post-quantum suites of draft-ietf-mls-pq-ciphersuites (provisional code points).
  MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519: 0x004d,
  MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519: 0x004e,
  MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519: 0x004f,
  MLS_128_MLKEM768_AES256GCM_SHA384_P256: 0x0050,
  MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65: 0x0051,
  MLS_128_MLKEM768X25519_CHACHA20POLY1305_SHA384_MLDSA44: 0x0052,
  MLS_192_MLKEM1024_AES256GCM_SHA384_P384: 0x0042,
  MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87: 0x0906,
  MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87: 0x0907,
  MLS_128_MLKEM768_AES256GCM_SHA384_Ed25519: 0xf042,
} as const

/** A ciphersuite code point: one of {@link Ciphersuite}'s. */
export type Ciphersuite = (typeof Ciphersuite)[keyof typeof Ciphersuite]

/** Signature schemes (TLS SignatureScheme code points). */
export const SignatureScheme = {
  ECDSA_SECP256R1_SHA256: 0x0403,
  ECDSA_SECP384R1_SHA384: 0x0503,
  ECDSA_SECP521R1_SHA512: 0x0603,
  ED25519: 0x0807,
  ED448: 0x0808,
  MLDSA44: 0x0904,
  MLDSA65: 0x0905,
  MLDSA87: 0x0906,
} as const

/** A signature scheme code point: one of {@link SignatureScheme}'s. */
export type SignatureScheme = (typeof SignatureScheme)[keyof typeof SignatureScheme]

/** The signature scheme a ciphersuite signs with (as openmls defines it), or `undefined` for an unknown suite. */
export function signatureSchemeOf(ciphersuite: Ciphersuite): SignatureScheme | undefined {
  try {
    return native.signatureSchemeFor(ciphersuite) as SignatureScheme
  } catch {
    return undefined
  }
}

/** The name of a ciphersuite code point, for display. */
export function ciphersuiteName(ciphersuite: number): string {
  const entry = Object.entries(Ciphersuite).find(([, code]) => code === ciphersuite)
  return entry ? entry[0] : `0x${ciphersuite.toString(16).padStart(4, '0')}`
}
