// The benchmark's smoke mode (`npm run bench -- --smoke`): every scenario once, tiny sizes, in a
// child process. Deterministic: it checks that the run succeeds and that every row has its figures,
// never how fast anything is.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SMOKE } from '../bench/config.mjs'
import { rows } from '../bench/rows.mjs'
// @ts-expect-error: a plain JavaScript script without declarations
import { postgresBinDir } from '../scripts/postgres-cluster.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, maxBuffer: 16 << 20, shell: process.platform === 'win32' }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

// A test of a host tool: it builds the native benchmark with the host's cargo and runs `npm`. Under
// `npm run test:cross` the suite runs on another target's Node (qemu, wine), where neither exists.
const hostOnly = process.env.OPENMLS_NODE_CROSS ? test.skip : test

hostOnly('npm run bench -- --smoke runs every scenario and prints every row with its figures', async (t) => {
  // A fresh clone compiles crates/bench first (after `npm run test:rust`, only that crate).
  t.timeout(300_000)
  const out = mkdtempSync(join(tmpdir(), 'openmls-bench-smoke-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const { code, stdout, stderr } = await run('npm', ['run', '--silent', 'bench', '--', '--smoke', '--out', out])
  t.is(code, 0, stderr)

  const lines = stdout.split('\n').filter((l) => l.startsWith('row ') && !l.startsWith('row pg'))
  const expected = rows(SMOKE)
  // The PostgreSQL rows: figures for 1, 2 and 4 processes, or why they were skipped.
  const pgLines = stdout.split('\n').filter((l) => l.startsWith('row pg'))
  if (postgresBinDir()) {
    for (const id of ['pg.one', 'pg.many']) {
      t.regex(pgLines.find((l) => l.startsWith(`row ${id} | `)) ?? '', /^row pg\.\w+ \| 1: [\d,]+ msg\/s \| 2: [\d,]+ msg\/s \| 4: [\d,]+ msg\/s$/, id)
    }
  } else {
    t.deepEqual(pgLines.map((l) => l.split(' | ')[0]), ['row pg'])
  }
  t.is(lines.length, expected.length, 'one line per row')
  for (const row of expected) {
    const line = lines.find((l) => l.startsWith(`row ${row.id} | `))
    if (!line) {
      t.fail(`no line for ${row.id}`)
      continue
    }
    const [, label, node, ts, , native, , inNode] = line.split(' | ')
    t.is(label, row.label)
    // A figure where the row has a metric, "n/a (why)" where it has none.
    const figure = /^-?[\d,.]+( |$)/
    t.regex(node.replace(/^openmls-node /, ''), row.nodeNone ? /^n\/a \(/ : figure, `${row.id}: openmls-node`)
    t.regex(ts.replace(/^ts-mls /, ''), 'metric' in row.ts ? figure : /^n\/a \(/, `${row.id}: ts-mls`)
    t.regex(native.replace(/^native /, ''), 'metric' in row.native ? figure : /^n\/a \(/, `${row.id}: native`)
    // The in-Node floor (native openmls called through N-API from the same process) where the row has it.
    t.regex(inNode.replace(/^in Node /, ''), row.inNode ? figure : /^—$/, `${row.id}: native in Node`)
  }

  const results = readFileSync(join(out, 'RESULTS.md'), 'utf8')
  t.true(results.includes('smoke run'), 'RESULTS.md says it is a smoke run')
  t.true(results.includes('](ratios.svg)'))
  t.true(results.includes('## PostgreSQL storage, several processes'))
  for (const row of expected) t.true(results.includes(`| ${row.label.replace(/\*/g, '\\*')} |`), `RESULTS.md has ${row.id}`)
  const svg = readFileSync(join(out, 'ratios.svg'), 'utf8')
  t.regex(svg, /^<\?xml [^>]+>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  t.true(svg.trimEnd().endsWith('</svg>'))
})
