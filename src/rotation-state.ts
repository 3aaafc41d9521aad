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
 * A reset whose answer was lost may have changed the password, and the run never received the new one.
 * It is recorded in `<secret-name>_RESET_UNKNOWN` in the home target: while that is not older than the
 * login secret's latest store, the next run is due whatever min-age-days says, and its one login tells
 * (refused: the reset took effect; a success: it did not, and the record is removed).
 *
 * Runs that overlap are told apart where GitHub allows it: a run that found no record and whose proof
 * write to the home target was answered "updated" rather than "created" knows that another run wrote
 * the record in between, and stops before logging in.
 */
import { CancelledError, DeadlineReached, type Cancellation } from './cancellation.ts'
import { errorText } from './errors.ts'
import { writeMayHaveLanded, type TargetState, type WriteResult } from './github-secrets.ts'
import { mayHaveCounted, mayRetryLogin } from './thingspace.ts'

/** What the state needs of the GitHub secrets client. */
export interface StatePort {
  readonly stateName: string
  readonly legacyMarkerName: string
  readonly resetUnknownName: string
  /** When a secret of a target was last written, read again now; undefined when it is gone. */
  updatedAt: (state: Pick<TargetState, 'target'>, name: string) => Promise<Date | undefined>
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
export type LockoutDecision =
  { kind: 'clear' } | { kind: 'busy'; recordedAt: Date; where: string } | { kind: 'stop' | 'try-once'; recordedAt: Date; legacy: boolean }

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

/** When a reset whose answer was lost was recorded, if that record is in force (not older than `storedAt`, as for a lockout record). */
export function lostResetInForce(states: TargetState[], storedAt = lastStore(states)): Date | undefined {
  const at = states[0]?.resetUnknownAt
  return at !== undefined && at.getTime() >= storedAt ? at : undefined
}

/**
 * What the records say, as a pure function of what was read. A home record written in the same
 * second as the latest store is still in force (GitHub's times are to the second): the strict side.
 * A rotation-state secret younger than a run can last, in any target, may be another run at work.
 * `storedAt` is when the secret holding the password this run logs in with was last written: the
 * password secret's latest store, unless the run logs in with another secret's password (with alternating
 * usernames, the standby's). Only that store lifts a record: a new active password fixes no standby login.
 */
export function lockoutDecision(states: TargetState[], attended: boolean, now: number, storedAt = lastStore(states)): LockoutDecision {
  const home = states[0]
  const inForce = [
    { at: home?.recordAt, legacy: false },
    { at: home?.legacyMarkedAt, legacy: true }
  ].filter((r): r is { at: Date; legacy: boolean } => r.at !== undefined && r.at.getTime() >= storedAt)
  const recent = (at: Date | undefined): at is Date => at !== undefined && now - at.getTime() < RUN_IN_PROGRESS_MS
  const latest = inForce.length > 0 ? inForce.reduce((a, b) => (b.at.getTime() > a.at.getTime() ? b : a)) : undefined
  // Another run at work comes first: even a person's try-once would log in alongside it. (A home record
  // out of force was left by a run that stored a password after it: that run is done.)
  const atWork = states.find((st, i) => recent(st.recordAt) && (i > 0 || st.recordAt.getTime() >= storedAt))
  if (atWork) return { kind: 'busy', recordedAt: atWork.recordAt!, where: atWork.target.label }
  if (latest) return { kind: attended ? 'try-once' : 'stop', recordedAt: latest.at, legacy: latest.legacy }
  return { kind: 'clear' }
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
  /** Per target, what this run's proof left there: nothing, a copy it created, or one it wrote over. */
  private proof: ('none' | 'created' | 'updated' | 'maybe')[]
  private contended = false
  private legacyPresent: boolean
  /** The home target's record of a lost reset: none, one an earlier run left, or this run's own. */
  private lostReset: 'none' | 'earlier' | 'this run'
  /** The home record stands whatever the logins did: this run's lost reset could not be recorded otherwise. */
  private keepRecord = false
  /** Some login of this run may have reached the user service (it succeeded, was refused, or its answer was lost). */
  private reachedService = false
  /** The latest login of this run succeeded, and none has failed in a way that may count since. */
  private clean = false
  /** Logins of this run that may have counted toward the lockout since its last successful one. */
  private counted = 0
  private retriesLeft: number
  private settling: Promise<void> | undefined
  /** The proof's writes, which settling waits for (up to the deadline): a removal must not overtake a write still on its way. */
  private proving: Promise<unknown> | undefined

  constructor(states: TargetState[], attended: boolean, deps: StateDeps, runLabel: string, storedAt?: number) {
    this.states = states
    this.d = deps
    this.runLabel = runLabel
    this.decision = lockoutDecision(states, attended, deps.now(), storedAt)
    this.record = this.decision.kind === 'clear' ? 'none' : 'earlier'
    this.proof = states.map(() => 'none')
    this.legacyPresent = states[0]?.legacyMarkedAt !== undefined
    this.lostReset = states[0]?.resetUnknownAt !== undefined ? 'earlier' : 'none'
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
   * whether another run wrote the rotation state of some target between this run's read and its
   * write (`contended`): this run found none there, and GitHub answered that its write replaced one.
   * What this run's proof left behind is removed when it settles, unless it is a record that stands.
   */
  async prove(signal: AbortSignal): Promise<{ written: PromiseSettledResult<WriteResult>[]; contended: string | undefined }> {
    const { github } = this.d
    const note = `${this.runLabel}: write proof; a login may count toward the lockout from ${new Date(this.d.now()).toISOString()}`
    if (this.record === 'none') this.record = 'ahead'
    this.proof = this.states.map(() => 'maybe') // a signal may cut the writes short: they may land
    const proving = Promise.allSettled(this.states.map((st) => github.write(st, note, github.stateName, signal)))
    this.proving = proving
    const written = await proving
    this.proof = written.map((w) => (w.status === 'fulfilled' ? w.value : writeMayHaveLanded(w.reason) ? 'maybe' : 'none'))
    // A home write GitHub refused (a 4xx) stored nothing: no record of this run's stands there.
    if (this.proof[0] === 'none' && this.record === 'ahead') this.record = 'none'
    const contended = this.states.find((st, i) => st.recordAt === undefined && this.proof[i] === 'updated')
    this.contended = contended !== undefined
    if (this.contended) this.record = 'earlier' // another run's, not this run's to remove
    return { written, contended: contended?.target.label }
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
   * Removes what this run's proof left that says nothing true, so that the next run finds no
   * rotation state (and GitHub's "created" can tell it apart from a run writing at the same time):
   * - every copy, once this run's latest login succeeded (and an earlier version's marker with it);
   * - every copy, when none of its logins reached the user service and the home record is only this
   *   run's (with `secretMoved` too: the password secret changed since this run read it, so a
   *   refusal of the old value says nothing about the one the secret now holds);
   * - otherwise every copy but the home record, which stands (a login may have counted);
   * - only the copies it created, when another run is at work (the rest are that run's).
   * A failed removal is a warning: it costs at most a needless stop of the next unattended run. Runs once.
   */
  settle(options: { secretMoved?: boolean } = {}): Promise<void> {
    this.settling ??= this.removeStale(options.secretMoved ?? false)
    return this.settling
  }

  private async removeStale(secretMoved: boolean): Promise<void> {
    const { github, cancel } = this.d
    if (this.proving) await cancel.untilDeadline(this.proving).catch(() => {})
    const ownRecordOnly = this.record === 'ahead' && (!this.reachedService || secretMoved)
    const homeGoes = !this.keepRecord && (this.clean || ownRecordOnly)
    const removals: Promise<void>[] = this.states.flatMap((st, i) => {
      const left = this.proof[i]
      const goes = this.contended ? left === 'created' : left !== 'none' && (i > 0 || homeGoes)
      if (!goes) return []
      return [
        this.removeFrom(st, github.stateName).then((removed) => {
          if (removed && i === 0) this.record = 'none'
        })
      ]
    })
    if (this.legacyPresent && this.clean) {
      removals.push(
        this.removeFrom(this.home, github.legacyMarkerName).then((removed) => {
          if (removed) this.legacyPresent = false
        })
      )
    }
    // A login with the stored password succeeded after an earlier run lost its reset's answer: that reset did not change it.
    if (this.lostReset === 'earlier' && this.clean) removals.push(this.removeEarlierLostReset())
    await Promise.all(removals)
  }

  /**
   * Removes the record of an earlier run's lost reset, read again first: a later write is another run's
   * record of its own lost reset, which this run's login says nothing about, so it stays.
   */
  private async removeEarlierLostReset(): Promise<void> {
    const { github, cancel } = this.d
    const read = this.home.resetUnknownAt!.getTime()
    let now: Date | undefined
    try {
      now = await cancel.untilDeadline(github.updatedAt(this.home, github.resetUnknownName))
    } catch (error) {
      this.d.log.warning(
        `Could not remove ${github.resetUnknownName} from ${this.home.target.label} (reading it again failed; the next run logs in once more to find out): ${errorText(error)}`
      )
      return
    }
    if (now === undefined || now.getTime() !== read) return
    if (await this.removeFrom(this.home, github.resetUnknownName)) this.lostReset = 'none'
  }

  /**
   * This run's reset was sent and its answer lost: recorded in the home target (before settling), so
   * that the next run is due and finds out with one login. If that cannot be written, the record of
   * this run's login stands instead: runs nobody started by hand then stop rather than report not-due.
   * Resolves with why recording failed, if it did.
   */
  async resetMayHaveTakenEffect(): Promise<string | undefined> {
    const { github, cancel } = this.d
    const note = `${this.runLabel}: a reset was sent and its answer lost; recorded at ${new Date(this.d.now()).toISOString()}`
    try {
      if (cancel.pastDeadline) throw new DeadlineReached()
      await cancel.untilDeadline(github.write(this.home, note, github.resetUnknownName))
      this.lostReset = 'this run'
      return undefined
    } catch (failure) {
      this.keepRecord = true
      return errorText(failure)
    }
  }

  private async removeFrom(state: TargetState, name: string): Promise<boolean> {
    try {
      await this.d.cancel.untilDeadline(this.d.github.remove(state, name))
      return true
    } catch (error) {
      this.d.log.warning(
        `Could not remove ${name} from ${state.target.label} (runs nobody started by hand may stop until the password secret is updated): ${errorText(error)}`
      )
      return false
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
