import test from 'ava'
import { KeyPackage, MlsGroup, Provider } from 'openmls-node'
import { Client, add, applyCommit, assertAgree, assertRoundTrip, pair } from './helpers.mjs'

test('two members agree after joining and exchange messages both ways', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup()
  await add(alice, [bob])
  t.is(bob.g.epoch, 1n)
  t.deepEqual(Buffer.from(bob.g.groupId), Buffer.from(alice.g.groupId))
  assertAgree(t, [alice, bob])
  await assertRoundTrip(t, alice, [bob], 'hello bob')
  await assertRoundTrip(t, bob, [alice], 'hello alice')
  t.deepEqual(
    alice.g.members().map((m) => [m.index, String(m.credential)]),
    [[0, 'alice'], [1, 'bob']],
  )
  t.deepEqual(Buffer.from(alice.g.members()[1].signatureKey), Buffer.from(bob.signer.publicKey))
})

test('three members agree after every commit: add, self-update, remove', async (t) => {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new Client(n))
  alice.createGroup()
  await add(alice, [bob])
  assertAgree(t, [alice, bob])
  // Bob, not the creator, adds Carol.
  await add(bob, [carol], [alice])
  assertAgree(t, [alice, bob, carol])
  for (const [from, to] of [[alice, [bob, carol]], [bob, [alice, carol]], [carol, [alice, bob]]] as const) {
    await assertRoundTrip(t, from, [...to], `from ${from.name}`)
  }

  const before = Buffer.from(carol.g.epochAuthenticator())
  const { commit } = await carol.g.selfUpdate()
  t.true(carol.g.hasPendingCommit)
  carol.g.mergePendingCommitSync()
  t.false(carol.g.hasPendingCommit)
  const processed = await applyCommit(alice, commit)
  t.deepEqual(processed.sender, { type: 'member', leafIndex: 2 })
  await applyCommit(bob, commit)
  t.is(carol.g.epoch, 3n)
  t.notDeepEqual(Buffer.from(carol.g.epochAuthenticator()), before)
  assertAgree(t, [alice, bob, carol])
  await assertRoundTrip(t, carol, [alice, bob], 'after my update')

  const removal = await alice.g.removeMembers([carol.g.ownLeafIndex])
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, removal.commit)
  const seen = await carol.g.processMessage(removal.commit)
  if (seen.type !== 'commit') return t.fail(seen.type)
  t.true(seen.stagedCommit.selfRemoved)
  t.deepEqual(seen.stagedCommit.removeProposals.map((p) => p.removed), [2])
  carol.g.mergeStagedCommitSync(seen.stagedCommit)
  t.false(carol.g.isActive)
  t.true(alice.g.isActive)
  assertAgree(t, [alice, bob])
  t.is(alice.g.members().length, 2)
  await assertRoundTrip(t, bob, [alice], 'just us')
})

test('the synchronous twins carry a whole conversation, with the tree passed out of band', (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(false)
  const kp = KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())
  const { welcome, groupInfo } = alice.g.addMembersSync([kp])
  t.is(groupInfo, undefined, 'no GroupInfo without the ratchet-tree extension')
  alice.g.mergePendingCommitSync()
  bob.group = MlsGroup.joinFromWelcomeSync({ provider: bob.provider, signer: bob.signer, welcome, ratchetTree: alice.g.exportRatchetTree() })
  assertAgree(t, [alice, bob])

  const m = bob.g.processMessageSync(alice.g.createMessageSync('sync hello'))
  t.is(m.type, 'application')
  t.is(m.kind, m.type, 'the deprecated kind is the same value until 1.0')
  if (m.type === 'application') t.is(new TextDecoder().decode(m.data), 'sync hello')

  const update = bob.g.selfUpdateSync()
  bob.g.mergePendingCommitSync()
  const staged = alice.g.processMessageSync(update.commit)
  if (staged.type !== 'commit') return t.fail(staged.type)
  t.true(staged.stagedCommit.hasUpdatePath)
  t.is(staged.stagedCommit.epoch, 2n)
  t.deepEqual(Buffer.from(staged.stagedCommit.epochAuthenticator!), Buffer.from(bob.g.epochAuthenticator()))
  alice.g.mergeStagedCommitSync(staged.stagedCommit)
  assertAgree(t, [alice, bob])

  const removal = alice.g.removeMembersSync([1])
  alice.g.mergePendingCommitSync()
  const gone = bob.g.processMessageSync(removal.commit)
  if (gone.type !== 'commit') return t.fail(gone.type)
  bob.g.mergeStagedCommitSync(gone.stagedCommit)
  t.false(bob.g.isActive)
  t.is(alice.g.members().length, 1)
})

test('with the ratchet-tree extension, commits carry a GroupInfo and Welcomes suffice to join', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(true)
  const { welcome, groupInfo } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  t.true(groupInfo instanceof Uint8Array && groupInfo.length > 0)
  alice.g.mergePendingCommitSync()
  await bob.join(welcome)
  assertAgree(t, [alice, bob])
})

test('a group id chosen by the application is kept', (t) => {
  const alice = new Client('alice')
  const groupId = new TextEncoder().encode('team-chat-42')
  const group = MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, groupId })
  t.deepEqual(Buffer.from(group.groupId), Buffer.from(groupId))
  t.is(group.epoch, 0n)
  t.is(group.ownLeafIndex, 0)
  t.is(group.ciphersuite, 1)
})

test('processing runs off the event loop: many groups process concurrently and all succeed', async (t) => {
  const pairs = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const a = new Client(`a${i}`)
      const b = new Client(`b${i}`)
      a.createGroup()
      await add(a, [b])
      return [a, b] as const
    }),
  )
  const results = await Promise.all(
    pairs.flatMap(([a, b]) => Array.from({ length: 5 }, (_, k) => a.g.createMessageSync(`m${k}`)).map((bytes) => b.g.processMessage(bytes))),
  )
  t.is(results.length, 40)
  t.true(results.every((r) => r.type === 'application'))
})

test('an application message reads the same through the packed fast path (processMessageSync) and the general one (a batch)', async (t) => {
  const { alice, bob } = await pair()
  const message = alice.g.createMessageSync('same either way', { aad: new TextEncoder().encode('the aad') })
  // A copy of bob's state, to read the same message through the batch path.
  const copy = await Provider.importSnapshot(bob.provider.exportSnapshot()).loadGroup(bob.g.groupId)
  const fast = bob.g.processMessageSync(message)
  const [slot] = await copy.processMessages([message])
  if (!slot.ok) return t.fail(slot.error.message)
  const general = slot.value
  const view = (m: typeof fast) => ({ ...m, credential: [m.credential.credentialType, String(m.credential)] })
  t.deepEqual(view(fast), view(general))
  if (fast.type !== 'application') return t.fail()
  t.is(new TextDecoder().decode(fast.data), 'same either way')
  t.not(fast.data.buffer, fast.groupId.buffer, 'fields do not share memory')
})
