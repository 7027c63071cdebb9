// The book's membership chapters: proposals by reference and by value, the commit builder, leaving,
// PSKs, pending proposals and commits, and interpreting removals.
import test from 'ava'
import { BasicCredential, KeyPackage, MlsGroup, SignatureKeyPair, type MlsGroupCreateConfig, type ProcessedMessage } from 'openmls-node'
import { Client, add, applyCommit, assertAgree, assertCode, assertRoundTrip } from './helpers.mjs'

const CUSTOM_PROPOSAL = 0xfff0

async function trio(config: MlsGroupCreateConfig = {}, capabilities?: { proposals?: number[] }) {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new Client(n))
  alice.group = MlsGroup.create({
    provider: alice.provider,
    signer: alice.signer,
    credentialWithKey: alice.credentialWithKey,
    config: { useRatchetTreeExtension: true, ...config, ...(capabilities ? { capabilities } : {}) },
  })
  const kps = [bob, carol].map((c) =>
    KeyPackage.fromBytes(
      alice.provider,
      KeyPackage.builder()
        .leafNodeCapabilities(capabilities ?? {})
        .build({ ciphersuite: c.suite, provider: c.provider, signer: c.signer, credentialWithKey: c.credentialWithKey })
        .toBytes(),
    ),
  )
  const { welcome } = await alice.g.addMembers(kps)
  alice.g.mergePendingCommitSync()
  for (const c of [bob, carol]) {
    c.group = await MlsGroup.joinFromWelcome({ provider: c.provider, signer: c.signer, welcome, config })
  }
  return { alice, bob, carol }
}

async function receiveProposal(c: Client, message: Uint8Array) {
  const p = await c.g.processMessage(message)
  if (p.type !== 'proposal') throw new Error(`expected a proposal, got ${p.type}`)
  c.g.storePendingProposalSync(p.proposal)
  return p
}

test('an add proposal by reference, stored by others, committed by another member', async (t) => {
  const { alice, bob, carol } = await trio()
  const dave = new Client('dave')
  const { message, proposalRef } = alice.g.proposeAddMemberSync(KeyPackage.fromBytes(alice.provider, dave.keyPackageBytes()))
  t.is(proposalRef.length, 32)
  t.is(alice.g.pendingProposals().length, 1, "the proposer's own proposal is queued automatically")
  const seen = await receiveProposal(bob, message)
  t.deepEqual(seen.sender, { type: 'member', leafIndex: 0 })
  t.is(seen.proposal.proposal.type, 'add')
  t.false(seen.proposal.byValue)
  await receiveProposal(carol, message)
  t.deepEqual(Buffer.from(bob.g.pendingProposals()[0].proposalRef), Buffer.from(proposalRef))

  const { commit, welcome } = await bob.g.commitToPendingProposals()
  bob.g.mergePendingCommitSync()
  const staged = await applyCommit(alice, commit)
  t.deepEqual(staged.stagedCommit.info().addProposals.map((p) => [String(p.credential), p.sender]), [['dave', { type: 'member', leafIndex: 0 }]])
  await applyCommit(carol, commit)
  await dave.join(welcome!)
  assertAgree(t, [alice, bob, carol, dave])
  t.deepEqual(alice.g.members().map((m) => String(m.credential)), ['alice', 'bob', 'carol', 'dave'])
})

test('a commit builds adds, removes and custom proposals by value; receivers see what it covers', async (t) => {
  const { alice, bob, carol } = await trio({}, { proposals: [CUSTOM_PROPOSAL] })
  const dave = new Client('dave')
  const daveKp = KeyPackage.builder()
    .leafNodeCapabilities({ proposals: [CUSTOM_PROPOSAL] })
    .build({ ciphersuite: 1, provider: dave.provider, signer: dave.signer, credentialWithKey: dave.credentialWithKey })
  const { commit, welcome } = await alice.g.commit({
    adds: [KeyPackage.fromBytes(alice.provider, daveKp.toBytes())],
    removes: [2],
    customProposals: [{ proposalType: CUSTOM_PROPOSAL, payload: new Uint8Array([4, 2]) }],
  })
  const pending = alice.g.pendingCommit()!
  t.deepEqual(pending.queuedProposals.map((p) => p.proposal.type).sort(), ['add', 'custom', 'remove'])
  alice.g.mergePendingCommitSync()
  t.is(alice.g.pendingCommit(), undefined)
  const staged = await applyCommit(bob, commit)
  const info = staged.stagedCommit.info()
  t.true(info.queuedProposals.every((p) => p.byValue))
  t.deepEqual(info.queuedProposals.find((p) => p.proposal.type === 'custom')?.proposal, { type: 'custom', proposalType: CUSTOM_PROPOSAL, payload: new Uint8Array([4, 2]) })
  t.deepEqual(info.removeOperations, [{ type: 'theyWereRemovedBy', leafIndex: 2, sender: { type: 'member', leafIndex: 0 } }])
  t.true(info.credentialsToVerify.some((c) => String(c) === 'dave'), 'new members are listed for credential validation')
  const gone = await carol.g.processMessage(commit)
  if (gone.type !== 'commit') return t.fail()
  t.deepEqual(gone.stagedCommit.removeOperations, [{ type: 'weWereRemovedBy', sender: { type: 'member', leafIndex: 0 } }])
  await dave.join(welcome!)
  assertAgree(t, [alice, bob, dave])
})

test('a commit policy decides which queued proposals are covered', async (t) => {
  const { alice, bob, carol } = await trio({}, { proposals: [CUSTOM_PROPOSAL] })
  const custom = alice.g.proposeCustomProposalSync(CUSTOM_PROPOSAL, new TextEncoder().encode('rename room'))
  const removal = carol.g.proposeRemoveMemberSync(0)
  for (const m of [custom.message, removal.message]) await receiveProposal(bob, m)
  await receiveProposal(carol, custom.message)
  await receiveProposal(alice, removal.message)
  t.is(bob.g.pendingProposals().length, 2)
  const { commit } = await bob.g.commit({ policy: (p) => p.proposal.type !== 'remove' })
  bob.g.mergePendingCommitSync()
  const staged = await applyCommit(carol, commit)
  t.deepEqual(staged.stagedCommit.queuedProposals.map((p) => p.proposal.type), ['custom'])
  t.is(bob.g.members().length, 3, 'the rejected removal was not applied')
  await applyCommit(alice, commit)
  assertAgree(t, [alice, bob, carol])
})

test('removal by credential, as a commit and as a proposal', async (t) => {
  const { alice, bob, carol } = await trio()
  const proposal = bob.g.proposeRemoveMemberByCredentialSync(new BasicCredential('carol'))
  await receiveProposal(alice, proposal.message)
  const { commit } = await alice.g.commitToPendingProposals()
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, commit)
  t.deepEqual(alice.g.members().map((m) => String(m.credential)), ['alice', 'bob'])
  const dave = new Client('dave')
  await add(alice, [dave], [bob])
  const again = await alice.g.removeMembersByCredential([new BasicCredential('dave')])
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, again.commit)
  assertAgree(t, [alice, bob])
  await assertCode(t, () => alice.g.removeMembersByCredential([new BasicCredential('nobody')]), 'ERR_UNKNOWN_MEMBER')
  await assertCode(t, () => alice.g.proposeRemoveMemberByCredentialSync(new BasicCredential('nobody')), 'ERR_UNKNOWN_MEMBER')
  t.truthy(carol)
})

test('self-update with new leaf parameters, as a commit and as a proposal', async (t) => {
  const { alice, bob, carol } = await trio()
  const appId = new TextEncoder().encode('laptop')
  const { commit } = await bob.g.selfUpdate({ extensions: [{ type: 'applicationId', applicationId: appId }] })
  bob.g.mergePendingCommitSync()
  const staged = await applyCommit(alice, commit)
  t.deepEqual(staged.stagedCommit.info().updatePathLeafNode?.extensions, [{ type: 'applicationId', applicationId: appId }])
  await applyCommit(carol, commit)
  t.deepEqual(bob.g.ownLeafNode().extensions, [{ type: 'applicationId', applicationId: appId }])

  const update = carol.g.proposeSelfUpdateSync()
  for (const c of [alice, bob]) await receiveProposal(c, update.message)
  const { commit: c2 } = await alice.g.commitToPendingProposals()
  alice.g.mergePendingCommitSync()
  const s2 = await applyCommit(bob, c2)
  t.deepEqual(s2.stagedCommit.updateProposals.map((p) => p.sender), [{ type: 'member', leafIndex: 2 }])
  await applyCommit(carol, c2)
  assertAgree(t, [alice, bob, carol])
})

test('rotating the signature key: the group signs with the new key once merged', async (t) => {
  const { alice, bob } = await trio()
  const newSigner = SignatureKeyPair.forCiphersuite(1)
  const oldKey = Buffer.from(bob.g.ownLeafNode().signatureKey)
  // A discarded rotation keeps the old key.
  bob.g.selfUpdateWithNewSignerSync({ newSigner, credential: new BasicCredential('bob') })
  bob.g.clearPendingCommitSync()
  await assertRoundTrip(t, bob, [alice], 'old key still signs')
  const { commit } = await bob.g.selfUpdateWithNewSigner({ newSigner, credential: new BasicCredential('bob@laptop') })
  bob.g.mergePendingCommitSync()
  await applyCommit(alice, commit)
  const member = alice.g.members()[1]
  t.deepEqual(Buffer.from(member.signatureKey), Buffer.from(newSigner.publicKey))
  t.notDeepEqual(Buffer.from(member.signatureKey), oldKey)
  t.is(String(member.credential), 'bob@laptop')
  const m = await alice.g.processMessage(bob.g.createMessageSync('signed with the new key'))
  t.is(m.type === 'application' && new TextDecoder().decode(m.data), 'signed with the new key')
  t.is(String(m.credential), 'bob@laptop')
})

test('group context extensions: immediate update and proposal', async (t) => {
  const { alice, bob, carol } = await trio()
  const ext = [{ type: 'unknown' as const, extensionType: 0xff01, data: new Uint8Array([1]) }]
  await assertCode(t, () => alice.g.updateGroupContextExtensions(ext), 'ERR_INVALID_EXTENSION')
  const appId = [{ type: 'externalSenders' as const, senders: [{ signatureKey: SignatureKeyPair.forCiphersuite(1).publicKey, credential: new BasicCredential('ds') }] }]
  const { commit } = await alice.g.updateGroupContextExtensions(appId)
  alice.g.mergePendingCommitSync()
  for (const c of [bob, carol]) await applyCommit(c, commit)
  t.deepEqual(bob.g.groupContextExtensions(), appId)
  const proposal = carol.g.proposeGroupContextExtensionsSync([])
  for (const c of [alice, bob]) await receiveProposal(c, proposal.message)
  const { commit: c2 } = await bob.g.commitToPendingProposals()
  bob.g.mergePendingCommitSync()
  const staged = await applyCommit(alice, c2)
  t.deepEqual(staged.stagedCommit.groupContext.extensions, [])
  await applyCommit(carol, c2)
  t.deepEqual(carol.g.groupContextExtensions(), [])
  assertAgree(t, [alice, bob, carol])
})

test('custom proposals need the type in every capability list and a non-reserved code point', async (t) => {
  const { alice, bob } = await trio({}, { proposals: [CUSTOM_PROPOSAL] })
  const { message } = alice.g.proposeCustomProposalSync(CUSTOM_PROPOSAL, new Uint8Array([7]), { byValue: true })
  const seen = await receiveProposal(bob, message)
  t.deepEqual(seen.proposal.proposal, { type: 'custom', proposalType: CUSTOM_PROPOSAL, payload: new Uint8Array([7]) })
  await assertCode(t, () => alice.g.proposeCustomProposalSync(3, new Uint8Array()), 'ERR_INVALID_ARGUMENT')
  const { alice: a2 } = await trio()
  const { commit } = await a2.g.commit({ customProposals: [{ proposalType: CUSTOM_PROPOSAL, payload: new Uint8Array() }] }).catch((e) => ({ commit: e }))
  t.true(commit instanceof Error, 'members without the capability cannot receive it')
})

test('swapping members replaces one leaf with a new member in one commit', async (t) => {
  const { alice, bob, carol } = await trio()
  const carol2 = new Client('carol')
  const { commit, welcome } = await alice.g.swapMembers([2], [KeyPackage.fromBytes(alice.provider, carol2.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, commit)
  const old = await carol.g.processMessage(commit)
  if (old.type === 'commit') carol.g.mergeStagedCommitSync(old.stagedCommit)
  t.false(carol.g.isActive)
  await carol2.join(welcome)
  assertAgree(t, [alice, bob, carol2])
  await assertCode(t, () => alice.g.swapMembers([1], []), 'ERR_INVALID_ARGUMENT')
})

test('leaving with a Remove proposal: the committer and the leaver interpret it', async (t) => {
  const { alice, bob, carol } = await trio()
  const { message: leave, proposalRef } = bob.g.leaveGroupSync()
  t.true(bob.g.pendingProposals().some((p) => Buffer.from(p.proposalRef).equals(Buffer.from(proposalRef))))
  for (const c of [alice, carol]) t.deepEqual(Buffer.from((await receiveProposal(c, leave)).proposal.proposalRef), Buffer.from(proposalRef))
  const { commit } = await alice.g.commitToPendingProposals()
  alice.g.mergePendingCommitSync()
  const atCarol = await applyCommit(carol, commit)
  t.deepEqual(atCarol.stagedCommit.removeOperations, [{ type: 'theyLeft', leafIndex: 1 }])
  const atBob = await bob.g.processMessage(commit)
  if (atBob.type !== 'commit') return t.fail()
  t.deepEqual(atBob.stagedCommit.removeOperations, [{ type: 'weLeft' }])
  bob.g.mergeStagedCommitSync(atBob.stagedCommit)
  t.false(bob.g.isActive)
  assertAgree(t, [alice, carol])
})

test('leaving with SelfRemove needs a plaintext-capable policy', async (t) => {
  const { alice: a0 } = await trio({}, { proposals: [10] })
  await assertCode(t, () => a0.g.leaveGroupViaSelfRemoveSync(), 'ERR_INVALID_ARGUMENT')
  const { alice, bob, carol } = await trio({ wireFormatPolicy: 'mixedPlaintext' }, { proposals: [10] })
  const leave = carol.g.leaveGroupViaSelfRemoveSync().message
  for (const c of [alice, bob]) {
    const p = await receiveProposal(c, leave)
    t.is(p.proposal.proposal.type, 'selfRemove')
  }
  const { commit } = await bob.g.commitToPendingProposals()
  bob.g.mergePendingCommitSync()
  const atAlice = await applyCommit(alice, commit)
  t.deepEqual(atAlice.stagedCommit.removeOperations, [{ type: 'theyLeft', leafIndex: 2 }])
  const atCarol = await carol.g.processMessage(commit)
  if (atCarol.type !== 'commit') return t.fail()
  t.true(atCarol.stagedCommit.selfRemoved)
  assertAgree(t, [alice, bob])
})

test('pending proposals: list, roll back one, clear all; unknown references are typed errors', async (t) => {
  const { alice } = await trio()
  const a = alice.g.proposeRemoveMemberSync(1)
  alice.g.proposeRemoveMemberSync(2, { byValue: true })
  t.deepEqual(alice.g.pendingProposals().map((p) => [p.proposal, p.byValue]), [
    [{ type: 'remove', removed: 1 }, false],
    [{ type: 'remove', removed: 2 }, true],
  ])
  alice.g.removePendingProposalSync(a.proposalRef)
  t.is(alice.g.pendingProposals().length, 1)
  await assertCode(t, () => alice.g.removePendingProposalSync(a.proposalRef), 'ERR_UNKNOWN_PROPOSAL')
  await assertCode(t, () => alice.g.commit({ policy: () => true, removes: [9] }), 'ERR_UNKNOWN_MEMBER')
  alice.g.clearPendingProposalsSync()
  t.deepEqual(alice.g.pendingProposals(), [])
  await assertCode(t, () => alice.g.proposeRemoveMemberSync(17), 'ERR_UNKNOWN_MEMBER')
})

test('a pending commit can be inspected and discarded; deleting a group makes the handle unusable', async (t) => {
  const { alice, bob } = await trio()
  await alice.g.removeMembers([2])
  t.deepEqual(alice.g.pendingCommit()?.removeOperations, [{ type: 'weRemovedThem', leafIndex: 2 }])
  alice.g.clearPendingCommitSync()
  t.is(alice.g.pendingCommit(), undefined)
  t.is(alice.g.members().length, 3)
  await assertRoundTrip(t, alice, [bob], 'nothing changed')
  bob.g.delete()
  await assertCode(t, () => bob.g.epoch, 'ERR_GROUP_INACTIVE')
  await assertCode(t, () => bob.g.createMessageSync('x'), 'ERR_GROUP_INACTIVE')
})

test('external PSKs: stored by every member, proposed by reference or committed by value', async (t) => {
  const { alice, bob, carol } = await trio()
  const pskId = new TextEncoder().encode('shared-secret-1')
  const psk = { type: 'external' as const, pskId }
  await assertCode(t, () => alice.g.proposePreSharedKeySync(psk), 'ERR_PSK_NOT_FOUND')
  for (const c of [alice, bob, carol]) c.provider.storeExternalPsk(pskId, new Uint8Array(32).fill(7))
  const proposal = alice.g.proposePreSharedKeySync(psk)
  for (const c of [bob, carol]) {
    const p = await receiveProposal(c, proposal.message)
    t.is(p.proposal.proposal.type, 'preSharedKey')
  }
  const { commit } = await bob.g.commitToPendingProposals()
  bob.g.mergePendingCommitSync()
  const staged = await applyCommit(alice, commit)
  const pskProposal = staged.stagedCommit.pskProposals[0]
  t.deepEqual(pskProposal.psk.type === 'external' && Buffer.from(pskProposal.psk.pskId), Buffer.from(pskId))
  await applyCommit(carol, commit)
  assertAgree(t, [alice, bob, carol])

  const byValue = await carol.g.commit({ psks: [psk] })
  carol.g.mergePendingCommitSync()
  for (const c of [alice, bob]) await applyCommit(c, byValue.commit)
  assertAgree(t, [alice, bob, carol])
  // A member without the secret cannot process a commit that injects it.
  bob.provider.deleteExternalPsk(pskId)
  const third = await alice.g.commit({ psks: [psk] })
  alice.g.mergePendingCommitSync()
  await assertCode(t, () => bob.g.processMessage(third.commit), 'ERR_PSK_NOT_FOUND')
})

test('resumption PSKs of a past epoch can be injected when members keep them', async (t) => {
  // The resumption PSK store is sized when a member joins: joiners pass it in their join config.
  const { alice, bob, carol } = await trio({ numberOfResumptionPsks: 4 })
  const first = await alice.g.selfUpdate()
  alice.g.mergePendingCommitSync()
  for (const c of [bob, carol]) await applyCommit(c, first.commit)
  const psk = { type: 'resumption' as const, groupId: alice.g.groupId, epoch: 1n }
  const { commit } = await alice.g.commit({ psks: [psk] })
  alice.g.mergePendingCommitSync()
  const staged = await applyCommit(bob, commit)
  t.is(staged.stagedCommit.pskProposals[0].psk.type, 'resumption')
  await applyCommit(carol, commit)
  assertAgree(t, [alice, bob, carol])
  await assertCode(t, () => alice.g.commit({ psks: [{ ...psk, epoch: 40n }] }), 'ERR_PSK_NOT_FOUND')
})

test('committing while a commit is pending is refused', async (t) => {
  const { alice } = await trio()
  await alice.g.selfUpdate()
  await assertCode(t, () => alice.g.commit({ removes: [1] }), 'ERR_PENDING_COMMIT')
  await assertCode(t, () => alice.g.commitToPendingProposals(), 'ERR_PENDING_COMMIT')
  await assertCode(t, () => alice.g.proposeRemoveMemberSync(1), 'ERR_PENDING_COMMIT')
  const unused: ProcessedMessage | undefined = undefined
  t.is(unused, undefined)
})
