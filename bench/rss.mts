/** Peak RSS of the add-N case: each library in a child process of its own (bench/rss-child.mjs). */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Metrics, Sizes } from './config.mjs'

const CHILD = fileURLToPath(new URL('rss-child.mjs', import.meta.url))

/** Runs the child for one library: `rss.start`, `rss.setup` and `rss.peak`, in MB. */
export function runRss(lib: 'openmls-node' | 'ts-mls', sizes: Sizes): Metrics {
  const out = execFileSync(process.execPath, [CHILD, lib, String(sizes.addCount)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return JSON.parse(out) as Metrics
}
