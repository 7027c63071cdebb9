/**
 * The native floor: builds `crates/bench` (openmls directly, openmls's in-memory storage) and runs
 * it with the benchmark's sizes. It prints one JSON object of medians, keyed like ours.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Metrics, Sizes } from './config.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** `npm run test:rust`'s package set: building with it shares every compiled dependency with the tests. */
const BUILD = ['build', '--release', '--workspace', '--exclude', 'openmls-node', '--bins']

function binaryPath(): string {
  const metadata = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: ROOT, encoding: 'utf8' })) as { target_directory: string }
  return join(metadata.target_directory, 'release', process.platform === 'win32' ? 'openmls-node-bench.exe' : 'openmls-node-bench')
}

/**
 * The binary, built (a no-op when it is up to date; after `npm run test:rust` only this crate
 * compiles, its dependencies are shared). Without cargo, the smoke run goes on without the native
 * rows and says why; the full run refuses.
 */
export function buildNative(smoke: boolean, log: (line: string) => void): { binary: string } | { skipped: string } {
  if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
    if (smoke) return { skipped: 'no cargo on PATH' }
    throw new Error('the native floor needs cargo (https://rustup.rs)')
  }
  const binary = binaryPath()
  log(`native: cargo ${BUILD.join(' ')}`)
  const build = spawnSync('cargo', BUILD, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
  if (build.status !== 0) throw new Error(`cargo build failed (${build.status ?? build.signal})`)
  return { binary }
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

/** Runs the native scenarios: medians in milliseconds per operation. */
export function runNative(binary: string, sizes: Sizes): Metrics {
  return run(binary, flags(sizes))
}

/** Runs the add case alone in a fresh process: its peak RSS before and after the add, in MB. */
export function runNativeRss(binary: string, sizes: Sizes): Metrics {
  return run(binary, [...flags(sizes), '--rss'])
}
