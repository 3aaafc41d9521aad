/**
 * A fake ThingSpace with several users, on the `FakeClock` of fakes.ts, for the year of rotations
 * (year.test.ts). It implements the flow's `ThingSpacePort` the way `FakeThingSpace` does for one user,
 * with what alternating usernames need on top:
 * - per user: the live password and every earlier one, consecutive failed logins (a success starts the
 *   count again) and the lockout at 5, which only Verizon support lifts (nothing here does);
 * - sessions tied to the user that logged in, expiring after 20 idle minutes; a reset changes the
 *   password of the session's user, effective at once, and checks `oldPassword` against it;
 * - faults scripted per call and per run (`newRun`, `script`), thrown as the real client's
 *   `ThingSpaceError`s (`tsError`), including "lost after the server acted";
 * - a consumer's login as a plain check-and-count on the same state (`consumerLogin`), so a year of
 *   logins every 15 minutes costs no async call, under the same lockout rule;
 * - who made each failure count (the action or a consumer), and who locked a user.
 */
import type { ThingSpacePort } from '../../src/rotation.ts'
import { ThingSpaceError, type Session, type ThingSpaceCall } from '../../src/thingspace.ts'
import { IDLE_LIMIT_MS, tsError, type FakeClock, type TsFault } from './fakes.ts'

/** Consecutive failed logins that lock a username. */
export const LOCKOUT_AFTER = 5

/** Who sent a login: the action through the port, or a consumer of the secrets with its copy. */
export type Caller = 'action' | 'consumer'

export interface User {
  readonly name: string
  password: string
  /** Every password the user has had, the first one first. */
  readonly history: string[]
  /** Consecutive failed logins; a success starts the count again. */
  failedLogins: number
  /** How many of the current run of consecutive failures the action's logins made. */
  actionStreak: number
  /** The most consecutive failures the action's logins ever made without a success in between. */
  maxActionStreak: number
  /** Failed logins counted, by who sent them. */
  readonly counted: Record<Caller, number>
  /** When the user was locked, and whose failed login was the fifth. */
  locked?: { at: number; by: Caller }
}

/** One port call of the current run, as it started or ended. */
export interface PortEvent {
  call: ThingSpaceCall
  /** 0-based index among this run's calls of its kind. */
  n: number
  phase: 'start' | 'end'
  at: number
  /** The username of a login, or of the session a reset or logout used. */
  username?: string
  /** The password a login sent; the password a reset issued. */
  value?: string
  /** 'ok', 'refused', or the scripted fault's kind. */
  outcome?: string
  /** Whether the server did the work (counted the login, changed the password). */
  acted?: boolean
}

interface FakeSession {
  user: User
  lastActivity: number
  loggedOut: boolean
}

const CLIENT_TIMEOUT_MS: Record<ThingSpaceCall, number> = { token: 30_000, login: 30_000, reset: 60_000, logout: 5_000 }

/** Whether the server got to act on a request that failed this way (as in FakeThingSpace). */
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

export class UsersThingSpace implements ThingSpacePort {
  readonly users = new Map<string, User>()
  /** Virtual time each port call takes (set per run for seeded latencies). */
  latency: (call: ThingSpaceCall) => number = () => 100
  /** This run's port calls, in order (see `newRun`). */
  events: PortEvent[] = []
  /** Passwords this run's resets issued, whether or not the answer reached the client. */
  issued: string[] = []
  private calls: Record<ThingSpaceCall, number> = { token: 0, login: 0, reset: 0, logout: 0 }
  private faults: Partial<Record<ThingSpaceCall, (TsFault | undefined)[]>> = {}
  private readonly sessions = new Map<string, FakeSession>()
  private sessionCount = 0
  private readonly clock: FakeClock

  constructor(clock: FakeClock, passwords: Record<string, string>) {
    this.clock = clock
    for (const [name, password] of Object.entries(passwords)) {
      this.users.set(name, {
        name,
        password,
        history: [password],
        failedLogins: 0,
        actionStreak: 0,
        maxActionStreak: 0,
        counted: { action: 0, consumer: 0 }
      })
    }
  }

  user(name: string): User {
    const user = this.users.get(name)
    if (!user) throw new Error(`no user ${name}`)
    return user
  }

  /** Starts a run: its calls are counted from 0 again, with no faults scripted, no events and no password issued. */
  newRun(): void {
    this.calls = { token: 0, login: 0, reset: 0, logout: 0 }
    this.faults = {}
    this.events = []
    this.issued = []
  }

  /** Scripts a fault for this run's (n+1)-th call of a kind. */
  script(call: ThingSpaceCall, n: number, fault: TsFault): void {
    ;(this.faults[call] ??= [])[n] = fault
  }

  /** A consumer's login with its copy, checked and counted at once, under the same lockout rule. */
  consumerLogin(username: string, password: string, at: number): boolean {
    const user = this.users.get(username)
    if (!user) return false
    return this.check(user, password, 'consumer', at)
  }

  /** Whether this names a user and its live password (a lock aside): the pair a target should give its consumers. */
  isLive(username: string | undefined, password: string | undefined): boolean {
    const user = username === undefined ? undefined : this.users.get(username)
    return user !== undefined && user.password === password
  }

  /** A login that reached the user service: a success starts the count again, a failure counts (a locked user counts no more). */
  private check(user: User, password: string, by: Caller, at: number): boolean {
    if (user.locked) return false
    if (password === user.password) {
      user.failedLogins = 0
      user.actionStreak = 0
      return true
    }
    this.countFailure(user, by, at)
    return false
  }

  private countFailure(user: User, by: Caller, at: number): void {
    if (user.locked) return
    user.failedLogins++
    user.counted[by]++
    if (by === 'action') user.maxActionStreak = Math.max(user.maxActionStreak, ++user.actionStreak)
    if (user.failedLogins >= LOCKOUT_AFTER) user.locked = { at, by }
  }

  private async begin(
    call: ThingSpaceCall,
    detail: Omit<PortEvent, 'call' | 'n' | 'phase' | 'at'> = {}
  ): Promise<{ n: number; fault: TsFault | undefined }> {
    const n = this.calls[call]++
    this.events.push({ call, n, phase: 'start', at: this.clock.now(), ...detail })
    const fault = this.faults[call]?.[n]
    const wait = fault?.afterMs ?? (fault?.kind === 'timeout' && !fault.inToken ? CLIENT_TIMEOUT_MS[call] : this.latency(call))
    await this.clock.sleep(wait)
    return { n, fault }
  }

  private end(call: ThingSpaceCall, n: number, outcome: string, acted: boolean, detail: Omit<PortEvent, 'call' | 'n' | 'phase' | 'at'> = {}): void {
    this.events.push({ call, n, phase: 'end', at: this.clock.now(), outcome, acted, ...detail })
  }

  private fail(call: ThingSpaceCall, n: number, fault: TsFault, acted: boolean): never {
    this.end(call, n, fault.inToken ? `token ${fault.kind}` : fault.kind, acted)
    if (!fault.inToken) throw tsError(call, fault)
    // The reset asks for no token of its own: it is not sent when the one it holds would lapse first.
    if (call === 'reset') throw new ThingSpaceError('reset', 'not-sent', 'not sent: the OAuth token would lapse before the answer came')
    throw tsError('token', fault)
  }

  async token(): Promise<string> {
    const { n, fault } = await this.begin('token')
    if (fault) this.fail('token', n, fault, false)
    this.end('token', n, 'ok', true)
    return 'oauth-access-token'
  }

  async login(username: string, password: string): Promise<Session> {
    const { n, fault } = await this.begin('login', { username, value: password })
    if (!serverActs(fault)) this.fail('login', n, fault!, false)
    const user = this.users.get(username)
    const at = this.clock.now()
    let token: string | undefined
    let refusal: ThingSpaceError | undefined
    if (fault?.kind === 'refused' || fault?.kind === 'unrecognised') {
      if (user) this.countFailure(user, 'action', at)
    } else if (user?.locked) {
      refusal = tsError('login', { kind: 'refused', code: 'REQUEST_FAILED.UserLocked' })
    } else if (!user || !this.check(user, password, 'action', at)) {
      refusal = tsError('login', { kind: 'refused', code: 'REQUEST_FAILED.InvalidCredentials' })
    } else {
      token = `session-${++this.sessionCount}`
      this.sessions.set(token, { user, lastActivity: at, loggedOut: false })
    }
    if (fault) this.fail('login', n, fault, true)
    if (refusal) {
      this.end('login', n, 'refused', true, { username })
      throw refusal
    }
    this.end('login', n, 'ok', true, { username })
    return { token: token!, idleLifetimeMs: IDLE_LIMIT_MS }
  }

  private valid(s: FakeSession | undefined): s is FakeSession {
    return s !== undefined && !s.loggedOut && this.clock.now() - s.lastActivity < IDLE_LIMIT_MS
  }

  async resetPassword(session: Session, oldPassword: string): Promise<string> {
    const s = this.sessions.get(session.token)
    const { n, fault } = await this.begin('reset', { username: s?.user.name })
    if (!serverActs(fault)) this.fail('reset', n, fault!, false)
    let refusal: ThingSpaceError | undefined
    let newPassword: string | undefined
    if (!this.valid(s)) {
      refusal = tsError('reset', { kind: 'refused', code: 'REQUEST_FAILED.SessionToken.Expired' })
    } else if (oldPassword !== s.user.password || fault?.kind === 'refused') {
      refusal = fault ? tsError('reset', fault) : tsError('reset', { kind: 'refused', code: 'REQUEST_FAILED.PasswordMismatch' })
    } else {
      s.lastActivity = this.clock.now()
      newPassword = `${s.user.name}-New-${s.user.history.length}-pw`
      s.user.password = newPassword
      s.user.history.push(newPassword)
      this.issued.push(newPassword)
    }
    if (fault && fault.kind !== 'refused') this.fail('reset', n, fault, newPassword !== undefined)
    if (refusal) {
      this.end('reset', n, 'refused', false, { username: s?.user.name })
      throw refusal
    }
    this.end('reset', n, 'ok', true, { username: s!.user.name, value: newPassword })
    return newPassword!
  }

  async logout(session: Session): Promise<void> {
    const s = this.sessions.get(session.token)
    const { n, fault } = await this.begin('logout', { username: s?.user.name })
    const valid = this.valid(s)
    const acted = serverActs(fault) && valid
    if (acted && valid) s.loggedOut = true
    if (fault) this.fail('logout', n, fault, acted)
    if (!acted) {
      this.end('logout', n, 'refused', false)
      throw tsError('logout', { kind: 'refused', code: 'INPUT_INVALID.SessionToken.Invalid' })
    }
    this.end('logout', n, 'ok', true)
  }
}
