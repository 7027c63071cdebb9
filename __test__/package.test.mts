// The package surface: ESM and CommonJS share one implementation, error codes match, and the
// patched loader knows linux-ia32.
import test from 'ava'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import vm from 'node:vm'
import * as esm from 'openmls-node'

const require = createRequire(import.meta.url)

test('require() and import give the same classes, so instanceof works across both', (t) => {
  const cjs = require('openmls-node') as typeof esm
  t.is(cjs.OpenMlsError, esm.OpenMlsError)
  t.is(cjs.MlsGroup, esm.MlsGroup)
})

test('openmlsVersion is the openmls version Cargo.lock pins, read at build time', (t) => {
  const lock = readFileSync(new URL('../Cargo.lock', import.meta.url), 'utf8')
  const locked = /\[\[package\]\]\nname = "openmls"\nversion = "([^"]+)"/.exec(lock)?.[1]
  t.truthy(locked)
  t.is(esm.openmlsVersion, locked ?? 'missing from Cargo.lock')
  t.regex(esm.openmlsVersion, /^0\.9\.\d+$/)
})

test('the error codes come from the Rust list: unique, well-formed, and what native calls throw', async (t) => {
  t.deepEqual([...esm.errorCodes], Object.values(esm.ErrorCodes))
  t.is(new Set(esm.errorCodes).size, esm.errorCodes.length)
  for (const code of esm.errorCodes) t.regex(code, /^ERR_[A-Z_]+$/)
  t.is(esm.ErrorCodes.WrongEpoch, 'ERR_WRONG_EPOCH')
  t.is(esm.ErrorCodes.WelcomeUsed, 'ERR_WELCOME_USED')
  t.true(Object.isFrozen(esm.ErrorCodes))
  t.true(esm.isErrorCode('ERR_STORAGE_FULL'))
  t.false(esm.isErrorCode('ERR_NOT_A_CODE'))
  // A code thrown by the native layer is one of them, and OpenMlsError.is narrows on it.
  const error = t.throws(() => esm.MlsMessage.parse(new Uint8Array([1, 2, 3])))
  t.true(esm.OpenMlsError.is(error, 'ERR_MALFORMED_MESSAGE'))
  t.false(esm.OpenMlsError.is(error, 'ERR_WRONG_EPOCH'))
  t.false(esm.OpenMlsError.is(new Error('plain')))
  t.true(esm.isErrorCode((error as { code?: unknown }).code))
})

/** Runs the generated loader with a faked platform, recording what it tries to require. */
function loaderAttempts(platform: string, arch: string): string[] {
  const source = readFileSync(new URL('../index.js', import.meta.url), 'utf8')
  const attempts: string[] = []
  const fakeRequire = (id: string) => {
    if (id === 'node:fs' || id === 'fs') return { readFileSync: () => '', existsSync: () => false }
    if (id === 'child_process') return { execSync: () => '' }
    attempts.push(id)
    throw new Error(`not here: ${id}`)
  }
  const module = { exports: {} }
  const fakeProcess = { platform, arch, env: {}, versions: process.versions, report: { getReport: () => ({ header: { glibcVersionRuntime: '2.36' } }) } }
  try {
    vm.runInNewContext(source, { require: fakeRequire, module, exports: module.exports, process: fakeProcess, __dirname: '/x', console, Error })
  } catch {
    // The loader throws once nothing could be loaded; the attempts are what we want.
  }
  return attempts
}

test('the loader has a linux-ia32 branch (napi-rs v3 generates none)', (t) => {
  const attempts = loaderAttempts('linux', 'ia32')
  t.true(attempts.includes('./openmls-node.linux-ia32-gnu.node'), attempts.join(', '))
  t.true(attempts.includes('openmls-node-linux-ia32-gnu'))
})

test('the loader still picks the right package on the other targets', (t) => {
  t.true(loaderAttempts('linux', 'x64').includes('openmls-node-linux-x64-gnu'))
  t.true(loaderAttempts('win32', 'ia32').includes('openmls-node-win32-ia32-msvc'))
  t.true(loaderAttempts('android', 'arm').includes('openmls-node-android-arm-eabi'))
  t.true(loaderAttempts('darwin', 'arm64').includes('openmls-node-darwin-arm64'))
})

test('the native layer builds its errors: code and message set, nothing to parse, thrown or rejected', async (t) => {
  const raw = require('../index.js') as typeof import('../index.js')
  const thrown = t.throws(() => raw.parseMessage(new Uint8Array([1, 2, 3]))) as Error & { code?: string }
  t.is(thrown.code, 'ERR_MALFORMED_MESSAGE')
  t.false(thrown.message.startsWith('ERR_'), thrown.message)
  t.false(thrown instanceof esm.OpenMlsError, 'the wrapper gives it the class, nothing more')

  const provider = new esm.Provider()
  const signer = esm.SignatureKeyPair.forCiphersuite(1)
  const group = esm.MlsGroup.create({ provider, signer, credentialWithKey: { credential: new esm.BasicCredential('a'), signatureKey: signer.publicKey } })
  const rejected = (await t.throwsAsync(group.native.processMessage(new Uint8Array([1, 2, 3]), false))) as Error & { code?: string }
  t.is(rejected.code, 'ERR_MALFORMED_MESSAGE')
  t.false(rejected.message.startsWith('ERR_'), rejected.message)

  // Through the wrapper: the same code and message, as an OpenMlsError.
  const wrapped = await t.throwsAsync(group.processMessage(new Uint8Array([1, 2, 3])), { instanceOf: esm.OpenMlsError })
  t.is(wrapped?.code, 'ERR_MALFORMED_MESSAGE')
  t.is(wrapped?.message, rejected.message)
})

test('a code point that does not fit in 16 bits is ERR_INVALID_ARGUMENT naming it, even past the wrapper', (t) => {
  const raw = require('../index.js') as typeof import('../index.js')
  for (const [call, what] of [
    [() => raw.SignatureKeyPair.generate(0x1_0807), 'signature scheme'],
    [() => raw.signatureSchemeFor(0x1_0001), 'ciphersuite'],
  ] as const) {
    const error = t.throws(call) as Error & { code?: string }
    t.is(error.code, 'ERR_INVALID_ARGUMENT')
    t.true(error.message.includes(what) && error.message.includes('does not fit in 16 bits'), error.message)
  }
})
