/**
 * A year of rotations with a consumer (issue 19's "Done when"), in process.
 *
 * Each year: scheduled runs (`schedule`, `min-age-days: 80`) at noon on days 0, 91, 182, 273 and 364,
 * each with 1-3 faults drawn from a menu like the seeded campaign's (any ThingSpace call, any GitHub
 * call, a signal from the runner), against a ThingSpace with two users (support/two-users.ts) and the
 * GitHub fake of support/fakes.ts, whose times follow the fake clock. Each run's inputs are what the
 * first target holds when its job starts (a workflow reads `secrets.X` then), through `readSettings`.
 *
 * Beside it a consumer: it reads its copy of the pair (username and password) from the first target
 * every N days, in the morning (the runs are at noon: the longest a copy can be stale), and logs in
 * with its copy every 15 minutes all year, against the same users and under the same lockout rule.
 *
 * With alternating usernames and N below the 91-day period, the consumer never fails a login and no
 * username is locked, whatever the faults (this test found a store that could land half a pair in the
 * first target; the flow now writes the username, then the password, and writes the username back if
 * the password fails, and the test below holds it to that). With one username, the same consumer and the
 * same faults, its failures and lockouts are counted and printed beside it (the reason for the mode).
 * A year without faults shows the bound: a consumer refreshing less often than the period fails.
 * Every run keeps the campaign's invariants: one reset at most, no login after a refusal, the password
 * secret written only with a password ThingSpace issued to that run (the username and the standby pair
 * only with what that run may write there), the reset only after every target was proven writable, a
 * result that says "unchanged" changed nothing, a "rotated" leaves every target a live pair, and no
 * run of the action spends more than 3 of the 5 attempts or locks a username.
 *
 * The table printed at the end: per mode and N, the consumer's failed logins, the usernames locked,
 * the resets that took effect, the runs that said rotated, and the runs that left half a pair.
 */
import { afterAll, describe, expect, test } from '@jest/globals'
import { usernamesAsSecrets } from '../src/alternation.ts'
import { Cancellation } from '../src/cancellation.ts'
import { InputError, readSettings, type Settings } from '../src/inputs.ts'
import { rotate } from '../src/rotation.ts'
import { SecretMask } from '../src/secrets-mask.ts'
import type { FailureKind, ThingSpaceCall } from '../src/thingspace.ts'
import {
  DAY,
  labels,
  MINUTE,
  RECOVERY_KEY,
  SECRET,
  START,
  RESET_UNKNOWN,
  STATE,
  USERNAME,
  World,
  type FakeSecrets,
  type GhFault,
  type TsFault
} from './support/fakes.ts'
import { UsersThingSpace, type Caller } from './support/two-users.ts'

/** mulberry32: a tiny seeded PRNG, so every year can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const BASE_SEED = 19_000
const YEARS = 24
const SEEDS = Array.from({ length: YEARS }, (_, i) => BASE_SEED + i)

const FIRST = USERNAME
const SECOND = `${USERNAME}-b`
const TARGETS = ['repo', 'env:production']
const [HOME, OTHER] = labels(TARGETS)
const USERNAME_SECRET = 'THINGSPACE_USERNAME'
const STANDBY_PASSWORD = `${SECRET}_STANDBY`
const STANDBY_USERNAME = `${USERNAME_SECRET}_STANDBY`

const PERIOD_DAYS = 91
const RUN_DAYS = [0, 91, 182, 273, 364]
const MIN_AGE_DAYS = 80
/** The consumer's year: from midnight before the first run (runs start at noon, START's time of day), 365 days. */
const YEAR_START = START - 12 * 60 * MINUTE
const YEAR_END = YEAR_START + 365 * DAY
const LOGIN_EVERY_MS = 15 * MINUTE
/** Virtual time a run has from its job's start: far longer than any run takes. The consumer goes on meanwhile. */
const RUN_WINDOW_MS = 2 * 60 * MINUTE

type Mode = 'alternating' | 'one username'

// ---------------------------------------------------------------------------------------------------
// The faults of a run: a menu like the campaign's, 1-3 per run

type GhCall = 'inspect' | 'write' | 'remove' | 'reread' | 'runStart'
type Fault =
  | { on: 'thingspace'; call: ThingSpaceCall; n: number; fault: TsFault }
  | { on: 'github'; call: GhCall; label: string; n: number; fault: GhFault }
  | { on: 'runner'; signal: 'SIGINT' | 'SIGTERM'; afterMs: number }

const TS_KINDS: FailureKind[] = [
  'refused',
  'unrecognised',
  'gateway',
  'throttled',
  'oauth',
  'server',
  'redirect',
  'not-sent',
  'lost',
  'timeout',
  'bad-response'
]

function drawFaults(rnd: () => number): Fault[] {
  const int = (n: number): number => Math.floor(rnd() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]
  const chance = (p: number): boolean => rnd() < p
  return Array.from({ length: 1 + int(3) }, (): Fault => {
    const roll = rnd()
    if (roll < 0.55) {
      const call = pick(['token', 'login', 'login', 'login', 'reset', 'reset', 'reset', 'logout'] as const)
      const kind = pick(TS_KINDS)
      const fault: TsFault = { kind, acted: chance(0.5) }
      if (kind === 'server') fault.status = pick([500, 502, 503, 429])
      if (kind === 'gateway')
        Object.assign(
          fault,
          pick([
            { status: 401, code: 'gateway fault 900901' },
            { status: 403, code: 'gateway fault 900908' }
          ])
        )
      if (kind === 'redirect') fault.status = pick([301, 302, 307])
      if ((call === 'login' || call === 'reset') && chance(0.1)) fault.inToken = true
      return { on: 'thingspace', call, n: call === 'reset' ? 0 : int(3), fault }
    }
    if (roll < 0.92) {
      const call = pick(['inspect', 'write', 'write', 'write', 'remove', 'reread', 'runStart'] as const)
      // With alternating usernames a run writes up to 5 values into the first target: its rotation state,
      // the password and the username, and the standby pair.
      const n = { inspect: 0, write: int(5), remove: int(2), reread: int(6), runStart: 0 }[call]
      return { on: 'github', call, label: pick([HOME, OTHER]), n, fault: { status: pick([403, 404, 500, undefined]), acted: chance(0.2) } }
    }
    return { on: 'runner', signal: pick(['SIGINT', 'SIGTERM'] as const), afterMs: int(15_000) }
  })
}

// ---------------------------------------------------------------------------------------------------
// The consumer

interface Copy {
  username: string | undefined
  password: string | undefined
}

/**
 * Reads its copy every `refreshEveryMs` (first at `firstRefreshAt`), and logs in with it every 15
 * minutes. `runUntil` plays its events synchronously (between runs); `onClock` plays them as timers on
 * the fake clock, so that during a run its logins interleave with the run's calls.
 */
class Consumer {
  logins = 0
  failures = 0
  firstFailureAt: number | undefined
  private copy: Copy
  private nextLogin: number
  private nextRefresh: number
  private readonly ts: UsersThingSpace
  private readonly read: () => Copy
  private readonly refreshEveryMs: number

  constructor(ts: UsersThingSpace, read: () => Copy, refreshEveryMs: number, firstLoginAt: number, firstRefreshAt: number) {
    this.ts = ts
    this.read = read
    this.refreshEveryMs = refreshEveryMs
    this.copy = read()
    this.nextLogin = firstLoginAt
    this.nextRefresh = firstRefreshAt
  }

  private get nextAt(): number {
    return Math.min(this.nextLogin, this.nextRefresh)
  }

  /** The next event: a refresh comes before a login due at the same moment. */
  private step(): void {
    if (this.nextRefresh <= this.nextLogin) {
      this.copy = this.read()
      this.nextRefresh += this.refreshEveryMs
      return
    }
    this.logins++
    const { username, password } = this.copy
    const ok = username !== undefined && password !== undefined && this.ts.consumerLogin(username, password, this.nextLogin)
    if (!ok) {
      this.failures++
      this.firstFailureAt ??= this.nextLogin
    }
    this.nextLogin += LOGIN_EVERY_MS
  }

  runUntil(time: number): void {
    while (this.nextAt < time) this.step()
  }

  onClock(clock: World['clock'], until: number): void {
    const next = (): void => {
      if (this.nextAt < until) clock.schedule(this.nextAt - clock.now(), tick)
    }
    const tick = (): void => {
      this.step()
      next()
    }
    next()
  }
}

// ---------------------------------------------------------------------------------------------------
// One year

interface RunRecord {
  day: number
  /** When its job started (virtual time). */
  at: number
  result: string
  /** ThingSpace changed a password in this run (whether or not the run learnt the new one). */
  resetTookEffect: boolean
  /** The run wrote one of the first target's username and password and not the other: half a pair. */
  halfPair: boolean
  faults: Fault[]
  violations: string[]
}

interface YearReport {
  mode: Mode
  refreshDays: number
  seed: number
  runs: RunRecord[]
  consumer: { logins: number; failures: number; firstFailureAt: number | undefined }
  locked: { username: string; by: Caller; day: number }[]
  /** Resets that took effect, per username. */
  resets: Record<string, number>
  /** The most failed logins the action's runs made in a row for any username, with no success in between. */
  maxActionStreak: number
}

/** The pair a target gives its consumers. */
function pairIn(mode: Mode, secrets: FakeSecrets, label: string): Copy {
  return { username: mode === 'alternating' ? secrets.value(label, USERNAME_SECRET) : FIRST, password: secrets.value(label) }
}

/** What the workflow passes: `${{ secrets.X }}` as the first target holds it when the job starts ('' for a missing secret). */
function workflowInputs(mode: Mode, secrets: FakeSecrets): Record<string, string> {
  const read = (name: string): string => secrets.value(HOME, name) ?? ''
  const common = {
    targets: TARGETS.join('\n'),
    password: read(SECRET),
    'client-id': 'app-key',
    'client-secret': 'app-secret',
    'github-token': 'ghs_fake-token',
    'min-age-days': String(MIN_AGE_DAYS),
    'recovery-public-key': RECOVERY_KEY
  }
  if (mode === 'one username') return { ...common, username: FIRST }
  return {
    ...common,
    username: read(USERNAME_SECRET),
    'standby-username': read(STANDBY_USERNAME),
    'standby-password': read(STANDBY_PASSWORD),
    'username-kind': 'secret'
  }
}

/** The action's own input reading, with these inputs in the environment as the runner sets them. */
function settingsFrom(inputs: Record<string, string>, runId: number): Settings {
  const keys = Object.keys(inputs).map((name) => `INPUT_${name.toUpperCase()}`)
  Object.values(inputs).forEach((value, i) => (process.env[keys[i]] = value))
  try {
    const context = {
      repository: 'acme/fleet',
      runId,
      runAttempt: 1,
      runnerName: 'GitHub Actions 7',
      eventName: 'schedule',
      triggeringActor: 'octocat',
      apiUrl: 'https://api.github.com'
    }
    return readSettings(context, new SecretMask(() => {}))
  } finally {
    for (const key of keys) delete process.env[key]
  }
}

class Year {
  readonly w: World
  readonly ts: UsersThingSpace
  readonly consumer: Consumer
  readonly runs: RunRecord[] = []
  private readonly mode: Mode
  private readonly seed: number
  private readonly refreshDays: number
  private latencyRnd: () => number

  constructor(mode: Mode, refreshDays: number, seed: number) {
    this.mode = mode
    this.seed = seed
    this.refreshDays = refreshDays
    const rnd = mulberry32(seed)
    this.latencyRnd = rnd
    this.w = new World({ secrets: { latency: () => Math.floor(this.latencyRnd() * 1000) } })
    this.ts = new UsersThingSpace(this.w.clock, { [FIRST]: 'First-Pa55word', [SECOND]: 'Second-Pa55word' })
    this.ts.latency = () => Math.floor(this.latencyRnd() * 3000)

    // Last rotated a quarter ago: the first run is due.
    const before = new Date(START - PERIOD_DAYS * DAY)
    for (const label of [HOME, OTHER]) {
      this.w.secrets.put(label, 'First-Pa55word', before)
      if (mode === 'alternating') this.w.secrets.put(label, FIRST, before, USERNAME_SECRET)
    }
    if (mode === 'alternating') {
      this.w.secrets.put(HOME, 'Second-Pa55word', before, STANDBY_PASSWORD)
      this.w.secrets.put(HOME, SECOND, before, STANDBY_USERNAME)
    }
    // Logins every 15 minutes from a seeded minute; refreshes every N days at a seeded hour between midnight and 10:00.
    const firstLogin = YEAR_START + Math.floor(rnd() * LOGIN_EVERY_MS)
    const firstRefresh = YEAR_START + Math.floor(rnd() * 10 * 60 * MINUTE)
    this.consumer = new Consumer(this.ts, () => pairIn(mode, this.w.secrets, HOME), refreshDays * DAY, firstLogin, firstRefresh)
  }

  /** The year: each scheduled run with its faults (`faults[i]` for the i-th run), the consumer all along. */
  async play(faults: Fault[][]): Promise<this> {
    for (const [i, day] of RUN_DAYS.entries()) {
      const at = START + day * DAY
      this.consumer.runUntil(at)
      this.w.clock.jump(at - this.w.clock.now())
      this.latencyRnd = mulberry32(this.seed * 31 + i)
      this.runs.push(await this.run(day, 5000 + i, faults[i] ?? []))
    }
    this.consumer.runUntil(YEAR_END)
    return this
  }

  /** One scheduled run with its faults, then the rest of its window (what was in flight lands; the consumer goes on). */
  private async run(day: number, runId: number, faults: Fault[]): Promise<RunRecord> {
    const { w, ts, mode } = this
    const startedAt = w.clock.now()
    const fromEvent = w.events.length
    const fromWrite = w.secrets.writes.length
    const countedBefore = [...ts.users.values()].reduce((n, u) => n + u.counted.action, 0)
    ts.newRun()
    w.secrets.runStart = new Date(startedAt)
    w.secrets.jobStart = new Date(startedAt)
    const stopSignals = this.script(faults)
    this.consumer.onClock(w.clock, startedAt + RUN_WINDOW_MS)

    let settings: Settings | undefined
    let result: string
    let pairsLive: boolean[] = []
    let standbyLive = false
    const violations: string[] = []
    try {
      settings = settingsFrom(workflowInputs(mode, w.secrets), runId)
    } catch (error) {
      if (!(error instanceof InputError)) throw error
    }
    if (settings) {
      w.cancel = new Cancellation(w.clock.now, w.clock.schedule)
      w.signals.length = 0
      const usernames = mode === 'alternating' ? usernamesAsSecrets(w.secrets) : undefined
      const settled = await w.clock.drive(rotate(settings, { ...w.deps(), thingspace: ts, usernames }))
      w.cancel.dispose()
      const deadline = w.deadline()
      if (settled.status === 'rejected') throw settled.reason
      result = settled.value.result
      if (deadline !== undefined && settled.at > deadline) violations.push(`returned ${settled.at - deadline} ms after the deadline`)
      // Whether the pairs are live as the run ends (a consumer may lock a username, or another run reset one, later).
      pairsLive = [HOME, OTHER].map((label) => this.live(pairIn(mode, w.secrets, label)))
      standbyLive = this.live({ username: w.secrets.value(HOME, STANDBY_USERNAME), password: w.secrets.value(HOME, STANDBY_PASSWORD) })
    } else {
      result = 'input error'
    }
    stopSignals()
    if (w.clock.now() > startedAt + RUN_WINDOW_MS) throw new Error(`the run on day ${day} outlasted its window`)
    await w.clock.advance(startedAt + RUN_WINDOW_MS - w.clock.now())
    this.clearFaults()

    const countedInRun = [...ts.users.values()].reduce((n, u) => n + u.counted.action, 0) - countedBefore
    if (countedInRun > 2) violations.push(`${countedInRun} failed logins of the action counted in one run`)
    if (settings) violations.push(...this.runViolations(settings, result, fromEvent, fromWrite, pairsLive, standbyLive))
    const landed = (name: string): boolean =>
      w.events.slice(fromEvent).some((e) => e.call === 'write' && e.phase === 'end' && e.label === HOME && e.name === name && e.acted)
    // Half a pair: this run wrote the first target's username or password, and the pair it holds now does not log in.
    const held = { username: w.secrets.value(HOME, USERNAME_SECRET) ?? FIRST, password: w.secrets.value(HOME) ?? '' }
    const halfPair = mode === 'alternating' && (landed(SECRET) || landed(USERNAME_SECRET)) && !ts.isLive(held.username, held.password)
    return { day, at: startedAt, result, resetTookEffect: ts.issued.length > 0, halfPair, faults, violations }
  }

  private live(pair: Copy): boolean {
    return this.ts.isLive(pair.username, pair.password)
  }

  /** Scripts this run's faults at the calls it will make (GitHub's fakes count calls over the whole year). Returns what stops its signals. */
  private script(faults: Fault[]): () => void {
    const { w, ts } = this
    const started = (call: string, label: string): number =>
      w.events.filter((e) => e.service === 'github' && e.call === call && e.phase === 'start' && e.label === label).length
    const stops: (() => void)[] = []
    for (const f of faults) {
      if (f.on === 'thingspace') ts.script(f.call, f.n, f.fault)
      else if (f.on === 'runner') stops.push(w.clock.schedule(f.afterMs, () => w.signal(f.signal)))
      else if (f.call === 'runStart') w.secrets.runStartFault = f.fault
      else if (f.call === 'remove') w.secrets.removeFaults[w.secrets.calls.remove + f.n] = f.fault
      else if (f.call === 'reread') w.secrets.rereadFaults[w.secrets.calls.reread + f.n] = f.fault
      else {
        const script = w.secrets.faults[f.call].get(f.label) ?? []
        script[started(f.call, f.label) + f.n] = f.fault
        w.secrets.faults[f.call].set(f.label, script)
      }
    }
    return () => stops.forEach((stop) => stop())
  }

  private clearFaults(): void {
    const { secrets } = this.w
    secrets.faults.write.clear()
    secrets.faults.inspect.clear()
    secrets.removeFaults.length = 0
    secrets.rereadFaults.length = 0
    secrets.runStartFault = undefined
  }

  /** The campaign's invariants for one run, read from its calls and what it wrote. */
  private runViolations(s: Settings, result: string, fromEvent: number, fromWrite: number, pairsLive: boolean[], standbyLive: boolean): string[] {
    const { w, ts } = this
    const v: string[] = []
    const tsEvents = ts.events
    const resets = tsEvents.filter((e) => e.call === 'reset' && e.phase === 'start')
    if (resets.length > 1) v.push(`the reset was sent ${resets.length} times`)

    const refusal = tsEvents.findIndex((e) => e.call === 'login' && e.phase === 'end' && (e.outcome === 'refused' || e.outcome === 'unrecognised'))
    if (refusal >= 0 && tsEvents.slice(refusal).some((e) => e.call === 'login' && e.phase === 'start'))
      v.push('a login was sent after a refused login')

    // The reset only after every target took this run's proof write.
    const ghEvents = w.events.slice(fromEvent)
    for (const reset of resets) {
      for (const label of [HOME, OTHER]) {
        const proven = ghEvents.some(
          (e) => e.call === 'write' && e.phase === 'end' && e.label === label && e.name === STATE && e.acted && e.at <= reset.at
        )
        if (!proven) v.push(`the reset was sent before ${label} took the proof write`)
      }
    }

    // What was written: the password secret only with a password ThingSpace issued to this run; the
    // username only with the username this run reset (or, written back after its password failed, the
    // active one it read); the standby pair only with the pair this run read as active.
    const alt = s.alternation
    for (const write of w.secrets.writes.slice(fromWrite)) {
      const expected: Record<string, (value: string) => boolean> = {
        [SECRET]: (value) => ts.issued.includes(value),
        [USERNAME_SECRET]: (value) => alt !== undefined && ts.issued.length > 0 && (value === alt.standbyUsername || value === s.username),
        [STANDBY_PASSWORD]: (value) => alt !== undefined && value === s.password,
        [STANDBY_USERNAME]: (value) => alt !== undefined && value === s.username,
        [STATE]: () => true,
        [RESET_UNKNOWN]: () => true
      }
      if (!(expected[write.name] ?? (() => false))(write.value))
        v.push(`${write.name} was written into ${write.label} with a value this run may not write there`)
    }

    // The result tells the truth about the pairs consumers get.
    if (['failed-unchanged', 'not-due', 'dry-run'].includes(result) && ts.issued.length > 0) v.push(`${result}, but a password was reset`)
    if (result === 'rotated') {
      pairsLive.forEach((ok, i) => {
        if (!ok) v.push(`rotated, but ${[HOME, OTHER][i]} does not hold a live pair`)
      })
      if (alt && !standbyLive) v.push('rotated, but the standby pair the first target keeps is not live')
    }
    return v
  }

  report(): YearReport {
    const users = [...this.ts.users.values()]
    return {
      mode: this.mode,
      refreshDays: this.refreshDays,
      seed: this.seed,
      runs: this.runs,
      consumer: { logins: this.consumer.logins, failures: this.consumer.failures, firstFailureAt: this.consumer.firstFailureAt },
      locked: users.flatMap((u) => (u.locked ? [{ username: u.name, by: u.locked.by, day: Math.floor((u.locked.at - START) / DAY) }] : [])),
      maxActionStreak: Math.max(...users.map((u) => u.maxActionStreak)),
      resets: Object.fromEntries(users.map((u) => [u.name, u.history.length - 1]))
    }
  }
}

/** Every broken invariant of the years, with the seed and the run's faults to replay it. */
function violations(reports: YearReport[]): string[] {
  return reports.flatMap((r) =>
    r.runs.flatMap((run) => run.violations.map((v) => `seed ${r.seed}, day ${run.day} (${run.result}; faults ${JSON.stringify(run.faults)}): ${v}`))
  )
}

function budget(reports: YearReport[]): string[] {
  return reports.flatMap((r) => [
    ...(r.maxActionStreak > 3 ? [`seed ${r.seed}: the action's runs spent ${r.maxActionStreak} attempts in a row`] : []),
    ...r.locked.filter((l) => l.by === 'action').map((l) => `seed ${r.seed}: the action locked ${l.username} on day ${l.day}`)
  ])
}

const BELOW_PERIOD = [1, 7, 30, 60]

const failedLogins = (reports: YearReport[]): string[] =>
  reports.filter((r) => r.consumer.failures > 0).map((r) => `seed ${r.seed}: ${r.consumer.failures} failed logins`)
const lockouts = (reports: YearReport[]): string[] =>
  reports.flatMap((r) => r.locked.map((l) => `seed ${r.seed}: ${l.username} locked on day ${l.day} by the ${l.by}`))

/** Rows of the printed table, in the order the years were played. */
const tableRows: { label: string; reports: YearReport[] }[] = []

afterAll(() => {
  const columns = ['mode', 'faults', 'N', 'years', 'consumer failures', 'lockouts', 'resets in effect', 'rotated', 'half pairs']
  const rows = tableRows.map(({ label, reports }) => {
    const { mode, refreshDays } = reports[0]
    const sum = (f: (r: YearReport) => number): number => reports.reduce((n, r) => n + f(r), 0)
    const runs = (f: (run: RunRecord) => boolean): number => sum((r) => r.runs.filter(f).length)
    return [
      mode,
      label,
      refreshDays,
      reports.length,
      sum((r) => r.consumer.failures),
      sum((r) => r.locked.length),
      runs((run) => run.resetTookEffect),
      runs((run) => run.result === 'rotated'),
      runs((run) => run.halfPair)
    ].map(String)
  })
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  console.log(
    [
      `A year of scheduled runs on days ${RUN_DAYS.join(', ')}; a consumer logs in every 15 minutes with a copy it refreshes every N days (${365 * 96} logins a year).`,
      `Seeded faults: seeds ${SEEDS[0]}-${SEEDS.at(-1)}.`,
      line(columns),
      ...rows.map(line)
    ].join('\n')
  )
})

/** Every seeded year of one mode and refresh interval, played once (the table and the guard read them again). */
const played = new Map<string, Promise<YearReport[]>>()
function seededYears(mode: Mode, refreshDays: number): Promise<YearReport[]> {
  const key = `${mode} ${refreshDays}`
  if (!played.has(key)) {
    const playing = (async () => {
      const reports: YearReport[] = []
      for (const seed of SEEDS) {
        const faultRnd = mulberry32(seed ^ 0xfa017)
        const year = await new Year(mode, refreshDays, seed).play(RUN_DAYS.map(() => drawFaults(faultRnd)))
        reports.push(year.report())
      }
      tableRows.push({ label: '1-3 a run', reports })
      return reports
    })()
    played.set(key, playing)
  }
  return played.get(key)!
}

async function faultFreeYear(mode: Mode, refreshDays: number): Promise<YearReport> {
  const report = (await new Year(mode, refreshDays, BASE_SEED).play([])).report()
  tableRows.push({ label: 'none', reports: [report] })
  return report
}

describe(`a year of quarterly scheduled rotations with 1-3 random faults a run, ${YEARS} seeded years`, () => {
  test.each(BELOW_PERIOD.map((refreshDays) => ({ name: `alternating usernames, a consumer refreshing every ${refreshDays} days`, refreshDays })))(
    '$name never fails a login, no username is locked and no run leaves half a pair, every run keeps the invariants',
    async ({ refreshDays }) => {
      const reports = await seededYears('alternating', refreshDays)

      expect(violations(reports)).toEqual([])
      expect(budget(reports)).toEqual([])
      // Found by this test: a store that landed the username and not the password (or the reverse) left its
      // consumers a pair that does not log in, and the consumer locked that username. Now no year has one.
      expect(reports.flatMap((r) => r.runs.filter((run) => run.halfPair).map((run) => `seed ${r.seed}, day ${run.day}`))).toEqual([])
      expect(failedLogins(reports)).toEqual([])
      expect(lockouts(reports)).toEqual([])
      // Not vacuous: the consumer logged in all year, and in some years the pair it started with was reset under it.
      expect(reports.filter((r) => r.consumer.logins !== 365 * 96).map((r) => r.seed)).toEqual([])
      expect(reports.filter((r) => r.resets[FIRST] > 0).length).toBeGreaterThan(0)
    }
  )

  test.each(BELOW_PERIOD.map((refreshDays) => ({ name: `one username, the same consumer refreshing every ${refreshDays} days`, refreshDays })))(
    '$name is locked out by its stale copy in every year a reset took effect, never by the action',
    async ({ refreshDays }) => {
      const reports = await seededYears('one username', refreshDays)
      const changed = reports.filter((r) => r.runs.some((run) => run.resetTookEffect))

      expect(violations(reports)).toEqual([])
      expect(budget(reports)).toEqual([])
      expect(changed.length).toBeGreaterThan(YEARS / 2)
      // Its copy is hours stale after any reset (it refreshes in the morning, the runs are at noon): its 5th failure locks the username.
      expect(changed.filter((r) => !r.locked.some((l) => l.username === FIRST && l.by === 'consumer')).map((r) => r.seed)).toEqual([])
      expect(failedLogins(reports.filter((r) => !changed.includes(r)))).toEqual([])
    }
  )

  test.each([
    { name: 'alternating usernames', mode: 'alternating' as const },
    { name: 'one username', mode: 'one username' as const }
  ])('$name: the faults reach every failed result (faults that never bit would prove nothing)', async ({ mode }) => {
    const reports = (await Promise.all(BELOW_PERIOD.map((n) => seededYears(mode, n)))).flat()
    const results = new Set(reports.flatMap((r) => r.runs.map((run) => run.result)))
    expect([...results]).toEqual(expect.arrayContaining(['failed-changed', 'failed-unchanged', 'failed-unknown', 'rotated']))
  })
})

describe('a year without faults: the rotation period is the bound', () => {
  test.each([
    {
      name: 'alternating usernames, refreshing every 90 days (below the 91-day period): never fails, and every run rotates',
      mode: 'alternating' as const,
      refreshDays: 90,
      locked: [],
      results: RUN_DAYS.map(() => 'rotated')
    },
    {
      // Its day-0 pair is the one the day-91 run resets; the run that would reset it again (day 273) finds it locked, and stops the schedule.
      name: 'alternating usernames, refreshing every 120 days (longer than the period): it locks the username its copy names on day 91',
      mode: 'alternating' as const,
      refreshDays: 120,
      locked: [{ username: FIRST, by: 'consumer', day: 91 }],
      results: ['rotated', 'rotated', 'rotated', 'failed-unchanged', 'failed-unchanged']
    },
    {
      // The next run logs in to a locked username, is refused, records it, and every later one stops.
      name: 'one username, refreshing every day: the first reset locks the username out',
      mode: 'one username' as const,
      refreshDays: 1,
      locked: [{ username: FIRST, by: 'consumer', day: 0 }],
      results: ['rotated', 'failed-unchanged', 'failed-unchanged', 'failed-unchanged', 'failed-unchanged']
    }
  ])('$name', async ({ mode, refreshDays, locked, results }) => {
    const report = await faultFreeYear(mode, refreshDays)

    expect(violations([report])).toEqual([])
    expect(report.locked).toEqual(locked)
    expect(report.consumer.failures > 0).toBe(locked.length > 0)
    expect(report.runs.map((run) => run.result)).toEqual(results)
  })
})

describe('a store refused in the first target leaves it the previous pair, whole', () => {
  // Writes to the first target in a run with alternating usernames, in the order they start: 0 the
  // rotation state (the proof), 1 the username, 2 the standby's password, 3 the standby's username once
  // its password landed, 4 the password once the username landed.
  const HALF = [
    { name: 'the username write refused: the password is not written', write: 1, refused: USERNAME_SECRET },
    { name: 'the password write refused: the username is written back', write: 4, refused: SECRET }
  ]
  const yearWith = async (write: number): Promise<Year> =>
    new Year('alternating', 1, BASE_SEED).play([[{ on: 'github', call: 'write', label: HOME, n: write, fault: { status: 403 } }]])

  test.each(HALF)('$name: the day-0 run says failed-changed, with the fault on that write, and no half pair', async ({ write, refused }) => {
    const year = await yearWith(write)

    expect(year.runs[0]).toMatchObject({ result: 'failed-changed', halfPair: false })
    const failed = year.w.events.filter((e) => e.call === 'write' && e.phase === 'end' && e.label === HOME && e.outcome === 'error')
    expect(failed.map((e) => e.name)).toEqual([refused])
  })

  test.each(HALF)('$name: the consumers of the first target still get a pair that logs in', async ({ write }) => {
    const year = await yearWith(write)

    expect(year.report().consumer.failures).toBe(0)
  })
})
