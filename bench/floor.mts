/**
 * The in-Node floor: native openmls called through N-API from this very process, with nothing else
 * between (crates/bench-addon: openmls with its own in-memory storage, no core, no SQLite store, no
 * TypeScript wrapper). Its calls take openmls-node's shape: `*Sync` ones on the calling thread,
 * Promise ones as one libuv thread-pool task each, bytes handed to JavaScript by copy. So the
 * thread pool's round trip, V8's buffers and the allocator are in both, and an overhead against it
 * is the binding's own. Its repetitions run beside ours as the native binary's do (measure.mts).
 */
import { join } from 'node:path'
import type { Metrics, Sizes } from './config.mjs'
import { median, now, type Peer } from './measure.mjs'

/** The addon's exports (crates/bench-addon/src/lib.rs). */
interface FloorPair {
  encryptSync(plaintext: Uint8Array): Uint8Array
  decryptSync(message: Uint8Array): Uint8Array
  selfUpdateSync(): Uint8Array
  mergePendingCommitSync(): void
  processCommitSync(commit: Uint8Array): object
  mergeStagedCommitSync(staged: object): void
  selfUpdate(): Promise<Uint8Array>
  mergePendingCommit(): Promise<void>
  processCommit(commit: Uint8Array): Promise<object>
  mergeStagedCommit(staged: object): Promise<void>
  epochs(): number[]
}
type FloorAddon = { FloorPair: new (size: number) => FloorPair }

/** Where cargo puts the addon in a target directory. */
export function floorAddonPath(targetDir: string): string {
  const file = process.platform === 'win32' ? 'openmls_node_bench_addon.dll' : process.platform === 'darwin' ? 'libopenmls_node_bench_addon.dylib' : 'libopenmls_node_bench_addon.so'
  return join(targetDir, 'release', file)
}

/** The requests the floor answers: those of native.mts's binary that involve no storage of ours. */
const HANDLED = /^(update|update-pool) \d+$|^msg \d+ \d+ \d+$/

/**
 * The in-Node floor as a peer of `repeat`: it answers `update N`, `update-pool N` and
 * `msg SIZE PAYLOAD COUNT` as the native binary does (same metric ids), with a group per request
 * kind kept between requests, as the native binary and our scenarios keep theirs.
 */
export class InNodeFloor implements Peer {
  readonly #addon: FloorAddon
  readonly #sizes: Sizes
  readonly #pairs = new Map<string, FloorPair>()

  constructor(addonPath: string, sizes: Sizes) {
    // A cdylib, not a `.node` file: loaded the way `require` loads an addon.
    const module = { exports: {} as FloorAddon }
    process.dlopen(module, addonPath)
    this.#addon = module.exports
    this.#sizes = sizes
  }

  /** Whether the floor runs this request of the native binary's. */
  static handles(request: string): boolean {
    return HANDLED.test(request)
  }

  #pair(key: string, size: number): FloorPair {
    let pair = this.#pairs.get(key)
    if (!pair) this.#pairs.set(key, (pair = new this.#addon.FloorPair(size)))
    return pair
  }

  async request(line: string): Promise<Metrics> {
    const [kind, ...args] = line.split(' ')
    const numbers = args.map(Number)
    if (kind === 'update' || kind === 'update-pool') return this.#updates(kind === 'update-pool', numbers[0])
    if (kind === 'msg') return this.#messages(numbers[0], numbers[1], numbers[2])
    throw new Error(`the in-Node floor does not run "${line}"`)
  }

  /** `block` self-updates of `a` processed by `b`, the median of each side (see updateCase). */
  async #updates(promise: boolean, block: number): Promise<Metrics> {
    const p = this.#pair(promise ? 'update-pool' : 'update', this.#sizes.groupSize)
    const create: number[] = []
    const process: number[] = []
    for (let i = 0; i < Math.max(1, block); i++) {
      let t = now()
      let commit: Uint8Array
      if (promise) {
        commit = await p.selfUpdate()
        await p.mergePendingCommit()
      } else {
        commit = p.selfUpdateSync()
        p.mergePendingCommitSync()
      }
      create.push(now() - t)
      t = now()
      if (promise) await p.mergeStagedCommit(await p.processCommit(commit))
      else p.mergeStagedCommitSync(p.processCommitSync(commit))
      process.push(now() - t)
    }
    const [ea, eb] = p.epochs()
    if (ea !== eb) throw new Error(`the in-Node floor's members disagree on the epoch (${ea}, ${eb})`)
    return { 'update.create': median(create), 'update.process': median(process) }
  }

  /** `count` messages of `payload` bytes from `a` to `b` in a group of `size`: ms per message each way. */
  #messages(size: number, payload: number, count: number): Metrics {
    const p = this.#pair(`msg ${size} ${payload}`, size)
    const plaintext = new Uint8Array(payload).fill(0x5a)
    let t = now()
    const wire: Uint8Array[] = []
    for (let i = 0; i < count; i++) wire.push(p.encryptSync(plaintext))
    const enc = (now() - t) / count
    t = now()
    for (const bytes of wire) {
      if (p.decryptSync(bytes).length !== payload) throw new Error('the in-Node floor decrypted the wrong plaintext')
    }
    const dec = (now() - t) / count
    const id = `msg.${size === 2 ? '2' : 'group'}.${payload === this.#sizes.smallMessage ? 'small' : 'large'}`
    return { [`${id}.enc`]: enc, [`${id}.dec`]: dec }
  }
}
