// The book's "Group configuration", "Extensions" and key package builder, end to end.
import test from 'ava'
import {
  BasicCredential,
  KeyPackage,
  MlsGroup,
  X509Credential,
  type Extension,
  type MlsGroupCreateConfig,
  type MlsGroupJoinConfig,
} from 'openmls-node'
import { Client, X25519, add, applyCommit, assertAgree, assertCode, assertRoundTrip } from './helpers.mjs'

const CUSTOM = 0xff00

function groupWith(alice: Client, config: MlsGroupCreateConfig) {
  alice.group = MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, config })
  return alice.group
}

function keyPackage(c: Client, configure: (b: ReturnType<typeof KeyPackage.builder>) => unknown = () => {}) {
  const builder = KeyPackage.builder()
  configure(builder)
  return builder.build({ ciphersuite: c.suite, provider: c.provider, signer: c.signer, credentialWithKey: c.credentialWithKey })
}

async function addWithConfig(committer: Client, joiner: Client, config?: MlsGroupJoinConfig, others: Client[] = []) {
  const kp = KeyPackage.fromBytes(committer.provider, keyPackage(joiner).toBytes())
  const { commit, welcome } = await committer.g.addMembers([kp])
  committer.g.mergePendingCommitSync()
  for (const o of others) await applyCommit(o, commit)
  joiner.group = await MlsGroup.joinFromWelcome({ provider: joiner.provider, signer: joiner.signer, welcome, config })
}

test('every create-config field is applied and reads back; setConfiguration changes it', (t) => {
  const alice = new Client('alice')
  const group = groupWith(alice, {
    wireFormatPolicy: 'mixedCiphertext',
    paddingSize: 128,
    maxPastEpochs: 3,
    numberOfResumptionPsks: 4,
    useRatchetTreeExtension: true,
    senderRatchetConfiguration: { outOfOrderTolerance: 7, maximumForwardDistance: 300 },
  })
  t.deepEqual(group.configuration(), {
    wireFormatPolicy: 'mixedCiphertext',
    paddingSize: 128,
    maxPastEpochs: 3,
    keepAllPastEpochs: false,
    numberOfResumptionPsks: 4,
    useRatchetTreeExtension: true,
    senderRatchetConfiguration: { outOfOrderTolerance: 7, maximumForwardDistance: 300 },
  })
  group.setConfiguration({ paddingSize: 0, keepAllPastEpochs: true, wireFormatPolicy: 'pureCiphertext' })
  const after = group.configuration()
  t.is(after.paddingSize, 0)
  t.true(after.keepAllPastEpochs)
  t.is(after.wireFormatPolicy, 'pureCiphertext')
  t.is(after.numberOfResumptionPsks, 4, 'fields not mentioned keep their value')
})

test('wire format policy: plaintext handshakes are refused by a pure-ciphertext member and accepted by a mixed one', async (t) => {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new Client(n))
  groupWith(alice, { wireFormatPolicy: 'mixedPlaintext', useRatchetTreeExtension: true })
  await addWithConfig(alice, bob, { wireFormatPolicy: 'pureCiphertext' })
  await addWithConfig(alice, carol, { wireFormatPolicy: 'mixedCiphertext' }, [])
  // Bob missed Carol's add: bring him up to date through a fresh group instead, by checking on Carol only.
  const { commit } = await alice.g.selfUpdate()
  alice.g.mergePendingCommitSync()
  await assertCode(t, () => bob.g.processMessage(commit), 'ERR_WRONG_EPOCH')
  await applyCommit(carol, commit) // mixed accepts Alice's plaintext commit
  assertAgree(t, [alice, carol])

  const dave = new Client('dave')
  const erin = new Client('erin')
  groupWith(dave, { wireFormatPolicy: 'mixedPlaintext', useRatchetTreeExtension: true })
  await addWithConfig(dave, erin, { wireFormatPolicy: 'pureCiphertext' })
  const update = await dave.g.selfUpdate()
  dave.g.mergePendingCommitSync()
  await assertCode(t, () => erin.g.processMessage(update.commit), 'ERR_VALIDATION_FAILED')
  t.is(erin.g.epoch, 1n, 'the refused commit changed nothing')
})

test('padding makes short and long messages the same size', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  groupWith(alice, { paddingSize: 256, useRatchetTreeExtension: true })
  await add(alice, [bob])
  const short = alice.g.createMessageSync('a')
  const long = alice.g.createMessageSync('x'.repeat(150))
  t.is(short.length, long.length)
  alice.g.setConfiguration({ paddingSize: 0 })
  t.true(alice.g.createMessageSync('a').length < short.length)
  for (const m of [short, long]) t.is((await bob.g.processMessage(m)).type, 'application')
})

test('maxPastEpochs lets a late message from the previous epoch decrypt', async (t) => {
  for (const [maxPastEpochs, expect] of [[0, 'ERR_WRONG_EPOCH'], [2, 'ok']] as const) {
    const alice = new Client('alice')
    const bob = new Client('bob')
    groupWith(alice, { useRatchetTreeExtension: true })
    await addWithConfig(alice, bob, { maxPastEpochs })
    const late = alice.g.createMessageSync('sent in epoch 1')
    const { commit } = await alice.g.selfUpdate()
    alice.g.mergePendingCommitSync()
    await applyCommit(bob, commit)
    if (expect === 'ok') {
      const m = await bob.g.processMessage(late)
      t.is(m.type === 'application' && new TextDecoder().decode(m.data), 'sent in epoch 1')
      t.is(m.epoch, 1n)
    } else {
      await assertCode(t, () => bob.g.processMessage(late), expect)
    }
  }
})

test('sender ratchet configuration: out-of-order tolerance and maximum forward distance', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  groupWith(alice, { useRatchetTreeExtension: true })
  await addWithConfig(alice, bob, { senderRatchetConfiguration: { outOfOrderTolerance: 5, maximumForwardDistance: 3 } })
  const msgs = Array.from({ length: 6 }, (_, i) => alice.g.createMessageSync(`m${i}`))
  // Generation 5 is more than 3 ahead of Bob's ratchet (at 0).
  await assertCode(t, () => bob.g.processMessage(msgs[5]), 'ERR_DECRYPTION_FAILED')
  t.is((await bob.g.processMessage(msgs[2])).type, 'application') // 2 ahead: fine
  t.is((await bob.g.processMessage(msgs[0])).type, 'application') // out of order: fine
  t.is((await bob.g.processMessage(msgs[1])).type, 'application')
  t.is((await bob.g.processMessage(msgs[5])).type, 'application', 'within reach once the ratchet moved on')
})

test('resumption PSKs of past epochs are kept as configured and agree across members', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  groupWith(alice, { numberOfResumptionPsks: 3, useRatchetTreeExtension: true })
  await addWithConfig(alice, bob, { numberOfResumptionPsks: 3 })
  const epoch1 = Buffer.from(alice.g.resumptionPsk())
  t.deepEqual(Buffer.from(bob.g.resumptionPsk()), epoch1)
  const { commit } = await alice.g.selfUpdate()
  alice.g.mergePendingCommitSync()
  await applyCommit(bob, commit)
  t.deepEqual(Buffer.from(alice.g.resumptionPsk(1n)), epoch1)
  t.deepEqual(Buffer.from(bob.g.resumptionPsk(1n)), epoch1)
  t.notDeepEqual(Buffer.from(alice.g.resumptionPsk()), epoch1)
  t.deepEqual(Buffer.from(alice.g.confirmationTag()), Buffer.from(bob.g.confirmationTag()))
  await assertCode(t, () => alice.g.resumptionPsk(99n), 'ERR_WRONG_EPOCH')
})

test('group context extensions: required capabilities and a custom extension gate who may join', async (t) => {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new Client(n))
  const extensions: Extension[] = [
    { type: 'requiredCapabilities', extensionTypes: [CUSTOM], proposalTypes: [], credentialTypes: [] },
    { type: 'unknown', extensionType: CUSTOM, data: new Uint8Array([1, 2, 3]) },
  ]
  groupWith(alice, { groupContextExtensions: extensions, capabilities: { extensions: [CUSTOM] }, useRatchetTreeExtension: true })
  const bobKp = keyPackage(bob, (b) => b.leafNodeCapabilities({ extensions: [CUSTOM] }))
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bobKp.toBytes())])
  alice.g.mergePendingCommitSync()
  await bob.join(welcome)
  t.deepEqual(bob.g.groupContextExtensions(), extensions)
  t.deepEqual(alice.g.groupContextExtensions(), extensions)
  // Carol's key package does not support the required extension.
  await assertCode(t, async () => alice.g.addMembers([KeyPackage.fromBytes(alice.provider, carol.keyPackageBytes())]), 'ERR_INVALID_KEY_PACKAGE')
  await assertRoundTrip(t, bob, [alice], 'still fine')
})

test('leaf node extensions and capabilities appear on the leaf', async (t) => {
  const alice = new Client('alice')
  groupWith(alice, {
    leafNodeExtensions: [{ type: 'applicationId', applicationId: new TextEncoder().encode('device-7') }, { type: 'unknown', extensionType: CUSTOM, data: new Uint8Array([9]) }],
  })
  const leaf = alice.g.ownLeafNode()
  t.deepEqual(leaf.extensions, [
    { type: 'applicationId', applicationId: new TextEncoder().encode('device-7') },
    { type: 'unknown', extensionType: CUSTOM, data: new Uint8Array([9]) },
  ])
  t.true(leaf.capabilities.extensions.includes(CUSTOM), 'custom leaf extensions are listed in the capabilities automatically')
  t.is(leaf.source, 'keyPackage')
  t.deepEqual(Buffer.from(leaf.signatureKey), Buffer.from(alice.signer.publicKey))
  t.is(leaf.encryptionKey.length, 32)
})

test('key package builder: lifetime, extensions, capabilities and last resort', async (t) => {
  const bob = new Client('bob')
  const now = Math.floor(Date.now() / 1000)
  const kp = keyPackage(bob, (b) =>
    b
      .keyPackageLifetime({ notBefore: now - 60, notAfter: now + 3600 })
      .keyPackageExtensions([{ type: 'unknown', extensionType: CUSTOM, data: new Uint8Array([7]) }])
      .leafNodeExtensions([{ type: 'applicationId', applicationId: new Uint8Array([1]) }])
      .leafNodeCapabilities({ ciphersuites: [1, 3], proposals: [0xfff0] })
      .markAsLastResort(),
  )
  const parsed = KeyPackage.fromBytes(new Client('x').provider, kp.toBytes())
  t.deepEqual(parsed.lifetime, { notBefore: now - 60, notAfter: now + 3600 })
  t.true(parsed.lastResort)
  t.deepEqual(parsed.extensions, [{ type: 'unknown', extensionType: CUSTOM, data: new Uint8Array([7]) }, { type: 'lastResort' }])
  t.deepEqual(parsed.leafNode.extensions, [{ type: 'applicationId', applicationId: new Uint8Array([1]) }])
  t.deepEqual(parsed.leafNode.capabilities.ciphersuites, [1, 3])
  t.deepEqual(parsed.leafNode.capabilities.proposals, [0xfff0])
  t.true(parsed.leafNode.capabilities.extensions.includes(10), 'last resort is listed in the capabilities automatically')

  const valid = keyPackage(bob, (b) => b.keyPackageLifetime({ validForSeconds: 600 }))
  t.true(valid.lifetime.notAfter - now >= 599 && valid.lifetime.notAfter - now <= 601)
})

test('an expired key package is refused on receipt', async (t) => {
  const bob = new Client('bob')
  const expired = keyPackage(bob, (b) => b.keyPackageLifetime({ notBefore: 1_000_000, notAfter: 2_000_000 }))
  await assertCode(t, () => KeyPackage.fromBytes(new Client('x').provider, expired.toBytes()), 'ERR_INVALID_KEY_PACKAGE')
  await assertCode(t, () => keyPackage(bob, (b) => b.keyPackageLifetime({ notBefore: 10, notAfter: 5 })), 'ERR_INVALID_ARGUMENT')
})

test('a last-resort key package can be used by two groups; an ordinary one only once', async (t) => {
  const bob = new Client('bob')
  const lastResort = keyPackage(bob, (b) => b.markAsLastResort()).toBytes()
  const ordinary = bob.keyPackageBytes()
  for (const [bytes, secondTry] of [[lastResort, 'ok'], [ordinary, 'ERR_NO_MATCHING_KEY_PACKAGE']] as const) {
    const welcomes: Uint8Array[] = []
    for (const name of ['alice', 'carol']) {
      const owner = new Client(name)
      groupWith(owner, { useRatchetTreeExtension: true })
      const { welcome } = await owner.g.addMembers([KeyPackage.fromBytes(owner.provider, bytes)])
      owner.g.mergePendingCommitSync()
      welcomes.push(welcome)
    }
    await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: welcomes[0] })
    if (secondTry === 'ok') await t.notThrowsAsync(MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: welcomes[1] }))
    else await assertCode(t, () => MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome: welcomes[1] }), secondTry)
  }
})

test('X.509 credentials carry their certificate chain through key packages and groups', async (t) => {
  const chain = [new TextEncoder().encode('leaf-der'), new TextEncoder().encode('intermediate-der')]
  const bob = new Client('bob')
  const credentialWithKey = { credential: new X509Credential(chain), signatureKey: bob.signer.publicKey }
  const kp = KeyPackage.builder().build({ ciphersuite: X25519, provider: bob.provider, signer: bob.signer, credentialWithKey })
  const alice = new Client('alice')
  groupWith(alice, { useRatchetTreeExtension: true, capabilities: { credentials: [1, 2] } })
  const parsed = KeyPackage.fromBytes(alice.provider, kp.toBytes())
  t.true(parsed.credential instanceof X509Credential)
  t.deepEqual((parsed.credential as X509Credential).certificates, chain)
  t.true(parsed.leafNode.capabilities.credentials.includes(2))
  const { welcome } = await alice.g.addMembers([parsed])
  alice.g.mergePendingCommitSync()
  await bob.join(welcome)
  const member = alice.g.members()[1]
  t.true(member.credential instanceof X509Credential)
  t.deepEqual((member.credential as X509Credential).certificates, chain)
  await assertRoundTrip(t, alice, [bob], 'to the certificate holder')
  t.throws(() => new X509Credential([]))
})

test('extensions where they are not allowed are ERR_INVALID_EXTENSION', async (t) => {
  const alice = new Client('alice')
  await assertCode(t, () => groupWith(alice, { groupContextExtensions: [{ type: 'lastResort' }] }), 'ERR_INVALID_EXTENSION')
  await assertCode(t, () => groupWith(alice, { groupContextExtensions: [{ type: 'applicationId', applicationId: new Uint8Array([1]) }] }), 'ERR_INVALID_EXTENSION')
  await assertCode(t, () => groupWith(alice, { groupContextExtensions: [{ type: 'unknown', extensionType: 3, data: new Uint8Array() }] }), 'ERR_INVALID_EXTENSION')
  await assertCode(t, () => keyPackage(alice, (b) => b.keyPackageExtensions([{ type: 'applicationId', applicationId: new Uint8Array([1]) }])), 'ERR_INVALID_EXTENSION')
  await assertCode(t, () => groupWith(alice, { wireFormatPolicy: 'sometimes' as never }), 'ERR_INVALID_ARGUMENT')
  const error = await t.throwsAsync(async () => groupWith(alice, { wireFormatPolicy: 'sometimes' as never }))
  t.regex(error?.message ?? '', /wireFormatPolicy must be one of 'pureCiphertext', 'purePlaintext', 'mixedCiphertext', 'mixedPlaintext'/)
})

test('skipLifetimeValidation admits a group whose leaves are outside their lifetime', async (t) => {
  const alice = new Client('alice')
  const bob = new Client('bob')
  groupWith(alice, { lifetime: { notBefore: 1_000_000, notAfter: 2_000_000 }, useRatchetTreeExtension: true })
  t.deepEqual(alice.g.ownLeafNode().lifetime, { notBefore: 1_000_000, notAfter: 2_000_000 })
  // Without an update, Alice's expired leaf stays in the tree Bob validates.
  const { welcome } = await alice.g.addMembersWithoutUpdate([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  const error = await t.throwsAsync(bob.join(welcome))
  t.regex((error as Error).message, /lifetime|Lifetime|expired|Expired/)
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome, skipLifetimeValidation: true })
  assertAgree(t, [alice, bob])
  t.truthy(new BasicCredential('x'))
})
