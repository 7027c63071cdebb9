// A member of a group, and the check a credential validator runs over members.
import type { NativeMember } from '../index.js'
import { credentialFromNative, type Credential } from './credential.js'
import { OpenMlsError, validatorFailed } from './errors.js'

/** A member of a group (generated from the Rust binding, with its {@link Credential} object). */
export type Member = Omit<NativeMember, 'credential'> & { credential: Credential }

/** @internal */
export function memberFromNative(m: NativeMember): Member {
  return { index: m.index, credential: credentialFromNative(m.credential), signatureKey: m.signatureKey, encryptionKey: m.encryptionKey }
}

/**
 * Decides whether a credential is acceptable (the book's "Credential validation"): the application
 * checks it against its Authentication Service. `context` says where it was found.
 */
export type CredentialValidator = (
  credential: Credential,
  context: { source: 'welcome' | 'commit'; signatureKey?: Uint8Array; groupId: Uint8Array },
) => boolean | Promise<boolean>

/**
 * Asks `validator` about every member of a Welcome's group, in leaf order. Throws
 * `ERR_CREDENTIAL_REJECTED` on the first refusal, `ERR_VALIDATOR_FAILED` (its error as the
 * `cause`) if the validator throws. @internal
 */
export async function validateWelcomeMembers(members: Member[], validator: CredentialValidator, groupId: Uint8Array): Promise<void> {
  for (const m of members) {
    let verdict: unknown
    try {
      verdict = await validator(m.credential, { source: 'welcome', signatureKey: m.signatureKey, groupId })
    } catch (error) {
      throw validatorFailed(error)
    }
    if (verdict !== true) {
      throw new OpenMlsError('ERR_CREDENTIAL_REJECTED', `the credential of member ${m.index} was rejected; the Welcome cannot become a group`)
    }
  }
}
