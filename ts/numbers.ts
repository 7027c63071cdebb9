// Every number that crosses into the native layer is checked here, once. N-API would otherwise
// coerce silently: -1 becomes 4294967295 as a u32, 2**40 becomes 0, and 1.5 becomes 1.
import { OpenMlsError } from './errors.js'

/** The largest value of each unsigned width the native layer takes. */
export const U8 = 0xff
export const U16 = 0xffff
export const U32 = 0xffffffff
const U64 = (1n << 64n) - 1n

/**
 * Returns `value` if it is an integer from `min` to `max`; otherwise throws
 * `ERR_INVALID_ARGUMENT` naming the argument and the range.
 */
export function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}, got ${describe(value)}`)
  }
  return value
}

/** {@link integer}, for an optional argument: `undefined` passes through. */
export function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : integer(value, name, min, max)
}

/** Checks every element of an optional list with {@link integer}. */
export function integers(value: unknown, name: string, min: number, max: number): number[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) throw new OpenMlsError('ERR_INVALID_ARGUMENT', `${name} must be an array of integers from ${min} to ${max}`)
  return value.map((v, i) => integer(v, `${name}[${i}]`, min, max))
}

/** Returns `value` if it is a bigint from 0 to 2^64-1 (an epoch, say). */
export function uint64(value: unknown, name: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > U64) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', `${name} must be a bigint from 0 to 2^64-1, got ${describe(value)}`)
  }
  return value
}

/** Unix seconds: an integer from 0 to 2^53-1 (JavaScript's exact integers). */
export function seconds(value: unknown, name: string): number {
  return integer(value, name, 0, Number.MAX_SAFE_INTEGER)
}

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  return typeof value
}
