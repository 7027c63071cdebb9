/**
 * The native floor: builds `crates/bench` (openmls directly, openmls's in-memory storage) and runs
 * it with the benchmark's sizes. Its repetitions run beside ours ({@link NativePeer}): each of our
 * repetitions is paired with a native one of the same scenario, run right before or after it, so
 * that an overhead compares two measurements taken under the same load of a shared machine.
 */
import { execFileSync, spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Metrics, Sizes } from './config.mjs'
import { floorAddonPath } from './floor.mjs'
import type { Peer } from './measure.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/**
 * `npm run test:rust`'s package set: building with it shares every compiled dependency with the
 * tests. `--bins` is the native binary, `--lib` the in-Node floor's addon (floor.mts).
 */
const BUILD = ['build', '--release', '--workspace', '--exclude', 'openmls-node', '--bins', '--lib']

function targetDir(): string {
  const metadata = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: ROOT, encoding: 'utf8' })) as { target_directory: string }
  return metadata.target_directory
}

/** The two floors, built: the native binary and the in-Node floor's addon. */
export interface Floors {
  binary: string
  addon: string
}

/**
 * The native binary and the in-Node floor's addon, built (a no-op when they are up to date; after
 * `npm run test:rust` only these crates compile, their dependencies are shared). Without cargo,
 * the smoke run goes on without the native rows and says why; the full run refuses.
 */
export function buildNative(smoke: boolean, log: (line: string) => void): Floors | { skipped: string } {
  if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
    if (smoke) return { skipped: 'no cargo on PATH' }
    throw new Error('the native floor needs cargo (https://rustup.rs)')
  }
  const dir = targetDir()
  log(`native: cargo ${BUILD.join(' ')}`)
  const build = spawnSync('cargo', BUILD, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
  if (build.status !== 0) throw new Error(`cargo build failed (${build.status ?? build.signal})`)
  return { binary: join(dir, 'release', process.platform === 'win32' ? 'openmls-node-bench.exe' : 'openmls-node-bench'), addon: floorAddonPath(dir) }
}

/** The command-line flags that pass our sizes to the binary. */
function flags(sizes: Sizes): string[] {
  const r = sizes.native
  return Object.entries({
    add: sizes.addCount,
    group: sizes.groupSize,
    small: sizes.smallMessage,
    large: sizes.largeMessage,
    'kp-batch': r.keyPackages,
    messages: r.messages,
    'commit-reps': r.commits,
    'update-reps': r.updates,
    'message-reps': r.batches,
    warmup: r.warmup,
  }).flatMap(([k, v]) => [`--${k}`, String(v)])
}

/** Runs the binary; drops what it could not measure (`null`, e.g. peak RSS off Linux). */
function run(binary: string, args: string[]): Metrics {
  const out = execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 })
  const parsed = JSON.parse(out) as Record<string, number | null>
  return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === 'number'))
}

/**
 * The native binary in `--serve` mode: one repetition per request (`kp N`, `add`, `update N`,
 * `msg SIZE PAYLOAD COUNT`), answered with that repetition's measurements, in milliseconds per
 * operation, keyed like ours.
 */
export class NativePeer implements Peer {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>
  readonly #answers: AsyncIterator<string>

  constructor(binary: string, sizes: Sizes) {
    this.#child = spawn(binary, [...flags(sizes), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.#answers = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]()
  }

  /** Runs one repetition. */
  async request(line: string): Promise<Metrics> {
    this.#child.stdin.write(`${line}\n`)
    const answer = await this.#answers.next()
    if (answer.done) throw new Error(`the native benchmark ended without answering "${line}" (${this.#child.exitCode ?? this.#child.signalCode})`)
    return JSON.parse(answer.value) as Metrics
  }

  /** Lets the binary exit. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return
    const exited = new Promise((resolve) => this.#child.once('exit', resolve))
    this.#child.stdin.end('quit\n')
    await exited
  }
}

/** Runs the add case alone in a fresh process: its peak RSS before and after the add, in MB. */
export function runNativeRss(binary: string, sizes: Sizes): Metrics {
  return run(binary, [...flags(sizes), '--rss'])
}
