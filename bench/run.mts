/**
 * `npm run bench`: openmls-node, ts-mls and native openmls on the same scenarios, in one run.
 * Prints one `row <id> | …` line per row on stdout (progress goes to stderr) and writes
 * bench/RESULTS.md and bench/ratios.svg.
 *
 *   npm run bench                      the full run (several minutes)
 *   npm run bench -- --smoke           every scenario once, tiny sizes; writes nothing
 *   npm run bench -- --out DIR         write RESULTS.md and ratios.svg into DIR instead
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ratioChart } from './chart.mjs'
import { FULL, SMOKE, type Metrics } from './config.mjs'
import { machine } from './machine.mjs'
import { buildNative, runNativeRss } from './native.mjs'
import { markdown, rowLines } from './report.mjs'
import { evaluate, rows } from './rows.mjs'
import { runRss } from './rss.mjs'
import { pgMarkdown, pgRowLines, runPostgres } from './postgres.mjs'
import { runOpenmls } from './scenarios-openmls.mjs'
import { runTsMls } from './scenarios-tsmls.mjs'

const { values } = parseArgs({ options: { smoke: { type: 'boolean', default: false }, out: { type: 'string' } } })
const sizes = values.smoke ? SMOKE : FULL
const outDir = values.out ?? (values.smoke ? undefined : fileURLToPath(new URL('.', import.meta.url)))
const log = (line: string) => process.stderr.write(`bench: ${line}\n`)
const started = performance.now()
const host = machine()

const built = buildNative(sizes.smoke, log)
let native: Metrics = {}
if ('binary' in built) {
  log('native: peak RSS; its scenarios run beside ours')
  native = runNativeRss(built.binary, sizes)
} else {
  log(`native: skipped (${built.skipped})`)
}
log('peak RSS: openmls-node and ts-mls children')
const rssNode = runRss('openmls-node', sizes)
const rssTs = runRss('ts-mls', sizes)
const node = { ...(await runOpenmls(sizes, log, 'binary' in built ? built : undefined)), ...rssNode }
// The native figures are those measured beside our *Sync rows (the Promise rows pair their own).
for (const [k, v] of Object.entries(node)) if (k.startsWith('native:') && !k.startsWith('native:promise.')) native[k.slice('native:'.length)] = v
const ts = { ...(await runTsMls(sizes, log)), ...rssTs }

log('postgres: several processes on one database')
const pg = await runPostgres(sizes.smoke, log)

const evaluated = evaluate(rows(sizes), node, ts, native, 'skipped' in built ? `native skipped: ${built.skipped}` : 'not measured on this platform')
for (const line of [...rowLines(evaluated), ...pgRowLines(pg)]) console.log(line)
if (outDir) {
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'RESULTS.md'), markdown(evaluated, host, sizes, pgMarkdown(pg)))
  writeFileSync(join(outDir, 'ratios.svg'), ratioChart(evaluated, `openmls-node ${host.openmlsNode} vs ts-mls ${host.tsmls}: how many times better, per row`))
  log(`wrote ${join(outDir, 'RESULTS.md')} and ratios.svg`)
}
log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
