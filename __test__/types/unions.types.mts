// Type-level tests of the generated unions, checked by `npm run typecheck` (never run): each
// `@ts-expect-error` line must fail to compile, everything else must compile.
import { BasicCredential, type ContentType, type Extension, type GroupContext, type MessageInfo, type ProcessedMessage, type Proposal, type ProposalInfo, type QueuedProposal, type Sender, type StagedCommit } from 'openmls-node'

// Extensions: the generated union, with Credential objects in externalSenders.
const appId: Extension = { type: 'applicationId', applicationId: new Uint8Array([1]) }
const senders: Extension = { type: 'externalSenders', senders: [{ signatureKey: new Uint8Array(32), credential: new BasicCredential('ds') }] }
const required: Extension = { type: 'requiredCapabilities', extensionTypes: [0xff00], proposalTypes: [], credentialTypes: [1] }
const lastResort: Extension = { type: 'lastResort' }
// @ts-expect-error externalSenders takes Credential objects, not an identity string
const serialized: Extension = { type: 'externalSenders', senders: [{ signatureKey: new Uint8Array(32), credential: 'ds' }] }
// @ts-expect-error an applicationId extension needs its id
const noId: Extension = { type: 'applicationId' }
// @ts-expect-error not an extension type
const unknownType: Extension = { type: 'ratchet' }
void appId, senders, required, lastResort, serialized, noId, unknownType

declare const extension: Extension
if (extension.type === 'unknown') {
  const code: number = extension.extensionType
  const data: Uint8Array = extension.data
  void code, data
} else if (extension.type === 'externalSenders') {
  const credential: BasicCredential | unknown = extension.senders[0].credential
  void credential
} else {
  // @ts-expect-error only unknown extensions carry an extensionType
  void extension.extensionType
}

// Proposals: narrowing by type; leaf nodes carry Credential objects.
declare const info: ProposalInfo
const proposal: Proposal = info.proposal
const sender: Sender = info.sender
if (proposal.type === 'add') {
  const ref: Uint8Array = proposal.keyPackageRef
  const identity = proposal.leafNode.credential
  void ref, identity
} else if (proposal.type === 'remove') {
  const removed: number = proposal.removed
  void removed
} else if (proposal.type === 'custom') {
  const payload: Uint8Array = proposal.payload
  void payload
} else {
  // @ts-expect-error only add and update proposals carry a leaf node here
  void proposal.leafNode
}
if (sender.type === 'member') {
  const leaf: number = sender.leafIndex
  void leaf
} else {
  // @ts-expect-error only members have a leaf index
  void sender.leafIndex
}

// ProcessedMessage narrows on `type`, and on the deprecated `kind` (the same value) until 1.0.
declare const processed: ProcessedMessage
if (processed.type === 'commit') {
  const staged: StagedCommit = processed.stagedCommit
  const alias: 'commit' = processed.kind
  void staged, alias
}
if (processed.kind === 'proposal') {
  const queued: QueuedProposal = processed.proposal
  void queued
}
// @ts-expect-error not a processed message type
if (processed.type === 'welcome') void 0

// MessageInfo narrows on `wireFormat` (RFC 9420's name); only what the wire format shows is there.
declare const parsed: MessageInfo
if (parsed.wireFormat === 'privateMessage') {
  const aad: Uint8Array = parsed.authenticatedData
  const contentType: ContentType = parsed.contentType
  void aad, contentType
} else if (parsed.wireFormat === 'groupInfo') {
  const context: GroupContext = parsed.groupContext
  const epoch: bigint = parsed.epoch
  void context, epoch
} else if (parsed.wireFormat === 'welcome') {
  const refs: Uint8Array[] = parsed.keyPackageRefs
  void refs
}
if (parsed.wireFormat === 'keyPackage') {
  // @ts-expect-error a key package has no group id
  void parsed.groupId
}
// @ts-expect-error not a content type
const badContentType: ContentType = 'welcome'
void badContentType
