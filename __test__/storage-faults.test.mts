// Storage faults (issue #9): snapshots of file-backed providers, full disks in the middle of an
// operation, files that are not databases, and processes that open the same file at once.
import test, { type ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BasicCredential, KeyPackage, MlsGroup, OpenMlsError, Provider, SignatureKeyPair, type StorageOptions } from 'openmls-node'
import { Client, applyCommit, assertCode } from './helpers.mjs'

const raceWorker = fileURLToPath(new URL('./fixtures/open-race-worker.mjs', import.meta.url))
const tempDir = () => mkdtempSync(join(tmpdir(), 'openmls-node-faults-'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const key = (byte: number) => new Uint8Array(32).fill(byte)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** A client over its own provider: signer, credential, and the provider's storage. */
function fileClient(name: string, storage: StorageOptions) {
  const provider = new Provider({ storage })
  const signer = SignatureKeyPair.forCiphersuite(1)
  return { provider, signer, credentialWithKey: { credential: new BasicCredential(name), signatureKey: signer.publicKey } }
}

/** Sends `message` from one group handle to another and asserts it decrypts exactly. */
async function roundTrip(t: ExecutionContext, from: MlsGroup, to: MlsGroup, message: string) {
  const m = await to.processMessage(from.createMessageSync(message))
  t.is(m.type === 'application' ? text(m.data) : m.type, message)
}

function assertSameEpoch(t: ExecutionContext, a: MlsGroup, b: MlsGroup) {
  t.is(a.epoch, b.epoch)
  t.is(hex(a.epochAuthenticator()), hex(b.epochAuthenticator()))
}

/** Fills a capped database with PSKs of shrinking size, until not even a 1-byte secret fits. */
function fill(t: ExecutionContext, provider: Provider) {
  let n = 0
  for (const size of [65536, 8192, 1024, 128, 16, 1]) {
    for (;;) {
      try {
        provider.storeExternalPsk(new TextEncoder().encode(`filler ${n++}`), new Uint8Array(size).fill(0x42))
      } catch (e) {
        t.is((e as OpenMlsError).code, 'ERR_STORAGE_FULL', (e as Error).message)
        break
      }
    }
  }
}

/** A cap just above the size of a closed database file: a few pages to fill. */
const capFor = (path: string) => Math.ceil(statSync(path).size / 4096) + 2

for (const encrypted of [false, true]) {
  const label = encrypted ? 'an encrypted' : 'a plain'
  test(`a snapshot of ${label} file-backed provider restores, and the conversation goes on both ways`, async (t) => {
    const encryptionKey = encrypted ? key(7) : undefined
    const alice = fileClient('alice', { path: join(tempDir(), 'alice.db'), encryptionKey })
    const bob = new Client('bob')
    const group = MlsGroup.create({ ...alice, config: { useRatchetTreeExtension: true } })
    const { welcome } = await group.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
    group.mergePendingCommitSync()
    await bob.join(welcome)
    await roundTrip(t, group, bob.g, 'before the snapshot')
    const snapshot = alice.provider.exportSnapshot()
    alice.provider.close()
    if (encrypted) {
      t.false(Buffer.from(snapshot).includes(Buffer.from(group.groupId)), 'the group id is not readable in the snapshot')
      await assertCode(t, () => Provider.importSnapshot(snapshot), 'ERR_WRONG_STORAGE_KEY')
      await assertCode(t, () => Provider.importSnapshot(snapshot, { encryptionKey: key(8) }), 'ERR_WRONG_STORAGE_KEY')
    }

    const restored = Provider.importSnapshot(snapshot, { encryptionKey })
    t.deepEqual(restored.listGroups().map(hex), [hex(group.groupId)])
    t.false(restored.persistent)
    const g = await restored.loadGroup(group.groupId)
    assertSameEpoch(t, g, bob.g)
    await roundTrip(t, g, bob.g, 'from the restored provider')
    await roundTrip(t, bob.g, g, 'to the restored provider')
    const { commit } = await g.selfUpdate()
    g.mergePendingCommitSync()
    await applyCommit(bob, commit)
    assertSameEpoch(t, g, bob.g)
    t.is(g.epoch, 2n)

    // The restored provider (in memory, with the key) makes snapshots that restore the same way.
    const again = restored.exportSnapshot()
    if (encrypted) await assertCode(t, () => Provider.importSnapshot(again), 'ERR_WRONG_STORAGE_KEY')
    const second = await Provider.importSnapshot(again, { encryptionKey }).loadGroup(group.groupId)
    assertSameEpoch(t, second, bob.g)
    await roundTrip(t, second, bob.g, 'from the second restore')
  })

  test(`a received message on a full disk (${label} file) is ERR_STORAGE_FULL, and the group goes on once there is room`, async (t) => {
    // A message's secrets are updated in place, so an ordinary message needs no new page. One
    // that skips generations does: the receiver keeps the keys of the skipped messages (up to
    // its out-of-order tolerance), and those need room.
    const path = join(tempDir(), 'full.db')
    const encryptionKey = encrypted ? key(9) : undefined
    const bob = fileClient('bob', { path, encryptionKey })
    const alice = new Client('alice')
    const ga = alice.createGroup()
    const kp = KeyPackage.builder().build({ ciphersuite: 1, ...bob }).toBytes()
    const { welcome } = await ga.addMembers([KeyPackage.fromBytes(alice.provider, kp)])
    ga.mergePendingCommitSync()
    const config = { senderRatchetConfiguration: { outOfOrderTolerance: 1000, maximumForwardDistance: 2000 } }
    const groupId = (await MlsGroup.joinFromWelcome({ ...bob, welcome, config })).groupId
    bob.provider.close()
    const skipped = Array.from({ length: 400 }, (_, i) => ga.createMessageSync(`message ${i}`))
    const last = ga.createMessageSync('after 400 skipped')

    let provider = new Provider({ storage: { path, encryptionKey, maxPageCount: capFor(path) } })
    fill(t, provider)
    const gb = provider.loadGroupSync(groupId)
    const before = hex(gb.exportSecret('test', new Uint8Array(), 32))
    await assertCode(t, () => gb.processMessage(last), 'ERR_STORAGE_FULL')
    t.is(gb.epoch, 1n)
    t.is(hex(gb.exportSecret('test', new Uint8Array(), 32)), before)
    provider.close()

    // Room again: the message that failed is processed, then the skipped ones, out of order.
    provider = new Provider({ storage: { path, encryptionKey } })
    const again = await provider.loadGroup(groupId)
    const m = await again.processMessage(last)
    t.is(m.type === 'application' ? text(m.data) : m.type, 'after 400 skipped')
    const first = await again.processMessage(skipped[0])
    t.is(first.type === 'application' ? text(first.data) : first.type, 'message 0')
    await roundTrip(t, again, ga, 'there is room now')
    provider.close()
  })
}

test('a key package on a full disk is ERR_STORAGE_FULL, and none of it is kept', async (t) => {
  const path = join(tempDir(), 'kp.db')
  new Provider({ storage: { path } }).close()
  let bob = fileClient('bob', { path, maxPageCount: capFor(path) })
  const build = () => KeyPackage.builder().build({ ciphersuite: 1, ...bob })
  let made = 0
  let error: unknown
  for (; made < 500; made++) {
    try {
      build()
    } catch (e) {
      error = e
      break
    }
  }
  t.true(error instanceof OpenMlsError, String(error))
  t.is((error as OpenMlsError).code, 'ERR_STORAGE_FULL', (error as Error).message)
  t.is(bob.provider.keyPackages().length, made, 'only the complete key packages are held')
  bob.provider.close()

  bob = { ...bob, provider: new Provider({ storage: { path } }) }
  const kp = build()
  t.is(bob.provider.keyPackages().length, made + 1)
  const alice = new Client('alice')
  alice.createGroup()
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, kp.toBytes())])
  alice.g.mergePendingCommitSync()
  const joined = await MlsGroup.joinFromWelcome({ ...bob, welcome })
  assertSameEpoch(t, joined, alice.g)
  await roundTrip(t, joined, alice.g, 'joined after the disk had room again')
  bob.provider.close()
})

test('a file that is not a database is refused whatever its size, and left as it was; an empty file is a new database', async (t) => {
  const dir = tempDir()
  for (const size of [1, 100, 511, 4096]) {
    const path = join(dir, `garbage-${size}.db`)
    const garbage = Buffer.alloc(size, 0x5a)
    writeFileSync(path, garbage)
    await assertCode(t, () => new Provider({ storage: { path } }), 'ERR_STORAGE_CORRUPT')
    t.deepEqual(readFileSync(path), garbage, `the ${size}-byte file was left alone`)
    await assertCode(t, () => new Provider({ storage: { path } }), 'ERR_STORAGE_CORRUPT')
  }
  const path = join(dir, 'empty.db')
  writeFileSync(path, '')
  const alice = fileClient('alice', { path })
  const group = MlsGroup.create(alice)
  alice.provider.close()
  const reopened = new Provider({ storage: { path } })
  t.deepEqual(reopened.listGroups().map(hex), [hex(group.groupId)])
  reopened.close()
})

interface Racer {
  next(): Promise<Record<string, unknown>>
  send(line: string): void
  exited: Promise<unknown>
}

function racer(path: string): Racer {
  const child = spawn(process.execPath, [raceWorker, path], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: Record<string, unknown>[] = []
  const waiting: ((l: Record<string, unknown>) => void)[] = []
  let buffer = ''
  child.stdout.on('data', (d) => {
    buffer += d
    for (let nl; (nl = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(nl + 1)) {
      const line = JSON.parse(buffer.slice(0, nl))
      const w = waiting.shift()
      if (w) w(line)
      else lines.push(line)
    }
  })
  return {
    next: () => (lines.length ? Promise.resolve(lines.shift()!) : new Promise((resolve) => waiting.push(resolve))),
    send: (line) => child.stdin.write(line + '\n'),
    exited: new Promise((resolve) => child.on('exit', resolve)),
  }
}

test('processes that open a free file at the same moment: exactly one gets it, the others ERR_STORAGE_LOCKED', async (t) => {
  const dir = tempDir()
  for (let round = 0; round < 4; round++) {
    // A new file, then one that exists (in WAL mode, closed), in turn.
    const path = join(dir, `race-${round}.db`)
    if (round % 2) new Provider({ storage: { path } }).close()
    const racers = Array.from({ length: 4 }, () => racer(path))
    await Promise.all(racers.map((r) => r.next()))
    const at = Date.now() + 200
    for (const r of racers) r.send(`go ${at}`)
    const results = await Promise.all(racers.map((r) => r.next()))
    for (const r of racers) r.send('exit')
    await Promise.all(racers.map((r) => r.exited))
    const outcome = results.map((r) => (r.opened ? 'opened' : r.code)).sort()
    t.deepEqual(outcome, ['ERR_STORAGE_LOCKED', 'ERR_STORAGE_LOCKED', 'ERR_STORAGE_LOCKED', 'opened'], `round ${round}: ${JSON.stringify(results)}`)
  }
  // And the file is free again once the winner closed it.
  const provider = new Provider({ storage: { path: join(dir, 'race-0.db') } })
  provider.close()
  t.pass()
})
