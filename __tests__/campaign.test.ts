/**
 * The seeded fault campaign, in process: thousands of rotations against the fakes, each with 1-3
 * faults drawn from every kind on every call (reads, token, login, proof writes, the reset, stores,
 * re-reads, the verify login, logout, removals), random latencies, random signals at random moments,
 * random events (started by a person, by a bot, or by nobody), and random min-age, stale, record and
 * legacy-marker states, with GitHub's times to the millisecond or to the second. After each case every
 * invariant is checked at once (`violations`). A failure prints the seed and the case; replay one with
 * CAMPAIGN_SEED=<seed>.
 *
 * Then the lockout budget across runs: no sequence of 50 unattended runs (schedule,
 * repository_dispatch, a bot's dispatch, mixes; a token that cannot write; runs cut mid-login) spends
 * more than 3 of the 5 attempts. Then overlapping runs: two rotations of one username at every start
 * offset, with GitHub slower than ThingSpace, a ThingSpace that checks oldPassword or not, leave every
 * target holding the live password or a result that admits doubt, and each result was true when its
 * run ended.
 */
import { describe, expect, test } from '@jest/globals'
import fc from 'fast-check'
import type { Settings } from '../src/inputs.ts'
import { RUN_IN_PROGRESS_MS } from '../src/rotation-state.ts'
import type { FailureKind } from '../src/thingspace.ts'
import {
  DAY,
  labels,
  LEGACY,
  makeSettings,
  MINUTE,
  openSealed,
  PASSWORD,
  RECOVERY_KEY,
  SECRET,
  START,
  STATE,
  World,
  type CallEvent,
  type GhFault,
  type OverlapResult,
  type RunResult,
  type TsFault
} from './support/fakes.ts'

/** mulberry32: a tiny seeded PRNG, so every case can be replayed from its seed. */
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

const POOL = ['repo', 'env:prod', 'org:acme', 'dependabot:repo', 'codespaces:org:acme:private', 'org:acme2:selected']
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
/** What starts a run, and who: a person (workflow_dispatch, or a local run without an event), a bot, or nobody. */
const RUNS = [
  { eventName: 'schedule', triggeringActor: 'octocat' },
  { eventName: 'schedule', triggeringActor: 'octocat' },
  { eventName: 'repository_dispatch', triggeringActor: 'octocat' },
  { eventName: 'push', triggeringActor: 'octocat' },
  { eventName: 'workflow_dispatch', triggeringActor: 'fleet-scheduler[bot]' },
  { eventName: 'workflow_dispatch', triggeringActor: 'octocat' },
  { eventName: 'workflow_dispatch', triggeringActor: 'octocat' },
  { eventName: undefined, triggeringActor: undefined }
] as const
const attended = (s: Settings): boolean =>
  s.eventName === undefined || (s.eventName === 'workflow_dispatch' && !(s.triggeringActor ?? '').endsWith('[bot]'))
const SIGNALS = [['SIGINT'], ['SIGTERM'], ['SIGINT', 'SIGTERM']]
const CASES = 2000
const BASE_SEED = 20_250_601

interface Case {
  seed: number
  targets: string[]
  live: string
  settings: Settings
  stored: Record<string, number | null>
  runStart: number
  /** When this job started, if the run's jobs list it. */
  jobStart: number | null
  record: number | null
  legacy: number | null
  elsewhere: { label: string; at: number } | null
  /** GitHub's times: to the millisecond, or to the second as GitHub gives them. */
  precision: 1 | 1000
  tsFaults: { call: 'token' | 'login' | 'reset' | 'logout'; n: number; fault: TsFault }[]
  ghFaults: { call: 'inspect' | 'write' | 'remove' | 'runStart' | 'reread'; label: string; n: number; fault: GhFault }[]
  slowWrite: string | null
  /** The token for the reset takes 19.5 minutes: the session may have idled out, so a fresh login comes before the reset. */
  slowResetToken: boolean
  /** A token that may read secrets but not write them: every write and removal fails. */
  readOnly: boolean
  signal: { at?: number; onEvent?: number; kinds: string[] } | null
}

function makeCase(seed: number): Case {
  const rnd = mulberry32(seed)
  const int = (n: number): number => Math.floor(rnd() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]
  const chance = (p: number): boolean => rnd() < p

  const shuffled = [...POOL]
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = int(i + 1)
    ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
  }
  const targets = shuffled.slice(0, 1 + int(3))
  const ls = labels(targets)
  const precision = chance(0.5) ? 1000 : 1
  const time = (t: number): number => t - (t % precision)
  const runStart = START - 10 * MINUTE
  const jobStart = chance(0.7) ? START - int(10) * MINUTE : null
  const stored: Record<string, number | null> = {}
  for (const l of ls) stored[l] = chance(0.9) ? time(START - int(60) * DAY - int(DAY)) : null
  // Updated after this job (or run) read its secrets: stale input. Or between the run's start and the job's: not stale.
  if (chance(0.08)) stored[pick(ls)] = time((jobStart ?? runStart) + 1000 + int(MINUTE))
  else if (jobStart !== null && chance(0.05)) stored[pick(ls)] = time(runStart + int(jobStart - runStart))
  const latest = Math.max(0, ...Object.values(stored).map((x) => x ?? 0))
  // A record in force is older than a run can last, unless drawn young (another run at work: every run stops).
  const old = START - RUN_IN_PROGRESS_MS - MINUTE
  const around = (): number => time(chance(0.5) ? Math.max(latest, Math.min(old, latest + int(DAY))) : Math.max(0, latest - 1 - int(DAY)))
  const young = (): number => time(START - int(RUN_IN_PROGRESS_MS))
  const record = chance(0.25) ? (chance(0.1) ? latest : chance(0.1) ? young() : around()) : null
  const legacy = chance(0.12) ? around() : null
  // A copy of the rotation state left in another target: old (an earlier run's removal failed) or young (a run at work).
  const elsewhere = ls.length > 1 && chance(0.05) ? { label: pick(ls.slice(1)), at: chance(0.5) ? young() : around() } : null

  const tsFaults: Case['tsFaults'] = []
  const ghFaults: Case['ghFaults'] = []
  for (let i = 0, faults = 1 + int(3); i < faults; i++) {
    if (chance(0.6)) {
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
      if (kind === 'refused' && chance(0.3)) fault.code = 'REQUEST_FAILED.SessionToken.Expired'
      if (kind === 'redirect') fault.status = pick([301, 302, 307])
      if ((call === 'login' || call === 'reset') && chance(0.1)) fault.inToken = true
      tsFaults.push({ call, n: call === 'reset' ? 0 : int(3), fault })
    } else {
      const call = pick(['inspect', 'write', 'write', 'write', 'remove', 'runStart', 'reread'] as const)
      ghFaults.push({
        call,
        label: pick(ls),
        n: call === 'write' ? int(3) : call === 'remove' ? int(2) : call === 'reread' ? int(6) : 0,
        fault: { status: pick([403, 404, 500, undefined]), acted: chance(0.2) }
      })
    }
  }
  const signal = chance(0.35) ? { kinds: pick(SIGNALS), ...(chance(0.5) ? { at: int(15_000) } : { onEvent: int(30) }) } : null

  const run = pick(RUNS)
  const settings = makeSettings({
    targets,
    minAgeDays: pick([0, 0, 0, 30]),
    eventName: run.eventName,
    triggeringActor: run.triggeringActor,
    dryRun: chance(0.1),
    verify: chance(0.8),
    recoveryPublicKey: chance(0.5) ? RECOVERY_KEY : undefined,
    runId: chance(0.9) ? 4242 : undefined
  })
  return {
    seed,
    targets,
    live: chance(0.8) ? PASSWORD : 'Changed-Elsewhere',
    settings,
    stored,
    runStart,
    jobStart,
    record,
    legacy,
    elsewhere,
    precision,
    tsFaults,
    ghFaults,
    slowWrite: chance(0.04) ? pick(ls) : null,
    slowResetToken: chance(0.04),
    readOnly: chance(0.03),
    signal
  }
}

function buildWorld(c: Case): World {
  const rnd = mulberry32(c.seed ^ 0x5eed)
  const ls = labels(c.targets)
  const w = new World({
    thingspace: {
      password: c.live,
      latency: (call, n) => (c.slowResetToken && call === 'token' && n === 1 ? 19.5 * MINUTE : Math.floor(rnd() * 3000))
    },
    secrets: {
      runStart: new Date(c.runStart),
      jobStart: c.jobStart === null ? undefined : new Date(c.jobStart),
      selected: { 'org:acme2:selected': [101, 102] },
      timePrecisionMs: c.precision,
      latency: (call, label, n) => (call === 'write' && label === c.slowWrite && n === 0 ? 21 * MINUTE : Math.floor(rnd() * 1000))
    }
  })
  for (const l of ls) {
    const at = c.stored[l]
    if (at !== null) w.secrets.put(l, PASSWORD, new Date(at), SECRET, l.endsWith(':selected') ? 'selected' : undefined)
  }
  if (c.record !== null) w.secrets.put(ls[0], 'an earlier run: a login may count', new Date(c.record), STATE)
  if (c.elsewhere !== null) w.secrets.put(c.elsewhere.label, 'another run: write proof', new Date(c.elsewhere.at), STATE)
  if (c.legacy !== null) w.secrets.put(ls[0], 'a login may have counted', new Date(c.legacy), LEGACY)
  w.secrets.readOnly = c.readOnly
  for (const f of c.tsFaults) {
    const script = (w.thingspace.faults[f.call] ??= [])
    script[f.n] = f.fault
  }
  for (const f of c.ghFaults) {
    if (f.call === 'runStart') w.secrets.runStartFault = f.fault
    else if (f.call === 'remove') w.secrets.removeFaults[f.n] = f.fault
    else if (f.call === 'reread') w.secrets.rereadFaults[f.n] = f.fault
    else {
      const script = w.secrets.faults[f.call].get(f.label) ?? []
      script[f.n] = f.fault
      w.secrets.faults[f.call].set(f.label, script)
    }
  }
  if (c.signal) {
    const { kinds } = c.signal
    const deliver = (): void => {
      w.signal(kinds[0])
      if (kinds[1]) w.clock.schedule(7500, () => w.signal(kinds[1]))
    }
    if (c.signal.at !== undefined) w.clock.schedule(c.signal.at, deliver)
    else {
      let seen = 0
      const k = c.signal.onEvent!
      // Delivered once the call is on its way, as a real signal is (it cannot interleave with the synchronous code that
      // sends a call and guards it); rotation.test.ts also delivers some inside the call, before the guard is attached.
      w.on(
        (e) => e.phase === 'start' && seen++ === k,
        () => void w.clock.schedule(0, deliver)
      )
    }
  }
  return w
}

/** Login answers that may have counted toward the lockout (thingspace.ts `mayHaveCounted`). */
const MAY_HAVE_COUNTED = new Set(['refused', 'unrecognised', 'server', 'redirect', 'lost', 'timeout', 'bad-response'])
/** ...of which these are sent once more while the run's budget lasts (`mayRetryLogin`). */
const RETRYABLE = new Set(['server', 'lost', 'timeout'])
/**
 * Reset answers whose outcome is not claimed: failed-unknown. The gateway's own 429 (throttled) is among
 * them, like any 429 after the reset was sent, although the login treats it as never seen by the service.
 * A refusal that is not a session error comes right after a login with the same password succeeded: most
 * likely another rotation changed the password, so it is failed-unknown too.
 */
const UNCLEAR_RESET = ['server', 'throttled', 'redirect', 'lost', 'timeout', 'bad-response', 'unrecognised']
const SECRET_MOVED = 'This run did not change the password, but another rotation did while it ran'

/** What the run's logins with the password its job read (not the verify login) did, read from the record of calls. */
function loginHistory(c: Case, w: World) {
  const ev = w.events
  const signalAt = w.signals.length > 0 ? w.signals[0].index : Infinity
  const starts = w.ts('login').filter((e) => e.value === c.settings.password)
  const endOf = (n: number): CallEvent | undefined =>
    ev.find((e) => e.service === 'thingspace' && e.call === 'login' && e.phase === 'end' && e.n === n)
  /** How the run saw each: ok, counted (may have counted, or abandoned in flight on a signal), or not counted. */
  const seen = starts.map((e) => {
    const end = endOf(e.n)
    if (!end || ev.indexOf(end) >= signalAt) return { start: e, end, how: 'counted' as const, kind: 'abandoned' }
    if (end.outcome === 'ok') return { start: e, end, how: 'ok' as const, kind: 'ok' }
    return { start: e, end, how: MAY_HAVE_COUNTED.has(end.outcome!) ? ('counted' as const) : ('not counted' as const), kind: end.outcome! }
  })
  const lastOk = seen.findLastIndex((x) => x.how === 'ok')
  const lastCounted = seen.findLastIndex((x) => x.how === 'counted')
  return {
    seen,
    /** The latest login that reached the user service succeeded. */
    clean: lastOk >= 0 && lastOk > lastCounted,
    reached: seen.some((x) => x.how !== 'not counted'),
    spentAtEnd: lastCounted >= 0 && lastCounted > lastOk
  }
}

/** Every invariant of a run, as a list of what was violated (empty when the run kept every promise). */
function violations(c: Case, w: World, r: RunResult): string[] {
  const v: string[] = []
  const { outcome } = r
  const s = c.settings
  const ls = labels(c.targets)
  const home = ls[0]
  const ev = w.events
  const idx = (e: CallEvent): number => ev.indexOf(e)
  const ts = w.thingspace
  const signalAt = w.signals.length > 0 ? w.signals[0].index : Infinity
  const resetCalls = w.ts('reset')
  const resetEnd = w.ts('reset', 'end')[0]
  const cutAt = r.deadline ?? Infinity
  const answered = resetEnd !== undefined && resetEnd.at < cutAt
  const issued = answered && resetEnd.outcome === 'ok' ? resetEnd.value : undefined
  const writes = ev.filter((e) => e.call === 'write' && e.phase === 'start')
  const firstLogin = w.ts('login')[0]
  const history = loginHistory(c, w)
  const warned = (text: string): boolean => w.warnings.some((x) => x.includes(text))

  // The password secret: written only with the password ThingSpace issued to this run, after its reset.
  for (const e of writes.filter((x) => x.name === SECRET)) {
    if (issued === undefined || e.value !== issued)
      v.push(`${e.label}: the password secret was written with something ThingSpace did not issue to this run`)
    else if (idx(e) < idx(resetEnd)) v.push(`${e.label}: the password secret was written before the reset answered`)
  }
  // A run that got no new password (dry run, not due, stopped before or at its reset) leaves every password secret as it was.
  if (issued === undefined)
    for (const l of ls) {
      const now = w.secrets.get(l)
      const was = c.stored[l]
      if ((now === undefined) !== (was === null) || (now && (now.value !== PASSWORD || now.updatedAt.getTime() !== was)))
        v.push(`${l}: the password secret changed although this run got no new password`)
    }

  // The proof: every target took a write of the rotation-state secret before the first login; nothing else writes it, but a fresh record after the stores.
  if (firstLogin)
    for (const l of ls)
      if (
        !ev.some((e, i) => i < idx(firstLogin) && e.call === 'write' && e.phase === 'end' && e.label === l && e.name === STATE && e.outcome === 'ok')
      )
        v.push(`the first login was sent before ${l} took the proof write`)
  for (const e of writes.filter((x) => x.name === STATE && x.label !== home))
    if (firstLogin && idx(e) > idx(firstLogin)) v.push(`${e.label}: ${STATE} written after the first login`)
  // The home target's first write is the proof (and the record ahead); a later one only records a verify login that may have counted.
  const lateRecords = writes.filter((x) => x.name === STATE && x.label === home).slice(1)
  const verifyStart = w.ts('login').find((e) => issued !== undefined && e.value === issued)
  const verifyEnd = verifyStart && ev.find((e) => e.call === 'login' && e.phase === 'end' && e.n === verifyStart.n)
  for (const e of lateRecords) {
    if (!verifyEnd || idx(e) < idx(verifyEnd) || !MAY_HAVE_COUNTED.has(verifyEnd.outcome!))
      v.push(`${STATE} written in ${home} after the first login, but not for a verify login that may have counted`)
    const removal = ev.findLast((x, i) => i < idx(e) && x.call === 'remove' && x.name === STATE)
    if (removal && removal.phase === 'start') v.push(`the fresh record was written while its removal was still in flight`)
  }
  if (writes.some((x) => x.name === LEGACY)) v.push(`${LEGACY} was written`)

  // The reset: at most once, and only after a login answered.
  if (resetCalls.length > 1) v.push(`the reset was sent ${resetCalls.length} times`)
  if (ts.resetsProcessed > 1) v.push('the password was reset twice')
  if (resetCalls.length === 1 && !history.seen.some((x) => x.how === 'ok' && idx(x.end) < idx(resetCalls[0])))
    v.push('the reset was sent before any login answered')

  // The lockout: the decision at the start, no login after a refusal or a signal, one retry at most, a small budget.
  const stored0 = Math.max(0, ...ls.map((l) => c.stored[l] ?? 0))
  const inForce0 = [c.record, c.legacy].some((t) => t !== null && t >= stored0)
  const young = (t: number | null | undefined): boolean => t !== null && t !== undefined && START - t < RUN_IN_PROGRESS_MS
  // Excluded from "elsewhere": the known bug of rotation-state.test.ts "a young copy in another target
  // says busy even when an older home record is in force" (the decision then stops or tries once).
  const homeInForceOld = [c.record, c.legacy].some((t) => t !== null && t >= stored0 && !young(t))
  const busy0 = (c.record !== null && c.record >= stored0 && young(c.record)) || (young(c.elsewhere?.at) && !homeInForceOld)
  const byHand = attended(s)
  if (inForce0 && !byHand && (w.ts('login').length > 0 || w.secrets.writes.length > 0))
    v.push('an unattended run logged in or wrote although a record was in force')
  if (busy0 && (w.ts('login').length > 0 || w.secrets.writes.length > 0)) v.push('a run logged in or wrote although another run may be at work')
  for (const x of history.seen) if (idx(x.start) >= signalAt) v.push(`login #${x.start.n} was sent after the signal`)
  history.seen.forEach((x, i) => {
    const previous = history.seen[i - 1]
    if (!previous || previous.how !== 'counted') return
    if (!RETRYABLE.has(previous.kind)) v.push(`login #${x.start.n} was sent after login #${previous.start.n} ${previous.kind}`)
    if (inForce0) v.push(`login #${x.start.n} retried a login although a record was in force`)
  })
  const retries = history.seen.filter((_, i) => i > 0 && history.seen[i - 1].how === 'counted').length
  if (retries > 1) v.push(`${retries} logins were sent again in one run`)
  let streak = 0
  for (const e of w.ts('login', 'end')) {
    streak = MAY_HAVE_COUNTED.has(e.outcome!) ? streak + 1 : e.outcome === 'ok' ? 0 : streak
    if (streak > 2) v.push('more than 2 logins that may have counted in a row')
  }
  if (ts.countedFailures > 2) v.push(`${ts.countedFailures} failed logins counted in one run`)
  if (ts.locked) v.push('the username was locked')

  // The record ahead: every login with the password the job read goes out while this run's record is in the home target.
  for (const x of history.seen) {
    const written = ev.findLast(
      (e, i) => i < idx(x.start) && e.label === home && e.name === STATE && e.phase === 'end' && (e.call === 'write' ? e.acted : false)
    )
    const removedSince =
      written && ev.some((e, i) => i > idx(written) && i < idx(x.start) && e.call === 'remove' && e.name === STATE && e.phase === 'end' && e.acted)
    if (!written || removedSince) v.push(`login #${x.start.n} was sent with no record of it in ${home}`)
  }

  // Removals: the home record only once a login succeeded, or (only this run's own) when none reached the
  // user service or the secret moved; every other copy of the proof whenever this run may have left one
  // (no other run writes here, so no proof is contended); the legacy marker only after a success.
  const moved = outcome.message.startsWith(SECRET_MOVED)
  const proofEnds = ev.filter((e) => e.call === 'write' && e.phase === 'end' && e.name === STATE).map((e) => idx(e))
  const proofCut = signalAt < Infinity && (proofEnds.length < ls.length || proofEnds.some((i) => i > signalAt))
  const stateRemovable = history.clean || (!inForce0 && (!history.reached || moved))
  const removals = ev.filter((e) => e.call === 'remove' && e.phase === 'start')
  /** The proof may have left a copy there: its write was sent, and GitHub did not refuse it with a 4xx. */
  const proofLeft = (l: string): boolean => {
    const end = ev.find((e) => e.call === 'write' && e.phase === 'end' && e.label === l && e.name === STATE)
    const start = writes.find((e) => e.label === l && e.name === STATE)
    // (The last fault drawn for a call is the one scripted.)
    const failure = c.ghFaults.findLast((f) => f.call === 'write' && f.label === l && f.n === 0)?.fault ?? (c.readOnly ? { status: 403 } : undefined)
    const refused = end?.outcome === 'error' && !end.acted && failure?.status !== undefined && failure.status < 500
    return start !== undefined && !refused
  }
  for (const e of removals) {
    if (e.name === LEGACY && e.label !== home) v.push(`${LEGACY} removed from ${e.label}, not the home target`)
    if (e.name === LEGACY && !history.clean) v.push(`${LEGACY} removed without a login that succeeded`)
    if (e.name !== STATE) continue
    if (e.label === home && !stateRemovable)
      v.push(`${STATE} removed although ${history.spentAtEnd ? 'a login may have counted' : 'an earlier record still stands'}`)
    // (A signal during the proof abandons it: which writes went out is not known, and a removal of nothing costs nothing.)
    if (!proofLeft(e.label!) && !proofCut) v.push(`${STATE} removed from ${e.label}, where this run's proof left nothing`)
  }
  for (const e of removals)
    if (removals.filter((x) => x.name === e.name && x.label === e.label).length > 1) v.push(`${e.name} removed twice from ${e.label}`)
  if (w.signals.length === 0)
    for (const l of ls) {
      const due = proofLeft(l) && (l !== home || stateRemovable)
      if (due && !removals.some((e) => e.name === STATE && e.label === l)) v.push(`${STATE} was not removed from ${l}`)
    }

  // What the next run finds in the home target.
  const recordInForce = (): boolean => {
    const latest = Math.max(0, ...ls.map((l) => w.secrets.get(l)?.updatedAt.getTime() ?? 0))
    return [STATE, LEGACY].some((name) => (w.secrets.get(home, name)?.updatedAt.getTime() ?? -1) >= latest)
  }
  const recordFailed =
    outcome.message.includes(`Recording it in ${STATE} failed`) || outcome.message.includes(`Recording that login in ${STATE} failed`)
  const verifyCounted = verifyEnd !== undefined && verifyEnd.at < cutAt && MAY_HAVE_COUNTED.has(verifyEnd.outcome!)
  const homeHolds = issued !== undefined && w.secrets.value(home) === issued && outcome.targets[0].holdsNewPassword
  if (history.spentAtEnd && !moved && !recordInForce()) v.push('a login may have counted, but no record in force is left for the next run')
  if (verifyCounted && homeHolds && !recordFailed && !recordInForce())
    v.push('the verify login may have counted, but no record in force is left for the next run')
  const removalFailed = warned('Could not remove')
  // Excluded: the known bug of rotation.test.ts "a signal while the home proof write is slower than the removal".
  const homeProofInFlightAtSignal = ev.some(
    (e, i) =>
      i < signalAt &&
      e.call === 'write' &&
      e.name === STATE &&
      e.label === home &&
      e.phase === 'start' &&
      !ev.some((x, j) => j < signalAt && x.call === 'write' && x.phase === 'end' && x.label === home && x.n === e.n)
  )
  if (!inForce0 && !history.reached && !removalFailed && !homeProofInFlightAtSignal && recordInForce())
    v.push('no login reached the user service, but a record in force is left for the next run')
  if (history.clean && !verifyCounted && !removalFailed && w.signals.length === 0 && recordInForce())
    v.push('the login succeeded, but a record in force is left for the next run')

  // The result tells the truth.
  const expectOk = ['not-due', 'dry-run', 'rotated'].includes(outcome.result)
  if (outcome.ok && !expectOk) v.push(`ok with ${outcome.result}`)
  if (outcome.targets.length !== ls.length) v.push('not every target is reported')
  const changed = ts.resetsProcessed > 0
  const holds = (l: string): boolean => issued !== undefined && w.secrets.value(l) === issued
  switch (outcome.result) {
    case 'failed-unchanged':
      if (changed) v.push('failed-unchanged, but the password changed')
      break
    case 'not-due':
      if (Object.values(ts.calls).some((n) => n > 0)) v.push('not-due, but ThingSpace was called')
      if (w.secrets.writes.length > 0 || removals.length > 0) v.push('not-due, but something was written')
      break
    case 'dry-run':
      if (!s.dryRun) v.push('dry-run, but this is no dry run')
      if (changed || resetCalls.length > 0) v.push('dry-run, but a reset was sent')
      if (!history.seen.some((x) => x.how === 'ok')) v.push('dry-run, but no login succeeded')
      break
    case 'rotated':
      if (!changed || issued === undefined) v.push('rotated, but this run got no new password')
      if (issued !== ts.password) v.push('rotated, but the password this run stored is not the live one')
      for (const l of ls) if (!holds(l)) v.push(`rotated, but ${l} does not hold the new password`)
      if (outcome.ok && verifyEnd && verifyEnd.at < cutAt && verifyEnd.outcome !== 'ok') v.push('rotated and ok, but the verify login failed')
      break
    case 'failed-changed': {
      if (!changed) v.push('failed-changed, but the password did not change')
      for (const t of outcome.targets) {
        if (t.holdsNewPassword && !holds(t.label)) v.push(`failed-changed names ${t.label} a holder, but it does not hold the new password`)
        if (!t.holdsNewPassword && !outcome.message.includes(t.label))
          v.push(`failed-changed does not name ${t.label}, which may not hold the new password`)
      }
      if (s.recoveryPublicKey && openSealed(outcome.recoveryCiphertext ?? 'bnVsbA==', RECOVERY_KEY) !== ts.password)
        v.push('the recovery ciphertext does not open to the live password')
      if (!s.recoveryPublicKey && outcome.recoveryCiphertext !== undefined) v.push('a recovery ciphertext without a recovery key')
      break
    }
    case 'failed-unknown':
      // Without a reset: the secret moved (another rotation), the input was stale, or another run may be at work.
      if (
        resetCalls.length !== 1 &&
        !moved &&
        !outcome.message.includes('replaced the password this job read') &&
        !outcome.message.includes('may be at work right now')
      )
        v.push('failed-unknown, but no reset was sent, and no other rotation was seen')
      if (outcome.message.includes('may be at work right now') && !busy0)
        v.push('said another run may be at work, but no young rotation state was read')
      if (moved && !ls.some((l) => w.secrets.get(l)?.updatedAt.getTime() !== (c.stored[l] ?? undefined)))
        v.push('said the secret moved, but it did not')
      break
  }
  // ...and it matches what the reset's answer said, whatever the server really did.
  if (resetCalls.length === 1) {
    const said = !answered ? 'no answer' : resetEnd.outcome!
    const sessionRefusal = said === 'refused' && /SessionToken/.test(resetEnd.value ?? '')
    const verifyRefused = verifyEnd !== undefined && verifyEnd.at < cutAt && (verifyEnd.outcome === 'refused' || verifyEnd.outcome === 'unrecognised')
    const expected = !answered
      ? ['failed-unknown']
      : said === 'ok'
        ? verifyRefused
          ? ['failed-unknown']
          : ['rotated', 'failed-changed']
        : UNCLEAR_RESET.includes(said) || (said === 'refused' && !sessionRefusal)
          ? ['failed-unknown']
          : ['failed-unchanged']
    if (!expected.includes(outcome.result)) v.push(`the reset answered ${said}, but the result is ${outcome.result}`)
  }

  // Cancellation always ends in a report before the kill; without one every session is logged out.
  if (r.deadline !== undefined && r.at > r.deadline) v.push(`returned ${r.at - r.deadline} ms after the deadline`)
  if (w.signals.length === 0) {
    const loggedOut = new Set(w.ts('logout').map((e) => e.value))
    for (const e of w.ts('login', 'end').filter((x) => x.outcome === 'ok')) {
      // A session idle past its lifetime is dropped for a fresh login (whose token or login may then fail).
      const renewal = [...w.ts('login'), ...w.ts('token')]
      const later = renewal.find((x) => idx(x) > idx(e) && x.at - ts.sessions.get(e.value!)!.lastActivity >= 19 * MINUTE)
      if (!loggedOut.has(e.value) && !later) v.push(`${e.value} was never logged out`)
    }
  }
  return v
}

function describeCase(c: Case): string {
  const { settings: s } = c
  return JSON.stringify({
    seed: c.seed,
    targets: c.targets,
    livePasswordIsInput: c.live === PASSWORD,
    minAgeDays: s.minAgeDays,
    eventName: s.eventName,
    triggeringActor: s.triggeringActor,
    dryRun: s.dryRun,
    verify: s.verify,
    recoveryKey: s.recoveryPublicKey !== undefined,
    runId: s.runId,
    stored: c.stored,
    runStart: c.runStart,
    jobStart: c.jobStart,
    record: c.record,
    legacy: c.legacy,
    elsewhere: c.elsewhere,
    precision: c.precision,
    tsFaults: c.tsFaults,
    ghFaults: c.ghFaults,
    slowWrite: c.slowWrite,
    slowResetToken: c.slowResetToken,
    readOnly: c.readOnly,
    signal: c.signal
  })
}

/** Which paths of the rotation state a case took, to prove the generator still reaches each of them. */
function paths(c: Case, w: World, r: RunResult): string[] {
  const p: string[] = []
  const ev = w.events
  const home = labels(c.targets)[0]
  const history = loginHistory(c, w)
  const removes = ev.filter((e) => e.call === 'remove' && e.phase === 'end')
  const m = r.outcome.message
  if (history.seen.length > 0) p.push('record written ahead of the login')
  if (m.includes('not every target accepted a write of')) p.push('proof failed: no login')
  if (removes.some((e) => e.name === STATE && e.outcome === 'ok') && history.clean) p.push('record removed after a login that succeeded')
  if (removes.some((e) => e.name === STATE && e.outcome === 'ok') && !history.reached) p.push('record removed: no login reached the user service')
  if (removes.some((e) => e.name === LEGACY && e.outcome === 'ok')) p.push('legacy marker removed')
  if (removes.some((e) => e.outcome === 'error')) p.push('removal failed')
  if (history.spentAtEnd && r.outcome.result === 'failed-unchanged') p.push('record kept after a login that may have counted')
  if (m.includes('runs nobody started by hand stop here')) p.push(`unattended stop on ${m.includes(LEGACY) ? 'the legacy marker' : 'a record'}`)
  if (w.warnings.some((x) => x.includes('trying once, without retrying'))) p.push('try once')
  if (ev.filter((e) => e.call === 'write' && e.name === STATE && e.label === home && e.phase === 'start').length > 1)
    p.push('fresh record after the verify login')
  if (m.includes('but the verify login with it was then refused')) p.push('superseded')
  if (m.includes('ThingSpace refused its reset')) p.push('reset refused after the login')
  if (m.includes('replaced the password this job read')) p.push('stale input')
  if (m.includes('may be at work right now')) p.push('another run at work')
  if (w.infos.some((x) => x.includes('logging in again before the reset'))) p.push('fresh login before the reset')
  return p
}

interface CaseReport {
  seed: number
  result: string
  violations: string[]
  paths: string[]
  detail?: string
}

async function runCase(seed: number): Promise<CaseReport> {
  const c = makeCase(seed)
  const w = buildWorld(c)
  let r: RunResult
  try {
    r = await w.rotate(c.settings)
  } catch (error) {
    return { seed, result: 'threw', violations: [`rotate() threw: ${String(error)}`], paths: [], detail: `${describeCase(c)}\n${w.trace()}` }
  }
  const v = violations(c, w, r)
  return {
    seed,
    result: r.outcome.result,
    violations: v,
    paths: paths(c, w, r),
    ...(v.length > 0 ? { detail: `${describeCase(c)}\n${r.outcome.message}\n${w.trace()}` } : {})
  }
}

const only = process.env.CAMPAIGN_SEED ? [Number(process.env.CAMPAIGN_SEED)] : undefined
const CHUNK = 250
const chunks = only ? [only] : Array.from({ length: CASES / CHUNK }, (_, i) => Array.from({ length: CHUNK }, (_, j) => BASE_SEED + i * CHUNK + j))

describe('seeded fault campaign', () => {
  const seen = new Map<string, number>()
  const reached = new Set<string>()

  test.each(chunks.map((seeds) => ({ first: seeds[0], last: seeds[seeds.length - 1], seeds })))(
    'seeds $first to $last keep every invariant',
    async ({ seeds }) => {
      const failed: { seed: number; violations: string[]; detail?: string }[] = []
      for (const seed of seeds) {
        const report = await runCase(seed)
        seen.set(report.result, (seen.get(report.result) ?? 0) + 1)
        for (const p of report.paths) reached.add(p)
        if (report.violations.length > 0) failed.push({ seed, violations: report.violations, detail: report.detail })
      }
      expect(failed).toEqual([])
    }
  )

  test('the campaign reaches every result, and every path of the rotation state', () => {
    // Guards the campaign itself: a generator that stopped producing some outcome would test less.
    const results = ['rotated', 'not-due', 'dry-run', 'failed-unchanged', 'failed-changed', 'failed-unknown']
    expect(results.filter((x) => only === undefined && !seen.has(x))).toEqual([])
    const statePaths = [
      'record written ahead of the login',
      'proof failed: no login',
      'record removed after a login that succeeded',
      'record removed: no login reached the user service',
      'legacy marker removed',
      'removal failed',
      'record kept after a login that may have counted',
      'unattended stop on a record',
      'unattended stop on the legacy marker',
      'try once',
      'fresh record after the verify login',
      'superseded',
      'reset refused after the login',
      'stale input',
      'another run at work',
      'fresh login before the reset'
    ]
    expect(statePaths.filter((x) => only === undefined && !reached.has(x))).toEqual([])
  })
})

describe('the lockout budget across runs', () => {
  /** One run of a sequence: what started it, how ThingSpace answers its logins, and whether its token may write. */
  interface RunSpec {
    eventName: string
    triggeringActor: string
    /** Every login's answer, or 'cut': the runner cancels the step while the login is in flight (and the server counts it). */
    answer: TsFault | 'cut'
    readOnly: boolean
  }
  interface Budget {
    counted: number
    locked: boolean
    logins: number
    results: string[]
    messages: string[]
  }

  /** Consecutive runs an hour apart, all with a password ThingSpace no longer takes. */
  async function runs(specs: RunSpec[]): Promise<Budget> {
    const w = new World({ thingspace: { password: 'Changed-Elsewhere' } })
    w.secrets.put('repo:acme/fleet', PASSWORD, new Date(START - 100 * DAY))
    const results: string[] = []
    const messages: string[] = []
    for (const spec of specs) {
      w.secrets.readOnly = spec.readOnly
      w.thingspace.always.login = spec.answer === 'cut' ? { kind: 'lost', acted: true } : spec.answer
      const cut = spec.answer === 'cut'
      if (cut) w.on({ call: 'login', phase: 'start' }, () => void w.clock.schedule(10, () => w.signal('SIGINT')))
      w.secrets.runStart = new Date(w.clock.now())
      const { outcome } = await w.rotate(makeSettings({ eventName: spec.eventName, triggeringActor: spec.triggeringActor }))
      w.clearHooks()
      results.push(outcome.result)
      messages.push(outcome.message)
      await w.clock.advance(60 * MINUTE)
    }
    return { counted: w.thingspace.countedFailures, locked: w.thingspace.locked, logins: w.thingspace.logins, results, messages }
  }

  const UNATTENDED_RUNS = [
    { eventName: 'schedule', triggeringActor: 'octocat' },
    { eventName: 'repository_dispatch', triggeringActor: 'octocat' },
    { eventName: 'workflow_dispatch', triggeringActor: 'fleet-scheduler[bot]' },
    { eventName: 'push', triggeringActor: 'octocat' },
    { eventName: 'workflow_run', triggeringActor: 'github-actions[bot]' }
  ]
  const sequence = (name: string, events: typeof UNATTENDED_RUNS) => ({
    name,
    events: Array.from({ length: 50 }, (_, i) => events[i % events.length])
  })
  const SEQUENCES = [
    sequence('scheduled', [UNATTENDED_RUNS[0]]),
    sequence('repository_dispatch', [UNATTENDED_RUNS[1]]),
    sequence('bot-dispatched', [UNATTENDED_RUNS[2]]),
    sequence('mixed unattended', UNATTENDED_RUNS)
  ]
  const specs = (events: typeof UNATTENDED_RUNS, answer: RunSpec['answer'], readOnly = false): RunSpec[] =>
    events.map((e) => ({ ...e, answer, readOnly }))
  const LOST: { how: string; fault: TsFault }[] = [
    { how: 'lost', fault: { kind: 'lost', acted: true } },
    { how: 'timed out', fault: { kind: 'timeout', acted: true } },
    { how: 'answered 502', fault: { kind: 'server', status: 502, acted: true } }
  ]

  test.each(SEQUENCES.flatMap((s) => LOST.map((l) => ({ ...s, ...l }))))(
    '50 $name runs, every login answer $how: the first run spends 2 attempts, every later one stops on the record',
    async ({ events, fault }) => {
      const { counted, locked, logins, results, messages } = await runs(specs(events, fault))
      expect({ counted, locked, logins }).toEqual({ counted: 2, locked: false, logins: 2 })
      expect(new Set(results)).toEqual(new Set(['failed-unchanged']))
      expect(messages[0]).toContain('after 2 attempts')
      expect(messages.slice(1).filter((m) => !m.includes('runs nobody started by hand stop here'))).toEqual([])
    }
  )

  test.each(SEQUENCES)('50 $name runs with a token that cannot write: no login at all', async ({ events }) => {
    const { counted, locked, logins, messages } = await runs(specs(events, { kind: 'lost', acted: true }, true))
    expect({ counted, locked, logins }).toEqual({ counted: 0, locked: false, logins: 0 })
    expect(messages.filter((m) => !m.includes(`not every target accepted a write of ${STATE}`))).toEqual([])
  })

  test.each(SEQUENCES)('50 $name runs, each cut by a signal while its login is in flight: 1 attempt spent', async ({ events }) => {
    const { counted, locked, logins, messages } = await runs(specs(events, 'cut'))
    expect({ counted, locked, logins }).toEqual({ counted: 1, locked: false, logins: 1 })
    expect(messages[0]).toBe(
      'The password was not changed: the runner cancelled the step (SIGINT) before the reset was sent, and a login was attempted.'
    )
    expect(messages.slice(1).filter((m) => !m.includes('runs nobody started by hand stop here'))).toEqual([])
  })

  test.each([
    { how: 'refused', fault: { kind: 'refused' } },
    { how: 'answered in an unknown shape', fault: { kind: 'unrecognised' } }
  ] as { how: string; fault: TsFault }[])(
    '50 mixed unattended runs, every login $how: one attempt in the first run, none after',
    async ({ fault }) => {
      const { counted, locked, logins } = await runs(specs(SEQUENCES[3].events, fault))
      expect({ counted, locked, logins }).toEqual({ counted: 1, locked: false, logins: 1 })
    }
  )

  test.each([
    { name: '', readOnly: false, expected: { counted: 3, locked: false, logins: 3 } },
    // The proof comes before every login, a person's run too: with a token that cannot write, nobody logs in.
    { name: ' and a token that cannot write', readOnly: true, expected: { counted: 0, locked: false, logins: 0 } }
  ])('50 unattended runs with one started by a person in between$name: at most 3', async ({ readOnly, expected }) => {
    const list = specs(SEQUENCES[3].events, { kind: 'lost', acted: true }, readOnly)
    list[25] = { eventName: 'workflow_dispatch', triggeringActor: 'octocat', answer: { kind: 'lost', acted: true }, readOnly }
    const { counted, locked, logins } = await runs(list)
    expect({ counted, locked, logins }).toEqual(expected)
  })

  // Any sequence at all: fast-check draws 50 unattended runs (event, the answer every login gets, a token
  // that may or may not write) and shrinks a failing one to the shortest that still fails.
  const ANSWERS: RunSpec['answer'][] = [
    'cut',
    ...(['refused', 'unrecognised', 'redirect', 'bad-response', 'gateway', 'throttled', 'oauth', 'not-sent'] as const).map((kind) => ({ kind })),
    ...(['lost', 'timeout'] as const).flatMap((kind) => [{ kind, acted: true }, { kind }]),
    ...[429, 500, 502, 503].map((status) => ({ kind: 'server' as const, status, acted: true }))
  ]
  const runArb = fc.record({
    run: fc.constantFrom(...UNATTENDED_RUNS),
    answer: fc.constantFrom(...ANSWERS),
    // A token that cannot write in about one run of ten.
    readOnly: fc.integer({ min: 0, max: 9 }).map((n) => n === 0)
  })

  test('no sequence of 50 unattended runs spends more than 3 of the 5 attempts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(runArb, { minLength: 50, maxLength: 50 }), async (drawn) => {
        const { counted, locked } = await runs(drawn.map(({ run, answer, readOnly }) => ({ ...run, answer, readOnly })))
        expect({ atMost3: counted <= 3, locked }).toEqual({ atMost3: true, locked: false })
      }),
      { numRuns: 200 }
    )
  })
})

describe('overlapping runs of one username', () => {
  const TARGETS = ['repo', 'env:prod', 'org:acme']
  /** GitHub slower than ThingSpace, as it often is (issue 16): 300 ms against 100 ms per request. */
  const LATENCY = { github: 300, thingspace: 100 }
  interface RunKind {
    eventName: string
    triggeringActor: string
    dryRun?: boolean
    targets?: string[]
  }
  const DISPATCH: RunKind = { eventName: 'workflow_dispatch', triggeringActor: 'octocat' }
  const SCHEDULE: RunKind = { eventName: 'schedule', triggeringActor: 'octocat' }
  const DRY: RunKind = { ...SCHEDULE, dryRun: true }
  const PAIRS = [
    { name: 'a dispatch and the schedule', runs: [DISPATCH, SCHEDULE] },
    { name: 'the schedule and a dispatch', runs: [SCHEDULE, DISPATCH] },
    { name: 'a dry run and a real run', runs: [DRY, DISPATCH] },
    { name: 'a real run and a dry run', runs: [SCHEDULE, DRY] },
    { name: 'two scheduled runs', runs: [SCHEDULE, SCHEDULE] }
  ]
  const OFFSETS = Array.from({ length: 61 }, (_, i) => i * 50)

  async function overlap(
    kinds: RunKind[],
    offset: number,
    checksOldPassword: boolean,
    precision: number
  ): Promise<{ w: World; results: OverlapResult[] }> {
    const w = new World({
      thingspace: { checksOldPassword, latency: () => LATENCY.thingspace },
      secrets: { latency: () => LATENCY.github, timePrecisionMs: precision }
    })
    const all = new Set(kinds.flatMap((k) => labels(k.targets ?? TARGETS)))
    for (const label of all) w.secrets.put(label, PASSWORD, new Date(START - 100 * DAY))
    const results = await w.overlap(
      kinds.map((k, i) => ({
        at: i === 0 ? 0 : offset,
        settings: (read) => {
          const targets = k.targets ?? TARGETS
          // The job reads the secrets when it starts: the password input is what the home target held then.
          return makeSettings({ ...k, targets, runId: 100 + i, password: read(labels(targets)[0]) ?? PASSWORD })
        }
      }))
    )
    return { w, results }
  }

  /**
   * Excluded, the known bug of rotation.test.ts "a job that started in the same second as another
   * rotation's store": a run whose job started in the instant (to GitHub's precision) another run's store
   * landed may have read the old password; it logs in with it, is refused and leaves a record.
   */
  function jobStartedWithAStore(w: World, r: OverlapResult): boolean {
    const readAt = w.secrets.readTimes.get(100 + r.run)?.at.getTime()
    const stores = w.events.filter((e) => e.run !== r.run && e.call === 'write' && e.name === SECRET && e.phase === 'end' && e.acted)
    return r.outcome.message.includes('ThingSpace refused the login') && stores.some((e) => w.secrets.stamp(e.at).getTime() === readAt)
  }

  /** Whether what a run said was true when it ended, and that it wrote the password secret only with what ThingSpace issued to it. */
  function untrue(w: World, r: OverlapResult): string[] {
    const v: string[] = []
    const mine = w.events.filter((e) => e.run === r.run)
    const reset = mine.find((e) => e.call === 'reset' && e.phase === 'end')
    const issued = reset?.outcome === 'ok' ? reset.value : undefined
    const changed = reset?.acted === true
    for (const e of mine.filter((x) => x.call === 'write' && x.phase === 'start' && x.name === SECRET))
      if (e.value !== issued) v.push(`run ${r.run} wrote the password secret of ${e.label} with a password ThingSpace did not issue to it`)
    const held = Object.entries(r.end.values)
    switch (r.outcome.result) {
      case 'rotated':
        if (issued !== r.end.live) v.push(`run ${r.run} said rotated, but its password was not the live one when it ended`)
        for (const [label, value] of held)
          if (value !== r.end.live) v.push(`run ${r.run} said rotated, but ${label} did not hold the live password when it ended`)
        break
      case 'failed-unchanged':
        if (changed) v.push(`run ${r.run} said failed-unchanged, but its reset changed the password`)
        if (
          r.outcome.message.includes('the new one never reached the secret') &&
          held.every(([, value]) => value === r.end.live) &&
          !jobStartedWithAStore(w, r)
        )
          v.push(`run ${r.run} said the new password never reached the secret, but every target held it when the run ended`)
        break
      case 'dry-run':
        if (mine.some((e) => e.call === 'reset') || issued !== undefined) v.push(`run ${r.run} said dry-run, but sent a reset`)
        break
    }
    return v
  }

  const SWEEPS = PAIRS.flatMap((p) =>
    [true, false].flatMap((checksOldPassword) => [1, 1000].map((precision) => ({ ...p, checksOldPassword, precision })))
  )
  test.each(SWEEPS)(
    '$name, ThingSpace checking oldPassword $checksOldPassword, GitHub times to $precision ms, at every start offset up to 3 s: every target holds the live password or a result admits doubt, and every result was true',
    async ({ runs, checksOldPassword, precision }) => {
      const failures: { offset: number; problems: string[]; results: string[]; trace?: string }[] = []
      for (const offset of OFFSETS) {
        const { w, results } = await overlap(runs, offset, checksOldPassword, precision)
        const problems = results.flatMap((r) => untrue(w, r))
        const doubt = results.some((r) => r.outcome.result === 'failed-changed' || r.outcome.result === 'failed-unknown')
        for (const label of labels(TARGETS))
          if (w.secrets.value(label) !== w.thingspace.password && !doubt)
            problems.push(`${label} does not hold the live password, and no result admits doubt`)
        if (w.thingspace.locked || w.thingspace.countedFailures > 3) problems.push(`${w.thingspace.countedFailures} failed logins counted`)
        // The next unattended run is not stopped for nothing: a record in force while every target holds the
        // live password stops it. Only a run that admits doubt and says it recorded a login may leave one (a
        // superseded run cannot tell a store of the same instant as its own from its own).
        const stored = Math.max(...labels(TARGETS).map((l) => w.secrets.get(l)!.updatedAt.getTime()))
        const recordAt = w.secrets.get(labels(TARGETS)[0], STATE)?.updatedAt.getTime() ?? -1
        const said = results.some(
          (r) =>
            (r.outcome.result === 'failed-unknown' || r.outcome.result === 'failed-changed') && r.outcome.message.includes(`recorded in ${STATE}`)
        )
        if (
          labels(TARGETS).every((l) => w.secrets.value(l) === w.thingspace.password) &&
          recordAt >= stored &&
          !said &&
          !results.some((r) => jobStartedWithAStore(w, r))
        )
          problems.push('a record in force stops the next unattended run although every target holds the live password')
        if (problems.length > 0)
          failures.push({ offset, problems, results: results.map((r) => `${r.outcome.result}: ${r.outcome.message}`), trace: w.trace() })
      }
      expect(failures).toEqual([])
    }
  )

  // No concurrency group spans two repositories: their runs can only be kept honest, not coordinated.
  // Each run's targets are its own, so one run's rotation leaves the other's targets behind; what each
  // run says must still be true when it ends, and neither may spend the budget.
  test.each([true, false].flatMap((checksOldPassword) => [1, 1000].map((precision) => ({ checksOldPassword, precision }))))(
    'two repositories rotating one username, ThingSpace checking oldPassword $checksOldPassword, GitHub times to $precision ms: every result was true when its run ended',
    async ({ checksOldPassword, precision }) => {
      const runs = [SCHEDULE, { ...DISPATCH, targets: ['repo:acme/depot', 'env:acme/depot/prod'] }]
      const failures: { offset: number; problems: string[]; results: string[] }[] = []
      for (const offset of OFFSETS) {
        const { w, results } = await overlap(runs, offset, checksOldPassword, precision)
        const problems = results.flatMap((r) => untrue(w, r))
        if (w.thingspace.locked || w.thingspace.countedFailures > 3) problems.push(`${w.thingspace.countedFailures} failed logins counted`)
        if (problems.length > 0) failures.push({ offset, problems, results: results.map((r) => `${r.outcome.result}: ${r.outcome.message}`) })
      }
      expect(failures).toEqual([])
    }
  )
})
