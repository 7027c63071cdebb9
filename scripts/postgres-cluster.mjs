#!/usr/bin/env node
// A throwaway PostgreSQL cluster for the tests and the benchmark: initdb into a temp directory,
// started on a Unix socket in that directory (no TCP port), trust authentication for the local
// socket only, stopped and deleted afterwards.
//
//   node scripts/postgres-cluster.mjs run -- <command...>
//     starts a cluster, runs the command with OPENMLS_NODE_TEST_PG set to its connection string,
//     stops the cluster (also when the command fails), and exits with the command's status.
//
// PostgreSQL comes from Debian's packages (`apt-get install postgresql`); `.ci/run` installs them.
// Without them, `run` prints that the PostgreSQL tests are skipped and runs the command without
// OPENMLS_NODE_TEST_PG (the tests that need it skip themselves). With OPENMLS_NODE_REQUIRE_PG=1
// (CI), a missing PostgreSQL is an error instead.
//
// initdb and postgres refuse to run as root: as root, the cluster runs as the unprivileged system
// user `openmls_pg`, created if missing.

import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const USER = 'openmls_pg'

/** The directory of PostgreSQL's server binaries, or null. */
export function postgresBinDir() {
  const base = '/usr/lib/postgresql'
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    if (versions.length > 0) return join(base, versions[0], 'bin')
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' })
  const found = which.stdout.trim()
  return which.status === 0 && found ? join(found, '..') : null
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0

function asOwner(bin, args) {
  if (!isRoot()) return execFileSync(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
  return execFileSync('runuser', ['-u', USER, '--', bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
}

function ensureUser() {
  if (!isRoot()) return
  if (spawnSync('id', ['-u', USER]).status === 0) return
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER])
}

/**
 * Starts a cluster. Returns `{ dir, connectionString, stop() }`; `stop` is idempotent and also
 * deletes the directory.
 */
export function startCluster(bin = postgresBinDir()) {
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)')
  ensureUser()
  const dir = mkdtempSync(join(tmpdir(), 'openmls-pg-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  if (isRoot()) execFileSync('chown', [USER, dir])
  asOwner(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'])
  const options = `-k ${dir} -c listen_addresses='' -c max_connections=60 -c fsync=on`
  asOwner(join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start'])
  let stopped = false
  return {
    dir,
    connectionString: `host=${dir} user=postgres dbname=postgres`,
    stop() {
      if (stopped) return
      stopped = true
      try {
        asOwner(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}

function main() {
  const [cmd, ...rest] = process.argv.slice(2)
  if (cmd !== 'run' || rest[0] !== '--' || rest.length < 2) {
    console.error('usage: node scripts/postgres-cluster.mjs run -- <command...>')
    process.exit(2)
  }
  const command = rest.slice(1)
  const bin = postgresBinDir()
  let cluster = null
  const env = { ...process.env }
  if (!bin) {
    if (process.env.OPENMLS_NODE_REQUIRE_PG === '1') {
      console.error('postgres-cluster: PostgreSQL is not installed, and OPENMLS_NODE_REQUIRE_PG=1 requires it (apt-get install postgresql)')
      process.exit(1)
    }
    console.log('postgres-cluster: PostgreSQL is not installed: the PostgreSQL tests are skipped (apt-get install postgresql runs them)')
  } else {
    cluster = startCluster(bin)
    env.OPENMLS_NODE_TEST_PG = cluster.connectionString
    console.log(`postgres-cluster: started a throwaway cluster on the Unix socket in ${cluster.dir}`)
  }
  const stop = () => cluster?.stop()
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { stop(); process.exit(130) })
  let status = 1
  try {
    status = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env }).status ?? 1
  } finally {
    stop()
  }
  process.exit(status)
}

if (import.meta.url === `file://${process.argv[1]}`) main()
