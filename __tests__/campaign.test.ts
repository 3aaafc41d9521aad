/**
 * The seeded fault campaign, in process: hundreds of rotations against the fakes, each with 1-3
 * faults drawn from every kind on every call (reads, token, login, proof writes, the reset, store
 * writes, verify, logout, marker writes), random latencies, random signals at random moments, and
 * random min-age, marker and stale states. After each case every invariant is checked at once
 * (`violations`). A failure prints the seed and the case; replay one with CAMPAIGN_SEED=<seed>.
 *
 * Then the lockout budget across runs: with a wrong password and every login answer lost, any
 * number of consecutive scheduled runs spends at most 3 of the 5 attempts.
 */
import { describe, expect, test } from '@jest/globals'
import type { Settings } from '../src/inputs.ts'
import type { FailureKind } from '../src/thingspace.ts'
import {
  DAY,
  labels,
  makeSettings,
  MARKER,
  MINUTE,
  openSealed,
  PASSWORD,
  RECOVERY_KEY,
  SECRET,
  START,
  World,
  type CallEvent,
  type GhFault,
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
const TS_KINDS: FailureKind[] = ['refused', 'gateway', 'oauth', 'server', 'redirect', 'not-sent', 'lost', 'timeout', 'bad-response']
const SIGNALS = [['SIGINT'], ['SIGTERM'], ['SIGINT', 'SIGTERM']]
const CASES = 400
const BASE_SEED = 20_250_601

interface Case {
  seed: number
  targets: string[]
  live: string
  settings: Settings
  stored: Record<string, number | null>
  runStart: number
  marker: number | null
  tsFaults: { call: 'token' | 'login' | 'reset' | 'logout'; n: number; fault: TsFault }[]
  ghFaults: { call: 'inspect' | 'write' | 'runStart'; label: string; n: number; fault: GhFault }[]
  slowWrite: string | null
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
  const runStart = START - MINUTE
  const stored: Record<string, number | null> = {}
  for (const l of ls) stored[l] = chance(0.9) ? START - int(60) * DAY - int(DAY) : null
  if (chance(0.08)) stored[pick(ls)] = START - 10_000 // updated after the run started: stale input
  const updates = Object.values(stored).filter((x): x is number => x !== null)
  const latest = updates.length > 0 ? Math.max(...updates) : 0
  const marker = chance(0.25) ? (chance(0.5) ? latest + DAY / 24 : Math.max(0, latest - DAY)) : null

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
      if (kind === 'redirect') fault.status = pick([301, 302, 307])
      if ((call === 'login' || call === 'reset') && chance(0.1)) fault.inToken = true
      tsFaults.push({ call, n: call === 'reset' ? 0 : int(3), fault })
    } else {
      const call = pick(['inspect', 'write', 'write', 'write', 'runStart'] as const)
      ghFaults.push({
        call,
        label: pick(ls),
        n: call === 'write' ? int(3) : 0,
        fault: { status: pick([403, 404, 500, undefined]), acted: chance(0.2) }
      })
    }
  }
  const signal = chance(0.35) ? { kinds: pick(SIGNALS), ...(chance(0.5) ? { at: int(15_000) } : { onEvent: int(24) }) } : null

  const settings = makeSettings({
    targets,
    minAgeDays: pick([0, 0, 0, 30]),
    eventName: chance(0.7) ? 'schedule' : 'workflow_dispatch',
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
    marker,
    tsFaults,
    ghFaults,
    slowWrite: chance(0.04) ? pick(ls) : null,
    signal
  }
}

function buildWorld(c: Case): World {
  const rnd = mulberry32(c.seed ^ 0x5eed)
  const ls = labels(c.targets)
  const w = new World({
    thingspace: { password: c.live, latency: () => Math.floor(rnd() * 3000) },
    secrets: {
      runStart: new Date(c.runStart),
      selected: { 'org:acme2:selected': [101, 102] },
      latency: (call, label, n) => (call === 'write' && label === c.slowWrite && n === 0 ? 21 * MINUTE : Math.floor(rnd() * 1000))
    }
  })
  for (const l of ls) {
    const at = c.stored[l]
    if (at !== null) w.secrets.put(l, PASSWORD, new Date(at), SECRET, l.endsWith(':selected') ? 'selected' : undefined)
  }
  if (c.marker !== null) w.secrets.put(ls[0], 'a login may have counted', new Date(c.marker), MARKER)
  for (const f of c.tsFaults) {
    const script = (w.thingspace.faults[f.call] ??= [])
    script[f.n] = f.fault
  }
  for (const f of c.ghFaults) {
    if (f.call === 'runStart') w.secrets.runStartFault = f.fault
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
      w.on((e) => e.phase === 'start' && seen++ === k, deliver)
    }
  }
  return w
}

const MAY_HAVE_COUNTED = new Set(['refused', 'server', 'lost', 'timeout'])

/** Every invariant of a run, as a list of what was violated (empty when the run kept every promise). */
function violations(c: Case, w: World, r: RunResult): string[] {
  const v: string[] = []
  const { outcome } = r
  const s = c.settings
  const ls = labels(c.targets)
  const ev = w.events
  const idx = (e: CallEvent): number => ev.indexOf(e)
  const ts = w.thingspace
  const changed = ts.password !== c.live
  const resetCalls = w.ts('reset')
  const loginStarts = w.ts('login')
  const loginEnds = w.ts('login', 'end')

  // The reset: at most once, and only after a login answered and every target took the proof write.
  if (resetCalls.length > 1) v.push(`the reset was sent ${resetCalls.length} times`)
  if (resetCalls.length === 1) {
    const r0 = idx(resetCalls[0])
    const login = ev.findIndex((e) => e.call === 'login' && e.phase === 'end' && e.outcome === 'ok')
    if (login < 0 || login > r0) v.push('the reset was sent before any login answered')
    for (const l of ls) {
      const proven = ev.some(
        (e, i) =>
          i > login &&
          i < r0 &&
          e.call === 'write' &&
          e.phase === 'end' &&
          e.label === l &&
          e.name === SECRET &&
          e.value === s.password &&
          e.outcome === 'ok'
      )
      if (!proven) v.push(`the reset was sent before ${l} took the proof write`)
    }
  }
  if (ts.resetsProcessed > 1) v.push('the password was reset twice')

  // The lockout: no login after a refusal; a possibly counted login recorded before any retry; small budget.
  const refused = loginEnds.find((e) => e.outcome === 'refused')
  if (refused && loginStarts.some((e) => idx(e) > idx(refused))) v.push('a login was sent after a refused login')
  let streak = 0
  for (const e of loginEnds) {
    streak = MAY_HAVE_COUNTED.has(e.outcome!) ? streak + 1 : e.outcome === 'ok' ? 0 : streak
    if (streak > 2) v.push('more than 2 logins that may have counted in a row')
    const next = loginStarts.find((x) => idx(x) > idx(e))
    if (next && MAY_HAVE_COUNTED.has(e.outcome!)) {
      const recorded = ev.some(
        (x, i) => i > idx(e) && i < idx(next) && x.call === 'write' && x.name === MARKER && x.phase === 'end' && x.outcome === 'ok'
      )
      if (!recorded) v.push(`login #${next.n} was sent after login #${e.n} (${e.outcome}) without the marker written in between`)
    }
  }
  if (ts.countedFailures > 2) v.push(`${ts.countedFailures} failed logins counted in one run`)
  if (ts.locked) v.push('the username was locked')
  const lastUpdate = Math.max(0, ...ls.map((l) => c.stored[l] ?? 0))
  const markerActive = c.marker !== null && c.marker >= lastUpdate
  const firstOk = loginEnds.find((e) => e.outcome === 'ok')
  const loginsBeforeSuccess = loginStarts.filter((e) => !firstOk || idx(e) < idx(firstOk)).length
  if (markerActive && s.eventName === 'schedule' && loginStarts.length > 0) v.push('a scheduled run logged in while the marker was active')
  if (markerActive && s.eventName !== 'schedule' && loginsBeforeSuccess > 1)
    v.push('a run started by hand retried a login while the marker was active')

  // The result tells the truth.
  const expectOk = outcome.result === 'not-due' || outcome.result === 'dry-run' || outcome.result === 'rotated'
  if (outcome.ok && !expectOk) v.push(`ok with ${outcome.result}`)
  if (outcome.targets.length !== ls.length) v.push('not every target is reported')
  const holds = (l: string): boolean => w.secrets.value(l) === ts.password
  switch (outcome.result) {
    case 'failed-unchanged':
      if (changed) v.push('failed-unchanged, but the password changed')
      break
    case 'not-due':
      if (Object.values(ts.calls).some((n) => n > 0)) v.push('not-due, but ThingSpace was called')
      if (changed || resetCalls.length > 0) v.push('not-due, but a reset was sent')
      break
    case 'dry-run':
      if (changed || resetCalls.length > 0) v.push('dry-run, but a reset was sent')
      break
    case 'rotated':
      if (!changed) v.push('rotated, but the password did not change')
      for (const l of ls) if (!holds(l)) v.push(`rotated, but ${l} does not hold the live password`)
      break
    case 'failed-changed': {
      if (!changed) v.push('failed-changed, but the password did not change')
      for (const t of outcome.targets) {
        if (t.holdsNewPassword && !holds(t.label)) v.push(`failed-changed names ${t.label} a holder, but it does not hold the live password`)
        if (!t.holdsNewPassword && !outcome.message.includes(t.label))
          v.push(`failed-changed does not name ${t.label}, which may not hold the new password`)
      }
      if (s.recoveryPublicKey && openSealed(outcome.recoveryCiphertext ?? 'bnVsbA==', RECOVERY_KEY) !== ts.password)
        v.push('the recovery ciphertext does not open to the live password')
      if (!s.recoveryPublicKey && outcome.recoveryCiphertext !== undefined) v.push('a recovery ciphertext without a recovery key')
      break
    }
    case 'failed-unknown': {
      const answer = w.ts('reset', 'end')[0]
      const cut = r.deadline !== undefined && (!answer || answer.at >= r.deadline)
      const unclear = answer && ['server', 'redirect', 'lost', 'timeout', 'bad-response'].includes(answer.outcome!)
      if (resetCalls.length !== 1) v.push('failed-unknown, but no reset was sent')
      else if (!cut && !unclear) v.push(`failed-unknown, but the reset answered ${answer?.outcome ?? 'nothing'} before any deadline`)
      break
    }
  }
  if (outcome.result !== 'failed-changed' && outcome.result !== 'failed-unknown' && outcome.result !== 'rotated' && changed)
    v.push(`${outcome.result}, but the password changed`)
  // ...and it matches what the reset's answer said, whatever the server really did.
  if (resetCalls.length === 1) {
    const answer = w.ts('reset', 'end')[0]
    const cut = r.deadline !== undefined && (!answer || answer.at >= r.deadline)
    const said = !answer ? 'no answer' : answer.outcome!
    const expected = cut
      ? ['failed-unknown', ...(said === 'ok' ? ['rotated', 'failed-changed'] : [])]
      : said === 'ok'
        ? ['rotated', 'failed-changed']
        : ['server', 'redirect', 'lost', 'timeout', 'bad-response'].includes(said)
          ? ['failed-unknown']
          : ['failed-unchanged']
    if (!expected.includes(outcome.result))
      v.push(`the reset answered ${said}${cut ? ' (cut by the deadline)' : ''}, but the result is ${outcome.result}`)
  }

  // Cancellation always ends in a report before the kill; without one every session is logged out.
  if (r.deadline !== undefined && r.at > r.deadline) v.push(`returned ${r.at - r.deadline} ms after the deadline`)
  if (w.signals.length === 0) {
    const loggedOut = new Set(w.ts('logout').map((e) => e.value))
    for (const e of loginEnds.filter((x) => x.outcome === 'ok')) {
      const later = loginStarts.find((x) => idx(x) > idx(e) && x.at - ts.sessions.get(e.value!)!.lastActivity >= 19 * MINUTE)
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
    dryRun: s.dryRun,
    verify: s.verify,
    recoveryKey: s.recoveryPublicKey !== undefined,
    runId: s.runId,
    stored: c.stored,
    runStart: c.runStart,
    marker: c.marker,
    tsFaults: c.tsFaults,
    ghFaults: c.ghFaults,
    slowWrite: c.slowWrite,
    signal: c.signal
  })
}

async function runCase(seed: number): Promise<{ seed: number; result: string; violations: string[]; detail?: string }> {
  const c = makeCase(seed)
  const w = buildWorld(c)
  let r: RunResult
  try {
    r = await w.rotate(c.settings)
  } catch (error) {
    return { seed, result: 'threw', violations: [`rotate() threw: ${String(error)}`], detail: `${describeCase(c)}\n${w.trace()}` }
  }
  const v = violations(c, w, r)
  return {
    seed,
    result: r.outcome.result,
    violations: v,
    ...(v.length > 0 ? { detail: `${describeCase(c)}\n${r.outcome.message}\n${w.trace()}` } : {})
  }
}

const only = process.env.CAMPAIGN_SEED ? [Number(process.env.CAMPAIGN_SEED)] : undefined
const CHUNK = 50
const chunks = only ? [only] : Array.from({ length: CASES / CHUNK }, (_, i) => Array.from({ length: CHUNK }, (_, j) => BASE_SEED + i * CHUNK + j))

describe('seeded fault campaign', () => {
  const seen = new Map<string, number>()

  test.each(chunks.map((seeds) => [seeds[0], seeds[seeds.length - 1], seeds] as const))(
    'seeds %i to %i keep every invariant',
    async (_first, _last, seeds) => {
      const failed: { seed: number; violations: string[]; detail?: string }[] = []
      for (const seed of seeds) {
        const { result, violations: v, detail } = await runCase(seed)
        seen.set(result, (seen.get(result) ?? 0) + 1)
        if (v.length > 0) failed.push({ seed, violations: v, detail })
      }
      expect(failed).toEqual([])
    }
  )

  test('the campaign reaches every result', () => {
    // Guards the campaign itself: a generator that stopped producing some outcome would test less.
    const results = ['rotated', 'not-due', 'dry-run', 'failed-unchanged', 'failed-changed', 'failed-unknown']
    expect(results.filter((x) => only === undefined && !seen.has(x))).toEqual([])
  })
})

describe('the lockout budget across runs', () => {
  async function runs(events: string[], fault: TsFault): Promise<{ counted: number; locked: boolean; logins: number; results: string[] }> {
    const w = new World({ thingspace: { password: 'Changed-Elsewhere' } })
    w.secrets.put('repo:acme/fleet', PASSWORD, new Date(START - 100 * DAY))
    w.thingspace.always.login = fault
    const results: string[] = []
    for (const eventName of events) {
      w.secrets.runStart = new Date(w.clock.now())
      const { outcome } = await w.rotate(makeSettings({ eventName }))
      results.push(outcome.result)
      await w.clock.advance(60 * MINUTE)
    }
    return { counted: w.thingspace.countedFailures, locked: w.thingspace.locked, logins: w.thingspace.logins, results }
  }
  const schedule = Array<string>(50).fill('schedule')

  test.each<[string, TsFault]>([
    ['lost', { kind: 'lost', acted: true }],
    ['timed out', { kind: 'timeout', acted: true }],
    ['answered 502', { kind: 'server', status: 502, acted: true }]
  ])('50 scheduled runs, every login answer %s: at most 3 of 5 attempts spent, never locked', async (_name, fault) => {
    const { counted, locked, logins, results } = await runs(schedule, fault)
    expect({ counted, locked, logins }).toEqual({ counted: 2, locked: false, logins: 2 })
    expect(new Set(results)).toEqual(new Set(['failed-unchanged']))
  })

  test('50 scheduled runs with one run started by hand in between: still at most 3', async () => {
    const events = [...schedule]
    events[25] = 'workflow_dispatch'
    const { counted, locked } = await runs(events, { kind: 'lost', acted: true })
    expect({ counted, locked }).toEqual({ counted: 3, locked: false })
  })

  test('every login refused: one attempt in the first run, none after', async () => {
    const { counted, locked } = await runs(schedule, { kind: 'refused' })
    expect({ counted, locked }).toEqual({ counted: 1, locked: false })
  })
})
