import { credentialFromNative, credentialToNative, type Credential } from './credential.js'
import { integer, integers, seconds, U16 } from './numbers.js'
import type { Extension as GeneratedExtension, LeafNodeSource, NativeLeafNode } from '../index.js'
import { OpenMlsError } from './errors.js'

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
 *
 * Generated from the Rust binding; only `externalSenders` differs, carrying {@link Credential}
 * objects where the binding carries their serialized form.
 */
export type Extension = Exclude<GeneratedExtension, { type: 'externalSenders' }> | { type: 'externalSenders'; senders: ExternalSender[] }

const EXTENSION_TYPES: ReadonlySet<string> = new Set<Extension['type']>([
  'applicationId',
  'requiredCapabilities',
  'externalPub',
  'externalSenders',
  'lastResort',
  'ratchetTree',
  'unknown',
])

/**
 * Checks an extension from the caller (the type first, so the error names the choices; the
 * ranges of its numbers) and gives the binding its credentials. @internal
 */
export function extensionToNative(e: Extension): GeneratedExtension {
  if (!EXTENSION_TYPES.has((e as { type?: unknown } | null)?.type as string)) {
    throw new OpenMlsError('ERR_INVALID_ARGUMENT', `unknown extension type ${JSON.stringify((e as { type?: unknown } | null)?.type)}; one of: ${[...EXTENSION_TYPES].join(', ')}`)
  }
  switch (e.type) {
    case 'requiredCapabilities':
      return {
        type: e.type,
        extensionTypes: codePoints(e.extensionTypes, 'requiredCapabilities.extensionTypes'),
        proposalTypes: codePoints(e.proposalTypes, 'requiredCapabilities.proposalTypes'),
        credentialTypes: codePoints(e.credentialTypes, 'requiredCapabilities.credentialTypes'),
      }
    case 'externalSenders':
      return { type: e.type, senders: e.senders.map((s) => ({ signatureKey: s.signatureKey, credential: credentialToNative(s.credential) })) }
    case 'unknown':
      return { type: e.type, extensionType: integer(e.extensionType, 'extensionType', 0, U16), data: e.data }
    default:
      return e
  }
}

/** A list of 16-bit code points; an omitted list is empty. */
const codePoints = (list: number[] | undefined, name: string): number[] => integers(list ?? [], name, 0, U16) ?? []

/** @internal */
export function extensionsToNative(list: Extension[] | undefined): GeneratedExtension[] | undefined {
  return list?.map(extensionToNative)
}

/** Gives an extension from the binding its {@link Credential} objects. @internal */
export function extensionFromNative(n: GeneratedExtension): Extension {
  return n.type === 'externalSenders' ? { type: n.type, senders: n.senders.map((s) => ({ signatureKey: s.signatureKey, credential: credentialFromNative(s.credential) })) } : n
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
  source: LeafNodeSource
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
    source: n.source,
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
