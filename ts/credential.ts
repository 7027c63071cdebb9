import { assertBytes } from './errors.js'

/** Credential type code points. */
export const CredentialType = {
  Basic: 1,
  X509: 2,
} as const

/**
 * A basic credential: an application-defined identity, as bytes. The binding of the identity to a
 * real user is the application's Authentication Service's job (see the book's "Credentials").
 */
export class BasicCredential {
  /** Always {@link CredentialType.Basic}. */
  readonly credentialType = CredentialType.Basic
  /** The identity bytes. */
  readonly identity: Uint8Array

  constructor(identity: Uint8Array | string) {
    if (typeof identity === 'string') {
      this.identity = new TextEncoder().encode(identity)
    } else {
      assertBytes(identity, 'identity')
      this.identity = Uint8Array.from(identity)
    }
  }

  /** The credential's content on the wire (for a basic credential, the identity). */
  get serializedContent(): Uint8Array {
    return this.identity
  }

  /** The identity decoded as UTF-8, for display. */
  toString(): string {
    return new TextDecoder().decode(this.identity)
  }
}

/** A credential of a type this version does not model (for example X.509), kept as bytes. */
export class OtherCredential {
  constructor(
    /** The credential type code point. */
    readonly credentialType: number,
    /** The credential's content, as on the wire. */
    readonly serializedContent: Uint8Array,
  ) {}
}

/** A member's credential. This version creates basic credentials and reads any type. */
export type Credential = BasicCredential | OtherCredential

/** A credential plus the signature public key it is bound to (openmls `CredentialWithKey`). */
export interface CredentialWithKey {
  credential: Credential
  signatureKey: Uint8Array
}

/** Builds a credential from the native representation. */
export function credentialFromNative(native: { credentialType: number; serializedContent: Uint8Array }): Credential {
  return native.credentialType === CredentialType.Basic
    ? new BasicCredential(native.serializedContent)
    : new OtherCredential(native.credentialType, native.serializedContent)
}
