// A member's runtime configuration (the book's "Group configuration"), and its check before it
// crosses to the native layer.
import type {
  MlsGroupJoinConfig as GeneratedMlsGroupJoinConfig,
  SenderRatchetConfiguration as GeneratedSenderRatchetConfiguration,
  WireFormatPolicy as GeneratedWireFormatPolicy,
} from '../index.js'
import { OpenMlsError } from './errors.js'
import { native } from './native.js'
import { integer, optionalInteger, U32 } from './numbers.js'
import type { Ciphersuite } from './ciphersuite.js'
import type { Capabilities, Extension, Lifetime } from './extensions.js'

/**
 * Which wire formats a member sends and accepts for handshake messages (application messages are
 * always encrypted): `pureCiphertext` (default), `purePlaintext`, `mixedCiphertext` (send
 * encrypted, accept both) or `mixedPlaintext` (send plaintext, accept both).
 */
export type WireFormatPolicy = GeneratedWireFormatPolicy

/** Sender ratchet tolerance (openmls `SenderRatchetConfiguration`; generated from the Rust binding). */
export type SenderRatchetConfiguration = GeneratedSenderRatchetConfiguration

/**
 * A member's runtime configuration (openmls `MlsGroupJoinConfig`, the book's "Group
 * configuration"; generated from the Rust binding). Omitted fields take openmls's defaults.
 */
export type MlsGroupJoinConfig = GeneratedMlsGroupJoinConfig

/** Everything a group is created with (openmls `MlsGroupCreateConfig`). */
export interface MlsGroupCreateConfig extends MlsGroupJoinConfig {
  /** The ciphersuite. Default: `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`. */
  ciphersuite?: Ciphersuite
  /** The creator's leaf lifetime. */
  lifetime?: Lifetime
  /** Group context extensions (RequiredCapabilities, ExternalSenders, custom ones, ...). */
  groupContextExtensions?: Extension[]
  /** The creator's leaf node extensions. */
  leafNodeExtensions?: Extension[]
  /** The creator's leaf capabilities (list custom extension and proposal types here). */
  capabilities?: Capabilities
}

/** A group's runtime configuration, as read back from it: every field is set. */
export type MlsGroupJoinConfigValues = Required<Omit<MlsGroupJoinConfig, 'maxPastEpochs'>> & { maxPastEpochs?: number }

/** @internal */
export function joinConfigToNative(c: MlsGroupJoinConfig | undefined) {
  if (!c) return undefined
  const ratchet = c.senderRatchetConfiguration
  return {
    wireFormatPolicy: wireFormatPolicy(c.wireFormatPolicy),
    paddingSize: optionalInteger(c.paddingSize, 'paddingSize', 0, U32),
    maxPastEpochs: optionalInteger(c.maxPastEpochs, 'maxPastEpochs', 0, U32),
    keepAllPastEpochs: c.keepAllPastEpochs,
    numberOfResumptionPsks: optionalInteger(c.numberOfResumptionPsks, 'numberOfResumptionPsks', 0, U32),
    useRatchetTreeExtension: c.useRatchetTreeExtension,
    senderRatchetConfiguration: ratchet && {
      outOfOrderTolerance: integer(ratchet.outOfOrderTolerance, 'senderRatchetConfiguration.outOfOrderTolerance', 0, U32),
      maximumForwardDistance: integer(ratchet.maximumForwardDistance, 'senderRatchetConfiguration.maximumForwardDistance', 0, U32),
    },
  }
}

/** The policies, as generated from the Rust enum. */
const POLICIES: readonly string[] = Object.values((native as unknown as { WireFormatPolicy: Record<string, WireFormatPolicy> }).WireFormatPolicy)

/** Checks a wire-format policy, naming the choices (the native check would name its Rust types). */
function wireFormatPolicy(policy: unknown): WireFormatPolicy | undefined {
  if (policy === undefined || POLICIES.includes(policy as string)) return policy as WireFormatPolicy | undefined
  throw new OpenMlsError('ERR_INVALID_ARGUMENT', `wireFormatPolicy must be one of ${POLICIES.map((p) => `'${p}'`).join(', ')}`)
}
