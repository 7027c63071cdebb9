import { assertBytes, call } from './errors.js'
import { native } from './native.js'
import { extensionFromNative, extensionsToNative, type Extension } from './extensions.js'
import { groupContextFromNative, type GroupContext, type Sender } from './proposals.js'
import type { KeyPackage } from './key-package.js'
import type { SignatureKeyPair } from './signature-key-pair.js'
import type { ProposalMessage } from './mls-group.js'
import { integer, uint64, U32 } from './numbers.js'

/** What an MLS message shows before processing (the book's "Deserializing messages"). Nothing is authenticated yet. */
export type MessageInfo =
  | { wireFormat: 'publicMessage'; groupId: Uint8Array; epoch: bigint; contentType: ContentType; sender: Sender }
  | { wireFormat: 'privateMessage'; groupId: Uint8Array; epoch: bigint; contentType: ContentType; authenticatedData: Uint8Array }
  | { wireFormat: 'welcome'; ciphersuite: number; keyPackageRefs: Uint8Array[] }
  | { wireFormat: 'groupInfo'; groupId: Uint8Array; epoch: bigint; ciphersuite: number; groupContext: GroupContext; extensions: Extension[] }
  | { wireFormat: 'keyPackage'; ciphersuite: number }

/** The content type of a group message. */
export type ContentType = 'application' | 'proposal' | 'commit'

/** Reading MLS messages (openmls `MlsMessageIn`). */
export const MlsMessage = {
  /**
   * Parses any MLS message into its body type, so an application can route it (to a group, to the
   * join flow, to the key package directory) before processing it.
   */
  parse(bytes: Uint8Array): MessageInfo {
    assertBytes(bytes, 'bytes')
    const m = call(() => native.parseMessage(bytes))
    switch (m.wireFormat) {
      case 'publicMessage':
        return { wireFormat: 'publicMessage', groupId: m.groupId!, epoch: m.epoch!, contentType: m.contentType as ContentType, sender: m.sender! }
      case 'privateMessage':
        return { wireFormat: 'privateMessage', groupId: m.groupId!, epoch: m.epoch!, contentType: m.contentType as ContentType, authenticatedData: m.authenticatedData! }
      case 'welcome':
        return { wireFormat: 'welcome', ciphersuite: m.ciphersuite!, keyPackageRefs: m.welcomeKeyPackageRefs }
      case 'groupInfo':
        return {
          wireFormat: 'groupInfo',
          groupId: m.groupId!,
          epoch: m.epoch!,
          ciphersuite: m.ciphersuite!,
          groupContext: groupContextFromNative(m.groupContext!),
          extensions: m.groupInfoExtensions.map(extensionFromNative),
        }
      default:
        return { wireFormat: 'keyPackage', ciphersuite: m.ciphersuite! }
    }
  },
}

/** Where an external proposal goes: the group's id and current epoch. */
export interface ExternalProposalTarget {
  groupId: Uint8Array
  epoch: bigint
}

/**
 * A new member's proposal to join a group (openmls `JoinProposal`, the book's "External
 * proposal"): signed with the key package's signer; members see it as `externalJoinProposal`.
 */
export const JoinProposal = {
  /** The proposal and its reference (the `proposalRef` members see on the `externalJoinProposal`). */
  create(params: ExternalProposalTarget & { signer: SignatureKeyPair; keyPackage: KeyPackage }): ProposalMessage {
    assertBytes(params.groupId, 'groupId')
    uint64(params.epoch, 'epoch')
    return call(() => native.createJoinProposal(params.signer.native, params.keyPackage.native, params.groupId, params.epoch))
  },
}

/** Who sends an external proposal: a signer listed at `senderIndex` in the group's ExternalSenders extension. */
export interface ExternalSenderParams extends ExternalProposalTarget {
  signer: SignatureKeyPair
  senderIndex: number
}

/**
 * Proposals from an external sender (openmls `ExternalProposal`): a Node delivery service that is
 * listed in a group's ExternalSenders extension can propose adds, removes and group context
 * extensions with its own signer.
 */
export const ExternalProposal = {
  add(params: ExternalSenderParams & { keyPackage: KeyPackage }): Uint8Array {
    checkSender(params)
    return call(() => native.createExternalProposal(params.signer.native, params.senderIndex, params.groupId, params.epoch, 'add', params.keyPackage.native))
  },
  remove(params: ExternalSenderParams & { removed: number }): Uint8Array {
    checkSender(params)
    integer(params.removed, 'removed', 0, U32)
    return call(() => native.createExternalProposal(params.signer.native, params.senderIndex, params.groupId, params.epoch, 'remove', undefined, params.removed))
  },
  groupContextExtensions(params: ExternalSenderParams & { extensions: Extension[] }): Uint8Array {
    checkSender(params)
    return call(() =>
      native.createExternalProposal(params.signer.native, params.senderIndex, params.groupId, params.epoch, 'groupContextExtensions', undefined, undefined, extensionsToNative(params.extensions)),
    )
  },
}

function checkSender(params: ExternalSenderParams): void {
  assertBytes(params.groupId, 'groupId')
  uint64(params.epoch, 'epoch')
  integer(params.senderIndex, 'senderIndex', 0, U32)
}
