// Builds the test-only addon (feature `test-vectors`) and runs the conformance suite against it.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const sh = (cmd, args, env = process.env) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, shell: process.platform === 'win32' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
sh('npm', ['run', 'build:test-addon'])
const dir = `${root}build/test-addon/`
const addon = readdirSync(dir).find((f) => f.endsWith('.node'))
const ava = `${root}node_modules/ava/entrypoints/cli.mjs`
sh(process.execPath, [ava, '__test__/vectors.test.mts'], { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: dir + addon })
