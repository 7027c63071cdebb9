// GREASE (RFC 9420 §13.5) interop.
//
// 1. openmls 0.9.2 refuses a key package or leaf that carries a GREASE *extension* (MLSpp sends
//    them): it classifies the extension as `Unknown(0x0a0a)` but the capabilities entry as
//    `Grease(0x0a0a)`, and the two never compare equal (openmls issue #2156, fixed on its main
//    branch by PR #2162, in no release yet). The tests below pin today's typed refusal. They FAIL
//    the day a released openmls accepts GREASE extensions: then flip them, and update the GREASE
//    section of CONFORMANCE.md (its text is GREASE_SECTION in __test__/vectors.test.mts) and the
//    README's interop notes.
// 2. GREASE values in *capabilities* only are accepted by openmls 0.9.2 and ts-mls 1.6.4, both
//    ways, so openmls-node offers them as an opt-in: `capabilities: { grease: true }`.
import test, { type ExecutionContext } from 'ava'
import { ed25519 } from '@noble/curves/ed25519.js'
import * as mls from 'ts-mls'
import { BasicCredential, KeyPackage, MlsGroup, OpenMlsError, Provider, SignatureKeyPair, type ErrorCode } from 'openmls-node'
import { greaseCapabilities } from 'ts-mls/grease.js'
import { decodeMessage, encodeMessage, tsImpl } from './interop-peers.mjs'

const GREASE = 0x0a0a
const CUSTOM = 0xff01
const GREASE_VALUES = [0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a, 0x8a8a, 0x9a9a, 0xaaaa, 0xbaba, 0xcaca, 0xdada, 0xeaea]
const isGrease = (v: number) => GREASE_VALUES.includes(v)
const utf8 = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

const FLIP = 'openmls now accepts GREASE extensions: flip this test and update CONFORMANCE.md/README'

// --- a minimal TLS encoder for RFC 9420 structures ------------------------------------------

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) (out.set(p, at), (at += p.length))
  return out
}
/** RFC 9420 §2.1.2 variable-length size. */
const varint = (n: number) => (n < 64 ? Uint8Array.of(n) : n < 16384 ? Uint8Array.of(0x40 | (n >> 8), n & 0xff) : Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff))
const vl = (b: Uint8Array) => cat(varint(b.length), b)
const u8 = (n: number) => Uint8Array.of(n)
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff)
const u64 = (n: number) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}
const u16list = (l: number[]) => vl(cat(...l.map(u16)))
const extensions = (l: { type: number; data: Uint8Array }[]) => vl(cat(...l.map((e) => cat(u16(e.type), vl(e.data)))))
/** SignWithLabel (RFC 9420 §5.1.2) with Ed25519. */
const signWithLabel = (secret: Uint8Array, label: string, content: Uint8Array) => ed25519.sign(cat(vl(utf8(`MLS 1.0 ${label}`)), vl(content)), secret)

/** The Ed25519 secret of an exported signer: `version(1) || private<V> || public<V> || scheme`. */
function ed25519Secret(signer: SignatureKeyPair): Uint8Array {
  const bytes = signer.toBytes()
  if (bytes[0] !== 1 || bytes[1] !== 32) throw new Error('not an Ed25519 export')
  return bytes.subarray(2, 34)
}

interface HandMade {
  capabilityExtensions: number[]
  leafExtensions?: { type: number; data: Uint8Array }[]
  keyPackageExtensions?: { type: number; data: Uint8Array }[]
}

/**
 * A KeyPackage (suite 1) encoded and signed by hand, as another implementation would send it:
 * the leaf's capabilities list `capabilityExtensions`; the leaf and the key package carry the
 * given extensions. Returned as an MLSMessage.
 */
function handMadeKeyPackage(signer: SignatureKeyPair, o: HandMade): Uint8Array {
  const secret = ed25519Secret(signer)
  const now = Math.floor(Date.now() / 1000)
  const capabilities = cat(u16list([1]), u16list([1]), u16list(o.capabilityExtensions), u16list([]), u16list([1]))
  const leafTbs = cat(
    vl(new Uint8Array(32).fill(0x11)), // encryption_key (an X25519 public key)
    vl(signer.publicKey), // signature_key
    u16(1), vl(utf8('peer')), // credential: basic
    capabilities,
    u8(1), // leaf_node_source = key_package
    u64(now - 3600), u64(now + 86400 * 30), // lifetime
    extensions(o.leafExtensions ?? []),
  )
  const leaf = cat(leafTbs, vl(signWithLabel(secret, 'LeafNodeTBS', leafTbs)))
  const kpTbs = cat(u16(1), u16(1), vl(new Uint8Array(32).fill(0x22)), leaf, extensions(o.keyPackageExtensions ?? []))
  const kp = cat(kpTbs, vl(signWithLabel(secret, 'KeyPackageTBS', kpTbs)))
  return cat(u16(1), u16(5), kp) // MLSMessage: mls10, mls_key_package
}

function assertTypedRefusal(t: ExecutionContext, fn: () => unknown, code: ErrorCode, message: RegExp) {
  let error: unknown
  try {
    fn()
  } catch (e) {
    error = e
  }
  t.truthy(error, FLIP)
  t.true(error instanceof OpenMlsError, `${FLIP} (got ${String(error)})`)
  t.not((error as OpenMlsError).code, 'ERR_INTERNAL')
  t.is((error as OpenMlsError).code, code, `${FLIP} (got ${(error as OpenMlsError).code}: ${(error as Error).message})`)
  t.regex((error as Error).message, message, FLIP)
}

// --- 1. GREASE extensions: refused by openmls 0.9.2 -----------------------------------------

test('the hand-made key package encoder is right: the same key package with a custom extension type is accepted', (t) => {
  const provider = new Provider()
  const signer = SignatureKeyPair.forCiphersuite(1)
  const bytes = handMadeKeyPackage(signer, {
    capabilityExtensions: [CUSTOM],
    leafExtensions: [{ type: CUSTOM, data: utf8('leaf') }],
    keyPackageExtensions: [{ type: CUSTOM, data: utf8('kp') }],
  })
  const kp = KeyPackage.fromBytes(provider, bytes)
  t.deepEqual(kp.extensions, [{ type: 'unknown', extensionType: CUSTOM, data: utf8('kp') }])
  t.deepEqual(kp.leafNode.capabilities.extensions, [CUSTOM])
  t.is(text((kp.leafNode.extensions[0] as { data: Uint8Array }).data), 'leaf')
})

test('GREASE only in the capabilities of a hand-made key package is accepted', (t) => {
  const kp = KeyPackage.fromBytes(new Provider(), handMadeKeyPackage(SignatureKeyPair.forCiphersuite(1), { capabilityExtensions: [GREASE, 0xdada] }))
  t.deepEqual(kp.leafNode.capabilities.extensions, [GREASE, 0xdada])
})

test(`a key package extension of GREASE type 0x0A0A is refused, typed (${FLIP})`, (t) => {
  const bytes = handMadeKeyPackage(SignatureKeyPair.forCiphersuite(1), {
    capabilityExtensions: [GREASE],
    keyPackageExtensions: [{ type: GREASE, data: new Uint8Array() }],
  })
  assertTypedRefusal(t, () => KeyPackage.fromBytes(new Provider(), bytes), 'ERR_INVALID_KEY_PACKAGE', /key package extension is not supported in the leaf's capabilities/)
})

test(`a leaf node extension of GREASE type 0x0A0A passes KeyPackage.fromBytes, but adding the key package is refused, typed (${FLIP})`, async (t) => {
  const bytes = handMadeKeyPackage(SignatureKeyPair.forCiphersuite(1), {
    capabilityExtensions: [GREASE],
    leafExtensions: [{ type: GREASE, data: utf8('grease') }],
  })
  // openmls 0.9.2 checks a key package's own extensions against the capabilities when it
  // validates the key package, and the leaf's extensions only when the leaf joins a tree.
  const provider = new Provider()
  const kp = KeyPackage.fromBytes(provider, bytes)
  const signer = SignatureKeyPair.forCiphersuite(1)
  const group = MlsGroup.create({ provider, signer, credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: signer.publicKey }, config: { ciphersuite: 1 } })
  let error: unknown
  try {
    await group.addMembers([kp])
  } catch (e) {
    error = e
  }
  t.true(error instanceof OpenMlsError, `${FLIP} (got ${String(error)})`)
  t.not((error as OpenMlsError).code, 'ERR_INTERNAL')
  t.is((error as OpenMlsError).code, 'ERR_INVALID_EXTENSION', FLIP)
  t.regex((error as Error).message, /Extensions are not acceptable/, FLIP)
})

test(`a ts-mls key package with GREASE key package and leaf extensions is refused, typed (${FLIP})`, async (t) => {
  const impl = await tsImpl(1)
  const caps: mls.Capabilities = { versions: ['mls10'], ciphersuites: ['MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'], extensions: [GREASE], proposals: [], credentials: ['basic'] }
  const grease = [{ extensionType: GREASE, extensionData: new Uint8Array() }]
  const { publicPackage } = await mls.generateKeyPackage({ credentialType: 'basic', identity: utf8('mlspp-like') }, caps, mls.defaultLifetime, grease, impl, grease)
  const bytes = encodeMessage({ wireformat: 'mls_key_package', keyPackage: publicPackage })
  assertTypedRefusal(t, () => KeyPackage.fromBytes(new Provider(), bytes), 'ERR_INVALID_KEY_PACKAGE', /./)
})

/**
 * A Welcome from ts-mls into a group whose creator's leaf carries an extension of `type` (listed
 * in its capabilities). openmls's own committer would not add such a leaf, so another
 * implementation builds the group. Returns the Welcome and the joiner.
 */
async function tsMlsWelcome(type: number) {
  const impl = await tsImpl(1)
  const caps: mls.Capabilities = { versions: ['mls10'], ciphersuites: ['MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'], extensions: [type], proposals: [], credentials: ['basic'] }
  const creator = await mls.generateKeyPackage({ credentialType: 'basic', identity: utf8('creator') }, caps, mls.defaultLifetime, [], impl, [{ extensionType: type, extensionData: utf8('leaf') }])
  let state = await mls.createGroup(utf8(`grease-${type}`), creator.publicPackage, creator.privatePackage, [], impl)
  const provider = new Provider()
  const signer = SignatureKeyPair.forCiphersuite(1)
  const bob = { credential: new BasicCredential('bob'), signatureKey: signer.publicKey }
  const kp = decodeMessage(KeyPackage.builder().build({ ciphersuite: 1, provider, signer, credentialWithKey: bob }).toBytes())
  if (kp.wireformat !== 'mls_key_package') throw new Error('not a key package')
  const r = await mls.createCommit({ state, cipherSuite: impl }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: kp.keyPackage } }], ratchetTreeExtension: true })
  state = r.newState
  return { welcome: encodeMessage({ wireformat: 'mls_welcome', welcome: r.welcome! }), provider, signer, state }
}

test('the ts-mls Welcome is right: with a custom leaf extension type the join works', async (t) => {
  const { welcome, provider, signer, state } = await tsMlsWelcome(CUSTOM)
  const g = await MlsGroup.joinFromWelcome({ provider, signer, welcome })
  t.deepEqual(Buffer.from(g.epochAuthenticator()), Buffer.from(state.keySchedule.epochAuthenticator))
})

test(`a Welcome into a tree whose leaf has a GREASE extension is refused, typed (${FLIP})`, async (t) => {
  const { welcome, provider, signer } = await tsMlsWelcome(GREASE)
  const error = await t.throwsAsync(MlsGroup.joinFromWelcome({ provider, signer, welcome }), undefined, FLIP)
  t.true(error instanceof OpenMlsError, FLIP)
  t.not((error as OpenMlsError).code, 'ERR_INTERNAL')
  t.is((error as OpenMlsError).code, 'ERR_INVALID_WELCOME', `${FLIP} (${error?.message})`)
  t.regex(error!.message, /Extensions are not acceptable/, FLIP)
})

// --- 2. GREASE in capabilities: accepted both ways; offered as `grease: true` ----------------

function greasedKeyPackage(provider: Provider, signer: SignatureKeyPair, name: string) {
  return KeyPackage.builder()
    .leafNodeCapabilities({ grease: true })
    .build({ ciphersuite: 1, provider, signer, credentialWithKey: { credential: new BasicCredential(name), signatureKey: signer.publicKey } })
}

const greaseIn = (caps: { ciphersuites: number[]; extensions: number[]; proposals: number[]; credentials: number[] }) => [caps.ciphersuites, caps.extensions, caps.proposals, caps.credentials].map((l) => l.filter(isGrease).length)

test('grease: true lists one GREASE value in each capability list, and only there; off by default', (t) => {
  const provider = new Provider()
  const signer = SignatureKeyPair.forCiphersuite(1)
  const kp = greasedKeyPackage(provider, signer, 'alice')
  t.deepEqual(greaseIn(kp.leafNode.capabilities), [1, 1, 1, 1])
  t.deepEqual(kp.extensions, [])
  t.deepEqual(kp.leafNode.extensions, [])
  const plain = KeyPackage.builder().build({ ciphersuite: 1, provider, signer, credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: signer.publicKey } })
  t.deepEqual(greaseIn(plain.leafNode.capabilities), [0, 0, 0, 0])
  // It survives the wire, and combines with explicit entries.
  const custom = KeyPackage.builder().leafNodeCapabilities({ grease: true, proposals: [0xff00] }).build({ ciphersuite: 1, provider, signer, credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: signer.publicKey } })
  const parsed = KeyPackage.fromBytes(new Provider(), custom.toBytes())
  t.true(parsed.leafNode.capabilities.proposals.includes(0xff00))
  t.deepEqual(greaseIn(parsed.leafNode.capabilities), [1, 1, 1, 1])
})

test('openmls to openmls: GREASE capabilities in key packages, a created group and self-updates all work', async (t) => {
  const [a, b] = ['alice', 'bob'].map((name) => ({ name, provider: new Provider(), signer: SignatureKeyPair.forCiphersuite(1) }))
  const alice = MlsGroup.create({
    provider: a.provider,
    signer: a.signer,
    credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: a.signer.publicKey },
    config: { ciphersuite: 1, useRatchetTreeExtension: true, capabilities: { grease: true } },
  })
  t.deepEqual(greaseIn(alice.ownLeafNode().capabilities), [1, 1, 1, 1])
  const { welcome } = await alice.addMembers([KeyPackage.fromBytes(a.provider, greasedKeyPackage(b.provider, b.signer, 'bob').toBytes())])
  alice.mergePendingCommitSync()
  const bob = await MlsGroup.joinFromWelcome({ provider: b.provider, signer: b.signer, welcome })
  t.deepEqual(greaseIn(bob.ownLeafNode().capabilities), [1, 1, 1, 1])
  const { commit } = await bob.selfUpdate({ capabilities: { grease: true } })
  bob.mergePendingCommitSync()
  const p = await alice.processMessage(commit)
  if (p.type !== 'commit') return t.fail(p.type)
  alice.mergeStagedCommitSync(p.stagedCommit)
  for (const [from, to] of [[alice, bob], [bob, alice]] as const) {
    const m = await to.processMessage(from.createMessageSync('greased'))
    t.is(m.type === 'application' && text(m.data), 'greased')
  }
  t.deepEqual(Buffer.from(alice.epochAuthenticator()), Buffer.from(bob.epochAuthenticator()))
})

test('ts-mls 1.6.4 accepts our GREASE capabilities: it adds our key package, and processes our greased commit', async (t) => {
  const impl = await tsImpl(1)
  const creator = await mls.generateKeyPackage({ credentialType: 'basic', identity: utf8('ts') }, mls.defaultCapabilities(), mls.defaultLifetime, [], impl)
  let state = await mls.createGroup(utf8('ts-grease'), creator.publicPackage, creator.privatePackage, [], impl)
  const provider = new Provider()
  const signer = SignatureKeyPair.forCiphersuite(1)
  const kp = decodeMessage(greasedKeyPackage(provider, signer, 'bob').toBytes())
  if (kp.wireformat !== 'mls_key_package') return t.fail()
  t.true(kp.keyPackage.leafNode.capabilities.extensions.some(isGrease))
  const r = await mls.createCommit({ state, cipherSuite: impl }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: kp.keyPackage } }], ratchetTreeExtension: true })
  state = r.newState
  const bob = await MlsGroup.joinFromWelcome({ provider, signer, welcome: encodeMessage({ wireformat: 'mls_welcome', welcome: r.welcome! }) })
  const { commit } = await bob.selfUpdate({ capabilities: { grease: true } })
  bob.mergePendingCommitSync()
  const m = decodeMessage(commit)
  if (m.wireformat !== 'mls_private_message') return t.fail(m.wireformat)
  const processed = await mls.processPrivateMessage(state, m.privateMessage, mls.emptyPskIndex, impl)
  state = processed.newState
  t.deepEqual(Buffer.from(state.keySchedule.epochAuthenticator), Buffer.from(bob.epochAuthenticator()))
})

test('we accept ts-mls key packages and leaves that list all fifteen GREASE values in their capabilities', async (t) => {
  const impl = await tsImpl(1)
  const caps = greaseCapabilities({ probabilityPerGreaseValue: 1 }, { versions: ['mls10'], ciphersuites: ['MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'], extensions: [], proposals: [], credentials: ['basic'] })
  const ts = await mls.generateKeyPackage({ credentialType: 'basic', identity: utf8('ts') }, caps, mls.defaultLifetime, [], impl)
  const provider = new Provider()
  const signer = SignatureKeyPair.forCiphersuite(1)
  const alice = MlsGroup.create({ provider, signer, credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: signer.publicKey }, config: { ciphersuite: 1, useRatchetTreeExtension: true } })
  const kp = KeyPackage.fromBytes(provider, encodeMessage({ wireformat: 'mls_key_package', keyPackage: ts.publicPackage }))
  t.deepEqual(greaseIn(kp.leafNode.capabilities), [15, 15, 15, 15])
  const { welcome } = await alice.addMembers([kp])
  alice.mergePendingCommitSync()
  const w = decodeMessage(welcome)
  if (w.wireformat !== 'mls_welcome') return t.fail()
  let state = await mls.joinGroup(w.welcome, ts.publicPackage, ts.privatePackage, mls.emptyPskIndex, impl)
  // ts-mls commits (its leaf keeps the GREASE capabilities), and we process it.
  const r = await mls.createCommit({ state, cipherSuite: impl }, {})
  state = r.newState
  const p = await alice.processMessage(mls.encodeMlsMessage(r.commit))
  if (p.type !== 'commit') return t.fail(p.type)
  alice.mergeStagedCommitSync(p.stagedCommit)
  t.deepEqual(Buffer.from(alice.epochAuthenticator()), Buffer.from(state.keySchedule.epochAuthenticator))
})
