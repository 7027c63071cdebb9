import { assertBytes, assertLeafIndices, call, callAsync, OpenMlsError } from './errors.js'
import { native } from './native.js'
import { credentialFromNative, credentialToNative, type Credential, type CredentialWithKey } from './credential.js'
import {
  extensionFromNative,
  extensionsToNative,
  leafNodeFromNative,
  lifetimeToNative,
  type Capabilities,
  type Extension,
  type LeafNode,
  type Lifetime,
} from './extensions.js'
import { assertSignerMatches } from './key-package.js'
import { Ciphersuite } from './ciphersuite.js'
import type { KeyPackage } from './key-package.js'
import type { Provider } from './provider.js'
import type { SignatureKeyPair } from './signature-key-pair.js'
import { fingerprint, toHex } from './hex.js'

type NativeGroup = InstanceType<typeof native.MlsGroup>
type NativeProcessed = ReturnType<NativeGroup['processMessageSync']>
type NativeSender = NativeProcessed['sender']

/**
 * Which wire formats a member sends and accepts for handshake messages (application messages are
 * always encrypted): `pureCiphertext` (default), `purePlaintext`, `mixedCiphertext` (send
 * encrypted, accept both) or `mixedPlaintext` (send plaintext, accept both).
 */
export type WireFormatPolicy = 'pureCiphertext' | 'purePlaintext' | 'mixedCiphertext' | 'mixedPlaintext'

/** Sender ratchet tolerance (openmls `SenderRatchetConfiguration`). */
export interface SenderRatchetConfiguration {
  /** How many past generations are kept to decrypt out-of-order messages. Default 5. */
  outOfOrderTolerance: number
  /** How far ahead of the current generation a message may be. Default 1000. */
  maximumForwardDistance: number
}

/**
 * A member's runtime configuration (openmls `MlsGroupJoinConfig`, the book's "Group
 * configuration"). Omitted fields take openmls's defaults.
 */
export interface MlsGroupJoinConfig {
  wireFormatPolicy?: WireFormatPolicy
  /** Pad encrypted messages to a multiple of this many bytes. Default 0. */
  paddingSize?: number
  /** How many past epochs' secrets to keep, to decrypt late application messages. Default 0. */
  maxPastEpochs?: number
  /** Keep every past epoch's secrets (the `KeepAll` past-epoch deletion policy). */
  keepAllPastEpochs?: boolean
  /** How many resumption PSKs to keep. Default 0. */
  numberOfResumptionPsks?: number
  /** Whether Welcome messages carry the ratchet tree, so joiners need nothing else. Default `false`. */
  useRatchetTreeExtension?: boolean
  senderRatchetConfiguration?: SenderRatchetConfiguration
}

/** Everything a group is created with (openmls `MlsGroupCreateConfig`). */
export interface MlsGroupCreateConfig extends MlsGroupJoinConfig {
  /** The ciphersuite. Default: `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`. */
  ciphersuite?: Ciphersuite
  /** The creator's leaf lifetime. */
  lifetime?: Lifetime
  /** Group context extensions (RequiredCapabilities, ExternalSenders, custom ones, ...). */
  groupContextExtensions?: Extension[]
  /** The creator's leaf node extensions. */
  leafNodeExtensions?: Extension[]
  /** The creator's leaf capabilities (list custom extension and proposal types here). */
  capabilities?: Capabilities
}

/** A group's runtime configuration, as read back from it: every field is set. */
export type MlsGroupJoinConfigValues = Required<Omit<MlsGroupJoinConfig, 'maxPastEpochs'>> & { maxPastEpochs?: number }

function joinConfigToNative(c: MlsGroupJoinConfig | undefined) {
  if (!c) return undefined
  return {
    wireFormatPolicy: c.wireFormatPolicy,
    paddingSize: c.paddingSize,
    maxPastEpochs: c.maxPastEpochs,
    keepAllPastEpochs: c.keepAllPastEpochs,
    numberOfResumptionPsks: c.numberOfResumptionPsks,
    useRatchetTreeExtension: c.useRatchetTreeExtension,
    senderRatchetConfiguration: c.senderRatchetConfiguration,
  }
}

/** Parameters of {@link MlsGroup.create}. */
export interface CreateGroupParams {
  provider: Provider
  signer: SignatureKeyPair
  /** The creator's credential; its `signatureKey` must be `signer.publicKey`. */
  credentialWithKey: CredentialWithKey
  /** The group id. Random (16 bytes) when absent; it cannot change later. */
  groupId?: Uint8Array
  config?: MlsGroupCreateConfig
}

/** Parameters of {@link MlsGroup.joinFromWelcome}. */
export interface JoinFromWelcomeParams {
  /** The provider that created the key package the Welcome is for. */
  provider: Provider
  /** The signer of that key package. */
  signer: SignatureKeyPair
  /** The Welcome, as an encoded `MLSMessage`. */
  welcome: Uint8Array
  /** The ratchet tree ({@link MlsGroup.exportRatchetTree}), when the Welcome does not carry it. */
  ratchetTree?: Uint8Array
  /**
   * This member's runtime configuration. `useRatchetTreeExtension` defaults to whether the
   * Welcome carried the tree.
   */
  config?: MlsGroupJoinConfig
  /** Accept leaves whose lifetime is not current (for replaying old sessions or test vectors). */
  skipLifetimeValidation?: boolean
}

/** The messages a commit produces, each an encoded `MLSMessage`. */
export interface CommitMessages {
  /** The commit: send it to the group, then call {@link MlsGroup.mergePendingCommit}. */
  commit: Uint8Array
  /** The Welcome for new members, when the commit adds any. */
  welcome?: Uint8Array
  /** The new epoch's GroupInfo, when the group uses the ratchet-tree extension. */
  groupInfo?: Uint8Array
}

/** The result of {@link MlsGroup.addMembers}: a Welcome is always present. */
export interface AddMembersResult extends CommitMessages {
  welcome: Uint8Array
}

/** Who sent a message. */
export type Sender =
  | { type: 'member'; leafIndex: number }
  | { type: 'external'; senderIndex: number }
  | { type: 'newMemberProposal' }
  | { type: 'newMemberCommit' }

/** A member of a group. */
export interface Member {
  /** The member's leaf index. */
  index: number
  credential: Credential
  signatureKey: Uint8Array
  encryptionKey: Uint8Array
}

/** A proposal covered by a staged commit, with its sender. */
export interface StagedProposal {
  sender: Sender
  /** `add` and `update`: the member's credential. */
  credential?: Credential
  /** `add` and `update`: the member's signature key. */
  signatureKey?: Uint8Array
  /** `remove`: the removed leaf index. */
  removed?: number
}

/** Fields every processed message has. */
export interface ProcessedMessageBase {
  groupId: Uint8Array
  /** The epoch the message was sent in. */
  epoch: bigint
  sender: Sender
  /** The additional authenticated data the sender attached. */
  authenticatedData: Uint8Array
  /** The sender's credential. */
  credential: Credential
}

/** The result of {@link MlsGroup.processMessage}, discriminated by `kind`. */
export type ProcessedMessage =
  | (ProcessedMessageBase & { kind: 'application'; data: Uint8Array })
  | (ProcessedMessageBase & { kind: 'proposal'; proposal: QueuedProposal })
  | (ProcessedMessageBase & { kind: 'externalJoinProposal'; proposal: QueuedProposal })
  | (ProcessedMessageBase & { kind: 'commit'; stagedCommit: StagedCommit })
  | (ProcessedMessageBase & { kind: 'ownPendingCommit' })
  | (ProcessedMessageBase & { kind: 'ownPrivateMessage' })

function senderFromNative(sender: NativeSender): Sender {
  switch (sender.kind) {
    case 'member':
      return { type: 'member', leafIndex: sender.index ?? 0 }
    case 'external':
      return { type: 'external', senderIndex: sender.index ?? 0 }
    case 'newMemberProposal':
      return { type: 'newMemberProposal' }
    default:
      return { type: 'newMemberCommit' }
  }
}

function processedFromNative(p: NativeProcessed): ProcessedMessage {
  const base: ProcessedMessageBase = {
    groupId: p.groupId,
    epoch: p.epoch,
    sender: senderFromNative(p.sender),
    authenticatedData: p.authenticatedData,
    credential: credentialFromNative(p.credential),
  }
  switch (p.kind) {
    case 'application':
      return { ...base, kind: 'application', data: p.data as Uint8Array }
    case 'proposal':
    case 'externalJoinProposal':
      return { ...base, kind: p.kind, proposal: new QueuedProposal(p.proposal!) }
    case 'commit':
      return { ...base, kind: 'commit', stagedCommit: new StagedCommit(p.stagedCommit!) }
    case 'ownPendingCommit':
      return { ...base, kind: 'ownPendingCommit' }
    default:
      return { ...base, kind: 'ownPrivateMessage' }
  }
}

function proposalsFromNative(list: ReturnType<InstanceType<typeof native.StagedCommit>['info']>['addProposals']): StagedProposal[] {
  return list.map((p) => ({
    sender: senderFromNative(p.sender),
    ...(p.credential ? { credential: credentialFromNative(p.credential) } : {}),
    ...(p.signatureKey ? { signatureKey: p.signatureKey } : {}),
    ...(p.removed !== undefined && p.removed !== null ? { removed: p.removed } : {}),
  }))
}

/**
 * A received commit, validated and staged (openmls `StagedCommit`). Inspect it, then merge it
 * with {@link MlsGroup.mergeStagedCommit}. Its getters describe the commit; they throw
 * `ERR_STALE_STAGED_COMMIT` once it has been merged.
 */
export class StagedCommit {
  /** @internal */
  readonly native: InstanceType<typeof native.StagedCommit>

  /** @internal */
  constructor(handle: InstanceType<typeof native.StagedCommit>) {
    this.native = handle
  }

  private info() {
    return call(() => this.native.info())
  }

  /** The Add proposals the commit covers. */
  get addProposals(): StagedProposal[] {
    return proposalsFromNative(this.info().addProposals)
  }

  /** The Remove proposals the commit covers. */
  get removeProposals(): StagedProposal[] {
    return proposalsFromNative(this.info().removeProposals)
  }

  /** The Update proposals the commit covers. */
  get updateProposals(): StagedProposal[] {
    return proposalsFromNative(this.info().updateProposals)
  }

  /** Whether the commit removes this member. */
  get selfRemoved(): boolean {
    return this.info().selfRemoved
  }

  /** The epoch the group enters when the commit is merged. */
  get epoch(): bigint {
    return this.info().epoch
  }

  /** The new epoch's authenticator; `undefined` when this member is removed. */
  get epochAuthenticator(): Uint8Array | undefined {
    return this.info().epochAuthenticator ?? undefined
  }

  /** Whether the committer refreshed its leaf with an update path. */
  get hasUpdatePath(): boolean {
    return this.info().hasUpdatePath
  }
}

/** Proposal type code points. */
export const ProposalType = {
  Add: 1,
  Update: 2,
  Remove: 3,
  PreSharedKey: 4,
  Reinit: 5,
  ExternalInit: 6,
  GroupContextExtensions: 7,
} as const

/**
 * A proposal received from another member (openmls `QueuedProposal`). Store it with
 * {@link MlsGroup.storePendingProposal} so that the next commit covers it, or drop it.
 */
export class QueuedProposal {
  /** @internal */
  readonly native: InstanceType<typeof native.QueuedProposal>

  /** @internal */
  constructor(handle: InstanceType<typeof native.QueuedProposal>) {
    this.native = handle
  }

  /** The proposal type code point (see {@link ProposalType}). */
  get proposalType(): number {
    return this.native.proposalType
  }

  /** The proposal reference (RFC 9420 §5.2). */
  get proposalRef(): Uint8Array {
    return this.native.proposalRef
  }

  /** Who proposed it. */
  get sender(): Sender {
    return senderFromNative(this.native.sender)
  }
}

/**
 * An MLS group, as seen by one member (openmls `MlsGroup`).
 *
 * Operations that do heavy public-key work (joining, committing, processing) return Promises and
 * run on the libuv thread pool; each has a `*Sync` twin that runs on the calling thread. The
 * group's state sits behind a lock, so concurrent calls on one group are serialized.
 * Every failure throws an {@link OpenMlsError}; a rejected message leaves the group unchanged.
 */
export class MlsGroup {
  /** @internal */
  readonly native: NativeGroup

  private constructor(handle: NativeGroup) {
    this.native = handle
  }

  /** Creates a group with the caller as its only member. */
  static create(params: CreateGroupParams): MlsGroup {
    const { provider, signer, credentialWithKey, groupId, config = {} } = params
    if (groupId !== undefined) assertBytes(groupId, 'groupId')
    assertSignerMatches(credentialWithKey, signer)
    return new MlsGroup(
      call(() =>
        native.MlsGroup.create(provider.native, signer.native, credentialToNative(credentialWithKey.credential), groupId, {
          join: joinConfigToNative(config),
          ciphersuite: config.ciphersuite ?? Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
          lifetime: lifetimeToNative(config.lifetime),
          groupContextExtensions: extensionsToNative(config.groupContextExtensions),
          leafNodeExtensions: extensionsToNative(config.leafNodeExtensions),
          capabilities: config.capabilities,
        }),
      ),
    )
  }

  /**
   * Joins a group from a Welcome (the book's `StagedWelcome::new_from_welcome(..).into_group()`),
   * off the event loop. If joining fails, the key package stays available for a retry.
   */
  static async joinFromWelcome(params: JoinFromWelcomeParams): Promise<MlsGroup> {
    const { provider, signer, welcome } = MlsGroup.checkJoin(params)
    const handle = await callAsync(() => native.MlsGroup.joinFromWelcome(provider.native, signer.native, welcome, MlsGroup.joinOptions(params)))
    return new MlsGroup(handle)
  }

  /** {@link MlsGroup.joinFromWelcome} on the calling thread. */
  static joinFromWelcomeSync(params: JoinFromWelcomeParams): MlsGroup {
    const { provider, signer, welcome } = MlsGroup.checkJoin(params)
    return new MlsGroup(call(() => native.MlsGroup.joinFromWelcomeSync(provider.native, signer.native, welcome, MlsGroup.joinOptions(params))))
  }

  private static checkJoin(params: JoinFromWelcomeParams): JoinFromWelcomeParams {
    assertBytes(params.welcome, 'welcome')
    if (params.ratchetTree !== undefined) assertBytes(params.ratchetTree, 'ratchetTree')
    return params
  }

  private static joinOptions(params: JoinFromWelcomeParams) {
    return { ratchetTree: params.ratchetTree, config: joinConfigToNative(params.config), skipLifetimeValidation: params.skipLifetimeValidation }
  }

  /**
   * Adds members by their key packages as one commit, off the event loop. The commit stays
   * pending: send `commit` to the group and `welcome` to the new members, then
   * {@link MlsGroup.mergePendingCommit}.
   */
  async addMembers(keyPackages: KeyPackage[]): Promise<AddMembersResult> {
    return (await callAsync(() => this.native.addMembers(keyPackages.map((kp) => kp.native)))) as AddMembersResult
  }

  /** {@link MlsGroup.addMembers} on the calling thread. */
  addMembersSync(keyPackages: KeyPackage[]): AddMembersResult {
    return call(() => this.native.addMembersSync(keyPackages.map((kp) => kp.native))) as AddMembersResult
  }

  /**
   * Adds members without refreshing this member's own leaf (openmls `add_members_without_update`):
   * the commit carries an update path only if a queued proposal needs one.
   */
  async addMembersWithoutUpdate(keyPackages: KeyPackage[]): Promise<AddMembersResult> {
    return (await callAsync(() => this.native.addMembersWithoutUpdate(keyPackages.map((kp) => kp.native)))) as AddMembersResult
  }

  /** {@link MlsGroup.addMembersWithoutUpdate} on the calling thread. */
  addMembersWithoutUpdateSync(keyPackages: KeyPackage[]): AddMembersResult {
    return call(() => this.native.addMembersWithoutUpdateSync(keyPackages.map((kp) => kp.native))) as AddMembersResult
  }

  /** Removes members by leaf index as one commit, off the event loop. Merge with {@link MlsGroup.mergePendingCommit}. */
  async removeMembers(leafIndices: number[]): Promise<CommitMessages> {
    assertLeafIndices(leafIndices, 'leafIndices')
    return callAsync(() => this.native.removeMembers(leafIndices))
  }

  /** {@link MlsGroup.removeMembers} on the calling thread. */
  removeMembersSync(leafIndices: number[]): CommitMessages {
    assertLeafIndices(leafIndices, 'leafIndices')
    return call(() => this.native.removeMembersSync(leafIndices))
  }

  /** Refreshes this member's leaf (new keys, post-compromise security) as a commit, off the event loop. */
  async selfUpdate(): Promise<CommitMessages> {
    return callAsync(() => this.native.selfUpdate())
  }

  /** {@link MlsGroup.selfUpdate} on the calling thread. */
  selfUpdateSync(): CommitMessages {
    return call(() => this.native.selfUpdateSync())
  }

  /** Merges this member's pending commit, entering the next epoch. Throws `ERR_NO_PENDING_COMMIT` if there is none. */
  mergePendingCommit(): void {
    call(() => this.native.mergePendingCommit())
  }

  /** Discards this member's pending commit (for example, when the delivery service rejected it). */
  clearPendingCommit(): void {
    call(() => this.native.clearPendingCommit())
  }

  /** Whether a commit of this member is pending. */
  get hasPendingCommit(): boolean {
    return call(() => this.native.hasPendingCommit)
  }

  /** Encrypts an application message. `aad` is sent in the clear but authenticated. */
  createMessage(plaintext: Uint8Array | string, options: { aad?: Uint8Array } = {}): Uint8Array {
    const bytes = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext
    assertBytes(bytes, 'plaintext')
    if (options.aad !== undefined) assertBytes(options.aad, 'aad')
    return call(() => this.native.createMessage(bytes, options.aad))
  }

  /**
   * Processes a received message off the event loop. Commits come back staged (`kind: 'commit'`):
   * inspect, then {@link MlsGroup.mergeStagedCommit}. On any error the group is unchanged.
   */
  async processMessage(message: Uint8Array): Promise<ProcessedMessage> {
    assertBytes(message, 'message')
    return processedFromNative(await callAsync(() => this.native.processMessage(message)))
  }

  /** {@link MlsGroup.processMessage} on the calling thread. */
  processMessageSync(message: Uint8Array): ProcessedMessage {
    assertBytes(message, 'message')
    return processedFromNative(call(() => this.native.processMessageSync(message)))
  }

  /** Merges a staged commit from {@link MlsGroup.processMessage}, entering the next epoch. */
  mergeStagedCommit(stagedCommit: StagedCommit): void {
    call(() => this.native.mergeStagedCommit(stagedCommit.native))
  }

  /** Stores a received proposal in the proposal queue, so this member's next commit covers it. */
  storePendingProposal(proposal: QueuedProposal): void {
    call(() => this.native.storePendingProposal(proposal.native))
  }

  /** The group's members, in leaf order. */
  members(): Member[] {
    return call(() => this.native.members()).map((m) => ({
      index: m.index,
      credential: credentialFromNative(m.credential),
      signatureKey: m.signatureKey,
      encryptionKey: m.encryptionKey,
    }))
  }

  /** This member's leaf index. */
  get ownLeafIndex(): number {
    return call(() => this.native.ownLeafIndex)
  }

  /** The current epoch. */
  get epoch(): bigint {
    return call(() => this.native.epoch)
  }

  /** The group id. */
  get groupId(): Uint8Array {
    return call(() => this.native.groupId)
  }

  /** The ciphersuite. */
  get ciphersuite(): Ciphersuite {
    return call(() => this.native.ciphersuite)
  }

  /** Whether this member is still in the group (false once removed). */
  get isActive(): boolean {
    return call(() => this.native.isActive)
  }

  /**
   * Derives `length` bytes from the epoch's exporter secret (RFC 9420 §8.5): equal for all members
   * in the same epoch, for the same label and context. Treat the output as a secret.
   */
  exportSecret(label: string, context: Uint8Array, length: number): Uint8Array {
    assertBytes(context, 'context')
    if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
      throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'length must be an integer between 1 and 65535')
    }
    return call(() => this.native.exportSecret(label, context, length))
  }

  /** The epoch authenticator (RFC 9420 §8.7): members compare it out of band to detect forks. */
  epochAuthenticator(): Uint8Array {
    return call(() => this.native.epochAuthenticator())
  }

  /** This member's runtime configuration, every field filled in. */
  configuration(): MlsGroupJoinConfigValues {
    const c = call(() => this.native.configuration())
    return {
      wireFormatPolicy: c.wireFormatPolicy as WireFormatPolicy,
      paddingSize: c.paddingSize ?? 0,
      ...(c.maxPastEpochs !== undefined && c.maxPastEpochs !== null ? { maxPastEpochs: c.maxPastEpochs } : {}),
      keepAllPastEpochs: c.keepAllPastEpochs ?? false,
      numberOfResumptionPsks: c.numberOfResumptionPsks ?? 0,
      useRatchetTreeExtension: c.useRatchetTreeExtension ?? false,
      senderRatchetConfiguration: c.senderRatchetConfiguration!,
    }
  }

  /** Changes this member's runtime configuration (openmls `set_configuration`); omitted fields keep their value. */
  setConfiguration(changes: MlsGroupJoinConfig): void {
    call(() => this.native.setConfiguration(joinConfigToNative(changes)!))
  }

  /** The group context extensions. */
  groupContextExtensions(): Extension[] {
    return call(() => this.native.groupContextExtensions()).map(extensionFromNative)
  }

  /** This member's own leaf node. */
  ownLeafNode(): LeafNode {
    return leafNodeFromNative(call(() => this.native.ownLeafNode()))
  }

  /** The current epoch's confirmation tag: equal for all members of the same epoch. */
  confirmationTag(): Uint8Array {
    return call(() => this.native.confirmationTag())
  }

  /**
   * The resumption PSK of the current epoch, or of a past `epoch` the group still keeps (see
   * `numberOfResumptionPsks`). Treat it as a secret.
   */
  resumptionPsk(epoch?: bigint): Uint8Array {
    return call(() => this.native.resumptionPsk(epoch))
  }

  /** The encoded ratchet tree, for joiners whose Welcome does not carry it. */
  exportRatchetTree(): Uint8Array {
    return call(() => this.native.exportRatchetTree())
  }

  /** @internal */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    try {
      return `MlsGroup { groupId: ${toHex(this.groupId)}, epoch: ${this.epoch}, ownLeafIndex: ${this.ownLeafIndex}, active: ${this.isActive}, authenticator: ${fingerprint(this.epochAuthenticator())}… }`
    } catch {
      return 'MlsGroup { <unavailable> }'
    }
  }
}
