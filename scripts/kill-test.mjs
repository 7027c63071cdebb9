// The long SIGKILL test: `npm run test:kill` (500 kills) or `npm run test:kill -- 2000`.
// `npm test` runs the same test with 50 kills.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const kills = process.argv[2] ?? '500'
const ava = fileURLToPath(new URL('../node_modules/ava/entrypoints/cli.mjs', import.meta.url))
const result = spawnSync(process.execPath, [ava, '__test__/persistence.test.mts', '--match', 'kill test*', '--timeout', '30m', '--verbose'], {
  stdio: 'inherit',
  env: { ...process.env, OPENMLS_NODE_KILLS: kills },
})
process.exit(result.status ?? 1)
