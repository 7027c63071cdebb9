// Fails if the TypeScript wrapper (ts/) has a runtime import cycle: a module that, through value
// imports, imports itself. Type-only imports (`import type`, `{ type X }` only) vanish at build
// time and do not count. Run by `npm run lint`.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = new URL('../ts/', import.meta.url).pathname
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'))
const IMPORT = /^import\s+(?!type\b)([^;]*?)\s+from\s+'\.\/([\w-]+)\.js'/gms
const typeOnly = (clause) => /^\{[\s,]*(type\s+\w+(\s+as\s+\w+)?[\s,]*)+\}$/.test(clause.trim())

const graph = new Map(
  files.map((f) => [f, [...readFileSync(join(dir, f), 'utf8').matchAll(IMPORT)].filter((m) => !typeOnly(m[1])).map((m) => `${m[2]}.ts`)]),
)

const cycles = new Set()
const done = new Set()
function visit(file, path) {
  const at = path.indexOf(file)
  if (at >= 0) return void cycles.add([...path.slice(at), file].join(' -> '))
  if (done.has(file)) return
  for (const next of graph.get(file) ?? []) visit(next, [...path, file])
  done.add(file)
}
for (const f of files) visit(f, [])

if (cycles.size) {
  console.error(`check-import-cycles: ${cycles.size} runtime import cycle(s) in ts/:\n  ${[...cycles].join('\n  ')}`)
  process.exit(1)
}
console.log(`check-import-cycles: ${files.length} modules in ts/, no runtime import cycle`)
