import type { ErrorCode as GeneratedErrorCode } from '../index.js'
import { native } from './native.js'

/**
 * Every stable error code openmls-node throws: a union of string literals (`'ERR_WRONG_EPOCH' |
 * ...`). Codes are never renamed or reused. Generated from the one list in the Rust core, where
 * each code is documented (`crates/core/src/error.rs`).
 */
export type ErrorCode = GeneratedErrorCode

/**
 * The error codes by name, as a frozen object (`ErrorCodes.WrongEpoch === 'ERR_WRONG_EPOCH'`),
 * generated from the same list.
 */
export const ErrorCodes: Readonly<Record<string, ErrorCode>> = Object.freeze({ ...(native as unknown as { ErrorCode: Record<string, ErrorCode> }).ErrorCode })

const KNOWN = new Set<string>(Object.values(ErrorCodes))

/** Whether `value` is one of the {@link ErrorCode}s. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN.has(value)
}

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

  /**
   * Whether `error` is an {@link OpenMlsError}, with `code` if one is given: a type guard.
   *
   * @example
   * if (OpenMlsError.is(e, 'ERR_WRONG_EPOCH')) { ... e.code is 'ERR_WRONG_EPOCH' here }
   */
  static is<C extends ErrorCode = ErrorCode>(error: unknown, code?: C): error is OpenMlsError & { readonly code: C } {
    return error instanceof OpenMlsError && (code === undefined || error.code === code)
  }
}

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

/**
 * Converts whatever the native layer threw into an {@link OpenMlsError}. The native layer builds
 * its errors with `code` and `message` already set; this only gives them the class.
 */
export function toOpenMlsError(error: unknown): OpenMlsError {
  if (error instanceof OpenMlsError) return error
  const message = error instanceof Error ? error.message : String(error)
  const napiStatus = (error as { code?: unknown } | null)?.code
  if (error instanceof Error && isErrorCode(napiStatus)) return new OpenMlsError(napiStatus, message)
  // N-API's own argument conversions (a string where a number was expected, ...).
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
