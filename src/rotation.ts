/**
 * The rotation flow, and the rule it exists for: never lose the new password.
 *
 * Order of guarantees: read every target; stop if not due or if the password input is stale; log in;
 * prove every target writable (by writing the current, just-verified password); only then reset,
 * once; store the new password everywhere, and escrow it to the recovery key if any target fails.
 * Every path returns an Outcome that says truthfully what state the password is in.
 */
import type { Cancellation } from './cancellation.ts'
import type { GitHubSecrets, SealFn, TargetState } from './github-secrets.ts'
import type { Settings } from './inputs.ts'
import { ThingSpaceError, isSessionError, type Session, type ThingSpaceClient } from './thingspace.ts'

export type Result = 'rotated' | 'not-due' | 'dry-run' | 'failed-unchanged' | 'failed-changed' | 'failed-unknown'

export interface TargetReport {
  label: string
  /** What the target held before the run: when its secret was last updated, or that it had none. */
  before: string
  /** What happened to it in this run, in words. */
  outcome: string
  holdsNewPassword: boolean
}

export interface Outcome {
  result: Result
  /** False when the step must fail (every failed-* result, and a rotation whose verify login was refused). */
  ok: boolean
  message: string
  targets: TargetReport[]
  recoveryCiphertext?: string
}

export interface RotationDeps {
  thingspace: Pick<ThingSpaceClient, 'token' | 'login' | 'resetPassword' | 'logout'>
  github: Pick<GitHubSecrets, 'inspect' | 'write' | 'runStartedAt' | 'markerName'>
  seal: SealFn
  /** Starts loading the sealing library, to overlap the login's round trip rather than delay the first requests. */
  prepareSeal: () => void
  cancel: Cancellation
  now: () => number
  log: { info: (message: string) => void; warning: (message: string) => void }
}

const DAY_MS = 24 * 60 * 60 * 1000
/** A reset that has not answered by then is reported as unknown. */
const RESET_TIMEOUT_MS = 60_000

class DeadlineReached extends Error {}

export async function rotate(settings: Settings, deps: RotationDeps): Promise<Outcome> {
  return new Rotation(settings, deps).run()
}

class Rotation {
  private readonly s: Settings
  private readonly d: RotationDeps
  private readonly reports: TargetReport[]
  private states: TargetState[] = []
  private readonly openSessions = new Set<Session>()
  private lastThingSpaceActivity = 0

  constructor(settings: Settings, deps: RotationDeps) {
    this.s = settings
    this.d = deps
    this.reports = settings.targets.map((t) => ({ label: t.label, before: 'not read', outcome: 'not touched', holdsNewPassword: false }))
  }

  async run(): Promise<Outcome> {
    let session: Session
    try {
      const early = await this.readTargets()
      if (early) return this.outcome(early)
      const loggingIn = this.login()
      this.d.prepareSeal() // after the login is under way, so the library loads during its round trip
      session = await loggingIn
      const proofFailure = await this.proveWritable()
      if (proofFailure) return await this.closing(proofFailure)
      if (this.s.dryRun) {
        return await this.closing({
          result: 'dry-run',
          ok: true,
          message: `Dry run: the login works and every target accepted a write of the current password. The password was not changed.`
        })
      }
      session = await this.freshSession(session)
      this.d.cancel.enterCritical()
    } catch (error) {
      return this.closing(await this.beforeResetFailure(error))
    }
    return this.resetAndStore(session)
  }

  // Step 3: public keys and metadata for every target, the run's start time, and (when no due check
  // is needed) the OAuth token, all in one wave.
  private async readTargets(): Promise<Omit<Outcome, 'targets'> | undefined> {
    const { s, d } = this
    const token = s.minAgeDays === 0 ? d.thingspace.token() : undefined
    token?.catch(() => {}) // awaited in login(); this keeps an early failure from going unhandled meanwhile
    d.log.info(`Reading ${s.targets.length} target${s.targets.length === 1 ? '' : 's'} for secret ${s.secretName}`)
    const [inspected, runStart] = await d.cancel.guard(
      Promise.all([Promise.allSettled(s.targets.map((t, i) => d.github.inspect(t, i === 0))), this.runStart()])
    )
    const failures: string[] = []
    inspected.forEach((r, i) => {
      if (r.status === 'rejected') {
        failures.push(errorText(r.reason))
        this.reports[i].outcome = 'could not be read'
      } else {
        this.reports[i].before = r.value.existing ? `updated ${r.value.existing.updatedAt.toISOString()}` : 'no secret yet'
        this.reports[i].outcome = 'read'
      }
    })
    if (failures.length > 0) {
      return {
        result: 'failed-unchanged',
        ok: false,
        message: `The password was not changed: not every target can be read, so none was written and ThingSpace was not contacted.\n${failures.join('\n')}`
      }
    }
    this.states = inspected.map((r) => (r as PromiseFulfilledResult<TargetState>).value)
    for (const st of this.states) {
      if (st.visibility === 'selected' && st.selectedRepositoryIds?.length === 0) {
        d.log.warning(`${st.target.label}: ${s.secretName} will be visible to no repository until you select some in the organization's settings`)
      }
    }

    if (s.minAgeDays > 0) {
      const cutoff = d.now() - s.minAgeDays * DAY_MS
      const due = this.states.filter((st) => !st.existing || st.existing.updatedAt.getTime() <= cutoff)
      if (due.length === 0) {
        for (const r of this.reports) r.outcome = 'unchanged (not due)'
        return {
          result: 'not-due',
          ok: true,
          message: `Not due: every target holds ${s.secretName}, updated within the last ${s.minAgeDays} day${s.minAgeDays === 1 ? '' : 's'}. ThingSpace was not contacted.`
        }
      }
      d.log.info(`Due: ${due.map((st) => `${st.target.label} (${st.existing ? 'older than ' + s.minAgeDays + ' days' : 'no secret'})`).join(', ')}`)
    }

    if (runStart) {
      const newer = this.states.filter((st) => st.existing && st.existing.updatedAt.getTime() > runStart.getTime())
      if (newer.length > 0) {
        return {
          result: 'failed-unchanged',
          ok: false,
          message:
            `The password was not changed, and no login was attempted: ${newer.map((st) => st.target.label).join(', ')} had ${s.secretName} updated after this workflow run started (${runStart.toISOString()}), ` +
            `so the password input is probably stale (another rotation already replaced it). Logging in with it could count toward the 5-failure lockout. Start a new workflow run, which reads the current secret.`
        }
      }
    }
    return this.lockoutGuard()
  }

  /**
   * A login refused in an earlier run left a marker secret. Until a target's password secret is
   * updated after it, a scheduled run would only spend another of the 5 attempts before lockout, so
   * it stops. A run started otherwise (workflow_dispatch, by a person) tries once, with a warning.
   */
  private lockoutGuard(): Omit<Outcome, 'targets'> | undefined {
    const { s, d } = this
    const rejectedAt = this.states[0].rejectedAt
    if (!rejectedAt) return undefined
    const lastUpdate = Math.max(...this.states.map((st) => st.existing?.updatedAt.getTime() ?? 0))
    if (lastUpdate > rejectedAt.getTime()) return undefined
    if (s.eventName !== 'schedule') {
      d.log.warning(
        `ThingSpace refused a login with this password at ${rejectedAt.toISOString()} and ${s.secretName} has not been updated since; ` +
          `trying once because this run was started by ${s.eventName ?? 'hand'}, not by the schedule.`
      )
      return undefined
    }
    return {
      result: 'failed-unchanged',
      ok: false,
      message:
        `The password was not changed, and no login was attempted: ThingSpace refused this password at ${rejectedAt.toISOString()} ` +
        `(recorded in the ${d.github.markerName} secret of ${this.states[0].target.label}), and ${s.secretName} has not been updated in any target since. ` +
        `Another refused login would count toward the 5-failure lockout, so scheduled runs stop here. Store the current password in ${s.secretName} (or start the workflow by hand to try once).`
    }
  }

  /** The stale-password guard needs the run's start; without it (no permission, a local run) it warns and goes on. */
  private async runStart(): Promise<Date | undefined> {
    const { s, d } = this
    if (!s.repository || s.runId === undefined) return undefined
    try {
      return await d.github.runStartedAt(s.repository.owner, s.repository.repo, s.runId)
    } catch (error) {
      d.log.warning(`Skipping the stale-password check: ${errorText(error)}`)
      return undefined
    }
  }

  // Step 4: one login with the current password. A refusal is never retried (lockout).
  private async login(): Promise<Session> {
    const { s, d } = this
    const session = await d.cancel.guard(d.thingspace.login(s.username, s.password))
    this.openSessions.add(session)
    this.lastThingSpaceActivity = d.now()
    d.log.info(`Logged in to ThingSpace as ${s.username}`)
    return session
  }

  // Step 5: write the current password (which just logged in) into every target, proving each one
  // writable before anything irreversible happens.
  private async proveWritable(): Promise<Omit<Outcome, 'targets'> | undefined> {
    const { s, d } = this
    const written = await d.cancel.guard(Promise.allSettled(this.states.map((st) => d.github.write(st, s.password))))
    const failures: string[] = []
    written.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        this.reports[i].outcome = 'write proven (holds the current password)'
      } else {
        failures.push(errorText(r.reason))
        this.reports[i].outcome = 'not writable'
      }
    })
    if (failures.length === 0) {
      d.log.info(`Every target is writable`)
      return undefined
    }
    return {
      result: 'failed-unchanged',
      ok: false,
      message: `The password was not changed: not every target can be written, so the reset was not attempted.\n${failures.join('\n')}`
    }
  }

  /** A session idle past its lifetime gets one fresh login with the current (still valid) password. */
  private async freshSession(session: Session): Promise<Session> {
    const { d } = this
    const idle = d.now() - this.lastThingSpaceActivity
    const margin = Math.min(60_000, session.idleLifetimeMs / 4)
    if (idle < session.idleLifetimeMs - margin) return session
    d.log.info(`The ThingSpace session was idle for ${Math.round(idle / 1000)} s and may have expired; logging in again before the reset`)
    this.openSessions.delete(session)
    return this.login()
  }

  private async beforeResetFailure(error: unknown): Promise<Omit<Outcome, 'targets'>> {
    const { s } = this
    if ((error as Error)?.name === 'CancelledError') {
      return { result: 'failed-unchanged', ok: false, message: `The password was not changed: ${errorText(error)} before the reset was sent.` }
    }
    if (error instanceof ThingSpaceError && error.rejected && /\/session\/login/.test(error.message)) {
      const marked = await this.markRejected()
      return {
        result: 'failed-unchanged',
        ok: false,
        message:
          `The password was not changed: ThingSpace refused the login for ${s.username} (${error.message}). ` +
          `The login was not retried, because 5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ` +
          `${marked ? `Scheduled runs will not log in again until ${s.secretName} is updated (the refusal is recorded in ${this.d.github.markerName}). ` : ''}` +
          `Check that ${s.secretName} holds the current password (a failed login in the ThingSpace portal also counts toward the lockout) before running again.`
      }
    }
    return { result: 'failed-unchanged', ok: false, message: `The password was not changed: ${errorText(error)}` }
  }

  /** Records a refused login in every target (best effort), for the lockout guard of later runs. */
  private async markRejected(): Promise<boolean> {
    const { d } = this
    const note = `login refused at ${new Date(d.now()).toISOString()}`
    const written = await Promise.allSettled(this.states.map((st) => d.github.write(st, note, d.github.markerName)))
    return written.some((w) => w.status === 'fulfilled')
  }

  // Steps 7-10: from here on nothing is aborted; the only ways out are stored, escrowed, or said.
  private async resetAndStore(session: Session): Promise<Outcome> {
    const { s, d } = this
    d.log.info('Resetting the ThingSpace password')
    let newPassword: string
    try {
      newPassword = await this.untilDeadline(d.thingspace.resetPassword(session, s.password, RESET_TIMEOUT_MS))
      this.lastThingSpaceActivity = d.now()
    } catch (error) {
      return this.closing(this.resetFailure(error))
    }
    d.log.info('ThingSpace issued a new password; storing it in every target')

    let recovery: Promise<string | undefined> = Promise.resolve(undefined)
    if (s.recoveryPublicKey) recovery = d.seal(newPassword, s.recoveryPublicKey).catch(() => undefined)

    const pending = new Set(this.states.map((_, i) => i))
    const stored = this.states.map((st, i) =>
      d.github.write(st, newPassword).then(
        () => {
          pending.delete(i)
          this.reports[i].outcome = 'new password stored'
          this.reports[i].holdsNewPassword = true
        },
        (error) => {
          pending.delete(i)
          this.reports[i].outcome = `NOT stored, still holds the old password: ${errorText(error)}`
        }
      )
    )
    const logout = this.logout(session)
    const verify = s.verify && !d.cancel.cancelled ? this.verify(newPassword) : Promise.resolve(undefined)

    let cancelledWhileStoring = false
    try {
      await this.untilDeadline(Promise.all(stored))
    } catch {
      cancelledWhileStoring = true
      for (const i of pending) this.reports[i].outcome = 'unknown: the write was still in flight when the runner cancelled the step'
    }

    // The first session's logout and the verify login ran alongside the stores; wait for them too.
    const verifyProblem = cancelledWhileStoring
      ? undefined
      : await this.untilDeadline(Promise.all([verify, logout])).then(
          ([problem]) => problem,
          () => undefined
        )

    const holders = this.reports.filter((r) => r.holdsNewPassword)
    if (holders.length === this.reports.length) {
      if (verifyProblem) {
        return this.outcome({ result: 'rotated', ok: false, message: `The password was changed and stored in every target, but ${verifyProblem}` })
      }
      const verified = s.verify && !d.cancel.cancelled ? ', and it logs in' : ''
      return this.outcome({ result: 'rotated', ok: true, message: `The password was changed and the new one is stored in every target${verified}.` })
    }

    const recoveryCiphertext = await this.untilDeadline(recovery).catch(() => undefined)
    const unknown = [...pending].map((i) => this.reports[i].label)
    const missing = this.reports.filter((r, i) => !r.holdsNewPassword && !pending.has(i)).map((r) => r.label)
    const notStored = `${missing.length > 0 ? ` Not stored in: ${missing.join(', ')}.` : ''}${unknown.length > 0 ? ` Unknown (the write was in flight when the step was cancelled): ${unknown.join(', ')}.` : ''}`
    const where =
      holders.length > 0
        ? `The new password is stored only in ${holders.map((r) => r.label).join(', ')}.`
        : 'The new password is stored in no target.'
    let escrow: string
    if (recoveryCiphertext) {
      escrow =
        ' It is in the recovery-ciphertext output and the job summary, sealed to your recovery key: open it with `node dist/recovery/index.js open` and store it in the targets by hand.'
    } else if (s.recoveryPublicKey) {
      escrow = ' Sealing it to the recovery-public-key did not finish, so there is no recovery-ciphertext.'
    } else {
      escrow = ' No recovery-public-key was given, so there is no recovery-ciphertext.'
    }
    if (holders.length > 0) escrow += ' Workflows can still use the secret in the targets that hold it.'
    else if (!recoveryCiphertext)
      escrow += ' The new password is lost: reset the password in the ThingSpace portal (or ask Verizon M2M support) and store it by hand.'
    return this.outcome({
      result: 'failed-changed',
      ok: false,
      message: `The password WAS changed: the old one no longer works. ${where}${notStored}${escrow}`,
      recoveryCiphertext
    })
  }

  private resetFailure(error: unknown): Omit<Outcome, 'targets'> {
    const { s } = this
    if (error instanceof ThingSpaceError && error.rejected) {
      const why = isSessionError(error) ? ' The session was no longer valid; a new run will log in afresh.' : ''
      return {
        result: 'failed-unchanged',
        ok: false,
        message: `The password was not changed: ThingSpace refused the reset (${error.message}).${why} The targets still hold the current password.`
      }
    }
    const what = error instanceof DeadlineReached ? 'the runner cancelled the step before the answer came' : errorText(error)
    return {
      result: 'failed-unknown',
      ok: false,
      message:
        `The reset request was sent, but its outcome cannot be known (${what}). The old password may no longer work, and the new one, if any, was never received. ` +
        `Do not re-run this workflow: a login with a replaced password counts toward the 5-failure lockout. ` +
        `Log in to the ThingSpace portal as ${s.username} (or ask Verizon M2M support), set a known password, and store it in ${s.secretName} in every target by hand.`
    }
  }

  /** Logs in with the new password and out again. Returns what went wrong, or undefined. */
  private async verify(newPassword: string): Promise<string | undefined> {
    const { s, d } = this
    try {
      const session = await d.thingspace.login(s.username, newPassword)
      this.openSessions.add(session)
      await this.logout(session)
      d.log.info('The new password logs in')
      return undefined
    } catch (error) {
      return `the verify login with the new password failed (${errorText(error)}); it was not retried.`
    }
  }

  private async logout(session: Session): Promise<void> {
    if (!this.openSessions.delete(session)) return
    try {
      await this.d.thingspace.logout(session)
    } catch (error) {
      this.d.log.warning(`ThingSpace logout failed (the session will expire on its own): ${errorText(error)}`)
    }
  }

  private async closing(outcome: Omit<Outcome, 'targets'>): Promise<Outcome> {
    await Promise.all([...this.openSessions].map((session) => this.logout(session)))
    return this.outcome(outcome)
  }

  private outcome(outcome: Omit<Outcome, 'targets'>): Outcome {
    return { ...outcome, targets: this.reports }
  }

  /** After a post-reset cancellation, waiting stops at the deadline, short of SIGKILL. */
  private untilDeadline<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.d.cancel.deadline.then(() => Promise.reject(new DeadlineReached('deadline')))])
  }
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
