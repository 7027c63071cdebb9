// Adds a linux-ia32 (i686-unknown-linux-gnu) branch to the loader that `napi build` generates.
//
// napi-rs v3 does not list i686-unknown-linux-gnu among its targets, so its generated index.js has
// no `process.arch === 'ia32'` case under Linux and a 32-bit x86 Linux install would fail to load
// the binary even though openmls supports that platform. This script copies the generated
// linux-x64-gnu branch with the target name swapped, and inserts it into the Linux section.
// It is idempotent and fails loudly if the generated loader ever changes shape.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const file = fileURLToPath(new URL('../index.js', import.meta.url))
const source = readFileSync(file, 'utf8')

if (source.includes('linux-ia32-gnu')) {
  process.exit(0)
}

const linuxStart = source.indexOf("} else if (process.platform === 'linux') {")
if (linuxStart < 0) throw new Error('patch-loader: no Linux section in index.js')

// The two attempts (local .node file, then the per-platform npm package) for linux-x64-gnu.
const x64Branch = /( *)try \{\n\s*return require\('\.\/[^']+\.linux-x64-gnu\.node'\)[\s\S]*?loadErrors\.push\(e\)\n\s*\}\n\s*try \{\n[\s\S]*?loadErrors\.push\(e\)\n\s*\}\n/
const match = x64Branch.exec(source.slice(linuxStart))
if (!match) throw new Error('patch-loader: cannot find the linux-x64-gnu branch in index.js')

// Re-indent from the x64 branch's depth (inside the musl check) to a direct arch branch.
const indent = match[1]
const ia32Branch = match[0]
  .split('\n')
  .map((line) => (line.startsWith(indent) ? '      ' + line.slice(indent.length) : line))
  .join('\n')
  .replaceAll('linux-x64-gnu', 'linux-ia32-gnu')

const anchor = "    } else if (process.arch === 'arm64') {"
const anchorAt = source.indexOf(anchor, linuxStart)
if (anchorAt < 0) throw new Error('patch-loader: cannot find the Linux arm64 branch in index.js')

const patched =
  source.slice(0, anchorAt) +
  "    } else if (process.arch === 'ia32') {\n" +
  '      // Added by scripts/patch-loader.mjs: napi-rs v3 generates no linux-ia32 branch.\n' +
  ia32Branch +
  source.slice(anchorAt)

writeFileSync(file, patched)
console.log('patch-loader: added the linux-ia32-gnu branch to index.js')
