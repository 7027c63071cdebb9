/**
 * The scenarios on openmls-node: suite 1, the `*Sync` methods unless a metric id starts with
 * `promise.`, in-memory providers unless it starts with `file.` (a durable SQLite file per client).
 *
 * Timed regions: from state plus input bytes to bytes on the wire (sender), from bytes to new
 * state (receiver). A commit's sender region includes parsing and validating the key packages it
 * adds, merging the commit and, for an add, exporting the ratchet tree the joiners need (groups do
 * not use the ratchet tree extension, so no commit carries a GroupInfo). A receiver's region
 * includes merging the staged commit.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { BasicCredential, Ciphersuite, KeyPackage, MlsGroup, Provider, SignatureKeyPair, type AddMembersResult, type Durability } from 'openmls-node'
import { PAIRED_PROCESSES, type Metrics, type Repetitions, type Sizes } from './config.mjs'
import { InNodeFloor } from './floor.mjs'
import { check, median, now, repeat, type Beside } from './measure.mjs'
import type { Floors, NativePeer } from './native.mjs'

const SUITE = Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const execFileAsync = promisify(execFile)

/** The two ways to call openmls-node. */
type Api = 'sync' | 'promise'

/** A client: a provider (in memory, or a file), a signer and a basic credential. */
class Client {
  readonly signer = SignatureKeyPair.forCiphersuite(SUITE)

  constructor(
    readonly name: string,
    readonly provider: Provider = new Provider(),
  ) {}

  get credentialWithKey() {
    return { credential: new BasicCredential(this.name), signatureKey: this.signer.publicKey }
  }

  /** A fresh key package, as the bytes another client downloads. */
  keyPackageBytes(): Uint8Array {
    return KeyPackage.builder().build({ ciphersuite: SUITE, provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey }).toBytes()
  }

  createGroup(): MlsGroup {
    return MlsGroup.create({ provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey, config: { ciphersuite: SUITE } })
  }

  join(api: Api, welcome: Uint8Array, ratchetTree: Uint8Array): MlsGroup | Promise<MlsGroup> {
    const params = { provider: this.provider, signer: this.signer, welcome, ratchetTree }
    return api === 'sync' ? MlsGroup.joinFromWelcomeSync(params) : MlsGroup.joinFromWelcome(params)
  }
}

/** Where the clients of a scenario keep their state. */
class Store {
  readonly #dir?: string
  readonly #providers: Provider[] = []

  constructor(
    readonly kind: 'memory' | 'file',
    readonly durability: Durability = 'full',
  ) {
    if (kind === 'file') this.#dir = mkdtempSync(join(tmpdir(), 'openmls-bench-'))
  }

  client(name: string): Client {
    const provider = this.#dir ? new Provider({ storage: { path: join(this.#dir, `${name}.db`), durability: this.durability } }) : new Provider()
    this.#providers.push(provider)
    return new Client(name, provider)
  }

  /** Closes the providers (their memory goes at once, not at the next collection) and deletes the files. */
  close(): void {
    for (const p of this.#providers) p.close()
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true })
  }
}

/** Key packages that are only ever added, never joined: each has its own signer, all share one provider. */
function poolKeyPackages(n: number): Uint8Array[] {
  const provider = new Provider()
  return Array.from({ length: n }, (_, i) => new Client(`member ${i}`, provider).keyPackageBytes())
}

/** What an add puts on the wire. */
interface Added {
  commit: Uint8Array
  welcome: Uint8Array
  ratchetTree: Uint8Array
  /** Milliseconds spent parsing and validating the key packages. */
  parseMs: number
}

/** The committer's side of an add: key package bytes in, commit, Welcome and tree out, merged. */
async function add(api: Api, committer: Client, group: MlsGroup, keyPackages: Uint8Array[]): Promise<Added> {
  const start = now()
  const kps = keyPackages.map((bytes) => KeyPackage.fromBytes(committer.provider, bytes))
  const parseMs = now() - start
  const out: AddMembersResult = api === 'sync' ? group.addMembersSync(kps) : await group.addMembers(kps)
  if (api === 'sync') group.mergePendingCommitSync()
  else await group.mergePendingCommit()
  return { commit: out.commit, welcome: out.welcome, ratchetTree: group.exportRatchetTree(), parseMs }
}

/** A receiver's side of a commit: bytes in, merged. */
async function applyCommit(api: Api, group: MlsGroup, commit: Uint8Array): Promise<void> {
  const processed = api === 'sync' ? group.processMessageSync(commit) : await group.processMessage(commit)
  check(processed.type === 'commit', `expected a commit, got ${processed.type}`)
  if (api === 'sync') group.mergeStagedCommitSync(processed.stagedCommit)
  else await group.mergeStagedCommit(processed.stagedCommit)
}

/** A group of `size` members in which `a` (leaf 0) and `b` (leaf 1) hold real state. */
async function groupOf(size: number, pool: Uint8Array[], store: Store) {
  const a = store.client('alice')
  const b = store.client('bob')
  const ga = a.createGroup()
  const added = await add('sync', a, ga, [b.keyPackageBytes(), ...pool.slice(0, size - 2)])
  const gb = await b.join('sync', added.welcome, added.ratchetTree)
  return { a, ga, b, gb }
}

/** One add of `n` members to a fresh group with one existing member, and a fresh joiner. */
async function addCase(api: Api, n: number, pool: Uint8Array[]): Promise<Metrics> {
  const store = new Store('memory')
  const { a, ga, gb } = await groupOf(2, pool, store)
  const joiner = store.client('joiner')
  const keyPackages = [joiner.keyPackageBytes(), ...pool.slice(0, n - 1)]
  let t = now()
  const added = await add(api, a, ga, keyPackages)
  const create = now() - t
  t = now()
  await applyCommit(api, gb, added.commit)
  const processMs = now() - t
  t = now()
  const gj = await joiner.join(api, added.welcome, added.ratchetTree)
  const joinMs = now() - t
  check(gj.epoch === gb.epoch && ga.members().length === n + 2, 'everyone is in the same epoch')
  store.close()
  const p = api === 'sync' ? '' : 'promise.'
  return { [`${p}add.parse`]: added.parseMs, [`${p}add.create`]: create, [`${p}add.process`]: processMs, [`${p}add.join`]: joinMs }
}

/** Self-updates of `a` in a group of `size`, processed by `b`, in blocks of `reps.updateBlock`. */
async function updateCase(api: Api, size: number, pool: Uint8Array[], reps: Repetitions, beside: Beside[]): Promise<Metrics> {
  const store = new Store('memory')
  const { ga, gb } = await groupOf(size, pool, store)
  const p = api === 'sync' ? '' : 'promise.'
  const metrics = await repeat(reps.warmup, reps.updates, async () => {
    const create: number[] = []
    const process: number[] = []
    for (let i = 0; i < (reps.updateBlock ?? 1); i++) {
      let t = now()
      const { commit } = api === 'sync' ? ga.selfUpdateSync() : await ga.selfUpdate()
      if (api === 'sync') ga.mergePendingCommitSync()
      else await ga.mergePendingCommit()
      create.push(now() - t)
      t = now()
      await applyCommit(api, gb, commit)
      process.push(now() - t)
    }
    return { [`${p}update.create`]: median(create), [`${p}update.process`]: median(process) }
  }, beside)
  store.close()
  return metrics
}

/**
 * The thread pool's round trip, which every Promise call pays at least once: a Promise operation
 * that does no work (`clearPendingProposals` on an empty queue) against its `*Sync` twin, the
 * median of single calls each. Node's own `crypto.pbkdf2` with one iteration pays the same.
 */
async function roundTripCase(r: Repetitions): Promise<Metrics> {
  const store = new Store('memory')
  const group = store.client('alice').createGroup()
  const calls = 200
  const metrics = await repeat(r.warmup, r.batches, async () => {
    const promise: number[] = []
    const sync: number[] = []
    for (let i = 0; i < calls; i++) {
      let t = now()
      await group.clearPendingProposals()
      promise.push(now() - t)
      t = now()
      group.clearPendingProposalsSync()
      sync.push(now() - t)
    }
    return { 'pool.roundtrip': median(promise) - median(sync) }
  })
  store.close()
  return metrics
}

/**
 * What V8 costs for each decrypted plaintext whatever the binding does: a fresh `Uint8Array` of
 * `payload` bytes (an ArrayBuffer V8 allocates, zeroes and later collects), filled by one copy,
 * `count` of them per batch as the decrypt rows make them. Milliseconds per buffer.
 */
async function plaintextBufferCase(id: string, payload: number, count: number, r: Repetitions): Promise<Metrics> {
  const source = new Uint8Array(payload).fill(0x5a)
  let sink = 0
  const metrics = await repeat(r.warmup, r.batches, () => {
    const t = now()
    for (let i = 0; i < count; i++) {
      const b = new Uint8Array(payload)
      b.set(source)
      sink += b[payload - 1]
    }
    return { [id]: (now() - t) / count }
  })
  check(sink > 0, 'the buffers were filled')
  return metrics
}

/** How a messages scenario drives openmls-node: one call per message, or batch calls. */
type MessageApi = Api | 'batch'

/**
 * Rounds of `count` application messages from `a` to `b`: milliseconds per message. With
 * `'batch'`, `createMessages` and `processMessages` take `batch` messages per call (one storage
 * transaction each).
 */
async function messagesCase(api: MessageApi, id: string, size: number, payload: number, pool: Uint8Array[], store: Store, count: number, reps: Repetitions, beside: Beside[] = [], batch = 100): Promise<Metrics> {
  const { ga, gb } = await groupOf(size, pool, store)
  const plaintext = new Uint8Array(payload).fill(0x5a)
  const metrics = await repeat(reps.warmup, reps.batches, async () => {
    let t = now()
    const wire: Uint8Array[] = []
    if (api === 'batch') {
      for (let i = 0; i < count; i += batch) {
        for (const r of await ga.createMessages(Array.from({ length: Math.min(batch, count - i) }, () => plaintext))) {
          check(r.ok, 'the batch encrypts')
          wire.push(r.value)
        }
      }
    } else {
      for (let i = 0; i < count; i++) wire.push(api === 'sync' ? ga.createMessageSync(plaintext) : await ga.createMessage(plaintext))
    }
    const enc = (now() - t) / count
    t = now()
    if (api === 'batch') {
      for (let i = 0; i < wire.length; i += batch) {
        for (const r of await gb.processMessages(wire.slice(i, i + batch))) {
          check(r.ok && r.value.type === 'application' && r.value.data.length === payload, 'the batch decrypts')
        }
      }
    } else {
      for (const bytes of wire) {
        const m = api === 'sync' ? gb.processMessageSync(bytes) : await gb.processMessage(bytes)
        check(m.type === 'application' && m.data.length === payload, 'the message decrypts')
      }
    }
    const dec = (now() - t) / count
    return { [`${id}.enc`]: enc, [`${id}.dec`]: dec }
  }, beside)
  store.close()
  return metrics
}

/**
 * Event-loop lag (`monitorEventLoopDelay`, 1 ms resolution) during an add of `n` with the Promise
 * API: `addMembers`, `processMessage` by the existing member, `joinFromWelcome`, and the Promise
 * merges. `lag.flow` spans the whole add, the synchronous tree export included; `lag.calls`
 * only the awaited Promise calls. The key packages are parsed before.
 */
async function lagCase(n: number, pool: Uint8Array[]): Promise<Metrics> {
  const { a, ga, gb } = await groupOf(2, pool, new Store('memory'))
  const joiner = new Client('joiner')
  const kps = [joiner.keyPackageBytes(), ...pool.slice(0, n - 1)].map((bytes) => KeyPackage.fromBytes(a.provider, bytes))
  const flow = monitorEventLoopDelay({ resolution: 1 })
  const calls = monitorEventLoopDelay({ resolution: 1 })
  const during = async <T,>(op: () => Promise<T>): Promise<T> => {
    calls.enable()
    try {
      return await op()
    } finally {
      calls.disable()
    }
  }
  flow.enable()
  const out = await during(() => ga.addMembers(kps))
  await during(() => ga.mergePendingCommit())
  const ratchetTree = ga.exportRatchetTree()
  const processed = await during(() => gb.processMessage(out.commit))
  check(processed.type === 'commit', 'a commit')
  await during(() => gb.mergeStagedCommit(processed.stagedCommit))
  const gj = await during(() => MlsGroup.joinFromWelcome({ provider: joiner.provider, signer: joiner.signer, welcome: out.welcome, ratchetTree }))
  flow.disable()
  check(gj.epoch === gb.epoch, 'the joiner is in the same epoch')
  const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0)
  return {
    'lag.flow.max': ms(flow.max),
    'lag.flow.p99': ms(flow.percentile(99)),
    'lag.calls.max': ms(calls.max),
    'lag.calls.p99': ms(calls.percentile(99)),
  }
}

/**
 * One openmls-node scenario: a name, what it measures and, where native openmls runs it too, the
 * request its repetitions are paired with, in the native binary and, where it runs it, in the
 * in-Node floor (such a scenario runs in several processes: see `runOpenmls`).
 */
interface Section {
  name: string
  request?: string
  run: (pool: Uint8Array[], beside: Beside[]) => Promise<Metrics>
}


/** Every openmls-node scenario, in report order. */
function sections(sizes: Sizes): Section[] {
  const r = sizes.openmls
  const out: Section[] = []
  const section = (name: string, run: Section['run'], request?: string) => out.push({ name, run, request })
  section('key packages', (_pool, beside) => {
    const kp = new Client('kp')
    return repeat(r.warmup, r.batches, () => {
      const t = now()
      for (let i = 0; i < r.keyPackages; i++) kp.keyPackageBytes()
      return { kp: (now() - t) / r.keyPackages }
    }, beside)
  }, `kp ${r.keyPackages}`)
  for (const api of ['sync', 'promise'] as const) {
    // A Promise row's native twin hands each openmls call to a pool of threads and waits, as ours do.
    const pooled = api === 'promise' ? '-pool' : ''
    section(`add ${sizes.addCount} (${api})`, (pool, beside) => repeat(r.warmup, r.commits, () => addCase(api, sizes.addCount, pool), beside), `add${pooled}`)
    section(`self-update in ${sizes.groupSize} (${api})`, (pool, beside) => updateCase(api, sizes.groupSize, pool, r, beside), `update${pooled} ${r.updateBlock ?? 1}`)
  }
  section('thread-pool round trip', () => roundTripCase(r))
  for (const [size, group] of [[2, '2'], [sizes.groupSize, 'group']] as const) {
    for (const [payload, kind] of [[sizes.smallMessage, 'small'], [sizes.largeMessage, 'large']] as const) {
      const id = `msg.${group}.${kind}`
      const request = `msg ${size} ${payload} ${r.messages}`
      section(id, (pool, beside) => messagesCase('sync', id, size, payload, pool, new Store('memory'), r.messages, r, beside), request)
      if (size !== 2) continue
      section(`file.${id}`, (pool) => messagesCase('sync', `file.${id}`, size, payload, pool, new Store('file'), r.fileMessages, r))
      section(`file-normal.${id}`, (pool) => messagesCase('sync', `file-normal.${id}`, size, payload, pool, new Store('file', 'normal'), r.fileMessages, r))
      section(`file-batch.${id}`, (pool) => messagesCase('batch', `file-batch.${id}`, size, payload, pool, new Store('file'), r.messages, r))
      section(`promise.${id}`, (pool, beside) => messagesCase('promise', `promise.${id}`, size, payload, pool, new Store('memory'), r.messages, r, beside), request)
    }
  }
  for (const [payload, kind] of [[sizes.smallMessage, 'small'], [sizes.largeMessage, 'large']] as const) {
    section(`v8.buffer.${kind}`, () => plaintextBufferCase(`v8.buffer.${kind}`, payload, r.messages, r))
  }
  section('event-loop lag', (pool) => repeat(0, r.commits, () => lagCase(sizes.addCount, pool)))
  return out
}

/**
 * Runs one scenario in this process (bench/section-child.mts). With `peer` (the native binary) and
 * `floor` (the in-Node floor), each repetition of a scenario native openmls also runs is paired
 * with one of each that runs it (see `repeat`).
 */
export async function runSection(sizes: Sizes, name: string, peer?: NativePeer, floor?: InNodeFloor): Promise<Metrics> {
  const found = sections(sizes).find((s) => s.name === name)
  if (!found) throw new Error(`no scenario named "${name}"`)
  const pool = poolKeyPackages(Math.max(sizes.addCount, sizes.groupSize))
  // The scenario starts on a collected heap, its key packages made.
  ;(globalThis as { gc?: () => void }).gc?.()
  const beside: Beside[] = []
  if (found.request && peer) beside.push({ peer, request: found.request, as: 'native' })
  if (found.request && floor && InNodeFloor.handles(found.request)) beside.push({ peer: floor, request: found.request, as: 'floor' })
  return found.run(pool, beside)
}

const CHILD = fileURLToPath(new URL('section-child.mts', import.meta.url))

/**
 * Runs every openmls-node scenario, each in a fresh Node process of its own (as JMH forks a JVM per
 * benchmark): no scenario inherits the heap, the compiled code, the thread pool or the allocator
 * state of the ones before it. With `floors`, each child pairs its repetitions with a native
 * binary of its own and with the in-Node floor, and a paired scenario runs in `PAIRED_PROCESSES` processes, each figure the
 * median over them. `log` hears about progress.
 */
export async function runOpenmls(sizes: Sizes, log: (line: string) => void, floors?: Floors): Promise<Metrics> {
  const results: Metrics = {}
  for (const { name, request } of sections(sizes)) {
    const start = now()
    const args = ['--expose-gc', '--import', 'tsx', CHILD, name, ...(sizes.smoke ? ['--smoke'] : []), ...(floors ? ['--native', floors.binary, '--floor', floors.addon] : [])]
    const processes = request && floors && !sizes.smoke ? PAIRED_PROCESSES : 1
    const runs: Metrics[] = []
    for (let i = 0; i < processes; i++) {
      const { stdout } = await execFileAsync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20 })
      runs.push(JSON.parse(stdout) as Metrics)
    }
    for (const key of Object.keys(runs[0])) results[key] = median(runs.map((m) => m[key]).filter((v) => v !== undefined))
    log(`openmls-node: ${name} (${((now() - start) / 1000).toFixed(1)} s, ${processes === 1 ? 'own process' : `${processes} processes, the median of each figure`})`)
  }
  return results
}
