/**
 * The rotation flow in process: `rotate()` against the in-memory ThingSpace and GitHub of
 * support/fakes.ts, on a fake clock. Every branch of the sequence (read, pre-flight, log in, prove,
 * reset, store or escrow, verify, log out), each with exact counts of what was sent (marker writes
 * and removals included) and what the targets hold afterwards. Runs are started by hand
 * (workflow_dispatch) unless a test says otherwise; the lockout rules that differ for unattended runs
 * (schedule, repository_dispatch, ...) are tested in both kinds of run.
 */
import { describe, expect, test } from '@jest/globals'
import { KILL_AFTER_MS, REPORT_MARGIN_MS } from '../src/cancellation.ts'
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
  type SettingsOptions,
  type TsFault,
  type WorldOptions
} from './support/fakes.ts'

const THREE = ['repo', 'env:prod', 'org:acme']
const [REPO, ENV, ORG] = labels(THREE)
const OLD = new Date(START - 100 * DAY)

/** Runs started by hand, and runs nobody started by hand (which record each login ahead). */
const ATTENDED = ['workflow_dispatch', undefined] as const
const UNATTENDED = ['schedule', 'repository_dispatch'] as const
/** Each login test runs in one run of each kind; `ahead` says whether it records its login before sending it. */
const MODES: [string, boolean][] = [
  ['workflow_dispatch', false],
  ['schedule', true],
  ['repository_dispatch', true]
]

/** A world whose targets all hold the current password, last updated `updatedAt`. */
function world(targets: string[] = THREE, options: WorldOptions = {}, updatedAt = OLD): World {
  const w = new World(options)
  for (const label of labels(targets)) w.secrets.put(label, PASSWORD, updatedAt)
  return w
}

async function run(w: World, options: SettingsOptions = {}): Promise<RunResult> {
  return w.rotate(makeSettings({ targets: THREE, ...options }))
}

/** What was sent: ThingSpace calls by kind, GitHub writes (answered or not) by purpose, and marker removals. */
function counts(w: World) {
  const writes = w.events.filter((e) => e.call === 'write' && e.phase === 'start')
  return {
    logins: w.thingspace.logins,
    resets: w.thingspace.resets,
    logouts: w.thingspace.logouts,
    proofWrites: writes.filter((x) => x.name === SECRET && x.value === PASSWORD).length,
    newWrites: writes.filter((x) => x.name === SECRET && x.value !== PASSWORD).length,
    markerWrites: writes.filter((x) => x.name === MARKER).length,
    removes: w.secrets.calls.remove
  }
}

/** What each target holds: the old password, the live one (if it changed), or something else. */
function holds(w: World, targets: string[] = THREE): Record<string, string> {
  const live = w.thingspace.password
  return Object.fromEntries(
    labels(targets).map((label) => {
      const value = w.secrets.value(label)
      return [label, value === live && live !== PASSWORD ? 'new' : value === PASSWORD ? 'old' : String(value)]
    })
  )
}

/** Whether the marker in the first target would stop the next unattended run: newer than every update of the password secret. */
function markerInForce(w: World, targets: string[] = THREE): boolean {
  const marker = w.secrets.get(labels(targets)[0], MARKER)
  const updates = labels(targets).map((label) => w.secrets.get(label)?.updatedAt.getTime() ?? 0)
  return marker !== undefined && marker.updatedAt.getTime() >= Math.max(...updates)
}

/** Index in the event record of the first event matching, or -1. */
const pos = (w: World, match: Partial<CallEvent>, from = 0): number => w.indexOf(match, from)
const MARKER_WRITTEN: Partial<CallEvent> = { call: 'write', name: MARKER, phase: 'end', outcome: 'ok' }

const ALL_OLD = { [REPO]: 'old', [ENV]: 'old', [ORG]: 'old' }
const ALL_NEW = { [REPO]: 'new', [ENV]: 'new', [ORG]: 'new' }
const ROTATED = { logins: 2, resets: 1, logouts: 2, proofWrites: 3, newWrites: 3, markerWrites: 0, removes: 0 }
const NOTHING = { logins: 0, resets: 0, logouts: 0, proofWrites: 0, newWrites: 0, markerWrites: 0, removes: 0 }
/** What an unattended run adds to a rotation: its login recorded ahead, and the record removed once the login succeeded. */
const AHEAD = { markerWrites: 1, removes: 1 }

describe('a rotation with nothing in the way', () => {
  test('proves every target, resets once, stores the new password everywhere, verifies it and logs out', async () => {
    const w = world()
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(outcome.message).toContain('stored in every target, and it logs in')
    expect(counts(w)).toEqual(ROTATED)
    expect(holds(w)).toEqual(ALL_NEW)
    expect(w.thingspace.history).toHaveLength(2)
    expect(w.thingspace.openSessions()).toEqual([])
    expect(outcome.targets.map((t) => [t.label, t.holdsNewPassword, t.outcome])).toEqual([
      [REPO, true, 'new password stored'],
      [ENV, true, 'new password stored'],
      [ORG, true, 'new password stored']
    ])
    expect(w.prepareSealCalls).toBe(1)
  })

  test('every proof write ends before the reset is sent, after the login answered', async () => {
    const w = world()
    await run(w)
    const loginAnswered = pos(w, { call: 'login', phase: 'end', outcome: 'ok' })
    const resetSent = pos(w, { call: 'reset', phase: 'start' })
    const proofs = w.events.filter((e) => e.call === 'write' && e.phase === 'end' && e.value === PASSWORD)
    expect(proofs.map((e) => e.label)).toEqual(expect.arrayContaining(labels(THREE)))
    expect(proofs.every((e) => w.events.indexOf(e) > loginAnswered && w.events.indexOf(e) < resetSent)).toBe(true)
  })

  test.each(UNATTENDED)(
    'a %s run records its login in the marker before sending it, and removes the marker once the login succeeds',
    async (eventName) => {
      const w = world()
      const { outcome } = await run(w, { eventName })
      expect(outcome).toMatchObject({
        result: 'rotated',
        ok: true,
        message: 'The password was changed and the new one is stored in every target, and it logs in.'
      })
      expect(counts(w)).toEqual({ ...ROTATED, ...AHEAD })
      expect(w.warnings).toEqual([])
      // token (100 ms), marker written to the first target (50 ms), login (100 ms), marker removed (50 ms), proof
      const timeline = (match: Partial<CallEvent>): number => w.events[pos(w, match)].at - START
      expect({
        tokenEnd: timeline({ call: 'token', phase: 'end' }),
        markerStart: timeline({ call: 'write', name: MARKER, phase: 'start' }),
        markerEnd: timeline(MARKER_WRITTEN),
        loginStart: timeline({ call: 'login', phase: 'start' }),
        loginEnd: timeline({ call: 'login', phase: 'end' }),
        removeStart: timeline({ call: 'remove', phase: 'start' }),
        removeEnd: timeline({ call: 'remove', phase: 'end', outcome: 'ok' }),
        proofStart: timeline({ call: 'write', name: SECRET, phase: 'start' })
      }).toEqual({
        tokenEnd: 100,
        markerStart: 100,
        markerEnd: 150,
        loginStart: 150,
        loginEnd: 250,
        removeStart: 250,
        removeEnd: 300,
        proofStart: 300
      })
      expect(pos(w, MARKER_WRITTEN)).toBeLessThan(pos(w, { call: 'login', phase: 'start' }))
      expect(w.secrets.writes.filter((x) => x.name === MARKER).map((x) => [x.label, x.value])).toEqual([
        [REPO, `a login may count toward the lockout from ${new Date(START + 100).toISOString()}`]
      ])
      expect(w.events.filter((e) => e.call === 'remove' && e.phase === 'start').map((e) => [e.label, e.name])).toEqual([[REPO, MARKER]])
      expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
      expect(holds(w)).toEqual(ALL_NEW)
    }
  )

  test.each([0, 30])('the OAuth token for the login has come before the login is sent (min-age-days %i)', async (minAgeDays) => {
    const w = world()
    await run(w, { minAgeDays })
    expect(w.ts('token').map((e) => e.value)).toEqual(['login', 'reset', 'reset'])
    expect(pos(w, { call: 'token', n: 0, phase: 'end', outcome: 'ok' })).toBeLessThan(pos(w, { call: 'login', phase: 'start' }))
  })

  test('without verify, the new password is stored and no second login is sent', async () => {
    const w = world()
    const { outcome } = await run(w, { verify: false })
    expect(outcome).toMatchObject({ result: 'rotated', ok: true, message: 'The password was changed and the new one is stored in every target.' })
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1 })
    expect(holds(w)).toEqual(ALL_NEW)
  })
})

describe('due check (min-age-days)', () => {
  test('not due: every target was updated within min-age-days, and no ThingSpace request is sent', async () => {
    const w = world(THREE, {}, new Date(START - 10 * DAY))
    const { outcome } = await run(w, { minAgeDays: 30 })
    expect(outcome).toMatchObject({ result: 'not-due', ok: true })
    expect(outcome.message).toContain('ThingSpace was not contacted')
    expect(w.thingspace.calls).toEqual({ token: 0, login: 0, reset: 0, logout: 0 })
    expect(counts(w)).toEqual(NOTHING)
    expect(outcome.targets.map((t) => t.outcome)).toEqual(['unchanged (not due)', 'unchanged (not due)', 'unchanged (not due)'])
    expect(holds(w)).toEqual(ALL_OLD)
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
    expect(counts(w)).toEqual({ ...ROTATED, proofWrites: 2, newWrites: 2 })
    expect(holds(w, ['repo', 'org:acme'])).toEqual({ [REPO]: 'new', [ORG]: 'new' })
  })

  test('with min-age-days 0 the OAuth token is requested alongside the reads; otherwise only after them', async () => {
    const eager = world()
    await run(eager, { minAgeDays: 0 })
    const lazy = world()
    await run(lazy, { minAgeDays: 30 })
    const tokenVsReads = (w: World) => pos(w, { call: 'token', phase: 'start' }) < pos(w, { call: 'inspect', phase: 'end' })
    expect([tokenVsReads(eager), tokenVsReads(lazy)]).toEqual([true, false])
  })
})

describe('stale-password guard', () => {
  test.each([
    [0, 'no login was attempted (only the OAuth token was requested)', 1],
    [30, 'ThingSpace was not contacted', 0]
  ])('a target updated after this run started stops the run before any login (min-age-days %i)', async (minAgeDays, said, tokens) => {
    const w = world()
    w.secrets.put(ENV, 'Newer-Password', new Date(START - 1000))
    const { outcome } = await run(w, { minAgeDays, eventName: 'schedule' })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain(`The password was not changed, and ${said}: ${ENV} had ${SECRET} updated after this workflow run started`)
    expect(w.thingspace.calls).toEqual({ token: tokens, login: 0, reset: 0, logout: 0 })
    expect(counts(w)).toEqual(NOTHING)
    expect(holds(w)).toEqual({ ...ALL_OLD, [ENV]: 'Newer-Password' })
  })

  test("the run's start cannot be read: a warning, and the rotation goes on", async () => {
    const w = world()
    w.secrets.runStart = undefined
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([`Skipping the stale-password check: Could not read workflow run 4242: 403 Resource not accessible by integration`])
    expect(counts(w)).toEqual(ROTATED)
  })

  test('no run id (a local run): the stale check is skipped without asking GitHub', async () => {
    const w = world()
    const { outcome } = await run(w, { runId: undefined, eventName: undefined })
    expect(outcome.result).toBe('rotated')
    expect(w.secrets.calls.runStart).toBe(0)
    expect(counts(w)).toEqual(ROTATED)
  })
})

describe('lockout guard (the marker secret)', () => {
  const marked = (w: World, time: number) => w.secrets.put(REPO, 'a login may have counted', new Date(time), MARKER)

  test.each(['schedule', 'repository_dispatch', 'push', 'workflow_run', 'pull_request'])(
    'a %s run stops with zero logins while the marker is newer than every update',
    async (eventName) => {
      const w = world()
      marked(w, START - DAY)
      const { outcome } = await run(w, { eventName })
      expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
      expect(outcome.message).toBe(
        `The password was not changed, and no login was attempted (only the OAuth token was requested): a login with this password was refused, or may have been counted without an answer, at ${new Date(START - DAY).toISOString()} ` +
          `(recorded in the ${MARKER} secret of ${REPO}), and ${SECRET} has not been updated in any target since. ` +
          `Another failed login would count toward the 5-failure lockout, so runs nobody started by hand stop here. Store the current password in ${SECRET} (or start the workflow by hand to try once).`
      )
      expect(counts(w)).toEqual(NOTHING)
      expect(w.secrets.get(REPO, MARKER)?.updatedAt).toEqual(new Date(START - DAY))
      expect(holds(w)).toEqual(ALL_OLD)
    }
  )

  test.each(ATTENDED)('a run started by %s tries once with a warning, and does not retry a login that got no answer', async (eventName) => {
    const w = world()
    marked(w, START - DAY)
    w.thingspace.script('login', { kind: 'lost', acted: true })
    const { outcome } = await run(w, { eventName })
    expect(w.warnings).toEqual([expect.stringContaining(`trying once, without retrying, because this run was started by ${eventName ?? 'hand'}`)])
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain('got no usable answer')
    expect(outcome.message).toContain('after 1 attempt,')
    expect(outcome.message).toContain(
      `Runs nobody started by hand will not log in again until the password secret is updated (recorded in ${MARKER}).`
    )
    // The marker in force already says so: it is neither written again nor removed.
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1 })
    expect(w.secrets.get(REPO, MARKER)?.updatedAt).toEqual(new Date(START - DAY))
    expect(holds(w)).toEqual(ALL_OLD)
  })

  test('a run started by hand with the marker and a working password rotates, and removes the marker right after the login', async () => {
    const w = world()
    marked(w, START - DAY)
    const { outcome } = await run(w, { eventName: 'workflow_dispatch' })
    expect(outcome.result).toBe('rotated')
    expect(counts(w)).toEqual({ ...ROTATED, removes: 1 })
    expect(pos(w, { call: 'remove', phase: 'start', label: REPO, name: MARKER })).toBe(pos(w, { call: 'login', phase: 'end' }) + 1)
    expect(pos(w, { call: 'remove', phase: 'end', outcome: 'ok' })).toBeLessThan(pos(w, { call: 'write', name: SECRET, phase: 'start' }))
    expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
    expect(w.warnings).toEqual([expect.stringContaining('trying once, without retrying')])
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test.each<[string, string, ReturnType<typeof counts>]>([
    [REPO, 'schedule', { ...ROTATED, ...AHEAD }],
    [ORG, 'schedule', { ...ROTATED, ...AHEAD }],
    [REPO, 'workflow_dispatch', ROTATED]
  ])('a marker older than the last update of the password secret (in %s) is ignored by a %s run', async (updated, eventName, sent) => {
    const w = world()
    marked(w, START - 10 * DAY)
    w.secrets.put(updated, PASSWORD, new Date(START - 9 * DAY))
    const { outcome } = await run(w, { eventName })
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([])
    expect(counts(w)).toEqual(sent)
    expect(markerInForce(w)).toBe(false)
  })

  // After a failed removal the proof writes take the marker out of force, so a fresh login before the
  // reset (the session idled out during a slow proof) is recorded again, ahead of it.
  test('a marker that could not be removed no longer counts once the proof updated the password secret: a fresh login is recorded again', async () => {
    const w = world(THREE, { secrets: { latency: (call, label) => (call === 'write' && label === ENV ? 21 * MINUTE : 50) } })
    w.secrets.removeFails = true
    w.thingspace.script('login', undefined, { kind: 'lost', acted: true }, { kind: 'lost', acted: true })
    const first = await run(w, { eventName: 'schedule' })
    expect(first.outcome.message).toContain(
      `Runs nobody started by hand will not log in again until the password secret is updated (recorded in ${MARKER}).`
    )
    expect(markerInForce(w)).toBe(true)
    const logins = w.thingspace.logins
    w.secrets.runStart = new Date(w.clock.now())
    await w.clock.advance(60 * MINUTE)
    const next = await run(w, { eventName: 'schedule' })
    expect(next.outcome.result).toBe('failed-unchanged')
    expect(w.thingspace.logins - logins).toBe(0)
  })
})

describe('reading the targets', () => {
  test.each([
    [0, 0, 'no login was attempted (only the OAuth token was requested)', 1],
    [1, 30, 'ThingSpace was not contacted', 0],
    [2, 0, 'no login was attempted (only the OAuth token was requested)', 1]
  ])(
    'target %i cannot be read (min-age-days %i): nothing is written and the message says what was sent',
    async (position, minAgeDays, said, tokens) => {
      const w = world()
      const label = labels(THREE)[position]
      w.secrets.failInspect(label)
      const { outcome } = await run(w, { minAgeDays, eventName: 'schedule' })
      expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
      expect(outcome.message).toContain(`The password was not changed, and ${said}: not every target can be read, so none was written.`)
      expect(outcome.message).toContain(`Failed to read the public key of ${label}: 403 Forbidden`)
      expect(outcome.targets[position].outcome).toBe('could not be read')
      expect(w.thingspace.calls).toEqual({ token: tokens, login: 0, reset: 0, logout: 0 })
      expect(counts(w)).toEqual(NOTHING)
      expect(holds(w)).toEqual(ALL_OLD)
    }
  )

  test('an org secret visible to selected repositories, with none selected, is written with a warning', async () => {
    const w = world(['repo', 'org:acme:selected'])
    const { outcome } = await run(w, { targets: ['repo', 'org:acme:selected'] })
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([`org:acme:selected: ${SECRET} will be visible to no repository until you select some in the organization's settings`])
  })
})

describe('login', () => {
  test.each(MODES)('a refused login is never retried, and the refusal is recorded in the first target (%s)', async (eventName, ahead) => {
    const w = world(THREE, { thingspace: { password: 'Changed-Elsewhere' } })
    const { outcome } = await run(w, { eventName })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain(`ThingSpace refused the login for fleet-api`)
    expect(outcome.message).toContain('it was not retried')
    expect(outcome.message).toContain(
      `Runs nobody started by hand will not log in again until the password secret is updated (recorded in ${MARKER})`
    )
    // One marker write in either run: before the login when unattended, after the refusal when started by hand.
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, markerWrites: 1 })
    expect(w.secrets.writesTo(REPO, MARKER)).toBe(1)
    const written = pos(w, MARKER_WRITTEN)
    expect(ahead ? written < pos(w, { call: 'login', phase: 'start' }) : written > pos(w, { call: 'login', phase: 'end' })).toBe(true)
    expect(markerInForce(w)).toBe(true)
    expect(w.thingspace.failedLogins).toBe(1)
    expect(holds(w)).toEqual(ALL_OLD)
  })

  test.each<[string, TsFault]>([
    ['lost', { kind: 'lost', acted: true }],
    ['timed out', { kind: 'timeout', acted: true }],
    ['answered 503', { kind: 'server', status: 503, acted: true }],
    ['answered 429 (not by the gateway)', { kind: 'server', status: 429, acted: true }]
  ])('a login %s twice: recorded before the second attempt, and no third', async (_name, fault) => {
    for (const [eventName, ahead] of MODES) {
      const w = world(THREE, { thingspace: { password: 'Changed-Elsewhere' } })
      w.thingspace.script('login', fault, fault, fault)
      const { outcome } = await run(w, { eventName })
      expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
      expect(outcome.message).toContain('after 2 attempts, and ThingSpace may have counted each as a failed login')
      expect({ eventName, ...counts(w) }).toEqual({ eventName, ...NOTHING, logins: 2, markerWrites: 1 })
      const marker = pos(w, MARKER_WRITTEN)
      const firstLoginStart = pos(w, { call: 'login', n: 0, phase: 'start' })
      const firstLoginEnd = pos(w, { call: 'login', n: 0, phase: 'end' })
      const secondLogin = pos(w, { call: 'login', n: 1, phase: 'start' })
      // Unattended: recorded before the first login; by hand: between the first answer and the second login.
      expect({ eventName, before: marker < firstLoginStart, between: marker > firstLoginEnd && marker < secondLogin }).toEqual({
        eventName,
        before: ahead,
        between: !ahead
      })
      expect(markerInForce(w)).toBe(true)
      expect(w.thingspace.failedLogins).toBe(2)
      expect(holds(w)).toEqual(ALL_OLD)
    }
  })

  test.each(MODES)('a login lost once and answered the second time rotates, and the marker is removed right after (%s)', async (eventName) => {
    const w = world()
    w.thingspace.script('login', { kind: 'lost', acted: true })
    const { outcome } = await run(w, { eventName })
    expect(outcome.result).toBe('rotated')
    expect(counts(w)).toEqual({ ...ROTATED, logins: 3, ...AHEAD })
    expect(pos(w, { call: 'remove', phase: 'start' })).toBe(pos(w, { call: 'login', n: 1, phase: 'end' }) + 1)
    expect(pos(w, { call: 'remove', phase: 'end', outcome: 'ok' })).toBeLessThan(pos(w, { call: 'write', name: SECRET, phase: 'start' }))
    expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test.each(MODES)('a marker that cannot be removed is a warning only (%s)', async (eventName, ahead) => {
    const w = world()
    if (!ahead) w.secrets.put(REPO, 'a login may have counted', new Date(START - DAY), MARKER)
    w.secrets.removeFails = true
    const { outcome } = await run(w, { eventName })
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(w.warnings).toContainEqual(
      `Could not remove ${MARKER} (unattended runs may stop until the password secret is updated): Failed to delete ${MARKER} from ${REPO}: 403 Forbidden`
    )
    expect(counts(w)).toEqual({ ...ROTATED, markerWrites: ahead ? 1 : 0, removes: 1 })
    // Still there, but older than the new password: the next run is not stopped by it.
    expect(w.secrets.get(REPO, MARKER)).toBeDefined()
    expect(markerInForce(w)).toBe(false)
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test.each(MODES)('a login lost, then refused, is not tried a third time (%s)', async (eventName) => {
    const w = world(THREE, { thingspace: { password: 'Changed-Elsewhere' } })
    w.thingspace.script('login', { kind: 'lost', acted: false })
    const { outcome } = await run(w, { eventName })
    expect(outcome.result).toBe('failed-unchanged')
    expect(outcome.message).toContain('refused the login')
    expect(counts(w)).toEqual({ ...NOTHING, logins: 2, markerWrites: 1 })
    expect(markerInForce(w)).toBe(true)
  })

  test.each(MODES)('a login lost, then stopped at the gateway: the marker is kept, since the first may have counted (%s)', async (eventName) => {
    const w = world()
    w.thingspace.script('login', { kind: 'lost', acted: true }, { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    const { outcome } = await run(w, { eventName })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain('ThingSpace login: answered 403, gateway fault 900908: Invalid Credentials')
    expect(counts(w)).toEqual({ ...NOTHING, logins: 2, markerWrites: 1 })
    expect(markerInForce(w)).toBe(true)
  })

  // An earlier attempt of the same run may have counted: the message says so, and the marker is kept.
  test('a login lost, then stopped at the gateway: the message says an earlier login may have counted', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'lost', acted: true }, { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.message).not.toContain('No failed login was counted')
    expect(outcome.message).toContain(`An earlier login of this run may have been counted toward the lockout (recorded in ${MARKER}).`)
    expect(markerInForce(w)).toBe(true)
  })

  test('started by hand, the marker cannot be written after a login that may have counted: no retry, and the message says the record failed', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'timeout', acted: false })
    w.secrets.failWrites(REPO, { status: 403 })
    const { outcome } = await run(w, { eventName: 'workflow_dispatch' })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain(
      `Recording this in ${MARKER} failed (Failed to write ${MARKER} to ${REPO}: 403 Forbidden), so a later run could try again: fix the token's permissions or disable the schedule.`
    )
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, markerWrites: 1 })
    expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
  })

  test.each<[string, string, GhFault]>([
    ['schedule', 'refused', { status: 403 }],
    ['repository_dispatch', 'refused', { status: 403 }],
    ['schedule', 'stored but its answer lost', { acted: true }]
  ])('a %s run whose marker write is %s sends no login at all', async (eventName, _how, fault) => {
    const w = world()
    w.secrets.failWrites(REPO, fault)
    const { outcome } = await run(w, { eventName })
    const why = fault.acted ? 'network error (ECONNRESET)' : '403 Forbidden'
    expect(outcome).toMatchObject({
      result: 'failed-unchanged',
      ok: false,
      message:
        `The password was not changed, and no login was attempted (only the OAuth token was requested): a run nobody started by hand records each login in ${MARKER} before sending it, ` +
        `so that a failure it cannot report still stops the next run, and writing ${MARKER} to ${REPO} failed (Failed to write ${MARKER} to ${REPO}: ${why}). ` +
        `Give the github-token write access to the targets' secrets (see the README's token table).`
    })
    // A write that may have landed (no answer) is removed; one GitHub refused is not.
    expect(counts(w)).toEqual({ ...NOTHING, markerWrites: 1, removes: fault.acted ? 1 : 0 })
    expect(w.thingspace.calls).toEqual({ token: 1, login: 0, reset: 0, logout: 0 })
    expect(holds(w)).toEqual(ALL_OLD)
  })

  // Failures that never reached the user service: nothing was counted, so an unattended run's record
  // ahead of the login is removed again (and a run started by hand never wrote one).
  const NOT_COUNTED: [string, TsFault, string][] = [
    [
      'a gateway 401 (fault 900901)',
      { kind: 'gateway', status: 401, code: 'gateway fault 900901' },
      'ThingSpace login: answered 401, gateway fault 900901: Invalid Credentials'
    ],
    [
      'a gateway 403',
      { kind: 'gateway', status: 403, code: 'gateway fault 900908' },
      'ThingSpace login: answered 403, gateway fault 900908: Invalid Credentials'
    ],
    ['a gateway 429 (throttled)', { kind: 'throttled' }, 'ThingSpace login: answered 429 gateway fault 900800 (Message throttled out)'],
    [
      'an OAuth error',
      { kind: 'oauth', status: 401, code: 'invalid_client' },
      'ThingSpace login: answered 401, invalid_client: Client authentication failed'
    ],
    ['a connection never made', { kind: 'not-sent' }, 'ThingSpace login: could not connect (ECONNREFUSED)'],
    ['a redirect', { kind: 'redirect', status: 302 }, 'ThingSpace login: answered 302 (a redirect, not followed)'],
    ['a 200 without a session token', { kind: 'bad-response' }, 'ThingSpace login: answered 200 without a sessionToken']
  ]

  test.each(NOT_COUNTED)('%s on the login fails unchanged, without a retry, and leaves no marker', async (_name, fault, said) => {
    for (const [eventName, ahead] of MODES) {
      const w = world()
      w.thingspace.script('login', fault)
      const { outcome } = await run(w, { eventName })
      expect(outcome).toMatchObject({
        result: 'failed-unchanged',
        ok: false,
        message: `The password was not changed: ${said}. No failed login was counted, so a new run may try again.`
      })
      expect({ eventName, ...counts(w) }).toEqual({ eventName, ...NOTHING, logins: 1, ...(ahead ? AHEAD : {}) })
      expect(pos(w, { call: 'remove', phase: 'start' })).toBe(ahead ? pos(w, { call: 'login', phase: 'end' }) + 1 : -1)
      expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
      expect(w.thingspace.countedFailures).toBe(0)
      expect(holds(w)).toEqual(ALL_OLD)
    }
  })

  test('a marker written ahead that cannot be removed after a gateway fault is a warning, and stays', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    w.secrets.removeFails = true
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(outcome.message).toContain('No failed login was counted')
    expect(w.warnings).toEqual([
      expect.stringContaining(`Could not remove ${MARKER} (unattended runs may stop until the password secret is updated)`)
    ])
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, ...AHEAD })
    expect(markerInForce(w)).toBe(true)
  })

  test('the OAuth token refused inside the login: the message says no login was attempted', async () => {
    for (const [eventName, ahead] of MODES) {
      const w = world()
      w.thingspace.script('login', { kind: 'oauth', inToken: true })
      const { outcome } = await run(w, { eventName })
      expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
      expect(outcome.message).toBe(
        'The password was not changed, and no login was attempted (only the OAuth token was requested): ThingSpace OAuth token request: answered 401, invalid_client: Client authentication failed'
      )
      expect({ eventName, ...counts(w) }).toEqual({ eventName, ...NOTHING, logins: 1, ...(ahead ? AHEAD : {}) })
      expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
    }
  })

  test.each([0, 30])('the OAuth token for the login refused (min-age-days %i): no login, and nothing recorded, in any run', async (minAgeDays) => {
    for (const [eventName] of MODES) {
      const w = world()
      w.thingspace.script('token', { kind: 'oauth' })
      const { outcome } = await run(w, { eventName, minAgeDays })
      expect(outcome).toMatchObject({
        result: 'failed-unchanged',
        ok: false,
        message:
          'The password was not changed, and no login was attempted (only the OAuth token was requested): ThingSpace OAuth token request: answered 401, invalid_client: Client authentication failed'
      })
      expect({ eventName, ...counts(w) }).toEqual({ eventName, ...NOTHING })
      expect(w.thingspace.calls.token).toBe(1)
    }
  })
})

describe('write proof', () => {
  test.each([0, 1, 2])('target %i refuses the proof write: the reset is never sent', async (position) => {
    const w = world()
    const label = labels(THREE)[position]
    w.secrets.failWrites(label, { status: 403 })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain('not every target can be written, so the reset was not sent')
    expect(outcome.message).toContain(`Failed to write ${SECRET} to ${label}: 403 Forbidden`)
    expect(outcome.targets.map((t) => t.outcome)).toEqual(
      labels(THREE).map((l) => (l === label ? 'not writable' : 'write proven (holds the current password)'))
    )
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, logouts: 1, proofWrites: 3 })
    expect(w.thingspace.openSessions()).toEqual([])
    expect(w.thingspace.password).toBe(PASSWORD)
    expect(holds(w)).toEqual(ALL_OLD)
  })

  test('dry run: the login and every proof write, then a logout; no reset', async () => {
    const w = world()
    const { outcome } = await run(w, { dryRun: true })
    expect(outcome).toMatchObject({ result: 'dry-run', ok: true })
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, logouts: 1, proofWrites: 3 })
    expect(w.thingspace.openSessions()).toEqual([])
    expect(holds(w)).toEqual(ALL_OLD)
  })
})

describe('a session idle too long before the reset', () => {
  const slowProof = (): World => world(THREE, { secrets: { latency: (call, label) => (call === 'write' && label === ENV ? 21 * MINUTE : 50) } })

  test('a login that succeeded resets the count: a fresh login stopped at the gateway says no failed login was counted', async () => {
    const w = slowProof()
    w.thingspace.script('login', { kind: 'lost', acted: true }, undefined, { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    const { outcome } = await run(w, { eventName: 'workflow_dispatch' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(outcome.message).toContain('No failed login was counted, so a new run may try again.')
    expect(outcome.message).not.toContain('An earlier login of this run')
  })

  test('an unattended fresh login whose record ahead fails: the message says a login was attempted earlier', async () => {
    const w = slowProof()
    w.secrets.failWrites(REPO, undefined, undefined, { status: 403 }) // the record ahead, the proof, the record ahead of the fresh login
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(outcome.message).toContain('and a login was attempted earlier, but not the next one: a run nobody started by hand records each login')
    expect(w.ts('login')).toHaveLength(1)
  })

  test.each(MODES)('a proof that takes 21 minutes gets a fresh login, and the reset uses the new session (%s)', async (eventName, ahead) => {
    const w = slowProof()
    const { outcome } = await run(w, { eventName })
    expect(outcome.result).toBe('rotated')
    expect(w.infos).toContain('The ThingSpace session was idle for 1260 s and may have expired; logging in again before the reset')
    expect(w.ts('login').map((e) => e.value)).toEqual([PASSWORD, PASSWORD, w.thingspace.password])
    expect(w.ts('reset')[0].value).toBe('session-2')
    // Unattended: each login with the current password is recorded ahead, and the record removed after it.
    expect(counts(w)).toEqual({ ...ROTATED, logins: 3, ...(ahead ? { markerWrites: 2, removes: 2 } : {}) })
    const markers = w.events.filter((e) => e.call === 'write' && e.name === MARKER && e.phase === 'end').map((e) => w.events.indexOf(e))
    expect(markers.map((i, n) => i < pos(w, { call: 'login', n, phase: 'start' }))).toEqual(ahead ? [true, true] : [])
    expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
    expect(w.thingspace.openSessions()).toEqual([])
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test.each<[string, string, TsFault[], ReturnType<typeof counts>, string, boolean]>([
    [
      'lost twice',
      'workflow_dispatch',
      [{ kind: 'lost' }, { kind: 'lost' }],
      { ...NOTHING, logins: 3, proofWrites: 3, markerWrites: 1 },
      'after 2 attempts',
      true
    ],
    [
      'lost twice',
      'schedule',
      [{ kind: 'lost' }, { kind: 'lost' }],
      { ...NOTHING, logins: 3, proofWrites: 3, markerWrites: 2, removes: 1 },
      'after 2 attempts',
      true
    ],
    ['refused', 'workflow_dispatch', [{ kind: 'refused' }], { ...NOTHING, logins: 2, proofWrites: 3, markerWrites: 1 }, 'it was not retried', true],
    [
      'refused',
      'schedule',
      [{ kind: 'refused' }],
      { ...NOTHING, logins: 2, proofWrites: 3, markerWrites: 2, removes: 1 },
      'it was not retried',
      true
    ],
    [
      'stopped at the gateway',
      'workflow_dispatch',
      [{ kind: 'gateway', status: 403, code: 'gateway fault 900908' }],
      { ...NOTHING, logins: 2, proofWrites: 3 },
      'No failed login was counted',
      false
    ],
    [
      'stopped at the gateway',
      'schedule',
      [{ kind: 'gateway', status: 403, code: 'gateway fault 900908' }],
      { ...NOTHING, logins: 2, proofWrites: 3, markerWrites: 2, removes: 2 },
      'No failed login was counted',
      false
    ]
  ])('the fresh login %s (%s): failed-unchanged, no reset, the first session not reused', async (_name, eventName, faults, sent, said, marked) => {
    const w = slowProof()
    w.thingspace.script('login', undefined, ...faults)
    const { outcome } = await run(w, { eventName })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain(said)
    expect(counts(w)).toEqual(sent)
    expect(w.ts('logout')).toEqual([])
    expect(markerInForce(w)).toBe(marked)
    expect(holds(w)).toEqual(ALL_OLD)
  })

  test('a login answer that states a shorter idle lifetime is honoured', async () => {
    const w = world(THREE, { thingspace: { sessionLifetimeMs: 5 * MINUTE }, secrets: { latency: (call) => (call === 'write' ? 4.5 * MINUTE : 50) } })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(counts(w).logins).toBe(3)
  })

  test('a session idle just under the limit is used as it is', async () => {
    const w = world(THREE, { secrets: { latency: (call) => (call === 'write' ? 18 * MINUTE : 50) } })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
    expect(counts(w)).toEqual(ROTATED)
  })

  // The real client may wait up to 92 s for a lapsing OAuth token (reset timeout 60 s + 30 s margin + 2 s
  // skew), more than the idle check's 60 s margin, so the idle time is checked after that wait.
  test('a session that lapses while the reset token is awaited is renewed before the reset', async () => {
    const w = world(THREE, {
      thingspace: { latency: (call, n) => (call === 'token' && n === 1 ? 92_000 : 100) },
      secrets: { latency: (call, label) => (call === 'write' && label === ENV ? 18.5 * MINUTE : 50) }
    })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('rotated')
  })
})

describe('reset outcomes: sent exactly once whatever happens', () => {
  test.each<[string, TsFault, 'failed-unchanged' | 'failed-unknown', string, boolean]>([
    [
      'refused (400 errorCode)',
      { kind: 'refused', code: 'REQUEST_FAILED.PasswordMismatch' },
      'failed-unchanged',
      'the reset was not processed',
      false
    ],
    [
      'refused: session expired',
      { kind: 'refused', code: 'REQUEST_FAILED.SessionToken.Expired' },
      'failed-unchanged',
      'The session was no longer valid.',
      false
    ],
    [
      'gateway 401 (fault 900901)',
      { kind: 'gateway', status: 401, code: 'gateway fault 900901' },
      'failed-unchanged',
      'a new run may start at once',
      false
    ],
    ['gateway 403', { kind: 'gateway', status: 403, code: 'gateway fault 900908' }, 'failed-unchanged', 'a new run may start at once', false],
    ['never sent (connection refused)', { kind: 'not-sent' }, 'failed-unchanged', 'could not connect (ECONNREFUSED)', false],
    ['its OAuth token refused', { kind: 'oauth', inToken: true }, 'failed-unchanged', 'ThingSpace OAuth token request', false],
    ['answered 500, not acted on', { kind: 'server', status: 500 }, 'failed-unknown', 'answered 500', false],
    ['answered 502 after acting', { kind: 'server', status: 502, acted: true }, 'failed-unknown', 'answered 502', true],
    ['answered 429', { kind: 'server', status: 429 }, 'failed-unknown', 'answered 429', false],
    // The gateway's own 429 is treated like any 429 after the reset was sent: its outcome is not claimed.
    ['answered 429 by the gateway (throttled)', { kind: 'throttled' }, 'failed-unknown', 'answered 429 gateway fault 900800', false],
    ['answered 302', { kind: 'redirect', status: 302 }, 'failed-unknown', 'answered 302 (a redirect, not followed)', false],
    ['lost after acting', { kind: 'lost', acted: true }, 'failed-unknown', 'the connection failed before an answer came', true],
    ['lost before acting', { kind: 'lost' }, 'failed-unknown', 'the connection failed before an answer came', false],
    ['timed out after acting', { kind: 'timeout', acted: true }, 'failed-unknown', 'no answer within 60 s', true],
    ['answered 204 without a new password', { kind: 'bad-response', status: 204 }, 'failed-unknown', 'answered 204', true]
  ])('reset %s', async (_name, fault, result, said, changed) => {
    const w = world()
    w.thingspace.script('reset', fault)
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result, ok: false })
    expect(outcome.message).toContain(said)
    expect(outcome.message).toContain(result === 'failed-unknown' ? 'Do not re-run this workflow' : 'The password was not changed')
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, resets: 1, logouts: 1, proofWrites: 3 })
    expect(w.thingspace.password !== PASSWORD).toBe(changed)
    expect(holds(w)).toEqual(ALL_OLD)
  })
})

describe('storing the new password', () => {
  const failEnvStore = (w: World, fault: GhFault = { status: 403 }) => w.secrets.failWrites(ENV, undefined, fault)

  test('a target refuses the new password, no recovery key: failed-changed names the holders and the target that does not hold it', async () => {
    const w = world()
    failEnvStore(w)
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(outcome.recoveryCiphertext).toBeUndefined()
    expect(outcome.message).toContain(
      `The password WAS changed: the old one no longer works. The new password is stored only in ${REPO}, ${ORG}. Not stored in: ${ENV}.`
    )
    expect(outcome.message).toContain('No recovery-public-key was given, so there is no recovery-ciphertext.')
    expect(outcome.targets.map((t) => t.holdsNewPassword)).toEqual([true, false, true])
    expect(outcome.targets[1].outcome).toBe(`NOT stored, still holds the old password: Failed to write ${SECRET} to ${ENV}: 403 Forbidden`)
    expect(counts(w)).toEqual({ ...ROTATED, newWrites: 3 })
    expect(holds(w)).toEqual({ ...ALL_NEW, [ENV]: 'old' })
  })

  test('a target refuses the new password, with a recovery key: the recovery ciphertext opens to the new password', async () => {
    const w = world()
    failEnvStore(w)
    const { outcome } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(outcome.message).toContain('It is in the recovery-ciphertext output and the job summary, sealed to your recovery key')
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

describe('verify and logout', () => {
  test('the verify login is refused: rotated but failing, and the refusal recorded', async () => {
    const w = world()
    w.thingspace.script('login', undefined, { kind: 'refused', code: 'REQUEST_FAILED.InvalidCredentials' })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: false })
    expect(outcome.message).toContain('the verify login with the new password failed (ThingSpace login: answered 400')
    expect(outcome.message).toContain(`Unattended runs will not log in until the password secret is updated (recorded in ${MARKER}).`)
    expect(counts(w)).toEqual({ ...ROTATED, logouts: 1, markerWrites: 1 })
    expect(markerInForce(w)).toBe(true)
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('the verify login gets no answer: rotated but failing, and recorded since it may have counted', async () => {
    const w = world()
    w.thingspace.script('login', undefined, { kind: 'lost' })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: false })
    expect(outcome.message).toContain('it was not retried.')
    expect(outcome.message).toContain(`Unattended runs will not log in until the password secret is updated (recorded in ${MARKER}).`)
    expect(counts(w)).toEqual({ ...ROTATED, logouts: 1, markerWrites: 1 })
    expect(markerInForce(w)).toBe(true)
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('the verify login stopped at the gateway: rotated but failing, and nothing recorded', async () => {
    const w = world()
    w.thingspace.script('login', undefined, { kind: 'gateway', status: 403, code: 'gateway fault 900908' })
    const { outcome } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: false })
    expect(outcome.message).not.toContain(MARKER)
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

  test('a verify failure while a store failed still reports failed-changed', async () => {
    const w = world()
    w.thingspace.script('login', undefined, { kind: 'refused' })
    w.secrets.failWrites(ORG, undefined, { status: 403 })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('failed-changed')
    expect(counts(w).markerWrites).toBe(1)
  })
})

describe('cancellation in every phase', () => {
  const sigint = KILL_AFTER_MS.SIGINT - REPORT_MARGIN_MS

  const LOGGED_IN = { ...NOTHING, logins: 1, logouts: 1 }
  // Each phase twice: the signal as the call starts (before the guard is attached), and 10 ms into it; in
  // a run started by hand and in an unattended one, which records its login (50 ms) before sending it
  // and removes the record (50 ms) once the login succeeded.
  test.each<[string, string, number, Partial<CallEvent>, ReturnType<typeof counts>, number, string]>([
    ['the reads', 'workflow_dispatch', 0, { call: 'inspect' }, NOTHING, 0, 'no login was attempted (only the OAuth token was requested)'],
    ['the reads', 'schedule', 10, { call: 'inspect' }, NOTHING, 0, 'no login was attempted (only the OAuth token was requested)'],
    // An abandoned login may have been counted: started by hand, the marker is written (50 ms) before the report;
    // unattended, it was written before the login, and is kept (not removed after a cancellation).
    ['the login', 'workflow_dispatch', 0, { call: 'login' }, { ...NOTHING, logins: 1, markerWrites: 1 }, 50, 'a login was attempted'],
    ['the login', 'workflow_dispatch', 10, { call: 'login' }, { ...NOTHING, logins: 1, markerWrites: 1 }, 50, 'a login was attempted'],
    ['the login', 'schedule', 0, { call: 'login' }, { ...NOTHING, logins: 1, markerWrites: 1 }, 0, 'a login was attempted'],
    ['the login', 'repository_dispatch', 10, { call: 'login' }, { ...NOTHING, logins: 1, markerWrites: 1 }, 0, 'a login was attempted'],
    // Proof writes still queued when the signal comes are not sent; the session is logged out (100 ms).
    ['the write proof', 'workflow_dispatch', 0, { call: 'write', name: SECRET }, { ...LOGGED_IN, proofWrites: 1 }, 100, 'a login was attempted'],
    ['the write proof', 'workflow_dispatch', 10, { call: 'write', name: SECRET }, { ...LOGGED_IN, proofWrites: 3 }, 100, 'a login was attempted'],
    ['the write proof', 'schedule', 0, { call: 'write', name: SECRET }, { ...LOGGED_IN, proofWrites: 1, ...AHEAD }, 100, 'a login was attempted'],
    ['the write proof', 'schedule', 10, { call: 'write', name: SECRET }, { ...LOGGED_IN, proofWrites: 3, ...AHEAD }, 100, 'a login was attempted'],
    ['the wait for the reset token', 'workflow_dispatch', 0, { call: 'token', n: 1 }, { ...LOGGED_IN, proofWrites: 3 }, 100, 'a login was attempted'],
    [
      'the wait for the reset token',
      'workflow_dispatch',
      10,
      { call: 'token', n: 1 },
      { ...LOGGED_IN, proofWrites: 3 },
      100,
      'a login was attempted'
    ],
    [
      'the wait for the reset token',
      'schedule',
      0,
      { call: 'token', n: 1 },
      { ...LOGGED_IN, proofWrites: 3, ...AHEAD },
      100,
      'a login was attempted'
    ],
    [
      'the wait for the reset token',
      'schedule',
      10,
      { call: 'token', n: 1 },
      { ...LOGGED_IN, proofWrites: 3, ...AHEAD },
      100,
      'a login was attempted'
    ]
  ])('during %s (%s run, signal %i ms in): failed-unchanged at once, no reset', async (_phase, eventName, delay, match, sent, afterMs, said) => {
    const w = world().signalOn({ ...match, phase: 'start' }, 'SIGINT', delay)
    const { outcome, at } = await run(w, { eventName })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false })
    expect(outcome.message).toContain(`the runner cancelled the step (SIGINT) before the reset was sent, and ${said}`)
    const started = w.events.find(
      (e) => e.phase === 'start' && e.call === match.call && e.name === match.name && (match.n === undefined || e.n === match.n)
    )!
    expect(w.signals[0].at).toBe(started.at + delay)
    expect(at - w.signals[0].at).toBe(afterMs)
    expect(counts(w)).toEqual(sent)
    expect(w.thingspace.password).toBe(PASSWORD)
  })

  test.each(MODES)('during the wait for the login token (%s run): no login was attempted, and nothing is recorded', async (eventName) => {
    const w = world().signalOn({ call: 'token', n: 0, phase: 'start' }, 'SIGINT', 10)
    const { outcome, at } = await run(w, { eventName, minAgeDays: 30 })
    expect(outcome).toMatchObject({
      result: 'failed-unchanged',
      ok: false,
      message:
        'The password was not changed: the runner cancelled the step (SIGINT) before the reset was sent, and no login was attempted (only the OAuth token was requested).'
    })
    expect(at).toBe(w.signals[0].at)
    expect(counts(w)).toEqual(NOTHING)
    expect(w.secrets.get(REPO, MARKER)).toBeUndefined()
  })

  test('during the marker write ahead of the login: the login is not sent', async () => {
    const w = world().signalOn({ call: 'write', name: MARKER, phase: 'start' }, 'SIGINT', 10)
    const { outcome, at } = await run(w, { eventName: 'schedule' })
    expect(outcome).toMatchObject({
      result: 'failed-unchanged',
      ok: false,
      message:
        'The password was not changed: the runner cancelled the step (SIGINT) before the reset was sent, and no login was attempted (only the OAuth token was requested).'
    })
    // The write in flight is waited for (40 ms more) and removed (50 ms), then the run ends without a login.
    expect(at - w.signals[0].at).toBe(90)
    expect(counts(w)).toEqual({ ...NOTHING, markerWrites: 1, removes: 1 })
  })

  // A record ahead of a login that was never sent (the run was cancelled during the write, or the write
  // landed but its answer was lost) is removed, so the next unattended run is not stopped for nothing.
  test.each<[string, (w: World) => void]>([
    ['the run is cancelled during the marker write', (w) => void w.signalOn({ call: 'write', name: MARKER, phase: 'start' }, 'SIGINT', 10)],
    ["the marker write's answer is lost after it landed", (w) => void w.secrets.failWrites(REPO, { acted: true })]
  ])('no login sent because %s: the record of it is not left in force', async (_name, arrange) => {
    const w = world()
    arrange(w)
    await run(w, { eventName: 'schedule' })
    expect(counts(w).logins).toBe(0)
    expect(markerInForce(w)).toBe(false)
  })

  // Lockout budget: a login abandoned by the cancellation guard may have reached the user service and
  // been counted, like a lost answer, so the marker records it for the next unattended run.
  test.each(MODES)('a login abandoned by a cancellation is recorded like any login that may have counted (%s)', async (eventName, ahead) => {
    const w = world(THREE, { thingspace: { password: 'Changed-Elsewhere' } }).signalOn({ call: 'login', phase: 'start' }, 'SIGINT', 10)
    const { outcome } = await run(w, { eventName })
    expect(outcome.message).toBe(
      'The password was not changed: the runner cancelled the step (SIGINT) before the reset was sent, and a login was attempted.'
    )
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, markerWrites: 1 })
    const written = pos(w, MARKER_WRITTEN)
    expect(ahead ? written < pos(w, { call: 'login', phase: 'start' }) : written > pos(w, { call: 'login', phase: 'start' })).toBe(true)
    expect(markerInForce(w)).toBe(true)
  })

  test('during a lost login before the marker is written: no second login', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'lost', acted: true })
    w.signalOn({ call: 'write', name: MARKER, phase: 'start' })
    const { outcome } = await run(w)
    expect(outcome.result).toBe('failed-unchanged')
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, markerWrites: 1 })
    expect(markerInForce(w)).toBe(true)
  })

  test('during a lost login of an unattended run: no second login, and the record ahead is kept', async () => {
    const w = world()
    w.thingspace.script('login', { kind: 'lost', acted: true })
    w.signalOn({ call: 'login', phase: 'end' })
    const { outcome } = await run(w, { eventName: 'schedule' })
    expect(outcome.result).toBe('failed-unchanged')
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, markerWrites: 1 })
    expect(markerInForce(w)).toBe(true)
  })

  test('during the reset, answered before the deadline: stored everywhere, rotated, no verify login', async () => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 3000 : 100) } }).signalOn({ call: 'reset', phase: 'start' })
    const { outcome, at } = await run(w)
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(at).toBeLessThan(w.deadline()!)
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1 })
    expect(holds(w)).toEqual(ALL_NEW)
  })

  test('during the reset, answered before the deadline, one store failing: failed-changed with the escrow', async () => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 3000 : 100) } }).signalOn({ call: 'reset', phase: 'start' })
    w.secrets.failWrites(ORG, undefined, { status: 403 })
    const { outcome } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome.result).toBe('failed-changed')
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(holds(w)).toEqual({ ...ALL_NEW, [ORG]: 'old' })
  })

  test('during the reset, answered after the deadline: failed-unknown exactly at the deadline', async () => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 20_000 : 100) } }).signalOn({ call: 'reset', phase: 'start' })
    const { outcome, at } = await run(w)
    expect(outcome).toMatchObject({ result: 'failed-unknown', ok: false })
    expect(outcome.message).toContain('(the runner cancelled the step before the answer came)')
    expect(at).toBe(w.deadline())
    expect(at - w.signals[0].at).toBe(sigint)
    expect(counts(w)).toEqual({ ...NOTHING, logins: 1, resets: 1, logouts: 1, proofWrites: 3 })
  })

  test('during the stores: the write still in flight at the deadline is reported unknown', async () => {
    const w = world(THREE, {
      secrets: { latency: (call, label, n) => (call === 'write' && label === ENV && n === 1 ? 60_000 : 50) }
    }).signalOn({ call: 'write', label: ENV, n: 1, phase: 'start' })
    const { outcome, at } = await run(w, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false })
    expect(at).toBe(w.deadline())
    expect(outcome.targets[1].outcome).toBe('unknown: the write had not finished when the runner cancelled the step')
    expect(outcome.message).toContain(
      `Unknown (no answer came, or the step was cancelled before it did; the write may have landed: check the secret's updated time): ${ENV}.`
    )
    expect(outcome.message).toContain(`The new password is confirmed stored only in ${REPO}, ${ORG}.`)
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1 })
  })

  test('during the stores, every write unfinished at the deadline and no recovery key: the password is said lost only if none landed', async () => {
    const w = world(THREE, { secrets: { latency: (call, _label, n) => (call === 'write' && n === 1 ? 60_000 : 50) } }).signalOn({
      call: 'write',
      label: ENV,
      n: 1,
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
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1 })
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
    }).signalOn({ call: 'write', label: ENV, n: 1, phase: 'start' }, 'SIGTERM')
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
    expect(counts(w)).toEqual({ ...ROTATED, logins: 1, logouts: 1 })
  })

  test.each<[string, [number, string][], number]>([
    ['SIGTERM alone', [[0, 'SIGTERM']], 1500],
    ['SIGINT alone', [[0, 'SIGINT']], 9000],
    [
      'SIGINT, then SIGTERM 7.5 s later',
      [
        [0, 'SIGINT'],
        [7500, 'SIGTERM']
      ],
      9000
    ],
    [
      'SIGINT, then SIGTERM 1 s later',
      [
        [0, 'SIGINT'],
        [1000, 'SIGTERM']
      ],
      2500
    ],
    [
      'SIGTERM, then SIGINT',
      [
        [0, 'SIGTERM'],
        [500, 'SIGINT']
      ],
      1500
    ],
    ['an unknown signal', [[0, 'SIGHUP']], 1500]
  ])('%s during a hung reset: failed-unknown at kill time minus the report margin', async (_name, signals, after) => {
    const w = world(THREE, { thingspace: { latency: (call) => (call === 'reset' ? 60_000 : 100) } })
    w.on({ call: 'reset', phase: 'start' }, () => {
      for (const [delay, signal] of signals) w.clock.schedule(delay, () => w.signal(signal))
    })
    const { outcome, at } = await run(w)
    expect(outcome.result).toBe('failed-unknown')
    expect(at - w.ts('reset')[0].at).toBe(after)
  })
})

describe('every session that was opened is logged out', () => {
  test.each<[string, (w: World) => void, SettingsOptions]>([
    ['a rotation', () => {}, {}],
    ['a dry run', () => {}, { dryRun: true }],
    ['a proof failure', (w) => void w.secrets.failWrites(ORG, { status: 403 }), {}],
    ['a refused reset', (w) => void w.thingspace.script('reset', { kind: 'refused' }), {}],
    ['a lost reset', (w) => void w.thingspace.script('reset', { kind: 'lost', acted: true }), {}],
    ['a partial store', (w) => void w.secrets.failWrites(ORG, undefined, { status: 403 }), {}],
    ['a refused verify', (w) => void w.thingspace.script('login', undefined, { kind: 'refused' }), {}],
    ['a token failure before the reset', (w) => void w.thingspace.script('token', undefined, { kind: 'oauth' }), {}],
    ['a login retried after a lost answer', (w) => void w.thingspace.script('login', { kind: 'lost', acted: true }), {}],
    ['a cancellation during the proof', (w) => void w.signalOn({ call: 'write', name: SECRET, phase: 'start' }), {}]
  ])('after %s', async (_name, arrange, options) => {
    for (const eventName of ['workflow_dispatch', 'schedule']) {
      const w = world()
      arrange(w)
      await run(w, { eventName, ...options })
      const received = w.events.filter((e) => e.call === 'login' && e.phase === 'end' && e.outcome === 'ok').map((e) => e.value)
      const loggedOut = w.ts('logout').map((e) => e.value)
      expect(received.length).toBeGreaterThan(0)
      expect({ eventName, loggedOut: loggedOut.sort() }).toEqual({ eventName, loggedOut: received.sort() })
      expect(w.thingspace.openSessions()).toEqual([])
    }
  })
})
