// PostgreSQL storage, against a real server: `npm test` runs this file under
// scripts/postgres-cluster.mjs, which starts a throwaway cluster and sets OPENMLS_NODE_TEST_PG.
// Without PostgreSQL installed the tests are skipped (CI installs it and requires them).
import test from 'ava'
import { readFileSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { BasicCredential, KeyPackage, MlsGroup, Provider, PublicGroup, SignatureKeyPair } from 'openmls-node'
import { Client, add, applyCommit, assertAgree, assertCode, runWorker } from './helpers.mjs'

const URL_ = process.env.OPENMLS_NODE_TEST_PG
const pgTest = URL_ ? test.serial : test.skip
const worker = fileURLToPath(new URL('./fixtures/pg-worker.mjs', import.meta.url))
const KILLS = Number(process.env.OPENMLS_NODE_PG_KILLS ?? 50)
let schemas = 0
/** A schema of its own for each test: the tests share one cluster. */
const freshSchema = () => `t${process.pid}_${++schemas}`
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** A SQL session for checks from outside the provider. */
async function sql(schema: string) {
  const host = /host=(\S+)/.exec(URL_!)
  const port = /port=(\d+)/.exec(URL_!)
  const client = new pg.Client({ host: host?.[1], port: port ? Number(port[1]) : undefined, user: 'postgres', database: 'postgres' })
  await client.connect()
  await client.query(`SET search_path TO ${schema}`)
  return client
}

/** A member whose state lives in PostgreSQL, in `schema`. */
function pgClient(name: string, schema: string, encryptionKey?: Uint8Array) {
  const provider = new Provider({ storage: { postgres: { connectionString: URL_!, schema }, encryptionKey } })
  const signer = SignatureKeyPair.forCiphersuite(1)
  const client = new Client(name)
  Object.defineProperty(client, 'provider', { value: provider })
  Object.defineProperty(client, 'signer', { value: signer })
  return client
}

/** Every BYTEA value of every table in the schema, concatenated. */
async function allBytes(schema: string): Promise<Buffer> {
  const db = await sql(schema)
  try {
    const cols = await db.query(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND data_type = 'bytea'",
      [schema],
    )
    const parts: Buffer[] = []
    for (const { table_name, column_name } of cols.rows) {
      const rows = await db.query(`SELECT ${column_name} AS v FROM ${table_name}`)
      for (const r of rows.rows) if (r.v) parts.push(r.v)
    }
    return Buffer.concat(parts)
  } finally {
    await db.end()
  }
}

/** The advisory lock key the store takes for a group (SHA-256 of its stored key, first 8 bytes). */
function lockKey(groupId: Uint8Array): string {
  const stored = Buffer.from(JSON.stringify([...groupId]))
  return createHash('sha256').update(stored).digest().readBigInt64BE(0).toString()
}

pgTest('restart: a second provider on the same database loads the group and the conversation goes on', async (t) => {
  const schema = freshSchema()
  const alice = pgClient('alice', schema)
  const bob = new Client('bob')
  alice.createGroup()
  await add(alice, [bob])
  const groupId = alice.g.groupId
  const text = bob.g.createMessageSync('before the restart')
  const first = await alice.g.processMessage(text)
  t.is(first.type === 'application' && Buffer.from(first.data).toString(), 'before the restart')
  alice.provider.close()

  const again = new Provider({ storage: { postgres: { connectionString: URL_!, schema } } })
  t.deepEqual(again.listGroups().map(hex), [hex(groupId)])
  const group = await again.loadGroup(groupId)
  const reply = await bob.g.processMessage(group.createMessageSync('after the restart'))
  t.is(reply.type === 'application' && Buffer.from(reply.data).toString(), 'after the restart')
  const { commit } = await group.selfUpdate()
  await group.mergePendingCommit()
  await applyCommit(bob, commit)
  t.deepEqual(Buffer.from(group.epochAuthenticator()), Buffer.from(bob.g.epochAuthenticator()))
  again.close()
})

pgTest('forward secrecy: a used key package and its private key are gone from the tables', async (t) => {
  const schema = freshSchema()
  const bob = pgClient('bob', schema)
  const alice = new Client('alice')
  alice.createGroup()
  const kp = bob.keyPackageBytes()
  const db = await sql(schema)
  try {
    const before = await db.query('SELECT key_package FROM openmls_key_packages')
    t.is(before.rowCount, 1)
    const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, kp)])
    alice.g.mergePendingCommitSync()
    await bob.join(welcome)
    t.is((await db.query('SELECT 1 FROM openmls_key_packages')).rowCount, 0, 'the key package row is deleted')
    const everything = await allBytes(schema)
    // The bundle held the init and leaf private keys: no stored value holds any of it.
    t.is(everything.indexOf(before.rows[0].key_package), -1, 'no stored value still holds the used key package bundle')
  } finally {
    await db.end()
    bob.provider.close()
  }
})

pgTest('encryption at rest: nothing readable in the tables, and a wrong or missing key is refused', async (t) => {
  const schema = freshSchema()
  const key = randomBytes(32)
  const alice = pgClient('alice-with-a-recognisable-name', schema, key)
  const groupId = Buffer.from('a group id that must not appear in the database')
  alice.group = MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, groupId })
  alice.provider.close()
  const everything = await allBytes(schema)
  t.true(everything.length > 1000)
  t.is(everything.indexOf(groupId), -1, 'the group id is not readable')
  t.is(everything.indexOf(Buffer.from('alice-with-a-recognisable-name')), -1, 'the credential is not readable')
  t.is(everything.indexOf(Buffer.from('"epoch"')), -1, 'no JSON is readable')
  const open = (encryptionKey?: Uint8Array) => new Provider({ storage: { postgres: { connectionString: URL_!, schema }, encryptionKey } })
  await assertCode(t, () => open(randomBytes(32)), 'ERR_WRONG_STORAGE_KEY')
  await assertCode(t, () => open(), 'ERR_WRONG_STORAGE_KEY')
  const reopened = open(key)
  t.deepEqual(reopened.listGroups().map(hex), [hex(groupId)])
  reopened.close()
})

pgTest('bad options: a schema name that is not an identifier, an unreachable server', async (t) => {
  await assertCode(t, () => new Provider({ storage: { postgres: { connectionString: URL_!, schema: 'x; DROP TABLE y' } } }), 'ERR_INVALID_ARGUMENT')
  await assertCode(
    t,
    () => new Provider({ storage: { postgres: { connectionString: 'host=/nonexistent-socket-dir user=postgres', connectTimeoutMs: 500 } } }),
    'ERR_STORAGE_UNAVAILABLE',
  )
})

const TLS = process.env.OPENMLS_NODE_TEST_PG_TLS
const tlsTest = URL_ && TLS ? test.serial : test.skip

/** Whether this provider's connections to the server use TLS, as the server sees them. */
async function usesTls(schema: string): Promise<boolean[]> {
  const db = await sql(schema)
  try {
    const r = await db.query(
      "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'openmls-node' AND a.client_addr IS NOT NULL",
    )
    return r.rows.map((row) => row.ssl)
  } finally {
    await db.end()
  }
}

tlsTest('TLS: verified against the given CA, refused without it (typed), off with sslmode=disable', async (t) => {
  const schema = freshSchema()
  const ca = readFileSync(process.env.OPENMLS_NODE_TEST_PG_CA!)
  const secure = await Provider.open({ storage: { postgres: { connectionString: TLS!, schema, tls: { ca } } } })
  t.deepEqual(await usesTls(schema), [true], 'the open connection is encrypted')
  const s = SignatureKeyPair.forCiphersuite(1)
  const group = MlsGroup.create({ provider: secure, signer: s, credentialWithKey: { credential: new BasicCredential('tls'), signatureKey: s.publicKey } })
  t.is(group.epoch, 0n)
  secure.close()
  // The CA as a PEM string works too.
  const again = await Provider.open({ storage: { postgres: { connectionString: TLS!, schema, tls: { ca: ca.toString() } } } })
  t.deepEqual(again.listGroups().map(hex), [hex(group.groupId)])
  again.close()
  // The test CA is not a public root: without it the handshake fails, with a code and a hint.
  const refused = await t.throwsAsync(Provider.open({ storage: { postgres: { connectionString: TLS!, schema, connectTimeoutMs: 3000 } } }))
  t.is((refused as { code?: string }).code, 'ERR_STORAGE_UNAVAILABLE')
  t.regex(refused!.message, /TLS handshake/)
  // Turned off explicitly, the same server is reached in plaintext.
  const plain = new Provider({ storage: { postgres: { connectionString: TLS!.replace('sslmode=require', 'sslmode=disable'), schema } } })
  t.deepEqual(await usesTls(schema), [false])
  plain.close()
  await assertCode(t, () => new Provider({ storage: { postgres: { connectionString: TLS!, schema, tls: { ca: 'not a certificate' } } } }), 'ERR_INVALID_ARGUMENT')
})

pgTest('Provider.open connects off the event loop, and rejects with a code', async (t) => {
  const schema = freshSchema()
  const provider = await Provider.open({ storage: { postgres: { connectionString: URL_!, schema } } })
  t.true(provider.persistent)
  t.deepEqual(provider.listGroups(), [])
  provider.close()
  const err = await t.throwsAsync(Provider.open({ storage: { postgres: { connectionString: 'host=/nonexistent-socket-dir user=postgres', connectTimeoutMs: 500 } } }))
  t.is((err as { code?: string }).code, 'ERR_STORAGE_UNAVAILABLE')
  const bad = await t.throwsAsync(Provider.open({ storage: { postgres: { connectionString: URL_!, schema: '1bad' } } }))
  t.is((bad as { code?: string }).code, 'ERR_INVALID_ARGUMENT')
})

const runPgWorker = (args: string[], killAfterReady?: number) => runWorker(worker, args, { killAfterReady })

/** Alice's group in `schema` with Bob (in memory) as the other member. */
async function sharedGroup(schema: string) {
  const alice = pgClient('alice', schema)
  const bob = new Client('bob')
  alice.createGroup(false)
  const kps = [KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())]
  const { welcome } = await alice.g.addMembers(kps)
  await alice.g.mergePendingCommit()
  await bob.join(welcome, alice.g.exportRatchetTree())
  return { alice, bob, groupId: alice.g.groupId }
}

pgTest('two processes drive one group at once: no fork, no lost or repeated commit', async (t) => {
  t.timeout(120_000)
  const schema = freshSchema()
  const { alice, bob, groupId } = await sharedGroup(schema)
  const start = alice.g.epoch
  alice.provider.close()
  const N = 15
  const runs = await Promise.all([0, 1].map(() => runPgWorker(['updates', schema, hex(groupId), String(N)])))
  for (const r of runs) t.is(r.code, 0, r.stderr)
  const commits = runs.flatMap((r) => r.lines.filter((l) => l.commit))
  t.is(commits.length, 2 * N, 'every operation completed once')
  commits.sort((a, b) => Number(BigInt(a.epoch) - BigInt(b.epoch)))
  t.deepEqual(
    commits.map((c) => BigInt(c.epoch)),
    Array.from({ length: 2 * N }, (_, i) => start + BigInt(i + 1)),
    'each commit took its own epoch, in one line',
  )
  // Bob follows the one history the two processes wrote.
  for (const c of commits) await applyCommit(bob, Buffer.from(c.commit, 'hex'))
  const reopened = new Provider({ storage: { postgres: { connectionString: URL_!, schema } } })
  const stored = await reopened.loadGroup(groupId)
  t.is(stored.epoch, bob.g.epoch)
  t.deepEqual(Buffer.from(stored.epochAuthenticator()), Buffer.from(bob.g.epochAuthenticator()), 'the stored group and Bob agree')
  t.deepEqual(Buffer.from(stored.exportSecret('pg', new Uint8Array(), 32)), Buffer.from(bob.g.exportSecret('pg', new Uint8Array(), 32)))
  reopened.close()
})

pgTest('a process that is behind reloads before it acts', async (t) => {
  const schema = freshSchema()
  const { alice, bob, groupId } = await sharedGroup(schema)
  const other = new Provider({ storage: { postgres: { connectionString: URL_!, schema } } })
  const second = await other.loadGroup(groupId)
  // The second provider commits; Alice's copy in the first provider is now one epoch behind.
  const { commit } = await second.selfUpdate()
  await second.mergePendingCommit()
  await applyCommit(bob, commit)
  t.is(alice.g.epoch + 1n, second.epoch)
  // Alice's next operation reloads first: her message is in the new epoch, and Bob reads it.
  const message = await alice.g.createMessage(new TextEncoder().encode('from the reloaded copy'))
  t.is(alice.g.epoch, second.epoch)
  const got = await bob.g.processMessage(message)
  t.is(got.type === 'application' && Buffer.from(got.data).toString(), 'from the reloaded copy')
  assertAgree(t, [{ name: 'alice', g: alice.g } as unknown as Client, bob])
  other.close()
  alice.provider.close()
})

pgTest('a batch on PostgreSQL: a bad message gets its typed error under its savepoint, the good ones land and stay', async (t) => {
  const schema = freshSchema()
  const alice = new Client('alice')
  const bob = pgClient('bob', schema)
  alice.createGroup()
  await add(alice, [bob])
  const wires = ['one', 'two', 'three'].map((s) => alice.g.createMessageSync(s))
  const tampered = Uint8Array.from(wires[1])
  tampered[tampered.length - 1] ^= 1
  // Each failed item is rolled back to its savepoint (on PostgreSQL a failed statement would also
  // abort the transaction until then): the items after it must still land.
  const results = await bob.g.processMessages([wires[0], tampered, wires[1], new Uint8Array([1, 2, 3]), wires[2]])
  t.deepEqual(
    results.map((r) => (!r.ok ? r.error.code : r.value.type === 'application' ? Buffer.from(r.value.data).toString() : r.value.type)),
    ['one', 'ERR_DECRYPTION_FAILED', 'two', 'ERR_MALFORMED_MESSAGE', 'three'],
  )
  // What the batch consumed is consumed in the database: a second provider refuses a replay.
  bob.provider.close()
  const again = new Provider({ storage: { postgres: { connectionString: URL_!, schema } } })
  const copy = await again.loadGroup(alice.g.groupId)
  const [replay] = await copy.processMessages([wires[2]])
  t.false(replay.ok, 'a message the batch consumed stays consumed')
  const after = await copy.processMessage(alice.g.createMessageSync('after the batch'))
  t.is(after.type === 'application' && Buffer.from(after.data).toString(), 'after the batch')
  again.close()
})

pgTest('two delivery-service processes share a PublicGroup: each reloads what the other merged', async (t) => {
  const schema = freshSchema()
  const alice = new Client('alice')
  const bob = new Client('bob')
  // Handshakes in the clear, so the delivery service can validate them.
  alice.group = MlsGroup.create({
    provider: alice.provider,
    signer: alice.signer,
    credentialWithKey: alice.credentialWithKey,
    config: { wireFormatPolicy: 'purePlaintext', useRatchetTreeExtension: true },
  })
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  await alice.g.mergePendingCommit()
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome, config: { wireFormatPolicy: 'purePlaintext' } })
  const open = () => new Provider({ storage: { postgres: { connectionString: URL_!, schema } } })
  const [dsA, dsB] = [open(), open()]
  const first = await PublicGroup.fromExternal({ provider: dsA, groupInfo: alice.g.exportGroupInfo() })
  const second = PublicGroup.load(dsB, alice.g.groupId)
  // Commits alternate between the two DS processes; each one's copy is behind every other time.
  for (let i = 0; i < 4; i++) {
    const [committer, other] = i % 2 ? [bob, alice] : [alice, bob]
    const { commit } = await committer.g.selfUpdate()
    await committer.g.mergePendingCommit()
    const ds = i % 2 ? second : first
    const seen = await ds.processMessage(commit)
    t.is(seen.type, 'commit')
    if (seen.type === 'commit') await ds.mergeStagedCommit(seen.stagedCommit)
    await applyCommit(other, commit)
    t.is(ds.epoch, alice.g.epoch, `round ${i}: the DS that merged is in the members' epoch`)
  }
  // A copy that fell behind shows the old epoch until its next operation brings it up to date.
  const { commit } = await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  const seen = await second.processMessage(commit)
  t.is(seen.type, 'commit', 'the second DS reloaded the first one\'s merge before validating')
  if (seen.type === 'commit') await second.mergeStagedCommit(seen.stagedCommit)
  t.deepEqual(Buffer.from(second.confirmationTag()), Buffer.from(alice.g.confirmationTag()))
  dsA.close()
  dsB.close()
})

pgTest('connection loss mid-operation: a typed error, nothing half-written, and the next call reconnects', async (t) => {
  const schema = freshSchema()
  const { alice, bob, groupId } = await sharedGroup(schema)
  const epoch = alice.g.epoch
  const authenticator = Buffer.from(alice.g.epochAuthenticator())
  const db = await sql(schema)
  try {
    // Hold the group's lock, so the operation waits inside its transaction, then cut its session.
    await db.query('BEGIN')
    await db.query('SELECT pg_advisory_xact_lock($1)', [lockKey(groupId)])
    const pending = alice.g.selfUpdate()
    let pid: number | undefined
    for (let i = 0; i < 200 && pid === undefined; i++) {
      const r = await db.query(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'openmls-node' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
      )
      pid = r.rows[0]?.pid
      if (pid === undefined) await new Promise((r) => setTimeout(r, 10))
    }
    t.truthy(pid, 'the operation is waiting for the group inside its transaction')
    await db.query('SELECT pg_terminate_backend($1)', [pid])
    await db.query('COMMIT')
    const err = await t.throwsAsync(pending)
    t.is((err as { code?: string }).code, 'ERR_STORAGE_UNAVAILABLE', err?.message)
  } finally {
    await db.end()
  }
  t.is(alice.g.epoch, epoch, 'the group is as before')
  t.deepEqual(Buffer.from(alice.g.epochAuthenticator()), authenticator)
  // The next call connects again and works; Bob follows.
  const { commit } = await alice.g.selfUpdate()
  await alice.g.mergePendingCommit()
  await applyCommit(bob, commit)
  t.deepEqual(Buffer.from(alice.g.epochAuthenticator()), Buffer.from(bob.g.epochAuthenticator()))
  alice.provider.close()
})

pgTest(`kill test: SIGKILL a process mid-operation ${KILLS} times; the database holds the last completed operation`, async (t) => {
  t.timeout(10 * 60_000)
  const schema = freshSchema()
  const { alice, groupId } = await sharedGroup(schema)
  alice.provider.close()
  let seed = 12345
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
  const reader = new Provider({ storage: { postgres: { connectionString: URL_!, schema } } })
  let lastEpoch = (await reader.loadGroup(groupId)).epoch
  reader.close()
  for (let i = 0; i < KILLS; i++) {
    const r = await runPgWorker(['loop', schema, hex(groupId)], Math.floor(rand() * 60))
    const done = r.lines.filter((l) => l.done).map((l) => BigInt(l.done))
    const reported = done.length > 0 ? done[done.length - 1] : lastEpoch
    const check = new Provider({ storage: { postgres: { connectionString: URL_!, schema } } })
    const g = await check.loadGroup(groupId)
    // Killed after a merge committed and before it printed: one epoch more than reported.
    t.true(g.epoch === reported || g.epoch === reported + 1n, `run ${i}: stored epoch ${g.epoch}, last reported ${reported}`)
    lastEpoch = g.epoch
    check.close()
  }
  // The survivor goes on from whatever the last kill left (a pending commit included).
  const r = await runPgWorker(['updates', schema, hex(groupId), '2'])
  t.is(r.code, 0, r.stderr)
  t.is(r.lines.filter((l) => l.commit).length, 2)
})
