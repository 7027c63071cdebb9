// One client of the delivery service as its own process: `--name alice --base http://127.0.0.1:PORT`.
// It reads commands as JSON lines on stdin (`{ "id": 1, "call": "say", "args": ["hi"] }`) and
// answers each on stdout (`{ "id": 1, "ok": true, "value": ... }`); its log lines come as
// `{ "log": "..." }`. The scenario drives three of these.
import { createInterface } from 'node:readline'
import { DsClient } from './client.mjs'
import { b64 } from './server.mjs'

const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1]
const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`)
const client = new DsClient(arg('--name'), arg('--base'), (line) => send({ log: line }))

/** What the scenario may ask of a client. */
const calls: Record<string, (...args: never[]) => unknown> = {
  connect: () => client.connect(),
  publishKeyPackages: (n: number) => client.publishKeyPackages(n),
  createGroup: () => client.createGroup(),
  invite: (names: string[]) => client.invite(names),
  remove: (name: string) => client.remove(name),
  update: () => client.update(),
  say: (words: string) => client.say(words),
  rejoin: (groupId: string) => client.rejoin(groupId),
  /** Reconnects to a (restarted) service at `base`. */
  reconnect: async (base: string) => {
    client.disconnect()
    client.base = base
    await client.connect()
  },
  /** Makes a self-update commit and keeps it pending, without sending it. */
  prepareUpdate: async () => {
    const out = await client.g.selfUpdate()
    return { commit: b64(out.commit), ...(out.groupInfo ? { groupInfo: b64(out.groupInfo) } : {}) }
  },
  mergePendingCommit: () => client.g.mergePendingCommit().then(() => undefined),
  dropPendingCommit: () => client.dropPendingCommit(),
  /** A raw request to the service; a refusal comes back as the error's code. */
  post: (path: string, body: object) => client.request('POST', path, body),
  leaveGroupState: () => {
    client.g.delete()
    client.group = undefined
  },
  /** Where this client stands, once every push it received so far is handled. */
  state: async () => {
    await client.settled()
    const g = client.group
    return {
      epoch: g ? String(g.epoch) : null,
      active: g?.isActive ?? false,
      authenticator: g?.isActive ? Buffer.from(g.epochAuthenticator()).toString('hex') : null,
      heard: client.heard,
    }
  },
  quit: () => {
    client.disconnect()
    setImmediate(() => process.exit(0))
  },
}

// One command at a time, in order.
let queue: Promise<void> = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, call, args } = JSON.parse(line) as { id: number; call: string; args: unknown[] }
  queue = queue.then(async () => {
    try {
      const fn = calls[call]
      if (!fn) throw new Error(`no call ${call}`)
      send({ id, ok: true, value: (await (fn as (...a: unknown[]) => unknown)(...args)) ?? null })
    } catch (error) {
      const e = error as { code?: string; message: string }
      send({ id, ok: false, code: e.code ?? 'ERR_INTERNAL', message: e.message })
    }
  })
})
