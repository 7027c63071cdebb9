/**
 * The PostgreSQL rows (issue #14): durable 100 B application messages per second with 1, 2 and 4
 * Node processes sharing one database, for one group all processes send in, and for many groups
 * (each process its own). A throwaway cluster from Debian's packages (scripts/postgres-cluster.mjs)
 * runs beside the benchmark on this machine; without PostgreSQL the rows are skipped.
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { BasicCredential, MlsGroup, Provider, SignatureKeyPair } from 'openmls-node'
// @ts-expect-error: a plain JavaScript script without declarations
import { postgresBinDir, startCluster } from '../scripts/postgres-cluster.mjs'

const CHILD = fileURLToPath(new URL('./pg-child.mjs', import.meta.url))
export const PROCESSES = [1, 2, 4] as const
/** Groups per process in the many-groups rows. */
export const GROUPS_PER_PROCESS = 4
/** Target: 4 processes on many groups reach at least this multiple of one process. */
export const SCALING_TARGET = 3

export interface PgResults {
  /** Messages per second, by scenario and process count. */
  one: Record<number, number>
  many: Record<number, number>
  /** The share of the machine's CPU (all cores) the Node processes and the server used, by scenario and process count. */
  cpu: { one: Record<number, number>; many: Record<number, number> }
  cores: number
  runMs: number
  server: string
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function makeGroups(provider: Provider, n: number): string[] {
  const signer = SignatureKeyPair.forCiphersuite(1)
  const credentialWithKey = { credential: new BasicCredential('bench'), signatureKey: signer.publicKey }
  return Array.from({ length: n }, () => hex(MlsGroup.create({ provider, signer, credentialWithKey }).groupId))
}

interface Child {
  ready: Promise<void>
  done: Promise<{ sent: number; cpuMs: number }>
  go(): void
}

function child(connectionString: string, schema: string, groups: string[], warmupMs: number, runMs: number): Child {
  const proc = spawn(process.execPath, [CHILD, schema, groups.join(','), String(warmupMs), String(runMs)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, OPENMLS_NODE_BENCH_PG: connectionString },
  })
  let out = ''
  let err = ''
  let onReady: () => void = () => {}
  const ready = new Promise<void>((r) => (onReady = r))
  const done = new Promise<{ sent: number; cpuMs: number }>((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d
      if (out.includes('"ready"')) onReady()
    })
    proc.stderr.on('data', (d) => (err += d))
    proc.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.includes('"sent"'))
      if (code !== 0 || !line) reject(new Error(`pg-child failed (${code}): ${err}`))
      else resolve(JSON.parse(line))
    })
  })
  return { ready, done, go: () => proc.stdin.end('go\n') }
}

/** CPU time (ms) all PostgreSQL server processes of this machine have used so far, from /proc. */
function serverCpuMs(): number {
  const tick = 100 // USER_HZ on Linux
  let total = 0
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue
      const fields = stat.slice(close + 2).split(' ')
      total += ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / tick
    } catch {
      // The process ended meanwhile.
    }
  }
  return total
}

async function measure(connectionString: string, schema: string, groupsOf: (p: number) => string[], processes: number, warmupMs: number, runMs: number) {
  const children = Array.from({ length: processes }, (_, p) => child(connectionString, schema, groupsOf(p), warmupMs, runMs))
  await Promise.all(children.map((c) => c.ready))
  for (const c of children) c.go()
  await new Promise((r) => setTimeout(r, warmupMs))
  const serverBefore = serverCpuMs()
  const results = await Promise.all(children.map((c) => c.done))
  // The server's share over the timed window (it ends when the children do).
  const serverMs = serverCpuMs() - serverBefore
  const nodeMs = results.reduce((a, r) => a + r.cpuMs, 0)
  return {
    rate: results.reduce((a, r) => a + r.sent, 0) / (runMs / 1000),
    cpu: (nodeMs + serverMs) / (runMs * cpus().length),
  }
}

/** Runs the rows; `skipped` says why there are none. */
export async function runPostgres(smoke: boolean, log: (line: string) => void): Promise<PgResults | { skipped: string }> {
  const bin = postgresBinDir()
  if (!bin) return { skipped: 'PostgreSQL is not installed (apt-get install postgresql)' }
  const cluster = startCluster(bin)
  try {
    const schema = 'bench'
    const setup = new Provider({ storage: { postgres: { connectionString: cluster.connectionString, schema } } })
    const shared = makeGroups(setup, 1)
    const own = makeGroups(setup, GROUPS_PER_PROCESS * PROCESSES[PROCESSES.length - 1])
    setup.close()
    const warmupMs = smoke ? 50 : 500
    const runMs = smoke ? 200 : 3000
    const results: PgResults = {
      one: {},
      many: {},
      cpu: { one: {}, many: {} },
      cores: cpus().length,
      runMs,
      server: `PostgreSQL ${bin.split('/').at(-2)}, fsync on, synchronous_commit on, over a Unix socket`,
    }
    for (const p of PROCESSES) {
      log(`postgres: one group, ${p} process(es)`)
      const one = await measure(cluster.connectionString, schema, () => shared, p, warmupMs, runMs)
      results.one[p] = one.rate
      results.cpu.one[p] = one.cpu
      log(`postgres: many groups, ${p} process(es)`)
      const many = await measure(cluster.connectionString, schema, (i) => own.slice(i * GROUPS_PER_PROCESS, (i + 1) * GROUPS_PER_PROCESS), p, warmupMs, runMs)
      results.many[p] = many.rate
      results.cpu.many[p] = many.cpu
    }
    return results
  } finally {
    cluster.stop()
  }
}

const rate = (v: number) => `${Math.round(v).toLocaleString('en-US')} msg/s`

/** The rows as lines for stdout (`row <id> | …`). */
export function pgRowLines(r: PgResults | { skipped: string }): string[] {
  if ('skipped' in r) return [`row pg | skipped: ${r.skipped}`]
  return [
    `row pg.one | ${PROCESSES.map((p) => `${p}: ${rate(r.one[p])}`).join(' | ')}`,
    `row pg.many | ${PROCESSES.map((p) => `${p}: ${rate(r.many[p])}`).join(' | ')}`,
  ]
}

/** The RESULTS.md section. */
export function pgMarkdown(r: PgResults | { skipped: string }): string[] {
  const out = ['## PostgreSQL storage, several processes (issue #14)', '']
  if ('skipped' in r) return [...out, `Skipped in this run: ${r.skipped}.`, '']
  const scaling = r.many[4] / r.many[1]
  const pct = (v: number) => `${Math.round(v * 100)}%`
  // How far the machine lets processes scale: its CPU over what one process (and its server share) used.
  const ceiling = 1 / r.cpu.many[1]
  out.push(
    `Durable 100 B application messages (\`createMessage\`, one transaction each: advisory lock on the group, its token, the message secrets, \`COMMIT\`) per second, summed over the processes, ${r.runMs / 1000} s per figure after a warm-up. Each process sends one message at a time, as a worker serving a queue, with one connection. The server: ${r.server}, on the same machine as the processes.`,
    '',
    '| scenario | 1 process | 2 processes | 4 processes | 4 ÷ 1 | target |',
    '|---|---:|---:|---:|---:|---|',
    `| one group, all processes sending in it | ${rate(r.one[1])} | ${rate(r.one[2])} | ${rate(r.one[4])} | ${(r.one[4] / r.one[1]).toFixed(1)}× | — (one group is one writer at a time, by design) |`,
    `| many groups, ${GROUPS_PER_PROCESS} per process | ${rate(r.many[1])} | ${rate(r.many[2])} | ${rate(r.many[4])} | ${scaling.toFixed(1)}× | ≥ ${SCALING_TARGET}× : **${scaling >= SCALING_TARGET ? 'met' : 'unmet'}** |`,
    `| … CPU busy (Node processes and server), share of the machine's ${r.cores} cores | ${pct(r.cpu.many[1])} | ${pct(r.cpu.many[2])} | ${pct(r.cpu.many[4])} | | |`,
    '',
    scaling >= SCALING_TARGET
      ? ''
      : `Where the target is missed, the machine is the ceiling, not contention in the store: one process with its share of the server already keeps ${pct(r.cpu.many[1])} of this ${r.cores}-core machine busy, so no number of processes can go past about ${ceiling.toFixed(1)}× one, and 4 processes run it at ${pct(r.cpu.many[4])}. Different groups do not wait for each other (each takes only its own group's lock): on a machine with more cores than processes, or with the server elsewhere, the processes add up.`,
    '',
    'In the one-group row every message of a process follows one of another process, so each one also reloads the group the other process changed (the price of sharing a group across processes; a deployment that routes a group to one process at a time avoids it).',
    '',
  )
  return out
}
