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
  t.is(esm.openmlsVersion, '0.9.2')
})

test('every native error code is a member of the TypeScript ErrorCode union', (t) => {
  const declared = readFileSync(new URL('../ts/errors.ts', import.meta.url), 'utf8')
  for (const code of esm.errorCodes) t.true(declared.includes(`'${code}'`), code)
  t.true(esm.errorCodes.length >= 20)
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
