import type { NativeCredential } from '../index.js'
import { assertBytes, OpenMlsError } from './errors.js'

/** Credential type code points. */
export const CredentialType = {
  Basic: 1,
  X509: 2,
} as const

/** An empty identity, for {@link BasicCredential.adopt}. */
const EMPTY = new Uint8Array()

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

  /**
   * A credential over bytes nobody else holds (fresh from native code), without the copy the
   * constructor makes.
   * @internal
   */
  static adopt(identity: Uint8Array): BasicCredential {
    const credential = new BasicCredential(EMPTY)
    ;(credential as { identity: Uint8Array }).identity = identity
    return credential
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

/**
 * An X.509 credential: a certificate chain, leaf first, as opaque DER bytes. openmls does not
 * validate certificates; the application does, for example in a credential validation hook.
 */
export class X509Credential {
  /** Always {@link CredentialType.X509}. */
  readonly credentialType = CredentialType.X509
  /** The certificate chain, leaf first. */
  readonly certificates: Uint8Array[]

  constructor(certificates: Uint8Array[]) {
    if (!Array.isArray(certificates) || certificates.length === 0) {
      throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'an X.509 credential needs at least one certificate')
    }
    certificates.forEach((c, i) => assertBytes(c, `certificates[${i}]`))
    this.certificates = certificates.map((c) => Uint8Array.from(c))
  }

  /** The leaf certificate, for display. */
  toString(): string {
    return `X509Credential(${this.certificates.length} certificate(s))`
  }
}

/** A credential of a type this version does not model, kept as bytes. */
export class OtherCredential {
  constructor(
    /** The credential type code point. */
    readonly credentialType: number,
    /** The credential's content, as on the wire. */
    readonly serializedContent: Uint8Array,
  ) {}
}

/** A member's credential. */
export type Credential = BasicCredential | X509Credential | OtherCredential

/** A credential plus the signature public key it is bound to (openmls `CredentialWithKey`). */
export interface CredentialWithKey {
  credential: Credential
  signatureKey: Uint8Array
}


/** Builds a credential from the native representation. @internal */
export function credentialFromNative(native: NativeCredential): Credential {
  if (native.credentialType === CredentialType.Basic) return BasicCredential.adopt(native.serializedContent ?? new Uint8Array())
  if (native.credentialType === CredentialType.X509 && native.certificates) return new X509Credential(native.certificates)
  return new OtherCredential(native.credentialType, native.serializedContent ?? new Uint8Array())
}

/** The native representation of a credential. @internal */
export function credentialToNative(credential: Credential): NativeCredential {
  if (credential instanceof X509Credential) return { credentialType: credential.credentialType, certificates: credential.certificates }
  if (credential instanceof BasicCredential || credential instanceof OtherCredential) {
    return { credentialType: credential.credentialType, serializedContent: credential.serializedContent }
  }
  throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'credential must be a BasicCredential, X509Credential or OtherCredential')
}
