// A received commit, validated and staged (openmls `StagedCommit`).
import { call } from './errors.js'
import type { native } from './native.js'
import type { Credential } from './credential.js'
import type { LeafNode } from './extensions.js'
import { stagedCommitInfoFromNative, type GroupContext, type ProposalInfo, type RemoveOperation, type StagedCommitInfo, type StagedProposal } from './proposals.js'

/**
 * A received commit, validated and staged (openmls `StagedCommit`). Inspect it, then merge it
 * with {@link MlsGroup.mergeStagedCommit}, or drop it. Its getters describe the commit as it was
 * staged, and stay readable after the merge; merging it twice is `ERR_STALE_STAGED_COMMIT`.
 */
export class StagedCommit {
  /** @internal */
  readonly native: InstanceType<typeof native.StagedCommit>

  /** @internal */
  constructor(handle: InstanceType<typeof native.StagedCommit>) {
    this.native = handle
  }

  /** Everything the commit will do, in one object. */
  info(): StagedCommitInfo {
    return stagedCommitInfoFromNative(call(() => this.native.info()))
  }

  /** The Add proposals the commit covers. */
  get addProposals(): StagedProposal[] {
    return this.info().addProposals
  }

  /** The Remove proposals the commit covers. */
  get removeProposals(): StagedProposal[] {
    return this.info().removeProposals
  }

  /** The Update proposals the commit covers. */
  get updateProposals(): StagedProposal[] {
    return this.info().updateProposals
  }

  /** The PSK proposals the commit covers. */
  get pskProposals(): StagedCommitInfo['pskProposals'] {
    return this.info().pskProposals
  }

  /** Every proposal the commit covers, with its content. */
  get queuedProposals(): ProposalInfo[] {
    return this.info().queuedProposals
  }

  /** The committer's new leaf, when the commit has an update path. */
  get updatePathLeafNode(): LeafNode | undefined {
    return this.info().updatePathLeafNode
  }

  /** The credentials an application should validate before merging (new and changed leaves). */
  get credentialsToVerify(): Credential[] {
    return this.info().credentialsToVerify
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
    return this.info().epochAuthenticator
  }

  /** Whether the committer refreshed its leaf with an update path. */
  get hasUpdatePath(): boolean {
    return this.info().hasUpdatePath
  }

  /** The group context after the merge. */
  get groupContext(): GroupContext {
    return this.info().groupContext
  }

  /** What each removal means for this member (the book's `RemoveOperation`). */
  get removeOperations(): RemoveOperation[] {
    return this.info().removeOperations
  }
}
