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
import { pairProblems, type NamedValue, type PairState, type StandbyState, type UsernamePort } from './alternation.ts'
import { CancelledError, DeadlineReached, type Cancellation } from './cancellation.ts'
import { errorText } from './errors.ts'
import { writeMayHaveLanded, type JobRef, type ReadTime, type SealFn, type TargetState, type WriteResult } from './github-secrets.ts'
import type { Alternation, Settings } from './inputs.ts'
import type { Sleep } from './retry.ts'
import { verdicts, type Outcome, type TargetReport, type Verdict } from './outcomes.ts'
import { dueTargets, isAttended, sessionMayHaveExpired, shadowCandidate, staleTargets, tokenOwnerWarning } from './preflight.ts'
import { RotationState, lastStore, lostResetInForce, type StatePort } from './rotation-state.ts'
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
  updatedAt: (state: Pick<TargetState, 'target'>, name?: string) => Promise<Date | undefined>
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
  /** Where the usernames live, with alternating usernames (Actions variables, or secrets). */
  usernames?: UsernamePort
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
  /** With alternating usernames: the active username this target names. */
  pair?: PairState
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
  /** With alternating usernames: the home target's standby pair as read. */
  private standby: StandbyState | undefined
  /** When an earlier run recorded a reset whose answer was lost, if that record is in force. */
  private lostResetAt: Date | undefined
  /** With usernames in variables: this run's proof writes of the variable store, removed when it settles. */
  private variableProofs: Promise<WriteResult>[] = []
  private settling: Promise<void> | undefined
  /** The username this run logs in as and resets, and its password: the standby pair with alternating usernames. */
  private readonly loginUsername: string
  private readonly loginPassword: string

  constructor(settings: Settings, deps: RotationDeps) {
    this.s = settings
    this.d = deps
    this.loginUsername = settings.alternation?.standbyUsername ?? settings.username
    this.loginPassword = settings.alternation?.standbyPassword ?? settings.password
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

  /** The secret that holds the password this run logs in with: with alternating usernames, the standby's. */
  private get loginSecretName(): string {
    return this.s.alternation?.standbyPasswordName ?? this.s.secretName
  }

  /**
   * When that secret was last stored (epoch ms; 0 if never): only its store lifts a lockout record,
   * since a new active password fixes no refused standby login.
   */
  private get loginSecretStoredAt(): number {
    return this.s.alternation ? (this.standby?.passwordAt?.getTime() ?? 0) : lastStore(this.states)
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
    d.cancel.signal.throwIfAborted() // a signal that came while the action loaded: nothing is sent
    const owners = tokenOwnerWarning(s.targets, s.githubToken)
    if (owners) d.log.warning(owners)
    if (s.minAgeDays === 0) this.requestToken()
    d.log.info(`Reading ${s.targets.length} target${s.targets.length === 1 ? '' : 's'} for secret ${s.secretName}`)
    const reading = Promise.all([
      Promise.allSettled(s.targets.map((t, i) => d.github.inspect(t, i === 0))),
      this.secretsReadAt(),
      Promise.allSettled(this.readPairs()),
      this.warnIfShadowed()
    ])
    d.prepareSeal() // once the reads are on the wire: the proof is the first thing sealed
    const [inspected, readAt, pairs] = await d.cancel.guard(reading)
    const failures: string[] = pairs.flatMap((p) => (p.status === 'rejected' ? [errorText(p.reason)] : []))
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

    const attended = isAttended(s.eventName, s.triggeringActor)
    this.rotationState = new RotationState(
      this.states,
      attended,
      { github: d.github, cancel: d.cancel, now: d.now, log: d.log },
      this.runLabel(),
      this.loginSecretStoredAt
    )
    const lockout = this.state.decision
    // Due whatever min-age-days says while the stored password is in doubt: a reset whose answer was lost
    // may have changed it, or a login with it was refused (or may have counted). A green not-due would hide it.
    this.lostResetAt = lostResetInForce(this.states, this.loginSecretStoredAt)
    const inDoubt = this.lostResetAt !== undefined || lockout.kind === 'stop' || lockout.kind === 'try-once'
    const due = inDoubt ? this.states : dueTargets(this.states, s.minAgeDays, d.now())
    if (due.length === 0) {
      for (const r of this.records) r.report.outcome = 'unchanged (not due)'
      return verdicts.notDue(s.secretName, s.minAgeDays)
    }
    if (this.lostResetAt) {
      d.log.info(
        `Due: a reset whose answer was lost (recorded in ${d.github.resetUnknownName} of ${this.home.label} at ${this.lostResetAt.toISOString()}) may have changed the password; one login tells`
      )
    } else if (lockout.kind === 'stop' || lockout.kind === 'try-once') {
      d.log.info(`Due: a login with this password was refused, or may have been counted, at ${lockout.recordedAt.toISOString()}`)
    } else if (s.minAgeDays > 0) {
      d.log.info(`Due: ${due.map((st) => `${st.target.label} (${st.existing ? `older than ${s.minAgeDays} days` : 'no secret'})`).join(', ')}`)
    }

    const stale = [...staleTargets(this.states, readAt?.at).map((st) => st.target.label), ...this.stalePairs(readAt?.at)]
    if (stale.length > 0) return verdicts.staleInput(stale, s.secretName, readAt!, this.tokenRequested)
    if (s.alternation) {
      const problems = pairProblems(
        this.states,
        this.records.map((r) => r.pair!),
        s.alternation,
        s.username
      )
      if (problems.length > 0) return verdicts.pairsDisagree(problems, s.alternation.standbyUsername, this.tokenRequested)
    }

    if (lockout.kind === 'busy') {
      return verdicts.anotherRunAtWork({ recordedAt: lockout.recordedAt, recordName: d.github.stateName, where: lockout.where })
    }
    const recordName = lockout.kind !== 'clear' && lockout.legacy ? d.github.legacyMarkerName : d.github.stateName
    if (lockout.kind === 'stop') {
      // The standby's password is kept in the home target only.
      const secret = { name: this.loginSecretName, where: s.alternation ? `in ${this.home.label}` : 'in any target' }
      return verdicts.lockoutStop(lockout, recordName, this.home.label, secret, this.tokenRequested)
    }
    if (lockout.kind === 'try-once') {
      d.log.warning(
        `A login with this password was refused, or may have been counted, at ${lockout.recordedAt.toISOString()} (recorded in ${recordName}), and ${this.loginSecretName} has not been updated since; ` +
          `trying once, without retrying, because a person started this run (${s.eventName ?? 'a local run'}).`
      )
    }
    return undefined
  }

  /**
   * With alternating usernames, the active username in every target and the home target's standby
   * pair, read with the targets. Each resolves when its part is known (a failure fails the reads).
   */
  private readPairs(): Promise<void>[] {
    const { s, d } = this
    const alt = s.alternation
    if (!alt) return []
    const usernames = d.usernames!
    const perTarget = s.targets.map(async (t, i) => {
      this.records[i].pair = { username: await usernames.read(t, alt.usernameName) }
    })
    const home = s.targets[0]
    const standby = (async () => {
      const [passwordAt, username] = await Promise.all([
        d.github.updatedAt({ target: home }, alt.standbyPasswordName),
        usernames.read(home, alt.standbyUsernameName)
      ])
      this.standby = { passwordAt, username }
    })()
    return [...perTarget, standby]
  }

  /** Warns when this repository's own secret of the name shadows an organization target's in its workflows. */
  private async warnIfShadowed(): Promise<void> {
    const { s, d } = this
    const here = shadowCandidate(s.targets, s.repository)
    if (!here) return
    const own = await d.github.updatedAt({ target: here }, s.secretName).catch(() => undefined)
    if (own === undefined) return
    const orgs = s.targets
      .filter((t) => t.kind === 'org' && t.app === 'actions' && t.org.toLowerCase() === s.repository?.owner.toLowerCase())
      .map((t) => t.label)
    d.log.warning(
      `${here.label} has a ${s.secretName} secret of its own (updated ${own.toISOString()}), which takes precedence over ${orgs.join(', ')} in its workflows: ` +
        `this workflow reads that one, which this run does not write. Delete it, or add "repo" to the targets.`
    )
  }

  /** With alternating usernames: where the username or the standby pair changed after this job read its inputs. */
  private stalePairs(readAt: Date | undefined): string[] {
    const alt = this.s.alternation
    if (!alt || !readAt) return []
    // As for the password secret (staleTargets): a write in the very second the job started counts.
    const after = (v: NamedValue | Date | undefined): boolean => {
      const at = v instanceof Date ? v : v?.updatedAt
      return at !== undefined && Math.floor(at.getTime() / 1000) >= Math.floor(readAt.getTime() / 1000)
    }
    const labels = this.records.filter((r) => after(r.pair?.username)).map((r) => `${r.report.label} (${alt.usernameName})`)
    if (after(this.standby?.passwordAt) || after(this.standby?.username)) labels.push(`${this.home.label} (the standby pair)`)
    return labels
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
    const [{ written, contended }, variables] = await d.cancel.guard(Promise.all([this.state.prove(d.cancel.signal), this.proveVariables()]))
    const texts: string[] = []
    written.forEach((w, i) => {
      const { report } = this.records[i]
      const v = variables[i]
      if (w.status === 'fulfilled' && v?.status !== 'rejected') {
        report.outcome = `write proven (${d.github.stateName}${v ? ', and a variable of that name' : ''})`
      } else {
        for (const failed of [w, v]) if (failed?.status === 'rejected') texts.push(errorText(failed.reason))
        report.outcome = 'not writable'
      }
    })
    if (texts.length > 0) return verdicts.proofFailed(texts, d.github.stateName, this.tokenRequested)
    if (contended) {
      return verdicts.anotherRunAtWork({ recordName: d.github.stateName, where: contended })
    }
    d.log.info('Every target is writable')
    return undefined
  }

  /**
   * With usernames kept in Actions variables, their store is proven too (GitHub grants variables a
   * permission of their own): a variable named like the rotation-state secret, removed when the run settles.
   */
  private async proveVariables(): Promise<(PromiseSettledResult<WriteResult> | undefined)[]> {
    const { s, d } = this
    if (s.alternation?.usernameKind !== 'variable') return []
    const note = `${this.runLabel()}: write proof`
    this.variableProofs = this.records.map((r) => d.usernames!.write(r.state!, d.github.stateName, note, false, d.cancel.signal))
    return Promise.allSettled(this.variableProofs)
  }

  /** Removes what this run's proof left behind once it says nothing true (rotation-state.ts), and the variables it proved with. */
  private settle(options: { secretMoved?: boolean } = {}): Promise<void> {
    this.settling ??= Promise.all([
      this.rotationState?.settle(options),
      ...this.variableProofs.map((proof, i) => this.removeVariableProof(proof, i))
    ]).then(() => {})
    return this.settling
  }

  private async removeVariableProof(proof: Promise<WriteResult>, i: number): Promise<void> {
    const { d } = this
    const landed = await proof.then(
      () => true,
      (error: unknown) => writeMayHaveLanded(error)
    )
    if (!landed) return
    await d.cancel
      .untilDeadline(d.usernames!.remove(this.records[i].state!, d.github.stateName))
      .catch((error: unknown) => this.warnNotRemoved(error))
  }

  private warnNotRemoved(error: unknown): void {
    this.d.log.warning(`Could not remove the variable ${this.d.github.stateName} this run proved a target with: ${errorText(error)}`)
  }

  // Step 4: log in with the password this job read. A refusal is never retried; an attempt that may
  // have counted without an answer is already recorded (ahead), and is sent again only as the rotation
  // state allows.
  private async logIn(): Promise<{ session: Session } | { verdict: Verdict; secretMoved?: boolean }> {
    const { d } = this
    // The token first (the one requested early, if any: its failure is not asked again), so a
    // cancellation while it comes is not taken for a login sent.
    await d.cancel.guard(this.earlyToken ?? d.thingspace.token('login'))
    this.earlyToken = undefined
    for (let attempt = 1; ; attempt++) {
      try {
        const session = await this.loginOnce(this.loginPassword)
        d.log.info(`Logged in to ThingSpace as ${this.loginUsername}`)
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
    if (moved.length > 0) return { verdict: verdicts.loginRefusedSecretMoved(error, this.loginUsername, moved, s.secretName), secretMoved: true }
    return {
      verdict: verdicts.loginSpent(error, {
        attempts,
        username: this.loginUsername,
        recordName: d.github.stateName,
        home: this.home.label,
        secretName: this.loginSecretName,
        storedAt: this.loginSecretStoredAt,
        standby: s.alternation !== undefined,
        lostReset: this.lostResetAt && { at: this.lostResetAt, recordName: d.github.resetUnknownName }
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
      const session = await d.cancel.guard(d.thingspace.login(this.loginUsername, password))
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
      newPassword = await d.cancel.untilDeadline(d.thingspace.resetPassword(session, this.loginPassword))
      this.lastThingSpaceActivity = d.now()
    } catch (error) {
      return this.closing(await this.resetFailure(error))
    }
    d.log.info('ThingSpace issued a new password; storing it in every target')

    const recovery = this.sealForRecovery(newPassword)
    const inFlight = new Set(this.records)
    /** Writes that failed without a 4xx: GitHub may have stored the value before its answer was lost. */
    const uncertain = new Set<TargetRecord>()
    const stored = this.records.map((r) =>
      this.storeIn(r, newPassword).then((landed) => {
        inFlight.delete(r)
        if (landed === 'maybe') uncertain.add(r)
      })
    )
    let standbyProblem: string | undefined = s.alternation ? 'the write had not finished when the runner cancelled the step' : undefined
    // The previous password is sealed as soon as its standby is known lost, so that a deadline already
    // passed at the end cannot hide a value sealed long before it.
    let standbySealed: Promise<string | undefined> | undefined
    const standbyKept = this.keepStandby().then((problem) => {
      standbyProblem = problem
      if (problem) standbySealed = this.sealForRecovery(s.password)
    })
    const logout = this.logout(session)

    try {
      await d.cancel.untilDeadline(Promise.all([...stored, standbyKept]))
    } catch {
      for (const r of inFlight) r.report.outcome = 'unknown: the write had not finished when the runner cancelled the step'
    }

    // After the stores, the last word: the verify login says whether the new password is still the
    // live one, and a second read whether any target was written again since this run's store
    // (another rotation overlapping this one). The record of this run's login comes off meanwhile:
    // that login succeeded.
    this.readBack()
    const settled = this.settle()
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
    const swap = s.alternation ? { active: s.alternation.standbyUsername, standby: s.username } : undefined
    if (allStored && !standbyProblem) {
      return this.finish(verifyProblem ? verdicts.rotatedVerifyFailed(verifyProblem) : verdicts.rotated(verified, swap))
    }
    // Each awaited on its own: a value already sealed is given even once the deadline has passed.
    const recoveryCiphertext = await d.cancel.untilDeadline(recovery).catch(() => undefined)
    const standbyCiphertext = standbyProblem
      ? await d.cancel.untilDeadline(standbySealed ?? this.sealForRecovery(s.password)).catch(() => undefined)
      : undefined
    return this.finish(
      verdicts.notStoredEverywhere({
        verifyProblem,
        standbyLost:
          standbyProblem && swap ? { home: this.home.label, username: swap.standby, why: standbyProblem, ciphertext: standbyCiphertext } : undefined,
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

  /** The value sealed to the recovery key, if one was given; undefined if sealing failed. */
  private sealForRecovery(value: string): Promise<string | undefined> {
    const { s, d } = this
    return s.recoveryPublicKey ? d.seal(value, s.recoveryPublicKey).catch(() => undefined) : Promise.resolve(undefined)
  }

  /**
   * Stores the new password in one target. Says whether the target now holds it: yes, no, or maybe
   * (a write failed without a 4xx, so it may have landed).
   */
  private async storeIn(r: TargetRecord, newPassword: string): Promise<'yes' | 'no' | 'maybe'> {
    const { s, d } = this
    if (s.alternation) return this.storePairIn(r, newPassword, s.alternation)
    try {
      await d.github.write(r.state!, newPassword)
    } catch (error) {
      const maybe = writeMayHaveLanded(error)
      r.report.outcome = maybe
        ? `unknown, the write may have landed: ${errorText(error)}`
        : `NOT stored, still holds the old password: ${errorText(error)}`
      return maybe ? 'maybe' : 'no'
    }
    this.stored(r, 'new password stored')
    return 'yes'
  }

  /** A target that holds the new password: its secret's time is read back once every store has settled (`readBack`). */
  private stored(r: TargetRecord, outcome: string): void {
    r.report.outcome = outcome
    r.report.holdsNewPassword = true
  }

  /**
   * Reads back the time of every stored password secret, to compare with a second read at the end
   * (both GitHub's own times). Done once the stores have settled, beside the verify login, so that the
   * reads never hold up a store: the window after the reset stays the stores' alone.
   */
  private readBack(): void {
    for (const r of this.records) if (r.report.holdsNewPassword) r.storedAt = this.d.github.updatedAt(r.state!).catch(() => undefined)
  }

  /**
   * With alternating usernames: the username, then the password, so that a target is never left with
   * half of the new pair. A username write that failed leaves the previous pair whole (and is written
   * back, if it may have landed); a password write that failed after the username landed writes the
   * username back, so the target keeps the previous pair, which still works (it was not reset). Only a
   * target whose write-back also failed can hold half a pair: it is reported as unknown.
   */
  private async storePairIn(r: TargetRecord, newPassword: string, alt: Alternation): Promise<'yes' | 'no' | 'maybe'> {
    const { s, d } = this
    const writeName = (value: string): Promise<unknown> => d.usernames!.write(r.state!, alt.usernameName, value, r.pair?.username !== undefined)
    const writeBack = async (why: string, mayHaveLanded: boolean): Promise<'no' | 'maybe'> => {
      if (!mayHaveLanded) {
        r.report.outcome = `NOT stored, still holds the previous pair: ${why}`
        return 'no'
      }
      try {
        await writeName(s.username)
        r.report.outcome = `NOT stored (${alt.usernameName} written back to ${s.username}), still holds the previous pair: ${why}`
        return 'no'
      } catch (error) {
        r.report.outcome = `unknown, it may hold half of the new pair (${alt.usernameName} could not be written back: ${errorText(error)}): ${why}`
        return 'maybe'
      }
    }
    try {
      await writeName(alt.standbyUsername)
    } catch (error) {
      return writeBack(errorText(error), writeMayHaveLanded(error))
    }
    try {
      await d.github.write(r.state!, newPassword)
    } catch (error) {
      // A password write that may have landed did, if the secret's time moved since this run read it.
      const before = r.state!.existing?.updatedAt.getTime()
      const maybe = writeMayHaveLanded(error)
      const now = maybe ? await d.github.updatedAt(r.state!).catch(() => undefined) : undefined
      if (now !== undefined && now.getTime() !== before) {
        this.stored(r, `new password stored (its answer was lost), with ${alt.usernameName} = ${alt.standbyUsername}`)
        return 'yes'
      }
      const written = await writeBack(errorText(error), true)
      if (!maybe || now !== undefined || written === 'maybe') return written
      // Its time unreadable, the password may have landed beside the username written back.
      r.report.outcome = `unknown, it may hold half of the new pair (the password's time could not be read again; ${alt.usernameName} written back to ${s.username}): ${errorText(error)}`
      return 'maybe'
    }
    this.stored(r, `new password stored, with ${alt.usernameName} = ${alt.standbyUsername}`)
    return 'yes'
  }

  /**
   * With alternating usernames: the previous active pair, unchanged and still valid, becomes the
   * standby in the home target: the password, then the username, so that a half-written standby
   * names the active username and the next run stops at its inputs instead of logging in with a
   * mismatched pair. Resolves with why not, if it could not be stored.
   */
  private async keepStandby(): Promise<string | undefined> {
    const { s, d } = this
    const alt = s.alternation
    if (!alt) return undefined
    const home = this.records[0].state!
    try {
      await d.github.write(home, s.password, alt.standbyPasswordName)
      await d.usernames!.write(home, alt.standbyUsernameName, s.username, this.standby?.username !== undefined)
      return undefined
    } catch (error) {
      return errorText(error)
    }
  }

  private async resetFailure(error: unknown): Promise<Verdict> {
    if (error instanceof DeadlineReached) return this.resetUnknown('the runner cancelled the step before the answer came')
    if (error instanceof ThingSpaceError) {
      // Refused by the user service right after a login with the same password: another rotation, most likely.
      if (error.kind === 'refused' && !isSessionError(error)) return verdicts.resetRefusedAfterLogin(error, this.loginUsername, this.s.secretName)
      // Stopped at the gateway, a session no longer valid, or the token never obtained: not processed.
      if (error.call === 'token' || ['refused', 'gateway', 'oauth', 'not-sent'].includes(error.kind))
        return verdicts.resetNotProcessed(error, isSessionError(error))
    }
    return this.resetUnknown(errorText(error))
  }

  /** This run's reset may have taken effect, and it never received a new password: recorded, so the next run finds out. */
  private async resetUnknown(what: string): Promise<Verdict> {
    const { s, d } = this
    const standby = s.alternation ? { secretName: s.alternation.standbyPasswordName, home: this.home.label } : undefined
    const failed = await this.state.resetMayHaveTakenEffect()
    const recorded = { recordName: d.github.resetUnknownName, stateName: d.github.stateName, home: this.home.label, failed }
    return verdicts.resetUnknown(what, this.loginUsername, standby, recorded)
  }

  /** Logs in with the new password once the stores are done (its session is logged out with the others); resolves with the error if it failed. Never retried. */
  private async verifyLogin(newPassword: string): Promise<unknown> {
    const { d } = this
    try {
      const session = await d.thingspace.login(this.loginUsername, newPassword)
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
    await d.cancel.untilDeadline(Promise.all([logouts, this.settle({ secretMoved })])).catch(() => {})
    return this.finish(verdict)
  }

  private finish(verdict: Verdict): Outcome {
    const { s } = this
    const targets = this.records.map((r) => r.report)
    const alt = s.alternation
    // With alternating usernames, the new pair is the active one wherever it was stored.
    const swapped = alt !== undefined && targets.some((t) => t.holdsNewPassword)
    const activeUsername = swapped ? alt.standbyUsername : s.username
    return { ...verdict, targets, activeUsername, ...(alt ? { usernames: this.usernames(swapped) } : {}) }
  }

  /** Both usernames, which one is active now, and when each password was last reset (as far as the targets tell). */
  private usernames(swapped: boolean): Outcome['usernames'] {
    const { s, d } = this
    const alt = s.alternation!
    const lastStore = Math.max(0, ...this.records.map((r) => r.state?.existing?.updatedAt.getTime() ?? 0))
    const before = lastStore > 0 ? new Date(lastStore).toISOString() : 'unknown'
    const names = { name: alt.usernameName, kind: alt.usernameKind }
    return swapped
      ? { active: alt.standbyUsername, activeResetAt: new Date(d.now()).toISOString(), standby: s.username, standbyResetAt: before, ...names }
      : { active: s.username, activeResetAt: before, standby: alt.standbyUsername, standbyResetAt: 'unknown', ...names }
  }
}

/** A verify login the user service (or something behind the gateway) turned down: evidence the password no longer works. */
function isRefusal(error: unknown): error is ThingSpaceError {
  return error instanceof ThingSpaceError && error.call === 'login' && (error.kind === 'refused' || error.kind === 'unrecognised')
}
