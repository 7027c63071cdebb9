/**
 * The rows of the report: what each one measures in each implementation, its unit, and the
 * target of issue #11 (point 2) it is held to. Every raw metric is "lower is better" (ms per
 * operation, ms of lag, MB), so a ratio is ts-mls ÷ openmls-node (how many times faster or
 * smaller openmls-node is) and an overhead is openmls-node ÷ native.
 */
import type { Metrics, Sizes } from './config.mjs'

export type Unit = 'key packages/s' | 'ms' | 'msg/s' | 'MB/s' | 'MB'

export interface Target {
  op: '>=' | '<='
  value: number
}

export interface Row {
  /** Stable id, printed at the start of the row's line (the smoke test looks for it). */
  id: string
  section: string
  label: string
  /** A short label for the chart. */
  short: string
  unit: Unit
  /** The openmls-node metric (empty when `nodeNone` says why there is none). */
  metric: string
  nodeNone?: string
  /** The ts-mls metric, or why there is none. */
  ts: { metric: string; note?: string } | { none: string }
  /** The native openmls metric, or why there is none. */
  native: { metric: string; note?: string } | { none: string }
  /** Payload bytes, for MB/s. */
  payload?: number
  target?: Target
  /** Which overhead target applies: ≤ 1.10× on commits and joins, ≤ 3 µs per message. */
  overhead?: 'commit' | 'message'
  /**
   * Promise rows of commits and joins: their native twin runs each openmls call on a pool of worker
   * threads and waits for it, as a Promise call does (crates/bench, `Exec::Pool`).
   */
  offThread?: boolean
  /** Decrypt rows: the metric of V8's cost for a fresh plaintext buffer of this size (`v8.buffer.*`). */
  v8Buffer?: string
  /**
   * Rows paired with the in-Node floor too (bench/floor.mts: native openmls called through N-API
   * from the same process, the same way): their overhead target is judged against it.
   */
  inNode?: boolean
}

/** The overhead targets of issue #11. */
export const OVERHEAD_TARGET = { commit: 1.1, messageMicros: 3 } as const

const same = (metric: string, note?: string) => ({ metric, ...(note ? { note } : {}) })
const TS_PROMISE = 'ts-mls has only a Promise API: the same measurement as the *Sync row'
/** The native note of a Promise row of commits and joins. */
const NATIVE_POOL = 'each call on a pool of 4 threads, waited for'

/** Every row, in report order. */
export function rows(sizes: Sizes): Row[] {
  const n = sizes.addCount
  const g = sizes.groupSize
  const small = `${sizes.smallMessage} B`
  const large = `${sizes.largeMessage / 1024} KiB`
  const out: Row[] = []
  const row = (r: Row) => out.push(r)

  row({ id: 'kp', section: 'Key packages', label: 'key packages / s', short: 'key packages/s', unit: 'key packages/s', metric: 'kp', ts: same('kp'), native: same('kp'), target: { op: '>=', value: 10_000 } })

  for (const api of ['sync', 'promise'] as const) {
    const p = api === 'sync' ? '' : 'promise.'
    const tag = api === 'sync' ? '' : ' (Promise)'
    const tsNote = api === 'sync' ? undefined : TS_PROMISE
    const section = api === 'sync' ? 'Commits and joins (*Sync)' : 'Commits and joins (Promise API)'
    const targets = api === 'sync'
    // A Promise row's native twin runs each call off its calling thread too (see `offThread`).
    const pooled = api === 'sync' ? {} : { offThread: true }
    const nativeOf = (metric: string) => same(metric, api === 'sync' ? undefined : NATIVE_POOL)
    row({ id: `${p}add.create`, section, label: `add ${n} in one commit: create (committer)${tag}`, short: `add ${n}: create${tag}`, unit: 'ms', metric: `${p}add.create`, ts: same('add.create', tsNote), native: nativeOf('add.create'), ...(targets ? { target: { op: '<=', value: 250 } } : {}), overhead: 'commit', ...pooled })
    row({ id: `${p}add.parse`, section, label: `… of which: parse and validate the ${n} key packages${tag}`, short: `add ${n}: parse KPs${tag}`, unit: 'ms', metric: `${p}add.parse`, ts: { none: 'ts-mls validates key packages inside createCommit' }, native: same('add.parse') })
    row({ id: `${p}add.process`, section, label: `add ${n}: an existing member processes the commit${tag}`, short: `add ${n}: process${tag}`, unit: 'ms', metric: `${p}add.process`, ts: same('add.process', tsNote), native: nativeOf('add.process'), ...(targets ? { target: { op: '<=', value: 60 } } : {}), overhead: 'commit', ...pooled })
    row({ id: `${p}add.join`, section, label: `add ${n}: the joiner joins from the Welcome${tag}`, short: `add ${n}: join${tag}`, unit: 'ms', metric: `${p}add.join`, ts: same('add.join', tsNote), native: nativeOf('add.join'), ...(targets ? { target: { op: '<=', value: 60 } } : {}), overhead: 'commit', ...pooled })
    row({ id: `${p}update.create`, section, label: `self-update in a group of ${g}: create${tag}`, short: `self-update ${g}: create${tag}`, unit: 'ms', metric: `${p}update.create`, ts: same('update.create', tsNote), native: nativeOf('update.create'), ...(targets ? { target: { op: '<=', value: 5 } } : {}), overhead: 'commit', ...pooled, inNode: true })
    row({ id: `${p}update.process`, section, label: `self-update in a group of ${g}: process${tag}`, short: `self-update ${g}: process${tag}`, unit: 'ms', metric: `${p}update.process`, ts: same('update.process', tsNote), native: nativeOf('update.process'), ...(targets ? { target: { op: '<=', value: 1.5 } } : {}), overhead: 'commit', ...pooled, inNode: true })
  }
  row({
    id: 'pool.roundtrip',
    section: 'Commits and joins (Promise API)',
    label: "the thread pool's round trip: a Promise call that does no work, less its *Sync twin (every Promise call pays it)",
    short: 'thread-pool round trip',
    unit: 'ms',
    metric: 'pool.roundtrip',
    ts: { none: 'ts-mls runs on the event loop' },
    native: { none: 'no thread pool' },
  })

  type Prefix = '' | 'file.' | 'file-normal.' | 'file-batch.' | 'promise.'
  const where: Record<Prefix, string> = {
    '': '',
    'file.': ', file store',
    'file-normal.': ', file store with durability "normal"',
    'file-batch.': ', file store, batches of 100',
    'promise.': ' (Promise)',
  }
  const messages = (prefix: Prefix, members: '2' | 'group', section: string) => {
    const count = members === '2' ? '2 members' : `${g} members`
    const onFile = prefix.startsWith('file')
    for (const [kind, size, unit] of [['small', sizes.smallMessage, 'msg/s'], ['large', sizes.largeMessage, 'MB/s']] as const) {
      const label = kind === 'small' ? small : large
      for (const dir of ['enc', 'dec'] as const) {
        const base = `msg.${members}.${kind}.${dir}`
        const id = `${prefix}${base}`
        const verb = dir === 'enc' ? 'encrypt' : 'decrypt'
        const target: Target | undefined =
          kind !== 'small' || members !== '2'
            ? undefined
            : prefix === ''
              ? { op: '>=', value: dir === 'enc' ? 20_000 : 15_000 }
              : prefix === 'file-batch.'
                ? { op: '>=', value: 5_000 }
                : undefined
        row({
          id,
          section,
          label: `${label} messages, ${count}${where[prefix]}: ${verb}`,
          short: `${label}, ${count}${where[prefix]}: ${verb}`,
          unit,
          metric: id,
          payload: size,
          ts: onFile ? { none: 'ts-mls has no storage' } : same(base, prefix === 'promise.' ? TS_PROMISE : undefined),
          native: same(base, onFile ? 'native is in memory' : undefined),
          ...(target ? { target } : {}),
          ...(prefix === '' || prefix === 'promise.' ? { overhead: 'message' as const, inNode: true } : {}),
          ...(dir === 'dec' && (prefix === '' || prefix === 'promise.') ? { v8Buffer: `v8.buffer.${kind}` } : {}),
        })
      }
    }
  }
  messages('', '2', 'Application messages, in memory (*Sync)')
  messages('', 'group', 'Application messages, in memory (*Sync)')
  messages('file.', '2', 'Application messages, file store (durable)')
  messages('file-normal.', '2', 'Application messages, file store (durable)')
  messages('file-batch.', '2', 'Application messages, file store (durable)')
  messages('promise.', '2', 'Application messages, in memory (Promise API)')
  for (const [kind, payload] of [['small', sizes.smallMessage], ['large', sizes.largeMessage]] as const) {
    const label = kind === 'small' ? small : large
    row({
      id: `v8.buffer.${kind}`,
      section: 'Application messages, in memory (Promise API)',
      label: `V8's part of a decrypt: a fresh ${label} Uint8Array, filled (every plaintext handed to JavaScript costs it)`,
      short: `V8 buffer, ${label}`,
      unit: 'msg/s',
      metric: `v8.buffer.${kind}`,
      payload,
      ts: { none: 'the same for any library' },
      native: { none: 'no JavaScript' },
    })
  }

  const lagSection = `Event-loop lag during an add of ${n} (Promise API)`
  const noNative = { none: 'no event loop' }
  row({ id: 'lag.flow.max', section: lagSection, label: 'lag over the whole add (merges and tree export included): max', short: 'lag, whole add: max', unit: 'ms', metric: 'lag.flow.max', ts: same('lag.flow.max'), native: noNative, target: { op: '<=', value: 5 } })
  row({ id: 'lag.flow.p99', section: lagSection, label: 'lag over the whole add: p99', short: 'lag, whole add: p99', unit: 'ms', metric: 'lag.flow.p99', ts: same('lag.flow.p99'), native: noNative })
  row({ id: 'lag.calls.max', section: lagSection, label: 'lag during the Promise calls only: max', short: 'lag, Promise calls: max', unit: 'ms', metric: 'lag.calls.max', ts: same('lag.calls.max', 'all of ts-mls runs on the event loop'), native: noNative, target: { op: '<=', value: 5 } })
  row({ id: 'lag.calls.p99', section: lagSection, label: 'lag during the Promise calls only: p99', short: 'lag, Promise calls: p99', unit: 'ms', metric: 'lag.calls.p99', ts: same('lag.calls.p99', 'all of ts-mls runs on the event loop'), native: noNative })

  const rssSection = `Memory, add ${n} (committer, member and joiner in one process)`
  row({ id: 'rss.peak', section: rssSection, label: `peak RSS, add ${n}`, short: `peak RSS, add ${n}`, unit: 'MB', metric: 'rss.peak', ts: same('rss.peak'), native: same('rss.peak'), target: { op: '<=', value: 100 } })
  row({ id: 'rss.setup', section: rssSection, label: 'peak RSS before the add (runtime, library, key packages, group)', short: 'RSS before the add', unit: 'MB', metric: 'rss.setup', ts: same('rss.setup'), native: same('rss.setup') })
  row({ id: 'rss.start', section: rssSection, label: 'RSS of the process after its imports (the runtime\'s floor)', short: 'RSS after imports', unit: 'MB', metric: 'rss.start', ts: same('rss.start'), native: { none: 'no runtime' } })
  return out
}

/** A row with its numbers. `undefined` where there is nothing to show. */
export interface Evaluated {
  row: Row
  /** Display values, in the row's unit. */
  node?: number
  ts?: number
  native?: number
  /** ts-mls ÷ openmls-node on the raw metric: how many times better openmls-node is. */
  ratio?: number
  /** openmls-node ÷ native on the raw metric. */
  overhead?: number
  /** For message rows: openmls-node minus native, µs per message. */
  overheadMicros?: number
  /** Whether the value target is met, and the factor by which it is missed. */
  met?: boolean
  missBy?: number
  /** Whether native openmls itself misses the value target (openmls is the floor). */
  floor?: boolean
  overheadMet?: boolean
  /**
   * Promise rows of commits and joins: openmls-node ÷ native on its calling thread (the native
   * figure of the *Sync row), beside the overhead against native off its calling thread.
   */
  overheadVsInline?: number
  /** Native off its calling thread ÷ native on it: what asynchrony costs openmls itself. */
  nativeOffThreadCost?: number
  /** Decrypt rows: the overhead in µs less what V8 costs for the plaintext's buffer. */
  overheadMicrosBeyondV8?: number
  /** The in-Node floor's figure (display unit), where the row was paired with it. */
  inNode?: number
  /** openmls-node ÷ the in-Node floor: the median of the per-pair ratios. */
  inNodeOverhead?: number
  /** For message rows: openmls-node minus the in-Node floor, µs per message. */
  inNodeOverheadMicros?: number
  /** Why a native figure the row has a metric for is missing. */
  nativeMissing?: string
}

/** The display value of a raw metric (ms per operation, ms, MB). */
export function display(row: Row, raw: number): number {
  switch (row.unit) {
    case 'key packages/s':
    case 'msg/s':
      return 1000 / raw
    case 'MB/s':
      return (row.payload! * (1000 / raw)) / 1e6
    default:
      return raw
  }
}

const meets = (t: Target, v: number) => (t.op === '>=' ? v >= t.value : v <= t.value)

/** Computes the numbers of every row from the three implementations' metrics. */
export function evaluate(all: Row[], node: Metrics, ts: Metrics, native: Metrics, nativeMissing: string): Evaluated[] {
  return all.map((row) => {
    const e: Evaluated = { row, nativeMissing }
    const raw = row.metric ? node[row.metric] : undefined
    const tsRaw = 'metric' in row.ts ? ts[row.ts.metric] : undefined
    // Measured beside this row's own repetitions, where it was (see measure.mts); otherwise the
    // native figure of the same scenario.
    const paired = row.metric ? node[`native:${row.metric}`] : undefined
    const nativeRaw = paired ?? ('metric' in row.native ? native[row.native.metric] : undefined)
    if (raw !== undefined) e.node = display(row, raw)
    if (tsRaw !== undefined) e.ts = display(row, tsRaw)
    if (nativeRaw !== undefined) e.native = display(row, nativeRaw)
    if (raw !== undefined && tsRaw !== undefined && raw > 0) e.ratio = tsRaw / raw
    if (raw !== undefined && nativeRaw !== undefined && nativeRaw > 0) {
      // The median of the per-pair figures where the row was paired: each pair ran under one load.
      e.overhead = node[`pair:${row.metric}`] ?? raw / nativeRaw
      if (row.unit === 'msg/s' || row.unit === 'MB/s') e.overheadMicros = (node[`pairdiff:${row.metric}`] ?? raw - nativeRaw) * 1000
    }
    if (row.target && e.node !== undefined) {
      e.met = meets(row.target, e.node)
      if (!e.met) e.missBy = row.target.op === '>=' ? row.target.value / e.node : e.node / row.target.value
      if (e.native !== undefined && !('note' in row.native)) e.floor = !meets(row.target, e.native)
    }
    const inline = row.offThread && 'metric' in row.native ? native[row.native.metric] : undefined
    if (inline !== undefined && inline > 0 && raw !== undefined && nativeRaw !== undefined) {
      e.overheadVsInline = raw / inline
      e.nativeOffThreadCost = nativeRaw / inline
    }
    const buffer = row.v8Buffer ? node[row.v8Buffer] : undefined
    if (buffer !== undefined && e.overheadMicros !== undefined) e.overheadMicrosBeyondV8 = e.overheadMicros - buffer * 1000
    const inNodeRaw = row.inNode && row.metric ? node[`floor:${row.metric}`] : undefined
    if (inNodeRaw !== undefined && inNodeRaw > 0 && raw !== undefined) {
      e.inNode = display(row, inNodeRaw)
      e.inNodeOverhead = node[`floorpair:${row.metric}`] ?? raw / inNodeRaw
      if (row.unit === 'msg/s' || row.unit === 'MB/s') e.inNodeOverheadMicros = (node[`floordiff:${row.metric}`] ?? raw - inNodeRaw) * 1000
    }
    // The binding's overhead: against native openmls called the same way from Node where the row
    // was paired with it, against native openmls in its own process elsewhere.
    const ratio = e.inNodeOverhead ?? e.overhead
    const micros = e.inNode !== undefined ? e.inNodeOverheadMicros : e.overheadMicros
    if (row.overhead === 'commit' && ratio !== undefined) e.overheadMet = ratio <= OVERHEAD_TARGET.commit
    if (row.overhead === 'message' && micros !== undefined) e.overheadMet = micros <= OVERHEAD_TARGET.messageMicros
    return e
  })
}
