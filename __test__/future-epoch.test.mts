// The future-epoch buffer: messages that arrive before the commit that opens their epoch are kept
// (opt-in, bounded, sealed at rest) and come back processed from the merge that enters it.
import test from 'ava'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BasicCredential, KeyPackage, MlsGroup, Provider, SignatureKeyPair, type BatchResult, type ProcessedMessage } from 'openmls-node'
import { Client, add, assertAgree, assertCode, pair } from './helpers.mjs'

const text = (b: Uint8Array) => new TextDecoder().decode(b)
const LIMITS = { maxMessages: 16, maxBytes: 1 << 20 }

/** What a replay gave back, as readable tags: `text` for application messages, `commit`, or the error code. */
function tags(results: BatchResult<ProcessedMessage>[]): string[] {
  return results.map((r) => (r.ok ? (r.value.type === 'application' ? text(r.value.data) : r.value.type) : r.error.code))
}

test('messages of later epochs, delivered before their commits and in reverse, come back processed from the merges, in order', async (t) => {
  const { alice, bob } = await pair()
  t.deepEqual(bob.g.setFutureEpochBuffer(LIMITS), [])
  t.deepEqual(bob.g.futureEpochBuffer(), { limits: LIMITS, messages: 0, bytes: 0 })

  // Alice: commit 1 (→ epoch 2), message in epoch 2, commit 2 (→ 3), message in epoch 3.
  const c1 = await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  const m2 = alice.g.createMessageSync('in epoch 2')
  const c2 = await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  const m3 = alice.g.createMessageSync('in epoch 3')

  // Bob gets them backwards: everything but the first commit is for a later epoch.
  for (const message of [m3, m2, c2.commit]) await assertCode(t, () => bob.g.processMessage(message), 'ERR_MESSAGE_BUFFERED')
  const held = bob.g.futureEpochBuffer()
  t.is(held.messages, 3)
  t.is(held.bytes, m3.length + m2.length + c2.commit.length)

  const first = await bob.g.processMessage(c1.commit)
  if (first.type !== 'commit') return t.fail(first.type)
  const replayed = await bob.g.mergeStagedCommit(first.stagedCommit)
  t.deepEqual(tags(replayed), ['in epoch 2', 'commit'], 'epoch 2 in arrival order; epoch 3 waits')
  t.is(bob.g.futureEpochBuffer().messages, 1)
  const second = replayed[1]
  if (!second.ok || second.value.type !== 'commit') return t.fail()
  t.deepEqual(tags(bob.g.mergeStagedCommitSync(second.value.stagedCommit)), ['in epoch 3'])
  t.is(bob.g.futureEpochBuffer().messages, 0)
  assertAgree(t, [alice, bob])
})

test('off by default: a message for a later epoch is ERR_WRONG_EPOCH and nothing is kept', async (t) => {
  const { alice, bob } = await pair()
  await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  await assertCode(t, () => bob.g.processMessage(alice.g.createMessageSync('too early')), 'ERR_WRONG_EPOCH')
  t.deepEqual(bob.g.futureEpochBuffer(), { messages: 0, bytes: 0 })
})

test('the bounds: past maxMessages or maxBytes a message is ERR_BUFFER_FULL and not kept; turning the buffer off hands back what it held', async (t) => {
  const { alice, bob } = await pair()
  const update = await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  const early = ['one', 'two', 'three'].map((w) => alice.g.createMessageSync(w))

  bob.g.setFutureEpochBuffer({ maxMessages: 2, maxBytes: 1 << 20 })
  await assertCode(t, () => bob.g.processMessage(early[0]), 'ERR_MESSAGE_BUFFERED')
  await assertCode(t, () => bob.g.processMessage(early[1]), 'ERR_MESSAGE_BUFFERED')
  const full = await assertCode(t, () => bob.g.processMessage(early[2]), 'ERR_BUFFER_FULL')
  t.regex(full.message, /2 message\(s\)/)
  t.is(bob.g.futureEpochBuffer().messages, 2)

  // Tighter byte bound: the next one does not fit.
  bob.g.setFutureEpochBuffer({ maxMessages: 10, maxBytes: early[0].length + early[1].length + 1 })
  await assertCode(t, () => bob.g.processMessage(early[2]), 'ERR_BUFFER_FULL')

  // Off: the two kept messages come back, in arrival order, and are gone from the buffer.
  const handedBack = bob.g.setFutureEpochBuffer(undefined)
  t.deepEqual(handedBack.map((m) => Buffer.from(m).toString('hex')), [early[0], early[1]].map((m) => Buffer.from(m).toString('hex')))
  t.deepEqual(bob.g.futureEpochBuffer(), { messages: 0, bytes: 0 })
  await assertCode(t, () => bob.g.setFutureEpochBuffer({ maxMessages: 0, maxBytes: 10 }), 'ERR_INVALID_ARGUMENT')

  // The application still has them: after the commit they decrypt.
  const commit = await bob.g.processMessage(update.commit)
  if (commit.type !== 'commit') return t.fail()
  t.deepEqual(await bob.g.mergeStagedCommit(commit.stagedCommit), [])
  for (const [i, m] of [...handedBack, early[2]].entries()) {
    const p = await bob.g.processMessage(m)
    t.is(p.type === 'application' ? text(p.data) : p.type, ['one', 'two', 'three'][i])
  }
})

test('every outcome is reported: a kept message that fails at replay comes back as its typed error, and batches mark kept messages', async (t) => {
  const { alice, bob } = await pair()
  bob.g.setFutureEpochBuffer(LIMITS)
  const update = await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  const good = alice.g.createMessageSync('good')
  const damaged = Uint8Array.from(alice.g.createMessageSync('damaged'))
  damaged[damaged.length - 3] ^= 0x01 // inside the ciphertext: only decryption tells

  const batch = await bob.g.processMessages([damaged, good])
  t.deepEqual(tags(batch), ['ERR_MESSAGE_BUFFERED', 'ERR_MESSAGE_BUFFERED'])
  const commit = await bob.g.processMessage(update.commit)
  if (commit.type !== 'commit') return t.fail()
  t.deepEqual(tags(await bob.g.mergeStagedCommit(commit.stagedCommit)), ['ERR_DECRYPTION_FAILED', 'good'])
  t.is(bob.g.futureEpochBuffer().messages, 0)
  assertAgree(t, [alice, bob])
})

test('kept messages survive a restart, sealed in the file like everything else; deleting the group deletes them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omn-future-'))
  try {
    const path = join(dir, 'bob.db')
    const encryptionKey = new Uint8Array(32).fill(9)
    const alice = new Client('alice')
    alice.createGroup()
    let provider = new Provider({ storage: { path, encryptionKey } })
    const signer = SignatureKeyPair.forCiphersuite(1)
    const added = await alice.g.addMembers([
      KeyPackage.fromBytes(alice.provider, KeyPackage.builder().build({ ciphersuite: 1, provider, signer, credentialWithKey: { credential: new BasicCredential('bob'), signatureKey: signer.publicKey } }).toBytes()),
    ])
    await alice.g.mergePendingCommit()
    let bob = await MlsGroup.joinFromWelcome({ provider, signer, welcome: added.welcome })
    bob.setFutureEpochBuffer(LIMITS)
    const update = await alice.g.selfUpdate()
    await alice.g.mergePendingCommit()
    const early = alice.g.createMessageSync('kept across a restart')
    await assertCode(t, () => bob.processMessage(early), 'ERR_MESSAGE_BUFFERED')
    provider.close()

    // Neither the message's bytes nor a long piece of them are in the files.
    const needle = Buffer.from(early.subarray(early.length - 24))
    for (const f of readdirSync(dir)) t.is(readFileSync(join(dir, f)).indexOf(needle), -1, `${f} holds the kept message in the clear`)

    provider = new Provider({ storage: { path, encryptionKey } })
    bob = await provider.loadGroup(alice.g.groupId)
    t.deepEqual(bob.futureEpochBuffer(), { limits: LIMITS, messages: 1, bytes: early.length })
    const commit = await bob.processMessage(update.commit)
    if (commit.type !== 'commit') return t.fail()
    t.deepEqual(tags(await bob.mergeStagedCommit(commit.stagedCommit)), ['kept across a restart'])

    const later = await alice.g.selfUpdate()
    await alice.g.mergePendingCommit()
    await assertCode(t, () => bob.processMessage(alice.g.createMessageSync('never read')), 'ERR_MESSAGE_BUFFERED')
    void later
    bob.delete()
    provider.close()
    provider = new Provider({ storage: { path, encryptionKey } })
    t.deepEqual(provider.listGroups(), [])
    provider.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('with a credential validator, a replayed commit is asked about too; a refusal is its slot, not a merge', async (t) => {
  const [alice, bob, carol] = [new Client('alice'), new Client('bob'), new Client('carol')]
  alice.createGroup()
  await add(alice, [bob])
  bob.g.setFutureEpochBuffer(LIMITS)
  bob.g.setCredentialValidator((credential) => String(credential) !== 'carol')
  const update = await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  const addCarol = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, carol.keyPackageBytes())])
  await alice.g.mergePendingCommit()
  await assertCode(t, () => bob.g.processMessage(addCarol.commit), 'ERR_MESSAGE_BUFFERED')
  const commit = await bob.g.processMessage(update.commit)
  if (commit.type !== 'commit') return t.fail()
  const replayed = await bob.g.mergeStagedCommit(commit.stagedCommit)
  t.deepEqual(tags(replayed), ['ERR_CREDENTIAL_REJECTED'])
  t.is(bob.g.epoch, 2n, 'the refused commit was not merged')
})
