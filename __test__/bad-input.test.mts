// Hostile and mistaken input: every case is a typed OpenMlsError, and the group keeps working.
import test, { type ExecutionContext } from 'ava'
import { KeyPackage, MlsGroup, OpenMlsError, errorCodes, type ErrorCode, type StagedCommit } from 'openmls-node'
import { Client, add, applyCommit, pair, assertAgree, assertCode, assertRoundTrip } from './helpers.mjs'


/** After a rejected message, state is unchanged and the conversation goes on both ways. */
async function stillWorks(t: ExecutionContext, alice: Client, bob: Client) {
  assertAgree(t, [alice, bob])
  await assertRoundTrip(t, alice, [bob], 'still here?')
  await assertRoundTrip(t, bob, [alice], 'yes')
}

test('garbage bytes are ERR_MALFORMED_MESSAGE', async (t) => {
  const { alice, bob } = await pair()
  const epoch = bob.g.epoch
  for (const junk of [new Uint8Array(), new Uint8Array([0]), new Uint8Array(64).fill(0xff), new TextEncoder().encode('hello world')]) {
    await assertCode(t, () => bob.g.processMessage(junk), 'ERR_MALFORMED_MESSAGE')
    await assertCode(t, () => bob.g.processMessageSync(junk), 'ERR_MALFORMED_MESSAGE')
  }
  t.is(bob.g.epoch, epoch)
  await stillWorks(t, alice, bob)
})

test('a truncated message is ERR_MALFORMED_MESSAGE, and the intact one still decrypts', async (t) => {
  const { alice, bob } = await pair()
  const message = alice.g.createMessageSync('complete')
  for (const cut of [1, 5, message.length - 1]) {
    await assertCode(t, () => bob.g.processMessage(message.subarray(0, cut)), 'ERR_MALFORMED_MESSAGE')
  }
  const m = await bob.g.processMessage(message)
  t.is(m.type, 'application')
  await stillWorks(t, alice, bob)
})

test('a tampered ciphertext is rejected without consuming the key', async (t) => {
  const { alice, bob } = await pair()
  const message = alice.g.createMessageSync('authentic')
  const tampered = Uint8Array.from(message)
  tampered[tampered.length - 3] ^= 0x01
  await assertCode(t, () => bob.g.processMessage(tampered), 'ERR_DECRYPTION_FAILED')
  const m = await bob.g.processMessage(message)
  t.is(m.type === 'application' && new TextDecoder().decode(m.data), 'authentic')
  await stillWorks(t, alice, bob)
})

test('a message for another group is ERR_WRONG_GROUP', async (t) => {
  const { alice, bob } = await pair()
  const elsewhere = new Client('eve')
  elsewhere.createGroup()
  await assertCode(t, () => bob.g.processMessage(elsewhere.g.createMessageSync('wrong room')), 'ERR_WRONG_GROUP')
  // Also a member of two groups receiving a message of one in the other.
  const carol = new Client('carol')
  carol.createGroup()
  await add(carol, [new Client('dave')])
  await assertCode(t, () => alice.g.processMessage(carol.g.createMessageSync('x')), 'ERR_WRONG_GROUP')
  await stillWorks(t, alice, bob)
})

test('a replayed message is ERR_REPLAYED_MESSAGE', async (t) => {
  const { alice, bob } = await pair()
  const message = alice.g.createMessageSync('once')
  t.is((await bob.g.processMessage(message)).type, 'application')
  await assertCode(t, () => bob.g.processMessage(message), 'ERR_REPLAYED_MESSAGE')
  await stillWorks(t, alice, bob)
})

test('a message from an old epoch is ERR_WRONG_EPOCH, and so is a replayed commit', async (t) => {
  const { alice, bob } = await pair()
  const old = alice.g.createMessageSync('from epoch 1')
  const { commit } = await alice.g.selfUpdate()
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, commit)
  await assertCode(t, () => bob.g.processMessage(old), 'ERR_WRONG_EPOCH')
  await assertCode(t, () => bob.g.processMessage(commit), 'ERR_WRONG_EPOCH')
  await stillWorks(t, alice, bob)
})

test('a message from a future epoch is ERR_WRONG_EPOCH', async (t) => {
  const { alice, bob } = await pair()
  const carol = new Client('carol')
  // Alice moves on to epoch 2 with Carol's add, but Bob never sees that commit.
  const kp = KeyPackage.fromBytes(alice.provider, carol.keyPackageBytes())
  const { commit } = await alice.g.addMembers([kp])
  alice.g.mergePendingCommitSync()
  await assertCode(t, () => bob.g.processMessage(alice.g.createMessageSync('from the future')), 'ERR_WRONG_EPOCH')
  await applyCommit(bob, commit)
  await assertRoundTrip(t, alice, [bob], 'caught up')
})

test('a Welcome or KeyPackage passed to processMessage is ERR_WRONG_MESSAGE_TYPE', async (t) => {
  const { alice, bob } = await pair()
  await assertCode(t, () => bob.g.processMessage(new Client('x').keyPackageBytes()), 'ERR_WRONG_MESSAGE_TYPE')
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, new Client('y').keyPackageBytes())])
  alice.g.clearPendingCommitSync()
  await assertCode(t, () => bob.g.processMessage(welcome), 'ERR_WRONG_MESSAGE_TYPE')
  await stillWorks(t, alice, bob)
})

test('joining with bytes that are not a Welcome, or a Welcome for someone else, is a typed error', async (t) => {
  const { alice } = await pair()
  const stranger = new Client('stranger')
  const bob2 = new Client('bob2')
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob2.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  await assertCode(t, () => stranger.join(new Uint8Array([1, 2, 3])), 'ERR_MALFORMED_MESSAGE')
  await assertCode(t, () => stranger.join(alice.g.createMessageSync('not a welcome')), 'ERR_WRONG_MESSAGE_TYPE')
  await assertCode(t, () => stranger.join(welcome), 'ERR_NO_MATCHING_KEY_PACKAGE')
  await assertCode(t, () => MlsGroup.joinFromWelcomeSync({ provider: stranger.provider, signer: stranger.signer, welcome }), 'ERR_NO_MATCHING_KEY_PACKAGE')
  await assertCode(t, () => bob2.join(welcome, new Uint8Array([9, 9, 9])), 'ERR_MALFORMED_MESSAGE')
  // The failed attempts did not use up bob2's key package.
  await bob2.join(welcome)
  t.is(bob2.g.epoch, alice.g.epoch)
})

test('a Welcome without the tree needs the tree; the key package survives the failed try', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup(false)
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  await assertCode(t, () => bob.join(welcome), 'ERR_MISSING_RATCHET_TREE')
  await bob.join(welcome, alice.g.exportRatchetTree())
  assertAgree(t, [alice, bob])
})

test('state errors: no pending commit, pending commit, unknown member, removed member', async (t) => {
  const { alice, bob } = await pair()
  await assertCode(t, () => alice.g.mergePendingCommitSync(), 'ERR_NO_PENDING_COMMIT')
  await assertCode(t, () => alice.g.clearPendingCommitSync(), 'ERR_NO_PENDING_COMMIT')
  await assertCode(t, () => alice.g.removeMembers([42]), 'ERR_UNKNOWN_MEMBER')
  await assertCode(t, () => alice.g.removeMembers([]), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.addMembers([]), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.removeMembers([0]), 'ERR_INVALID_ARGUMENT')
  await alice.g.selfUpdate()
  await assertCode(t, () => alice.g.selfUpdate(), 'ERR_PENDING_COMMIT')
  alice.g.clearPendingCommitSync()
  const removal = await alice.g.removeMembers([1])
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, removal.commit)
  await assertCode(t, () => bob.g.createMessageSync('ghost'), 'ERR_GROUP_INACTIVE')
  await assertCode(t, () => bob.g.selfUpdate(), 'ERR_GROUP_INACTIVE')
  await assertCode(t, () => bob.g.processMessage(alice.g.createMessageSync('x')), 'ERR_GROUP_INACTIVE')
})

test('a staged commit merges once, into its own group and epoch', async (t) => {
  const { alice, bob } = await pair()
  const { commit } = await alice.g.selfUpdate()
  alice.g.mergePendingCommitSync()
  const processed = await bob.g.processMessage(commit)
  if (processed.type !== 'commit') return t.fail()
  const other = new Client('other')
  other.createGroup()
  await assertCode(t, () => other.g.mergeStagedCommitSync(processed.stagedCommit), 'ERR_WRONG_GROUP')
  bob.g.mergeStagedCommitSync(processed.stagedCommit)
  await assertCode(t, () => bob.g.mergeStagedCommitSync(processed.stagedCommit), 'ERR_STALE_STAGED_COMMIT')
  t.false(processed.stagedCommit.selfRemoved, 'the snapshot stays readable after the merge')
  await stillWorks(t, alice, bob)
})

test('arguments of the wrong type are ERR_INVALID_ARGUMENT, never a crash', async (t) => {
  const { alice } = await pair()
  await assertCode(t, () => alice.g.processMessage('text' as never), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.processMessageSync(null as never), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.createMessageSync(42 as never), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.exportSecret('x', new Uint8Array(), 0), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.exportSecret('x', new Uint8Array(), 1e6), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.removeMembers(['1' as never]), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.removeMembers([-1]), 'ERR_INVALID_ARGUMENT')
})

test('malformed extensions are ERR_INVALID_ARGUMENT: an unknown type is named with the choices, a missing field is named', async (t) => {
  const { alice, bob } = await pair()
  const before = alice.g.epoch
  const unknown = await assertCode(t, () => alice.g.updateGroupContextExtensionsSync([{ type: 'ratchet' } as never]), 'ERR_INVALID_ARGUMENT')
  t.regex(unknown.message, /unknown extension type "ratchet"; one of: applicationId, requiredCapabilities/)
  const missing = await assertCode(t, () => alice.g.updateGroupContextExtensionsSync([{ type: 'externalPub' } as never]), 'ERR_INVALID_ARGUMENT')
  t.regex(missing.message, /publicKey/)
  await assertCode(t, () => alice.g.updateGroupContextExtensionsSync([{ type: 'unknown', extensionType: 0x10000, data: new Uint8Array() }]), 'ERR_INVALID_ARGUMENT')
  t.is(alice.g.epoch, before)
  await stillWorks(t, alice, bob)
})

test('thousands of mutated messages never crash and every rejection is typed', async (t) => {
  const { alice, bob } = await pair()
  // A deterministic xorshift PRNG, so a failure reproduces.
  let seed = 0x9e3779b9
  const rand = (n: number) => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const known = new Set(errorCodes)
  const message = alice.g.createMessageSync('fuzz me')
  const { commit } = await alice.g.selfUpdate() // stays pending on Alice's side until the end
  const samples = [message, commit]
  const acceptedCommits: StagedCommit[] = []
  const codes = new Map<ErrorCode, number>()
  let accepted = 0
  for (let i = 0; i < 2000; i++) {
    const mutated = Uint8Array.from(samples[i % samples.length])
    const action = rand(3)
    if (action === 0) mutated[rand(mutated.length)] ^= 1 << rand(8)
    else if (action === 1) mutated[rand(mutated.length)] = rand(256)
    else mutated.fill(rand(256), rand(mutated.length), rand(mutated.length) + 1)
    const input = rand(10) === 0 ? mutated.subarray(0, rand(mutated.length)) : mutated
    const original = samples[i % samples.length]
    if (input.length === original.length && input.every((b, k) => b === original[k])) continue // a no-op mutation
    try {
      const processed = bob.g.processMessageSync(input)
      accepted++
      // An accepted mutation (e.g. in unauthenticated padding) must still be the genuine content.
      if (processed.type === 'application') t.is(new TextDecoder().decode(processed.data), 'fuzz me')
      // A mutation outside the authenticated content (such as the MLSMessage version field) may be
      // accepted, but what it carries must be exactly Alice's commit.
      if (processed.type === 'commit') {
        acceptedCommits.push(processed.stagedCommit)
        t.log(`accepted a commit mutated at byte(s) ${[...input].map((b, k) => (b !== commit[k] ? k : -1)).filter((k) => k >= 0).join(',')} of ${commit.length}`)
      }
    } catch (error) {
      t.true(error instanceof OpenMlsError, String(error))
      const code = (error as OpenMlsError).code
      t.true(known.has(code), code)
      t.not(code, 'ERR_INTERNAL')
      codes.set(code, (codes.get(code) ?? 0) + 1)
    }
  }
  t.log(`accepted ${accepted}; rejected by code: ${JSON.stringify(Object.fromEntries(codes))}`)
  t.true(codes.size >= 3)
  alice.g.mergePendingCommitSync()
  for (const staged of acceptedCommits) t.deepEqual(Buffer.from(staged.epochAuthenticator!), Buffer.from(alice.g.epochAuthenticator()))
  if (acceptedCommits.length > 0) bob.g.mergeStagedCommitSync(acceptedCommits[0])
  else await applyCommit(bob, commit)
  await stillWorks(t, alice, bob)
})
