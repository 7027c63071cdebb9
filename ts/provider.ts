import { assertBytes, call } from './errors.js'
import { native } from './native.js'
import type { Ciphersuite } from './ciphersuite.js'

/** The crypto libraries a {@link Provider} can use. */
export type CryptoProviderName = 'rustcrypto' | 'libcrux'

/** Options for {@link Provider}. */
export interface ProviderOptions {
  /** The crypto library: `'rustcrypto'` (default, RustCrypto crates) or `'libcrux'` (Cryspen's verified libcrux). */
  crypto?: CryptoProviderName
}

/**
 * The OpenMLS provider (the book's "Prerequisites"): the crypto backend plus storage for private
 * keys and group state. Key packages, groups and joins made with one provider stay in it: a
 * Welcome can only be joined with the provider that created the key package it is for.
 *
 * Storage is in memory in this version: it lives as long as the process.
 */
export class Provider {
  /** @internal */
  readonly native: InstanceType<typeof native.Provider>

  constructor(options: ProviderOptions = {}) {
    this.native = call(() => new native.Provider(options.crypto ?? 'rustcrypto'))
  }

  /** The crypto backend in use. */
  get crypto(): CryptoProviderName {
    return this.native.crypto as CryptoProviderName
  }

  /**
   * Stores an external PSK (the book's "PSKs"): every member that processes a commit or Welcome
   * injecting this PSK must have stored it.
   */
  storeExternalPsk(pskId: Uint8Array, secret: Uint8Array): void {
    assertBytes(pskId, 'pskId')
    assertBytes(secret, 'secret')
    call(() => this.native.storeExternalPsk(pskId, secret))
  }

  /** Deletes a stored external PSK. */
  deleteExternalPsk(pskId: Uint8Array): void {
    assertBytes(pskId, 'pskId')
    call(() => this.native.deleteExternalPsk(pskId))
  }

  /** The ciphersuites the crypto backend supports. */
  supportedCiphersuites(): Ciphersuite[] {
    return this.native.supportedCiphersuites()
  }

  /** @internal */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Provider { crypto: '${this.crypto}' }`
  }
}
