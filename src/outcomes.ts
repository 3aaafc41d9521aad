/**
 * Every way a run can end, one builder each, with the message that says truthfully what state the
 * password is in and what the reader should do. The flow picks one; nothing else writes a verdict.
 */
import { errorText } from './errors.ts'
import type { Target, Visibility } from './targets.ts'
import type { ThingSpaceError } from './thingspace.ts'

export type Result = 'rotated' | 'not-due' | 'dry-run' | 'failed-unchanged' | 'failed-changed' | 'failed-unknown'

export interface Verdict {
  result: Result
  /** False when the step must fail (every failed-* result, and a rotation whose verify login failed). */
  ok: boolean
  message: string
  recoveryCiphertext?: string
}

export interface TargetReport {
  label: string
  /** The target itself, for the recovery commands the summary lists. */
  target?: Target
  /** An organization secret's visibility and selected repositories (by name), as the run found or set them. */
  visibility?: Visibility
  selectedRepositories?: string[]
  /** What the target held before the run: when its secret was last updated, or that it had none. */
  before: string
  /** What happened to it in this run, in words. */
  outcome: string
  holdsNewPassword: boolean
}

export interface Outcome extends Verdict {
  targets: TargetReport[]
}

const unchanged = (message: string): Verdict => ({ result: 'failed-unchanged', ok: false, message })
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** Which ThingSpace requests a run that stopped early had sent, in words. */
export function contacted(tokenRequested: boolean, loginSent: boolean): string {
  if (loginSent) return 'a login was attempted'
  return tokenRequested ? 'no login was attempted (only the OAuth token was requested)' : 'ThingSpace was not contacted'
}

export const verdicts = {
  inputError: (message: string): Verdict => unchanged(`${message}. Nothing was sent; the password was not changed.`),

  readFailed: (failures: string[], tokenRequested: boolean): Verdict =>
    unchanged(
      `The password was not changed, and ${contacted(tokenRequested, false)}: not every target can be read, so none was written.\n${failures.join('\n')}`
    ),

  notDue: (secretName: string, minAgeDays: number): Verdict => ({
    result: 'not-due',
    ok: true,
    message: `Not due: every target holds ${secretName}, updated within the last ${plural(minAgeDays, 'day')}. ThingSpace was not contacted.`
  }),

  staleInput: (labels: string[], secretName: string, runStart: Date, tokenRequested: boolean): Verdict =>
    unchanged(
      `The password was not changed, and ${contacted(tokenRequested, false)}: ${labels.join(', ')} had ${secretName} updated after this workflow run started (${runStart.toISOString()}), ` +
        `so the password input is probably stale (another rotation already replaced it). Logging in with it could count toward the 5-failure lockout. Start a new workflow run, which reads the current secret.`
    ),

  lockoutStop: (markedAt: Date, markerName: string, markerTarget: string, secretName: string, tokenRequested: boolean): Verdict =>
    unchanged(
      `The password was not changed, and ${contacted(tokenRequested, false)}: a login with this password was refused, or may have been counted without an answer, at ${markedAt.toISOString()} ` +
        `(recorded in the ${markerName} secret of ${markerTarget}), and ${secretName} has not been updated in any target since. ` +
        `Another failed login would count toward the 5-failure lockout, so runs nobody started by hand stop here. Store the current password in ${secretName} (or start the workflow by hand to try once).`
    ),

  /** A login the user service refused, or one that may have counted without an answer. */
  loginSpent: (
    error: ThingSpaceError,
    attempts: number,
    username: string,
    record: { markerName: string; recorded: boolean; why?: string }
  ): Verdict => {
    const refused = error.kind === 'refused'
    const what = refused
      ? `ThingSpace refused the login for ${username} (${error.message}); it was not retried`
      : `the login for ${username} got no usable answer (${error.message}) after ${plural(attempts, 'attempt')}, and ThingSpace may have counted ${attempts === 1 ? 'it' : 'each'} as a failed login`
    const recorded = record.recorded
      ? `Runs nobody started by hand will not log in again until the password secret is updated (recorded in ${record.markerName}). `
      : `Recording this in ${record.markerName} failed (${record.why ?? 'unknown'}), so a later run could try again: fix the token's permissions or disable the schedule. `
    return unchanged(
      `The password was not changed: ${what}. 5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ${recorded}` +
        `Check that the password secret holds the current password (a failed login in the ThingSpace portal also counts toward the lockout) before running again.`
    )
  },

  /** An unattended run could not record its login ahead, so it did not log in. */
  markerUnwritable: (markerName: string, target: string, why: string | undefined, loginSent = false): Verdict =>
    unchanged(
      `The password was not changed, and ${contacted(true, loginSent)}${loginSent ? ' earlier, but not the next one' : ''}: a run nobody started by hand records each login in ${markerName} before sending it, ` +
        `so that a failure it cannot report still stops the next run, and writing ${markerName} to ${target} failed (${why ?? 'unknown'}). ` +
        `Give the github-token write access to the targets' secrets (see the README's token table).`
    ),

  /** A login that failed without reaching the user service (gateway, OAuth, network), or a malformed answer. */
  loginFailed: (error: unknown, earlierCounted = 0, markerName = ''): Verdict =>
    unchanged(
      earlierCounted > 0
        ? `The password was not changed: ${errorText(error)}. An earlier login of this run may have been counted toward the lockout (recorded in ${markerName}).`
        : `The password was not changed: ${errorText(error)}. No failed login was counted, so a new run may try again.`
    ),

  failedBeforeReset: (error: unknown, loginSent: boolean, tokenRequested: boolean): Verdict =>
    unchanged(`The password was not changed, and ${contacted(tokenRequested, loginSent)}: ${errorText(error)}`),

  proofFailed: (failures: string[]): Verdict =>
    unchanged(`The password was not changed: not every target can be written, so the reset was not sent.\n${failures.join('\n')}`),

  dryRun: (): Verdict => ({
    result: 'dry-run',
    ok: true,
    message: 'Dry run: the login works and every target accepted a write of the current password. The password was not changed.'
  }),

  cancelledBeforeReset: (signal: string, loginSent: boolean, tokenRequested: boolean, unrecorded?: { markerName: string; why: string }): Verdict =>
    unchanged(
      `The password was not changed: the runner cancelled the step (${signal}) before the reset was sent, and ${contacted(tokenRequested, loginSent)}.` +
        (unrecorded
          ? ` ThingSpace may have counted that login, and recording it in ${unrecorded.markerName} failed (${unrecorded.why}), so a later run could log in again: check the password secret first.`
          : '')
    ),

  /** The reset did not reach the user service, or it refused it: the old password still works. */
  resetNotProcessed: (error: ThingSpaceError, sessionProblem: boolean): Verdict =>
    unchanged(
      `The password was not changed: the reset was not processed (${error.message}).${sessionProblem ? ' The session was no longer valid.' : ''} ` +
        `The targets still hold the current password, and a new run may start at once.`
    ),

  resetUnknown: (what: string, username: string): Verdict => ({
    result: 'failed-unknown',
    ok: false,
    message:
      `The reset request was sent, but its outcome cannot be known (${what}). The old password may no longer work, and the new one, if any, was never received. ` +
      `Do not re-run this workflow: a login with a replaced password counts toward the 5-failure lockout. ` +
      `Log in to the ThingSpace portal as ${username} (or ask Verizon M2M support), set a known password, and store it in every target by hand.`
  }),

  rotated: (verified: boolean): Verdict => ({
    result: 'rotated',
    ok: true,
    message: `The password was changed and the new one is stored in every target${verified ? ', and it logs in' : ''}.`
  }),

  rotatedVerifyFailed: (problem: string): Verdict => ({
    result: 'rotated',
    ok: false,
    message: `The password was changed and stored in every target, but ${problem}`
  }),

  /** The reset succeeded and some target does not hold the new password. */
  notStoredEverywhere: (s: {
    holders: string[]
    failed: string[]
    /** Writes cut by the deadline, or failed without a 4xx: they may have landed. */
    unknown: string[]
    recoveryCiphertext: string | undefined
    recoveryKeyGiven: boolean
  }): Verdict => {
    const confirmed = s.unknown.length > 0 ? ' confirmed' : ''
    const where =
      s.holders.length > 0
        ? `The new password is${confirmed} stored only in ${s.holders.join(', ')}.`
        : `The new password is${confirmed} stored in no target.`
    const failed = s.failed.length > 0 ? ` Not stored in: ${s.failed.join(', ')}.` : ''
    const unknown =
      s.unknown.length > 0
        ? ` Unknown (no answer came, or the step was cancelled before it did; the write may have landed: check the secret's updated time): ${s.unknown.join(', ')}.`
        : ''
    let escrow: string
    if (s.recoveryCiphertext) {
      escrow =
        ' It is in the recovery-ciphertext output and the job summary, sealed to your recovery key: open it with `node dist/recovery/index.js open` and store it in the targets by hand.'
    } else if (s.recoveryKeyGiven) {
      escrow = ' Sealing it to the recovery-public-key did not finish, so there is no recovery-ciphertext.'
    } else {
      escrow = ' No recovery-public-key was given, so there is no recovery-ciphertext.'
    }
    if (s.holders.length > 0) escrow += ' Workflows can still use the secret in the targets that hold it.'
    else if (!s.recoveryCiphertext && s.unknown.length === 0)
      escrow += ' The new password is lost: reset the password in the ThingSpace portal (or ask Verizon M2M support) and store it by hand.'
    else if (!s.recoveryCiphertext)
      escrow +=
        ' If none of those writes landed, the new password is lost: reset the password in the ThingSpace portal (or ask Verizon M2M support) and store it by hand.'
    return {
      result: 'failed-changed',
      ok: false,
      message: `The password WAS changed: the old one no longer works. ${where}${failed}${unknown}${escrow}`,
      recoveryCiphertext: s.recoveryCiphertext
    }
  },

  unexpected: (error: unknown, resetSent: boolean): Verdict =>
    resetSent
      ? {
          result: 'failed-unknown',
          ok: false,
          message: `An unexpected error after the reset request was sent (${errorText(error)}): the password may have changed, and the new one may not be stored. Check the targets before running again; if no target logs in, reset the password in the ThingSpace portal.`
        }
      : unchanged(`The password was not changed: an unexpected error before the reset was sent (${errorText(error)}).`)
}
