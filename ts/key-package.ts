import { assertBytes, call, OpenMlsError } from './errors.js'
import { native } from './native.js'
import { credentialFromNative, credentialToNative, type Credential, type CredentialWithKey } from './credential.js'
import { integer, U16 } from './numbers.js'
import {
  capabilitiesToNative,
  extensionFromNative,
  extensionsToNative,
  leafNodeFromNative,
  lifetimeFromNative,
  lifetimeToNative,
  type Capabilities,
  type Extension,
  type LeafNode,
  type Lifetime,
} from './extensions.js'
import type { Ciphersuite } from './ciphersuite.js'
import type { Provider } from './provider.js'
import type { SignatureKeyPair } from './signature-key-pair.js'
import { fingerprint } from './hex.js'

/** What {@link KeyPackageBuilder.build} needs (the arguments of openmls's `KeyPackageBuilder::build`). */
export interface KeyPackageBuildParams {
  /** The ciphersuite the key package is for. */
  ciphersuite: Ciphersuite
  /** The provider that stores the key package's private keys. */
  provider: Provider
  /** The signer whose public key is in `credentialWithKey`. */
  signer: SignatureKeyPair
  /** The credential and signature key of the leaf. */
  credentialWithKey: CredentialWithKey
}

/**
 * Builds key packages, as openmls's `KeyPackage::builder()` does: set what you need, then
 * {@link KeyPackageBuilder.build}. Unset options take openmls's defaults (a lifetime of about
 * 12 weeks, default capabilities, no extensions).
 */
export class KeyPackageBuilder {
  #lifetime?: Lifetime
  #keyPackageExtensions?: Extension[]
  #leafNodeExtensions?: Extension[]
  #capabilities?: Capabilities
  #lastResort = false

  /** Sets the key package's lifetime. */
  keyPackageLifetime(lifetime: Lifetime): this {
    this.#lifetime = lifetime
    return this
  }

  /** Sets the key package extensions. */
  keyPackageExtensions(extensions: Extension[]): this {
    this.#keyPackageExtensions = extensions
    return this
  }

  /** Sets the leaf node extensions. */
  leafNodeExtensions(extensions: Extension[]): this {
    this.#leafNodeExtensions = extensions
    return this
  }

  /** Sets the leaf's capabilities. */
  leafNodeCapabilities(capabilities: Capabilities): this {
    this.#capabilities = capabilities
    return this
  }

  /** Marks the key package as last resort: a Welcome does not consume it. */
  markAsLastResort(): this {
    this.#lastResort = true
    return this
  }

  /** Creates the key package and stores its private keys in the provider. */
  build(params: KeyPackageBuildParams): KeyPackage {
    const { ciphersuite, provider, signer, credentialWithKey } = params
    assertSignerMatches(credentialWithKey, signer)
    return KeyPackage.fromNative(
      call(() =>
        native.KeyPackage.create(provider.native, integer(ciphersuite, 'ciphersuite', 0, U16), signer.native, credentialToNative(credentialWithKey.credential), {
          lifetime: lifetimeToNative(this.#lifetime),
          keyPackageExtensions: extensionsToNative(this.#keyPackageExtensions),
          leafNodeExtensions: extensionsToNative(this.#leafNodeExtensions),
          capabilities: capabilitiesToNative(this.#capabilities),
          lastResort: this.#lastResort,
        }),
      ),
    )
  }
}

/** Throws unless the credential's signature key is the signer's public key. @internal */
export function assertSignerMatches(credentialWithKey: CredentialWithKey, signer: SignatureKeyPair): void {
  assertBytes(credentialWithKey.signatureKey, 'credentialWithKey.signatureKey')
  if (!Buffer.from(credentialWithKey.signatureKey).equals(Buffer.from(signer.publicKey))) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', "the credential's signature key is not the signer's public key")
  }
}

/** What a key package directory accepts (see {@link KeyPackage.validateForDirectory}). */
export interface DirectoryPolicy {
  /** The ciphersuites the directory serves; any supported one when omitted. */
  ciphersuites?: Ciphersuite[]
  /** What the groups it serves require of every member (their RequiredCapabilities). */
  requiredCapabilities?: { extensionTypes?: number[]; proposalTypes?: number[]; credentialTypes?: number[] }
  /** Whether last-resort key packages are taken. Default `true`. */
  allowLastResort?: boolean
  /** How many seconds a key package must still be valid. Default 0. */
  minValidSeconds?: number
}

/**
 * What every MLS 1.0 leaf supports without listing it (RFC 9420 §7.2): the default extension
 * types (1-5) and proposal types (1-7). Credential types have no default: a leaf lists each.
 */
const DEFAULT_CAPABILITIES = { extension: [1, 2, 3, 4, 5], proposal: [1, 2, 3, 4, 5, 6, 7], credential: [] } as const

/**
 * A validated key package (the book's "Key packages"): what a client publishes so others can add
 * it to groups. Received key packages are parsed and validated with {@link KeyPackage.fromBytes}.
 */
export class KeyPackage {
  /** @internal */
  readonly native: InstanceType<typeof native.KeyPackage>

  private constructor(handle: InstanceType<typeof native.KeyPackage>) {
    this.native = handle
  }

  /** @internal */
  static fromNative(handle: InstanceType<typeof native.KeyPackage>): KeyPackage {
    return new KeyPackage(handle)
  }

  /** Starts building a key package. */
  static builder(): KeyPackageBuilder {
    return new KeyPackageBuilder()
  }

  /**
   * Parses and validates received key package bytes (an `MLSMessage` or a bare `KeyPackage`):
   * signatures, lifetime, protocol version, and ciphersuite support. Throws `ERR_MALFORMED_MESSAGE`,
   * `ERR_WRONG_MESSAGE_TYPE`, `ERR_INVALID_KEY_PACKAGE` or `ERR_UNSUPPORTED_CIPHERSUITE`.
   */
  static fromBytes(provider: Provider, bytes: Uint8Array): KeyPackage {
    assertBytes(bytes, 'bytes')
    return new KeyPackage(call(() => native.KeyPackage.fromBytes(provider.native, bytes)))
  }

  /**
   * Checks a key package a client publishes to a directory (a delivery service's key package
   * store), beyond {@link KeyPackage.fromBytes}'s checks (signatures, lifetime, version,
   * ciphersuite support): the ciphersuites the directory serves, the extensions, proposals and
   * credential types the groups it serves require (the leaf must list them in its capabilities),
   * whether a last-resort key package is accepted, and how long it must still be valid. Returns
   * the key package, or throws `ERR_INVALID_KEY_PACKAGE` (or `ERR_UNSUPPORTED_CIPHERSUITE`)
   * naming the first rule it breaks.
   */
  static validateForDirectory(provider: Provider, bytes: Uint8Array, policy: DirectoryPolicy = {}): KeyPackage {
    const kp = KeyPackage.fromBytes(provider, bytes)
    if (policy.ciphersuites && !policy.ciphersuites.includes(kp.ciphersuite)) {
      throw new OpenMlsError('ERR_UNSUPPORTED_CIPHERSUITE', `ciphersuite ${kp.ciphersuite} is not one this directory serves (${policy.ciphersuites.join(', ')})`)
    }
    if (kp.lastResort && policy.allowLastResort === false) {
      throw new OpenMlsError('ERR_INVALID_KEY_PACKAGE', 'this directory does not take last-resort key packages')
    }
    const remaining = kp.lifetime.notAfter - Math.floor(Date.now() / 1000)
    const minimum = integer(policy.minValidSeconds ?? 0, 'minValidSeconds', 0, Number.MAX_SAFE_INTEGER)
    if (remaining < minimum) {
      throw new OpenMlsError('ERR_INVALID_KEY_PACKAGE', `the key package expires in ${remaining} s; this directory needs at least ${minimum} s`)
    }
    const capabilities = kp.leafNode.capabilities
    const required = policy.requiredCapabilities ?? {}
    for (const [what, listed] of [
      ['extension', capabilities.extensions],
      ['proposal', capabilities.proposals],
      ['credential', capabilities.credentials],
    ] as const) {
      const wanted = required[`${what}Types` as const] ?? []
      const missing = wanted.filter((type) => !listed.includes(type) && !(DEFAULT_CAPABILITIES[what] as readonly number[]).includes(type))
      if (missing.length) throw new OpenMlsError('ERR_INVALID_KEY_PACKAGE', `the leaf does not support ${what} type(s) ${missing.join(', ')}, which this directory's groups require`)
    }
    return kp
  }

  /** The key package as an encoded `MLSMessage`, ready to publish. */
  toBytes(): Uint8Array {
    return call(() => this.native.toBytes())
  }

  /** The key package's hash reference (RFC 9420 §5.2). */
  hashRef(provider: Provider): Uint8Array {
    return call(() => this.native.hashRef(provider.native))
  }

  /** The ciphersuite. */
  get ciphersuite(): Ciphersuite {
    return this.native.ciphersuite as Ciphersuite
  }

  /** The leaf's credential. */
  get credential(): Credential {
    return credentialFromNative(this.native.credential)
  }

  /** The lifetime, in seconds since the Unix epoch. */
  get lifetime(): { notBefore: number; notAfter: number } {
    return lifetimeFromNative(this.native.lifetime)
  }

  /** Whether this is a last-resort key package. */
  get lastResort(): boolean {
    return this.native.lastResort
  }

  /** The key package extensions. */
  get extensions(): Extension[] {
    return this.native.extensions.map(extensionFromNative)
  }

  /** The leaf node: credential, keys, capabilities and leaf extensions. */
  get leafNode(): LeafNode {
    return leafNodeFromNative(this.native.leafNode)
  }

  /** The leaf's signature public key. */
  get signatureKey(): Uint8Array {
    return this.native.signatureKey
  }

  /** @internal */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyPackage { ciphersuite: ${this.ciphersuite}, credential: '${String(this.credential)}', signatureKey: ${fingerprint(this.signatureKey)}… }`
  }
}
