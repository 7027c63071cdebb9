// What processing a message gives back (openmls `ProcessedMessage`), a union on `type`.
import type { NativeProcessedMessage } from '../index.js'
import type { native } from './native.js'
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

/**
 * One variant of {@link ProcessedMessage}: `type` says which. `kind` is the same value under its
 * name before 0.2; it stays until 1.0 so code written against it keeps working.
 */
type Variant<T extends string, Fields = object> = ProcessedMessageBase &
  Fields & {
    type: T
    /** @deprecated The same value as `type`, which is the one discriminant of every union; removed in 1.0. */
    kind: T
  }

/** The result of {@link MlsGroup.processMessage}, discriminated by `type`. */
export type ProcessedMessage =
  | Variant<'application', { data: Uint8Array }>
  | Variant<'proposal', { proposal: QueuedProposal }>
  | Variant<'externalJoinProposal', { proposal: QueuedProposal }>
  | Variant<'commit', { stagedCommit: StagedCommit }>
  | Variant<'ownPendingCommit'>
  | Variant<'ownPrivateMessage'>

/**
 * Gives a processed message from the binding its classes: the credential, and the handle of a
 * proposal or staged commit. @internal
 */
export function processedFromNative(p: NativeProcessedMessage): ProcessedMessage {
  // Object literals of one shape each (no spread): this runs once per received message.
  const groupId = p.groupId
  const epoch = p.epoch
  const sender = p.sender
  const authenticatedData = p.authenticatedData
  const credential = credentialFromNative(p.credential)
  switch (p.type) {
    case 'application':
      return { groupId, epoch, sender, authenticatedData, credential, type: 'application', kind: 'application', data: p.data }
    case 'proposal':
      return { groupId, epoch, sender, authenticatedData, credential, type: 'proposal', kind: 'proposal', proposal: new QueuedProposal(p.proposal) }
    case 'externalJoinProposal':
      return { groupId, epoch, sender, authenticatedData, credential, type: 'externalJoinProposal', kind: 'externalJoinProposal', proposal: new QueuedProposal(p.proposal) }
    case 'commit':
      return { groupId, epoch, sender, authenticatedData, credential, type: 'commit', kind: 'commit', stagedCommit: new StagedCommit(p.stagedCommit) }
    case 'ownPendingCommit':
      return { groupId, epoch, sender, authenticatedData, credential, type: 'ownPendingCommit', kind: 'ownPendingCommit' }
    case 'ownPrivateMessage':
      return { groupId, epoch, sender, authenticatedData, credential, type: 'ownPrivateMessage', kind: 'ownPrivateMessage' }
  }
}

/** What `processMessage` and `processMessageSync` of the binding return (src/mls_group/messages.rs, `ProcessedForJs`). */
export type PackedProcessed = Uint8Array | [Uint8Array, InstanceType<typeof native.StagedCommit>] | NativeProcessedMessage

/**
 * Gives a processed message from the binding's `processMessage` or `processMessageSync`: an
 * application message arrives packed in one byte array, a commit as that byte array beside its
 * staged commit's handle (one allocation across N-API instead of a dozen, 3 µs less per
 * application message, about 20 µs less per commit in a group of 100), anything else as the
 * union. @internal
 */
export function processedFromAddon(p: PackedProcessed): ProcessedMessage {
  if (p instanceof Uint8Array) {
    const f = readPacked(p)
    return { groupId: f.groupId, epoch: f.epoch, sender: f.sender, authenticatedData: f.authenticatedData, credential: f.credential, type: 'application', kind: 'application', data: f.data }
  }
  if (Array.isArray(p)) {
    const f = readPacked(p[0])
    return { groupId: f.groupId, epoch: f.epoch, sender: f.sender, authenticatedData: f.authenticatedData, credential: f.credential, type: 'commit', kind: 'commit', stagedCommit: new StagedCommit(p[1]) }
  }
  return processedFromNative(p)
}

const SENDERS = ['member', 'external', 'newMemberProposal', 'newMemberCommit'] as const

/**
 * Reads packed fields (src/mls_group/messages.rs, `packed`): the data, the group id, the AAD and
 * the credential content, then a 31-byte trailer (little-endian sender kind u8, sender index u32,
 * epoch u64, credential type u16, the four lengths u32). The data is a view of the array the
 * addon made for this message alone (no copy: it may be large); the small fields are copied out.
 */
function readPacked(bytes: Uint8Array): ProcessedMessageBase & { data: Uint8Array } {
  const trailer = bytes.length - 31
  const view = new DataView(bytes.buffer, bytes.byteOffset + trailer, 31)
  const kind = SENDERS[view.getUint8(0)]
  const index = view.getUint32(1, true)
  const sender: Sender = kind === 'member' ? { type: kind, leafIndex: index } : kind === 'external' ? { type: kind, senderIndex: index } : { type: kind }
  const epoch = view.getBigUint64(5, true)
  const credentialType = view.getUint16(13, true)
  const dataLength = view.getUint32(15, true)
  const data = bytes.subarray(0, dataLength)
  let at = dataLength
  const take = (length: number) => bytes.slice(at, (at += length))
  const groupId = take(view.getUint32(19, true))
  const authenticatedData = take(view.getUint32(23, true))
  const credential = credentialFromNative({ credentialType, serializedContent: take(view.getUint32(27, true)) })
  return { groupId, epoch, sender, authenticatedData, credential, data }
}
