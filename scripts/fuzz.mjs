#!/usr/bin/env node
// `npm run fuzz -- N [--seed S] [--only name,name] [--chunk C] [--jobs J] [--out report.json]`
//
// Runs N inputs of the mutation fuzz in __test__/fuzz-harness.mts (the one `npm test` runs with a
// fixed budget), in child processes of C inputs each, J at a time. A child that dies (a crash of
// the addon: abort, segfault, out of memory) is reported with the input that killed it, which the
// child writes to a file before running each input, and the run goes on after that input.
//
// Prints: inputs, accepted, rejected by code, ERR_INTERNAL findings, other failures (an accepted
// input whose outcome was not genuine, an error that is not a typed OpenMlsError) and crashes.
// Exits 1 if there is any ERR_INTERNAL, failure or crash.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const harness = join(root, '__test__', 'fuzz-harness.mts')

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return fallback
  const [value] = args.splice(i, 2).slice(1)
  return value
}
const seed = Number(option('seed', '20251109'))
const only = option('only')
const chunk = Number(option('chunk', '50000'))
const jobs = Math.max(1, Number(option('jobs', '1')))
const out = option('out')
const crashAt = option('crash-at') // test hook: the child aborts before this input
const total = Number(args[0] ?? '10000')
if (!Number.isSafeInteger(total) || total <= 0 || !Number.isSafeInteger(chunk) || chunk <= 0) {
  console.error('usage: npm run fuzz -- N [--seed S] [--only a,b] [--chunk C] [--jobs J] [--out report.json]')
  process.exit(2)
}

const stats = { inputs: 0, accepted: 0, rejected: {}, internal: [], failures: [], crashes: [], byTarget: {}, samples: {} }
function add(d) {
  stats.inputs += d.inputs
  stats.accepted += d.accepted
  for (const [code, n] of Object.entries(d.rejected)) stats.rejected[code] = (stats.rejected[code] ?? 0) + n
  stats.internal.push(...d.internal)
  stats.failures.push(...d.failures)
  for (const [k, v] of Object.entries(d.samples ?? {})) stats.samples[k] ??= v
  for (const [name, t] of Object.entries(d.byTarget)) {
    const mine = (stats.byTarget[name] ??= { inputs: 0, accepted: 0 })
    mine.inputs += t.inputs
    mine.accepted += t.accepted
  }
}

const work = mkdtempSync(join(tmpdir(), 'openmls-fuzz-run-'))
const started = Date.now()
let lastReport = 0
function report(force = false) {
  const now = Date.now()
  if (!force && now - lastReport < 10_000) return
  lastReport = now
  const rate = stats.inputs / Math.max(1, (now - started) / 1000)
  process.stderr.write(
    `fuzz: ${stats.inputs}/${total} inputs, ${rate.toFixed(0)}/s, ERR_INTERNAL ${stats.internal.length}, failures ${stats.failures.length}, crashes ${stats.crashes.length}\n`,
  )
}

/** Runs inputs [start, end) in one child; after a crash, resumes past the input that killed it. */
async function runRange(start, end, slot) {
  let next = start
  while (next < end) {
    const crashFile = join(work, `current-${slot}.json`)
    writeFileSync(crashFile, '')
    const childArgs = ['--import=tsx', harness, '--seed', String(seed), '--start', String(next), '--count', String(end - next), '--crash-file', crashFile]
    if (only) childArgs.push('--only', only)
    if (crashAt !== undefined) childArgs.push('--crash-at', crashAt)
    const { done, code, signal, stderr, resumeAt } = await new Promise((resolve) => {
      const child = spawn(process.execPath, childArgs, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
      let buffer = ''
      let stderr = ''
      let done = false
      let resumeAt = next
      child.stdout.on('data', (data) => {
        buffer += data
        let nl
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl)
          buffer = buffer.slice(nl + 1)
          if (!line.trim()) continue
          const message = JSON.parse(line)
          add(message.progress ?? message.done)
          resumeAt = message.next
          if (message.done) done = true
          report()
        }
      })
      child.stderr.on('data', (data) => {
        stderr = (stderr + data).slice(-4000)
      })
      child.on('close', (code, signal) => resolve({ done, code, signal, stderr, resumeAt }))
    })
    if (done && code === 0) return
    // The child died. The crash file names the input it was running.
    let current
    try {
      current = JSON.parse(readFileSync(crashFile, 'utf8').split('\n')[0])
    } catch {
      current = undefined
    }
    if (!current) {
      // It died outside any input (during set-up): nothing to skip past, so stop this range.
      stats.crashes.push({ index: null, target: null, exit: signal ?? code, stderr: stderr.slice(-1000) })
      return
    }
    stats.crashes.push({ index: current.index, target: current.target, exit: signal ?? code, input: current.input.slice(0, 8192), seed: current.seed.slice(0, 8192), stderr: stderr.slice(-1000) })
    // Inputs of the crashed child after its last progress line were run but not reported; the
    // input that crashed counts as one input. Resume right after it.
    stats.inputs += current.index - resumeAt + 1
    next = current.index + 1
    report(true)
  }
}

const ranges = []
for (let s = 0; s < total; s += chunk) ranges.push([s, Math.min(total, s + chunk)])
let cursor = 0
await Promise.all(
  Array.from({ length: Math.min(jobs, ranges.length) }, async (_, slot) => {
    while (cursor < ranges.length) {
      const [s, e] = ranges[cursor++]
      await runRange(s, e, slot)
    }
  }),
)
rmSync(work, { recursive: true, force: true })
report(true)

const seconds = (Date.now() - started) / 1000
const cut = (f) => ({ ...f, input: f.input?.slice(0, 512), seed: f.seed?.slice(0, 256) })
console.log(`seed ${seed}, ${seconds.toFixed(1)} s`)
console.log(`inputs:       ${stats.inputs}`)
console.log(`accepted:     ${stats.accepted}`)
console.log('rejected by code:')
for (const [code, n] of Object.entries(stats.rejected).sort((a, b) => b[1] - a[1])) console.log(`  ${code.padEnd(28)} ${n}`)
console.log(`ERR_INTERNAL: ${stats.internal.length}`)
for (const f of stats.internal.slice(0, 20)) console.log('  ' + JSON.stringify(cut(f)))
console.log(`failures:     ${stats.failures.length}`)
for (const f of stats.failures.slice(0, 20)) console.log('  ' + JSON.stringify(cut(f)))
console.log(`crashes:      ${stats.crashes.length}`)
for (const c of stats.crashes.slice(0, 20)) console.log('  ' + JSON.stringify(cut(c)))
console.log('inputs by target:')
for (const [name, t] of Object.entries(stats.byTarget).sort()) console.log(`  ${name.padEnd(46)} ${String(t.inputs).padStart(9)} (accepted ${t.accepted})`)
if (out) writeFileSync(out, JSON.stringify({ seed, seconds, ...stats }, null, 2))
process.exit(stats.internal.length || stats.failures.length || stats.crashes.length ? 1 : 0)
