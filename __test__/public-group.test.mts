// The delivery service's view (PublicGroup): it follows a group through every kind of epoch
// change, its group context equals the members' after each, and it refuses what it must refuse
// without changing.
import test, { type ExecutionContext } from 'ava'
import {
  BasicCredential,
  ExternalProposal,
  JoinProposal,
  KeyPackage,
  MlsGroup,
  Provider,
  PublicGroup,
  SignatureKeyPair,
  type WireFormatPolicy,
} from 'openmls-node'
import { Client, X25519, assertAgree, assertCode, assertRoundTrip } from './helpers.mjs'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** The delivery service's state equals every member's: epoch, tree hash, transcript, extensions. */
function assertFollows(t: ExecutionContext, ds: PublicGroup, members: Client[]) {
  const dsContext = ds.groupContext()
  for (const m of members) {
    const c = m.g.groupContext()
    t.is(dsContext.epoch, c.epoch, `${m.name}: epoch`)
    t.is(hex(dsContext.treeHash), hex(c.treeHash), `${m.name}: tree hash`)
    t.is(hex(dsContext.confirmedTranscriptHash), hex(c.confirmedTranscriptHash), `${m.name}: confirmed transcript hash`)
    t.deepEqual(dsContext.extensions, c.extensions, `${m.name}: extensions`)
    t.is(hex(ds.confirmationTag()), hex(m.g.confirmationTag()), `${m.name}: confirmation tag`)
  }
  t.is(ds.epoch, dsContext.epoch)
  t.deepEqual(
    ds.members().map((m) => [m.index, String(m.credential)]),
    members[0].g.members().map((m) => [m.index, String(m.credential)]),
  )
}

/** The DS validates and merges a commit, then the members (but its sender) apply it. */
async function relayCommit(ds: PublicGroup, commit: Uint8Array, sender: Client, members: Client[]) {
  const seen = await ds.processMessage(commit)
  if (seen.type !== 'commit') throw new Error(`the DS saw a ${seen.type}, not a commit`)
  await ds.mergeStagedCommit(seen.stagedCommit)
  for (const m of members) {
    if (m === sender) continue
    const p = await m.g.processMessage(commit)
    if (p.type !== 'commit') throw new Error(`${m.name} saw a ${p.type}`)
    await m.g.mergeStagedCommit(p.stagedCommit)
  }
  return seen
}

/** A member processes and merges a commit. */
async function applyCommitTo(member: Client, commit: Uint8Array) {
  const p = await member.g.processMessage(commit)
  if (p.type !== 'commit') throw new Error(`${member.name} saw a ${p.type}`)
  await member.g.mergeStagedCommit(p.stagedCommit)
}

/** The DS validates a proposal and stores it; the members store it too. */
async function relayProposal(ds: PublicGroup, proposal: Uint8Array, members: Client[], sender?: Client) {
  const seen = await ds.processMessage(proposal)
  if (seen.type === 'commit') throw new Error('the DS saw a commit, not a proposal')
  ds.addProposal(seen.proposal)
  for (const m of members) {
    if (m === sender) continue
    const p = await m.g.processMessage(proposal)
    if (p.type !== 'proposal' && p.type !== 'externalJoinProposal') throw new Error(`${m.name} saw a ${p.type}`)
    await m.g.storePendingProposal(p.proposal)
  }
  return seen
}

function plaintextGroup(alice: Client, policy: WireFormatPolicy, dsSigner?: SignatureKeyPair) {
  alice.group = MlsGroup.create({
    provider: alice.provider,
    signer: alice.signer,
    credentialWithKey: alice.credentialWithKey,
    config: {
      ciphersuite: X25519,
      wireFormatPolicy: policy,
      ...(dsSigner ? { groupContextExtensions: [{ type: 'externalSenders', senders: [{ signatureKey: dsSigner.publicKey, credential: new BasicCredential('ds') }] }] } : {}),
    },
  })
  return alice.group
}

for (const policy of ['purePlaintext', 'mixedPlaintext'] as const) {
  test(`${policy}: the DS follows adds, updates, proposals, removes, external proposals and external joins; its context equals the members' after every epoch`, async (t) => {
    const dsSigner = SignatureKeyPair.forCiphersuite(X25519)
    const [alice, bob, carol, dave, eve, frank] = ['alice', 'bob', 'carol', 'dave', 'eve', 'frank'].map((n) => new Client(n))
    plaintextGroup(alice, policy, dsSigner)
    const ds = await PublicGroup.fromExternal({ provider: new Provider(), groupInfo: alice.g.exportGroupInfo({ withRatchetTree: false }), ratchetTree: alice.g.exportRatchetTree() })
    t.is(hex(ds.groupId), hex(alice.g.groupId))
    assertFollows(t, ds, [alice])
    const config = { wireFormatPolicy: policy }
    const joinAll = async (welcome: Uint8Array, joiners: Client[]) => {
      for (const j of joiners) j.group = await MlsGroup.joinFromWelcome({ provider: j.provider, signer: j.signer, welcome, ratchetTree: ds.exportRatchetTree(), config })
    }

    // 1. Adds: the DS sees who is added, and serves the tree the joiners need.
    const kps = [bob, carol, dave].map((c) => KeyPackage.fromBytes(alice.provider, c.keyPackageBytes()))
    const added = await alice.g.addMembers(kps)
    const seenAdd = await relayCommit(ds, added.commit, alice, [alice])
    t.deepEqual(seenAdd.stagedCommit.addProposals.map((p) => String(p.credential)), ['bob', 'carol', 'dave'])
    t.is(seenAdd.stagedCommit.selfRemoved, false, 'a public view is never "removed"')
    t.deepEqual(seenAdd.stagedCommit.removeOperations, [])
    await alice.g.mergePendingCommit()
    await joinAll(added.welcome, [bob, carol, dave])
    let members = [alice, bob, carol, dave]
    assertFollows(t, ds, members)

    // 2. A self-update with a path.
    const update = await bob.g.selfUpdate()
    const seenUpdate = await relayCommit(ds, update.commit, bob, members)
    t.true(seenUpdate.stagedCommit.hasUpdatePath)
    t.deepEqual(seenUpdate.sender, { type: 'member', leafIndex: 1 })
    await bob.g.mergePendingCommit()
    assertFollows(t, ds, members)

    // 3. A proposal by reference, then a commit that covers it.
    const proposal = await carol.g.proposeSelfUpdate()
    const seenProposal = await relayProposal(ds, proposal.message, members, carol)
    t.is(seenProposal.type, 'proposal')
    const covering = await alice.g.commitToPendingProposals()
    const seenCovering = await relayCommit(ds, covering.commit, alice, members)
    t.is(seenCovering.stagedCommit.updateProposals.length, 1)
    await alice.g.mergePendingCommit()
    assertFollows(t, ds, members)

    // 4. A removal.
    const removal = await alice.g.removeMembers([dave.g.ownLeafIndex])
    const seenRemoval = await relayCommit(ds, removal.commit, alice, [alice, bob, carol, dave])
    t.deepEqual(seenRemoval.stagedCommit.removeProposals.map((p) => p.removed), [3])
    await alice.g.mergePendingCommit()
    members = [alice, bob, carol]
    assertFollows(t, ds, members)

    // 5. An external proposal by the DS itself (listed in ExternalSenders): remove carol.
    const external = ExternalProposal.remove({ signer: dsSigner, senderIndex: 0, groupId: ds.groupId, epoch: ds.epoch, removed: carol.g.ownLeafIndex })
    const seenExternal = await relayProposal(ds, external, members)
    t.deepEqual(seenExternal.sender, { type: 'external', senderIndex: 0 })
    const byDs = await bob.g.commitToPendingProposals()
    await relayCommit(ds, byDs.commit, bob, members)
    await bob.g.mergePendingCommit()
    members = [alice, bob]
    assertFollows(t, ds, members)

    // 6. A new member's join proposal (external), committed by a member.
    const joinProposal = JoinProposal.create({ signer: frank.signer, keyPackage: KeyPackage.fromBytes(frank.provider, frank.keyPackageBytes()), groupId: ds.groupId, epoch: ds.epoch })
    const seenJoin = await relayProposal(ds, joinProposal.message, members)
    t.is(seenJoin.type, 'externalJoinProposal')
    const admitted = await alice.g.commitToPendingProposals()
    await relayCommit(ds, admitted.commit, alice, members)
    await alice.g.mergePendingCommit()
    await joinAll(admitted.welcome!, [frank])
    members = [alice, bob, frank]
    assertFollows(t, ds, members)

    // 7. An external join from what the DS serves: a member's GroupInfo, checked, and the tree.
    t.is(ds.groupInfo(), undefined, 'no GroupInfo for this epoch yet')
    ds.setGroupInfo(bob.g.exportGroupInfo({ withRatchetTree: false }))
    const served = ds.groupInfo()!
    const joined = await MlsGroup.joinByExternalCommit({ provider: eve.provider, signer: eve.signer, credentialWithKey: eve.credentialWithKey, groupInfo: served.groupInfo, ratchetTree: served.ratchetTree, config })
    eve.group = joined.group
    const seenExternalJoin = await relayCommit(ds, joined.commit, eve, [...members, eve])
    t.deepEqual(seenExternalJoin.sender, { type: 'newMemberCommit' })
    t.is(ds.groupInfo(), undefined, 'the GroupInfo of the last epoch is dropped')
    members = [alice, bob, frank, eve]
    assertFollows(t, ds, members)
    assertAgree(t, members)
    await assertRoundTrip(t, eve, [alice, bob, frank], 'joined through the DS')
  })
}

test('the DS picks one commit per epoch: the second commit for an epoch is ERR_WRONG_EPOCH, and its sender recovers', async (t) => {
  const [alice, bob] = [new Client('alice'), new Client('bob')]
  plaintextGroup(alice, 'purePlaintext')
  const added = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  await alice.g.mergePendingCommit()
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: added.welcome, ratchetTree: alice.g.exportRatchetTree(), config: { wireFormatPolicy: 'purePlaintext' } })
  const ds = PublicGroup.fromExternalSync({ provider: new Provider(), groupInfo: alice.g.exportGroupInfo() })

  // Both commit in the same epoch; the DS accepts the first and refuses the second.
  const first = await alice.g.selfUpdate()
  const second = await bob.g.selfUpdate()
  await relayCommit(ds, first.commit, alice, [])
  const before = hex(ds.groupContext().confirmedTranscriptHash)
  const lost = await assertCode(t, () => ds.processMessage(second.commit), 'ERR_WRONG_EPOCH')
  t.regex(lost.message, /already accepted/)
  t.is(hex(ds.groupContext().confirmedTranscriptHash), before, 'the refusal changed nothing')

  // The loser drops its commit, takes the winner's, and goes on (the DS on the calling thread now).
  await alice.g.mergePendingCommit()
  await bob.g.clearPendingCommit()
  const p = await bob.g.processMessage(first.commit)
  if (p.type !== 'commit') return t.fail(p.type)
  await bob.g.mergeStagedCommit(p.stagedCommit)
  const retry = await bob.g.selfUpdate()
  const seenRetry = ds.processMessageSync(retry.commit)
  if (seenRetry.type !== 'commit') return t.fail(seenRetry.type)
  ds.mergeStagedCommitSync(seenRetry.stagedCommit)
  await assertCode(t, () => ds.mergeStagedCommitSync(seenRetry.stagedCommit), 'ERR_STALE_STAGED_COMMIT')
  await applyCommitTo(alice, retry.commit)
  await bob.g.mergePendingCommit()
  assertFollows(t, ds, [alice, bob])
})

test('bad input at the DS: garbage, replays, stale epochs, forgeries and private messages are typed refusals, and nothing changes', async (t) => {
  const [alice, bob] = [new Client('alice'), new Client('bob')]
  plaintextGroup(alice, 'mixedPlaintext')
  const added = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  await alice.g.mergePendingCommit()
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: added.welcome, ratchetTree: alice.g.exportRatchetTree(), config: { wireFormatPolicy: 'mixedPlaintext' } })
  const dsProvider = new Provider()
  const ds = await PublicGroup.fromExternal({ provider: dsProvider, groupInfo: alice.g.exportGroupInfo() })
  const other = new Client('other')
  plaintextGroup(other, 'purePlaintext')
  const state = () => [ds.epoch, hex(ds.groupContext().treeHash), hex(ds.groupContext().confirmedTranscriptHash), ds.members().length]
  const before = state()

  await assertCode(t, () => ds.processMessage(new Uint8Array([1, 2, 3])), 'ERR_MALFORMED_MESSAGE')
  await assertCode(t, () => ds.processMessage(alice.g.createMessageSync('secret')), 'ERR_WRONG_MESSAGE_TYPE')
  const othersCommit = (await other.g.selfUpdate()).commit
  await assertCode(t, () => ds.processMessage(othersCommit), 'ERR_WRONG_GROUP')
  await other.g.mergePendingCommit()
  await assertCode(t, () => ds.processMessageSync(added.commit), 'ERR_WRONG_EPOCH')

  // A commit whose signature is damaged. (A member's PublicMessage ends with its signature, the
  // confirmation tag and the membership tag, 65 + 33 + 33 bytes.)
  const update = await bob.g.selfUpdate()
  const forged = Uint8Array.from(update.commit)
  forged[forged.length - 76] ^= 0x01
  await assertCode(t, () => ds.processMessage(forged), 'ERR_INVALID_SIGNATURE')
  await bob.g.clearPendingCommit()

  // A proposal signed by a non-member in alice's name: same group id, same epoch, leaf 0.
  const imposter = new Client('mallory')
  imposter.group = MlsGroup.create({ provider: imposter.provider, signer: imposter.signer, credentialWithKey: imposter.credentialWithKey, groupId: alice.g.groupId, config: { ciphersuite: X25519, wireFormatPolicy: 'purePlaintext' } })
  await imposter.g.selfUpdate()
  await imposter.g.mergePendingCommit()
  t.is(imposter.g.epoch, ds.epoch)
  const imposterProposal = (await imposter.g.proposeSelfUpdate()).message
  await assertCode(t, () => ds.processMessage(imposterProposal), 'ERR_INVALID_SIGNATURE')

  // What a DS cannot check: the membership tag is a MAC under the epoch's membership key, which
  // only members hold. A proposal whose tag is broken passes the DS; every member refuses it.
  const proposal = await alice.g.proposeSelfUpdate()
  const badTag = Uint8Array.from(proposal.message)
  badTag[badTag.length - 1] ^= 0x80
  t.is((await ds.processMessage(badTag)).type, 'proposal', 'the DS cannot see a bad membership tag')
  await assertCode(t, () => bob.g.processMessage(badTag), 'ERR_INVALID_SIGNATURE')
  await alice.g.clearPendingProposals()

  // GroupInfos: another group's, an old epoch's, a tampered one are refused; the kept one stays.
  ds.setGroupInfo(alice.g.exportGroupInfo())
  const kept = hex(ds.groupInfo()!.groupInfo)
  await assertCode(t, () => ds.setGroupInfo(other.g.exportGroupInfo()), 'ERR_WRONG_GROUP')
  const tampered = Uint8Array.from(alice.g.exportGroupInfo({ withRatchetTree: false }))
  tampered[tampered.length - 3] ^= 0x01
  const tamperedRefusal = await t.throwsAsync(async () => ds.setGroupInfo(tampered))
  t.true(['ERR_INVALID_SIGNATURE', 'ERR_MALFORMED_MESSAGE', 'ERR_VALIDATION_FAILED'].includes((tamperedRefusal as unknown as { code: string }).code), tamperedRefusal?.message)
  t.is(hex(ds.groupInfo()!.groupInfo), kept)

  t.deepEqual(state(), before, 'no refusal changed the DS state')
  // The DS still follows the group after all that; a GroupInfo of the epoch before is refused.
  const lastEpochInfo = alice.g.exportGroupInfo()
  const real = await bob.g.selfUpdate()
  await relayCommit(ds, real.commit, bob, [alice])
  await bob.g.mergePendingCommit()
  assertFollows(t, ds, [alice, bob])
  await assertCode(t, () => ds.setGroupInfo(lastEpochInfo), 'ERR_WRONG_EPOCH')
})

test('a DS state persists: a file-backed provider reopens with its public groups, and one provider cannot be member and DS of a group', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'omn-ds-'))
  try {
    const alice = new Client('alice')
    plaintextGroup(alice, 'purePlaintext')
    const path = join(dir, 'ds.db')
    let provider = new Provider({ storage: { path } })
    let ds = await PublicGroup.fromExternal({ provider, groupInfo: alice.g.exportGroupInfo() })
    await assertCode(t, () => PublicGroup.fromExternalSync({ provider, groupInfo: alice.g.exportGroupInfo() }), 'ERR_INVALID_ARGUMENT')
    await assertCode(t, () => PublicGroup.fromExternalSync({ provider: alice.provider, groupInfo: alice.g.exportGroupInfo() }), 'ERR_INVALID_ARGUMENT')
    const update = await alice.g.selfUpdate()
    await relayCommit(ds, update.commit, alice, [])
    await alice.g.mergePendingCommit()
    ds.setGroupInfo(alice.g.exportGroupInfo())
    provider.close()

    provider = new Provider({ storage: { path } })
    t.deepEqual(PublicGroup.list(provider).map(hex), [hex(alice.g.groupId)])
    ds = PublicGroup.load(provider, alice.g.groupId)
    assertFollows(t, ds, [alice])
    ds.free()
    await assertCode(t, () => ds.epoch, 'ERR_STALE_HANDLE')
    ds = PublicGroup.load(provider, alice.g.groupId)
    assertFollows(t, ds, [alice])
    t.truthy(ds.groupInfo(), 'the GroupInfo survives the restart')
    t.true(PublicGroup.load(provider, alice.g.groupId) !== undefined)
    await assertCode(t, () => PublicGroup.load(provider, new Uint8Array([9, 9])), 'ERR_UNKNOWN_GROUP')
    ds.delete()
    t.deepEqual(PublicGroup.list(provider), [])
    await assertCode(t, () => ds.epoch, 'ERR_STALE_HANDLE')
    provider.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a group that encrypts its handshakes cannot be followed: the DS routes its commits but refuses to process them', async (t) => {
  const [alice, bob] = [new Client('alice'), new Client('bob')]
  alice.createGroup(false)
  const ds = PublicGroup.fromExternalSync({ provider: new Provider(), groupInfo: alice.g.exportGroupInfo() })
  const added = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  const refusal = await assertCode(t, () => ds.processMessage(added.commit), 'ERR_WRONG_MESSAGE_TYPE')
  t.regex(refusal.message, /PrivateMessage/)
  t.is(ds.epoch, 0n)
})

test('a key package directory checks ciphersuite, required capabilities, last resort and remaining lifetime, with typed refusals', async (t) => {
  const directory = new Provider()
  const client = new Client('carol')
  const plain = client.keyPackageBytes()
  const kp = KeyPackage.validateForDirectory(directory, plain, { ciphersuites: [X25519], requiredCapabilities: { credentialTypes: [1] }, minValidSeconds: 3600 })
  t.is(String(kp.credential), 'carol')

  await assertCode(t, () => KeyPackage.validateForDirectory(directory, plain, { ciphersuites: [0x0002] }), 'ERR_UNSUPPORTED_CIPHERSUITE')
  const custom = await assertCode(t, () => KeyPackage.validateForDirectory(directory, plain, { requiredCapabilities: { extensionTypes: [0xff00] } }), 'ERR_INVALID_KEY_PACKAGE')
  t.regex(custom.message, /extension type\(s\) 65280/)
  t.truthy(KeyPackage.validateForDirectory(directory, plain, { requiredCapabilities: { extensionTypes: [5], proposalTypes: [7] } }), 'default types need no listing')
  await assertCode(t, () => KeyPackage.validateForDirectory(directory, plain, { minValidSeconds: 10 * 365 * 86400 }), 'ERR_INVALID_KEY_PACKAGE')

  const lastResort = KeyPackage.builder()
    .markAsLastResort()
    .build({ ciphersuite: X25519, provider: client.provider, signer: client.signer, credentialWithKey: client.credentialWithKey })
    .toBytes()
  t.true(KeyPackage.validateForDirectory(directory, lastResort).lastResort)
  await assertCode(t, () => KeyPackage.validateForDirectory(directory, lastResort, { allowLastResort: false }), 'ERR_INVALID_KEY_PACKAGE')
  const custom2 = KeyPackage.builder()
    .leafNodeCapabilities({ extensions: [0xff00] })
    .build({ ciphersuite: X25519, provider: client.provider, signer: client.signer, credentialWithKey: client.credentialWithKey })
    .toBytes()
  t.truthy(KeyPackage.validateForDirectory(directory, custom2, { requiredCapabilities: { extensionTypes: [0xff00] } }))
  const damaged = Uint8Array.from(plain)
  damaged[damaged.length - 10] ^= 0x01
  await assertCode(t, () => KeyPackage.validateForDirectory(directory, damaged), 'ERR_INVALID_KEY_PACKAGE')
})
