/** Timing helpers: a monotonic clock, medians, and warm-up plus repetitions. */
import type { Metrics } from './config.mjs'

/** Runs one repetition of a scenario on request: the native binary (native.mts) or the in-Node floor (floor.mts). */
export interface Peer {
  request(line: string): Promise<Metrics>
}

/**
 * A repetition to pair with each of ours: the request that runs the same scenario in a peer, and
 * the prefix of the figures it gives: `native` for native openmls in a Rust process, `floor` for
 * native openmls called through N-API in this Node process.
 */
export interface Beside {
  peer: Peer
  request: string
  as: 'native' | 'floor'
}

/** Our metric id without the API prefix: the id of the same measurement in a peer. */
const peerId = (metric: string): string => metric.replace(/^promise\./, '')

/** The keys of a peer's figure, and of the per-pair ratio and difference, for our metric `k`. */
const keysOf = (as: Beside['as'], k: string) =>
  as === 'native' ? { value: `native:${k}`, ratio: `pair:${k}`, diff: `pairdiff:${k}` } : { value: `floor:${k}`, ratio: `floorpair:${k}`, diff: `floordiff:${k}` }

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
 * With peers `beside`, each run is paired with one repetition of the same scenario by each peer,
 * run right before or right after it (alternately). For each metric `m` that a peer also reports,
 * the result then also holds the median of the peer's runs (`native:m`, `floor:m`) and the medians
 * of the per-pair ratio, ours ÷ theirs (`pair:m`, `floorpair:m`), and difference, ours − theirs
 * (`pairdiff:m`, `floordiff:m`). A pair shares the machine's load of its moment, which a shared
 * machine changes from second to second: the per-pair figures do not move with it the way two
 * separate runs do.
 */
export async function repeat(warmup: number, reps: number, rep: (i: number) => Metrics | Promise<Metrics>, beside: Beside[] = []): Promise<Metrics> {
  const samples = new Map<string, number[]>()
  const add = (k: string, v: number) => samples.set(k, [...(samples.get(k) ?? []), v])
  for (let i = 0; i < warmup + Math.max(1, reps); i++) {
    const theirs = new Map<Beside, Metrics>()
    const runPeers = async () => {
      for (const b of beside) theirs.set(b, await b.peer.request(b.request))
    }
    if (i % 2 === 1) await runPeers()
    const result = await rep(i)
    if (i % 2 === 0) await runPeers()
    if (i < warmup) continue
    for (const [k, v] of Object.entries(result)) {
      add(k, v)
      for (const [b, m] of theirs) {
        const n = m[peerId(k)]
        if (n === undefined || !(n > 0)) continue
        const keys = keysOf(b.as, k)
        add(keys.value, n)
        add(keys.ratio, v / n)
        add(keys.diff, v - n)
      }
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
