// npm run check:binaries [-- <file or dir>...]: checks what each built addon needs from the system
// it will be loaded on. Default: every openmls-node.*.node at the root and in target/cross/out.
//
// - linux *-gnu: the ELF machine matches the name, and no symbol needs a glibc above 2.17 (the floor
//   napi-rs's templates ship: CentOS 7, Amazon Linux 2, Debian 9+, Ubuntu 14.04+). Read with objdump -T.
// - linux *-musl: the ELF machine matches, and NEEDED (readelf -d) is only libc.so (musl's loader maps
//   any libc.* name to itself), and at most libgcc_s.so.1 (Alpine's libgcc, which Alpine's Node needs).
// - win32: the PE machine matches, and it imports no MinGW runtime DLL (libgcc_s, libwinpthread,
//   libstdc++) and no libnode/node.exe (N-API symbols are resolved from the host process at run time).
// - darwin: a 64-bit Mach-O dylib (MH_DYLIB) of the right CPU, built for macOS (LC_BUILD_VERSION
//   platform 1) with a minimum macOS no newer than Node 20's own, that loads only libraries macOS
//   has (/usr/lib/*.dylib, /System/Library/Frameworks). (napi-sys 3 looks N-API up in the host
//   process with dlsym when the addon loads, so no napi_* symbol is imported and no libnode linked.)
// Exits 1 if any check fails.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const GLIBC_FLOOR = [2, 17]
const MUSL_NEEDED = new Set(['libc.so', 'libgcc_s.so.1'])
const ELF_MACHINE = { x64: 'X86-64', ia32: '80386', arm64: 'AArch64', arm: 'ARM' }
const PE_FORMAT = { x64: 'pei-x86-64', ia32: 'pei-i386', arm64: 'pei-aarch64' }
const MACHO_CPU = { 0x01000007: 'x64', 0x0100000c: 'arm64' }
// The oldest macOS Node 20's own binaries run on (its BUILDING.md): 10.15 on x64, 11.0 on arm64.
const MACOS_FLOOR = { x64: [10, 15], arm64: [11, 0] }

const args = process.argv.slice(2)
const inputs = args.length ? args : [root, join(root, 'target', 'cross', 'out')]
const files = []
for (const input of inputs) {
  if (!existsSync(input)) continue
  if (statSync(input).isDirectory()) {
    for (const f of readdirSync(input).sort()) if (/^openmls-node\..+\.node$/.test(f)) files.push(join(input, f))
  } else files.push(input)
}
if (!files.length) {
  console.error(`check:binaries: no openmls-node.*.node in ${inputs.join(', ')}`)
  process.exit(1)
}

const sh = (cmd, a) => execFileSync(cmd, a, { encoding: 'utf8', maxBuffer: 64 << 20 })
const cmpVersion = (a, b) => { for (let i = 0; i < Math.max(a.length, b.length); i++) { const d = (a[i] ?? 0) - (b[i] ?? 0); if (d) return d } return 0 }

let failed = 0
for (const file of files) {
  const m = /^openmls-node\.([a-z0-9]+)-([a-z0-9]+)(?:-([a-z]+))?\.node$/.exec(basename(file))
  if (!m) { console.log(`FAIL ${file}: name is not openmls-node.<platform>-<arch>[-<abi>].node`); failed++; continue }
  const [, platform, arch, abi] = m
  const problems = []
  const facts = []
  try {
    if (platform === 'linux' || platform === 'android') {
      const header = sh('readelf', ['-h', file])
      const machine = /Machine:\s+(.*)/.exec(header)?.[1] ?? '?'
      if (!machine.includes(ELF_MACHINE[arch] ?? '?')) problems.push(`ELF machine ${machine}, expected ${ELF_MACHINE[arch]}`)
      const needed = [...sh('readelf', ['-d', file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((x) => x[1])
      facts.push(`NEEDED ${needed.join(' ') || 'none'}`)
      if (abi === 'gnu' || abi === 'gnueabihf') {
        const versions = [...new Set(sh('objdump', ['-T', file]).match(/GLIBC_[0-9.]+/g) ?? [])]
          .map((v) => v.slice(6).split('.').map(Number)).sort(cmpVersion)
        const top = versions.at(-1)
        facts.push(`glibc floor ${top ? top.join('.') : 'none'}`)
        const over = versions.filter((v) => cmpVersion(v, GLIBC_FLOOR) > 0)
        if (over.length) {
          const syms = sh('objdump', ['-T', file]).split('\n').filter((l) => over.some((v) => l.includes(`GLIBC_${v.join('.')} `) || l.includes(`GLIBC_${v.join('.')})`)))
            .map((l) => l.trim().split(/\s+/).slice(-2).join(' ')).slice(0, 8)
          problems.push(`needs glibc ${top.join('.')} > ${GLIBC_FLOOR.join('.')} (${syms.join(', ')}${over.length ? ', ...' : ''})`)
        }
      } else if (abi === 'musl') {
        const extra = needed.filter((n) => !MUSL_NEEDED.has(n))
        if (extra.length) problems.push(`needs ${extra.join(', ')} besides libc.so/libgcc_s.so.1`)
        if (!needed.includes('libc.so')) problems.push('does not need libc.so')
      }
    } else if (platform === 'win32') {
      const p = sh('objdump', ['-p', file])
      const format = /file format (\S+)/.exec(p)?.[1] ?? '?'
      if (format !== PE_FORMAT[arch]) problems.push(`PE format ${format}, expected ${PE_FORMAT[arch]}`)
      const dlls = [...p.matchAll(/DLL Name: (\S+)/g)].map((x) => x[1])
      facts.push(`imports ${dlls.join(' ')}`)
      const bad = dlls.filter((d) => /^(libgcc|libwinpthread|libstdc\+\+|libnode|node\.exe)/i.test(d))
      if (bad.length) problems.push(`imports ${bad.join(', ')}, which Windows does not have`)
    } else if (platform === 'darwin') {
      const m = machO(readFileSync(file))
      facts.push(`Mach-O ${m.fileType === 6 ? 'dylib' : `file type ${m.fileType}`} ${m.cpu}, macOS ${m.minOS ?? '?'}+, loads ${m.dylibs.join(' ') || 'nothing'}`)
      if (m.cpu !== arch) problems.push(`CPU ${m.cpu}, expected ${arch}`)
      if (m.fileType !== 6) problems.push(`Mach-O file type ${m.fileType}, expected 6 (MH_DYLIB)`)
      if (m.platform !== 1) problems.push(`built for Apple platform ${m.platform ?? 'unknown'}, expected 1 (macOS)`)
      if (!m.minOS) problems.push('no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX: minimum macOS unknown')
      else if (cmpVersion(m.minOS.split('.').map(Number), MACOS_FLOOR[arch]) > 0) problems.push(`needs macOS ${m.minOS} > ${MACOS_FLOOR[arch].join('.')}, the oldest Node 20 runs on`)
      const foreign = m.dylibs.filter((d) => !/^\/usr\/lib\/lib[\w.+-]+\.dylib$|^\/System\/Library\/Frameworks\//.test(d))
      if (foreign.length) problems.push(`loads ${foreign.join(', ')}, which is not part of macOS`)
      if (!m.dylibs.includes('/usr/lib/libSystem.B.dylib')) problems.push('does not load libSystem.B.dylib')
    } else problems.push(`unknown platform ${platform}`)
  } catch (e) {
    problems.push(String(e.message).split('\n')[0])
  }
  if (problems.length) failed++
  console.log(`${problems.length ? 'FAIL' : 'ok  '} ${file}: ${[...facts, ...problems].join('; ')}`)
}
process.exit(failed ? 1 : 0)

/** The header and load commands of a thin 64-bit little-endian Mach-O (what cargo builds per target). */
function machO(b) {
  const magic = b.readUInt32LE(0)
  if (magic !== 0xfeedfacf) throw new Error(`not a thin 64-bit Mach-O (magic ${magic.toString(16)})`)
  const out = { cpu: MACHO_CPU[b.readUInt32LE(4)] ?? `0x${b.readUInt32LE(4).toString(16)}`, fileType: b.readUInt32LE(12), dylibs: [], platform: undefined, minOS: undefined }
  const ncmds = b.readUInt32LE(16)
  const version = (v) => `${v >>> 16}.${(v >> 8) & 0xff}` + ((v & 0xff) ? `.${v & 0xff}` : '')
  const cstr = (at) => b.toString('latin1', at, b.indexOf(0, at))
  for (let i = 0, at = 32; i < ncmds; i++) {
    const cmd = b.readUInt32LE(at), size = b.readUInt32LE(at + 4)
    if (cmd === 0x32) { out.platform = b.readUInt32LE(at + 8); out.minOS = version(b.readUInt32LE(at + 12)) } // LC_BUILD_VERSION
    else if (cmd === 0x24) { out.platform = 1; out.minOS = version(b.readUInt32LE(at + 8)) } // LC_VERSION_MIN_MACOSX
    else if (cmd === 0x0c || cmd === 0x80000018 || cmd === 0x8000001f || cmd === 0x80000023) out.dylibs.push(cstr(at + b.readUInt32LE(at + 8))) // LC_(WEAK_|REEXPORT_|LAZY_)LOAD_DYLIB
    at += size
  }
  return out
}
