// The delivery service and its clients, end to end: the server and each client run as their own
// processes; the clients talk to the server over HTTP and WebSockets on 127.0.0.1. `npm run demo:ds` prints the
// transcript; the test in __test__/delivery-service.test.mts runs the same steps and checks them.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const SERVER = fileURLToPath(new URL('./server.mts', import.meta.url))
const CLIENT = fileURLToPath(new URL('./client-process.mts', import.meta.url))

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

/** A refusal by a client's call: the code that came back. */
class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`)
  }
}

/** A client process (client-process.mts), driven by JSON-line calls. */
class RemoteClient {
  readonly #child: ChildProcess
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  #next = 0

  constructor(
    readonly name: string,
    base: string,
    log: (line: string) => void,
  ) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', CLIENT, '--name', name, '--base', base], { stdio: ['pipe', 'pipe', 'inherit'] })
    let buffered = ''
    this.#child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const reply = JSON.parse(buffered.slice(0, nl)) as { log?: string; id?: number; ok?: boolean; value?: unknown; code?: string; message?: string }
        buffered = buffered.slice(nl + 1)
        if (reply.log !== undefined) log(reply.log)
        else {
          const waiting = this.#waiting.get(reply.id!)
          this.#waiting.delete(reply.id!)
          if (reply.ok) waiting?.resolve(reply.value)
          else waiting?.reject(new CallError(reply.code!, reply.message!))
        }
      }
    })
  }

  call<T = unknown>(call: string, ...args: unknown[]): Promise<T> {
    const id = this.#next++
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.#child.stdin!.write(`${JSON.stringify({ id, call, args })}\n`)
    })
  }

  state() {
    return this.call<{ epoch: string | null; active: boolean; authenticator: string | null; heard: string[] }>('state')
  }

  async quit(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()))
    await this.call('quit').catch(() => undefined)
    await exited
  }
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
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((name) => new RemoteClient(name, base(), log))
  const everyone = [alice, bob, carol]
  // Pushes travel over sockets: wait until every given client is in the same epoch.
  const catchUp = async (members: RemoteClient[]) => {
    for (let i = 0; i < 300; i++) {
      const epochs = (await Promise.all(members.map((m) => m.state()))).map((s) => s.epoch)
      if (epochs[0] !== null && epochs.every((e) => e === epochs[0])) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error('the clients did not catch up')
  }
  const waitHeard = async (client: RemoteClient, count: number) => {
    for (let i = 0; i < 300 && (await client.state()).heard.length < count; i++) await new Promise((r) => setTimeout(r, 10))
  }
  const refusals: string[] = []
  const expectRefusal = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn()
    } catch (error) {
      if (!(error instanceof CallError)) throw error
      refusals.push(error.code)
      log(`ds refused ${what}: ${error.code}`)
      return
    }
    throw new Error(`${what}: the service accepted it`)
  }
  const post = (client: RemoteClient, groupId: string, body: object) => client.call('post', `/groups/${groupId}/messages`, { from: client.name, ...body })

  try {
    log(`delivery service on 127.0.0.1:${port} (its own process; each client too)`)
    for (const c of everyone) {
      await c.call('connect')
      await c.call('publishKeyPackages', 2)
    }
    log('alice, bob and carol published two key packages each')

    const groupId = await alice.call<string>('createGroup')
    await alice.call('invite', ['bob', 'carol'])
    await catchUp(everyone)
    await alice.call('say', 'hello, both of you')
    await bob.call('say', 'hi alice')
    await waitHeard(carol, 2)

    await bob.call('update')
    await catchUp(everyone)
    await carol.call('say', 'bob looks fresh')

    // Two commits race for the same epoch: the service keeps the first, refuses the second.
    const first = await alice.call<{ commit: string; groupInfo?: string }>('prepareUpdate')
    const second = await bob.call<{ commit: string }>('prepareUpdate')
    await post(alice, groupId, { message: first.commit, ...(first.groupInfo ? { groupInfo: first.groupInfo } : {}) })
    await alice.call('mergePendingCommit')
    await expectRefusal("bob's commit for the epoch alice's commit closed", () => post(bob, groupId, { message: second.commit }))
    await bob.call('dropPendingCommit')
    await catchUp(everyone)

    // Bad input: the service refuses it, typed, and goes on serving.
    await expectRefusal('garbage', () => post(bob, groupId, { message: Buffer.from([0, 1, 2, 3]).toString('base64') }))
    await expectRefusal('a replayed commit', () => post(bob, groupId, { message: first.commit }))
    await expectRefusal('a message for an unknown group', () => post(bob, '00ff', { message: first.commit }))

    await alice.call('remove', 'carol')
    await catchUp([alice, bob])

    // The service restarts; its groups and directory come back from its SQLite files.
    await stopServerProcess(child)
    log('the delivery service stopped; starting it again')
    ;({ child, port } = await startServerProcess(dir, serverLog))
    for (const c of everyone) await c.call('reconnect', base())

    // Carol comes back by external commit, from the GroupInfo and tree the service serves.
    await carol.call('leaveGroupState')
    await carol.call('rejoin', groupId)
    await catchUp(everyone)
    await carol.call('say', "I'm back")
    await alice.call('say', 'welcome back, carol')
    await waitHeard(bob, 5)
    await waitHeard(carol, 4)

    const states = await Promise.all(everyone.map((c) => c.state()))
    const finalState = Object.fromEntries(everyone.map((c, i) => [c.name, { epoch: BigInt(states[i].epoch!), authenticator: states[i].authenticator! }]))
    log(`epoch ${finalState.alice.epoch}: alice, bob and carol agree on epoch authenticator ${finalState.alice.authenticator.slice(0, 16)}…`)
    return {
      finalState,
      heard: Object.fromEntries(everyone.map((c, i) => [c.name, states[i].heard])),
      refusals,
      reloaded: serverLines.some((l) => l.startsWith('ds: reloaded 1 group')),
    }
  } finally {
    await Promise.all(everyone.map((c) => c.quit()))
    await stopServerProcess(child)
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const result = await runScenario((line) => console.log(line))
  for (const [name, lines] of Object.entries(result.heard)) console.log(`${name} read: ${lines.map((l) => `"${l}"`).join(', ')}`)
}
