// `npm run bench` from a fresh clone: builds the addon and the TypeScript wrapper first when either
// is missing (`npm test` and `npm run demo` always build; the benchmark keeps what is there, so a
// profile build loaded some other way is not overwritten).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const addon = readdirSync(root).some((f) => f.startsWith('openmls-node.') && f.endsWith('.node'))
const wrapper = existsSync(join(root, 'dist', 'index.js')) && existsSync(join(root, 'dist', 'index.mjs'))
if (!addon || !wrapper) {
  console.error(`ensure-built: ${addon ? '' : 'no addon '}${wrapper ? '' : 'no dist/ '}- running npm run build`)
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  process.exit(r.status ?? 1)
}
