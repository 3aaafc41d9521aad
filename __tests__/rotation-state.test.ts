/**
 * The rotation state on its own (src/rotation-state.ts), against a minimal fake of its port on the
 * fake clock: which record is in force (`lockoutDecision`: ties, the legacy marker, only the home
 * target), the proof (one write of the rotation-state secret per target, the home one being the record
 * ahead), the per-run login budget (`loginFailed`), which records `settle()` removes in every
 * combination of record, logins and a moved secret, and `verifyFailed()`, which writes a fresh record
 * only after the removal that settling started.
 */
import { describe, expect, test } from '@jest/globals'
import { Cancellation, CancelledError } from '../src/cancellation.ts'
import type { TargetState } from '../src/github-secrets.ts'
import { lastStore, lockoutDecision, RotationState, type StatePort } from '../src/rotation-state.ts'
import { parseTargets, type Target } from '../src/targets.ts'
import type { ThingSpaceError } from '../src/thingspace.ts'
import { type FailureKind } from '../src/thingspace.ts'
import { DAY, FakeClock, REPOSITORY, START, tsError } from './support/fakes.ts'

const [repo, env, org] = parseTargets(['repo', 'env:prod', 'org:acme'], REPOSITORY)
const STATE = 'P_ROTATION'
const LEGACY = 'P_REJECTED'
const LABEL = 'thingspace-password-rotation acme/fleet run 7'

function state(target: Target, s: { stored?: number; record?: number; legacy?: number } = {}): TargetState {
  return {
    target,
    publicKey: { keyId: 'k', key: 'pk' },
    existing: s.stored === undefined ? undefined : { updatedAt: new Date(s.stored) },
    recordAt: s.record === undefined ? undefined : new Date(s.record),
    legacyMarkedAt: s.legacy === undefined ? undefined : new Date(s.legacy)
  }
}

/** The port: every call recorded with its start and end on the fake clock; per-label write faults, removal faults. */
class Port implements StatePort {
  readonly stateName = STATE
  readonly legacyMarkerName = LEGACY
  readonly log: string[] = []
  readonly writes: { label: string; name: string; text: string; signal?: AbortSignal }[] = []
  readonly writeFails = new Map<string, Error>()
  removeFails: Error | undefined
  /** A removal that never answers (to meet the deadline). */
  removeHangs = false
  private readonly clock: FakeClock
  private readonly latency = { write: 50, remove: 70 }
  constructor(clock: FakeClock) {
    this.clock = clock
  }

  write = async (st: TargetState, text: string, name = 'P', signal?: AbortSignal): Promise<void> => {
    this.writes.push({ label: st.target.label, name, text, signal })
    this.log.push(`write ${name} ${st.target.label} start`)
    await this.clock.sleep(this.latency.write)
    this.log.push(`write ${name} ${st.target.label} end`)
    const fault = this.writeFails.get(st.target.label)
    if (fault) throw fault
  }

  remove = async (st: TargetState, name: string): Promise<void> => {
    this.log.push(`remove ${name} ${st.target.label} start`)
    await (this.removeHangs ? new Promise<void>(() => {}) : this.clock.sleep(this.latency.remove))
    this.log.push(`remove ${name} ${st.target.label} end`)
    if (this.removeFails) throw this.removeFails
  }

  removed(): string[] {
    return this.log.filter((l) => l.startsWith('remove') && l.endsWith('start')).map((l) => l.split(' ')[1])
  }
}

interface Harness {
  clock: FakeClock
  port: Port
  cancel: Cancellation
  warnings: string[]
  rs: RotationState
  /** Runs a promise to its end on the fake clock. */
  drive: <T>(p: Promise<T>) => Promise<T>
}

function harness(states: TargetState[], attended = false): Harness {
  const clock = new FakeClock()
  const port = new Port(clock)
  const cancel = new Cancellation(clock.now, clock.schedule)
  const warnings: string[] = []
  const rs = new RotationState(states, attended, { github: port, cancel, now: clock.now, log: { warning: (m) => void warnings.push(m) } }, LABEL)
  const drive = async <T>(p: Promise<T>): Promise<T> => {
    const settled = await clock.drive(p)
    if (settled.status === 'rejected') throw settled.reason
    return settled.value
  }
  return { clock, port, cancel, warnings, rs, drive }
}

const refused = (): ThingSpaceError => tsError('login', { kind: 'refused' })
const failure = (kind: FailureKind): ThingSpaceError => tsError('login', { kind })

describe('lastStore', () => {
  test.each([
    { name: 'no targets', states: [], at: 0 },
    { name: 'no target holds the secret', states: [state(repo), state(env)], at: 0 },
    {
      name: 'the latest of the targets that hold it',
      states: [state(repo, { stored: START - DAY }), state(env), state(org, { stored: START - 2 * DAY })],
      at: START - DAY
    }
  ])('$name', ({ states, at }) => {
    expect(lastStore(states)).toBe(at)
  })
})

describe('lockoutDecision', () => {
  const stored = START - 2 * DAY
  test.each([
    { name: 'no record, no legacy marker', home: {}, others: [], attended: false, kind: 'clear' },
    {
      name: 'a record newer than every store, unattended',
      home: { stored, record: stored + 1 },
      others: [],
      attended: false,
      kind: 'stop',
      at: stored + 1,
      legacy: false
    },
    {
      name: 'a record newer than every store, attended',
      home: { stored, record: stored + 1 },
      others: [],
      attended: true,
      kind: 'try-once',
      at: stored + 1,
      legacy: false
    },
    // GitHub's times are to the second: a record of the same second as the store is taken as later (the strict side).
    {
      name: 'a record at the same instant as the last store (a tie)',
      home: { stored, record: stored },
      others: [],
      attended: false,
      kind: 'stop',
      at: stored,
      legacy: false
    },
    { name: 'a record 1 ms older than the last store', home: { stored, record: stored - 1 }, others: [], attended: false, kind: 'clear' },
    {
      name: 'a record older than a store in another target',
      home: { stored, record: stored + 10 },
      others: [{ stored: stored + 11 }],
      attended: false,
      kind: 'clear'
    },
    {
      name: 'a record, and no target holds the secret',
      home: { record: stored },
      others: [{}],
      attended: false,
      kind: 'stop',
      at: stored,
      legacy: false
    },
    {
      name: 'a legacy marker in force',
      home: { stored, legacy: stored + 5 },
      others: [],
      attended: false,
      kind: 'stop',
      at: stored + 5,
      legacy: true
    },
    {
      name: 'a legacy marker in force, attended',
      home: { stored, legacy: stored + 5 },
      others: [],
      attended: true,
      kind: 'try-once',
      at: stored + 5,
      legacy: true
    },
    {
      name: 'a legacy marker tied with the last store',
      home: { stored, legacy: stored },
      others: [],
      attended: false,
      kind: 'stop',
      at: stored,
      legacy: true
    },
    { name: 'a legacy marker older than the last store', home: { stored, legacy: stored - 1 }, others: [], attended: false, kind: 'clear' },
    {
      name: 'both in force, the record later',
      home: { stored, record: stored + 9, legacy: stored + 3 },
      others: [],
      attended: false,
      kind: 'stop',
      at: stored + 9,
      legacy: false
    },
    {
      name: 'both in force, the legacy marker later',
      home: { stored, record: stored + 3, legacy: stored + 9 },
      others: [],
      attended: false,
      kind: 'stop',
      at: stored + 9,
      legacy: true
    },
    {
      name: 'a stale record and a legacy marker in force',
      home: { stored, record: stored - 9, legacy: stored + 3 },
      others: [],
      attended: false,
      kind: 'stop',
      at: stored + 3,
      legacy: true
    },
    {
      name: 'a record in force and a stale legacy marker',
      home: { stored, record: stored + 3, legacy: stored - 9 },
      others: [],
      attended: true,
      kind: 'try-once',
      at: stored + 3,
      legacy: false
    }
  ])('$name: $kind', ({ home, others, attended, kind, at, legacy }) => {
    const states = [state(repo, home), ...others.map((o, i) => state([env, org][i], o))]
    expect(lockoutDecision(states, attended)).toEqual(kind === 'clear' ? { kind } : { kind, recordedAt: new Date(at!), legacy })
  })

  test('only the home target carries the record: one read from another target is ignored', () => {
    expect(lockoutDecision([state(repo, { stored: START - DAY }), state(env, { stored: START - DAY, record: START, legacy: START })], false)).toEqual(
      {
        kind: 'clear'
      }
    )
  })

  test('no targets: clear', () => {
    expect(lockoutDecision([], false)).toEqual({ kind: 'clear' })
  })
})

describe('prove', () => {
  test('writes the rotation-state secret into every target at once, never the password secret, and resolves with each write', async () => {
    const h = harness([state(repo, { stored: START - DAY }), state(env), state(org)])
    h.port.writeFails.set(env.label, new Error('403 Forbidden'))
    const signal = new AbortController().signal
    const settled = await h.drive(h.rs.prove(signal))
    expect(settled).toEqual([
      { status: 'fulfilled', value: undefined },
      { status: 'rejected', reason: new Error('403 Forbidden') },
      { status: 'fulfilled', value: undefined }
    ])
    expect(h.port.writes.map((w) => [w.label, w.name, w.signal === signal])).toEqual([
      [repo.label, STATE, true],
      [env.label, STATE, true],
      [org.label, STATE, true]
    ])
    // All three were sent before the first answered.
    expect(h.port.log.slice(0, 3)).toEqual([
      `write ${STATE} ${repo.label} start`,
      `write ${STATE} ${env.label} start`,
      `write ${STATE} ${org.label} start`
    ])
    expect(new Set(h.port.writes.map((w) => w.text))).toEqual(
      new Set([`${LABEL}: write proof; a login may count toward the lockout from ${new Date(START).toISOString()}`])
    )
  })
})

describe('loginFailed: what counts, and what is sent again', () => {
  test.each([
    { name: 'a refusal', kind: 'refused', next: 'stop', counted: 1 },
    { name: 'an answer in an unknown shape', kind: 'unrecognised', next: 'stop', counted: 1 },
    { name: 'a lost answer', kind: 'lost', next: 'retry', counted: 1 },
    { name: 'a timeout', kind: 'timeout', next: 'retry', counted: 1 },
    { name: 'a 5xx', kind: 'server', next: 'retry', counted: 1 },
    { name: 'a redirect (may have counted, not sent again)', kind: 'redirect', next: 'stop', counted: 1 },
    { name: 'a 200 without a session token', kind: 'bad-response', next: 'stop', counted: 1 },
    { name: 'a gateway fault', kind: 'gateway', next: 'stop', counted: 0 },
    { name: "the gateway's own 429", kind: 'throttled', next: 'stop', counted: 0 },
    { name: 'an OAuth error', kind: 'oauth', next: 'stop', counted: 0 },
    { name: 'a connection never made', kind: 'not-sent', next: 'stop', counted: 0 }
  ] as const)('$name: $next, $counted counted', ({ kind, next, counted }) => {
    const { rs } = harness([state(repo)])
    expect(rs.loginFailed(failure(kind))).toBe(next)
    expect(rs.countedAttempts).toBe(counted)
  })

  test.each([
    { name: 'an error of the token call inside the login', error: tsError('token', { kind: 'lost' }), counted: 0 },
    { name: 'an error that is not ThingSpace\u2019s', error: new Error('boom'), counted: 0 },
    // A login abandoned in flight may have reached the user service like one whose answer was lost.
    { name: 'a cancellation while the login was in flight', error: new CancelledError('SIGINT'), counted: 1 }
  ])('$name: stop, $counted counted', ({ error, counted }) => {
    const { rs } = harness([state(repo)])
    expect(rs.loginFailed(error)).toBe('stop')
    expect(rs.countedAttempts).toBe(counted)
  })

  test('one retry per run: a second lost answer stops, and both count', () => {
    const { rs } = harness([state(repo)])
    expect([rs.loginFailed(failure('lost')), rs.loginFailed(failure('timeout')), rs.countedAttempts]).toEqual(['retry', 'stop', 2])
  })

  test('the retry is spent for the run: a success in between does not give it back, but does reset the count', () => {
    const { rs } = harness([state(repo)])
    rs.loginFailed(failure('lost'))
    rs.loginSucceeded()
    expect(rs.countedAttempts).toBe(0)
    expect([rs.loginFailed(failure('lost')), rs.countedAttempts]).toEqual(['stop', 1])
  })

  test('after a try-once decision a lost answer is not sent again', () => {
    const { rs } = harness([state(repo, { stored: START - DAY, record: START - 1 })], true)
    expect(rs.decision.kind).toBe('try-once')
    expect([rs.loginFailed(failure('lost')), rs.countedAttempts]).toEqual(['stop', 1])
  })

  test('after a signal a lost answer is not sent again', () => {
    const { rs, cancel } = harness([state(repo)])
    cancel.receive('SIGINT')
    expect([rs.loginFailed(failure('lost')), rs.countedAttempts]).toEqual(['stop', 1])
    cancel.dispose()
  })
})

describe('settle: which records come off', () => {
  const LOST = (): ThingSpaceError => failure('lost')
  const GATEWAY = (): ThingSpaceError => failure('gateway')
  type Step = 'ok' | 'refused' | 'lost' | 'gateway' | 'cancelled'
  const apply = (rs: RotationState, steps: Step[]): void => {
    for (const s of steps) {
      if (s === 'ok') rs.loginSucceeded()
      else rs.loginFailed(s === 'refused' ? refused() : s === 'lost' ? LOST() : s === 'gateway' ? GATEWAY() : new CancelledError('SIGINT'))
    }
  }
  const FRESH = { stored: START - DAY }
  const EARLIER = { stored: START - DAY, record: START - 1 }
  test.each([
    // Only this run's record (written ahead by the proof).
    { name: 'own record, the login succeeded', home: FRESH, proved: true, logins: ['ok'], moved: false, removed: [STATE] },
    { name: 'own record, no login sent', home: FRESH, proved: true, logins: [], moved: false, removed: [STATE] },
    { name: 'own record, the login stopped at the gateway', home: FRESH, proved: true, logins: ['gateway'], moved: false, removed: [STATE] },
    { name: 'own record, the login refused', home: FRESH, proved: true, logins: ['refused'], moved: false, removed: [] },
    { name: 'own record, the login lost', home: FRESH, proved: true, logins: ['lost'], moved: false, removed: [] },
    { name: 'own record, the login abandoned on a signal', home: FRESH, proved: true, logins: ['cancelled'], moved: false, removed: [] },
    { name: 'own record, lost then the gateway', home: FRESH, proved: true, logins: ['lost', 'gateway'], moved: false, removed: [] },
    { name: 'own record, lost then succeeded', home: FRESH, proved: true, logins: ['lost', 'ok'], moved: false, removed: [STATE] },
    { name: 'own record, succeeded then a fresh login lost', home: FRESH, proved: true, logins: ['ok', 'lost'], moved: false, removed: [] },
    {
      name: 'own record, succeeded then a fresh login at the gateway',
      home: FRESH,
      proved: true,
      logins: ['ok', 'gateway'],
      moved: false,
      removed: [STATE]
    },
    // The password secret changed since this run read it: its refusal says nothing about the value there now.
    { name: 'own record, refused while the secret moved', home: FRESH, proved: true, logins: ['refused'], moved: true, removed: [STATE] },
    // An earlier run's record in force: it still stands unless a login succeeded.
    { name: 'earlier record, the login succeeded', home: EARLIER, proved: true, logins: ['ok'], moved: false, removed: [STATE] },
    { name: 'earlier record, no login sent', home: EARLIER, proved: true, logins: [], moved: false, removed: [] },
    { name: 'earlier record, the login at the gateway', home: EARLIER, proved: true, logins: ['gateway'], moved: false, removed: [] },
    { name: 'earlier record, the login refused', home: EARLIER, proved: true, logins: ['refused'], moved: false, removed: [] },
    { name: 'earlier record, refused while the secret moved', home: EARLIER, proved: true, logins: ['refused'], moved: true, removed: [] },
    // No proof written (the run stopped before it): there is no record of this run to remove.
    { name: 'no record, not proved', home: FRESH, proved: false, logins: [], moved: false, removed: [] },
    // The marker of an earlier version: removed only once a login succeeded.
    {
      name: 'legacy marker in force, the login succeeded',
      home: { stored: START - DAY, legacy: START - 1 },
      proved: true,
      logins: ['ok'],
      moved: false,
      removed: [STATE, LEGACY]
    },
    {
      name: 'stale legacy marker, the login succeeded',
      home: { stored: START - DAY, legacy: START - 2 * DAY },
      proved: true,
      logins: ['ok'],
      moved: false,
      removed: [STATE, LEGACY]
    },
    { name: 'legacy marker, no login sent', home: { stored: START - DAY, legacy: START - 1 }, proved: true, logins: [], moved: false, removed: [] },
    {
      name: 'stale legacy marker, no login sent',
      home: { stored: START - DAY, legacy: START - 2 * DAY },
      proved: true,
      logins: [],
      moved: false,
      removed: [STATE]
    },
    {
      name: 'legacy marker, the login lost',
      home: { stored: START - DAY, legacy: START - 1 },
      proved: true,
      logins: ['lost'],
      moved: false,
      removed: []
    },
    {
      name: 'legacy marker, refused while the secret moved',
      home: { stored: START - DAY, legacy: START - 1 },
      proved: true,
      logins: ['refused'],
      moved: true,
      removed: []
    },
    {
      // Nothing of this run to remove (no proof, no record in force); the stale legacy marker still comes off.
      name: 'stale legacy marker, not proved, the login succeeded',
      home: { stored: START - DAY, legacy: START - 2 * DAY },
      proved: false,
      logins: ['ok'],
      moved: false,
      removed: [LEGACY]
    }
  ] as { name: string; home: object; proved: boolean; logins: Step[]; moved: boolean; removed: string[] }[])(
    '$name: removes $removed',
    async ({ home, proved, logins, moved, removed }) => {
      const h = harness([state(repo, home), state(env, { stored: START - DAY })], true)
      if (proved) await h.drive(h.rs.prove(new AbortController().signal))
      apply(h.rs, logins)
      await h.drive(h.rs.settle({ secretMoved: moved }))
      expect(h.port.removed()).toEqual(removed)
      expect(
        h.port.log.filter((l) => l.startsWith('remove')).every((l) => l.endsWith(repo.label + ' start') || l.endsWith(repo.label + ' end'))
      ).toBe(true)
      expect(h.warnings).toEqual([])
    }
  )

  test('runs once: a second settle (even with secretMoved) removes nothing more', async () => {
    const h = harness([state(repo, { stored: START - DAY })])
    await h.drive(h.rs.prove(new AbortController().signal))
    h.rs.loginFailed(refused())
    await h.drive(h.rs.settle())
    await h.drive(h.rs.settle({ secretMoved: true }))
    expect(h.port.removed()).toEqual([])
  })

  test('a removal that fails is a warning naming the secret and the target, and the next removal is still tried', async () => {
    const h = harness([state(repo, { stored: START - DAY, legacy: START - 1 })], true)
    h.port.removeFails = new Error('Failed to delete: 403 Forbidden')
    await h.drive(h.rs.prove(new AbortController().signal))
    h.rs.loginSucceeded()
    await h.drive(h.rs.settle())
    expect(h.port.removed()).toEqual([STATE, LEGACY])
    expect(h.warnings).toEqual(
      [STATE, LEGACY].map(
        (name) =>
          `Could not remove ${name} from ${repo.label} (runs nobody started by hand may stop until the password secret is updated): Failed to delete: 403 Forbidden`
      )
    )
  })

  test('a removal that hangs after a signal is given up at the deadline, with a warning', async () => {
    const h = harness([state(repo, { stored: START - DAY })])
    await h.drive(h.rs.prove(new AbortController().signal))
    h.rs.loginSucceeded()
    h.port.removeHangs = true
    h.cancel.receive('SIGTERM')
    const settled = await h.clock.drive(h.rs.settle())
    expect(settled).toMatchObject({ status: 'fulfilled', at: START + 50 + 1500 })
    expect(h.warnings).toEqual([expect.stringContaining(`Could not remove ${STATE} from ${repo.label}`)])
    h.cancel.dispose()
  })
})

describe('verifyFailed: a fresh record after the stores', () => {
  test('waits for the removal that settling started, then writes the record: the record is never removed after it lands', async () => {
    const h = harness([state(repo, { stored: START - DAY }), state(env)])
    await h.drive(h.rs.prove(new AbortController().signal))
    h.rs.loginSucceeded()
    h.port.log.length = 0
    const settling = h.rs.settle()
    const recorded = await h.drive(h.rs.verifyFailed(failure('lost'), true))
    await h.drive(settling)
    expect(recorded).toEqual({ recorded: true })
    expect(h.port.log).toEqual([
      `remove ${STATE} ${repo.label} start`,
      `remove ${STATE} ${repo.label} end`,
      `write ${STATE} ${repo.label} start`,
      `write ${STATE} ${repo.label} end`
    ])
    expect(h.port.writes.at(-1)?.text).toBe(`${LABEL}: the verify login may count toward the lockout from ${new Date(START + 50 + 70).toISOString()}`)
  })

  test('starts the removal itself when nothing settled yet, and still writes after it', async () => {
    const h = harness([state(repo, { stored: START - DAY })])
    await h.drive(h.rs.prove(new AbortController().signal))
    h.rs.loginSucceeded()
    h.port.log.length = 0
    expect(await h.drive(h.rs.verifyFailed(refused(), true))).toEqual({ recorded: true })
    expect(h.port.log.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      `remove ${STATE}`,
      `remove ${STATE}`,
      `write ${STATE}`,
      `write ${STATE}`
    ])
  })

  test.each([
    { name: 'a failure that never reached the user service', error: failure('gateway'), homeHolds: true },
    { name: 'the home target no longer holds this run\u2019s password', error: refused(), homeHolds: false },
    { name: 'a lost answer, the home target written again', error: failure('lost'), homeHolds: false }
  ])('nothing is written after $name', async ({ error, homeHolds }) => {
    const h = harness([state(repo, { stored: START - DAY })])
    await h.drive(h.rs.prove(new AbortController().signal))
    h.rs.loginSucceeded()
    const before = h.port.writes.length
    expect(await h.drive(h.rs.verifyFailed(error, homeHolds))).toEqual({ recorded: false })
    expect(h.port.writes.length).toBe(before)
  })

  test('a fresh record that cannot be written says why', async () => {
    const h = harness([state(repo, { stored: START - DAY })])
    await h.drive(h.rs.prove(new AbortController().signal))
    h.rs.loginSucceeded()
    h.port.writeFails.set(repo.label, new Error('Failed to write P_ROTATION to repo: 403 Forbidden'))
    expect(await h.drive(h.rs.verifyFailed(refused(), true))).toEqual({ recorded: false, why: 'Failed to write P_ROTATION to repo: 403 Forbidden' })
  })
})
