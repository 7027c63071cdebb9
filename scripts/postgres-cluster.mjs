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
// With the `openssl` command at hand, the cluster also listens on 127.0.0.1 (a free port) with TLS,
// its certificate issued by a throwaway CA: OPENMLS_NODE_TEST_PG_TLS is a connection string for it
// (sslmode=require) and OPENMLS_NODE_TEST_PG_CA the CA's PEM file.
//
// initdb and postgres refuse to run as root: as root, the cluster runs as the unprivileged system
// user `openmls_pg`, created if missing.

import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
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

/** A TCP port free on 127.0.0.1 right now. */
function freePort() {
  const script = "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim())
}

/** A throwaway CA and a server certificate for localhost and 127.0.0.1, in `dir`; null without openssl. */
function makeCertificates(dir) {
  if (spawnSync('sh', ['-c', 'command -v openssl']).status !== 0) return null
  const ssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  ssl(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=openmls-node test CA', '-keyout', 'ca.key', '-out', 'ca.pem'])
  ssl(['req', ...ec, '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr'])
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n')
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'server.crt', '-extfile', 'san.ext'])
  chmodSync(join(dir, 'server.key'), 0o600)
  if (isRoot()) execFileSync('chown', [USER, join(dir, 'server.key'), join(dir, 'server.crt')])
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') }
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
  const certs = makeCertificates(dir)
  const port = certs ? freePort() : null
  const listen = certs
    ? `-c listen_addresses=127.0.0.1 -p ${port} -c ssl=on -c ssl_cert_file=${certs.cert} -c ssl_key_file=${certs.key}`
    : "-c listen_addresses=''"
  const options = `-k ${dir} ${listen} -c max_connections=60 -c fsync=on`
  asOwner(join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start'])
  let stopped = false
  const socket = certs ? `host=${dir} port=${port}` : `host=${dir}`
  return {
    dir,
    connectionString: `${socket} user=postgres dbname=postgres`,
    tls: certs && { connectionString: `host=localhost port=${port} user=postgres dbname=postgres sslmode=require`, ca: certs.ca, port },
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
    if (!cluster.tls && process.env.OPENMLS_NODE_REQUIRE_PG === '1') {
      cluster.stop()
      console.error('postgres-cluster: openssl is not installed, and OPENMLS_NODE_REQUIRE_PG=1 requires the TLS test (apt-get install openssl)')
      process.exit(1)
    }
    env.OPENMLS_NODE_TEST_PG = cluster.connectionString
    if (cluster.tls) {
      env.OPENMLS_NODE_TEST_PG_TLS = cluster.tls.connectionString
      env.OPENMLS_NODE_TEST_PG_CA = cluster.tls.ca
    }
    console.log(`postgres-cluster: started a throwaway cluster on the Unix socket in ${cluster.dir}${cluster.tls ? ` and with TLS on 127.0.0.1:${cluster.tls.port}` : " (no openssl: the TLS test is skipped)"}`)
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
