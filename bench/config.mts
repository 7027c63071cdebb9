/**
 * The benchmark's sizes, in one place: every implementation runs the same workloads (group sizes,
 * payloads, members added); only the number of repetitions differs, so that the slower library
 * does not make the run take an hour. `--smoke` runs every scenario once with tiny sizes.
 */

/** How many times each implementation repeats a scenario (after `warmup` discarded runs). */
export interface Repetitions {
  warmup: number
  /** Repetitions of the add-N case (each with a fresh group) and of the event-loop lag case. */
  commits: number
  /** Self-updates in the group of `groupSize` (each one a new epoch); blocks of them with `updateBlock`. */
  updates: number
  /**
   * Self-updates per repetition, run back to back; the repetition's figure is their median. A
   * self-update takes about a millisecond: a repetition paired with a native one (see measure.mts)
   * would otherwise time the switch from one process to the other more than the operation.
   */
  updateBlock?: number
  /** Batches of `messages` messages, and batches of `keyPackages` key packages. */
  batches: number
  /** Messages per batch. */
  messages: number
  /** Key packages per batch. */
  keyPackages: number
  /** Messages per batch on the file store (each one is a durable transaction). */
  fileMessages: number
}

export interface Sizes {
  smoke: boolean
  /** Members added in one commit ("add 1000"). */
  addCount: number
  /** The larger group: self-updates and the second set of message rows ("group of 100"). */
  groupSize: number
  /** The small application message, in bytes. */
  smallMessage: number
  /** The large application message, in bytes (10 KiB). */
  largeMessage: number
  openmls: Repetitions
  tsmls: Repetitions
  /**
   * The native binary's own flags (its standalone mode and the `--rss` run). The native figures of
   * the report come from repetitions paired with openmls-node's, with openmls-node's counts.
   */
  native: Repetitions
}

/**
 * Processes a scenario paired with native openmls runs in, its figures the median over them: on this
 * shared machine, one process in four read a self-update 1.15× native while the others read
 * 1.01–1.05× (the same code, minutes apart), so that one process is one sample, not a measurement.
 * Three were not enough: two full runs an hour apart read the self-update row 1.06× and 1.12× the
 * in-Node floor.
 */
export const PAIRED_PROCESSES = 5

export const FULL: Sizes = {
  smoke: false,
  addCount: 1000,
  groupSize: 100,
  smallMessage: 100,
  largeMessage: 10 * 1024,
  openmls: { warmup: 1, commits: 5, updates: 16, updateBlock: 5, batches: 11, messages: 1000, keyPackages: 300, fileMessages: 100 },
  tsmls: { warmup: 1, commits: 3, updates: 7, batches: 5, messages: 100, keyPackages: 40, fileMessages: 0 },
  native: { warmup: 1, commits: 5, updates: 20, batches: 7, messages: 2000, keyPackages: 500, fileMessages: 0 },
}

export const SMOKE: Sizes = {
  smoke: true,
  addCount: 3,
  groupSize: 4,
  smallMessage: 100,
  largeMessage: 10 * 1024,
  openmls: { warmup: 0, commits: 1, updates: 1, batches: 1, messages: 2, keyPackages: 2, fileMessages: 2 },
  tsmls: { warmup: 0, commits: 1, updates: 1, batches: 1, messages: 2, keyPackages: 2, fileMessages: 0 },
  native: { warmup: 0, commits: 1, updates: 1, batches: 1, messages: 2, keyPackages: 2, fileMessages: 0 },
}

/**
 * What a scenario measured, by metric id (see rows.mts): milliseconds per operation (per key
 * package, commit, join or message), or milliseconds of event-loop lag, or MB of memory.
 */
export type Metrics = Record<string, number>
