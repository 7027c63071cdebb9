// What processing a message gives back (openmls `ProcessedMessage`), a union on `kind`.
import type { NativeProcessedMessage } from '../index.js'
import { credentialFromNative, type Credential } from './credential.js'
import type { Sender } from './proposals.js'
import { QueuedProposal } from './queued-proposal.js'
import { StagedCommit } from './staged-commit.js'

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

/** @internal */
export function processedFromNative(p: NativeProcessedMessage): ProcessedMessage {
  // Object literals of one shape each (no spread): this runs once per received message.
  const groupId = p.groupId
  const epoch = p.epoch
  const sender = p.sender
  const authenticatedData = p.authenticatedData
  const credential = credentialFromNative(p.credential)
  switch (p.kind) {
    case 'application':
      return { groupId, epoch, sender, authenticatedData, credential, kind: 'application', data: p.data as Uint8Array }
    case 'proposal':
    case 'externalJoinProposal':
      return { groupId, epoch, sender, authenticatedData, credential, kind: p.kind, proposal: new QueuedProposal(p.proposal!) }
    case 'commit':
      return { groupId, epoch, sender, authenticatedData, credential, kind: 'commit', stagedCommit: new StagedCommit(p.stagedCommit!) }
    case 'ownPendingCommit':
      return { groupId, epoch, sender, authenticatedData, credential, kind: 'ownPendingCommit' }
    default:
      return { groupId, epoch, sender, authenticatedData, credential, kind: 'ownPrivateMessage' }
  }
}
