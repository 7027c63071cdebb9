// npm run build:cross -- <target triple>... | all | list
//
// Builds the addon for another target on a Debian 12 x86-64 machine, following
// ../shared/notes/cross-building.md and musl-windows-macos.md. Idempotent: it installs only what is
// missing (apt packages, zig and cargo-zigbuild from PyPI, a dummy libnode.dll, rtstartup objects),
// builds each target in its own target dir (target/cross/<triple>, never target/release) and copies
// the result to target/cross/out/ under the name the loader expects
// (openmls-node.<platform>-<arch>[-<abi>].node; a windows-gnu build gets the -msvc name, which is
// what stock node.exe looks for).
//
// Compiler: Debian's rustc/cargo (1.96, /usr/bin), named explicitly because rustup's stays first on
// PATH and rustup cannot add targets here. Targets whose std Debian does not ship are built with
// -Zbuild-std (RUSTC_BOOTSTRAP=1, std sources from rust-web-src).
// glibc targets link with zig at glibc 2.17 (the floor napi-rs ships), checked by check:binaries.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const crossDir = join(root, 'target', 'cross')
const outDir = join(crossDir, 'out')
const RUST_SRC = '/usr/lib/rustlib/src/rust/library'
const BASE_APT = ['rustc-web', 'cargo-web', 'rust-web-src', 'binutils']

/** Per target: the loader's name, how to link, what to install. */
export const TARGETS = {
  'x86_64-unknown-linux-gnu': { abi: 'linux-x64-gnu', zig: '.2.17', apt: [] },
  'i686-unknown-linux-gnu': { abi: 'linux-ia32-gnu', zig: '.2.17', apt: ['libstd-rust-web-dev:i386'] },
  'aarch64-unknown-linux-gnu': { abi: 'linux-arm64-gnu', zig: '.2.17', apt: ['libstd-rust-web-dev:arm64'] },
  'x86_64-unknown-linux-musl': { abi: 'linux-x64-musl', zig: '', buildStd: true, rustflags: '-C target-feature=-crt-static', apt: [] },
  'aarch64-unknown-linux-musl': { abi: 'linux-arm64-musl', zig: '', buildStd: true, rustflags: '-C target-feature=-crt-static', apt: [] },
  'x86_64-pc-windows-gnu': { abi: 'win32-x64-msvc', mingw: 'x86_64-w64-mingw32', buildStd: true, apt: ['gcc-mingw-w64-x86-64'] },
  'i686-pc-windows-gnu': { abi: 'win32-ia32-msvc', mingw: 'i686-w64-mingw32', buildStd: true, rtstartup: true, apt: ['gcc-mingw-w64-i686'] },
  // Link-only: zig's libSystem stubs; nothing here can run the result.
  'x86_64-apple-darwin': { abi: 'darwin-x64', zig: '', buildStd: true, darwin: '10.15', apt: [] },
  'aarch64-apple-darwin': { abi: 'darwin-arm64', zig: '', buildStd: true, darwin: '11.0', apt: [] },
}
// The shipped -msvc triples are built as their -gnu stand-ins (no MSVC CRT can be had here).
const ALIASES = { 'x86_64-pc-windows-msvc': 'x86_64-pc-windows-gnu', 'i686-pc-windows-msvc': 'i686-pc-windows-gnu' }

const log = (...a) => console.log('[build:cross]', ...a)
const run = (cmd, args, opts = {}) => {
  log('$', cmd, args.join(' '))
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`)
}
const ok = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0

let aptUpdated = false
function ensureApt(packages) {
  const missing = packages.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' })
    return !r.stdout?.includes('install ok installed')
  })
  if (!missing.length) return
  for (const arch of new Set(missing.map((p) => p.split(':')[1]).filter(Boolean))) {
    // A newly added architecture has no package lists until the next apt-get update.
    if (!execFileSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }).split('\n').includes(arch)) { run('dpkg', ['--add-architecture', arch]); aptUpdated = false }
  }
  if (!aptUpdated) { run('apt-get', ['update', '-qq']); aptUpdated = true }
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}

/** zig (PyPI ziglang) and cargo-zigbuild; returns the directory holding the zig binary. */
function ensureZig() {
  if (!(ok('python3', ['-m', 'ziglang', 'version']) && ok('cargo-zigbuild', ['--version']))) run('python3', ['-m', 'pip', 'install', '-q', 'ziglang', 'cargo-zigbuild'])
  // /usr/bin comes first on the build's PATH (Debian's cargo), and /usr/bin/python3 may not be the
  // python that has ziglang: put zig itself on PATH.
  return execFileSync('python3', ['-c', 'import ziglang, os; print(os.path.dirname(ziglang.__file__))'], { encoding: 'utf8' }).trim()
}

/** napi-build wants a libnode.dll on windows-gnu; nothing of it is linked (napi-sys resolves at run time). */
function dummyLibnode(t, dir) {
  const dll = join(dir, 'libnode.dll')
  if (existsSync(dll)) return dir
  mkdirSync(dir, { recursive: true })
  const c = join(dir, 'libnode.c')
  writeFileSync(c, 'int openmls_node_unused(void) { return 0; }\n')
  run(`${t.mingw}-gcc`, ['-shared', '-o', dll, c])
  return dir
}

/** Cargo's build-std does not build rsbegin.o/rsend.o, which i686-pc-windows-gnu links. */
function rtstartup(triple, dir) {
  mkdirSync(dir, { recursive: true })
  for (const o of ['rsbegin', 'rsend']) {
    if (existsSync(join(dir, `${o}.o`))) continue
    run('/usr/bin/rustc', ['--cfg', 'bootstrap', '--target', triple, '--emit=obj', '-o', join(dir, `${o}.o`), join(RUST_SRC, 'rtstartup', `${o}.rs`)], { env: { ...process.env, RUSTC_BOOTSTRAP: '1' } })
  }
  return dir
}

export function outputFile(triple) {
  return join(outDir, `openmls-node.${TARGETS[ALIASES[triple] ?? triple].abi}.node`)
}

export function build(requested) {
  const triple = ALIASES[requested] ?? requested
  const t = TARGETS[triple]
  if (!t) throw new Error(`unknown target ${requested}; known: ${Object.keys(TARGETS).join(', ')}`)
  ensureApt([...BASE_APT, ...t.apt])
  const zigDir = t.zig !== undefined ? ensureZig() : undefined
  const targetDir = join(crossDir, triple)
  const envName = triple.toUpperCase().replaceAll('-', '_')
  const env = {
    ...process.env,
    PATH: `/usr/bin:${process.env.PATH}${zigDir ? ':' + zigDir : ''}`,
    RUSTC: '/usr/bin/rustc',
    RUSTDOC: '/usr/bin/rustdoc',
    CARGO: '/usr/bin/cargo',
    CARGO_TARGET_DIR: targetDir,
  }
  delete env.RUSTFLAGS
  const args = ['build', '--release', '--locked', '-p', 'openmls-node']
  const rustflags = t.rustflags ? [t.rustflags] : []
  if (t.buildStd) {
    env.RUSTC_BOOTSTRAP = '1'
    args.push('-Zbuild-std=std,panic_unwind')
  }
  let cmd = '/usr/bin/cargo'
  if (t.zig !== undefined) {
    cmd = 'cargo-zigbuild'
    args.push('--target', triple + t.zig)
  } else args.push('--target', triple)
  if (t.darwin) {
    env.CARGO_PROFILE_RELEASE_STRIP = 'false' // else cargo-zigbuild wants rust-objcopy
    env.MACOSX_DEPLOYMENT_TARGET = t.darwin
    // A real SDK, if one is given, else link stubs of the frameworks a dependency links.
    env.SDKROOT ??= stubSdk(join(crossDir, 'macos-sdk'))
  }
  if (t.mingw) {
    env[`CARGO_TARGET_${envName}_LINKER`] = `${t.mingw}-gcc-posix`
    env[`CC_${triple.replaceAll('-', '_')}`] = `${t.mingw}-gcc-posix`
    env[`AR_${triple.replaceAll('-', '_')}`] = `${t.mingw}-ar`
    env.LIBNODE_PATH = dummyLibnode(t, join(crossDir, 'libnode', triple))
  }
  if (t.rtstartup) rustflags.push(`-L native=${rtstartup(triple, join(crossDir, 'rtstartup', triple))}`)
  if (rustflags.length) env[`CARGO_TARGET_${envName}_RUSTFLAGS`] = rustflags.join(' ')
  const started = Date.now()
  run('nice', ['-n', '19', cmd, ...args], { cwd: root, env })
  const lib = join(targetDir, triple, 'release', t.mingw ? 'openmls_node.dll' : triple.includes('apple') ? 'libopenmls_node.dylib' : 'libopenmls_node.so')
  mkdirSync(outDir, { recursive: true })
  const out = outputFile(triple)
  copyFileSync(lib, out)
  log(`${triple}: ${out} (${Math.round((Date.now() - started) / 1000)} s)`)
  return out
}

/**
 * The frameworks the addon links on Apple targets beyond libSystem, as TAPI stubs in an SDK-shaped
 * directory that cargo-zigbuild searches (`-F $SDKROOT/System/Library/Frameworks`): `whoami` (via
 * `tokio-postgres`) links CoreFoundation and SystemConfiguration. Each stub exports the symbols the
 * addon uses, under the framework's real install name, so the result loads the system's on macOS.
 * A dependency that starts using another symbol fails the link here, naming it: add it below.
 */
function stubSdk(sdk) {
  const frameworks = {
    CoreFoundation: {
      version: '1953.300',
      compat: '150',
      symbols: ['_CFCopyDescription', '_CFErrorCopyDescription', '_CFGetRetainCount', '_CFRelease', '_CFStringGetBytes', '_CFStringGetCStringPtr', '_CFStringGetLength'],
    },
    SystemConfiguration: { version: '1241.100.11', compat: '1', symbols: ['_SCDynamicStoreCopyComputerName'] },
  }
  for (const [name, f] of Object.entries(frameworks)) {
    const dir = join(sdk, 'System', 'Library', 'Frameworks', `${name}.framework`)
    mkdirSync(dir, { recursive: true })
    const targets = '[ x86_64-macos, arm64-macos, arm64e-macos ]'
    writeFileSync(
      join(dir, `${name}.tbd`),
      [
        '--- !tapi-tbd',
        'tbd-version:     4',
        `targets:         ${targets}`,
        `install-name:    '/System/Library/Frameworks/${name}.framework/Versions/A/${name}'`,
        `current-version: ${f.version}`,
        `compatibility-version: ${f.compat}`,
        'exports:',
        `  - targets:         ${targets}`,
        `    symbols:         [ ${f.symbols.join(', ')} ]`,
        '...',
        '',
      ].join('\n'),
    )
  }
  return sdk
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const requested = process.argv.slice(2)
  if (!requested.length || requested[0] === 'list') {
    for (const [triple, t] of Object.entries(TARGETS)) console.log(`${triple.padEnd(28)} -> openmls-node.${t.abi}.node`)
    process.exit(requested.length ? 0 : 1)
  }
  const triples = requested[0] === 'all' ? Object.keys(TARGETS) : requested
  const failed = []
  for (const triple of triples) {
    try { build(triple) } catch (e) { console.error(`[build:cross] ${triple}: ${e.message}`); failed.push(triple) }
  }
  if (failed.length) { console.error(`[build:cross] failed: ${failed.join(', ')}`); process.exit(1) }
  run(process.execPath, [join(root, 'scripts', 'check-binaries.mjs'), ...triples.map(outputFile)])
}
