// The book's joining chapters (two-phase Welcome, external commits, external proposals), message
// parsing for routing, AAD, and credential validation.
import test from 'ava'
import {
  BasicCredential,
  ExternalProposal,
  JoinProposal,
  KeyPackage,
  MlsGroup,
  MlsMessage,
  ProcessedWelcome,
  SignatureKeyPair,
} from 'openmls-node'
import { Client, add, applyCommit, assertAgree, assertCode, assertRoundTrip } from './helpers.mjs'

async function welcomeFor(alice: Client, bob: Client) {
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  return welcome
}

test('the two-phase Welcome shows the unverified GroupInfo, then the sender, members and group context', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup(true)
  const welcome = await welcomeFor(alice, bob)
  const processed = ProcessedWelcome.newFromWelcome({ provider: bob.provider, signer: bob.signer, welcome })
  const info = processed.unverifiedGroupInfo
  t.is(info.ciphersuite, 1)
  t.deepEqual(Buffer.from(info.groupId), Buffer.from(alice.g.groupId))
  t.is(info.epoch, 1n)
  t.true(info.hasRatchetTree)
  t.true(info.extensions.some((e) => e.type === 'ratchetTree'))
  t.deepEqual(processed.psks, [])
  const staged = processed.intoStagedWelcome()
  t.is(String(staged.welcomeSender.credential), 'alice')
  t.deepEqual(Buffer.from(staged.welcomeSender.signatureKey), Buffer.from(alice.signer.publicKey))
  t.is(staged.ownLeafIndex, 1)
  t.deepEqual(staged.members.map((m) => String(m.credential)), ['alice', 'bob'])
  const ctx = staged.groupContext
  t.is(ctx.protocolVersion, 1)
  t.is(ctx.epoch, 1n)
  t.is(ctx.treeHash.length, 32)
  t.is(ctx.confirmedTranscriptHash.length, 32)
  bob.group = staged.intoGroup()
  assertAgree(t, [alice, bob])
  await assertCode(t, () => staged.intoGroup(), 'ERR_WELCOME_USED')
  // Staging again decrypts again, but the group consumed the key package.
  await assertCode(t, () => processed.intoStagedWelcome(), 'ERR_NO_MATCHING_KEY_PACKAGE')
})

test('a credential validator vets every member on join, and every new credential in commits', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup(true)
  const trusted = new Set(['alice', 'bob', 'carol'])
  const validateCredential = (c: unknown) => trusted.has(String(c))

  const mallory = new Client('mallory')
  const forMallory = await welcomeFor(alice, mallory)
  await assertCode(
    t,
    () => MlsGroup.joinFromWelcome({ provider: mallory.provider, signer: mallory.signer, welcome: forMallory, validateCredential: (c) => String(c) !== 'alice' }),
    'ERR_CREDENTIAL_REJECTED',
  )
  const removeMallory = await alice.g.removeMembers([1])
  alice.g.mergePendingCommitSync()
  t.truthy(removeMallory)

  const welcome = await welcomeFor(alice, bob)
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome, validateCredential })
  const eve = new Client('eve')
  const { commit } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, eve.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  const before = bob.g.epoch
  await assertCode(t, () => bob.g.processMessage(commit), 'ERR_CREDENTIAL_REJECTED')
  t.is(bob.g.epoch, before, 'the rejected commit was not merged')
  t.is(bob.g.members().length, 2)
})

test('external join from an exported GroupInfo, with and without the tree inside', async (t) => {
  const [alice, bob, dave, erin] = ['alice', 'bob', 'dave', 'erin'].map((n) => new Client(n))
  alice.createGroup(true)
  await add(alice, [bob])
  const groupInfo = alice.g.exportGroupInfo({ withRatchetTree: true })
  const aad = new TextEncoder().encode('hello, I am dave')
  const joined = await MlsGroup.joinByExternalCommit({ provider: dave.provider, signer: dave.signer, credentialWithKey: dave.credentialWithKey, groupInfo, aad })
  dave.group = joined.group
  for (const c of [alice, bob]) {
    const processed = await applyCommit(c, joined.commit)
    t.deepEqual(processed.sender, { type: 'newMemberCommit' })
    t.deepEqual(Buffer.from(processed.authenticatedData), Buffer.from(aad))
  }
  assertAgree(t, [alice, bob, dave])

  const bare = alice.g.exportGroupInfo({ withRatchetTree: false })
  await assertCode(t, () => MlsGroup.joinByExternalCommit({ provider: erin.provider, signer: erin.signer, credentialWithKey: erin.credentialWithKey, groupInfo: bare }), 'ERR_MISSING_RATCHET_TREE')
  const e = MlsGroup.joinByExternalCommitSync({
    provider: erin.provider,
    signer: erin.signer,
    credentialWithKey: erin.credentialWithKey,
    groupInfo: bare,
    ratchetTree: alice.g.exportRatchetTree(),
  })
  erin.group = e.group
  for (const c of [alice, bob, dave]) await applyCommit(c, e.commit)
  assertAgree(t, [alice, bob, dave, erin])
  await assertRoundTrip(t, erin, [alice, bob, dave], 'joined from outside')
  await assertCode(t, () => MlsGroup.joinByExternalCommit({ provider: erin.provider, signer: erin.signer, credentialWithKey: erin.credentialWithKey, groupInfo: new Uint8Array([1, 2]) }), 'ERR_MALFORMED_MESSAGE')
})

test('a client that lost its state resyncs by external commit, replacing its old leaf', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(true)
  await add(alice, [bob])
  // Bob loses his group state but keeps his signature key.
  const { group, commit } = await MlsGroup.joinByExternalCommit({
    provider: bob.provider,
    signer: bob.signer,
    credentialWithKey: bob.credentialWithKey,
    groupInfo: alice.g.exportGroupInfo(),
  })
  bob.group = group
  const processed = await applyCommit(alice, commit)
  t.deepEqual(processed.stagedCommit.removeProposals.map((p) => p.removed), [1])
  t.is(alice.g.members().length, 2)
  assertAgree(t, [alice, bob])
})

test('an external join can inject a PSK every member stored', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(true)
  const pskId = new TextEncoder().encode('invite-code')
  for (const c of [alice, bob]) c.provider.storeExternalPsk(pskId, new Uint8Array(32).fill(3))
  const { group, commit } = await MlsGroup.joinByExternalCommit({
    provider: bob.provider,
    signer: bob.signer,
    credentialWithKey: bob.credentialWithKey,
    groupInfo: alice.g.exportGroupInfo(),
    psks: [{ type: 'external', pskId }],
  })
  bob.group = group
  const processed = await applyCommit(alice, commit)
  t.is(processed.stagedCommit.pskProposals.length, 1)
  assertAgree(t, [alice, bob])
})

test('a join proposal from a new member is committed by a member', async (t) => {
  const [alice, dave] = ['alice', 'dave'].map((n) => new Client(n))
  alice.createGroup(true)
  const kp = KeyPackage.builder().build({ ciphersuite: 1, provider: dave.provider, signer: dave.signer, credentialWithKey: dave.credentialWithKey })
  const { message: proposal, proposalRef } = JoinProposal.create({ signer: dave.signer, keyPackage: kp, groupId: alice.g.groupId, epoch: alice.g.epoch })
  t.is(MlsMessage.parse(proposal).wireFormat, 'publicMessage')
  const seen = await alice.g.processMessage(proposal)
  if (seen.type !== 'externalJoinProposal') return t.fail(seen.type)
  // The reference JoinProposal.create returns is the one the members compute (RFC 9420 §5.2).
  t.deepEqual(Buffer.from(seen.proposal.proposalRef), Buffer.from(proposalRef))
  t.deepEqual(seen.sender, { type: 'newMemberProposal' })
  alice.g.storePendingProposalSync(seen.proposal)
  const { welcome } = await alice.g.commitToPendingProposals()
  alice.g.mergePendingCommitSync()
  await dave.join(welcome!)
  assertAgree(t, [alice, dave])
})

test('an external sender (a delivery service) proposes removes, adds and extensions', async (t) => {
  const ds = SignatureKeyPair.forCiphersuite(1)
  const dsCredential = new BasicCredential('delivery-service')
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new Client(n))
  alice.group = MlsGroup.create({
    provider: alice.provider,
    signer: alice.signer,
    credentialWithKey: alice.credentialWithKey,
    config: { useRatchetTreeExtension: true, groupContextExtensions: [{ type: 'externalSenders', senders: [{ signatureKey: ds.publicKey, credential: dsCredential }] }] },
  })
  await add(alice, [bob])
  const target = () => ({ signer: ds, senderIndex: 0, groupId: alice.g.groupId, epoch: alice.g.epoch })

  const addCarol = ExternalProposal.add({ ...target(), keyPackage: KeyPackage.fromBytes(new Client('x').provider, carol.keyPackageBytes()) })
  for (const c of [alice, bob]) {
    const p = await c.g.processMessage(addCarol)
    if (p.type !== 'proposal') return t.fail(p.type)
    t.deepEqual(p.sender, { type: 'external', senderIndex: 0 })
    t.is(String(p.credential), 'delivery-service')
    c.g.storePendingProposalSync(p.proposal)
  }
  const { commit, welcome } = await bob.g.commitToPendingProposals()
  bob.g.mergePendingCommitSync()
  await applyCommit(alice, commit)
  await carol.join(welcome!)
  assertAgree(t, [alice, bob, carol])

  const removeBob = ExternalProposal.remove({ ...target(), removed: 1 })
  for (const c of [alice, carol]) {
    const p = await c.g.processMessage(removeBob)
    if (p.type === 'proposal') c.g.storePendingProposalSync(p.proposal)
  }
  const r = await alice.g.commitToPendingProposals()
  alice.g.mergePendingCommitSync()
  const atCarol = await applyCommit(carol, r.commit)
  t.deepEqual(atCarol.stagedCommit.removeOperations, [{ type: 'theyWereRemovedBy', leafIndex: 1, sender: { type: 'external', senderIndex: 0 } }])
  assertAgree(t, [alice, carol])

  // A signer that is not listed is refused.
  const rogue = ExternalProposal.remove({ ...target(), signer: SignatureKeyPair.forCiphersuite(1), removed: 0 })
  await assertCode(t, () => carol.g.processMessage(rogue), 'ERR_INVALID_SIGNATURE')
})

test('MlsMessage.parse routes every kind of message before processing', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(true)
  const bobKp = KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())
  t.deepEqual(MlsMessage.parse(bobKp.toBytes()), { wireFormat: 'keyPackage', ciphersuite: 1 })
  const { welcome, commit } = await alice.g.addMembers([bobKp])
  const w = MlsMessage.parse(welcome)
  if (w.wireFormat !== 'welcome') return t.fail()
  t.deepEqual(w.keyPackageRefs.map((r) => Buffer.from(r)), [Buffer.from(bobKp.hashRef(alice.provider))])
  const c = MlsMessage.parse(commit)
  t.like(c, { wireFormat: 'privateMessage', epoch: 0n, contentType: 'commit' })
  alice.g.mergePendingCommitSync()
  await bob.join(welcome)
  const app = MlsMessage.parse(alice.g.createMessageSync('x', { aad: new Uint8Array([5]) }))
  if (app.wireFormat !== 'privateMessage') return t.fail()
  t.deepEqual(Buffer.from(app.groupId), Buffer.from(alice.g.groupId))
  t.is(app.contentType, 'application')
  t.deepEqual(app.authenticatedData, new Uint8Array([5]))
  const gi = MlsMessage.parse(alice.g.exportGroupInfo())
  if (gi.wireFormat !== 'groupInfo') return t.fail()
  t.is(gi.groupContext.epoch, 1n)
  t.true(gi.extensions.some((e) => e.type === 'externalPub'))
  alice.g.setConfiguration({ wireFormatPolicy: 'mixedPlaintext' })
  const plain = MlsMessage.parse((await alice.g.selfUpdate()).commit)
  t.like(plain, { wireFormat: 'publicMessage', contentType: 'commit', sender: { type: 'member', leafIndex: 0 } })
  await assertCode(t, () => MlsMessage.parse(new Uint8Array([9, 9, 9])), 'ERR_MALFORMED_MESSAGE')
})

test('setAad applies to the next message only, handshake or application', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.createGroup(true)
  await add(alice, [bob])
  const aad = new TextEncoder().encode('commit-meta')
  alice.g.setAad(aad)
  t.deepEqual(alice.g.aad, aad)
  const { commit } = await alice.g.selfUpdate()
  alice.g.mergePendingCommitSync()
  const staged = await applyCommit(bob, commit)
  t.deepEqual(Buffer.from(staged.authenticatedData), Buffer.from(aad))
  t.is(alice.g.aad.length, 0, 'cleared after one message')
  const m = await bob.g.processMessage(alice.g.createMessageSync('plain'))
  t.is(m.authenticatedData.length, 0)
})

test('an external join can cover a pending SelfRemove proposal', async (t) => {
  const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((n) => new Client(n))
  const config = { useRatchetTreeExtension: true, wireFormatPolicy: 'mixedPlaintext' as const, capabilities: { proposals: [10] } }
  alice.group = MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, config })
  const kps = [bob, carol].map((c) =>
    KeyPackage.fromBytes(alice.provider, KeyPackage.builder().leafNodeCapabilities({ proposals: [10] }).build({ ciphersuite: 1, provider: c.provider, signer: c.signer, credentialWithKey: c.credentialWithKey }).toBytes()),
  )
  const { welcome } = await alice.g.addMembers(kps)
  alice.g.mergePendingCommitSync()
  for (const c of [bob, carol]) c.group = await MlsGroup.joinFromWelcome({ provider: c.provider, signer: c.signer, welcome, config })
  const selfRemove = carol.g.leaveGroupViaSelfRemoveSync().message
  for (const c of [alice, bob]) {
    const p = await c.g.processMessage(selfRemove)
    if (p.type === 'proposal') c.g.storePendingProposalSync(p.proposal)
  }
  const { group, commit } = await MlsGroup.joinByExternalCommit({
    provider: dave.provider,
    signer: dave.signer,
    credentialWithKey: dave.credentialWithKey,
    groupInfo: alice.g.exportGroupInfo(),
    selfRemoveProposals: [selfRemove],
    config,
  })
  dave.group = group
  const staged = await applyCommit(alice, commit)
  t.deepEqual(staged.stagedCommit.removeOperations, [{ type: 'theyLeft', leafIndex: 2 }])
  await applyCommit(bob, commit)
  t.deepEqual(alice.g.members().map((m) => String(m.credential)).sort(), ['alice', 'bob', 'dave'])
  assertAgree(t, [alice, bob, dave])
})

test('an external sender can propose new group context extensions', async (t) => {
  const ds = SignatureKeyPair.forCiphersuite(1)
  const senders = [{ signatureKey: ds.publicKey, credential: new BasicCredential('ds') }]
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.group = MlsGroup.create({
    provider: alice.provider,
    signer: alice.signer,
    credentialWithKey: alice.credentialWithKey,
    config: { useRatchetTreeExtension: true, groupContextExtensions: [{ type: 'externalSenders', senders }] },
  })
  await add(alice, [bob])
  const extensions = [{ type: 'externalSenders' as const, senders }, { type: 'requiredCapabilities' as const, extensionTypes: [], proposalTypes: [], credentialTypes: [1] }]
  const proposal = ExternalProposal.groupContextExtensions({ signer: ds, senderIndex: 0, groupId: alice.g.groupId, epoch: alice.g.epoch, extensions })
  for (const c of [alice, bob]) {
    const p = await c.g.processMessage(proposal)
    if (p.type !== 'proposal') return t.fail(p.type)
    t.is(p.proposal.proposal.type, 'groupContextExtensions')
    c.g.storePendingProposalSync(p.proposal)
  }
  const { commit } = await alice.g.commitToPendingProposals()
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, commit)
  t.deepEqual(bob.g.groupContextExtensions(), extensions)
  assertAgree(t, [alice, bob])
})

test('a sender processing its own messages: ownPendingCommit for a plaintext commit, ownPrivateMessage otherwise', async (t) => {
  const [alice, bob] = ['alice', 'bob'].map((n) => new Client(n))
  alice.group = MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, config: { useRatchetTreeExtension: true, wireFormatPolicy: 'mixedPlaintext' } })
  await add(alice, [bob])
  const own = await alice.g.processMessage(alice.g.createMessageSync('echo'))
  t.is(own.type, 'ownPrivateMessage')
  const { commit } = await alice.g.selfUpdate()
  const echoed = await alice.g.processMessage(commit)
  t.is(echoed.type, 'ownPendingCommit')
  alice.g.mergePendingCommitSync()
  bob.g.setConfiguration({ wireFormatPolicy: 'mixedPlaintext' })
  await applyCommit(bob, commit)
  assertAgree(t, [alice, bob])
})
