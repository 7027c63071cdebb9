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

  /**
   * Runs `op` after every earlier operation has settled; `signal` cancels it until it starts. With
   * nothing in flight, `op` starts at once, in this call: a Promise call on an idle group reaches
   * the thread pool without first waiting for a turn of the microtask queue.
   */
  enqueue<T>(op: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    assertSignal(signal)
    const start = (): Promise<T> => {
      if (signal?.aborted) throw aborted(signal)
      return op()
    }
    // With none queued, every earlier operation has settled (the count drops only once one has).
    const idle = this.#queued === 0
    this.#queued++
    let started: Promise<T>
    if (idle) {
      try {
        started = start()
      } catch (error) {
        started = Promise.reject(error)
      }
    } else {
      started = this.#tail.then(start)
    }
    const settled = () => {
      this.#queued--
    }
    started.then(settled, settled)
    this.#tail = started.catch(() => undefined)
    return started
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
