import type {
  NativeGroupContext,
  PreSharedKeyId as GeneratedPreSharedKeyId,
  NativeQueuedProposalInfo,
  Proposal as GeneratedProposal,
  RemoveOperation as GeneratedRemoveOperation,
  Sender as GeneratedSender,
  NativeStagedCommitInfo,
} from '../index.js'
import { credentialFromNative, credentialToNative, type Credential } from './credential.js'
import { capabilitiesToNative, extensionFromNative, extensionsToNative, leafNodeFromNative, type Capabilities, type Extension, type LeafNode } from './extensions.js'
import { uint64 } from './numbers.js'
import { OpenMlsError } from './errors.js'

/** Who sent a message or proposal, discriminated by `type` (generated from the Rust binding). */
export type Sender = GeneratedSender

/**
 * A pre-shared key id (the book's "PSKs"), discriminated by `type`: an external PSK the members
 * stored with {@link Provider.storeExternalPsk}, or the resumption PSK of a past epoch of a group
 * (generated from the Rust binding).
 */
export type PreSharedKeyId = GeneratedPreSharedKeyId

/**
 * Checks a PSK id from the caller: the shape (which napi-rs would also refuse) and the epoch's
 * range, which it would not. @internal
 */
export function checkPsk(psk: PreSharedKeyId): PreSharedKeyId {
  if (psk?.type === 'resumption') uint64(psk.epoch, 'psk.epoch')
  else if (psk?.type !== 'external') throw new OpenMlsError('ERR_INVALID_ARGUMENT', "psk.type must be 'external' or 'resumption'")
  return psk
}

/** New leaf parameters for a self-update (openmls `LeafNodeParameters`). Omitted fields keep their value. */
export interface LeafNodeParameters {
  credential?: Credential
  capabilities?: Capabilities
  extensions?: Extension[]
}

/** @internal */
export function leafParamsToNative(p: LeafNodeParameters | undefined) {
  if (!p) return undefined
  return {
    credential: p.credential ? credentialToNative(p.credential) : undefined,
    capabilities: capabilitiesToNative(p.capabilities),
    extensions: extensionsToNative(p.extensions),
  }
}

/**
 * What a proposal proposes, discriminated by `type`. Generated from the Rust binding; the leaf
 * nodes and extensions carry {@link Credential} objects where the binding carries their
 * serialized form.
 */
export type Proposal =
  | Exclude<GeneratedProposal, { type: 'add' | 'update' | 'groupContextExtensions' }>
  | { type: 'add'; leafNode: LeafNode; keyPackageRef: Uint8Array }
  | { type: 'update'; leafNode: LeafNode }
  | { type: 'groupContextExtensions'; extensions: Extension[] }

/** A queued proposal: its reference, sender, framing and content. */
export type ProposalInfo = Omit<NativeQueuedProposalInfo, 'proposal'> & { proposal: Proposal }

/** Gives a proposal from the binding its {@link Credential} objects. @internal */
export function proposalInfoFromNative(n: NativeQueuedProposalInfo): ProposalInfo {
  const p = n.proposal
  switch (p.type) {
    case 'add':
    case 'update':
      return { ...n, proposal: { ...p, leafNode: leafNodeFromNative(p.leafNode) } }
    case 'groupContextExtensions':
      return { ...n, proposal: { type: p.type, extensions: p.extensions.map(extensionFromNative) } }
    default:
      return { ...n, proposal: p }
  }
}

/**
 * A group context (RFC 9420 §8.1). Generated from the Rust binding; its extensions carry
 * {@link Credential} objects.
 */
export type GroupContext = Omit<NativeGroupContext, 'extensions'> & { extensions: Extension[] }

/** @internal */
export function groupContextFromNative(n: NativeGroupContext): GroupContext {
  return { ...n, extensions: n.extensions.map(extensionFromNative) }
}

/**
 * What a removal in a commit means for this member (the book's "Interpreting remove operations"),
 * discriminated by `type` (generated from the Rust binding).
 */
export type RemoveOperation = GeneratedRemoveOperation

/** A proposal covered by a staged commit, with its sender (add/update: the leaf's credential and key; remove: the leaf). */
export interface StagedProposal {
  sender: Sender
  credential?: Credential
  signatureKey?: Uint8Array
  removed?: number
}

/** Everything a staged (or pending) commit will do when merged. */
export interface StagedCommitInfo {
  addProposals: StagedProposal[]
  removeProposals: StagedProposal[]
  updateProposals: StagedProposal[]
  pskProposals: { sender: Sender; psk: PreSharedKeyId }[]
  /** Every proposal the commit covers, with its content. */
  queuedProposals: ProposalInfo[]
  /** The committer's new leaf, when the commit has an update path. */
  updatePathLeafNode?: LeafNode
  /** The credentials to validate (new and changed leaves) before merging. */
  credentialsToVerify: Credential[]
  /** Whether the commit removes this member. */
  selfRemoved: boolean
  /** The epoch the group enters. */
  epoch: bigint
  /** The new epoch's authenticator; absent when this member is removed. */
  epochAuthenticator?: Uint8Array
  hasUpdatePath: boolean
  /** The group context after the merge. */
  groupContext: GroupContext
  /** What each removal means for this member. */
  removeOperations: RemoveOperation[]
}

function stagedProposals(list: NativeStagedCommitInfo['addProposals']): StagedProposal[] {
  return list.map((p) => ({
    sender: p.sender,
    ...(p.credential ? { credential: credentialFromNative(p.credential) } : {}),
    ...(p.signatureKey ? { signatureKey: p.signatureKey } : {}),
    ...(p.removed !== undefined && p.removed !== null ? { removed: p.removed } : {}),
  }))
}

/** @internal */
export function stagedCommitInfoFromNative(n: NativeStagedCommitInfo): StagedCommitInfo {
  return {
    addProposals: stagedProposals(n.addProposals),
    removeProposals: stagedProposals(n.removeProposals),
    updateProposals: stagedProposals(n.updateProposals),
    pskProposals: n.pskProposals.map((p) => ({ sender: p.sender, psk: p.psk })),
    queuedProposals: n.queuedProposals.map(proposalInfoFromNative),
    ...(n.updatePathLeafNode ? { updatePathLeafNode: leafNodeFromNative(n.updatePathLeafNode) } : {}),
    credentialsToVerify: n.credentialsToVerify.map(credentialFromNative),
    selfRemoved: n.selfRemoved,
    epoch: n.epoch,
    ...(n.epochAuthenticator ? { epochAuthenticator: n.epochAuthenticator } : {}),
    hasUpdatePath: n.hasUpdatePath,
    groupContext: groupContextFromNative(n.groupContext),
    removeOperations: n.removeOperations,
  }
}
