/**
 * In-memory stand-ins for everything `rotate()` talks to, so the flow runs in process with no socket
 * and no real timer:
 * - `FakeClock`: virtual time. `schedule` is the manual Schedule for `Cancellation`; `sleep` is how
 *   every fake call takes its time; `drive` runs a promise to completion, moving the clock to the next
 *   timer whenever nothing else can happen (and failing loudly if the flow waits on nothing).
 * - `FakeThingSpace`: one live password, the 5-failure lockout counter, sessions that expire after 20
 *   idle minutes on the fake clock, a reset that issues a new password effective at once (checking
 *   `oldPassword`, or not with `checksOldPassword: false`), and per-call scripted faults that throw real
 *   `ThingSpaceError`s, including "lost after the server acted"; a refusal's code is its end event's value.
 * - `FakeSecrets`: plaintext per target label and secret name (the port seals inside `write`, so
 *   nothing to open), with updatedAt (to the millisecond, or to the second like GitHub with
 *   `timePrecisionMs: 1000`); the rotation-state secret and an earlier version's marker read from the
 *   home target; removals; re-reads; when the job (or the run) started; per-target faults
 *   (`GitHubError`), per-secret write and re-read faults, removal faults, and a read-only token; a failed
 *   write's end event carries the status GitHub answered. Like the real port it sends at
 *   most WRITE_CONCURRENCY writes and removals at once (`maxInFlight` says how many it ever had), and a
 *   write still queued when its signal aborts is not sent.
 * - `FakeVariables`: Actions variables in memory (readable values, times like GitHub's, a queue of its
 *   own of WRITE_CONCURRENCY, per `label name` faults), for alternating usernames kept as variables.
 * - `World`: the fakes wired into `RotationDeps` with a `Cancellation` on the fake clock, hooks that
 *   run at the start (or end) of any call (to deliver a signal at the worst moment), and a record of
 *   events (each signal keeps its place in it). With `alternation` in the settings the usernames go
 *   through the real adapters (`usernamesAsVariables` over `FakeVariables`, `usernamesAsSecrets` over
 *   `FakeSecrets`). `overlap` runs several rotations at once against the same fakes, each call
 *   attributed to its run. A login event names its username.
 * `makeSettings` describes a run started by hand (workflow_dispatch); a test of an unattended run says so.
 * `alternation(kind)` gives the alternating-usernames settings whose standby pair is STANDBY_USERNAME and
 * STANDBY_PASSWORD (the fake ThingSpace then needs `username: STANDBY_USERNAME`).
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { usernamesAsSecrets, usernamesAsVariables, type UsernamePort } from '../../src/alternation.ts'
import { Cancellation, KILL_AFTER_MS, REPORT_MARGIN_MS } from '../../src/cancellation.ts'
import { GitHubError, WRITE_CONCURRENCY, type JobRef, type ReadTime, type TargetState, type WriteResult } from '../../src/github-secrets.ts'
import type { GitHubVariables, StoredVariable, VariableAccess } from '../../src/github-variables.ts'
import type { Alternation, Settings } from '../../src/inputs.ts'
import type { Outcome } from '../../src/outcomes.ts'
import { rotate, type FlowLog, type RotationDeps, type SecretsPort, type ThingSpacePort } from '../../src/rotation.ts'
import { parseTargets, type Repository, type Target, type Visibility } from '../../src/targets.ts'
import { ThingSpaceError, type FailureKind, type Session, type ThingSpaceCall } from '../../src/thingspace.ts'

export const MINUTE = 60_000
export const DAY = 24 * 60 * MINUTE
export const START = Date.parse('2025-06-01T12:00:00.000Z')
export const REPOSITORY: Repository = { owner: 'acme', repo: 'fleet' }
export const USERNAME = 'fleet-api'
export const PASSWORD = 'Old-Pa55word!'
export const SECRET = 'THINGSPACE_PASSWORD'
/** The action's rotation-state secret (write proof everywhere, lockout record in the home target). */
export const STATE = `${SECRET}_ROTATION`
/** The lockout marker of earlier versions, honoured until superseded. */
export const LEGACY = `${SECRET}_REJECTED`
/** A reset whose answer was lost, recorded in the home target for the next run. */
export const RESET_UNKNOWN = `${SECRET}_RESET_UNKNOWN`
export const RECOVERY_KEY = `${'R'.repeat(43)}=`
export const IDLE_LIMIT_MS = 20 * MINUTE
/** Alternating usernames: the standby pair this run logs in as and resets, and the names of the usernames' stores. */
export const STANDBY_USERNAME = 'fleet-api-b'
export const STANDBY_PASSWORD = 'Standby-Pa55!'
export const USERNAME_NAME = 'THINGSPACE_USERNAME'
export const STANDBY_SECRET = `${SECRET}_STANDBY`
export const STANDBY_USERNAME_NAME = `${USERNAME_NAME}_STANDBY`

// ---------------------------------------------------------------------------------------------------
// Virtual time

interface Timer {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
}

export type Settled<T> = { status: 'fulfilled'; value: T; at: number } | { status: 'rejected'; reason: unknown; at: number }

/** Lets every queued microtask (and the ones they queue) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export class FakeClock {
  private t: number
  private seq = 0
  private timers: Timer[] = []

  constructor(start = START) {
    this.t = start
  }

  readonly now = (): number => this.t

  /** The manual Schedule for `Cancellation`: runs `fn` when the virtual clock reaches now + ms. */
  readonly schedule = (ms: number, fn: () => void): (() => void) => {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false }
    this.timers.push(timer)
    return () => {
      timer.cancelled = true
    }
  }

  readonly sleep = (ms: number): Promise<void> => new Promise((resolve) => this.schedule(ms, resolve))

  /** Runs `fn` at the absolute virtual time `time` (at once if it has passed). */
  at(time: number, fn: () => void): void {
    this.schedule(time - this.t, fn)
  }

  /** Moves the clock forward without running timers (they run, late, at the next step). */
  jump(ms: number): void {
    this.t += ms
  }

  private next(): Timer | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled)
    let best: Timer | undefined
    for (const t of this.timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    return best
  }

  private fire(timer: Timer): void {
    timer.cancelled = true
    this.t = Math.max(this.t, timer.at)
    timer.fn()
  }

  /** Moves the clock forward by `ms`, running every timer that falls due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.t + ms
    for (;;) {
      await flush()
      const timer = this.next()
      if (!timer || timer.at > until) break
      this.fire(timer)
    }
    this.t = Math.max(this.t, until)
    await flush()
  }

  /** Runs `promise` to its end on virtual time; throws if it waits on something no timer will ever bring. */
  async drive<T>(promise: Promise<T>, maxSteps = 100_000): Promise<Settled<T>> {
    let settled: Settled<T> | undefined
    promise.then(
      (value) => (settled = { status: 'fulfilled', value, at: this.t }),
      (reason: unknown) => (settled = { status: 'rejected', reason, at: this.t })
    )
    for (let step = 0; step < maxSteps; step++) {
      await flush()
      if (settled) return settled
      const timer = this.next()
      if (!timer) throw new Error(`deadlock at +${this.t - START} ms: the flow waits on something no fake timer will bring`)
      this.fire(timer)
    }
    throw new Error(`no end after ${maxSteps} timer steps`)
  }
}

// ---------------------------------------------------------------------------------------------------
// Events and hooks

export interface CallEvent {
  service: 'thingspace' | 'github'
  /** `vread`, `vwrite`, `vremove`: Actions variables (`FakeVariables`). */
  call: ThingSpaceCall | 'inspect' | 'write' | 'remove' | 'runStart' | 'reread' | 'vread' | 'vwrite' | 'vremove'
  /** 0-based index of this call among calls of its kind (per target label for GitHub calls). */
  n: number
  phase: 'start' | 'end'
  at: number
  label?: string
  /** The secret written (GitHub writes). */
  name?: string
  /** The value written, the password a login used, or the session a reset/logout used. */
  value?: string
  /** The username a login used. */
  username?: string
  /** 'ok', or the failure kind (ThingSpace) / 'error' (GitHub). */
  outcome?: string
  /** Whether the server did the work (counted a login, changed the password, stored a value). */
  acted?: boolean
  /** The status a failed GitHub write answered with (undefined: no answer came, so it may have landed). */
  status?: number
  /** Which of several overlapping runs made the call (`World.overlap`); undefined for a run alone. */
  run?: number
}

export type Hook = (event: CallEvent) => void

/** The run a call belongs to, carried through every await of that run's rotate(). */
const currentRun = new AsyncLocalStorage<number>()

class Recorder {
  readonly events: CallEvent[] = []
  private hooks: { match: (e: CallEvent) => boolean; fn: Hook; once: boolean; done: boolean }[] = []
  readonly clock: FakeClock

  constructor(clock: FakeClock) {
    this.clock = clock
  }

  /** Runs `fn` at the first call matching `match` (every matching call with `once: false`). */
  on(match: Partial<CallEvent> | ((e: CallEvent) => boolean), fn: Hook, once = true): void {
    const test = typeof match === 'function' ? match : (e: CallEvent) => Object.entries(match).every(([k, v]) => e[k as keyof CallEvent] === v)
    this.hooks.push({ match: test, fn, once, done: false })
  }

  clearHooks(): void {
    this.hooks = []
  }

  record(event: Omit<CallEvent, 'at'>): CallEvent {
    const e: CallEvent = { ...event, at: this.clock.now(), run: currentRun.getStore() }
    this.events.push(e)
    for (const h of this.hooks) {
      if (h.done || !h.match(e)) continue
      if (h.once) h.done = true
      h.fn(e)
    }
    return e
  }
}

// ---------------------------------------------------------------------------------------------------
// ThingSpace

export interface TsFault {
  kind: FailureKind
  /** The server did its work (counted the login, opened the session, changed the password) before the client failed. */
  acted?: boolean
  /**
   * The OAuth token request made inside the call failed instead (the call itself was never sent). The
   * reset makes none: it is then not sent because the token it holds would lapse first.
   */
  inToken?: boolean
  status?: number
  code?: string
  /** Time until the failure shows; a timeout defaults to the client's timeout for the call. */
  afterMs?: number
}

const CLIENT_TIMEOUT_MS: Record<ThingSpaceCall, number> = { token: 30_000, login: 30_000, reset: 60_000, logout: 5_000 }

/** A ThingSpaceError as the real client builds it for each kind of failure. */
export function tsError(call: ThingSpaceCall, fault: Pick<TsFault, 'kind' | 'status' | 'code'>): ThingSpaceError {
  const { kind } = fault
  switch (kind) {
    case 'refused': {
      const code = fault.code ?? 'REQUEST_FAILED.UnexpectedError'
      return new ThingSpaceError(call, kind, `answered 400, ${code}: refused`, { status: 400, code })
    }
    case 'gateway': {
      const status = fault.status ?? 401
      const code = fault.code ?? 'gateway fault 900901'
      return new ThingSpaceError(call, kind, `answered ${status}, ${code}: Invalid Credentials`, { status, code })
    }
    case 'oauth': {
      const code = fault.code ?? 'invalid_client'
      return new ThingSpaceError(call, kind, `answered ${fault.status ?? 401}, ${code}: Client authentication failed`, {
        status: fault.status ?? 401,
        code
      })
    }
    case 'unrecognised':
      return new ThingSpaceError(call, kind, `answered ${fault.status ?? 401} in a shape ThingSpace's documents do not give`, {
        status: fault.status ?? 401
      })
    case 'server':
      return new ThingSpaceError(call, kind, `answered ${fault.status ?? 503}`, { status: fault.status ?? 503 })
    case 'throttled': {
      const code = fault.code ?? 'gateway fault 900800'
      return new ThingSpaceError(call, kind, `answered ${fault.status ?? 429} ${code} (Message throttled out)`, { status: fault.status ?? 429, code })
    }
    case 'redirect':
      return new ThingSpaceError(call, kind, `answered ${fault.status ?? 302} (a redirect, not followed)`, { status: fault.status ?? 302 })
    case 'not-sent':
      return new ThingSpaceError(call, kind, 'could not connect (ECONNREFUSED)')
    case 'lost':
      return new ThingSpaceError(call, kind, 'the connection failed before an answer came (ECONNRESET)')
    case 'timeout':
      return new ThingSpaceError(call, kind, `no answer within ${CLIENT_TIMEOUT_MS[call] / 1000} s`)
    case 'bad-response': {
      const status = fault.status ?? (call === 'reset' ? 204 : 200)
      const field = { token: 'access_token', login: 'sessionToken', reset: 'newPassword', logout: 'sessionToken' }[call]
      return new ThingSpaceError(call, kind, `answered ${status} without a ${field}`, { status })
    }
  }
}

/** Whether the server got to act on a request that failed this way. */
function serverActs(fault: TsFault | undefined): boolean {
  if (!fault) return true
  if (fault.inToken) return false
  switch (fault.kind) {
    case 'refused':
    case 'bad-response':
      return true
    case 'unrecognised':
      return fault.acted ?? true
    case 'server':
    case 'lost':
    case 'timeout':
      return fault.acted ?? false
    default:
      return false
  }
}

interface FakeSession {
  token: string
  password: string
  lastActivity: number
  loggedOut: boolean
  /** The client got it (the login answered 200 with it). */
  delivered: boolean
}

export interface ThingSpaceOptions {
  password?: string
  username?: string
  /** Failed logins already counted toward the lockout. */
  failedLogins?: number
  /** Virtual time each call takes; per call, or a function of the call and its index. */
  latency?: Partial<Record<ThingSpaceCall, number>> | ((call: ThingSpaceCall, n: number) => number)
  /** The idle lifetime a login answer states (expiresIn), if shorter than 20 minutes. */
  sessionLifetimeMs?: number
  /** Whether the reset refuses an oldPassword that is not the current one (default); no public source says ThingSpace checks it. */
  checksOldPassword?: boolean
}

export class FakeThingSpace implements ThingSpacePort {
  password: string
  readonly username: string
  /** Consecutive failed logins (a successful one resets it); 5 locks the username. */
  failedLogins: number
  /** Every failed login ever counted. */
  countedFailures = 0
  locked = false
  /** Port calls made, per call (a login with its own token fetch is one login). */
  readonly calls: Record<ThingSpaceCall, number> = { token: 0, login: 0, reset: 0, logout: 0 }
  /** Resets that changed the password. */
  resetsProcessed = 0
  /** Every password the account has had, the first one first. */
  readonly history: string[]
  readonly sessions = new Map<string, FakeSession>()
  /** Scripted faults by call and 0-based call index; `always` applies where no script entry is given. */
  readonly faults: Partial<Record<ThingSpaceCall, (TsFault | undefined)[]>> = {}
  readonly always: Partial<Record<ThingSpaceCall, TsFault>> = {}
  private readonly latency: (call: ThingSpaceCall, n: number) => number
  private readonly sessionLifetimeMs: number | undefined
  private readonly checksOldPassword: boolean
  private readonly clock: FakeClock
  private readonly rec: Recorder

  constructor(clock: FakeClock, rec: Recorder, options: ThingSpaceOptions = {}) {
    this.clock = clock
    this.rec = rec
    this.password = options.password ?? PASSWORD
    this.username = options.username ?? USERNAME
    this.failedLogins = options.failedLogins ?? 0
    this.history = [this.password]
    const latency = options.latency ?? {}
    this.latency = typeof latency === 'function' ? latency : (call) => latency[call] ?? 100
    this.sessionLifetimeMs = options.sessionLifetimeMs
    this.checksOldPassword = options.checksOldPassword ?? true
  }

  /** Scripts the faults of one call: entry i applies to the call's (i+1)-th invocation. */
  script(call: ThingSpaceCall, ...faults: (TsFault | undefined)[]): this {
    this.faults[call] = faults
    return this
  }

  get logins(): number {
    return this.calls.login
  }
  get resets(): number {
    return this.calls.reset
  }
  get logouts(): number {
    return this.calls.logout
  }

  /** Sessions the client received that are still usable: neither logged out nor idle past 20 minutes. */
  openSessions(): string[] {
    return [...this.sessions.values()].filter((s) => s.delivered && this.valid(s)).map((s) => s.token)
  }

  valid(s: FakeSession): boolean {
    return !s.loggedOut && this.clock.now() - s.lastActivity < IDLE_LIMIT_MS
  }

  private faultFor(call: ThingSpaceCall, n: number): TsFault | undefined {
    const scripted = this.faults[call]
    if (scripted && n < scripted.length) return scripted[n]
    return this.always[call]
  }

  private async begin(call: ThingSpaceCall, value?: string, username?: string): Promise<{ n: number; fault: TsFault | undefined }> {
    const n = this.calls[call]++
    this.rec.record({ service: 'thingspace', call, n, phase: 'start', value, ...(username === undefined ? {} : { username }) })
    const fault = this.faultFor(call, n)
    const wait = fault?.afterMs ?? (fault?.kind === 'timeout' && !fault.inToken ? CLIENT_TIMEOUT_MS[call] : this.latency(call, n))
    await this.clock.sleep(wait)
    return { n, fault }
  }

  private end(call: ThingSpaceCall, n: number, outcome: string, acted: boolean, value?: string): void {
    this.rec.record({ service: 'thingspace', call, n, phase: 'end', outcome, acted, value })
  }

  private fail(call: ThingSpaceCall, n: number, fault: TsFault, acted: boolean): never {
    this.end(call, n, fault.inToken ? (call === 'reset' ? 'not-sent' : `token ${fault.kind}`) : fault.kind, acted)
    if (!fault.inToken) throw tsError(call, fault)
    // The reset asks for no token of its own: it is sent only with the one held, and not at all when that one would lapse first.
    if (call === 'reset') throw new ThingSpaceError('reset', 'not-sent', 'not sent: the OAuth token would lapse before the answer came')
    throw tsError('token', fault)
  }

  /** The event's value is what the token is for ('login', 'reset', ...). */
  async token(purpose: ThingSpaceCall = 'login'): Promise<string> {
    const { n, fault } = await this.begin('token', purpose)
    if (fault) this.fail('token', n, fault, false)
    this.end('token', n, 'ok', true)
    return 'oauth-access-token'
  }

  private countFailure(): void {
    this.failedLogins++
    this.countedFailures++
    if (this.failedLogins >= 5) this.locked = true
  }

  async login(username: string, password: string): Promise<Session> {
    const { n, fault } = await this.begin('login', password, username)
    if (!serverActs(fault)) this.fail('login', n, fault!, false)
    let session: FakeSession | undefined
    let refusal: ThingSpaceError | undefined
    if (fault?.kind === 'refused' || fault?.kind === 'unrecognised') {
      this.countFailure()
    } else if (this.locked) {
      refusal = tsError('login', { kind: 'refused', code: 'REQUEST_FAILED.UserLocked' })
    } else if (username !== this.username || password !== this.password) {
      this.countFailure()
      refusal = tsError('login', { kind: 'refused', code: 'REQUEST_FAILED.InvalidCredentials' })
    } else {
      this.failedLogins = 0
      session = { token: `session-${n + 1}`, password, lastActivity: this.clock.now(), loggedOut: false, delivered: false }
      this.sessions.set(session.token, session)
    }
    if (fault) this.fail('login', n, fault, true)
    if (refusal) {
      this.end('login', n, 'refused', true, refusal.code)
      throw refusal
    }
    session!.delivered = true
    this.end('login', n, 'ok', true, session!.token)
    return { token: session!.token, idleLifetimeMs: Math.min(this.sessionLifetimeMs ?? IDLE_LIMIT_MS, IDLE_LIMIT_MS) }
  }

  async resetPassword(session: Session, oldPassword: string): Promise<string> {
    const { n, fault } = await this.begin('reset', session.token)
    if (!serverActs(fault)) this.fail('reset', n, fault!, false)
    const s = this.sessions.get(session.token)
    let refusal: ThingSpaceError | undefined
    let newPassword: string | undefined
    if (!s || !this.valid(s)) {
      refusal = tsError('reset', { kind: 'refused', code: 'REQUEST_FAILED.SessionToken.Expired' })
    } else if ((this.checksOldPassword && oldPassword !== this.password) || fault?.kind === 'refused') {
      refusal = fault ? tsError('reset', fault) : tsError('reset', { kind: 'refused', code: 'REQUEST_FAILED.PasswordMismatch' })
    } else {
      s.lastActivity = this.clock.now()
      newPassword = `New-${this.history.length}-pw%::error::"x"`
      this.password = newPassword
      this.history.push(newPassword)
      this.resetsProcessed++
    }
    if (fault && fault.kind !== 'refused') this.fail('reset', n, fault, newPassword !== undefined)
    if (refusal) {
      this.end('reset', n, 'refused', false, refusal.code)
      throw refusal
    }
    this.end('reset', n, 'ok', true, newPassword)
    return newPassword!
  }

  async logout(session: Session): Promise<void> {
    const { n, fault } = await this.begin('logout', session.token)
    const s = this.sessions.get(session.token)
    const acted = serverActs(fault) && s !== undefined && this.valid(s)
    if (acted) s.loggedOut = true
    if (fault) this.fail('logout', n, fault, acted)
    if (!acted) {
      this.end('logout', n, 'refused', false)
      throw tsError('logout', { kind: 'refused', code: 'INPUT_INVALID.SessionToken.Invalid' })
    }
    this.end('logout', n, 'ok', true)
  }
}

// ---------------------------------------------------------------------------------------------------
// GitHub secrets

type GhCall = 'inspect' | 'write' | 'remove' | 'runStart'

export interface GhFault {
  status?: number
  /** GitHub stored the value, but the answer was lost (a network error after sending). */
  acted?: boolean
  afterMs?: number
}

interface StoredSecret {
  value: string
  updatedAt: Date
}

export interface SecretsOptions {
  secretName?: string
  /** Virtual time each call takes (a removal takes what the target's first write takes, unless `remove` is given). */
  latency?: Partial<Record<GhCall, number>> | ((call: GhCall, label: string, n: number) => number)
  /** When this workflow run started (undefined: the call fails like a missing permission). */
  runStart?: Date
  /** When this job started, if the run's jobs list it (undefined: the run's start is used). */
  jobStart?: Date
  /** Repositories selected for an org secret whose visibility is `selected`, per label. */
  selected?: Record<string, number[]>
  /** GitHub gives a secret's updated_at to the second: 1000 stores times that way; default 1 (to the millisecond). */
  timePrecisionMs?: number
}

export class FakeSecrets implements SecretsPort {
  readonly secretName: string
  private readonly data = new Map<string, Map<string, StoredSecret>>()
  private readonly visibility = new Map<string, string>()
  private readonly selected: Record<string, number[]>
  runStart: Date | undefined
  jobStart: Date | undefined
  readonly calls = { inspect: 0, write: 0, remove: 0, runStart: 0, reread: 0 }
  /** Scripted faults of the re-reads (`updatedAt`), by 0-based call index (over every target and name). */
  readonly rereadFaults: (GhFault | undefined)[] = []
  /** Scripted faults of the re-reads of one secret of one target (`label name`): entry i applies to its (i+1)-th re-read. */
  readonly rereadFaultsOf = new Map<string, (GhFault | undefined)[]>()
  /** A token that may read but not write: every write and remove that nothing else scripts fails with 403. */
  readOnly = false
  /** Makes every remove() fail with 403 (a token that may not delete, GitHub down) where `removeFaults` scripts nothing. */
  removeFails = false
  /** Scripted faults of remove(), by 0-based call index (over every target). */
  readonly removeFaults: (GhFault | undefined)[] = []
  /** Every write that reached the fake (even those scripted to fail), in order. */
  readonly writes: { at: number; label: string; name: string; value: string; ok: boolean }[] = []
  /** Scripted faults per label: entry i applies to that label's (i+1)-th call of the kind. */
  readonly faults = { inspect: new Map<string, (GhFault | undefined)[]>(), write: new Map<string, (GhFault | undefined)[]>() }
  /** Scripted write faults of one secret of one target (`label name`): entry i applies to its (i+1)-th write; before `faults.write`. */
  readonly writeFaultsOf = new Map<string, (GhFault | undefined)[]>()
  runStartFault: GhFault | undefined
  /** When each run's job read its secrets, by run id (overlapping runs); otherwise `jobStart` / `runStart`. */
  readonly readTimes = new Map<number, ReadTime>()
  /** Writes and removals in flight now, and the most there ever were (the port sends at most WRITE_CONCURRENCY at once). */
  inFlight = 0
  maxInFlight = 0
  private readonly queue: (() => void)[] = []
  private readonly timePrecisionMs: number
  private readonly perLabel = { inspect: new Map<string, number>(), write: new Map<string, number>() }
  private readonly perName = { write: new Map<string, number>(), reread: new Map<string, number>() }
  private readonly latency: (call: GhCall, label: string, n: number) => number
  private readonly clock: FakeClock
  private readonly rec: Recorder

  constructor(clock: FakeClock, rec: Recorder, options: SecretsOptions = {}) {
    this.clock = clock
    this.rec = rec
    this.secretName = options.secretName ?? SECRET
    const latency = options.latency ?? {}
    this.latency = typeof latency === 'function' ? latency : (call) => latency[call] ?? (call === 'remove' ? (latency.write ?? 50) : 50)
    this.runStart = 'runStart' in options ? options.runStart : new Date(START - MINUTE)
    this.jobStart = options.jobStart
    this.selected = options.selected ?? {}
    this.timePrecisionMs = options.timePrecisionMs ?? 1
  }

  /** A time as GitHub would give it back (to the second with `timePrecisionMs: 1000`). */
  stamp(ms: number): Date {
    return new Date(ms - (ms % this.timePrecisionMs))
  }

  /** Waits for a place among the writes in flight, as the real port's queue does (first come, first sent). */
  private async sendSlot(): Promise<void> {
    if (this.inFlight >= WRITE_CONCURRENCY) await new Promise<void>((resolve) => this.queue.push(resolve))
    else this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
  }

  private freeSlot(): void {
    const next = this.queue.shift()
    if (next) next()
    else this.inFlight--
  }

  get stateName(): string {
    return `${this.secretName}_ROTATION`
  }

  get legacyMarkerName(): string {
    return `${this.secretName}_REJECTED`
  }

  get resetUnknownName(): string {
    return `${this.secretName}_RESET_UNKNOWN`
  }

  /** Stores a secret directly (test setup). */
  put(label: string, value: string, updatedAt: Date, name = this.secretName, visibility?: string): this {
    let store = this.data.get(label)
    if (!store) this.data.set(label, (store = new Map<string, StoredSecret>()))
    store.set(name, { value, updatedAt })
    if (visibility && name === this.secretName) this.visibility.set(label, visibility)
    return this
  }

  /** What a target holds under `name`, if anything. */
  get(label: string, name = this.secretName): StoredSecret | undefined {
    return this.data.get(label)?.get(name)
  }

  value(label: string, name = this.secretName): string | undefined {
    return this.get(label, name)?.value
  }

  /** Scripts the write faults of one target. */
  failWrites(label: string, ...faults: (GhFault | undefined)[]): this {
    this.faults.write.set(label, faults)
    return this
  }

  /** Scripts the write faults of one secret of one target (whatever other secrets of the target are written meanwhile). */
  failWritesOf(label: string, name: string, ...faults: (GhFault | undefined)[]): this {
    this.writeFaultsOf.set(`${label} ${name}`, faults)
    return this
  }

  /** Scripts the faults of the re-reads of one secret of one target. */
  failRereadsOf(label: string, name: string, ...faults: (GhFault | undefined)[]): this {
    this.rereadFaultsOf.set(`${label} ${name}`, faults)
    return this
  }

  failInspect(label: string, fault: GhFault = { status: 403 }): this {
    this.faults.inspect.set(label, [fault])
    return this
  }

  /** Writes of a kind to a target that reached GitHub (scripted failures included). */
  writesTo(label: string, name = this.secretName): number {
    return this.writes.filter((w) => w.label === label && w.name === name).length
  }

  private next(kind: 'inspect' | 'write', label: string, name?: string): { n: number; fault: GhFault | undefined } {
    const n = this.perLabel[kind].get(label) ?? 0
    this.perLabel[kind].set(label, n + 1)
    const ofName = name === undefined ? undefined : this.nextOf('write', `${label} ${name}`, this.writeFaultsOf)
    return { n, fault: ofName ?? this.faults[kind].get(label)?.[n] ?? (kind === 'write' && this.readOnly ? { status: 403 } : undefined) }
  }

  /** The scripted fault, if any, of the next call of a kind on one secret of one target. */
  private nextOf(kind: 'write' | 'reread', key: string, faults: Map<string, (GhFault | undefined)[]>): GhFault | undefined {
    const i = this.perName[kind].get(key) ?? 0
    this.perName[kind].set(key, i + 1)
    return faults.get(key)?.[i]
  }

  async inspect(target: Target, home = false): Promise<TargetState> {
    this.calls.inspect++
    const { n, fault } = this.next('inspect', target.label)
    this.rec.record({ service: 'github', call: 'inspect', n, phase: 'start', label: target.label })
    await this.clock.sleep(fault?.afterMs ?? this.latency('inspect', target.label, n))
    if (fault) {
      this.rec.record({ service: 'github', call: 'inspect', n, phase: 'end', label: target.label, outcome: 'error' })
      const status = fault.status
      throw new GitHubError(
        `Failed to read the public key of ${target.label}: ${status === undefined ? 'network error (ECONNRESET)' : `${status} Forbidden`}`,
        status
      )
    }
    const existing = this.get(target.label)
    const state: TargetState = {
      target,
      publicKey: { keyId: `key-${target.label}`, key: `pk-${target.label}` },
      existing: existing ? { updatedAt: existing.updatedAt, visibility: this.visibility.get(target.label) as TargetState['visibility'] } : undefined,
      recordAt: this.get(target.label, this.stateName)?.updatedAt,
      legacyMarkedAt: home ? this.get(target.label, this.legacyMarkerName)?.updatedAt : undefined,
      resetUnknownAt: home ? this.get(target.label, this.resetUnknownName)?.updatedAt : undefined
    }
    if (target.kind === 'org') {
      state.visibility = target.visibility ?? state.existing?.visibility ?? 'private'
      if (state.visibility === 'selected') {
        state.selectedRepositoryIds = this.selected[target.label] ?? []
        state.selectedRepositoryNames = state.selectedRepositoryIds.map((id) => `repo-${id}`)
      }
    }
    this.rec.record({ service: 'github', call: 'inspect', n, phase: 'end', label: target.label, outcome: 'ok' })
    return state
  }

  /** Deletes a secret (the lockout record, once a login succeeded or never reached the user service). */
  async remove(state: TargetState, name: string): Promise<void> {
    await this.sendSlot()
    try {
      await this.removeNow(state, name)
    } finally {
      this.freeSlot()
    }
  }

  private async removeNow(state: TargetState, name: string): Promise<void> {
    const n = this.calls.remove++
    const { label } = state.target
    const fault = this.removeFaults[n] ?? (this.removeFails || this.readOnly ? { status: 403 } : undefined)
    this.rec.record({ service: 'github', call: 'remove', n, phase: 'start', label, name })
    await this.clock.sleep(fault?.afterMs ?? this.latency('remove', label, n))
    const deleted = !fault || fault.acted === true
    if (deleted) this.data.get(label)?.delete(name)
    this.rec.record({ service: 'github', call: 'remove', n, phase: 'end', label, name, outcome: fault ? 'error' : 'ok', acted: deleted })
    if (fault) {
      const status = fault.acted ? undefined : fault.status
      throw new GitHubError(
        `Failed to delete ${name} from ${label}: ${status === undefined ? 'network error (ECONNRESET)' : `${status} Forbidden`}`,
        status
      )
    }
  }

  /** Stores a value, at most WRITE_CONCURRENCY at a time; a write still queued when `signal` aborts is not sent (the port's contract). */
  async write(state: TargetState, plaintext: string, name = this.secretName, signal?: AbortSignal): Promise<WriteResult> {
    await this.sendSlot()
    try {
      signal?.throwIfAborted()
      return await this.writeNow(state, plaintext, name)
    } finally {
      this.freeSlot()
    }
  }

  private async writeNow(state: TargetState, plaintext: string, name: string): Promise<WriteResult> {
    this.calls.write++
    const { label } = state.target
    const { n, fault } = this.next('write', label, name)
    this.rec.record({ service: 'github', call: 'write', n, phase: 'start', label, name, value: plaintext })
    await this.clock.sleep(fault?.afterMs ?? this.latency('write', label, n))
    const stored = !fault || fault.acted === true
    const existed = this.get(label, name) !== undefined
    this.writes.push({ at: this.clock.now(), label, name, value: plaintext, ok: !fault })
    if (stored) this.put(label, plaintext, this.stamp(this.clock.now()), name)
    this.rec.record({
      service: 'github',
      call: 'write',
      n,
      phase: 'end',
      label,
      name,
      value: plaintext,
      outcome: fault ? 'error' : 'ok',
      acted: stored,
      ...(fault && !fault.acted && fault.status !== undefined ? { status: fault.status } : {})
    })
    if (fault) {
      const status = fault.acted ? undefined : fault.status
      throw new GitHubError(
        `Failed to write ${name} to ${label}: ${status === undefined ? 'network error (ECONNRESET)' : `${status} Forbidden`}`,
        status
      )
    }
    return existed ? 'updated' : 'created'
  }

  /** Reads a secret's updatedAt again (the flow's checks for a write by another run). */
  async updatedAt(state: Pick<TargetState, 'target'>, name = this.secretName): Promise<Date | undefined> {
    const n = this.calls.reread++
    const { label } = state.target
    const fault = this.nextOf('reread', `${label} ${name}`, this.rereadFaultsOf) ?? this.rereadFaults[n]
    this.rec.record({ service: 'github', call: 'reread', n, phase: 'start', label, name })
    await this.clock.sleep(fault?.afterMs ?? this.latency('inspect', label, n))
    this.rec.record({ service: 'github', call: 'reread', n, phase: 'end', label, name, outcome: fault ? 'error' : 'ok' })
    if (fault) throw new GitHubError(`Failed to read the secret ${name} of ${label}: ${fault.status ?? 'network error'}`, fault.status)
    return this.get(label, name)?.updatedAt
  }

  /** When this job read its secrets: the job's start if known, else the run's (which may fail like a missing permission). */
  async secretsReadAt(job: JobRef): Promise<ReadTime> {
    const n = this.calls.runStart++
    this.rec.record({ service: 'github', call: 'runStart', n, phase: 'start' })
    await this.clock.sleep(this.runStartFault?.afterMs ?? this.latency('runStart', '', n))
    const failed = this.runStartFault !== undefined || (!this.jobStart && !this.runStart && !this.readTimes.has(job.runId))
    this.rec.record({ service: 'github', call: 'runStart', n, phase: 'end', outcome: failed ? 'error' : 'ok' })
    const own = this.readTimes.get(job.runId)
    if (own) return own
    if (failed) throw new GitHubError(`Could not read workflow run ${job.runId}: 403 Resource not accessible by integration`, 403)
    return this.jobStart ? { at: this.jobStart, of: 'job' } : { at: this.runStart!, of: 'run' }
  }
}

// ---------------------------------------------------------------------------------------------------
// GitHub Actions variables (alternating usernames kept as variables)

/**
 * The public face of `GitHubVariables` (src/github-variables.ts) in memory: values readable, times like
 * GitHub's, at most WRITE_CONCURRENCY writes and removals at once in a queue of its own (the real client
 * has its own), a write still queued when its signal aborts not sent, and per `label name` faults. The flow
 * reaches it through the real `usernamesAsVariables`, so the access each write asks for is recorded.
 */
export class FakeVariables implements Pick<GitHubVariables, 'read' | 'write' | 'remove'> {
  private readonly data = new Map<string, Map<string, StoredVariable>>()
  readonly calls = { read: 0, write: 0, remove: 0 }
  /** Every write that reached the fake (even those scripted to fail), in order, with the access it asked for. */
  readonly writes: { at: number; label: string; name: string; value: string; existed: boolean; access?: VariableAccess; ok: boolean }[] = []
  /** Scripted faults per `label name`: entry i applies to the (i+1)-th call of the kind there. */
  readonly faults = {
    read: new Map<string, (GhFault | undefined)[]>(),
    write: new Map<string, (GhFault | undefined)[]>(),
    remove: new Map<string, (GhFault | undefined)[]>()
  }
  inFlight = 0
  maxInFlight = 0
  private readonly queue: (() => void)[] = []
  private readonly perKey = { read: new Map<string, number>(), write: new Map<string, number>(), remove: new Map<string, number>() }
  private readonly clock: FakeClock
  private readonly rec: Recorder
  private readonly stamp: (ms: number) => Date
  private readonly latency: number

  constructor(clock: FakeClock, rec: Recorder, stamp: (ms: number) => Date, latency = 50) {
    this.clock = clock
    this.rec = rec
    this.stamp = stamp
    this.latency = latency
  }

  /** Stores a variable directly (test setup). */
  put(label: string, name: string, value: string, updatedAt: Date, visibility?: Visibility): this {
    let store = this.data.get(label)
    if (!store) this.data.set(label, (store = new Map<string, StoredVariable>()))
    store.set(name, { value, updatedAt, ...(visibility ? { visibility } : {}) })
    return this
  }

  get(label: string, name: string): StoredVariable | undefined {
    return this.data.get(label)?.get(name)
  }

  value(label: string, name: string): string | undefined {
    return this.get(label, name)?.value
  }

  /** Scripts the faults of one kind of call on one variable of one target. */
  fail(kind: 'read' | 'write' | 'remove', label: string, name: string, ...faults: (GhFault | undefined)[]): this {
    this.faults[kind].set(`${label} ${name}`, faults)
    return this
  }

  private next(kind: 'read' | 'write' | 'remove', label: string, name: string): { n: number; fault: GhFault | undefined } {
    const key = `${label} ${name}`
    const n = this.perKey[kind].get(key) ?? 0
    this.perKey[kind].set(key, n + 1)
    return { n, fault: this.faults[kind].get(key)?.[n] }
  }

  private async sendSlot(): Promise<void> {
    if (this.inFlight >= WRITE_CONCURRENCY) await new Promise<void>((resolve) => this.queue.push(resolve))
    else this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
  }

  private freeSlot(): void {
    const next = this.queue.shift()
    if (next) next()
    else this.inFlight--
  }

  private error(what: string, fault: GhFault): GitHubError {
    const status = fault.acted ? undefined : fault.status
    return new GitHubError(`Failed to ${what}: ${status === undefined ? 'network error (ECONNRESET)' : `${status} Forbidden`}`, status)
  }

  async read(target: Target, name: string): Promise<StoredVariable | undefined> {
    this.calls.read++
    const { label } = target
    const { n, fault } = this.next('read', label, name)
    this.rec.record({ service: 'github', call: 'vread', n, phase: 'start', label, name })
    await this.clock.sleep(fault?.afterMs ?? this.latency)
    this.rec.record({ service: 'github', call: 'vread', n, phase: 'end', label, name, outcome: fault ? 'error' : 'ok' })
    if (fault) throw this.error(`read the variable ${name} of ${label}`, { ...fault, acted: false })
    const stored = this.get(label, name)
    return stored ? { ...stored } : undefined
  }

  async write(target: Target, name: string, value: string, existed: boolean, signal?: AbortSignal, access?: VariableAccess): Promise<WriteResult> {
    await this.sendSlot()
    try {
      signal?.throwIfAborted()
      this.calls.write++
      const { label } = target
      const { n, fault } = this.next('write', label, name)
      this.rec.record({ service: 'github', call: 'vwrite', n, phase: 'start', label, name, value })
      await this.clock.sleep(fault?.afterMs ?? this.latency)
      const stored = !fault || fault.acted === true
      const there = this.get(label, name) !== undefined
      this.writes.push({ at: this.clock.now(), label, name, value, existed, ...(access ? { access } : {}), ok: !fault })
      if (stored) this.put(label, name, value, this.stamp(this.clock.now()), access?.visibility ?? this.get(label, name)?.visibility)
      const status = fault && !fault.acted ? fault.status : undefined
      this.rec.record({
        service: 'github',
        call: 'vwrite',
        n,
        phase: 'end',
        label,
        name,
        value,
        outcome: fault ? 'error' : 'ok',
        acted: stored,
        ...(status === undefined ? {} : { status })
      })
      if (fault) throw this.error(`write the variable ${name} to ${label}`, fault)
      // The real client falls back to the other call once (404 to an update, 409 to a creation): what it says is what stored it.
      return there ? 'updated' : 'created'
    } finally {
      this.freeSlot()
    }
  }

  async remove(target: Target, name: string): Promise<void> {
    await this.sendSlot()
    try {
      this.calls.remove++
      const { label } = target
      const { n, fault } = this.next('remove', label, name)
      this.rec.record({ service: 'github', call: 'vremove', n, phase: 'start', label, name })
      await this.clock.sleep(fault?.afterMs ?? this.latency)
      const deleted = !fault || fault.acted === true
      if (deleted) this.data.get(label)?.delete(name)
      this.rec.record({ service: 'github', call: 'vremove', n, phase: 'end', label, name, outcome: fault ? 'error' : 'ok', acted: deleted })
      if (fault) throw this.error(`delete the variable ${name} from ${label}`, fault)
    } finally {
      this.freeSlot()
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Settings and sealing

export interface SettingsOptions extends Partial<Omit<Settings, 'targets'>> {
  /** Lines of the targets input; default one repository target. */
  targets?: string[]
}

export function makeSettings(options: SettingsOptions = {}): Settings {
  const { targets = ['repo'], ...rest } = options
  return {
    username: USERNAME,
    password: PASSWORD,
    alternation: undefined,
    basicCredential: Buffer.from('app-key:app-secret').toString('base64'),
    githubToken: 'ghs_fake-token',
    secretName: SECRET,
    targets: parseTargets(targets, REPOSITORY),
    minAgeDays: 0,
    dryRun: false,
    verify: true,
    recoveryPublicKey: undefined,
    thingspaceUrl: new URL('https://thingspace.verizon.com'),
    githubApiUrl: new URL('https://api.github.com'),
    repository: REPOSITORY,
    runId: 4242,
    runAttempt: 1,
    runnerName: 'GitHub Actions 7',
    triggeringActor: 'octocat',
    // Started by hand: the plain flow. Unattended runs (schedule, repository_dispatch, ...) are set explicitly.
    eventName: 'workflow_dispatch',
    ...rest
  }
}

/**
 * The alternating-usernames settings (issue 19) of a run whose active pair is USERNAME/PASSWORD and whose
 * standby pair is STANDBY_USERNAME/STANDBY_PASSWORD, with the usernames kept as `kind`.
 */
export function alternation(kind: Alternation['usernameKind'] = 'variable', overrides: Partial<Alternation> = {}): Alternation {
  return {
    standbyUsername: STANDBY_USERNAME,
    standbyPassword: STANDBY_PASSWORD,
    usernameName: USERNAME_NAME,
    usernameKind: kind,
    standbyPasswordName: STANDBY_SECRET,
    standbyUsernameName: STANDBY_USERNAME_NAME,
    ...overrides
  }
}

/** Labels of targets-input lines, as parseTargets names them. */
export function labels(lines: string[]): string[] {
  return parseTargets(lines, REPOSITORY).map((t) => t.label)
}

/** A reversible stand-in for crypto_box_seal: only `openSealed` with the same key gets the text back. */
export async function fakeSeal(plaintext: string, publicKey: string): Promise<string> {
  await Promise.resolve()
  return Buffer.from(JSON.stringify({ to: publicKey, text: plaintext })).toString('base64')
}

/** What `fakeSeal` sealed to `publicKey`; undefined for anything else (another key, or not a ciphertext of `fakeSeal`). */
export function openSealed(ciphertext: string, publicKey: string): string | undefined {
  let sealed: unknown
  try {
    sealed = JSON.parse(Buffer.from(ciphertext, 'base64').toString('utf8'))
  } catch {
    return undefined
  }
  const { to, text } = (sealed ?? {}) as { to?: unknown; text?: unknown }
  return to === publicKey && typeof text === 'string' ? text : undefined
}

// ---------------------------------------------------------------------------------------------------
// The world a run sees

export interface WorldOptions {
  thingspace?: ThingSpaceOptions
  secrets?: SecretsOptions
  /** Make the recovery sealing fail. */
  sealFails?: boolean
  /** Virtual time the recovery sealing takes. */
  sealMs?: number
}

export interface RunResult {
  outcome: Outcome
  /** Virtual time at which rotate() returned. */
  at: number
  /** The deadline the run had to meet, if a signal came: the earliest kill time minus the report margin. */
  deadline: number | undefined
}

/** One of several runs that overlap (`World.overlap`). */
export interface OverlapRun {
  /** Virtual time after the start at which its job starts and reads its secrets. */
  at: number
  /** Its settings, given what the secrets held when its job started (`read(label, name?)`: the value there, if any). */
  settings: (read: (label: string, name?: string) => string | undefined) => Settings
}

export interface OverlapResult extends RunResult {
  /** Its index among the runs: the `run` of its call events. */
  run: number
  /** What was true when it returned: the live password, and what each of its targets held. */
  end: { live: string; values: Record<string, string | undefined> }
}

export class World {
  readonly clock: FakeClock
  readonly rec: Recorder
  readonly thingspace: FakeThingSpace
  readonly secrets: FakeSecrets
  /** Actions variables, where alternating usernames kept as variables live. */
  readonly variables: FakeVariables
  cancel: Cancellation
  readonly infos: string[] = []
  readonly warnings: string[] = []
  readonly groups: string[] = []
  /** Signals delivered, with the number of call events recorded before each (so `events[index]` is the first after it). */
  readonly signals: { at: number; signal: string; index: number }[] = []
  prepareSealCalls = 0
  sealCalls = 0
  private readonly sealFails: boolean
  private readonly sealMs: number

  constructor(options: WorldOptions = {}) {
    this.clock = new FakeClock()
    this.rec = new Recorder(this.clock)
    this.thingspace = new FakeThingSpace(this.clock, this.rec, options.thingspace)
    this.secrets = new FakeSecrets(this.clock, this.rec, options.secrets)
    this.variables = new FakeVariables(this.clock, this.rec, (ms) => this.secrets.stamp(ms))
    this.cancel = new Cancellation(this.clock.now, this.clock.schedule)
    this.sealFails = options.sealFails ?? false
    this.sealMs = options.sealMs ?? 0
  }

  get events(): CallEvent[] {
    return this.rec.events
  }

  /** Runs `fn` at the start of the first call matching `match`. */
  on(match: Partial<CallEvent> | ((e: CallEvent) => boolean), fn: Hook, once = true): this {
    this.rec.on(match, fn, once)
    return this
  }

  /** Forgets every hook (one a run never reached must not fire in the next). */
  clearHooks(): void {
    this.rec.clearHooks()
  }

  /** Delivers a signal to the run's Cancellation now, as main.ts does. */
  signal(signal: string): void {
    this.signals.push({ at: this.clock.now(), signal, index: this.rec.events.length })
    this.cancel.receive(signal)
  }

  /** Delivers `signal` at the start of the first call matching `match`, or `delayMs` later (while it is in flight). */
  signalOn(match: Partial<CallEvent> | ((e: CallEvent) => boolean), signal = 'SIGINT', delayMs = 0): this {
    return this.on(match, () => (delayMs > 0 ? void this.clock.schedule(delayMs, () => this.signal(signal)) : this.signal(signal)))
  }

  /** Delivers `signal` `ms` after the run starts (virtual time). */
  signalAfter(ms: number, signal = 'SIGINT'): this {
    this.clock.schedule(ms, () => this.signal(signal))
    return this
  }

  /** The deadline the signals so far impose: the earliest kill minus the report margin. */
  deadline(): number | undefined {
    if (this.signals.length === 0) return undefined
    return Math.min(...this.signals.map((s) => s.at + (KILL_AFTER_MS[s.signal] ?? KILL_AFTER_MS.SIGTERM))) - REPORT_MARGIN_MS
  }

  /** With alternating usernames in `settings`, where they live: the variables (through the real adapter), or the secrets. */
  usernames(settings: Settings | undefined): UsernamePort | undefined {
    const alt = settings?.alternation
    if (!alt) return undefined
    return alt.usernameKind === 'variable'
      ? usernamesAsVariables(this.variables as Pick<GitHubVariables, 'read' | 'write' | 'remove'> as GitHubVariables, alt.usernameName)
      : usernamesAsSecrets(this.secrets)
  }

  deps(cancel: Cancellation = this.cancel, settings?: Settings): RotationDeps {
    const log: FlowLog = {
      info: (m) => void this.infos.push(m),
      warning: (m) => void this.warnings.push(m),
      group: (name, fn) => {
        this.groups.push(name)
        return fn()
      }
    }
    return {
      thingspace: this.thingspace,
      github: this.secrets,
      usernames: this.usernames(settings),
      seal: async (plaintext, key) => {
        this.sealCalls++
        if (this.sealMs > 0) await this.clock.sleep(this.sealMs)
        if (this.sealFails) throw new Error('sealing failed')
        return fakeSeal(plaintext, key)
      },
      prepareSeal: () => void this.prepareSealCalls++,
      cancel,
      now: this.clock.now,
      sleep: this.clock.sleep,
      log
    }
  }

  /** Runs one rotation to its end on virtual time, with a fresh Cancellation (state of the fakes carries over). */
  async rotate(settings: Settings): Promise<RunResult> {
    this.cancel = new Cancellation(this.clock.now, this.clock.schedule)
    this.signals.length = 0
    const settled = await this.clock.drive(rotate(settings, this.deps(this.cancel, settings)))
    this.cancel.dispose()
    if (settled.status === 'rejected') throw settled.reason
    return { outcome: settled.value, at: settled.at, deadline: this.deadline() }
  }

  /**
   * Runs several rotations against the same fakes, each starting at its own virtual time with its own
   * Cancellation, its job's read time (to GitHub's precision) and the password its job read then; every
   * call is attributed to its run (`CallEvent.run`). Resolves when all have returned, with what was
   * true as each returned.
   */
  async overlap(runs: OverlapRun[]): Promise<OverlapResult[]> {
    const done = runs.map(
      (spec, i) =>
        new Promise<OverlapResult>((resolve, reject) => {
          this.clock.schedule(spec.at, () => {
            const settings = spec.settings((label, name) => this.secrets.value(label, name))
            if (settings.runId !== undefined && !this.secrets.readTimes.has(settings.runId))
              this.secrets.readTimes.set(settings.runId, { at: this.secrets.stamp(this.clock.now()), of: 'job' })
            const cancel = new Cancellation(this.clock.now, this.clock.schedule)
            currentRun
              .run(i, () => rotate(settings, this.deps(cancel, settings)))
              .then((outcome) => {
                cancel.dispose()
                const values = Object.fromEntries(settings.targets.map((t) => [t.label, this.secrets.value(t.label)]))
                resolve({ run: i, outcome, at: this.clock.now(), deadline: undefined, end: { live: this.thingspace.password, values } })
              }, reject)
          })
        })
    )
    const settled = await this.clock.drive(Promise.all(done))
    if (settled.status === 'rejected') throw settled.reason
    return settled.value
  }

  /** ThingSpace events of one call and phase, in order. */
  ts(call: ThingSpaceCall, phase: 'start' | 'end' = 'start'): CallEvent[] {
    return this.events.filter((e) => e.service === 'thingspace' && e.call === call && e.phase === phase)
  }

  /** Index in the event record of the first event matching. */
  indexOf(match: Partial<CallEvent>, from = 0): number {
    return this.events.findIndex((e, i) => i >= from && Object.entries(match).every(([k, v]) => e[k as keyof CallEvent] === v))
  }

  /** A compact trace of the run, for assertion messages. */
  trace(): string {
    return this.events
      .filter((e) => e.phase === 'end')
      .map(
        (e) =>
          `+${e.at - START}ms ${e.service === 'github' ? `${e.call} ${e.label ?? ''}${e.name && e.name !== SECRET ? ` ${e.name}` : ''}` : e.call}#${e.n} ${e.outcome}${e.acted ? ' (acted)' : ''}`
      )
      .join('\n')
  }
}
