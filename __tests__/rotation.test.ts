/**
 * The rotation flow in process: `rotate()` against the in-memory ThingSpace and GitHub of
 * support/fakes.ts, on a fake clock. Every branch of the sequence (read, decide, prove, log in, reset,
 * store or escrow, verify, re-read, log out), each with exact counts of what was sent: logins, resets,
 * logouts, writes of the password secret and of the rotation-state secret (`_ROTATION`), removals and
 * re-reads; the result, the message's key facts, and what every target holds afterwards.
 *
 * The design under test (issue 16): the password secret is written only with a password ThingSpace
 * issued to this run after its reset; every target is proven writable by a write of `_ROTATION`, which
 * in the home target is also the record of the login ahead of it (for every run); the record comes off
 * once a login succeeded, and stays after one that may have counted. Runs are started by hand
 * (workflow_dispatch by a person) unless a test says otherwise.
 */
import { describe, expect, test } from '@jest/globals'
import { Cancellation, KILL_AFTER_MS, REPORT_MARGIN_MS } from '../src/cancellation.ts'
import { WRITE_CONCURRENCY } from '../src/github-secrets.ts'
import { RUN_IN_PROGRESS_MS } from '../src/rotation-state.ts'
import { rotate } from '../src/rotation.ts'
import {
  DAY,
  labels,
  LEGACY,
  RESET_UNKNOWN,
  makeSettings,
  MINUTE,
  openSealed,
  PASSWORD,
  RECOVERY_KEY,
  SECRET,
  START,
  STATE,
  USERNAME,
  World,
  type CallEvent,
  type GhFault,
  type RunResult,
  type SettingsOptions,
  type TsFault,
  type WorldOptions
} from './support/fakes.ts'

const THREE = ['repo', 'env:prod', 'org:acme']
const [REPO, ENV, ORG] = labels(THREE)
const OLD = new Date(START - 100 * DAY)
const RUN_LABEL = 'thingspace-password-rotation acme/fleet run 4242'
/** What another rotation, overlapping this one, got from ThingSpace and stored. */
const OTHER = 'Other-Run-Pa55!'

/** Every kind of run the lockout rules tell apart: started by a person, or by nobody watching. */
const ATTENDED = [
  { name: 'workflow_dispatch by a person', eventName: 'workflow_dispatch', triggeringActor: 'octocat' },
  { name: 'a local run', eventName: undefined, triggeringActor: undefined }
]
const UNATTENDED = [
  { name: 'schedule', eventName: 'schedule', triggeringActor: 'octocat' },
  { name: 'repository_dispatch', eventName: 'repository_dispatch', triggeringActor: 'octocat' },
  { name: 'workflow_dispatch by a bot', eventName: 'workflow_dispatch', triggeringActor: 'fleet-scheduler[bot]' }
]
const EVERY_RUN = [...ATTENDED, ...UNATTENDED]

/** A world whose targets all hold the current password, last updated `updatedAt`. */
function world(targets: string[] = THREE, options: WorldOptions = {}, updatedAt = OLD): World {
  const w = new World(options)
  for (const label of labels(targets)) w.secrets.put(label, PASSWORD, updatedAt)
  return w
}

async function run(w: World, options: SettingsOptions = {}): Promise<RunResult> {
  return w.rotate(makeSettings({ targets: THREE, ...options }))
}

/** What was sent: ThingSpace calls by kind, GitHub writes by secret (answered or not), removals and re-reads. */
function counts(w: World) {
  const writes = w.events.filter((e) => e.call === 'write' && e.phase === 'start')
  return {
    logins: w.thingspace.logins,
    resets: w.thingspace.resets,
    logouts: w.thingspace.logouts,
    stores: writes.filter((x) => x.name === SECRET).length,
    stateWrites: writes.filter((x) => x.name === STATE).length,
    removes: w.secrets.calls.remove,
    rereads: w.secrets.calls.reread
  }
}

/** What each target's password secret holds: the old password, the live one (if it changed), or something else. */
function holds(w: World, targets: string[] = THREE): Record<string, string> {
  const live = w.thingspace.password
  return Object.fromEntries(
    labels(targets).map((label) => {
      const value = w.secrets.value(label)
      return [label, value === live && live !== PASSWORD ? 'new' : value === PASSWORD ? 'old' : String(value)]
    })
  )
}

/** The password secret of every target, value and date: what a consumer reads, and what min-age-days counts from. */
function passwordSecrets(w: World, targets: string[] = THREE): Record<string, { value?: string; updatedAt?: number }> {
  return Object.fromEntries(labels(targets).map((l) => [l, { value: w.secrets.value(l), updatedAt: w.secrets.get(l)?.updatedAt.getTime() }]))
}

/** Whether the home target's records would stop the next unattended run: one not older than every store of the password secret. */
function recordInForce(w: World, targets: string[] = THREE): boolean {
  const ls = labels(targets)
  const stored = Math.max(0, ...ls.map((label) => w.secrets.get(label)?.updatedAt.getTime() ?? 0))
  return [STATE, LEGACY].some((name) => (w.secrets.get(ls[0], name)?.updatedAt.getTime() ?? -1) >= stored)
}

/** Secrets removed, as [label, name]. */
const removed = (w: World): [string | undefined, string | undefined][] =>
  w.events.filter((e) => e.call === 'remove' && e.phase === 'start').map((e) => [e.label, e.name])

/** Index in the event record of the first event matching, or -1. */
const pos = (w: World, match: Partial<CallEvent>, from = 0): number => w.indexOf(match, from)
/** Index of the last event matching, or -1. */
const lastPos = (w: World, match: Partial<CallEvent>): number =>
  w.events.findLastIndex((e) => Object.entries(match).every(([k, v]) => e[k as keyof CallEvent] === v))
const HOME_RECORD_WRITTEN: Partial<CallEvent> = { call: 'write', name: STATE, label: REPO, phase: 'end', outcome: 'ok' }

const ALL_OLD = { [REPO]: 'old', [ENV]: 'old', [ORG]: 'old' }
const ALL_NEW = { [REPO]: 'new', [ENV]: 'new', [ORG]: 'new' }
const NOTHING = { logins: 0, resets: 0, logouts: 0, stores: 0, stateWrites: 0, removes: 0, rereads: 0 }
/** The proof (one `_ROTATION` write per target), a login, its logout, and every copy removed since the login succeeded. */
const PROVED_AND_LOGGED_IN = { ...NOTHING, stateWrites: 3, logins: 1, logouts: 1, removes: 3 }
/** ...then the reset, the stores each read back, the verify login and its logout, and every target read again. */
const ROTATED = { logins: 2, resets: 1, logouts: 2, stores: 3, stateWrites: 3, removes: 3, rereads: 6 }
/** Every copy of the proof removed, the home record too: the next run finds no rotation state. */
const ALL_REMOVED = [
  [REPO, STATE],
  [ENV, STATE],
  [ORG, STATE]
]
/** The proof's copies removed, the home record kept (a login may have counted). */
const RECORD_KEPT = [
  [ENV, STATE],
  [ORG, STATE]
]
const UNTOUCHED = {
  [REPO]: { value: PASSWORD, updatedAt: OLD.getTime() },
  [ENV]: { value: PASSWORD, updatedAt: OLD.getTime() },
  [ORG]: { value: PASSWORD, updatedAt: OLD.getTime() }
}

/**
 * Another rotation that changes the live password at the start of a call of this one and, with
 * `store`, writes it to some targets `storeAfterMs` later (a write in the same instant as this run's
 * store cannot be told apart from it: GitHub's times are all there is).
 */
function otherRotationAt(w: World, match: Partial<CallEvent>, store: string[] = [], storeAfterMs = 0): World {
  return w.on({ ...match, phase: 'start' }, () => {
    w.thingspace.password = OTHER
    w.thingspace.history.push(OTHER)
    w.clock.schedule(storeAfterMs, () => {
      for (const label of store) w.secrets.put(label, OTHER, new Date(w.clock.now()))
    })
  })
}

describe('a rotation with nothing in the way', () => {
  test.each(EVERY_RUN)(
    '$name: proves every target, logs in, resets once, stores everywhere, verifies, removes the record',
    async ({ eventName, triggeringActor }) => {
      const w = world()
      const { outcome } = await run(w, { eventName, triggeringActor })
      expect(outcome).toMatchObject({
        result: 'rotated',
        ok: true,
        message: 'The password was changed and the new one is stored in every target, and it logs in.'
      })
      // One username: it stays the active one, and there is no pair of usernames to report.
      expect(outcome.activeUsername).toBe(USERNAME)
      expect(outcome).not.toHaveProperty('usernames')
      expect(w.ts('login').map((e) => e.username)).toEqual([USERNAME, USERNAME])
      expect(counts(w)).toEqual(ROTATED)
      expect(holds(w)).toEqual(ALL_NEW)
      expect(w.thingspace.history).toHaveLength(2)
      expect(w.thingspace.openSessions()).toEqual([])
      expect(outcome.targets.map((t) => [t.label, t.holdsNewPassword, t.outcome])).toEqual([
        [REPO, true, 'new password stored'],
        [ENV, true, 'new password stored'],
        [ORG, true, 'new password stored']
      ])
      // The record ahead came off the home target, and the proof off every other: the next run finds no rotation state.
      expect(removed(w)).toEqual(ALL_REMOVED)
      expect([REPO, ENV, ORG].map((l) => w.secrets.get(l, STATE))).toEqual([undefined, undefined, undefined])
      expect(w.warnings).toEqual([])
      expect(w.prepareSealCalls).toBe(1)
    }
  )

  test('the sequence: every proof write ends before the login, the reset only after the login, the stores only after the reset', async () => {
    const w = world()
    await run(w)
    const loginSent = pos(w, { call: 'login', phase: 'start' })
    const resetAnswered = pos(w, { call: 'reset', phase: 'end' })
    const proofs = w.events.filter((e) => e.call === 'write' && e.name === STATE && e.phase === 'end').map((e) => w.events.indexOf(e))
    const stores = w.events.filter((e) => e.call === 'write' && e.name === SECRET && e.phase === 'start').map((e) => w.events.indexOf(e))
    expect(proofs).toHaveLength(3)
    expect(Math.max(...proofs)).toBeLessThan(loginSent)
    expect(pos(w, { call: 'login', phase: 'end', outcome: 'ok' })).toBeLessThan(pos(w, { call: 'reset', phase: 'start' }))
    expect(Math.min(...stores)).toBeGreaterThan(resetAnswered)
  })

  test('the password secret is written with nothing but the password the reset issued; the proof carries a note, never a password', async () => {
    const w = world()
    await run(w)
    const issued = w.ts('reset', 'end')[0].value
    expect(issued).toBe(w.thingspace.password)
    expect(w.secrets.writes.filter((x) => x.name === SECRET).map((x) => [x.label, x.value])).toEqual(labels(THREE).map((l) => [l, issued]))
    const notes = w.secrets.writes.filter((x) => x.name === STATE).map((x) => x.value)
    expect(new Set(notes)).toEqual(
      new Set([`${RUN_LABEL}: write proof; a login may count toward the lockout from ${new Date(START + 50).toISOString()}`])
    )
  })

  // Timeline at 100 ms per ThingSpace call and 50 ms per GitHub call, with min-age-days 0 (the token comes alongside the reads).
  test('the record ahead is written before the first login and removed after the stores, while the verify login runs', async () => {
    const w = world()
    await run(w, { eventName: 'schedule' })
    const at = (match: Partial<CallEvent>): number => w.events[pos(w, match)].at - START
    expect({
      proofStart: at({ call: 'write', name: STATE, label: REPO, phase: 'start' }),
      recordWritten: at(HOME_RECORD_WRITTEN),
      loginStart: at({ call: 'login', n: 0, phase: 'start' }),
      resetEnd: at({ call: 'reset', phase: 'end' }),
      lastStoreEnd: w.events[lastPos(w, { call: 'write', name: SECRET, phase: 'end' })].at - START,
      removeStart: at({ call: 'remove', phase: 'start' }),
      verifyStart: at({ call: 'login', n: 1, phase: 'start' })
    }).toEqual({ proofStart: 50, recordWritten: 100, loginStart: 100, resetEnd: 500, lastStoreEnd: 550, removeStart: 550, verifyStart: 550 })
    expect(pos(w, HOME_RECORD_WRITTEN)).toBeLessThan(pos(w, { call: 'login', n: 0, phase: 'start' }))
    expect(pos(w, { call: 'remove', phase: 'start' })).toBeGreaterThan(lastPos(w, { call: 'write', name: SECRET, phase: 'end' }))
  })

  test.each([
    { name: 'min-age-days 0: alongside the reads', minAgeDays: 0, beforeReads: true },
    { name: 'min-age-days 30: after the due check', minAgeDays: 30, beforeReads: false }
  ])('the OAuth token for the login ($name) has come before the login is sent', async ({ minAgeDays, beforeReads }) => {
    const w = world()
    await run(w, { minAgeDays })
    expect(w.ts('token').map((e) => e.value)).toEqual(['login', 'reset', 'reset'])
    expect(pos(w, { call: 'token', n: 0, phase: 'end', outcome: 'ok' })).toBeLessThan(pos(w, { call: 'login', phase: 'start' }))
    expect(pos(w, { call: 'token', phase: 'start' }) < pos(w, { call: 'inspect', phase: 'end' })).toBe(beforeReads)
  })

  test('without verify, the new password is stored and no second login is sent', async () => {
    const w = world()
    const { outcome } = await run(w, { verify: false })
    expect(outcome).toMatchObject({ result: 'rotated', ok: true, message: 'The password was changed and the new one is stored in every target.' })
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1 })
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('an org secret visible to selected repositories is reported with them, for the recovery commands', async () => {
    const targets = ['repo', 'org:acme:selected']
    const w = world(targets, { secrets: { selected: { 'org:acme:selected': [101, 102] } } })
    const { outcome } = await w.rotate(makeSettings({ targets }))
    expect(outcome.result).toBe('rotated')
    expect(outcome.targets[1]).toMatchObject({ visibility: 'selected', selectedRepositories: ['repo-101', 'repo-102'] })
    expect(w.warnings).toEqual([])
  })

  test('an org secret visible to selected repositories, with none selected, is written with a warning', async () => {
    const w = world(['repo', 'org:acme:selected'])
    const { outcome } = await run(w, { targets: ['repo', 'org:acme:selected'] })
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([`org:acme:selected: ${SECRET} will be visible to no repository until you select some in the organization's settings`])
  })
})

describe('warnings said before they bite', () => {
  test.each([
    {
      name: 'a fine-grained token for targets of two owners',
      token: 'github_pat_11ABC',
      said: 'A fine-grained token covers the repositories of one owner, and the targets span acme, other: use one job per owner (a matrix), each with its own token'
    },
    {
      name: 'an App installation token for targets of two owners',
      token: 'ghs_xyz',
      said: 'A GitHub App installation token covers the repositories of one owner, and the targets span acme, other: use one job per owner (a matrix), each with its own token'
    },
    { name: 'a classic token for targets of two owners', token: 'ghp_abc', said: undefined }
  ])('$name: warned before the first GitHub call, and the run goes on', async ({ token, said }) => {
    const targets = ['repo', 'repo:other/depot']
    const w = world(targets)
    let warnedBeforeReads: string[] | undefined
    w.on({ call: 'inspect', phase: 'start' }, () => void (warnedBeforeReads = [...w.warnings]))
    const { outcome } = await w.rotate(makeSettings({ targets, githubToken: token }))
    expect(outcome.result).toBe('rotated')
    expect(warnedBeforeReads).toEqual(said ? [said] : [])
    expect(w.warnings).toEqual(said ? [said] : [])
  })

  const SHADOW = (at: Date) =>
    `${REPO} has a ${SECRET} secret of its own (updated ${at.toISOString()}), which takes precedence over ${ORG} in its workflows: ` +
    'this workflow reads that one, which this run does not write. Delete it, or add "repo" to the targets.'
  test('this repository\u2019s own secret shadows an organization target\u2019s: read in the first wave, and warned', async () => {
    const w = world(['org:acme'])
    const own = new Date(START - 3 * DAY)
    w.secrets.put(REPO, 'a copy of its own', own)
    const { outcome } = await w.rotate(makeSettings({ targets: ['org:acme'] }))
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([SHADOW(own)])
    // Read alongside the targets, before the first of them answered; never written.
    const look = w.events.find((e) => e.call === 'reread' && e.label === REPO && e.phase === 'start')!
    expect(w.events.indexOf(look)).toBeLessThan(pos(w, { call: 'inspect', phase: 'end' }))
    expect(w.secrets.value(REPO)).toBe('a copy of its own')
    expect(w.secrets.writesTo(REPO)).toBe(0)
  })

  test('organization targets of this owner and another: the warning names only this owner’s, whose secret is shadowed', async () => {
    const targets = ['org:other', 'org:acme']
    const w = world(targets)
    const own = new Date(START - 3 * DAY)
    w.secrets.put(REPO, 'a copy of its own', own)
    // A classic token covers both owners: the only warning is the shadowing one.
    const { outcome } = await w.rotate(makeSettings({ targets, githubToken: 'ghp_abc' }))
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([SHADOW(own)])
  })

  test.each([
    { name: 'this repository has no secret of that name', targets: ['org:acme'], arrange: () => {}, looked: true },
    { name: 'reading it fails', targets: ['org:acme'], arrange: (w: World) => void (w.secrets.rereadFaults[0] = { status: 403 }), looked: true },
    { name: 'this repository is a target', targets: ['org:acme', 'repo'], arrange: () => {}, looked: false },
    { name: 'no organization target', targets: ['repo:acme/depot'], arrange: () => {}, looked: false },
    // Only this repository's own organization's secrets reach its workflows. Was a BUG at fb638df; fixed on core (997e1bd).
    { name: 'the only organization target is another owner’s', targets: ['org:other'], arrange: () => {}, looked: false }
  ])('no warning when $name', async ({ targets, arrange, looked }) => {
    const w = world(targets)
    arrange(w)
    const { outcome } = await w.rotate(makeSettings({ targets }))
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([])
    expect(w.events.some((e) => e.call === 'reread' && e.label === REPO && e.n === 0)).toBe(looked)
  })
})

describe('the window after the reset: writes go out 10 at a time', () => {
  const WRITE_MS = 300
  test.each([
    { name: '1 target', n: 1, waves: 1 },
    { name: '5 targets', n: 5, waves: 1 },
    { name: '20 targets', n: 20, waves: 2 }
  ])('$name: from the reset to the last store takes $waves write latencies, never more than 10 in flight', async ({ n, waves }) => {
    const targets = Array.from({ length: n }, (_, i) => `repo:acme/r${i + 1}`)
    const w = world(targets, { secrets: { latency: { write: WRITE_MS, inspect: 50 } } })
    const { outcome } = await w.rotate(makeSettings({ targets }))
    expect(outcome.result).toBe('rotated')
    const resetEnd = w.ts('reset', 'end')[0].at
    const lastStore = w.events[lastPos(w, { call: 'write', name: SECRET, phase: 'end' })].at
    expect(lastStore - resetEnd).toBe(waves * WRITE_MS)
    expect(lastStore - resetEnd).toBeLessThanOrEqual(3 * WRITE_MS)
    expect(w.secrets.maxInFlight).toBe(Math.min(n, WRITE_CONCURRENCY))
    expect(counts(w)).toEqual({ ...ROTATED, stores: n, stateWrites: n, rereads: 2 * n, removes: n })
  })
})

describe('not due, and dry runs: nothing a consumer reads is written', () => {
  test('not due: every target was updated within min-age-days, and nothing is sent or written', async () => {
    const w = world(THREE, {}, new Date(START - 10 * DAY))
    const { outcome } = await run(w, { minAgeDays: 30, eventName: 'schedule' })
    expect(outcome).toMatchObject({ result: 'not-due', ok: true })
    expect(outcome.message).toContain('ThingSpace was not contacted')
    expect(w.thingspace.calls).toEqual({ token: 0, login: 0, reset: 0, logout: 0 })
    expect(counts(w)).toEqual(NOTHING)
    expect(w.secrets.writes).toEqual([])
    expect(outcome.targets.map((t) => t.outcome)).toEqual(['unchanged (not due)', 'unchanged (not due)', 'unchanged (not due)'])
  })

  test('due: one target older than min-age-days rotates every target', async () => {
    const w = world(THREE, {}, new Date(START - 10 * DAY))
    w.secrets.put(ENV, PASSWORD, new Date(START - 40 * DAY))
    const { outcome } = await run(w, { minAgeDays: 30 })
    expect(outcome.result).toBe('rotated')
    expect(w.infos).toContain(`Due: ${ENV} (older than 30 days)`)
    expect(counts(w)).toEqual(ROTATED)
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('due: a target without the secret yet', async () => {
    const w = world(['repo'], {}, new Date(START - DAY))
    const { outcome } = await run(w, { targets: ['repo', 'org:acme'], minAgeDays: 30 })
    expect(outcome.result).toBe('rotated')
    expect(w.infos).toContain(`Due: ${ORG} (no secret)`)
    expect(outcome.targets[1].before).toBe('no secret yet')
    expect(counts(w)).toEqual({ ...ROTATED, stores: 2, stateWrites: 2, rereads: 4, removes: 2 })
    expect(holds(w, ['repo', 'org:acme'])).toEqual({ [REPO]: 'new', [ORG]: 'new' })
  })

  test.each(EVERY_RUN)(
    'a dry run ($name) proves every target and logs in once; the password secret keeps its value and date',
    async ({ eventName, triggeringActor }) => {
      const w = world()
      const { outcome } = await run(w, { dryRun: true, eventName, triggeringActor })
      expect(outcome).toMatchObject({
        result: 'dry-run',
        ok: true,
        message: `Dry run: the login with the password this job read succeeded, and every target accepted a write of ${STATE}. The password was not changed, and nothing a consumer reads was written.`
      })
      expect(counts(w)).toEqual(PROVED_AND_LOGGED_IN)
      expect(passwordSecrets(w)).toEqual(UNTOUCHED)
      expect(w.secrets.writes.filter((x) => x.name === SECRET)).toEqual([])
      // The login succeeded: the record ahead comes off again, and every other copy of the proof.
      expect(removed(w)).toEqual(ALL_REMOVED)
      expect(recordInForce(w)).toBe(false)
      expect(w.thingspace.openSessions()).toEqual([])
    }
  )

  // A weekly dry run used to rewrite the password secret and so restart the min-age-days clock forever.
  test('a dry run does not restart the min-age-days clock: the next scheduled run is exactly as due and rotates', async () => {
    const w = world(THREE, {}, new Date(START - 40 * DAY))
    const dry = await run(w, { dryRun: true, minAgeDays: 30, eventName: 'schedule' })
    expect(dry.outcome.result).toBe('dry-run')
    await w.clock.advance(7 * DAY)
    w.secrets.runStart = new Date(w.clock.now())
    const next = await run(w, { minAgeDays: 30, eventName: 'schedule' })
    expect(next.outcome.result).toBe('rotated')
    expect(holds(w)).toEqual(ALL_NEW)
  })
})

describe('the stale-password guard: when this job read its secrets', () => {
  const RUN_START = new Date(START - 10 * MINUTE)
  test.each([
    // The README's matrix pattern: a job that waited behind another in a concurrency group read the fresh secret when it started.
    {
      name: 'a queued job started after the store: it read the fresh secret',
      jobStart: new Date(START - MINUTE),
      storedAt: START - 5 * MINUTE,
      stale: undefined
    },
    { name: 'the job started before the store', jobStart: new Date(START - 6 * MINUTE), storedAt: START - 5 * MINUTE, stale: 'job' },
    { name: 'the job is not listed: the run started before the store', jobStart: undefined, storedAt: START - 5 * MINUTE, stale: 'workflow run' },
    { name: 'the job is not listed: the store came before the run', jobStart: undefined, storedAt: START - 11 * MINUTE, stale: undefined },
    {
      name: 'a store 1 s before the job started',
      jobStart: new Date(START - 5 * MINUTE),
      storedAt: START - 5 * MINUTE - 1000,
      stale: undefined
    },
    // GitHub's times are to the second: a store in the second the job started may have come after it.
    { name: 'a store in the very second the job started', jobStart: new Date(START - 5 * MINUTE), storedAt: START - 5 * MINUTE, stale: 'job' },
    { name: 'a store late in the second the job started', jobStart: new Date(START - 5 * MINUTE), storedAt: START - 5 * MINUTE + 999, stale: 'job' },
    {
      name: 'a store in the last instant of the second before',
      jobStart: new Date(START - 5 * MINUTE),
      storedAt: START - 5 * MINUTE - 1,
      stale: undefined
    },
    {
      name: 'the job is not listed: a store in the second the run started',
      jobStart: undefined,
      storedAt: START - 10 * MINUTE,
      stale: 'workflow run'
    }
  ])('$name', async ({ jobStart, storedAt, stale }) => {
    const w = world(THREE, { secrets: { runStart: RUN_START, jobStart } })
    w.secrets.put(ENV, PASSWORD, new Date(storedAt))
    const { outcome } = await run(w, { eventName: 'schedule' })
    const readAt = (jobStart ?? RUN_START).toISOString()
    // Another rotation (or a person) stored a password this job cannot vouch for: a result that admits doubt.
    expect(outcome.result).toBe(stale ? 'failed-unknown' : 'rotated')
    expect(outcome.message).toBe(
      stale
        ? `This run did not change the password, and no login was attempted (only the OAuth token was requested): ${ENV} had ${SECRET} updated after this ${stale} started (${readAt}), ` +
            'so another rotation (or a person) replaced the password this job read. Logging in with the old one could count toward the 5-failure lockout. ' +
            "That rotation's result says whether the new password is stored in every target; a new workflow run reads the current secret."
        : 'The password was changed and the new one is stored in every target, and it logs in.'
    )
    expect(counts(w)).toEqual(stale ? NOTHING : ROTATED)
  })

  test.each([
    {
      name: 'min-age-days 0 (the token was requested alongside the reads)',
      minAgeDays: 0,
      said: 'no login was attempted (only the OAuth token was requested)',
      tokens: 1
    },
    { name: 'min-age-days 30', minAgeDays: 30, said: 'ThingSpace was not contacted', tokens: 0 }
  ])('a stale input stops before anything is written, $name', async ({ minAgeDays, said, tokens }) => {
    const w = world()
    w.secrets.put(ENV, 'Newer-Password', new Date(START - 1000))
    const { outcome } = await run(w, { minAgeDays, eventName: 'schedule' })
    expect(outcome.message).toContain(
      `This run did not change the password, and ${said}: ${ENV} had ${SECRET} updated after this workflow run started`
    )
    expect(w.thingspace.calls).toEqual({ token: tokens, login: 0, reset: 0, logout: 0 })
    expect(w.secrets.writes).toEqual([])
    expect(holds(w)).toEqual({ ...ALL_OLD, [ENV]: 'Newer-Password' })
  })

  // GitHub gives a job's start and a secret's update to the second: a job that started in the same second as
  // another rotation's store may have read either value, so the store counts as after it (the strict side: a
  // new run costs nothing, a login with a replaced password costs an attempt). Was a BUG at 36c89c3 (found by
  // campaign.test.ts "overlapping runs", offsets 1050-1300 ms at 1 s precision); fixed on core (b7c0145).
  test('a job that started in the same second as another rotation\u2019s store may have read the old password: it stops before any login', async () => {
    const second = START - 5 * MINUTE
    const w = world(THREE, { thingspace: { password: OTHER }, secrets: { timePrecisionMs: 1000, jobStart: new Date(second) } })
    // This job started at .200 and read the old password; the other rotation stored its password at .700 of the same second.
    for (const label of labels(THREE)) w.secrets.put(label, OTHER, new Date(second))
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome).toMatchObject({ result: 'failed-unknown', ok: false })
    expect(outcome.message).toContain(`: ${REPO}, ${ENV}, ${ORG} had ${SECRET} updated after this job started (${new Date(second).toISOString()}), `)
    expect(outcome.message).toContain('replaced the password this job read')
    expect(w.thingspace.calls).toEqual({ token: 1, login: 0, reset: 0, logout: 0 })
    expect(w.secrets.writes).toEqual([])
  })

  test('when the job read its secrets cannot be found out: a warning, and the rotation goes on', async () => {
    const w = world()
    w.secrets.runStart = undefined
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual(['Skipping the stale-password check: Could not read workflow run 4242: 403 Resource not accessible by integration'])
    expect(counts(w)).toEqual(ROTATED)
  })

  test.each([
    { name: 'no run id', options: { runId: undefined }, label: 'thingspace-password-rotation acme/fleet' },
    { name: 'no repository either', options: { runId: undefined, repository: undefined }, label: 'thingspace-password-rotation' }
  ])('a local run ($name): the stale check is skipped without asking GitHub, and the proof says what wrote it', async ({ options, label }) => {
    const w = world()
    const { outcome } = await run(w, { ...options, eventName: undefined })
    expect(outcome.result).toBe('rotated')
    expect(w.secrets.calls.runStart).toBe(0)
    expect(counts(w)).toEqual(ROTATED)
    expect(w.secrets.writes.find((x) => x.label === ENV && x.name === STATE)?.value).toBe(
      `${label}: write proof; a login may count toward the lockout from ${new Date(START + 50).toISOString()}`
    )
  })
})

describe('the lockout record in the home target', () => {
  const recorded = (w: World, time: number, name = STATE) => w.secrets.put(REPO, 'an earlier run: a login may count', new Date(time), name)
  const STOP = (recordedAt: Date, name: string) =>
    `The password was not changed, and no login was attempted (only the OAuth token was requested): a login with this password was refused, or may have been counted without an answer, at ${recordedAt.toISOString()} ` +
    `(recorded in the ${name} secret of ${REPO}), and ${SECRET} has not been updated in any target since. ` +
    `Another failed login would count toward the 5-failure lockout, so runs nobody started by hand stop here. Store the current password in ${SECRET} (or start the workflow by hand to try once).`

  test.each([
    ...UNATTENDED.map((r) => ({ ...r, record: STATE })),
    { name: 'push', eventName: 'push', triggeringActor: 'octocat', record: STATE },
    { name: 'workflow_run', eventName: 'workflow_run', triggeringActor: 'octocat', record: STATE },
    // The marker an earlier version of the action left is honoured the same way.
    ...UNATTENDED.map((r) => ({ ...r, name: `${r.name}, legacy marker`, record: LEGACY }))
  ])('$name: a record in force stops the run before any login or write', async ({ eventName, triggeringActor, record }) => {
    const w = world()
    recorded(w, START - DAY, record)
    const { outcome } = await run(w, { eventName, triggeringActor })
    expect(outcome).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message: STOP(new Date(START - DAY), record),
      targets: expect.any(Array),
      activeUsername: USERNAME
    })
    expect(counts(w)).toEqual(NOTHING)
    expect(w.secrets.writes).toEqual([])
    expect(w.secrets.get(REPO, record)?.updatedAt).toEqual(new Date(START - DAY))
  })

  test.each(ATTENDED)(
    'started by hand ($name): tries once with a warning, never again after a lost answer; the record stays',
    async ({ eventName, triggeringActor }) => {
      const w = world()
      recorded(w, START - DAY)
      w.thingspace.script('login', { kind: 'lost', acted: true }, undefined)
      const { outcome } = await run(w, { eventName, triggeringActor })
      expect(w.warnings).toEqual([
        `A login with this password was refused, or may have been counted, at ${new Date(START - DAY).toISOString()} (recorded in ${STATE}), and ${SECRET} has not been updated since; ` +
          `trying once, without retrying, because a person started this run (${eventName ?? 'a local run'}).`
      ])
      expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
      expect(outcome.message).toContain(
        'got no usable answer (ThingSpace login: the connection failed before an answer came (ECONNRESET)) after 1 attempt,'
      )
      expect(outcome.message).toContain(
        `Runs nobody started by hand will not log in again until ${SECRET} is updated (recorded in ${STATE} of ${REPO}).`
      )
      // The proof refreshed the record; an earlier run's record is never removed without a login that succeeded (the other copies go).
      expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 1, removes: 2 })
      expect(removed(w)).toEqual(RECORD_KEPT)
      expect(recordInForce(w)).toBe(true)
      expect(passwordSecrets(w)).toEqual(UNTOUCHED)
    }
  )

  test.each([
    { name: 'a record', records: [STATE], removes: ALL_REMOVED },
    { name: 'a legacy marker', records: [LEGACY], removes: [...ALL_REMOVED, [REPO, LEGACY]] },
    { name: 'both', records: [STATE, LEGACY], removes: [...ALL_REMOVED, [REPO, LEGACY]] }
  ])(
    'started by hand with $name in force and a working password: rotates, and every record comes off after the login succeeded',
    async ({ records, removes }) => {
      const w = world()
      for (const name of records) recorded(w, START - DAY, name)
      const { outcome } = await run(w)
      expect(outcome.result).toBe('rotated')
      expect(removed(w)).toEqual(removes)
      expect([STATE, LEGACY].map((name) => w.secrets.get(REPO, name))).toEqual([undefined, undefined])
      expect(counts(w)).toEqual({ ...ROTATED, removes: removes.length })
      expect(holds(w)).toEqual(ALL_NEW)
    }
  )

  test.each([
    { name: 'a record older than the home target\u2019s store', record: STATE, newer: REPO },
    { name: 'a record older than another target\u2019s store', record: STATE, newer: ORG },
    { name: 'a legacy marker older than a store', record: LEGACY, newer: ENV }
  ])(
    '$name is out of force: an unattended run rotates (and a stale legacy marker is removed once the login succeeded)',
    async ({ record, newer }) => {
      const w = world()
      recorded(w, START - 10 * DAY, record)
      w.secrets.put(newer, PASSWORD, new Date(START - 9 * DAY))
      const { outcome } = await run(w, { eventName: 'schedule' })
      expect(outcome.result).toBe('rotated')
      expect(w.warnings).toEqual([])
      expect(removed(w)).toEqual(record === LEGACY ? [...ALL_REMOVED, [REPO, LEGACY]] : ALL_REMOVED)
      expect(recordInForce(w)).toBe(false)
    }
  )

  // A record younger than a run can last may be another run rotating this username right now.
  const BUSY = (at: Date, where = REPO) =>
    `This run did not change the password and sent no login: another run wrote ${STATE} to ${where} at ${at.toISOString()} (a run records its login there before sending it), and no new password has been stored since, ` +
    'so another rotation of this username may be at work right now (or one failed moments ago). ' +
    'Its result says what happened. If no other run is under way, wait 10 minutes and start the workflow again: a run started by hand then logs in once.'
  test.each(EVERY_RUN)(
    '$name: a record younger than a run can last stops the run before any write or login',
    async ({ eventName, triggeringActor }) => {
      const w = world()
      const at = new Date(START - RUN_IN_PROGRESS_MS + MINUTE)
      recorded(w, at.getTime())
      const { outcome } = await run(w, { eventName, triggeringActor })
      expect(outcome).toEqual({ result: 'failed-unknown', ok: false, message: BUSY(at), targets: expect.any(Array), activeUsername: USERNAME })
      expect(counts(w)).toEqual(NOTHING)
      expect(w.secrets.writes).toEqual([])
    }
  )

  // Was a BUG at 36c89c3 (the message named the home target wherever the other run's copy was); fixed on core (25a644d).
  test.each(EVERY_RUN)(
    '$name: a young copy of the rotation state in another target (another run\u2019s proof) stops the run too, and the message names that target',
    async ({ eventName, triggeringActor }) => {
      const w = world()
      const at = new Date(START - MINUTE)
      w.secrets.put(ORG, 'another run: write proof', at, STATE)
      const { outcome } = await run(w, { eventName, triggeringActor })
      expect(outcome).toEqual({ result: 'failed-unknown', ok: false, message: BUSY(at, ORG), targets: expect.any(Array), activeUsername: USERNAME })
      expect(counts(w)).toEqual(NOTHING)
      expect(w.secrets.writes).toEqual([])
    }
  )

  // Another run at work comes before the lockout rule: a person's try-once would log in alongside it.
  // Was a BUG at 36c89c3 (rotation-state.test.ts; campaign seed 20251554); fixed on core (b7c0145).
  test.each([
    ...EVERY_RUN.map((r) => ({ ...r, record: STATE })),
    { ...ATTENDED[0], name: `${ATTENDED[0].name}, legacy marker`, record: LEGACY },
    { ...UNATTENDED[0], name: `${UNATTENDED[0].name}, legacy marker`, record: LEGACY }
  ])(
    '$name: a young copy in another target wins over an older record in force at home: no try-once, no login, no write',
    async ({ eventName, triggeringActor, record }) => {
      const w = world()
      recorded(w, START - DAY, record)
      const at = new Date(START - MINUTE)
      w.secrets.put(ENV, 'another run: write proof', at, STATE)
      const { outcome } = await run(w, { eventName, triggeringActor })
      expect(outcome).toEqual({ result: 'failed-unknown', ok: false, message: BUSY(at, ENV), targets: expect.any(Array), activeUsername: USERNAME })
      expect(w.warnings).toEqual([])
      expect(counts(w)).toEqual(NOTHING)
      expect(w.secrets.get(REPO, record)?.updatedAt).toEqual(new Date(START - DAY))
    }
  )

  test('an old copy of the rotation state in another target (an earlier run\u2019s removal failed) says nothing: the run rotates', async () => {
    const w = world()
    w.secrets.put(ORG, 'an earlier run: write proof', new Date(START - RUN_IN_PROGRESS_MS), STATE)
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('rotated')
    expect(counts(w)).toEqual(ROTATED)
    expect(w.secrets.get(ORG, STATE)).toBeUndefined()
  })

  // GitHub answered "updated" where this run read no rotation state: another run wrote it in between.
  test('another run writes the rotation state between this run\u2019s read and its proof: no login, and only this run\u2019s copies removed', async () => {
    const w = world()
    w.on(
      { call: 'write', name: STATE, label: ENV, phase: 'start' },
      () => void w.secrets.put(ENV, 'another run: write proof', new Date(w.clock.now()), STATE)
    )
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unknown')
    expect(outcome.message).toContain(
      `This run did not change the password and sent no login: another run wrote ${STATE} to ${ENV} after this run read it, `
    )
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, removes: 2 })
    expect(removed(w)).toEqual([
      [REPO, STATE],
      [ORG, STATE]
    ])
    expect(w.secrets.get(ENV, STATE)).toBeDefined()
    expect(passwordSecrets(w)).toEqual(UNTOUCHED)
  })

  test('the run right after one cut during its login finds a young record: another run may be at work, and it stops', async () => {
    const w = world().signalOn({ call: 'login', phase: 'start' }, 'SIGINT', 10)
    await run(w, { eventName: 'schedule' })
    w.secrets.runStart = new Date(w.clock.now())
    const next = await run(w, { eventName: 'workflow_dispatch' })
    expect(next.outcome.result).toBe('failed-unknown')
    expect(next.outcome.message).toContain('another rotation of this username may be at work right now')
    expect(w.thingspace.logins).toBe(1)
  })

  // GitHub gives times to the second: a record of the same second as the last store may be the later one.
  test('a record in the same second as the last store is in force (times to the second)', async () => {
    const w = world(THREE, { secrets: { timePrecisionMs: 1000 } }, new Date(START - DAY))
    recorded(w, START - DAY)
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.message).toBe(STOP(new Date(START - DAY), STATE))
    expect(counts(w).logins).toBe(0)
  })

  test('a record the removal could not take off is a warning only, and out of force once the new password is stored', async () => {
    const w = world()
    w.secrets.removeFails = true
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(w.warnings).toEqual(
      labels(THREE).map(
        (l) =>
          `Could not remove ${STATE} from ${l} (runs nobody started by hand may stop until the password secret is updated): Failed to delete ${STATE} from ${l}: 403 Forbidden`
      )
    )
    expect(w.secrets.get(REPO, STATE)).toBeDefined()
    expect(recordInForce(w)).toBe(false)
  })
})

describe('the write proof', () => {
  // What this run's proof may have left is removed: a write refused with a 4xx stored nothing, so only the others.
  test.each([
    { name: 'the home target refuses it', position: 0, fault: { status: 403 }, why: '403 Forbidden', removes: RECORD_KEPT },
    {
      name: 'a second target refuses it',
      position: 1,
      fault: { status: 403 },
      why: '403 Forbidden',
      removes: [
        [REPO, STATE],
        [ORG, STATE]
      ]
    },
    {
      name: 'the last target refuses it',
      position: 2,
      fault: { status: 404 },
      why: '404 Forbidden',
      removes: [
        [REPO, STATE],
        [ENV, STATE]
      ]
    },
    {
      name: 'the home write lands but its answer is lost',
      position: 0,
      fault: { acted: true },
      why: 'network error (ECONNRESET)',
      removes: ALL_REMOVED
    },
    { name: 'a second target answers 500', position: 1, fault: { status: 500 }, why: '500 Forbidden', removes: ALL_REMOVED }
  ] as { name: string; position: number; fault: GhFault; why: string; removes: string[][] }[])(
    '$name: no login, no reset, the password secret untouched, and no record of this run left',
    async ({ position, fault, why, removes }) => {
      const w = world()
      const label = labels(THREE)[position]
      w.secrets.failWrites(label, fault)
      const { outcome } = await run(w, { eventName: 'schedule' })
      expect(outcome).toEqual({
        result: 'failed-unchanged',
        ok: false,
        message:
          `The password was not changed, and no login was attempted (only the OAuth token was requested): not every target accepted a write of ${STATE} (the proof that its secrets can be written), so nothing irreversible was tried.\n` +
          `Failed to write ${STATE} to ${label}: ${why}`,
        targets: expect.any(Array),
        activeUsername: USERNAME
      })
      expect(outcome.targets.map((t) => t.outcome)).toEqual(labels(THREE).map((l) => (l === label ? 'not writable' : `write proven (${STATE})`)))
      expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, removes: removes.length })
      expect(removed(w)).toEqual(removes)
      expect(labels(THREE).map((l) => w.secrets.get(l, STATE))).toEqual([undefined, undefined, undefined])
      expect(w.thingspace.calls.login).toBe(0)
      expect(passwordSecrets(w)).toEqual(UNTOUCHED)
      expect(w.secrets.get(REPO, STATE)).toBeUndefined()
      expect(w.warnings).toEqual([])
    }
  )

  test('a record in force of an earlier run is not removed when the proof fails (no login followed, and it still stands)', async () => {
    const w = world()
    w.secrets.put(REPO, 'an earlier run', new Date(START - DAY), STATE)
    w.secrets.failWrites(ENV, { status: 403 })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('failed-unchanged')
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, removes: 1 })
    expect(removed(w)).toEqual([[ORG, STATE]])
    expect(recordInForce(w)).toBe(true)
  })

  // Was a BUG at da335cc (a removal, and a warning, for a record that never landed); fixed on core.
  test('a token that cannot write: nothing was written, so nothing is removed and nothing is warned', async () => {
    const w = world()
    w.secrets.readOnly = true
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3 })
    expect(w.warnings).toEqual([])
  })
})

describe('login', () => {
  test.each(EVERY_RUN)(
    '$name: a refused login is never retried, the secret is read again, and the record stays',
    async ({ eventName, triggeringActor }) => {
      const w = world(THREE, { thingspace: { password: 'Changed-Elsewhere' } })
      const { outcome } = await run(w, { eventName, triggeringActor })
      expect(outcome).toEqual({
        result: 'failed-unchanged',
        ok: false,
        message:
          'The password was not changed by this run: ThingSpace refused the login for fleet-api (ThingSpace login: answered 400, REQUEST_FAILED.InvalidCredentials: refused); it was not retried. ' +
          '5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ' +
          `Runs nobody started by hand will not log in again until ${SECRET} is updated (recorded in ${STATE} of ${REPO}). ` +
          `${SECRET} was last stored at ${OLD.toISOString()}: most likely the password changed after that and the new one never reached the secret (a run that ended failed-unknown, a reset in the ThingSpace portal), or the secret holds a wrong password. ` +
          `Store the current password in ${SECRET} (a failed login in the ThingSpace portal also counts toward the lockout) before running again.`,
        targets: expect.any(Array),
        activeUsername: USERNAME
      })
      // Every target read again twice (a second look 2 s later for another rotation's store); the proof's copies go, the record stays.
      expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 1, rereads: 6, removes: 2 })
      expect(removed(w)).toEqual(RECORD_KEPT)
      expect(recordInForce(w)).toBe(true)
      expect(w.thingspace.failedLogins).toBe(1)
      expect(passwordSecrets(w)).toEqual(UNTOUCHED)
    }
  )

  test('an answer in a shape ThingSpace does not document is taken as a refusal: not retried, recorded', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'unrecognised' })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(outcome.message).toContain(
      "ThingSpace refused the login for fleet-api (ThingSpace login: answered 401 in a shape ThingSpace's documents do not give); it was not retried."
    )
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 1, rereads: 6, removes: 2 })
    expect(recordInForce(w)).toBe(true)
  })

  // Another rotation replaced the password after this job read it: the refusal concerns a value the secret no longer holds.
  test.each([
    { name: 'one target', moved: [ENV] },
    { name: 'every target', moved: [REPO, ENV, ORG] }
  ])(
    'a login refused while another rotation stored a new password ($name): failed-unknown, own record removed, nothing written',
    async ({ moved }) => {
      const w = otherRotationAt(world(), { call: 'login', n: 0 }, moved)
      const { outcome } = await run(w, { eventName: 'schedule' })
      expect(outcome).toEqual({
        result: 'failed-unknown',
        ok: false,
        message:
          'This run did not change the password, but another rotation did while it ran: ThingSpace refused the login for fleet-api with the password this job read (ThingSpace login: answered 400, REQUEST_FAILED.InvalidCredentials: refused), ' +
          `and meanwhile ${SECRET} was updated in ${moved.join(', ')}. This run wrote nothing to ${SECRET} and recorded no failed login for the password it holds now. ` +
          "The other run's result says whether the new password is stored in every target.",
        targets: expect.any(Array),
        activeUsername: USERNAME
      })
      expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 1, rereads: 3, removes: 3 })
      expect(removed(w)).toEqual(ALL_REMOVED)
      expect(w.secrets.writes.filter((x) => x.name === SECRET)).toEqual([])
      expect(moved.map((l) => w.secrets.value(l))).toEqual(moved.map(() => OTHER))
    }
  )

  test('a moved secret that cannot be read again (either look) is not counted as moved: the refusal is recorded', async () => {
    const w = otherRotationAt(world(), { call: 'login', n: 0 }, [ENV])
    w.secrets.rereadFaults[1] = { status: 500 } // ENV's first look
    w.secrets.rereadFaults[4] = { status: 500 } // ...and its second
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(removed(w)).toEqual(RECORD_KEPT)
    expect(recordInForce(w)).toBe(true)
  })

  // That rotation's reset came before this run's login, and its stores follow within about a GitHub round trip.
  test('a refused login looks a second time, 2 s later, and finds the store that landed after the first look', async () => {
    const w = otherRotationAt(world(), { call: 'login', n: 0 }, [REPO, ENV, ORG], 500)
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unknown')
    expect(outcome.message).toContain(`and meanwhile ${SECRET} was updated in ${REPO}, ${ENV}, ${ORG}.`)
    const looks = w.events.filter((e) => e.call === 'reread' && e.phase === 'start').map((e) => e.at - START)
    expect(looks).toEqual([200, 200, 200, 2250, 2250, 2250])
    expect(removed(w)).toEqual(ALL_REMOVED)
  })

  test.each([
    { name: 'lost', fault: { kind: 'lost', acted: true } },
    { name: 'timed out', fault: { kind: 'timeout', acted: true } },
    { name: 'answered 503', fault: { kind: 'server', status: 503, acted: true } },
    { name: 'answered 429 (not by the gateway)', fault: { kind: 'server', status: 429, acted: true } }
  ] as { name: string; fault: TsFault }[])('a login $name twice: sent once more (the record was written ahead), and no third', async ({ fault }) => {
    for (const { eventName, triggeringActor } of EVERY_RUN) {
      const w = world(THREE, { thingspace: { password: 'Changed-Elsewhere' } })
      w.thingspace.script('login', fault, fault, fault)
      const { outcome } = await run(w, { eventName, triggeringActor })
      expect({ eventName, result: outcome.result }).toEqual({ eventName, result: 'failed-unchanged' })
      expect(outcome.message).toContain('after 2 attempts, and ThingSpace may have counted each as a failed login')
      expect({ eventName, ...counts(w) }).toEqual({ eventName, ...NOTHING, stateWrites: 3, logins: 2, removes: 2 })
      expect(pos(w, HOME_RECORD_WRITTEN)).toBeLessThan(pos(w, { call: 'login', n: 0, phase: 'start' }))
      expect(recordInForce(w)).toBe(true)
      expect(w.thingspace.failedLogins).toBe(2)
    }
  })

  test.each([
    { name: 'a redirect', fault: { kind: 'redirect', status: 302 }, said: 'answered 302 (a redirect, not followed)' },
    { name: 'a 200 without a session token', fault: { kind: 'bad-response' }, said: 'answered 200 without a sessionToken' }
  ] as { name: string; fault: TsFault; said: string }[])('$name may have counted: recorded, not sent again', async ({ fault, said }) => {
    const w = world()
    w.thingspace.script('login', fault)
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(outcome.message).toContain(
      `the login for fleet-api got no usable answer (ThingSpace login: ${said}) after 1 attempt, and ThingSpace may have counted it`
    )
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 1, removes: 2 })
    expect(recordInForce(w)).toBe(true)
  })

  test('a login lost once and answered the second time rotates, and the record comes off', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'lost', acted: true })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('rotated')
    expect(w.infos).toContain(
      `ThingSpace login: the connection failed before an answer came (ECONNRESET); recorded in ${STATE}; attempt 1 of 2, logging in once more`
    )
    expect(counts(w)).toEqual({ ...ROTATED, logins: 3 })
    expect(w.secrets.get(REPO, STATE)).toBeUndefined()
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('a login lost, then refused, is not tried a third time', async () => {
    const w = world(THREE, { thingspace: { password: 'Changed-Elsewhere' } })
    w.thingspace.script('login', { kind: 'lost', acted: false })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(outcome.message).toContain('refused the login')
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 2, rereads: 6, removes: 2 })
    expect(recordInForce(w)).toBe(true)
  })

  test('a login lost, then stopped at the gateway: the record stays, and the message says the earlier login may have counted', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'lost', acted: true }, { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.message).toBe(
      `The password was not changed: ThingSpace login: answered 403, gateway fault 900908: Invalid Credentials. An earlier login of this run may have been counted toward the lockout (recorded in ${STATE}).`
    )
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 2, removes: 2 })
    expect(recordInForce(w)).toBe(true)
  })

  // Failures that never reached the user service: nothing was counted, so the record ahead comes off again.
  test.each([
    {
      name: 'a gateway 401 (fault 900901)',
      fault: { kind: 'gateway', status: 401, code: 'gateway fault 900901' },
      said: 'ThingSpace login: answered 401, gateway fault 900901: Invalid Credentials'
    },
    {
      name: 'a gateway 403',
      fault: { kind: 'gateway', status: 403, code: 'gateway fault 900908' },
      said: 'ThingSpace login: answered 403, gateway fault 900908: Invalid Credentials'
    },
    {
      name: 'a gateway 429 (throttled)',
      fault: { kind: 'throttled' },
      said: 'ThingSpace login: answered 429 gateway fault 900800 (Message throttled out)'
    },
    {
      name: 'an OAuth error',
      fault: { kind: 'oauth', status: 401, code: 'invalid_client' },
      said: 'ThingSpace login: answered 401, invalid_client: Client authentication failed'
    },
    { name: 'a connection never made', fault: { kind: 'not-sent' }, said: 'ThingSpace login: could not connect (ECONNREFUSED)' }
  ] as { name: string; fault: TsFault; said: string }[])(
    '$name on the login: failed-unchanged, no retry, and the record removed',
    async ({ fault, said }) => {
      for (const { eventName, triggeringActor } of EVERY_RUN) {
        const w = world()
        w.thingspace.script('login', fault)
        const { outcome } = await run(w, { eventName, triggeringActor })
        expect({ eventName, message: outcome.message }).toEqual({
          eventName,
          message: `The password was not changed: ${said}. No failed login was counted, so a new run may try again.`
        })
        expect({ eventName, ...counts(w) }).toEqual({ eventName, ...NOTHING, stateWrites: 3, logins: 1, removes: 3 })
        expect(labels(THREE).map((l) => w.secrets.get(l, STATE))).toEqual([undefined, undefined, undefined])
        expect(w.thingspace.countedFailures).toBe(0)
      }
    }
  )

  test('a record that cannot be removed after a gateway fault is a warning, and stays in force', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    w.secrets.removeFails = true
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.message).toContain('No failed login was counted')
    expect(w.warnings).toEqual(labels(THREE).map((l) => expect.stringContaining(`Could not remove ${STATE} from ${l}`)))
    expect(recordInForce(w)).toBe(true)
  })

  test('the OAuth token refused inside the login: no login was attempted, and the record comes off', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'oauth', inToken: true })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.message).toBe(
      'The password was not changed, and no login was attempted (only the OAuth token was requested): ThingSpace OAuth token request: answered 401, invalid_client: Client authentication failed'
    )
    expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins: 1, removes: 3 })
    expect(w.secrets.get(REPO, STATE)).toBeUndefined()
  })

  test.each([{ minAgeDays: 0 }, { minAgeDays: 30 }])(
    'the early OAuth token refused (min-age-days $minAgeDays): no login, and the record comes off',
    async ({ minAgeDays }) => {
      const w = world()
      w.thingspace.script('token', { kind: 'oauth' })
      const { outcome } = await run(w, { eventName: 'schedule', minAgeDays })
      expect(outcome.message).toBe(
        'The password was not changed, and no login was attempted (only the OAuth token was requested): ThingSpace OAuth token request: answered 401, invalid_client: Client authentication failed'
      )
      expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, removes: 3 })
      expect(w.thingspace.calls.token).toBe(1)
      expect(w.secrets.get(REPO, STATE)).toBeUndefined()
    }
  )
})

describe('a session idle too long before the reset', () => {
  /** The token for the reset takes 19.5 minutes (a lapsing OAuth token waited out): the session may have expired. */
  const slowResetToken = (): World => world(THREE, { thingspace: { latency: (call, n) => (call === 'token' && n === 1 ? 19.5 * MINUTE : 100) } })

  test.each(EVERY_RUN)('$name: one fresh login, and the reset uses the new session', async ({ eventName, triggeringActor }) => {
    const w = slowResetToken()
    const { outcome } = await run(w, { eventName, triggeringActor })
    expect(outcome.result).toBe('rotated')
    expect(w.infos).toContain('The ThingSpace session was idle for 1170 s and may have expired; logging in again before the reset')
    expect(w.ts('login').map((e) => e.value)).toEqual([PASSWORD, PASSWORD, w.thingspace.password])
    expect(w.ts('reset')[0].value).toBe('session-2')
    expect(counts(w)).toEqual({ ...ROTATED, logins: 3 })
    expect(w.secrets.get(REPO, STATE)).toBeUndefined()
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test.each([
    {
      name: 'refused',
      faults: [{ kind: 'refused' }],
      result: 'failed-unchanged',
      said: 'it was not retried',
      logins: 2,
      rereads: 6,
      removes: 2,
      inForce: true
    },
    {
      name: 'lost twice',
      faults: [{ kind: 'lost' }, { kind: 'lost' }],
      result: 'failed-unchanged',
      said: 'after 2 attempts',
      logins: 3,
      rereads: 0,
      removes: 2,
      inForce: true
    },
    // The first login succeeded: ThingSpace's count started again, and nothing counted since.
    {
      name: 'stopped at the gateway',
      faults: [{ kind: 'gateway', status: 403, code: 'gateway fault 900908' }],
      result: 'failed-unchanged',
      said: 'No failed login was counted, so a new run may try again.',
      logins: 2,
      rereads: 0,
      removes: 3,
      inForce: false
    }
  ] as { name: string; faults: TsFault[]; result: string; said: string; logins: number; rereads: number; removes: number; inForce: boolean }[])(
    'the fresh login $name: no reset, the first session not reused',
    async ({ faults, result, said, logins, rereads, removes, inForce }) => {
      const w = slowResetToken()
      w.thingspace.script('login', undefined, ...faults)
      const { outcome } = await run(w, { eventName: 'schedule' })
      expect(outcome.result).toBe(result)
      expect(outcome.message).toContain(said)
      expect(counts(w)).toEqual({ ...NOTHING, stateWrites: 3, logins, rereads, removes })
      expect(w.ts('logout')).toEqual([])
      expect(recordInForce(w)).toBe(inForce)
      expect(passwordSecrets(w)).toEqual(UNTOUCHED)
    }
  )

  test('a login answer that states a shorter idle lifetime is honoured', async () => {
    const w = world(THREE, {
      thingspace: { sessionLifetimeMs: 5 * MINUTE, latency: (call, n) => (call === 'token' && n === 1 ? 4.5 * MINUTE : 100) }
    })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(counts(w).logins).toBe(3)
  })

  test('a session idle just under the limit is used as it is', async () => {
    const w = world(THREE, { thingspace: { latency: (call, n) => (call === 'token' && n === 1 ? 18 * MINUTE : 100) } })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(counts(w)).toEqual(ROTATED)
  })

  // The real client may wait up to 92 s for a lapsing OAuth token: the idle time is checked after that wait.
  test('a session that lapses while the second reset token is awaited is renewed before the reset', async () => {
    const w = world(THREE, { thingspace: { sessionLifetimeMs: 2 * MINUTE, latency: (call, n) => (call === 'token' && n === 1 ? 92_000 : 100) } })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(w.ts('reset')[0].value).toBe('session-2')
  })
})

describe('reset outcomes: sent exactly once whatever happens, and never followed by a write of the password secret', () => {
  const UNKNOWN = 'The reset request was sent, but its outcome cannot be known'
  test.each([
    {
      name: 'refused with a session error',
      fault: { kind: 'refused', code: 'REQUEST_FAILED.SessionToken.Expired' },
      result: 'failed-unchanged',
      said: 'the reset was not processed (ThingSpace password reset: answered 400, REQUEST_FAILED.SessionToken.Expired: refused). The session was no longer valid.',
      changed: false
    },
    {
      name: 'gateway 401 (fault 900901)',
      fault: { kind: 'gateway', status: 401, code: 'gateway fault 900901' },
      result: 'failed-unchanged',
      said: 'A new run may start at once.',
      changed: false
    },
    {
      name: 'gateway 403',
      fault: { kind: 'gateway', status: 403, code: 'gateway fault 900908' },
      result: 'failed-unchanged',
      said: 'A new run may start at once.',
      changed: false
    },
    {
      name: 'never sent (connection refused)',
      fault: { kind: 'not-sent' },
      result: 'failed-unchanged',
      said: 'could not connect (ECONNREFUSED)',
      changed: false
    },
    {
      name: 'not sent: the OAuth token held would lapse first',
      fault: { kind: 'oauth', inToken: true },
      result: 'failed-unchanged',
      said: 'the reset was not processed (ThingSpace password reset: not sent: the OAuth token would lapse before the answer came)',
      changed: false
    },
    {
      name: 'answered 500, not acted on',
      fault: { kind: 'server', status: 500 },
      result: 'failed-unknown',
      said: `${UNKNOWN} (ThingSpace password reset: answered 500)`,
      changed: false
    },
    {
      name: 'answered 502 after acting',
      fault: { kind: 'server', status: 502, acted: true },
      result: 'failed-unknown',
      said: `${UNKNOWN} (ThingSpace password reset: answered 502)`,
      changed: true
    },
    { name: 'answered 429', fault: { kind: 'server', status: 429 }, result: 'failed-unknown', said: 'answered 429', changed: false },
    // The gateway's own 429 is treated like any 429 after the reset was sent: its outcome is not claimed.
    {
      name: 'answered 429 by the gateway (throttled)',
      fault: { kind: 'throttled' },
      result: 'failed-unknown',
      said: 'answered 429 gateway fault 900800',
      changed: false
    },
    {
      name: 'answered 302',
      fault: { kind: 'redirect', status: 302 },
      result: 'failed-unknown',
      said: 'answered 302 (a redirect, not followed)',
      changed: false
    },
    {
      name: 'lost after acting',
      fault: { kind: 'lost', acted: true },
      result: 'failed-unknown',
      said: 'the connection failed before an answer came',
      changed: true
    },
    {
      name: 'lost before acting',
      fault: { kind: 'lost' },
      result: 'failed-unknown',
      said: 'the connection failed before an answer came',
      changed: false
    },
    {
      name: 'timed out after acting',
      fault: { kind: 'timeout', acted: true },
      result: 'failed-unknown',
      said: 'no answer within 60 s',
      changed: true
    },
    {
      name: 'answered 204 without a new password',
      fault: { kind: 'bad-response', status: 204 },
      result: 'failed-unknown',
      said: 'answered 204 without a newPassword',
      changed: true
    },
    {
      name: 'answered in an unknown shape after acting',
      fault: { kind: 'unrecognised', status: 403 },
      result: 'failed-unknown',
      said: "answered 403 in a shape ThingSpace's documents do not give",
      changed: true
    }
  ] as { name: string; fault: TsFault; result: string; said: string; changed: boolean }[])(
    'reset $name: $result; the record of the login that succeeded comes off',
    async ({ fault, result, said, changed }) => {
      const w = world()
      w.thingspace.script('reset', fault)
      const { outcome } = await run(w, { eventName: 'schedule' })
      expect(outcome).toMatchObject({ result, ok: false })
      expect(outcome.message).toContain(said)
      expect(outcome.message).toContain(
        result === 'failed-unknown'
          ? `Recorded in ${RESET_UNKNOWN} of ${REPO}: the next run is due whatever min-age-days says`
          : 'The password was not changed'
      )
      // An outcome nobody can know: nobody can read the new password, if there is one, so the summary lists the commands that store one set by hand.
      expect(outcome.restoreByHand ?? false).toBe(result === 'failed-unknown')
      expect(counts(w)).toEqual({ ...PROVED_AND_LOGGED_IN, resets: 1 })
      expect(w.thingspace.password !== PASSWORD).toBe(changed)
      expect(passwordSecrets(w)).toEqual(UNTOUCHED)
      expect(w.secrets.get(REPO, STATE)).toBeUndefined()
      // A reset that may have taken effect is recorded in the home target only, so that the next run is due and finds out.
      expect(labels(THREE).filter((l) => w.secrets.get(l, RESET_UNKNOWN) !== undefined)).toEqual(result === 'failed-unknown' ? [REPO] : [])
    }
  )

  test.each([
    {
      name: 'scripted refusal (an undocumented code)',
      arrange: (w: World) => void w.thingspace.script('reset', { kind: 'refused' }),
      code: 'REQUEST_FAILED.UnexpectedError'
    },
    // Another rotation reset the password between this run's login and its reset: ThingSpace checks oldPassword.
    {
      name: 'another rotation reset it first',
      arrange: (w: World) => void otherRotationAt(w, { call: 'reset' }),
      code: 'REQUEST_FAILED.PasswordMismatch'
    }
  ])('a reset refused right after a login that succeeded ($name): failed-unknown, nothing written, no record left', async ({ arrange, code }) => {
    const w = world()
    arrange(w)
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome).toEqual({
      result: 'failed-unknown',
      ok: false,
      message:
        `This run did not change the password: ThingSpace refused its reset (ThingSpace password reset: answered 400, ${code}: refused) right after a login as fleet-api with the same password succeeded, ` +
        `which most likely means another rotation changed the password meanwhile. This run wrote nothing to ${SECRET} and recorded no failed login. ` +
        "The other run's result says whether the new password is stored in every target; if no run rotated it, log in to the ThingSpace portal before running again.",
      targets: expect.any(Array),
      activeUsername: USERNAME
    })
    expect(counts(w)).toEqual({ ...PROVED_AND_LOGGED_IN, resets: 1 })
    expect(w.secrets.writes.filter((x) => x.name === SECRET)).toEqual([])
    expect(recordInForce(w)).toBe(false)
  })

  // Issue 16: after a reset that took effect with its answer lost, the next run must not be green.
  test('after a lost reset answer, the next scheduled run is due, logs in once, is refused, records it; the one after stops', async () => {
    const w = world()
    w.thingspace.script('reset', { kind: 'lost', acted: true })
    const first = await run(w, { eventName: 'schedule', minAgeDays: 30 })
    expect(first.outcome.result).toBe('failed-unknown')
    const results: string[] = []
    for (let i = 0; i < 3; i++) {
      await w.clock.advance(DAY)
      w.secrets.runStart = new Date(w.clock.now())
      results.push((await run(w, { eventName: 'schedule', minAgeDays: 30 })).outcome.result)
    }
    expect(results).toEqual(['failed-unchanged', 'failed-unchanged', 'failed-unchanged'])
    expect(w.thingspace.logins).toBe(2)
    expect(w.thingspace.countedFailures).toBe(1)
    expect(recordInForce(w)).toBe(true)
    expect(passwordSecrets(w)).toEqual(UNTOUCHED)
  })
})

describe('storing the new password', () => {
  const failEnvStore = (w: World, fault: GhFault = { status: 403 }) => w.secrets.failWrites(ENV, undefined, fault)

  test('a target refuses the new password, no recovery key: failed-changed names the holders and the target that does not hold it', async () => {
    const w = world()
    failEnvStore(w)
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false, restoreByHand: true })
    expect(outcome.recoveryCiphertext).toBeUndefined()
    expect(outcome.message).toContain(
      `The password WAS changed: the old one no longer works. The new password is stored only in ${REPO}, ${ORG}. Not stored in: ${ENV}.`
    )
    expect(outcome.message).toContain('No recovery-public-key was given, so there is no recovery-ciphertext.')
    expect(outcome.targets.map((t) => t.holdsNewPassword)).toEqual([true, false, true])
    expect(outcome.targets[1].outcome).toBe(`NOT stored, still holds the old password: Failed to write ${SECRET} to ${ENV}: 403 Forbidden`)
    // Only the stores that landed are read back and read again.
    expect(counts(w)).toEqual({ ...ROTATED, rereads: 4 })
    expect(holds(w)).toEqual({ ...ALL_NEW, [ENV]: 'old' })
  })

  test('a target refuses the new password, with a recovery key: the recovery ciphertext opens to the new password', async () => {
    const w = world()
    failEnvStore(w)
    const { outcome } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(outcome.restoreByHand).toBe(false)
    expect(outcome.message).toContain(
      'It is in the recovery-ciphertext output and the job summary, sealed to your recovery key: the summary lists the commands that open it (`node dist/recovery/index.js open --key-file`) and store it in each target that lacks it.'
    )
    expect(w.sealCalls).toBe(1)
    expect(holds(w)).toEqual({ ...ALL_NEW, [ENV]: 'old' })
  })

  test('no target takes the new password and no recovery key: the message says it is lost', async () => {
    const w = world()
    for (const label of labels(THREE)) w.secrets.failWrites(label, undefined, { status: 403 })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(outcome.message).toContain('The new password is stored in no target.')
    expect(outcome.message).toContain('The new password is lost')
    expect(holds(w)).toEqual(ALL_OLD)
    expect(w.thingspace.password).not.toBe(PASSWORD)
  })

  test('no target takes the new password, with a recovery key: escrowed', async () => {
    const w = world()
    for (const label of labels(THREE)) w.secrets.failWrites(label, undefined, { status: 500 })
    const { outcome } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome.result).toBe('failed-changed')
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(outcome.message).not.toContain('The new password is lost')
  })

  test('sealing to the recovery key fails: the message says there is no recovery ciphertext', async () => {
    const w = world(THREE, { sealFails: true })
    failEnvStore(w)
    const { outcome } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome.result).toBe('failed-changed')
    expect(outcome.recoveryCiphertext).toBeUndefined()
    expect(outcome.message).toContain('Sealing it to the recovery-public-key did not finish, so there is no recovery-ciphertext.')
  })

  test('a store whose answer was lost after GitHub stored it is not counted as a holder, and is said to be unknown', async () => {
    const w = world()
    failEnvStore(w, { acted: true })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('failed-changed')
    expect(outcome.message).not.toContain('Not stored in')
    expect(outcome.message).toContain(`The new password is confirmed stored only in ${REPO}, ${ORG}.`)
    expect(outcome.message).toContain(`the write may have landed: check the secret's updated time): ${ENV}.`)
    expect(outcome.targets.find((t) => t.label === ENV)?.outcome).toMatch(/^unknown, the write may have landed: /)
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('every store failing without a 4xx: the password may be in them, so it is not called lost', async () => {
    const w = world()
    for (const label of labels(THREE)) w.secrets.failWrites(label, undefined, { status: 500 })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('failed-changed')
    expect(outcome.message).toContain('The new password is confirmed stored in no target.')
    expect(outcome.message).toContain('If none of those writes landed, the new password is lost')
  })
})

describe('verify, and the re-read for writes by another rotation', () => {
  // The window after the reset, when consumers reading a target see a dead password, is the stores' alone:
  // the read-back that a later write is compared with goes out beside the verify login.
  test('each store is read back only once every store settled, beside the verify login, and never during the stores', async () => {
    const w = world(THREE, { secrets: { latency: (call, label, n) => (call === 'write' && label === ENV && n === 1 ? 5000 : 50) } })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    const lastStoreEnd = lastPos(w, { call: 'write', name: SECRET, phase: 'end' })
    expect(lastStoreEnd).toBe(pos(w, { call: 'write', name: SECRET, label: ENV, phase: 'end' }))
    const rereads = w.events.filter((e) => e.call === 'reread' && e.phase === 'start')
    // The read-back of every target and the verify login start at the instant the last store answered; then every target is read again.
    expect(rereads.map((e) => [e.label, e.at])).toEqual([
      ...labels(THREE).map((l) => [l, w.events[lastStoreEnd].at]),
      ...labels(THREE).map((l) => [l, w.ts('login', 'end')[1].at])
    ])
    expect(w.ts('login')[1].at).toBe(w.events[lastStoreEnd].at)
    expect(rereads.every((e) => w.events.indexOf(e) > lastStoreEnd)).toBe(true)
  })

  test('the verify login starts only after every store settled, the slowest included', async () => {
    const w = world(THREE, { secrets: { latency: (call, label, n) => (call === 'write' && label === ENV && n === 1 ? 5000 : 50) } })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(pos(w, { call: 'login', n: 1, phase: 'start' })).toBeGreaterThan(pos(w, { call: 'write', name: SECRET, label: ENV, phase: 'end' }))
    // ...and every target is read again after the verify login answered.
    const rereadsAfterVerify = w.events.filter(
      (e, i) => e.call === 'reread' && e.phase === 'start' && i > pos(w, { call: 'login', n: 1, phase: 'end' })
    )
    expect(rereadsAfterVerify.map((e) => e.label)).toEqual(labels(THREE))
  })

  // Superseded: another rotation reset the password again after this run's store (ThingSpace may not check oldPassword).
  test('the verify login refused: failed-unknown (superseded), and a fresh record written after the removal, since the home target holds the refused password', async () => {
    const w = otherRotationAt(world(), { call: 'login', n: 1 })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome).toEqual({
      result: 'failed-unknown',
      ok: false,
      message:
        'The password was changed by this run and stored in every target, but the verify login with it was then refused (ThingSpace login: answered 400, REQUEST_FAILED.InvalidCredentials: refused; not retried): ' +
        "most likely another rotation reset the password again after this one, and targets that hold this run's password hold one that no longer works. " +
        `Runs nobody started by hand will not log in until the password secret is updated (recorded in ${STATE} of ${REPO}). ` +
        "Check the other run's result; if no run rotated it, log in to the ThingSpace portal as the user, set a known password and store it in every target.",
      targets: expect.any(Array),
      activeUsername: USERNAME
    })
    expect(counts(w)).toEqual({ ...ROTATED, logouts: 1, stateWrites: 4 })
    expect(pos(w, { call: 'remove', phase: 'end' })).toBeLessThan(lastPos(w, { call: 'write', name: STATE, label: REPO, phase: 'start' }))
    expect(recordInForce(w)).toBe(true)
    expect(w.secrets.get(REPO, STATE)?.value).toMatch(new RegExp(`^${RUN_LABEL}: the verify login may count toward the lockout from `))
  })

  test.each([
    { name: 'refused', fault: { kind: 'refused' } },
    { name: 'in an unknown shape', fault: { kind: 'unrecognised' } }
  ] as { name: string; fault: TsFault }[])(
    'the verify login $name while the home store failed: superseded, holders named, no record',
    async ({ fault }) => {
      const w = world()
      w.thingspace.script('login', undefined, fault)
      w.secrets.failWrites(REPO, undefined, { status: 403 })
      const { outcome } = await run(w)
      expect(outcome.result).toBe('failed-unknown')
      expect(outcome.message).toContain(
        `The password was changed by this run and stored only in ${ENV}, ${ORG}, but the verify login with it was then refused`
      )
      expect(outcome.message).not.toContain(STATE)
      expect(counts(w)).toEqual({ ...ROTATED, logouts: 1, rereads: 4 })
    }
  )

  test('the verify login refused, the home target written again by the other rotation: superseded, and no record of a password the home target no longer holds', async () => {
    const w = otherRotationAt(world(), { call: 'login', n: 1 }, [REPO], 60)
    const { outcome } = await run(w)
    expect(outcome.result).toBe('failed-unknown')
    expect(outcome.message).toContain(`stored only in ${ENV}, ${ORG}, but the verify login with it was then refused`)
    expect(outcome.message).toContain(`${REPO} was written again after this run's store.`)
    expect(counts(w)).toEqual({ ...ROTATED, logouts: 1 })
    expect(w.secrets.get(REPO, STATE)).toBeUndefined()
    expect(outcome.targets.map((t) => t.holdsNewPassword)).toEqual([false, true, true])
  })

  test('a target written again after this run\u2019s store (the verify login still succeeds): failed-changed with the escrow, naming it', async () => {
    const w = world()
    // 60 ms into the verify login: after this run read its store back (50 ms), before the second read.
    w.on({ call: 'login', n: 1, phase: 'start' }, () => void w.clock.schedule(60, () => void w.secrets.put(ENV, OTHER, new Date(w.clock.now()))))
    const { outcome } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(outcome.message).toContain(`The new password is stored only in ${REPO}, ${ORG}.`)
    expect(outcome.message).toContain(
      `Written again after this run stored it (by another rotation or by hand; the value there may not log in): ${ENV}.`
    )
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(outcome.targets.map((t) => [t.label, t.holdsNewPassword, t.writtenAgain])).toEqual([
      [REPO, true, undefined],
      [ENV, false, true],
      [ORG, true, undefined]
    ])
    expect(outcome.targets[1].outcome).toBe("written again after this run's store (new password stored)")
    // Escrowed: the summary's restore commands open the ciphertext, so nothing is restored by hand.
    expect(outcome.restoreByHand).toBe(false)
    expect(counts(w)).toEqual(ROTATED)
  })

  // KNOWN LIMITATION (docs/overlapping-runs.md), not a fix to come: the time a store is compared with is read back once every store
  // has settled (beside the verify login, since 5d78f35; before, right after each store answered), and GitHub
  // gives a secret's time to the second only, so the read-back cannot tell this run's write from another
  // rotation's that landed between the store's answer and the read-back (GitHub answering 300 ms per
  // request, and the slowest store, leave a wide window). The run then says "rotated" while the target holds
  // another password. Whenever the two passwords differ, one of the two runs' verify logins is refused, so
  // one result admits doubt (campaign.test.ts "overlapping runs" holds that over every start offset).
  test.failing('a write by another rotation between this run\u2019s store and its read-back is seen as a later write', async () => {
    const w = world()
    w.on(
      { call: 'write', name: SECRET, label: ENV, phase: 'end' },
      () => void w.clock.schedule(10, () => void w.secrets.put(ENV, OTHER, new Date(w.clock.now())))
    )
    const { outcome } = await run(w)
    expect(w.secrets.value(ENV)).toBe(OTHER)
    expect(outcome.result).toBe('failed-changed')
  })

  test('a target whose re-read fails is taken as it is (no evidence of a later write)', async () => {
    const w = world()
    w.secrets.rereadFaults[4] = { status: 500 } // ENV's second read
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
  })

  test('the verify login gets no answer: rotated but failing, and recorded since it may have counted', async () => {
    const w = world()
    w.thingspace.script('login', undefined, { kind: 'lost' })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: false })
    expect(outcome.message).toBe(
      'The password was changed and stored in every target, but the verify login with the new password failed (ThingSpace login: the connection failed before an answer came (ECONNRESET)); it was not retried. ' +
        `Runs nobody started by hand will not log in until the password secret is updated (recorded in ${STATE}).`
    )
    expect(counts(w)).toEqual({ ...ROTATED, logouts: 1, stateWrites: 4 })
    expect(recordInForce(w)).toBe(true)
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('the verify login gets no answer and the record cannot be written: the message says so', async () => {
    const w = world()
    w.thingspace.script('login', undefined, { kind: 'timeout' })
    w.secrets.failWrites(REPO, undefined, undefined, { status: 403 }) // the proof, the store, the fresh record
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: false })
    expect(outcome.message).toContain(`Recording it in ${STATE} failed (Failed to write ${STATE} to ${REPO}: 403 Forbidden).`)
  })

  // failed-changed also says what went wrong with the verify login, and whether it was recorded. Was a BUG
  // at 36c89c3 (the record was written, the message said nothing of it); fixed on core (25a644d).
  const VERIFY_LOST =
    'the verify login with the new password failed (ThingSpace login: the connection failed before an answer came (ECONNRESET)); it was not retried.'
  test.each([
    {
      name: 'no answer, recorded',
      verify: { kind: 'lost' },
      arrange: () => {},
      also: ` Also, ${VERIFY_LOST} Runs nobody started by hand will not log in until the password secret is updated (recorded in ${STATE}).`,
      inForce: true
    },
    {
      name: 'no answer, and the record cannot be written',
      verify: { kind: 'lost' },
      arrange: (w: World) => void w.secrets.failWrites(REPO, undefined, undefined, { status: 403 }),
      also: ` Also, ${VERIFY_LOST} Recording it in ${STATE} failed (Failed to write ${STATE} to ${REPO}: 403 Forbidden).`,
      inForce: false
    },
    {
      name: 'stopped at the gateway: nothing counted, nothing recorded',
      verify: { kind: 'gateway', status: 403, code: 'gateway fault 900908' },
      arrange: () => {},
      also: ' Also, the verify login with the new password failed (ThingSpace login: answered 403, gateway fault 900908: Invalid Credentials); it was not retried.',
      inForce: false
    }
  ] as { name: string; verify: TsFault; arrange: (w: World) => void; also: string; inForce: boolean }[])(
    'a verify login that fails while a store failed ($name): failed-changed says so, and whether it was recorded',
    async ({ verify, arrange, also, inForce }) => {
      const w = world()
      w.thingspace.script('login', undefined, verify)
      w.secrets.failWrites(ENV, undefined, { status: 403 })
      arrange(w)
      const { outcome } = await run(w)
      expect(outcome).toMatchObject({ result: 'failed-changed', ok: false, restoreByHand: true })
      expect(outcome.message).toBe(
        `The password WAS changed: the old one no longer works. The new password is stored only in ${REPO}, ${ORG}. Not stored in: ${ENV}. ` +
          `No recovery-public-key was given, so there is no recovery-ciphertext. Workflows can still use the secret in the targets that hold it.${also}`
      )
      expect(recordInForce(w)).toBe(inForce)
    }
  )

  test('the verify login stopped at the gateway: rotated but failing, and nothing recorded', async () => {
    const w = world()
    w.thingspace.script('login', undefined, { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: false })
    expect(outcome.message).not.toContain(STATE)
    expect(counts(w)).toEqual({ ...ROTATED, logouts: 1 })
  })

  test('a failed logout is a warning only', async () => {
    const w = world()
    w.thingspace.script('logout', { kind: 'server', status: 500 }, { kind: 'lost' })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(w.warnings).toEqual([
      'ThingSpace logout failed (the session will expire on its own): ThingSpace logout: answered 500',
      'ThingSpace logout failed (the session will expire on its own): ThingSpace logout: the connection failed before an answer came (ECONNRESET)'
    ])
    expect(counts(w)).toEqual(ROTATED)
  })
})

describe('every run that stops before its reset leaves the password secret as it was', () => {
  test.each([
    { name: 'not due', arrange: () => {}, options: { minAgeDays: 30 }, updatedAt: new Date(START - DAY) },
    { name: 'a stale input', arrange: (w: World) => void (w.secrets.jobStart = new Date(OLD.getTime() - 1)), options: {} },
    {
      name: 'a record in force, unattended',
      arrange: (w: World) => void w.secrets.put(REPO, 'x', new Date(START - DAY), STATE),
      options: { eventName: 'schedule' }
    },
    { name: 'a dry run', arrange: () => {}, options: { dryRun: true } },
    { name: 'a proof refused', arrange: (w: World) => void w.secrets.failWrites(ORG, { status: 403 }), options: {} },
    { name: 'a token that cannot write', arrange: (w: World) => void (w.secrets.readOnly = true), options: {} },
    { name: 'a refused login', arrange: (w: World) => void (w.thingspace.password = 'Changed-Elsewhere'), options: {} },
    { name: 'two lost logins', arrange: (w: World) => void w.thingspace.script('login', { kind: 'lost' }, { kind: 'lost' }), options: {} },
    { name: 'a login at the gateway', arrange: (w: World) => void w.thingspace.script('login', { kind: 'gateway' }), options: {} },
    { name: 'a refused reset', arrange: (w: World) => void w.thingspace.script('reset', { kind: 'refused' }), options: {} },
    { name: 'a reset never sent', arrange: (w: World) => void w.thingspace.script('reset', { kind: 'not-sent' }), options: {} },
    {
      name: 'a signal during the proof',
      arrange: (w: World) => void w.signalOn({ call: 'write', name: STATE, phase: 'start' }, 'SIGINT', 10),
      options: {}
    },
    { name: 'a signal during the login', arrange: (w: World) => void w.signalOn({ call: 'login', phase: 'start' }, 'SIGINT', 10), options: {} },
    { name: 'a signal after the login', arrange: (w: World) => void w.signalOn({ call: 'token', n: 1, phase: 'start' }, 'SIGINT', 10), options: {} }
  ] as { name: string; arrange: (w: World) => void; options: SettingsOptions; updatedAt?: Date }[])(
    '$name',
    async ({ arrange, options, updatedAt }) => {
      const w = world(THREE, {}, updatedAt)
      arrange(w)
      const before = passwordSecrets(w)
      const { outcome } = await run(w, options)
      expect(outcome.result).not.toBe('rotated')
      expect(w.secrets.writes.filter((x) => x.name === SECRET)).toEqual([])
      expect(passwordSecrets(w)).toEqual(before)
    }
  )
})

describe('cancellation in every phase', () => {
  const sigint = KILL_AFTER_MS.SIGINT - REPORT_MARGIN_MS

  // Each phase twice: the signal as the call starts (before the guard is attached), and 10 ms into it.
  test.each([
    {
      phase: 'the reads',
      match: { call: 'inspect' },
      delay: 0,
      sent: NOTHING,
      afterMs: 0,
      said: 'no login was attempted (only the OAuth token was requested)'
    },
    {
      phase: 'the reads',
      match: { call: 'inspect' },
      delay: 10,
      sent: NOTHING,
      afterMs: 0,
      said: 'no login was attempted (only the OAuth token was requested)'
    },
    // The proof writes still queued when the signal comes are not sent; those in flight are waited for (50 ms
    // from their start), then every copy the proof may have left comes off (50 ms).
    {
      phase: 'the write proof',
      match: { call: 'write', name: STATE },
      delay: 0,
      sent: { ...NOTHING, stateWrites: 1, removes: 3 },
      afterMs: 100,
      said: 'no login was attempted (only the OAuth token was requested)'
    },
    {
      phase: 'the write proof',
      match: { call: 'write', name: STATE },
      delay: 10,
      sent: { ...NOTHING, stateWrites: 3, removes: 3 },
      afterMs: 90,
      said: 'no login was attempted (only the OAuth token was requested)'
    },
    // An abandoned login may have been counted: the record written ahead stays; the other copies come off (50 ms).
    {
      phase: 'the login',
      match: { call: 'login' },
      delay: 0,
      sent: { ...NOTHING, stateWrites: 3, logins: 1, removes: 2 },
      afterMs: 50,
      said: 'a login was attempted'
    },
    {
      phase: 'the login',
      match: { call: 'login' },
      delay: 10,
      sent: { ...NOTHING, stateWrites: 3, logins: 1, removes: 2 },
      afterMs: 50,
      said: 'a login was attempted'
    },
    // After a login that succeeded: the session is logged out (100 ms) while the record comes off (50 ms).
    {
      phase: 'the wait for the reset token',
      match: { call: 'token', n: 1 },
      delay: 0,
      sent: PROVED_AND_LOGGED_IN,
      afterMs: 100,
      said: 'a login was attempted'
    },
    {
      phase: 'the wait for the reset token',
      match: { call: 'token', n: 1 },
      delay: 10,
      sent: PROVED_AND_LOGGED_IN,
      afterMs: 100,
      said: 'a login was attempted'
    }
  ] as { phase: string; match: Partial<CallEvent>; delay: number; sent: ReturnType<typeof counts>; afterMs: number; said: string }[])(
    'during $phase (signal $delay ms in): failed-unchanged at once, no reset',
    async ({ match, delay, sent, afterMs, said }) => {
      for (const { eventName, triggeringActor } of [ATTENDED[0], UNATTENDED[0]]) {
        const w = world().signalOn({ ...match, phase: 'start' }, 'SIGINT', delay)
        const { outcome, at } = await run(w, { eventName, triggeringActor })
        expect({ eventName, message: outcome.message }).toEqual({
          eventName,
          message: `The password was not changed: the runner cancelled the step (SIGINT) before the reset was sent, and ${said}.`
        })
        const started = w.events.find((e) => e.phase === 'start' && Object.entries(match).every(([k, v]) => e[k as keyof CallEvent] === v))!
        expect(w.signals[0].at).toBe(started.at + delay)
        expect({ eventName, after: at - w.signals[0].at }).toEqual({ eventName, after: afterMs })
        expect({ eventName, ...counts(w) }).toEqual({ eventName, ...sent })
        expect(w.thingspace.password).toBe(PASSWORD)
        expect(passwordSecrets(w)).toEqual(UNTOUCHED)
      }
    }
  )

  test.each([
    {
      name: 'during the proof',
      arrange: (w: World) => void w.signalOn({ call: 'write', name: STATE, phase: 'start' }, 'SIGINT', 10),
      inForce: false
    },
    {
      name: 'while the login token is awaited',
      arrange: (w: World) => void w.signalOn({ call: 'token', n: 0, phase: 'start' }, 'SIGINT', 4000),
      inForce: false
    },
    { name: 'during the login', arrange: (w: World) => void w.signalOn({ call: 'login', phase: 'start' }, 'SIGINT', 10), inForce: true },
    { name: 'after the login succeeded', arrange: (w: World) => void w.signalOn({ call: 'token', n: 1, phase: 'start' }), inForce: false }
  ])('a signal $name: the next scheduled run stops only if a login may have counted', async ({ arrange, inForce }) => {
    const w = world(THREE, { thingspace: { latency: (call, n) => (call === 'token' && n === 0 ? 5000 : 100) } })
    arrange(w)
    await run(w, { eventName: 'schedule', minAgeDays: 30 })
    expect(recordInForce(w)).toBe(inForce)
    // Later than a run can last: a record then says a login may have counted, not that a run is at work.
    await w.clock.advance(RUN_IN_PROGRESS_MS)
    w.secrets.runStart = new Date(w.clock.now())
    const logins = w.thingspace.logins
    const next = await run(w, { eventName: 'schedule', minAgeDays: 30 })
    expect(next.outcome.result).toBe(inForce ? 'failed-unchanged' : 'rotated')
    expect(w.thingspace.logins - logins).toBe(inForce ? 0 : 2)
  })

  // settle() waits (up to the deadline) for the proof's writes before it removes anything. Was a BUG at
  // 36c89c3 (the removal overtook the home write in flight, which then left a record of a login never
  // sent in force); fixed on core (b7c0145).
  test('a signal while the home proof write is slower than the removal: the removal waits for it, and no record of a login never sent is left', async () => {
    const w = world(THREE, { secrets: { latency: (call, label) => (call === 'write' && label === REPO ? 2000 : 50) } })
    w.signalOn({ call: 'write', name: STATE, label: REPO, phase: 'start' }, 'SIGINT', 10)
    const { outcome, at } = await run(w, { eventName: 'schedule' })
    expect(outcome.message).toContain('no login was attempted')
    expect(pos(w, { call: 'remove', label: REPO, phase: 'start' })).toBeGreaterThan(pos(w, { call: 'write', name: STATE, label: REPO, phase: 'end' }))
    expect(at).toBeLessThanOrEqual(w.deadline()!)
    await w.clock.advance(MINUTE)
    expect(w.thingspace.logins).toBe(0)
    expect(removed(w)).toEqual(ALL_REMOVED)
    expect(recordInForce(w)).toBe(false)
  })

  test('a signal while the home proof write hangs past the deadline: the run reports at the deadline', async () => {
    const w = world(THREE, { secrets: { latency: (call, label) => (call === 'write' && label === REPO ? 60_000 : 50) } })
    w.signalOn({ call: 'write', name: STATE, label: REPO, phase: 'start' }, 'SIGINT', 10)
    const { outcome, at } = await run(w, { eventName: 'schedule' })
    expect(outcome.message).toContain('no login was attempted')
    expect(at).toBe(w.deadline())
    expect(w.thingspace.logins).toBe(0)
  })

  test('during the reset, answered before the deadline: stored everywhere, rotated, no verify login nor re-read', async () => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 3000 : 100) } }).signalOn({ call: 'reset', phase: 'start' })
    const { outcome, at } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(at).toBeLessThan(w.deadline()!)
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1, rereads: 3 })
    expect(holds(w)).toEqual(ALL_NEW)
    expect(w.secrets.get(REPO, STATE)).toBeUndefined()
  })

  test('during the reset, answered before the deadline, one store failing: failed-changed with the escrow', async () => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 3000 : 100) } }).signalOn({ call: 'reset', phase: 'start' })
    w.secrets.failWrites(ORG, undefined, { status: 403 })
    const { outcome } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome.result).toBe('failed-changed')
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(holds(w)).toEqual({ ...ALL_NEW, [ORG]: 'old' })
  })

  // No time is left to record the lost reset, so the record of the login stays in the home target: the next
  // unattended run stops on it rather than report not-due.
  test('during the reset, answered after the deadline: failed-unknown exactly at the deadline, the login record kept', async () => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 20_000 : 100) } }).signalOn({ call: 'reset', phase: 'start' })
    const { outcome, at } = await run(w)
    expect(outcome).toMatchObject({ result: 'failed-unknown', ok: false })
    expect(outcome.message).toContain('(the runner cancelled the step before the answer came)')
    expect(outcome.message).toContain(
      `Recording that in ${RESET_UNKNOWN} failed (the cancellation deadline passed), so the record of this run's login stays in ${STATE} of ${REPO}`
    )
    expect(at).toBe(w.deadline())
    expect(at - w.signals[0].at).toBe(sigint)
    expect(counts(w)).toEqual({ ...PROVED_AND_LOGGED_IN, resets: 1, removes: 2 })
    expect(w.secrets.get(REPO, STATE)).toBeDefined()
    expect(passwordSecrets(w)).toEqual(UNTOUCHED)
  })

  test('during the stores: the write still in flight at the deadline is reported unknown', async () => {
    const w = world(THREE, {
      secrets: { latency: (call, label, n) => (call === 'write' && label === ENV && n === 1 ? 60_000 : 50) }
    }).signalOn({ call: 'write', name: SECRET, label: ENV, phase: 'start' })
    const { outcome, at } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(at).toBe(w.deadline())
    expect(outcome.targets[1].outcome).toBe('unknown: the write had not finished when the runner cancelled the step')
    expect(outcome.message).toContain(
      `Unknown (no answer came, or the step was cancelled before it did; the write may have landed: check the secret's updated time): ${ENV}.`
    )
    expect(outcome.message).toContain(`The new password is confirmed stored only in ${REPO}, ${ORG}.`)
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    // The record of the login that succeeded still comes off; no verify, no second read once cancelled.
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1, rereads: 2 })
  })

  test('during the stores, every write unfinished at the deadline and no recovery key: the password is said lost only if none landed', async () => {
    const w = world(THREE, { secrets: { latency: (call, _label, n) => (call === 'write' && n === 1 ? 60_000 : 50) } }).signalOn({
      call: 'write',
      name: SECRET,
      label: ENV,
      phase: 'start'
    })
    const { outcome, at } = await run(w)
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(at).toBe(w.deadline())
    expect(outcome.message).toBe(
      'The password WAS changed: the old one no longer works. The new password is confirmed stored in no target. ' +
        `Unknown (no answer came, or the step was cancelled before it did; the write may have landed: check the secret's updated time): ${REPO}, ${ENV}, ${ORG}. ` +
        'No recovery-public-key was given, so there is no recovery-ciphertext. ' +
        'If none of those writes landed, the new password is lost: reset the password in the ThingSpace portal (or ask Verizon M2M support) and store it by hand.'
    )
    expect(outcome.targets.map((t) => t.outcome)).toEqual(Array(3).fill('unknown: the write had not finished when the runner cancelled the step'))
  })

  test('during the verify login with a store failed: failed-changed at the deadline, with the escrow', async () => {
    const w = world(THREE, { thingspace: { latency: (call, n) => (call === 'login' && n === 1 ? 60_000 : 100) } }).signalOn({
      call: 'login',
      n: 1,
      phase: 'start'
    })
    w.secrets.failWrites(REPO, undefined, { status: 403 })
    const { outcome, at } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome.result).toBe('failed-changed')
    expect(at).toBe(w.deadline())
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(holds(w)).toEqual({ ...ALL_NEW, [REPO]: 'old' })
  })

  test('during the stores, with the sealing slower than the deadline: failed-changed without a ciphertext', async () => {
    const w = world(THREE, {
      sealMs: 60_000,
      secrets: { latency: (call, label, n) => (call === 'write' && label === ENV && n === 1 ? 60_000 : 50) }
    }).signalOn({ call: 'write', name: SECRET, label: ENV, phase: 'start' }, 'SIGTERM')
    const { outcome, at } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome.result).toBe('failed-changed')
    expect(outcome.recoveryCiphertext).toBeUndefined()
    expect(outcome.message).toContain('Sealing it to the recovery-public-key did not finish')
    expect(at).toBe(w.deadline())
  })

  test('during the verify login: abandoned at the deadline, still rotated', async () => {
    const w = world(THREE, { thingspace: { latency: (call, n) => (call === 'login' && n === 1 ? 60_000 : 100) } }).signalOn({
      call: 'login',
      n: 1,
      phase: 'start'
    })
    const { outcome, at } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(at).toBe(w.deadline())
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('during the logout: abandoned at the deadline, still rotated', async () => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'logout' ? 60_000 : 100) } }).signalOn(
      { call: 'logout', phase: 'start' },
      'SIGTERM'
    )
    const { outcome, at } = await run(w, { verify: false })
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(at - w.signals[0].at).toBe(KILL_AFTER_MS.SIGTERM - REPORT_MARGIN_MS)
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1, rereads: 3 })
  })

  test.each([
    { name: 'SIGTERM alone', signals: [[0, 'SIGTERM']], after: 1500 },
    { name: 'SIGINT alone', signals: [[0, 'SIGINT']], after: 9000 },
    {
      name: 'SIGINT, then SIGTERM 7.5 s later',
      signals: [
        [0, 'SIGINT'],
        [7500, 'SIGTERM']
      ],
      after: 9000
    },
    {
      name: 'SIGINT, then SIGTERM 1 s later',
      signals: [
        [0, 'SIGINT'],
        [1000, 'SIGTERM']
      ],
      after: 2500
    },
    {
      name: 'SIGTERM, then SIGINT',
      signals: [
        [0, 'SIGTERM'],
        [500, 'SIGINT']
      ],
      after: 1500
    },
    { name: 'an unknown signal', signals: [[0, 'SIGHUP']], after: 1500 }
  ] as { name: string; signals: [number, string][]; after: number }[])(
    '$name during a hung reset: failed-unknown at kill time minus the report margin',
    async ({ signals, after }) => {
      const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 60_000 : 100) } })
      w.on({ call: 'reset', phase: 'start' }, () => {
        for (const [delay, signal] of signals) w.clock.schedule(delay, () => w.signal(signal))
      })
      const { outcome, at } = await run(w)
      expect(outcome.result).toBe('failed-unknown')
      expect(at - w.ts('reset')[0].at).toBe(after)
    }
  )
})

describe('every session that was opened is logged out', () => {
  test.each([
    { name: 'a rotation', arrange: () => {}, options: {} },
    { name: 'a dry run', arrange: () => {}, options: { dryRun: true } },
    { name: 'a refused reset', arrange: (w: World) => void w.thingspace.script('reset', { kind: 'refused' }), options: {} },
    { name: 'a lost reset', arrange: (w: World) => void w.thingspace.script('reset', { kind: 'lost', acted: true }), options: {} },
    { name: 'a partial store', arrange: (w: World) => void w.secrets.failWrites(ORG, undefined, { status: 403 }), options: {} },
    { name: 'a refused verify', arrange: (w: World) => void w.thingspace.script('login', undefined, { kind: 'refused' }), options: {} },
    { name: 'a token failure before the reset', arrange: (w: World) => void w.thingspace.script('token', undefined, { kind: 'oauth' }), options: {} },
    {
      name: 'a login retried after a lost answer',
      arrange: (w: World) => void w.thingspace.script('login', { kind: 'lost', acted: true }),
      options: {}
    },
    { name: 'a cancellation after the login', arrange: (w: World) => void w.signalOn({ call: 'token', n: 1, phase: 'start' }), options: {} }
  ] as { name: string; arrange: (w: World) => void; options: SettingsOptions }[])('after $name', async ({ arrange, options }) => {
    for (const { eventName, triggeringActor } of [ATTENDED[0], UNATTENDED[0]]) {
      const w = world()
      arrange(w)
      await run(w, { eventName, triggeringActor, ...options })
      const received = w.events.filter((e) => e.call === 'login' && e.phase === 'end' && e.outcome === 'ok').map((e) => e.value)
      const loggedOut = w.ts('logout').map((e) => e.value)
      expect(received.length).toBeGreaterThan(0)
      expect({ eventName, loggedOut: loggedOut.sort() }).toEqual({ eventName, loggedOut: received.sort() })
      expect(w.thingspace.openSessions()).toEqual([])
    }
  })
})

// Issue 16: a lost reset answer is never followed by a green run, even when the password secret is younger
// than min-age-days (a dispatch with min-age-days 0 between the scheduled runs). Was a BUG at 1784f78: the
// record of the login that succeeded came off, nothing else was left, and the next scheduled run said not-due.
describe('after a reset whose answer was lost', () => {
  const TEN_DAYS_AGO = new Date(START - 10 * DAY)
  /** A dispatch whose reset answer is lost (after acting, or not), then a day later a scheduled run with min-age-days 80. */
  async function lostThenScheduled(acted: boolean, between: (w: World) => void = () => {}) {
    const w = world(THREE, {}, TEN_DAYS_AGO)
    w.thingspace.script('reset', { kind: 'lost', acted })
    const first = await run(w, { eventName: 'workflow_dispatch', minAgeDays: 0 })
    await w.clock.advance(DAY)
    between(w)
    w.secrets.runStart = new Date(w.clock.now())
    const next = await run(w, { eventName: 'schedule', minAgeDays: 80 })
    return { w, first: first.outcome, next: next.outcome }
  }

  test('that took effect: the next scheduled run is due, logs in once, is refused, records it and says the lost reset most likely took effect', async () => {
    const { w, first, next } = await lostThenScheduled(true)
    expect(first.result).toBe('failed-unknown')
    expect(next).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(next.message).toContain(`Most likely the reset whose answer was lost (recorded in ${RESET_UNKNOWN} at `)
    expect(w.infos).toContainEqual(expect.stringMatching(/^Due: a reset whose answer was lost \(recorded in THINGSPACE_PASSWORD_RESET_UNKNOWN/))
    expect({ logins: w.thingspace.logins, counted: w.thingspace.countedFailures }).toEqual({ logins: 2, counted: 1 })
    // Both records stand: runs nobody started by hand stop from now on, until a password is stored.
    expect([w.secrets.get(REPO, STATE), w.secrets.get(REPO, RESET_UNKNOWN)].map((x) => x !== undefined)).toEqual([true, true])
    expect(passwordSecrets(w)).toEqual(Object.fromEntries(labels(THREE).map((l) => [l, { value: PASSWORD, updatedAt: TEN_DAYS_AGO.getTime() }])))
  })

  test('that did not take effect: the next scheduled run is due, rotates, and removes the record of the lost reset', async () => {
    const { w, next } = await lostThenScheduled(false)
    expect(next).toMatchObject({ result: 'rotated', ok: true })
    expect(holds(w)).toEqual(ALL_NEW)
    expect(w.thingspace.countedFailures).toBe(0)
    expect(w.secrets.get(REPO, RESET_UNKNOWN)).toBeUndefined()
  })

  test('a password stored after it (by hand, from the portal) puts the record out of force: the next scheduled run is not due', async () => {
    const { w, next } = await lostThenScheduled(true, (w) => {
      for (const l of labels(THREE)) w.secrets.put(l, w.thingspace.password, new Date(w.clock.now()))
    })
    expect(next.result).toBe('not-due')
    expect(w.thingspace.logins).toBe(1)
  })

  test('a lost reset that could not be recorded leaves the record of the login: the next scheduled run stops, it is not green', async () => {
    const w = world(THREE, {}, TEN_DAYS_AGO)
    w.thingspace.script('reset', { kind: 'lost', acted: true })
    w.secrets.failWrites(REPO, undefined, { status: 403 }) // the proof goes through; the record of the lost reset is refused
    const lost = await run(w, { eventName: 'workflow_dispatch', minAgeDays: 0 })
    expect(lost.outcome.message).toContain(`Recording that in ${RESET_UNKNOWN} failed (`)
    expect([w.secrets.get(REPO, STATE) !== undefined, w.secrets.get(REPO, RESET_UNKNOWN)]).toEqual([true, undefined])
    await w.clock.advance(DAY)
    w.secrets.runStart = new Date(w.clock.now())
    const { outcome } = await run(w, { eventName: 'schedule', minAgeDays: 80 })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain('runs nobody started by hand stop here')
    expect(w.thingspace.logins).toBe(1)
  })

  test('a dry run after it is due too: its one login finds the password live and removes the record', async () => {
    const w = world(THREE, {}, TEN_DAYS_AGO)
    w.thingspace.script('reset', { kind: 'lost' })
    await run(w, { eventName: 'workflow_dispatch', minAgeDays: 0 })
    await w.clock.advance(DAY)
    w.secrets.runStart = new Date(w.clock.now())
    const { outcome } = await run(w, { eventName: 'schedule', minAgeDays: 80, dryRun: true })
    expect(outcome.result).toBe('dry-run')
    expect(w.secrets.get(REPO, RESET_UNKNOWN)).toBeUndefined()
    expect(passwordSecrets(w)).toEqual(Object.fromEntries(labels(THREE).map((l) => [l, { value: PASSWORD, updatedAt: TEN_DAYS_AGO.getTime() }])))
  })
})

// The runner may cancel while the action still loads: run() takes that signal over (src/early-signals.ts)
// before the flow starts, and the flow then sends nothing at all.
test('a signal that came before the flow started: nothing is sent, failed-unchanged, the signal named', async () => {
  const w = world()
  const cancel = new Cancellation(w.clock.now, w.clock.schedule)
  cancel.receive('SIGTERM')
  const settings = makeSettings({ targets: THREE })
  const settled = await w.clock.drive(rotate(settings, w.deps(cancel, settings)))
  cancel.dispose()
  expect(settled).toMatchObject({
    status: 'fulfilled',
    value: {
      result: 'failed-unchanged',
      message: 'The password was not changed: the runner cancelled the step (SIGTERM) before the reset was sent, and ThingSpace was not contacted.'
    }
  })
  expect(w.events).toEqual([])
})
