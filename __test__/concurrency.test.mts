// Concurrency and throughput (issue #11): the Promise variants of every storage-writing group
// operation, call order under many Promises, AbortSignal, batches with one bad message, the
// durability setting, and worker_threads.
import test from 'ava'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { BasicCredential, KeyPackage, MlsGroup, OpenMlsError, Provider, SignatureKeyPair, type ProcessedMessage } from 'openmls-node'
import { Client, applyCommit, assertAgree, assertCode, pair } from './helpers.mjs'

const text = (m: ProcessedMessage) => (m.type === 'application' ? new TextDecoder().decode(m.data) : `<${m.type}>`)
const tempDir = () => mkdtempSync(join(tmpdir(), 'openmls-node-concurrency-'))

/** Key packages of `count` new members (each with its own signer), as `client` received them. */
function newMembers(client: Client, count: number): KeyPackage[] {
  const pool = new Provider()
  return Array.from({ length: count }, (_, i) => {
    const signer = SignatureKeyPair.forCiphersuite(1)
    const kp = KeyPackage.builder().build({ ciphersuite: 1, provider: pool, signer, credentialWithKey: { credential: new BasicCredential(`m${i}`), signatureKey: signer.publicKey } })
    return KeyPackage.fromBytes(client.provider, kp.toBytes())
  })
}

test('the Promise forms of createMessage, the merges and the proposals run off the event loop and agree', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  const carol = new Client('carol')
  alice.createGroup()
  const kps = [bob, carol].map((c) => KeyPackage.fromBytes(alice.provider, c.keyPackageBytes()))
  const { welcome } = await alice.g.addMembers(kps)
  await alice.g.mergePendingCommit()
  await bob.join(welcome)
  await carol.join(welcome)
  const wire = await alice.g.createMessage('hello, asynchronously')
  t.true(wire instanceof Uint8Array)
  t.is(text(await bob.g.processMessage(wire)), 'hello, asynchronously')

  // Bob proposes removing Carol; Alice stores it and commits it; Bob merges Alice's commit.
  const proposal = await bob.g.proposeRemoveMember(carol.g.ownLeafIndex)
  const received = await alice.g.processMessage(proposal.message)
  t.is(received.type, 'proposal')
  if (received.type !== 'proposal') return
  await alice.g.storePendingProposal(received.proposal)
  t.is(alice.g.pendingProposals().length, 1)
  const { commit } = await alice.g.commitToPendingProposals()
  await alice.g.mergePendingCommit()
  const staged = await bob.g.processMessage(commit)
  if (staged.type !== 'commit') return t.fail(staged.type)
  await bob.g.mergeStagedCommit(staged.stagedCommit)
  t.is(alice.g.members().length, 2)
  assertAgree(t, [alice, bob])

  // A proposal taken back, and a pending commit discarded, through the Promise forms.
  await alice.g.proposeSelfUpdate()
  await alice.g.clearPendingProposals()
  t.is(alice.g.pendingProposals().length, 0)
  await alice.g.selfUpdate()
  await alice.g.clearPendingCommit()
  t.false(alice.g.hasPendingCommit)
  await assertCode(t, () => alice.g.mergePendingCommit(), 'ERR_NO_PENDING_COMMIT')
})

test('64 concurrent processMessage Promises on one group all succeed, in call order', async (t) => {
  const { alice, bob } = await pair()
  // A proposal first: a handshake message goes to the thread pool, and the 64 application
  // messages queue behind it (an in-memory group runs them inline only when nothing is queued).
  const proposal = alice.g.proposeSelfUpdateSync()
  alice.g.clearPendingProposalsSync()
  const wires = alice.g.createMessagesSync(Array.from({ length: 64 }, (_, i) => `message ${i}`)).map((r) => {
    if (!r.ok) throw r.error
    return r.value
  })
  const settled: number[] = []
  const first = bob.g.processMessage(proposal.message).then((m) => (settled.push(-1), m.type))
  const results = await Promise.all(wires.map((w, i) => bob.g.processMessage(w).then((m) => (settled.push(i), text(m)))))
  t.is(await first, 'proposal')
  t.deepEqual(results, wires.map((_, i) => `message ${i}`))
  t.deepEqual(settled, [-1, ...wires.map((_, i) => i)], 'they settle in call order')
})

test('in memory, a Promise application message with nothing queued runs inline; queued behind a commit, it waits', async (t) => {
  const { alice, bob } = await pair()
  // Inline: settled before the event loop turns (a thread-pool call cannot be).
  const order: string[] = []
  const wire = alice.g.createMessage('inline').then((w) => (order.push('encrypted'), w))
  setImmediate(() => order.push('event loop turned'))
  const processed = await wire.then((w) => bob.g.processMessage(w)).then((m) => (order.push('decrypted'), m))
  t.is(text(processed), 'inline')
  t.deepEqual(order.slice(0, 2), ['encrypted', 'decrypted'])

  // Behind a Promise commit and merge, a message waits for them: it is sent in the new epoch.
  const commit = alice.g.selfUpdate()
  const merged = alice.g.mergePendingCommit()
  const after = alice.g.createMessage('after the commit')
  const { commit: bytes } = await commit
  await merged
  t.is(alice.g.epoch, 2n)
  await bob.g.mergeStagedCommit(((m) => (m.type === 'commit' ? m.stagedCommit : t.fail(m.type)))(await bob.g.processMessage(bytes))!)
  const m = await bob.g.processMessage(await after)
  t.is(m.epoch, 2n)
  t.is(text(m), 'after the commit')

  // Not an application message, or an aborted signal: the usual path and its errors.
  await assertCode(t, () => bob.g.processMessage(new Uint8Array([0, 1, 0, 2, 1, 0xaa])), 'ERR_MALFORMED_MESSAGE')
  await assertCode(t, () => bob.g.processMessage(alice.g.createMessageSync('x'), { signal: AbortSignal.abort() }), 'ERR_ABORTED')
  t.is(bob.g.epoch, 2n)
})

test('a synchronous call is refused while Promise operations on its group are in flight', async (t) => {
  const { alice, bob } = await pair()
  const proposal = alice.g.proposeSelfUpdateSync()
  const pending = bob.g.processMessage(proposal.message)
  await assertCode(t, () => bob.g.createMessageSync('overtaking'), 'ERR_GROUP_BUSY')
  t.is((await pending).type, 'proposal')
  t.truthy(bob.g.createMessageSync('after it settled'))
})

test('an AbortSignal aborts a commit queued behind a long one before it starts: ERR_ABORTED, group unchanged', async (t) => {
  const alice = new Client('alice')
  alice.createGroup()
  const kps = newMembers(alice, 40)
  const controller = new AbortController()
  const long = alice.g.addMembers(kps)
  const queued = alice.g.selfUpdate(undefined, { signal: controller.signal })
  controller.abort(new Error('the user went away'))
  const error = await t.throwsAsync(queued, { instanceOf: OpenMlsError })
  t.is(error?.code, 'ERR_ABORTED')
  t.is((error?.cause as Error | undefined)?.message, 'the user went away', 'the abort reason is the cause')
  await long
  t.true(alice.g.hasPendingCommit, 'the long commit ran')
  const pending = alice.g.pendingCommit()
  t.is(pending?.addProposals.length, 40, 'the pending commit is the add, not the aborted self-update')
  await alice.g.mergePendingCommit()
  t.is(alice.g.epoch, 1n)
  t.is(alice.g.members().length, 41)
})

test('an already-aborted signal rejects at once and changes nothing; a non-signal is ERR_INVALID_ARGUMENT', async (t) => {
  const { alice, bob } = await pair()
  const before = alice.g.epochAuthenticator()
  const signal = AbortSignal.abort()
  await assertCode(t, () => alice.g.selfUpdate(undefined, { signal }), 'ERR_ABORTED')
  await assertCode(t, () => alice.g.commit({ forceSelfUpdate: true, signal }), 'ERR_ABORTED')
  await assertCode(t, () => bob.g.processMessage(alice.g.createMessageSync('x'), { signal }), 'ERR_ABORTED')
  await assertCode(t, () => alice.g.processMessages([], { signal }), 'ERR_ABORTED')
  await assertCode(t, () => alice.g.createMessages(['y'], { signal }), 'ERR_ABORTED')
  await assertCode(t, () => MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: new Uint8Array(4), signal }), 'ERR_ABORTED')
  await assertCode(t, () => alice.g.selfUpdate(undefined, { signal: {} as AbortSignal }), 'ERR_INVALID_ARGUMENT')
  t.false(alice.g.hasPendingCommit)
  t.deepEqual(alice.g.epochAuthenticator(), before)
  // The message bob never processed still decrypts: nothing was used up.
  t.is(text(await bob.g.processMessage(alice.g.createMessageSync('still fine'))), 'still fine')
  // A signal that is never aborted changes nothing either.
  const { commit } = await alice.g.selfUpdate(undefined, { signal: new AbortController().signal })
  await alice.g.mergePendingCommit()
  const staged = await bob.g.processMessage(commit, { signal: new AbortController().signal })
  if (staged.type !== 'commit') return t.fail(staged.type)
  await bob.g.mergeStagedCommit(staged.stagedCommit)
  assertAgree(t, [alice, bob])
})

for (const storage of ['memory', 'file'] as const) {
  test(`a batch with one bad message (${storage}): the good ones land, the bad one gets its typed error, nothing is lost`, async (t) => {
    const dir = tempDir()
    // Every provider is closed before its directory goes: Windows refuses to delete an open file.
    const opened: Provider[] = []
    t.teardown(() => {
      for (const p of opened) p.close()
      rmSync(dir, { recursive: true, force: true })
    })
    const provider = () => {
      const p = storage === 'file' ? new Provider({ storage: { path: join(dir, 'bob.db') } }) : new Provider()
      opened.push(p)
      return p
    }
    const alice = new Client('alice')
    const bobProvider = provider()
    const bobSigner = SignatureKeyPair.forCiphersuite(1)
    alice.createGroup()
    const bobKp = KeyPackage.builder().build({ ciphersuite: 1, provider: bobProvider, signer: bobSigner, credentialWithKey: { credential: new BasicCredential('bob'), signatureKey: bobSigner.publicKey } })
    const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bobKp.toBytes())])
    await alice.g.mergePendingCommit()
    let bob = await MlsGroup.joinFromWelcome({ provider: bobProvider, signer: bobSigner, welcome })

    const wires = (await alice.g.createMessages(['one', 'two', 'three', 'four'])).map((r) => (r.ok ? r.value : t.fail(r.error.message)) as Uint8Array)
    const tampered = Uint8Array.from(wires[2])
    tampered[tampered.length - 1] ^= 1
    const results = await bob.processMessages([wires[0], wires[1], new Uint8Array([1, 2, 3]), tampered, wires[1], wires[2], wires[3]])
    t.deepEqual(
      results.map((r) => (r.ok ? text(r.value) : r.error.code)),
      ['one', 'two', 'ERR_MALFORMED_MESSAGE', 'ERR_DECRYPTION_FAILED', results[4].ok ? 'two' : results[4].error.code, 'three', 'four'],
    )
    t.false(results[4].ok, 'a replay inside the batch is refused')
    for (const r of results) if (!r.ok) t.true(r.error instanceof OpenMlsError && r.error.code !== 'ERR_INTERNAL')

    if (storage === 'file') {
      // What the batch did is on disk: reopen, and the conversation goes on from there.
      bobProvider.close()
      const reopened = provider()
      bob = await reopened.loadGroup(bob.groupId)
      const again = await bob.processMessages([wires[3]])
      t.false(again[0].ok, 'a message the batch consumed stays consumed after a reopen')
    }
    t.is(text(await bob.processMessage(await alice.g.createMessage('after the batch'))), 'after the batch')
    t.deepEqual(bob.epochAuthenticator(), alice.g.epochAuthenticator())
  })
}

test('createMessages: every slot decrypts in order at the receiver; a batch after leaving gets typed errors', async (t) => {
  const { alice, bob } = await pair()
  const plaintexts = Array.from({ length: 20 }, (_, i) => `batched ${i}`)
  const wires = await alice.g.createMessages(plaintexts, { aad: new TextEncoder().encode('batch aad') })
  t.true(wires.every((r) => r.ok))
  const received = await bob.g.processMessages(wires.map((r) => (r.ok ? r.value : new Uint8Array())))
  t.deepEqual(received.map((r) => (r.ok ? text(r.value) : r.error.code)), plaintexts)
  t.deepEqual(received.map((r) => (r.ok ? new TextDecoder().decode(r.value.authenticatedData) : '')), plaintexts.map(() => 'batch aad'))
  await bob.g.leaveGroup()
  const refused = bob.g.createMessagesSync(['a', 'b'])
  t.deepEqual(refused.map((r) => (r.ok ? 'ok' : r.error.code)), ['ERR_PENDING_PROPOSALS', 'ERR_PENDING_PROPOSALS'])
  await assertCode(t, () => bob.g.createMessages([42 as unknown as string]), 'ERR_INVALID_ARGUMENT')
})

test('durability: "normal" opens, persists and reopens; anything else is ERR_INVALID_ARGUMENT', async (t) => {
  const dir = tempDir()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'alice.db')
  let provider = new Provider({ storage: { path, durability: 'normal' } })
  const signer = SignatureKeyPair.forCiphersuite(1)
  const group = MlsGroup.create({ provider, signer, credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: signer.publicKey } })
  const authenticator = group.epochAuthenticator()
  provider.close()
  provider = new Provider({ storage: { path, durability: 'full' } })
  t.deepEqual((await provider.loadGroup(group.groupId)).epochAuthenticator(), authenticator)
  provider.close()
  t.throws(() => new Provider({ storage: { path, durability: 'fast' as 'full' } }), { instanceOf: OpenMlsError, message: /durability/ })
})

test('worker_threads: 8 workers, each with its own providers and group, finish with correct results', async (t) => {
  const workerPath = fileURLToPath(new URL('./fixtures/group-worker.mjs', import.meta.url))
  const messages = 10
  const results = await Promise.all(
    Array.from(
      { length: 8 },
      (_, index) =>
        new Promise<{ index: number; received: string[]; epochs: string[]; exporters: string[] }>((resolve, reject) => {
          const worker = new Worker(workerPath, { workerData: { index, messages } })
          worker.once('message', resolve)
          worker.once('error', reject)
          worker.once('exit', (code) => code !== 0 && reject(new Error(`worker ${index} exited with ${code}`)))
        }),
    ),
  )
  for (const r of results) {
    t.deepEqual(r.received, Array.from({ length: messages }, (_, i) => `worker ${r.index} message ${i}`))
    t.deepEqual(r.epochs, ['2', '2'])
    t.is(r.exporters[0], r.exporters[1], `worker ${r.index}: both members derive the same secret`)
  }
  t.is(new Set(results.map((r) => r.exporters[0])).size, 8, 'eight different groups')
})

for (const storage of ['memory', 'file'] as const) {
  test(`two groups of one provider (${storage}) driven by concurrent Promises overlap, and every result is right`, async (t) => {
    const dir = tempDir()
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const provider = storage === 'file' ? new Provider({ storage: { path: join(dir, 'server.db') } }) : new Provider()
    t.is(provider.peakParallelOperations, 0, 'nothing ran yet')
    const signer = SignatureKeyPair.forCiphersuite(1)
    const credentialWithKey = { credential: new BasicCredential('server'), signatureKey: signer.publicKey }
    // The provider (a server-side member) holds two groups; each has one other member elsewhere.
    const pairs = await Promise.all(
      ['room-a', 'room-b'].map(async (name) => {
        const group = MlsGroup.create({ provider, signer, credentialWithKey, config: { ciphersuite: 1, useRatchetTreeExtension: true } })
        const peer = new Client(`${name}-peer`)
        const { welcome } = await group.addMembers([KeyPackage.fromBytes(provider, peer.keyPackageBytes())])
        await group.mergePendingCommit()
        await peer.join(welcome)
        return { name, group, peer }
      }),
    )
    // Instrumented, not timed: the provider counts the operations that ran at the same moment
    // (an operation waiting for another one's storage access does not count). One group's
    // operations are serialized, so only the two groups can overlap. Rounds are bounded. Each
    // round commits on both groups at once (on the thread pool whatever the storage), then
    // sends messages (inline in memory, on the pool on a file).
    let round = 0
    for (; round < 20 && provider.peakParallelOperations < 2; round++) {
      const updates = await Promise.all(pairs.map(async ({ group }) => (await Promise.all([group.selfUpdate(), group.mergePendingCommit()]))[0].commit))
      for (const [index, { peer }] of pairs.entries()) await applyCommit(peer, updates[index])
      const sent = await Promise.all(
        pairs.map(({ name, group }) => Promise.all(Array.from({ length: 25 }, (_, i) => group.createMessage(`${name} ${round}.${i}`)))),
      )
      for (const [index, { name, peer }] of pairs.entries()) {
        const received = await Promise.all(sent[index].map((wire) => peer.g.processMessage(wire)))
        t.deepEqual(received.map(text), sent[index].map((_, i) => `${name} ${round}.${i}`))
      }
    }
    t.true(provider.peakParallelOperations >= 2, `operations on the two groups overlapped (peak ${provider.peakParallelOperations} after ${round} rounds)`)
    // Commits on both groups at once, then agreement with each peer.
    const commits = await Promise.all(pairs.map(({ group }) => group.selfUpdate()))
    await Promise.all(pairs.map(({ group }) => group.mergePendingCommit()))
    for (const [index, { group, peer }] of pairs.entries()) {
      const staged = await peer.g.processMessage(commits[index].commit)
      if (staged.type !== 'commit') return t.fail(staged.type)
      await peer.g.mergeStagedCommit(staged.stagedCommit)
      t.deepEqual(peer.g.epochAuthenticator(), group.epochAuthenticator())
    }
    if (storage === 'file') {
      provider.close()
      const reopened = new Provider({ storage: { path: join(dir, 'server.db') } })
      for (const { group } of pairs) t.deepEqual((await reopened.loadGroup(group.groupId)).epochAuthenticator(), group.epochAuthenticator())
      reopened.close()
    }
  })
}

// Serial: the read below must come within a turn of the event loop, which the other tests of this
// file, run concurrently, can hold for longer than the add takes.
test.serial('state getters answer at once while an operation on the group runs, with the state before it', async (t) => {
  const alice = new Client('alice')
  alice.createGroup()
  const kps = newMembers(alice, 100)
  const before = { epoch: alice.g.epoch, members: alice.g.members().length, authenticator: alice.g.epochAuthenticator() }
  let settled = false
  const add = alice.g.addMembers(kps).then((r) => ((settled = true), r))
  // Let the queued operation reach the thread pool, then read while it works on the group (an
  // add of 100 takes far longer than a turn of the event loop). A getter that waited for the
  // add would see its pending commit.
  await new Promise((resolve) => setImmediate(resolve))
  const during = { epoch: alice.g.epoch, members: alice.g.members().length, authenticator: alice.g.epochAuthenticator(), pending: alice.g.hasPendingCommit }
  t.false(settled)
  t.deepEqual(during, { ...before, pending: false }, 'the state before the add, not after it')
  await add
  t.true(alice.g.hasPendingCommit)
  await alice.g.mergePendingCommit()
  t.is(alice.g.epoch, 1n)
  t.is(alice.g.members().length, 101, 'after the merge, the view follows the group')
  t.notDeepEqual(alice.g.epochAuthenticator(), before.authenticator)
})

// Serial, as above.
test.serial('the proposal queue and the pending commit answer at once while an operation runs, as the last one left them', async (t) => {
  const alice = new Client('alice')
  alice.createGroup()
  // One queued proposal and a pending commit that covers it.
  const [bob] = newMembers(alice, 1)
  alice.g.proposeAddMemberSync(bob)
  const queued = alice.g.pendingProposals()
  t.is(queued.length, 1)
  t.is(queued[0].proposal.type, 'add')
  const committed = alice.g.commitToPendingProposalsSync()
  t.truthy(committed.commit)
  const pending = alice.g.pendingCommit()
  t.is(pending?.addProposals.length, 1)
  alice.g.clearPendingCommitSync()
  t.is(alice.g.pendingCommit(), undefined)
  const queueBefore = alice.g.pendingProposals()
  t.is(queueBefore.length, 1, 'clearing the commit keeps the queue')

  // A long commit on the pool; the getters answer during it with what they showed before.
  const add = alice.g.addMembers(newMembers(alice, 100))
  await new Promise((resolve) => setImmediate(resolve))
  const during = { proposals: alice.g.pendingProposals(), commit: alice.g.pendingCommit() }
  t.deepEqual(during.proposals, queueBefore, 'the queue as it was')
  t.is(during.commit, undefined, 'no pending commit yet: the add has not happened')
  await add
  t.is(alice.g.pendingCommit()?.addProposals.length, 100 + queueBefore.length, 'the add covers the queued proposal too')
})
