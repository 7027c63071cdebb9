// Peak RSS of the add-N case, in a process of its own so that no other scenario's memory counts.
// Plain JavaScript, run without tsx, so that the loader's memory does not count either.
// Usage: node bench/rss-child.mjs openmls-node|ts-mls N
// Prints JSON: `rss.start` (after the imports), `rss.setup` (after making the key packages and
// the group, before the add) and `rss.peak` (after the committer, an existing member and a
// joiner have done the add), each the process's peak RSS so far, in MB (10^6 bytes).
import { resourceUsage } from 'node:process'

const [lib, countArg] = process.argv.slice(2)
const n = Number(countArg)
if (!['openmls-node', 'ts-mls'].includes(lib) || !(n >= 1)) {
  console.error('usage: node bench/rss-child.mjs openmls-node|ts-mls N')
  process.exit(2)
}
const mb = () => (resourceUsage().maxRSS * 1024) / 1e6
const suiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'
const fail = (what) => {
  throw new Error(`rss-child: ${what}`)
}

/** openmls-node: the Sync methods, in-memory providers, the tree passed out of band. */
async function openmls() {
  const { BasicCredential, Ciphersuite, KeyPackage, MlsGroup, Provider, SignatureKeyPair } = await import('openmls-node')
  const suite = Ciphersuite[suiteName]
  const start = mb()
  const client = (name, provider = new Provider()) => {
    const signer = SignatureKeyPair.forCiphersuite(suite)
    const credentialWithKey = { credential: new BasicCredential(name), signatureKey: signer.publicKey }
    const kp = () => KeyPackage.builder().build({ ciphersuite: suite, provider, signer, credentialWithKey }).toBytes()
    return { provider, signer, credentialWithKey, kp }
  }
  const poolProvider = new Provider()
  const pool = Array.from({ length: n - 1 }, (_, i) => client(`member ${i}`, poolProvider).kp())
  const [a, b, joiner] = ['alice', 'bob', 'joiner'].map((name) => client(name))
  const ga = MlsGroup.create({ provider: a.provider, signer: a.signer, credentialWithKey: a.credentialWithKey })
  const add = (kps) => {
    const out = ga.addMembersSync(kps.map((bytes) => KeyPackage.fromBytes(a.provider, bytes)))
    ga.mergePendingCommitSync()
    return { ...out, ratchetTree: ga.exportRatchetTree() }
  }
  const first = add([b.kp()])
  const gb = MlsGroup.joinFromWelcomeSync({ provider: b.provider, signer: b.signer, welcome: first.welcome, ratchetTree: first.ratchetTree })
  const joinerKp = joiner.kp()
  const setup = mb()
  const added = add([joinerKp, ...pool])
  const processed = gb.processMessageSync(added.commit)
  if (processed.kind !== 'commit') fail('expected a commit')
  gb.mergeStagedCommitSync(processed.stagedCommit)
  const gj = MlsGroup.joinFromWelcomeSync({ provider: joiner.provider, signer: joiner.signer, welcome: added.welcome, ratchetTree: added.ratchetTree })
  if (gj.epoch !== gb.epoch || ga.members().length !== n + 2) fail('the add did not land')
  return { start, setup }
}

/** ts-mls: the same flow. */
async function tsmls() {
  const mls = await import('ts-mls')
  const { encodeRatchetTree, decodeRatchetTree } = await import('ts-mls/ratchetTree.js')
  const impl = await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(suiteName))
  const start = mb()
  const encode = (content) => mls.encodeMlsMessage({ version: 'mls10', ...content })
  const decode = (bytes) => mls.decodeMlsMessage(bytes, 0)[0]
  const keyPair = (name) => mls.generateKeyPackage({ credentialType: 'basic', identity: new TextEncoder().encode(name) }, mls.defaultCapabilities(), mls.defaultLifetime, [], impl)
  const kpBytes = (kp) => encode({ wireformat: 'mls_key_package', keyPackage: kp.publicPackage })
  const pool = []
  for (let i = 0; i < n - 1; i++) pool.push(kpBytes(await keyPair(`member ${i}`)))
  const aKp = await keyPair('alice')
  let a = await mls.createGroup(impl.rng.randomBytes(16), aKp.publicPackage, aKp.privatePackage, [], impl)
  const add = async (kps) => {
    const extraProposals = kps.map((bytes) => ({ proposalType: 'add', add: { keyPackage: decode(bytes).keyPackage } }))
    const r = await mls.createCommit({ state: a, cipherSuite: impl }, { extraProposals })
    a = r.newState
    return { commit: mls.encodeMlsMessage(r.commit), welcome: encode({ wireformat: 'mls_welcome', welcome: r.welcome }), ratchetTree: encodeRatchetTree(a.ratchetTree) }
  }
  const join = (kp, out) => mls.joinGroup(decode(out.welcome).welcome, kp.publicPackage, kp.privatePackage, mls.emptyPskIndex, impl, decodeRatchetTree(out.ratchetTree, 0)[0])
  const bKp = await keyPair('bob')
  const first = await add([kpBytes(bKp)])
  let b = await join(bKp, first)
  const joinerKp = await keyPair('joiner')
  const setup = mb()
  const added = await add([kpBytes(joinerKp), ...pool])
  b = (await mls.processPrivateMessage(b, decode(added.commit).privateMessage, mls.emptyPskIndex, impl)).newState
  const j = await join(joinerKp, added)
  if (j.groupContext.epoch !== b.groupContext.epoch) fail('the add did not land')
  return { start, setup }
}

const { start, setup } = lib === 'openmls-node' ? await openmls() : await tsmls()
console.log(JSON.stringify({ 'rss.start': start, 'rss.setup': setup, 'rss.peak': mb() }))
