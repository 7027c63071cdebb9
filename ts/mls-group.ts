import { assertBytes, assertLeafIndices, call, callAsync, OpenMlsError, toOpenMlsError, validatorFailed } from './errors.js'
import { aborted, assertSignal, withSignal, type AbortOptions } from './abort.js'
import { integer, uint64, U16, U32 } from './numbers.js'
import { native } from './native.js'
import { credentialToNative, type Credential, type CredentialWithKey } from './credential.js'
import {
  capabilitiesToNative,
  extensionFromNative,
  extensionsToNative,
  leafNodeFromNative,
  lifetimeToNative,
  type Extension,
  type LeafNode,
} from './extensions.js'
import { assertSignerMatches } from './key-package.js'
import { memberFromNative, validateWelcomeMembers, type CredentialValidator, type Member } from './member.js'
import {
  leafParamsToNative,
  proposalInfoFromNative,
  checkPsk,
  groupContextFromNative,
  type GroupContext,
  stagedCommitInfoFromNative,
  type LeafNodeParameters,
  type PreSharedKeyId,
  type ProposalInfo,
  type StagedCommitInfo,
} from './proposals.js'
import { Ciphersuite } from './ciphersuite.js'
import type { NativeError, NativeProcessedBatchItem } from '../index.js'
import type { KeyPackage } from './key-package.js'
import type { Provider } from './provider.js'
import type { SignatureKeyPair } from './signature-key-pair.js'
import { fingerprint, toHex } from './hex.js'
import { looksLikeApplicationMessage } from './wire.js'
import { OperationQueue } from './operation-queue.js'
import { joinConfigToNative, type MlsGroupCreateConfig, type MlsGroupJoinConfig, type MlsGroupJoinConfigValues, type WireFormatPolicy } from './group-config.js'
import { processedFromAddon, processedFromNative, type ProcessedMessage } from './processed-message.js'
import { QueuedProposal } from './queued-proposal.js'
import { StagedCommit } from './staged-commit.js'

/**
 * The largest application message (plaintext or wire bytes) the Promise API handles on the calling
 * thread when the provider is in memory (see `MlsGroup.#runsInline`).
 */
const INLINE_MAX_BYTES = 64 * 1024

type NativeGroup = InstanceType<typeof native.MlsGroup>

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
export interface JoinFromWelcomeParams extends AbortOptions {
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
  /** Replace a group with the same id this provider already stores (rejoining after a fork). */
  replaceOldGroup?: boolean
  /**
   * Asked to accept every member's credential before the group is created; a refusal throws
   * `ERR_CREDENTIAL_REJECTED` and drops the Welcome. The validator also becomes the group's
   * (see {@link MlsGroup.setCredentialValidator}).
   */
  validateCredential?: CredentialValidator
}

/** Parameters of {@link MlsGroup.joinByExternalCommit}. */
export interface ExternalJoinParams {
  provider: Provider
  signer: SignatureKeyPair
  credentialWithKey: CredentialWithKey
  /** The group's GroupInfo ({@link MlsGroup.exportGroupInfo}), as an `MLSMessage`. */
  groupInfo: Uint8Array
  /** The ratchet tree, when the GroupInfo does not carry it. */
  ratchetTree?: Uint8Array
  config?: MlsGroupJoinConfig
  /** Additional authenticated data for the commit. */
  aad?: Uint8Array
  /** External PSKs to inject (every member must have stored them). */
  psks?: PreSharedKeyId[]
  /** SelfRemove proposals (PublicMessages) the commit should cover, e.g. one from this client's old leaf. */
  selfRemoveProposals?: Uint8Array[]
  skipLifetimeValidation?: boolean
}

/** The result of {@link MlsGroup.reboot}: the new group, whose commit is pending until merged. */
export interface RebootResult extends AddMembersResult {
  group: MlsGroup
}

/** The result of an external join. */
export interface ExternalJoinResult extends CommitMessages {
  /** The joined group; the commit is already merged on this side. */
  group: MlsGroup
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

/** A proposal message and its reference. */
export interface ProposalMessage {
  /** The proposal, an encoded `MLSMessage`: send it to the group. */
  message: Uint8Array
  /** Its reference, to roll it back with {@link MlsGroup.removePendingProposal}. */
  proposalRef: Uint8Array
}

/** What {@link MlsGroup.commit} puts in a commit. */
export interface CommitOptions {
  /** Members to add (by value). */
  adds?: KeyPackage[]
  /** Members to remove, by leaf index (by value). */
  removes?: number[]
  /** New group context extensions (by value). */
  groupContextExtensions?: Extension[]
  /** Application-defined proposals (by value). */
  customProposals?: { proposalType: number; payload: Uint8Array }[]
  /** PSKs to inject (by value). */
  psks?: PreSharedKeyId[]
  /** Whether queued proposals are included. Default `true`. */
  consumeProposalStore?: boolean
  /** Refresh this member's leaf even if no proposal needs it. Default `false`. */
  forceSelfUpdate?: boolean
  /** New leaf parameters for this member (implies an update path). */
  leafNodeParameters?: LeafNodeParameters
  /** Decides, per queued proposal, whether the commit covers it. Default: all. */
  policy?: (proposal: ProposalInfo) => boolean
}

/** The result of {@link MlsGroup.addMembers}: a Welcome is always present. */
export interface AddMembersResult extends CommitMessages {
  welcome: Uint8Array
}

function checkNewSigner<T extends { leafNodeParameters?: LeafNodeParameters }>(params: T): T {
  if (params.leafNodeParameters?.credential !== undefined) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'with a new signer, pass the credential as `credential`, not in leafNodeParameters')
  }
  return params
}

/** The credentials a commit brings in, each with the signature key it is bound to where there is one. */
function credentialsWithKeys(staged: StagedCommit): { credential: Credential; signatureKey?: Uint8Array }[] {
  const info = staged.info()
  const keyed = [...info.addProposals, ...info.updateProposals]
    .filter((p) => p.credential !== undefined)
    .map((p) => ({ credential: p.credential!, signatureKey: p.signatureKey }))
  if (info.updatePathLeafNode) keyed.push({ credential: info.updatePathLeafNode.credential, signatureKey: info.updatePathLeafNode.signatureKey })
  return info.credentialsToVerify.map((credential) => keyed.find((k) => sameCredential(k.credential, credential)) ?? { credential })
}

function sameCredential(a: Credential, b: Credential): boolean {
  const bytes = (c: Credential) => Buffer.from(credentialToNative(c).serializedContent ?? Buffer.concat((credentialToNative(c).certificates ?? []).map((x) => Buffer.from(x))))
  return a.credentialType === b.credentialType && bytes(a).equals(bytes(b))
}

function rejected(credential: Credential): OpenMlsError {
  return new OpenMlsError(
    'ERR_CREDENTIAL_REJECTED',
    `the credential validator rejected ${String(credential)}; nothing changed, and the commit can be processed again if the verdict changes`,
  )
}

/**
 * An MLS group, as seen by one member (openmls `MlsGroup`).
 *
 * Operations that do heavy public-key work (joining, committing, processing) return Promises and
 * run on the libuv thread pool; each has a `*Sync` twin that runs on the calling thread. The
 * group's state sits behind a lock, so concurrent calls on one group are serialized. One
 * exception: with an in-memory provider, an application message of up to 64 KiB that no other
 * Promise operation of the group waits before is encrypted or decrypted on the calling thread,
 * because the thread pool's round trip costs more than the work.
 * Every failure throws an {@link OpenMlsError}; a rejected message leaves the group unchanged.
 */
export class MlsGroup {
  /** @internal */
  readonly native: NativeGroup
  /** The provider whose storage holds this group. */
  readonly provider: Provider
  #validator?: CredentialValidator
  /** The Promise operations on this group, in call order. */
  readonly #ops = new OperationQueue()
  /** Whether the provider keeps its state in memory (no disk to wait for). */
  readonly #inMemory: boolean

  private constructor(handle: NativeGroup, provider: Provider) {
    this.native = handle
    this.provider = provider
    this.#inMemory = !provider.persistent
  }

  /**
   * Whether a Promise operation on an application message of `bytes` bytes runs on the calling
   * thread: the provider is in memory (nothing waits for a disk), no Promise operation of this
   * group is queued or running (so call order holds), the message is at most 64 KiB and the
   * signal, if any, is not aborted. Such a message takes 30 to 150 µs, less than the round trip
   * to the thread pool and back would add.
   */
  #runsInline(bytes: number, signal?: AbortSignal): boolean {
    return this.#inMemory && this.#ops.queued === 0 && bytes <= INLINE_MAX_BYTES && signal?.aborted !== true
  }

  /**
   * The handle for a native group: one per group per provider, so every way of getting a group
   * (create, join, `loadGroup`) shares one state and one operation queue.
   * @internal
   */
  static fromNative(handle: NativeGroup, provider: Provider): MlsGroup {
    return provider.adoptGroup(handle, (h) => new MlsGroup(h, provider))
  }

  /** Runs a Promise operation after every earlier one on this group has settled. */
  #enqueue<T>(op: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#ops.enqueue(op, signal)
  }

  /** Refuses a synchronous operation that would overtake a queued Promise operation. */
  #assertIdle(operation: string): void {
    this.#ops.assertIdle(operation)
  }

  /**
   * A native Promise call, queued behind earlier Promise operations on this group; `signal`
   * aborts it until it starts.
   */
  #commitAsync<T>(start: (signal: AbortSignal | undefined) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#enqueue(() => withSignal(signal, start), signal)
  }

  /**
   * Releases this handle and its native memory now, rather than when it is garbage collected.
   * Stored state is untouched: {@link Provider.loadGroup} returns a fresh handle. Later calls on
   * this one throw `ERR_STALE_HANDLE`.
   */
  free(): void {
    this.native.free()
  }

  /** {@link MlsGroup.free}, for `using group = ...`. */
  [Symbol.dispose](): void {
    this.free()
  }

  /**
   * Sets the credential validator (the book's "Credential validation"): {@link MlsGroup.processMessage}
   * asks it about every credential a commit adds or changes (`credentials_to_verify`, with the
   * signature key it is bound to), and throws `ERR_CREDENTIAL_REJECTED` if it refuses one. Nothing
   * is merged; the commit's key has been used, so it cannot be processed again. `undefined` removes it.
   */
  setCredentialValidator(validator: CredentialValidator | undefined): void {
    this.#validator = validator
  }

  /** Creates a group with the caller as its only member. */
  static create(params: CreateGroupParams): MlsGroup {
    const { provider, signer, credentialWithKey, groupId, config = {} } = params
    if (groupId !== undefined) assertBytes(groupId, 'groupId')
    assertSignerMatches(credentialWithKey, signer)
    return MlsGroup.fromNative(
      call(() =>
        native.MlsGroup.create(provider.native, signer.native, credentialToNative(credentialWithKey.credential), groupId, {
          join: joinConfigToNative(config),
          ciphersuite: integer(config.ciphersuite ?? Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, 'ciphersuite', 0, U16),
          lifetime: lifetimeToNative(config.lifetime),
          groupContextExtensions: extensionsToNative(config.groupContextExtensions),
          leafNodeExtensions: extensionsToNative(config.leafNodeExtensions),
          capabilities: capabilitiesToNative(config.capabilities),
        }),
      ),
      provider,
    )
  }

  /**
   * Joins a group from a Welcome (the book's `StagedWelcome::new_from_welcome(..).into_group()`),
   * off the event loop. If joining fails, the key package stays available for a retry.
   */
  static async joinFromWelcome(params: JoinFromWelcomeParams): Promise<MlsGroup> {
    const { provider, signer, welcome, validateCredential } = MlsGroup.checkJoin(params)
    assertSignal(params.signal)
    if (params.signal?.aborted) throw aborted(params.signal)
    if (validateCredential) {
      // The steps of ProcessedWelcome → StagedWelcome → intoGroup, on the native handles.
      const processed = call(() => native.ProcessedWelcome.newFromWelcome(provider.native, signer.native, welcome, joinConfigToNative(params.config)))
      const staged = call(() => processed.intoStagedWelcome(params.ratchetTree, params.skipLifetimeValidation, params.replaceOldGroup))
      const info = staged.info()
      await validateWelcomeMembers(info.members.map(memberFromNative), validateCredential, info.groupContext.groupId)
      const group = MlsGroup.fromNative(call(() => staged.intoGroup()), provider)
      group.setCredentialValidator(validateCredential)
      return group
    }
    const handle = await withSignal(params.signal, (s) => native.MlsGroup.joinFromWelcome(provider.native, signer.native, welcome, MlsGroup.joinOptions(params), s))
    return MlsGroup.fromNative(handle, provider)
  }

  /**
   * Joins by external commit from the group's GroupInfo (the book's "Join a group with an external
   * commit"), off the event loop. Send the returned `commit` to the group; it is already merged here.
   * An old leaf of this client (same signature key) is replaced: that is how a client resyncs.
   */
  static async joinByExternalCommit(params: ExternalJoinParams): Promise<ExternalJoinResult> {
    const r = await callAsync(() => call(() => native.MlsGroup.joinByExternalCommit(...MlsGroup.externalJoinArgs(params))))
    return { group: MlsGroup.fromNative(r.group, params.provider), ...r.messages }
  }

  /** {@link MlsGroup.joinByExternalCommit} on the calling thread. */
  static joinByExternalCommitSync(params: ExternalJoinParams): ExternalJoinResult {
    const r = call(() => native.MlsGroup.joinByExternalCommitSync(...MlsGroup.externalJoinArgs(params)))
    return { group: MlsGroup.fromNative(r.group, params.provider), ...r.messages }
  }

  private static externalJoinArgs(p: ExternalJoinParams) {
    assertBytes(p.groupInfo, 'groupInfo')
    assertSignerMatches(p.credentialWithKey, p.signer)
    return [
      p.provider.native,
      p.signer.native,
      credentialToNative(p.credentialWithKey.credential),
      p.groupInfo,
      {
        ratchetTree: p.ratchetTree,
        config: joinConfigToNative(p.config),
        aad: p.aad,
        psks: p.psks?.map(checkPsk),
        selfRemoveProposals: p.selfRemoveProposals,
        skipLifetimeValidation: p.skipLifetimeValidation,
      },
    ] as const
  }

  /**
   * The members outside `ownPartition` (this member's side of a fork, including itself), whom
   * {@link MlsGroup.recoverForkByReadding} replaces. Fetch a fresh key package for each.
   */
  forkComplement(ownPartition: number[]): Member[] {
    assertLeafIndices(ownPartition, 'ownPartition')
    return call(() => this.native.forkComplement(ownPartition)).map(memberFromNative)
  }

  /**
   * Fork resolution by re-adding (the book's "readd"): removes the members outside `ownPartition`
   * and adds them back from `keyPackages` (one per member of {@link MlsGroup.forkComplement}, in
   * the same order), in one commit. They rejoin from the Welcome with `replaceOldGroup: true`.
   */
  recoverForkByReadding(ownPartition: number[], keyPackages: KeyPackage[]): AddMembersResult {
    assertLeafIndices(ownPartition, 'ownPartition')
    this.#assertIdle('recoverForkByReadding')
    return call(() => this.native.recoverForkByReadding(ownPartition, keyPackages.map((k) => k.native))) as AddMembersResult
  }

  /**
   * Fork resolution by rebooting (the book's "reboot"): creates a new group `newGroupId` with this
   * group's configuration and extensions (or `extensions`) and invites `keyPackages`. The new
   * group's commit is pending: merge it with {@link MlsGroup.mergePendingCommit}.
   */
  reboot(params: { newGroupId: Uint8Array; keyPackages: KeyPackage[]; extensions?: Extension[] }): RebootResult {
    assertBytes(params.newGroupId, 'newGroupId')
    this.#assertIdle('reboot')
    const r = call(() => this.native.reboot(params.newGroupId, params.keyPackages.map((k) => k.native), extensionsToNative(params.extensions)))
    return { group: MlsGroup.fromNative(r.group, this.provider), ...r.messages } as RebootResult
  }

  /** A signed GroupInfo for external joiners (with the ExternalPub extension), optionally carrying the ratchet tree. */
  exportGroupInfo(options: { withRatchetTree?: boolean } = {}): Uint8Array {
    return call(() => this.native.exportGroupInfo(options.withRatchetTree ?? true))
  }

  /**
   * Sets the additional authenticated data of the next message this member sends: application
   * message, proposal or commit (the book's "Using Additional Authenticated Data"). It applies to
   * one message.
   */
  setAad(aad: Uint8Array): void {
    assertBytes(aad, 'aad')
    this.#assertIdle('setAad')
    call(() => this.native.setAad(aad))
  }

  /** The additional authenticated data set for the next message. */
  get aad(): Uint8Array {
    return call(() => this.native.aad())
  }

  /** {@link MlsGroup.joinFromWelcome} on the calling thread. */
  static joinFromWelcomeSync(params: JoinFromWelcomeParams): MlsGroup {
    const { provider, signer, welcome } = MlsGroup.checkJoin(params)
    return MlsGroup.fromNative(call(() => native.MlsGroup.joinFromWelcomeSync(provider.native, signer.native, welcome, MlsGroup.joinOptions(params))), provider)
  }

  private static checkJoin(params: JoinFromWelcomeParams): JoinFromWelcomeParams {
    assertBytes(params.welcome, 'welcome')
    if (params.ratchetTree !== undefined) assertBytes(params.ratchetTree, 'ratchetTree')
    return params
  }

  private static joinOptions(params: JoinFromWelcomeParams) {
    return {
      ratchetTree: params.ratchetTree,
      config: joinConfigToNative(params.config),
      skipLifetimeValidation: params.skipLifetimeValidation,
      replaceOldGroup: params.replaceOldGroup,
    }
  }

  /**
   * Adds members by their key packages as one commit, off the event loop. The commit stays
   * pending: send `commit` to the group and `welcome` to the new members, then
   * {@link MlsGroup.mergePendingCommit}.
   */
  async addMembers(keyPackages: KeyPackage[], options: AbortOptions = {}): Promise<AddMembersResult> {
    return (await this.#commitAsync((s) => this.native.addMembers(keyPackages.map((kp) => kp.native), s), options.signal)) as AddMembersResult
  }

  /** {@link MlsGroup.addMembers} on the calling thread. */
  addMembersSync(keyPackages: KeyPackage[]): AddMembersResult {
    this.#assertIdle('addMembersSync')
    return call(() => this.native.addMembersSync(keyPackages.map((kp) => kp.native))) as AddMembersResult
  }

  /**
   * Adds members without refreshing this member's own leaf (openmls `add_members_without_update`):
   * the commit carries an update path only if a queued proposal needs one.
   */
  async addMembersWithoutUpdate(keyPackages: KeyPackage[], options: AbortOptions = {}): Promise<AddMembersResult> {
    return (await this.#commitAsync((s) => this.native.addMembersWithoutUpdate(keyPackages.map((kp) => kp.native), s), options.signal)) as AddMembersResult
  }

  /** {@link MlsGroup.addMembersWithoutUpdate} on the calling thread. */
  addMembersWithoutUpdateSync(keyPackages: KeyPackage[]): AddMembersResult {
    this.#assertIdle('addMembersWithoutUpdateSync')
    return call(() => this.native.addMembersWithoutUpdateSync(keyPackages.map((kp) => kp.native))) as AddMembersResult
  }

  /** Removes members by leaf index as one commit, off the event loop. Merge with {@link MlsGroup.mergePendingCommit}. */
  async removeMembers(leafIndices: number[], options: AbortOptions = {}): Promise<CommitMessages> {
    assertLeafIndices(leafIndices, 'leafIndices')
    return this.#commitAsync((s) => this.native.removeMembers(leafIndices, s), options.signal)
  }

  /** {@link MlsGroup.removeMembers} on the calling thread. */
  removeMembersSync(leafIndices: number[]): CommitMessages {
    assertLeafIndices(leafIndices, 'leafIndices')
    this.#assertIdle('removeMembersSync')
    return call(() => this.native.removeMembersSync(leafIndices))
  }

  /**
   * Refreshes this member's leaf (new keys, post-compromise security) as a commit, off the event
   * loop, optionally with new leaf parameters (capabilities, extensions, credential).
   */
  async selfUpdate(params?: LeafNodeParameters, options: AbortOptions = {}): Promise<CommitMessages> {
    const native = leafParamsToNative(params)
    return this.#commitAsync((s) => this.native.selfUpdate(native, s), options.signal)
  }

  /** {@link MlsGroup.selfUpdate} on the calling thread. */
  selfUpdateSync(params?: LeafNodeParameters): CommitMessages {
    this.#assertIdle('selfUpdateSync')
    return call(() => this.native.selfUpdateSync(leafParamsToNative(params)))
  }

  /**
   * Rotates this member's signature key: a commit signed with the current key whose new leaf
   * carries `newSigner`'s key and `credential`. After {@link MlsGroup.mergePendingCommit} the group
   * signs with `newSigner`; {@link MlsGroup.clearPendingCommit} keeps the old one.
   */
  async selfUpdateWithNewSigner(
    params: { newSigner: SignatureKeyPair; credential: Credential; leafNodeParameters?: LeafNodeParameters } & AbortOptions,
  ): Promise<CommitMessages> {
    const { newSigner, credential, leafNodeParameters } = checkNewSigner(params)
    const [nativeCredential, nativeParams] = [credentialToNative(credential), leafParamsToNative(leafNodeParameters)]
    return this.#commitAsync((s) => this.native.selfUpdateWithNewSigner(newSigner.native, nativeCredential, nativeParams, s), params.signal)
  }

  /** {@link MlsGroup.selfUpdateWithNewSigner} on the calling thread. */
  selfUpdateWithNewSignerSync(params: { newSigner: SignatureKeyPair; credential: Credential; leafNodeParameters?: LeafNodeParameters }): CommitMessages {
    const { newSigner, credential, leafNodeParameters } = checkNewSigner(params)
    this.#assertIdle('selfUpdateWithNewSignerSync')
    return call(() => this.native.selfUpdateWithNewSignerSync(newSigner.native, credentialToNative(credential), leafParamsToNative(leafNodeParameters)))
  }

  /**
   * Builds a commit (the book's `commit_builder()`): members to add and remove, new group context
   * extensions, custom proposals and PSKs, all by value, plus the queued proposals that `policy`
   * accepts (all of them by default). The commit stays pending until merged.
   */
  async commit(options: CommitOptions & AbortOptions = {}): Promise<CommitMessages> {
    return this.#enqueue(() => {
      const [adds, native] = this.commitArgs(options)
      return withSignal(options.signal, (s) => this.native.commit(adds, native, s))
    }, options.signal)
  }

  /** {@link MlsGroup.commit} on the calling thread. */
  commitSync(options: CommitOptions = {}): CommitMessages {
    this.#assertIdle('commitSync')
    const [adds, native] = this.commitArgs(options)
    return call(() => this.native.commitSync(adds, native))
  }

  private commitArgs(options: CommitOptions) {
    if (options.removes) assertLeafIndices(options.removes, 'removes')
    const customProposals = options.customProposals?.map((c, i) => ({ proposalType: integer(c.proposalType, `customProposals[${i}].proposalType`, 0, U16), payload: c.payload }))
    const accepted = options.policy ? this.pendingProposals().filter((p) => options.policy!(p)).map((p) => p.proposalRef) : undefined
    return [
      (options.adds ?? []).map((kp) => kp.native),
      {
        removes: options.removes,
        groupContextExtensions: extensionsToNative(options.groupContextExtensions),
        customProposals,
        psks: options.psks?.map(checkPsk),
        consumeProposalStore: options.consumeProposalStore,
        forceSelfUpdate: options.forceSelfUpdate,
        leafNodeParameters: leafParamsToNative(options.leafNodeParameters),
        acceptedProposals: accepted,
      },
    ] as const
  }

  /** Commits to every queued proposal, off the event loop. */
  async commitToPendingProposals(options: AbortOptions = {}): Promise<CommitMessages> {
    return this.#commitAsync((s) => this.native.commitToPendingProposals(s), options.signal)
  }

  /** {@link MlsGroup.commitToPendingProposals} on the calling thread. */
  commitToPendingProposalsSync(): CommitMessages {
    this.#assertIdle('commitToPendingProposalsSync')
    return call(() => this.native.commitToPendingProposalsSync())
  }

  /** Replaces the group context extensions, as an immediate commit. */
  async updateGroupContextExtensions(extensions: Extension[], options: AbortOptions = {}): Promise<CommitMessages> {
    const native = extensionsToNative(extensions)!
    return this.#commitAsync((s) => this.native.updateGroupContextExtensions(native, s), options.signal)
  }

  /** {@link MlsGroup.updateGroupContextExtensions} on the calling thread. */
  updateGroupContextExtensionsSync(extensions: Extension[]): CommitMessages {
    this.#assertIdle('updateGroupContextExtensionsSync')
    return call(() => this.native.updateGroupContextExtensionsSync(extensionsToNative(extensions)!))
  }

  /** Replaces members, one for one: removes `leafIndices` and adds `keyPackages` in one commit. */
  async swapMembers(leafIndices: number[], keyPackages: KeyPackage[], options: AbortOptions = {}): Promise<AddMembersResult> {
    assertLeafIndices(leafIndices, 'leafIndices')
    return (await this.#commitAsync((s) => this.native.swapMembers(leafIndices, keyPackages.map((k) => k.native), s), options.signal)) as AddMembersResult
  }

  /** {@link MlsGroup.swapMembers} on the calling thread. */
  swapMembersSync(leafIndices: number[], keyPackages: KeyPackage[]): AddMembersResult {
    assertLeafIndices(leafIndices, 'leafIndices')
    this.#assertIdle('swapMembersSync')
    return call(() => this.native.swapMembersSync(leafIndices, keyPackages.map((k) => k.native))) as AddMembersResult
  }

  /** Removes the members holding these credentials, as one commit. */
  async removeMembersByCredential(credentials: Credential[], options: AbortOptions = {}): Promise<CommitMessages> {
    const native = credentials.map(credentialToNative)
    return this.#commitAsync((s) => this.native.removeMembersByCredential(native, s), options.signal)
  }

  /** {@link MlsGroup.removeMembersByCredential} on the calling thread. */
  removeMembersByCredentialSync(credentials: Credential[]): CommitMessages {
    this.#assertIdle('removeMembersByCredentialSync')
    return call(() => this.native.removeMembersByCredentialSync(credentials.map(credentialToNative)))
  }

  /** Proposes adding a member (by reference unless `byValue`). */
  async proposeAddMember(keyPackage: KeyPackage, options: { byValue?: boolean } = {}): Promise<ProposalMessage> {
    return this.#commitAsync(() => this.native.proposeAddMemberAsync(keyPackage.native, options.byValue))
  }

  /** {@link MlsGroup.proposeAddMember} on the calling thread. */
  proposeAddMemberSync(keyPackage: KeyPackage, options: { byValue?: boolean } = {}): ProposalMessage {
    this.#assertIdle('proposeAddMemberSync')
    return call(() => this.native.proposeAddMember(keyPackage.native, options.byValue))
  }

  /** Proposes removing the member at a leaf index. */
  async proposeRemoveMember(leafIndex: number, options: { byValue?: boolean } = {}): Promise<ProposalMessage> {
    assertLeafIndices([leafIndex], 'leafIndex')
    return this.#commitAsync(() => this.native.proposeRemoveMemberAsync(leafIndex, options.byValue))
  }

  /** {@link MlsGroup.proposeRemoveMember} on the calling thread. */
  proposeRemoveMemberSync(leafIndex: number, options: { byValue?: boolean } = {}): ProposalMessage {
    assertLeafIndices([leafIndex], 'leafIndex')
    this.#assertIdle('proposeRemoveMemberSync')
    return call(() => this.native.proposeRemoveMember(leafIndex, options.byValue))
  }

  /** Proposes removing the member holding a credential. */
  async proposeRemoveMemberByCredential(credential: Credential, options: { byValue?: boolean } = {}): Promise<ProposalMessage> {
    return this.#commitAsync(() => this.native.proposeRemoveMemberByCredentialAsync(credentialToNative(credential), options.byValue))
  }

  /** {@link MlsGroup.proposeRemoveMemberByCredential} on the calling thread. */
  proposeRemoveMemberByCredentialSync(credential: Credential, options: { byValue?: boolean } = {}): ProposalMessage {
    this.#assertIdle('proposeRemoveMemberByCredentialSync')
    return call(() => this.native.proposeRemoveMemberByCredential(credentialToNative(credential), options.byValue))
  }

  /** Proposes updating this member's leaf (always by reference). */
  async proposeSelfUpdate(params?: LeafNodeParameters): Promise<ProposalMessage> {
    return this.#commitAsync(() => this.native.proposeSelfUpdateAsync(leafParamsToNative(params)))
  }

  /** {@link MlsGroup.proposeSelfUpdate} on the calling thread. */
  proposeSelfUpdateSync(params?: LeafNodeParameters): ProposalMessage {
    this.#assertIdle('proposeSelfUpdateSync')
    return call(() => this.native.proposeSelfUpdate(leafParamsToNative(params)))
  }

  /** Proposes new group context extensions (always by reference). */
  async proposeGroupContextExtensions(extensions: Extension[]): Promise<ProposalMessage> {
    return this.#commitAsync(() => this.native.proposeGroupContextExtensionsAsync(extensionsToNative(extensions)!))
  }

  /** {@link MlsGroup.proposeGroupContextExtensions} on the calling thread. */
  proposeGroupContextExtensionsSync(extensions: Extension[]): ProposalMessage {
    this.#assertIdle('proposeGroupContextExtensionsSync')
    return call(() => this.native.proposeGroupContextExtensions(extensionsToNative(extensions)!))
  }

  /** Proposes an application-defined proposal; every member must list `proposalType` in its capabilities. */
  async proposeCustomProposal(proposalType: number, payload: Uint8Array, options: { byValue?: boolean } = {}): Promise<ProposalMessage> {
    assertBytes(payload, 'payload')
    integer(proposalType, 'proposalType', 0, U16)
    return this.#commitAsync(() => this.native.proposeCustomProposalAsync(proposalType, payload, options.byValue))
  }

  /** {@link MlsGroup.proposeCustomProposal} on the calling thread. */
  proposeCustomProposalSync(proposalType: number, payload: Uint8Array, options: { byValue?: boolean } = {}): ProposalMessage {
    assertBytes(payload, 'payload')
    integer(proposalType, 'proposalType', 0, U16)
    this.#assertIdle('proposeCustomProposalSync')
    return call(() => this.native.proposeCustomProposal(proposalType, payload, options.byValue))
  }

  /** Proposes injecting a PSK (`ERR_PSK_NOT_FOUND` if this member cannot load it). */
  async proposePreSharedKey(psk: PreSharedKeyId, options: { byValue?: boolean } = {}): Promise<ProposalMessage> {
    return this.#commitAsync(() => this.native.proposePreSharedKeyAsync(checkPsk(psk), options.byValue))
  }

  /** {@link MlsGroup.proposePreSharedKey} on the calling thread. */
  proposePreSharedKeySync(psk: PreSharedKeyId, options: { byValue?: boolean } = {}): ProposalMessage {
    this.#assertIdle('proposePreSharedKeySync')
    return call(() => this.native.proposePreSharedKey(checkPsk(psk), options.byValue))
  }

  /**
   * Leaves the group: a Remove proposal for this member, which another member commits. Until
   * then this member cannot send application messages (`ERR_PENDING_PROPOSALS`);
   * {@link MlsGroup.clearPendingProposals} takes the request back.
   */
  async leaveGroup(): Promise<ProposalMessage> {
    return this.#commitAsync(() => this.native.leaveGroupAsync())
  }

  /** {@link MlsGroup.leaveGroup} on the calling thread. */
  leaveGroupSync(): ProposalMessage {
    this.#assertIdle('leaveGroupSync')
    return call(() => this.native.leaveGroup())
  }

  /**
   * Leaves the group with a SelfRemove proposal, which any member's next commit covers. It is
   * sent in plaintext, so the group needs a mixed or plaintext wire format policy.
   */
  async leaveGroupViaSelfRemove(): Promise<ProposalMessage> {
    return this.#commitAsync(() => this.native.leaveGroupViaSelfRemoveAsync())
  }

  /** {@link MlsGroup.leaveGroupViaSelfRemove} on the calling thread. */
  leaveGroupViaSelfRemoveSync(): ProposalMessage {
    this.#assertIdle('leaveGroupViaSelfRemoveSync')
    return call(() => this.native.leaveGroupViaSelfRemove())
  }

  /** The proposals queued for the next commit. */
  pendingProposals(): ProposalInfo[] {
    return call(() => this.native.pendingProposals()).map(proposalInfoFromNative)
  }

  /** Removes a queued proposal (rollback), by reference. `ERR_UNKNOWN_PROPOSAL` if there is none. */
  async removePendingProposal(proposalRef: Uint8Array): Promise<void> {
    assertBytes(proposalRef, 'proposalRef')
    return this.#commitAsync(() => this.native.removePendingProposalAsync(proposalRef))
  }

  /** {@link MlsGroup.removePendingProposal} on the calling thread. */
  removePendingProposalSync(proposalRef: Uint8Array): void {
    assertBytes(proposalRef, 'proposalRef')
    this.#assertIdle('removePendingProposalSync')
    call(() => this.native.removePendingProposal(proposalRef))
  }

  /** Empties the proposal queue. */
  async clearPendingProposals(): Promise<void> {
    return this.#commitAsync(() => this.native.clearPendingProposalsAsync())
  }

  /** {@link MlsGroup.clearPendingProposals} on the calling thread. */
  clearPendingProposalsSync(): void {
    this.#assertIdle('clearPendingProposalsSync')
    call(() => this.native.clearPendingProposals())
  }

  /** What this member's pending commit will do, or `undefined` if there is none. */
  pendingCommit(): StagedCommitInfo | undefined {
    const info = call(() => this.native.pendingCommit())
    return info ? stagedCommitInfoFromNative(info) : undefined
  }

  /** Deletes the group's state for good. The handle throws `ERR_GROUP_INACTIVE` afterwards. */
  delete(): void {
    this.#assertIdle('delete')
    call(() => this.native.delete())
  }

  /**
   * Merges this member's pending commit, entering the next epoch. Throws `ERR_NO_PENDING_COMMIT`
   * if there is none. Returns the messages the future-epoch buffer kept for the new epoch,
   * processed, in arrival order (see {@link MlsGroup.setFutureEpochBuffer}); empty when it is off.
   */
  async mergePendingCommit(): Promise<BatchResult<ProcessedMessage>[]> {
    return this.#replayed(await this.#commitAsync(() => this.native.mergePendingCommitAsync()))
  }

  /** {@link MlsGroup.mergePendingCommit} on the calling thread. A validator must answer synchronously here. */
  mergePendingCommitSync(): BatchResult<ProcessedMessage>[] {
    this.#assertIdle('mergePendingCommitSync')
    return this.#replayedSync(call(() => this.native.mergePendingCommit()))
  }

  /** Discards this member's pending commit (for example, when the delivery service rejected it). */
  async clearPendingCommit(): Promise<void> {
    return this.#commitAsync(() => this.native.clearPendingCommitAsync())
  }

  /** {@link MlsGroup.clearPendingCommit} on the calling thread. */
  clearPendingCommitSync(): void {
    this.#assertIdle('clearPendingCommitSync')
    call(() => this.native.clearPendingCommit())
  }

  /** Whether a commit of this member is pending. */
  get hasPendingCommit(): boolean {
    return call(() => this.native.hasPendingCommit)
  }

  /** Encrypts an application message. `aad` is sent in the clear but authenticated. */
  async createMessage(plaintext: Uint8Array | string, options: { aad?: Uint8Array } = {}): Promise<Uint8Array> {
    const bytes = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext
    assertBytes(bytes, 'plaintext')
    if (options.aad !== undefined) assertBytes(options.aad, 'aad')
    if (this.#runsInline(bytes.length)) return call(() => this.native.createMessage(bytes, options.aad))
    return this.#commitAsync(() => this.native.createMessageAsync(bytes, options.aad))
  }

  /** {@link MlsGroup.createMessage} on the calling thread. */
  createMessageSync(plaintext: Uint8Array | string, options: { aad?: Uint8Array } = {}): Uint8Array {
    const bytes = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext
    assertBytes(bytes, 'plaintext')
    if (options.aad !== undefined) assertBytes(options.aad, 'aad')
    this.#assertIdle('createMessageSync')
    return call(() => this.native.createMessage(bytes, options.aad))
  }

  /**
   * Processes a received message off the event loop. Commits come back staged (`type: 'commit'`):
   * inspect, then {@link MlsGroup.mergeStagedCommit}. On any error the group is unchanged.
   * Calls on one group take effect in call order, however many are in flight.
   *
   * With a credential validator ({@link MlsGroup.setCredentialValidator}), a commit is staged
   * without using up its key and the validator is asked about every credential it brings in.
   * A refusal throws `ERR_CREDENTIAL_REJECTED`, a validator that throws `ERR_VALIDATOR_FAILED`
   * (its error is the `cause`); either way the group is as before and the commit can be
   * processed again.
   */
  async processMessage(message: Uint8Array, options: AbortOptions = {}): Promise<ProcessedMessage> {
    assertBytes(message, 'message')
    assertSignal(options.signal)
    if (this.#runsInline(message.length, options.signal) && looksLikeApplicationMessage(message)) {
      // The header's content type is authenticated and decides how openmls reads the content,
      // so this is an application message or an error: no credential check applies.
      return processedFromAddon(call(() => this.native.processMessageSync(message, this.#validator !== undefined)))
    }
    return this.#enqueue(async () => {
      const review = this.#validator !== undefined
      const processed = processedFromAddon(await withSignal(options.signal, (s) => this.native.processMessage(message, review, s)))
      if (processed.type === 'commit' && this.#validator) await this.#askValidator(processed)
      return processed
    }, options.signal)
  }

  /** {@link MlsGroup.processMessage} on the calling thread. A validator must answer synchronously here. */
  processMessageSync(message: Uint8Array): ProcessedMessage {
    assertBytes(message, 'message')
    this.#assertIdle('processMessageSync')
    if (this.#validator?.constructor.name === 'AsyncFunction') {
      throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'processMessageSync needs a synchronous credential validator; use processMessage')
    }
    const review = this.#validator !== undefined
    const processed = processedFromAddon(call(() => this.native.processMessageSync(message, review)))
    if (processed.type === 'commit') this.#askValidatorSync(processed, 'processMessageSync needs a synchronous credential validator; use processMessage')
    return processed
  }

  /**
   * Asks the credential validator, if any, about every credential a commit brings in (with the
   * signature key it is bound to). Throws `ERR_CREDENTIAL_REJECTED` on a refusal and
   * `ERR_VALIDATOR_FAILED` if the validator throws.
   */
  async #askValidator(processed: ProcessedMessage & { type: 'commit' }): Promise<void> {
    if (!this.#validator) return
    for (const { credential, signatureKey } of credentialsWithKeys(processed.stagedCommit)) {
      let verdict: boolean
      try {
        verdict = await this.#validator(credential, { source: 'commit', groupId: processed.groupId, ...(signatureKey ? { signatureKey } : {}) })
      } catch (error) {
        throw validatorFailed(error)
      }
      if (verdict !== true) throw rejected(credential)
    }
  }

  /** {@link MlsGroup.#askValidator} for a synchronous validator; an asynchronous one is `ERR_INVALID_ARGUMENT` (`needsSync`). */
  #askValidatorSync(processed: ProcessedMessage & { type: 'commit' }, needsSync: string): void {
    if (!this.#validator) return
    for (const { credential, signatureKey } of credentialsWithKeys(processed.stagedCommit)) {
      let verdict: unknown
      try {
        verdict = this.#validator(credential, { source: 'commit', groupId: processed.groupId, ...(signatureKey ? { signatureKey } : {}) })
      } catch (error) {
        throw validatorFailed(error)
      }
      if (typeof verdict !== 'boolean') {
        if (verdict instanceof Promise) verdict.catch(() => undefined)
        throw new OpenMlsError('ERR_INVALID_ARGUMENT', needsSync)
      }
      if (!verdict) throw rejected(credential)
    }
  }

  /**
   * Processes many received messages in order, off the event loop, in one storage transaction:
   * on a file store, one sync to disk for the whole batch instead of one per message. Each
   * message is all-or-nothing on its own, as with {@link MlsGroup.processMessage}: a bad one gets
   * its typed error in its slot (`ok: false`) and changes nothing, and the others land. Commits
   * come back staged, as from `processMessage`; merge one before the batch that holds the next
   * epoch's messages.
   *
   * With a credential validator set, each message is processed on its own (the validator's
   * review cannot share a transaction), with the same results.
   */
  async processMessages(messages: Uint8Array[], options: AbortOptions = {}): Promise<BatchResult<ProcessedMessage>[]> {
    assertByteArrays(messages, 'messages')
    if (this.#validator !== undefined) {
      const out: BatchResult<ProcessedMessage>[] = []
      for (const message of messages) {
        try {
          out.push({ ok: true, value: await this.processMessage(message, options) })
        } catch (error) {
          if ((error as OpenMlsError).code === 'ERR_ABORTED') throw error
          out.push({ ok: false, error: toOpenMlsError(error) })
        }
      }
      return out
    }
    const items = await this.#commitAsync((s) => this.native.processMessages(messages, s), options.signal)
    return items.map((item) => batchItem(item.message, item.error, processedFromNative))
  }

  /** {@link MlsGroup.processMessages} on the calling thread. A validator must answer synchronously here. */
  processMessagesSync(messages: Uint8Array[]): BatchResult<ProcessedMessage>[] {
    assertByteArrays(messages, 'messages')
    if (this.#validator !== undefined) {
      return messages.map((message) => {
        try {
          return { ok: true, value: this.processMessageSync(message) } as const
        } catch (error) {
          return { ok: false, error: toOpenMlsError(error) } as const
        }
      })
    }
    this.#assertIdle('processMessagesSync')
    return call(() => this.native.processMessagesSync(messages)).map((item) => batchItem(item.message, item.error, processedFromNative))
  }

  /**
   * Encrypts many application messages in order, off the event loop, in one storage transaction
   * (one sync to disk on a file store). Each slot holds the message or the typed error
   * {@link MlsGroup.createMessage} would have thrown for it.
   */
  async createMessages(plaintexts: (Uint8Array | string)[], options: { aad?: Uint8Array } & AbortOptions = {}): Promise<BatchResult<Uint8Array>[]> {
    const bytes = plaintextBatch(plaintexts)
    if (options.aad !== undefined) assertBytes(options.aad, 'aad')
    const items = await this.#commitAsync((s) => this.native.createMessages(bytes, options.aad, s), options.signal)
    return items.map((item) => batchItem(item.message, item.error, (m) => m))
  }

  /** {@link MlsGroup.createMessages} on the calling thread. */
  createMessagesSync(plaintexts: (Uint8Array | string)[], options: { aad?: Uint8Array } = {}): BatchResult<Uint8Array>[] {
    const bytes = plaintextBatch(plaintexts)
    if (options.aad !== undefined) assertBytes(options.aad, 'aad')
    this.#assertIdle('createMessagesSync')
    return call(() => this.native.createMessagesSync(bytes, options.aad)).map((item) => batchItem(item.message, item.error, (m) => m))
  }

  /**
   * Merges a staged commit from {@link MlsGroup.processMessage}, entering the next epoch. Returns
   * the messages the future-epoch buffer kept for the new epoch, processed, in arrival order
   * (see {@link MlsGroup.setFutureEpochBuffer}); empty when it is off.
   */
  async mergeStagedCommit(stagedCommit: StagedCommit): Promise<BatchResult<ProcessedMessage>[]> {
    return this.#replayed(await this.#commitAsync(() => this.native.mergeStagedCommitAsync(stagedCommit.native)))
  }

  /** {@link MlsGroup.mergeStagedCommit} on the calling thread. A validator must answer synchronously here. */
  mergeStagedCommitSync(stagedCommit: StagedCommit): BatchResult<ProcessedMessage>[] {
    this.#assertIdle('mergeStagedCommitSync')
    return this.#replayedSync(call(() => this.native.mergeStagedCommit(stagedCommit.native)))
  }

  /**
   * Keeps messages for a later epoch instead of refusing them (opt-in): a message for an epoch
   * after the current one is stored (bounded by `maxMessages` and `maxBytes`, sealed with the
   * storage key like everything else) and processing it throws `ERR_MESSAGE_BUFFERED`; the merge
   * that enters its epoch processes it and returns the outcome. With the buffer full, such a
   * message is `ERR_BUFFER_FULL` and not kept. `undefined` turns buffering off and returns the
   * messages it held, so none is lost. The setting is stored with the group.
   */
  setFutureEpochBuffer(limits: FutureEpochBufferLimits | undefined): Uint8Array[] {
    this.#assertIdle('setFutureEpochBuffer')
    const checked = limits && {
      maxMessages: integer(limits.maxMessages, 'maxMessages', 1, U32),
      maxBytes: integer(limits.maxBytes, 'maxBytes', 1, U32),
    }
    return call(() => this.native.setFutureEpochBuffer(checked))
  }

  /** The future-epoch buffer: its limits (absent when off) and what it holds. */
  futureEpochBuffer(): { limits?: FutureEpochBufferLimits; messages: number; bytes: number } {
    const state = call(() => this.native.futureEpochBuffer())
    return { ...(state.limits ? { limits: state.limits } : {}), messages: state.messages, bytes: state.bytes }
  }

  /**
   * The messages a merge replayed from the future-epoch buffer. A replayed commit is asked of the
   * credential validator as `processMessage` would; a refusal becomes its slot's error.
   */
  async #replayed(items: NativeProcessedBatchItem[]): Promise<BatchResult<ProcessedMessage>[]> {
    const out: BatchResult<ProcessedMessage>[] = []
    for (const item of items.map((i) => batchItem(i.message, i.error, processedFromNative))) {
      if (item.ok && item.value.type === 'commit') {
        try {
          await this.#askValidator(item.value)
        } catch (error) {
          out.push({ ok: false, error: toOpenMlsError(error) })
          continue
        }
      }
      out.push(item)
    }
    return out
  }

  #replayedSync(items: NativeProcessedBatchItem[]): BatchResult<ProcessedMessage>[] {
    return items.map((i) => {
      const item = batchItem(i.message, i.error, processedFromNative)
      if (!item.ok || item.value.type !== 'commit') return item
      try {
        this.#askValidatorSync(item.value, 'a *Sync merge needs a synchronous credential validator; use the Promise form')
        return item
      } catch (error) {
        return { ok: false, error: toOpenMlsError(error) }
      }
    })
  }

  /** Stores a received proposal in the proposal queue, so this member's next commit covers it. */
  async storePendingProposal(proposal: QueuedProposal): Promise<void> {
    return this.#commitAsync(() => this.native.storePendingProposalAsync(proposal.native))
  }

  /** {@link MlsGroup.storePendingProposal} on the calling thread. */
  storePendingProposalSync(proposal: QueuedProposal): void {
    this.#assertIdle('storePendingProposalSync')
    call(() => this.native.storePendingProposal(proposal.native))
  }

  /** The group's members, in leaf order. */
  members(): Member[] {
    return call(() => this.native.members()).map(memberFromNative)
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
    return call(() => this.native.ciphersuite) as Ciphersuite
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
    // The range depends on the ciphersuite (255 hash lengths): the native layer checks it, once.
    if (typeof length !== 'number') integer(length, 'length', 1, U32)
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
    this.#assertIdle('setConfiguration')
    call(() => this.native.setConfiguration(joinConfigToNative(changes)!))
  }

  /**
   * The group context of the current epoch (openmls `public_group().group_context()`): protocol version,
   * ciphersuite, group id, epoch, tree hash, confirmed transcript hash and extensions.
   */
  groupContext(): GroupContext {
    return groupContextFromNative(call(() => this.native.groupContext()))
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
    if (epoch !== undefined) uint64(epoch, 'epoch')
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


/** The bounds of a group's future-epoch buffer (see {@link MlsGroup.setFutureEpochBuffer}). */
export interface FutureEpochBufferLimits {
  /** How many messages it keeps at most. */
  maxMessages: number
  /** How many bytes of messages it keeps at most. */
  maxBytes: number
}

/** One slot of a batch: the value, or the typed error it would have thrown on its own. */
export type BatchResult<T> = { ok: true; value: T } | { ok: false; error: OpenMlsError }

function batchItem<N, T>(value: N | undefined | null, error: NativeError | undefined | null, convert: (n: N) => T): BatchResult<T> {
  if (error != null) return { ok: false, error: new OpenMlsError(error.code, error.message) }
  if (value == null) return { ok: false, error: new OpenMlsError('ERR_INTERNAL', 'a batch item has neither a value nor an error') }
  return { ok: true, value: convert(value) }
}

function assertByteArrays(value: unknown, name: string): asserts value is Uint8Array[] {
  if (!Array.isArray(value)) throw new OpenMlsError('ERR_INVALID_ARGUMENT', `${name} must be an array of Uint8Arrays`)
  value.forEach((v, i) => assertBytes(v, `${name}[${i}]`))
}

function plaintextBatch(plaintexts: unknown): Uint8Array[] {
  if (!Array.isArray(plaintexts)) throw new OpenMlsError('ERR_INVALID_ARGUMENT', 'plaintexts must be an array')
  const encoder = new TextEncoder()
  return plaintexts.map((p, i) => {
    const bytes = typeof p === 'string' ? encoder.encode(p) : p
    assertBytes(bytes, `plaintexts[${i}]`)
    return bytes
  })
}
