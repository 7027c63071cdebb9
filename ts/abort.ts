import { OpenMlsError, toOpenMlsError } from './errors.js'

/** Options of an operation that can be cancelled while it waits (`@node-rs/argon2`'s `AbortSignal`). */
export interface AbortOptions {
  /**
   * Aborts the operation if it has not started yet, while it waits behind earlier operations on
   * its group or for a libuv pool thread: it then rejects with `ERR_ABORTED` and changes nothing.
   * An operation that has started runs to completion.
   */
  signal?: AbortSignal
}

/** Throws `ERR_INVALID_ARGUMENT` unless `signal` is absent or an `AbortSignal`. @internal */
export function assertSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'signal must be an AbortSignal')
  }
}

/** The error of an operation aborted before it started. @internal */
export function aborted(signal: AbortSignal): OpenMlsError {
  return new OpenMlsError('ERR_ABORTED', 'the operation was aborted before it started; nothing changed', { cause: signal.reason })
}

/**
 * Starts a native Promise operation unless `signal` is already aborted. The native side gets a
 * signal of its own, linked to the caller's: napi-rs takes over the `onabort` property of the
 * signal it is given, and the caller's signal must stay the caller's.
 * @internal
 */
export function withSignal<T>(signal: AbortSignal | undefined, start: (native: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (signal !== undefined) return withLinkedSignal(signal, start)
  // Every Promise call without a signal comes here: no async function around it, so the caller's
  // `await` gets the native result with as few turns of the microtask queue as it can.
  try {
    return start(undefined).catch((error: unknown) => {
      throw toOpenMlsError(error)
    })
  } catch (error) {
    return Promise.reject(toOpenMlsError(error))
  }
}

/** {@link withSignal} with a signal. */
async function withLinkedSignal<T>(signal: AbortSignal, start: (native: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (signal.aborted) throw aborted(signal)
  const inner = new AbortController()
  const forward = () => inner.abort()
  signal.addEventListener('abort', forward, { once: true })
  try {
    return await start(inner.signal)
  } catch (error) {
    // napi-rs rejects a task cancelled before it ran with an error named AbortError.
    if (inner.signal.aborted && (error as { name?: unknown } | null)?.name === 'AbortError') throw aborted(signal)
    throw toOpenMlsError(error)
  } finally {
    signal.removeEventListener('abort', forward)
  }
}
