/**
 * The rotation flow, and the rule it exists for: never lose the new password, and never write the
 * password secret with anything but a password ThingSpace issued to this run.
 *
 * The sequence: read every target (1); stop if not due, if the password input is stale, or if the
 * rotation state says a login may already have counted (2); prove every target writable by writing
 * the action's own rotation-state secret, which in the home target also records the login ahead (3);
 * log in (4); only then reset, once (5); store the new password everywhere at once, escrowing it to
 * the recovery key if any target fails, while logging out (6); then verify that the new password logs
 * in and that no target was written again after this run's store (7). The rotation state (what is
 * recorded, removed, retried) lives in rotation-state.ts. Every path returns an Outcome that says
 * truthfully what state the password is in when the run ends.
 */
import { CancelledError, DeadlineReached, type Cancellation } from './cancellation.ts'
import { errorText } from './errors.ts'
import { writeMayHaveLanded, type JobRef, type ReadTime, type SealFn, type TargetState, type WriteResult } from './github-secrets.ts'
import type { Settings } from './inputs.ts'
import type { Sleep } from './retry.ts'
import { verdicts, type Outcome, type TargetReport, type Verdict } from './outcomes.ts'
import { dueTargets, isAttended, sessionMayHaveExpired, staleTargets } from './preflight.ts'
import { RotationState, lastStore, type StatePort } from './rotation-state.ts'
import type { Target } from './targets.ts'
import { ThingSpaceError, isSessionError, mayHaveCounted, type Session, type ThingSpaceCall } from './thingspace.ts'

export interface ThingSpacePort {
  token: (call?: ThingSpaceCall) => Promise<string>
  login: (username: string, password: string) => Promise<Session>
  resetPassword: (session: Session, oldPassword: string) => Promise<string>
  logout: (session: Session) => Promise<void>
}

export interface SecretsPort extends StatePort {
  inspect: (target: Target, home?: boolean) => Promise<TargetState>
  /** Writes go out at most WRITE_CONCURRENCY at a time; a write still queued when `signal` aborts is not sent. */
  write: (state: TargetState, plaintext: string, name?: string, signal?: AbortSignal) => Promise<WriteResult>
  /** When the password secret (or `name`) of a target was last written, read again now. */
  updatedAt: (state: TargetState, name?: string) => Promise<Date | undefined>
  secretsReadAt: (job: JobRef) => Promise<ReadTime>
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
  /** Starts loading the sealing library, to overlap a round trip rather than delay the first requests. */
  prepareSeal: () => void
  cancel: Cancellation
  now: () => number
  sleep: Sleep
  log: FlowLog
}

/**
 * How long a refused login waits before it looks a second time for another rotation's store: that
 * rotation's reset came before this run's login, and its stores follow its reset within about a
 * GitHub round trip, so one more look a little later sees them where the first came too early.
 */
export const SECOND_LOOK_MS = 2_000

/** Everything known about one target, in one place. */
interface TargetRecord {
  state: TargetState | undefined
  report: TargetReport
  /** The password secret's time, read back right after this run's store of the new password landed. */
  storedAt?: Promise<Date | undefined>
}

export async function rotate(settings: Settings, deps: RotationDeps): Promise<Outcome> {
  return new Rotation(settings, deps).run()
}

class Rotation {
  private readonly s: Settings
  private readonly d: RotationDeps
  private readonly records: TargetRecord[]
  private readonly openSessions = new Set<Session>()
  private rotationState: RotationState | undefined
  private lastThingSpaceActivity = 0
  private earlyToken: Promise<string> | undefined
  private tokenRequested = false
  private loginSent = false

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

  private get home(): TargetReport {
    return this.records[0].report
  }

  private get state(): RotationState {
    return this.rotationState!
  }

  async run(): Promise<Outcome> {
    const { s, d } = this
    let session: Session
    try {
      const early = await d.log.group('Read the targets', () => this.readTargets())
      if (early) return this.finish(early)
      const proofFailure = await d.log.group('Prove every target writable', () => this.proveWritable())
      if (proofFailure) return await this.closing(proofFailure)
      const loggedIn = await d.log.group('Log in to ThingSpace', () => this.logIn())
      if ('verdict' in loggedIn) return await this.closing(loggedIn.verdict, loggedIn.secretMoved)
      session = loggedIn.session
      if (s.dryRun) return await this.closing(verdicts.dryRun(d.github.stateName))
      // The reset needs a token that outlives its answer (waiting for one is still cancellable), and
      // then a session that has not idled out meanwhile.
      await d.cancel.guard(d.thingspace.token('reset'))
      const fresh = await this.freshSession(session)
      if ('verdict' in fresh) return await this.closing(fresh.verdict, fresh.secretMoved)
      session = fresh.session
      await d.cancel.guard(d.thingspace.token('reset'))
      d.cancel.enterCritical()
    } catch (error) {
      return this.closing(this.beforeResetFailure(error))
    }
    return d.log.group('Reset the password and store the new one', () => this.resetAndStore(session))
  }

  // Steps 1-2: public keys and metadata for every target (the home target's rotation state too), when
  // this job read its secrets, and (when no due check is needed) the OAuth token, all in one wave.
  private async readTargets(): Promise<Verdict | undefined> {
    const { s, d } = this
    if (s.minAgeDays === 0) this.requestToken()
    d.log.info(`Reading ${s.targets.length} target${s.targets.length === 1 ? '' : 's'} for secret ${s.secretName}`)
    const reading = Promise.all([Promise.allSettled(s.targets.map((t, i) => d.github.inspect(t, i === 0))), this.secretsReadAt()])
    d.prepareSeal() // once the reads are on the wire: the proof is the first thing sealed
    const [inspected, readAt] = await d.cancel.guard(reading)
    const failures: string[] = []
    inspected.forEach((r, i) => {
      const { report } = this.records[i]
      if (r.status === 'rejected') {
        failures.push(errorText(r.reason))
        report.outcome = 'could not be read'
        return
      }
      this.records[i].state = r.value
      report.before = r.value.existing ? `updated ${r.value.existing.updatedAt.toISOString()}` : 'no secret yet'
      report.outcome = 'read'
      if (r.value.visibility) report.visibility = r.value.visibility
      if (r.value.selectedRepositoryNames) report.selectedRepositories = r.value.selectedRepositoryNames
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

    const stale = staleTargets(this.states, readAt?.at)
    if (stale.length > 0) {
      return verdicts.staleInput(
        stale.map((st) => st.target.label),
        s.secretName,
        readAt!,
        this.tokenRequested
      )
    }

    const attended = isAttended(s.eventName, s.triggeringActor)
    this.rotationState = new RotationState(this.states, attended, { github: d.github, cancel: d.cancel, now: d.now, log: d.log }, this.runLabel())
    const lockout = this.state.decision
    if (lockout.kind === 'busy') {
      return verdicts.anotherRunAtWork({ recordedAt: lockout.recordedAt, recordName: d.github.stateName, home: this.home.label })
    }
    const recordName = lockout.kind !== 'clear' && lockout.legacy ? d.github.legacyMarkerName : d.github.stateName
    if (lockout.kind === 'stop') return verdicts.lockoutStop(lockout, recordName, this.home.label, s.secretName, this.tokenRequested)
    if (lockout.kind === 'try-once') {
      d.log.warning(
        `A login with this password was refused, or may have been counted, at ${lockout.recordedAt.toISOString()} (recorded in ${recordName}), and ${s.secretName} has not been updated since; ` +
          `trying once, without retrying, because a person started this run (${s.eventName ?? 'a local run'}).`
      )
    }
    return undefined
  }

  private runLabel(): string {
    const { s } = this
    return `thingspace-password-rotation${s.repository ? ` ${s.repository.owner}/${s.repository.repo}` : ''}${s.runId !== undefined ? ` run ${s.runId}` : ''}`
  }

  private requestToken(): void {
    this.tokenRequested = true
    this.earlyToken = this.d.thingspace.token('login')
    // Awaited by the login; this keeps an early failure from going unhandled meanwhile.
    this.earlyToken.catch(() => {})
  }

  /** The stale-password guard needs when this job read its secrets; without it (no permission, a local run) it warns and goes on. */
  private async secretsReadAt(): Promise<ReadTime | undefined> {
    const { s, d } = this
    if (!s.repository || s.runId === undefined) return undefined
    try {
      return await d.github.secretsReadAt({ repository: s.repository, runId: s.runId, runAttempt: s.runAttempt, runnerName: s.runnerName })
    } catch (error) {
      d.log.warning(`Skipping the stale-password check: ${errorText(error)}`)
      return undefined
    }
  }

  // Step 3: the rotation-state secret into every target, proving each writable before anything
  // irreversible (and, in the home target, recording the login ahead). The OAuth token comes meanwhile.
  private async proveWritable(): Promise<Verdict | undefined> {
    const { d } = this
    if (!this.tokenRequested) this.requestToken()
    const { written, contended } = await d.cancel.guard(this.state.prove(d.cancel.signal))
    const texts: string[] = []
    written.forEach((w, i) => {
      const { report } = this.records[i]
      if (w.status === 'fulfilled') {
        report.outcome = `write proven (${d.github.stateName})`
      } else {
        texts.push(errorText(w.reason))
        report.outcome = 'not writable'
      }
    })
    if (texts.length > 0) return verdicts.proofFailed(texts, d.github.stateName, this.tokenRequested)
    if (contended) {
      return verdicts.anotherRunAtWork({ recordName: d.github.stateName, home: this.home.label })
    }
    d.log.info('Every target is writable')
    return undefined
  }

  // Step 4: log in with the password this job read. A refusal is never retried; an attempt that may
  // have counted without an answer is already recorded (ahead), and is sent again only as the rotation
  // state allows.
  private async logIn(): Promise<{ session: Session } | { verdict: Verdict; secretMoved?: boolean }> {
    const { s, d } = this
    // The token first (the one requested early, if any: its failure is not asked again), so a
    // cancellation while it comes is not taken for a login sent.
    await d.cancel.guard(this.earlyToken ?? d.thingspace.token('login'))
    this.earlyToken = undefined
    for (let attempt = 1; ; attempt++) {
      try {
        const session = await this.loginOnce(s.password)
        d.log.info(`Logged in to ThingSpace as ${s.username}`)
        this.state.loginSucceeded()
        return { session }
      } catch (error) {
        const next = this.state.loginFailed(error)
        // Cancelled, or never reached the user service (gateway, token, network): reported as such.
        if (!(error instanceof ThingSpaceError) || error.call !== 'login' || !mayHaveCounted(error)) throw error
        if (next === 'retry') {
          d.log.info(`${errorText(error)}; recorded in ${d.github.stateName}; attempt ${attempt} of ${attempt + 1}, logging in once more`)
          continue
        }
        return this.loginSpent(error, attempt)
      }
    }
  }

  private async loginSpent(error: ThingSpaceError, attempts: number): Promise<{ verdict: Verdict; secretMoved?: boolean }> {
    const { s, d } = this
    // A refusal may mean another rotation replaced the password since this job read it: look for its
    // store, and once more a little later if the first look came too early (a signal cuts the wait).
    let moved: string[] = []
    if (error.kind === 'refused' || error.kind === 'unrecognised') {
      moved = await this.movedSinceRead()
      if (moved.length === 0 && !d.cancel.cancelled) {
        await d.cancel.guard(d.sleep(SECOND_LOOK_MS)).catch(() => {})
        moved = await this.movedSinceRead()
      }
    }
    if (moved.length > 0) return { verdict: verdicts.loginRefusedSecretMoved(error, s.username, moved, s.secretName), secretMoved: true }
    return {
      verdict: verdicts.loginSpent(error, {
        attempts,
        username: s.username,
        recordName: d.github.stateName,
        home: this.home.label,
        secretName: s.secretName,
        storedAt: lastStore(this.states)
      })
    }
  }

  /** Targets whose password secret changed since this run read it (bounded; a target that cannot be read again is not counted). */
  private async movedSinceRead(): Promise<string[]> {
    const { d } = this
    const now = await d.cancel
      .untilDeadline(Promise.allSettled(this.states.map((st) => d.github.updatedAt(st))))
      .catch(() => [] as PromiseSettledResult<Date | undefined>[])
    return now.flatMap((r, i) => {
      if (r.status === 'rejected') return []
      const before = this.states[i].existing?.updatedAt.getTime()
      return r.value?.getTime() !== before ? [this.records[i].report.label] : []
    })
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
      const abandoned = error instanceof CancelledError
      if (abandoned || (error instanceof ThingSpaceError && error.call === 'login' && error.kind !== 'not-sent')) this.loginSent = true
      throw error
    }
  }

  /** A session idle past its lifetime gets one fresh login with the current (still valid) password. */
  private async freshSession(session: Session): Promise<{ session: Session } | { verdict: Verdict; secretMoved?: boolean }> {
    const { d } = this
    const idle = d.now() - this.lastThingSpaceActivity
    if (!sessionMayHaveExpired(idle, session.idleLifetimeMs)) return { session }
    d.log.info(`The ThingSpace session was idle for ${Math.round(idle / 1000)} s and may have expired; logging in again before the reset`)
    this.openSessions.delete(session)
    return this.logIn()
  }

  private beforeResetFailure(error: unknown): Verdict {
    const { d } = this
    if (error instanceof CancelledError) return verdicts.cancelledBeforeReset(d.cancel.signalName ?? 'signal', this.loginSent, this.tokenRequested)
    if (error instanceof ThingSpaceError && error.call === 'login') {
      return verdicts.loginFailed(error, this.rotationState?.countedAttempts ?? 0, d.github.stateName)
    }
    return verdicts.failedBeforeReset(error, this.loginSent, this.tokenRequested)
  }

  // Steps 5-7: from here on nothing is abandoned before the deadline; the only ways out are stored,
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
          // Read back at once, to compare with a second read at the end (both GitHub's own times).
          r.storedAt = d.github.updatedAt(r.state!).catch(() => undefined)
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

    try {
      await d.cancel.untilDeadline(Promise.all(stored))
    } catch {
      for (const r of inFlight) r.report.outcome = 'unknown: the write had not finished when the runner cancelled the step'
    }

    // After the stores, the last word: the verify login says whether the new password is still the
    // live one, and a second read whether any target was written again since this run's store
    // (another rotation overlapping this one). The record of this run's login comes off meanwhile:
    // that login succeeded.
    const settled = this.state.settle()
    let verifyError: unknown
    let verified = false
    let laterWritten: TargetRecord[] = []
    await d.cancel
      .untilDeadline(
        (async () => {
          if (s.verify && !d.cancel.cancelled) {
            verifyError = await this.verifyLogin(newPassword)
            verified = verifyError === undefined
          }
          const logouts = Promise.all([logout, ...[...this.openSessions].map((open) => this.logout(open))])
          if (!d.cancel.cancelled) laterWritten = await this.writtenAgain()
          await Promise.all([logouts, settled])
        })()
      )
      .catch(() => {}) // the deadline: report what is known by then
    for (const r of laterWritten) {
      r.report.holdsNewPassword = false
      r.report.writtenAgain = true
      r.report.outcome = `written again after this run's store (${r.report.outcome})`
    }

    const holders = this.records.filter((r) => r.report.holdsNewPassword)
    const allStored = holders.length === this.records.length
    if (verifyError !== undefined && isRefusal(verifyError)) {
      // Superseded: the password this run stored most likely no longer works.
      const recorded = await this.state.verifyFailed(verifyError, this.records[0].report.holdsNewPassword)
      return this.finish(
        verdicts.superseded(verifyError, {
          holders: allStored ? undefined : holders.map((r) => r.report.label),
          laterWritten: laterWritten.map((r) => r.report.label),
          recorded,
          recordName: d.github.stateName,
          home: this.home.label
        })
      )
    }
    const verifyProblem = verifyError === undefined ? undefined : await this.verifyProblem(verifyError)
    if (allStored) return this.finish(verifyProblem ? verdicts.rotatedVerifyFailed(verifyProblem) : verdicts.rotated(verified))
    const recoveryCiphertext = await d.cancel.untilDeadline(recovery).catch(() => undefined)
    return this.finish(
      verdicts.notStoredEverywhere({
        holders: holders.map((r) => r.report.label),
        failed: this.records
          .filter((r) => !r.report.holdsNewPassword && !inFlight.has(r) && !uncertain.has(r) && !laterWritten.includes(r))
          .map((r) => r.report.label),
        unknown: [...inFlight, ...uncertain].map((r) => r.report.label),
        laterWritten: laterWritten.map((r) => r.report.label),
        recoveryCiphertext,
        recoveryKeyGiven: s.recoveryPublicKey !== undefined
      })
    )
  }

  private resetFailure(error: unknown): Verdict {
    const { s } = this
    if (error instanceof DeadlineReached) return verdicts.resetUnknown('the runner cancelled the step before the answer came', s.username)
    if (error instanceof ThingSpaceError) {
      // Refused by the user service right after a login with the same password: another rotation, most likely.
      if (error.kind === 'refused' && !isSessionError(error)) return verdicts.resetRefusedAfterLogin(error, s.username, s.secretName)
      // Stopped at the gateway, a session no longer valid, or the token never obtained: not processed.
      if (error.call === 'token' || ['refused', 'gateway', 'oauth', 'not-sent'].includes(error.kind))
        return verdicts.resetNotProcessed(error, isSessionError(error))
    }
    return verdicts.resetUnknown(errorText(error), s.username)
  }

  /** Logs in with the new password once the stores are done (its session is logged out with the others); resolves with the error if it failed. Never retried. */
  private async verifyLogin(newPassword: string): Promise<unknown> {
    const { s, d } = this
    try {
      const session = await d.thingspace.login(s.username, newPassword)
      this.openSessions.add(session)
      d.log.info('The new password logs in')
      return undefined
    } catch (error) {
      return error
    }
  }

  /** A verify login that failed without a refusal: said, and recorded if it may have counted. */
  private async verifyProblem(error: unknown): Promise<string> {
    const { d } = this
    const recorded = await this.state.verifyFailed(error, this.records[0].report.holdsNewPassword)
    const marker = recorded.recorded
      ? ` Runs nobody started by hand will not log in until the password secret is updated (recorded in ${d.github.stateName}).`
      : recorded.why
        ? ` Recording it in ${d.github.stateName} failed (${recorded.why}).`
        : ''
    return `the verify login with the new password failed (${errorText(error)}); it was not retried.${marker}`
  }

  /**
   * Targets whose password secret was written again after this run's store: read now, its time is
   * later than the one read back right after the store. GitHub's times are to the second, so a write
   * within the same second cannot be seen; a target that could not be read either time is taken as it is.
   */
  private async writtenAgain(): Promise<TargetRecord[]> {
    const { d } = this
    const stored = this.records.filter((r) => r.report.holdsNewPassword)
    const [first, now] = await Promise.all([
      Promise.all(stored.map((r) => r.storedAt ?? Promise.resolve(undefined))),
      Promise.allSettled(stored.map((r) => d.github.updatedAt(r.state!)))
    ])
    return stored.filter((_, i) => {
      const read = now[i]
      if (first[i] === undefined || read.status === 'rejected') return false
      return read.value === undefined || read.value.getTime() > first[i].getTime()
    })
  }

  private async logout(session: Session): Promise<void> {
    if (!this.openSessions.delete(session)) return
    try {
      await this.d.thingspace.logout(session)
    } catch (error) {
      this.d.log.warning(`ThingSpace logout failed (the session will expire on its own): ${errorText(error)}`)
    }
  }

  /** Logs out every open session and settles the rotation state (up to the deadline, once cancelled), then reports. */
  private async closing(verdict: Verdict, secretMoved = false): Promise<Outcome> {
    const { d } = this
    const logouts = Promise.all([...this.openSessions].map((session) => this.logout(session)))
    await d.cancel.untilDeadline(Promise.all([logouts, this.rotationState?.settle({ secretMoved })])).catch(() => {})
    return this.finish(verdict)
  }

  private finish(verdict: Verdict): Outcome {
    return { ...verdict, targets: this.records.map((r) => r.report) }
  }
}

/** A verify login the user service (or something behind the gateway) turned down: evidence the password no longer works. */
function isRefusal(error: unknown): error is ThingSpaceError {
  return error instanceof ThingSpaceError && error.call === 'login' && (error.kind === 'refused' || error.kind === 'unrecognised')
}
