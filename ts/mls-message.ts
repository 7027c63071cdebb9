import { assertBytes, call } from './errors.js'
import { native } from './native.js'
import { extensionFromNative, extensionsToNative, type Extension } from './extensions.js'
import { groupContextFromNative, type GroupContext } from './proposals.js'
import type { KeyPackage } from './key-package.js'
import type { SignatureKeyPair } from './signature-key-pair.js'
import type { ProposalMessage } from './mls-group.js'
import type { ContentType as GeneratedContentType, NativeMessageInfo } from '../index.js'
import { integer, uint64, U32 } from './numbers.js'

/**
 * What an MLS message shows before processing (the book's "Deserializing messages"),
 * discriminated by `wireFormat`. Nothing is authenticated yet. Generated from the Rust binding;
 * a GroupInfo's context and extensions carry {@link Credential} objects.
 */
export type MessageInfo =
  | Exclude<NativeMessageInfo, { wireFormat: 'groupInfo' }>
  | (Omit<Extract<NativeMessageInfo, { wireFormat: 'groupInfo' }>, 'groupContext' | 'extensions'> & { groupContext: GroupContext; extensions: Extension[] })

/** The content type of a group message (generated from the Rust binding). */
export type ContentType = GeneratedContentType

/** Reading MLS messages (openmls `MlsMessageIn`). */
export const MlsMessage = {
  /**
   * Parses any MLS message into its body type, so an application can route it (to a group, to the
   * join flow, to the key package directory) before processing it.
   */
  parse(bytes: Uint8Array): MessageInfo {
    assertBytes(bytes, 'bytes')
    const m = call(() => native.parseMessage(bytes))
    return m.wireFormat === 'groupInfo' ? { ...m, groupContext: groupContextFromNative(m.groupContext), extensions: m.extensions.map(extensionFromNative) } : m
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
    return call(() => native.createExternalAddProposal(params.signer.native, params.senderIndex, params.groupId, params.epoch, params.keyPackage.native))
  },
  remove(params: ExternalSenderParams & { removed: number }): Uint8Array {
    checkSender(params)
    integer(params.removed, 'removed', 0, U32)
    return call(() => native.createExternalRemoveProposal(params.signer.native, params.senderIndex, params.groupId, params.epoch, params.removed))
  },
  groupContextExtensions(params: ExternalSenderParams & { extensions: Extension[] }): Uint8Array {
    checkSender(params)
    return call(() =>
      native.createExternalGroupContextExtensionsProposal(params.signer.native, params.senderIndex, params.groupId, params.epoch, extensionsToNative(params.extensions)!),
    )
  },
}

function checkSender(params: ExternalSenderParams): void {
  assertBytes(params.groupId, 'groupId')
  uint64(params.epoch, 'epoch')
  integer(params.senderIndex, 'senderIndex', 0, U32)
}
