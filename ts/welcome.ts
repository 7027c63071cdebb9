import { assertBytes, call, OpenMlsError } from './errors.js'
import { native } from './native.js'
import { extensionFromNative, type Extension } from './extensions.js'
import { groupContextFromNative, type GroupContext, type PreSharedKeyId } from './proposals.js'
import type { Provider } from './provider.js'
import type { SignatureKeyPair } from './signature-key-pair.js'
import { MlsGroup } from './mls-group.js'
import { memberFromNative, validateWelcomeMembers, type CredentialValidator, type Member } from './member.js'
import { joinConfigToNative, type MlsGroupJoinConfig } from './group-config.js'

/** The unverified GroupInfo a Welcome carries. */
export interface UnverifiedGroupInfo {
  ciphersuite: number
  groupId: Uint8Array
  epoch: bigint
  /** GroupInfo extensions (ratchet tree, external pub, ...). */
  extensions: Extension[]
  hasRatchetTree: boolean
}

/** Parameters of {@link ProcessedWelcome.newFromWelcome}. */
export interface ProcessWelcomeParams {
  provider: Provider
  signer: SignatureKeyPair
  welcome: Uint8Array
  config?: MlsGroupJoinConfig
}

/**
 * A decrypted Welcome whose GroupInfo is not verified yet (openmls `ProcessedWelcome`, the book's
 * "Examining a welcome message"). Nothing is used up yet: the key package the Welcome is for
 * stays stored until {@link StagedWelcome.intoGroup} succeeds.
 */
export class ProcessedWelcome {
  /** @internal */
  readonly native: InstanceType<typeof native.ProcessedWelcome>
  readonly #groupId: Uint8Array
  readonly #provider: Provider

  private constructor(handle: InstanceType<typeof native.ProcessedWelcome>, provider: Provider) {
    this.native = handle
    this.#groupId = handle.info().groupId
    this.#provider = provider
  }

  /**
   * Decrypts a Welcome with a key package this provider created. Nothing is used up yet: the key
   * package stays stored until {@link StagedWelcome.intoGroup} succeeds.
   */
  static newFromWelcome(params: ProcessWelcomeParams): ProcessedWelcome {
    assertBytes(params.welcome, 'welcome')
    return new ProcessedWelcome(
      call(() => native.ProcessedWelcome.newFromWelcome(params.provider.native, params.signer.native, params.welcome, joinConfigToNative(params.config))),
      params.provider,
    )
  }

  /** The GroupInfo, before verification: use it to decide whether to continue, not to trust it. */
  get unverifiedGroupInfo(): UnverifiedGroupInfo {
    const i = this.native.info()
    return { ciphersuite: i.ciphersuite, groupId: i.groupId, epoch: i.epoch, extensions: i.extensions.map(extensionFromNative), hasRatchetTree: i.hasRatchetTree }
  }

  /** The PSKs the Welcome needs (store external ones before staging). */
  get psks(): PreSharedKeyId[] {
    return this.native.info().psks
  }

  /**
   * Verifies the Welcome and stages it. Pass the ratchet tree if the GroupInfo does not carry it.
   * After a failure it can be called again (with the missing tree, say).
   */
  intoStagedWelcome(options: { ratchetTree?: Uint8Array; skipLifetimeValidation?: boolean; replaceOldGroup?: boolean } = {}): StagedWelcome {
    if (options.ratchetTree !== undefined) assertBytes(options.ratchetTree, 'ratchetTree')
    return new StagedWelcome(
      call(() => this.native.intoStagedWelcome(options.ratchetTree, options.skipLifetimeValidation, options.replaceOldGroup)),
      this.#groupId,
      this.#provider,
    )
  }
}

/**
 * A verified Welcome (openmls `StagedWelcome`): inspect the sender, the members and the group
 * context, then accept it with {@link StagedWelcome.intoGroup}, or drop it.
 */
export class StagedWelcome {
  /** @internal */
  readonly native: InstanceType<typeof native.StagedWelcome>
  readonly #groupId: Uint8Array
  readonly #provider: Provider
  /** Set when {@link StagedWelcome.validate} refused or failed: the Welcome cannot become a group. */
  #refusal?: OpenMlsError

  /** @internal */
  constructor(handle: InstanceType<typeof native.StagedWelcome>, groupId: Uint8Array, provider: Provider) {
    this.native = handle
    this.#groupId = groupId
    this.#provider = provider
  }

  /** The member who sent the Welcome. */
  get welcomeSender(): Member {
    return memberFromNative(this.native.info().welcomeSender)
  }

  /** This member's leaf index. */
  get ownLeafIndex(): number {
    return this.native.info().ownLeafIndex
  }

  /** The group's members. */
  get members(): Member[] {
    return this.native.info().members.map(memberFromNative)
  }

  /** The group context: protocol version, ciphersuite, extensions (with RequiredCapabilities), tree hash, transcript hash. */
  get groupContext(): GroupContext {
    return groupContextFromNative(this.native.info().groupContext)
  }

  /**
   * Runs a credential validator over every member. On the first refusal it throws
   * `ERR_CREDENTIAL_REJECTED`, and if the validator throws, `ERR_VALIDATOR_FAILED` (with its error
   * as the `cause`); either way this staged Welcome can no longer become a group, and the key
   * package stays stored, so the same Welcome can be processed again later.
   */
  async validate(validator: CredentialValidator): Promise<void> {
    if (this.#refusal) throw this.#refusal
    try {
      await validateWelcomeMembers(this.members, validator, this.#groupId)
    } catch (error) {
      this.#refusal = error as OpenMlsError
      throw error
    }
  }

  /**
   * Accepts the Welcome: the group is stored and returned, and the key package is consumed (unless
   * it is last resort). Refused with the same error after a failed {@link StagedWelcome.validate}.
   */
  intoGroup(): MlsGroup {
    if (this.#refusal) throw this.#refusal
    return MlsGroup.fromNative(call(() => this.native.intoGroup()), this.#provider)
  }
}
