/** Timing helpers: a monotonic clock, medians, and warm-up plus repetitions. */
import type { Metrics } from './config.mjs'

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
 */
export async function repeat(warmup: number, reps: number, rep: (i: number) => Metrics | Promise<Metrics>): Promise<Metrics> {
  const samples = new Map<string, number[]>()
  for (let i = 0; i < warmup + Math.max(1, reps); i++) {
    const result = await rep(i)
    if (i < warmup) continue
    for (const [k, v] of Object.entries(result)) samples.set(k, [...(samples.get(k) ?? []), v])
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
