/**
 * The rotation state, and the rule it exists for: no sequence of unattended runs spends more than a
 * few of the 5 failed logins that lock the username.
 *
 * `<secret-name>_ROTATION` is the action's own secret in every target. Writing it into every target
 * before the first login proves each target's secret store writable (GitHub grants secret writes per
 * store, so one name proves the store) without touching the password secret that consumers read. In
 * the home target (the first one) the same write is the record of a login that may count toward the
 * lockout, written before that login is sent, so a run that dies afterwards still stops the next
 * unattended run. The record is removed once a login succeeds (ThingSpace's count of failures starts
 * again) or when no login reached the user service.
 *
 * A record, or the `_REJECTED` marker an earlier version left, that is not older than the latest
 * password stored in any target is in force: another login with that password would only spend
 * another attempt, so a run nobody started by hand stops, and a run someone started tries once. A
 * record younger than a run can last may also be another run at work right now: every run stops.
 *
 * Runs that overlap are told apart where GitHub allows it: a run that found no record and whose proof
 * write to the home target was answered "updated" rather than "created" knows that another run wrote
 * the record in between, and stops before logging in.
 */
import { CancelledError, type Cancellation } from './cancellation.ts'
import { errorText } from './errors.ts'
import { writeMayHaveLanded, type TargetState, type WriteResult } from './github-secrets.ts'
import { mayHaveCounted, mayRetryLogin } from './thingspace.ts'

/** What the state needs of the GitHub secrets client. */
export interface StatePort {
  readonly stateName: string
  readonly legacyMarkerName: string
  write: (state: TargetState, plaintext: string, name?: string, signal?: AbortSignal) => Promise<WriteResult>
  remove: (state: TargetState, name: string) => Promise<void>
}

export interface StateDeps {
  github: StatePort
  cancel: Cancellation
  now: () => number
  log: { warning: (message: string) => void }
}

/**
 * What the home target's record says to a run: nothing; that another run may be at work right now
 * (`busy`: every run stops); or that a login may already have counted since the last store.
 */
export type LockoutDecision = { kind: 'clear' } | { kind: 'busy'; recordedAt: Date } | { kind: 'stop' | 'try-once'; recordedAt: Date; legacy: boolean }

/**
 * Longer than a run can take from its proof to its last store (GitHub's and ThingSpace's timeouts
 * with their retries): a record younger than this may belong to a run still at work.
 */
export const RUN_IN_PROGRESS_MS = 10 * 60 * 1000

/** Logins that may have counted without a refusal (lost, timed out, 5xx) are sent again at most this often per run. */
const LOGIN_RETRIES = 1

/** When the latest password was stored in any target (epoch ms; 0 if none holds one). */
export function lastStore(states: TargetState[]): number {
  return Math.max(0, ...states.map((st) => st.existing?.updatedAt.getTime() ?? 0))
}

/**
 * What the home target's records say, as a pure function of what was read. A record written in the
 * same second as the latest store is still in force (GitHub's times are to the second): the strict side.
 */
export function lockoutDecision(states: TargetState[], attended: boolean, now: number): LockoutDecision {
  const home = states[0]
  const stored = lastStore(states)
  const inForce = [
    { at: home?.recordAt, legacy: false },
    { at: home?.legacyMarkedAt, legacy: true }
  ].filter((r): r is { at: Date; legacy: boolean } => r.at !== undefined && r.at.getTime() >= stored)
  if (inForce.length === 0) return { kind: 'clear' }
  const latest = inForce.reduce((a, b) => (b.at.getTime() > a.at.getTime() ? b : a))
  if (!latest.legacy && now - latest.at.getTime() < RUN_IN_PROGRESS_MS) return { kind: 'busy', recordedAt: latest.at }
  return { kind: attended ? 'try-once' : 'stop', recordedAt: latest.at, legacy: latest.legacy }
}

/** How a failed login ends for the flow: sent again, or reported. */
export type LoginNext = 'retry' | 'stop'

export class RotationState {
  readonly decision: LockoutDecision
  private readonly d: StateDeps
  private readonly states: TargetState[]
  private readonly runLabel: string
  /** The record in the home target: none, one in force from an earlier run (this run's proof refreshed it), or only this run's own. */
  private record: 'none' | 'earlier' | 'ahead'
  private legacyPresent: boolean
  /** Some login of this run may have reached the user service (it succeeded, was refused, or its answer was lost). */
  private reachedService = false
  /** The latest login of this run succeeded, and none has failed in a way that may count since. */
  private clean = false
  /** Logins of this run that may have counted toward the lockout since its last successful one. */
  private counted = 0
  private retriesLeft: number
  private settling: Promise<void> | undefined

  constructor(states: TargetState[], attended: boolean, deps: StateDeps, runLabel: string) {
    this.states = states
    this.d = deps
    this.runLabel = runLabel
    this.decision = lockoutDecision(states, attended, deps.now())
    this.record = this.decision.kind === 'clear' ? 'none' : 'earlier'
    this.legacyPresent = states[0]?.legacyMarkedAt !== undefined
    // A login with a password that may already have been refused is sent once, never again.
    this.retriesLeft = this.decision.kind === 'try-once' ? 0 : LOGIN_RETRIES
  }

  private get home(): TargetState {
    return this.states[0]
  }

  /** Logins this run sent that ThingSpace may have counted since its last successful one. */
  get countedAttempts(): number {
    return this.counted
  }

  /**
   * Writes the rotation-state secret into every target: the proof that each can be written, and in
   * the home target the record ahead of the first login. Resolves with each target's write, and
   * whether another run wrote the home record between this run's read and its write (`contended`):
   * it found none, and GitHub answered that its write replaced one. That record is not this run's to
   * remove. A record of this run's that may have landed although the proof failed is removed again
   * when the run settles: no login will follow it.
   */
  async prove(signal: AbortSignal): Promise<{ written: PromiseSettledResult<WriteResult>[]; contended: boolean }> {
    const { github } = this.d
    const note = `${this.runLabel}: write proof; a login may count toward the lockout from ${new Date(this.d.now()).toISOString()}`
    const before = this.record
    if (before === 'none') this.record = 'ahead'
    const written = await Promise.allSettled(this.states.map((st) => github.write(st, note, github.stateName, signal)))
    const home = written[0]
    // A home write GitHub refused (a 4xx) stored nothing, so there is nothing of this run's to remove.
    if (home.status === 'rejected' && !writeMayHaveLanded(home.reason)) this.record = before
    const contended = this.home.recordAt === undefined && home.status === 'fulfilled' && home.value === 'updated'
    if (contended) this.record = 'earlier'
    return { written, contended }
  }

  /** A login succeeded: ThingSpace's count of failures starts again. */
  loginSucceeded(): void {
    this.reachedService = true
    this.clean = true
    this.counted = 0
  }

  /**
   * A login failed. One that may have counted is already recorded (the record was written ahead); it
   * is sent again only for a failure the rule allows (never a refusal) while the run's budget lasts.
   */
  loginFailed(error: unknown): LoginNext {
    if (!(error instanceof CancelledError) && !mayHaveCounted(error)) return 'stop'
    // A login abandoned in flight may have reached the user service like one whose answer was lost.
    this.reachedService = true
    this.clean = false
    this.counted++
    if (error instanceof CancelledError || this.d.cancel.cancelled || !mayRetryLogin(error, this.retriesLeft)) return 'stop'
    this.retriesLeft--
    return 'retry'
  }

  /**
   * Removes the records once they say nothing true: after this run's latest login succeeded, or when
   * none of its logins reached the user service (only this run's own record then: an earlier one
   * still stands). With `secretMoved`, the password secret changed since this run read it, so a
   * refusal of the old value says nothing about the one the secret now holds. A failed removal only
   * costs a needless stop of the next unattended run, and is said as a warning. Runs once.
   */
  settle(options: { secretMoved?: boolean } = {}): Promise<void> {
    this.settling ??= this.removeStale(options.secretMoved ?? false)
    return this.settling
  }

  private async removeStale(secretMoved: boolean): Promise<void> {
    const { github, cancel, log } = this.d
    const ownOnly = this.record === 'ahead' && (!this.reachedService || secretMoved)
    const names: string[] = []
    if (this.record !== 'none' && (this.clean || ownOnly)) names.push(github.stateName)
    if (this.legacyPresent && this.clean) names.push(github.legacyMarkerName)
    for (const name of names) {
      try {
        await cancel.untilDeadline(github.remove(this.home, name))
        if (name === github.stateName) this.record = 'none'
        else this.legacyPresent = false
      } catch (error) {
        log.warning(
          `Could not remove ${name} from ${this.home.target.label} (runs nobody started by hand may stop until the password secret is updated): ${errorText(error)}`
        )
      }
    }
  }

  /**
   * The verify login with the new password failed after the stores, which put every earlier record
   * out of force. One that may have counted is recorded afresh, after the removal that settling
   * started, unless the home target was written again after this run's store (it no longer holds the
   * password that was refused). Resolves with why recording failed, if it did.
   */
  async verifyFailed(error: unknown, homeHoldsThisRunsPassword: boolean): Promise<{ recorded: boolean; why?: string }> {
    if (!mayHaveCounted(error) || !homeHoldsThisRunsPassword) return { recorded: false }
    await this.settle()
    const { github, cancel } = this.d
    const note = `${this.runLabel}: the verify login may count toward the lockout from ${new Date(this.d.now()).toISOString()}`
    try {
      await cancel.untilDeadline(github.write(this.home, note, github.stateName))
      this.record = 'ahead'
      return { recorded: true }
    } catch (failure) {
      return { recorded: false, why: errorText(failure) }
    }
  }
}
