import test from 'ava'
import { inspect } from 'node:util'
import { BasicCredential, Ciphersuite, KeyPackage, OpenMlsError, Provider, SignatureKeyPair, SignatureScheme } from 'openmls-node'
import { Client, assertCode } from './helpers.mjs'

test('a signature key pair survives export and import', (t) => {
  const signer = SignatureKeyPair.generate(SignatureScheme.ED25519)
  const back = SignatureKeyPair.fromBytes(signer.toBytes())
  t.deepEqual(Buffer.from(back.publicKey), Buffer.from(signer.publicKey))
  t.is(back.signatureScheme, SignatureScheme.ED25519)
  t.is(signer.publicKey.length, 32)
})

test('an imported signer keeps working for its groups', async (t) => {
  const alice = new Client('alice')
  const restored = SignatureKeyPair.fromBytes(alice.signer.toBytes())
  const kp = KeyPackage.builder().build({
    ciphersuite: 1,
    provider: alice.provider,
    signer: restored,
    credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: restored.publicKey },
  })
  t.deepEqual(Buffer.from(kp.signatureKey), Buffer.from(alice.signer.publicKey))
})

test('garbage, truncated and mismatched signer bytes are ERR_INVALID_IDENTITY', async (t) => {
  const bytes = SignatureKeyPair.generate(SignatureScheme.ED25519).toBytes()
  await assertCode(t, () => SignatureKeyPair.fromBytes(new Uint8Array([1, 2, 3])), 'ERR_INVALID_IDENTITY')
  await assertCode(t, () => SignatureKeyPair.fromBytes(bytes.subarray(0, bytes.length - 1)), 'ERR_INVALID_IDENTITY')
  await assertCode(t, () => SignatureKeyPair.fromBytes(new Uint8Array()), 'ERR_INVALID_IDENTITY')
  const other = SignatureKeyPair.generate(SignatureScheme.ED25519)
  const spliced = Buffer.from(bytes)
  const at = spliced.indexOf(Buffer.from(SignatureKeyPair.fromBytes(bytes).publicKey))
  Buffer.from(other.publicKey).copy(spliced, at)
  await assertCode(t, () => SignatureKeyPair.fromBytes(spliced), 'ERR_INVALID_IDENTITY')
  await assertCode(t, () => SignatureKeyPair.generate(0x1234 as never), 'ERR_INVALID_ARGUMENT')
})

test('inspect and JSON never show the private key', (t) => {
  const signer = SignatureKeyPair.generate(SignatureScheme.ED25519)
  const secretHex = Buffer.from(signer.toBytes()).toString('hex').slice(4, 4 + 64) // the private key after the header
  const shown = inspect(signer, { depth: 10, showHidden: true }) + JSON.stringify(signer) + inspect({ signer }, { depth: 10 })
  t.false(shown.includes(secretHex))
  t.false(shown.toLowerCase().includes('private'))
  t.true(shown.includes('SignatureKeyPair'))
})

test('key packages round-trip through bytes and keep their hash reference', (t) => {
  const bob = new Client('bob')
  const bytes = bob.keyPackageBytes()
  const provider = new Provider()
  const kp = KeyPackage.fromBytes(provider, bytes)
  t.is(kp.ciphersuite, Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
  t.is(String(kp.credential), 'bob')
  t.deepEqual(Buffer.from(kp.signatureKey), Buffer.from(bob.signer.publicKey))
  t.deepEqual(Buffer.from(kp.toBytes()), Buffer.from(bytes))
  const again = KeyPackage.fromBytes(provider, kp.toBytes())
  t.deepEqual(Buffer.from(again.hashRef(provider)), Buffer.from(kp.hashRef(provider)))
  t.is(kp.hashRef(provider).length, 32)
})

test('bad key package bytes give typed errors', async (t) => {
  const provider = new Provider()
  const bytes = new Client('bob').keyPackageBytes()
  const tampered = Uint8Array.from(bytes)
  tampered[tampered.length - 10] ^= 0x40
  await assertCode(t, () => KeyPackage.fromBytes(provider, tampered), 'ERR_INVALID_KEY_PACKAGE')
  await assertCode(t, () => KeyPackage.fromBytes(provider, bytes.subarray(0, bytes.length - 1)), 'ERR_MALFORMED_MESSAGE')
  await assertCode(t, () => KeyPackage.fromBytes(provider, new Uint8Array(200).fill(7)), 'ERR_MALFORMED_MESSAGE')
  await assertCode(t, () => KeyPackage.fromBytes(provider, 'not bytes' as never), 'ERR_INVALID_ARGUMENT')
  const alice = new Client('alice')
  alice.createGroup()
  await assertCode(t, () => KeyPackage.fromBytes(provider, alice.g.createMessage('hi')), 'ERR_WRONG_MESSAGE_TYPE')
})

test('a credential whose key is not the signer is refused', async (t) => {
  const alice = new Client('alice')
  const mallory = SignatureKeyPair.generate(SignatureScheme.ED25519)
  await assertCode(
    t,
    () =>
      KeyPackage.builder().build({
        ciphersuite: 1,
        provider: alice.provider,
        signer: alice.signer,
        credentialWithKey: { credential: new BasicCredential('alice'), signatureKey: mallory.publicKey },
      }),
    'ERR_INVALID_ARGUMENT',
  )
  // A signer of the wrong scheme for the suite.
  await assertCode(
    t,
    () =>
      KeyPackage.builder().build({
        ciphersuite: 2,
        provider: alice.provider,
        signer: alice.signer,
        credentialWithKey: alice.credentialWithKey,
      }),
    'ERR_INVALID_ARGUMENT',
  )
  t.true(new OpenMlsError('ERR_INTERNAL', 'x') instanceof Error)
})
