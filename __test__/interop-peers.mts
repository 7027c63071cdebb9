// Interop fixtures: one `Peer` interface over two independent RFC 9420 implementations, this
// package (openmls-node, native openmls) and ts-mls (pure TypeScript), so that every scenario in
// interop.test.mts can run in both directions. Only encoded MLSMessage bytes cross between them.
import { BasicCredential, KeyPackage, MlsGroup, Provider, SignatureKeyPair, type Extension, type WireFormatPolicy } from 'openmls-node'
import * as mls from 'ts-mls'
import { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js'
import { createGroupInfo } from 'ts-mls/createCommit.js'

declare global {
  // ts-mls's .d.ts files name two Web Crypto types from lib.dom, which this project's tsconfig
  // (lib ES2022, skipLibCheck off) does not load; Node's own definitions stand in for them.
  type CryptoKey = import('node:crypto').webcrypto.CryptoKey
  type BufferSource = import('node:crypto').webcrypto.BufferSource
}

export type Suite = 1 | 2 | 3
export type Lib = 'openmls-node' | 'ts-mls'

export const SUITE_NAMES = {
  1: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  2: 'MLS_128_DHKEMP256_AES128GCM_SHA256_P256',
  3: 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519',
} as const satisfies Record<Suite, mls.CiphersuiteName>

/** The exporter call both libraries are compared on (RFC 9420 §8.5). */
export const EXPORTER = { label: 'interop exporter', context: new Uint8Array([0xca, 0xfe, 0x01]), length: 32 } as const

/**
 * How handshake messages travel: `ciphertext` = PrivateMessage (openmls-node `pureCiphertext`,
 * ts-mls's default); `plaintext` = PublicMessage (openmls-node `mixedPlaintext`, which sends
 * PublicMessage and accepts both; ts-mls `wireAsPublicMessage`). External commits and external
 * proposals are PublicMessages in either mode, as RFC 9420 §6 requires.
 */
export type Wire = 'ciphertext' | 'plaintext'

export type Processed =
  | { type: 'application'; data: Uint8Array }
  | { type: 'proposal' }
  | { type: 'commit'; removedSelf: boolean }

export interface CommitOut {
  commit: Uint8Array
  welcome?: Uint8Array
}

export interface Peer {
  readonly name: string
  readonly lib: Lib
  readonly suite: Suite
  /** A fresh KeyPackage, as an encoded MLSMessage. */
  keyPackage(): Promise<Uint8Array>
  create(groupId: Uint8Array): Promise<void>
  join(welcome: Uint8Array, ratchetTree?: Uint8Array): Promise<void>
  /** Commits (and merges locally). */
  add(keyPackages: Uint8Array[]): Promise<CommitOut>
  remove(leafIndices: number[]): Promise<CommitOut>
  update(): Promise<CommitOut>
  commitWithPsk(pskId: Uint8Array): Promise<CommitOut>
  /** Commits every proposal this member has stored (by reference). */
  commitPending(): Promise<CommitOut>
  storePsk(pskId: Uint8Array, secret: Uint8Array): void
  /** Processes a group message: commits are merged, proposals stored. */
  process(message: Uint8Array): Promise<Processed>
  send(text: string): Promise<Uint8Array>
  /** The GroupInfo with ExternalPub and the ratchet tree, for external joiners. */
  groupInfo(): Promise<Uint8Array>
  /** Joins by external commit; returns the commit for the group. */
  externalJoin(groupInfo: Uint8Array): Promise<Uint8Array>
  ratchetTree(): Uint8Array
  exporter(): Promise<Uint8Array>
  readonly epoch: bigint
  readonly epochAuthenticator: Uint8Array
  readonly leafIndex: number
  readonly groupId: Uint8Array
  readonly active: boolean
  readonly memberNames: string[]
}

const utf8 = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

// --- openmls-node ---------------------------------------------------------------------------

export class OpenmlsPeer implements Peer {
  readonly lib = 'openmls-node' as const
  readonly provider = new Provider()
  readonly signer: SignatureKeyPair
  group?: MlsGroup

  constructor(
    readonly name: string,
    readonly suite: Suite,
    readonly wire: Wire = 'ciphertext',
    readonly treeInWelcome = false,
  ) {
    this.signer = SignatureKeyPair.forCiphersuite(suite)
  }

  get credentialWithKey() {
    return { credential: new BasicCredential(this.name), signatureKey: this.signer.publicKey }
  }

  get policy(): WireFormatPolicy {
    return this.wire === 'ciphertext' ? 'pureCiphertext' : 'mixedPlaintext'
  }

  get g(): MlsGroup {
    if (!this.group) throw new Error(`${this.name} has no group`)
    return this.group
  }

  async keyPackage() {
    return KeyPackage.builder()
      .build({ ciphersuite: this.suite, provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey })
      .toBytes()
  }

  async create(groupId: Uint8Array, groupContextExtensions?: Extension[]) {
    this.group = MlsGroup.create({
      provider: this.provider,
      signer: this.signer,
      credentialWithKey: this.credentialWithKey,
      groupId,
      config: { ciphersuite: this.suite, useRatchetTreeExtension: this.treeInWelcome, wireFormatPolicy: this.policy, groupContextExtensions },
    })
  }

  async join(welcome: Uint8Array, ratchetTree?: Uint8Array) {
    this.group = await MlsGroup.joinFromWelcome({
      provider: this.provider,
      signer: this.signer,
      welcome,
      ratchetTree,
      config: { wireFormatPolicy: this.policy, useRatchetTreeExtension: this.treeInWelcome },
    })
  }

  private merged<T extends CommitOut>(out: T): CommitOut {
    this.g.mergePendingCommitSync()
    return { commit: out.commit, ...(out.welcome ? { welcome: out.welcome } : {}) }
  }

  async add(keyPackages: Uint8Array[]) {
    return this.merged(await this.g.addMembers(keyPackages.map((kp) => KeyPackage.fromBytes(this.provider, kp))))
  }

  async remove(leafIndices: number[]) {
    return this.merged(await this.g.removeMembers(leafIndices))
  }

  async update() {
    return this.merged(await this.g.selfUpdate())
  }

  async commitWithPsk(pskId: Uint8Array) {
    return this.merged(await this.g.commit({ psks: [{ type: 'external', pskId }] }))
  }

  async commitPending() {
    return this.merged(await this.g.commitToPendingProposals())
  }

  storePsk(pskId: Uint8Array, secret: Uint8Array) {
    this.provider.storeExternalPsk(pskId, secret)
  }

  async process(message: Uint8Array): Promise<Processed> {
    const p = await this.g.processMessage(message)
    switch (p.type) {
      case 'application':
        return { type: 'application', data: p.data }
      case 'proposal':
      case 'externalJoinProposal':
        this.g.storePendingProposalSync(p.proposal)
        return { type: 'proposal' }
      case 'commit': {
        const removedSelf = p.stagedCommit.selfRemoved
        this.g.mergeStagedCommitSync(p.stagedCommit)
        return { type: 'commit', removedSelf }
      }
      default:
        throw new Error(`${this.name}: unexpected ${p.type}`)
    }
  }

  async send(message: string) {
    return this.g.createMessageSync(message)
  }

  async groupInfo() {
    return this.g.exportGroupInfo({ withRatchetTree: true })
  }

  async externalJoin(groupInfo: Uint8Array) {
    const r = await MlsGroup.joinByExternalCommit({
      provider: this.provider,
      signer: this.signer,
      credentialWithKey: this.credentialWithKey,
      groupInfo,
      config: { wireFormatPolicy: this.policy, useRatchetTreeExtension: this.treeInWelcome },
    })
    this.group = r.group
    return r.commit
  }

  ratchetTree() {
    return this.g.exportRatchetTree()
  }

  async exporter() {
    return this.g.exportSecret(EXPORTER.label, EXPORTER.context, EXPORTER.length)
  }

  get epoch() {
    return this.g.epoch
  }
  get epochAuthenticator() {
    return this.g.epochAuthenticator()
  }
  get leafIndex() {
    return this.g.ownLeafIndex
  }
  get groupId() {
    return this.g.groupId
  }
  get active() {
    return this.g.isActive
  }
  get memberNames() {
    return this.g.members().map((m) => String(m.credential))
  }
}

// --- ts-mls ---------------------------------------------------------------------------------

const impls = new Map<Suite, Promise<mls.CiphersuiteImpl>>()
export function tsImpl(suite: Suite): Promise<mls.CiphersuiteImpl> {
  if (!impls.has(suite)) impls.set(suite, mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(SUITE_NAMES[suite])))
  return impls.get(suite)!
}

export function encodeMessage(content: mls.MlsMessageContent): Uint8Array {
  return mls.encodeMlsMessage({ version: 'mls10', ...content } as mls.MLSMessage)
}

export function decodeMessage(bytes: Uint8Array): mls.MLSMessage {
  const decoded = mls.decodeMlsMessage(bytes, 0)
  if (!decoded) throw new Error('ts-mls could not decode the MLSMessage')
  return decoded[0]
}

export class TsMlsPeer implements Peer {
  readonly lib = 'ts-mls' as const
  state?: mls.ClientState
  /**
   * Work around ts-mls 1.6.4's ExternalPub codec (see {@link adaptExternalPub}) in `groupInfo()`
   * and `externalJoin()`. Off by default: the plain library is what is tested.
   */
  adaptExternalPub = false
  /** Key packages generated but not yet used, newest last. */
  private pending: { publicPackage: mls.KeyPackage; privatePackage: mls.PrivateKeyPackage }[] = []
  private psks: Record<string, Uint8Array> = {}

  constructor(
    readonly name: string,
    readonly suite: Suite,
    readonly wire: Wire = 'ciphertext',
    readonly treeInWelcome = false,
  ) {}

  get credential(): mls.Credential {
    return { credentialType: 'basic', identity: utf8(this.name) }
  }

  get s(): mls.ClientState {
    if (!this.state) throw new Error(`${this.name} has no group`)
    return this.state
  }

  get pskIndex(): mls.PskIndex {
    return mls.makePskIndex(this.state, this.psks)
  }

  async newKeyPackage() {
    const kp = await mls.generateKeyPackage(this.credential, mls.defaultCapabilities(), mls.defaultLifetime, [], await tsImpl(this.suite))
    this.pending.push(kp)
    return kp
  }

  async keyPackage() {
    const kp = await this.newKeyPackage()
    return encodeMessage({ wireformat: 'mls_key_package', keyPackage: kp.publicPackage })
  }

  async create(groupId: Uint8Array, extensions: mls.Extension[] = []) {
    const kp = await this.newKeyPackage()
    this.state = await mls.createGroup(groupId, kp.publicPackage, kp.privatePackage, extensions, await tsImpl(this.suite))
  }

  async join(welcome: Uint8Array, ratchetTree?: Uint8Array) {
    const m = decodeMessage(welcome)
    if (m.wireformat !== 'mls_welcome') throw new Error(`expected a Welcome, got ${m.wireformat}`)
    const tree = ratchetTree ? decodeRatchetTree(ratchetTree, 0)?.[0] : undefined
    if (ratchetTree && !tree) throw new Error('ts-mls could not decode the ratchet tree')
    // The Welcome names the key package it is for (by KeyPackageRef); try ours, newest first.
    let lastError: unknown
    for (const kp of [...this.pending].reverse()) {
      try {
        this.state = await mls.joinGroup(m.welcome, kp.publicPackage, kp.privatePackage, this.pskIndex, await tsImpl(this.suite), tree)
        this.pending = this.pending.filter((k) => k !== kp)
        return
      } catch (e) {
        lastError = e
      }
    }
    throw lastError ?? new Error(`${this.name} has no key package`)
  }

  private async commitWith(extraProposals: mls.Proposal[]): Promise<CommitOut> {
    const r = await mls.createCommit(
      { state: this.s, cipherSuite: await tsImpl(this.suite), pskIndex: this.pskIndex },
      { extraProposals, wireAsPublicMessage: this.wire === 'plaintext', ratchetTreeExtension: this.treeInWelcome },
    )
    this.state = r.newState
    return { commit: mls.encodeMlsMessage(r.commit), ...(r.welcome ? { welcome: encodeMessage({ wireformat: 'mls_welcome', welcome: r.welcome }) } : {}) }
  }

  async add(keyPackages: Uint8Array[]) {
    return this.commitWith(
      keyPackages.map((bytes) => {
        const m = decodeMessage(bytes)
        if (m.wireformat !== 'mls_key_package') throw new Error(`expected a KeyPackage, got ${m.wireformat}`)
        return { proposalType: 'add', add: { keyPackage: m.keyPackage } }
      }),
    )
  }

  async remove(leafIndices: number[]) {
    return this.commitWith(leafIndices.map((removed) => ({ proposalType: 'remove', remove: { removed } })))
  }

  /** An empty commit: RFC 9420 §12.4 requires a path, so the committer's leaf is refreshed. */
  async update() {
    return this.commitWith([])
  }

  async commitWithPsk(pskId: Uint8Array) {
    const pskNonce = (await tsImpl(this.suite)).rng.randomBytes(32)
    return this.commitWith([{ proposalType: 'psk', psk: { preSharedKeyId: { psktype: 'external', pskId, pskNonce } } }])
  }

  async commitPending() {
    return this.commitWith([])
  }

  storePsk(pskId: Uint8Array, secret: Uint8Array) {
    this.psks[mls.bytesToBase64(pskId)] = secret
  }

  async process(message: Uint8Array): Promise<Processed> {
    const m = decodeMessage(message)
    if (m.wireformat !== 'mls_private_message' && m.wireformat !== 'mls_public_message') throw new Error(`not a group message: ${m.wireformat}`)
    const before = this.s.groupContext.epoch
    // Not mls.processMessage: in ts-mls 1.6.4 it hands PrivateMessages `emptyPskIndex` instead of
    // the PSK index it was given, so PSK commits in PrivateMessages could not be processed.
    const impl = await tsImpl(this.suite)
    const r =
      m.wireformat === 'mls_private_message'
        ? await mls.processPrivateMessage(this.s, m.privateMessage, this.pskIndex, impl)
        : { kind: 'newState' as const, ...(await mls.processPublicMessage(this.s, m.publicMessage, this.pskIndex, impl)) }
    this.state = r.newState
    if (r.kind === 'applicationMessage') return { type: 'application', data: r.message }
    if (r.newState.groupContext.epoch === before && r.newState.groupActiveState.kind === 'active') return { type: 'proposal' }
    return { type: 'commit', removedSelf: r.newState.groupActiveState.kind === 'removedFromGroup' }
  }

  async send(message: string) {
    const r = await mls.createApplicationMessage(this.s, utf8(message), await tsImpl(this.suite))
    this.state = r.newState
    return encodeMessage({ wireformat: 'mls_private_message', privateMessage: r.privateMessage })
  }

  async groupInfo() {
    const impl = await tsImpl(this.suite)
    if (!this.adaptExternalPub) {
      const groupInfo = await mls.createGroupInfoWithExternalPubAndRatchetTree(this.s, [], impl)
      return encodeMessage({ wireformat: 'mls_group_info', groupInfo })
    }
    // The same GroupInfo, with ExternalPub encoded as RFC 9420 §12.4.3.2 says (a length-prefixed
    // HPKEPublicKey), signed by ts-mls's own createGroupInfo.
    const keyPair = await impl.hpke.deriveKeyPair(this.s.keySchedule.externalSecret)
    const externalPub = await impl.hpke.exportPublicKey(keyPair.publicKey)
    const groupInfo = await createGroupInfo(
      this.s.groupContext,
      this.s.confirmationTag,
      this.s,
      [
        { extensionType: 'external_pub', extensionData: withVarintPrefix(externalPub) },
        { extensionType: 'ratchet_tree', extensionData: encodeRatchetTree(this.s.ratchetTree) },
      ],
      impl,
    )
    return encodeMessage({ wireformat: 'mls_group_info', groupInfo })
  }

  async externalJoin(groupInfoBytes: Uint8Array) {
    const m = decodeMessage(groupInfoBytes)
    if (m.wireformat !== 'mls_group_info') throw new Error(`expected a GroupInfo, got ${m.wireformat}`)
    const kp = await this.newKeyPackage()
    const impl = await tsImpl(this.suite)
    const r = await mls.joinGroupExternal(m.groupInfo, kp.publicPackage, kp.privatePackage, false, this.adaptExternalPub ? adaptExternalPub(impl, this.suite) : impl)
    this.pending = this.pending.filter((k) => k !== kp)
    this.state = r.newState
    return encodeMessage({ wireformat: 'mls_public_message', publicMessage: r.publicMessage })
  }

  ratchetTree() {
    return encodeRatchetTree(this.s.ratchetTree)
  }

  async exporter() {
    return mls.mlsExporter(this.s.keySchedule.exporterSecret, EXPORTER.label, EXPORTER.context, EXPORTER.length, await tsImpl(this.suite))
  }

  get epoch() {
    return this.s.groupContext.epoch
  }
  get epochAuthenticator() {
    return this.s.keySchedule.epochAuthenticator
  }
  get leafIndex() {
    return this.s.privatePath.leafIndex
  }
  get groupId() {
    return this.s.groupContext.groupId
  }
  get active() {
    return this.s.groupActiveState.kind === 'active'
  }
  get memberNames() {
    return this.s.ratchetTree.flatMap((n) => (n?.nodeType === 'leaf' && n.leaf.credential.credentialType === 'basic' ? [text(n.leaf.credential.identity)] : []))
  }
}

export function makePeer(lib: Lib, name: string, suite: Suite, wire: Wire = 'ciphertext', treeInWelcome = false): Peer {
  return lib === 'openmls-node' ? new OpenmlsPeer(name, suite, wire, treeInWelcome) : new TsMlsPeer(name, suite, wire, treeInWelcome)
}

export const other = (lib: Lib): Lib => (lib === 'openmls-node' ? 'ts-mls' : 'openmls-node')

// --- ExternalPub workaround ------------------------------------------------------------------

/** HPKE public key lengths of the tested suites' KEMs (X25519: 32, P-256 uncompressed: 65). */
export const KEM_PUBLIC_KEY_LENGTH: Record<Suite, number> = { 1: 32, 2: 65, 3: 32 }

export function withVarintPrefix(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= 1 << 14) throw new Error('too long for this helper')
  const prefix = bytes.length < 64 ? [bytes.length] : [0x40 | (bytes.length >> 8), bytes.length & 0xff]
  return new Uint8Array([...prefix, ...bytes])
}

/** Strips an MLS varint length prefix when `bytes` is exactly prefix + `innerLength` bytes. */
export function withoutVarintPrefix(bytes: Uint8Array, innerLength: number): Uint8Array | undefined {
  const prefix = withVarintPrefix(new Uint8Array(innerLength)).subarray(0, innerLength < 64 ? 1 : 2)
  if (bytes.length !== prefix.length + innerLength) return undefined
  return prefix.every((b, i) => bytes[i] === b) ? bytes.subarray(prefix.length) : undefined
}

/**
 * ts-mls 1.6.4 reads the ExternalPub extension's data as the bare HPKE public key, but RFC 9420
 * §12.4.3.2 wraps it in a struct whose only field is `opaque HPKEPublicKey<V>`, so openmls's
 * extension data carries a length prefix. This CiphersuiteImpl accepts the prefixed form where a
 * public key of the wrong length arrives (only ExternalPub can do that) and is otherwise ts-mls's.
 */
export function adaptExternalPub(impl: mls.CiphersuiteImpl, suite: Suite): mls.CiphersuiteImpl {
  const keyLength = KEM_PUBLIC_KEY_LENGTH[suite]
  const hpke: mls.Hpke = Object.create(impl.hpke)
  hpke.importPublicKey = (key: Uint8Array) => impl.hpke.importPublicKey(key.length === keyLength ? key : (withoutVarintPrefix(key, keyLength) ?? key))
  return { ...impl, hpke }
}
