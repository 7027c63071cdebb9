// npm run test:package: proves the package as a user gets it from the registry.
//
// 1. Runs `napi prepublish` in a scratch copy (never publishing: --skip-optional-publish, no
//    --gh-release, and an `npm` shim on PATH that refuses `publish`) and checks the
//    optionalDependencies it writes: one per napi.targets entry, each naming an npm/<dir> package.
// 2. Packs the main package (the files `npm pack` would publish from the repo, with the prepublished
//    package.json) and the linux-x64-gnu platform package (with the built .node), and checks the
//    tarballs' contents.
// 3. Installs both tarballs, offline, into an empty project with no dev dependencies, and checks that
//    the installed packages have no install-time script.
// 4. `require`s and `import`s the package there and runs a two-member conversation with each.
// 5. Typechecks a consumer under moduleResolution nodenext (.mts and .cts) and bundler, with
//    strict: true and skipLibCheck: false, using the repo's TypeScript.
//
// Needs the built addon (`openmls-node.linux-x64-gnu.node` at the root) and dist/: run after `npm test`.
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const platformDir = 'linux-x64-gnu'
const binary = `${pkg.napi.binaryName}.${platformDir}.node`
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare']

let failures = 0
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok) failures++
}
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts })
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log(`test:package checks the linux-x64-gnu package; skipped on ${process.platform}-${process.arch}`)
  process.exit(0)
}
for (const f of [binary, 'index.js', 'index.d.ts', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts']) {
  if (!existsSync(join(root, f))) {
    console.error(`test:package: ${f} is missing; run \`npm run build\` first`)
    process.exit(1)
  }
}

const work = mkdtempSync(join(tmpdir(), 'openmls-node-package-'))
const keep = process.env.KEEP_PACKAGE_TEST === '1'
const env = { ...process.env, npm_config_cache: join(work, 'npm-cache'), npm_config_update_notifier: 'false' }
// npm exports these to scripts; they would leak the repo's npm settings into the scratch installs.
for (const k of Object.keys(env)) if (/^npm_(package|lifecycle|config_(global|prefix|local_prefix|userconfig))/i.test(k)) delete env[k]

try {
  // ---- 1. napi prepublish, in a scratch copy --------------------------------------------------
  const scratch = join(work, 'prepublish')
  mkdirSync(scratch)
  copyFileSync(join(root, 'package.json'), join(scratch, 'package.json'))
  cpSync(join(root, 'npm'), join(scratch, 'npm'), { recursive: true, filter: (src) => !src.endsWith('.node') })
  const npmDirs = readdirSync(join(scratch, 'npm'))
  for (const dir of npmDirs) {
    const target = join(scratch, 'npm', dir, `${pkg.napi.binaryName}.${dir}.node`)
    if (dir === platformDir) copyFileSync(join(root, binary), target)
    else writeFileSync(target, 'placeholder: prepublish only checks that the file exists\n')
  }
  const shimDir = join(work, 'shim')
  mkdirSync(shimDir)
  const realNpm = run('sh', ['-c', 'command -v npm']).trim()
  writeFileSync(join(shimDir, 'npm'), `#!/bin/sh\ncase "$1" in publish) echo "test:package: refusing npm publish" >&2; exit 1;; esac\nexec "${realNpm}" "$@"\n`)
  chmodSync(join(shimDir, 'npm'), 0o755)
  // prepublish reads the head commit message, so the scratch copy is a git repository.
  const git = (...a) => run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false', ...a], { cwd: scratch })
  git('init', '-q')
  git('add', '-A')
  git('commit', '-qm', 'scratch')
  const prepublishEnv = { ...env, PATH: `${shimDir}:${env.PATH}` }
  delete prepublishEnv.GITHUB_REPOSITORY
  delete prepublishEnv.GITHUB_TOKEN
  run(process.execPath, [join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js'), 'prepublish', '-t', 'npm', '--skip-optional-publish'], { cwd: scratch, env: prepublishEnv })
  const published = JSON.parse(readFileSync(join(scratch, 'package.json'), 'utf8'))
  const optional = published.optionalDependencies ?? {}
  const expected = {}
  for (const dir of npmDirs) {
    const p = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
    check(p.name === `${pkg.name}-${dir}`, `npm/${dir}/package.json is named ${pkg.name}-${dir} (${p.name})`)
    check(p.version === pkg.version, `npm/${dir} has version ${pkg.version} (${p.version})`)
    check(p.main === `${pkg.napi.binaryName}.${dir}.node` && p.files?.length === 1 && p.files[0] === p.main, `npm/${dir} ships exactly its .node`)
    check(!Object.keys(p.scripts ?? {}).some((s) => INSTALL_SCRIPTS.includes(s)), `npm/${dir} has no install-time script`)
    expected[p.name] = pkg.version
  }
  check(Object.keys(pkg.napi.targets).length === npmDirs.length, `one npm/ dir per napi target (${npmDirs.length} dirs, ${pkg.napi.targets.length} targets)`)
  check(JSON.stringify(Object.keys(optional).sort()) === JSON.stringify(Object.keys(expected).sort()), `prepublish writes one optionalDependency per npm/ package: ${Object.keys(optional).join(', ')}`)
  check(Object.values(optional).every((v) => v === pkg.version), `every optionalDependency pins ${pkg.version}`)

  // ---- 2. the tarballs ------------------------------------------------------------------------
  const packs = join(work, 'packs')
  mkdirSync(packs)
  const listed = JSON.parse(run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env }))[0].files.map((f) => f.path)
  const stray = listed.filter((f) => /^(__test__|crates|src|target|build|node_modules|npm|scripts|examples|docs)\//.test(f) || f.endsWith('.node') || /test-addon/.test(f) || /tsbuildinfo$/.test(f) || f.startsWith('.'))
  check(stray.length === 0, `the main package holds no test addon, tests, Rust sources, build output or .node (${stray.join(', ') || 'none'})`)
  for (const f of ['package.json', 'README.md', 'LICENSE', 'index.js', 'index.d.ts', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts']) check(listed.includes(f), `the main package holds ${f}`)
  const stage = join(work, 'stage-main')
  for (const f of listed) {
    mkdirSync(dirname(join(stage, f)), { recursive: true })
    copyFileSync(join(root, f), join(stage, f))
  }
  copyFileSync(join(scratch, 'package.json'), join(stage, 'package.json'))
  const mainTgz = join(packs, JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', packs], { cwd: stage, env }))[0].filename)
  const platStage = join(work, 'stage-platform')
  cpSync(join(root, 'npm', platformDir), platStage, { recursive: true, filter: (src) => !src.endsWith('.node') })
  copyFileSync(join(root, binary), join(platStage, binary))
  const platPack = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', packs], { cwd: platStage, env }))[0]
  const platFiles = platPack.files.map((f) => f.path).sort()
  check(JSON.stringify(platFiles) === JSON.stringify(['README.md', binary, 'package.json'].sort()), `the platform package holds only package.json, README.md, ${binary} (${platFiles.join(', ')})`)
  const platTgz = join(packs, platPack.filename)

  // ---- 3. install into an empty project, offline ---------------------------------------------
  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2))
  // Both tarballs in one install: the platform tarball satisfies the main package's
  // optionalDependency on it; the other platforms' packages are skipped (optional, offline).
  const out = run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', mainTgz, platTgz], { cwd: app, env })
  check(!/allowScripts|install script|prepare/i.test(out), `npm install prints no lifecycle-script warning${out.trim() ? ': ' + out.trim().split('\n').join(' | ') : ''}`)
  for (const name of [pkg.name, `${pkg.name}-${platformDir}`]) {
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8'))
    const scripts = Object.keys(installed.scripts ?? {}).filter((s) => INSTALL_SCRIPTS.includes(s))
    check(scripts.length === 0, `installed ${name} has no preinstall/install/postinstall/prepare script (${scripts.join(', ') || 'none'})`)
    check(installed.version === pkg.version, `installed ${name}@${installed.version}`)
  }
  const installedMain = JSON.parse(readFileSync(join(app, 'node_modules', pkg.name, 'package.json'), 'utf8'))
  check(installedMain.optionalDependencies?.[`${pkg.name}-${platformDir}`] === pkg.version, 'the installed main package depends optionally on the platform package')
  check(!existsSync(join(app, 'node_modules', pkg.name, 'build')) && !readdirSync(join(app, 'node_modules', pkg.name)).some((f) => f.endsWith('.node')), 'the installed main package has no .node and no build/')
  check(!existsSync(join(app, 'node_modules', 'ava')) && !existsSync(join(app, 'node_modules', 'typescript')), 'no dev dependency was installed')

  // ---- 4. require and import, a two-member conversation each --------------------------------
  const conversation = `
  const { BasicCredential, Ciphersuite, KeyPackage, MlsGroup, Provider, SignatureKeyPair, openmlsVersion } = mls
  const suite = Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
  const member = (name) => {
    const provider = new Provider({ crypto: 'rustcrypto' })
    const signer = SignatureKeyPair.forCiphersuite(suite)
    return { provider, signer, credentialWithKey: { credential: new BasicCredential(name), signatureKey: signer.publicKey } }
  }
  const alice = member('alice'), bob = member('bob')
  const bobKp = KeyPackage.builder().build({ ciphersuite: suite, provider: bob.provider, signer: bob.signer, credentialWithKey: bob.credentialWithKey })
  const received = KeyPackage.fromBytes(alice.provider, bobKp.toBytes())
  const ag = MlsGroup.create({ ...alice, config: { ciphersuite: suite, useRatchetTreeExtension: true } })
  const { welcome } = await ag.addMembers([received])
  ag.mergePendingCommitSync()
  const bg = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome })
  const toBob = await bg.processMessage(ag.createMessageSync('hello bob'))
  const toAlice = await ag.processMessage(bg.createMessageSync('hello alice'))
  const text = (m) => m.kind === 'application' ? new TextDecoder().decode(m.data) : m.kind
  if (text(toBob) !== 'hello bob' || text(toAlice) !== 'hello alice') throw new Error('messages: ' + text(toBob) + ' / ' + text(toAlice))
  if (!Buffer.from(ag.epochAuthenticator()).equals(Buffer.from(bg.epochAuthenticator()))) throw new Error('epoch authenticators differ')
  if (ag.members().length !== 2 || bg.epoch !== ag.epoch) throw new Error('group state differs')
  console.log(JSON.stringify({ openmlsVersion, epoch: String(ag.epoch), from: __from() }))
`
  const fromFn = `function __from() { return Object.keys(require.cache).find((k) => k.endsWith('.node')) }`
  writeFileSync(join(app, 'conversation.cjs'), `'use strict'\nconst mls = require('${pkg.name}')\n${fromFn}\n;(async () => {${conversation}})().catch((e) => { console.error(e); process.exit(1) })\n`)
  writeFileSync(join(app, 'conversation.mjs'), `import * as mls from '${pkg.name}'\nimport { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\n${fromFn}\n${conversation}\n`)
  for (const file of ['conversation.cjs', 'conversation.mjs']) {
    let result
    try {
      result = JSON.parse(run(process.execPath, [file], { cwd: app, env }).trim().split('\n').pop())
    } catch (e) {
      check(false, `${file}: ${e.stderr || e.message}`)
      continue
    }
    const expectedFrom = join(app, 'node_modules', `${pkg.name}-${platformDir}`, binary)
    check(result.from === expectedFrom, `${file}: the addon loads from the platform package (${result.from})`)
    check(result.openmlsVersion === '0.9.2', `${file}: two members talk both ways, epoch authenticators equal (openmls ${result.openmlsVersion}, epoch ${result.epoch})`)
  }

  // ---- 5. typecheck a consumer ----------------------------------------------------------------
  const typed = `
const suite = Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
export async function talk(): Promise<boolean> {
  const provider: Provider = new Provider({ crypto: 'rustcrypto' })
  const signer: SignatureKeyPair = SignatureKeyPair.forCiphersuite(suite)
  const credentialWithKey = { credential: new BasicCredential('alice'), signatureKey: signer.publicKey }
  const kp: KeyPackage = KeyPackage.fromBytes(provider, KeyPackage.builder().build({ ciphersuite: suite, provider, signer, credentialWithKey }).toBytes())
  const group: MlsGroup = MlsGroup.create({ provider, signer, credentialWithKey, config: { ciphersuite: suite, useRatchetTreeExtension: true } })
  const { welcome }: { welcome: Uint8Array } = await group.addMembers([kp])
  const message = await group.processMessage(group.createMessageSync('hi'))
  const epoch: bigint = group.epoch
  try { await group.processMessage(welcome) } catch (e) { if (e instanceof OpenMlsError && e.code === 'ERR_WRONG_EPOCH') return false }
  return message.kind === 'application' ? message.data.length > 0 && epoch > 0n : group.epochAuthenticator().length > 0
}
`
  const names = '{ BasicCredential, Ciphersuite, KeyPackage, MlsGroup, OpenMlsError, Provider, SignatureKeyPair }'
  const ts = join(app, 'ts')
  mkdirSync(ts)
  writeFileSync(join(ts, 'esm.mts'), `import ${names} from '${pkg.name}'\n${typed}`)
  writeFileSync(join(ts, 'cjs.cts'), `import mls = require('${pkg.name}')\nconst ${names} = mls\ntype Provider = mls.Provider; type SignatureKeyPair = mls.SignatureKeyPair; type KeyPackage = mls.KeyPackage; type MlsGroup = mls.MlsGroup\n${typed}`)
  writeFileSync(join(ts, 'bundler.ts'), `import ${names} from '${pkg.name}'\n${typed}`)
  // A Node consumer has @types/node (the repo's, through typeRoots: the app installs no dev
  // dependency). The declarations use `Symbol.dispose`, which @types/node or lib esnext.disposable
  // declares; without either, a note is printed (see the last config).
  const base = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', lib: ['ES2022'], types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] }
  const configs = {
    nodenext: { compilerOptions: { ...base, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['ts/esm.mts', 'ts/cjs.cts'] },
    bundler: { compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['ts/bundler.ts'] },
    'bundler-without-node-types': { compilerOptions: { ...base, types: [], typeRoots: [], module: 'esnext', moduleResolution: 'bundler' }, files: ['ts/bundler.ts'], informational: true },
  }
  for (const [name, { informational, ...config }] of Object.entries(configs)) {
    writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify(config, null, 2))
    const what = `a consumer typechecks under moduleResolution ${config.compilerOptions.moduleResolution} (strict, skipLibCheck: false, lib ES2022, ${config.compilerOptions.types.length ? '@types/node' : 'no @types/node'})`
    try {
      run(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], { cwd: app, env })
      console.log(`${informational ? 'note' : 'ok  '} ${what}`)
    } catch (e) {
      const errors = `${e.stdout}${e.stderr}`.trim()
      if (informational) console.log(`note ${what.replace('typechecks', 'does not typecheck')}:\n  ${errors.split('\n').join('\n  ')}`)
      else check(false, `${what}:\n${errors}`)
    }
  }
} finally {
  if (keep) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}

if (failures) {
  console.error(`test:package: ${failures} check(s) failed`)
  process.exit(1)
}
console.log('test:package: all checks passed')
