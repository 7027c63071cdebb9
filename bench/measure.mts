/** Timing helpers: a monotonic clock, medians, and warm-up plus repetitions. */
import type { Metrics } from './config.mjs'
import type { NativePeer } from './native.mjs'

/**
 * A native repetition to pair with each of ours: the request that runs the same scenario in the
 * native binary (see native.mts).
 */
export interface Beside {
  peer: NativePeer
  request: string
}

/** Our metric id without the API prefix: the id of the same measurement in the native binary. */
const nativeId = (metric: string): string => metric.replace(/^promise\./, '')

/** Milliseconds on a monotonic clock. */
export const now = (): number => performance.now()

/** The median of some numbers. */
export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('median of nothing')
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * Runs `rep` `warmup + reps` times, one after the other, and returns the median of each metric it
 * reports over the runs after the warm-up.
 *
 * With `beside`, each run is paired with a native repetition of the same scenario, run right
 * before or right after it (alternately). For each metric `m` that has a native counterpart, the
 * result then also holds `native:m`, the median of the native runs, and `pair:m` and
 * `pairdiff:m`, the medians of the per-pair ratio (ours ÷ native) and difference (ours − native).
 * A pair shares the machine's load of its moment, which a shared machine changes from second to
 * second: the per-pair figures do not move with it the way two separate runs do.
 */
export async function repeat(warmup: number, reps: number, rep: (i: number) => Metrics | Promise<Metrics>, beside?: Beside): Promise<Metrics> {
  const samples = new Map<string, number[]>()
  const add = (k: string, v: number) => samples.set(k, [...(samples.get(k) ?? []), v])
  for (let i = 0; i < warmup + Math.max(1, reps); i++) {
    let theirs: Metrics = {}
    if (beside && i % 2 === 1) theirs = await beside.peer.request(beside.request)
    const result = await rep(i)
    if (beside && i % 2 === 0) theirs = await beside.peer.request(beside.request)
    if (i < warmup) continue
    for (const [k, v] of Object.entries(result)) {
      add(k, v)
      const n = theirs[nativeId(k)]
      if (n === undefined || !(n > 0)) continue
      add(`native:${k}`, n)
      add(`pair:${k}`, v / n)
      add(`pairdiff:${k}`, v - n)
    }
  }
  return Object.fromEntries([...samples].map(([k, v]) => [k, median(v)]))
}

/** Times a synchronous or asynchronous function, in milliseconds. */
export async function timed<T>(fn: () => T | Promise<T>): Promise<[T, number]> {
  const start = now()
  const value = await fn()
  return [value, now() - start]
}

/** Fails loudly: a benchmark that measured the wrong thing is worse than none. */
export function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`benchmark check failed: ${what}`)
}
