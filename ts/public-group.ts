// The delivery service's view of a group (openmls `PublicGroup`).
import { assertBytes, call, callAsync, OpenMlsError } from './errors.js'
import { native } from './native.js'
import { memberFromNative, type Member } from './member.js'
import { groupContextFromNative, type GroupContext } from './proposals.js'
import { processedFromNative, type ProcessedMessage } from './processed-message.js'
import { OperationQueue } from './operation-queue.js'
import type { Provider } from './provider.js'
import type { QueuedProposal } from './queued-proposal.js'
import type { StagedCommit } from './staged-commit.js'

type NativePublicGroup = InstanceType<typeof native.PublicGroup>

/** What a public group can process: proposals (from members or outside) and commits. */
export type PublicProcessedMessage = Extract<ProcessedMessage, { type: 'proposal' | 'externalJoinProposal' | 'commit' }>

/** Parameters of {@link PublicGroup.fromExternal}. */
export interface PublicGroupFromExternalParams {
  /** Where the public state is stored: a provider of its own (see {@link PublicGroup}). */
  provider: Provider
  /** A GroupInfo a member exported (`MlsGroup.exportGroupInfo`), as an `MLSMessage`. */
  groupInfo: Uint8Array
  /** The ratchet tree (`MlsGroup.exportRatchetTree`), unless the GroupInfo carries it. */
  ratchetTree?: Uint8Array
}

/**
 * A group as a delivery service sees it (openmls `PublicGroup`): its public state (ratchet tree,
 * group context, transcript), followed without being a member. The service validates each
 * handshake message before it fans it out, keeps one commit per epoch, and serves a current
 * GroupInfo and the tree to external joiners.
 *
 * - **What it checks.** A PublicMessage proposal or commit is verified as a member would verify
 *   it: the sender is a member (or an allowed external sender), the signature and membership tag,
 *   the proposals, and a commit's update path against the tree. A PrivateMessage cannot be
 *   checked without the epoch's secrets: route it by {@link MlsMessage.parse} only. A group whose
 *   service should follow it sends handshakes as PublicMessages (`wireFormatPolicy:
 *   'mixedPlaintext'` or `'purePlaintext'`).
 * - **Commit order.** After {@link PublicGroup.mergeStagedCommit} the group is in the next epoch,
 *   so a second commit for the epoch it left is `ERR_WRONG_EPOCH`: that is the one-winner rule.
 * - **Proposals by reference.** Store each proposal you relay with {@link PublicGroup.addProposal},
 *   as members do, so a commit that covers it by reference validates.
 * - **Storage.** The state is stored in the provider and reloads with {@link PublicGroup.load}.
 *   openmls keys a group's rows by its id, for members and public views alike: use a provider of
 *   its own for the groups a service tracks (both ways of mixing them are refused).
 * - **Atomic.** A refused message changes nothing; a failed write is rolled back.
 */
export class PublicGroup {
  /** @internal */
  readonly native: NativePublicGroup
  /** The provider whose storage holds this public group. */
  readonly provider: Provider
  readonly #ops = new OperationQueue()

  private constructor(handle: NativePublicGroup, provider: Provider) {
    this.native = handle
    this.provider = provider
  }

  /**
   * Starts tracking a group from a member's GroupInfo and the ratchet tree (openmls
   * `PublicGroup::from_external`), off the event loop. The GroupInfo's signature, the tree and
   * their agreement are verified; the state is stored in `provider`.
   */
  static async fromExternal(params: PublicGroupFromExternalParams): Promise<PublicGroup> {
    PublicGroup.#check(params)
    const handle = await callAsync(() => native.PublicGroup.fromExternal(params.provider.native, params.groupInfo, params.ratchetTree))
    return new PublicGroup(handle, params.provider)
  }

  /** {@link PublicGroup.fromExternal} on the calling thread. */
  static fromExternalSync(params: PublicGroupFromExternalParams): PublicGroup {
    PublicGroup.#check(params)
    return new PublicGroup(
      call(() => native.PublicGroup.fromExternalSync(params.provider.native, params.groupInfo, params.ratchetTree)),
      params.provider,
    )
  }

  static #check(params: PublicGroupFromExternalParams): void {
    assertBytes(params.groupInfo, 'groupInfo')
    if (params.ratchetTree !== undefined) assertBytes(params.ratchetTree, 'ratchetTree')
  }

  /** The public group `groupId` this provider tracks; `ERR_UNKNOWN_GROUP` if it tracks none. */
  static load(provider: Provider, groupId: Uint8Array): PublicGroup {
    assertBytes(groupId, 'groupId')
    return new PublicGroup(
      call(() => native.PublicGroup.load(provider.native, groupId)),
      provider,
    )
  }

  /** The ids of the public groups this provider tracks. */
  static list(provider: Provider): Uint8Array[] {
    return call(() => native.PublicGroup.list(provider.native))
  }

  /**
   * Validates a handshake message for this group, off the event loop: a PublicMessage proposal or
   * commit. Nothing is stored: relay a proposal and {@link PublicGroup.addProposal} it; merge the
   * commit you accept with {@link PublicGroup.mergeStagedCommit}. Refusals are typed
   * (`ERR_WRONG_EPOCH` for a commit that lost the race, `ERR_INVALID_SIGNATURE`,
   * `ERR_UNKNOWN_SENDER`, `ERR_INVALID_COMMIT`, `ERR_WRONG_MESSAGE_TYPE` for a PrivateMessage, ...)
   * and leave the state unchanged. Calls take effect in call order.
   */
  processMessage(message: Uint8Array): Promise<PublicProcessedMessage> {
    assertBytes(message, 'message')
    return this.#ops.enqueue(async () => toPublic(processedFromNative(await callAsync(() => this.native.processMessage(message)))))
  }

  /** {@link PublicGroup.processMessage} on the calling thread. */
  processMessageSync(message: Uint8Array): PublicProcessedMessage {
    assertBytes(message, 'message')
    this.#ops.assertIdle('processMessageSync')
    return toPublic(processedFromNative(call(() => this.native.processMessageSync(message))))
  }

  /** Stores a validated proposal of this epoch, so that a commit may cover it by reference. */
  addProposal(proposal: QueuedProposal): void {
    this.#ops.assertIdle('addProposal')
    call(() => this.native.addProposal(proposal.native))
  }

  /**
   * Merges a validated commit of this epoch, off the event loop: the group enters the next epoch,
   * and the stored proposals and GroupInfo (of the last epoch) are dropped.
   */
  mergeStagedCommit(stagedCommit: StagedCommit): Promise<void> {
    return this.#ops.enqueue(() => callAsync(() => this.native.mergeStagedCommit(stagedCommit.native)))
  }

  /** {@link PublicGroup.mergeStagedCommit} on the calling thread. */
  mergeStagedCommitSync(stagedCommit: StagedCommit): void {
    this.#ops.assertIdle('mergeStagedCommitSync')
    call(() => this.native.mergeStagedCommitSync(stagedCommit.native))
  }

  /**
   * Keeps a member's GroupInfo for external joiners (from `MlsGroup.exportGroupInfo`, or the one a
   * commit returns). It must be of the current epoch, signed by the member it names, and describe
   * exactly this state (group context and confirmation tag); otherwise it is refused with a typed
   * code and the one kept before stays.
   */
  setGroupInfo(groupInfo: Uint8Array): void {
    assertBytes(groupInfo, 'groupInfo')
    this.#ops.assertIdle('setGroupInfo')
    call(() => this.native.setGroupInfo(groupInfo))
  }

  /**
   * What an external joiner needs (`MlsGroup.joinByExternalCommit`): the GroupInfo kept for this
   * epoch and the ratchet tree; `undefined` when no member gave a GroupInfo since the last commit.
   */
  groupInfo(): { groupInfo: Uint8Array; ratchetTree: Uint8Array } | undefined {
    const groupInfo = call(() => this.native.groupInfo())
    return groupInfo ? { groupInfo, ratchetTree: this.exportRatchetTree() } : undefined
  }

  /** The group id. */
  get groupId(): Uint8Array {
    return this.native.groupId
  }

  /** The current epoch. */
  get epoch(): bigint {
    return call(() => this.native.epoch)
  }

  /** The current group context: epoch, tree hash, confirmed transcript hash, extensions. */
  groupContext(): GroupContext {
    return groupContextFromNative(call(() => this.native.groupContext()))
  }

  /** The members, in leaf order. */
  members(): Member[] {
    return call(() => this.native.members()).map(memberFromNative)
  }

  /** The ratchet tree, TLS-encoded, for joiners whose GroupInfo does not carry it. */
  exportRatchetTree(): Uint8Array {
    return call(() => this.native.exportRatchetTree())
  }

  /** The confirmation tag of the current epoch. */
  confirmationTag(): Uint8Array {
    return call(() => this.native.confirmationTag())
  }

  /**
   * Releases this handle's native memory now, rather than when it is garbage collected. The
   * stored state stays: {@link PublicGroup.load} reads it again. Later calls throw `ERR_STALE_HANDLE`.
   */
  free(): void {
    this.native.free()
  }

  /** {@link PublicGroup.free}, for `using ds = ...`. */
  [Symbol.dispose](): void {
    this.free()
  }

  /** Stops tracking the group and deletes its stored state. Later calls throw `ERR_STALE_HANDLE`. */
  delete(): void {
    this.#ops.assertIdle('delete')
    call(() => this.native.delete())
  }
}

function toPublic(message: ProcessedMessage): PublicProcessedMessage {
  if (message.type === 'proposal' || message.type === 'externalJoinProposal' || message.type === 'commit') return message
  throw new OpenMlsError('ERR_INTERNAL', `a public group processed a message of type ${message.type}`)
}
