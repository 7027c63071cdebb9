// Regression tests for the correctness issue (#9): each test failed before its fix.
import test from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  BasicCredential,
  ExtensionType,
  JoinProposal,
  KeyPackage,
  MlsGroup,
  OpenMlsError,
  ProcessedWelcome,
  Provider,
  SignatureKeyPair,
  type Extension,
} from 'openmls-node'
import { Client, add, applyCommit, pair, assertAgree, assertCode, assertRoundTrip } from './helpers.mjs'


const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

// 1. Concurrent processMessage Promises on one group.

test('64 concurrent processMessage Promises on one group all succeed, in call order', async (t) => {
  const { alice, bob } = await pair()
  // More messages than the sender ratchet's out-of-order tolerance (5): any reordering loses some.
  const messages = Array.from({ length: 64 }, (_, i) => alice.g.createMessageSync(`message ${i}`))
  const finished: number[] = []
  const results = await Promise.all(
    messages.map((m, i) =>
      bob.g.processMessage(m).then((p) => {
        finished.push(i)
        return p
      }),
    ),
  )
  t.deepEqual(
    results.map((p) => (p.type === 'application' ? text(p.data) : p.type)),
    messages.map((_, i) => `message ${i}`),
  )
  t.deepEqual(finished, messages.map((_, i) => i), 'settled in call order')
  await assertRoundTrip(t, bob, [alice], 'after the burst')
})

test('a synchronous call that would overtake a pending Promise is ERR_GROUP_BUSY; getters still answer', async (t) => {
  const { alice, bob } = await pair()
  // A handshake message goes to the thread pool (an in-memory application message with nothing
  // queued would run inline and never be pending).
  const proposal = alice.g.proposeSelfUpdateSync()
  alice.g.clearPendingProposalsSync()
  const pending = bob.g.processMessage(proposal.message)
  await assertCode(t, () => bob.g.createMessageSync('would overtake'), 'ERR_GROUP_BUSY')
  await assertCode(t, () => bob.g.processMessageSync(alice.g.createMessageSync('also')), 'ERR_GROUP_BUSY')
  t.is(bob.g.epoch, 1n)
  const first = await pending
  t.is(first.type, 'proposal')
  // Once settled, synchronous calls work again (and the skipped message still decrypts).
  await assertRoundTrip(t, bob, [alice], 'idle again')
})

test('a failing Promise operation does not stall the queue behind it', async (t) => {
  const { alice, bob } = await pair()
  const bad = bob.g.processMessage(new Uint8Array([1, 2, 3]))
  const good = bob.g.processMessage(alice.g.createMessageSync('behind a failure'))
  await assertCode(t, () => bad, 'ERR_MALFORMED_MESSAGE')
  const p = await good
  t.is(p.type === 'application' && text(p.data), 'behind a failure')
})

// 3. Stale handles.

test('loadGroup returns the live handle: one group, one state', async (t) => {
  const { alice, bob } = await pair()
  const id = bob.g.groupId
  const first = await bob.provider.loadGroup(id)
  const second = bob.provider.loadGroupSync(id)
  t.is(first, bob.g)
  t.is(second, bob.g)
  // What one reference does, the other sees: they cannot diverge.
  await applyCommit({ ...bob, g: first } as unknown as Client, (await alice.g.selfUpdate()).commit)
  alice.g.mergePendingCommitSync()
  t.is(second.epoch, 2n)
  assertAgree(t, [alice, bob])
})

test('a rejoin with replaceOldGroup retires the old handle: ERR_STALE_HANDLE, isActive false, storage untouched', async (t) => {
  const { alice, bob } = await pair()
  const old = bob.g
  // Alice re-adds Bob (a fork resolution by re-adding): he rejoins the same group id.
  const { commit: removal } = await alice.g.removeMembers([old.ownLeafIndex])
  alice.g.mergePendingCommitSync()
  const readd = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  void removal
  const fresh = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: readd.welcome, replaceOldGroup: true })
  t.not(fresh, old)
  t.false(old.isActive)
  await assertCode(t, () => old.selfUpdateSync(), 'ERR_STALE_HANDLE')
  await assertCode(t, () => old.createMessageSync('from the past'), 'ERR_STALE_HANDLE')
  t.is(await bob.provider.loadGroup(fresh.groupId), fresh)
  bob.group = fresh
  assertAgree(t, [alice, bob])
  await assertRoundTrip(t, alice, [bob], 'the new handle is the group')
})

test('free() releases a handle at once; loadGroup then reads the group from storage again', async (t) => {
  const { alice, bob } = await pair()
  const id = bob.g.groupId
  const before = Buffer.from(bob.g.epochAuthenticator())
  bob.g.free()
  t.false(bob.g.isActive)
  await assertCode(t, () => bob.g.epochAuthenticator(), 'ERR_STALE_HANDLE')
  // Two loads racing on the thread pool agree on one handle.
  const [reloaded, raced] = await Promise.all([bob.provider.loadGroup(id), bob.provider.loadGroup(id)])
  t.is(raced, reloaded)
  t.not(reloaded, bob.g)
  t.deepEqual(Buffer.from(reloaded.epochAuthenticator()), before)
  bob.group = reloaded
  {
    using scoped = await bob.provider.loadGroup(id)
    t.is(scoped, reloaded)
  }
  await assertCode(t, () => reloaded.epoch, 'ERR_STALE_HANDLE')
  bob.group = await bob.provider.loadGroup(id)
  await assertRoundTrip(t, alice, [bob], 'still a member')
})

// 4. Credential validation leaks.

test('a refused StagedWelcome cannot become a group, and the key package stays usable', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup()
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  const staged = ProcessedWelcome.newFromWelcome({ provider: bob.provider, signer: bob.signer, welcome }).intoStagedWelcome()
  await assertCode(t, () => staged.validate(() => false), 'ERR_CREDENTIAL_REJECTED')
  await assertCode(t, () => staged.intoGroup(), 'ERR_CREDENTIAL_REJECTED')
  t.is(bob.provider.keyPackages().length, 1, 'the key package was not consumed')
  t.deepEqual(bob.provider.listGroups(), [])
  // joinFromWelcome with a refusing validator consumes nothing either.
  await assertCode(t, () => MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome, validateCredential: async () => false }), 'ERR_CREDENTIAL_REJECTED')
  t.is(bob.provider.keyPackages().length, 1)
  // The same Welcome, with a verdict that accepts it, joins.
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome, validateCredential: () => true })
  t.is(bob.provider.keyPackages().length, 0, 'a successful join consumes it')
  assertAgree(t, [alice, bob])
})

test('a validator that throws is ERR_VALIDATOR_FAILED, with the cause, and uses up nothing', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup()
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  const outage = new Error('directory unreachable')
  const error = await t.throwsAsync(() =>
    MlsGroup.joinFromWelcome({
      provider: bob.provider,
      signer: bob.signer,
      welcome,
      validateCredential: () => {
        throw outage
      },
    }),
  )
  t.true(error instanceof OpenMlsError)
  t.is((error as OpenMlsError).code, 'ERR_VALIDATOR_FAILED')
  t.is((error as OpenMlsError).cause, outage)
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome })

  // A commit refused, or met by a throwing validator, keeps its key: it can be processed again.
  const carol = new Client('carol')
  const { commit } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, carol.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  bob.g.setCredentialValidator(async () => {
    throw outage
  })
  const failed = await t.throwsAsync(() => bob.g.processMessage(commit))
  t.is((failed as OpenMlsError).code, 'ERR_VALIDATOR_FAILED')
  t.is((failed as OpenMlsError).cause, outage)
  bob.g.setCredentialValidator((c) => String(c) !== 'carol')
  await assertCode(t, () => bob.g.processMessage(commit), 'ERR_CREDENTIAL_REJECTED')
  await assertCode(t, () => bob.g.processMessageSync(commit), 'ERR_CREDENTIAL_REJECTED')
  t.is(bob.g.epoch, 1n)
  bob.g.setCredentialValidator(() => true)
  await applyCommit(bob, commit)
  assertAgree(t, [alice, bob])
  await assertRoundTrip(t, alice, [bob], 'after the accepted commit')
})

// 7. Rejections cost nothing.

test('a rejected message reloads nothing: state set in memory survives it', async (t) => {
  const { alice, bob } = await pair()
  // The AAD for the next message lives in memory only; a reload from storage would clear it.
  bob.g.setAad(new Uint8Array([7, 7, 7]))
  const valid = alice.g.createMessageSync('real')
  const tampered = Uint8Array.from(valid)
  tampered[tampered.length - 2] ^= 1
  await assertCode(t, () => bob.g.processMessage(new Uint8Array(40).fill(3)), 'ERR_MALFORMED_MESSAGE')
  await assertCode(t, () => bob.g.processMessage(tampered), 'ERR_DECRYPTION_FAILED')
  await assertCode(t, () => bob.g.processMessage(new Client('eve').createGroup().createMessageSync('elsewhere')), 'ERR_WRONG_GROUP')
  t.deepEqual([...bob.g.aad], [7, 7, 7])
  const p = await bob.g.processMessage(valid)
  t.is(p.type === 'application' && text(p.data), 'real')
})

test('a processed commit carries its sender, epoch, group, AAD and credential, from processMessage and processMessageSync alike', async (t) => {
  // A commit crosses N-API packed (one byte array beside its staged commit's handle): every field
  // must come back as the union's fields would have, whichever call processed it.
  const alice = new Client('alice')
  const bob = new Client('bob')
  const carol = new Client('carol')
  alice.createGroup()
  await add(alice, [bob, carol])
  const groupId = Buffer.from(alice.g.groupId)
  alice.g.setAad(new Uint8Array([1, 2, 3]))
  const { commit } = alice.g.selfUpdateSync()
  alice.g.mergePendingCommitSync()
  const sync = bob.g.processMessageSync(commit)
  const promise = await carol.g.processMessage(commit)
  for (const [p, who] of [[sync, 'sync'], [promise, 'promise']] as const) {
    if (p.type !== 'commit') return t.fail(`${who}: ${p.type}`)
    t.is(p.kind, 'commit', who)
    t.deepEqual(p.sender, { type: 'member', leafIndex: 0 }, who)
    t.is(p.epoch, 1n, `${who}: sent in epoch 1`)
    t.deepEqual(Buffer.from(p.groupId), groupId, who)
    t.deepEqual([...p.authenticatedData], [1, 2, 3], who)
    t.true(p.credential instanceof BasicCredential, who)
    t.is(text((p.credential as BasicCredential).identity), 'alice', who)
    t.is(p.stagedCommit.epoch, 2n, who)
  }
  if (sync.type !== 'commit' || promise.type !== 'commit') return
  bob.g.mergeStagedCommitSync(sync.stagedCommit)
  await carol.g.mergeStagedCommit(promise.stagedCommit)
  assertAgree(t, [alice, bob, carol])
})

// 8. Numbers.

test('numbers are range-checked, never coerced', async (t) => {
  const { alice } = await pair()
  for (const bad of [-1, 2 ** 40, 1.5, Number.NaN]) {
    const error = await t.throwsAsync(async () => alice.g.setConfiguration({ paddingSize: bad }))
    t.is((error as OpenMlsError).code, 'ERR_INVALID_ARGUMENT')
    t.regex(error!.message, /paddingSize must be an integer from 0 to 4294967295/)
  }
  t.is(alice.g.configuration().paddingSize, 0)
  await assertCode(t, () => alice.g.removeMembers([2 ** 32]), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.proposeCustomProposalSync(70000, new Uint8Array()), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.resumptionPsk(-1n), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => SignatureKeyPair.forCiphersuite(-1 as never), 'ERR_INVALID_ARGUMENT')
  // exportSecret names one range, whatever the number.
  const limits = new Set<string>()
  for (const length of [0, 8161, 1e6, 2 ** 40, -1, 2.5]) {
    const error = await t.throwsAsync(async () => alice.g.exportSecret('x', new Uint8Array(), length))
    t.is((error as OpenMlsError).code, 'ERR_INVALID_ARGUMENT')
    limits.add(error!.message)
  }
  t.deepEqual([...limits], ['length must be an integer from 1 to 8160 for this ciphersuite (255 hash lengths)'])
  t.is(alice.g.exportSecret('x', new Uint8Array(), 8160).length, 8160)
})

// 10. One rule for group context extensions.

test('group context extensions follow one rule, checked before anything is sent', async (t) => {
  const custom = 0xff0a
  const capabilities = { extensions: [custom] }
  const clients = ['alice', 'bob'].map((n) => new Client(n))
  const [alice, bob] = clients
  const unknown: Extension = { type: 'unknown', extensionType: custom, data: new Uint8Array([1]) }
  const required: Extension = { type: 'requiredCapabilities', extensionTypes: [custom], proposalTypes: [], credentialTypes: [] }
  const make = (extensions: Extension[]) =>
    MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, config: { capabilities, groupContextExtensions: extensions, useRatchetTreeExtension: true } })
  // Creating a group: refused without RequiredCapabilities listing the type.
  await assertCode(t, () => make([unknown]), 'ERR_INVALID_EXTENSION')
  alice.group = make([])
  const kp = KeyPackage.builder()
    .leafNodeCapabilities(capabilities)
    .build({ ciphersuite: bob.suite, provider: bob.provider, signer: bob.signer, credentialWithKey: bob.credentialWithKey })
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, kp.toBytes())])
  alice.g.mergePendingCommitSync()
  await bob.join(welcome)
  // The commit and the proposal: the same code, and no proposal left behind.
  await assertCode(t, () => alice.g.updateGroupContextExtensionsSync([unknown]), 'ERR_INVALID_EXTENSION')
  await assertCode(t, () => alice.g.proposeGroupContextExtensionsSync([unknown]), 'ERR_INVALID_EXTENSION')
  await assertCode(t, () => alice.g.commitSync({ groupContextExtensions: [unknown] }), 'ERR_INVALID_EXTENSION')
  t.deepEqual(alice.g.pendingProposals(), [])
  await assertRoundTrip(t, alice, [bob], 'not stuck')
  // Listed in RequiredCapabilities, every path accepts it.
  t.truthy(make([required, unknown]))
  const { message } = alice.g.proposeGroupContextExtensionsSync([required, unknown])
  const seen = await bob.g.processMessage(message)
  if (seen.type === 'proposal') bob.g.storePendingProposalSync(seen.proposal)
  const { commit } = await alice.g.commitToPendingProposals()
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, commit)
  t.true(bob.g.groupContextExtensions().some((e) => e.type === 'unknown' && e.extensionType === custom))
  // A requirement a member cannot meet is refused before it is sent.
  const stricter: Extension = { type: 'requiredCapabilities', extensionTypes: [custom, 0xff0b], proposalTypes: [], credentialTypes: [] }
  const error = await t.throwsAsync(async () => alice.g.proposeGroupContextExtensionsSync([stricter, unknown]))
  t.is((error as OpenMlsError).code, 'ERR_INVALID_EXTENSION')
  t.regex(error!.message, /does not list extension type 0xff0b/)
  t.is(ExtensionType.RequiredCapabilities, 3)
  assertAgree(t, [alice, bob])
})

// 11. Memory and buffers.

test('the binding never hands V8 an external buffer (Electron-safe, freed by the GC alone)', (t) => {
  const src = fileURLToPath(new URL('../src/', import.meta.url))
  const offenders: string[] = []
  for (const file of readdirSync(src).filter((f) => f.endsWith('.rs') && f !== 'bytes.rs')) {
    const code = readFileSync(join(src, file), 'utf8')
    for (const pattern of [/bindgen_prelude::[^;]*\b(Uint8Array|Buffer|ArrayBuffer)\b/, /napi_create_external/, /\bBufferSlice\b/, /JsBuffer/]) {
      if (pattern.test(code)) offenders.push(`${file}: ${pattern}`)
    }
  }
  t.deepEqual(offenders, [])
  t.regex(readFileSync(join(src, 'bytes.rs'), 'utf8'), /napi_create_arraybuffer/)
})

// Also: consistent proposal results; a clear code for the leaver.

test('leaving returns { message, proposalRef }, and the leaver is told why it cannot send', async (t) => {
  const { alice, bob } = await pair()
  const { message, proposalRef } = bob.g.leaveGroupSync()
  const seen = await alice.g.processMessage(message)
  if (seen.type !== 'proposal') return t.fail(seen.type)
  t.deepEqual(Buffer.from(seen.proposal.proposalRef), Buffer.from(proposalRef))
  const error = await t.throwsAsync(async () => bob.g.createMessageSync('still here?'))
  t.is((error as OpenMlsError).code, 'ERR_PENDING_PROPOSALS')
  t.regex(error!.message, /asked to leave/)
  bob.g.removePendingProposalSync(proposalRef)
  await assertRoundTrip(t, bob, [alice], 'changed my mind')
  // JoinProposal.create gives the reference the members compute.
  const dave = new Client('dave')
  const kp = KeyPackage.fromBytes(dave.provider, dave.keyPackageBytes())
  const join = JoinProposal.create({ signer: dave.signer, keyPackage: kp, groupId: alice.g.groupId, epoch: alice.g.epoch })
  const atAlice = await alice.g.processMessage(join.message)
  t.is(atAlice.type, 'externalJoinProposal')
  if (atAlice.type === 'externalJoinProposal') t.deepEqual(Buffer.from(atAlice.proposal.proposalRef), Buffer.from(join.proposalRef))
})

// 9. Error messages.

test('error messages are for people: no rustdoc markup, no Debug dumps, no Rust type names, and they say what to do', async (t) => {
  const { alice, bob } = await pair()
  const messages: string[] = []
  const collect = async (fn: () => unknown) => {
    try {
      await fn()
    } catch (e) {
      messages.push((e as Error).message)
    }
  }
  const kp = bob.keyPackageBytes()
  for (const cut of [1, 7, 40, kp.length - 1]) await collect(() => KeyPackage.fromBytes(bob.provider, kp.subarray(0, cut)))
  await collect(() => bob.g.processMessage(Uint8Array.from([0, 1, 0, 9, 9, 9])))
  await collect(() => bob.g.processMessage(Uint8Array.from([...alice.g.createMessageSync('x'), 0])))
  await collect(() => MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, groupId: alice.g.groupId }))
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, new Client('carol').keyPackageBytes())])
  await collect(() => MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome }))
  t.true(messages.length >= 8)
  for (const m of messages) {
    t.notRegex(m, /\[`|`\]|Option<|Vec<|DecodingError|EndOfStream|InternalLibraryError|Error description/, m)
  }
  t.true(messages.some((m) => /truncated/.test(m)))
  t.true(messages.some((m) => /extra bytes/.test(m)))
  t.true(messages.some((m) => /no key package of this provider matches/.test(m)))
})

test('a Welcome that needs an unstored PSK says so, and the same ProcessedWelcome can be retried', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup()
  const pskId = new Uint8Array([0x70, 0x73, 0x6b])
  const secret = new Uint8Array(32).fill(9)
  alice.provider.storeExternalPsk(pskId, secret)
  const { welcome } = await alice.g.commit({ adds: [KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())], psks: [{ type: 'external', pskId }] })
  alice.g.mergePendingCommitSync()
  const error = await t.throwsAsync(async () => ProcessedWelcome.newFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: welcome! }))
  t.is((error as OpenMlsError).code, 'ERR_PSK_NOT_FOUND')
  t.regex(error!.message, /storeExternalPsk/)
  t.is(bob.provider.keyPackages().length, 1)
  bob.provider.storeExternalPsk(pskId, secret)
  const processed = ProcessedWelcome.newFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: welcome! })
  t.deepEqual(processed.psks, [{ type: 'external', pskId, nonce: processed.psks[0].type === 'external' ? processed.psks[0].nonce : undefined }])
  // A failed staging (no tree where one is needed is not the case here: pass a wrong tree) can be retried.
  await assertCode(t, () => processed.intoStagedWelcome({ ratchetTree: new Uint8Array([1, 2, 3]) }), 'ERR_MALFORMED_MESSAGE')
  bob.group = processed.intoStagedWelcome().intoGroup()
  assertAgree(t, [alice, bob])
  t.truthy(BasicCredential)
  t.truthy(Provider)
})
