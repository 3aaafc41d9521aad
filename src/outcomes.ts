/**
 * Every way a run can end, one builder each, with the message that says truthfully what state the
 * password is in and what the reader should do. The flow picks one; nothing else writes a verdict.
 */
import { errorText } from './errors.ts'
import type { ReadTime } from './github-secrets.ts'
import { RUN_IN_PROGRESS_MS, type LockoutDecision } from './rotation-state.ts'
import type { Target, Visibility } from './targets.ts'
import type { ThingSpaceError } from './thingspace.ts'

export type Result = 'rotated' | 'not-due' | 'dry-run' | 'failed-unchanged' | 'failed-changed' | 'failed-unknown'

export interface Verdict {
  result: Result
  /** False when the step must fail (every failed-* result, and a rotation whose verify login failed). */
  ok: boolean
  message: string
  recoveryCiphertext?: string
  /** With alternating usernames: the previous active password, sealed to the recovery key, when it could not be kept as the standby. */
  standbyCiphertext?: string
  /** Nobody can read the new password, if there is one: the summary lists the commands that store one set by hand. */
  restoreByHand?: boolean
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
  /** Written again after this run's store (another rotation, a person): restoring this run's password there could overwrite a newer one. */
  writtenAgain?: boolean
}

export interface Outcome extends Verdict {
  targets: TargetReport[]
  /** The username consumers use after the run. */
  activeUsername?: string
  /** With alternating usernames: both usernames and when each password was last reset (ISO times, or 'unknown'). */
  usernames?: { active: string; activeResetAt: string; standby: string; standbyResetAt: string; name: string; kind: 'variable' | 'secret' }
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

  /** Another rotation stored a password after this job read its secrets: this run changed nothing and cannot vouch for that one. */
  staleInput: (labels: string[], secretName: string, readAt: ReadTime, tokenRequested: boolean): Verdict => ({
    result: 'failed-unknown',
    ok: false,
    message:
      `This run did not change the password, and ${contacted(tokenRequested, false)}: ${labels.join(', ')} had ${secretName} updated after this ${readAt.of === 'job' ? 'job' : 'workflow run'} started (${readAt.at.toISOString()}), ` +
      `so another rotation (or a person) replaced the password this job read. Logging in with the old one could count toward the 5-failure lockout. ` +
      `That rotation's result says whether the new password is stored in every target; a new workflow run reads the current secret.`
  }),

  /** Another run of the action may be rotating this username right now: this one stops before logging in. */
  anotherRunAtWork: (s: { recordedAt?: Date; recordName: string; where: string }): Verdict => ({
    result: 'failed-unknown',
    ok: false,
    message:
      `This run did not change the password and sent no login: ${
        s.recordedAt
          ? `another run wrote ${s.recordName} to ${s.where} at ${s.recordedAt.toISOString()} (a run records its login there before sending it), and no new password has been stored since`
          : `another run wrote ${s.recordName} to ${s.where} after this run read it`
      }, so another rotation of this username may be at work right now (or one failed moments ago). ` +
      `Its result says what happened. If no other run is under way, wait ${RUN_IN_PROGRESS_MS / 60_000} minutes and start the workflow again: a run started by hand then logs in once.`
  }),

  lockoutStop: (
    decision: Extract<LockoutDecision, { kind: 'stop' | 'try-once' }>,
    recordName: string,
    home: string,
    secret: { name: string; where: string },
    tokenRequested: boolean
  ): Verdict =>
    unchanged(
      `The password was not changed, and ${contacted(tokenRequested, false)}: a login with this password was refused, or may have been counted without an answer, at ${decision.recordedAt.toISOString()} ` +
        `(recorded in the ${recordName} secret of ${home}), and ${secret.name} has not been updated ${secret.where} since. ` +
        `Another failed login would count toward the 5-failure lockout, so runs nobody started by hand stop here. Store the current password in ${secret.name} (or start the workflow by hand to try once).`
    ),

  /** A login the user service refused, or one that may have counted without a usable answer; it is recorded in the home target. */
  loginSpent: (
    error: ThingSpaceError,
    s: {
      attempts: number
      username: string
      recordName: string
      home: string
      secretName: string
      storedAt: number
      standby: boolean
      /** An earlier run's reset whose answer was lost, recorded and in force. */
      lostReset?: { at: Date; recordName: string }
    }
  ): Verdict => {
    const refused = error.kind === 'refused' || error.kind === 'unrecognised'
    const what = refused
      ? `ThingSpace refused the login for ${s.username} (${error.message}); it was not retried`
      : `the login for ${s.username} got no usable answer (${error.message}) after ${plural(s.attempts, 'attempt')}, and ThingSpace may have counted ${s.attempts === 1 ? 'it' : 'each'} as a failed login`
    let likely = ''
    if (refused && s.lostReset) {
      likely =
        ` Most likely the reset whose answer was lost (recorded in ${s.lostReset.recordName} at ${s.lostReset.at.toISOString()}) took effect: the password changed and the new one was never received. ` +
        `Log in to the ThingSpace portal as ${s.username} (or ask Verizon M2M support) and set a known password.`
    } else if (refused && s.storedAt > 0) {
      likely =
        ` ${s.secretName} was last stored at ${new Date(s.storedAt).toISOString()}: most likely the password changed after that and the new one never reached the secret ` +
        `(a run that ended failed-unknown, a reset in the ThingSpace portal), or the secret holds a wrong password.`
    } else if (refused) {
      // The standby's password secret is kept in the home target only.
      likely = s.standby
        ? ` ${s.home} holds no ${s.secretName} yet: check the standby-password input.`
        : ` No target holds ${s.secretName} yet: check the password input.`
    }
    return unchanged(
      `The password was not changed by this run: ${what}. 5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ` +
        `Runs nobody started by hand will not log in again until ${s.secretName} is updated (recorded in ${s.recordName} of ${s.home}).${likely} ` +
        `Store the current password in ${s.secretName} (a failed login in the ThingSpace portal also counts toward the lockout) before running again.`
    )
  },

  /** A login refused while another rotation moved the password secret: the refusal concerned a password the secret no longer holds. */
  loginRefusedSecretMoved: (error: ThingSpaceError, username: string, moved: string[], secretName: string): Verdict => ({
    result: 'failed-unknown',
    ok: false,
    message:
      `This run did not change the password, but another rotation did while it ran: ThingSpace refused the login for ${username} with the password this job read (${error.message}), ` +
      `and meanwhile ${secretName} was updated in ${moved.join(', ')}. This run wrote nothing to ${secretName} and recorded no failed login for the password it holds now. ` +
      `The other run's result says whether the new password is stored in every target.`
  }),

  /** A login that failed without reaching the user service (gateway, OAuth, network). */
  loginFailed: (error: unknown, earlierCounted = 0, recordName = ''): Verdict =>
    unchanged(
      earlierCounted > 0
        ? `The password was not changed: ${errorText(error)}. An earlier login of this run may have been counted toward the lockout (recorded in ${recordName}).`
        : `The password was not changed: ${errorText(error)}. No failed login was counted, so a new run may try again.`
    ),

  failedBeforeReset: (error: unknown, loginSent: boolean, tokenRequested: boolean): Verdict =>
    unchanged(`The password was not changed, and ${contacted(tokenRequested, loginSent)}: ${errorText(error)}`),

  proofFailed: (failures: string[], stateName: string, tokenRequested: boolean): Verdict =>
    unchanged(
      `The password was not changed, and ${contacted(tokenRequested, false)}: not every target accepted a write of ${stateName} (the proof that its secrets can be written), so nothing irreversible was tried.\n${failures.join('\n')}`
    ),

  dryRun: (stateName: string): Verdict => ({
    result: 'dry-run',
    ok: true,
    message: `Dry run: the login with the password this job read succeeded, and every target accepted a write of ${stateName}. The password was not changed, and nothing a consumer reads was written.`
  }),

  cancelledBeforeReset: (signal: string, loginSent: boolean, tokenRequested: boolean): Verdict =>
    unchanged(
      `The password was not changed: the runner cancelled the step (${signal}) before the reset was sent, and ${contacted(tokenRequested, loginSent)}.`
    ),

  /** The reset never reached the user service (gateway, token, network), or the session was no longer valid: nothing changed. */
  resetNotProcessed: (error: ThingSpaceError, sessionProblem: boolean): Verdict =>
    unchanged(
      `The password was not changed: the reset was not processed (${error.message}).${sessionProblem ? ' The session was no longer valid.' : ''} A new run may start at once.`
    ),

  /**
   * The user service refused the reset right after a login with the same password succeeded: most
   * likely another rotation changed the password meanwhile (ThingSpace's codes for a wrong oldPassword
   * are not documented, so the action cannot tell it apart from other refusals).
   */
  resetRefusedAfterLogin: (error: ThingSpaceError, username: string, secretName: string): Verdict => ({
    result: 'failed-unknown',
    ok: false,
    message:
      `This run did not change the password: ThingSpace refused its reset (${error.message}) right after a login as ${username} with the same password succeeded, ` +
      `which most likely means another rotation changed the password meanwhile. This run wrote nothing to ${secretName} and recorded no failed login. ` +
      `The other run's result says whether the new password is stored in every target; if no run rotated it, log in to the ThingSpace portal before running again.`
  }),

  /**
   * `standby`: with alternating usernames, the reset was the standby's, whose password only the home target's standby secret holds.
   * `recorded`: where the lost reset was recorded for the next run, or why that failed (the login record then stays).
   */
  resetUnknown: (
    what: string,
    username: string,
    standby: { secretName: string; home: string } | undefined,
    recorded: { recordName: string; stateName: string; home: string; failed?: string }
  ): Verdict => ({
    result: 'failed-unknown',
    ok: false,
    restoreByHand: standby === undefined,
    message:
      `The reset request was sent, but its outcome cannot be known (${what}). The old password may no longer work, and the new one, if any, was never received. ` +
      (recorded.failed === undefined
        ? `Recorded in ${recorded.recordName} of ${recorded.home}: the next run is due whatever min-age-days says and logs in once to find out; a refused login counts toward the 5-failure lockout, so do not start runs to check. `
        : `Recording that in ${recorded.recordName} failed (${recorded.failed}), so the record of this run's login stays in ${recorded.stateName} of ${recorded.home}: ` +
          `runs nobody started by hand will not log in until ${standby?.secretName ?? 'the password secret'} is updated. `) +
      (standby
        ? `Consumers are not affected: they use the other username. Log in to the ThingSpace portal as ${username} (or ask Verizon M2M support), set a known password, and store it in ${standby.secretName} of ${standby.home}.`
        : `Log in to the ThingSpace portal as ${username} (or ask Verizon M2M support), set a known password, and store it in every target by hand.`)
  }),

  rotated: (verified: boolean, swap?: { active: string; standby: string }): Verdict => ({
    result: 'rotated',
    ok: true,
    message: swap
      ? `The password of ${swap.active} was changed, and ${swap.active} with its new password is now the active pair in every target${verified ? ' (it logs in)' : ''}; ` +
        `${swap.standby}, unchanged and still valid, is the standby, so copies of it keep working until the next rotation.`
      : `The password was changed and the new one is stored in every target${verified ? ', and it logs in' : ''}.`
  }),

  /** With alternating usernames: a reset of the standby username now could break consumers. */
  pairsDisagree: (problems: string[], standbyUsername: string, tokenRequested: boolean): Verdict =>
    unchanged(
      `The password was not changed, and ${contacted(tokenRequested, false)}: resetting ${standbyUsername} now could break the consumers of some target.\n${problems.join('\n')}\n` +
        `Store the active pair in those targets (the summary of the rotation that stored it lists the commands), or remove them from the targets, then run again.`
    ),

  rotatedVerifyFailed: (problem: string): Verdict => ({
    result: 'rotated',
    ok: false,
    message: `The password was changed and stored in every target, but ${problem}`
  }),

  /** The verify login with the new password was refused after every store: most likely another reset replaced it. */
  superseded: (
    error: unknown,
    s: { holders?: string[]; laterWritten: string[]; recorded: { recorded: boolean; why?: string }; recordName: string; home: string }
  ): Verdict => {
    const where =
      s.holders === undefined ? 'stored in every target' : s.holders.length > 0 ? `stored only in ${s.holders.join(', ')}` : 'stored in no target'
    const later =
      s.laterWritten.length > 0
        ? ` ${s.laterWritten.join(', ')} ${s.laterWritten.length === 1 ? 'was' : 'were'} written again after this run's store.`
        : ''
    const record = s.recorded.recorded
      ? ` Runs nobody started by hand will not log in until the password secret is updated (recorded in ${s.recordName} of ${s.home}).`
      : s.recorded.why
        ? ` Recording that login in ${s.recordName} failed (${s.recorded.why}).`
        : ''
    return {
      result: 'failed-unknown',
      ok: false,
      message:
        `The password was changed by this run and ${where}, but the verify login with it was then refused (${errorText(error)}; not retried): ` +
        `most likely another rotation reset the password again after this one, and targets that hold this run's password hold one that no longer works.${later}${record} ` +
        `Check the other run's result; if no run rotated it, log in to the ThingSpace portal as the user, set a known password and store it in every target.`
    }
  },

  /** The reset succeeded and some target does not hold the new password. */
  notStoredEverywhere: (s: {
    holders: string[]
    failed: string[]
    /** Writes cut by the deadline, or failed without a 4xx: they may have landed. */
    unknown: string[]
    /** Targets written again after this run's store, by another rotation or by hand. */
    laterWritten?: string[]
    recoveryCiphertext: string | undefined
    recoveryKeyGiven: boolean
    /** With alternating usernames: the previous pair could not be kept as the standby in the home target. */
    standbyLost?: { home: string; username: string; why: string; ciphertext: string | undefined }
    /** What went wrong with the verify login after the stores, if anything (and whether it was recorded). */
    verifyProblem?: string
  }): Verdict => {
    const confirmed = s.unknown.length > 0 ? ' confirmed' : ''
    const everywhere = s.failed.length === 0 && s.unknown.length === 0 && (s.laterWritten ?? []).length === 0
    const where = everywhere
      ? 'The new password is stored in every target.'
      : s.holders.length > 0
        ? `The new password is${confirmed} stored only in ${s.holders.join(', ')}.`
        : `The new password is${confirmed} stored in no target.`
    const failed = s.failed.length > 0 ? ` Not stored in: ${s.failed.join(', ')}.` : ''
    const later = s.laterWritten ?? []
    const laterText =
      later.length > 0
        ? ` Written again after this run stored it (by another rotation or by hand; the value there may not log in): ${later.join(', ')}.`
        : ''
    const unknown =
      s.unknown.length > 0
        ? ` Unknown (no answer came, or the step was cancelled before it did; the write may have landed: check the secret's updated time): ${s.unknown.join(', ')}.`
        : ''
    let escrow: string
    if (s.recoveryCiphertext) {
      escrow =
        ' It is in the recovery-ciphertext output and the job summary, sealed to your recovery key: the summary lists the commands that open it (`node dist/recovery/index.js open --key-file`) and store it in each target that lacks it.'
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
    const standby = s.standbyLost
      ? ` The previous pair (${s.standbyLost.username}, whose password was not changed and still works) could not be kept as the standby in ${s.standbyLost.home} (${s.standbyLost.why}): ` +
        (s.standbyLost.ciphertext
          ? 'its password is in the job summary, sealed to your recovery key; store it and the username in the standby pair by hand.'
          : `store it by hand (reset ${s.standbyLost.username}'s password in the ThingSpace portal if nobody has it).`)
      : ''
    return {
      result: 'failed-changed',
      ok: false,
      message: `The password WAS changed: the old one no longer works. ${where}${failed}${laterText}${unknown}${escrow}${standby}${s.verifyProblem ? ` Also, ${s.verifyProblem}` : ''}`,
      recoveryCiphertext: s.recoveryCiphertext,
      standbyCiphertext: s.standbyLost?.ciphertext,
      // By hand only where some target lacks the new password and nobody can read it (a lost standby alone needs none).
      restoreByHand: s.recoveryCiphertext === undefined && !everywhere
    }
  },

  unexpected: (error: unknown, resetSent: boolean): Verdict =>
    resetSent
      ? {
          result: 'failed-unknown',
          ok: false,
          restoreByHand: true,
          message: `An unexpected error after the reset request was sent (${errorText(error)}): the password may have changed, and the new one may not be stored. Check the targets before running again; if no target logs in, reset the password in the ThingSpace portal.`
        }
      : unchanged(`The password was not changed: an unexpected error before the reset was sent (${errorText(error)}).`)
}
