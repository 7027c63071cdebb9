/**
 * openmls-node: Messaging Layer Security (RFC 9420) for Node.js and Electron, backed by the Rust
 * openmls crate. Names follow the OpenMLS book.
 */
export { Ciphersuite, SignatureScheme, signatureSchemeOf, ciphersuiteName } from './ciphersuite.js'
export { BasicCredential, X509Credential, OtherCredential, CredentialType, type Credential, type CredentialWithKey } from './credential.js'
export { ExtensionType, type Capabilities, type Extension, type ExternalSender, type LeafNode, type Lifetime } from './extensions.js'
export { OpenMlsError, ErrorCodes, isErrorCode, type ErrorCode } from './errors.js'
export { KeyPackage, KeyPackageBuilder, type DirectoryPolicy, type KeyPackageBuildParams } from './key-package.js'
export {
  MlsGroup,
  type AddMembersResult,
  type BatchResult,
  type FutureEpochBufferLimits,
  type CommitOptions,
  type ProposalMessage,
  type CommitMessages,
  type CreateGroupParams,
  type ExternalJoinParams,
  type ExternalJoinResult,
  type RebootResult,
  type JoinFromWelcomeParams,
} from './mls-group.js'
export { type MlsGroupCreateConfig, type MlsGroupJoinConfig, type MlsGroupJoinConfigValues, type SenderRatchetConfiguration, type WireFormatPolicy } from './group-config.js'
export { type ProcessedMessage, type ProcessedMessageBase } from './processed-message.js'
export { StagedCommit } from './staged-commit.js'
export { QueuedProposal, ProposalType } from './queued-proposal.js'

export {
  type GroupContext,
  type LeafNodeParameters,
  type PreSharedKeyId,
  type Proposal,
  type ProposalInfo,
  type RemoveOperation,
  type Sender,
  type StagedCommitInfo,
  type StagedProposal,
} from './proposals.js'
export { PublicGroup, type PublicGroupFromExternalParams, type PublicProcessedMessage } from './public-group.js'
export { MlsMessage, JoinProposal, ExternalProposal, type ContentType, type ExternalProposalTarget, type ExternalSenderParams, type MessageInfo } from './mls-message.js'
export { ProcessedWelcome, StagedWelcome, type ProcessWelcomeParams, type UnverifiedGroupInfo } from './welcome.js'
export { type CredentialValidator, type Member } from './member.js'
export { Provider, type CryptoProviderName, type Durability, type FileStorageOptions, type KeyPackageEntry, type PostgresStorageOptions, type ProviderOptions, type StorageOptions, type StoredIdentity } from './provider.js'
export { SignatureKeyPair } from './signature-key-pair.js'
export { type AbortOptions } from './abort.js'

import { native } from './native.js'
import { ErrorCodes, type ErrorCode } from './errors.js'

/** The version of the openmls crate inside this build. */
export const openmlsVersion: string = native.openmlsVersion()

/** Every error code the native layer can produce (the values of {@link ErrorCodes}). */
export const errorCodes: readonly ErrorCode[] = Object.freeze(Object.values(ErrorCodes))
