// A delivery service for MLS over HTTP and WebSocket, on 127.0.0.1 only. It keeps a key package
// directory, follows every group it serves with a PublicGroup (so it validates each handshake
// before it fans it out, and picks one commit per epoch), serves GroupInfos for external joins,
// and fans messages out to the members' WebSockets.
//
// State survives a restart: the groups' public state is in an openmls-node provider file
// (ds-mls.sqlite), the directory in an SQLite database of the server's own (ds-app.sqlite, through
// sql.js). Run alone: `node --import tsx examples/delivery-service/server.mts --dir ./ds-state`.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import initSqlJs, { type Database } from 'sql.js'
import { WebSocket, WebSocketServer } from 'ws'
import { KeyPackage, MlsMessage, OpenMlsError, Provider, PublicGroup, type Member } from 'openmls-node'

/** Bytes cross the wire as base64 in JSON. */
export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
export const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'))
/** A base64 field of a request body; a missing one is the client's mistake. */
const field = (body: Record<string, string>, name: string) => {
  if (typeof body[name] !== 'string') throw new HttpError(400, 'ERR_INVALID_ARGUMENT', `the request needs ${name}`)
  return unb64(body[name])
}
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const nameOf = (m: Member) => String(m.credential)

/** What a client receives on its WebSocket. */
export type Push = { kind: 'message'; groupId: string; message: string } | { kind: 'welcome'; welcome: string }

/** An HTTP error with a stable code, as JSON `{ code, message }`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface ServerOptions {
  /** Where the state lives. */
  dir: string
  /** 0 picks a free port. */
  port?: number
  log?: (line: string) => void
}

export async function startServer(options: ServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const log = options.log ?? (() => {})
  mkdirSync(options.dir, { recursive: true })
  const mls = new Provider({ storage: { path: join(options.dir, 'ds-mls.sqlite') } })
  const app = await openAppDb(join(options.dir, 'ds-app.sqlite'))
  const groups = new Map<string, PublicGroup>()
  for (const id of PublicGroup.list(mls)) groups.set(hex(id), PublicGroup.load(mls, id))
  if (groups.size) log(`ds: reloaded ${groups.size} group(s) at epoch(s) ${[...groups.values()].map((g) => g.epoch).join(', ')}`)

  const sockets = new Map<string, Set<WebSocket>>()
  const push = (client: string, message: Push) => {
    for (const ws of sockets.get(client) ?? []) ws.send(JSON.stringify(message))
  }
  // One request at a time per group: a commit is validated and merged before the next is looked at.
  const locks = new Map<string, Promise<unknown>>()
  const withGroup = <T,>(id: string, fn: (group: PublicGroup) => Promise<T>): Promise<T> => {
    const run = (locks.get(id) ?? Promise.resolve()).then(() => {
      const group = groups.get(id)
      if (!group) throw new HttpError(404, 'ERR_UNKNOWN_GROUP', 'this delivery service serves no such group')
      return fn(group)
    })
    locks.set(id, run.catch(() => undefined))
    return run
  }

  const routes: Record<string, (body: Record<string, string>, id?: string) => Promise<unknown> | unknown> = {
    // The key package directory.
    'POST /key-packages': ({ client, keyPackage }) => {
      const kp = KeyPackage.validateForDirectory(mls, field({ keyPackage }, 'keyPackage'), { ciphersuites: [1], minValidSeconds: 60 })
      if (String(kp.credential) !== client) throw new HttpError(400, 'ERR_INVALID_ARGUMENT', 'a client publishes only its own key packages')
      app.run('INSERT OR REPLACE INTO key_packages (ref, client, bytes, last_resort) VALUES (?, ?, ?, ?)', [hex(kp.hashRef(mls)), client, unb64(keyPackage), kp.lastResort ? 1 : 0])
      app.save()
      return {}
    },
    'POST /key-packages/claim': ({ client }) => {
      const row = app.get('SELECT ref, bytes, last_resort FROM key_packages WHERE client = ? ORDER BY last_resort LIMIT 1', [client])
      if (!row) throw new HttpError(404, 'ERR_NO_MATCHING_KEY_PACKAGE', `no key package of ${client} is left`)
      if (!row.last_resort) app.run('DELETE FROM key_packages WHERE ref = ?', [row.ref as string])
      app.run('INSERT OR REPLACE INTO claimed (ref, client) VALUES (?, ?)', [row.ref as string, client])
      app.save()
      return { keyPackage: b64(row.bytes as Uint8Array) }
    },
    // A group, from its creator's GroupInfo (with the ratchet tree in it).
    'POST /groups': async ({ groupInfo }) => {
      const group = await PublicGroup.fromExternal({ provider: mls, groupInfo: field({ groupInfo }, 'groupInfo') })
      group.setGroupInfo(unb64(groupInfo))
      groups.set(hex(group.groupId), group)
      log(`ds: now serving group ${hex(group.groupId).slice(0, 8)} (epoch ${group.epoch})`)
      return { groupId: hex(group.groupId) }
    },
    'GET /groups/group-info': (_body, id) =>
      withGroup(id!, async (group) => {
        const served = group.groupInfo()
        if (!served) throw new HttpError(404, 'ERR_UNKNOWN_GROUP', 'no member gave a GroupInfo for this epoch yet')
        return { groupInfo: b64(served.groupInfo), ratchetTree: b64(served.ratchetTree) }
      }),
    // A handshake or application message for the group, with what a commit brings along.
    'POST /groups/messages': ({ from, message, welcome, groupInfo }, id) =>
      withGroup(id!, async (group) => {
        const bytes = field({ message }, 'message')
        const info = MlsMessage.parse(bytes)
        if (info.wireFormat !== 'publicMessage' && info.wireFormat !== 'privateMessage') {
          throw new HttpError(400, 'ERR_WRONG_MESSAGE_TYPE', `a ${info.wireFormat} is not a group message`)
        }
        if (hex(info.groupId) !== id) throw new HttpError(400, 'ERR_WRONG_GROUP', 'the message belongs to another group')
        let recipients = group.members().map(nameOf)
        if (info.wireFormat === 'publicMessage') {
          // Validated before anyone gets it; a refusal changes nothing and reaches no one.
          const seen = await group.processMessage(bytes)
          if (seen.type === 'commit') {
            await group.mergeStagedCommit(seen.stagedCommit)
            // Members the commit removed still get it; new members come in by Welcome.
            recipients = [...new Set([...recipients, ...group.members().map(nameOf)])]
            if (groupInfo) group.setGroupInfo(unb64(groupInfo))
            log(`ds: ${from} committed, group ${id!.slice(0, 8)} is in epoch ${group.epoch} with ${group.members().map(nameOf).join(', ')}`)
          } else {
            group.addProposal(seen.proposal)
          }
        } else if (info.epoch !== group.epoch) {
          throw new HttpError(409, 'ERR_WRONG_EPOCH', `the message is of epoch ${info.epoch}; the group is in epoch ${group.epoch}`)
        }
        for (const member of recipients) if (member !== from) push(member, { kind: 'message', groupId: id!, message })
        if (welcome) {
          const w = MlsMessage.parse(unb64(welcome))
          if (w.wireFormat !== 'welcome') throw new HttpError(400, 'ERR_WRONG_MESSAGE_TYPE', 'not a Welcome')
          for (const ref of w.keyPackageRefs) {
            const row = app.get('SELECT client FROM claimed WHERE ref = ?', [hex(ref)])
            if (row) push(row.client as string, { kind: 'welcome', welcome })
          }
        }
        return { epoch: String(group.epoch) }
      }),
  }

  const server = createServer((req, res) => {
    void handle(req, res)
  })
  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const match = /^\/groups\/([0-9a-f]+)\/(group-info|messages)$/.exec(url.pathname)
    const key = match ? `${req.method} /groups/${match[2]}` : `${req.method} ${url.pathname}`
    try {
      const route = routes[key]
      if (!route) throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${key}`)
      let raw = ''
      for await (const chunk of req) raw += chunk
      const body = raw ? (JSON.parse(raw) as Record<string, string>) : {}
      const result = await route(body, match?.[1])
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result))
    } catch (error) {
      const status = error instanceof HttpError ? error.status : error instanceof OpenMlsError ? (error.code === 'ERR_WRONG_EPOCH' ? 409 : 400) : 500
      const code = error instanceof HttpError || error instanceof OpenMlsError ? error.code : 'ERR_INTERNAL'
      if (status === 500) log(`ds: internal error on ${key}: ${(error as Error).stack}`)
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message: (error as Error).message }))
    }
  }

  const wss = new WebSocketServer({ server, path: '/ws' })
  wss.on('connection', (ws, req) => {
    const client = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('client') ?? ''
    if (!sockets.has(client)) sockets.set(client, new Set())
    sockets.get(client)!.add(ws)
    ws.on('close', () => sockets.get(client)?.delete(ws))
  })

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    async close() {
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
      app.close()
      mls.close()
    },
  }
}

/** The server's own tables (the directory), in an SQLite file written after every change. */
async function openAppDb(path: string) {
  const SQL = await initSqlJs()
  const db: Database = existsSync(path) ? new SQL.Database(readFileSync(path)) : new SQL.Database()
  db.run(`CREATE TABLE IF NOT EXISTS key_packages (ref TEXT PRIMARY KEY, client TEXT NOT NULL, bytes BLOB NOT NULL, last_resort INTEGER NOT NULL);
          CREATE TABLE IF NOT EXISTS claimed (ref TEXT PRIMARY KEY, client TEXT NOT NULL);`)
  return {
    run: (sql: string, params: (string | number | Uint8Array)[]) => db.run(sql, params),
    get(sql: string, params: (string | number)[]) {
      const stmt = db.prepare(sql, params)
      try {
        return stmt.step() ? stmt.getAsObject() : undefined
      } finally {
        stmt.free()
      }
    },
    save() {
      writeFileSync(`${path}.tmp`, db.export())
      renameSync(`${path}.tmp`, path)
    },
    close: () => db.close(),
  }
}

// Run as a process: prints `listening <port>` once it serves.
if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined)
  const server = await startServer({ dir: arg('--dir') ?? './ds-state', port: Number(arg('--port') ?? 0), log: (line) => console.log(line) })
  console.log(`listening ${server.port}`)
  const stop = () => void server.close().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
