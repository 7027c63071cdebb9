import { assertBytes, call, OpenMlsError } from './errors.js'
import { integer, U16 } from './numbers.js'
import { native } from './native.js'
import { signatureSchemeOf, type Ciphersuite, type SignatureScheme } from './ciphersuite.js'
import { fingerprint } from './hex.js'

/**
 * A signature key pair (openmls_basic_credential's `SignatureKeyPair`). The private key stays in
 * native memory; it leaves only through {@link SignatureKeyPair.toBytes}, for the application to
 * store as a secret. `console.log` and `JSON.stringify` show only the public key.
 */
export class SignatureKeyPair {
  /** @internal */
  readonly native: InstanceType<typeof native.SignatureKeyPair>

  private constructor(handle: InstanceType<typeof native.SignatureKeyPair>) {
    this.native = handle
  }

  /** @internal */
  static fromNative(handle: InstanceType<typeof native.SignatureKeyPair>): SignatureKeyPair {
    return new SignatureKeyPair(handle)
  }

  /** Generates a key pair for a signature scheme. */
  static generate(signatureScheme: SignatureScheme): SignatureKeyPair {
    integer(signatureScheme, 'signatureScheme', 0, U16)
    return new SignatureKeyPair(call(() => native.SignatureKeyPair.generate(signatureScheme)))
  }

  /** Generates a key pair of the scheme a ciphersuite signs with. */
  static forCiphersuite(ciphersuite: Ciphersuite): SignatureKeyPair {
    integer(ciphersuite, 'ciphersuite', 0, U16)
    const scheme = signatureSchemeOf(ciphersuite)
    if (scheme === undefined) {
      throw new OpenMlsError('ERR_UNSUPPORTED_CIPHERSUITE', `unknown ciphersuite ${ciphersuite}`)
    }
    return SignatureKeyPair.generate(scheme)
  }

  /** Imports a key pair exported with {@link SignatureKeyPair.toBytes}. Throws `ERR_INVALID_IDENTITY` if the bytes are not one, or its halves do not match. */
  static fromBytes(bytes: Uint8Array): SignatureKeyPair {
    assertBytes(bytes, 'bytes')
    return new SignatureKeyPair(call(() => native.SignatureKeyPair.fromBytes(bytes)))
  }

  /** Exports the key pair, **private key included**. Store the result as a secret. */
  toBytes(): Uint8Array {
    return call(() => this.native.toBytes())
  }

  /** The public key. */
  get publicKey(): Uint8Array {
    return this.native.publicKey
  }

  /** The signature scheme code point. */
  get signatureScheme(): SignatureScheme {
    return this.native.signatureScheme as SignatureScheme
  }

  /** Only public parts: the private key is never serialized implicitly. */
  toJSON(): { signatureScheme: number; publicKey: string } {
    return { signatureScheme: this.signatureScheme, publicKey: Buffer.from(this.publicKey).toString('base64') }
  }

  /** @internal */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SignatureKeyPair { signatureScheme: 0x${this.signatureScheme.toString(16).padStart(4, '0')}, publicKey: ${fingerprint(this.publicKey)}… }`
  }
}
