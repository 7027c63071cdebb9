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
  | 'ERR_PENDING_PROPOSALS'
  | 'ERR_GROUP_INACTIVE'
  | 'ERR_STALE_HANDLE'
  | 'ERR_GROUP_BUSY'
  | 'ERR_UNKNOWN_MEMBER'
  | 'ERR_STALE_STAGED_COMMIT'
  | 'ERR_WELCOME_USED'
  | 'ERR_INVALID_IDENTITY'
  | 'ERR_INVALID_EXTENSION'
  | 'ERR_UNKNOWN_PROPOSAL'
  | 'ERR_PSK_NOT_FOUND'
  | 'ERR_CREDENTIAL_REJECTED'
  | 'ERR_VALIDATOR_FAILED'
  | 'ERR_UNKNOWN_GROUP'
  | 'ERR_STORAGE'
  | 'ERR_STORAGE_CORRUPT'
  | 'ERR_STORAGE_LOCKED'
  | 'ERR_STORAGE_FULL'
  | 'ERR_STORAGE_READONLY'
  | 'ERR_STORAGE_VERSION'
  | 'ERR_WRONG_STORAGE_KEY'
  | 'ERR_STORAGE_CLOSED'
  | 'ERR_CRYPTO'
  | 'ERR_ABORTED'
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

/** The N-API statuses that mean "this argument has the wrong type". */
const NAPI_ARGUMENT_STATUSES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
  'DateExpected',
  'ArrayBufferExpected',
  'DetachableArraybufferExpected',
])

/** Converts whatever the native layer threw into an {@link OpenMlsError}. */
export function toOpenMlsError(error: unknown): OpenMlsError {
  if (error instanceof OpenMlsError) return error
  const message = error instanceof Error ? error.message : String(error)
  const coded = CODED.exec(message)
  if (coded) return new OpenMlsError(coded[1] as ErrorCode, coded[2])
  // N-API's own argument conversions (a string where a number was expected, ...).
  const napiStatus = (error as { code?: unknown })?.code
  if (error instanceof TypeError || (typeof napiStatus === 'string' && NAPI_ARGUMENT_STATUSES.has(napiStatus))) {
    return new OpenMlsError('ERR_INVALID_ARGUMENT', message, { cause: error })
  }
  return new OpenMlsError('ERR_INTERNAL', message, { cause: error })
}

/** The error of a credential validator that threw instead of answering. @internal */
export function validatorFailed(error: unknown): OpenMlsError {
  return new OpenMlsError('ERR_VALIDATOR_FAILED', 'the credential validator threw instead of answering; nothing changed, retry once it can answer', {
    cause: error,
  })
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

/** Throws `ERR_INVALID_ARGUMENT` unless `value` is an array of leaf indices (unsigned 32-bit integers). */
export function assertLeafIndices(value: unknown, name: string): asserts value is number[] {
  if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', `${name} must be an array of leaf indices (integers from 0 to 2^32-1)`)
  }
}

/** Throws `ERR_INVALID_ARGUMENT` unless `value` is a Uint8Array (Buffers are Uint8Arrays). */
export function assertBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', `${name} must be a Uint8Array`)
  }
}
