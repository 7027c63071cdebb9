// Call order for the Promise operations of one handle, whatever order the thread pool finishes in.
import { aborted, assertSignal } from './abort.js'
import { OpenMlsError } from './errors.js'

/**
 * The Promise operations of one group handle, in call order: each starts after every earlier
 * one has settled. A synchronous operation may not overtake them. @internal
 */
export class OperationQueue {
  #tail: Promise<unknown> = Promise.resolve()
  #queued = 0

  /** How many Promise operations have not settled. */
  get queued(): number {
    return this.#queued
  }

  /** Runs `op` after every earlier operation has settled; `signal` cancels it until it starts. */
  enqueue<T>(op: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    assertSignal(signal)
    this.#queued++
    const run = this.#tail
      .then(() => {
        if (signal?.aborted) throw aborted(signal)
        return op()
      })
      .finally(() => {
        this.#queued--
      })
    this.#tail = run.catch(() => undefined)
    return run
  }

  /** Refuses a synchronous operation that would overtake a queued Promise operation. */
  assertIdle(operation: string): void {
    if (this.#queued > 0) {
      throw new OpenMlsError(
        'ERR_GROUP_BUSY',
        `${operation} would overtake ${this.#queued} Promise operation(s) on this group that have not settled; await them first, or use the Promise form`,
      )
    }
  }
}
