/** Every stable error code openmls-node throws. Codes are never renamed or reused. */
export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_UNSUPPORTED_CIPHERSUITE'
  | 'ERR_MALFORMED_MESSAGE'
  | 'ERR_WRONG_MESSAGE_TYPE'
  | 'ERR_WRONG_GROUP'
  | 'ERR_WRONG_EPOCH'
  | 'ERR_REPLAYED_MESSAGE'
  | 'ERR_OWN_MESSAGE'
  | 'ERR_DECRYPTION_FAILED'
  | 'ERR_INVALID_SIGNATURE'
  | 'ERR_UNKNOWN_SENDER'
  | 'ERR_VALIDATION_FAILED'
  | 'ERR_INVALID_COMMIT'
  | 'ERR_INVALID_KEY_PACKAGE'
  | 'ERR_NO_MATCHING_KEY_PACKAGE'
  | 'ERR_INVALID_WELCOME'
  | 'ERR_MISSING_RATCHET_TREE'
  | 'ERR_NO_PENDING_COMMIT'
  | 'ERR_PENDING_COMMIT'
  | 'ERR_GROUP_INACTIVE'
  | 'ERR_UNKNOWN_MEMBER'
  | 'ERR_STALE_STAGED_COMMIT'
  | 'ERR_INVALID_IDENTITY'
  | 'ERR_STORAGE'
  | 'ERR_CRYPTO'
  | 'ERR_INTERNAL'

/**
 * The one error class openmls-node throws. `code` is stable and meant for branching; `message` is
 * for people and never contains key material.
 *
 * @example
 * try { await group.processMessage(bytes) } catch (e) {
 *   if (e instanceof OpenMlsError && e.code === 'ERR_WRONG_EPOCH') { ... }
 * }
 */
export class OpenMlsError extends Error {
  /** The stable error code. */
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OpenMlsError'
    this.code = code
  }
}

const CODED = /^(ERR_[A-Z_]+): ([\s\S]*)$/

/** Converts whatever the native layer threw into an {@link OpenMlsError}. */
export function toOpenMlsError(error: unknown): OpenMlsError {
  if (error instanceof OpenMlsError) return error
  const message = error instanceof Error ? error.message : String(error)
  const coded = CODED.exec(message)
  if (coded) return new OpenMlsError(coded[1] as ErrorCode, coded[2])
  // N-API's own argument checks (a string where bytes were expected, ...).
  if (error instanceof TypeError || (error as { code?: string })?.code === 'InvalidArg') {
    return new OpenMlsError('ERR_INVALID_ARGUMENT', message, { cause: error })
  }
  return new OpenMlsError('ERR_INTERNAL', message, { cause: error })
}

/** Runs a native call, rethrowing its error as an {@link OpenMlsError}. */
export function call<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw toOpenMlsError(error)
  }
}

/** Awaits a native Promise, rethrowing its rejection as an {@link OpenMlsError}. */
export async function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw toOpenMlsError(error)
  }
}

/** Throws `ERR_INVALID_ARGUMENT` unless `value` is a Uint8Array (Buffers are Uint8Arrays). */
export function assertBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', `${name} must be a Uint8Array`)
  }
}
