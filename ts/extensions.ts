import { credentialFromNative, credentialToNative, type Credential } from './credential.js'
import { integer, integers, seconds, U16 } from './numbers.js'
import type { NativeExtension, NativeLeafNode } from '../index.js'

/** Extension type code points (RFC 9420 §17.3). */
export const ExtensionType = {
  ApplicationId: 1,
  RatchetTree: 2,
  RequiredCapabilities: 3,
  ExternalPub: 4,
  ExternalSenders: 5,
  LastResort: 10,
} as const

/** An external sender: a signature key and credential allowed to send proposals to the group. */
export interface ExternalSender {
  signatureKey: Uint8Array
  credential: Credential
}

/**
 * An extension (the book's "Extensions"), discriminated by `type`. `unknown` carries any other
 * extension type as opaque bytes (the book's `UnknownExtension`). `ratchetTree` is read-only:
 * openmls adds it when `useRatchetTreeExtension` is on.
 */
export type Extension =
  | { type: 'applicationId'; applicationId: Uint8Array }
  | { type: 'requiredCapabilities'; extensionTypes: number[]; proposalTypes: number[]; credentialTypes: number[] }
  | { type: 'externalPub'; publicKey: Uint8Array }
  | { type: 'externalSenders'; senders: ExternalSender[] }
  | { type: 'lastResort' }
  | { type: 'ratchetTree'; data: Uint8Array }
  | { type: 'unknown'; extensionType: number; data: Uint8Array }

/** @internal */
export function extensionToNative(e: Extension): NativeExtension {
  switch (e.type) {
    case 'applicationId':
      return { kind: e.type, applicationId: e.applicationId }
    case 'requiredCapabilities':
      return {
        kind: e.type,
        extensionTypes: integers(e.extensionTypes, 'requiredCapabilities.extensionTypes', 0, U16),
        proposalTypes: integers(e.proposalTypes, 'requiredCapabilities.proposalTypes', 0, U16),
        credentialTypes: integers(e.credentialTypes, 'requiredCapabilities.credentialTypes', 0, U16),
      }
    case 'externalPub':
      return { kind: e.type, publicKey: e.publicKey }
    case 'externalSenders':
      return { kind: e.type, externalSenders: e.senders.map((s) => ({ signatureKey: s.signatureKey, credential: credentialToNative(s.credential) })) }
    case 'lastResort':
      return { kind: e.type }
    case 'ratchetTree':
      return { kind: e.type, data: e.data }
    case 'unknown':
      return { kind: e.type, extensionType: integer(e.extensionType, 'extensionType', 0, U16), data: e.data }
    default:
      return { kind: String((e as { type: unknown }).type) }
  }
}

/** @internal */
export function extensionsToNative(list: Extension[] | undefined): NativeExtension[] | undefined {
  return list?.map(extensionToNative)
}

/** @internal */
export function extensionFromNative(n: NativeExtension): Extension {
  switch (n.kind) {
    case 'applicationId':
      return { type: 'applicationId', applicationId: n.applicationId! }
    case 'requiredCapabilities':
      return { type: 'requiredCapabilities', extensionTypes: n.extensionTypes ?? [], proposalTypes: n.proposalTypes ?? [], credentialTypes: n.credentialTypes ?? [] }
    case 'externalPub':
      return { type: 'externalPub', publicKey: n.publicKey! }
    case 'externalSenders':
      return { type: 'externalSenders', senders: (n.externalSenders ?? []).map((s) => ({ signatureKey: s.signatureKey, credential: credentialFromNative(s.credential) })) }
    case 'lastResort':
      return { type: 'lastResort' }
    case 'ratchetTree':
      return { type: 'ratchetTree', data: n.data! }
    default:
      return { type: 'unknown', extensionType: n.extensionType ?? 0, data: n.data ?? new Uint8Array() }
  }
}

/**
 * What a leaf supports (openmls `Capabilities`). Omitted fields take openmls's defaults: MLS 1.0,
 * the default ciphersuites, no extra extensions or proposals, basic and X.509 credentials.
 */
export interface Capabilities {
  versions?: number[]
  ciphersuites?: number[]
  /** Extension types beyond the default ones (list custom/unknown extension types here). */
  extensions?: number[]
  /** Proposal types beyond the default ones (list custom proposal types here). */
  proposals?: number[]
  credentials?: number[]
  /**
   * Also list one random GREASE value (RFC 9420 §13.5: 0x0A0A, 0x1A1A, ... 0xEAEA) among the
   * ciphersuites, extensions, proposals and credentials, as openmls's `Capabilities::with_grease`
   * does. Default `false`. GREASE helps peers find implementations that choke on values they do
   * not know; openmls 0.9.2 and ts-mls 1.6.4 both accept such capabilities. The values are only
   * advertised: no GREASE extension is sent (openmls 0.9.2 refuses those, see the README).
   */
  grease?: boolean
}

/**
 * A lifetime, in seconds since the Unix epoch: explicit bounds, or valid for a duration from now
 * (openmls backdates `notBefore` by an hour for clock skew).
 */
export type Lifetime = { notBefore: number; notAfter: number } | { validForSeconds: number }

/** @internal */
export function lifetimeFromNative(n: { notBefore?: number | null; notAfter?: number | null }): { notBefore: number; notAfter: number } {
  return { notBefore: n.notBefore ?? 0, notAfter: n.notAfter ?? 0 }
}

/** A leaf node (openmls `LeafNode`): a member's credential, keys, capabilities and extensions. */
export interface LeafNode {
  credential: Credential
  signatureKey: Uint8Array
  encryptionKey: Uint8Array
  capabilities: Required<Omit<Capabilities, 'grease'>>
  extensions: Extension[]
  /** How the leaf got its content: from a key package, an update proposal, or a commit's update path. */
  source: 'keyPackage' | 'update' | 'commit'
  /** The lifetime, for leaves from a key package. */
  lifetime?: { notBefore: number; notAfter: number }
}

/** @internal */
export function leafNodeFromNative(n: NativeLeafNode): LeafNode {
  const c = n.capabilities
  return {
    credential: credentialFromNative(n.credential),
    signatureKey: n.signatureKey,
    encryptionKey: n.encryptionKey,
    capabilities: {
      versions: c.versions ?? [],
      ciphersuites: c.ciphersuites ?? [],
      extensions: c.extensions ?? [],
      proposals: c.proposals ?? [],
      credentials: c.credentials ?? [],
    },
    extensions: n.extensions.map(extensionFromNative),
    source: n.source as LeafNode['source'],
    ...(n.lifetime ? { lifetime: lifetimeFromNative(n.lifetime) } : {}),
  }
}

/** @internal */
export function lifetimeToNative(l: Lifetime | undefined): { notBefore?: number; notAfter?: number; validForSeconds?: number } | undefined {
  if (l === undefined) return undefined
  return 'validForSeconds' in l
    ? { validForSeconds: seconds(l.validForSeconds, 'lifetime.validForSeconds') }
    : { notBefore: seconds(l.notBefore, 'lifetime.notBefore'), notAfter: seconds(l.notAfter, 'lifetime.notAfter') }
}

/** @internal */
export function capabilitiesToNative(c: Capabilities | undefined): Capabilities | undefined {
  if (c === undefined) return undefined
  return {
    versions: integers(c.versions, 'capabilities.versions', 0, U16),
    ciphersuites: integers(c.ciphersuites, 'capabilities.ciphersuites', 0, U16),
    extensions: integers(c.extensions, 'capabilities.extensions', 0, U16),
    proposals: integers(c.proposals, 'capabilities.proposals', 0, U16),
    credentials: integers(c.credentials, 'capabilities.credentials', 0, U16),
    grease: c.grease,
  }
}
