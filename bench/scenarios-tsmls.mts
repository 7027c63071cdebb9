/**
 * The same scenarios on ts-mls 1.6.4 (pure TypeScript, in memory), driven as
 * `__test__/interop-peers.mts` drives it. ts-mls has only a Promise API, so its one measurement
 * of each operation stands beside both openmls-node's `*Sync` row and its Promise row; it has no
 * storage, so it has no file-store rows.
 *
 * Timed regions match scenarios-openmls.mts: key package bytes are decoded inside the commit's
 * region (ts-mls validates them while committing), commits and messages are encoded to bytes,
 * received bytes are decoded, and the committer of an add encodes the ratchet tree for the joiner.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import * as mls from 'ts-mls'
import { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js'
import type { Metrics, Repetitions, Sizes } from './config.mjs'
import { check, now, repeat } from './measure.mjs'

const SUITE: mls.CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'

type KeyPair = { publicPackage: mls.KeyPackage; privatePackage: mls.PrivateKeyPackage }

const utf8 = (s: string) => new TextEncoder().encode(s)

function encode(content: mls.MlsMessageContent): Uint8Array {
  return mls.encodeMlsMessage({ version: 'mls10', ...content } as mls.MLSMessage)
}

function decode(bytes: Uint8Array): mls.MLSMessage {
  const decoded = mls.decodeMlsMessage(bytes, 0)
  check(decoded, 'ts-mls decodes the message')
  return decoded[0]
}

/** One client's ts-mls world: the ciphersuite implementation, its key packages and its state. */
class Client {
  state?: mls.ClientState
  #keyPair?: KeyPair

  constructor(
    readonly name: string,
    readonly impl: mls.CiphersuiteImpl,
  ) {}

  get s(): mls.ClientState {
    check(this.state, `${this.name} has a group`)
    return this.state
  }

  async newKeyPair(): Promise<KeyPair> {
    const credential: mls.Credential = { credentialType: 'basic', identity: utf8(this.name) }
    this.#keyPair = await mls.generateKeyPackage(credential, mls.defaultCapabilities(), mls.defaultLifetime, [], this.impl)
    return this.#keyPair
  }

  /** A fresh key package, as the bytes another client downloads. */
  async keyPackageBytes(): Promise<Uint8Array> {
    const kp = await this.newKeyPair()
    return encode({ wireformat: 'mls_key_package', keyPackage: kp.publicPackage })
  }

  async createGroup(): Promise<void> {
    const kp = await this.newKeyPair()
    this.state = await mls.createGroup(this.impl.rng.randomBytes(16), kp.publicPackage, kp.privatePackage, [], this.impl)
  }

  /** The committer's side: a commit with `proposals`, encoded; its new state is kept. */
  async commit(proposals: mls.Proposal[]): Promise<{ commit: Uint8Array; welcome?: Uint8Array }> {
    const r = await mls.createCommit({ state: this.s, cipherSuite: this.impl }, { extraProposals: proposals })
    this.state = r.newState
    return { commit: mls.encodeMlsMessage(r.commit), ...(r.welcome ? { welcome: encode({ wireformat: 'mls_welcome', welcome: r.welcome }) } : {}) }
  }

  /** Key package bytes in; commit, Welcome and ratchet tree out. */
  async add(keyPackages: Uint8Array[]): Promise<{ commit: Uint8Array; welcome: Uint8Array; ratchetTree: Uint8Array }> {
    const proposals = keyPackages.map((bytes): mls.Proposal => {
      const m = decode(bytes)
      check(m.wireformat === 'mls_key_package', 'a key package')
      return { proposalType: 'add', add: { keyPackage: m.keyPackage } }
    })
    const { commit, welcome } = await this.commit(proposals)
    check(welcome, 'an add has a Welcome')
    return { commit, welcome, ratchetTree: encodeRatchetTree(this.s.ratchetTree) }
  }

  /** A received handshake or application message, from bytes to new state. */
  async process(bytes: Uint8Array): Promise<mls.ProcessMessageResult> {
    const m = decode(bytes)
    check(m.wireformat === 'mls_private_message', 'a PrivateMessage')
    const r = await mls.processPrivateMessage(this.s, m.privateMessage, mls.emptyPskIndex, this.impl)
    this.state = r.newState
    return r
  }

  async join(welcome: Uint8Array, ratchetTree: Uint8Array): Promise<void> {
    const m = decode(welcome)
    check(m.wireformat === 'mls_welcome' && this.#keyPair, 'a Welcome for our key package')
    const tree = decodeRatchetTree(ratchetTree, 0)?.[0]
    check(tree, 'ts-mls decodes the ratchet tree')
    this.state = await mls.joinGroup(m.welcome, this.#keyPair.publicPackage, this.#keyPair.privatePackage, mls.emptyPskIndex, this.impl, tree)
  }

  async send(plaintext: Uint8Array): Promise<Uint8Array> {
    const r = await mls.createApplicationMessage(this.s, plaintext, this.impl)
    this.state = r.newState
    return encode({ wireformat: 'mls_private_message', privateMessage: r.privateMessage })
  }
}

/** A group of `size` members in which `a` and `b` hold real state. */
async function groupOf(impl: mls.CiphersuiteImpl, size: number, pool: Uint8Array[]) {
  const a = new Client('alice', impl)
  const b = new Client('bob', impl)
  await a.createGroup()
  const added = await a.add([await b.keyPackageBytes(), ...pool.slice(0, size - 2)])
  await b.join(added.welcome, added.ratchetTree)
  return { a, b }
}

async function addCase(impl: mls.CiphersuiteImpl, n: number, pool: Uint8Array[]): Promise<Metrics> {
  const { a, b } = await groupOf(impl, 2, pool)
  const joiner = new Client('joiner', impl)
  const keyPackages = [await joiner.keyPackageBytes(), ...pool.slice(0, n - 1)]
  let t = now()
  const added = await a.add(keyPackages)
  const create = now() - t
  t = now()
  await b.process(added.commit)
  const processMs = now() - t
  t = now()
  await joiner.join(added.welcome, added.ratchetTree)
  const joinMs = now() - t
  check(joiner.s.groupContext.epoch === b.s.groupContext.epoch && b.s.groupContext.epoch === a.s.groupContext.epoch, 'everyone is in the same epoch')
  return { 'add.create': create, 'add.process': processMs, 'add.join': joinMs }
}

async function updateCase(impl: mls.CiphersuiteImpl, size: number, pool: Uint8Array[], reps: Repetitions): Promise<Metrics> {
  const { a, b } = await groupOf(impl, size, pool)
  return repeat(reps.warmup, reps.updates, async () => {
    let t = now()
    // An empty commit: RFC 9420 §12.4 requires a path, so the committer's leaf is refreshed.
    const { commit } = await a.commit([])
    const create = now() - t
    t = now()
    await b.process(commit)
    check(b.s.groupContext.epoch === a.s.groupContext.epoch, 'b follows')
    return { 'update.create': create, 'update.process': now() - t }
  })
}

async function messagesCase(impl: mls.CiphersuiteImpl, id: string, size: number, payload: number, pool: Uint8Array[], reps: Repetitions): Promise<Metrics> {
  const { a, b } = await groupOf(impl, size, pool)
  const plaintext = new Uint8Array(payload).fill(0x5a)
  return repeat(reps.warmup, reps.batches, async () => {
    let t = now()
    const wire: Uint8Array[] = []
    for (let i = 0; i < reps.messages; i++) wire.push(await a.send(plaintext))
    const enc = (now() - t) / reps.messages
    t = now()
    for (const bytes of wire) {
      const r = await b.process(bytes)
      check(r.kind === 'applicationMessage' && r.message.length === payload, 'the message decrypts')
    }
    return { [`${id}.enc`]: enc, [`${id}.dec`]: (now() - t) / reps.messages }
  })
}

/** Event-loop lag during the same add: ts-mls computes on the event loop, so all of it is "calls". */
async function lagCase(impl: mls.CiphersuiteImpl, n: number, pool: Uint8Array[]): Promise<Metrics> {
  const { a, b } = await groupOf(impl, 2, pool)
  const joiner = new Client('joiner', impl)
  const keyPackages = [await joiner.keyPackageBytes(), ...pool.slice(0, n - 1)]
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const added = await a.add(keyPackages)
  await b.process(added.commit)
  await joiner.join(added.welcome, added.ratchetTree)
  h.disable()
  const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0)
  return { 'lag.flow.max': ms(h.max), 'lag.flow.p99': ms(h.percentile(99)), 'lag.calls.max': ms(h.max), 'lag.calls.p99': ms(h.percentile(99)) }
}

/** Runs every ts-mls scenario; `log` hears about progress. */
export async function runTsMls(sizes: Sizes, log: (line: string) => void): Promise<Metrics> {
  const r = sizes.tsmls
  const impl = await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(SUITE))
  const results: Metrics = {}
  const section = async (name: string, run: () => Promise<Metrics>) => {
    const start = now()
    Object.assign(results, await run())
    log(`ts-mls: ${name} (${((now() - start) / 1000).toFixed(1)} s)`)
  }
  const pool: Uint8Array[] = []
  await section('key packages', () =>
    repeat(r.warmup, r.batches, async () => {
      const kp = new Client('kp', impl)
      const t = now()
      for (let i = 0; i < r.keyPackages; i++) await kp.keyPackageBytes()
      return { kp: (now() - t) / r.keyPackages }
    }),
  )
  await section('the pool of key packages to add', async () => {
    for (let i = 0; i < Math.max(sizes.addCount, sizes.groupSize); i++) pool.push(await new Client(`member ${i}`, impl).keyPackageBytes())
    return {}
  })
  await section(`add ${sizes.addCount}`, () => repeat(r.warmup, r.commits, () => addCase(impl, sizes.addCount, pool)))
  await section(`self-update in ${sizes.groupSize}`, () => updateCase(impl, sizes.groupSize, pool, r))
  for (const [size, group] of [[2, '2'], [sizes.groupSize, 'group']] as const) {
    for (const [payload, kind] of [[sizes.smallMessage, 'small'], [sizes.largeMessage, 'large']] as const) {
      const id = `msg.${group}.${kind}`
      await section(id, () => messagesCase(impl, id, size, payload, pool, r))
    }
  }
  await section('event-loop lag', () => repeat(0, 1, () => lagCase(impl, sizes.addCount, pool)))
  return results
}
