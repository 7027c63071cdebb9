// The mutation fuzz of every public entry point that takes bytes (see fuzz-harness.mts), with a
// fixed seed and budget. `npm run fuzz -- N` runs the same harness for longer, in child processes.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { errorCodes } from 'openmls-node'
import { TARGETS, World, emptyStats, merge, run, selfCheck, type Stats } from './fuzz-harness.mjs'

const SEED = 0x2545f491
const total = emptyStats()
let world: World

test.before(async () => {
  world = await World.create()
})

test.after.always(() => world?.dispose())

test.serial('the harness: every target accepts its genuine seed, so a rejection means a caught mutation', async (t) => {
  t.deepEqual(await selfCheck(world), [])
})

/** Runs a group of targets, then asserts the verdicts. */
async function flood(names: string[], count: number, seed: number): Promise<Stats> {
  const stats = await run(world, { seed, count, only: names, batch: 100 })
  merge(total, stats)
  return stats
}

function assertVerdicts(t: import('ava').ExecutionContext, stats: Stats, names: string[], count: number) {
  const show = (fs: Stats['internal']) => JSON.stringify(fs.slice(0, 3).map((f) => ({ ...f, input: f.input.slice(0, 400), seed: f.seed.slice(0, 200) })), null, 1)
  t.is(stats.inputs, count)
  t.deepEqual(stats.internal, [], `ERR_INTERNAL (a caught panic, a bug): ${show(stats.internal)}`)
  t.deepEqual(stats.failures, [], `accepted with a wrong outcome, or not a typed OpenMlsError: ${show(stats.failures)}`)
  const known = new Set<string>(errorCodes)
  for (const code of Object.keys(stats.rejected)) t.true(known.has(code), code)
  // Every target of the group ran, and was fed enough inputs to mean something.
  for (const name of names) t.true((stats.byTarget[name]?.inputs ?? 0) >= 100, `${name} ran ${stats.byTarget[name]?.inputs ?? 0} inputs`)
  t.log(`${stats.inputs} inputs, accepted ${stats.accepted}; rejected by code: ${JSON.stringify(stats.rejected)}`)
}

const GROUPS: Record<string, { names: string[]; count: number }> = {
  'group messages: processMessage(+Sync), join proposals, external commits': {
    names: ['processMessageSync', 'processMessage', 'external proposals'],
    count: 10000,
  },
  'what members send: custom proposals, PSK ids and secrets, setAad, plaintexts, exportSecret, references': {
    names: ['custom proposals', 'PSKs', 'setAad / createMessage', 'exportSecret', 'references'],
    count: 4000,
  },
  'joining: Welcomes (with and without the tree), ratchet trees, ProcessedWelcome, GroupInfos, external-join options': {
    names: [
      'joinFromWelcomeSync',
      'joinFromWelcome',
      'joinFromWelcome ratchetTree',
      'ProcessedWelcome',
      'joinByExternalCommitSync',
      'joinByExternalCommit',
      'joinByExternalCommit ratchetTree',
      'joinByExternalCommit aad/selfRemoveProposals',
    ],
    count: 10000,
  },
  'the delivery service: PublicGroup.processMessage(+Sync), fromExternal, setGroupInfo': {
    names: ['PublicGroup.processMessage', 'PublicGroup.fromExternal / setGroupInfo'],
    count: 3000,
  },
  'decoders: KeyPackage.fromBytes, MlsMessage.parse, SignatureKeyPair.fromBytes, X.509 credentials, extensions, snapshots': {
    names: ['KeyPackage.fromBytes', 'MlsMessage.parse', 'SignatureKeyPair.fromBytes', 'X.509 credential', 'extensions', 'Provider.importSnapshot'],
    count: 10000,
  },
}

let groupSeed = SEED
for (const [title, { names, count }] of Object.entries(GROUPS)) {
  const seed = groupSeed++
  test.serial(`${title}: never a crash or ERR_INTERNAL, every rejection typed, the group still works`, async (t) => {
    const stats = await flood(names, count, seed)
    assertVerdicts(t, stats, names, count)
    if (names.includes('processMessageSync')) t.true(Object.keys(stats.rejected).length >= 5, 'the message flood hit several distinct checks')
  })
}

test.serial('every byte-taking target ran, over 20,000 inputs in all', (t) => {
  for (const target of TARGETS) t.true((total.byTarget[target.name]?.inputs ?? 0) > 0, `${target.name} did not run`)
  t.true(total.inputs >= 20_000, `${total.inputs} inputs`)
  t.is(total.internal.length, 0)
})

test.serial('npm run fuzz survives a crash of the addon and names the input that caused it', (t) => {
  // --crash-at makes the child abort just before that input, as a crash in native code would.
  const r = spawnSync(process.execPath, ['scripts/fuzz.mjs', '300', '--chunk', '200', '--crash-at', '250', '--only', 'MlsMessage.parse'], { encoding: 'utf8' })
  t.is(r.status, 1, r.stderr)
  t.regex(r.stdout, /^inputs: +300$/m)
  t.regex(r.stdout, /^crashes: +1$/m)
  // A POSIX child dies of SIGABRT; Windows has no signals, and Node's abort() exits with code 134 there.
  const exit = process.platform === 'win32' ? '134' : '"SIGABRT"'
  t.regex(r.stdout, new RegExp(`"index":250,"target":"MlsMessage.parse","exit":${exit},"input":"[0-9a-f]+"`))
  t.regex(r.stdout, /^ERR_INTERNAL: 0$/m)
})
