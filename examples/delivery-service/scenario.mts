// The delivery service and its clients, end to end: the server runs as its own process on
// 127.0.0.1, the clients talk to it over HTTP and WebSockets. `npm run demo:ds` prints the
// transcript; the test in __test__/delivery-service.test.mts runs the same steps and checks them.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { b64 } from './server.mjs'
import { DsClient, ServiceError } from './client.mjs'

const SERVER = fileURLToPath(new URL('./server.mts', import.meta.url))

/** The server as a child process; resolves with its port once it listens. */
function startServerProcess(dir: string, log: (line: string) => void): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, '--dir', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let buffered = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        const listening = /^listening (\d+)$/.exec(line)
        if (listening) resolve({ child, port: Number(listening[1]) })
        else log(line)
      }
    })
    child.once('exit', (code) => reject(new Error(`the delivery service exited with ${code} before listening`)))
  })
}

function stopServerProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

/** What the run shows, for the test to check. */
export interface ScenarioResult {
  /** Per member at the end: its epoch and epoch authenticator (hex). */
  finalState: Record<string, { epoch: bigint; authenticator: string }>
  /** What each client read, in order. */
  heard: Record<string, string[]>
  /** The codes of the refusals the run provoked. */
  refusals: string[]
  /** Whether the server reloaded the group after its restart. */
  reloaded: boolean
}

export async function runScenario(log: (line: string) => void = () => {}): Promise<ScenarioResult> {
  const dir = mkdtempSync(join(tmpdir(), 'openmls-ds-'))
  const serverLines: string[] = []
  const serverLog = (line: string) => {
    serverLines.push(line)
    log(`  ${line}`)
  }
  let { child, port } = await startServerProcess(dir, serverLog)
  const base = () => `http://127.0.0.1:${port}`
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((name) => new DsClient(name, base(), log))
  const everyone = [alice, bob, carol]
  const settle = () => Promise.all(everyone.map((c) => c.settled()))
  // Pushes travel over sockets: wait until every client caught up with the group's epoch.
  const catchUp = async (members: DsClient[]) => {
    for (let i = 0; i < 200; i++) {
      await settle()
      const epoch = members[0].g.epoch
      if (members.every((m) => m.group && m.g.epoch === epoch)) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error('the clients did not catch up')
  }
  const waitHeard = async (client: DsClient, count: number) => {
    for (let i = 0; i < 200 && client.heard.length < count; i++) await new Promise((r) => setTimeout(r, 10))
    await settle()
  }
  const refusals: string[] = []
  const expectRefusal = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn()
      throw new Error(`${what}: the service accepted it`)
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error
      refusals.push(error.code)
      log(`ds refused ${what}: ${error.code}`)
    }
  }

  try {
    log(`delivery service on 127.0.0.1:${port}`)
    for (const c of everyone) {
      await c.connect()
      await c.publishKeyPackages(2)
    }
    log('alice, bob and carol published two key packages each')

    const groupId = await alice.createGroup()
    await alice.invite(['bob', 'carol'])
    await catchUp(everyone)
    await alice.say('hello, both of you')
    await bob.say('hi alice')
    await waitHeard(carol, 2)

    await bob.update()
    await catchUp(everyone)
    await carol.say('bob looks fresh')

    // Two commits race for the same epoch: the service keeps the first, refuses the second.
    const first = await alice.g.selfUpdate()
    const second = await bob.g.selfUpdate()
    await alice.request('POST', `/groups/${groupId}/messages`, { from: 'alice', message: b64(first.commit), ...(first.groupInfo ? { groupInfo: b64(first.groupInfo) } : {}) })
    await alice.g.mergePendingCommit()
    await expectRefusal("bob's commit for the epoch alice's commit closed", () => bob.request('POST', `/groups/${groupId}/messages`, { from: 'bob', message: b64(second.commit) }))
    await bob.dropPendingCommit()
    await catchUp(everyone)

    // Bad input: the service refuses it, typed, and goes on serving.
    await expectRefusal('garbage', () => bob.request('POST', `/groups/${groupId}/messages`, { from: 'bob', message: b64(new Uint8Array([0, 1, 2, 3])) }))
    await expectRefusal('a replayed commit', () => bob.request('POST', `/groups/${groupId}/messages`, { from: 'bob', message: b64(first.commit) }))
    await expectRefusal('a message for an unknown group', () => bob.request('POST', `/groups/00ff/messages`, { from: 'bob', message: b64(first.commit) }))

    await alice.remove('carol')
    await catchUp([alice, bob])

    // The service restarts; its groups and directory come back from its SQLite files.
    await stopServerProcess(child)
    log('the delivery service stopped; starting it again')
    ;({ child, port } = await startServerProcess(dir, serverLog))
    for (const c of everyone) {
      c.disconnect()
      c.base = base()
      await c.connect()
    }

    // Carol comes back by external commit, from the GroupInfo and tree the service serves.
    carol.g.delete()
    carol.group = undefined
    await carol.rejoin(groupId)
    await catchUp(everyone)
    await carol.say("I'm back")
    await alice.say('welcome back, carol')
    await waitHeard(bob, 5)
    await waitHeard(carol, 4)

    const finalState = Object.fromEntries(everyone.map((c) => [c.name, { epoch: c.g.epoch, authenticator: Buffer.from(c.g.epochAuthenticator()).toString('hex') }]))
    log(`epoch ${alice.g.epoch}: alice, bob and carol agree on epoch authenticator ${finalState.alice.authenticator.slice(0, 16)}…`)
    return {
      finalState,
      heard: Object.fromEntries(everyone.map((c) => [c.name, [...c.heard]])),
      refusals,
      reloaded: serverLines.some((l) => l.startsWith('ds: reloaded 1 group')),
    }
  } finally {
    for (const c of everyone) c.disconnect()
    await stopServerProcess(child)
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const result = await runScenario((line) => console.log(line))
  for (const [name, lines] of Object.entries(result.heard)) console.log(`${name} read: ${lines.map((l) => `"${l}"`).join(', ')}`)
}
