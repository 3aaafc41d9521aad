/**
 * The rotation flow, and the rule it exists for: never lose the new password.
 *
 * The sequence (step numbers as in the README's "What a run does"): read every target (2); stop if
 * not due, if the password input is stale, or if the lockout marker says so (3); log in (4); prove
 * every target writable by writing the current, just-verified password (5); only then reset, once
 * (6); store the new password everywhere, escrowing it to the recovery key if any target fails, while
 * logging out and verifying the new password (7); log out every session (8). Every path returns an
 * Outcome that says truthfully what state the password is in.
 */
import { CancelledError, DeadlineReached, type Cancellation } from './cancellation.ts'
import { errorText } from './errors.ts'
import { writeMayHaveLanded, type SealFn, type TargetState } from './github-secrets.ts'
import type { Settings } from './inputs.ts'
import { verdicts, type Outcome, type TargetReport, type Verdict } from './outcomes.ts'
import { dueTargets, isAttended, lockoutDecision, sessionMayHaveExpired, staleTargets } from './preflight.ts'
import type { Repository, Target } from './targets.ts'
import { ThingSpaceError, isSessionError, mayHaveCounted, mayRetryLogin, type Session, type ThingSpaceCall } from './thingspace.ts'

export interface ThingSpacePort {
  token: (call?: ThingSpaceCall) => Promise<string>
  login: (username: string, password: string) => Promise<Session>
  resetPassword: (session: Session, oldPassword: string) => Promise<string>
  logout: (session: Session) => Promise<void>
}

export interface SecretsPort {
  readonly markerName: string
  inspect: (target: Target, withMarker?: boolean) => Promise<TargetState>
  /** Writes are queued one at a time; a write still queued when `signal` aborts is not sent. */
  write: (state: TargetState, plaintext: string, name?: string, signal?: AbortSignal) => Promise<void>
  remove: (state: TargetState, name: string) => Promise<void>
  runStartedAt: (repository: Repository, runId: number) => Promise<Date>
}

export interface FlowLog {
  info: (message: string) => void
  warning: (message: string) => void
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>
}

export interface RotationDeps {
  thingspace: ThingSpacePort
  github: SecretsPort
  seal: SealFn
  /** Starts loading the sealing library, to overlap the login's round trip rather than delay the first requests. */
  prepareSeal: () => void
  cancel: Cancellation
  now: () => number
  log: FlowLog
}

/** Everything known about one target, in one place. */
interface TargetRecord {
  state: TargetState | undefined
  report: TargetReport
}

/** Logins that may have counted toward the lockout are tried again at most this often per run. */
const LOGIN_RETRIES = 1

export async function rotate(settings: Settings, deps: RotationDeps): Promise<Outcome> {
  return new Rotation(settings, deps).run()
}

class Rotation {
  private readonly s: Settings
  private readonly d: RotationDeps
  private readonly records: TargetRecord[]
  private readonly openSessions = new Set<Session>()
  private lastThingSpaceActivity = 0
  private earlyToken: Promise<string> | undefined
  private tokenRequested = false
  private loginSent = false
  private loginRetriesLeft = LOGIN_RETRIES
  /** Whether the first target holds a lockout marker in force, and whether only as this run's record ahead of its login. */
  private markerPresent = false
  private markerOnlyAhead = false
  private verified = false
  /** Logins this run that ThingSpace may have counted toward the lockout. */
  private countedAttempts = 0
  /** Why a login abandoned on a signal could not be recorded, if it could not. */
  private unrecorded: string | undefined

  constructor(settings: Settings, deps: RotationDeps) {
    this.s = settings
    this.d = deps
    this.records = settings.targets.map((t) => ({
      state: undefined,
      report: { label: t.label, target: t, before: 'not read', outcome: 'not touched', holdsNewPassword: false }
    }))
  }

  private get states(): TargetState[] {
    return this.records.map((r) => r.state!)
  }

  async run(): Promise<Outcome> {
    const { s, d } = this
    let session: Session
    try {
      const early = await d.log.group('Read the targets', () => this.readTargets())
      if (early) return this.finish(early)
      const loggedIn = await d.log.group('Log in to ThingSpace', () => this.logIn())
      if ('verdict' in loggedIn) return await this.closing(loggedIn.verdict)
      session = loggedIn.session
      const proofFailure = await d.log.group('Prove every target writable', () => this.proveWritable())
      if (proofFailure) return await this.closing(proofFailure)
      if (s.dryRun) return await this.closing(verdicts.dryRun())
      // Step 6 needs a token that outlives the reset's answer (waiting for one is still cancellable),
      // and then a session that has not idled out meanwhile.
      await d.cancel.guard(d.thingspace.token('reset'))
      const fresh = await this.freshSession(session)
      if ('verdict' in fresh) return await this.closing(fresh.verdict)
      session = fresh.session
      await d.cancel.guard(d.thingspace.token('reset'))
      d.cancel.enterCritical()
    } catch (error) {
      return this.closing(this.beforeResetFailure(error))
    }
    return d.log.group('Reset the password and store the new one', () => this.resetAndStore(session))
  }

  // Steps 2-3: public keys and metadata for every target, the run's start time, and (when no due
  // check is needed) the OAuth token, all in one wave; then the pre-flight decisions.
  private async readTargets(): Promise<Verdict | undefined> {
    const { s, d } = this
    if (s.minAgeDays === 0) this.requestToken()
    d.log.info(`Reading ${s.targets.length} target${s.targets.length === 1 ? '' : 's'} for secret ${s.secretName}`)
    const [inspected, runStart] = await d.cancel.guard(
      Promise.all([Promise.allSettled(s.targets.map((t, i) => d.github.inspect(t, i === 0))), this.runStart()])
    )
    const failures: string[] = []
    inspected.forEach((r, i) => {
      const { report } = this.records[i]
      if (r.status === 'rejected') {
        failures.push(errorText(r.reason))
        report.outcome = 'could not be read'
        return
      }
      this.records[i].state = r.value
      if (r.value.visibility) report.visibility = r.value.visibility
      if (r.value.selectedRepositoryNames) report.selectedRepositories = r.value.selectedRepositoryNames
      report.before = r.value.existing ? `updated ${r.value.existing.updatedAt.toISOString()}` : 'no secret yet'
      report.outcome = 'read'
    })
    if (failures.length > 0) return verdicts.readFailed(failures, this.tokenRequested)
    for (const st of this.states) {
      if (st.visibility === 'selected' && st.selectedRepositoryIds?.length === 0) {
        d.log.warning(`${st.target.label}: ${s.secretName} will be visible to no repository until you select some in the organization's settings`)
      }
    }

    const due = dueTargets(this.states, s.minAgeDays, d.now())
    if (due.length === 0) {
      for (const r of this.records) r.report.outcome = 'unchanged (not due)'
      return verdicts.notDue(s.secretName, s.minAgeDays)
    }
    if (s.minAgeDays > 0) {
      d.log.info(`Due: ${due.map((st) => `${st.target.label} (${st.existing ? `older than ${s.minAgeDays} days` : 'no secret'})`).join(', ')}`)
    }

    const stale = staleTargets(this.states, runStart)
    if (stale.length > 0) {
      return verdicts.staleInput(
        stale.map((st) => st.target.label),
        s.secretName,
        runStart!,
        this.tokenRequested
      )
    }

    const lockout = lockoutDecision(this.states, s.eventName)
    // A marker older than the password secret says nothing any more; one newer still stops later runs.
    this.markerPresent = lockout.kind !== 'clear'
    if (lockout.kind === 'stop')
      return verdicts.lockoutStop(lockout.markedAt, d.github.markerName, this.states[0].target.label, s.secretName, this.tokenRequested)
    if (lockout.kind === 'try-once') {
      this.loginRetriesLeft = 0
      d.log.warning(
        `A login with this password was refused, or may have been counted, at ${lockout.markedAt.toISOString()}, and ${s.secretName} has not been updated since; ` +
          `trying once, without retrying, because this run was started by ${s.eventName ?? 'hand'}, which a person does.`
      )
    }
    return undefined
  }

  private requestToken(): void {
    this.tokenRequested = true
    this.earlyToken = this.d.thingspace.token('login')
    // Awaited by the login; this keeps an early failure from going unhandled meanwhile.
    this.earlyToken.catch(() => {})
  }

  /** The stale-password guard needs the run's start; without it (no permission, a local run) it warns and goes on. */
  private async runStart(): Promise<Date | undefined> {
    const { s, d } = this
    if (!s.repository || s.runId === undefined) return undefined
    try {
      return await d.github.runStartedAt(s.repository, s.runId)
    } catch (error) {
      d.log.warning(`Skipping the stale-password check: ${errorText(error)}`)
      return undefined
    }
  }

  // Step 4: log in with the current password. A refusal is never retried; an attempt that may have
  // been counted without an answer is recorded for later runs first, and retried at most once a run.
  // A run nobody started by hand records the login before sending it, so that even a run that dies
  // or cannot write afterwards stops the next one; the record is removed once a login succeeds.
  private async logIn(): Promise<{ session: Session } | { verdict: Verdict }> {
    const { s, d } = this
    this.tokenRequested = true
    // The token first (the one requested with the reads, if any: its failure is not asked again), so a
    // cancellation while it comes is not taken for a login sent.
    await d.cancel.guard(this.earlyToken ?? d.thingspace.token('login'))
    if (!isAttended(s.eventName)) {
      const ahead = await this.recordSpentLogin(true)
      if (!ahead.recorded || d.cancel.cancelled) {
        // No login goes out: a record that may have landed would stop the next run for nothing.
        if (ahead.recorded || ahead.mayHaveLanded) await this.clearMarker(true)
        d.cancel.signal.throwIfAborted() // a write cut by the runner's signal is a cancellation, not a token problem
        return { verdict: verdicts.markerUnwritable(d.github.markerName, this.records[0].report.label, ahead.why, this.loginSent) }
      }
    }
    const loggingIn = this.loginOnce(s.password)
    d.prepareSeal() // after the login is under way, so the library loads during its round trip
    for (let attempt = 1; ; attempt++) {
      try {
        const session = await (attempt === 1 ? loggingIn : this.loginOnce(s.password))
        d.log.info(`Logged in to ThingSpace as ${s.username}`)
        this.countedAttempts = 0 // a login that succeeds resets ThingSpace's count of failures
        await this.clearMarker()
        return { session }
      } catch (error) {
        if (!mayHaveCounted(error)) {
          if (this.markerOnlyAhead && !(error instanceof CancelledError)) await this.clearMarker()
          throw error
        }
        this.countedAttempts++
        const record = this.markerPresent ? { recorded: true } : await this.recordSpentLogin(false)
        this.markerOnlyAhead = false
        if (record.recorded && !d.cancel.cancelled && mayRetryLogin(error, this.loginRetriesLeft)) {
          this.loginRetriesLeft--
          d.log.info(`${errorText(error)}; recorded in ${d.github.markerName}; attempt ${attempt} of ${attempt + 1}, logging in once more`)
          continue
        }
        return { verdict: verdicts.loginSpent(error as ThingSpaceError, attempt, s.username, { markerName: d.github.markerName, ...record }) }
      }
    }
  }

  private async loginOnce(password: string): Promise<Session> {
    const { d } = this
    try {
      const session = await d.cancel.guard(d.thingspace.login(this.s.username, password))
      this.loginSent = true
      this.openSessions.add(session)
      this.lastThingSpaceActivity = d.now()
      return session
    } catch (error) {
      if (error instanceof CancelledError) {
        // Abandoned in flight: ThingSpace may have counted it, so later runs must know, as for a lost answer.
        this.loginSent = true
        if (!this.markerPresent) this.unrecorded = (await this.recordSpentLogin(false)).why
        this.markerOnlyAhead = false
      } else if (error instanceof ThingSpaceError && error.call === 'login' && error.kind !== 'not-sent') {
        this.loginSent = true
      }
      throw error
    }
  }

  /** Writes the lockout marker into the first target, where the next run reads it. */
  private async recordSpentLogin(ahead: boolean): Promise<{ recorded: boolean; why?: string; mayHaveLanded?: boolean }> {
    const { d } = this
    const first = this.records[0].state!
    const note = `a login may count toward the lockout from ${new Date(d.now()).toISOString()}`
    try {
      await d.cancel.untilDeadline(d.github.write(first, note, d.github.markerName, ahead ? d.cancel.signal : undefined))
      this.markerPresent = true
      this.markerOnlyAhead = ahead
      return { recorded: true }
    } catch (error) {
      return { recorded: false, why: errorText(error), mayHaveLanded: writeMayHaveLanded(error) }
    }
  }

  /**
   * Removes the lockout marker once it says nothing true: after a login succeeded, or after this run's
   * record ahead of a login that was never sent or never reached the user service. (GitHub's
   * timestamps are to the second, so a stale marker could tie with the next write.) A failure only
   * costs a needless stop; either way no marker counts as in force for this run's later logins, since
   * the proof writes that follow a successful login put any left behind out of force.
   */
  private async clearMarker(evenIfUnknown = false): Promise<void> {
    const { d } = this
    if (!this.markerPresent && !evenIfUnknown) return
    this.markerPresent = false
    this.markerOnlyAhead = false
    try {
      await d.cancel.untilDeadline(d.github.remove(this.records[0].state!, d.github.markerName))
    } catch (error) {
      d.log.warning(`Could not remove ${d.github.markerName} (unattended runs may stop until the password secret is updated): ${errorText(error)}`)
    }
  }

  // Step 5: write the current password (which just logged in) into every target, proving each one
  // writable before anything irreversible happens.
  private async proveWritable(): Promise<Verdict | undefined> {
    const { s, d } = this
    const written = await d.cancel.guard(
      Promise.allSettled(this.records.map((r) => d.github.write(r.state!, s.password, undefined, d.cancel.signal)))
    )
    const failures: string[] = []
    written.forEach((w, i) => {
      const { report } = this.records[i]
      if (w.status === 'fulfilled') {
        report.outcome = 'write proven (holds the current password)'
      } else {
        failures.push(errorText(w.reason))
        report.outcome = 'not writable'
      }
    })
    if (failures.length > 0) return verdicts.proofFailed(failures)
    d.log.info('Every target is writable')
    return undefined
  }

  /** A session idle past its lifetime gets one fresh login with the current (still valid) password. */
  private async freshSession(session: Session): Promise<{ session: Session } | { verdict: Verdict }> {
    const { d } = this
    const idle = d.now() - this.lastThingSpaceActivity
    if (!sessionMayHaveExpired(idle, session.idleLifetimeMs)) return { session }
    d.log.info(`The ThingSpace session was idle for ${Math.round(idle / 1000)} s and may have expired; logging in again before the reset`)
    this.openSessions.delete(session)
    return this.logIn()
  }

  private beforeResetFailure(error: unknown): Verdict {
    const { d } = this
    if (error instanceof CancelledError) {
      return verdicts.cancelledBeforeReset(
        d.cancel.signalName ?? 'signal',
        this.loginSent,
        this.tokenRequested,
        this.unrecorded !== undefined ? { markerName: d.github.markerName, why: this.unrecorded } : undefined
      )
    }
    if (error instanceof ThingSpaceError && error.call === 'login') return verdicts.loginFailed(error, this.countedAttempts, d.github.markerName)
    return verdicts.failedBeforeReset(error, this.loginSent, this.tokenRequested)
  }

  // Steps 6-8: from here on nothing is abandoned before the deadline; the only ways out are stored,
  // escrowed, or said.
  private async resetAndStore(session: Session): Promise<Outcome> {
    const { s, d } = this
    d.log.info('Resetting the ThingSpace password')
    let newPassword: string
    try {
      newPassword = await d.cancel.untilDeadline(d.thingspace.resetPassword(session, s.password))
      this.lastThingSpaceActivity = d.now()
    } catch (error) {
      return this.closing(this.resetFailure(error))
    }
    d.log.info('ThingSpace issued a new password; storing it in every target')

    const recovery = s.recoveryPublicKey ? d.seal(newPassword, s.recoveryPublicKey).catch(() => undefined) : Promise.resolve(undefined)
    const inFlight = new Set(this.records)
    /** Writes that failed without a 4xx: GitHub may have stored the value before its answer was lost. */
    const uncertain = new Set<TargetRecord>()
    const stored = this.records.map((r) =>
      d.github.write(r.state!, newPassword).then(
        () => {
          inFlight.delete(r)
          r.report.outcome = 'new password stored'
          r.report.holdsNewPassword = true
        },
        (error: unknown) => {
          inFlight.delete(r)
          if (writeMayHaveLanded(error)) {
            uncertain.add(r)
            r.report.outcome = `unknown, the write may have landed: ${errorText(error)}`
          } else {
            r.report.outcome = `NOT stored, still holds the old password: ${errorText(error)}`
          }
        }
      )
    )
    const logout = this.logout(session)
    const verify = s.verify && !d.cancel.cancelled ? this.verify(newPassword) : Promise.resolve(undefined)

    let storingCut = false
    try {
      await d.cancel.untilDeadline(Promise.all(stored))
    } catch {
      storingCut = true
      for (const r of inFlight) r.report.outcome = 'unknown: the write had not finished when the runner cancelled the step'
    }

    const holders = this.records.filter((r) => r.report.holdsNewPassword)
    if (holders.length === this.records.length) {
      // The first session's logout and the verify login ran alongside the stores; wait for them too, up to the deadline.
      const problem = await d.cancel.untilDeadline(Promise.all([verify, logout])).then(
        ([p]) => p,
        () => undefined
      )
      return this.finish(problem ? verdicts.rotatedVerifyFailed(problem) : verdicts.rotated(this.verified))
    }
    const recoveryCiphertext = await d.cancel.untilDeadline(recovery).catch(() => undefined)
    if (!storingCut) await d.cancel.untilDeadline(Promise.all([verify, logout])).catch(() => {})
    return this.finish(
      verdicts.notStoredEverywhere({
        holders: holders.map((r) => r.report.label),
        failed: this.records.filter((r) => !r.report.holdsNewPassword && !inFlight.has(r) && !uncertain.has(r)).map((r) => r.report.label),
        unknown: [...inFlight, ...uncertain].map((r) => r.report.label),
        recoveryCiphertext,
        recoveryKeyGiven: s.recoveryPublicKey !== undefined
      })
    )
  }

  private resetFailure(error: unknown): Verdict {
    const { s } = this
    if (error instanceof DeadlineReached) return verdicts.resetUnknown('the runner cancelled the step before the answer came', s.username)
    // Refused by the user service, or stopped at the gateway (or the token was never obtained): not processed.
    if (error instanceof ThingSpaceError && (error.call === 'token' || ['refused', 'gateway', 'oauth', 'not-sent'].includes(error.kind))) {
      return verdicts.resetNotProcessed(error, isSessionError(error))
    }
    return verdicts.resetUnknown(errorText(error), s.username)
  }

  /** Logs in with the new password and out again; returns what went wrong, or undefined. Never retried. */
  private async verify(newPassword: string): Promise<string | undefined> {
    const { s, d } = this
    try {
      const session = await d.thingspace.login(s.username, newPassword)
      this.openSessions.add(session)
      await this.logout(session)
      this.verified = true
      d.log.info('The new password logs in')
      return undefined
    } catch (error) {
      // A verify login that may have counted is recorded like any other: unattended runs would log in with the same password.
      const recorded = mayHaveCounted(error) ? await this.recordSpentLogin(false) : undefined
      const marker = recorded?.recorded
        ? ` Unattended runs will not log in until the password secret is updated (recorded in ${d.github.markerName}).`
        : ''
      return `the verify login with the new password failed (${errorText(error)}); it was not retried.${marker}`
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

  /** Logs out every open session (up to the deadline, once cancelled), then reports. */
  private async closing(verdict: Verdict): Promise<Outcome> {
    await this.d.cancel.untilDeadline(Promise.all([...this.openSessions].map((session) => this.logout(session)))).catch(() => {})
    return this.finish(verdict)
  }

  private finish(verdict: Verdict): Outcome {
    return { ...verdict, targets: this.records.map((r) => r.report) }
  }
}
