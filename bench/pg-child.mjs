// One Node process of the PostgreSQL throughput rows (bench/postgres.mts). Plain JavaScript, so no
// loader runs in the timed region.
//   node pg-child.mjs <schema> <groups-hex,comma-separated> <warmupMs> <runMs>
// Opens a provider on the shared database, loads the groups, prints {ready}, waits for a line on
// stdin, then sends 100 B application messages, one at a time, round-robin over its groups
// (a worker serving a queue), and prints {sent} for the timed window after the warm-up.
import { createInterface } from 'node:readline'
import { Provider } from 'openmls-node'

const [, , schema, groupsArg, warmupArg, runArg] = process.argv
const provider = await Provider.open({ storage: { postgres: { connectionString: process.env.OPENMLS_NODE_BENCH_PG, schema, maxConnections: 1 } } })
const groups = []
for (const id of groupsArg.split(',')) groups.push(await provider.loadGroup(Buffer.from(id, 'hex')))
const plaintext = new Uint8Array(100).fill(0x5a)
process.stdout.write(JSON.stringify({ ready: true }) + '\n')
await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve))

const warmupEnd = performance.now() + Number(warmupArg)
const end = warmupEnd + Number(runArg)
let sent = 0
let i = 0
let cpuStart
for (;;) {
  const now = performance.now()
  if (now >= end) break
  if (now >= warmupEnd && !cpuStart) cpuStart = process.cpuUsage()
  await groups[i++ % groups.length].createMessage(plaintext)
  if (now >= warmupEnd) sent++
}
// CPU time of this process during the timed window, in ms (all its threads).
const cpu = process.cpuUsage(cpuStart)
process.stdout.write(JSON.stringify({ sent, ms: Number(runArg), cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n')
provider.close()
process.exit(0)
