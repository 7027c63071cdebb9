// A deterministic mutation fuzz of every public entry point that takes bytes. Shared by
// __test__/fuzz.test.mts (a fixed budget in `npm test`) and scripts/fuzz.mjs (`npm run fuzz -- N`,
// which runs this file as a child process so that a crash of the addon is caught and reported).
//
// Seeds are real, valid encodings made at start-up. Each input is one seed mutated by a xorshift
// PRNG whose state depends only on (seed, input index), so the mutation recipe of input i is
// always the same. The seeds hold fresh keys, so the bytes differ between runs: a finding records
// the input's bytes, not just its index.
//
// The verdict for every input: either accepted, and then the outcome is genuine (a decrypted
// plaintext equals the original, an accepted commit leads to the committer's epoch, ...), or
// rejected with an OpenMlsError whose code is a known one and is not ERR_INTERNAL. After every
// batch the main group still works: a message round trip both ways and agreeing epoch
// authenticators.
import { mkdtempSync, rmSync, writeSync, openSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  BasicCredential,
  ExternalProposal,
  JoinProposal,
  KeyPackage,
  MlsGroup,
  MlsMessage,
  OpenMlsError,
  OtherCredential,
  ProcessedWelcome,
  Provider,
  PublicGroup,
  SignatureKeyPair,
  X509Credential,
  errorCodes,
  type Credential,
  type ErrorCode,
  type Extension,
  type StagedCommit,
  type WireFormatPolicy,
} from 'openmls-node'

// --- deterministic randomness ---------------------------------------------------------------

/** xorshift32. Never zero. */
export class Rng {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9
  }
  next(): number {
    let s = this.s
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    this.s = s >>> 0
    return this.s
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : this.next() % n
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff
    return out
  }
}

/** The PRNG of input `index` in a run with `seed`: independent of every other input. */
export function inputRng(seed: number, index: number): Rng {
  // A 32-bit mix (murmur3's finaliser) of seed and index.
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  const rng = new Rng(h)
  rng.next()
  return rng
}

const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xbf, 0xc0, 0xfe, 0xff]

/** One mutation step. `others` are seeds to splice with. */
function mutateOnce(rng: Rng, input: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
  const n = input.length
  const out = (bytes: Uint8Array) => bytes
  if (n === 0) return rng.bytes(1 + rng.int(8))
  switch (rng.int(12)) {
    case 0: {
      // Bit flips.
      const m = Uint8Array.from(input)
      for (let k = 1 + rng.int(3); k > 0; k--) m[rng.int(n)] ^= 1 << rng.int(8)
      return m
    }
    case 1: {
      // Set a byte, to a random or an interesting value.
      const m = Uint8Array.from(input)
      m[rng.int(n)] = rng.int(2) ? rng.int(256) : rng.pick(INTERESTING)
      return m
    }
    case 2: {
      // Fill a range.
      const m = Uint8Array.from(input)
      const start = rng.int(n)
      m.fill(rng.pick(INTERESTING), start, Math.min(n, start + 1 + rng.int(32)))
      return m
    }
    case 3:
      // Truncate.
      return out(input.slice(0, rng.int(n)))
    case 4: {
      // Rewrite what may be an MLS variable-length prefix (RFC 9420 §2.1.2) with another length.
      const m = Uint8Array.from(input)
      const at = rng.int(n)
      const choice = rng.int(4)
      if (choice === 0) m[at] = rng.int(64) // one-byte length
      else if (choice === 1 && at + 1 < n) {
        const v = rng.int(2) ? rng.int(0x4000) : n - at + rng.int(8) - 4
        m[at] = 0x40 | ((v >> 8) & 0x3f)
        m[at + 1] = v & 0xff
      } else if (choice === 2 && at + 3 < n) {
        m[at] = 0x80
        m[at + 1] = rng.int(2) ? 0xff : 0
        m[at + 2] = rng.int(256)
        m[at + 3] = rng.int(256)
      } else m[at] = rng.pick([0xc0, 0xff, 0x7f, 0xbf]) // an invalid or huge prefix
      return m
    }
    case 5: {
      // Nudge a big-endian u16 or u32 (a type, an epoch, a length).
      const m = Uint8Array.from(input)
      const at = rng.int(Math.max(1, n - 1))
      const delta = rng.pick([1, -1, 2, -2, 0x40, -0x40, 0x100, 0x7fff])
      const v = ((m[at] << 8) | (m[at + 1] ?? 0)) + delta
      m[at] = (v >> 8) & 0xff
      if (at + 1 < n) m[at + 1] = v & 0xff
      return m
    }
    case 6: {
      // Splice: the head of this seed and the tail of another one.
      const other = rng.pick(others.length ? others : [input])
      const cut = rng.int(n + 1)
      const from = rng.int(other.length + 1)
      const m = new Uint8Array(cut + other.length - from)
      m.set(input.subarray(0, cut))
      m.set(other.subarray(from), cut)
      return m
    }
    case 7: {
      // Append bytes.
      const extra = rng.int(3) === 0 ? rng.bytes(1 + rng.int(64)) : new Uint8Array(1 + rng.int(4)).fill(rng.pick(INTERESTING))
      const m = new Uint8Array(n + extra.length)
      m.set(input)
      m.set(extra, n)
      return m
    }
    case 8: {
      // Insert bytes.
      const at = rng.int(n + 1)
      const extra = rng.bytes(1 + rng.int(8))
      const m = new Uint8Array(n + extra.length)
      m.set(input.subarray(0, at))
      m.set(extra, at)
      m.set(input.subarray(at), at + extra.length)
      return m
    }
    case 9: {
      // Delete a range.
      const at = rng.int(n)
      const len = 1 + rng.int(Math.min(32, n - at))
      const m = new Uint8Array(n - len)
      m.set(input.subarray(0, at))
      m.set(input.subarray(at + len), at)
      return m
    }
    case 10: {
      // Duplicate a range.
      const at = rng.int(n)
      const len = 1 + rng.int(Math.min(64, n - at))
      const m = new Uint8Array(n + len)
      m.set(input.subarray(0, at + len))
      m.set(input.subarray(at, at + len), at + len)
      m.set(input.subarray(at + len), at + 2 * len)
      return m
    }
    default: {
      // Overwrite a range with bytes copied from elsewhere in this seed or another one.
      const other = rng.pick(others.length ? others : [input])
      const m = Uint8Array.from(input)
      const at = rng.int(n)
      const from = rng.int(other.length)
      const len = Math.min(1 + rng.int(16), n - at, other.length - from)
      m.set(other.subarray(from, from + len), at)
      return m
    }
  }
}

/** A mutation of `seed` that differs from it: one to three steps. */
export function mutate(rng: Rng, seed: Uint8Array, others: readonly Uint8Array[] = []): Uint8Array {
  for (let attempt = 0; attempt < 8; attempt++) {
    let m = seed
    for (let k = 1 + (rng.int(4) === 0 ? 1 + rng.int(2) : 0); k > 0; k--) m = mutateOnce(rng, m, others)
    if (!equal(m, seed)) return m
  }
  const m = new Uint8Array(seed.length + 1)
  m.set(seed)
  m[seed.length] = rng.int(256)
  return m
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const utf8 = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** Thrown by a target when an accepted input's outcome is not the genuine one. */
export class NotGenuine extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NotGenuine'
  }
}

function expect(condition: unknown, what: string): asserts condition {
  if (!condition) throw new NotGenuine(what)
}

// --- the world: clients, groups and seeds -----------------------------------------------------

const SUITE = 1
/** A custom proposal type and a custom extension type every member lists in its capabilities. */
export const CUSTOM_PROPOSAL = 0xff00
export const CUSTOM_EXTENSION = 0xff01
const CAPABILITIES = { proposals: [CUSTOM_PROPOSAL], extensions: [CUSTOM_EXTENSION] }

class Member {
  readonly provider: Provider
  readonly signer: SignatureKeyPair
  group?: MlsGroup
  constructor(
    readonly name: string,
    crypto: 'rustcrypto' | 'libcrux' = 'rustcrypto',
  ) {
    this.provider = new Provider({ crypto })
    this.signer = SignatureKeyPair.forCiphersuite(SUITE)
  }
  get credentialWithKey() {
    return { credential: new BasicCredential(this.name), signatureKey: this.signer.publicKey }
  }
  keyPackage(lastResort = false): KeyPackage {
    const b = KeyPackage.builder().leafNodeCapabilities(CAPABILITIES)
    if (lastResort) b.markAsLastResort()
    return b.build({ ciphersuite: SUITE, provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey })
  }
  get g(): MlsGroup {
    if (!this.group) throw new Error(`${this.name} has no group`)
    return this.group
  }
}

function processedCommit(p: Awaited<ReturnType<MlsGroup['processMessage']>>): StagedCommit {
  if (p.kind !== 'commit') throw new Error(`expected a commit, got ${p.kind}`)
  return p.stagedCommit
}

/** Everything the targets share. Built once per process (or per test file). */
export class World {
  readonly alice = new Member('alice')
  readonly bob = new Member('bob')
  readonly ds = SignatureKeyPair.forCiphersuite(SUITE) // an external sender (a delivery service)
  readonly outsider = new Member('outsider') // sends join proposals
  readonly joiner = new Member('joiner') // joins from Welcomes, with a last-resort key package
  readonly externalJoiner = new Member('external joiner')
  readonly carol = new Member('carol') // owns the groups that Welcomes and GroupInfos come from
  readonly checker = new Member('checker') // parses key packages
  readonly scratch = new Member('scratch') // builds key packages and groups from fuzzed fields
  readonly tmp = mkdtempSync(join(tmpdir(), 'openmls-fuzz-'))

  // Seeds, by kind.
  welcomeWithTree!: Uint8Array
  welcomeWithoutTree!: Uint8Array
  welcomeTree!: Uint8Array // the tree for welcomeWithoutTree
  welcomeEpochs = new Map<string, { epoch: bigint; authenticator: Uint8Array }>()
  groupInfoWithTree!: Uint8Array
  groupInfoWithoutTree!: Uint8Array
  groupInfoTree!: Uint8Array
  keyPackages: Uint8Array[] = []
  keyPackageRefs = new Set<string>()
  signerExports: Uint8Array[] = []
  snapshotPlain!: Uint8Array
  snapshotEncrypted!: Uint8Array
  snapshotKey = new Uint8Array(32).fill(7)
  snapshotGroup!: { id: Uint8Array; authenticator: Uint8Array }
  x509Contents: Uint8Array[] = []
  /** A SelfRemove proposal (a PublicMessage) in one of Carol's groups. */
  selfRemove!: Uint8Array
  /** A proposal queued in Alice's store, for the proposal-reference targets. */
  queuedRef!: Uint8Array
  /** Bytes of every kind, for splicing and for MlsMessage.parse. */
  allMessages: Uint8Array[] = []

  static async create(): Promise<World> {
    const w = new World()
    await w.setup()
    return w
  }

  private async setup() {
    const { alice, bob, carol } = this
    // The main group: handshakes in plaintext or ciphertext (toggled per batch), a DS as external
    // sender, custom capabilities, and ExternalSenders and RequiredCapabilities in the group context
    // (no custom one: external joiners, who cannot choose their capabilities, would not support it).
    alice.group = MlsGroup.create({
      provider: alice.provider,
      signer: alice.signer,
      credentialWithKey: alice.credentialWithKey,
      config: {
        ciphersuite: SUITE,
        useRatchetTreeExtension: true,
        wireFormatPolicy: 'mixedPlaintext',
        capabilities: CAPABILITIES,
        groupContextExtensions: [
          { type: 'externalSenders', senders: [{ signatureKey: this.ds.publicKey, credential: new BasicCredential('ds') }] },
          // Not requiring the custom proposal type: external joiners have default capabilities.
          { type: 'requiredCapabilities', extensionTypes: [], proposalTypes: [], credentialTypes: [1] },
        ],
      },
    })
    const add = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackage().toBytes())])
    alice.g.mergePendingCommitSync()
    bob.group = await MlsGroup.joinFromWelcome({
      provider: bob.provider,
      signer: bob.signer,
      welcome: add.welcome,
      config: { wireFormatPolicy: 'mixedCiphertext' },
    })
    this.allMessages.push(add.commit, add.welcome)
    // A SelfRemove proposal (a PublicMessage, as openmls sends it), for the external-join options.
    this.selfRemove = alice.g.leaveGroupViaSelfRemoveSync().message
    alice.g.clearPendingProposalsSync()

    // Welcomes and GroupInfos come from Carol's groups, so that using them never disturbs the
    // main group. The joiner's key package is last resort: an accepted join does not use it up.
    const joinerKp = KeyPackage.fromBytes(carol.provider, this.joiner.keyPackage(true).toBytes())
    for (const withTree of [true, false]) {
      const c = new Member(`carol-${withTree}`)
      c.group = MlsGroup.create({
        provider: c.provider,
        signer: c.signer,
        credentialWithKey: c.credentialWithKey,
        config: { ciphersuite: SUITE, useRatchetTreeExtension: withTree, capabilities: CAPABILITIES },
      })
      // A second member, so the tree has more than one leaf.
      const other = new Member(`other-${withTree}`)
      await c.g.addMembers([KeyPackage.fromBytes(c.provider, other.keyPackage().toBytes())])
      c.g.mergePendingCommitSync()
      const kp = KeyPackage.fromBytes(c.provider, joinerKp.toBytes())
      const { welcome } = await c.g.addMembers([kp])
      c.g.mergePendingCommitSync()
      const key = hex(c.g.groupId)
      this.welcomeEpochs.set(key, { epoch: c.g.epoch, authenticator: c.g.epochAuthenticator() })
      if (withTree) {
        this.welcomeWithTree = welcome
        this.groupInfoWithTree = c.g.exportGroupInfo({ withRatchetTree: true })
      } else {
        this.welcomeWithoutTree = welcome
        this.welcomeTree = c.g.exportRatchetTree()
        this.groupInfoWithoutTree = c.g.exportGroupInfo({ withRatchetTree: false })
        this.groupInfoTree = this.welcomeTree
      }
      this.externalGroups.set(key, c)
    }
    // Each Welcome joins once for real, so its outcome is known to work.
    for (const [welcome, ratchetTree] of [[this.welcomeWithTree, undefined], [this.welcomeWithoutTree, this.welcomeTree]] as const) {
      const g = MlsGroup.joinFromWelcomeSync({ provider: this.joiner.provider, signer: this.joiner.signer, welcome, ratchetTree })
      this.checkJoined(g)
      g.delete()
    }
    this.allMessages.push(this.welcomeWithTree, this.welcomeWithoutTree, this.welcomeTree, this.groupInfoWithTree, this.groupInfoWithoutTree)

    // Key packages: plain, bare (no MLSMessage header), last resort with extensions, X.509, P-256.
    const plain = this.checker.keyPackage().toBytes()
    const rich = KeyPackage.builder()
      .leafNodeCapabilities(CAPABILITIES)
      .leafNodeExtensions([{ type: 'applicationId', applicationId: utf8('device-1') }, { type: 'unknown', extensionType: CUSTOM_EXTENSION, data: utf8('leaf') }])
      .keyPackageExtensions([{ type: 'unknown', extensionType: CUSTOM_EXTENSION, data: utf8('kp') }])
      .markAsLastResort()
      .build({ ciphersuite: SUITE, provider: this.checker.provider, signer: this.checker.signer, credentialWithKey: this.checker.credentialWithKey })
      .toBytes()
    const x509Signer = SignatureKeyPair.forCiphersuite(SUITE)
    const x509 = KeyPackage.builder()
      .build({
        ciphersuite: SUITE,
        provider: this.checker.provider,
        signer: x509Signer,
        credentialWithKey: { credential: new X509Credential([utf8('leaf certificate'), utf8('ca certificate')]), signatureKey: x509Signer.publicKey },
      })
      .toBytes()
    const p256Signer = SignatureKeyPair.forCiphersuite(2)
    const p256 = KeyPackage.builder()
      .build({ ciphersuite: 2, provider: this.checker.provider, signer: p256Signer, credentialWithKey: { credential: new BasicCredential('p256'), signatureKey: p256Signer.publicKey } })
      .toBytes()
    this.keyPackages = [plain, plain.slice(4), rich, x509, p256]
    for (const kp of this.keyPackages) this.keyPackageRefs.add(hex(KeyPackage.fromBytes(this.checker.provider, kp).hashRef(this.checker.provider)))
    this.allMessages.push(plain, rich, x509, p256)

    // Exported signers of every scheme.
    for (const scheme of [0x0807, 0x0403, 0x0503, 0x0904] as const) this.signerExports.push(SignatureKeyPair.generate(scheme).toBytes())

    // Snapshots: one in plaintext, one whose values are sealed with a key.
    this.snapshotPlain = alice.provider.exportSnapshot()
    const path = join(this.tmp, 'sealed.db')
    const sealed = new Provider({ storage: { path, encryptionKey: this.snapshotKey } })
    const owner = new Member('owner')
    const g = MlsGroup.create({ provider: sealed, signer: owner.signer, credentialWithKey: owner.credentialWithKey, config: { ciphersuite: SUITE } })
    this.snapshotGroup = { id: g.groupId, authenticator: g.epochAuthenticator() }
    this.snapshotEncrypted = sealed.exportSnapshot()
    sealed.close()

    // X.509 credential contents: `Certificate certificates<V>`, each `opaque cert_data<V>`.
    const vl = (b: Uint8Array) => Buffer.concat([b.length < 64 ? Buffer.from([b.length]) : Buffer.from([0x40 | (b.length >> 8), b.length & 0xff]), b])
    this.x509Contents = [
      Buffer.concat([vl(utf8('leaf certificate')), vl(utf8('intermediate')), vl(new Uint8Array(70).fill(0x30))]),
      vl(Uint8Array.from([0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01])),
    ]

  }

  /** Carol's groups by id, for checking accepted Welcomes and external joins. */
  readonly externalGroups = new Map<string, Member>()

  /** Asserts that a group joined from one of Carol's Welcomes is the genuine one. */
  checkJoined(g: MlsGroup) {
    const expected = this.welcomeEpochs.get(hex(g.groupId))
    expect(expected, 'joined a group that no Welcome was for')
    expect(g.epoch === expected.epoch, 'joined at the wrong epoch')
    expect(equal(g.epochAuthenticator(), expected.authenticator), 'joined with a different epoch authenticator')
  }

  /** The main group still works: a round trip both ways, and the members agree. */
  async healthCheck(tag: string) {
    const { alice, bob } = this
    for (const [from, to] of [[alice, bob], [bob, alice]] as const) {
      const message = `health ${tag} from ${from.name}`
      const p = await to.g.processMessage(from.g.createMessageSync(message))
      if (p.kind !== 'application' || text(p.data) !== message) throw new NotGenuine(`health check: ${to.name} did not get ${from.name}'s message`)
    }
    if (alice.g.epoch !== bob.g.epoch || !equal(alice.g.epochAuthenticator(), bob.g.epochAuthenticator())) {
      throw new NotGenuine('health check: Alice and Bob disagree on the epoch authenticator')
    }
  }

  dispose() {
    rmSync(this.tmp, { recursive: true, force: true })
  }
}

// --- targets ----------------------------------------------------------------------------------

/** One input of a target: its bytes, and the seed they came from. */
export interface Input {
  bytes: Uint8Array
  seed: Uint8Array
}

/**
 * A fuzz target: an entry point that takes bytes. A batch prepares fresh seeds (`begin`), runs
 * inputs (`run`: resolve if accepted and genuine, throw the entry point's error otherwise) and
 * settles (`end`, which may check the batch's accepted outcomes).
 */
export interface Target {
  name: string
  /** Relative share of the inputs. */
  weight: number
  begin(world: World): Promise<Uint8Array[]> | Uint8Array[]
  run(world: World, input: Input, rng: Rng): Promise<void> | void
  end?(world: World): Promise<void> | void
  /** Whether the first seed, unmutated (with every random choice at its last option), is accepted. Default true. */
  firstSeedAccepted?: boolean
}

/** Incoming group messages: application, proposals, join proposals, commits, external commits. */
function messageTarget(async: boolean): Target {
  let original: { app: Uint8Array; commit: Uint8Array; proposal: Uint8Array; joinProposal: Uint8Array; externalCommit: Uint8Array } | undefined
  let externalAuthenticator: Uint8Array | undefined
  let accepted: StagedCommit[] = []
  let policy: WireFormatPolicy = 'mixedPlaintext'
  return {
    name: async ? 'processMessage' : 'processMessageSync',
    weight: async ? 3 : 14,
    async begin(w) {
      const { alice, bob } = w
      // Alternate plaintext and ciphertext handshakes between batches.
      policy = policy === 'mixedPlaintext' ? 'mixedCiphertext' : 'mixedPlaintext'
      alice.g.setConfiguration({ wireFormatPolicy: policy })
      const app = alice.g.createMessageSync(utf8('fuzz me'), { aad: utf8('fuzz aad') })
      const proposal = alice.g.proposeCustomProposalSync(CUSTOM_PROPOSAL, utf8('custom payload')).message
      alice.g.clearPendingProposalsSync()
      const joinProposal = JoinProposal.create({ groupId: alice.g.groupId, epoch: alice.g.epoch, signer: w.outsider.signer, keyPackage: w.outsider.keyPackage() }).message
      // An external commit by a third party, who then drops the group again.
      const ext = new Member('external committer')
      const joined = await MlsGroup.joinByExternalCommit({ provider: ext.provider, signer: ext.signer, credentialWithKey: ext.credentialWithKey, groupInfo: alice.g.exportGroupInfo({ withRatchetTree: true }) })
      externalAuthenticator = joined.group.epochAuthenticator()
      joined.group.delete()
      const { commit } = await alice.g.selfUpdate() // pending on Alice's side until the batch ends
      original = { app, commit, proposal, joinProposal, externalCommit: joined.commit }
      accepted = []
      w.allMessages.push(app, commit, proposal, joinProposal, joined.commit)
      if (w.allMessages.length > 64) w.allMessages.splice(0, w.allMessages.length - 64)
      void bob
      return [app, commit, proposal, joinProposal, joined.commit]
    },
    async run(w, input) {
      const bob = w.bob.g
      const p = async ? await bob.processMessage(input.bytes) : bob.processMessageSync(input.bytes)
      const o = original!
      switch (p.type) {
        case 'application':
          expect(text(p.data) === 'fuzz me' && text(p.authenticatedData) === 'fuzz aad', 'an accepted application message changed its content')
          expect(p.sender.type === 'member' && p.sender.leafIndex === 0, 'an accepted application message changed its sender')
          break
        case 'proposal': {
          const info = p.proposal.proposal
          expect(info.type === 'custom' && text(info.payload) === 'custom payload', 'an accepted proposal changed its content')
          break
        }
        case 'externalJoinProposal':
          expect(p.sender.type === 'newMemberProposal' && equal(p.groupId, bob.groupId), 'an accepted join proposal changed')
          break
        case 'commit': {
          const staged = p.stagedCommit
          if (p.sender.type === 'newMemberCommit') {
            expect(equal(staged.epochAuthenticator!, externalAuthenticator!), 'an accepted external commit leads elsewhere')
          } else {
            accepted.push(staged)
          }
          break
        }
        default:
          throw new NotGenuine(`unexpected kind ${p.type} from a mutated message`)
      }
      void o
    },
    async end(w) {
      const { alice, bob } = w
      alice.g.mergePendingCommitSync()
      for (const staged of accepted) {
        expect(equal(staged.epochAuthenticator!, alice.g.epochAuthenticator()), 'an accepted mutated commit leads to another epoch than Alice\'s')
      }
      if (accepted.length > 0) bob.g.mergeStagedCommitSync(accepted[0])
      else bob.g.mergeStagedCommitSync(processedCommit(await bob.g.processMessage(original!.commit)))
    },
  }
}

/** MlsGroup.joinFromWelcome(+Sync): the Welcome, with and without the tree, and the tree. */
function welcomeTarget(kind: 'welcome' | 'welcomeAsync' | 'ratchetTree'): Target {
  return {
    name: kind === 'welcome' ? 'joinFromWelcomeSync' : kind === 'welcomeAsync' ? 'joinFromWelcome' : 'joinFromWelcome ratchetTree',
    weight: kind === 'welcome' ? 6 : 2,
    begin: (w) => (kind === 'ratchetTree' ? [w.welcomeTree] : [w.welcomeWithTree, w.welcomeWithoutTree]),
    async run(w, input) {
      const j = w.joiner
      let params
      if (kind === 'ratchetTree') params = { provider: j.provider, signer: j.signer, welcome: w.welcomeWithoutTree, ratchetTree: input.bytes }
      else params = { provider: j.provider, signer: j.signer, welcome: input.bytes, ratchetTree: input.seed === w.welcomeWithoutTree ? w.welcomeTree : undefined }
      const g = kind === 'welcome' ? MlsGroup.joinFromWelcomeSync(params) : await MlsGroup.joinFromWelcome(params)
      try {
        w.checkJoined(g)
      } finally {
        g.delete()
      }
    },
  }
}

/** ProcessedWelcome.newFromWelcome and intoStagedWelcome({ ratchetTree }). */
const processedWelcomeTarget: Target = {
  name: 'ProcessedWelcome',
  weight: 3,
  begin: (w) => [w.welcomeWithTree, w.welcomeWithoutTree, w.welcomeTree],
  run(w, input, rng) {
    const j = w.joiner
    const treeInput = input.seed === w.welcomeTree
    const welcome = treeInput ? w.welcomeWithoutTree : input.bytes
    const processed = ProcessedWelcome.newFromWelcome({ provider: j.provider, signer: j.signer, welcome })
    const info = processed.unverifiedGroupInfo
    const ratchetTree = treeInput ? input.bytes : input.seed === w.welcomeWithoutTree ? w.welcomeTree : undefined
    const staged = processed.intoStagedWelcome({ ratchetTree })
    const expected = w.welcomeEpochs.get(hex(staged.groupContext.groupId))
    expect(expected && staged.groupContext.epoch === expected.epoch && info.epoch === expected.epoch, 'a mutated Welcome staged another group')
    expect(staged.members.length === 3, 'a mutated Welcome staged another membership')
    // Half the time, go all the way to a group (and drop it again).
    if (rng.int(2)) {
      const g = staged.intoGroup()
      try {
        w.checkJoined(g)
      } finally {
        g.delete()
      }
    }
  },
}

/** MlsGroup.joinByExternalCommit(+Sync): the GroupInfo with and without the tree, and the tree. */
function externalJoinTarget(kind: 'groupInfo' | 'groupInfoAsync' | 'ratchetTree' | 'options'): Target {
  const names = { groupInfo: 'joinByExternalCommitSync', groupInfoAsync: 'joinByExternalCommit', ratchetTree: 'joinByExternalCommit ratchetTree', options: 'joinByExternalCommit aad/selfRemoveProposals' }
  return {
    name: names[kind],
    weight: kind === 'groupInfo' ? 5 : 2,
    begin: (w) => (kind === 'ratchetTree' ? [w.groupInfoTree] : kind === 'options' ? [utf8('external aad'), w.selfRemove] : [w.groupInfoWithTree, w.groupInfoWithoutTree]),
    async run(w, input) {
      const e = w.externalJoiner
      const base = { provider: e.provider, signer: e.signer, credentialWithKey: e.credentialWithKey }
      const params =
        kind === 'ratchetTree'
          ? { ...base, groupInfo: w.groupInfoWithoutTree, ratchetTree: input.bytes }
          : kind === 'options'
            ? input.seed === w.selfRemove
              ? { ...base, groupInfo: w.groupInfoWithTree, selfRemoveProposals: [input.bytes] }
              : { ...base, groupInfo: w.groupInfoWithTree, aad: input.bytes }
            : { ...base, groupInfo: input.bytes, ratchetTree: input.seed === w.groupInfoWithoutTree ? w.groupInfoTree : undefined }
      const r = kind === 'groupInfo' ? MlsGroup.joinByExternalCommitSync(params) : await MlsGroup.joinByExternalCommit(params)
      try {
        const owner = w.externalGroups.get(hex(r.group.groupId))
        expect(owner, 'an external join into a group nobody exported')
        expect(r.group.epoch === owner.g.epoch + 1n, 'an external join at the wrong epoch')
        expect(r.group.members().length === owner.g.members().length + 1, 'an external join into another membership')
      } finally {
        r.group.delete()
      }
    },
  }
}

/** KeyPackage.fromBytes: an accepted key package is one of the genuine ones. */
const keyPackageTarget: Target = {
  name: 'KeyPackage.fromBytes',
  weight: 8,
  begin: (w) => w.keyPackages,
  run(w, input) {
    const kp = KeyPackage.fromBytes(w.checker.provider, input.bytes)
    expect(w.keyPackageRefs.has(hex(kp.hashRef(w.checker.provider))), 'a mutated key package was accepted as a new one')
    // Reading every field must work too.
    void [kp.credential, kp.lifetime, kp.extensions, kp.leafNode, kp.lastResort, kp.ciphersuite]
  },
}

/** MlsMessage.parse: any message kind; what comes back is well-formed. */
const parseTarget: Target = {
  name: 'MlsMessage.parse',
  weight: 6,
  begin: (w) => w.allMessages.slice(-24),
  run(_w, input) {
    const m = MlsMessage.parse(input.bytes)
    switch (m.wireFormat) {
      case 'publicMessage':
      case 'privateMessage':
        expect(typeof m.epoch === 'bigint' && m.groupId instanceof Uint8Array && ['application', 'proposal', 'commit'].includes(m.contentType), 'a malformed group message info')
        break
      case 'welcome':
        expect(Array.isArray(m.keyPackageRefs) && typeof m.ciphersuite === 'number', 'a malformed Welcome info')
        break
      case 'groupInfo':
        expect(Array.isArray(m.extensions) && typeof m.groupContext.epoch === 'bigint', 'a malformed GroupInfo info')
        break
      case 'keyPackage':
        expect(typeof m.ciphersuite === 'number', 'a malformed key package info')
        break
      default:
        throw new NotGenuine(`unknown wire format ${(m as { wireFormat: string }).wireFormat}`)
    }
  },
}

/** SignatureKeyPair.fromBytes: an accepted export is one of the genuine key pairs. */
const signerTarget: Target = {
  name: 'SignatureKeyPair.fromBytes',
  weight: 6,
  begin: (w) => w.signerExports,
  run(w, input, rng) {
    let bytes = input.bytes
    // A third of the time, (also) relabel the export with another scheme code point.
    if (rng.int(3) === 0 && bytes.length >= 2) {
      bytes = Uint8Array.from(bytes)
      const scheme = rng.pick([0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0904, 0x0905, 0x0906, 0x0000, 0xffff])
      bytes[bytes.length - 2] = scheme >> 8
      bytes[bytes.length - 1] = scheme & 0xff
    }
    const signer = SignatureKeyPair.fromBytes(bytes)
    const exported = signer.toBytes()
    expect(w.signerExports.some((s) => equal(s, exported)), 'a mutated signer export was accepted as another key pair')
  },
}

/** Provider.importSnapshot: the snapshot, and the key of a sealed one. */
const snapshotTarget: Target = {
  name: 'Provider.importSnapshot',
  weight: 2,
  begin: (w) => [w.snapshotPlain, w.snapshotEncrypted, w.snapshotKey],
  run(w, input) {
    const sealed = input.seed !== w.snapshotPlain
    const provider =
      input.seed === w.snapshotKey
        ? Provider.importSnapshot(w.snapshotEncrypted, { encryptionKey: input.bytes })
        : Provider.importSnapshot(input.bytes, sealed ? { encryptionKey: w.snapshotKey } : {})
    try {
      // Reading the state back may still find the damage: that must be a typed error too.
      for (const id of provider.listGroups()) {
        const g = provider.loadGroupSync(id)
        void [g.epoch, g.members()]
        // A sealed snapshot cannot be altered unnoticed.
        if (sealed) expect(equal(id, w.snapshotGroup.id) && equal(g.epochAuthenticator(), w.snapshotGroup.authenticator), 'a tampered sealed snapshot loaded another state')
      }
      void [provider.identity(), provider.keyPackages()]
    } finally {
      provider.close()
    }
  },
}

/** X.509 credential bytes: a chain's encoded content, and single certificates. */
const x509Target: Target = {
  name: 'X.509 credential',
  weight: 3,
  begin: (w) => w.x509Contents,
  run(w, input, rng) {
    const s = w.scratch
    const credential: Credential = rng.int(4) === 0 ? new X509Credential([input.bytes]) : new OtherCredential(2, input.bytes)
    const kp = KeyPackage.builder().build({ ciphersuite: SUITE, provider: s.provider, signer: s.signer, credentialWithKey: { credential, signatureKey: s.signer.publicKey } })
    try {
      const back = KeyPackage.fromBytes(w.checker.provider, kp.toBytes()).credential
      expect(back instanceof X509Credential, 'an X.509 credential came back as another type')
      const want = credential instanceof X509Credential ? credential.certificates : null
      if (want) expect(back.certificates.length === 1 && equal(back.certificates[0], want[0]), 'an X.509 certificate changed')
    } finally {
      s.provider.deleteKeyPackage(kp.hashRef(s.provider))
    }
  },
}

/** Reads a u16 list from bytes (pairs, big-endian), at most `max` entries. */
function u16s(bytes: Uint8Array, max: number): number[] {
  const out: number[] = []
  for (let i = 0; i + 1 < bytes.length && out.length < max; i += 2) out.push((bytes[i] << 8) | bytes[i + 1])
  return out
}

/**
 * Extension payloads: ExternalSenders, RequiredCapabilities, ExternalPub, ApplicationId and
 * unknown extensions built from fuzzed bytes, in key packages and group contexts; an accepted one
 * reads back exactly.
 */
const extensionTarget: Target = {
  name: 'extensions',
  weight: 4,
  begin: (w) => [w.ds.publicKey, utf8('application id'), Uint8Array.from([0xff, 0x01, 0x00, 0x01, 0x00, 0x05, 0x0a, 0x0a]), w.signerExports[0]],
  run(w, input, rng) {
    const s = w.scratch
    const bytes = input.bytes
    const type = bytes.length >= 2 ? (bytes[0] << 8) | bytes[1] : CUSTOM_EXTENSION
    if (rng.int(2) === 0) {
      // In a key package: leaf and key package extensions.
      const leaf: Extension[] = [{ type: 'applicationId', applicationId: bytes }]
      const kpExt: Extension[] = [{ type: 'unknown', extensionType: rng.int(2) ? type : CUSTOM_EXTENSION, data: bytes }]
      const kp = KeyPackage.builder()
        .leafNodeCapabilities(CAPABILITIES)
        .leafNodeExtensions(leaf)
        .keyPackageExtensions(kpExt)
        .build({ ciphersuite: SUITE, provider: s.provider, signer: s.signer, credentialWithKey: s.credentialWithKey })
      try {
        const back = KeyPackage.fromBytes(w.checker.provider, kp.toBytes())
        const app = back.leafNode.extensions.find((e) => e.type === 'applicationId')
        expect(app?.type === 'applicationId' && equal(app.applicationId, bytes), 'an ApplicationId extension changed')
        const unknown = back.extensions.find((e) => e.type === 'unknown')
        expect(unknown?.type === 'unknown' && equal(unknown.data, bytes), 'an unknown key package extension changed')
      } finally {
        s.provider.deleteKeyPackage(kp.hashRef(s.provider))
      }
      return
    }
    // In a group context (and the group id from the same bytes).
    const choice = rng.int(4)
    const extensions: Extension[] =
      choice === 3
        ? [{ type: 'externalSenders', senders: [{ signatureKey: bytes, credential: new BasicCredential(bytes) }] }]
        : choice === 1
          ? [{ type: 'requiredCapabilities', extensionTypes: u16s(bytes, 4), proposalTypes: u16s(bytes.subarray(8), 4), credentialTypes: u16s(bytes.subarray(16), 4) }]
          : choice === 2
            ? [{ type: 'externalPub', publicKey: bytes }]
            : [{ type: 'unknown', extensionType: type, data: bytes }] // choice 0
    const g = MlsGroup.create({
      provider: s.provider,
      signer: s.signer,
      credentialWithKey: s.credentialWithKey,
      groupId: rng.int(4) === 0 && bytes.length > 0 ? bytes : undefined,
      config: { ciphersuite: SUITE, groupContextExtensions: extensions, capabilities: CAPABILITIES },
    })
    try {
      const back = g.groupContextExtensions()
      expect(JSON.stringify(back.map(comparable)) === JSON.stringify(extensions.map(comparable)), 'group context extensions changed')
      // The group works: a GroupInfo and an exporter value.
      void [g.exportGroupInfo({ withRatchetTree: true }), g.exportSecret('x', bytes, 16)]
    } finally {
      g.delete()
    }
  },
}

/** A JSON-comparable view of an extension. */
function comparable(e: Extension): unknown {
  return JSON.parse(
    JSON.stringify(e, (_k, v) => (v instanceof Uint8Array ? hex(v) : v instanceof BasicCredential ? { basic: hex(v.identity) } : v)),
  )
}

/** Custom proposals: the payload (and sometimes the type), as a proposal and inside a commit. */
const customProposalTarget: Target = {
  name: 'custom proposals',
  weight: 3,
  begin: () => [utf8('custom payload'), new Uint8Array(0), new Uint8Array(300).fill(0xab)],
  async run(w, input, rng) {
    const { alice, bob } = w
    const type = rng.int(5) === 0 && input.bytes.length >= 2 ? (input.bytes[0] << 8) | input.bytes[1] : CUSTOM_PROPOSAL
    if (rng.int(4) === 0) {
      try {
        const { commit } = alice.g.commitSync({ customProposals: [{ proposalType: type, payload: input.bytes }], consumeProposalStore: false })
        const staged = processedCommit(bob.g.processMessageSync(commit))
        const custom = staged.queuedProposals.find((p) => p.proposal.type === 'custom')
        expect(custom?.proposal.type === 'custom' && equal(custom.proposal.payload, input.bytes), 'a custom proposal in a commit changed')
      } finally {
        if (alice.g.hasPendingCommit) alice.g.clearPendingCommitSync()
      }
      return
    }
    try {
      const { message } = alice.g.proposeCustomProposalSync(type, input.bytes, { byValue: rng.int(2) === 0 })
      const p = bob.g.processMessageSync(message)
      expect(p.kind === 'proposal' && p.proposal.proposal.type === 'custom' && equal(p.proposal.proposal.payload, input.bytes), 'a custom proposal changed')
    } finally {
      alice.g.clearPendingProposalsSync()
    }
  },
}

/** PSK ids and secrets: store, propose, process, delete. */
const pskTarget: Target = {
  name: 'PSKs',
  weight: 3,
  begin: () => [utf8('psk id'), new Uint8Array(32).fill(0x11), new Uint8Array(1)],
  run(w, input, rng) {
    const { alice, bob } = w
    const pskId = input.bytes
    const secret = rng.int(3) === 0 ? input.bytes : Uint8Array.from(input.bytes).reverse()
    const resumption = rng.int(4) === 0
    try {
      if (!resumption) {
        alice.provider.storeExternalPsk(pskId, secret)
        bob.provider.storeExternalPsk(pskId, secret)
      }
      const psk = resumption ? ({ type: 'resumption', groupId: pskId, epoch: BigInt(rng.int(3)) } as const) : ({ type: 'external', pskId } as const)
      const { message } = alice.g.proposePreSharedKeySync(psk)
      const p = bob.g.processMessageSync(message)
      const got = p.kind === 'proposal' ? p.proposal.proposal : undefined
      expect(got?.type === 'preSharedKey', 'a PSK proposal came back as something else')
      if (got.psk.type === 'external') expect(!resumption && equal(got.psk.pskId, pskId), 'a PSK id changed')
      else expect(resumption && equal(got.psk.groupId, pskId), 'a resumption PSK changed')
    } finally {
      alice.g.clearPendingProposalsSync()
      if (!resumption) {
        alice.provider.deleteExternalPsk(pskId)
        bob.provider.deleteExternalPsk(pskId)
      }
    }
  },
}

/** setAad, a message's AAD and plaintext. */
const aadTarget: Target = {
  name: 'setAad / createMessage',
  weight: 3,
  begin: () => [utf8('thread-7'), new Uint8Array(0), new Uint8Array(200).fill(0x5a)],
  run(w, input, rng) {
    const { alice, bob } = w
    const how = rng.int(3)
    let message: Uint8Array
    if (how === 0) {
      alice.g.setAad(input.bytes)
      expect(equal(alice.g.aad, input.bytes), 'setAad did not keep the bytes')
      message = alice.g.createMessageSync(input.bytes)
    } else message = alice.g.createMessageSync(input.bytes, how === 1 ? { aad: input.bytes } : {})
    const p = bob.g.processMessageSync(message)
    expect(p.kind === 'application' && equal(p.data, input.bytes), 'a plaintext changed')
    if (how !== 2) expect(equal(p.authenticatedData, input.bytes), 'an AAD changed')
    else expect(p.authenticatedData.length === 0, 'an AAD outlived its message')
  },
}

/** exportSecret: label, context and length from bytes; both members derive the same secret. */
const exporterTarget: Target = {
  name: 'exportSecret',
  weight: 2,
  begin: () => [utf8('my-app/keys'), new Uint8Array(0), new Uint8Array(64).fill(0xee)],
  run(w, input, rng) {
    const label = text(input.bytes.subarray(0, rng.int(input.bytes.length + 1)))
    const length = rng.int(8) === 0 ? rng.pick([0, -1, 1.5, 0x10000, 2 ** 32]) : 1 + (input.bytes[0] ?? 0)
    const a = w.alice.g.exportSecret(label, input.bytes, length)
    const b = w.bob.g.exportSecret(label, input.bytes, length)
    expect(a.length === length && equal(a, b), 'the members derived different exporter secrets')
  },
}

/** Proposal and key package references; group ids for loading. */
const refTarget: Target = {
  name: 'references',
  weight: 2,
  firstSeedAccepted: false,
  begin(w) {
    w.alice.g.proposeCustomProposalSync(CUSTOM_PROPOSAL, utf8('queued'))
    w.queuedRef = w.alice.g.pendingProposals()[0].proposalRef
    const held = w.joiner.provider.keyPackages()[0].keyPackageRef
    return [w.queuedRef, held, w.alice.g.groupId]
  },
  run(w, input, rng) {
    const which = rng.int(3)
    if (which === 0) {
      w.alice.g.removePendingProposalSync(input.bytes)
      throw new NotGenuine('removePendingProposal accepted a reference that is not queued')
    } else if (which === 1) {
      const before = w.joiner.provider.keyPackages().length
      const deleted = w.joiner.provider.deleteKeyPackage(input.bytes)
      expect(!deleted && w.joiner.provider.keyPackages().length === before, 'deleteKeyPackage deleted something for a mutated reference')
    } else {
      void w.alice.provider.loadGroupSync(input.bytes)
      throw new NotGenuine('loadGroup loaded a group for a mutated id')
    }
  },
  end(w) {
    const queued = w.alice.g.pendingProposals()
    expect(queued.length === 1 && equal(queued[0].proposalRef, w.queuedRef), 'a mutated reference removed the queued proposal')
    w.alice.g.clearPendingProposalsSync()
  },
}

/** JoinProposal.create and ExternalProposal.*: group id, epoch and sender index from bytes. */
let outsiderKp: KeyPackage | undefined
const externalProposalTarget: Target = {
  name: 'external proposals',
  weight: 3,
  begin(w) {
    outsiderKp = w.outsider.keyPackage()
    return [w.alice.g.groupId, new Uint8Array(0), new Uint8Array(16).fill(1)]
  },
  run(w, input, rng) {
    const { bob } = w
    const groupId = rng.int(4) === 3 ? bob.g.groupId : input.bytes
    const epoch = rng.int(3) === 2 ? bob.g.epoch : BigInt((input.bytes[0] ?? 0) % 4)
    const senderIndex = rng.int(3) === 2 ? 0 : (input.bytes[1] ?? 0) % 3
    let message: Uint8Array
    switch (rng.int(4)) {
      case 0:
        message = JoinProposal.create({ groupId, epoch, signer: w.outsider.signer, keyPackage: outsiderKp! }).message
        break
      case 1:
        message = ExternalProposal.add({ groupId, epoch, signer: w.ds, senderIndex, keyPackage: outsiderKp! })
        break
      case 2:
        message = ExternalProposal.remove({ groupId, epoch, signer: w.ds, senderIndex, removed: input.bytes[2] ?? 1 })
        break
      default:
        message = ExternalProposal.groupContextExtensions({ groupId, epoch, signer: w.ds, senderIndex, extensions: [{ type: 'unknown', extensionType: CUSTOM_EXTENSION, data: input.bytes }] })
    }
    const p = bob.g.processMessageSync(message)
    expect(equal(groupId, bob.g.groupId) && epoch === bob.g.epoch, 'an external proposal for another group or epoch was accepted')
    expect(p.kind === 'proposal' || p.kind === 'externalJoinProposal', `an external proposal came back as ${p.kind}`)
  },
}

/**
 * PublicGroup.processMessage(+Sync): a delivery service's view of the main group validates
 * Alice's plaintext handshakes. An accepted commit is one that every member accepts the same way:
 * it leads to the same new group context (a mutated membership tag, which only members can check,
 * changes nothing the transcript covers).
 */
function publicMessageTarget(): Target {
  let ds: PublicGroup | undefined
  let genuine: { commit: string; external: string } | undefined
  let flip = false
  const nextContext = (p: Awaited<ReturnType<PublicGroup['processMessage']>>) => {
    if (p.type !== 'commit') throw new Error(`expected a commit, got ${p.type}`)
    return hex(p.stagedCommit.info().groupContext.confirmedTranscriptHash)
  }
  return {
    name: 'PublicGroup.processMessage',
    weight: 5,
    async begin(w) {
      const { alice } = w
      ds = PublicGroup.fromExternalSync({ provider: new Provider(), groupInfo: alice.g.exportGroupInfo() })
      const policy = alice.g.configuration().wireFormatPolicy
      alice.g.setConfiguration({ wireFormatPolicy: 'mixedPlaintext' })
      const proposal = alice.g.proposeCustomProposalSync(CUSTOM_PROPOSAL, utf8('custom payload')).message
      alice.g.clearPendingProposalsSync()
      const { commit } = await alice.g.selfUpdate()
      alice.g.clearPendingCommitSync() // the main group stays where it is
      alice.g.setConfiguration({ wireFormatPolicy: policy })
      const joinProposal = JoinProposal.create({ groupId: alice.g.groupId, epoch: alice.g.epoch, signer: w.outsider.signer, keyPackage: w.outsider.keyPackage() }).message
      const ext = new Member('public external committer')
      const joined = await MlsGroup.joinByExternalCommit({ provider: ext.provider, signer: ext.signer, credentialWithKey: ext.credentialWithKey, groupInfo: alice.g.exportGroupInfo({ withRatchetTree: true }) })
      joined.group.delete()
      genuine = { commit: nextContext(ds.processMessageSync(commit)), external: nextContext(ds.processMessageSync(joined.commit)) }
      return [commit, proposal, joinProposal, joined.commit]
    },
    async run(_w, input) {
      flip = !flip
      const p = flip ? await ds!.processMessage(input.bytes) : ds!.processMessageSync(input.bytes)
      switch (p.type) {
        case 'proposal': {
          const info = p.proposal.proposal
          expect(info.type === 'custom' && text(info.payload) === 'custom payload', 'the DS accepted a proposal with changed content')
          break
        }
        case 'externalJoinProposal':
          expect(p.sender.type === 'newMemberProposal', 'the DS accepted a join proposal from someone else')
          break
        case 'commit':
          expect(nextContext(p) === (p.sender.type === 'newMemberCommit' ? genuine!.external : genuine!.commit), 'the DS accepted a commit that leads elsewhere')
          break
        default:
          throw new NotGenuine(`the DS processed a ${(p as { type: string }).type}`)
      }
    },
  }
}

/** PublicGroup.fromExternal and setGroupInfo: GroupInfos and trees a delivery service receives. */
const publicGroupInfoTarget: Target = {
  name: 'PublicGroup.fromExternal / setGroupInfo',
  weight: 3,
  begin: (w) => [w.groupInfoWithTree, w.groupInfoWithoutTree, w.groupInfoTree],
  run(w, input, rng) {
    if (input.seed === w.groupInfoTree) {
      const ds = PublicGroup.fromExternalSync({ provider: new Provider(), groupInfo: w.groupInfoWithoutTree, ratchetTree: input.bytes })
      expect(equal(ds.exportRatchetTree(), w.groupInfoTree), 'the DS accepted another tree')
      return
    }
    const tree = input.seed === w.groupInfoWithoutTree ? w.groupInfoTree : undefined
    if (rng.int(2) === 0) {
      const ds = PublicGroup.fromExternalSync({ provider: new Provider(), groupInfo: input.bytes, ratchetTree: tree })
      const owner = w.externalGroups.get(hex(ds.groupId))
      expect(owner && ds.epoch === owner.g.epoch && equal(ds.groupContext().treeHash, owner.g.groupContext().treeHash), 'the DS tracks a group nobody exported')
    } else {
      const ds = PublicGroup.fromExternalSync({ provider: new Provider(), groupInfo: input.seed, ratchetTree: tree })
      const before = ds.groupInfo()
      ds.setGroupInfo(input.bytes)
      const kept = ds.groupInfo()!
      expect(before === undefined && equal(kept.ratchetTree, ds.exportRatchetTree()), 'the DS serves another tree')
      const owner = w.externalGroups.get(hex(ds.groupId))!
      expect(MlsMessage.parse(kept.groupInfo).wireFormat === 'groupInfo' && equal(ds.groupContext().confirmedTranscriptHash, owner.g.groupContext().confirmedTranscriptHash), 'the DS kept a GroupInfo of another state')
    }
  },
}

export const TARGETS: readonly Target[] = [
  messageTarget(false),
  messageTarget(true),
  welcomeTarget('welcome'),
  welcomeTarget('welcomeAsync'),
  welcomeTarget('ratchetTree'),
  processedWelcomeTarget,
  externalJoinTarget('groupInfo'),
  externalJoinTarget('groupInfoAsync'),
  externalJoinTarget('ratchetTree'),
  externalJoinTarget('options'),
  keyPackageTarget,
  parseTarget,
  signerTarget,
  snapshotTarget,
  x509Target,
  extensionTarget,
  customProposalTarget,
  pskTarget,
  aadTarget,
  exporterTarget,
  refTarget,
  externalProposalTarget,
  publicMessageTarget(),
  publicGroupInfoTarget,
]

// --- the driver -------------------------------------------------------------------------------

/** An Rng whose every choice is the last option: with it, a target takes its plain path. */
class LastChoice extends Rng {
  override int(n: number): number {
    return Math.max(0, n - 1)
  }
}

/**
 * The harness's own check: every target accepts its first seed unmutated, so a rejection in the
 * fuzz means the mutation was caught, not that the target never worked. Returns the problems.
 */
export async function selfCheck(world: World, targets: readonly Target[] = TARGETS): Promise<string[]> {
  const problems: string[] = []
  for (const target of targets) {
    if (target.firstSeedAccepted === false) continue
    const seeds = await target.begin(world)
    try {
      await target.run(world, { bytes: seeds[0], seed: seeds[0] }, new LastChoice(1))
    } catch (error) {
      problems.push(`${target.name}: the unmutated seed was refused: ${(error as Error).message}`)
    }
    await target.end?.(world)
    await world.healthCheck(`self-check ${target.name}`)
  }
  return problems
}

export interface Finding {
  target: string
  index: number
  code?: ErrorCode
  message: string
  /** The input, hex (cut at 4 KiB), and the seed it was mutated from. */
  input: string
  seed: string
}

export interface Stats {
  inputs: number
  accepted: number
  rejected: Partial<Record<ErrorCode, number>>
  internal: Finding[]
  /** Inputs whose outcome was wrong: not genuine, or an error that is not a typed OpenMlsError. */
  failures: Finding[]
  byTarget: Record<string, { inputs: number; accepted: number }>
  /** The first message of each (target, code) pair, to see what each rejection was. */
  samples: Record<string, string>
}

export function emptyStats(): Stats {
  return { inputs: 0, accepted: 0, rejected: {}, internal: [], failures: [], byTarget: {}, samples: {} }
}

export interface RunOptions {
  /** The run's seed. */
  seed: number
  /** First global input index (a resumed run starts after the last one done). */
  start?: number
  /** How many inputs. */
  count: number
  /** Inputs per batch (one target, then a health check). */
  batch?: number
  /** Only these targets (by name). */
  only?: readonly string[]
  /** Called before each input runs (a crash reporter records it). */
  beforeInput?: (index: number, target: string, input: Input) => void
  /** Called after each batch. */
  progress?: (stats: Stats, nextIndex: number) => void
}

const KNOWN = new Set<string>(errorCodes)

function finding(target: string, index: number, input: Input, message: string, code?: ErrorCode): Finding {
  return { target, index, ...(code ? { code } : {}), message, input: hex(input.bytes.subarray(0, 4096)), seed: hex(input.seed.subarray(0, 4096)) }
}

/**
 * The target of each global input index: a weighted, deterministic schedule of batches. Batch b
 * covers indices [b * batch, (b + 1) * batch).
 */
export function targetOfBatch(targets: readonly Target[], seed: number, batchIndex: number): Target {
  const total = targets.reduce((n, t) => n + t.weight, 0)
  // Every target appears once in each round of `targets.length` batches, then by weight.
  if (batchIndex % 4 === 0) return targets[(batchIndex / 4) % targets.length]
  let r = inputRng(seed ^ 0x5bd1e995, batchIndex).int(total)
  for (const t of targets) {
    if (r < t.weight) return t
    r -= t.weight
  }
  return targets[0]
}

/** Runs `count` inputs on `world`, in batches. Never throws for an input's outcome. */
export async function run(world: World, options: RunOptions, stats: Stats = emptyStats()): Promise<Stats> {
  const batch = options.batch ?? 100
  const targets = options.only ? TARGETS.filter((t) => options.only!.includes(t.name)) : TARGETS
  if (targets.length === 0) throw new Error(`no target named ${options.only?.join(', ')}`)
  const start = options.start ?? 0
  const endIndex = start + options.count
  let index = start
  while (index < endIndex) {
    const batchIndex = Math.floor(index / batch)
    const target = targetOfBatch(targets, options.seed, batchIndex)
    const batchEnd = Math.min(endIndex, (batchIndex + 1) * batch)
    const seeds = await target.begin(world)
    const per = (stats.byTarget[target.name] ??= { inputs: 0, accepted: 0 })
    for (; index < batchEnd; index++) {
      const rng = inputRng(options.seed, index)
      const seed = rng.pick(seeds)
      const input = { bytes: mutate(rng, seed, world.allMessages.length ? [...seeds, rng.pick(world.allMessages)] : seeds), seed }
      options.beforeInput?.(index, target.name, input)
      stats.inputs++
      per.inputs++
      try {
        await target.run(world, input, rng)
        stats.accepted++
        per.accepted++
      } catch (error) {
        if (error instanceof OpenMlsError && KNOWN.has(error.code) && error.code !== 'ERR_INTERNAL') {
          stats.rejected[error.code] = (stats.rejected[error.code] ?? 0) + 1
          stats.samples[`${target.name} ${error.code}`] ??= error.message.slice(0, 300)
        } else if (error instanceof OpenMlsError && error.code === 'ERR_INTERNAL') {
          stats.internal.push(finding(target.name, index, input, error.message, error.code))
        } else {
          const e = error as Error
          stats.failures.push(finding(target.name, index, input, `${e?.name}: ${e?.message}`, (error as OpenMlsError)?.code))
        }
      }
    }
    // Settle the batch and check the main group still works.
    try {
      await target.end?.(world)
      await world.healthCheck(`${target.name} #${batchIndex}`)
    } catch (error) {
      const e = error as Error
      stats.failures.push({ target: target.name, index: index - 1, message: `after the batch: ${e?.name}: ${e?.message}`, input: '', seed: '' })
      // The world may be broken now: stop rather than report every later input.
      break
    }
    options.progress?.(stats, index)
  }
  return stats
}

export function merge(into: Stats, from: Stats): Stats {
  into.inputs += from.inputs
  into.accepted += from.accepted
  for (const [code, n] of Object.entries(from.rejected)) into.rejected[code as ErrorCode] = (into.rejected[code as ErrorCode] ?? 0) + n!
  into.internal.push(...from.internal)
  into.failures.push(...from.failures)
  for (const [k, v] of Object.entries(from.samples)) into.samples[k] ??= v
  for (const [name, t] of Object.entries(from.byTarget)) {
    const mine = (into.byTarget[name] ??= { inputs: 0, accepted: 0 })
    mine.inputs += t.inputs
    mine.accepted += t.accepted
  }
  return into
}

// --- child-process mode (scripts/fuzz.mjs) ----------------------------------------------------
//
// `node --import=tsx __test__/fuzz-harness.mts --seed S --start I --count N --crash-file F`
// runs inputs [I, I + N) and prints one JSON line per batch (`{"progress": ...}`) and a final
// `{"done": stats}`. Before each input it writes the input's index, target and bytes to the crash
// file, so that a parent can report the input that killed the process.

async function childMain(argv: string[]) {
  const arg = (name: string, fallback?: string) => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : fallback
  }
  const seed = Number(arg('seed', '1'))
  const start = Number(arg('start', '0'))
  const count = Number(arg('count', '1000'))
  const crashFile = arg('crash-file')
  const only = arg('only')?.split(',')
  // A test hook for the parent's crash handling: abort the process just before this input.
  const crashAt = arg('crash-at') === undefined ? -1 : Number(arg('crash-at'))
  const fd = crashFile ? openSync(crashFile, 'w') : undefined
  const world = await World.create()
  const send = (o: unknown) => process.stdout.write(JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n')
  let sent = emptyStats()
  const stats = await run(world, {
    seed,
    start,
    count,
    only,
    beforeInput: fd === undefined ? undefined : (index, target, input) => {
      const record = Buffer.from(JSON.stringify({ index, target, input: hex(input.bytes), seed: hex(input.seed) }) + '\n')
      writeSync(fd, record, 0, record.length, 0)
      if (index === crashAt) process.abort()
    },
    progress(s, next) {
      // Only what is new since the last line, so the parent can add lines up.
      const delta = diff(s, sent)
      sent = structuredClone(s)
      send({ progress: delta, next })
    },
  })
  send({ done: diff(stats, sent), next: start + count })
  world.dispose()
}

function diff(now: Stats, before: Stats): Stats {
  const d = emptyStats()
  d.inputs = now.inputs - before.inputs
  d.accepted = now.accepted - before.accepted
  for (const [code, n] of Object.entries(now.rejected)) {
    const delta = n! - (before.rejected[code as ErrorCode] ?? 0)
    if (delta) d.rejected[code as ErrorCode] = delta
  }
  for (const [k, v] of Object.entries(now.samples)) if (!(k in before.samples)) d.samples[k] = v
  d.internal = now.internal.slice(before.internal.length)
  d.failures = now.failures.slice(before.failures.length)
  for (const [name, t] of Object.entries(now.byTarget)) {
    const b = before.byTarget[name] ?? { inputs: 0, accepted: 0 }
    if (t.inputs - b.inputs) d.byTarget[name] = { inputs: t.inputs - b.inputs, accepted: t.accepted - b.accepted }
  }
  return d
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  childMain(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`fuzz child failed: ${e?.stack ?? e}\n`)
    process.exit(2)
  })
}
