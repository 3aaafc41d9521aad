/**
 * Alternating usernames (issue 19, src/alternation.ts) in process: the pure check that a reset of the
 * standby cannot break a consumer (`pairProblems`), the two username stores (`usernamesAsSecrets`,
 * `usernamesAsVariables`), and the flow with the fakes of support/fakes.ts: it logs in as the standby
 * and resets only it; in every target at once it writes the username, then the password once the
 * username landed, and writes the username back to the active one when the password cannot be written
 * (or the username may have landed alone), so no target is left with half a pair unless it says so; it
 * keeps the previous pair as the standby in the home target (its password, then its username), proves a
 * variable store with a variable it removes again, names the standby's secret wherever the standby's
 * password is what failed, and stops before any login when a pair or the standby changed after the job
 * started, or when a target names the standby or missed the last rotation's pair.
 *
 * The fake ThingSpace holds one user, the standby (STANDBY_USERNAME): every login the flow sends must
 * name it, so a login as the active username (whose pair consumers hold) shows as a refusal here.
 */
import { describe, expect, test } from '@jest/globals'
import { pairProblems, usernamesAsSecrets, usernamesAsVariables, ONE_ROTATION_MS, type PairState } from '../src/alternation.ts'
import type { TargetState } from '../src/github-secrets.ts'
import type { GitHubVariables } from '../src/github-variables.ts'
import type { Alternation } from '../src/inputs.ts'
import { parseTargets } from '../src/targets.ts'
import {
  alternation,
  DAY,
  labels,
  makeSettings,
  MINUTE,
  openSealed,
  PASSWORD,
  RESET_UNKNOWN,
  RECOVERY_KEY,
  REPOSITORY,
  SECRET,
  STANDBY_PASSWORD,
  STANDBY_SECRET,
  STANDBY_USERNAME,
  STANDBY_USERNAME_NAME,
  START,
  STATE,
  USERNAME,
  USERNAME_NAME,
  World,
  type CallEvent,
  type GhFault,
  type RunResult,
  type SecretsOptions,
  type SettingsOptions,
  type TsFault
} from './support/fakes.ts'

type Kind = Alternation['usernameKind']
const KINDS: { kind: Kind }[] = [{ kind: 'variable' }, { kind: 'secret' }]
const THREE = ['repo', 'env:prod', 'org:acme']
const [REPO, ENV, ORG] = labels(THREE)
const OLD = new Date(START - 100 * DAY)
const RUN_LABEL = 'thingspace-password-rotation acme/fleet run 4242'

// ---------------------------------------------------------------------------------------------------
// pairProblems

describe('pairProblems', () => {
  const [repo, env, org] = parseTargets(THREE, REPOSITORY)
  const ALT = alternation('variable')
  const T = START - DAY
  type Held = { password?: number; username?: { value?: string; at: number } }
  const state = (target: typeof repo, held: Held): TargetState => ({
    target,
    publicKey: { keyId: 'k', key: 'pk' },
    existing: held.password === undefined ? undefined : { updatedAt: new Date(held.password) }
  })
  const pair = (held: Held): PairState => ({
    username:
      held.username === undefined
        ? undefined
        : { ...(held.username.value === undefined ? {} : { value: held.username.value }), updatedAt: new Date(held.username.at) }
  })
  const both = (at: number, value: string | undefined = USERNAME): Held => ({ password: at, username: { value, at } })
  const NAMES_STANDBY = (label: string) =>
    `${label}: ${USERNAME_NAME} names ${STANDBY_USERNAME}, the username this run would reset, so its consumers use it`
  const APART = (label: string) => `${label}: ${USERNAME_NAME} and the password secret were not written by the same rotation`
  const BEHIND = (list: string, newest: number) =>
    `${list} did not get the pair the last rotation stored at ${new Date(newest).toISOString()} (their password secret is older)`

  test.each([
    { name: 'no target holds a pair yet (the first rotation)', held: [{}, {}, {}], problems: [] },
    { name: 'every target holds the active pair of one rotation', held: [both(T), both(T + 1000), both(T + 2000)], problems: [] },
    // Switching from one username: no target names a username yet, so none can name the standby.
    { name: 'password secrets only (switching from one username)', held: [{ password: T }, { password: T + 1000 }, { password: T }], problems: [] },
    // Usernames kept as secrets: their values cannot be read, only their dates.
    { name: 'usernames as secrets, one rotation', held: [both(T, undefined), both(T, undefined), both(T, undefined)], problems: [] },
    { name: 'a target that names the standby', held: [both(T), both(T, STANDBY_USERNAME), both(T)], problems: [NAMES_STANDBY(env.label)] },
    {
      name: 'a target that names the standby and holds no password secret yet',
      held: [both(T), { username: { value: STANDBY_USERNAME, at: T } }, both(T)],
      problems: [NAMES_STANDBY(env.label)]
    },
    {
      name: 'a target that names a third username',
      held: [both(T), both(T), both(T, 'someone-else')],
      problems: [`${org.label}: ${USERNAME_NAME} names someone-else, neither ${USERNAME} (active) nor ${STANDBY_USERNAME} (standby)`]
    },
    {
      name: 'a username written more than one rotation apart from its password secret',
      held: [both(T), { password: T, username: { value: USERNAME, at: T - ONE_ROTATION_MS - 1 } }, both(T)],
      problems: [APART(env.label)]
    },
    {
      name: 'a username written exactly one rotation apart from its password secret',
      held: [both(T), { password: T, username: { value: USERNAME, at: T + ONE_ROTATION_MS } }, both(T)],
      problems: []
    },
    {
      name: 'a username secret (no value) written apart from its password secret',
      held: [both(T, undefined), { password: T, username: { at: T + DAY } }, both(T, undefined)],
      problems: [APART(env.label)]
    },
    {
      name: 'a target whose pair is older than the last rotation\u2019s',
      held: [both(T), both(T - ONE_ROTATION_MS - 1), both(T)],
      problems: [BEHIND(env.label, T)]
    },
    { name: 'targets exactly one rotation apart', held: [both(T), both(T - ONE_ROTATION_MS), both(T)], problems: [] },
    {
      name: 'two targets behind the newest',
      held: [both(T - DAY), both(T), both(T - 2 * DAY)],
      problems: [BEHIND(`${repo.label}, ${org.label}`, T)]
    },
    {
      name: 'one target holds the password secret but no username, which the others hold',
      held: [both(T), { password: T }, both(T)],
      problems: [`${env.label} holds the password secret but not ${USERNAME_NAME}, which other targets hold`]
    },
    {
      name: 'two targets hold the password secret but no username',
      held: [{ password: T }, both(T), { password: T }],
      problems: [`${repo.label}, ${org.label} hold the password secret but not ${USERNAME_NAME}, which other targets hold`]
    },
    {
      name: 'every problem at once, in order: names, dates, lagging targets, missing usernames',
      held: [both(T, STANDBY_USERNAME), { password: T - DAY, username: { value: USERNAME, at: T } }, { password: T }],
      problems: [
        NAMES_STANDBY(repo.label),
        APART(env.label),
        BEHIND(env.label, T),
        `${org.label} holds the password secret but not ${USERNAME_NAME}, which other targets hold`
      ]
    }
  ] as { name: string; held: Held[]; problems: string[] }[])('$name', ({ held, problems }) => {
    const targets = [repo, env, org]
    expect(
      pairProblems(
        held.map((h, i) => state(targets[i], h)),
        held.map(pair),
        ALT,
        USERNAME
      )
    ).toEqual(problems)
  })
})

// ---------------------------------------------------------------------------------------------------
// The username stores

/** Runs a promise to its end on the world's fake clock. */
async function drive<T>(w: World, p: Promise<T>): Promise<T> {
  const settled = await w.clock.drive(p)
  if (settled.status === 'rejected') throw settled.reason
  return settled.value
}

describe('usernamesAsSecrets: the usernames as secrets, whose values cannot be read back', () => {
  test('reads a date and never a value, writes and removes through the secrets client', async () => {
    const w = new World()
    w.secrets.put(REPO, USERNAME, OLD, USERNAME_NAME)
    const port = usernamesAsSecrets(w.secrets)
    const [target] = parseTargets(['repo'], REPOSITORY)
    const st = await drive(w, w.secrets.inspect(target))
    const done = await drive(
      w,
      (async () => {
        const read = await port.read(target, USERNAME_NAME)
        const none = await port.read(target, STANDBY_USERNAME_NAME)
        const written = await port.write(st, STANDBY_USERNAME_NAME, STANDBY_USERNAME, false)
        await port.remove(st, USERNAME_NAME)
        return { read, none, written }
      })()
    )
    expect(done).toEqual({ read: { updatedAt: OLD }, none: undefined, written: 'created' })
    expect(w.secrets.value(REPO, STANDBY_USERNAME_NAME)).toBe(STANDBY_USERNAME)
    expect(w.secrets.get(REPO, USERNAME_NAME)).toBeUndefined()
  })
})

describe('usernamesAsVariables: the active username with the password secret\u2019s visibility, the action\u2019s own variables private', () => {
  test.each([
    { name: 'a repository', line: 'repo', selected: undefined, username: { visibility: 'private', selectedRepositoryIds: undefined } },
    {
      name: 'an organization, visible to all',
      line: 'org:acme:all',
      selected: undefined,
      username: { visibility: 'all', selectedRepositoryIds: undefined }
    },
    {
      name: 'an organization, visible to selected repositories',
      line: 'org:acme:selected',
      selected: [101, 102],
      username: { visibility: 'selected', selectedRepositoryIds: [101, 102] }
    }
  ])('$name', async ({ line, selected, username }) => {
    const w = new World({ secrets: { selected: { [labels([line])[0]]: selected ?? [] } } })
    const [target] = parseTargets([line], REPOSITORY)
    const port = usernamesAsVariables(w.variables as Pick<GitHubVariables, 'read' | 'write' | 'remove'> as GitHubVariables, USERNAME_NAME)
    const st = await drive(w, w.secrets.inspect(target))
    await drive(
      w,
      Promise.all([
        port.write(st, USERNAME_NAME, STANDBY_USERNAME, true),
        port.write(st, STANDBY_USERNAME_NAME, USERNAME, false),
        port.write(st, STATE, 'proof', false)
      ])
    )
    expect(w.variables.writes.map((x) => [x.name, x.existed, x.access])).toEqual([
      [USERNAME_NAME, true, username],
      [STANDBY_USERNAME_NAME, false, { visibility: 'private', selectedRepositoryIds: undefined }],
      [STATE, false, { visibility: 'private', selectedRepositoryIds: undefined }]
    ])
    expect(await drive(w, port.read(target, USERNAME_NAME))).toEqual({
      value: STANDBY_USERNAME,
      updatedAt: new Date(START + 100),
      visibility: username.visibility
    })
    await drive(w, port.remove(st, STATE))
    expect(w.variables.get(target.label, STATE)).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------------
// The alternating flow

interface Setup {
  targets?: string[]
  /** When every pair (and the standby) was stored. */
  at?: Date
  /** What the username store of each target names (undefined: nothing there yet). */
  named?: (string | undefined)[]
  /** Whether the home target holds the standby pair yet. */
  standby?: boolean
  secrets?: SecretsOptions
}

/** The usernames' store of one kind, read and written alike. */
const store = (w: World, kind: Kind) => ({
  put: (label: string, name: string, value: string, at: Date) =>
    void (kind === 'variable' ? w.variables.put(label, name, value, at) : w.secrets.put(label, value, at, name)),
  value: (label: string, name = USERNAME_NAME) => (kind === 'variable' ? w.variables.value(label, name) : w.secrets.value(label, name))
})

/**
 * Every target holds the active pair (USERNAME, PASSWORD) and the home target the standby pair
 * (STANDBY_USERNAME, STANDBY_PASSWORD), all stored at `at`; ThingSpace knows the standby username.
 */
function altWorld(kind: Kind, setup: Setup = {}): World {
  const { targets = THREE, at = OLD, standby = true } = setup
  const ls = labels(targets)
  const named = setup.named ?? ls.map(() => USERNAME)
  const w = new World({ thingspace: { username: STANDBY_USERNAME, password: STANDBY_PASSWORD }, secrets: setup.secrets })
  const s = store(w, kind)
  ls.forEach((label, i) => {
    w.secrets.put(label, PASSWORD, at)
    if (named[i] !== undefined) s.put(label, USERNAME_NAME, named[i], at)
  })
  if (standby) {
    w.secrets.put(ls[0], STANDBY_PASSWORD, at, STANDBY_SECRET)
    s.put(ls[0], STANDBY_USERNAME_NAME, STANDBY_USERNAME, at)
  }
  return w
}

function run(w: World, kind: Kind, options: SettingsOptions = {}): Promise<RunResult> {
  return w.rotate(makeSettings({ targets: THREE, alternation: alternation(kind), ...options }))
}

/** What every target gives its consumers: [password, username]; the home target's standby pair too. */
function pairs(w: World, kind: Kind, targets = THREE): Record<string, (string | undefined)[]> {
  const s = store(w, kind)
  const ls = labels(targets)
  return {
    ...Object.fromEntries(ls.map((l) => [l, [w.secrets.value(l), s.value(l)]])),
    standby: [w.secrets.value(ls[0], STANDBY_SECRET), s.value(ls[0], STANDBY_USERNAME_NAME)]
  }
}

const OLD_PAIRS = {
  [REPO]: [PASSWORD, USERNAME],
  [ENV]: [PASSWORD, USERNAME],
  [ORG]: [PASSWORD, USERNAME],
  standby: [STANDBY_PASSWORD, STANDBY_USERNAME]
}
/** After a rotation: the standby is the active pair everywhere with its new password, and the previous active pair is the standby. */
const swapped = (w: World) => ({
  [REPO]: [w.thingspace.password, STANDBY_USERNAME],
  [ENV]: [w.thingspace.password, STANDBY_USERNAME],
  [ORG]: [w.thingspace.password, STANDBY_USERNAME],
  standby: [PASSWORD, USERNAME]
})

/** Writes sent, by store and name: secrets (`write`) and variables (`vwrite`). */
function writesOf(w: World, name: string, call: 'write' | 'vwrite' = 'write'): CallEvent[] {
  return w.events.filter((e) => e.call === call && e.phase === 'start' && e.name === name)
}

/** Nothing a consumer reads, nor the standby pair, was written. */
function consumerWrites(w: World): string[] {
  return w.events
    .filter((e) => (e.call === 'write' || e.call === 'vwrite') && e.phase === 'start' && e.name !== STATE && e.name !== RESET_UNKNOWN)
    .map((e) => `${e.label} ${e.name}`)
}

const SWAPPED_MESSAGE = (verified: boolean) =>
  `The password of ${STANDBY_USERNAME} was changed, and ${STANDBY_USERNAME} with its new password is now the active pair in every target${verified ? ' (it logs in)' : ''}; ` +
  `${USERNAME}, unchanged and still valid, is the standby, so copies of it keep working until the next rotation.`

describe('a rotation with alternating usernames', () => {
  test.each(KINDS)(
    'usernames as $kind: logs in as the standby and resets only it; the new pair is active everywhere, and the previous pair is the standby',
    async ({ kind }) => {
      const w = altWorld(kind)
      const { outcome, at } = await run(w, kind, { eventName: 'schedule' })
      expect(outcome).toMatchObject({ result: 'rotated', ok: true, message: SWAPPED_MESSAGE(true), activeUsername: STANDBY_USERNAME })
      expect(outcome.usernames).toEqual({
        active: STANDBY_USERNAME,
        activeResetAt: new Date(at).toISOString(),
        standby: USERNAME,
        standbyResetAt: OLD.toISOString(),
        name: USERNAME_NAME,
        kind
      })
      // Every login names the standby: the first with its password, the verify login with the new one.
      expect(w.ts('login').map((e) => [e.username, e.value])).toEqual([
        [STANDBY_USERNAME, STANDBY_PASSWORD],
        [STANDBY_USERNAME, w.thingspace.password]
      ])
      expect(w.thingspace.resets).toBe(1)
      expect(w.thingspace.history).toEqual([STANDBY_PASSWORD, w.thingspace.password])
      expect(pairs(w, kind)).toEqual(swapped(w))
      expect(outcome.targets.map((t) => [t.label, t.holdsNewPassword, t.outcome])).toEqual(
        labels(THREE).map((l) => [l, true, `new password stored, with ${USERNAME_NAME} = ${STANDBY_USERNAME}`])
      )
      // Each store written once, the standby pair once, and no other secret of a consumer's.
      expect(consumerWrites(w).sort()).toEqual(
        [
          ...labels(THREE).flatMap((l) => [`${l} ${SECRET}`, `${l} ${USERNAME_NAME}`]),
          `${REPO} ${STANDBY_SECRET}`,
          `${REPO} ${STANDBY_USERNAME_NAME}`
        ].sort()
      )
      expect(labels(THREE).map((l) => [w.secrets.get(l, STATE), w.variables.get(l, STATE)])).toEqual(labels(THREE).map(() => [undefined, undefined]))
      expect(w.warnings).toEqual([])
      expect(w.thingspace.openSessions()).toEqual([])
    }
  )

  test('usernames as variables: each write says whether the variable existed (an update) or not (a creation)', async () => {
    // ENV is a new target: no password secret and no username yet.
    const w = altWorld('variable', { targets: ['repo', 'org:acme'], standby: false })
    const { outcome } = await run(w, 'variable', { targets: THREE })
    expect(outcome.result).toBe('rotated')
    expect(w.variables.writes.filter((x) => x.name !== STATE).map((x) => [x.label, x.name, x.existed])).toEqual([
      [REPO, USERNAME_NAME, true],
      [ENV, USERNAME_NAME, false],
      [ORG, USERNAME_NAME, true],
      [REPO, STANDBY_USERNAME_NAME, false]
    ])
  })

  // Switching from one username: no target names a username yet, and the home target holds no standby pair.
  test.each(KINDS)(
    'the first alternating rotation (usernames as $kind): every target gets the pair, the home target the standby',
    async ({ kind }) => {
      const w = altWorld(kind, { named: [undefined, undefined, undefined], standby: false })
      const { outcome } = await run(w, kind)
      expect(outcome).toMatchObject({ result: 'rotated', activeUsername: STANDBY_USERNAME })
      expect(pairs(w, kind)).toEqual(swapped(w))
    }
  )

  test.each(KINDS)('without verify (usernames as $kind): one login as the standby, and the message does not say it logs in', async ({ kind }) => {
    const w = altWorld(kind)
    const { outcome } = await run(w, kind, { verify: false })
    expect(outcome).toMatchObject({ result: 'rotated', ok: true, message: SWAPPED_MESSAGE(false) })
    expect(w.ts('login').map((e) => e.username)).toEqual([STANDBY_USERNAME])
  })

  test('an organization home target: the username variable gets the password secret\u2019s visibility, the standby and the proof stay private', async () => {
    const targets = ['org:acme:selected', 'repo']
    const w = altWorld('variable', { targets, secrets: { selected: { 'org:acme:selected': [101, 102] } } })
    const { outcome } = await run(w, 'variable', { targets })
    expect(outcome.result).toBe('rotated')
    const home = labels(targets)[0]
    expect(w.variables.writes.filter((x) => x.label === home).map((x) => [x.name, x.access])).toEqual([
      [STATE, { visibility: 'private', selectedRepositoryIds: undefined }],
      [USERNAME_NAME, { visibility: 'selected', selectedRepositoryIds: [101, 102] }],
      [STANDBY_USERNAME_NAME, { visibility: 'private', selectedRepositoryIds: undefined }]
    ])
  })

  test.each(KINDS)(
    'a dry run (usernames as $kind) logs in as the standby and writes nothing a consumer reads, nor the standby pair',
    async ({ kind }) => {
      const w = altWorld(kind)
      const { outcome } = await run(w, kind, { dryRun: true })
      expect(outcome).toMatchObject({ result: 'dry-run', ok: true, activeUsername: USERNAME })
      expect(outcome.usernames).toMatchObject({ active: USERNAME, standby: STANDBY_USERNAME })
      expect(w.ts('login').map((e) => e.username)).toEqual([STANDBY_USERNAME])
      expect(consumerWrites(w)).toEqual([])
      expect(pairs(w, kind)).toEqual(OLD_PAIRS)
    }
  )

  test('not due: nothing is sent to ThingSpace or written, and the active username stays', async () => {
    const w = altWorld('variable', { at: new Date(START - DAY) })
    const { outcome } = await run(w, 'variable', { minAgeDays: 30 })
    expect(outcome).toMatchObject({ result: 'not-due', activeUsername: USERNAME })
    expect(outcome.usernames).toEqual({
      active: USERNAME,
      activeResetAt: new Date(START - DAY).toISOString(),
      standby: STANDBY_USERNAME,
      standbyResetAt: 'unknown',
      name: USERNAME_NAME,
      kind: 'variable'
    })
    expect(w.thingspace.calls).toEqual({ token: 0, login: 0, reset: 0, logout: 0 })
    expect(w.secrets.writes).toEqual([])
    expect(w.variables.writes).toEqual([])
  })
})

describe('the new pair goes out username first, then password, in every target at once', () => {
  /** Per target: when its username write and its password write started, and when the username write answered. */
  function timeline(w: World, targets: string[]): { label: string; username: number; usernameAnswered: number; password: number }[] {
    return labels(targets).map((label) => {
      const of = (name: string, phase: 'start' | 'end') =>
        w.events.find((e) => (e.call === 'write' || e.call === 'vwrite') && e.phase === phase && e.label === label && e.name === name)!.at
      return { label, username: of(USERNAME_NAME, 'start'), usernameAnswered: of(USERNAME_NAME, 'end'), password: of(SECRET, 'start') }
    })
  }

  test.each([
    // Variables answer in 50 ms, secrets in 300 ms.
    { kind: 'variable', usernameMs: 50 },
    { kind: 'secret', usernameMs: 300 }
  ] as { kind: Kind; usernameMs: number }[])(
    'usernames as $kind: every target\u2019s username is sent at the instant the reset answered, and its password the instant the username landed; the standby\u2019s password first, then its username',
    async ({ kind, usernameMs }) => {
      const w = altWorld(kind, { secrets: { latency: { write: 300, inspect: 50 } } })
      await run(w, kind)
      const resetAt = w.ts('reset', 'end')[0].at
      expect(timeline(w, THREE)).toEqual(
        labels(THREE).map((label) => ({ label, username: resetAt, usernameAnswered: resetAt + usernameMs, password: resetAt + usernameMs }))
      )
      const standbyPassword = writesOf(w, STANDBY_SECRET)
      const standbyUsername = writesOf(w, STANDBY_USERNAME_NAME, kind === 'variable' ? 'vwrite' : 'write')
      expect([...standbyPassword, ...standbyUsername].map((e) => e.at)).toEqual([resetAt, resetAt + 300])
      expect(pairs(w, kind)).toEqual(swapped(w))
    }
  )

  // Usernames as secrets share the secrets client's queue (10 writes at a time) with the passwords and the standby.
  test('usernames as secrets with 12 targets: the usernames first, each password once its username landed, never more than 10 writes at once', async () => {
    const targets = Array.from({ length: 12 }, (_, i) => `repo:acme/r${i + 1}`)
    const w = altWorld('secret', { targets, secrets: { latency: { write: 300, inspect: 50 } } })
    const { outcome } = await run(w, 'secret', { targets })
    expect(outcome.result).toBe('rotated')
    const resetAt = w.ts('reset', 'end')[0].at
    const waves = (at: number) => (at - resetAt) / 300
    const t = timeline(w, targets)
    // 12 usernames and the standby's password are sent at the reset: 10 go out, 3 wait for the first answers.
    expect(t.map((x) => waves(x.username))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    // Each password is queued the instant its username landed, behind what was already waiting.
    expect(t.map((x) => waves(x.password))).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    expect(t.filter((x) => x.password < x.usernameAnswered)).toEqual([])
    expect([...writesOf(w, STANDBY_SECRET), ...writesOf(w, STANDBY_USERNAME_NAME)].map((e) => waves(e.at))).toEqual([1, 2])
    // The window after the reset: three write latencies, as when both went out together.
    expect(waves(w.events[w.events.findLastIndex((e) => e.call === 'write' && e.name === SECRET && e.phase === 'end')].at)).toBe(3)
    expect(w.secrets.maxInFlight).toBe(10)
  })
})

describe('no target ends with half a pair', () => {
  /** Targets whose consumers would read half of the new pair: the new password without its username, or the username without it. */
  const halfPairs = (w: World, kind: Kind): string[] =>
    labels(THREE).filter((l) => (w.secrets.value(l) === w.thingspace.password) !== (store(w, kind).value(l) === STANDBY_USERNAME))
  /** What was sent to ENV's username and password, in order. */
  const sentTo = (w: World, kind: Kind) => ({
    usernames: writesOf(w, USERNAME_NAME, kind === 'variable' ? 'vwrite' : 'write')
      .filter((e) => e.label === ENV)
      .map((e) => e.value),
    passwords: writesOf(w, SECRET).filter((e) => e.label === ENV).length,
    rereads: w.events.filter((e) => e.call === 'reread' && e.phase === 'start' && e.label === ENV && e.name === SECRET).length
  })
  const text = (f: GhFault) => (f.acted || f.status === undefined ? 'network error (ECONNRESET)' : `${f.status} Forbidden`)
  const usernameWhy = (kind: Kind, f: GhFault) =>
    kind === 'variable'
      ? `Failed to write the variable ${USERNAME_NAME} to ${ENV}: ${text(f)}`
      : `Failed to write ${USERNAME_NAME} to ${ENV}: ${text(f)}`
  const passwordWhy = (f: GhFault) => `Failed to write ${SECRET} to ${ENV}: ${text(f)}`
  /** Makes ENV's writes of its username fail in turn (the first, then the write-back). */
  const failUsername = (w: World, kind: Kind, ...faults: (GhFault | undefined)[]) =>
    void (kind === 'variable' ? w.variables.fail('write', ENV, USERNAME_NAME, ...faults) : w.secrets.failWritesOf(ENV, USERNAME_NAME, ...faults))
  const WRITTEN_BACK = (why: string) => `NOT stored (${USERNAME_NAME} written back to ${USERNAME}), still holds the previous pair: ${why}`
  const REFUSED = { status: 403 }
  const LANDED = { acted: true }
  const UNANSWERED = { status: 500 }

  test.each(
    KINDS.flatMap(({ kind }) => [
      // A 4xx stored nothing: the previous pair is whole, and the password is never sent.
      {
        name: `the username refused (usernames as ${kind}): the password never sent, nothing written back`,
        kind,
        arrange: (w: World) => failUsername(w, kind, REFUSED),
        outcome: `NOT stored, still holds the previous pair: ${usernameWhy(kind, REFUSED)}`,
        sent: { usernames: [STANDBY_USERNAME], passwords: 0, rereads: 0 }
      },
      // No answer: the username may have landed, so it is written back.
      ...[
        { how: 'unanswered after it landed', fault: LANDED },
        { how: 'answered 500', fault: UNANSWERED }
      ].map(({ how, fault }) => ({
        name: `the username ${how} (usernames as ${kind}): the password never sent, the username written back`,
        kind,
        arrange: (w: World) => failUsername(w, kind, fault),
        outcome: WRITTEN_BACK(usernameWhy(kind, fault)),
        sent: { usernames: [STANDBY_USERNAME, USERNAME], passwords: 0, rereads: 0 }
      })),
      // The username landed and the password did not: the username is written back, so the target keeps the previous pair, which still works.
      {
        name: `the password refused (usernames as ${kind}): the username written back`,
        kind,
        arrange: (w: World) => void w.secrets.failWritesOf(ENV, SECRET, REFUSED),
        outcome: WRITTEN_BACK(passwordWhy(REFUSED)),
        sent: { usernames: [STANDBY_USERNAME, USERNAME], passwords: 1, rereads: 0 }
      },
      // No answer: the password secret's time, read again, says it did not land.
      {
        name: `the password answered 500 and its time did not move (usernames as ${kind}): the username written back`,
        kind,
        arrange: (w: World) => void w.secrets.failWritesOf(ENV, SECRET, UNANSWERED),
        outcome: WRITTEN_BACK(passwordWhy(UNANSWERED)),
        sent: { usernames: [STANDBY_USERNAME, USERNAME], passwords: 1, rereads: 1 }
      }
    ])
  )('$name', async ({ kind, arrange, outcome: said, sent }) => {
    const w = altWorld(kind)
    arrange(w)
    const { outcome } = await run(w, kind, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false, activeUsername: STANDBY_USERNAME })
    expect(outcome.targets.map((t) => t.holdsNewPassword)).toEqual([true, false, true])
    expect(outcome.targets[1].outcome).toBe(said)
    expect(outcome.message).toContain(`The new password is stored only in ${REPO}, ${ORG}. Not stored in: ${ENV}.`)
    expect(openSealed(outcome.recoveryCiphertext!, RECOVERY_KEY)).toBe(w.thingspace.password)
    expect(sentTo(w, kind)).toEqual(sent)
    expect(pairs(w, kind)[ENV]).toEqual([PASSWORD, USERNAME])
    expect(halfPairs(w, kind)).toEqual([])
    // The standby pair is kept all the same: the previous pair, which ENV still gives its consumers.
    expect(pairs(w, kind).standby).toEqual([PASSWORD, USERNAME])
  })

  test.each(KINDS)(
    'the password unanswered after it landed (usernames as $kind): its time moved, so it is stored, and nothing is written back',
    async ({ kind }) => {
      const w = altWorld(kind)
      w.secrets.failWritesOf(ENV, SECRET, LANDED)
      const { outcome } = await run(w, kind)
      expect(outcome).toMatchObject({ result: 'rotated', ok: true, activeUsername: STANDBY_USERNAME })
      expect(outcome.targets[1]).toMatchObject({
        holdsNewPassword: true,
        outcome: `new password stored (its answer was lost), with ${USERNAME_NAME} = ${STANDBY_USERNAME}`
      })
      // Read once to see whether it landed, then read back and read again like every store.
      expect(sentTo(w, kind)).toEqual({ usernames: [STANDBY_USERNAME], passwords: 1, rereads: 3 })
      expect(pairs(w, kind)).toEqual(swapped(w))
    }
  )

  // Only a target whose write-back also failed can hold half a pair, and it is reported as unknown.
  test.each(
    KINDS.flatMap(({ kind }) => [
      {
        name: `the password refused (usernames as ${kind})`,
        kind,
        arrange: (w: World) => {
          w.secrets.failWritesOf(ENV, SECRET, REFUSED)
          failUsername(w, kind, undefined, REFUSED)
        },
        why: passwordWhy(REFUSED),
        sent: { usernames: [STANDBY_USERNAME, USERNAME], passwords: 1, rereads: 0 }
      },
      {
        name: `the username unanswered after it landed (usernames as ${kind})`,
        kind,
        arrange: (w: World) => failUsername(w, kind, LANDED, REFUSED),
        why: usernameWhy(kind, LANDED),
        sent: { usernames: [STANDBY_USERNAME, USERNAME], passwords: 0, rereads: 0 }
      }
    ])
  )('$name, and the write-back refused: the target may hold half a pair, and says so', async ({ kind, arrange, why, sent }) => {
    const w = altWorld(kind)
    arrange(w)
    const { outcome } = await run(w, kind, { recoveryPublicKey: RECOVERY_KEY })
    expect(outcome).toMatchObject({ result: 'failed-changed', ok: false, activeUsername: STANDBY_USERNAME })
    expect(outcome.targets[1]).toMatchObject({
      holdsNewPassword: false,
      outcome: `unknown, it may hold half of the new pair (${USERNAME_NAME} could not be written back: ${usernameWhy(kind, REFUSED)}): ${why}`
    })
    expect(outcome.message).toContain(`The new password is confirmed stored only in ${REPO}, ${ORG}.`)
    expect(outcome.message).toContain(`the write may have landed: check the secret's updated time): ${ENV}.`)
    expect(outcome.message).not.toContain('Not stored in')
    expect(sentTo(w, kind)).toEqual(sent)
    expect(halfPairs(w, kind)).toEqual([ENV])
    expect(pairs(w, kind)[ENV]).toEqual([PASSWORD, STANDBY_USERNAME])
  })

  // Either choice (write back or not) may leave half a pair when the time cannot be read, so the target is reported
  // as unknown. Was a BUG at 3b1a899 (reported "NOT stored, still holds the previous pair").
  test.each(KINDS)(
    'the password landed with its answer lost and its time cannot be read again (usernames as $kind): the target is reported as unknown',
    async ({ kind }) => {
      const w = altWorld(kind)
      w.secrets.failWritesOf(ENV, SECRET, LANDED).failRereadsOf(ENV, SECRET, UNANSWERED)
      const { outcome } = await run(w, kind)
      // The write did land (whatever the fix does about the username).
      expect(w.secrets.value(ENV)).toBe(w.thingspace.password)
      expect(outcome.targets[1].outcome).toMatch(/^unknown/)
      expect(outcome.message).toContain(`the write may have landed: check the secret's updated time): ${ENV}.`)
    }
  )

  test.each(KINDS)(
    'no target takes the password (usernames as $kind): every username written back, the active username stays, and the summary says whose password was reset',
    async ({ kind }) => {
      const w = altWorld(kind)
      for (const label of labels(THREE)) w.secrets.failWritesOf(label, SECRET, REFUSED)
      const { outcome } = await run(w, kind)
      expect(outcome).toMatchObject({ result: 'failed-changed', activeUsername: USERNAME })
      expect(outcome.usernames).toMatchObject({ active: USERNAME, standby: STANDBY_USERNAME, standbyResetAt: 'unknown' })
      expect(outcome.targets.map((t) => t.outcome)).toEqual(
        labels(THREE).map((l) => WRITTEN_BACK(`Failed to write ${SECRET} to ${l}: 403 Forbidden`))
      )
      expect(halfPairs(w, kind)).toEqual([])
      expect(labels(THREE).map((l) => pairs(w, kind)[l])).toEqual(labels(THREE).map(() => [PASSWORD, USERNAME]))
    }
  )
})

describe('the previous pair kept as the standby: its password first, then its username', () => {
  const STANDBY_LOST = (why: string, sealed: boolean) =>
    ` The previous pair (${USERNAME}, whose password was not changed and still works) could not be kept as the standby in ${REPO} (${why}): ` +
    (sealed
      ? 'its password is in the job summary, sealed to your recovery key; store it and the username in the standby pair by hand.'
      : `store it by hand (reset ${USERNAME}'s password in the ThingSpace portal if nobody has it).`)

  // A half-written standby names the active username (the standby that was just reset), so the next run stops at its
  // inputs (standby and active username alike) instead of logging in with a mismatched pair.
  test.each([
    {
      name: 'the standby password refused, with a recovery key',
      fail: (w: World) => void w.secrets.failWritesOf(REPO, STANDBY_SECRET, { status: 403 }),
      why: `Failed to write ${STANDBY_SECRET} to ${REPO}: 403 Forbidden`,
      key: true,
      standby: [STANDBY_PASSWORD, STANDBY_USERNAME],
      usernameSent: false
    },
    {
      name: 'the standby password unanswered after it landed, no recovery key',
      fail: (w: World) => void w.secrets.failWritesOf(REPO, STANDBY_SECRET, { acted: true }),
      why: `Failed to write ${STANDBY_SECRET} to ${REPO}: network error (ECONNRESET)`,
      key: false,
      standby: [PASSWORD, STANDBY_USERNAME],
      usernameSent: false
    },
    {
      name: 'the standby username refused, with a recovery key',
      fail: (w: World) => void w.variables.fail('write', REPO, STANDBY_USERNAME_NAME, { status: 403 }),
      why: `Failed to write the variable ${STANDBY_USERNAME_NAME} to ${REPO}: 403 Forbidden`,
      key: true,
      standby: [PASSWORD, STANDBY_USERNAME],
      usernameSent: true
    },
    {
      name: 'the standby password refused, no recovery key',
      fail: (w: World) => void w.secrets.failWritesOf(REPO, STANDBY_SECRET, { status: 403 }),
      why: `Failed to write ${STANDBY_SECRET} to ${REPO}: 403 Forbidden`,
      key: false,
      standby: [STANDBY_PASSWORD, STANDBY_USERNAME],
      usernameSent: false
    }
  ])(
    '$name: failed-changed although every target holds the new pair, nothing to restore by hand, the previous password sealed when it can be',
    async ({ fail, why, key, standby, usernameSent }) => {
      const w = altWorld('variable')
      fail(w)
      const { outcome } = await run(w, 'variable', key ? { recoveryPublicKey: RECOVERY_KEY } : {})
      expect(outcome).toMatchObject({ result: 'failed-changed', ok: false, activeUsername: STANDBY_USERNAME })
      expect(outcome.targets.map((t) => t.holdsNewPassword)).toEqual([true, true, true])
      expect(outcome.message).toMatch(/^The password WAS changed: the old one no longer works\. The new password is stored in every target\. /)
      expect(outcome.message.endsWith(STANDBY_LOST(why, key))).toBe(true)
      expect(outcome.standbyCiphertext === undefined ? undefined : openSealed(outcome.standbyCiphertext, RECOVERY_KEY)).toBe(
        key ? PASSWORD : undefined
      )
      expect(openSealed(outcome.recoveryCiphertext ?? '', RECOVERY_KEY)).toBe(key ? w.thingspace.password : undefined)
      // Was a BUG at fb638df (restoreByHand whenever there was no ciphertext: the summary then told the reader to reset
      // the username consumers had just picked up); fixed on core (997e1bd).
      expect(outcome.restoreByHand).toBe(false)
      expect(writesOf(w, STANDBY_USERNAME_NAME, 'vwrite').length).toBe(usernameSent ? 1 : 0)
      expect(pairs(w, 'variable')).toEqual({ ...swapped(w), standby })
    }
  )

  test.each(KINDS)(
    'usernames as $kind: the standby writes go out only after the reset answered, never with the new password, and the username only once the password landed',
    async ({ kind }) => {
      const w = altWorld(kind)
      await run(w, kind)
      const resetEnd = w.indexOf({ call: 'reset', phase: 'end' })
      const call = kind === 'variable' ? 'vwrite' : 'write'
      const [password] = writesOf(w, STANDBY_SECRET)
      const [username] = writesOf(w, STANDBY_USERNAME_NAME, call)
      expect([password, username].map((e) => [w.events.indexOf(e) > resetEnd, e.value])).toEqual([
        [true, PASSWORD],
        [true, USERNAME]
      ])
      expect(w.events.indexOf(username)).toBeGreaterThan(w.indexOf({ call: 'write', name: STANDBY_SECRET, phase: 'end', outcome: 'ok' }))
    }
  )

  // Was a BUG at 3b1a899 (campaign seed 20261475): the escrow was awaited with the standby's sealing in one race
  // against a deadline already passed, and lost, so a new password stored in no target was lost with a key given.
  test('the standby not kept and the deadline passed during the verify login: the new password, sealed right after the reset, is still given in the escrow', async () => {
    const w = altWorld('variable')
    w.thingspace.script('login', undefined, { kind: 'lost', afterMs: 5000 })
    w.secrets.failWritesOf(ENV, SECRET, { status: 403 }).failWritesOf(REPO, STANDBY_SECRET, { status: 403 })
    w.signalOn({ call: 'login', n: 1, phase: 'start' }, 'SIGTERM')
    const { outcome, at, deadline } = await run(w, 'variable', { recoveryPublicKey: RECOVERY_KEY })
    expect(at).toBe(deadline)
    expect(outcome.result).toBe('failed-changed')
    expect(openSealed(outcome.recoveryCiphertext ?? '', RECOVERY_KEY)).toBe(w.thingspace.password)
  })

  test('the standby kept and the deadline passed during the verify login: the escrow is given', async () => {
    const w = altWorld('variable')
    w.thingspace.script('login', undefined, { kind: 'lost', afterMs: 5000 })
    w.secrets.failWritesOf(ENV, SECRET, { status: 403 })
    w.signalOn({ call: 'login', n: 1, phase: 'start' }, 'SIGTERM')
    const { outcome, at, deadline } = await run(w, 'variable', { recoveryPublicKey: RECOVERY_KEY })
    expect(at).toBe(deadline)
    expect(outcome.result).toBe('failed-changed')
    expect(openSealed(outcome.recoveryCiphertext ?? '', RECOVERY_KEY)).toBe(w.thingspace.password)
  })
})

describe('the variable store is proven with a variable, removed again', () => {
  const PROOF = `${RUN_LABEL}: write proof`
  test('a variable of the rotation state\u2019s name is written into every target before the login, private, and removed once the login succeeded', async () => {
    const w = altWorld('variable')
    const { outcome } = await run(w, 'variable')
    expect(outcome.result).toBe('rotated')
    const proofs = writesOf(w, STATE, 'vwrite')
    expect(proofs.map((e) => [e.label, e.value])).toEqual(labels(THREE).map((l) => [l, PROOF]))
    const login = w.indexOf({ call: 'login', phase: 'start' })
    expect(w.events.filter((e) => e.call === 'vwrite' && e.name === STATE && e.phase === 'end').every((e) => w.events.indexOf(e) < login)).toBe(true)
    expect(w.variables.writes.filter((x) => x.name === STATE).map((x) => [x.existed, x.access?.visibility])).toEqual(
      labels(THREE).map(() => [false, 'private'])
    )
    expect(w.events.filter((e) => e.call === 'vremove' && e.phase === 'start').map((e) => [e.label, e.name])).toEqual(
      labels(THREE).map((l) => [l, STATE])
    )
    expect(outcome.targets.every((t) => t.holdsNewPassword)).toBe(true)
    expect(labels(THREE).map((l) => w.variables.get(l, STATE))).toEqual([undefined, undefined, undefined])
  })

  test('usernames as secrets: no variable is read, written or removed', async () => {
    const w = altWorld('secret')
    await run(w, 'secret')
    expect(w.events.filter((e) => e.call.startsWith('v'))).toEqual([])
  })

  test.each([
    // A 4xx stored nothing: that target's variable is not removed; the others' are.
    { name: 'refused (403)', fault: { status: 403 }, why: '403 Forbidden', removed: [REPO, ORG] },
    // No answer: the write may have landed, so it is removed too.
    { name: 'unanswered after it landed', fault: { acted: true }, why: 'network error (ECONNRESET)', removed: [REPO, ENV, ORG] }
  ] as { name: string; fault: GhFault; why: string; removed: string[] }[])(
    'a variable proof $name: no login, the target named, and every variable the proof may have left removed',
    async ({ fault, why, removed }) => {
      const w = altWorld('variable')
      w.variables.fail('write', ENV, STATE, fault)
      const { outcome } = await run(w, 'variable', { eventName: 'schedule' })
      expect(outcome).toMatchObject({ result: 'failed-unchanged', activeUsername: USERNAME })
      expect(outcome.message).toBe(
        `The password was not changed, and no login was attempted (only the OAuth token was requested): not every target accepted a write of ${STATE} (the proof that its secrets can be written), so nothing irreversible was tried.\n` +
          `Failed to write the variable ${STATE} to ${ENV}: ${why}`
      )
      expect(outcome.targets.map((t) => t.outcome)).toEqual([
        `write proven (${STATE}, and a variable of that name)`,
        'not writable',
        `write proven (${STATE}, and a variable of that name)`
      ])
      expect(w.thingspace.logins).toBe(0)
      expect(w.events.filter((e) => e.call === 'vremove' && e.phase === 'start').map((e) => e.label)).toEqual(removed)
      // The secret proof's copies come off too: no login reached the user service.
      expect(labels(THREE).map((l) => w.secrets.get(l, STATE))).toEqual([undefined, undefined, undefined])
      expect(consumerWrites(w)).toEqual([])
    }
  )

  test('a variable proof that cannot be removed is a warning only', async () => {
    const w = altWorld('variable')
    w.variables.fail('remove', ORG, STATE, { status: 403 })
    const { outcome } = await run(w, 'variable')
    expect(outcome).toMatchObject({ result: 'rotated', ok: true })
    expect(w.warnings).toEqual([
      `Could not remove the variable ${STATE} this run proved a target with: Failed to delete the variable ${STATE} from ${ORG}: 403 Forbidden`
    ])
    expect(w.variables.get(ORG, STATE)?.value).toBe(PROOF)
  })

  test('a signal while a variable proof is slow: its removal waits for it (up to the deadline), so none is left behind', async () => {
    const w = altWorld('variable')
    w.variables.fail('write', ENV, STATE, { afterMs: 3000, acted: true, status: undefined })
    w.signalOn({ call: 'vwrite', name: STATE, label: ENV, phase: 'start' }, 'SIGINT', 10)
    const { outcome, at } = await run(w, 'variable', { eventName: 'schedule' })
    expect(outcome.message).toContain('the runner cancelled the step (SIGINT) before the reset was sent, and no login was attempted')
    expect(at).toBeLessThanOrEqual(w.deadline()!)
    expect(w.indexOf({ call: 'vremove', label: ENV, phase: 'start' })).toBeGreaterThan(
      w.indexOf({ call: 'vwrite', name: STATE, label: ENV, phase: 'end' })
    )
    expect(labels(THREE).map((l) => w.variables.get(l, STATE))).toEqual([undefined, undefined, undefined])
    expect(w.thingspace.logins).toBe(0)
  })
})

describe('stale usernames or standby: changed after this job read its inputs', () => {
  // The job is not listed: the run's start (START - 1 minute, to the second) is when the inputs were read.
  const READ_AT = START - MINUTE
  test.each(
    KINDS.flatMap(({ kind }) => [
      {
        name: `a username written in the second the job started (usernames as ${kind})`,
        kind,
        change: (w: World) => store(w, kind).put(ENV, USERNAME_NAME, USERNAME, new Date(READ_AT + 999)),
        stale: `${ENV} (${USERNAME_NAME})`
      },
      {
        name: `the standby username written after the job started (usernames as ${kind})`,
        kind,
        change: (w: World) => store(w, kind).put(REPO, STANDBY_USERNAME_NAME, STANDBY_USERNAME, new Date(READ_AT + 5000)),
        stale: `${REPO} (the standby pair)`
      },
      {
        name: `the standby password written in the second the job started (usernames as ${kind})`,
        kind,
        change: (w: World) => void w.secrets.put(REPO, STANDBY_PASSWORD, new Date(READ_AT), STANDBY_SECRET),
        stale: `${REPO} (the standby pair)`
      }
    ])
  )('$name: failed-unknown before any login or write', async ({ kind, change, stale }) => {
    const w = altWorld(kind)
    change(w)
    const { outcome } = await run(w, kind, { eventName: 'schedule' })
    expect(outcome).toMatchObject({ result: 'failed-unknown', ok: false, activeUsername: USERNAME })
    expect(outcome.message).toContain(`(only the OAuth token was requested): ${stale} had `)
    expect(outcome.message).toContain(
      `started (${new Date(READ_AT).toISOString()}), so another rotation (or a person) replaced the password this job read.`
    )
    expect(w.thingspace.calls.login).toBe(0)
    expect(w.secrets.writes).toEqual([])
    expect(w.variables.writes).toEqual([])
  })

  test.each(KINDS)(
    'every pair and the standby written in the last instant of the second before the job started: not stale (usernames as $kind)',
    async ({ kind }) => {
      const w = altWorld(kind, { at: new Date(READ_AT - 1) })
      const { outcome } = await run(w, kind, { eventName: 'schedule' })
      expect(outcome.result).toBe('rotated')
    }
  )
})

describe('a reset of the standby that could break consumers is refused', () => {
  const REFUSED = (problems: string[]) =>
    `The password was not changed, and no login was attempted (only the OAuth token was requested): resetting ${STANDBY_USERNAME} now could break the consumers of some target.\n${problems.join('\n')}\n` +
    'Store the active pair in those targets (the summary of the rotation that stored it lists the commands), or remove them from the targets, then run again.'

  test.each(['schedule', 'workflow_dispatch'])(
    'a target that names the standby username (%s): failed-unchanged before any login or write',
    async (eventName) => {
      const w = altWorld('variable', { named: [USERNAME, STANDBY_USERNAME, USERNAME] })
      const { outcome } = await run(w, 'variable', { eventName })
      expect(outcome).toMatchObject({
        result: 'failed-unchanged',
        ok: false,
        activeUsername: USERNAME,
        message: REFUSED([`${ENV}: ${USERNAME_NAME} names ${STANDBY_USERNAME}, the username this run would reset, so its consumers use it`])
      })
      expect(w.thingspace.calls).toEqual({ token: 1, login: 0, reset: 0, logout: 0 })
      expect(w.secrets.writes).toEqual([])
      expect(w.variables.writes).toEqual([])
    }
  )

  // The last rotation stored the pair in some targets only: the others still give their consumers the pair this run would reset.
  test.each(KINDS)('a target that missed the last rotation\u2019s pair (usernames as $kind): failed-unchanged, naming it', async ({ kind }) => {
    const w = altWorld(kind)
    const later = new Date(OLD.getTime() + 90 * DAY)
    for (const label of [REPO, ORG]) {
      w.secrets.put(label, PASSWORD, later)
      store(w, kind).put(label, USERNAME_NAME, USERNAME, later)
    }
    const { outcome } = await run(w, kind)
    expect(outcome.message).toBe(
      REFUSED([`${ENV} did not get the pair the last rotation stored at ${later.toISOString()} (their password secret is older)`])
    )
    expect(w.thingspace.logins).toBe(0)
    expect(w.secrets.writes).toEqual([])
  })
})

describe('failures after the login, with alternating usernames', () => {
  // Only the standby's password may have changed, and only the home target's standby secret holds it: consumers
  // keep the active pair, so nothing is restored in the targets. Was a BUG at fb638df ("store it in every target by
  // hand" with restoreByHand, whose commands pair the active username with the standby's password in every
  // target); fixed on core (997e1bd).
  test('a reset with no answer: failed-unknown naming the standby and its secret, nothing to restore in the targets, the active pair untouched', async () => {
    const w = altWorld('variable')
    w.thingspace.script('reset', { kind: 'lost', acted: true })
    const { outcome } = await run(w, 'variable')
    expect(outcome).toMatchObject({ result: 'failed-unknown', ok: false, restoreByHand: false, activeUsername: USERNAME })
    expect(outcome.message).toBe(
      'The reset request was sent, but its outcome cannot be known (ThingSpace password reset: the connection failed before an answer came (ECONNRESET)). ' +
        'The old password may no longer work, and the new one, if any, was never received. ' +
        `Recorded in ${RESET_UNKNOWN} of ${REPO}: the next run is due whatever min-age-days says and logs in once to find out; a refused login counts toward the 5-failure lockout, so do not start runs to check. ` +
        `Consumers are not affected: they use the other username. Log in to the ThingSpace portal as ${STANDBY_USERNAME} (or ask Verizon M2M support), set a known password, and store it in ${STANDBY_SECRET} of ${REPO}.`
    )
    expect(consumerWrites(w)).toEqual([])
    expect(pairs(w, 'variable')).toEqual(OLD_PAIRS)
  })

  test('a reset cut by the deadline: the same, naming the standby\u2019s secret', async () => {
    const w = altWorld('variable')
    w.thingspace.script('reset', { kind: 'timeout', afterMs: 60 * MINUTE })
    w.signalOn({ call: 'reset', phase: 'start' }, 'SIGINT', 10)
    const { outcome } = await run(w, 'variable')
    expect(outcome).toMatchObject({ result: 'failed-unknown', restoreByHand: false, activeUsername: USERNAME })
    expect(outcome.message).toContain('its outcome cannot be known (the runner cancelled the step before the answer came)')
    expect(outcome.message).toContain(`store it in ${STANDBY_SECRET} of ${REPO}.`)
    expect(consumerWrites(w)).toEqual([])
    // Past the deadline nothing more is sent: the record of the standby's login stays instead.
    expect(outcome.message).toContain(`Recording that in ${RESET_UNKNOWN} failed (the cancellation deadline passed)`)
    expect([w.secrets.get(REPO, RESET_UNKNOWN), w.secrets.get(REPO, STATE) !== undefined]).toEqual([undefined, true])
  })

  // The login that was refused used the standby's password: the reader is told to fix the standby's secret, never
  // the password secret of the active pair (done with the standby's password, that would pair the active username
  // with it in every target). Was a BUG at fb638df; fixed on core (997e1bd).
  const FIX_STANDBY = `Store the current password in ${STANDBY_SECRET}`
  test('a refused login as the standby: the record names the standby secret, and when it was last stored', async () => {
    const w = altWorld('variable')
    w.thingspace.password = 'Changed-Elsewhere'
    const { outcome } = await run(w, 'variable', { eventName: 'schedule' })
    expect(outcome).toMatchObject({ result: 'failed-unchanged', ok: false, activeUsername: USERNAME })
    expect(outcome.message).toBe(
      `The password was not changed by this run: ThingSpace refused the login for ${STANDBY_USERNAME} (ThingSpace login: answered 400, REQUEST_FAILED.InvalidCredentials: refused); it was not retried. ` +
        '5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ' +
        `Runs nobody started by hand will not log in again until ${STANDBY_SECRET} is updated (recorded in ${STATE} of ${REPO}). ` +
        `${STANDBY_SECRET} was last stored at ${OLD.toISOString()}: most likely the password changed after that and the new one never reached the secret ` +
        '(a run that ended failed-unknown, a reset in the ThingSpace portal), or the secret holds a wrong password. ' +
        `${FIX_STANDBY} (a failed login in the ThingSpace portal also counts toward the lockout) before running again.`
    )
    expect(w.thingspace.countedFailures).toBe(1)
  })

  test('the stop on a record of a refused login: it names the standby secret', async () => {
    const w = altWorld('variable')
    w.secrets.put(REPO, 'an earlier run', new Date(START - DAY), STATE)
    const { outcome } = await run(w, 'variable', { eventName: 'schedule' })
    expect(outcome.message).toBe(
      'The password was not changed, and no login was attempted (only the OAuth token was requested): a login with this password was refused, or may have been counted without an answer, ' +
        `at ${new Date(START - DAY).toISOString()} (recorded in the ${STATE} secret of ${REPO}), and ${STANDBY_SECRET} has not been updated in ${REPO} since. ` +
        `Another failed login would count toward the 5-failure lockout, so runs nobody started by hand stop here. ${FIX_STANDBY} (or start the workflow by hand to try once).`
    )
    expect(w.thingspace.logins).toBe(0)
  })

  // The record concerns the standby's password, so the warning names its secret, as the stop does. Was a BUG at
  // 3b1a899 (it named THINGSPACE_PASSWORD, the active pair's secret).
  test('a run started by hand over a record of a refused standby login warns about the standby secret', async () => {
    const w = altWorld('variable')
    w.secrets.put(REPO, 'an earlier run', new Date(START - DAY), STATE)
    const { outcome } = await run(w, 'variable', { eventName: 'workflow_dispatch' })
    expect(outcome.result).toBe('rotated')
    expect(w.warnings).toEqual([expect.stringContaining(`and ${STANDBY_SECRET} has not been updated since; trying once`)])
  })

  // Storing the standby's right password in its secret (what the refusal says to do) lifts the record, as a store of
  // the password secret does with one username. Was a BUG at fb638df (only a password secret's store lifted it, so
  // every unattended run stopped until someone started one by hand); fixed on core (997e1bd: loginSecretAt).
  test('after a refused standby login, storing the standby\u2019s password in the standby secret lets the next unattended run log in', async () => {
    const w = altWorld('variable')
    w.thingspace.password = 'Changed-Elsewhere'
    const first = await run(w, 'variable', { eventName: 'schedule' })
    expect(first.outcome.result).toBe('failed-unchanged')
    await w.clock.advance(DAY)
    w.secrets.put(REPO, 'Changed-Elsewhere', new Date(w.clock.now()), STANDBY_SECRET)
    await w.clock.advance(DAY)
    w.secrets.runStart = new Date(w.clock.now())
    const next = await run(w, 'variable', { eventName: 'schedule', alternation: alternation('variable', { standbyPassword: 'Changed-Elsewhere' }) })
    expect(next.outcome.result).toBe('rotated')
    expect(w.thingspace.countedFailures).toBe(1)
  })

  test('after a refused standby login and nothing stored since, the next unattended run, a day later, stops on the record', async () => {
    const w = altWorld('variable')
    w.thingspace.password = 'Changed-Elsewhere'
    await run(w, 'variable', { eventName: 'schedule' })
    await w.clock.advance(DAY)
    w.secrets.runStart = new Date(w.clock.now())
    const next = await run(w, 'variable', { eventName: 'schedule' })
    expect(next.outcome.result).toBe('failed-unchanged')
    expect(next.outcome.message).toContain(`runs nobody started by hand stop here. ${FIX_STANDBY}`)
    expect(w.thingspace.logins).toBe(1)
  })

  // The record concerns the standby's password: the active pair, stored again by hand in every target, fixes
  // nothing about it. Was a BUG at b1a687d (the later of the two secrets' stores lifted the record, so this run
  // logged in as the standby again with the password already refused: a second counted failure).
  test('after a refused standby login, a store of the active pair alone does not lift the record: the next unattended run stops', async () => {
    const w = altWorld('variable')
    w.thingspace.password = 'Changed-Elsewhere'
    await run(w, 'variable', { eventName: 'schedule' })
    await w.clock.advance(DAY)
    for (const label of [REPO, ENV, ORG]) {
      w.secrets.put(label, PASSWORD, new Date(w.clock.now()))
      store(w, 'variable').put(label, USERNAME_NAME, USERNAME, new Date(w.clock.now()))
    }
    await w.clock.advance(DAY)
    w.secrets.runStart = new Date(w.clock.now())
    const next = await run(w, 'variable', { eventName: 'schedule' })
    expect(next.outcome.result).toBe('failed-unchanged')
    expect(next.outcome.message).toContain(`runs nobody started by hand stop here. ${FIX_STANDBY}`)
    expect(w.thingspace.logins).toBe(1)
    expect(w.thingspace.countedFailures).toBe(1)
  })

  test('the verify login refused: superseded, the standby kept, and a fresh record of the refused login', async () => {
    const w = altWorld('variable')
    w.on({ call: 'login', n: 1, phase: 'start' }, () => {
      w.thingspace.password = 'Other-Run-Pa55!'
    })
    const { outcome } = await run(w, 'variable', { eventName: 'schedule' })
    expect(outcome).toMatchObject({ result: 'failed-unknown', ok: false, activeUsername: STANDBY_USERNAME })
    expect(outcome.message).toContain(`(recorded in ${STATE} of ${REPO})`)
    expect(pairs(w, 'variable').standby).toEqual([PASSWORD, USERNAME])
  })

  test.each([
    { name: 'lost', fault: { kind: 'lost' }, recorded: true },
    { name: 'stopped at the gateway', fault: { kind: 'gateway', status: 403, code: 'gateway fault 900908' }, recorded: false }
  ] as { name: string; fault: TsFault; recorded: boolean }[])(
    'the verify login $name: rotated but failing, the pair swapped all the same',
    async ({ fault, recorded }) => {
      const w = altWorld('secret')
      w.thingspace.script('login', undefined, fault)
      const { outcome } = await run(w, 'secret')
      expect(outcome).toMatchObject({ result: 'rotated', ok: false, activeUsername: STANDBY_USERNAME })
      expect(outcome.message.includes(`recorded in ${STATE}`)).toBe(recorded)
      expect(pairs(w, 'secret')).toEqual(swapped(w))
    }
  )
})

describe('the fakes for alternating usernames', () => {
  test('FakeVariables sends at most 10 writes at once, and none still queued when the signal aborts', async () => {
    const w = new World()
    const targets = parseTargets(
      Array.from({ length: 12 }, (_, i) => `repo:acme/r${i + 1}`),
      REPOSITORY
    )
    const abort = new AbortController()
    w.on({ call: 'vwrite', label: targets[9].label, phase: 'start' }, () => abort.abort())
    const writes = targets.map((t) => w.variables.write(t, 'V', 'x', false, abort.signal))
    const settled = await drive(w, Promise.allSettled(writes))
    expect(settled.map((r) => r.status)).toEqual([...Array<string>(10).fill('fulfilled'), 'rejected', 'rejected'])
    expect(w.variables.maxInFlight).toBe(10)
    expect(w.variables.calls.write).toBe(10)
  })

  test('a FakeVariables fault carries the status writeMayHaveLanded reads', async () => {
    const w = new World()
    const [target] = parseTargets(['repo'], REPOSITORY)
    w.variables.fail('write', target.label, 'V', { status: 403 }, { acted: true })
    const [first, second] = await drive(
      w,
      Promise.allSettled([w.variables.write(target, 'V', 'x', false), w.variables.write(target, 'V', 'y', false)])
    )
    expect([first, second]).toEqual([
      { status: 'rejected', reason: expect.objectContaining({ status: 403 }) },
      { status: 'rejected', reason: expect.objectContaining({ status: undefined }) }
    ])
    expect(w.variables.value(target.label, 'V')).toBe('y')
  })
})
