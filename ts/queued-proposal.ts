// A proposal received from another member (openmls `QueuedProposal`), and the proposal type code points.
import { call } from './errors.js'
import type { native } from './native.js'
import { proposalInfoFromNative, type Proposal, type Sender } from './proposals.js'

/** Proposal type code points. */
export const ProposalType = {
  Add: 1,
  Update: 2,
  Remove: 3,
  PreSharedKey: 4,
  Reinit: 5,
  ExternalInit: 6,
  GroupContextExtensions: 7,
  SelfRemove: 10,
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
    return this.native.sender
  }

  /** What it proposes. */
  get proposal(): Proposal {
    return proposalInfoFromNative(call(() => this.native.info())).proposal
  }

  /** Whether it came by value (inside a commit) rather than by reference. */
  get byValue(): boolean {
    return call(() => this.native.info()).byValue
  }
}
