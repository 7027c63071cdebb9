// Persistence: restart and continue across processes, SIGKILL at random moments, forward secrecy
// and encryption on disk, full and read-only databases, locking, snapshots, key package inventory.
import test from 'ava'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BasicCredential, KeyPackage, MlsGroup, Provider, SignatureKeyPair, type Durability } from 'openmls-node'
import { Client, add, assertAgree, assertCode, assertRoundTrip, runWorker, type WorkerRun } from './helpers.mjs'

const worker = fileURLToPath(new URL('./fixtures/storage-worker.mjs', import.meta.url))
const KILLS = Number(process.env.OPENMLS_NODE_KILLS ?? 50)

const tempDir = () => mkdtempSync(join(tmpdir(), 'openmls-node-'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Runs the worker; with `killAfterReady`, SIGKILLs it that many ms after it reports ready. */
function run(args: string[], killAfterReady?: number, durability: Durability = 'full'): Promise<WorkerRun> {
  return runWorker(worker, args, { env: { ...process.env, OPENMLS_NODE_DURABILITY: durability }, killAfterReady })
}

/** A deterministic PRNG for kill delays, so a failure reproduces. */
function prng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
}

test.serial('restart: a new process reopens the file, loads the group, and the conversation goes on', async (t) => {
  const dir = tempDir()
  const bob = new Client('bob')
  writeFileSync(join(dir, 'bob.kp'), bob.keyPackageBytes())
  const first = await run(['restart-create', dir])
  t.is(first.code, 0, first.stderr)
  await bob.join(readFileSync(join(dir, 'welcome')))
  const m1 = await bob.g.processMessage(readFileSync(join(dir, 'msg1')))
  t.is(m1.type === 'application' && new TextDecoder().decode(m1.data), 'hello from alice, first run')
  writeFileSync(join(dir, 'msg2'), bob.g.createMessageSync('bob to the restarted alice'))

  const second = await run(['restart-continue', dir])
  t.is(second.code, 0, second.stderr)
  const out = second.lines[0]
  t.is(out.identity, 'alice', 'the identity survived')
  t.is(out.groupId, hex(bob.g.groupId))
  t.is(out.plaintext, 'bob to the restarted alice')
  t.is(out.authenticator, hex(bob.g.epochAuthenticator()))
  const m3 = await bob.g.processMessage(readFileSync(join(dir, 'msg3')))
  t.is(m3.type === 'application' && new TextDecoder().decode(m3.data), 'alice again, after a restart')
})

for (const durability of ['full', 'normal'] as const) {
  test.serial(`kill test (durability ${durability}): ${KILLS} SIGKILLs at random moments; the store always reopens at a completed epoch`, async (t) => {
    const dir = tempDir()
    const random = prng(20261123)
    let kills = 0
    let epochs = new Set<string>()
    for (let i = 0; i < KILLS; i++) {
      const r = await run(['kill-loop', dir, '100000'], Math.floor(random() * 120), durability)
      const fail = r.lines.find((l) => l.fail)
      if (fail || !r.lines.some((l) => l.ready !== undefined)) {
        return t.fail(`run ${i}: ${fail?.fail ?? 'never ready'}\n${r.stderr}`)
      }
      epochs.add(r.lines.find((l) => l.ready !== undefined)!.ready)
      if (r.signal === 'SIGKILL') kills++
    }
    const last = await run(['kill-loop', dir, '12'], undefined, durability)
    t.is(last.code, 0, last.stderr)
    const done = last.lines.find((l) => l.done)
    t.truthy(done, JSON.stringify(last.lines))
    t.is(done!.authenticator, done!.bob, 'Alice and Bob agree after all the kills')
    t.is(kills, KILLS)
    t.true(epochs.size > 3, `the group moved on between kills (epochs seen: ${[...epochs].join(',')})`)
    t.log(`${kills} kills; epochs at restart: ${[...epochs].join(', ')}`)
  })
}

test.serial('a second process cannot open a file that is open', async (t) => {
  const dir = tempDir()
  const provider = new Provider({ storage: { path: join(dir, 'alice.db') } })
  const other = await run(['lock', dir])
  t.deepEqual(other.lines[0], { code: 'ERR_STORAGE_LOCKED' })
  await assertCode(t, () => new Provider({ storage: { path: join(dir, 'alice.db') } }), 'ERR_STORAGE_LOCKED')
  provider.close()
  const after = await run(['lock', dir])
  t.deepEqual(after.lines[0], { opened: true })
})

/** The database file and its WAL, as one buffer. */
function diskBytes(path: string): Buffer {
  return Buffer.concat([path, `${path}-wal`, `${path}-journal`].filter(existsSync).map((p) => readFileSync(p)))
}

/** How a secret can appear on disk: raw, or as the JSON array the storage codec writes. */
function forms(secret: Uint8Array): Buffer[] {
  return [Buffer.from(secret), Buffer.from(JSON.stringify(Array.from(secret)))]
}

for (const durability of ['full', 'normal'] as const) {
  test.serial(`forward secrecy on disk (durability ${durability}): a deleted secret is gone from the file and the WAL`, (t) => {
    const path = join(tempDir(), 'fs.db')
    const secret = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff)
    const pskId = new TextEncoder().encode('psk-to-forget')
    let provider = new Provider({ storage: { path, durability } })
    provider.storeExternalPsk(pskId, secret)
    provider.close()
    t.true(forms(secret).some((f) => diskBytes(path).includes(f)), 'the stored secret is on disk (so the check can fail)')
    provider = new Provider({ storage: { path, durability } })
    provider.deleteExternalPsk(pskId)
    for (const f of forms(secret)) t.false(diskBytes(path).includes(f), 'found right after deletion')
    provider.close()
    for (const f of forms(secret)) t.false(diskBytes(path).includes(f))
  })
}

test.serial('encryption at rest: no secret and no group id is readable; a wrong or missing key is a typed error', async (t) => {
  const dir = tempDir()
  const path = join(dir, 'enc.db')
  const encryptionKey = new Uint8Array(32).fill(42)
  const groupId = new TextEncoder().encode('GROUP-ID-MUST-NOT-LEAK')
  const secret = new Uint8Array(32).map((_, i) => (i * 13 + 5) & 0xff)
  let provider = new Provider({ storage: { path, encryptionKey } })
  const signer = SignatureKeyPair.forCiphersuite(1)
  const credentialWithKey = { credential: new BasicCredential('alice-identity'), signatureKey: signer.publicKey }
  provider.setIdentity({ signer, credential: credentialWithKey.credential })
  const group = MlsGroup.create({ provider, signer, credentialWithKey, groupId })
  const exporter = hex(group.exportSecret('x', new Uint8Array(), 16))
  provider.storeExternalPsk(new TextEncoder().encode('psk'), secret)
  provider.close()
  const bytes = diskBytes(path)
  for (const f of [...forms(groupId), ...forms(secret), Buffer.from('alice-identity'), Buffer.from(signer.publicKey)]) {
    t.false(bytes.includes(f), `readable on disk: ${f.toString('hex').slice(0, 24)}`)
  }
  await assertCode(t, () => new Provider({ storage: { path, encryptionKey: new Uint8Array(32).fill(43) } }), 'ERR_WRONG_STORAGE_KEY')
  await assertCode(t, () => new Provider({ storage: { path } }), 'ERR_WRONG_STORAGE_KEY')
  await assertCode(t, () => new Provider({ storage: { path: join(dir, 'short.db'), encryptionKey: new Uint8Array(8) } }), 'ERR_INVALID_ARGUMENT')
  provider = new Provider({ storage: { path, encryptionKey } })
  t.deepEqual(provider.listGroups().map(hex), [hex(groupId)])
  t.is(String(provider.identity()!.credential), 'alice-identity')
  const loaded = await provider.loadGroup(groupId)
  t.is(hex(loaded.exportSecret('x', new Uint8Array(), 16)), exporter)
  provider.close()
})

test.serial('a full disk fails the operation with ERR_STORAGE_FULL, rolls back, and the group stays usable', async (t) => {
  const path = join(tempDir(), 'full.db')
  let provider = new Provider({ storage: { path, maxPageCount: 44 } })
  const signer = SignatureKeyPair.forCiphersuite(1)
  const group = MlsGroup.create({ provider, signer, credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: signer.publicKey } })
  const others = Array.from({ length: 40 }, (_, i) => new Client(`m${i}`))
  let full = false
  for (const o of others) {
    const epoch = group.epoch
    try {
      await group.addMembers([KeyPackage.fromBytes(provider, o.keyPackageBytes())])
      group.mergePendingCommitSync()
    } catch (e) {
      t.is((e as { code: string }).code, 'ERR_STORAGE_FULL')
      t.is(group.epoch, epoch, 'the failed operation left the epoch as it was')
      t.false(group.hasPendingCommit, 'and left no half-written pending commit')
      full = true
      break
    }
  }
  t.true(full, 'the size cap was reached')
  const epoch = group.epoch
  const members = group.members().length
  provider.close()
  provider = new Provider({ storage: { path } })
  const reloaded = await provider.loadGroup(group.groupId)
  t.is(reloaded.epoch, epoch)
  t.is(reloaded.members().length, members)
  provider.close()
})

test.serial('a read-only file loads, refuses writes with ERR_STORAGE_READONLY, and keeps its state', async (t) => {
  const path = join(tempDir(), 'ro.db')
  const alice = new Client('alice')
  let provider = new Provider({ storage: { path } })
  const signer = SignatureKeyPair.forCiphersuite(1)
  const group = MlsGroup.create({ provider, signer, credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: signer.publicKey }, config: { useRatchetTreeExtension: true } })
  await group.addMembers([KeyPackage.fromBytes(provider, alice.keyPackageBytes())])
  group.mergePendingCommitSync()
  provider.close()
  provider = new Provider({ storage: { path, readOnly: true } })
  const loaded = await provider.loadGroup(group.groupId)
  t.is(loaded.epoch, 1n)
  await assertCode(t, () => loaded.createMessageSync('cannot persist the ratchet'), 'ERR_STORAGE_READONLY')
  await assertCode(t, () => loaded.selfUpdate(), 'ERR_STORAGE_READONLY')
  t.is(loaded.epoch, 1n)
  t.false(loaded.hasPendingCommit)
  provider.close()
})

test('snapshots: an in-memory client exported as bytes continues in a new provider', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(true)
  await add(alice, [bob])
  const snapshot = alice.provider.exportSnapshot()
  const restored = Provider.importSnapshot(snapshot)
  const group = await restored.loadGroup(alice.g.groupId)
  const m = await bob.g.processMessage(group.createMessageSync('from the snapshot'))
  t.is(m.type === 'application' && new TextDecoder().decode(m.data), 'from the snapshot')
  await assertCode(t, () => Provider.importSnapshot(new Uint8Array([1, 2, 3])), 'ERR_STORAGE_CORRUPT')
  t.deepEqual(restored.listGroups().map(hex), [hex(alice.g.groupId)])
})

test('key package inventory: listed until consumed, last resort kept, expired ones deleted', async (t) => {
  const bob = new Client('bob')
  const now = Math.floor(Date.now() / 1000)
  const build = (configure: (b: ReturnType<typeof KeyPackage.builder>) => unknown) => {
    const b = KeyPackage.builder()
    configure(b)
    return b.build({ ciphersuite: 1, provider: bob.provider, signer: bob.signer, credentialWithKey: bob.credentialWithKey })
  }
  const ordinary = build(() => {})
  const lastResort = build((b) => b.markAsLastResort())
  const shortLived = build((b) => b.keyPackageLifetime({ notBefore: now - 60, notAfter: now + 30 }))
  const refs = () => bob.provider.keyPackages().map((k) => hex(k.keyPackageRef)).sort()
  t.deepEqual(refs(), [ordinary, lastResort, shortLived].map((k) => hex(k.hashRef(bob.provider))).sort())
  t.true(bob.provider.keyPackages().some((k) => k.lastResort))

  for (const kp of [ordinary, lastResort]) {
    const alice = new Client('alice')
    alice.createGroup(true)
    const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, kp.toBytes())])
    alice.g.mergePendingCommitSync()
    await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome })
  }
  t.deepEqual(refs(), [lastResort, shortLived].map((k) => hex(k.hashRef(bob.provider))).sort(), 'the ordinary one was consumed')
  t.is(bob.provider.deleteExpiredKeyPackages(now + 3600), 1)
  t.deepEqual(refs(), [hex(lastResort.hashRef(bob.provider))])
  t.true(bob.provider.deleteKeyPackage(lastResort.hashRef(bob.provider)))
  t.false(bob.provider.deleteKeyPackage(lastResort.hashRef(bob.provider)))
  t.deepEqual(bob.provider.keyPackages(), [])
})

test('a failed operation leaves nothing half-written: the group reloads to its last state', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(true)
  await add(alice, [bob])
  await assertCode(t, () => alice.g.commit({ removes: [7] }), 'ERR_UNKNOWN_MEMBER')
  await assertCode(t, () => alice.g.commit({ psks: [{ type: 'external', pskId: new Uint8Array([1]) }] }), 'ERR_PSK_NOT_FOUND')
  t.false(alice.g.hasPendingCommit)
  assertAgree(t, [alice, bob])
  await assertRoundTrip(t, alice, [bob], 'unaffected')
})
