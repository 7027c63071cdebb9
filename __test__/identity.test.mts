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
  await assertCode(t, () => KeyPackage.fromBytes(provider, alice.g.createMessageSync('hi')), 'ERR_WRONG_MESSAGE_TYPE')
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

// Every scheme openmls_basic_credential can make keys for.
const SCHEMES = [0x0403, 0x0503, 0x0807, 0x0904, 0x0905, 0x0906] as const
const relabel = (exported: Uint8Array, scheme: number) => {
  const out = Uint8Array.from(exported)
  out[out.length - 2] = scheme >> 8
  out[out.length - 1] = scheme & 0xff
  return out
}

test('an export relabelled with another scheme is ERR_INVALID_IDENTITY, never a panic', async (t) => {
  // Regression: a P-384 key labelled P-256 (or an Ed25519 key labelled P-384) reached a
  // fixed-size array conversion in openmls_basic_credential that panics (ERR_INTERNAL).
  const exports = SCHEMES.map((s) => SignatureKeyPair.generate(s).toBytes())
  for (const [i, from] of SCHEMES.entries()) {
    for (const to of [...SCHEMES, 0x0603, 0x0808, 0x0000, 0xffff]) {
      if (to === from) continue
      const e = t.throws(() => SignatureKeyPair.fromBytes(relabel(exports[i], to)), undefined, `0x${from.toString(16)} as 0x${to.toString(16)}`)
      t.true(e instanceof OpenMlsError)
      t.is((e as OpenMlsError).code, 'ERR_INVALID_IDENTITY', e?.message)
    }
  }
})

test('a stored identity of every scheme reloads on both crypto providers', async (t) => {
  // Regression: the import check verified with the provider's crypto, and libcrux verifies only
  // Ed25519, so a P-256, P-384 or ML-DSA identity stored in a libcrux provider did not reload.
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'identity-schemes-'))
  try {
    for (const crypto of ['rustcrypto', 'libcrux'] as const) {
      for (const scheme of SCHEMES) {
        const path = join(dir, `${crypto}-${scheme}.db`)
        const signer = SignatureKeyPair.generate(scheme)
        const first = new Provider({ crypto, storage: { path } })
        first.setIdentity({ signer, credential: new BasicCredential('me') })
        first.close()
        const reopened = new Provider({ crypto, storage: { path } })
        const back = reopened.identity()
        t.deepEqual(Buffer.from(back!.signer.publicKey), Buffer.from(signer.publicKey), `${crypto} 0x${scheme.toString(16)}`)
        t.is(back!.signer.signatureScheme, scheme)
        reopened.close()
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
