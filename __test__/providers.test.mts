import test from 'ava'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ciphersuite, OpenMlsError, Provider, ciphersuiteName } from 'openmls-node'
import { Client, add, applyCommit, assertAgree, assertRoundTrip } from './helpers.mjs'

test('rustcrypto is the default provider: suites 1, 2, 3 and the ML-KEM post-quantum suites', (t) => {
  const p = new Provider()
  t.is(p.crypto, 'rustcrypto')
  const suites = p.supportedCiphersuites()
  for (const s of [Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, Ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256, Ciphersuite.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519, Ciphersuite.MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519, Ciphersuite.MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65]) {
    t.true(suites.includes(s), ciphersuiteName(s))
  }
  t.false(suites.includes(Ciphersuite.MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519), 'X-Wing is libcrux only')
})

test('libcrux is selectable and supports the X25519 suites', (t) => {
  const p = new Provider({ crypto: 'libcrux' })
  t.is(p.crypto, 'libcrux')
  t.true(p.supportedCiphersuites().includes(Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519))
  t.true(p.supportedCiphersuites().includes(Ciphersuite.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519))
  t.true(p.supportedCiphersuites().includes(Ciphersuite.MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519), 'X-Wing (0x004D)')
})

test('an unknown provider name is a typed error', (t) => {
  const e = t.throws(() => new Provider({ crypto: 'openssl' as never }))
  t.true(e instanceof OpenMlsError)
  t.is((e as OpenMlsError).code, 'ERR_INVALID_ARGUMENT')
})

for (const crypto of ['rustcrypto', 'libcrux'] as const) {
  for (const suite of new Provider({ crypto }).supportedCiphersuites()) {
    test(`${crypto}: full add / message / update / remove cycle on ${ciphersuiteName(suite)}`, async (t) => {
      const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new Client(n, suite, crypto))
      alice.createGroup()
      t.is(alice.g.ciphersuite, suite)
      await add(alice, [bob, carol])
      assertAgree(t, [alice, bob, carol])
      await assertRoundTrip(t, bob, [alice, carol], `suite ${suite} says hi`)
      const { commit } = await bob.g.selfUpdate()
      bob.g.mergePendingCommitSync()
      for (const c of [alice, carol]) await applyCommit(c, commit)
      assertAgree(t, [alice, bob, carol])
      const removal = await carol.g.removeMembers([0])
      carol.g.mergePendingCommitSync()
      await applyCommit(bob, removal.commit)
      await applyCommit(alice, removal.commit)
      t.false(alice.g.isActive)
      assertAgree(t, [bob, carol])
      await assertRoundTrip(t, carol, [bob], 'two left')
    })
  }
}

test('members on different crypto providers interoperate', async (t) => {
  const alice = new Client('alice', 1, 'rustcrypto')
  const bob = new Client('bob', 1, 'libcrux')
  alice.createGroup()
  await add(alice, [bob])
  assertAgree(t, [alice, bob])
  await assertRoundTrip(t, bob, [alice], 'cross-provider')
  await assertRoundTrip(t, alice, [bob], 'and back')
})

test('a suite the provider lacks is ERR_UNSUPPORTED_CIPHERSUITE, for groups and key packages', (t) => {
  // P-384 signing keys exist, but RustCrypto offers no P-384 ciphersuite.
  const client = new Client('x', Ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384)
  for (const attempt of [() => client.createGroup(), () => client.keyPackageBytes()]) {
    const e = t.throws(attempt)
    t.is((e as OpenMlsError).code, 'ERR_UNSUPPORTED_CIPHERSUITE')
  }
})

test('Provider.open: the constructor as a Promise, in memory and over a file; bad options reject with a code', async (t) => {
  const inMemory = await Provider.open({ crypto: 'libcrux' })
  t.is(inMemory.crypto, 'libcrux')
  t.false(inMemory.persistent)
  const dir = mkdtempSync(join(tmpdir(), 'openmls-node-open-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const onFile = await Provider.open({ storage: { path: join(dir, 'a.db') } })
  t.true(onFile.persistent)
  // The file is open: a second open of it is refused, as with the constructor.
  const locked = await t.throwsAsync(Provider.open({ storage: { path: join(dir, 'a.db') } }))
  t.is((locked as OpenMlsError).code, 'ERR_STORAGE_LOCKED')
  onFile.close()
  const bad = await t.throwsAsync(Provider.open({ storage: { path: '' } }))
  t.is((bad as OpenMlsError).code, 'ERR_INVALID_ARGUMENT')
  const unknown = await t.throwsAsync(Provider.open({ crypto: 'nope' as 'libcrux' }))
  t.is((unknown as OpenMlsError).code, 'ERR_INVALID_ARGUMENT')
})
