/** Formats the evaluated rows: one line per row on stdout, and bench/RESULTS.md. */
import { PAIRED_PROCESSES, type Sizes } from './config.mjs'
import type { Machine } from './machine.mjs'
import { OVERHEAD_TARGET, type Evaluated, type Row } from './rows.mjs'

/** A number with about three significant digits and thousands separators. */
export function fmt(v: number): string {
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function fmtRatio(r: number): string {
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(r >= 1 ? 1 : 2)}×`
}

/** An overhead, with two decimals near the 1.10× target. */
const fmtOverhead = (r: number) => (r < 10 ? `${r.toFixed(2)}×` : fmtRatio(r))

/** A Promise row's overhead against native on its calling thread, and what going off it costs native, as a note. */
const offThreadNote = (e: Evaluated) =>
  e.overheadVsInline === undefined
    ? ''
    : `; ${fmtOverhead(e.overheadVsInline)} against native on its calling thread (the *Sync row's native figure), where native off it is ${fmtOverhead(e.nativeOffThreadCost!)}`

/** An overhead in µs per message, signed. */
const fmtMicros = (us: number) => `${us >= 0 ? '+' : ''}${fmt(us)} µs/msg`

/** A row's overhead against the in-Node floor, as shown in its column. */
const inNodeOverhead = (e: Evaluated) =>
  e.inNodeOverhead === undefined ? '—' : `${fmtOverhead(e.inNodeOverhead)}${e.inNodeOverheadMicros === undefined ? '' : ` (${fmtMicros(e.inNodeOverheadMicros)})`}`

/** What the overhead verdict was judged against, and the notes on the other figures. */
const verdictNotes = (e: Evaluated) => (e.inNode !== undefined ? ' (against native openmls in Node)' : offThreadNote(e) + beyondV8(e))

/** A decrypt row's overhead without V8's plaintext buffer, as a note. */
const beyondV8 = (e: Evaluated) =>
  e.overheadMicrosBeyondV8 === undefined ? '' : `; ${e.overheadMicrosBeyondV8 >= 0 ? '+' : ''}${fmt(e.overheadMicrosBeyondV8)} µs without V8's plaintext buffer`

const unitSuffix = (row: Row) => (row.unit === 'key packages/s' ? ' /s' : ` ${row.unit}`)

/** A target's number as written in the issue (250, 1.5, 10,000). */
const fmtTarget = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 2 })

function value(row: Row, v: number | undefined, none?: string): string {
  if (v === undefined) return none ? `n/a (${none})` : 'n/a'
  return `${fmt(v)}${unitSuffix(row)}`
}

/** The text of each cell of a row. */
export function cells(e: Evaluated): Record<'scenario' | 'node' | 'ts' | 'ratio' | 'native' | 'overhead' | 'inNode' | 'inNodeOverhead' | 'target' | 'met', string> {
  const { row } = e
  const tsNote = 'none' in row.ts ? row.ts.none : row.ts.note
  const nativeNote = 'none' in row.native ? row.native.none : row.native.note
  let ts = value(row, e.ts, 'none' in row.ts ? row.ts.none : undefined)
  if (e.ts !== undefined && tsNote) ts += ` (${tsNote})`
  let native = value(row, e.native, 'none' in row.native ? row.native.none : e.nativeMissing)
  if (e.native !== undefined && nativeNote) native += ` (${nativeNote})`
  let overhead = e.overhead === undefined ? '—' : fmtOverhead(e.overhead)
  if (e.overheadMicros !== undefined) overhead += ` (${fmtMicros(e.overheadMicros)})`
  const targets: string[] = []
  const verdicts: string[] = []
  if (row.target) {
    targets.push(`${row.target.op === '>=' ? '≥' : '≤'} ${fmtTarget(row.target.value)}${unitSuffix(row)}`)
    if (e.met !== undefined) {
      let v = e.met ? 'met' : `unmet (${fmtRatio(e.missBy!)} off)`
      if (!e.met && e.floor) v += '; openmls floor: native misses it too'
      verdicts.push(v)
    }
  }
  if (row.overhead) {
    targets.push(row.overhead === 'commit' ? `overhead ≤ ${OVERHEAD_TARGET.commit.toFixed(2)}×` : `overhead ≤ ${OVERHEAD_TARGET.messageMicros} µs/msg`)
    if (e.overheadMet !== undefined) verdicts.push((e.overheadMet ? 'overhead met' : 'overhead unmet') + verdictNotes(e))
  }
  return {
    scenario: row.label,
    node: value(row, e.node, row.nodeNone),
    ts,
    ratio: e.ratio === undefined ? '—' : fmtRatio(e.ratio),
    native,
    overhead,
    inNode: e.inNode !== undefined ? value(row, e.inNode) : row.inNode ? `n/a (${e.nativeMissing})` : '—',
    inNodeOverhead: inNodeOverhead(e),
    target: targets.join('; ') || '—',
    met: verdicts.join('; ') || '—',
  }
}

/**
 * One line per row: `row <id> | scenario | openmls-node | ts-mls | ratio | native | overhead |
 * in Node | overhead in Node | target | met`.
 */
export function rowLines(evaluated: Evaluated[]): string[] {
  return evaluated.map((e) => {
    const c = cells(e)
    return `row ${e.row.id} | ${c.scenario} | openmls-node ${c.node} | ts-mls ${c.ts} | ratio ${c.ratio} | native ${c.native} | overhead ${c.overhead} | in Node ${c.inNode} | overhead in Node ${c.inNodeOverhead} | target ${c.target} | ${c.met}`
  })
}

/** The verdicts on the targets, as Markdown list items. */
function targetSummary(evaluated: Evaluated[]): string[] {
  const lines: string[] = []
  for (const e of evaluated) {
    const c = cells(e)
    if (e.row.target && e.met !== undefined) {
      const floor = e.floor && !e.met ? ` Native openmls itself reaches only ${value(e.row, e.native)} here: on this machine openmls is the floor, short of the target.` : ''
      lines.push(`- ${e.met ? '**met**' : '**unmet**'}: ${e.row.label}: ${c.node} against ${c.target.split(';')[0]}${e.met ? '' : ` (${fmtRatio(e.missBy!)} off)`}.${floor}`)
    }
  }
  const over = evaluated.filter((e) => e.overheadMet !== undefined)
  const commits = over.filter((e) => e.row.overhead === 'commit')
  const messages = over.filter((e) => e.row.overhead === 'message')
  const list = (es: Evaluated[], f: (e: Evaluated) => string) => es.map((e) => `${e.row.short} ${f(e)}`).join(', ')
  const basis = (es: Evaluated[]) => {
    const inNode = es.filter((e) => e.inNode !== undefined).length
    return inNode === 0 ? '' : ` Judged against native openmls called the same way from Node (the in-Node floor) on the ${inNode} rows paired with it, against native openmls in its own process on the others.`
  }
  // An unmet row's figure: the one its verdict was judged on, with the notes on the others.
  const commitFigure = (e: Evaluated) =>
    e.inNodeOverhead !== undefined ? `${fmtOverhead(e.inNodeOverhead)} against native in Node (${fmtOverhead(e.overhead!)} against native in its own process)` : `${fmtOverhead(e.overhead!)}${offThreadNote(e) && ` (${offThreadNote(e).slice(2)})`}`
  const messageFigure = (e: Evaluated) =>
    e.inNodeOverheadMicros !== undefined ? `${fmtMicros(e.inNodeOverheadMicros)} against native in Node (${fmtMicros(e.overheadMicros!)} against native in its own process)` : `${fmtMicros(e.overheadMicros!)}${beyondV8(e) && ` (${beyondV8(e).slice(2)})`}`
  if (commits.length) {
    const bad = commits.filter((e) => !e.overheadMet)
    lines.push(`- overhead over native openmls on commits and joins (target ≤ ${OVERHEAD_TARGET.commit.toFixed(2)}×): ${bad.length === 0 ? '**met** on every row' : `**unmet** on ${bad.length} of ${commits.length} rows: ${list(bad, commitFigure)}`}.${basis(commits)}`)
  }
  if (messages.length) {
    const bad = messages.filter((e) => !e.overheadMet)
    lines.push(`- overhead over native openmls per message (target ≤ ${OVERHEAD_TARGET.messageMicros} µs): ${bad.length === 0 ? '**met** on every row' : `**unmet** on ${bad.length} of ${messages.length} rows: ${list(bad, messageFigure)}`}.${basis(messages)}`)
  }
  return lines
}

/**
 * Where the per-message overhead that remains comes from: a profile (`perf record -g`, release
 * build with line tables, 100 B messages, 2 members, in memory), not a measurement of this run.
 */
const OVERHEAD_NOTES = [
  '### What the remaining overhead is',
  '',
  'From profiles and paired measurements outside this run on 2026-12-07 (`perf record` on a release build with line tables; see `../shared/notes/message-path-profile.md` for the method):',
  '',
  '- **Two floors.** "native openmls" is openmls in a Rust process of its own (crates/bench): what openmls costs with nothing of Node around it. "native openmls in Node" is the same openmls, with its own in-memory storage, called through N-API from the same Node process as openmls-node and the way openmls-node is called (crates/bench-addon, loaded by bench/floor.mts): `*Sync` calls on the calling thread, Promise calls as one libuv thread-pool task each, bytes handed to JavaScript by copy into buffers V8 owns, the same allocator (mimalloc), nothing else between. What any Node binding of openmls pays (the thread pool\'s round trip and a woken pool thread\'s cold caches, V8\'s buffers and collections) is in both, so the overhead against it is what openmls-node\'s own layers cost: its transactional store, its views, its error handling, its TypeScript wrapper. The overhead targets are judged against it on the rows it runs (self-updates, application messages in memory), and against native openmls in its own process on the others (adds and joins).',
  '- **How the overhead is measured.** Every repetition of an openmls-node row that native openmls also runs is paired with a repetition of the same scenario by each floor that runs it, right before or right after it (alternately): the native binary serves them one at a time in `--serve` mode, the in-Node floor runs them in the same process. So each pair sees the same load of this shared machine. An overhead is the median of the per-pair ratios (for messages, of the per-pair differences in µs). Self-updates are paired in blocks of five, each block\'s figure its median: a single self-update (about 1 ms) would time the switch between the two processes more than the operation.',
  '- **Encrypt is faster than native**: openmls-node\'s signer parses its key once and native\'s expands it per signature, which more than pays for the layers below.',
  '- **Decrypt is within a few µs of native.** Two thirds of a decrypt (about 35 µs here) is verifying the sender\'s Ed25519 signature, the same in both. An in-memory provider keeps openmls\'s group data (the message secrets written after every message, the ratchet tree after every commit) in a map with an undo log instead of SQLite pages, so no SQL runs for a message, not even `BEGIN` and `COMMIT` (a transaction that only touches the map has the map\'s undo log as its transaction); what is left is that undo log, the group\'s lock and the N-API call with its result, packed in one byte array. A 10 KiB decrypt also hands its plaintext to JavaScript in a buffer that V8 allocates, zeroes and later collects (10 MB per batch of 1000, which triggers collections for external memory): that is where its few µs more than a 100 B decrypt go. The rows "V8\'s part of a decrypt" measure that in this run with plain JavaScript, and each decrypt row states its overhead also without it. The rows move by a few µs from run to run (the *Sync and Promise rows of one size run the same code on an in-memory provider).',
  '- **Processing a self-update in a group of 100 is within 10% of native.** It was 1.15–1.17× native (paired, outside the benchmark) while the Rust core alone was 1.04–1.06×. A profile of it inside Node found three costs native openmls does not have: glibc\'s `malloc` on Node\'s fragmented heap (12% of the operation in `malloc_consolidate` and chunk unlinking; the addon now allocates with mimalloc), zeroing the replaced 100 KB ratchet tree byte by byte (about 20 µs; the tree and the other public kinds of group data are no longer zeroed, the secrets still are) and rebuilding the getters\' member list from copies of every member (about 15 µs; unchanged members are now shared with the earlier view). Paired outside the benchmark after these: 1.03–1.05×; in this benchmark 1.06–1.11× over six runs on 2026-12-07. A later profile of it found nothing of the binding\'s own above 2% of the operation: openmls\'s work, and the JSON of the 100 KB tree written on every merge, which native\'s storage writes too. That JSON is now written into a buffer sized for the tree it replaces instead of one grown by doubling (a dozen reallocations and copies, about 3% of the operation): 1.04–1.07× in four separate processes. Beside the in-Node floor (which runs faster in Node, with mimalloc, than native openmls in its own process), a profile then found two more costs of about 2% each: building the processed commit\'s fields as N-API objects (each property name made a V8 string again; a commit now crosses packed, as an application message does) and the SQL for the epoch\'s HPKE key pairs (an in-memory provider now keeps them in its map).',
  '- **A Promise commit pays the thread pool once per call**: the call goes to a pool thread and its result comes back through the event loop, and the work runs on whichever of the pool\'s threads is free, with its caches and allocator state. Native openmls pays the same to keep its calling thread free, so a Promise row of commits and joins is paired with native openmls doing the same: each openmls call handed to a pool of 4 threads (libuv\'s default) that take jobs from one queue, the caller waiting for each result (crates/bench, `Exec::Pool`, what a Rust server does with `spawn_blocking`). Its overhead is against that; the row also says how it compares with native on its calling thread and what going off that thread costs native itself. The row "the thread pool\'s round trip" measures the round trip alone, with a Promise call that does no work. Only the smallest commits show it (processing a self-update in a group of 100, under 1 ms of work). An application message with nothing queued before it skips the pool in memory (see below).',
]

const escape = (s: string) => s.replace(/\|/g, '\\|').replace(/\*/g, '\\*')

/** bench/RESULTS.md. */
export function markdown(evaluated: Evaluated[], machine: Machine, sizes: Sizes, extra: string[] = []): string {
  const ratios = evaluated.flatMap((e) => (e.ratio !== undefined && !e.row.id.startsWith('rss.') && !e.row.id.startsWith('lag.') ? [e.ratio] : []))
  const sorted = [...ratios].sort((a, b) => a - b)
  const mid = sorted.length ? (sorted.length % 2 ? sorted[sorted.length >> 1] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2) : NaN
  const out: string[] = []
  out.push('# Benchmark results')
  out.push('')
  out.push(`Written by \`npm run bench\` (bench/run.mts) on ${machine.date}${sizes.smoke ? ', **smoke run: tiny sizes, the numbers mean nothing**' : ''}. Do not edit by hand: run it again.`)
  out.push('')
  out.push('## Machine')
  out.push('')
  out.push(`- CPU: ${machine.cpu}, ${machine.cores} logical cores; ${machine.memory}`)
  out.push(`- OS: ${machine.os}; load average at the start: ${machine.load}`)
  out.push(`- Node ${machine.node}, ${machine.rustc}`)
  out.push(`- openmls ${machine.openmls} (openmls-node ${machine.openmlsNode}), ts-mls ${machine.tsmls}`)
  out.push('')
  out.push('## Ratios (the headline)')
  out.push('')
  out.push('Absolute times vary from machine to machine; the ratios much less. A ratio is how many times faster (or, for memory and lag, smaller) openmls-node is than ts-mls in the same run.')
  if (ratios.length) out.push(`Over the ${ratios.length} timed rows with a ts-mls equivalent, the median ratio is **${fmtRatio(mid)}** (from ${fmtRatio(sorted[0])} to ${fmtRatio(sorted[sorted.length - 1])}).`)
  out.push('')
  out.push('![openmls-node ÷ ts-mls, per row](ratios.svg)')
  out.push('')
  out.push('## Targets (issue #11, point 2)')
  out.push('')
  out.push(...targetSummary(evaluated))
  out.push('')
  out.push(...OVERHEAD_NOTES)
  out.push('')
  out.push('## Every row (medians)')
  out.push('')
  out.push('"native openmls" is openmls 0.9.2 called directly from Rust (crates/bench) with `openmls_rust_crypto` and openmls\'s own in-memory storage (for the Promise rows of commits and joins, with each call on a pool of threads: see above); "native openmls in Node" is the same called through N-API from the same Node process, the way openmls-node is called (see above). Each overhead is openmls-node ÷ that floor (for messages also the difference in µs per message): the median over pairs of repetitions run one right after the other, where the row was paired (see above).')
  let section = ''
  for (const e of evaluated) {
    if (e.row.section !== section) {
      section = e.row.section
      out.push('')
      out.push(`### ${escape(section)}`)
      out.push('')
      out.push('| scenario | openmls-node | ts-mls 1.6.4 | ratio | native openmls | overhead | native openmls in Node | overhead in Node | target | met |')
      out.push('|---|---:|---:|---:|---:|---:|---:|---:|---|---|')
    }
    const c = cells(e)
    out.push(`| ${[c.scenario, c.node, c.ts, c.ratio, c.native, c.overhead, c.inNode, c.inNodeOverhead, c.target, c.met].map(escape).join(' | ')} |`)
  }
  out.push('')
  out.push(...extra)
  out.push('## How it is measured')
  out.push('')
  out.push(
    [
      '- Suite 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) everywhere; RustCrypto for openmls-node and native; ts-mls\'s default crypto provider.',
      '- Timed regions go from state plus input bytes to bytes on the wire (sender) and from bytes to new state (receiver). A commit\'s region includes parsing and validating the key packages it adds (from their bytes), encoding, merging the commit and, for an add, exporting the ratchet tree for the joiner; a receiver\'s includes decoding and merging. Groups do not use the ratchet tree extension, so no commit carries a GroupInfo (ts-mls\'s do not either). Key packages are made before the timed region.',
      `- Each openmls-node scenario runs in a Node process of its own (bench/section-child.mts, as JMH forks a JVM per benchmark), with a native binary of its own beside it (and, for the scenarios it runs, the in-Node floor loaded into it): no scenario inherits the heap, the compiled code, the thread pool or the allocator state of the ones before it. In one long process, the self-update row read 1.5× native after the add-1000 scenarios and 1.06× alone. A scenario paired with native openmls runs in ${PAIRED_PROCESSES} such processes one after the other, and each of its figures is the median of them: one process in four could read a self-update 1.15× native while the others read 1.01–1.05×.`,
      `- Each figure is the median of several repetitions after a warm-up. openmls-node: ${sizes.openmls.warmup} warm-up, ${sizes.openmls.commits} adds (each into a fresh group with one existing member and a fresh joiner), ${sizes.openmls.updates} blocks of ${sizes.openmls.updateBlock ?? 1} self-updates, ${sizes.openmls.batches} batches of ${sizes.openmls.messages} messages (${sizes.openmls.fileMessages} on the file store) and of ${sizes.openmls.keyPackages} key packages. ts-mls: ${sizes.tsmls.commits} adds, ${sizes.tsmls.updates} self-updates, ${sizes.tsmls.batches} batches of ${sizes.tsmls.messages} messages and of ${sizes.tsmls.keyPackages} key packages. Native and native in Node: one repetition beside each of openmls-node\'s in-memory repetitions, with the same counts (self-updates in blocks of ${sizes.openmls.updateBlock ?? 1}, each block\'s figure its median, on both sides); the native figures of a row are the medians of those beside it. The workloads (group sizes, payloads, members added) are the same for all three.`,
      '- Messages go from member 0 to member 1 of the group, one batch encrypted and then decrypted in order. MB/s counts plaintext bytes, 1 MB = 10^6 bytes.',
      '- openmls-node\'s in-memory provider is an in-memory SQLite database (the same code as its file store: one transaction per operation, rolled back on any error) whose openmls group data (tree, message secrets, epoch secrets, …) and epoch key pairs sit in a map with an undo log inside the same transaction, not `openmls_memory_storage`: that is part of its overhead over native. The file store is `new Provider({ storage: { path } })` with its defaults (WAL, `synchronous=FULL`, a `TRUNCATE` checkpoint after every write): every message is its own durable transaction. ts-mls keeps state in memory only, so the file-store rows have no ts-mls figure, and their native figure is the in-memory floor.',
      '- Where openmls-node is faster than native: its signer parses the private key once (openmls_basic_credential expands an Ed25519 key, a scalar multiplication, on every signature), and its RustCrypto backend keeps the decompressed Ed25519 keys of recent senders (openmls_rust_crypto decompresses the sender\'s key for every message). Signatures and checks are the same bytes and the same `verify_strict`; native runs openmls as its crates ship.',
      '- ts-mls has only a Promise API: its one measurement of each operation stands beside both openmls-node\'s `*Sync` row and its Promise row. openmls-node\'s Promise rows await each call before the next, merges included. With an in-memory provider, an application message of up to 64 KiB with nothing queued before it on its group runs on the calling thread (the thread pool\'s round trip would cost more than the work), so the in-memory Promise message rows measure that path; commits, joins and every file-store operation go to the thread pool.',
      '- Event-loop lag: `perf_hooks.monitorEventLoopDelay` at 1 ms resolution during one add with the Promise API (`addMembers`, then `processMessage` by the existing member, then `joinFromWelcome`), the key packages parsed before. "Whole add" includes the synchronous merges and tree export between the calls; "Promise calls only" has the histogram enabled only while a call is awaited. The median of the repetitions\' max and p99 (ts-mls: one run).',
      '- Peak RSS: the add case alone in a fresh process per library (bench/rss-child.mjs, plain JavaScript so that no loader is counted; native: `VmHWM` of the Rust binary run with `--rss`), read with `process.resourceUsage().maxRSS` after the committer, the existing member and the joiner have all done the add. It includes the runtime\'s own memory (see the "after its imports" row).',
    ].join('\n'),
  )
  out.push('')
  out.push('Reproduce: `npm run build && npm run bench` (the full run takes several minutes; `npm run bench -- --smoke` runs every scenario once with tiny sizes).')
  out.push('')
  return out.join('\n')
}
